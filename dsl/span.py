"""Source positions for the rule language.

A `Span` locates a node or a diagnostic in a rule file: 1-based line and
column (as Lark's `Meta` gives them, never 0-based), the end position, and
the character offsets for slicing the source. Spans are data only; they are
excluded from AST equality (see `dsl/ast.py`).
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Span:
    """Where a piece of rule text is: file, 1-based line/col, end, offsets."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    start: int
    end: int

    @classmethod
    def point(cls, file: str, line: int, col: int, offset: int) -> Span:
        """A one-character span at a position."""
        return cls(file, line, col, line, col + 1, offset, offset + 1)

    def merge(self, other: Span) -> Span:
        """The smallest span covering both (same file)."""
        first, last = (self, other) if self.start <= other.start else (other, self)
        end = last if last.end >= first.end else first
        return Span(self.file, first.line, first.col, end.end_line, end.end_col, first.start, end.end)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Span("<generated>", 1, 1, 1, 1, 0, 0)
