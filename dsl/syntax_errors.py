"""Human labels for syntax errors, learned from examples.

Lark's `UnexpectedInput.match_examples` replays each known-bad snippet below
and compares the parser state where it fails with the state of the real
error; the first label whose example fails the same way wins (the technique
of Lark's own `GRAMMAR_ERRORS`). Only when no example matches does the
message fall back to "expected one of ...", with token names made readable.
`syntax_diagnostic` turns a Lark error into the `Diagnostic` that
`parse.parse_recovering` reports (span at the bad token, or just after the
last token at end of input).
"""

from __future__ import annotations

import functools

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .diagnostic import ERROR, Diagnostic
from .grammar import parser
from .span import Span

CLAUSES = ("meta, by, within, window, where, when, having, sequence, join, until, unless, "
           "emit, suppress, from matches, limit, fingerprint, refire, | pipe")

# (code, message, hints) -> snippets that fail in the same parser state.
EXAMPLES: list[tuple[tuple[str, str, tuple[str, ...]], list[str]]] = [
    (("single-equals", "'=' assigns a value; comparison is written '=='",
      ("write 'a == b' to compare",)),
     ['rule r { when a = 1 }', 'rule r { where a = 1 }', 'rule r { having a = 1 }',
      'macro m = a = 1', 'rule r { sequence { s: a = 1 } }', 'rule r { until a = 1 }',
      'rule r { when a == 1 and b = 2 }', 'rule r { when f(a) = 1 }', 'rule r { when a.b = 1 }',
      'test "t" for r { expect match { a = 1 } }']),
    # Before c-operator: any other token after '|' is a malformed pipe, while
    # '||' itself (an exact state and token match) stays a C operator.
    (("bad-pipe", "a pipe is written '| name [arguments] [by keys]'",
      ("e.g. '| unique user' or '| head 5'",)),
     ['rule r { when a == 1 | }', 'rule r { when a == 1 | 5 }', 'rule r { when a == 1 | "x" }']),
    (("c-operator", "'&&', '||' and '!' are written 'and', 'or' and 'not'",
      ("write 'a == 1 and b == 2'",)),
     ['rule r { when a == 1 & b }', 'rule r { when a == 1 && b }',
      'rule r { when a == 1 || b }']),
    (("missing-unit", "a duration needs a unit",
      ("write e.g. '30s', '5m' or '1h' (units: ms, s, m, h, d, w)",)),
     ['rule r { within 30 }', 'rule r { window 10 }', 'rule r { suppress 30 }',
      'rule r { window session gap 5 }', 'rule r { having a for 5 }',
      'rule r { sequence { s: a within 5 } }', 'rule r { sequence { s: a window 5 having b } }',
      'rule r { unless x: a after s within 5 }', 'rule r { refire cooldown 5 }']),
    (("missing-step-name", "a sequence step needs a name",
      ("write 'name: condition', e.g. 'fails: status == 401'",)),
     ['rule r { sequence { a == 1 } }', 'rule r { sequence { a } }',
      'rule r { sequence { s: a == 1 b == 2 } }', 'rule r { sequence { "x" } }', 'rule r { join { a == 1 } }',
      'rule r { join { s: a == 1 b == 2 } }']),
    (("meta-syntax", "meta entries are written 'name = value'",
      ('write e.g. meta { ttp = "credential-stuffing"  severity = high }',)),
     ['rule r { meta { ttp: "x" } }', 'rule r { meta { ttp "x" } }', 'rule r { meta { "ttp" = 1 } }',
      'rule r { meta { ttp = a.b } }', 'rule r { meta { ttp = 1.5 } }', 'rule r { meta ttp = "x" }']),
    (("unclosed-block", "the input ends inside a block",
      ("add the missing '}' (or ')' / ']')",)),
     ['rule r {', 'rule r { when a == 1', 'rule r { sequence { s: a == 1 }',
      'rule r { meta { ttp = "x" }', 'rule r { emit { a = 1 }', 'test "t" for r {',
      'test "t" for r { events { { a = 1 }', 'rule r { when f(a', 'rule r { when a in (1, 2',
      'list x = [1, 2', 'rule r { when (a == 1']),
    (("missing-condition", "a condition is missing here",
      ("write a condition such as 'status == 401' or the name of a macro",)),
     ['rule r { when }', 'rule r { where }', 'rule r { having }', 'rule r { until }',
      'macro m =', 'rule r { sequence { s: } }', 'rule r { when not }',
      'rule r { unless x: between a and b }', 'rule r { sequence { s: a window 5m having } }']),
    (("missing-operand", "this operator is missing its right-hand side",
      ("complete the expression, e.g. 'status >= 500'",)),
     ['rule r { when a == }', 'rule r { when a and }', 'rule r { when a or }', 'macro m = a +',
      'macro m = a *', 'rule r { when a in }', 'rule r { when a ~ }', 'rule r { when a =~ }',
      'rule r { when a not in }', 'rule r { when a < }', 'rule r { when a == 1 and }']),
    (("bad-repeat", "repeat is written 'repeat N', 'repeat >= N' or 'repeat N..M'",
      ("e.g. 'fails: login_fail repeat >= 3'",)),
     ['rule r { sequence { s: a repeat > 3 } }', 'rule r { sequence { s: a repeat } }',
      'rule r { sequence { s: a repeat <= 3 } }', 'rule r { sequence { s: a repeat x } }',
      'rule r { sequence { s: a repeat 1.. } }', 'rule r { sequence { s: a repeat 1..x } }']),
    (("unknown-clause", "expected a rule clause",
      (f"rule clauses are: {CLAUSES}",)),
     ['rule r { foo }', 'rule r { foo a == 1 }', 'rule r { when a == 1 foo }',
      'rule r { sequence { s: a } foo }', 'rule r { "x" }', 'rule r { 1 }', 'rule r { by a b }',
      'rule r { within 5m foo }', 'rule r { window 5m foo }', 'rule r { from x }',
      'rule r { meta { } foo }', 'rule r { suppress 5m foo }', 'rule r { emit { } foo }',
      'rule r { sequence { s: a } within 5m foo }']),
    (("expected-declaration", "expected a declaration",
      ("a rule file holds: rule, macro, list, import and test blocks",)),
     ['foo', 'when a == 1', 'a == 1', '"x"', '{', 'rules r { }', 'rule r { } }', '1']),
    (("rule-name", "a name is expected here",
      ("names are letters, digits and '_': 'rule name { ... }', 'macro name = ...', 'list name = ...'",)),
     ['rule { }', 'rule "r" { }', 'rule 1 { }', 'rule r-x { }', 'macro = a', 'macro "m" = a',
      'list = [1]', 'list "x" = [1]']),
    (("bad-list", "a list is written [a, b, c] or file(\"path\")",
      ('e.g. list methods = ["POST", "PUT"]',)),
     ['list x = (1, 2)', 'list x = 1', 'list x = "a"', 'list x = a', 'list x = file "a"']),
    (("bad-test", "a test is written: test \"name\" for rule { events ... expect ... }",
      ("see docs/language.md, section Tests",)),
     ['test t for r { }', 'test "t" r { }', 'test "t" for { }', 'test "t" for r { foo }',
      'test "t" for r { expect }', 'test "t" for r { expect matches }',
      'test "t" for r { events }', 'test "t" for r { events { a = 1 } }',
      'test "t" for r { expect no }', 'test "t" for r { events { repeat { a = 1 } } }']),
    (("bad-window", "a window is written 'window 10m [sliding|tumbling]' or 'window session gap 2m'",
      ("e.g. 'window 5m tumbling'",)),
     ['rule r { window }', 'rule r { window session 5m }', 'rule r { window session }',
      'rule r { window tumbling 5m }']),
    (("bad-unless", "an absence is written 'unless name: cond between a and b' or "
      "'unless name: cond after step within 10m'",
      ("name the absence, then give its condition and where it applies",)),
     ['rule r { unless a == 1 between x and y }', 'rule r { unless x: a == 1 }',
      'rule r { unless x: a between y }', 'rule r { unless x: a after y }',
      'rule r { unless x: a between y or z }']),
    (("tuple-not-allowed", "a tuple '(a, b)' only appears right of 'in'",
      ("write 'x in (a, b)', or join conditions with 'and' / 'or'",)),
     ['rule r { when (a, b) }', 'macro m = (1, 2)', 'rule r { emit { x = (a, b) } }']),
    (("missing-separator", "two values follow each other without an operator or ','",
      ("separate items with ',' or join conditions with 'and' / 'or'",)),
     ['rule r { when a in (1 2) }', 'rule r { when f(a b) }', 'rule r { when a == 1 2 }',
      'rule r { emit { x = f(a b) } }', 'list x = [1 2]',
      'test "t" for r { expect match { a == 1 b == 2 } }']),
]


_UNTERMINATED_REGEX = ("unterminated-regex", "this regex literal is not closed on its line",
                       ("write /pattern/flags with '\\/' for a literal slash",))
_CLAUSE_STARTS = frozenset({"META", "WHEN", "SEQUENCE", "HAVING"})
_UNKNOWN_CLAUSE = next(label for label, _ in EXAMPLES if label[0] == "unknown-clause")


def label_for(exc: UnexpectedInput, text: str) -> tuple[str, str, tuple[str, ...]]:
    """(code, message, hints) for a parse error in `text`."""
    if isinstance(exc, UnexpectedCharacters):
        return _label_characters(exc, text)
    if isinstance(exc, UnexpectedToken) and exc.token.type == "SLASH" and "REGEX" in _expected_terminals(exc):
        # A '/' where a value is expected starts a regex that was not closed
        # (an unclosed REGEX does not lex, and the '/' lexes as division).
        return _UNTERMINATED_REGEX
    label = _match(exc)
    if label is not None:
        code, message, hints = label
        found = _describe_found(exc)
        return code, f"{message} (found {found})" if found else message, hints
    return "syntax", _expected_message(exc), ()


def _key(exc: UnexpectedInput) -> tuple | None:
    if isinstance(exc, UnexpectedToken):
        state = getattr(exc.state, "position", exc.state)
        return (state, exc.token.type)
    return None


@functools.lru_cache(maxsize=1)
def _example_index() -> tuple[dict, dict]:
    """(state, token type) → label and state → label, from replaying EXAMPLES."""
    exact: dict = {}
    by_state: dict = {}
    for label, snippets in EXAMPLES:
        for snippet in snippets:
            try:
                parser().parse(snippet)
            except UnexpectedInput as e:
                key = _key(e)
                if key is not None:
                    exact.setdefault(key, label)
                    # An example failing at end of input says the input ended
                    # early; it says nothing about a wrong token in that state.
                    if key[1] != "$END":
                        by_state.setdefault(key[0], label)
    return exact, by_state


def _match(exc: UnexpectedInput):
    """The label of the first example failing in the same parser state."""
    key = _key(exc)
    if key is None:
        return None
    exact, by_state = _example_index()
    if key in exact:
        return exact[key]
    # A word where a new clause could start is a misspelt or unknown clause,
    # whichever clause came before it (each ends in its own parser state).
    if key[1] == "NAME" and _CLAUSE_STARTS <= _expected_terminals(exc):
        return _UNKNOWN_CLAUSE
    return by_state.get(key[0])


def _label_characters(exc: UnexpectedCharacters, text: str) -> tuple[str, str, tuple[str, ...]]:
    ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
    if ch == '"':
        return ("unterminated-string", "this string is not closed on its line",
                ("close it with '\"'; use \\n for a newline or a \"\"\"long string\"\"\"",))
    if ch in "&|!":
        return ("c-operator", "'&&', '||' and '!' are written 'and', 'or' and 'not'",
                ("write 'a == 1 and b == 2'",))
    if ch == "/":
        return _UNTERMINATED_REGEX
    if ch == "'":
        return ("single-quote", "strings are written with double quotes",
                ('write "text" instead of \'text\'',))
    if ch == "$":
        return ("unexpected-character", "unexpected character '$'",
                ("earlier steps are referenced by name: 'src_ip != fails.src_ip'",))
    shown = repr(ch)[1:-1] if ch else "end of input"
    return ("unexpected-character", f"unexpected character '{shown}'", ())


_READABLE = {
    "NAME": "a name", "SEGMENT": "a field name", "STRING": "a string", "LONG_STRING": "a string",
    "INT": "an integer", "FLOAT": "a number", "DURATION": "a duration", "CIDR": "an IP or CIDR",
    "REGEX": "a regex", "CMP_OP": "a comparison", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "PERCENT": "'%'",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "DOT": "'.'", "AT": "'@'", "$END": "end of input",
    "WINDOW_KIND": "'sliding' or 'tumbling'",
}


def _readable(term: str) -> str:
    if term in _READABLE:
        return _READABLE[term]
    try:
        pattern = parser().get_terminal(term).pattern
        value = pattern.value
        if pattern.type == "str":
            return f"'{value}'"
    except (KeyError, AttributeError):
        pass
    return term.lower()


def _describe_found(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            return "end of input"
        value = str(tok)
        if len(value) > 30:
            value = value[:27] + "..."
        return f"'{value}'"
    return ""


def _expected_terminals(exc: UnexpectedInput) -> set[str]:
    """What the parser accepts where it failed (from the LALR table when known:
    the lexer's own set also holds NAME, which `grammar._WholeWords` lexes everywhere)."""
    state = getattr(exc, "state", None)
    try:
        return {t for t in state.parse_conf.states[state.position] if t.isupper()}
    except (AttributeError, KeyError, TypeError):
        return set(getattr(exc, "expected", None) or ())


def _expected_message(exc: UnexpectedInput) -> str:
    expected = sorted({_readable(t) for t in _expected_terminals(exc)})
    found = _describe_found(exc) or "this"
    if not expected:
        return f"unexpected {found}"
    if len(expected) > 8:
        expected = expected[:8] + ["..."]
    return f"unexpected {found}; expected one of: {', '.join(expected)}"


def syntax_diagnostic(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    """A labelled diagnostic for a Lark parse error."""
    span = _error_span(exc, text, file)
    code, message, hints = label_for(exc, text)
    return Diagnostic(code, ERROR, message, span, hints)


def _error_span(exc: UnexpectedInput, text: str, file: str) -> Span:
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        tok = exc.token
        end_line = tok.end_line or tok.line
        end_col = tok.end_column or (tok.column + max(1, len(str(tok))))
        # A token spanning lines (a long string) is marked on its first line.
        return Span(file, tok.line, tok.column, end_line, end_col, tok.start_pos,
                    tok.end_pos or tok.start_pos + 1)
    if isinstance(exc, UnexpectedCharacters):
        return Span(file, exc.line, exc.column, exc.line, exc.column + 1, exc.pos_in_stream,
                    exc.pos_in_stream + 1)
    # End of input: the caret goes just after the last token, never on an empty line.
    stripped = text.rstrip()
    offset = len(stripped)
    line = stripped.count("\n") + 1
    col = offset - (stripped.rfind("\n") + 1) + 1
    if not stripped:
        return Span(file, 1, 1, 1, 2, 0, 0)
    return Span(file, line, col, line, col + 1, offset, offset)


def all_snippets() -> list[tuple[str, str]]:
    """(code, snippet) pairs, for the test that every example fails as labelled."""
    return [(label[0], s) for label, snippets in EXAMPLES for s in snippets]


__all__ = ["label_for", "syntax_diagnostic", "EXAMPLES", "all_snippets", "UnexpectedToken"]
