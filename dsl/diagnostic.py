"""Diagnostics: what is wrong in rule text, where, and how to fix it.

A `Diagnostic` is data (code, severity, message, span, hints, related
notes); rendering is a separate function producing the compiler-style text
of `house-style.md` section 4:

    path:line:col: error[code]: message
       |
    14 |     fails:   login_fial      repeat >= 3
       |              ^^^^^^^^^^
       = hint: did you mean 'login_fail'?

Codes are stable kebab ids that tests and docs refer to. Colour is an
argument: the command line decides (only on a TTY).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from .span import Span

ERROR = "error"
WARNING = "warning"


@attrs.frozen
class Related:
    """A note pointing at another place (`= note: defined here`)."""

    message: str
    span: Span


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _related(items: Iterable[Related]) -> tuple[Related, ...]:
    return tuple(items)


@attrs.frozen
class Diagnostic:
    """One problem found in rule text."""

    code: str
    severity: str
    message: str
    span: Span
    hints: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    related: tuple[Related, ...] = attrs.field(default=(), converter=_related)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)

    def to_json(self) -> dict:
        """A plain mapping for `sleuth check --format json`."""
        return {
            "file": self.span.file,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hints": list(self.hints),
            "related": [
                {"message": r.message, "file": r.span.file, "line": r.span.line, "col": r.span.col}
                for r in self.related
            ],
        }


_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "hint": "\x1b[1;36m", "bold": "\x1b[1m",
            "dim": "\x1b[2m", "reset": "\x1b[0m"}


def _source_line(sources: dict[str, str] | None, span: Span) -> str | None:
    if sources is None or span.file not in sources:
        return None
    lines = sources[span.file].split("\n")
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1].rstrip("\r")
    return None


def render(diag: Diagnostic, sources: dict[str, str] | None = None, *, colour: bool = False) -> str:
    """Render one diagnostic with source line, caret run and hints."""
    c = _COLOURS if colour else {k: "" for k in _COLOURS}
    sp = diag.span
    head = (f"{c['bold']}{sp.file}:{sp.line}:{sp.col}:{c['reset']} "
            f"{c[diag.severity]}{diag.severity}[{diag.code}]{c['reset']}: {c['bold']}{diag.message}{c['reset']}")
    out = [head]
    text = _source_line(sources, sp)
    gutter = len(str(sp.line))
    if text is not None:
        expanded = text.expandtabs(4)
        # The caret covers the span on its first line; a multi-line span is
        # marked to the end of that line.
        start = len(text[: sp.col - 1].expandtabs(4))
        if sp.end_line == sp.line:
            width = max(1, len(text[: max(sp.end_col - 1, sp.col)].expandtabs(4)) - start)
        else:
            width = max(1, len(expanded) - start)
        pad = " " * gutter
        out.append(f"{c['dim']}{pad} |{c['reset']}")
        out.append(f"{c['dim']}{sp.line} |{c['reset']} {expanded}")
        out.append(f"{c['dim']}{pad} |{c['reset']} {' ' * start}{c[diag.severity]}{'^' * width}{c['reset']}")
    for hint in diag.hints:
        out.append(f"{' ' * gutter} {c['hint']}= hint:{c['reset']} {hint}")
    for rel in diag.related:
        out.append(f"{' ' * gutter} {c['hint']}= note:{c['reset']} {rel.message} (at {rel.span})")
    return "\n".join(out)


def render_all(diags: Iterable[Diagnostic], sources: dict[str, str] | None = None, *,
               colour: bool = False, limit: int | None = None) -> str:
    """Render several diagnostics, at most `limit`, ending "... and K more"."""
    diags = list(diags)
    shown = diags if limit is None else diags[:limit]
    parts = [render(d, sources, colour=colour) for d in shown]
    if limit is not None and len(diags) > limit:
        parts.append(f"... and {len(diags) - limit} more")
    return "\n\n".join(parts)


def closest(name: str, candidates: Iterable[str], *, max_distance: int | None = None) -> str | None:
    """The candidate nearest to `name` by edit distance, if near enough."""
    best, best_d = None, None
    limit = max_distance if max_distance is not None else max(1, min(3, len(name) // 3 + 1))
    for cand in sorted(set(candidates)):
        d = _distance(name, cand, limit)
        if d <= limit and (best_d is None or d < best_d):
            best, best_d = cand, d
    return best


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment), cut off above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def sort_diagnostics(diags: Sequence[Diagnostic]) -> list[Diagnostic]:
    """By file, line, column; duplicates (same code, place, message) dropped."""
    seen = set()
    out = []
    for d in sorted(diags, key=Diagnostic.sort_key):
        k = d.sort_key()
        if k not in seen:
            seen.add(k)
            out.append(d)
    return out
