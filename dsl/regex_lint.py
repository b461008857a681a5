"""Regexes in rules: compiled once to find errors, and refused when they cannot run safely everywhere.

Part of stage 3 (the checker). Rule text is untrusted, and so are the
values a regex scans (the whole value: `engine/regex.py`). Refused:
shapes that backtrack exponentially (`unsafe-regex`, by walking the tree
`re._parser` builds: nested repeats, large repeats of something that can
match nothing, overlapping alternations under a repeat, adjacent
overlapping unbounded repeats); constructs the linear-time engine lacks
(`regex-unsupported`: lookaround, backreferences..., on every installation
so a pack loads the same everywhere); without google-re2, shapes Python's
search could run in quadratic time (`regex-needs-re2`). `compile_regex`
also reports the FutureWarnings Python gives.
"""

from __future__ import annotations

import re
import warnings
from re import _parser as sre_parse  # the `sre_parse` alias is deprecated since 3.11

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def regex_flags(flags: str) -> int:
    """The `re` flags of a regex literal's suffix (`/bot/i` → IGNORECASE)."""
    out = 0
    for f in flags:
        out |= _FLAGS[f]
    return out


def compile_regex(pattern: str, flags: str) -> tuple[re.error | None, list[str]]:
    """(the compile error or None, the warnings Python gives) for a rule's regex.

    A warning (e.g. "possible nested set") means the pattern is valid today
    but may change meaning in a later Python. Python's parser gives it, and
    `re.compile` only parses a pattern it has not cached, so the pattern is
    parsed here on its own: the same rule gets the same warnings every time
    it is checked (a second check in one process used to get none).
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sre_parse.parse(pattern, regex_flags(flags))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # reported above, once
            re.compile(pattern, regex_flags(flags))
    except re.error as exc:
        return exc, []
    return None, [str(w.message) for w in caught]


_NESTED_QUANT = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def regex_hazard(pattern: str) -> str | None:
    r"""Why a regex risks super-linear backtracking, or None.

    Refused shapes (rule text is untrusted, and so are the values a regex
    scans): a repeated sub-pattern that itself contains a repeat, at any
    depth (`(a+)+`, `((a)+)+`, `(?:\w*x)*`): exponential; a large bounded
    repeat of something that can match empty (`(a?){25}`); a repeated
    alternation whose branches can match the same text (`(a|ab)+`); two or
    more unbounded repeats in one pattern (`.*.*x`, `\w+=\w+`): polynomial.
    What is accepted runs in linear time with RE2; without it, see
    `regex_portability`.
    """
    if _NESTED_QUANT.search(pattern):
        return "a repeated group contains a repeat (nested quantifier)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # reported once, by the checker
            tree = sre_parse.parse(pattern)
    except re.error:
        return None
    why = _nested_repeat(tree, inside=False)
    if why:
        return why
    if _overlapping_alternation(tree):
        return "a repeated alternation has branches that can match the same text"
    if _adjacent_overlapping_repeats(tree):
        return "two unbounded repeats that can match the same characters follow each other (polynomial backtracking)"
    return None


_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None))


def _children(op, av):
    if op in _REPEATS and op is not None:
        return [av[2]]
    if op is sre_parse.SUBPATTERN:
        return [av[-1]]
    if op is sre_parse.BRANCH:
        return list(av[1])
    if op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
        return [av[1]]
    return []


def _nested_repeat(tree, inside: bool) -> str | None:
    for op, av in tree:
        if op in _REPEATS and op is not None:
            lo, hi, sub = av
            many = hi is sre_parse.MAXREPEAT or hi > 1
            if many and inside:
                return "a repeated group contains a repeat (nested quantifier)"
            if many and (hi is sre_parse.MAXREPEAT or hi >= 10) and _can_be_empty(sub):
                return "a large repeat of something that can match nothing"
            why = _nested_repeat(sub, inside or many)
            if why:
                return why
            continue
        for child in _children(op, av):
            why = _nested_repeat(child, inside)
            if why:
                return why
    return None


def _can_be_empty(sub) -> bool:
    for op, av in sub:
        if op in _REPEATS and op is not None:
            if av[0] == 0:
                continue
            if not _can_be_empty(av[2]):
                return False
        elif op is sre_parse.SUBPATTERN:
            if not _can_be_empty(av[-1]):
                return False
        elif op is sre_parse.BRANCH:
            if not any(_can_be_empty(b) for b in av[1]):
                return False
        elif op in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            continue
        else:
            return False
    return True


_PROBE = [chr(c) for c in range(32, 127)] + ["\t", "\n", "é", "ж", "中", "\u00a0"]
_CATEGORY = {
    sre_parse.CATEGORY_DIGIT: r"\d", sre_parse.CATEGORY_NOT_DIGIT: r"\D",
    sre_parse.CATEGORY_WORD: r"\w", sre_parse.CATEGORY_NOT_WORD: r"\W",
    sre_parse.CATEGORY_SPACE: r"\s", sre_parse.CATEGORY_NOT_SPACE: r"\S",
}


def _item_chars(sub) -> frozenset | None:
    """The probe characters a one-character repeat body can match; None = not a single item."""
    if len(sub) != 1:
        return None
    op, av = sub[0]
    if op is sre_parse.ANY:
        return frozenset(_PROBE)
    if op is sre_parse.LITERAL:
        return frozenset({chr(av)})
    if op is sre_parse.NOT_LITERAL:
        return frozenset(c for c in _PROBE if c != chr(av))
    if op is sre_parse.IN:
        parts, neg = [], False
        for iop, iav in av:
            if iop is sre_parse.NEGATE:
                neg = True
            elif iop is sre_parse.LITERAL:
                parts.append(re.escape(chr(iav)))
            elif iop is sre_parse.RANGE:
                parts.append(f"{re.escape(chr(iav[0]))}-{re.escape(chr(iav[1]))}")
            elif iop is sre_parse.CATEGORY and iav in _CATEGORY:
                parts.append(_CATEGORY[iav])
            else:
                return None
        cls = re.compile(f"[{'^' if neg else ''}{''.join(parts)}]")
        return frozenset(c for c in _PROBE if cls.fullmatch(c))
    return None


def _adjacent_overlapping_repeats(tree) -> bool:
    """Two unbounded repeats separated only by what can match nothing, sharing characters."""
    prev = None          # characters of the last unbounded repeat still "open"
    for op, av in tree:
        if op in _REPEATS and op is not None:
            unbounded = av[1] is sre_parse.MAXREPEAT
            if _adjacent_overlapping_repeats(av[2]):
                return True
            if unbounded:
                chars = _item_chars(av[2])
                if prev is not None and (chars is None or prev is _ANYSET or prev & chars):
                    return True
                prev = chars if chars is not None else _ANYSET
                continue
            if av[0] == 0:
                continue            # an optional item keeps the previous repeat open
            prev = None
            continue
        for child in _children(op, av):
            if _adjacent_overlapping_repeats(child):
                return True
        if op in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            continue
        prev = None
    return False


_ANYSET = frozenset(_PROBE)


def _overlapping_alternation(tree) -> bool:
    for op, av in tree:
        if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
            lo, hi, sub = av
            if hi is sre_parse.MAXREPEAT or hi > 1:
                for sop, sav in sub:
                    if sop is sre_parse.SUBPATTERN:
                        sub = sav[-1]
                for sop, sav in sub:
                    if sop is sre_parse.BRANCH:
                        firsts = []
                        for branch in sav[1]:
                            firsts.append(_first_chars(branch))
                        for i in range(len(firsts)):
                            for j in range(i + 1, len(firsts)):
                                if firsts[i] is None or firsts[j] is None or firsts[i] & firsts[j]:
                                    return True
            if _overlapping_alternation(sub):
                return True
        elif op is sre_parse.SUBPATTERN:
            if _overlapping_alternation(av[-1]):
                return True
        elif op is sre_parse.BRANCH:
            for branch in av[1]:
                if _overlapping_alternation(branch):
                    return True
    return False


def _first_chars(sub) -> set | None:
    """The literal first characters a sub-pattern can start with; None = any."""
    for op, av in sub:
        if op is sre_parse.LITERAL:
            return {av}
        if op is sre_parse.SUBPATTERN:
            return _first_chars(av[-1])
        return None
    return None


def regex_portability(pattern: str, flags: str) -> tuple[str, str, int | None] | None:
    """(code, message, position in the pattern) when the regex cannot run in linear time here, or None.

    `regex-unsupported`: RE2 lacks the construct (checked on every
    installation, with or without google-re2, so a pack loads the same way
    everywhere). `regex-needs-re2`: google-re2 is not installed and Python's
    backtracking search could take quadratic time or worse on a long value.
    """
    from sleuth.engine import regex

    why = regex.unsupported(pattern, flags)
    if why is not None:
        return "regex-unsupported", str(why), why.pos
    if regex.ENGINE == "re":
        hazard = regex.linear_hazard(pattern, flags)
        if hazard:
            return "regex-needs-re2", f"without the linear-time engine, {hazard} can take quadratic time", None
    return None


__all__ = ["regex_hazard", "compile_regex", "regex_flags", "regex_portability"]
