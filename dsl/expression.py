"""Expressions: names resolved, types inferred, every mistake reported.

Part of stage 3 (the checker). `ExprChecker` turns an `ast.Expr` into an
`ir.Expr` in a context (`Ctx`: the file's macros and lists, the steps a
sequence condition may reference, whether aggregates are allowed). It
never stops at the first problem: each check appends a `Diagnostic` and
returns an `Err` placeholder so the walk goes on. Handlers are
`check_<snake_class>` methods in a dispatch table; lints run through
`lint(hook, ...)`; aggregates are checked against the engine's registry.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

import attrs

from sleuth.engine import population as _population

from . import ast, ir
from .diagnostic import ERROR, WARNING, Diagnostic, closest
from .lint import Linter
from .lists import (
    NOT_CONST,
    classify_values,
    is_ip_or_net,
    literal_value,
    load_list,
    read_list_file,
)
from .regex_lint import compile_regex, regex_hazard, regex_portability
from .span import Span
from .vocabulary import (
    AGGREGATE,
    AGGREGATE_ARGUMENTS,
    AGGREGATES,
    ALIASES,
    DURATION,
    FIELDS,
    FOLLOWABLE,
    FUNCTIONS,
    INTERARRIVAL,
    INTERARRIVAL_CALL,
    MAP_FIELDS,
    MATCH_FIELDS,
    MAX_DURATION,
    MAX_SAMPLE,
    NUMBER,
    POPULATION,
    PREDICATE,
    SIZE,
    SPEC_FIELDS,
    VALUE,
    list_kind_name,
    type_name,
)

_ORDINALS = ("first", "second", "third", "fourth")

# ---------------------------------------------------------------- scopes and context


@attrs.define
class MacroDef:
    """A macro as declared, where, and whether anything used it."""
    decl: ast.MacroDecl
    file: str
    used: bool = False


@attrs.define
class ListDef:
    """A list as declared, its loaded value, and whether anything used it."""
    decl: ast.ListDecl
    file: str
    value: ir.SetConst | None = None
    used: bool = False


@attrs.define
class FileScope:
    """What one file can see: its own macros and lists plus its imports'."""

    file: str
    macros: dict[str, MacroDef] = attrs.Factory(dict)
    lists: dict[str, ListDef] = attrs.Factory(dict)


@attrs.define
class Ctx:
    """Where an expression is being checked."""

    scope: FileScope
    allow_agg: bool = False
    agg_arg: bool = False             # inside an aggregate's argument
    steps: dict[str, int] | None = None
    max_step: int = -1               # step references allowed up to this index
    matches: bool = False             # `from matches` rule: match fields
    test_assert: bool = False         # assertion over a match record
    generator: bool = False           # test event value: `i` is defined
    key_paths: frozenset = frozenset()
    macro_stack: tuple[str, ...] = ()
    where: str = "condition"

    def evolve(self, **kw) -> Ctx:
        return attrs.evolve(self, **kw)


# ---------------------------------------------------------------- placeholders


@attrs.frozen
class Err(ir.Expr):
    """Placeholder for an expression that failed its checks."""


def err(node: ast.Node) -> ir.Expr:
    """The placeholder for `node`, which failed its checks."""
    return Err(span=node.span)


def compatible(a: str, b: str) -> bool:
    """Whether values of static types `a` and `b` can ever be equal."""
    if ir.ANY in (a, b) or a == b:
        return True
    if a in ir.NUMERIC and b in ir.NUMERIC:
        return True
    if {a, b} <= {ir.STR, ir.IP}:
        return True
    return False


# ---------------------------------------------------------------- the expression checker


@functools.cache
def _handlers(checker: type) -> dict[type, str]:
    """Node class -> name of its `check_<snake_class>` handler, gathered once per checker class."""
    out = {}
    for cls in ast.concrete_classes():
        name = "check_" + re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        if hasattr(checker, name):
            out[cls] = name
    return out


class ExprChecker:
    """Checks expressions against a scope and builds their IR, collecting diagnostics.

    `read_list` is how list files are read (tests inject a fake file
    system); `scopes` maps file path → `FileScope` (the driver fills it; the
    hint for an unknown list looks there).
    """

    def __init__(self, read_list: Callable[[str], list[str]] = read_list_file):
        self.read_list = read_list
        self.diags: list[Diagnostic] = []
        self.scopes: dict[str, FileScope] = {}
        self.linter = Linter()
        self.dispatch = {node: getattr(self, name) for node, name in _handlers(type(self)).items()}

    # -- reporting
    def error(self, code: str, message: str, span: Span, *hints: str, related=()) -> None:
        """Report an error."""
        self.diags.append(Diagnostic(code, ERROR, message, span, hints, related))

    def warn(self, code: str, message: str, span: Span, *hints: str, related=()) -> None:
        """Report a warning."""
        self.diags.append(Diagnostic(code, WARNING, message, span, hints, related))

    def lint(self, hook: str, *args) -> None:
        """Run the lints looking at `hook` (see `lint.py`) and keep what they report."""
        self.diags.extend(self.linter.run(hook, *args))

    def error_count(self) -> int:
        """Errors reported so far."""
        return sum(1 for d in self.diags if d.is_error)

    def list_value(self, ld: ListDef) -> ir.SetConst:
        """A list's value, loaded (and its problems reported) on first use."""
        if ld.value is None:
            value, diags = load_list(ld.decl, ld.file, self.read_list)
            self.diags.extend(diags)
            self.lint("list", ld.decl, value)
            ld.value = value
        return ld.value

    def expr(self, node: ast.Expr, ctx: Ctx) -> ir.Expr:
        handler = self.dispatch.get(type(node))
        if handler is None:
            self.error("unexpected-expression", f"{type(node).__name__} is not allowed here", node.span)
            return err(node)
        return handler(node, ctx)

    def cond(self, node: ast.Expr, ctx: Ctx) -> ir.Expr:
        """An expression that must be a condition (boolean)."""
        if isinstance(node, ast.Field) and len(node.parts) == 1:
            name = node.parts[0]
            if name not in ctx.scope.macros and not (ctx.steps and name in ctx.steps):
                self._unknown_name_as_condition(node, ctx)
                return err(node)
        e = self.expr(node, ctx)
        if e.type not in (ir.BOOL, ir.ANY):
            if isinstance(node, ast.Field):
                self.error("not-a-condition",
                           f"'{node.dotted}' is a field of type {e.type}, not a condition", node.span,
                           f"compare it (e.g. '{node.dotted} == ...') or test presence with exists({node.dotted})")
            else:
                self.error("not-a-condition", f"expected a condition, found a value of type {e.type}",
                           node.span, "conditions are comparisons, 'in', '~', '=~', macros or boolean functions")
            return err(node)
        return e

    def _unknown_name_as_condition(self, node: ast.Field, ctx: Ctx) -> None:
        name = node.parts[0]
        if name in FIELDS or (ctx.matches and name in MATCH_FIELDS):
            self.error("not-a-condition", f"'{name}' is a field, not a condition", node.span,
                       f"compare it (e.g. '{name} == ...') or test presence with exists({name})")
            return
        candidates = list(ctx.scope.macros)
        guess = closest(name, candidates)
        hints = []
        related = []
        if guess is not None:
            m = ctx.scope.macros[guess]
            hints.append(f"did you mean '{guess}'? (defined at {m.decl.span.file}:{m.decl.span.line}:{m.decl.span.col + 6})")
        else:
            hints.append("define it with 'macro " + name + " = <condition>' or import the file that does")
        self.error("unknown-macro", f"no macro named '{name}'", node.span, *hints, related=related)

    def check_bool_lit(self, node, ctx):
        return ir.Const(node.value, ir.BOOL, span=node.span)

    def check_string(self, node, ctx):
        return ir.Const(node.value, ir.STR, span=node.span)

    def check_int_lit(self, node, ctx):
        return ir.Const(node.value, ir.INT, span=node.span)

    def check_float_lit(self, node, ctx):
        if not math.isfinite(node.value):
            self.error("bad-number", "this number is too large", node.span)
            return err(node)
        return ir.Const(node.value, ir.FLOAT, span=node.span)

    def check_duration(self, node, ctx):
        return ir.Const(node.seconds, ir.DURATION, span=node.span)

    def check_cidr(self, node, ctx):
        if not is_ip_or_net(node.text):
            self.error("bad-cidr", f"'{node.text}' is not a valid IP address or network", node.span,
                       "write a.b.c.d or a.b.c.d/n with n from 0 to 32")
            return err(node)
        return ir.SetConst(frozenset({node.text}), "ip", span=node.span)

    def check_regex(self, node, ctx):
        self.error("regex-without-subject", "a regex literal only appears right of '=~'", node.span,
                   "write 'field =~ /pattern/'")
        return err(node)

    def check_word(self, node, ctx):
        self.error("unexpected-word", f"'{node.name}' is not a value here", node.span)
        return err(node)

    def check_list_lit(self, node, ctx):
        if ctx.generator:
            # A test event's field may hold a list (spec.unknown_params = ["x"]).
            for item in node.items:
                self.expr(item, ctx)
            return ir.Const(None, ir.LIST, span=node.span)
        self.error("list-not-allowed", "a list literal only appears right of 'in'", node.span,
                   "write 'x in [a, b]' or declare it with 'list name = [...]'")
        return err(node)

    def check_tuple(self, node, ctx):
        self.error("list-not-allowed", "a tuple only appears right of 'in'", node.span)
        return err(node)

    def check_list_ref(self, node, ctx):
        ld = ctx.scope.lists.get(node.name)
        if ld is None:
            self._unknown_list(node, ctx)
            return err(node)
        ld.used = True
        value = self.list_value(ld)
        return attrs.evolve(value, span=node.span)

    def _unknown_list(self, node: ast.ListRef, ctx: Ctx) -> None:
        guess = closest(node.name, ctx.scope.lists)
        hints = [f"did you mean '@{guess}'?"] if guess else []
        elsewhere = [s.file for s in self.scopes.values() if node.name in s.lists and s.file != ctx.scope.file]
        if elsewhere:
            hints.append(f"it is declared in {elsewhere[0]}; import that file")
        self.error("unknown-list", f"no list named '{node.name}'", node.span, *hints)

    def check_field(self, node: ast.Field, ctx: Ctx) -> ir.Expr:
        parts = node.parts
        head = parts[0]
        if ctx.steps is not None and head in ctx.steps:
            idx = ctx.steps[head]
            if len(parts) == 1:
                self.error("step-as-value", f"'{head}' is a step; reference one of its fields",
                           node.span, f"e.g. '{head}.src_ip'")
                return err(node)
            if idx > ctx.max_step:
                if ctx.where == "join step":
                    self.error("forward-step-reference", f"the steps of a join match in any order: "
                               f"step '{head}' may not have matched yet", node.span,
                               "compare the steps' fields after the match: '| filter a.user != b.user'")
                    return err(node)
                if idx == ctx.max_step + 1 and ctx.where == "step":
                    msg = f"step '{head}' cannot reference its own fields"
                    hint = "a step's condition reads the current event directly: drop the prefix"
                else:
                    msg = f"step '{head}' is not before this point of the sequence"
                    hint = "a step may only reference steps that come before it"
                self.error("forward-step-reference", msg, node.span, hint)
                return err(node)
            return ir.StepRef(idx, head, tuple(parts[1:]), self._field_type(tuple(parts[1:]), ctx),
                              span=node.span)
        if len(parts) == 1 and head in ctx.scope.macros:
            return self._expand_macro(node, ctx)
        if ctx.generator and parts == ("i",):
            return ir.Load(("i",), ir.INT, span=node.span)
        path = tuple(parts)
        if ctx.test_assert:
            return ir.Load(path, ir.ANY, span=node.span)
        if ctx.matches:
            return ir.Load(path, MATCH_FIELDS.get(head, ir.ANY) if len(path) == 1 else ir.ANY, span=node.span)
        dotted = ".".join(path)
        if dotted in ALIASES or head in ALIASES:
            canon = ALIASES.get(dotted) or ALIASES[head]
            self.lint("alias", node, dotted, canon)
            path = (canon,)
            head = canon
        if head not in FIELDS:
            self.lint("unknown_field", node, dotted, head, ctx.scope.macros)
            return ir.Load(path, ir.ANY, span=node.span)
        if len(path) > 1 and head not in MAP_FIELDS:
            self.error("not-a-mapping", f"field '{head}' is a {FIELDS[head]}, it has no sub-fields",
                       node.span, f"write '{head}'")
            return err(node)
        if head == "spec" and len(path) == 2:
            self.lint("spec_field", node, dotted, path[1])
        return ir.Load(path, self._field_type(path, ctx), span=node.span)

    def _field_type(self, path: tuple[str, ...], ctx: Ctx) -> str:
        if ctx.matches:
            return MATCH_FIELDS.get(path[0], ir.ANY) if len(path) == 1 else ir.ANY
        if len(path) == 1:
            t = FIELDS.get(path[0], ir.ANY)
            return {"time": ir.NUM, "ip": ir.STR}.get(t, t)
        if path[0] == "spec" and len(path) == 2:
            return SPEC_FIELDS.get(path[1], ir.ANY)
        return ir.ANY

    def _expand_macro(self, node: ast.Field, ctx: Ctx) -> ir.Expr:
        name = node.parts[0]
        m = ctx.scope.macros[name]
        m.used = True
        if name in ctx.macro_stack:
            chain = " -> ".join((*ctx.macro_stack, name))
            self.error("macro-cycle", f"macro '{name}' refers to itself: {chain}", m.decl.span,
                       "break the cycle: a macro cannot use itself, directly or through others")
            return err(node)
        scope = self.scopes.get(m.file, ctx.scope)
        inner = ctx.evolve(scope=scope, macro_stack=(*ctx.macro_stack, name))
        body = self.expr(m.decl.body, inner)
        return body

    def check_call(self, node: ast.Call, ctx: Ctx) -> ir.Expr:
        name = node.name
        if name in AGGREGATES:
            return self._aggregate(node, ctx)
        if name == INTERARRIVAL_CALL:
            self.error("bad-argument", "interarrival() is only an argument of cv() or jitter()",
                       node.span, "write cv(interarrival()) in 'having'")
            return err(node)
        if name in POPULATION:
            return self._population(node, ctx)
        if name not in FUNCTIONS:
            guess = closest(name, list(FUNCTIONS) + list(AGGREGATES))
            self.error("unknown-function", f"no function named '{name}'", node.span,
                       *([f"did you mean '{guess}'?"] if guess else
                         [f"functions: {', '.join(sorted(FUNCTIONS))}"]))
            return err(node)
        lo, hi, rtype = FUNCTIONS[name]
        if not lo <= len(node.args) <= hi:
            self._arity(node, lo, hi)
            return err(node)
        if name == "exists":
            (arg,) = node.args
            if not isinstance(arg, ast.Field):
                self.error("bad-argument", "exists() takes a field", arg.span, "e.g. exists(headers.referer)")
                return err(node)
            if len(arg.parts) == 1 and arg.parts[0] in ctx.scope.macros:
                self.error("bad-argument", f"'{arg.parts[0]}' is a macro; exists() takes a field", arg.span)
                return err(node)
        args = tuple(self.expr(a, ctx) for a in node.args)
        if name == "cidr":
            net = args[1]
            if not (isinstance(net, ir.Const) and net.type == ir.STR) and not isinstance(net, ir.SetConst):
                self.error("bad-argument", "the second argument of cidr() is a network literal",
                           node.args[1].span, 'write cidr(src_ip, "10.0.0.0/8")')
                return err(node)
            text = net.value if isinstance(net, ir.Const) else next(iter(net.values))
            if not is_ip_or_net(text):
                self.error("bad-cidr", f"'{text}' is not a valid IP network", node.args[1].span,
                           'write e.g. "10.0.0.0/8" or "2001:db8::/32"')
                return err(node)
            return ir.In(args[0], ir.SetConst(frozenset({text}), "ip", span=node.args[1].span), span=node.span)
        if name in ("startswith", "endswith") and args[1].type not in (ir.STR, ir.ANY):
            self.error("type-mismatch", f"{name}() takes a string prefix (got {args[1].type})", node.args[1].span)
        if name in ("lower", "upper", "startswith", "endswith") and args[0].type not in (ir.STR, ir.ANY):
            self.error("type-mismatch", f"{name}() takes a string (got {args[0].type})", node.args[0].span)
        if name in ("hour", "weekday") and args[0].type not in ir.NUMERIC and args[0].type != ir.ANY:
            self.error("type-mismatch", f"{name}() takes a time (got {args[0].type})", node.args[0].span)
        return ir.Call(name, args, rtype, span=node.span)

    def _population(self, node: ast.Call, ctx: Ctx) -> ir.Expr:
        """`share(x[, horizon])` or `spread(x, y, period[, horizon])`, checked against the engine's table.

        The fields are event fields (the engine's sketch reads them on every
        event, so an expression, a step's field or a macro is refused); the
        horizon and period are duration literals, period <= horizon.
        """
        name = node.name
        lo, hi, _rtype = FUNCTIONS[name]
        if ctx.matches or ctx.test_assert or ctx.generator:
            where = "a 'from matches' rule" if ctx.matches else ctx.where
            self.error("population-not-allowed", f"{name}() reads the population of the event stream; "
                       f"it is not available in {where}", node.span,
                       "use it in a rule over events: 'when', 'where', steps, 'having' or 'emit'")
            return err(node)
        if not lo <= len(node.args) <= hi:
            self._arity(node, lo, hi)
            return err(node)
        fields: list[ir.Load] = []
        durations: dict[str, float] = {}
        failed = False
        for i, (kind, arg) in enumerate(zip(POPULATION[name], node.args)):
            if kind == _population.FIELD:
                load = self._population_field(name, i, arg, ctx)
                failed = failed or load is None
                if load is not None:
                    fields.append(load)
                continue
            seconds = self._const_duration(arg, f"{name}() {kind}")
            if seconds is None:
                failed = True
                continue
            low = _population.MIN_HORIZON if kind == _population.HORIZON else _population.MIN_PERIOD
            if seconds < low:
                self.error("bad-duration", f"the {name}() {kind} is shorter than {low:g}s", arg.span,
                           f"a {kind} of at least {low:g}s: population statistics describe minutes to days")
                failed = True
                continue
            durations[kind] = seconds
        if failed:
            return err(node)
        horizon = durations.get(_population.HORIZON, _population.DEFAULT_HORIZON)
        if name == "share":
            return ir.Population(name, fields[0], horizon, span=node.span)
        period = durations[_population.PERIOD]
        if period > horizon:
            where = node.args[3] if len(node.args) > 3 else node.args[2]
            self.error("bad-duration", f"the spread() period ({period:g}s) is longer than its horizon "
                       f"({horizon:g}s)", where.span, "the horizon averages several periods: e.g. "
                       f"spread({fields[0].dotted}, {fields[1].dotted}, 10m, 1d)")
            return err(node)
        if fields[0].path == fields[1].path:
            self.error("bad-argument", "spread() counts the distinct values of another field",
                       node.args[1].span, f"e.g. spread({fields[0].dotted}, src_ip, 10m)")
            return err(node)
        return ir.Population(name, fields[0], horizon, fields[1].path, period, span=node.span)

    def _population_field(self, name: str, i: int, arg: ast.Expr, ctx: Ctx) -> ir.Load | None:
        """An argument of a population function that must be a field of the event."""
        example = "share(ja3)" if name == "share" else "spread(ja3, src_ip, 10m)"
        if not isinstance(arg, ast.Field):
            self.error("bad-argument", f"the {_ORDINALS[i]} argument of {name}() is an event field", arg.span,
                       f"e.g. {example}: the engine counts the field's values on every event")
            return None
        head = arg.parts[0]
        if ctx.steps is not None and head in ctx.steps:
            self.error("bad-argument", f"{name}() reads a field of the current event, not of step '{head}'",
                       arg.span, f"write {name}({'.'.join(arg.parts[1:]) or 'field'}, ...) in the step's own condition")
            return None
        if len(arg.parts) == 1 and head in ctx.scope.macros:
            self.error("bad-argument", f"'{head}' is a macro; {name}() takes an event field", arg.span,
                       f"e.g. {example}")
            return None
        load = self.check_field(arg, ctx)
        if not isinstance(load, ir.Load):
            return None
        if load.type in (ir.MAP, ir.LIST):
            self.error("type-mismatch", f"{name}() counts single values (got a {type_name(load.type)})",
                       arg.span, *([f"count one entry of it, e.g. {load.dotted}.<name>"] if load.type == ir.MAP else []))
            return None
        return load

    def _arity(self, node: ast.Call, lo: int, hi: int) -> None:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        noun = "argument" if lo == hi == 1 else "arguments"
        self.error("bad-arity", f"{node.name}() takes {want} {noun} (got {len(node.args)})", node.span)

    def _aggregate(self, node: ast.Call, ctx: Ctx) -> ir.Expr:
        """An aggregate call, checked against its signature in the engine's registry.

        Arguments are checked by kind: first those whose shape is fixed
        (`interarrival()`, a followable aggregate, a sample size; a wrong
        one stops here), then durations, then the per-event expressions and
        the aggregate `baseline` follows, in their order.
        """
        name = node.name
        if ctx.agg_arg:
            self.error("nested-aggregate", f"aggregate '{name}()' inside another aggregate", node.span,
                       "an aggregate's argument is evaluated per event")
            return err(node)
        if not ctx.allow_agg:
            self.error("aggregate-not-allowed", f"aggregate '{name}()' is not allowed in {ctx.where}",
                       node.span, "aggregates belong in 'having' (window rules), in a step's "
                       "'window ... having', or in 'emit' of a window rule")
            return err(node)
        lo, hi = AGGREGATES[name]
        if not lo <= len(node.args) <= hi:
            self._arity(node, lo, hi)
            return err(node)
        given = list(zip(AGGREGATE_ARGUMENTS[name], node.args))
        for i, (kind, arg) in enumerate(given):
            if kind == INTERARRIVAL and not (isinstance(arg, ast.Call) and arg.name == INTERARRIVAL_CALL
                                             and not arg.args):
                self.error("bad-argument", f"{name}() takes interarrival()", arg.span,
                           f"write {name}(interarrival()): the gaps between the key's events")
                return err(node)
            if kind == AGGREGATE and not (isinstance(arg, ast.Call) and arg.name in FOLLOWABLE):
                self.error("bad-argument", f"the {_ORDINALS[i]} argument of {name}() is an aggregate",
                           arg.span, f"e.g. {name}(count(), 1h)")
                return err(node)
            if kind == SIZE and not (isinstance(arg, ast.IntLit) and 1 <= arg.value <= MAX_SAMPLE):
                self.error("bad-argument", f"the {name} size is an integer from 1 to {MAX_SAMPLE}", arg.span)
                return err(node)
        param = None
        failed = False
        for kind, arg in given:
            if kind == DURATION:
                param = self._const_duration(arg, f"{name}() horizon")
                failed = failed or param is None
        arg_ctx = ctx.evolve(agg_arg=True, allow_agg=False, where=f"the argument of {name}()")
        args: list[ir.Expr] = []
        numbers: list[tuple[ast.Expr, ir.Expr]] = []
        inner = None
        for kind, arg in given:
            if kind in (VALUE, NUMBER):
                args.append(self.expr(arg, arg_ctx))
                if kind == NUMBER:
                    numbers.append((arg, args[-1]))
            elif kind == PREDICATE:
                args.append(self.cond(arg, arg_ctx))
            elif kind == AGGREGATE:
                inner = self._aggregate(arg, ctx)
                failed = failed or not isinstance(inner, ir.Agg)
            elif kind == SIZE:
                param = arg.value
        if failed:
            return err(node)
        for arg, e in numbers:
            if e.type not in ir.NUMERIC and e.type != ir.ANY:
                self.error("type-mismatch", f"{name}() takes a number (got {e.type})", arg.span)
        return ir.Agg(name, tuple(args), param, inner, span=node.span)

    def _const_duration(self, node: ast.Expr, what: str) -> float | None:
        if not isinstance(node, ast.Duration):
            self.error("bad-argument", f"the {what} is a duration literal", node.span, "e.g. 1h or 30d")
            return None
        return self._duration(node, what)

    def _duration(self, node: ast.Duration, what: str, *, max_s: float = MAX_DURATION) -> float | None:
        if node.seconds <= 0:
            self.error("bad-duration", f"the {what} must be longer than zero", node.span)
            return None
        if node.seconds > max_s:
            self.error("bad-duration", f"the {what} is {node.seconds / 86400:g}d; the limit is {max_s / 86400:g}d",
                       node.span, "state must stay bounded; use a shorter span or a baseline")
            return None
        if node.seconds < 0.001:
            self.error("bad-duration", f"the {what} is shorter than a millisecond", node.span)
            return None
        return node.seconds

    def check_or(self, node, ctx):
        return ir.Or(tuple(self.cond(o, ctx) for o in node.operands), span=node.span)

    def check_and(self, node, ctx):
        return ir.And(tuple(self.cond(o, ctx) for o in node.operands), span=node.span)

    def check_not(self, node, ctx):
        return ir.Not(self.cond(node.operand, ctx), span=node.span)

    def check_compare(self, node: ast.Compare, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        right = self.expr(node.right, ctx)
        if isinstance(left, Err) or isinstance(right, Err):
            return err(node)
        lt, rt = left.type, right.type
        if isinstance(right, ir.SetConst) or isinstance(left, ir.SetConst):
            self.error("type-mismatch", f"'{node.op}' compares single values, not a network or list",
                       node.span, "test membership with 'in', e.g. 'src_ip in 10.0.0.0/8'")
            return err(node)
        if node.op in ("<", "<=", ">", ">="):
            for side, t in ((node.left, lt), (node.right, rt)):
                if t in (ir.BOOL, ir.MAP, ir.LIST):
                    self.error("type-mismatch", f"'{node.op}' cannot order a {t}", side.span)
                    return err(node)
            if (lt == ir.STR and rt in ir.NUMERIC) or (rt == ir.STR and lt in ir.NUMERIC):
                str_side = node.left if lt == ir.STR else node.right
                self.error("type-mismatch", f"'{node.op}' between a string and a number is never true",
                           node.span, *self._mismatch_hint(str_side))
                return err(node)
        elif not compatible(lt, rt):
            self.error("type-mismatch", f"'{node.op}' between a {type_name(lt)} and a {type_name(rt)} is "
                       f"{'never' if node.op == '==' else 'always'} true", node.span,
                       *self._mismatch_hint(node.right if isinstance(right, ir.Const) else node.left))
            return err(node)
        return ir.Compare(node.op, left, right, span=node.span)

    def _mismatch_hint(self, side: ast.Expr) -> list[str]:
        if isinstance(side, ast.String) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", side.value):
            return [f"write the number without quotes: {side.value}"]
        if isinstance(side, (ast.IntLit, ast.FloatLit)):
            return [f'write the string in quotes: "{side.value}"']
        return []

    def check_in(self, node: ast.In, ctx: Ctx) -> ir.Expr:
        item = self.expr(node.item, ctx)
        target = node.target
        if isinstance(target, (ast.Tuple, ast.ListLit)):
            values = []
            for it in target.items:
                v = literal_value(it)
                if v is NOT_CONST:
                    self.error("non-constant-in", "items of an 'in' list must be literals", it.span,
                               "compare with '==' and join with 'or' to test fields")
                    return err(node)
                values.append(v)
            vals, kind = classify_values(values)
            if any(isinstance(it, ast.Cidr) for it in target.items):
                kind = "ip"
            container = ir.SetConst(vals, kind, span=target.span)
        elif isinstance(target, ast.Cidr):
            container = self.check_cidr(target, ctx)
        else:
            container = self.expr(target, ctx)
        if isinstance(item, Err) or isinstance(container, Err):
            return err(node)
        if isinstance(container, ir.SetConst) and container.values:
            # (an empty list, e.g. one whose file could not be read, has no type)
            it = item.type
            k = container.kind
            bad = ((it in ir.NUMERIC and k in ("str", "ip")) or (it == ir.STR and k in ("int", "num"))
                   or it in (ir.BOOL, ir.MAP, ir.LIST))
            if bad:
                self.error("type-mismatch", f"a {type_name(it)} is never in a list of {list_kind_name(k)}",
                           node.span, *self._set_hint(node, k))
                return err(node)
        elif container.type not in (ir.ANY, ir.LIST, ir.MAP, ir.STR):
            self.error("type-mismatch", f"'in' needs a list, a network or a mapping (got {container.type})",
                       node.target.span, "write 'x in (a, b)', 'x in @list' or 'x in 10.0.0.0/8'")
            return err(node)
        return ir.In(item, container, node.negated, span=node.span)

    def _set_hint(self, node: ast.In, kind: str) -> list[str]:
        if kind in ("str",) and isinstance(node.target, (ast.Tuple, ast.ListLit)):
            if all(isinstance(i, ast.String) and re.fullmatch(r"-?[0-9]+", i.value) for i in node.target.items):
                return ["write the numbers without quotes"]
        return []

    def check_glob(self, node: ast.Glob, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        if not isinstance(node.pattern, ast.String):
            self.error("bad-pattern", "the right side of '~' is a string pattern", node.pattern.span,
                       'e.g. route ~ "/api/*/login"')
            return err(node)
        if left.type not in (ir.STR, ir.ANY, ir.IP) and not isinstance(left, Err):
            self.error("type-mismatch", f"'~' matches strings (got {left.type})", node.left.span)
            return err(node)
        if isinstance(left, Err):
            return err(node)
        return ir.Glob(left, node.pattern.value, span=node.span)

    def check_regex_match(self, node: ast.RegexMatch, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        pat = node.pattern
        if isinstance(pat, ast.Regex):
            text, flags = pat.pattern, pat.flags
        elif isinstance(pat, ast.String):
            text, flags = pat.value, ""
        else:
            self.error("bad-pattern", "the right side of '=~' is a regex literal", pat.span, "e.g. ua =~ /bot/i")
            return err(node)
        exc, warned = compile_regex(text, flags)
        if exc is None:
            self.lint("regex", pat, warned)
        else:
            pos = exc.pos if exc.pos is not None else 0
            span = pat.span
            if isinstance(pat, ast.Regex) and span.line == span.end_line:
                col = span.col + 1 + pos
                span = Span(span.file, span.line, col, span.line, col + 1, span.start + 1 + pos, span.start + 2 + pos)
            self.error("bad-regex", f"invalid regex: {exc.msg}", span)
            return err(node)
        hazard = regex_hazard(text)
        if hazard:
            self.error("unsafe-regex", f"regex refused: {hazard}", pat.span,
                       "this shape can take exponential time on hostile input; rewrite without the nesting")
            return err(node)
        port = regex_portability(text, flags)
        if port is not None:
            code, message, pos = port
            span = pat.span
            if isinstance(pat, ast.Regex) and span.line == span.end_line and pos is not None:
                col = span.col + 1 + pos
                span = Span(span.file, span.line, col, span.line, col + 1, span.start + 1 + pos, span.start + 2 + pos)
            self.error(code, f"regex refused: {message}", span,
                       "install google-re2 (pip install 'sleuth[re2]') or bound the repeat, e.g. {0,256}"
                       if code == "regex-needs-re2" else "docs/language.md lists what regexes may use")
            return err(node)
        if left.type not in (ir.STR, ir.ANY, ir.IP) and not isinstance(left, Err):
            self.error("type-mismatch", f"'=~' matches strings (got {left.type})", node.left.span)
            return err(node)
        if isinstance(left, Err):
            return err(node)
        return ir.Regex(left, text, flags, span=node.span)

    def check_bin_op(self, node: ast.BinOp, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        right = self.expr(node.right, ctx)
        if ctx.generator and node.op == "+" and ir.STR in (left.type, right.type):
            # Test events build values: "10.0." + str(i % 30) + ".1" is text concatenation.
            return ir.Arith(node.op, left, right, span=node.span)
        for side, e in ((node.left, left), (node.right, right)):
            if e.type in (ir.STR, ir.BOOL, ir.MAP, ir.LIST) and not isinstance(e, Err):
                self.error("type-mismatch", f"'{node.op}' takes numbers (got a {type_name(e.type)})", side.span)
                return err(node)
        if isinstance(left, Err) or isinstance(right, Err):
            return err(node)
        if node.op in ("/", "%") and isinstance(right, ir.Const) and right.value == 0:
            self.error("division-by-zero", "division by zero", node.right.span)
            return err(node)
        return ir.Arith(node.op, left, right, span=node.span)

    def check_neg(self, node: ast.Neg, ctx: Ctx) -> ir.Expr:
        e = self.expr(node.operand, ctx)
        if e.type in (ir.STR, ir.BOOL, ir.MAP, ir.LIST):
            self.error("type-mismatch", f"'-' takes a number (got a {type_name(e.type)})", node.span)
            return err(node)
        if isinstance(e, ir.Const) and isinstance(e.value, (int, float)):
            return ir.Const(-e.value, e.vtype, span=node.span)
        return ir.Neg(e, span=node.span)


__all__ = ["ExprChecker", "Ctx", "FileScope", "MacroDef", "ListDef", "Err", "err", "compatible"]
