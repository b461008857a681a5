"""The Lark parser of `grammar.lark`, built once per process.

Stage 0 of the front end: everything that needs the grammar itself reads
it here: `parse.py` (text → AST), `syntax_errors.py` (replaying known-bad
snippets), `unparse.py` and the playground's lexer and completer (the
terminals). Building the LALR tables takes about 60 ms, so the parser is
cached; comments are collected through a lexer callback into a
thread-local sink, because the parse tree drops them.
"""

from __future__ import annotations

import functools
import threading
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedInput
from lark.lark import PostLex

_comments = threading.local()   # the sink of `comments()` (per thread)


def _collect_comment(tok: Token) -> Token:
    sink = getattr(_comments, "sink", None)
    if sink is not None:
        sink.append((tok.line, tok.column, str(tok)))
    return tok


class _WholeWords(PostLex):
    """Lex NAME in every parser state (tokens pass through unchanged).

    The contextual lexer only tries the terminals a state accepts. Where
    only keywords are accepted (a rule body), a keyword would then match
    the start of a longer word: `whenever x` read as `when ever x`. With
    NAME always on, the whole word is read, a keyword only when it is the
    whole word, and the error points at the word.
    """

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The process-wide LALR parser of the rule language."""
    grammar = resources.files("sleuth.dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                keep_all_tokens=True, maybe_placeholders=False, postlex=_WholeWords(),
                lexer_callbacks={"COMMENT": _collect_comment})


def comments(text: str) -> list[tuple[int, int, str]]:
    """(line, col, text) of every comment, as the real lexer sees them."""
    sink: list = []
    _comments.sink = sink
    try:
        parser().parse(text)
    except UnexpectedInput:
        pass
    finally:
        _comments.sink = None
    return sorted(set(sink))


__all__ = ["parser", "comments"]
