"""Population statistics: stream-wide sketches of who carries the traffic.

Runtime of the language's `share(x[, horizon])` and `spread(x, y, period[, horizon])`.
For each field and horizon a pack reads, one sketch sees every processed event
(event-time order, before any rule) and keeps K = 1000 Space-Saving counters
over exponentially decayed weights (forward decay, time constant = horizon):
`share` is a value's guaranteed share of recent traffic (at most 1/K below
the truth, never above). `spread` adds, per tracked value, a KMV sketch (64
hashes) of another field per epoch-aligned period and a bias-corrected
exponentially weighted mean of those distinct counts over closed periods.
Bounds and bytes are in docs/semantics.md; measured by tests/engine/test_population.py.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from bisect import bisect_left
from collections.abc import Callable
from hashlib import blake2b as _blake2b
from heapq import heapify, heappush, heapreplace
from typing import Any

import attrs

from .duration import format_seconds

#: Space-Saving counters per sketch (K): a value's share is known within 1/K.
COUNTERS = 1000
#: Hashes kept per tracked value and period by `spread` (KMV): exact below this many
#: distinct values, relative standard error 1/sqrt(DISTINCT_HASHES - 2) above.
DISTINCT_HASHES = 64
#: Horizon of `share` and `spread` when the rule gives none (seconds).
DEFAULT_HORIZON = 86400.0
MIN_HORIZON = 60.0
MIN_PERIOD = 1.0
#: Values longer than this (characters) are counted by a 128-bit digest, so K hostile
#: megabyte strings cannot fill memory.
MAX_VALUE_CHARS = 256
#: `spread` hashes the same sessions and addresses over and over: the 64-bit hashes of the
#: last strings seen are remembered (blake2b costs ~1.5 µs here, a look-up ~0.1 µs). A pure
#: function's memo, so values are unchanged; bounded: emptied when it holds this many
#: strings (each at most MAX_VALUE_CHARS long: at most ~3 MB). 0 turns it off.
HASH_MEMO_CAP = 4096
_HASH_MEMO: dict[str, int] = {}
# Forward-decay weights are exp((ts - landmark) / horizon); past exp(RENORM) every
# counter is rescaled and the landmark moves (amortised: once per RENORM horizons).
RENORM = 32.0
_TWO64 = float(1 << 64)
_exp = math.exp


# ---------------------------------------------------------------- what the language can call

FIELD = "field"        # an event field (a path), counted on every event
HORIZON = "horizon"    # a duration literal: the decay time constant
PERIOD = "period"      # a duration literal: the length of the periods spread() counts over


@attrs.frozen
class FunctionDef:
    """One population function of the language: name, arity, argument kinds, result type."""

    name: str
    arity: tuple[int, int]
    args: tuple[str, ...]
    result: str
    doc: str


#: The language's population functions (the checker reads names, arity and kinds here).
FUNCTIONS: dict[str, FunctionDef] = {
    "share": FunctionDef("share", (1, 2), (FIELD, HORIZON), "float",
                         "share of recent traffic (events with the field) carrying this event's value"),
    "spread": FunctionDef("spread", (3, 4), (FIELD, FIELD, PERIOD, HORIZON), "float",
                          "usual number of distinct values of the second field per period for this value"),
}


@attrs.frozen
class QuerySpec:
    """One call site's statistic: `kind` share or spread, over `field` with `horizon`.

    `of` and `period` are spread's counted field and period. Generated code
    calls the query with the event's value of `field`.
    """

    kind: str
    field: tuple[str, ...]
    horizon: float
    of: tuple[str, ...] | None = None
    period: float | None = None

    @property
    def sketch(self) -> tuple[tuple[str, ...], float]:
        """The sketch this query reads: (field, horizon)."""
        return self.field, self.horizon

    def label(self) -> str:
        """How explain and docs write it: `share(ja3, 1d)`, `spread(ja3, src_ip, 10m, 1d)`."""
        args = [".".join(self.field)]
        if self.kind == "spread":
            args += [".".join(self.of or ()), format_seconds(self.period or 0)]
        args.append(format_seconds(self.horizon))
        return f"{self.kind}({', '.join(args)})"


@attrs.frozen
class SketchSpec:
    """One stream-wide sketch: a field, a horizon, and the spreads kept per tracked value."""

    field: tuple[str, ...]
    horizon: float
    spreads: tuple[tuple[tuple[str, ...], float], ...] = ()   # (counted field, period)


def sketch_specs(queries) -> tuple[SketchSpec, ...]:
    """The sketches a set of queries needs, in a deterministic order (one per field and horizon)."""
    by: dict[tuple, set] = {}
    for q in queries:
        spreads = by.setdefault(q.sketch, set())
        if q.kind == "spread":
            spreads.add((q.of, q.period))
    return tuple(SketchSpec(f, h, tuple(sorted(sp))) for (f, h), sp in sorted(by.items()))


def unbound(_value) -> None:
    """A query outside an engine (no population observed): always missing."""
    return None


def describe_sketch(s: SketchSpec) -> list[str]:
    """Lines for `sleuth explain`: what a sketch tracks, its bounds and its memory."""
    name = ".".join(s.field)
    out = [f"{name} over a {format_seconds(s.horizon)} horizon: Space-Saving, {COUNTERS} counters, "
           f"forward decay (time constant {format_seconds(s.horizon)}); share at most {1 / COUNTERS:g} "
           "below the true share, never above"]
    for of, period in s.spreads:
        n = max(1.0, s.horizon / period)
        out.append(f"  + distinct {'.'.join(of)} per {format_seconds(period)} for each tracked {name} value: "
                   f"KMV ({DISTINCT_HASHES} hashes: exact below {DISTINCT_HASHES} distinct values), "
                   f"mean over closed periods with alpha = 2/({n:g}+1)")
    return out


# ---------------------------------------------------------------- value keys


def value_key(v) -> Any:
    """The counting key of a field value; None for a missing, non-scalar or NaN value.

    Strings are their own key (long or non-UTF-8 ones a digest); numbers are
    ("n", v) so 1 and 1.0 count together; booleans ("b", v), never equal to numbers.
    """
    t = type(v)
    if t is str:
        if len(v) <= MAX_VALUE_CHARS and (v.isascii() or _encodable(v)):
            return v
        return ("h", hashlib.blake2b(v.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest())
    if t is int:
        return ("n", v) if -(1 << 63) <= v < (1 << 63) else ("h", hashlib.blake2b(
            str(v).encode(), digest_size=16).hexdigest())
    if t is float:
        return ("n", v) if v == v else None
    if t is bool:
        return ("b", v)
    return None


def _encodable(v: str) -> bool:
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dump_key(k) -> list:
    return ["s", k] if type(k) is str else list(k)


def _load_key(item):
    if not (isinstance(item, list) and len(item) == 2 and item[0] in ("s", "n", "b", "h")):
        raise ValueError("a sketch key is malformed")
    tag, v = item
    if tag == "s":
        if type(v) is not str:
            raise ValueError("a sketch key is malformed")
        return v
    if tag == "b" and type(v) is not bool or tag == "n" and type(v) not in (int, float) \
            or tag == "h" and type(v) is not str:
        raise ValueError("a sketch key is malformed")
    return (tag, v)


def hash64(v) -> int | None:
    """A 64-bit hash of a field value, the same in every process (KMV); None when not counted."""
    t = type(v)
    if t is str:
        data = v.encode("utf-8", "surrogatepass")
    elif t is bool:
        data = b"\x02t" if v else b"\x02f"
    elif t is int:
        data = b"\x01" + str(v).encode()
    elif t is float:
        if v != v:
            return None
        data = b"\x01" + (str(int(v)) if v.is_integer() else repr(v)).encode()
    else:
        return None
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _getter(path: tuple[str, ...]) -> Callable[[dict], Any]:
    """Reads a nested field (a top-level one is read with `ev.get` directly by the callers)."""
    def get(ev, _path=path):
        v = ev
        for p in _path:
            if type(v) is not dict:
                return None
            v = v.get(p)
        return v
    return get


# ---------------------------------------------------------------- spread: distinct per period


class Spread:
    """Distinct values of `of` per period, per tracked value, averaged over closed periods.

    A tracked value's state is `[block, hashes, ewma, folded]`: the period
    being counted, its KMV hashes (sorted `array('Q')`), the weighted mean of
    closed periods up to period `folded`. Periods are epoch-aligned
    `[k*period, (k+1)*period)`; the one holding the population's first event
    is partial and not counted; quiet periods count as 0.
    """

    __slots__ = ("of", "name", "get", "period", "alpha", "q", "start", "slot")

    def __init__(self, of: tuple[str, ...], period: float, horizon: float):
        self.of = of
        self.name = of[0] if len(of) == 1 else None
        self.get = _getter(of)
        self.period = float(period)
        n = max(1.0, horizon / period)
        self.alpha = 2.0 / (n + 1.0)
        self.q = 1.0 - self.alpha
        self.start: int | None = None   # the population's first (partial) period
        self.slot = 3                   # index of its state in a tracked value's entry

    def block(self, ts: float) -> int:
        """The epoch-aligned period holding time `ts`."""
        return int(ts // self.period)

    def fresh(self, b: int) -> list:
        """The state of a value tracked from period `b` on (earlier periods count as 0)."""
        return [b, array("Q"), 0.0, b - 1]

    def add(self, st: list, ev: dict, ts: float) -> None:
        """Count the event's `of` value for its tracked value (state `st`) at time `ts`."""
        b = int(ts // self.period)
        if b != st[0]:
            self._fold(st, b)
        y = ev.get(self.name) if self.name is not None else self.get(ev)
        if type(y) is str:     # hash64 of a string, inlined (the common case), remembered
            h = _HASH_MEMO.get(y)
            if h is None:
                h = int.from_bytes(_blake2b(y.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
                if len(y) <= MAX_VALUE_CHARS:
                    if len(_HASH_MEMO) >= HASH_MEMO_CAP:
                        _HASH_MEMO.clear()
                    if HASH_MEMO_CAP:
                        _HASH_MEMO[y] = h
        else:
            h = hash64(y)
            if h is None:
                return
        hs = st[1]
        n = len(hs)
        if n < DISTINCT_HASHES:
            i = bisect_left(hs, h)
            if i == n or hs[i] != h:
                hs.insert(i, h)
        elif h < hs[-1]:
            i = bisect_left(hs, h)
            if hs[i] != h:
                hs.insert(i, h)
                hs.pop()

    def _closed(self, st: list) -> tuple[float, int]:
        """(ewma, last folded period) once the counted period `st[0]` is closed."""
        cb, hs, ewma, eb = st
        if self.start is not None and cb > self.start:
            ewma *= self.q ** (cb - 1 - eb)
            ewma += self.alpha * (distinct_estimate(hs) - ewma)
        return ewma, cb

    def _fold(self, st: list, b: int) -> None:
        ewma, last = self._closed(st)
        st[0], st[1], st[2], st[3] = b, array("Q"), ewma, last

    def value(self, st: list | None, now: float) -> float | None:
        """The usual distinct count at `now`: the mean over closed periods, bias-corrected; pure."""
        if self.start is None:
            return None
        b = self.block(now)
        n = b - 1 - self.start
        if n < 1:
            return None
        if st is None:
            return 0.0
        if st[0] < b:
            ewma, last = self._closed(st)
        else:
            ewma, last = st[2], st[3]
        ewma *= self.q ** (b - 1 - last)
        return ewma / (1.0 - self.q ** n)


def distinct_estimate(hs) -> float:
    """KMV: the count when fewer than k hashes are held, else (k - 1) / (k-th smallest hash / 2^64)."""
    n = len(hs)
    if n < DISTINCT_HASHES:
        return float(n)
    return (DISTINCT_HASHES - 1) * _TWO64 / (hs[-1] + 1.0)


# ---------------------------------------------------------------- the sketch


class Sketch:
    """Space-Saving over forward-decayed weights: the heavy values of one field.

    `table` maps a value key to `[count, error, seq, *spread states]`;
    `heap` holds one `(count, seq, key)` per tracked value, possibly stale
    (counts only grow): the minimum is found by refreshing stale tops. A new
    value with the table full replaces the minimum `m` with count `m + w`,
    error `m` (Metwally et al.). Cost: O(1) per event for a tracked value,
    O(log K) amortised otherwise.
    """

    __slots__ = ("spec", "name", "get", "inv", "span", "landmark", "total", "table", "heap", "seq", "now",
                 "spreads", "cap")

    def __init__(self, spec: SketchSpec, cap: int = COUNTERS):
        self.spec = spec
        self.name = spec.field[0] if len(spec.field) == 1 else None
        self.get = _getter(spec.field)
        self.inv = 1.0 / spec.horizon
        self.span = RENORM * spec.horizon
        self.cap = cap
        self.landmark: float | None = None
        self.total = 0.0
        self.table: dict = {}
        self.heap: list = []
        self.seq = 0
        self.now: float | None = None
        self.spreads = tuple(Spread(of, p, spec.horizon) for of, p in spec.spreads)
        for i, sp in enumerate(self.spreads):
            sp.slot = 3 + i

    def observe(self, ev: dict, ts: float) -> None:
        """Count one processed event (total on any value; no-op for a missing value)."""
        self.now = ts
        spreads = self.spreads
        landmark = self.landmark
        if landmark is None:
            self.landmark = landmark = ts
            for sp in spreads:
                sp.start = sp.block(ts)
        name = self.name
        v = ev.get(name) if name is not None else self.get(ev)
        if type(v) is str and len(v) <= MAX_VALUE_CHARS and v.isascii():
            key = v          # value_key of a short ASCII string, inlined (the common case)
        else:
            key = value_key(v)
            if key is None:
                return
        d = ts - landmark
        if d > self.span:
            self._renormalise(ts)
            d = 0.0
        w = _exp(d * self.inv)
        self.total += w
        table = self.table
        e = table.get(key)
        if e is not None:
            e[0] += w
        else:
            self.seq += 1
            if len(table) < self.cap:
                e = [w, 0.0, self.seq]
                heappush(self.heap, (w, self.seq, key))
            else:
                heap = self.heap
                while True:
                    c0, s0, k0 = heap[0]
                    cur = table[k0][0]
                    if cur == c0:
                        break
                    heapreplace(heap, (cur, s0, k0))
                del table[k0]
                e = [c0 + w, c0, self.seq]
                heapreplace(heap, (c0 + w, self.seq, key))
            table[key] = e
            for sp in spreads:
                e.append(sp.fresh(sp.block(ts)))
        for sp in spreads:
            sp.add(e[sp.slot], ev, ts)

    def _renormalise(self, ts: float) -> None:
        f = math.exp(-(ts - self.landmark) * self.inv)
        for e in self.table.values():
            e[0] *= f
            e[1] *= f
        self.total *= f
        # Scaling can make near counts equal: rebuild the heap rather than trust its order.
        self.heap = [(e[0], e[2], k) for k, e in self.table.items()]
        heapify(self.heap)
        self.landmark = ts

    def share(self, v) -> float | None:
        """The value's guaranteed share: (count - error) / total; 0 when untracked; None when missing."""
        key = value_key(v)
        if key is None or self.total <= 0.0:
            return None
        e = self.table.get(key)
        if e is None:
            return 0.0
        s = (e[0] - e[1]) / self.total
        return 0.0 if s < 0.0 else 1.0 if s > 1.0 else s

    def spread(self, sp: Spread, v) -> float | None:
        """`sp`'s usual distinct count for the value (0 when untracked); None when missing or warming up."""
        key = value_key(v)
        if key is None or self.now is None:
            return None
        e = self.table.get(key)
        return sp.value(None if e is None else e[sp.slot], self.now)

    def top(self, n: int = 10) -> list[tuple[Any, float]]:
        """The `n` heaviest values with their guaranteed shares, heaviest first (ties: first tracked)."""
        if self.total <= 0.0:
            return []
        items = sorted(self.table.items(), key=lambda kv: (-(kv[1][0] - kv[1][1]), kv[1][2]))[:n]
        return [(k if type(k) is str else k[1], (e[0] - e[1]) / self.total) for k, e in items]

    # -- snapshots
    def dump(self) -> list:
        """The sketch's state as msgpack-ready lists (heap order and counters exactly as held)."""
        return [self.landmark, self.total, self.seq, self.now, [sp.start for sp in self.spreads],
                [[_dump_key(k), e[0], e[1], e[2], [[s[0], list(s[1]), s[2], s[3]] for s in e[3:]]]
                 for k, e in self.table.items()],
                [[c, s, _dump_key(k)] for c, s, k in self.heap]]

    def load(self, data) -> None:
        """Restore from `dump()`; raises ValueError on any shape the sketch could not run from."""
        landmark, total, seq, now, starts, entries, heap = data
        num = (int, float)
        if not (landmark is None or isinstance(landmark, num)) or not isinstance(total, num) \
                or type(seq) is not int or not (now is None or isinstance(now, num)):
            raise ValueError("sketch header")
        if len(starts) != len(self.spreads) or not all(s is None or type(s) is int for s in starts):
            raise ValueError("spread starts")
        if len(entries) > self.cap or len(heap) != len(entries):
            raise ValueError("sketch size")
        table: dict = {}
        for k, c, err, s, states in entries:
            if not (isinstance(c, num) and isinstance(err, num) and type(s) is int) or len(states) != len(self.spreads):
                raise ValueError("sketch entry")
            e = [float(c), float(err), s]
            for b, hs, ewma, eb in states:
                if not (type(b) is int and type(eb) is int and isinstance(ewma, num)) or len(hs) > DISTINCT_HASHES:
                    raise ValueError("spread state")
                e.append([b, array("Q", hs), float(ewma), eb])
            table[_load_key(k)] = e
        hp = []
        for c, s, k in heap:
            key = _load_key(k)
            if key not in table or not isinstance(c, num) or type(s) is not int:
                raise ValueError("sketch heap")
            hp.append((float(c), s, key))
        if {k for _c, _s, k in hp} != set(table):
            raise ValueError("sketch heap")
        self.landmark, self.total, self.seq, self.now = landmark, float(total), seq, now
        for sp, s in zip(self.spreads, starts):
            sp.start = s
        self.table, self.heap = table, hp


# ---------------------------------------------------------------- one engine's population


class Population:
    """The sketches one engine keeps for its pack (empty when no rule reads one).

    `observe(ev, ts)` is called by the engine for every processed event,
    before the rules; `query(spec)` gives the function generated code calls.
    """

    def __init__(self, specs: tuple[SketchSpec, ...] = ()):
        self.specs = tuple(specs)
        self.sketches = [Sketch(s) for s in self.specs]
        self._by = {(s.field, s.horizon): sk for s, sk in zip(self.specs, self.sketches)}

    def __bool__(self) -> bool:
        return bool(self.sketches)

    def observe(self, ev: dict, ts: float) -> None:
        """Count one processed event in every sketch (total: never raises on a hostile value)."""
        for sk in self.sketches:
            sk.observe(ev, ts)

    def observer(self) -> Callable[[dict, float], None] | None:
        """What the engine calls per processed event: None without sketches, the one sketch's `observe`."""
        if not self.sketches:
            return None
        return self.sketches[0].observe if len(self.sketches) == 1 else self.observe

    def query(self, q: QuerySpec) -> Callable[[Any], float | None]:
        """The function a generated `q<n>` name is bound to: value of the field -> statistic."""
        sk = self._by[q.sketch]
        if q.kind == "share":
            return sk.share
        sp = next(sp for sp in sk.spreads if sp.of == q.of and sp.period == q.period)
        return lambda v, _sk=sk, _sp=sp: _sk.spread(_sp, v)

    def queries(self, specs) -> list[Callable]:
        """`query` for each spec, in order (the extra arguments of a generated factory)."""
        return [self.query(q) for q in specs]

    def bind(self, rule):
        """The rule spec with its generated functions bound to this population (itself if it reads none).

        A rule module is compiled once per pack; `rule.requery(*functions)`
        builds its functions again around this engine's queries, and every
        function of that module held in the spec (in its fields, steps,
        absences, at any depth of attrs objects and tuples) is replaced by
        the new one of the same name.
        """
        if not rule.queries or rule.requery is None:
            return rule
        table = rule.requery(*self.queries(rule.queries))
        filename = rule.filename

        def swap(obj):
            code = getattr(obj, "__code__", None)
            if code is not None:
                return table.get(obj.__name__, obj) if code.co_filename == filename else obj
            if type(obj) is tuple:
                new = tuple(swap(x) for x in obj)
                return new if any(a is not b for a, b in zip(new, obj)) else obj
            if attrs.has(type(obj)):
                changes = {}
                for a in attrs.fields(type(obj)):
                    v = getattr(obj, a.name)
                    w = swap(v)
                    if w is not v:
                        changes[a.name] = w
                return attrs.evolve(obj, **changes) if changes else obj
            return obj

        return swap(rule)

    def describe(self, top: int = 10) -> list[dict]:
        """Per sketch: field, horizon, tracked values, and the heaviest values with their shares."""
        return [{"field": ".".join(s.field), "horizon": s.horizon, "tracked": len(sk.table),
                 "top": sk.top(top)} for s, sk in zip(self.specs, self.sketches)]

    def dump(self) -> list:
        """Every sketch's state, in the pack's sketch order (the snapshot's `population`)."""
        return [sk.dump() for sk in self.sketches]

    def load(self, data) -> None:
        """Restore every sketch; raises ValueError when the data does not fit this pack's sketches."""
        if data is None:
            data = []
        if len(data) != len(self.sketches):
            raise ValueError("population sketches do not match the pack")
        for sk, d in zip(self.sketches, data):
            sk.load(d)


__all__ = ["COUNTERS", "DISTINCT_HASHES", "DEFAULT_HORIZON", "MIN_HORIZON", "MIN_PERIOD", "FUNCTIONS",
           "FunctionDef", "FIELD", "HORIZON", "PERIOD", "QuerySpec", "SketchSpec", "Sketch", "Spread",
           "Population", "sketch_specs", "unbound", "value_key", "hash64", "distinct_estimate",
           "describe_sketch"]
