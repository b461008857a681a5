"""The abstract syntax tree of the rule language: what was written.

Every node is a frozen attrs class whose `span` is excluded from equality and
hashing, so `parse("a==1") == parse("a == 1")`. Nodes carry data only: no
rendering (see `unparse.py`), no checks (`check.py`), no evaluation. The set
of classes is closed: every concrete class below is handled by every pass
(`tests/dsl/test_passes.py` enforces it). Grammar rule = class, same words
(`seq_step` builds `SeqStep`); grammar aliases that are spellings of one
construct (`repeat 3`, `repeat >= 3`, `repeat 3..5`) build one class.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from .span import NOWHERE, Span


def _span() -> Span:
    return attrs.field(default=NOWHERE, eq=False, repr=False, kw_only=True)


@attrs.frozen
class Node:
    """Base of every AST node."""

    span: Span = _span()


@attrs.frozen
class Expr(Node):
    """Base of expressions."""


@attrs.frozen
class Decl(Node):
    """Base of top-level declarations."""


@attrs.frozen
class Clause(Node):
    """Base of the clauses inside a rule."""


@attrs.frozen
class StepMod(Node):
    """Base of the modifiers after a sequence step's condition."""


@attrs.frozen
class TestItem(Node):
    """Base of the items inside a test block."""

    __test__: ClassVar[bool] = False


# ------------------------------------------------------------------ literals


@attrs.frozen
class String(Expr):
    """A string literal (escapes already decoded)."""

    value: str


@attrs.frozen
class IntLit(Expr):
    value: int


@attrs.frozen
class FloatLit(Expr):
    value: float


@attrs.frozen
class BoolLit(Expr):
    value: bool


@attrs.frozen
class Duration(Expr):
    """A duration literal (`500ms 10s 5m 1h 1d 1w`), held in seconds."""

    seconds: float


@attrs.frozen
class Cidr(Expr):
    """An IPv4 address or network literal (`10.0.0.0/8`), as written."""

    text: str


@attrs.frozen
class Regex(Expr):
    """A regex literal `/pattern/flags` (flags among `imsx`)."""

    pattern: str
    flags: str = ""


@attrs.frozen
class Word(Expr):
    """A bare word used as a value in `meta` (`severity = high`)."""

    name: str


# ------------------------------------------------------------------ references


@attrs.frozen
class Field(Expr):
    """A dotted path: an event field, a macro (one part), or a step field."""

    parts: tuple[str, ...] = attrs.field(converter=tuple)

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@attrs.frozen
class ListRef(Expr):
    """`@name`: a declared list."""

    name: str


@attrs.frozen
class Call(Expr):
    """A function or aggregate call."""

    name: str
    args: tuple[Expr, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Tuple(Expr):
    """`(a, b, ...)`: the right side of `in`."""

    items: tuple[Expr, ...] = attrs.field(converter=tuple)


@attrs.frozen
class ListLit(Expr):
    """`[a, b, ...]`."""

    items: tuple[Expr, ...] = attrs.field(converter=tuple)


# ------------------------------------------------------------------ operators


@attrs.frozen
class Or(Expr):
    operands: tuple[Expr, ...] = attrs.field(converter=tuple)


@attrs.frozen
class And(Expr):
    operands: tuple[Expr, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Not(Expr):
    operand: Expr


@attrs.frozen
class Compare(Expr):
    """`left op right` with op among `== != < <= > >=`."""

    op: str
    left: Expr
    right: Expr


@attrs.frozen
class In(Expr):
    """`item in target` / `item not in target`."""

    item: Expr
    target: Expr
    negated: bool = False


@attrs.frozen
class Glob(Expr):
    """`left ~ "pattern"`: shell-style match (`*`, `?`, `[...]`)."""

    left: Expr
    pattern: Expr


@attrs.frozen
class RegexMatch(Expr):
    """`left =~ /regex/`: search anywhere in the string."""

    left: Expr
    pattern: Expr


@attrs.frozen
class BinOp(Expr):
    """Arithmetic: `+ - * / %`."""

    op: str
    left: Expr
    right: Expr


@attrs.frozen
class Neg(Expr):
    operand: Expr


# ------------------------------------------------------------------ declarations


@attrs.frozen
class Import(Decl):
    """`import "common.ttp"`: the macros and lists of another file."""

    path: str


@attrs.frozen
class ListDecl(Decl):
    """`list name = [..]` (items) or `list name = file("...")` (file)."""

    name: str
    items: tuple[Expr, ...] | None = attrs.field(default=None)
    file: str | None = None


@attrs.frozen
class MacroDecl(Decl):
    """`macro name = expr`."""

    name: str
    body: Expr


@attrs.frozen
class RuleDecl(Decl):
    """`rule name { clauses }`; clauses kept in written order."""

    name: str
    clauses: tuple[Clause, ...] = attrs.field(converter=tuple)


@attrs.frozen
class TestDecl(Decl):
    """`test "name" for rule { items }`."""

    __test__: ClassVar[bool] = False

    name: str
    rule: str
    items: tuple[TestItem, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Module(Node):
    """One rule file."""

    decls: tuple[Decl, ...] = attrs.field(converter=tuple)


# ------------------------------------------------------------------ clauses


@attrs.frozen
class MetaEntry(Node):
    name: str
    value: Expr


@attrs.frozen
class Meta(Clause):
    entries: tuple[MetaEntry, ...] = attrs.field(converter=tuple)


@attrs.frozen
class ByClause(Clause):
    """`by f1, lower(f2)`: the rule's key (fields or expressions of fields)."""

    keys: tuple[Expr, ...] = attrs.field(converter=tuple)


@attrs.frozen
class WithinClause(Clause):
    """`within 30m`: a sequence's span from first to last step."""

    duration: Duration


@attrs.frozen
class WindowClause(Clause):
    """`window 10m [sliding|tumbling]` or `window session gap 2m`."""

    kind: str
    size: Duration | None = None
    gap: Duration | None = None


@attrs.frozen
class WhereClause(Clause):
    cond: Expr


@attrs.frozen
class WhenClause(Clause):
    cond: Expr


@attrs.frozen
class HavingClause(Clause):
    """`having cond [for 10m]`."""

    cond: Expr
    sustain: Duration | None = None


@attrs.frozen
class UntilClause(Clause):
    """`until cond [by keys]`: drops partial matches; with `by`, at the key these give (EQL)."""

    cond: Expr
    keys: tuple[Expr, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class UnlessBetween(Clause):
    """`unless name: cond between step_a and step_b`: absence between two steps."""

    name: str
    cond: Expr
    start: str
    end: str


@attrs.frozen
class UnlessAfter(Clause):
    """`unless name: cond after step within 10m`: trailing absence."""

    name: str
    cond: Expr
    after: str
    within: Duration


@attrs.frozen
class EmitEntry(Node):
    name: str
    value: Expr


@attrs.frozen
class Emit(Clause):
    entries: tuple[EmitEntry, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Suppress(Clause):
    """`suppress 30m [by keys]`."""

    duration: Duration
    keys: tuple[Expr, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class FromMatches(Clause):
    """`from matches`: the rule reads other rules' matches as events."""


@attrs.frozen
class LimitEntry(Node):
    name: str
    value: int


@attrs.frozen
class Limit(Clause):
    """`limit keys 50000, partials 4`."""

    entries: tuple[LimitEntry, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Fingerprint(Clause):
    """`fingerprint asn, ua`: what characterises one instance of the technique."""

    values: tuple[Expr, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Refire(Clause):
    """`refire reset|keep|cooldown 5m`: a window rule's policy after a match."""

    policy: str
    duration: Duration | None = None


@attrs.frozen
class SeqStep(Node):
    """`name: cond [by ..] [repeat ..] [within ..] [window .. having ..]`."""

    name: str
    cond: Expr
    mods: tuple[StepMod, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class Sequence(Clause):
    steps: tuple[SeqStep, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Join(Clause):
    """`join { name: cond ... }`: every step once, in any order, per key (EQL's join)."""

    steps: tuple[SeqStep, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Pipe(Clause):
    """`| name args [by keys]`: post-processes the rule's matches (`| unique user`, `| head 5`)."""

    name: str
    args: tuple[Expr, ...] = attrs.field(default=(), converter=tuple)
    keys: tuple[Expr, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class StepBy(StepMod):
    """Per-step key: the step joins on these fields or expressions."""

    keys: tuple[Expr, ...] = attrs.field(converter=tuple)


@attrs.frozen
class StepRepeat(StepMod):
    """`repeat N` (min = max = N), `repeat >= N` (max None), `repeat N..M`."""

    min: int
    max: int | None


@attrs.frozen
class StepGap(StepMod):
    """`within 2m` after a step: at most this long after the previous step."""

    duration: Duration


@attrs.frozen
class StepWindow(StepMod):
    """`window 5m having agg-cond`: the step is an aggregate condition."""

    size: Duration
    cond: Expr


@attrs.frozen
class StepFork(StepMod):
    """`fork`: advancing from the previous step keeps that partial (EQL's `fork=true`)."""


# ------------------------------------------------------------------ tests


@attrs.frozen
class Assign(Node):
    target: Field
    value: Expr


@attrs.frozen
class EventLit(Node):
    assigns: tuple[Assign, ...] = attrs.field(converter=tuple)


@attrs.frozen
class EventRepeat(Node):
    """`repeat N { ... }`: N events; `i` is 0..N-1 inside."""

    count: int
    assigns: tuple[Assign, ...] = attrs.field(converter=tuple)


@attrs.frozen
class EventsInline(TestItem):
    gens: tuple[EventLit | EventRepeat, ...] = attrs.field(converter=tuple)


@attrs.frozen
class EventsFile(TestItem):
    path: str


@attrs.frozen
class ExpectMatch(TestItem):
    """`expect match { assertions }`: at least one match satisfies them all."""

    asserts: tuple[Expr, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class ExpectNone(TestItem):
    """`expect no match`."""


@attrs.frozen
class ExpectCount(TestItem):
    """`expect N matches`."""

    count: int


def concrete_classes() -> list[type]:
    """Every concrete node class (for the pass-exhaustiveness test)."""
    abstract = {Node, Expr, Decl, Clause, StepMod, TestItem}
    out = []
    for value in list(globals().values()):
        if isinstance(value, type) and issubclass(value, Node) and value not in abstract:
            out.append(value)
    return out
