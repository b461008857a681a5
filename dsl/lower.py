"""Lower checked rules (IR) to engine specs, with generated code.

The compiler's back half: for each rule, one generated module holding its
key extractors, provenance projections, joins, aggregate extractors,
`having`, `emit` and fingerprint functions; for the pack, the dispatch
index and one generated function per index bucket. Dispatch picks, for each
rule, the field whose equality/`in` condition every matching event must
satisfy (route, method, status, ...), so most rules are never looked at for
most events; inside a bucket the rules' conditions are specialised to the
bucket's value and shared conditions are computed once.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from sleuth.engine.duration import format_duration
from sleuth.engine.population import QuerySpec, describe_sketch, sketch_specs
from sleuth.engine.pycode import compile_factory, unique_filename
from sleuth.engine.schema import FIELDS
from sleuth.engine.spec import (
    AbsenceSpec,
    AggSpec,
    Dispatch,
    GroupSpec,
    PackSpec,
    PipeSpec,
    RuleSpec,
    StepSpec,
)

from . import ir
from .check import CheckedPack
from .codegen import (
    Consts,
    ExprCompiler,
    Queries,
    Writer,
    collect_loads,
    hoist_loads,
    namespace,
)

INDEX_PREFERENCE = ("route", "method", "status", "path", "host", "rule", "ttp", "user", "country", "asn")
INDEXABLE = frozenset(n for n, t in FIELDS.items() if t in ("str", "int", "ip")) | {"rule", "ttp", "goal", "severity"}
FORMAT_VERSION = "sleuth-pack-1"


def compile_pack(checked: CheckedPack, *, name: str = "pack") -> PackSpec:
    """Compile a checked pack to a `PackSpec` (raises nothing for a checked pack)."""
    rules = [compile_rule(i, r) for i, r in enumerate(checked.rules)]
    event_rules = [(r, spec) for r, spec in zip(checked.rules, rules) if r.source == "events"]
    match_rules = [(r, spec) for r, spec in zip(checked.rules, rules) if r.source == "matches"]
    events = build_dispatch("events", event_rules)
    matches = build_dispatch("matches", match_rules)
    lists = [lst for spec in rules for lst in spec.lists]
    for g in events.groups() + matches.groups():
        lists.extend(g.lists)
    queries = [q for spec in rules for q in spec.queries] + [q for g in events.groups() for q in g.queries]
    return PackSpec(name, pack_fingerprint(checked), tuple(rules), events, matches,
                    tests=checked.tests, lists=tuple(lists),
                    fields=fields_read(checked.rules) | {q.of[0] for q in queries if q.of},
                    population=sketch_specs(queries), sharing=window_sharing(checked.rules, rules))


def window_sharing(rules, specs) -> tuple:
    """The window rules that could share one per-key slice store (#18): a plan, shown by
    `sleuth explain PACK --pack`; the engine does not share state yet.

    Rules share a store when they read the same stream, key by the same
    expressions and slide (sliding windows only: tumbling and session windows
    close on their own boundaries). The store's slice is the greatest common
    divisor of 1/60 of each span (whole milliseconds), so every rule's window
    is a whole number of slices. Within a store, aggregates with the same text
    over the same `where` are computed once per event instead of once per rule.
    Returns tuples `(source, key text, slice seconds, members)`, members being
    `(rule, span seconds, where text, aggregate labels)`, largest stores first;
    stores of one rule are left out.
    """
    groups: dict[tuple, list] = {}
    for r, spec in zip(rules, specs):
        if r.kind != "window" or r.window_kind != "sliding" or not r.window_size:
            continue
        key = (r.source, ", ".join(k.dotted for k in r.keys) or "(global)")
        where = ir.ir_text(r.cond) if r.cond is not None else "true"
        groups.setdefault(key, []).append((r.name, float(r.window_size), where, tuple(a.label for a in spec.aggs)))
    out = []
    for (source, key), members in groups.items():
        if len(members) < 2:
            continue
        slice_ms = 0
        for _name, span, _w, _a in members:
            slice_ms = math.gcd(slice_ms, max(1, int(round(span * 1000 / 60))))
        out.append((source, key, slice_ms / 1000, tuple(members)))
    out.sort(key=lambda g: (-len(g[3]), g[1]))
    return tuple(out)


def sharing_text(sharing: tuple) -> str:
    """`sleuth explain --pack`: the shared-store plan as text, with the per-event updates it saves."""
    if not sharing:
        return "window state sharing: no two sliding window rules key by the same expressions\n"
    lines = ["window state sharing plan (the engine keeps one window per rule and key today; a shared",
             "store would keep one per key, in slices, with each aggregate once per distinct where):"]
    total_aggs = total_once = 0
    for n, (source, key, slice_s, members) in enumerate(sharing, 1):
        spans = sorted(m[1] for m in members)
        lines.append(f"  store {n}: by {key} ({source}), {len(members)} rules, spans "
                     f"{format_duration(spans[0])}..{format_duration(spans[-1])}, slice {format_duration(slice_s)}")
        for name, span, _where, aggs in members:
            lines.append(f"    {name:<36} {format_duration(span):>5}  {len(aggs)} aggregate(s)")
        seen: dict[tuple, list] = {}
        for name, _span, where, aggs in members:
            for a in aggs:
                seen.setdefault((where, a), []).append(name)
        shared = [(k, v) for k, v in seen.items() if len(v) > 1]
        n_aggs = sum(len(m[3]) for m in members)
        total_aggs += n_aggs
        total_once += len(seen)
        lines.append(f"    buffers per key: {len(members)} -> 1; aggregate updates per event: {n_aggs} -> {len(seen)}")
        for (where, a), names in shared:
            lines.append(f"    once: {a} over where {where}: {', '.join(names)}")
    lines.append(f"  in all: {sum(len(g[3]) for g in sharing)} rules in {len(sharing)} stores; "
                 f"aggregate updates {total_aggs} -> {total_once}")
    return "\n".join(lines) + "\n"


def fields_read(rules) -> frozenset:
    """Top-level event fields any rule reads (conditions, keys, aggregates, emits, ...)."""
    exprs: list = []
    for r in rules:
        exprs += [r.cond, r.having, r.until, *r.keys, *r.fingerprint, *r.suppress_keys, *(r.until_keys or ())]
        for p in r.pipes:
            exprs += [*p.exprs, *p.keys]
        exprs += [e for _n, e in r.emits]
        for st in r.steps:
            exprs += [st.cond, st.join, st.having, *st.keys]
        for a in r.absences:
            exprs += [a.cond, a.join]
    out = {p[0] for p in collect_loads([e for e in exprs if e is not None])}
    for r in rules:
        out |= {p[0] for p in r.fields}
    return frozenset(out)


def pack_fingerprint(checked: CheckedPack) -> str:
    """A hash of the pack's file names and texts (snapshots are tied to it)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(FORMAT_VERSION.encode())
    for path in sorted(checked.sources):
        h.update(path.encode("utf-8", "replace"))
        h.update(b"\0")
        h.update(checked.sources[path].encode("utf-8", "replace"))
        h.update(b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------- one rule


def _bind_paths(rule: ir.Rule) -> dict[int, list[tuple[str, ...]]]:
    """For each step, the paths of it that later parts of the rule read."""
    out: dict[int, set] = {}
    exprs: list[ir.Expr] = []
    for s in rule.steps:
        if s.join is not None:
            exprs.append(s.join)
        if s.having is not None:
            exprs.append(s.having)
    for a in rule.absences:
        if a.join is not None:
            exprs.append(a.join)
    exprs += [e for _n, e in rule.emits]
    exprs += list(rule.fingerprint)
    for p in rule.pipes:
        exprs += [*p.exprs, *p.keys]
    for e in exprs:
        for n in ir.walk(e):
            if isinstance(n, ir.StepRef):
                out.setdefault(n.step, set()).add(n.path)
    return {k: sorted(v) for k, v in out.items()}


def _aggs_of(exprs) -> list[ir.Agg]:
    """Aggregates used, baselines' inner aggregates included, first-use order, unique."""
    seen: list[ir.Agg] = []
    for e in exprs:
        if e is None:
            continue
        for n in ir.walk(e):
            if isinstance(n, ir.Agg):
                if n.inner is not None and n.inner not in seen:
                    seen.append(n.inner)
                if n not in seen:
                    seen.append(n)
    return seen


#: Aggregates whose value never exceeds the window's event count.
_AT_MOST_COUNT = frozenset({"count", "distinct", "changes"})


def window_guard(having: ir.Expr | None) -> int:
    """Events a window must hold before `having` can be true (0: no such bound).

    Read from `having`'s top-level conjuncts of the form `agg >= N` / `agg > N`
    (either side) where `agg` is `count()`, `count(p)`, `distinct(x)` or
    `changes(x)`, none of which exceeds the window's event count: below the
    largest such N the rule needs no aggregate but the count (issue: 64% of
    sliding updates on the shipped pack were at keys below it).
    """
    if having is None:
        return 0
    conj = having.operands if isinstance(having, ir.And) else (having,)
    best = 0
    for c in conj:
        if not isinstance(c, ir.Compare):
            continue
        op, left, right = c.op, c.left, c.right
        if isinstance(left, ir.Const):
            left, right = right, left
            op = {"<=": ">=", "<": ">"}.get(op, "")
        if not (isinstance(left, ir.Agg) and left.kind in _AT_MOST_COUNT and isinstance(right, ir.Const)):
            continue
        v = right.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
            continue
        if op == ">=":
            need = math.ceil(v)
        elif op == ">":
            need = math.floor(v) + 1
        else:
            continue
        if left.kind == "changes":
            need += 1       # n changes need n + 1 events
        best = max(best, int(need))
    return min(best, 1 << 30)


def _agg_specs(aggs: list[ir.Agg], arg_index: dict[ir.Expr, int]) -> tuple[AggSpec, ...]:
    out = []
    for a in aggs:
        arg = arg_index[a.args[0]] if a.args else None
        inner = aggs.index(a.inner) if a.inner is not None else None
        out.append(AggSpec(a.kind, a.label(), arg, a.param, inner))
    return tuple(out)


class _RuleGen:
    """Writes one rule's generated module."""

    def __init__(self, rule: ir.Rule):
        self.rule = rule
        self.w = Writer()
        self.w.rule = rule.name
        self.consts = Consts()
        self.queries = Queries()
        self.funcs: list[str] = []
        self.binds = _bind_paths(rule)

    def steprefs(self) -> dict:
        out = {}
        for step, paths in self.binds.items():
            for i, p in enumerate(paths):
                out[(step, p)] = f"b[{step}][{i}]"
        return out

    def func(self, name: str, params: str, exprs, body, span=None, *, stop_at_agg=True) -> None:
        """def name(params): hoisted loads, then body(compiler) lines."""
        w = self.w
        w.line(f"def {name}({params}):", span or self.rule.span)
        w.indent()
        loads: dict = {}
        paths = collect_loads(exprs, stop_at_agg=stop_at_agg)
        if paths:
            w.line("get = ev.get", span or self.rule.span)
            loads = hoist_loads(w, self.consts, paths, span=span or self.rule.span)
        comp = ExprCompiler(self.consts, loads, steprefs=self.steprefs(), queries=self.queries)
        body(comp)
        w.dedent()
        self.funcs.append(name)

    def key_func(self, name: str, keys: tuple[ir.Expr, ...]) -> None:
        def body(c: ExprCompiler):
            names = []
            for k in keys:
                v = c.value(k)
                if not isinstance(k, ir.Load):
                    # An expression key is computed once into a local.
                    t = f"t{next(c.tmp)}"
                    self.w.line(f"{t} = {v}", k.span)
                    v = t
                names.append(v)
            bad = " or ".join(f"{n} is None or type({n}) is dict or type({n}) is list" for n in names)
            self.w.line(f"if {bad}:")
            self.w.line("    return None")
            self.w.line(f"return {names[0]}" if len(names) == 1 else f"return ({', '.join(names)},)")
        self.func(name, "ev", keys, body, keys[0].span if keys else None)

    def tuple_func(self, name: str, params: str, exprs: list[ir.Expr], *, cond: bool = False, span=None) -> None:
        def body(c: ExprCompiler):
            vals = [c.cond(e) if cond and e.type == ir.BOOL else c.value(e) for e in exprs]
            self.w.line(f"return ({', '.join(vals)}{',' if len(vals) == 1 else ''})" if vals else "return ()")
        self.func(name, params, exprs, body, span)

    def record_func(self, name: str, paths: tuple[tuple[str, ...], ...]) -> None:
        loads = [ir.Load(p) for p in paths]
        self.tuple_func(name, "ev", loads)

    def cond_func(self, name: str, params: str, e: ir.Expr, aggs: dict | None = None) -> None:
        def body(c: ExprCompiler):
            if aggs:
                c.aggs = aggs
            self.w.line(f"return {c.cond(e)}", e.span)
        self.func(name, params, [e], body, e.span)

    def dict_func(self, name: str, params: str, entries, aggs: dict | None = None) -> None:
        def body(c: ExprCompiler):
            if aggs:
                c.aggs = aggs
            self.w.line("return {")
            for key, e in entries:
                self.w.line(f"    {self.consts.add(key)}: {c.value(e)},", e.span)
            self.w.line("}")
        self.func(name, params, [e for _k, e in entries], body)


def compile_rule(index: int, rule: ir.Rule) -> RuleSpec:
    """Generate, compile and wire one rule's functions into its `RuleSpec` (with explain text)."""
    g = _RuleGen(rule)
    w = g.w
    fns: dict[str, str] = {}

    def reg(role: str, fname: str) -> None:
        fns[role] = fname

    if rule.keys:
        g.key_func("key", rule.keys)
        reg("key", "key")
    g.record_func("record", rule.fields)
    reg("record", "record")

    steps_specs_args: list[dict] = []
    aggs: list[ir.Agg] = []
    agg_index: dict[ir.Agg, int] = {}
    if rule.kind == "window":
        aggs = _aggs_of([rule.having] + [e for _n, e in rule.emits] + list(rule.fingerprint))
        agg_index = {a: i for i, a in enumerate(aggs)}
        args = []
        for a in aggs:
            if a.args and a.args[0] not in args:
                args.append(a.args[0])
        arg_index = {a: i for i, a in enumerate(args)}
        g.tuple_func("extract", "ev", args, cond=True)
        reg("extract", "extract")

        def prep_body(c: ExprCompiler, _args=args):
            # Key, aggregate arguments and provenance values in one pass over the event.
            if rule.keys:
                names = [c.value(k) for k in rule.keys]
                bad = " or ".join(f"{n} is None or type({n}) is dict or type({n}) is list" for n in names)
                g.w.line(f"if {bad}:")
                g.w.line("    return None")
                key = names[0] if len(names) == 1 else f"({', '.join(names)},)"
            else:
                key = "()"
            vals = [c.cond(e) if e.type == ir.BOOL else c.value(e) for e in _args]
            recs = [c.value(ir.Load(p)) for p in rule.fields]
            tv = f"({', '.join(vals)}{',' if len(vals) == 1 else ''})" if vals else "()"
            tr = f"({', '.join(recs)}{',' if len(recs) == 1 else ''})" if recs else "()"
            g.w.line(f"return ({key}, {tv}, {tr})")
        g.func("prep", "ev", list(rule.keys) + list(args) + [ir.Load(p) for p in rule.fields], prep_body)
        reg("prep", "prep")
        g.cond_func("having", "A, ev", rule.having, agg_index)
        reg("having", "having")
        agg_specs = _agg_specs(aggs, arg_index)
    else:
        agg_specs = ()

    for s in rule.steps:
        sa: dict[str, Any] = {}
        if s.keys != rule.keys:
            g.key_func(f"key_{s.index}", s.keys)
            sa["key"] = f"key_{s.index}"
        g.record_func(f"record_{s.index}", s.fields)
        sa["record"] = f"record_{s.index}"
        if s.join is not None:
            g.cond_func(f"join_{s.index}", "ev, b", s.join)
            sa["join"] = f"join_{s.index}"
        if s.index in g.binds:
            g.record_func(f"bind_{s.index}", tuple(g.binds[s.index]))
            sa["bind"] = f"bind_{s.index}"
        if s.having is not None:
            saggs = _aggs_of([s.having])
            sargs = []
            for a in saggs:
                if a.args and a.args[0] not in sargs:
                    sargs.append(a.args[0])
            g.tuple_func(f"extract_{s.index}", "ev", sargs, cond=True)
            g.cond_func(f"having_{s.index}", "A, ev", s.having, {a: i for i, a in enumerate(saggs)})
            sa["extract"] = f"extract_{s.index}"
            sa["having"] = f"having_{s.index}"
            sa["aggs"] = _agg_specs(saggs, {a: i for i, a in enumerate(sargs)})
        steps_specs_args.append(sa)
    for ai, a in enumerate(rule.absences):
        if a.join is not None:
            g.cond_func(f"absence_join_{ai}", "ev, b", a.join)
            fns[f"absence_join_{ai}"] = f"absence_join_{ai}"
    if rule.kind == "window":
        tops = sorted({p[0] for p in collect_loads([e for _n, e in rule.emits] + list(rule.fingerprint)
                                                  + [rule.having] + list(rule.suppress_keys), stop_at_agg=True)})
        if tops:
            w.line("def view(ev):", rule.span)
            w.line("    get = ev.get", rule.span)
            w.line("    return {" + ", ".join(f"{g.consts.add(t)}: get({g.consts.add(t)})" for t in tops) + "}",
                   rule.span)
            g.funcs.append("view")
            reg("view", "view")
    if rule.emits:
        g.dict_func("emit", "ev, A, b", list(rule.emits), agg_index)
        reg("emit", "emit")
    if rule.fingerprint:
        def fp_body(c: ExprCompiler):
            c.aggs = agg_index
            vals = [c.value(e) for e in rule.fingerprint]
            w.line(f"return ({', '.join(vals)},)")
        g.func("fingerprint", "ev, A, b", list(rule.fingerprint), fp_body)
        reg("fingerprint", "fingerprint")
    if rule.suppress_keys:
        g.key_func("suppress_key", rule.suppress_keys)
        reg("suppress_key", "suppress_key")
    if rule.until_keys is not None:
        g.key_func("until_key", rule.until_keys)
        reg("until_key", "until_key")
    if rule.pipes:
        def pipe_body(c: ExprCompiler):
            vals = []
            for p in rule.pipes:
                if p.kind == "filter":
                    vals.append(c.cond(p.exprs[0]))
                else:
                    items = [c.value(e) for e in (p.exprs if p.kind == "unique" else p.keys)]
                    vals.append(f"({', '.join(items)}{',' if len(items) == 1 else ''})" if items else "()")
            w.line(f"return ({', '.join(vals)}{',' if len(vals) == 1 else ''})")
        g.func("pipe_values", "ev, b", [e for p in rule.pipes for e in (*p.exprs, *p.keys)], pipe_body)
        reg("pipe_values", "pipe_values")

    # Wrap everything into a factory binding the constants.
    consts = g.consts
    returns = "{" + ", ".join(f"{n!r}: {n}" for n in sorted(set(g.funcs))) + "}"
    filename = unique_filename("rule", f"{rule.name} {rule.file}")
    queries = g.queries
    factory, source, lines_map = compile_factory(w, consts, "make_rule", returns, filename, namespace(),
                                                 tuple(queries.names))
    table = factory(*consts.values, *queries.unbound())

    def fn(name):
        return table.get(name) if name else None

    step_specs = []
    for s, sa in zip(rule.steps, steps_specs_args):
        step_specs.append(StepSpec(
            name=s.name, index=s.index, min=s.min, max=s.max, gap=s.gap,
            key=fn(sa.get("key")), join=fn(sa.get("join")), bind=fn(sa.get("bind")),
            record=fn(sa["record"]), fields=tuple(".".join(p) for p in s.fields),
            window=s.window, key_names=tuple(ir.key_label(k) for k in s.keys), aggs=sa.get("aggs", ()),
            extract=fn(sa.get("extract")),
            having=fn(sa.get("having")), fork=s.fork))
    absences = tuple(
        AbsenceSpec(a.name, a.start, a.end, a.within, fn(fns.get(f"absence_join_{ai}")))
        for ai, a in enumerate(rule.absences))
    meta = dict(rule.meta)
    spec = RuleSpec(
        index=index, name=rule.name, kind=rule.kind, source=rule.source, ttp=rule.ttp, goal=rule.goal,
        severity=rule.severity, title=rule.title, meta=meta, file=rule.file, line=rule.span.line,
        key_names=tuple(ir.key_label(k) for k in rule.keys), key=fn(fns.get("key")),
        record=fn(fns["record"]), record_fields=tuple(".".join(p) for p in rule.fields),
        emit=fn(fns.get("emit")), fingerprint=fn(fns.get("fingerprint")),
        suppress=rule.suppress, suppress_key=fn(fns.get("suppress_key")),
        limits=dict(rule.limits), within=rule.within, steps=tuple(step_specs), absences=absences,
        has_until=rule.until is not None, until_key=fn(fns.get("until_key")),
        window_kind=rule.window_kind, window_size=rule.window_size,
        window_gap=rule.window_gap, aggs=agg_specs, extract=fn(fns.get("extract")),
        having=fn(fns.get("having")), sustain=rule.sustain, refire=rule.refire,
        refire_after=rule.refire_after, consumes=rule.consumes, view=fn(fns.get("view")), filename=filename,
        lines=lines_map, lists=tuple(consts.reloadable), prep=fn(fns.get("prep")), source_text=source,
        window_guard=window_guard(rule.having) if rule.kind == "window" else 0,
        pipes=tuple(PipeSpec(p.kind, _pipe_label(p), p.count) for p in rule.pipes),
        pipe_values=fn(fns.get("pipe_values")),
        explain_text="", constants=tuple(consts.listing()), queries=tuple(queries.specs),
        requery=(lambda *fns, _f=factory, _c=tuple(consts.values): _f(*_c, *fns)) if queries.specs else None)
    object.__setattr__(spec, "explain_text", explain_rule(rule, spec, source, lines_map))
    return spec


def _pipe_label(p: ir.Pipe) -> str:
    """The pipe as explain and provenance show it (`| head 5 by user`)."""
    if p.kind == "head":
        keys = f" by {', '.join(ir.key_label(k) for k in p.keys)}" if p.keys else ""
        return f"| head {p.count}{keys}"
    return f"| {p.kind} {', '.join(ir.ir_text(e) for e in p.exprs)}"


# ---------------------------------------------------------------- dispatch


def _necessary(e: ir.Expr | None) -> dict[str, frozenset] | None:
    """Field → values some event must have for `e` to hold; None = no such field."""
    if e is None:
        return None
    if isinstance(e, ir.Compare) and e.op == "==":
        left, right = e.left, e.right
        if isinstance(left, ir.Const):
            left, right = right, left
        if isinstance(left, ir.Load) and len(left.path) == 1 and left.path[0] in INDEXABLE \
                and isinstance(right, ir.Const) and isinstance(right.value, (str, int)) \
                and not isinstance(right.value, bool):
            return {left.path[0]: frozenset({right.value})}
        return None
    if isinstance(e, ir.In) and not e.negated and isinstance(e.item, ir.Load) and len(e.item.path) == 1 \
            and e.item.path[0] in INDEXABLE and isinstance(e.container, ir.SetConst) \
            and e.container.kind in ("str", "int") and len(e.container.values) <= 64:
        return {e.item.path[0]: e.container.values}
    if isinstance(e, ir.And):
        out: dict[str, frozenset] = {}
        for o in e.operands:
            n = _necessary(o)
            for f, vals in (n or {}).items():
                out[f] = out[f] & vals if f in out else vals
        return out or None
    if isinstance(e, ir.Or):
        parts = [_necessary(o) for o in e.operands]
        if any(p is None for p in parts):
            return None
        common = set(parts[0])
        for p in parts[1:]:
            common &= set(p)
        out = {f: frozenset().union(*(p[f] for p in parts)) for f in common}
        return out or None
    return None


def rule_conditions(rule: ir.Rule) -> list[ir.Expr]:
    """The event-level conditions a rule evaluates per event, in bit order."""
    if rule.kind == "event":
        return [rule.cond]
    if rule.kind == "window":
        return [rule.cond if rule.cond is not None else ir.TRUE]
    out = [s.cond for s in rule.steps]
    if rule.until is not None:
        out.append(rule.until)
    out += [a.cond for a in rule.absences]
    return out


def choose_index(rule: ir.Rule) -> tuple[str, frozenset] | None:
    """The dispatch field and values every event the rule can use must have; None: every event."""
    conds = rule_conditions(rule)
    interest = conds[0] if len(conds) == 1 else ir.Or(tuple(conds))
    nec = _necessary(interest)
    if not nec:
        return None
    def rank(item):
        f, vals = item
        pref = INDEX_PREFERENCE.index(f) if f in INDEX_PREFERENCE else len(INDEX_PREFERENCE)
        return (len(vals), pref, f)
    f, vals = min(nec.items(), key=rank)
    return f, vals


def _specialise(e: ir.Expr, field: str, value) -> ir.Expr:
    """Fold conditions on the index field, knowing the event's value."""
    if isinstance(e, ir.Compare) and e.op in ("==", "!="):
        left, right = e.left, e.right
        if isinstance(left, ir.Const):
            left, right = right, left
        if isinstance(left, ir.Load) and left.path == (field,) and isinstance(right, ir.Const) \
                and not isinstance(right.value, bool):
            same = right.value == value
            return ir.TRUE if same == (e.op == "==") else ir.FALSE
        return e
    if isinstance(e, ir.In) and isinstance(e.item, ir.Load) and e.item.path == (field,) \
            and isinstance(e.container, ir.SetConst) and e.container.kind in ("str", "int", "num"):
        inside = value in e.container.values
        return ir.TRUE if inside != e.negated else ir.FALSE
    if isinstance(e, ir.And):
        ops = [_specialise(o, field, value) for o in e.operands]
        if any(o == ir.FALSE for o in ops):
            return ir.FALSE
        ops = [o for o in ops if o != ir.TRUE]
        return ir.TRUE if not ops else ops[0] if len(ops) == 1 else ir.And(tuple(ops), span=e.span)
    if isinstance(e, ir.Or):
        ops = [_specialise(o, field, value) for o in e.operands]
        if any(o == ir.TRUE for o in ops):
            return ir.TRUE
        ops = [o for o in ops if o != ir.FALSE]
        return ir.FALSE if not ops else ops[0] if len(ops) == 1 else ir.Or(tuple(ops), span=e.span)
    if isinstance(e, ir.Not):
        inner = _specialise(e.operand, field, value)
        if inner == ir.TRUE:
            return ir.FALSE
        if inner == ir.FALSE:
            return ir.TRUE
        return ir.Not(inner, span=e.span)
    return e


def build_dispatch(kind: str, rules: list[tuple[ir.Rule, RuleSpec]]) -> Dispatch:
    """The index (field -> value -> bucket function) and the every-event function for these rules."""
    by_field: dict[str, dict[Any, list]] = {}
    always: list = []
    for rule, spec in rules:
        choice = choose_index(rule)
        if choice is None:
            always.append((rule, spec, None))
            continue
        f, vals = choice
        for v in sorted(vals, key=repr):
            by_field.setdefault(f, {}).setdefault(v, []).append((rule, spec, (f, v)))
    index = []
    for f in sorted(by_field, key=lambda f: (INDEX_PREFERENCE.index(f) if f in INDEX_PREFERENCE else 99, f)):
        table = {}
        for v, members in by_field[f].items():
            table[v] = generate_group(f"{kind} {f}={v!r}", members)
        index.append((f, table))
    return Dispatch(tuple(index), generate_group(f"{kind} always", always) if always else None)


def generate_group(label: str, members: list[tuple[ir.Rule, RuleSpec, tuple | None]]) -> GroupSpec:
    """One dispatch function evaluating `members`' conditions for one bucket."""
    w = Writer()
    consts = Consts()
    plans = []
    all_conds: list[ir.Expr] = []
    for rule, spec, spec_key in members:
        conds = rule_conditions(rule)
        if spec_key is not None:
            conds = [_specialise(c, spec_key[0], spec_key[1]) for c in conds]
        plans.append((rule, spec, conds))
        all_conds += conds
    # Shared conditions: comparison-level nodes used by two or more conditions.
    counts: dict[ir.Expr, int] = {}
    for c in all_conds:
        seen_here = set()
        for n in ir.walk(c):
            if isinstance(n, (ir.Compare, ir.In, ir.Glob, ir.Regex, ir.Call)) and n not in seen_here:
                seen_here.add(n)
                counts[n] = counts.get(n, 0) + 1
    shared_nodes = [n for n, k in counts.items() if k >= 2]
    w.line("def group(ev):")
    w.indent()
    paths = collect_loads(all_conds)
    if paths:
        w.line("get = ev.get")
    loads = hoist_loads(w, consts, paths, getter="get") if paths else {}
    queries = Queries()
    comp = ExprCompiler(consts, loads, queries=queries)
    shared: dict[ir.Expr, str] = {}
    for i, n in enumerate(shared_nodes):
        w.line(f"c{i} = {comp.value(n)}", n.span)
        shared[n] = f"c{i}"
    comp.shared = shared
    slots = []
    handler_names = []
    for rule, spec, conds in plans:
        h = f"h{len(slots)}"
        if rule.kind in ("event", "window"):
            # One condition (`when` or `where`); the handler takes the event.
            slots.append((spec.index, "fire" if rule.kind == "event" else "win"))
            c = conds[0]
            if c == ir.FALSE:
                continue
            w.line(f"# rule {rule.name}", rule.span, rule.name)
            if c == ir.TRUE:
                w.line(f"{h}(ev)", rule.span, rule.name)
            else:
                w.line(f"if {comp.cond(c)}:", c.span, rule.name)
                w.line(f"    {h}(ev)", c.span, rule.name)
        else:
            slots.append((spec.index, "seq"))
            live = [(bit, c) for bit, c in enumerate(conds) if c != ir.FALSE]
            if not live:
                continue
            w.line(f"# rule {rule.name}", rule.span, rule.name)
            w.line("m = 0", rule.span, rule.name)
            for bit, c in live:
                if c == ir.TRUE:
                    w.line(f"m |= {1 << bit}", rule.span, rule.name)
                else:
                    w.line(f"if {comp.cond(c)}:", c.span, rule.name)
                    w.line(f"    m |= {1 << bit}", c.span, rule.name)
            w.line("if m:", rule.span, rule.name)
            w.line(f"    {h}(ev, m)", rule.span, rule.name)
        handler_names.append(h)
    if len(w.lines) == 1:
        w.line("pass")
    w.dedent()
    filename = unique_filename("dispatch", label)
    factory, source, line_map = compile_factory(w, consts, "make_group", "group", filename, namespace(),
                                                tuple(f"h{i}" for i in range(len(slots))) + tuple(queries.names))
    bound = consts.values

    def make(*handlers, _factory=factory, _bound=bound):
        return _factory(*_bound, *handlers)

    return GroupSpec(label, filename, source, make, tuple(slots), line_map, tuple(consts.reloadable),
                     tuple(consts.listing()), tuple(queries.specs))


# ---------------------------------------------------------------- explain


def _within_line(rule: ir.Rule, spec: RuleSpec) -> str:
    if rule.within is None:
        return (f"  within: unbounded (no time limit); state bounded by limit keys={spec.limit('keys')}"
                + (f" and partials={spec.limit('partials')}" if rule.kind == "sequence" else ""))
    if rule.kind == "join":
        return f"  within: {format_duration(rule.within)}: a step's event older than that is dropped (a match spans at most that)"
    return f"  within: {format_duration(rule.within)} from the first step's event to the last (inclusive)"


def _explain_until(rule: ir.Rule, out: list[str]) -> None:
    if rule.until is None:
        return
    if rule.until_keys is not None:
        keys = ", ".join(ir.key_label(k) for k in rule.until_keys)
        out.append(f"  until: {ir.ir_text(rule.until)}  key({keys})  -> drops the partial matches at that key")
    else:
        out.append(f"  until: {ir.ir_text(rule.until)}  -> drops the key's partial matches")


def _population_of(rule: ir.Rule) -> list:
    """The population statistics a rule reads, in first-use order (as `QuerySpec`s)."""
    exprs = [rule.cond, rule.having, rule.until, *(e for _n, e in rule.emits), *rule.fingerprint,
             *rule.keys, *(rule.until_keys or ()), *(x for p in rule.pipes for x in (*p.exprs, *p.keys))]
    for st in rule.steps:
        exprs += [st.cond, st.join, st.having, *st.keys]
    for a in rule.absences:
        exprs += [a.cond, a.join]
    out: list = []
    for e in exprs:
        for n in ir.walk(e) if e is not None else ():
            if isinstance(n, ir.Population):
                q = QuerySpec(n.kind, n.key.path, n.horizon, n.of, n.period)
                if q not in out:
                    out.append(q)
    return out


def explain_rule(rule: ir.Rule, spec: RuleSpec, source: str, lines_map: dict) -> str:
    """The machine as a disassembly, the generated source tagged by rule-file line, its constants."""
    out = []
    out.append(f"rule {rule.name}  {rule.kind}  ({rule.file}:{rule.span.line})")
    out.append(f"  ttp={rule.ttp}  goal={rule.goal}  severity={rule.severity}  source={rule.source}")
    out.append(f"  key: {', '.join(ir.key_label(k) for k in rule.keys) or '(none: one global key)'}")
    lim = ", ".join(f"{k}={spec.limit(k)}" for k in ("keys", "partials", "events", "distinct", "values", "window")
                    + (("unique",) if any(p.kind == "unique" for p in rule.pipes) else ()))
    out.append(f"  limits: {lim}")
    if rule.kind == "event":
        out.append(f"  when: {ir.ir_text(rule.cond)}")
        out.append("  transition: event --when--> match")
    elif rule.kind == "join":
        out.append(_within_line(rule, spec))
        out.append("  join: each step once, in any order; the first event per step and key is kept; "
                   "complete -> match, the key starts over")
        for s in rule.steps:
            keys = ", ".join(ir.key_label(k) for k in s.keys) or "(global)"
            out.append(f"    step {s.name}: {ir.ir_text(s.cond)}  key({keys})")
        _explain_until(rule, out)
    elif rule.kind == "sequence":
        out.append(_within_line(rule, spec))
        out.append(f"  partial policy: newest wins, {spec.limit('partials')} per state and key; steps checked last to first")
        sid = 0
        out.append("  states:")
        for s in rule.steps:
            rep = "" if (s.min, s.max) == (1, 1) else (
                f"  repeat {s.min}" if s.max == s.min else
                f"  repeat >= {s.min}" if s.max is None else f"  repeat {s.min}..{s.max}")
            for c in range(1, s.min + 1):
                tag = f"{s.name}#{c}"
                extra = ""
                if c == s.min and (s.max is None or s.max > s.min):
                    extra = f"  (absorbs up to {'∞' if s.max is None else s.max} events)"
                last = s.index == len(rule.steps) - 1 and c == s.min
                out.append(f"    {sid:>3}  {tag:<16}{'-> match' if last and not rule.absences else ''}{extra}")
                sid += 1
            keys = ", ".join(ir.key_label(k) for k in s.keys) or "(global)"
            fork = "  fork" if s.fork else ""
            out.append(f"         step {s.name}: {ir.ir_text(s.cond)}{rep}{fork}  key({keys})")
            if s.join is not None:
                out.append(f"         join: {ir.ir_text(s.join)}")
            if s.gap is not None:
                out.append(f"         gap: at most {format_duration(s.gap)} after the previous step")
            if s.having is not None:
                out.append(f"         window {format_duration(s.window or 0)} having {ir.ir_text(s.having)}")
        _explain_until(rule, out)
        for a in rule.absences:
            if a.end is not None:
                out.append(f"  absence {a.name}: {ir.ir_text(a.cond)} between "
                           f"{rule.steps[a.start].name} and {rule.steps[a.end].name} -> kills those partials")
            else:
                out.append(f"  absence {a.name}: {ir.ir_text(a.cond)} after {rule.steps[a.start].name} "
                           f"within {format_duration(a.within or 0)} -> timer: match when the watermark passes the deadline")
    else:
        size = format_duration(rule.window_size) if rule.window_size else ""
        kind = f"session gap {format_duration(rule.window_gap)}" if rule.window_kind == "session" else f"{size} {rule.window_kind}"
        out.append(f"  window: {kind}")
        out.append(f"  where: {ir.ir_text(rule.cond) if rule.cond is not None else '(every event)'}")
        out.append(f"  having: {ir.ir_text(rule.having)}" + (f"  for {format_duration(rule.sustain)}" if rule.sustain else ""))
        out.append("  aggregates:")
        for i, a in enumerate(spec.aggs):
            out.append(f"    A[{i}] {a.label}")
        out.append(f"  refire: {rule.refire}" + (f" {format_duration(rule.refire_after)}" if rule.refire_after else ""))
    for p in spec.pipes:
        out.append(f"  pipe: {p.label}")
    if rule.suppress:
        out.append(f"  suppress: {format_duration(rule.suppress)}"
                   + (f" by {', '.join(ir.key_label(k) for k in rule.suppress_keys)}" if rule.suppress_keys else ""))
    pops = _population_of(rule)
    if pops:
        out.append("  population (stream-wide sketches, updated by every event before the rules):")
        out += [f"    {line}" for s in sketch_specs(pops) for line in describe_sketch(s)]
        out += [f"    reads {q.label()}" for q in pops]
    choice = choose_index(rule)
    if choice:
        vals = ", ".join(repr(v) for v in sorted(choice[1], key=repr))
        out.append(f"  dispatch: index on {choice[0]} in ({vals})")
    else:
        out.append("  dispatch: every event (no indexable equality)")
    out.append("")
    out.append("generated source:")
    for i, text in enumerate(source.splitlines(), 1):
        info = lines_map.get(i)
        tag = f"{info.file}:{info.line}" if info else ""
        out.append(f"  {i:>3} | {text:<78} # {tag}" if tag else f"  {i:>3} | {text}")
    out.append("")
    out.append("constants:" if spec.constants else "constants: (none)")
    out += [f"  {line}" for line in spec.constants]
    return "\n".join(out) + "\n"
