"""`=~`, `~` and `in` look at the whole value, in linear time, with Python's meaning.

docs/language.md "Glob and regex", docs/embedding.md. The reproduction of the
blind tail (a user agent padded to 1,100 characters escaped `ua =~ /sqlmap/`),
padding tests for regex, glob and substring at 1 KB, 8 KB and 1 MB, the same
answers from RE2 and Python's `re` on a table of patterns (Python's `\\d \\w \\s`
and `$`), and the load-time diagnostics for what RE2 lacks.
"""

from __future__ import annotations

import pytest

from sleuth.dsl import load_pack
from sleuth.dsl.errors import PackError
from sleuth.engine import Engine, regex

META = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'
needs_re2 = pytest.mark.skipif(regex.ENGINE != "re2", reason="google-re2 is not installed (pip install 'sleuth[re2]')")


def _pack(when: str):
    return load_pack(sources={"r.ttp": f"rule r {{ {META} when {when} }}"})


def _fires(pack, value: str, field: str = "ua", **options) -> bool:
    eng = Engine(pack, lateness=0, **options)
    out = eng.feed({"id": "x", "ts": 1.0, field: value}) + eng.close()
    return len(out) == 1


def test_a_padded_user_agent_no_longer_escapes_the_regex():
    pack = _pack("ua =~ /sqlmap/")
    assert _fires(pack, "x" * 1100 + "sqlmap/1.7")
    assert not _fires(pack, "x" * 1100 + "sqlmop/1.7")


SIZES = {"1KB": 1 << 10, "8KB": 8 << 10, "1MB": 1 << 20}
TESTS = {
    "regex": ('ua =~ /sql(map|ninja)/', "sqlmap"),
    "regex-class": ('ua =~ /[0-9]{3}-attack$/', "123-attack"),
    "glob": ('ua ~ "*sqlmap*"', "sqlmap"),
    "contains": ('ua in "x"', None),
    "substring": ('contains(ua, "sqlmap")', "sqlmap"),
}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("name", [k for k in TESTS if TESTS[k][1] is not None])
def test_the_needle_at_the_end_of_a_padded_value_is_found(name, size):
    when, needle = TESTS[name]
    pack = _pack(when)
    padding = "a" * (size - len(needle))
    # Strings are cut at 64 KiB by default (docs/reliability.md); the 1 MB case raises the cut.
    assert _fires(pack, padding + needle, max_string=2 << 20)
    assert not _fires(pack, padding + needle[:-1] + "_", max_string=2 << 20)


def test_the_default_string_cut_is_where_the_value_ends():
    pack = _pack("ua =~ /sqlmap/")
    value = "a" * (1 << 20) + "sqlmap"
    assert not _fires(pack, value)              # cut at 65,536 characters (flagged _invalid: truncated)
    assert _fires(pack, "a" * 65000 + "sqlmap")


# Python's meaning, kept by the translation to RE2: one id per row.
SEMANTICS = [
    (r"abc$", "abc\n", True), (r"abc$", "abc\n\n", False), (r"abc\Z", "abc\n", False),
    (r"^b", "a\nb", False), (r"(?m)^b", "a\nb", True), (r"(?m)a$", "a\nb", True),
    (r"\d+", "\u0663", True), (r"[\d]", "\u0663", True), (r"\D", "\u0663", False),
    (r"\w", "\u00e9", True), (r"[^\w]", "\u00e9", False), (r"\W", "-", True), (r"[\W_]", "_", True),
    (r"\s", "\u3000", True), (r"\s", "\x1c", True), (r"\S", "\u3000", False),
    (r"(?i)\u00c9t\u00c9", "\u00e9t\u00e9", True), (r"(?i:a)b", "AB", False), (r"(?i)a(?-i:b)", "AB", False),
    (r"a.b", "a\nb", False), (r"(?s)a.b", "a\nb", True), (r"(?s:a.)b", "a\nb", True),
    (r"(?x) a b  # comment", "ab", True), (r"(?a)\w", "\u00e9", False), (r"a{2,3}", "aa", True),
    (r"colou?r", "color", True), (r"a*?b", "aab", True), (r"[^a-c]", "abc", False), (r"\.", "a", False),
    (r"\bbot\b", "a bot!", True), (r"x|y|z", "q", False), (r"\x41\u0042", "AB", True),
]


@needs_re2
@pytest.mark.parametrize("pattern,value,expected", SEMANTICS, ids=[f"{p!r}~{v!r}" for p, v, _e in SEMANTICS])
def test_re2_and_re_give_the_same_answer(pattern, value, expected):
    py = regex.compile_matcher(pattern, engine="re")(value) is not None
    r2 = regex.compile_matcher(pattern, engine="re2", hybrid=False)(value) is not None
    long = regex.compile_matcher(pattern, engine="re2")("\x00" * regex.SHORT + value) is not None
    assert long == (regex.compile_matcher(pattern, engine="re")("\x00" * regex.SHORT + value) is not None)
    assert (py, r2) == (expected, expected)


UNSUPPORTED = {      # the rule's regex literal, and the text the caret must point at
    "lookahead": ("/admin(?=\\/)/", "(?="),
    "lookbehind": ("/(?<!x)admin/", "(?<!"),
    "backreference": ("/(a)\\1/", "\\1"),
    "named-backreference": ("/(?P<q>a)(?P=q)/", "(?P="),
    "conditional": ("/(a)?(?(1)b|c)/", "(?(1"),
    "atomic": ("/(?>ab)c/", "(?>"),
    "possessive": ("/a*+b/", "*+"),
    "huge-repeat": ("/a{1001}/", "{1001"),
}


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_what_re2_lacks_is_refused_at_load_time_everywhere(name):
    literal, at = UNSUPPORTED[name]
    text = f"rule r {{ {META} when ua =~ {literal} }}"
    with pytest.raises(PackError) as e:
        load_pack(sources={"r.ttp": text})
    (d,) = e.value.errors
    assert d.code == "regex-unsupported"
    assert (d.span.line, d.span.col) == (1, text.index(at, text.index(literal)) + 1)


def test_without_re2_quadratic_shapes_are_refused(monkeypatch):
    monkeypatch.setattr(regex, "ENGINE", "re")
    for pattern in ("a.*a.*a.*x", "[a-z]+x", "(ab|cd)+e", "^a.*b.*c"):
        with pytest.raises(PackError) as e:
            load_pack(sources={"r.ttp": f"rule r {{ {META} when ua =~ /{pattern}/ }}"})
        assert [d.code for d in e.value.errors] == ["regex-needs-re2"], pattern
    for pattern in ("sqlmap", "^Mozilla\\/5\\.0 \\(([^)]*)\\)", "a{1,100}b", "Googlebot|bingbot", "[^0-9]"):
        load_pack(sources={"r.ttp": f"rule r {{ {META} when ua =~ /{pattern}/ }}"})
