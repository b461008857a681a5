"""Diagnostics as data: one pytest id per case of `cases/*.toml`.

Each case names a `code`, its severity (`error = "..."` or
`warning = "..."`) and where the first diagnostic with that code points
(`at = "line:col"`), as jmespath's compliance tests do. The fields are
asserted, never the rendered text (the goldens pin that). Every case runs
in a temporary folder through `check_paths`, exactly as `sleuth check`.
Also here: every known-bad snippet of `syntax_errors.py` fails with its own
label, and every code the checker can emit has a case.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from sleuth.dsl import check as check_mod
from sleuth.dsl import expression as expression_mod
from sleuth.dsl import lint as lint_mod
from sleuth.dsl import lists as lists_mod
from sleuth.dsl import pack as pack_mod
from sleuth.dsl import syntax_errors
from sleuth.dsl.pack import check_paths
from sleuth.dsl.parse import parse_recovering

parse_mod = sys.modules["sleuth.dsl.parse"]   # (sleuth.dsl.parse is also the function)

CASES_DIR = Path(__file__).parent / "cases"
META = 'meta { ttp = "scraping"  goal = "scraping"  severity = low  title = "t" }'


def load_cases() -> list:
    out = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            for case in tomllib.load(fh)["case"]:
                out.append(pytest.param(case, id=f"{path.stem}::{case['title']}"))
    return out


CASES = load_cases()


def _source(text: str) -> str:
    return re.sub(r"(?m)^(\s*)%meta%$", lambda m: m.group(1) + META, text)


def run_case(case: dict, rule_files) -> list:
    files: dict[str, str | bytes] = {"main.ttp": _source(case["source"])}
    files.update({k: _source(v) for k, v in case.get("files", {}).items()})
    files.update({k: bytes.fromhex(v) for k, v in case.get("bytes", {}).items()})
    root = rule_files(files)
    for link, target in case.get("symlinks", {}).items():
        (root / link).symlink_to(target)
    limit = {"max_file_bytes": case["max_file_bytes"]} if "max_file_bytes" in case else {}
    checked = check_paths(["."] if case.get("pack") else ["main.ttp"], **limit)
    return list(checked.diagnostics)


def _describe(diags) -> str:
    return "\n".join(f"  {d.span.file}:{d.span.line}:{d.span.col} {d.severity}[{d.code}] {d.message}"
                     f"{''.join(' | hint: ' + h for h in d.hints)}" for d in diags) or "  (none)"


@pytest.mark.parametrize("case", CASES)
def test_diagnostic(case: dict, rule_files) -> None:
    severity = "error" if "error" in case else "warning"
    code = case[severity]
    diags = run_case(case, rule_files)
    report = f"\nsource:\n{_source(case['source'])}\ndiagnostics:\n{_describe(diags)}"
    found = [d for d in diags if d.code == code and d.span.file == case.get("file", "main.ttp")]
    assert found, f"no {code} diagnostic{report}"
    d = found[0]
    line, col = (int(x) for x in case["at"].split(":"))
    assert (d.severity, d.span.line, d.span.col) == (severity, line, col), report
    if "message" in case:
        assert case["message"] in d.message, report
    if "hint" in case:
        assert any(case["hint"] in h for h in d.hints), report
    allowed = {code, *case.get("also", ())}
    stray = [x for x in diags if x.is_error and x.code not in allowed]
    assert not stray, f"unexpected errors{report}"


def test_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60


# ---------------------------------------------------------------- coverage of codes


def _emitted_codes() -> set[str]:
    """Codes the checker (driver, expressions, lists, lints) and syntax_errors.py can emit."""
    codes = set()
    for module in (check_mod, expression_mod):
        src = Path(module.__file__).read_text(encoding="utf-8")
        codes |= set(re.findall(r'self\.(?:error|warn)\(\s*"([a-z-]+)"', src))
    codes |= {f"unknown-{k}" for k in ("ttp", "goal", "severity")}   # f"unknown-{e.name}"
    codes |= {lint.code for lint in lint_mod.LINTS}
    codes |= {label[0] for label, _ in syntax_errors.EXAMPLES}
    syn_src = Path(syntax_errors.__file__).read_text(encoding="utf-8")
    codes |= set(re.findall(r'(?:\(|return )"([a-z][a-z-]*)",', syn_src))
    for module in (parse_mod, pack_mod, lists_mod):   # these build some directly
        codes |= set(re.findall(r'Diagnostic\(\s*"([a-z-]+)"', Path(module.__file__).read_text(encoding="utf-8")))
    return codes


# Codes that no rule text can trigger (defensive code; see the report in docs).
UNREACHABLE = {
    "unexpected-expression",  # every Expr class has a check_<snake> handler
    "unexpected-word",        # a Word is only built for meta values, which are not expressions
}


def test_every_code_has_a_case() -> None:
    covered = {c.values[0].get("error") or c.values[0].get("warning") for c in CASES}
    missing = _emitted_codes() - covered - UNREACHABLE
    assert missing == set()


def test_unreachable_codes_are_still_in_the_checker() -> None:
    # If one disappears from the checker, drop it from UNREACHABLE.
    assert UNREACHABLE <= _emitted_codes()


# ---------------------------------------------------------------- the example table


@pytest.mark.parametrize("code, snippet", syntax_errors.all_snippets(),
                         ids=[f"{c}: {s}" for c, s in syntax_errors.all_snippets()])
def test_syntax_example_gets_its_label(code: str, snippet: str) -> None:
    _module, diags = parse_recovering(snippet)
    assert diags and diags[0].code == code, _describe(diags)
