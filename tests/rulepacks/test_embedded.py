"""The tests written inside the api pack's rule files, one pytest id each.

Every `test` block under rulepacks/api becomes one parametrised case with
the id `sleuth test` prints, e.g. `stuffing.ttp:116 combo list from one
hosting address`. Collection only checks the pack (for the ids); the pack
is compiled by a fixture, and each case runs its block, through the same
`run_case` as `sleuth test`, when the test runs. A passing positive block
also runs the boundary mutations `sleuth.dsl.testing` derives from it
(`takeover.ttp:170 ... [last step past within]`): each must lose the
match, and a failing one is reported under its own id.

The remaining tests hold the pack to its own conventions: every rule has a
positive and a negative test, complete metadata, and the pack covers the
15 technique ids; `sleuth check` is clean and `sleuth fmt --check` passes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from sleuth.dsl import ast
from sleuth.dsl.lower import compile_pack
from sleuth.dsl.pack import check_paths
from sleuth.dsl.testing import case_id, run_case
from sleuth.engine.schema import TTPS

PACK = Path(__file__).resolve().parents[2] / "rulepacks" / "api"


@functools.lru_cache(maxsize=1)
def _checked():
    """The shipped pack, parsed and checked (not compiled, nothing run)."""
    return check_paths([str(PACK)])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # At collection, not at import: the ids come from the checked pack.
    if "case" in metafunc.fixturenames:
        cases = _checked().tests
        metafunc.parametrize("case", cases, ids=[case_id(c) for c in cases])
    if "rule" in metafunc.fixturenames:
        metafunc.parametrize("rule", [r.name for r in _checked().rules])


@pytest.fixture(scope="module")
def pack():
    """The shipped pack compiled (once per run of this module)."""
    checked = _checked()
    assert not checked.errors, [d.message for d in checked.errors]
    return compile_pack(checked, name=str(PACK))


@pytest.fixture(scope="module")
def results(pack):
    """`results(case)`: that block's `TestResult`s (its own, then its mutations), run once."""
    done: dict[str, list] = {}

    def get(case):
        key = case_id(case)
        if key not in done:
            done[key] = run_case(pack, case)
        return done[key]

    return get


def test_rule_file_test(case, results):
    failed = [r for r in results(case) if not r.passed]
    assert not failed, "\n\n".join(f"{r.id}\n{r.message}" for r in failed)


def test_tests_were_collected(pack, results):
    every = [r for case in pack.tests for r in results(case)]
    assert len({r.id for r in every}) == len(every), "test ids must be unique"
    assert sum(1 for r in every if r.mutation is None) >= 2 * len(pack.rules)
    assert any(r.mutation for r in every), "no boundary mutation was derived"


def _expectations(pack) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for case in pack.tests:
        row = out.setdefault(case.rule, {"positive": 0, "negative": 0})
        for item in case.decl.items:
            if isinstance(item, ast.ExpectNone):
                row["negative"] += 1
            elif isinstance(item, ast.ExpectMatch) or (isinstance(item, ast.ExpectCount) and item.count > 0):
                row["positive"] += 1
    return out


def test_every_rule_has_a_positive_and_a_negative_test(rule, pack):
    row = _expectations(pack).get(rule, {"positive": 0, "negative": 0})
    assert row["positive"] >= 1, f"{rule} has no positive test"
    assert row["negative"] >= 1, f"{rule} has no negative (benign look-alike) test"


def test_every_rule_documents_itself(rule, pack):
    meta = pack.rule(rule).meta
    for key in ("ttp", "goal", "severity", "title", "description", "false_positives", "blind_spots"):
        assert meta.get(key), f"{rule} has no {key}"
    assert rule == rule.lower() and " " not in rule, "rule ids are snake_case"


def test_every_technique_has_a_rule(pack):
    covered = {r.ttp for r in pack.rules}
    assert covered == set(TTPS), f"missing: {sorted(set(TTPS) - covered)}"


def test_check_is_clean():
    assert [d.message for d in _checked().diagnostics] == []


def test_fmt_check_passes():
    from sleuth.dsl.pack import find_rule_files
    from sleuth.dsl.unparse import format_source

    for path in find_rule_files(str(PACK)):
        text = Path(path).read_text(encoding="utf-8")
        assert format_source(text, path) == text, f"{path} is not in canonical form (run sleuth fmt)"
