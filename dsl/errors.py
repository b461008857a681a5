"""Errors of the language front end; each carries diagnostics.

`RuleSyntaxError` (text that does not parse), `RuleCheckError` (text that
parses but is wrong) and `PackError` (everything found while loading a pack)
all hold a list of `Diagnostic` and the sources needed to render them. Their
`str()` renders at most `MAX_SHOWN` diagnostics and ends "... and K more".
"""

from __future__ import annotations

from sleuth.engine.errors import SleuthError

from .diagnostic import Diagnostic, render_all, sort_diagnostics

MAX_SHOWN = 20


class _WithDiagnostics(SleuthError):
    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = sort_diagnostics(diagnostics)
        self.sources = dict(sources or {})
        super().__init__(self.render())

    def render(self, *, colour: bool = False, limit: int | None = MAX_SHOWN) -> str:
        errors = [d for d in self.diagnostics if d.is_error] or self.diagnostics
        return render_all(errors, self.sources, colour=colour, limit=limit)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


class RuleSyntaxError(_WithDiagnostics):
    """Rule text that does not parse. `.diagnostics[0].span` is inside the text."""


class RuleCheckError(_WithDiagnostics):
    """Rule text that parses but fails the semantic checks."""


class PackError(_WithDiagnostics):
    """A pack that cannot be loaded: all its diagnostics, sorted by location."""
