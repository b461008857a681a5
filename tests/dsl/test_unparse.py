"""The canonical printer (`sleuth fmt`): round trips, layout details, comments.

The invariant of `dsl/unparse.py`, `parse(unparse(parse(x))) == parse(x)`,
is checked on every shipped rule file here, on the goldens and the doc
examples elsewhere, and on generated files in `test_fuzz.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sleuth.dsl import ast as A
from sleuth.dsl.parse import duration_seconds, parse, parse_expr
from sleuth.dsl.unparse import format_duration, format_source, quote, unparse

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((REPO / "rulepacks").rglob("*.ttp")) + sorted((Path(__file__).parent / "golden").rglob("*.ttp"))


def _id(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", RULE_FILES, ids=_id)
def test_rule_file_round_trips(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        module = parse(text, path.name)
    except Exception:
        pytest.skip("does not parse (a syntax-error golden)")
    assert parse(unparse(module)) == module
    once = format_source(text)
    assert format_source(once) == once
    assert parse(once) == module


@pytest.mark.parametrize("seconds, text", [
    (0.5, "500ms"), (1.5, "1500ms"), (10.0, "10s"), (90.0, "90s"), (300.0, "5m"), (5400.0, "90m"),
    (3600.0, "1h"), (86400.0, "1d"), (604800.0, "1w"), (0.0005, "0.5ms"), (0.7, "700ms"), (0.0, "0ms"),
], ids=lambda v: str(v))
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("value", ["plain", 'say "hi"', "back\\slash", "tab\tnl\ncr\r", "\x00\x1f\x7f",
                                   "é ✓ \u2028", "{i}", "x" * 70 + "\n" + 'y"""z'],
                         ids=["plain", "quotes", "backslash", "controls", "low-controls", "unicode", "braces",
                              "long"])
def test_quote_reads_back(value: str) -> None:
    assert parse_expr(quote(value)) == A.String(value)


@pytest.mark.parametrize("text, expected", [
    ("macro m = (a or b) and c", "macro m = (a or b) and c\n"),
    ("macro m = ((a)) and ((b))", "macro m = a and b\n"),
    ("macro m = 1 - (2 - 3)", "macro m = 1 - (2 - 3)\n"),
    ("macro m = (1 - 2) - 3", "macro m = 1 - 2 - 3\n"),
    ("macro m = -(-a)", "macro m = -(-a)\n"),
    ("macro m = not (a == 1)", "macro m = not a == 1\n"),
    ("macro m = a.b - c", "macro m = a.b - c\n"),
    ("macro m = x in ( 1,2 , )", "macro m = x in (1, 2)\n"),
    ("macro m = ua =~ /a\\/b/i", "macro m = ua =~ /a\\/b/i\n"),
    ("macro m = f(1e999)", "macro m = f(1e999)\n"),
], ids=["needed-parens", "redundant-parens", "right-assoc-kept", "left-assoc-flat", "double-neg",
        "not-binds-looser", "dotted-minus", "tuple", "regex-slash", "infinite-float"])
def test_expression_layout(text: str, expected: str) -> None:
    assert format_source(text) == expected


def test_keyword_named_entries_get_a_comma() -> None:
    text = ('rule r {\n  emit { a = x, window = y, by = z }\n}\n'
            'test "t" for r { events { { a = 1, test = 2 } } }\n')
    out = format_source(text)
    assert "    a = x,\n    window = y,\n    by = z\n" in out
    assert "{ a = 1,  test = 2 }" in out
    assert parse(out) == parse(text)


def test_comments_are_kept() -> None:
    text = ("# head\nmacro a = x == 1  # why a\n\nrule r {  # the rule\n  # before when\n"
            "  when a  # trailing\n  emit { n = 1 }  # after emit\n}\n# tail\n")
    out = format_source(text)
    for c in ("# head", "# why a", "# the rule", "# before when", "# trailing", "# after emit", "# tail"):
        assert c in out
    assert format_source(out) == out
    assert parse(out) == parse(text)


def test_expect_match_assertions_are_comma_separated() -> None:
    text = 'test "t" for r { expect match { a == 1, b == 2 } }'
    out = format_source(text)
    assert "    a == 1,\n    b == 2,\n" in out
    assert parse(out) == parse(text)
