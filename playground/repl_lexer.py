"""Highlighting and block structure for the playground, from the real grammar.

Tokens come from the Lark lexer of `sleuth.dsl.grammar.parser()`, never from
a second hand-written lexer (house-style section 7): rule text is lexed by
the parser's contextual lexer, driven by an interactive parse, so `window`
used as a field name stays a name and `a / 2` is a division, not a regex.
From the first parse error on (a REPL command, a half-typed clause) the
same grammar's basic lexer takes over. A lexing error marks the rest of its
line and lexing resumes on the next line. Text between tokens is what the
grammar ignores: whitespace and `#` comments.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import attrs
from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr
from prompt_toolkit.document import Document
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from sleuth.dsl.grammar import parser
from sleuth.dsl.vocabulary import AGGREGATES, FUNCTIONS

# Style class of each data terminal; anonymous terminals (keywords, punctuation,
# operators) are classified from their pattern in `token_class`.
_DATA_CLASSES = {
    "STRING": "string", "LONG_STRING": "string",
    "INT": "number", "FLOAT": "number", "CIDR": "number",
    "DURATION": "duration",
    "REGEX": "regex",
    "COMMENT": "comment",
    "NAME": "name", "SEGMENT": "name",
    "WINDOW_KIND": "keyword",
    "CMP_OP": "operator", "PLUS": "operator", "MINUS": "operator", "STAR": "operator",
    "SLASH": "operator", "PERCENT": "operator",
}
_PUNCTUATION = frozenset("{}()[],:.")
_OPENERS = {"LBRACE": "RBRACE", "LPAR": "RPAR", "LSQB": "RSQB"}
_CLOSERS = frozenset(_OPENERS.values())
_COMMENT = re.compile(r"#[^\n]*")

#: prompt_toolkit style of each token class (`class:<name>`), and of the REPL's own parts.
STYLE = Style.from_dict({
    "keyword": "bold #5f87ff",
    "string": "#5faf5f",
    "number": "#d7875f",
    "duration": "#d7af00",
    "regex": "#d75f87",
    "comment": "italic #808080",
    "operator": "#af87d7",
    "punctuation": "#8a8a8a",
    "name": "",
    "function": "#00afaf",
    "list": "#00afaf",
    "command": "bold #d7875f",
    "error": "bg:#870000 #ffffff",
    "prompt": "bold #5f87ff",
    "continuation": "#808080",
    "bottom-toolbar": "noreverse bg:#262626 #bcbcbc",
})


@attrs.frozen
class Piece:
    """A run of text with its style class (`keyword`, `string`, ..., `""` for plain)."""

    start: int
    end: int
    cls: str
    type: str = ""          # the terminal name, when the piece is a token


@functools.lru_cache(maxsize=256)
def token_class(type_: str) -> str:
    """The style class of a terminal of the grammar (`"RULE"` → `"keyword"`)."""
    if type_ in _DATA_CLASSES:
        return _DATA_CLASSES[type_]
    try:
        term = parser().get_terminal(type_)
    except KeyError:
        return ""
    if isinstance(term.pattern, PatternStr):
        value = term.pattern.value
        if value.isalpha():
            return "keyword"
        if value in _PUNCTUATION:
            return "punctuation"
    return "operator"


def _tokens(text: str) -> tuple[list[Token], int | None]:
    """Tokens of `text` by the contextual lexer, as far as the parse goes.

    Returns the tokens and where the basic lexer must take over (None: nowhere).
    """
    toks: list[Token] = []
    try:
        ip = parser().parse_interactive(text)
        for tok in ip.iter_parse():
            toks.append(tok)
    except UnexpectedCharacters as exc:
        return toks, exc.pos_in_stream
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END" or tok.start_pos is None:
            return toks, None
        # iter_parse yields a token before feeding it: the refused one is
        # lexed again by the basic lexer, which knows every terminal.
        if toks and toks[-1].start_pos == tok.start_pos:
            toks.pop()
        return toks, tok.start_pos
    except UnexpectedInput:
        return toks, toks[-1].end_pos if toks else 0
    return toks, None


def lex(text: str) -> list[Piece]:
    """Cut `text` into styled pieces covering it completely, in order."""
    toks, rest = _tokens(text)
    pieces: list[Piece] = []
    pos = 0

    def gap(a: int, b: int) -> None:
        # Between tokens there is only what the grammar ignores: blanks and comments.
        for m in _COMMENT.finditer(text, a, b):
            if m.start() > a:
                pieces.append(Piece(a, m.start(), ""))
            pieces.append(Piece(m.start(), m.end(), "comment", "COMMENT"))
            a = m.end()
        if a < b:
            pieces.append(Piece(a, b, ""))

    def put(s: int, e: int, type_: str) -> None:
        nonlocal pos
        gap(pos, s)
        pieces.append(Piece(s, e, token_class(type_), type_))
        pos = e

    for tok in toks:
        put(tok.start_pos, tok.end_pos, tok.type)
    if rest is not None:
        scan = max(rest, pos)
        while scan < len(text):
            try:
                for tok in parser().lex(text[scan:], dont_ignore=True):
                    if tok.type not in ("WS", "COMMENT"):   # the gaps cover those
                        put(tok.start_pos + scan, tok.end_pos + scan, tok.type)
                break
            except UnexpectedCharacters as exc:
                err = scan + exc.pos_in_stream
                eol = text.find("\n", err)
                eol = len(text) if eol < 0 else eol
                gap(pos, err)
                pieces.append(Piece(err, eol, "error"))
                pos = scan = eol
    gap(pos, len(text))
    return _merge(pieces)


def _merge(pieces: list[Piece]) -> list[Piece]:
    """Join neighbouring plain pieces (the gap helper may cut them)."""
    out: list[Piece] = []
    for p in pieces:
        if p.start >= p.end:
            continue
        if out and out[-1].cls == "" and p.cls == "" and out[-1].end == p.start and not p.type:
            out[-1] = Piece(out[-1].start, p.end, "")
        else:
            out.append(p)
    return out


def refine(text: str, pieces: list[Piece], commands: frozenset[str] = frozenset()) -> list[Piece]:
    """Context the lexer cannot see: function calls, `@list` names, a REPL command word."""
    out = list(pieces)
    callables = set(FUNCTIONS) | set(AGGREGATES) | {"interarrival", "file"}
    for i, p in enumerate(out):
        if p.cls != "name":
            continue
        word = text[p.start:p.end]
        nxt = _next_token(out, i)
        prev = _prev_token(out, i)
        if nxt is not None and text[nxt.start:nxt.end] == "(" and word in callables:
            out[i] = Piece(p.start, p.end, "function", p.type)
        elif prev is not None and prev.type == "AT" and prev.end == p.start:
            out[i] = Piece(p.start, p.end, "list", p.type)
    first = _next_token(out, -1)
    if first is not None and first.start == len(text) - len(text.lstrip()):
        word = text[first.start:first.end]
        second = _next_token(out, out.index(first))
        definition = word == "test" and second is not None and second.type in ("STRING", "LONG_STRING")
        if word in commands and first.cls in ("name", "keyword") and not definition:
            k = out.index(first)
            out[k] = Piece(first.start, first.end, "command", first.type)
    return out


def _next_token(pieces: list[Piece], i: int) -> Piece | None:
    for p in pieces[i + 1:]:
        if p.type and p.type != "COMMENT":
            return p
    return None


def _prev_token(pieces: list[Piece], i: int) -> Piece | None:
    for p in reversed(pieces[:i]):
        if p.type and p.type != "COMMENT":
            return p
    return None


# ---------------------------------------------------------------- block structure


def bracket_depth(text: str) -> int:
    """How many `{ ( [` are still open in `text`, counted on real tokens only.

    Brackets inside strings, regexes and comments do not count. The REPL and
    the script reader both continue a block while this is above zero.
    """
    depth = 0
    for p in lex(text):
        if p.type in _OPENERS:
            depth += 1
        elif p.type in _CLOSERS:
            depth = max(0, depth - 1)
    return depth


def block_complete(text: str) -> bool:
    """True when Enter should submit `text`: brackets balanced, or two blank lines typed."""
    if not text.strip():
        return True
    if text.endswith("\n\n"):
        return True
    return bracket_depth(text) == 0


# ---------------------------------------------------------------- prompt_toolkit adapter


class SleuthLexer(Lexer):
    """The prompt_toolkit `Lexer` over the grammar's lexer (see the module docstring)."""

    def __init__(self, commands: frozenset[str] = frozenset()):
        self.commands = commands
        self._cache: tuple[str, list] | None = None

    def lines(self, text: str) -> list[list[tuple[str, str]]]:
        """Style-and-text fragments of every line of `text`."""
        if self._cache is not None and self._cache[0] == text:
            return self._cache[1]
        pieces = refine(text, lex(text), self.commands)
        lines: list[list[tuple[str, str]]] = [[]]
        for p in pieces:
            style = f"class:{p.cls}" if p.cls else ""
            chunk = text[p.start:p.end]
            parts = chunk.split("\n")
            for n, part in enumerate(parts):
                if n:
                    lines.append([])
                if part:
                    lines[-1].append((style, part))
        self._cache = (text, lines)
        return lines

    def lex_document(self, document: Document) -> Callable[[int], list[tuple[str, str]]]:
        lines = self.lines(document.text)

        def get_line(lineno: int) -> list[tuple[str, str]]:
            return lines[lineno] if 0 <= lineno < len(lines) else []

        return get_line


def fragments(text: str, commands: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(style class, text) of every piece: what tests and the toolbar look at."""
    return [(p.cls, text[p.start:p.end]) for p in refine(text, lex(text), commands)]
