"""Property tests of the front end (hypothesis; skipped when it is not installed).

1. Any text, random unicode mixed with the language's own tokens, either
   parses or raises `RuleSyntaxError` whose diagnostics all point inside
   the text; never another exception (jmespath's property).
2. Checking any text that parses never raises.
3. Generated valid rule files round-trip: `parse(unparse(parse(x))) ==
   parse(x)`, and `format_source` is idempotent (comments included).

Each property tries 40 examples by default and 400 when the slow tier is
on (`SLEUTH_SLOW=1 pytest tests/dsl/test_fuzz.py`; the suite's hypothesis
profile, tests/conftest.py).
"""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sleuth.dsl.errors import RuleSyntaxError  # noqa: E402
from sleuth.dsl.pack import check_sources  # noqa: E402
from sleuth.dsl.parse import parse  # noqa: E402
from sleuth.dsl.unparse import format_source, quote, unparse  # noqa: E402

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- token soup

KEYWORDS = ["rule", "macro", "list", "import", "test", "meta", "by", "within", "window", "where", "when",
            "having", "sequence", "until", "unless", "between", "after", "emit", "suppress", "from",
            "matches", "limit", "fingerprint", "refire", "repeat", "for", "session", "gap", "sliding",
            "tumbling", "events", "expect", "match", "no", "and", "or", "not", "in", "true", "false",
            "file", "cooldown"]
PUNCT = ["{", "}", "(", ")", "[", "]", ",", ":", "=", "==", "!=", "<", "<=", ">", ">=", "~", "=~", "+", "-",
         "*", "/", "%", "@", ".", "..", "\n", "#", '"', "'", "$", "&&", "|", "!", "\t"]
WORDS = ["status", "user", "src_ip", "a", "b", "fails", "headers.x-forwarded-for", "count()", "i", "x1"]
LITERALS = ['"s"', '"a\\"b"', '"""long\nstring"""', "401", "1.5", "2e3", "500ms", "5m", "1h", "0s",
            "10.0.0.0/8", "1.2.3.4", "/^bot/i", "/a\\/b/", '"unterminated', "/unterminated", "999.1.1.1/99"]

token = st.one_of(st.sampled_from(KEYWORDS + PUNCT + WORDS + LITERALS), st.text(max_size=4))
soup = st.lists(token, max_size=40).flatmap(
    lambda toks: st.lists(st.sampled_from([" ", "", "\n", "  "]), min_size=len(toks), max_size=len(toks))
    .map(lambda seps: "".join(s + t for s, t in zip(seps, toks))))


def _assert_spans_inside(exc: RuleSyntaxError, text: str) -> None:
    lines = text.split("\n")
    assert exc.diagnostics
    for d in exc.diagnostics:
        assert 1 <= d.span.line <= len(lines), (d, text)
        assert 1 <= d.span.col <= len(lines[d.span.line - 1]) + 1, (d, text)


@SETTINGS
@given(soup)
def test_any_text_parses_or_raises_syntax_error_inside_the_text(text: str) -> None:
    try:
        parse(text, "fuzz.ttp")
    except RuleSyntaxError as exc:
        _assert_spans_inside(exc, text)


@SETTINGS
@given(st.text(max_size=60))
def test_any_unicode_parses_or_raises_syntax_error_inside_the_text(text: str) -> None:
    try:
        parse(text, "fuzz.ttp")
    except RuleSyntaxError as exc:
        _assert_spans_inside(exc, text)


# ---------------------------------------------------------------- valid rule text

FIELDS = st.sampled_from(["status", "user", "src_ip", "route", "method", "asn", "ua", "latency_ms",
                          "headers.x-forwarded-for", "params.coupon", "spec.documented", "stauts", "ts",
                          "window", "test"])
MACROS = st.sampled_from(["m1", "m2", "login", "nope"])
LISTS = st.sampled_from(["l1", "l2", "missing"])
NAMES = st.sampled_from(["a", "b", "c", "fails", "user"])
STRING_VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
# pieces of a regex literal's body: a '/' is always written escaped
REGEX_BODY = st.lists(st.sampled_from(list("abc.*+?^$()[]|{}0-9 ") + ["\\/", "\\d", "\\\\", "\\."]),
                      min_size=1, max_size=10).map("".join)


def duration_text() -> st.SearchStrategy[str]:
    number = st.one_of(st.integers(0, 100000).map(str),
                       st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda t: f"{t[0]}.{t[1]}"))
    return st.tuples(number, st.sampled_from(["ms", "s", "m", "h", "d", "w"])).map("".join)


literal = st.one_of(
    st.integers(0, 10**12).map(str),
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(repr),
    st.integers(0, 99).map(lambda n: f"{n}e{n % 7}"),
    STRING_VALUES.map(quote),
    st.text(st.sampled_from(list('ab "\\\n')), min_size=61, max_size=70).map(quote),
    duration_text(),
    st.tuples(*[st.integers(0, 300)] * 4, st.integers(0, 40)).map(lambda t: f"{t[0]}.{t[1]}.{t[2]}.{t[3]}/{t[4]}"),
    st.sampled_from(["true", "false"]),
)
call = st.one_of(
    st.tuples(st.sampled_from(["lower", "length", "exists", "int", "str", "count", "distinct", "lowr"]),
              FIELDS).map(lambda t: f"{t[0]}({t[1]})"),
    st.just("count()"),
    st.tuples(FIELDS, literal).map(lambda t: f"cidr({t[0]}, {t[1]})"),
)
atom = st.one_of(FIELDS, MACROS, literal, call, NAMES.map(lambda n: f"{n}.src_ip"))


@st.composite
def _chain(draw, operand, ops: list[str]) -> str:
    """operand (op operand)*: one precedence level of the grammar."""
    items = draw(st.lists(operand, min_size=1, max_size=3))
    out = items[0]
    for item in items[1:]:
        out += f" {draw(st.sampled_from(ops))} {item}"
    return out


# One strategy per precedence level, as in the grammar, so every text is valid.
expr = st.deferred(lambda: or_e)
atom_e = st.one_of(atom, atom, atom, expr.map(lambda e: f"({e})"))
unary_e = st.deferred(lambda: st.one_of(atom_e, atom_e, unary_e.map(lambda e: f"-{e}")))
product_e = _chain(unary_e, ["*", "/", "%"])
sum_e = _chain(product_e, ["+", "-"])
in_target = st.one_of(
    st.lists(literal, min_size=1, max_size=3).map(lambda x: f"({', '.join(x)})"),
    st.lists(literal, max_size=3).map(lambda x: f"[{', '.join(x)}]"),
    LISTS.map(lambda n: f"@{n}"), FIELDS)
cmp_e = st.one_of(
    sum_e,
    st.tuples(sum_e, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), sum_e).map(" ".join),
    st.tuples(sum_e, st.sampled_from(["in", "not in"]), in_target).map(" ".join),
    st.tuples(sum_e, STRING_VALUES.map(quote)).map(lambda t: f"{t[0]} ~ {t[1]}"),
    st.tuples(sum_e, REGEX_BODY, st.sampled_from(["", "i", "ms", "imsx"])).map(lambda t: f"{t[0]} =~ /{t[1]}/{t[2]}"),
)
not_e = st.deferred(lambda: st.one_of(cmp_e, cmp_e, not_e.map(lambda e: f"not {e}")))
and_e = _chain(not_e, ["and"])
or_e = _chain(and_e, ["or"])
comment = st.one_of(st.just(""), st.text(st.sampled_from(list("ab #\"{}")), max_size=8).map(lambda s: "  # " + s))
META = st.sampled_from([
    'meta { ttp = "scraping"  goal = "scraping"  severity = low  title = "t" }',
    'meta { ttp = "credential-stuffing", goal = "fraud", severity = hgh, tags = ["a"], version = 2 }',
    "meta { }",
])
mod = st.one_of(
    st.lists(FIELDS, min_size=1, max_size=2).map(lambda f: "by " + ", ".join(f)),
    st.integers(0, 5).map(lambda n: f"repeat {n}"),
    st.integers(0, 5).map(lambda n: f"repeat >= {n}"),
    st.tuples(st.integers(0, 5), st.integers(0, 5)).map(lambda t: f"repeat {t[0]}..{t[1]}"),
    duration_text().map(lambda d: f"within {d}"),
    st.tuples(duration_text(), expr).map(lambda t: f"window {t[0]} having {t[1]}"),
)
step = st.tuples(NAMES, expr, st.lists(mod, max_size=2), comment).map(
    lambda t: f"    {t[0]}: {t[1]} {' '.join(t[2])}{t[3]}")
clause = st.one_of(
    st.lists(FIELDS, min_size=1, max_size=2).map(lambda f: "by " + ", ".join(f)),
    duration_text().map(lambda d: f"within {d}"),
    st.tuples(duration_text(), st.sampled_from(["", " sliding", " tumbling"])).map(lambda t: f"window {t[0]}{t[1]}"),
    duration_text().map(lambda d: f"window session gap {d}"),
    expr.map(lambda e: f"where {e}"),
    expr.map(lambda e: f"when {e}"),
    st.tuples(expr, st.one_of(st.just(""), duration_text().map(lambda d: f" for {d}")))
    .map(lambda t: f"having {t[0]}{t[1]}"),
    st.lists(step, min_size=1, max_size=3).map(lambda s: "sequence {\n" + "\n".join(s) + "\n  }"),
    expr.map(lambda e: f"until {e}"),
    st.tuples(NAMES, expr, NAMES, NAMES).map(lambda t: f"unless {t[0]}x: {t[1]} between {t[2]} and {t[3]}"),
    st.tuples(NAMES, expr, NAMES, duration_text()).map(lambda t: f"unless {t[0]}x: {t[1]} after {t[2]} within {t[3]}"),
    st.lists(st.tuples(st.sampled_from(["n1", "n2", "rule", "window", "by"]), expr), max_size=2)
    .map(lambda es: "emit { " + ", ".join(f"{n} = {e}" for n, e in es) + " }"),
    st.tuples(duration_text(), st.lists(FIELDS, max_size=2))
    .map(lambda t: f"suppress {t[0]}" + (" by " + ", ".join(t[1]) if t[1] else "")),
    st.just("from matches"),
    st.lists(st.tuples(st.sampled_from(["keys", "partials", "bogus"]), st.integers(0, 100)), min_size=1, max_size=2)
    .map(lambda es: "limit " + ", ".join(f"{n} {v}" for n, v in es)),
    st.lists(expr, min_size=1, max_size=2).map(lambda es: "fingerprint " + ", ".join(es)),
    st.tuples(st.sampled_from(["reset", "keep", "cooldown", "rest"]), st.one_of(st.just(""), duration_text()))
    .map(lambda t: f"refire {t[0]} {t[1]}".rstrip()),
)
rule = st.tuples(st.sampled_from(["r1", "r2"]), META, st.lists(st.tuples(clause, comment), max_size=4)).map(
    lambda t: f"rule {t[0]} {{\n  {t[1]}\n" + "".join(f"  {c}{k}\n" for c, k in t[2]) + "}")
assign = st.tuples(FIELDS, expr).map(lambda t: f"{t[0]} = {t[1]}")


def _assigns(items: list[str]) -> str:
    # Entries need no separator, but one named like a keyword needs a ',' before it.
    return "".join((", " if i and item.split()[0] in ("window", "test") else "  ") + item
                   for i, item in enumerate(items))


event_gen = st.one_of(
    st.lists(assign, max_size=3).map(lambda a: "{" + _assigns(a) + " }"),
    st.tuples(st.integers(0, 50), st.lists(assign, max_size=3)).map(lambda t: f"repeat {t[0]} {{" + _assigns(t[1]) + " }"),
)
titem = st.one_of(
    st.lists(event_gen, max_size=2).map(lambda g: "events {\n    " + "\n    ".join(g) + "\n  }"),
    st.just('events from "fixtures/none.jsonl"'),
    st.just("expect match"),
    st.lists(expr, min_size=1, max_size=2).map(lambda es: "expect match { " + ", ".join(es) + " }"),
    st.just("expect no match"),
    st.integers(0, 5).map(lambda n: f"expect {n} matches"),
)
tdecl = st.tuples(STRING_VALUES.map(quote), st.sampled_from(["r1", "r2", "r3"]), st.lists(titem, max_size=3)).map(
    lambda t: f"test {t[0]} for {t[1]} {{\n" + "".join(f"  {i}\n" for i in t[2]) + "}")
decl = st.one_of(
    st.just('import "common.ttp"'),
    st.tuples(st.sampled_from(["l1", "l2"]), st.lists(literal, max_size=4)).map(lambda t: f"list {t[0]} = [{', '.join(t[1])}]"),
    st.sampled_from(["l1", "l2"]).map(lambda n: f'list {n} = file("lists/{n}.txt")'),
    st.tuples(st.sampled_from(["m1", "m2", "login"]), expr).map(lambda t: f"macro {t[0]} = {t[1]}"),
    rule,
    tdecl,
)
_rule_file = st.lists(st.tuples(decl, comment), max_size=5).map(lambda ds: "\n".join(d + c for d, c in ds) + "\n")


@st.composite
def rule_file(draw) -> str:
    """A rule file with valid syntax (names, types and values may be wrong)."""
    return draw(_rule_file)


def _parses(text: str) -> bool:
    try:
        parse(text)
    except RuleSyntaxError:
        return False
    return True


@SETTINGS
@given(rule_file())
def test_generated_files_parse(text: str) -> None:
    # The generator writes valid syntax; if this fails, fix the generator or the grammar.
    parse(text, "gen.ttp")


@SETTINGS
@given(st.one_of(rule_file(), soup.filter(_parses)))
def test_checking_parseable_text_never_raises(text: str) -> None:
    checked = check_sources({"gen.ttp": text})
    for d in checked.diagnostics:
        assert d.span.line >= 1 and d.span.col >= 1


@SETTINGS
@given(rule_file())
def test_unparse_round_trips(text: str) -> None:
    module = parse(text)
    assert parse(unparse(module)) == module


@SETTINGS
@given(rule_file())
def test_format_source_is_idempotent(text: str) -> None:
    once = format_source(text)
    assert format_source(once) == once
    assert parse(once) == parse(text)
