"""Completion for the playground: commands, the language's words, and the session's names.

Every list comes from where the thing is defined: keywords from the
grammar's terminals, functions and aggregates from `dsl.check`, canonical
fields from `engine.schema.FIELDS`, and macros, lists, rules and step names
from the session's last compiled pack. Paths complete after `load`, `save`
and `feed`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from lark.lexer import PatternStr
from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from sleuth.dsl import ast
from sleuth.dsl.grammar import parser
from sleuth.dsl.vocabulary import AGGREGATES, FUNCTIONS
from sleuth.engine.schema import FIELDS

_WORD = re.compile(r"@?[A-Za-z_][A-Za-z0-9_]*$")
_RULE_ARG = ("explain", "matches", "test", "partials")
_PATH_ARG = ("load", "save")


@functools.lru_cache(maxsize=1)
def keywords() -> tuple[str, ...]:
    """The language's keywords: the alphabetic string terminals of the grammar."""
    words = {t.pattern.value for t in parser().terminals
             if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()}
    return tuple(sorted(words | {"sliding", "tumbling"}))


def session_names(session) -> dict[str, list[str]]:
    """Macros, lists, rules and steps known to the session's compiled pack."""
    names: dict[str, list[str]] = {"macro": [], "list": [], "rule": [], "step": []}
    checked = getattr(session, "checked", None)
    if checked is not None:
        for module in checked.modules.values():
            for decl in module.decls:
                if isinstance(decl, ast.MacroDecl):
                    names["macro"].append(decl.name)
                elif isinstance(decl, ast.ListDecl):
                    names["list"].append(decl.name)
    pack = getattr(session, "pack", None)
    if pack is not None:
        for r in pack.rules:
            names["rule"].append(r.name)
            names["step"].extend(f"{s.name}\0{r.name}" for s in r.steps)
    return names


def candidates(session, before: str, commands: dict) -> list[tuple[str, str]]:
    """(completion, what it is) for the text before the cursor."""
    text = before.lstrip()
    words = text.split()
    at_first = len(words) <= 1 and not text.endswith((" ", "\n"))
    names = session_names(session)
    if at_first and "\n" not in text:
        return ([(c, "command") for c in commands]
                + [(w, "definition") for w in ("rule", "macro", "list", "test", "import")])
    first = words[0] if words else ""
    nth = len(words) - (0 if text.endswith((" ", "\n")) else 1)   # index of the word being typed
    if first == "help":
        return [(c, "command") for c in commands]
    if first in _RULE_ARG and nth == 1:
        return [(r, "rule") for r in names["rule"]]
    if first == "partials" and nth >= 2 and session.pack is not None:
        try:
            keys = session.pack.rule(words[1]).key_names
        except KeyError:
            keys = ()
        return [(f"{k}=", "key field") for k in keys]
    if first in ("drop", "show") and nth == 1:
        return [(n, k) for (k, n) in session.decls]
    if first == "step" and nth == 1:
        return [("on", "step mode"), ("off", "step mode")]
    if first == "feed" and nth == 1:
        return [("repeat", "generated events"), ("sim", "simulated traffic")]
    if first == "feed" and len(words) >= 2 and words[1] == "sim" and nth == 3:
        return [("seed", "random seed")]
    return language_words(names)


def language_words(names: dict[str, list[str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [(k, "keyword") for k in keywords()]
    out += [(f, "function") for f in sorted(FUNCTIONS)]
    out += [(a, "aggregate") for a in sorted(AGGREGATES)]
    out += [(f, f"field ({t})") for f, t in FIELDS.items()]
    out += [(m, "macro") for m in names["macro"]]
    out += [(f"@{n}", "list") for n in names["list"]]
    out += [(r, "rule") for r in names["rule"]]
    out += [(s.split("\0")[0], f"step of {s.split(chr(0))[1]}") for s in names["step"]]
    return out


class SleuthCompleter(Completer):
    """The prompt_toolkit completer of the playground."""

    def __init__(self, shell, commands: Iterable[str]):
        # The REPL passes its command names: this module never imports `repl`,
        # which imports it (no cycle).
        self.shell = shell
        self.commands = list(commands)
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event):
        before = document.text_before_cursor
        stripped = before.lstrip()
        first = stripped.split(None, 1)[0] if stripped.split() else ""
        if (first in _PATH_ARG or (first == "feed" and len(stripped.split()) >= 2
                                   and stripped.split()[1] not in ("repeat", "sim")
                                   and not stripped.split()[1].startswith(("{", "[")))) \
                and " " in stripped and "\n" not in stripped:
            arg = stripped.split(None, 1)[1] if len(stripped.split(None, 1)) > 1 else ""
            sub = Document(arg, len(arg))
            yield from self.paths.get_completions(sub, complete_event)
            return
        m = _WORD.search(before)
        word = m.group() if m else ""
        seen = set()
        for text, meta in candidates(self.shell.session, before, self.commands):
            if text.startswith(word) and text != word and text not in seen:
                seen.add(text)
                yield Completion(text, start_position=-len(word), display_meta=meta)
