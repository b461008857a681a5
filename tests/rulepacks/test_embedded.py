"""The tests written inside the api pack's rule files, one pytest id each.

Every `test` block under rulepacks/api (and every boundary mutation
`sleuth.dsl.testing` derives from a passing positive test) becomes one
parametrised case with the id `sleuth test` prints, e.g.
`stuffing.ttp:116 combo list from one hosting address` or
`takeover.ttp:170 ... [last step past within]`. The blocks are run once,
at collection, through `run_tests`; each case then reports its own result.

The remaining tests hold the pack to its own conventions: every rule has a
positive and a negative test, complete metadata, and the pack covers the
15 technique ids; `sleuth check` is clean and `sleuth fmt --check` passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sleuth.dsl import ast
from sleuth.dsl.pack import check_paths, load_pack
from sleuth.dsl.testing import run_tests
from sleuth.engine.schema import TTPS

PACK = Path(__file__).resolve().parents[2] / "rulepacks" / "api"

_PACK_SPEC = load_pack(str(PACK))
RESULTS = run_tests(_PACK_SPEC)


@pytest.mark.parametrize("result", RESULTS, ids=[r.id for r in RESULTS])
def test_rule_file_test(result):
    assert result.passed, f"{result.id}\n{result.message}"


def test_tests_were_collected():
    assert len({r.id for r in RESULTS}) == len(RESULTS), "test ids must be unique"
    assert sum(1 for r in RESULTS if r.mutation is None) >= 2 * len(_PACK_SPEC.rules)
    assert any(r.mutation for r in RESULTS), "no boundary mutation was derived"


def _expectations() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for case in _PACK_SPEC.tests:
        row = out.setdefault(case.rule, {"positive": 0, "negative": 0})
        for item in case.decl.items:
            if isinstance(item, ast.ExpectNone):
                row["negative"] += 1
            elif isinstance(item, ast.ExpectMatch) or (isinstance(item, ast.ExpectCount) and item.count > 0):
                row["positive"] += 1
    return out


@pytest.mark.parametrize("rule", [r.name for r in _PACK_SPEC.rules])
def test_every_rule_has_a_positive_and_a_negative_test(rule):
    row = _expectations().get(rule, {"positive": 0, "negative": 0})
    assert row["positive"] >= 1, f"{rule} has no positive test"
    assert row["negative"] >= 1, f"{rule} has no negative (benign look-alike) test"


@pytest.mark.parametrize("rule", [r.name for r in _PACK_SPEC.rules])
def test_every_rule_documents_itself(rule):
    meta = _PACK_SPEC.rule(rule).meta
    for key in ("ttp", "goal", "severity", "title", "description", "false_positives", "blind_spots"):
        assert meta.get(key), f"{rule} has no {key}"
    assert rule == rule.lower() and " " not in rule, "rule ids are snake_case"


def test_every_technique_has_a_rule():
    covered = {r.ttp for r in _PACK_SPEC.rules}
    assert covered == set(TTPS), f"missing: {sorted(set(TTPS) - covered)}"


def test_check_is_clean():
    checked = check_paths([str(PACK)])
    assert [d.message for d in checked.diagnostics] == []


def test_fmt_check_passes():
    from sleuth.dsl.pack import find_rule_files
    from sleuth.dsl.unparse import format_source

    for path in find_rule_files(str(PACK)):
        text = Path(path).read_text(encoding="utf-8")
        assert format_source(text, path) == text, f"{path} is not in canonical form (run sleuth fmt)"
