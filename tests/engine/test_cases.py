"""The shared engine corpus: one pytest id per case of `cases/*.toml`.

Each case gives rule text, engine options, an event stream and the exact
list of expected matches with their full provenance (format in
`cases/README.md`, in the spirit of EQL's `test_queries.toml` and jmespath's
compliance files). A case with `xfail = "engine bug: ..."` documents a place
where the engine disagrees with docs/semantics.md: it is expected to fail
(strict), so fixing the engine turns it into an XPASS that must be noticed.
On failure the message shows the rule, the events, a diff of expected and
actual matches and every rule's explain text.
"""

from __future__ import annotations

import pytest
from corpus import (
    ADVANCE,
    CASE_KEYS,
    ENGINE_OPTIONS,
    MATCH_KEYS,
    OPTIONAL_MATCH_KEYS,
    TO_DICT_KEYS,
    approx_equal,
    compile_rules,
    failure_report,
    json_lines,
    load_cases,
    prepare_items,
    project,
    resolve_refs,
    run_items,
)

CASES = load_cases()


def _params() -> list:
    out = []
    for case_id, case in CASES:
        marks = []
        if case.get("xfail"):
            marks.append(pytest.mark.xfail(strict=True, reason=case["xfail"]))
        out.append(pytest.param(case, id=case_id, marks=marks))
    return out


def test_corpus_is_well_formed() -> None:
    assert len(CASES) >= 120, f"only {len(CASES)} cases"
    ids = [i for i, _ in CASES]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate case titles: {dupes}"
    problems = []
    for case_id, case in CASES:
        extra = set(case) - CASE_KEYS
        if extra:
            problems.append(f"{case_id}: unknown keys {sorted(extra)}")
        for key in ("title", "rules", "events", "expect"):
            if key not in case:
                problems.append(f"{case_id}: no '{key}'")
        if set(case.get("options", {})) - ENGINE_OPTIONS:
            problems.append(f"{case_id}: unknown options {sorted(set(case['options']) - ENGINE_OPTIONS)}")
        for n, m in enumerate(case.get("expect", []), 1):
            missing = [k for k in MATCH_KEYS if k not in m]
            unknown = set(m) - set(MATCH_KEYS) - set(OPTIONAL_MATCH_KEYS)
            if missing or unknown:
                problems.append(f"{case_id}: expected match {n}: missing {missing}, unknown {sorted(unknown)}")
        if case.get("xfail") and not str(case["xfail"]).startswith("engine bug: "):
            problems.append(f"{case_id}: xfail reasons start with 'engine bug: '")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", _params())
def test_case(case: dict) -> None:
    pack = compile_rules(case["rules"])
    items = prepare_items(case["events"])
    options = case.get("options", {})
    eng, out = run_items(pack, items, options)

    # Every match carries an id and a fingerprint and the documented fields, nothing else.
    for m, _by in out:
        d = m.to_dict()
        assert set(d) == TO_DICT_KEYS, failure_report(case, pack, sorted(TO_DICT_KEYS), sorted(d))
        assert isinstance(d["match_id"], str) and d["match_id"], "match without an id"
        assert isinstance(d["fingerprint"], str) and d["fingerprint"], "match without a fingerprint"

    expected = resolve_refs(case["expect"], [m for m, _ in out])
    actual = []
    for i, (m, by) in enumerate(out):
        want = list(MATCH_KEYS)
        if i < len(expected):
            want += [k for k in OPTIONAL_MATCH_KEYS if k in expected[i]]
        actual.append(project(m, by, want))
    if not approx_equal(expected, actual):
        pytest.fail(failure_report(case, pack, expected, actual), pytrace=False)

    quarantined = dict(eng.quarantine.counts)
    want_q = case.get("quarantined", {})
    if quarantined != want_q:
        pytest.fail(failure_report(case, pack, want_q, quarantined, "quarantine counts by reason differ"),
                    pytrace=False)
    if "stats" in case:
        stats = eng.stats()
        got = {k: stats.get(k) for k in case["stats"]}
        if got != case["stats"]:
            pytest.fail(failure_report(case, pack, case["stats"], got, "engine stats differ"), pytrace=False)

    # Determinism: the same input twice (and through a pack compiled again) gives the same bytes.
    first = json_lines(m for m, _ in out)
    _, again = run_items(pack, items, options)
    _, other = run_items(compile_rules(case["rules"]), items, options)
    assert json_lines(m for m, _ in again) == first, "same input, same pack: output differs"
    assert json_lines(m for m, _ in other) == first, "same input, pack compiled again: output differs"


def test_advance_directive_is_not_an_event() -> None:
    items = prepare_items([{"ts": 1}, {ADVANCE: 5}, {"ts": 6}])
    assert items[1] == {ADVANCE: 5}
    assert [i.get("id") for i in items] == ["e1", None, "e3"]
