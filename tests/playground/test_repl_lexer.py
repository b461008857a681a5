"""The playground's highlighting: a prompt_toolkit lexer over the grammar's own lexer."""

from __future__ import annotations

import pytest
from lark.lexer import PatternStr
from prompt_toolkit.document import Document

from sleuth.dsl.grammar import parser
from sleuth.playground.repl import COMMAND_WORDS
from sleuth.playground.repl_lexer import (
    STYLE,
    SleuthLexer,
    block_complete,
    bracket_depth,
    fragments,
    lex,
    token_class,
)

RULE = '''rule r {
  by window within 5m   # a comment { with a brace
  when a / 2 > 3 and route ~ "/api/{id}" and ua =~ /^bot/i and src_ip in 10.0.0.0/8
  having count() >= 3 and distinct(user) > 1.5 and ip in @bad_ips
  window 10m sliding
}
'''


def style_of(text: str, piece: str, nth: int = 0, commands=frozenset()) -> str:
    hits = [cls for cls, t in fragments(text, commands) if t == piece]
    assert len(hits) > nth, (piece, fragments(text, commands))
    return hits[nth]


@pytest.mark.parametrize("piece,cls", [
    ("rule", "keyword"), ("within", "keyword"), ("when", "keyword"), ("and", "keyword"),
    ("sliding", "keyword"), ("having", "keyword"),
    ('"/api/{id}"', "string"),
    ("2", "number"), ("1.5", "number"), ("10.0.0.0/8", "number"),
    ("5m", "duration"), ("10m", "duration"),
    ("/^bot/i", "regex"),
    ("# a comment { with a brace", "comment"),
    (">", "operator"), (">=", "operator"), ("~", "operator"), ("=~", "operator"),
    ("/", "operator"),
    ("{", "punctuation"), ("(", "punctuation"),
    ("route", "name"), ("window", "name"),        # a keyword used as a field name stays a name
    ("count", "function"), ("distinct", "function"),
    ("bad_ips", "list"),
])
def test_token_classes(piece: str, cls: str) -> None:
    assert style_of(RULE, piece) == cls


def test_the_parse_context_decides_keyword_or_name() -> None:
    assert style_of(RULE, "window", 0) == "name"        # `by window`: a field
    assert style_of(RULE, "window", 1) == "keyword"     # `window 10m sliding`: the clause


def test_long_strings_and_every_class_has_a_style() -> None:
    text = 'macro m = ua == """a\nb""" or x == -1'
    assert style_of(text, '"""a\nb"""') == "string"
    assert style_of(text, "-") == "operator"
    for cls in ("keyword", "string", "number", "duration", "regex", "comment", "operator",
                "punctuation", "function", "list", "command", "error"):
        assert STYLE.get_attrs_for_style_str(f"class:{cls}") is not None


def test_every_grammar_terminal_has_a_class() -> None:
    for term in parser().terminals:
        if term.name in ("WS",):
            continue
        cls = token_class(term.name)
        assert cls, term.name
        if isinstance(term.pattern, PatternStr) and term.pattern.value.isalpha():
            assert cls == "keyword", term.name


def test_pieces_cover_the_text_exactly() -> None:
    for text in (RULE, 'when x == "abc\n  and y', "feed repeat 3 { ts = 2s * i }", "", "  \n#only\n",
                 "time +5m", "$$$ x\nrule"):
        pieces = lex(text)
        assert "".join(text[p.start:p.end] for p in pieces) == text
        assert all(a.end == b.start for a, b in zip(pieces, pieces[1:]))


def test_a_lexing_error_marks_the_rest_of_the_line_only() -> None:
    text = 'macro m = x == "abc\n  and y == 2'
    frags = fragments(text)
    assert ("error", '"abc') in frags
    assert ("keyword", "and") in frags           # the next line lexes again
    assert ("number", "2") in frags
    frags = fragments("macro m = $x == 1 and y\nrule z { }")
    assert ("error", "$x == 1 and y") in frags
    assert ("keyword", "rule") in frags


def test_repl_commands_are_lexed_by_the_same_lexer() -> None:
    frags = fragments("feed repeat 30 { ts = 2s * i  user = \"u{i}\" }", COMMAND_WORDS)
    assert frags[0] == ("command", "feed")
    assert ("keyword", "repeat") in frags and ("duration", "2s") in frags and ("string", '"u{i}"') in frags
    assert fragments("time +5m", COMMAND_WORDS)[:3] == [("command", "time"), ("", " "), ("operator", "+")]
    # `test "name" for rule {` defines a test; `test rule` is the command
    assert fragments('test "x" for r {', COMMAND_WORDS)[0] == ("keyword", "test")
    assert fragments("test r", COMMAND_WORDS)[0] == ("command", "test")


def test_lexer_adapter_gives_prompt_toolkit_lines() -> None:
    lexer = SleuthLexer(COMMAND_WORDS)
    doc = Document(RULE)
    get_line = lexer.lex_document(doc)
    assert get_line(0) == [("class:keyword", "rule"), ("", " "), ("class:name", "r"), ("", " "),
                           ("class:punctuation", "{")]
    line1 = get_line(1)
    assert ("class:comment", "# a comment { with a brace") in line1
    assert "".join(t for _s, t in get_line(2)) == RULE.split("\n")[2]
    assert get_line(99) == []


def test_bracket_depth_counts_real_tokens_only() -> None:
    assert bracket_depth("rule x {") == 1
    assert bracket_depth('rule x { when a == "{" # {\n') == 1
    assert bracket_depth("rule x { sequence { a: x") == 2
    assert bracket_depth("rule x { }") == 0
    assert bracket_depth("feed [{\"a\": 1},") == 1
    assert block_complete("partials")
    assert not block_complete("rule x {\n")
    assert block_complete("rule x {\n\n\n")       # two blank lines give up on the block
