"""Regexes of `=~`: one matcher over the whole value, linear time with RE2, Python's meaning either way.

Runtime stage (used by the code generator through `prims.compile_regex`). With
google-re2 installed (`pip install 'sleuth[re2]'`) a rule's regex, written in
Python's syntax, is translated from the tree `re._parser` builds into RE2 syntax
that keeps Python's meaning (`\\d` `\\w` `\\s` Unicode classes, `$` before a final
newline, scoped flags) and runs in time linear in the value. Without it, Python's
`re` runs the same pattern and the checker refuses shapes that could backtrack
(`linear_hazard`). Measured (benchmarks/bench_regex.py): a call into RE2 costs
~1 µs against ~0.2 µs for `re` on a user agent, so short values of linear shapes
go to `re`; on 64 KiB RE2 wins 8x to 40,000x.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from re import _constants as C  # noqa: N812
from re import _parser as P  # noqa: N812
from typing import Any

try:  # the optional linear-time engine
    from re2 import _re2
except ImportError:  # pragma: no cover - depends on the installation
    _re2 = None

#: "re2" when google-re2 is installed, else "re".
ENGINE = "re2" if _re2 is not None else "re"
#: Values up to this length go to Python's re when its search is linear for the pattern (cheaper).
SHORT = 256
#: RE2's largest repeat count.
MAX_REPEAT_COUNT = 1000

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}

# Python's Unicode classes, spelled for RE2 (checked over every code point: \w is
# exactly [\p{L}\p{N}_], \d exactly \p{Nd}, \s these 29 characters).
_SPACE = (r"\t\n\x{b}\x{c}\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
          r"\x{202f}\x{205f}\x{3000}")
_UNICODE = {C.CATEGORY_DIGIT: (r"\p{Nd}", False), C.CATEGORY_NOT_DIGIT: (r"\p{Nd}", True),
            C.CATEGORY_WORD: (r"\p{L}\p{N}_", False), C.CATEGORY_NOT_WORD: (r"\p{L}\p{N}_", True),
            C.CATEGORY_SPACE: (_SPACE, False), C.CATEGORY_NOT_SPACE: (_SPACE, True)}
_ASCII = {C.CATEGORY_DIGIT: ("0-9", False), C.CATEGORY_NOT_DIGIT: ("0-9", True),
          C.CATEGORY_WORD: ("0-9A-Za-z_", False), C.CATEGORY_NOT_WORD: ("0-9A-Za-z_", True),
          C.CATEGORY_SPACE: (r"\t\n\x{b}\x{c}\r\x{20}", False), C.CATEGORY_NOT_SPACE: (r"\t\n\x{b}\x{c}\r\x{20}", True)}

# What RE2 lacks, with the text that writes it (for the caret).
_UNSUPPORTED_TEXT = [
    (re.compile(r"\(\?<?[=!]"), "lookahead and lookbehind ('(?=', '(?!', '(?<=', '(?<!') are not supported"),
    (re.compile(r"\\[1-9]|\(\?P="), "backreferences ('\\1', '(?P=name)') are not supported"),
    (re.compile(r"\(\?\("), "conditional groups ('(?(1)...)') are not supported"),
    (re.compile(r"\(\?>"), "atomic groups ('(?>...)') are not supported"),
    (re.compile(r"(?<!\\)[*+?}]\+"), "possessive repeats ('*+', '++', '?+') are not supported"),
]


class Unsupported(ValueError):
    """A construct the linear-time engine lacks; `pos` is where the pattern writes it (or 0)."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(message)
        self.pos = pos


def flag_bits(flags: str) -> int:
    """The `re` flags of a regex literal's suffix (`/bot/i` -> IGNORECASE)."""
    out = 0
    for f in flags:
        out |= _FLAGS[f]
    return out


def _where(pattern: str, message: str) -> Unsupported:
    for rx, why in _UNSUPPORTED_TEXT:
        if why == message:
            m = rx.search(pattern)
            return Unsupported(message, m.start() if m else 0)
    return Unsupported(message, 0)


def _lit(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


def to_re2(pattern: str, flags: str = "") -> str:
    """The RE2 pattern with the meaning Python gives `pattern`; raises `Unsupported` or `re.error`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = P.parse(pattern, flag_bits(flags))
    top = tree.state.flags
    body = _seq(pattern, tree, top)
    return ("(?i)" if top & re.IGNORECASE else "") + body


def _seq(pattern: str, items: Any, fl: int) -> str:
    return "".join(_item(pattern, op, av, fl) for op, av in items)


def _item(pattern: str, op: Any, av: Any, fl: int) -> str:
    if op is C.LITERAL:
        return _lit(av)
    if op is C.NOT_LITERAL:
        return f"[^{_lit(av)}]"
    if op is C.ANY:
        return r"(?s:.)" if fl & re.DOTALL else r"[^\n]"
    if op is C.IN:
        return _class(pattern, av, fl)
    if op is C.CATEGORY:
        return _class(pattern, [(C.CATEGORY, av)], fl)
    if op is C.AT:
        return _at(av, fl)
    if op is C.BRANCH:
        return "(?:" + "|".join(_seq(pattern, alt, fl) for alt in av[1]) + ")"
    if op is C.SUBPATTERN:
        _group, add, remove, sub = av
        inner = fl | add
        inner &= ~remove
        scoped = ""
        if (add | remove) & re.IGNORECASE:
            scoped = "i" if add & re.IGNORECASE else "-i"
        return f"(?{scoped}:" + _seq(pattern, sub, inner) + ")"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        lo, hi, sub = av
        if lo > MAX_REPEAT_COUNT or (hi is not C.MAXREPEAT and hi > MAX_REPEAT_COUNT):
            raise Unsupported(f"repeat counts above {MAX_REPEAT_COUNT} are not supported", _brace(pattern))
        inner = "(?:" + _seq(pattern, sub, fl) + ")"
        if hi is C.MAXREPEAT:
            q = {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
        elif lo == hi:
            q = f"{{{lo}}}"
        elif (lo, hi) == (0, 1):
            q = "?"
        else:
            q = f"{{{lo},{hi}}}"
        return inner + q + ("?" if op is C.MIN_REPEAT else "")
    if op in (C.ASSERT, C.ASSERT_NOT):
        raise _where(pattern, _UNSUPPORTED_TEXT[0][1])
    if op is C.GROUPREF:
        raise _where(pattern, _UNSUPPORTED_TEXT[1][1])
    if op is C.GROUPREF_EXISTS:
        raise _where(pattern, _UNSUPPORTED_TEXT[2][1])
    if op is getattr(C, "ATOMIC_GROUP", None):
        raise _where(pattern, _UNSUPPORTED_TEXT[3][1])
    if op is getattr(C, "POSSESSIVE_REPEAT", None):
        raise _where(pattern, _UNSUPPORTED_TEXT[4][1])
    raise Unsupported(f"'{op}' is not supported", 0)


def _brace(pattern: str) -> int:
    m = re.search(r"\{\d{4,}", pattern)
    return m.start() if m else 0


def _at(code: Any, fl: int) -> str:
    multi = fl & re.MULTILINE
    if code is C.AT_BEGINNING:
        return "(?m:^)" if multi else r"\A"
    if code is C.AT_BEGINNING_STRING:
        return r"\A"
    if code is C.AT_END:
        # Python's `$`: the end, or before a newline that ends the value.
        return "(?m:$)" if multi else r"(?:\n?\z)"
    if code is C.AT_END_STRING:
        return r"\z"
    if code is C.AT_BOUNDARY:
        return r"\b"
    if code is C.AT_NON_BOUNDARY:
        return r"\B"
    raise Unsupported(f"'{code}' is not supported", 0)


def _class(pattern: str, items: Any, fl: int) -> str:
    cats = _ASCII if fl & re.ASCII else _UNICODE
    negate = False
    pos: list[str] = []
    neg: list[str] = []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            pos.append(_lit(av))
        elif op is C.RANGE:
            pos.append(f"{_lit(av[0])}-{_lit(av[1])}")
        elif op is C.CATEGORY:
            text, negated = cats.get(av, (None, False))
            if text is None:
                raise Unsupported(f"the class '{av}' is not supported", 0)
            (neg if negated else pos).append(text)
        else:
            raise Unsupported(f"'{op}' in a character class is not supported", 0)
    p = "".join(pos)
    if not negate:
        parts = ([f"[{p}]"] if p else []) + [f"[^{n}]" for n in neg]
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    if not neg:
        return f"[^{p}]"
    if not p and len(neg) == 1:
        return f"[{neg[0]}]"
    raise Unsupported("a negated class holding a negated class ('[^\\W...]', '[^\\S...]') is not supported",
                      pattern.find("[^"))


def unsupported(pattern: str, flags: str = "") -> Unsupported | None:
    """Why the linear-time engine cannot run this (valid Python) regex, or None."""
    try:
        to_re2(pattern, flags)
    except Unsupported as exc:
        return exc
    except re.error:
        return None
    if _re2 is not None:
        try:
            _compile_re2(to_re2(pattern, flags))
        except ValueError as exc:
            return Unsupported(str(exc), 0)
    return None


def _compile_re2(translated: str) -> Any:
    opts = _re2.RE2.Options()
    opts.never_capture = True
    opts.log_errors = False
    opts.max_mem = 64 << 20
    r = _re2.RE2(translated.encode("utf-8"), opts)
    if not r.ok():
        raise ValueError(f"the linear-time engine refuses it: {r.error()}")
    return r


def compile_matcher(pattern: str, flags: str = "", engine: str | None = None, *,
                    hybrid: bool = True) -> Callable[[str], Any]:
    """`m(value)`: not None when the regex matches anywhere in the whole string `value`.

    `engine` is "re2" or "re" (default: `ENGINE`); with RE2 and `hybrid`,
    values of at most `SHORT` characters go to `re` when its search is
    linear for the pattern. Raises `re.error`, `Unsupported` (RE2 only) for a
    pattern that cannot run.
    """
    engine = engine or ENGINE
    if engine == "re":
        return re.compile(pattern, flag_bits(flags)).search
    if _re2 is None:
        raise Unsupported("google-re2 is not installed", 0)
    r = _compile_re2(to_re2(pattern, flags))
    match = r.Match
    unanchored = _re2.RE2.Anchor.UNANCHORED
    if hybrid and linear_hazard(pattern, flags) is None:
        # Python's search is linear for this shape, and ~5x cheaper than a call into RE2 on a
        # short value (benchmarks/bench_regex.py); the two give the same answers.
        py = re.compile(pattern, flag_bits(flags)).search

        def short_first(value: str, _py=py, _match=match, _un=unanchored, _short=SHORT) -> Any:
            if len(value) <= _short:
                return _py(value)
            data = value.encode("utf-8", "surrogatepass")
            return True if _match(_un, data, 0, len(data))[0][0] >= 0 else None

        return _named(short_first, pattern, flags)

    def search(value: str, _match=match, _un=unanchored) -> Any:
        data = value.encode("utf-8", "surrogatepass")
        return True if _match(_un, data, 0, len(data))[0][0] >= 0 else None

    return _named(search, pattern, flags)


def _named(fn: Any, pattern: str, flags: str) -> Any:
    """The matcher as `sleuth explain` lists it: `<re2('bot', 'i')>`."""
    fn.__module__ = ""
    fn.__qualname__ = f"re2({pattern!r}" + (f", {flags!r})" if flags else ")")
    return fn


def linear_hazard(pattern: str, flags: str = "") -> str | None:
    """Without RE2: why Python's backtracking search could take more than linear time on a long value.

    Accepted: no unbounded repeat at all (a bounded search from each position),
    or a pattern anchored at the start (`^` without `m`, `\\A`) with at most one
    unbounded repeat (one start, one place to backtrack). Everything else could
    cost the square of the value's length or more (measured: `[a-z]+x` takes 12 s
    on 64 KiB with `re`) and needs RE2.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = P.parse(pattern, flag_bits(flags))
    except re.error:
        return None
    unbounded = _count_unbounded(tree)
    if unbounded == 0:
        return None
    anchored = _anchored(tree, tree.state.flags)
    if anchored and unbounded == 1:
        return None
    if not anchored:
        return "an unbounded repeat in a search that is not anchored with '^'"
    return "more than one unbounded repeat"


def _count_unbounded(items: Any) -> int:
    n = 0
    for op, av in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)) and op is not None:
            n += (av[1] is C.MAXREPEAT) + _count_unbounded(av[2])
        elif op is C.SUBPATTERN:
            n += _count_unbounded(av[-1])
        elif op is C.BRANCH:
            n += sum(_count_unbounded(alt) for alt in av[1])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            n += _count_unbounded(av[1])
    return n


def _anchored(items: Any, fl: int) -> bool:
    for op, av in items:
        if op is C.AT:
            return av is C.AT_BEGINNING_STRING or (av is C.AT_BEGINNING and not fl & re.MULTILINE)
        if op is C.SUBPATTERN:
            return _anchored(av[-1], fl)
        if op is C.BRANCH:
            return all(_anchored(alt, fl) for alt in av[1])
        return False
    return False


__all__ = ["ENGINE", "MAX_REPEAT_COUNT", "Unsupported", "compile_matcher", "flag_bits", "linear_hazard",
           "to_re2", "unsupported"]
