"""Incremental aggregates over a key's window.

Each aggregate keeps just enough state to answer in O(1) (or amortised
O(1)) as events enter and, for sliding windows, leave in arrival order.
Memory is bounded: value tables stop remembering new values at a cap and
flag the result as capped. Exact definitions (also in docs/semantics.md):

- count() / count(p): events in the window / events where p was true
- ratio(p): count(p) / count(), None on an empty window
- distinct(x): number of distinct non-missing values of x; exact up to the
  `distinct` limit, then an upper bound (values past the cap count once per
  event) and the match is flagged `distinct-capped`
- sum/avg/min/max(x): over numeric values of x (others ignored)
- entropy(x): Shannon entropy in bits of the distribution of x's values
- cv(interarrival()): population standard deviation of the gaps between
  consecutive events / their mean; None with fewer than 2 gaps
- jitter(interarrival()): mean absolute change between consecutive gaps /
  mean gap; None with fewer than 2 gaps
- changes(x): how many times x differs from the previous event's x
- sample(x, n): the first n distinct values of x in window order
- first_seen(x, h): whether the entering event's x had not been seen for
  this key within h (a key-lifetime memory, not reset with the window)

`REGISTRY` (at the end) is the one table of the language's aggregates:
the checker, the IR, the compiler and the windows read their names,
arguments, result types and caps from it. The hot ones write `add` and
`remove` once, as line templates compiled into the methods and inlined
into one generated update per window shape (`fused_updates`; measured on
the shipped pack 9.9 k -> 11.1 k events/s).
"""

from __future__ import annotations

import math
import reprlib
from collections import OrderedDict, deque
from itertools import islice

import attrs

from . import pycode

_LOG2 = math.log2
_NOTHING = object()
NEG_INF_TS = float("-inf")


_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = 256


def _hashable(v):
    t = type(v)
    if t is str or t is int or t is bool:
        return v
    if t is float:
        return v if v == v else "nan"
    if v is None:
        return None
    # Lists and mappings from untrusted input: counted by their (depth-bounded) text,
    # so a value nested a thousand levels deep is counted, never an error.
    try:
        return _REPR.repr(v)[:256]
    except Exception:
        return f"<{t.__name__}>"


class Aggregate:
    """Base of the aggregates: `add`/`remove` one event's value, `value()`, `dump`/`load`.

    Constructors take `(spec, limits, window)` (an `AggSpec`, the rule's
    limits, the window length in seconds), all optional. `CONFIGURED` says
    whether the constructor reads them; `CONFIG` names the slots holding
    that configuration, which `fresh()` carries over. A class decorated
    `@templated` writes `add`/`remove` as line templates (`ADD`, `REMOVE`)
    that window updates inline.
    """

    __slots__ = ()
    kind = ""
    CONFIGURED = False
    CONFIG: tuple[str, ...] = ()

    def summary(self):
        """An empty slice summary (see `fold`); None for aggregates a slice does not change."""
        return None

    def fold(self, v, ts, sm) -> None:
        """The window's oldest held event (value `v` at `ts`) is folded into a slice summarised by `sm`.

        Long sliding windows hold at most `limit window` events one by one;
        older ones live on only as per-slice summaries, which `drop` takes
        out of the aggregate when the whole slice has left the window.
        """

    def drop(self, sm, after) -> None:
        """A folded slice (summary `sm`) leaves the window; `after`: the later slices' summaries."""

    def fresh(self):
        """An empty aggregator with the same configuration (a window reset)."""
        cls = type(self)
        new = cls.__new__(cls)
        cls.__init__(new)
        for name in self.CONFIG:
            setattr(new, name, getattr(self, name))
        return new


# The names method templates may use besides `{a}` and `{v}` (generated code sees only these).
_TEMPLATE_NAMES = {"__builtins__": {"type": type, "len": len, "str": str, "None": None, "True": True},
                   "_hashable": _hashable}


def templated(cls):
    """Define `cls.add`/`cls.remove` from its `ADD`/`REMOVE` line templates.

    A template is the one text of the method: `{a}` stands for the
    aggregate, `{v}` for the entering or leaving value. The same lines are
    compiled here into the methods and inlined by `fused_updates` into a
    window's one-call update, so the two can never drift apart.
    """
    w = pycode.Writer()
    for method in ("add", "remove"):
        w.line(f"def {method}(self, v, ts):")
        w.indent()
        for line in getattr(cls, method.upper()):
            w.line(line.format(a="self", v="v"))
        w.dedent()
    ns = pycode.compile_source(w.source, pycode.unique_filename("aggregate", cls.__name__), dict(_TEMPLATE_NAMES))
    for method in ("add", "remove"):
        fn = ns[method]
        fn.__qualname__ = f"{cls.__name__}.{method}"
        fn.__module__ = __name__
        fn.__template__ = getattr(cls, method.upper())
        setattr(cls, method, fn)
    return cls


@templated
class Count(Aggregate):
    """count(): events in the window."""
    __slots__ = ("n",)
    kind = "count"
    ADD = ("{a}.n += 1",)
    REMOVE = ("{a}.n -= 1",)

    def __init__(self, spec=None, limits=None, window=None):
        self.n = 0

    def value(self):
        return self.n

    def summary(self) -> list:
        """An empty slice summary: what `drop` needs to take a folded slice's events out."""
        return [0]

    def fold(self, v, ts, sm) -> None:
        """The window's oldest event (value `v` at `ts`) now lives only in slice summary `sm`."""
        sm[0] += 1

    def drop(self, sm, after) -> None:
        """A folded slice leaves the window (`after`: the summaries of the slices after it, oldest first)."""
        self.n -= sm[0]

    def dump(self):
        return [self.n]

    def load(self, s):
        (self.n,) = s


@templated
class CountIf(Count):
    """count(p): events of the window where p was true."""
    __slots__ = ()
    kind = "count_if"
    ADD = ("if {v} is True:", "    {a}.n += 1")
    REMOVE = ("if {v} is True:", "    {a}.n -= 1")

    def fold(self, v, ts, sm) -> None:
        if v is True:
            sm[0] += 1


@templated
class Ratio(Aggregate):
    """ratio(p): count(p) / count(); None on an empty window."""
    __slots__ = ("hits", "n")
    kind = "ratio"
    ADD = ("{a}.n += 1", "if {v} is True:", "    {a}.hits += 1")
    REMOVE = ("{a}.n -= 1", "if {v} is True:", "    {a}.hits -= 1")

    def __init__(self, spec=None, limits=None, window=None):
        self.hits = 0
        self.n = 0

    def value(self):
        return self.hits / self.n if self.n else None

    def summary(self) -> list:
        return [0, 0]

    def fold(self, v, ts, sm) -> None:
        sm[1] += 1
        if v is True:
            sm[0] += 1

    def drop(self, sm, after) -> None:
        self.hits -= sm[0]
        self.n -= sm[1]

    def dump(self):
        return [self.hits, self.n]

    def load(self, s):
        self.hits, self.n = s


@templated
class Distinct(Aggregate):
    """Value → count table, exact up to `cap` values, then an upper bound."""

    __slots__ = ("d", "over", "cap", "capped")
    kind = "distinct"
    CONFIGURED = True
    CONFIG = ("cap",)
    ADD = (
        "if {v} is not None:",
        "    if type({v}) is not str:",
        "        {v} = _hashable({v})",
        "    d = {a}.d",
        "    c = d.get({v})",
        "    if c is not None:",
        "        d[{v}] = c + 1",
        "    elif len(d) < {a}.cap:",
        "        d[{v}] = 1",
        "    else:",
        "        {a}.over += 1",
        "        {a}.capped = True",
    )
    REMOVE = (
        "if {v} is not None:",
        "    if type({v}) is not str:",
        "        {v} = _hashable({v})",
        "    d = {a}.d",
        "    c = d.get({v})",
        "    if c is not None:",
        "        if c == 1:",
        "            del d[{v}]",
        "        else:",
        "            d[{v}] = c - 1",
        "    elif {a}.over:",
        "        {a}.over -= 1",
    )

    def __init__(self, spec=None, limits=None, window=None):
        self.d: dict = {}
        self.over = 0
        self.cap = (limits or {}).get("distinct", 10_000)
        self.capped = False

    def value(self):
        return len(self.d) + self.over

    def values(self, n: int) -> list:
        return list(islice(self.d, n))

    def summary(self) -> list:
        # [value -> events of the slice (first-appearance order: sample() reads it), events past the cap]
        return [{}, 0]

    def fold(self, v, ts, sm) -> None:
        if v is None:
            return
        if type(v) is not str:
            v = _hashable(v)
        if v in self.d:
            d = sm[0]
            d[v] = d.get(v, 0) + 1
        else:
            sm[1] += 1            # counted in `over` when it entered: leaves from there

    def drop(self, sm, after) -> None:
        d = self.d
        for v, c in sm[0].items():
            left = d[v] - c
            if left:
                d[v] = left
            else:
                del d[v]
        self.over = max(0, self.over - sm[1])

    def dump(self):
        return [list(self.d.items()), self.over, self.capped]

    def load(self, s):
        items, self.over, self.capped = s
        self.d = {(_hashable(k)): c for k, c in items}


class Sample(Distinct):
    """sample(x, n): the first n distinct values (window order: see SlidingWindow.values)."""
    __slots__ = ("n",)
    kind = "sample"
    CONFIG = ("cap", "n")

    def __init__(self, spec=None, limits=None, window=None):
        super().__init__(spec, limits)
        self.n = spec.param if spec is not None else 10

    def value(self):
        return list(islice(self.d, self.n))


class Entropy(Aggregate):
    """Shannon entropy in bits: H = log2(N) - S/N with S = Σ c·log2(c)."""

    __slots__ = ("d", "n", "s", "cap", "capped", "ops")
    kind = "entropy"
    CONFIGURED = True
    CONFIG = ("cap",)

    def __init__(self, spec=None, limits=None, window=None):
        self.d: dict = {}
        self.n = 0
        self.s = 0.0
        self.cap = (limits or {}).get("distinct", 10_000)
        self.capped = False
        self.ops = 0

    def add(self, v, ts):
        if v is None:
            return
        if type(v) is not str:
            v = _hashable(v)
        d = self.d
        c = d.get(v)
        if c is not None:
            self.s += (c + 1) * _LOG2(c + 1) - (c * _LOG2(c) if c > 1 else 0.0)
            d[v] = c + 1
        elif len(d) < self.cap:
            d[v] = 1
        else:
            self.capped = True   # past the cap a value counts as a singleton (adds 0 to S)
        self.n += 1
        self._tick()

    def remove(self, v, ts):
        if v is None:
            return
        if type(v) is not str:
            v = _hashable(v)
        d = self.d
        c = d.get(v)
        if c is not None:
            self.s -= c * _LOG2(c) - ((c - 1) * _LOG2(c - 1) if c > 2 else 0.0)
            if c == 1:
                del d[v]
            else:
                d[v] = c - 1
        self.n -= 1
        self._tick()

    def summary(self) -> list:
        return [{}, 0]

    def fold(self, v, ts, sm) -> None:
        if v is None:
            return
        if type(v) is not str:
            v = _hashable(v)
        d = sm[0]
        if v in self.d:
            d[v] = d.get(v, 0) + 1
        else:
            sm[1] += 1

    def drop(self, sm, after) -> None:
        d = self.d
        for v, c in sm[0].items():
            old = d[v]
            new = old - c
            self.s -= (old * _LOG2(old) if old > 1 else 0.0) - (new * _LOG2(new) if new > 1 else 0.0)
            if new:
                d[v] = new
            else:
                del d[v]
        self.n -= sum(sm[0].values()) + sm[1]
        self._tick()

    def _tick(self):
        # Re-sum now and then so floating error cannot accumulate without bound.
        self.ops += 1
        if self.ops >= 4096:
            self.ops = 0
            self.s = math.fsum(c * _LOG2(c) for c in self.d.values() if c > 1)

    def value(self):
        n = self.n
        if n <= 0:
            return None
        h = _LOG2(n) - self.s / n
        return h if h > 1e-12 else 0.0

    def dump(self):
        return [list(self.d.items()), self.n, self.capped, self.s, self.ops]

    def load(self, s):
        items, self.n, self.capped = s[:3]
        self.d = {(_hashable(k)): c for k, c in items}
        if len(s) > 3:
            self.s, self.ops = s[3], s[4]      # the running sum as it was: bit-identical after restore
        else:
            self.s = math.fsum(c * _LOG2(c) for c in self.d.values() if c > 1)


class Sum(Aggregate):
    """sum(x): over numeric values of x (others ignored); 0 on an empty window."""
    __slots__ = ("s", "n")
    kind = "sum"

    def __init__(self, spec=None, limits=None, window=None):
        self.s = 0
        self.n = 0

    def add(self, v, ts):
        t = type(v)
        if (t is int or t is float) and v == v and v not in (math.inf, -math.inf):
            self.s += v
            self.n += 1

    def remove(self, v, ts):
        t = type(v)
        if (t is int or t is float) and v == v and v not in (math.inf, -math.inf):
            self.s -= v
            self.n -= 1

    def value(self):
        return self.s if self.n else (0 if self.kind == "sum" else None)

    def summary(self) -> list:
        return [0, 0]

    def fold(self, v, ts, sm) -> None:
        t = type(v)
        if (t is int or t is float) and v == v and v not in (math.inf, -math.inf):
            sm[0] += v
            sm[1] += 1

    def drop(self, sm, after) -> None:
        self.s -= sm[0]
        self.n -= sm[1]

    def dump(self):
        return [self.s, self.n]

    def load(self, s):
        self.s, self.n = s


class Avg(Sum):
    """avg(x): mean of numeric values of x; None without any."""
    __slots__ = ()
    kind = "avg"

    def value(self):
        return self.s / self.n if self.n else None


class Extreme(Aggregate):
    """Sliding min or max with a monotonic deque (amortised O(1))."""

    __slots__ = ("dq", "added", "removed", "is_min", "_folded")
    kind = "min"
    CONFIGURED = True
    CONFIG = ("is_min",)

    def __init__(self, spec=None, limits=None, window=None):
        self.dq: deque = deque()
        self.added = 0
        self.removed = 0
        self._folded = 0
        self.is_min = spec is None or spec.kind == "min"

    def add(self, v, ts):
        idx = self.added
        self.added += 1
        t = type(v)
        if not (t is int or t is float) or v != v:
            return
        dq = self.dq
        if self.is_min:
            while dq and dq[-1][0] >= v:
                dq.pop()
        else:
            while dq and dq[-1][0] <= v:
                dq.pop()
        dq.append((v, idx))

    def remove(self, v, ts):
        idx = self.removed
        self.removed += 1
        dq = self.dq
        if dq and dq[0][1] == idx:
            dq.popleft()

    def value(self):
        return self.dq[0][0] if self.dq else None

    def summary(self) -> list:
        # [events of the slice, whether a candidate of the slice is kept]
        return [0, False]

    def fold(self, v, ts, sm) -> None:
        # The event's index: every folded event before it is still in the window.
        idx = self.removed + self._folded
        self._folded += 1
        sm[0] += 1
        dq = self.dq
        for i, (_v, j) in enumerate(dq):
            if j < idx:
                continue
            if j == idx:
                if sm[1]:
                    # A slice leaves whole, so only its first candidate (the best of
                    # the slice) can ever be the window's extreme: one entry per slice.
                    del dq[i]
                else:
                    sm[1] = True
            break

    def drop(self, sm, after) -> None:
        self.removed += sm[0]
        self._folded -= sm[0]
        dq = self.dq
        while dq and dq[0][1] < self.removed:
            dq.popleft()

    def dump(self):
        return [[list(x) for x in self.dq], self.added, self.removed] + ([self._folded] if self._folded else [])

    def load(self, s):
        items, self.added, self.removed = s[:3]
        self._folded = s[3] if len(s) > 3 else 0
        self.dq = deque((v, i) for v, i in items)


class Changes(Aggregate):
    """changes(x): how many events have an x different from the previous event's."""
    __slots__ = ("dq", "ch")
    kind = "changes"

    def __init__(self, spec=None, limits=None, window=None):
        self.dq: deque = deque()
        self.ch = 0

    def add(self, v, ts):
        if type(v) is not str:
            v = _hashable(v)
        dq = self.dq
        if dq and dq[-1] != v:
            self.ch += 1
        dq.append(v)

    def remove(self, v, ts):
        dq = self.dq
        v0 = dq.popleft()
        if dq and dq[0] != v0:
            self.ch -= 1

    def value(self):
        return self.ch

    def summary(self) -> list:
        # [first value, last value, changes inside the slice, events]
        return [None, None, 0, 0]

    def fold(self, v, ts, sm) -> None:
        v0 = self.dq.popleft()
        if sm[3] and sm[1] != v0:
            sm[2] += 1
        if not sm[3]:
            sm[0] = v0
        sm[1] = v0
        sm[3] += 1

    def drop(self, sm, after) -> None:
        self.ch -= sm[2]
        nxt = after[0][0] if after else (self.dq[0] if self.dq else _NOTHING)
        if nxt is not _NOTHING and nxt != sm[1]:
            self.ch -= 1

    def dump(self):
        return [list(self.dq), self.ch]

    def load(self, s):
        items, self.ch = s
        self.dq = deque(_hashable(v) for v in items)


class Gaps(Aggregate):
    """Inter-arrival gaps of the window's events: cv and jitter."""

    __slots__ = ("dq", "sg", "sq", "ng", "sd", "nd", "jitter")
    kind = "cv"
    CONFIGURED = True
    CONFIG = ("jitter",)

    def __init__(self, spec=None, limits=None, window=None):
        self.dq: deque = deque()
        self.sg = 0.0
        self.sq = 0.0
        self.ng = 0
        self.sd = 0.0
        self.nd = 0
        self.jitter = spec is not None and spec.kind == "jitter"

    def add(self, v, ts):
        dq = self.dq
        if dq:
            g = ts - dq[-1]
            if len(dq) >= 2:
                self.sd += abs(g - (dq[-1] - dq[-2]))
                self.nd += 1
            self.sg += g
            self.sq += g * g
            self.ng += 1
        dq.append(ts)

    def remove(self, v, ts):
        dq = self.dq
        t0 = dq.popleft()
        if dq:
            g0 = dq[0] - t0
            self.sg -= g0
            self.sq -= g0 * g0
            self.ng -= 1
            if len(dq) >= 2:
                self.sd -= abs((dq[1] - dq[0]) - g0)
                self.nd -= 1
        if not dq or self.ng == 0:
            self.sg = self.sq = 0.0
            self.sd = 0.0
            self.nd = 0

    def summary(self) -> list:
        # [first ts, second ts, last ts, previous-to-last ts, events, sg, sq, ng, sd, nd]
        return [None, None, None, None, 0, 0.0, 0.0, 0, 0.0, 0]

    def fold(self, v, ts, sm) -> None:
        t = self.dq.popleft()
        n = sm[4]
        if n:
            g = t - sm[2]
            if n >= 2:
                sm[8] += abs(g - (sm[2] - sm[3]))
                sm[9] += 1
            else:
                sm[1] = t
            sm[5] += g
            sm[6] += g * g
            sm[7] += 1
        else:
            sm[0] = t
        sm[3] = sm[2]
        sm[2] = t
        sm[4] = n + 1

    def drop(self, sm, after) -> None:
        self.sg -= sm[5]
        self.sq -= sm[6]
        self.ng -= sm[7]
        self.sd -= sm[8]
        self.nd -= sm[9]
        # The gap joining the slice to what follows, and the change of gap on either side of it.
        t1 = t2 = None
        for nxt in after:
            for t in (nxt[0], nxt[1]):
                if t is None:
                    break
                if t1 is None:
                    t1 = t
                elif t2 is None:
                    t2 = t
            if t2 is not None:
                break
        if t2 is None:
            for t in islice(self.dq, 2):
                if t1 is None:
                    t1 = t
                elif t2 is None:
                    t2 = t
        if t1 is not None:
            c = t1 - sm[2]
            self.sg -= c
            self.sq -= c * c
            self.ng -= 1
            if sm[4] >= 2:
                self.sd -= abs(c - (sm[2] - sm[3]))
                self.nd -= 1
            if t2 is not None:
                self.sd -= abs((t2 - t1) - c)
                self.nd -= 1
        if self.ng <= 0:
            self.sg = self.sq = 0.0
            self.ng = 0
        if self.nd <= 0:
            self.sd = 0.0
            self.nd = 0

    def value(self):
        if self.jitter:
            if self.nd < 1 or self.ng < 2:
                return None
            mean = self.sg / self.ng
            return (max(self.sd, 0.0) / self.nd) / mean if mean > 0 else None
        if self.ng < 2:
            return None
        mean = self.sg / self.ng
        if mean <= 0:
            return None
        var = self.sq / self.ng - mean * mean
        return math.sqrt(var) / mean if var > 0 else 0.0

    def dump(self):
        return [list(self.dq), self.sg, self.sq, self.ng, self.sd, self.nd]

    def load(self, s):
        items, self.sg, self.sq, self.ng, self.sd, self.nd = s
        self.dq = deque(items)


class FirstSeen(Aggregate):
    """Whether the entering event's value is new for this key within a horizon.

    It remembers at most `limit values` values (the least recently seen
    go first). A value forgotten while still within the horizon may later
    be called new wrongly: such a verdict sets `doubt` (flag
    `first-seen-capped` on the match).
    """

    __slots__ = ("d", "horizon", "cap", "new", "forgot", "doubt")
    kind = "first_seen"
    CONFIGURED = True
    CONFIG = ("horizon", "cap")

    def __init__(self, spec=None, limits=None, window=None):
        self.d: OrderedDict = OrderedDict()
        self.horizon = spec.param if spec is not None else 86400.0
        self.cap = (limits or {}).get("values", 1000)
        self.new = None
        self.forgot = NEG_INF_TS      # until when a forgotten value could still have been "seen"
        self.doubt = False           # the current verdict may be wrong (see above)

    def add(self, v, ts):
        if v is None:
            self.new = None
            self.doubt = False
            return
        if type(v) is not str:
            v = _hashable(v)
        d = self.d
        prev = d.get(v)
        self.new = prev is None or ts - prev > self.horizon
        self.doubt = prev is None and ts <= self.forgot
        d[v] = ts
        d.move_to_end(v)
        if len(d) > self.cap:
            _k, t0 = d.popitem(last=False)
            if t0 + self.horizon > self.forgot:
                self.forgot = t0 + self.horizon

    def remove(self, v, ts):
        pass

    def value(self):
        return self.new

    def dump(self):
        out = [list(self.d.items()), self.new]
        if self.forgot != NEG_INF_TS:
            out += [self.forgot, self.doubt]
        return out

    def load(self, s):
        items, self.new = s[:2]
        if len(s) > 2:
            self.forgot, self.doubt = float(s[2]), bool(s[3])
        self.d = OrderedDict((_hashable(k), t) for k, t in items)


class Rate(Aggregate):
    """Events per second over the window (the window state supplies the span)."""

    __slots__ = ("n",)
    kind = "rate"

    def __init__(self, spec=None, limits=None, window=None):
        self.n = 0

    def add(self, v, ts):
        self.n += 1

    def remove(self, v, ts):
        self.n -= 1

    def value(self):
        return self.n   # divided by the window span by the window

    def summary(self) -> list:
        return [0]

    def fold(self, v, ts, sm) -> None:
        sm[0] += 1

    def drop(self, sm, after) -> None:
        self.n -= sm[0]

    def dump(self):
        return [self.n]

    def load(self, s):
        (self.n,) = s


class Baseline(Aggregate):
    """Exponentially weighted mean of an aggregate over closed windows of a key.

    α = 2 / (N + 1) with N = horizon / window (windows in the horizon); quiet
    windows count as 0. Undefined (None) until the key has been observed for
    a full horizon of windows and at least `MIN_SUPPORT` of them had events.
    """

    __slots__ = ("ewma", "seen", "nonempty", "last_wid", "alpha", "warm")
    kind = "baseline"
    CONFIGURED = True
    CONFIG = ("alpha", "warm")
    MIN_SUPPORT = 3

    def __init__(self, spec=None, limits=None, window=None):
        horizon = spec.param if spec is not None else 3600.0
        n = max(1.0, horizon / (window or 60.0))
        self.alpha = 2.0 / (n + 1.0)
        self.warm = int(math.ceil(n))
        self.ewma = None
        self.seen = 0
        self.nonempty = 0
        self.last_wid = None

    def add(self, v, ts):
        pass

    def remove(self, v, ts):
        pass

    def value(self):
        if self.ewma is None or self.seen < self.warm or self.nonempty < self.MIN_SUPPORT:
            return None
        return self.ewma

    def catch_up(self, wid: int) -> None:
        """Fold in the quiet windows (value 0) between the last observed one and `wid`."""
        if self.last_wid is not None and wid > self.last_wid + 1:
            missed = wid - self.last_wid - 1
            if self.ewma is not None:
                self.ewma *= (1.0 - self.alpha) ** min(missed, 10_000)
            self.seen += missed
            self.last_wid = wid - 1

    def observe(self, wid: int, value) -> None:
        """Fold a closed window's aggregate value in (quiet windows before it count as 0)."""
        v = float(value) if isinstance(value, (int, float)) and value == value else 0.0
        self.catch_up(wid)
        if self.ewma is None:
            self.ewma = v
        else:
            self.ewma += self.alpha * (v - self.ewma)
        self.seen += 1
        self.nonempty += 1
        self.last_wid = wid

    def dump(self):
        return [self.ewma, self.seen, self.nonempty, self.last_wid]

    def load(self, s):
        self.ewma, self.seen, self.nonempty, self.last_wid = s


# ---------------------------------------------------------------- the registry

# Argument kinds, per argument position (what the checker accepts there).
VALUE = "value"                # any per-event expression
NUMBER = "number"              # a numeric per-event expression (others are a type error)
PREDICATE = "predicate"        # a per-event condition
INTERARRIVAL = "interarrival"  # the literal `interarrival()`: the gaps between the key's events
AGGREGATE = "aggregate"        # another aggregate (one that `baseline` can follow)
DURATION = "duration"          # a duration literal (a horizon), stored in `AggSpec.param`
SIZE = "size"                  # an integer literal (sample size), stored in `AggSpec.param`
ARG_KINDS = (VALUE, NUMBER, PREDICATE, INTERARRIVAL, AGGREGATE, DURATION, SIZE)
#: Argument kinds evaluated per event (the others are constants or structure).
PER_EVENT = frozenset({VALUE, NUMBER, PREDICATE})

#: Static result types (the language's type names, as `sleuth.dsl.ir` spells them).
RESULT_TYPES = ("int", "num", "bool", "list", "any")


@attrs.frozen
class AggregateDef:
    """One aggregate of the language: its name, runtime class and static signature.

    `arity` is (min, max) arguments; `args` the kind of each argument
    position (`ARG_KINDS`; a call may stop after `arity[0]` of them);
    `result` the static type of its value; `capped` whether its value table
    stops at the `distinct` limit and flags the match `distinct-capped`;
    `followable` whether `baseline(...)` may follow it; `cls_with_arg` the
    class used when the optional argument is given (`count(p)`).
    """

    name: str
    cls: type
    arity: tuple[int, int]
    args: tuple[str, ...]
    result: str
    capped: bool
    doc: str
    followable: bool = True
    cls_with_arg: type | None = None

    def class_for(self, spec) -> type:
        """The runtime class for an `AggSpec` of this aggregate."""
        if self.cls_with_arg is not None and spec is not None and spec.arg is not None:
            return self.cls_with_arg
        return self.cls

    def make(self, spec, limits: dict, window: float | None = None):
        """A fresh aggregator for `spec` (an `AggSpec` of this aggregate)."""
        return self.class_for(spec)(spec, limits, window)

    @property
    def horizon(self) -> bool:
        """Whether `AggSpec.param` is a horizon in seconds (a duration argument)."""
        return DURATION in self.args


def _defs(*defs: AggregateDef) -> dict[str, AggregateDef]:
    return {d.name: d for d in defs}


#: Every aggregate, by name: the one table the checker, the IR, the compiler and the windows read.
REGISTRY: dict[str, AggregateDef] = _defs(
    AggregateDef("count", Count, (0, 1), (PREDICATE,), "int", False,
                 "number of events; count(cond): number of events where cond holds", cls_with_arg=CountIf),
    AggregateDef("distinct", Distinct, (1, 1), (VALUE,), "int", True,
                 "number of distinct values (exact up to `limit distinct`, then an upper bound)"),
    AggregateDef("sum", Sum, (1, 1), (NUMBER,), "num", False, "sum of the numeric values; 0 on an empty window"),
    AggregateDef("min", Extreme, (1, 1), (VALUE,), "any", False, "smallest numeric value"),
    AggregateDef("max", Extreme, (1, 1), (VALUE,), "any", False, "largest numeric value"),
    AggregateDef("avg", Avg, (1, 1), (NUMBER,), "num", False, "mean of the numeric values"),
    AggregateDef("ratio", Ratio, (1, 1), (PREDICATE,), "num", False, "share of events where cond holds"),
    AggregateDef("entropy", Entropy, (1, 1), (VALUE,), "num", True,
                 "Shannon entropy of the values, in bits"),
    AggregateDef("cv", Gaps, (1, 1), (INTERARRIVAL,), "num", False,
                 "coefficient of variation of the gaps between events"),
    AggregateDef("jitter", Gaps, (1, 1), (INTERARRIVAL,), "num", False,
                 "mean change of the gap over the mean gap"),
    AggregateDef("changes", Changes, (1, 1), (VALUE,), "int", False,
                 "how many times the value changed from one event to the next"),
    AggregateDef("sample", Sample, (2, 2), (VALUE, SIZE), "list", True,
                 "up to n distinct values, in window order", followable=False),
    AggregateDef("rate", Rate, (0, 0), (), "num", False, "events per second over the window"),
    AggregateDef("baseline", Baseline, (2, 2), (AGGREGATE, DURATION), "num", False,
                 "the aggregate's own recent level for this key (tumbling windows)", followable=False),
    AggregateDef("first_seen", FirstSeen, (2, 2), (VALUE, DURATION), "bool", False,
                 "the newest event's value was not seen for this key within the horizon", followable=False),
)

#: name -> (min, max) arguments.
ARITY: dict[str, tuple[int, int]] = {n: d.arity for n, d in REGISTRY.items()}
#: name -> static result type.
RESULT_TYPE: dict[str, str] = {n: d.result for n, d in REGISTRY.items()}
#: name -> argument kind per position.
ARGUMENTS: dict[str, tuple[str, ...]] = {n: d.args for n, d in REGISTRY.items()}
#: Aggregates whose value table is capped (matches flagged `distinct-capped`).
CAPPED: frozenset[str] = frozenset(n for n, d in REGISTRY.items() if d.capped)


def aggregate(name: str) -> AggregateDef:
    """The registry entry of an aggregate; raises `KeyError` for an unknown name."""
    return REGISTRY[name]


def factories(specs, limits: dict, window: float | None = None) -> list:
    """Zero-argument constructors for a rule's aggregates (built once per rule, called per key).

    An aggregate whose class takes no configuration is constructed by
    calling the class itself (cheaper per key than a closure).
    """
    out = []
    for spec in specs:
        cls = REGISTRY[spec.kind].class_for(spec)
        if cls.CONFIGURED:
            out.append(lambda spec=spec: make_aggregator(spec, limits, window))
        else:
            out.append(cls)
    return out


def make_aggregator(spec, limits: dict, window: float | None = None):
    """A fresh aggregator for an `AggSpec`."""
    return REGISTRY[spec.kind].make(spec, limits, window)


# ---------------------------------------------------------------- fused updates

_FUSED: dict = {}


def _template(cls, method: str) -> tuple | None:
    """The line template `cls.<method>` was compiled from, if it was (an override is called instead)."""
    fn = getattr(cls, method)
    body = getattr(cls, method.upper(), None)
    return body if body is not None and getattr(fn, "__template__", None) is body else None


def write_update(w, consts, cls, method: str, agg: str, value: str, var: str) -> None:
    """Write `agg.<method>(value, ts)` into generated code `w`: the template's lines inlined, else a call.

    `agg` and `value` are expressions of the generated code, `var` a free
    local name for the value; `ts` must be bound where the lines run.
    """
    body = _template(cls, method)
    if body is None:
        w.line(f"{consts.add(getattr(cls, method))}({agg}, {value}, ts)")
        return
    if any("{v}" in b for b in body):
        w.line(f"{var} = {value}")
    for b in body:
        w.line(b.format(a=agg, v=var))


#: Names generated window code may use (the templates' names).
TEMPLATE_NAMES = _TEMPLATE_NAMES


def fused_updates(classes: tuple, args: tuple) -> tuple:
    """`(add_all, remove_all)` for aggregates of these classes reading these argument slots.

    `add_all(aggs, vals, ts)` does what `agg.add(vals[arg], ts)` does for
    each aggregate in order (None where it takes no argument), in one call:
    the methods compiled from line templates (count, count-if, ratio,
    distinct/sample) are inlined from the same lines, the others called
    (bound as `k<n>` constants). Shared by every window of the same shape;
    generated through `pycode`, so tracebacks show the source.
    """
    key = (classes, args)
    got = _FUSED.get(key)
    if got is not None:
        return got
    w, consts = pycode.Writer(), pycode.Consts()
    for name, method in (("add_all", "add"), ("remove_all", "remove")):
        w.line(f"def {name}(aggs, vals, ts):")
        w.indent()
        if classes:
            w.line(", ".join(f"a{i}" for i in range(len(classes))) + ", = aggs")
        for i, (cls, arg) in enumerate(zip(classes, args)):
            write_update(w, consts, cls, method, f"a{i}", f"vals[{arg}]" if arg is not None else "None", f"v{i}")
        if not classes:
            w.line("pass")
        w.dedent()
    filename = pycode.unique_filename("window updates", "+".join(c.__name__ for c in classes) or "none")
    factory, _source, _lines = pycode.compile_factory(w, consts, "make_updates", "add_all, remove_all", filename,
                                                      dict(_TEMPLATE_NAMES))
    got = _FUSED[key] = factory(*consts.values)
    return got
