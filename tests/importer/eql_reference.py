"""A small reference evaluator of EQL's documented semantics, for the conformance tests.

It runs parsed EQL queries (the nodes of `sleuth.playground.importer.eql`)
directly over a list of events, the way EQL's own engine is documented to:
three-valued logic (a comparison with null is null, `not null` is null),
case-insensitive `==`/`in`/keys (unless `sensitive`), `==` with `*` as a
wildcard; a sequence keeps per step one partial per join key (newest wins),
checks steps last to first, drops partials older than `maxspan` on each event
of its types, applies `until` (its own key) before the steps, and `fork`
copies instead of moving; a join keeps the first event per position and key.
Pipes `head`, `tail`, `filter`, `unique`, `sort`, `count` run on the results.
It is written for these tests from EQL's documentation, independently of the
translation to sleuth rules, so the two can be compared event for event.
"""

from __future__ import annotations

import re

from sleuth.playground.importer import eql as E


def _fold(v, ins):
    if ins and isinstance(v, str):
        return v.lower()
    if isinstance(v, tuple):
        return tuple(_fold(x, ins) for x in v)
    return v


def _same_type(a, b) -> bool:
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    return (isinstance(a, str) and isinstance(b, str)) or (isinstance(a, num) and isinstance(b, num))


def _wild(pattern: str, value, ins: bool, question: bool = False):
    if not isinstance(value, str):
        return None
    rx = "".join(".*" if c == "*" else "." if (c == "?" and question) else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S | (re.I if ins else 0)) is not None


class Reference:
    """Evaluate queries with EQL's semantics; `run(query, events)` -> list of results (lists of events)."""

    def __init__(self, sensitive: bool = False, type_field: str = "event_type"):
        self.ins = not sensitive
        self.type_field = type_field

    # -- expressions (None = null)
    def val(self, n, scope):
        if isinstance(n, E.Lit):
            return n.value
        if isinstance(n, E.Fld):
            parts = list(n.parts)
            ev = scope[0]
            if parts[0] == "events" and len(parts) > 2 and isinstance(parts[1], int):
                ev = scope[parts[1]] if parts[1] < len(scope) else None
                parts = parts[2:]
            v = ev
            for p in parts:
                if isinstance(v, dict):
                    v = v.get(p)
                elif isinstance(p, int) and isinstance(v, list) and p < len(v):
                    v = v[p]
                else:
                    return None
            return v
        if isinstance(n, E.Math):
            a, b = self.val(n.left, scope), self.val(n.right, scope)
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
                return None
            if n.op in "/%" and b == 0:
                return None
            return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "%": a % b}[n.op]
        if isinstance(n, E.Neg):
            a = self.val(n.term, scope)
            return -a if isinstance(a, (int, float)) and not isinstance(a, bool) else None
        if isinstance(n, E.Call):
            return self.call(n, scope)
        return self.cond(n, scope)

    def call(self, n, scope):
        a = [self.val(x, scope) for x in n.args]
        ins = self.ins or n.insensitive
        name = n.name
        if name == "length":
            return len(a[0]) if isinstance(a[0], (str, list, dict)) else None
        if name == "string":
            return None if a[0] is None else (str(a[0]).lower() if isinstance(a[0], bool) else str(a[0]))
        if name == "number":
            try:
                return float(a[0]) if a[0] is not None else None
            except (TypeError, ValueError):
                return None
        if name in ("startsWith", "endsWith", "stringContains"):
            if not all(isinstance(x, str) for x in a):
                return None
            s, p = (a[0].lower(), a[1].lower()) if ins else (a[0], a[1])
            return {"startsWith": s.startswith, "endsWith": s.endswith, "stringContains": lambda q: q in s}[name](p)
        if name == "wildcard":
            return any(_wild(p, a[0], ins) for p in a[1:]) if isinstance(a[0], str) else None
        if name in ("match", "matchLite"):
            if not isinstance(a[0], str):
                return None
            return any(re.match(p, a[0], re.I if n.insensitive else 0) for p in a[1:])
        if name in ("add", "subtract", "multiply", "divide", "modulo"):
            op = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "modulo": "%"}[name]
            return self.val(E.Math(op, n.args[0], n.args[1]), scope)
        if name == "safe":
            return a[0]
        raise NotImplementedError(name)

    def cond(self, n, scope):
        if isinstance(n, E.Bool):
            vals = [self.truthy(self.val(t, scope)) for t in n.terms]
            if n.op == "and":
                if False in vals:
                    return False
                return None if None in vals else True
            if True in vals:
                return True
            return None if None in vals else False
        if isinstance(n, E.Not):
            v = self.truthy(self.val(n.term, scope))
            return None if v is None else not v
        if isinstance(n, E.Cmp):
            a, b = self.val(n.left, scope), self.val(n.right, scope)
            if n.op in ("==", "=", "!=") and (isinstance(n.left, E.Lit) and n.left.value is None
                                             or isinstance(n.right, E.Lit) and n.right.value is None):
                other = a if isinstance(n.right, E.Lit) and n.right.value is None else b
                eq = other is None
                return eq if n.op != "!=" else not eq
            if a is None or b is None:
                return None
            if n.op in ("==", "=", "!=") and isinstance(n.right, E.Lit) and isinstance(b, str) and "*" in b:
                w = _wild(b, a, self.ins)
                return w if n.op != "!=" or w is None else not w
            if not _same_type(a, b):
                return None
            a, b = _fold(a, self.ins), _fold(b, self.ins)
            return {"==": a == b, "=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                    ">=": a >= b}[n.op]
        if isinstance(n, E.InSet):
            v = self.val(n.item, scope)
            if v is None:
                return None
            ins = self.ins or n.insensitive
            vals = [_fold(self.val(i, scope), ins) for i in n.items]
            hit = _fold(v, ins) in vals
            return not hit if n.negated else hit
        if isinstance(n, E.StrOp):
            v = self.val(n.left, scope)
            if not isinstance(v, str):
                return None
            ins = n.op in (":", "like~", "regex~")
            out = False
            for p in n.values:
                if n.op.startswith("regex"):
                    out = out or re.fullmatch(p.value, v, re.I if ins else 0) is not None
                else:
                    out = out or _wild(p.value, v, ins, question=True)
            return out
        if isinstance(n, E.Call):
            return self.call(n, scope)
        if isinstance(n, E.Lit):
            return n.value
        if isinstance(n, E.Fld):
            return self.val(n, scope)
        raise NotImplementedError(type(n).__name__)

    @staticmethod
    def truthy(v):
        if v is None:
            return None
        return bool(v)

    def matches(self, q: E.EventQuery, ev) -> bool:
        if q.event_type not in ("any", "*") and ev.get(self.type_field) != q.event_type:
            return False
        return self.truthy(self.cond(q.cond, [ev])) is True

    def key(self, exprs, ev):
        if not exprs:
            return None
        vals = tuple(_fold(self.val(e, [ev]), self.ins) for e in exprs)
        return vals[0] if len(vals) == 1 else vals

    # -- queries
    def run(self, query: E.Query, events: list[dict]) -> list[list[dict]]:
        base = query.base
        out: list[list[dict]] = []
        if isinstance(base, E.EventQuery):
            out = [[ev] for ev in events if self.matches(base, ev)]
        elif base.kind == "sequence":
            out = self._sequence(base, events)
        else:
            out = self._join(base, events)
        return self._pipes(query.pipes, out)

    def _sequence(self, s: E.Seq, events):
        n = len(s.steps)
        lookups = [{} for _ in range(n)]
        types = {st.query.event_type for st in s.steps}
        out = []
        for ev in events:
            if s.maxspan is not None and (ev.get(self.type_field) in types or types & {"any", "*"}):
                floor = ev["ts"] - s.maxspan
                for lk in lookups:
                    for k in [k for k, seq in lk.items() if seq[0]["ts"] < floor]:
                        del lk[k]
            if s.until is not None and self.matches(s.until.query, ev):
                k = self.key(tuple(s.by) + tuple(s.until.by), ev)
                for lk in lookups:
                    lk.pop(k, None)
            for pos in range(n - 1, -1, -1):
                st = s.steps[pos]
                if not self.matches(st.query, ev):
                    continue
                k = self.key(tuple(s.by) + tuple(st.by), ev)
                if pos == 0:
                    if n == 1:
                        out.append([ev])
                    else:
                        lookups[1][k] = [ev]
                    continue
                if k not in lookups[pos]:
                    continue
                seq = list(lookups[pos][k]) if st.fork else lookups[pos].pop(k)
                seq = seq + [ev]
                if pos == n - 1:
                    out.append(seq)
                else:
                    lookups[pos + 1][k] = seq
        return out

    def _join(self, j: E.Seq, events):
        n = len(j.steps)
        lookup: dict = {}
        out = []
        for ev in events:
            if j.until is not None and self.matches(j.until.query, ev):
                lookup.pop(self.key(tuple(j.by) + tuple(j.until.by), ev), None)
            for pos, st in enumerate(j.steps):
                if not self.matches(st.query, ev):
                    continue
                k = self.key(tuple(j.by) + tuple(st.by), ev)
                slots = lookup.setdefault(k, [None] * n)
                if slots[pos] is None:
                    slots[pos] = ev
                    if all(x is not None for x in slots):
                        out.append(list(slots))
                        del lookup[k]
        return out

    def _pipes(self, pipes, results):
        for p in pipes:
            if p.name == "head":
                results = results[: p.args[0].value]
            elif p.name == "tail":
                results = results[-p.args[0].value:] if p.args[0].value else []
            elif p.name == "filter":
                results = [r for r in results if self.truthy(self.cond(p.args[0], r)) is True]
            elif p.name == "unique":
                seen = set()
                kept = []
                for r in results:
                    k = tuple(_fold(self.val(a, r), True) for a in p.args)
                    if k not in seen:
                        seen.add(k)
                        kept.append(r)
                results = kept
            else:
                raise NotImplementedError(p.name)
        return results


def ids(results) -> list:
    """The flat list of event ids of the results, in order (EQL's `expected_event_ids`)."""
    return [ev["id"] for r in results for ev in r]
