"""What each rule needs from its input to be able to fire: required fields and route templates.

A stage after checking, over the checked IR: a field is *required* by a rule
when the rule cannot match an event without it (a comparison, `in`, `~`,
`=~` or function with a missing field is false; `and` needs what either side
needs, `or` what both need, `not` nothing; sequence keys and every step with
a minimum of one; aggregates compared with a bound their empty value fails).
A required `route` compared only with templates that name a parameter
(`/users/{user_id}`) needs an OpenAPI document: the heuristic templater
writes every parameter as `{id}`.  `blind_rules` turns these and the field
coverage of a run into the rules that cannot fire on that input, and why.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping

import attrs

from ..engine.ingest.openapi import UNMATCHED
from . import ir

__all__ = ["OPENAPI_HINT", "Blind", "Needs", "blind_rules", "needed_paths", "pack_needs", "rule_needs",
           "template_only"]

# Functions that give a missing value (or false) for a missing argument (engine/prims.py).
_PROPAGATING = frozenset(("lower", "upper", "length", "startswith", "endswith", "contains", "exists", "int",
                          "str", "float", "cidr", "abs", "hour", "weekday"))
# An aggregate's value when none of its events carries its argument (None: undefined).
_EMPTY = {"count": 0, "ratio": 0.0, "distinct": 0, "sum": 0, "entropy": 0.0, "changes": 0,
          "min": None, "max": None, "avg": None}
_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_PARAM = re.compile(r"\{([^{}/]*)\}")


@attrs.frozen
class Needs:
    """One rule's needs: ``fields`` (dotted paths it cannot fire without), ``templates``
    (sets of route constants of which one is needed, each set naming only routes the
    heuristic templater never writes), ``consumes`` (for ``from matches``
    rules: the rules read; None: every event rule)."""

    rule: str
    source: str
    fields: tuple[str, ...] = ()
    templates: tuple[tuple[str, ...], ...] = ()
    consumes: tuple[str, ...] | None = None
    #: Route constants anywhere in the rule that only an OpenAPI document gives (the rule may miss events).
    template_routes: tuple[str, ...] = ()
    #: Whether the rule reads ``spec.*`` anywhere (only an OpenAPI document gives it).
    reads_spec: bool = False


def template_only(route: str) -> bool:
    """Whether only an OpenAPI document gives this route: it names a path parameter other than
    ``{id}``, or it is ``<unmatched>`` (a path the document does not describe)."""
    return route == UNMATCHED or any(name != "id" for name in _PARAM.findall(route))


def _path(e: ir.Expr) -> str | None:
    if isinstance(e, ir.Load):
        return e.dotted
    if isinstance(e, ir.StepRef):
        return ".".join(e.path)
    return None


def _values(e: ir.Expr) -> set:
    """Paths whose absence makes the value of ``e`` missing."""
    p = _path(e)
    if p is not None:
        return {p}
    if isinstance(e, ir.Arith):
        return _values(e.left) | _values(e.right)
    if isinstance(e, ir.Neg):
        return _values(e.operand)
    if isinstance(e, ir.Call) and e.name in _PROPAGATING:
        out: set = set()
        for a in e.args:
            out |= _values(a)
        return out
    return set()


def _agg_needs(agg: ir.Agg) -> set:
    """What an aggregate's argument needs for the aggregate to leave its empty value."""
    if not agg.args:
        return set()
    if agg.kind in ("count", "ratio"):
        return _req(agg.args[0])
    return _values(agg.args[0])


def _route_constants(other: ir.Expr) -> tuple[str, ...] | None:
    if isinstance(other, ir.Const) and type(other.value) is str:
        return (other.value,)
    if isinstance(other, ir.SetConst) and other.values and all(type(v) is str for v in other.values):
        return tuple(sorted(other.values))
    return None


def _templates(left: ir.Expr, right: ir.Expr) -> set:
    """A need of route templates from `route == c` / `route in S`, when no constant is heuristic."""
    for a, b in ((left, right), (right, left)):
        if isinstance(a, ir.Load) and a.path == ("route",):
            consts = _route_constants(b)
            if consts and all(template_only(c) for c in consts):
                return {("templates", consts)}
    return set()


def _compare(e: ir.Compare) -> set:
    out = _values(e.left) | _values(e.right)
    for agg, const, op in ((e.left, e.right, e.op), (e.right, e.left, _MIRROR.get(e.op, ""))):
        if isinstance(agg, ir.Agg) and isinstance(const, ir.Const) and agg.kind in _EMPTY and op in _OPS:
            empty = _EMPTY[agg.kind]
            try:
                holds = empty is not None and bool(_OPS[op](empty, const.value))
            except TypeError:
                holds = False
            if not holds:
                out |= _agg_needs(agg)
    if e.op == "==":
        out |= _templates(e.left, e.right)
    return out


def _req(e: ir.Expr | None) -> set:
    """Needs of ``e`` used as a condition: paths (str) and route-template needs (tuples)."""
    if e is None:
        return set()
    if isinstance(e, ir.And):
        out: set = set()
        for op in e.operands:
            out |= _req(op)
        return out
    if isinstance(e, ir.Or):
        parts = [_req(op) for op in e.operands]
        if not parts:
            return set()
        out = set.intersection(*parts)
        # Every branch needs some route template: the rule needs one of all of them.
        tpl = [[n for n in part if type(n) is tuple] for part in parts]
        if all(tpl):
            out.add(("templates", tuple(sorted({c for t in tpl for n in t for c in n[1]}))))
        return out
    if isinstance(e, ir.Not):
        return set()
    p = _path(e)
    if p is not None:
        return {p}
    if isinstance(e, ir.Compare):
        return _compare(e)
    if isinstance(e, ir.In):
        out = _values(e.item) | _values(e.container)
        if not e.negated:
            out |= _templates(e.item, e.container)
        return out
    if isinstance(e, (ir.Glob, ir.Regex)):
        return _values(e.left)
    if isinstance(e, ir.Call):
        return _values(e)
    if isinstance(e, ir.Agg):
        return _values(e.args[0]) if e.kind == "first_seen" and e.args else set()
    return set()


def _exprs(rule: ir.Rule) -> list[ir.Expr]:
    out = [rule.cond, rule.having, rule.until, *rule.keys, *rule.fingerprint, *(e for _n, e in rule.emits)]
    for st in rule.steps:
        out += [st.cond, st.join, st.having, *st.keys]
    for a in rule.absences:
        out += [a.cond, a.join]
    return [e for e in out if e is not None]


def _openapi_reads(rule: ir.Rule) -> tuple[tuple[str, ...], bool]:
    """Route constants only OpenAPI gives, and whether ``spec.*`` is read, anywhere in the rule."""
    routes: set[str] = set()
    spec = False
    for e in _exprs(rule):
        for n in ir.walk(e):
            if isinstance(n, ir.Load) and n.path[:1] == ("spec",):
                spec = True
            pair = (n.left, n.right) if isinstance(n, ir.Compare) and n.op in ("==", "!=") else \
                (n.item, n.container) if isinstance(n, ir.In) else None
            if pair is None:
                continue
            for a, b in (pair, pair[::-1]):
                if isinstance(a, ir.Load) and a.path == ("route",):
                    routes.update(c for c in (_route_constants(b) or ()) if template_only(c))
    return tuple(sorted(routes)), spec


def rule_needs(rule: ir.Rule) -> Needs:
    """The needs of one checked rule (see the module docstring)."""
    if rule.source == "matches":
        return Needs(rule.name, rule.source, consumes=rule.consumes)
    template_routes, reads_spec = _openapi_reads(rule)
    needs = _req(rule.cond)
    if rule.kind == "window":
        needs |= _req(rule.having)
    elif rule.kind == "sequence":
        needs |= {k.dotted for k in rule.keys}
        for st in rule.steps:
            if st.min < 1:
                continue
            needs |= _req(st.cond) | _req(st.join) | _req(st.having) | {k.dotted for k in st.keys}
    fields = tuple(sorted(n for n in needs if type(n) is str))
    templates = tuple(sorted(n[1] for n in needs if type(n) is tuple))
    return Needs(rule.name, rule.source, fields, templates, template_routes=template_routes,
                 reads_spec=reads_spec)


def pack_needs(rules: Iterable[ir.Rule]) -> list[Needs]:
    """``rule_needs`` of every rule of a checked pack, in pack order."""
    return [rule_needs(r) for r in rules]


def needed_paths(needs: Iterable[Needs]) -> set[str]:
    """Every field path some rule needs (what a run counts the coverage of)."""
    out: set[str] = set()
    for n in needs:
        out.update(n.fields)
    return out


OPENAPI_HINT = "pass --openapi or set it in the profile"


@attrs.frozen
class Blind:
    """Why a rule cannot see (part of) an input: ``cannot`` fire at all, or ``may_miss`` events."""

    rule: str
    cannot: bool
    why: str

    def text(self) -> str:
        """One line: ``rule: why``."""
        return f"{self.rule}: {self.why}"


def _shown(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def blind_rules(needs: Iterable[Needs], events: int, present: Mapping[str, int], *, openapi: bool,
                route_in_input: int = 0) -> list[Blind]:
    """The rules that cannot fire on an input, or may miss events of it, each with why (pack order).

    ``events`` is the number of events read, ``present[path]`` how many of
    them carry ``path``; ``openapi`` says whether routes come from an OpenAPI
    document, ``route_in_input`` how many events carried their own ``route``.
    A rule cannot fire when a field it needs is absent from every event, or
    when it needs route templates or ``spec.*`` and neither an OpenAPI
    document nor the input gives them; it may miss events when it compares
    ``route`` with such templates or reads ``spec.*`` elsewhere.  A ``from
    matches`` rule cannot fire when every rule it reads cannot, and may miss
    events when one of them cannot or may.  Nothing is listed before any
    event was read.
    """
    if events <= 0:
        return []
    needs = list(needs)
    no_templates = not openapi and route_in_input == 0
    found: dict[str, Blind] = {}
    for n in needs:
        if n.source == "matches":
            continue
        spec_needed = [p for p in n.fields if p == "spec" or p.startswith("spec.")]
        if no_templates and (n.templates or spec_needed):
            what = f"route templates ({_shown(list(n.templates[0]))})" if n.templates else \
                f"{_shown(spec_needed)} from an OpenAPI document"
            found[n.rule] = Blind(n.rule, True, f"needs {what}: {OPENAPI_HINT}")
            continue
        absent = [p for p in n.fields if present.get(p, 0) == 0]
        if absent:
            found[n.rule] = Blind(n.rule, True, f"needs {', '.join(absent)}: absent in 100% of events")
            continue
        if no_templates and n.template_routes:
            found[n.rule] = Blind(n.rule, False, f"may miss events: compares route with templates only an "
                                                 f"OpenAPI document gives ({_shown(list(n.template_routes))}): "
                                                 f"{OPENAPI_HINT}")
        elif no_templates and n.reads_spec:
            found[n.rule] = Blind(n.rule, False, f"may miss events: reads spec.* (from an OpenAPI document): "
                                                 f"{OPENAPI_HINT}")
    event_rules = [n.rule for n in needs if n.source != "matches"]
    for n in needs:
        if n.source != "matches":
            continue
        reads = [r for r in (list(n.consumes) if n.consumes is not None else event_rules) if r != n.rule]
        hit = [r for r in reads if r in found]
        if reads and all(found[r].cannot for r in hit) and len(hit) == len(reads):
            found[n.rule] = Blind(n.rule, True, f"needs matches of {_shown(reads)}, which cannot fire on this input")
        elif hit:
            found[n.rule] = Blind(n.rule, False, f"may miss events: reads matches of {_shown(hit)}, "
                                                 f"which cannot see all of this input")
    return [found[n.rule] for n in needs if n.rule in found]
