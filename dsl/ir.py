"""The checked, resolved form of rules: what the compiler works from.

Second of the three trees (AST → IR → engine spec). `check.py` builds it:
macros are expanded, `@lists` loaded, step references bound to step
indexes, fields resolved to canonical paths, aggregates recognised, and
every expression carries its static type. Expression nodes are frozen and
hashable (spans excluded), so structurally equal sub-expressions of
different rules compare equal: that is what the code generator's shared
sub-expression elimination keys on.
"""

from __future__ import annotations

from typing import Any as _Any

import attrs

from sleuth.engine import aggregate as _aggregate
from sleuth.engine.duration import format_seconds as _format_seconds

from .span import NOWHERE, Span

# Static types. "num" = int or float; "any" = unknown until run time.
STR, INT, FLOAT, NUM, BOOL, TIME, IP, MAP, LIST, ANY, DURATION = (
    "str", "int", "float", "num", "bool", "time", "ip", "map", "list", "any", "duration")
NUMERIC = frozenset({INT, FLOAT, NUM, TIME, DURATION})


def _span():
    return attrs.field(default=NOWHERE, eq=False, repr=False, kw_only=True)


@attrs.frozen
class Expr:
    """Base of IR expressions; `type` is the static type."""

    span: Span = _span()

    @property
    def type(self) -> str:
        return ANY


@attrs.frozen
class Const(Expr):
    """A literal value (str, int, float, bool; durations are float seconds)."""

    value: _Any
    vtype: str

    @property
    def type(self) -> str:
        return self.vtype


@attrs.frozen
class SetConst(Expr):
    """A constant collection for `in`: a tuple/list literal or a declared list.

    `kind` is "str", "int", "num", "ip" (CIDR ranges) or "mixed"; `values`
    is a frozenset of the literal values (IP kinds keep the text), `name`
    the list's name for declared lists (used by explain and reloads).
    """

    values: frozenset
    kind: str
    name: str | None = None
    source: _Any = attrs.field(default=None, eq=False)

    @property
    def type(self) -> str:
        return LIST


@attrs.frozen
class Load(Expr):
    """A field of the current event: `path` is the canonical dotted path."""

    path: tuple[str, ...]
    ftype: str = ANY

    @property
    def type(self) -> str:
        return self.ftype

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@attrs.frozen
class StepRef(Expr):
    """A field of an earlier sequence step's first event (`fails.src_ip`)."""

    step: int
    step_name: str
    path: tuple[str, ...]
    ftype: str = ANY

    @property
    def type(self) -> str:
        return self.ftype


@attrs.frozen
class Compare(Expr):
    op: str
    left: Expr
    right: Expr

    @property
    def type(self) -> str:
        return BOOL


@attrs.frozen
class In(Expr):
    item: Expr
    container: Expr
    negated: bool = False

    @property
    def type(self) -> str:
        return BOOL


@attrs.frozen
class Glob(Expr):
    """Shell-style match; `pattern` is the glob text."""

    left: Expr
    pattern: str

    @property
    def type(self) -> str:
        return BOOL


@attrs.frozen
class Regex(Expr):
    """`left =~ /pattern/flags` (a search over the whole value; `engine/regex.py`)."""

    left: Expr
    pattern: str
    flags: str = ""

    @property
    def type(self) -> str:
        return BOOL


@attrs.frozen
class Arith(Expr):
    op: str
    left: Expr
    right: Expr

    @property
    def type(self) -> str:
        if self.left.type == INT and self.right.type == INT and self.op != "/":
            return INT
        return NUM


@attrs.frozen
class Neg(Expr):
    operand: Expr

    @property
    def type(self) -> str:
        return self.operand.type if self.operand.type in NUMERIC else NUM


@attrs.frozen
class And(Expr):
    operands: tuple[Expr, ...]

    @property
    def type(self) -> str:
        return BOOL


@attrs.frozen
class Or(Expr):
    operands: tuple[Expr, ...]

    @property
    def type(self) -> str:
        return BOOL


@attrs.frozen
class Not(Expr):
    operand: Expr

    @property
    def type(self) -> str:
        return BOOL


@attrs.frozen
class Call(Expr):
    """A scalar function from `sleuth.engine.prims` (`lower`, `cidr`, ...)."""

    name: str
    args: tuple[Expr, ...]
    rtype: str = ANY

    @property
    def type(self) -> str:
        return self.rtype


@attrs.frozen
class Population(Expr):
    """A statistic of the whole event stream for the current event's value of `key`.

    `share(key[, horizon])` or `spread(key, of, period[, horizon])`
    (`sleuth.engine.population`); only `key` is read from the event by the
    rule's code, `of` is read by the engine's sketch.
    """

    kind: str
    key: Load
    horizon: float
    of: tuple[str, ...] | None = None
    period: float | None = None

    @property
    def type(self) -> str:
        return FLOAT


@attrs.frozen
class Agg(Expr):
    """An aggregate over a window (`distinct(user)`, `cv(interarrival())`).

    `args` are per-event expressions evaluated as events enter the window;
    `param` holds a constant parameter (sample size, horizon seconds);
    `inner` is the aggregate a `baseline(...)` follows.
    """

    kind: str
    args: tuple[Expr, ...] = ()
    param: _Any = None
    inner: Agg | None = None

    @property
    def type(self) -> str:
        return _aggregate.RESULT_TYPE[self.kind]

    def label(self) -> str:
        """Readable name used in provenance (`distinct(user)`)."""
        return _agg_label(self)


def _agg_label(agg: Agg) -> str:
    # Each argument position renders by its kind in the aggregate registry.
    parts = []
    values = iter(agg.args)
    for kind in _aggregate.ARGUMENTS[agg.kind]:
        if kind in _aggregate.PER_EVENT:
            arg = next(values, None)
            if arg is None:
                break            # an optional argument left out: count()
            parts.append(ir_text(arg))
        elif kind == _aggregate.INTERARRIVAL:
            parts.append("interarrival()")
        elif kind == _aggregate.AGGREGATE:
            parts.append(agg.inner.label() if agg.inner else "?")
        elif kind == _aggregate.DURATION:
            parts.append(_format_seconds(agg.param))
        else:
            parts.append(str(agg.param))
    return f"{agg.kind}({', '.join(parts)})"


def ir_text(e: Expr) -> str:
    """A short readable rendering of an IR expression (labels, explain)."""
    if isinstance(e, Const):
        return repr(e.value) if isinstance(e.value, str) else str(e.value)
    if isinstance(e, Load):
        return e.dotted
    if isinstance(e, StepRef):
        return f"{e.step_name}.{'.'.join(e.path)}"
    if isinstance(e, SetConst):
        return f"@{e.name}" if e.name else "(" + ", ".join(sorted(map(repr, e.values))) + ")"
    if isinstance(e, Compare):
        return f"{ir_text(e.left)} {e.op} {ir_text(e.right)}"
    if isinstance(e, In):
        return f"{ir_text(e.item)} {'not in' if e.negated else 'in'} {ir_text(e.container)}"
    if isinstance(e, Glob):
        return f"{ir_text(e.left)} ~ {e.pattern!r}"
    if isinstance(e, Regex):
        return f"{ir_text(e.left)} =~ /{e.pattern}/{e.flags}"
    if isinstance(e, Arith):
        return f"({ir_text(e.left)} {e.op} {ir_text(e.right)})"
    if isinstance(e, Neg):
        return f"-{ir_text(e.operand)}"
    if isinstance(e, And):
        return " and ".join(f"({ir_text(o)})" for o in e.operands)
    if isinstance(e, Or):
        return " or ".join(f"({ir_text(o)})" for o in e.operands)
    if isinstance(e, Not):
        return f"not ({ir_text(e.operand)})"
    if isinstance(e, Call):
        return f"{e.name}({', '.join(ir_text(a) for a in e.args)})"
    if isinstance(e, Agg):
        return _agg_label(e)
    if isinstance(e, Population):
        args = [e.key.dotted]
        if e.of is not None:
            args += [".".join(e.of), _format_seconds(e.period or 0)]
        return f"{e.kind}({', '.join(args + [_format_seconds(e.horizon)])})"
    return type(e).__name__


def key_label(e: Expr) -> str:
    """How a key is named in a match's `key` (`user`, `lower(host)`, `pid * 2`)."""
    if isinstance(e, Load):
        return e.dotted
    text = ir_text(e)
    if isinstance(e, Arith) and text.startswith("(") and text.endswith(")"):
        return text[1:-1]
    return text


def walk(e: Expr):
    """Pre-order walk over an IR expression."""
    yield e
    for child in children(e):
        yield from walk(child)


def children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, (Compare, Arith)):
        return (e.left, e.right)
    if isinstance(e, In):
        return (e.item, e.container)
    if isinstance(e, (Glob, Regex)):
        return (e.left,)
    if isinstance(e, (Neg, Not)):
        return (e.operand,)
    if isinstance(e, (And, Or)):
        return e.operands
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Agg):
        return e.args + ((e.inner,) if e.inner is not None else ())
    if isinstance(e, Population):
        return (e.key,)
    return ()


TRUE = Const(True, BOOL)
FALSE = Const(False, BOOL)


# ---------------------------------------------------------------- rules


@attrs.frozen(eq=False)
class Step:
    """One sequence step, checked."""

    name: str
    index: int
    cond: Expr                         # event-only part (no step references)
    join: Expr | None                  # part that reads earlier steps, checked on advance
    keys: tuple[Expr, ...]             # per-step key (rule keys + step keys)
    min: int = 1
    max: int | None = 1                # None: unbounded
    gap: float | None = None           # max seconds after the previous step
    window: float | None = None        # aggregate step: window length
    having: Expr | None = None         # aggregate step: condition over the window
    fields: tuple[tuple[str, ...], ...] = ()   # paths recorded in provenance
    binds: tuple[tuple[str, ...], ...] = ()    # paths later steps reference
    span: Span = NOWHERE
    fork: bool = False                 # advancing keeps the previous step's partial (EQL fork)


@attrs.frozen(eq=False)
class Absence:
    """`unless name: cond between a and b` (end set) or `... after a within d`."""

    name: str
    cond: Expr
    join: Expr | None
    start: int
    end: int | None
    within: float | None
    span: Span = NOWHERE


@attrs.frozen(eq=False)
class Pipe:
    """One pipe of a rule: `filter` (exprs = the condition), `unique` (exprs = the values),
    `head` (count, and keys to count per group)."""

    kind: str
    exprs: tuple[Expr, ...] = ()
    count: int | None = None
    keys: tuple[Expr, ...] = ()
    span: Span = NOWHERE


@attrs.frozen(eq=False)
class Rule:
    """A checked rule, ready to compile."""

    name: str
    file: str
    span: Span
    kind: str                           # "event" | "sequence" | "join" | "window"
    source: str                         # "events" | "matches"
    meta: tuple[tuple[str, _Any], ...]
    keys: tuple[Expr, ...] = ()         # fields (Load) or expressions of fields
    cond: Expr | None = None            # `when` (event) or `where` (window, sequence pre-filter)
    within: float | None = None
    window_kind: str | None = None      # sliding | tumbling | session
    window_size: float | None = None
    window_gap: float | None = None
    having: Expr | None = None
    sustain: float | None = None
    steps: tuple[Step, ...] = ()
    until: Expr | None = None
    until_keys: tuple[Expr, ...] | None = None   # `until ... by`: rule keys + the until's own keys
    absences: tuple[Absence, ...] = ()
    emits: tuple[tuple[str, Expr], ...] = ()
    suppress: float | None = None
    suppress_keys: tuple[Expr, ...] = ()
    limits: tuple[tuple[str, int], ...] = ()
    fingerprint: tuple[Expr, ...] = ()
    refire: str = "reset"
    refire_after: float | None = None
    fields: tuple[tuple[str, ...], ...] = ()   # paths recorded in provenance
    consumes: tuple[str, ...] | None = None    # from matches: rules it reads (None = all event rules)
    pipes: tuple[Pipe, ...] = ()

    def meta_value(self, name: str, default=None):
        for k, v in self.meta:
            if k == name:
                return v
        return default

    @property
    def ttp(self) -> str:
        return self.meta_value("ttp", "")

    @property
    def goal(self) -> str:
        return self.meta_value("goal", "")

    @property
    def severity(self) -> str:
        return self.meta_value("severity", "medium")

    @property
    def title(self) -> str:
        return self.meta_value("title", self.name)

    def limit(self, name: str, default: int) -> int:
        for k, v in self.limits:
            if k == name:
                return v
        return default
