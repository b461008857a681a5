"""Lints: rules that are valid but suspicious, one small class per check.

Part of stage 3 (the checker), in the manner of pySigma's validators: each
`Lint` has a stable `code` and a `severity` (warning), looks at what the
checker hands it through hooks named after what is being checked
(`on_macro`, `on_step`, `on_having`, ...) and yields `Diagnostic`s; a
whole-pack check (a macro or list nobody uses) is `finalize`, run once
after every rule. The checker calls each hook at the point of its walk
where that thing is checked, so the diagnostics come out in source order
with the errors around them. Adding a lint is one class in `LINTS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

from . import ast, ir
from .diagnostic import WARNING, Diagnostic, closest
from .span import Span
from .vocabulary import AGGREGATES, FIELDS, FUNCTIONS, META_KNOWN, SPEC_FIELDS


class Lint:
    """Base of the lints: a code, a severity, hooks, and `finalize` for whole-pack checks.

    A hook is a method `on_<what>` (a generator of diagnostics); the
    checker calls it as `Linter.run("<what>", ...)`.
    """

    code: ClassVar[str] = ""
    severity: ClassVar[str] = WARNING

    def issue(self, message: str, span: Span, *hints: str, related=()) -> Diagnostic:
        """A diagnostic of this lint."""
        return Diagnostic(self.code, self.severity, message, span, hints, related)

    def finalize(self, pack: PackView) -> Iterable[Diagnostic]:
        """Whole-pack diagnostics, after every rule and test was checked (none by default)."""
        return ()


class PackView:
    """What `finalize` sees of a checked pack: each file's scope (macros and lists, used or not)."""

    def __init__(self, scopes: dict, modules: dict[str, ast.Module]):
        self.scopes = scopes
        self.modules = modules

    def is_library(self, scope) -> bool:
        """A file without rules or tests is a library of macros and lists (no unused warnings)."""
        module = self.modules.get(scope.file)
        if module is None:
            return True
        return not any(isinstance(d, (ast.RuleDecl, ast.TestDecl)) for d in module.decls)


def decl_name_span(decl: ast.Decl, keyword: str) -> Span:
    """Where the name of `<keyword> <name> ...` is (the declaration keeps its name as a string)."""
    sp = decl.span
    off = len(keyword) + 1
    return Span(sp.file, sp.line, sp.col + off, sp.line, sp.col + off + len(decl.name), sp.start + off,
                sp.start + off + len(decl.name))


# ---------------------------------------------------------------- names


class MacroShadowsField(Lint):
    """A macro named like an event field hides the field in every condition."""

    code = "macro-shadows-field"

    def on_macro(self, decl: ast.MacroDecl) -> Iterator[Diagnostic]:
        if decl.name in FIELDS:
            yield self.issue(f"macro '{decl.name}' has the name of an event field; the macro wins",
                             decl.span, f"rename the macro, e.g. 'is_{decl.name}'")


class MacroShadowsFunction(Lint):
    """A macro named like a function or an aggregate."""

    code = "macro-shadows-function"

    def on_macro(self, decl: ast.MacroDecl) -> Iterator[Diagnostic]:
        if decl.name in FUNCTIONS or decl.name in AGGREGATES:
            yield self.issue(f"macro '{decl.name}' has the name of a function", decl.span)


class StepShadowsField(Lint):
    """A step named like an event field: `name.x` then means the step's field."""

    code = "step-shadows-field"

    def on_step(self, step: ast.SeqStep) -> Iterator[Diagnostic]:
        if step.name in FIELDS:
            yield self.issue(f"step '{step.name}' has the name of an event field", step.span,
                             f"'{step.name}.x' will mean the step's field, not the event's; rename the step")


class AliasField(Lint):
    """A field written by an alias (`source.ip`) instead of its canonical name."""

    code = "alias-field"

    def on_alias(self, node: ast.Field, dotted: str, canonical: str) -> Iterator[Diagnostic]:
        yield self.issue(f"'{dotted}' is an alias; rules see the canonical name '{canonical}'", node.span,
                         f"write '{canonical}'")


class UnknownField(Lint):
    """A field outside the event schema (read as written), or a `spec.` field the router never sets."""

    code = "unknown-field"

    def on_unknown_field(self, node: ast.Field, dotted: str, head: str, macros: Iterable[str]
                         ) -> Iterator[Diagnostic]:
        guess = closest(head, list(FIELDS) + list(macros))
        hints = [f"did you mean '{guess}'?"] if guess else [
            "fields outside the event schema are read as written; see docs/input.md"]
        yield self.issue(f"'{dotted}' is not a field of the event schema", node.span, *hints)

    def on_spec_field(self, node: ast.Field, dotted: str, sub: str) -> Iterator[Diagnostic]:
        if sub in SPEC_FIELDS:
            return
        guess = closest(sub, SPEC_FIELDS)
        yield self.issue(f"'{dotted}' is not a field set by the OpenAPI router", node.span,
                         *([f"did you mean 'spec.{guess}'?"] if guess else
                           [f"spec fields: {', '.join(SPEC_FIELDS)}"]))


# ---------------------------------------------------------------- values


class MixedList(Lint):
    """A list holding both strings and numbers: membership compares exactly, so one kind never matches."""

    code = "mixed-list"

    def on_list(self, decl: ast.ListDecl, value: ir.SetConst) -> Iterator[Diagnostic]:
        if value.kind == "mixed":
            yield self.issue(f"list '{decl.name}' mixes strings and numbers", decl.span,
                             "membership compares values exactly; keep one type per list")


class RegexAmbiguous(Lint):
    """A regex Python warns about: valid today, it may change meaning in a later Python."""

    code = "regex-ambiguous"

    def on_regex(self, pattern: ast.Expr, warnings: list[str]) -> Iterator[Diagnostic]:
        for message in warnings:
            yield self.issue(f"regex: {message.lower()}", pattern.span,
                             r"escape the character ('\[', '\-', '\&', '\~', '\|') to keep its meaning")


# ---------------------------------------------------------------- rules


class UnknownMeta(Lint):
    """A meta entry sleuth does not know (kept in the match's meta, but likely a typo)."""

    code = "unknown-meta"

    def on_meta_entry(self, entry: ast.MetaEntry) -> Iterator[Diagnostic]:
        if entry.name not in META_KNOWN:
            guess = closest(entry.name, META_KNOWN)
            yield self.issue(f"unknown meta entry '{entry.name}'", entry.span,
                             *([f"did you mean '{guess}'?"] if guess else
                               [f"known entries: {', '.join(META_KNOWN)}"]))


class MissingTitle(Lint):
    """A rule with a meta block but no title (matches and reports show it)."""

    code = "missing-title"

    def on_meta(self, decl: ast.RuleDecl, meta: ast.Meta | None, names: set[str], anchor: Span
                ) -> Iterator[Diagnostic]:
        if "title" not in names and meta is not None:
            yield self.issue(f"rule '{decl.name}' has no title", anchor,
                             'add title = "..." (shown in matches and reports)')


class GapExceedsWithin(Lint):
    """A step's gap or window longer than the whole sequence's `within`: it can never bind."""

    code = "gap-exceeds-within"

    def on_step_gap(self, mod: ast.StepGap, gap: float | None, within: float | None) -> Iterator[Diagnostic]:
        if gap and within and gap > within:
            yield self.issue(f"the step gap ({mod.duration.seconds:g}s) is longer than "
                             f"the sequence's 'within' ({within:g}s)", mod.span)

    def on_step_window(self, mod: ast.StepWindow, window: float | None, within: float | None
                       ) -> Iterator[Diagnostic]:
        if window and within and window > within:
            yield self.issue("the step window is longer than the sequence's 'within'", mod.span)


class NoAggregate(Lint):
    """A `having` (of a rule or of a step window) that tests no aggregate.

    Only said of a condition that checked cleanly (`clean`): a condition
    with errors is reported for those.
    """

    code = "no-aggregate"

    def on_step_having(self, mod: ast.StepWindow, having: ir.Expr, clean: bool) -> Iterator[Diagnostic]:
        if clean and not _has_aggregate(having):
            yield self.issue("this step window's condition uses no aggregate", mod.cond.span,
                             "e.g. 'window 5m having distinct(user) >= 20'")

    def on_having(self, clause: ast.HavingClause, having: ir.Expr, clean: bool) -> Iterator[Diagnostic]:
        if clean and not _has_aggregate(having):
            yield self.issue("'having' uses no aggregate", clause.cond.span,
                             "window rules test aggregates, e.g. 'having count() >= 100'")


def _has_aggregate(e: ir.Expr) -> bool:
    return any(isinstance(n, ir.Agg) for n in ir.walk(e))


# ---------------------------------------------------------------- tests


class ExpectZero(Lint):
    """`expect 0 matches`: the language says it `expect no match`."""

    code = "expect-zero"

    def on_test_item(self, item: ast.TestItem) -> Iterator[Diagnostic]:
        if isinstance(item, ast.ExpectCount) and item.count == 0:
            yield self.issue("'expect 0 matches' is written 'expect no match'", item.span)


# ---------------------------------------------------------------- whole pack


class UnusedMacro(Lint):
    """A macro of a file with rules or tests that nothing uses (library files are exempt)."""

    code = "unused-macro"

    def finalize(self, pack: PackView) -> Iterator[Diagnostic]:
        for scope in pack.scopes.values():
            for name, m in scope.macros.items():
                if m.file == scope.file and not m.used and not pack.is_library(scope):
                    yield self.issue(f"macro '{name}' is never used", decl_name_span(m.decl, "macro"))


class UnusedList(Lint):
    """A list of a file with rules or tests that nothing uses (library files are exempt)."""

    code = "unused-list"

    def finalize(self, pack: PackView) -> Iterator[Diagnostic]:
        for scope in pack.scopes.values():
            for name, lst in scope.lists.items():
                if lst.file == scope.file and not lst.used and not pack.is_library(scope):
                    yield self.issue(f"list '{name}' is never used", decl_name_span(lst.decl, "list"))


#: Every lint, in the order their diagnostics are made when several look at the same thing.
LINTS: tuple[type[Lint], ...] = (
    MacroShadowsField, MacroShadowsFunction, StepShadowsField, AliasField, UnknownField, MixedList,
    RegexAmbiguous, UnknownMeta, MissingTitle, GapExceedsWithin, NoAggregate, ExpectZero,
    UnusedMacro, UnusedList,
)


@functools.cache
def _hooks_of(cls: type[Lint]) -> tuple[str, ...]:
    """The hooks a lint class implements (its `on_<hook>` methods), found once per class."""
    return tuple(name[3:] for name in dir(cls) if name.startswith("on_"))


class Linter:
    """The lints of one check: `run(hook, ...)` calls every lint's `on_<hook>`, `finalize(pack)` the rest."""

    def __init__(self, lints: Iterable[type[Lint]] = LINTS):
        self.lints = [cls() for cls in lints]
        self._hooks: dict[str, list[Callable[..., Iterable[Diagnostic]]]] = {}
        for lint in self.lints:
            for hook in _hooks_of(type(lint)):
                self._hooks.setdefault(hook, []).append(getattr(lint, "on_" + hook))

    @property
    def hooks(self) -> frozenset[str]:
        """The hook names some lint implements."""
        return frozenset(self._hooks)

    def run(self, hook: str, *args) -> list[Diagnostic]:
        """The diagnostics of every lint looking at `hook`, in `LINTS` order."""
        out: list[Diagnostic] = []
        for fn in self._hooks.get(hook, ()):
            out.extend(fn(*args))
        return out

    def finalize(self, pack: PackView) -> list[Diagnostic]:
        """The whole-pack diagnostics, in `LINTS` order."""
        out: list[Diagnostic] = []
        for lint in self.lints:
            out.extend(lint.finalize(pack))
        return out


__all__ = ["Lint", "Linter", "LINTS", "PackView", "decl_name_span"]
