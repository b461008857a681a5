"""Window machines: sliding, tumbling and session windows per key.

- sliding (default): the window of an event at t is (t - size, t]; events
  leave in arrival order as later events enter; `having` is evaluated each
  time an event enters. What happens after a match is the refire policy:
  `reset` (default: the key's window starts afresh), `keep` (fires again
  only after `having` turned false), `cooldown D` (state kept, at most one
  match per D).
- tumbling: windows [k·size, (k+1)·size) aligned to the epoch, closed when
  the watermark reaches their end; `having` is evaluated at close, with
  `baseline()` (the key's own history of closed windows) and `for D`
  (held in ceil(D/size) consecutive windows: a quiet window breaks it).
- session: a key's session ends when no event came for more than `gap`;
  `having` is evaluated when it ends (at last event + gap).

Memory per key is bounded: past `limit window` events a sliding window
folds its oldest events into time slices of 1/60 of the window (values stay
exact; the match is flagged `window-folded`, and `window-sliced` when a
slice straddling the window's start counts whole); the aggregate steps of
sequences still drop their oldest events past the limit (`window-capped`);
tumbling and session windows hold only aggregates plus the first `events`
records for provenance.
"""

from __future__ import annotations

import math
from collections import deque

from . import pycode
from .aggregate import (
    CAPPED,
    REGISTRY,
    TEMPLATE_NAMES,
    Baseline,
    FirstSeen,
    _hashable,
    factories,
    fused_updates,
    make_aggregator,
    write_update,
)
from .duration import format_seconds
from .match import Match, event_record, format_ts, jsonable, stable_hash
from .record import AFTER, BEFORE
from .state import NEG_INF, Machine, thaw_key


def _sample_held(seen: dict, buf: list, head: int, arg: int, n: int) -> list:
    """`sample()`: `seen` (values already taken, in order) extended by the held events' values of
    argument `arg`, oldest first, distinct, up to `n`; unhashable and missing values are skipped."""
    for k in range(head, len(buf)):
        v = buf[k][2][arg]
        if v is None:
            continue
        try:
            if v not in seen:
                seen[v] = None
        except TypeError:
            continue
        if len(seen) >= n:
            break
    return list(seen)


class SlidingWindow:
    """Events of one key within (t - size, t] with incremental aggregates."""

    __slots__ = ("size", "buf", "head", "aggs", "args", "cap", "capped", "dropped", "_adders", "_removers")

    def __init__(self, aggs, limits: dict, size: float, ctors: list | None = None, args: tuple | None = None,
                 ops: tuple | None = None):
        self.size = size
        # The window's events: a list read from `head` on (a deque costs ~700 bytes even
        # for one event; most keys hold few). Popped slots are cut off in batches.
        self.buf: list = []
        self.head = 0
        if ctors is not None:
            self.aggs = [c() for c in ctors]
        else:
            self.aggs = [make_aggregator(a, limits, size) for a in aggs]
        self.args = args if args is not None else tuple(a.arg for a in aggs)
        self.cap = limits.get("window", 10_000)
        self.capped = False
        self.dropped = 0
        if ops is not None:
            self._adders, self._removers = ops
        else:
            self._bind()

    def _bind(self) -> None:
        # Each aggregate's add/remove paired with its argument slot, shared by every
        # window of the same shape (a per-window copy would cost ~400 bytes a key).
        self._adders, self._removers = fused_updates(tuple(type(agg) for agg in self.aggs), self.args)

    def ops(self) -> tuple:
        """The (adders, removers) this window's shape shares."""
        return self._adders, self._removers

    @property
    def events(self) -> list:
        """The events in the window, oldest first (a copy)."""
        return self.buf[self.head:]

    def __len__(self) -> int:
        return len(self.buf) - self.head

    def first(self):
        return self.buf[self.head] if self.head < len(self.buf) else None

    def last(self):
        return self.buf[-1] if self.head < len(self.buf) else None

    def add(self, ts: float, eid, vals: tuple, rec: tuple) -> None:
        buf = self.buf
        horizon = ts - self.size
        if self.head < len(buf) and buf[self.head][0] <= horizon:
            while self.head < len(buf) and buf[self.head][0] <= horizon:
                self._pop()
        buf.append((ts, eid, vals, rec))
        self._adders(self.aggs, vals, ts)
        if len(buf) - self.head > self.cap:
            self._pop()
            self.capped = True
            self.dropped += 1

    def _pop(self) -> None:
        buf = self.buf
        head = self.head
        ts, _eid, vals, _rec = buf[head]
        buf[head] = None
        head += 1
        if head >= 32 and head * 2 >= len(buf):
            del buf[:head]
            head = 0
        self.head = head
        self._removers(self.aggs, vals, ts)

    def __getitem__(self, i: int):
        """One aggregate's current value: `having` reads only what it needs (A[i])."""
        agg = self.aggs[i]
        v = agg.value()
        if agg.kind == "rate":
            return v / self.size if self.size else None
        return v

    def values(self, exact: bool = False) -> list:
        """Current aggregate values; `exact` also orders sample() by the window's events.

        sample(x, n) lists values in window order. Keeping that order under
        removals would need a scan per event, so `having` sees the values in
        the order they were first seen, and the exact order is computed (one
        scan, stopping at n values) only for a match's emit and provenance.
        """
        out = []
        for i, agg in enumerate(self.aggs):
            if exact and agg.kind == "sample":
                out.append(self._sample(self.args[i], agg.n))
                continue
            v = agg.value()
            if agg.kind == "rate":
                v = v / self.size if self.size else None
            out.append(v)
        return out

    def _sample(self, arg: int, n: int) -> list:
        return _sample_held({}, self.buf, self.head, arg, n)

    def reset(self) -> None:
        """Start afresh, keeping first_seen memories (they are about the key, not the window)."""
        self.buf = []
        self.head = 0
        # The same classes: the shared add/remove pairs stay valid.
        self.aggs = [agg if isinstance(agg, FirstSeen) else agg.fresh() for agg in self.aggs]

    def provenance(self, specs, values: list, fields: tuple, cap: int) -> dict:
        events = self.events
        n = len(events)
        shown = list(events)[: max(0, cap - 1)]
        if n > len(shown):
            shown.append(events[-1])
        end = events[-1][0] if events else None
        prov = {
            "window": {"type": "sliding", "size": format_seconds(self.size),
                       "start": format_ts(end - self.size) if end is not None else None,
                       "end": format_ts(end)},
            "values": {s.label: jsonable(v) for s, v in zip(specs, values)},
            "event_count": n,
            "events": [event_record((e[1], e[0], e[3]), fields) for e in shown],
            "omitted": n - len(shown),
        }
        capped = self.capped_flags(specs)
        if capped:
            prov["capped"] = capped
        return prov

    def capped_flags(self, specs) -> list[str]:
        out = []
        if self.capped:
            out.append("window-capped")
        for s, agg in zip(specs, self.aggs):
            if s.kind in CAPPED and agg.capped:
                out.append("distinct-capped")
                break
        return out

    def dump(self) -> list:
        return [[[e[0], e[1], list(e[2]), list(e[3])] for e in self.events],
                [a.dump() for a in self.aggs], self.capped, self.dropped]

    def load(self, d) -> None:
        events, aggs, self.capped, self.dropped = d
        self.buf = [(e[0], e[1], tuple(e[2]), tuple(e[3])) for e in events]
        self.head = 0
        for agg, s in zip(self.aggs, aggs):
            agg.load(s)
        self._bind()


class WinState:
    """A key's state for a window rule."""

    __slots__ = ("win", "last", "prev", "cool", "wid", "start", "n", "first", "last_rec", "view",
                 "aggs", "streak", "last_true", "bases", "armed", "open", "emitted_wid", "run_first")

    def __init__(self):
        self.win = None          # sliding: SlidingWindow
        self.last = NEG_INF      # last activity (event time)
        self.prev = False        # sliding: having at the previous evaluation (refire keep)
        self.cool = NEG_INF      # sliding: cooldown until
        self.wid = None          # tumbling: window index; session: None
        self.start = None
        self.n = 0
        self.first: list = []
        self.last_rec = None
        self.view = None
        self.aggs = None
        self.streak = 0
        self.last_true = None
        self.bases = None        # tumbling: {agg index: Baseline}
        self.armed = False       # session: a close timer is pending
        self.open = False
        self.emitted_wid = None
        self.run_first = None



#: Aggregates a sliding window may leave unbuilt until a key can reach its rule's `having`
#: (rebuilt from the held events gives the same value: integer state, no float sums).
COLD_KINDS = frozenset({"distinct", "sample", "min", "max", "changes"})
#: Slices per window length when a long sliding window folds its oldest events.
SLICES_PER_WINDOW = 60


class SlideKey:
    """A key's sliding window (the rule's state for that key): held events, aggregates, folded slices.

    Events are held one by one, oldest first (`buf` read from `head` on),
    up to `limit window`; past it the oldest are *folded* into time slices
    of 1/60 of the window (epoch-aligned), each keeping only the partial
    aggregates that take its events back out (`Aggregate.fold`/`drop`), so
    a window of any length costs `limit window` events plus 61 slices. A
    slice leaves when all of its events have: until then it may hold
    events up to one slice width older than the window (the match says so:
    `window-sliced`). Aggregates a key cannot need yet (below the count its
    rule's `having` requires, `COLD_KINDS`) stay unbuilt (`None`) until
    then and are rebuilt from the held events.

    `R` (a class attribute of each rule's subclass) is the rule's
    `SlideShape`; the fields of `WinState` that a sliding rule never uses
    read as their defaults, so snapshots and introspection treat both alike.
    """

    __slots__ = ("buf", "head", "aggs", "last", "prev", "cool", "warm", "nf", "slices")
    R: SlideShape
    wid = start = last_rec = view = last_true = bases = emitted_wid = run_first = None
    n = streak = 0
    first_recs = ()
    armed = open = False

    def __init__(self):
        self.buf: list = []
        self.head = 0
        R = self.R
        self.aggs = R.new_aggs()
        self.last = NEG_INF
        self.prev = False
        self.cool = NEG_INF
        self.warm = not R.cold
        self.nf = 0              # events folded into slices, still in the window
        self.slices = None       # deque of [slice id, first ts, last ts, events, first id, summaries]

    @property
    def win(self):
        """The window itself (the state is the window; kept for introspection code)."""
        return self

    @property
    def events(self) -> list:
        """The events held one by one, oldest first (a copy): `(ts, id, values, record)`."""
        return self.buf[self.head:]

    def __len__(self) -> int:
        return len(self.buf) - self.head + self.nf

    def first(self):
        """(ts, id) of the window's oldest event (folded or held), or None."""
        if self.slices:
            sl = self.slices[0]
            return sl[1], sl[4]
        return self.buf[self.head] if self.head < len(self.buf) else None

    def last_event(self):
        return self.buf[-1] if self.head < len(self.buf) else None

    def __getitem__(self, i: int):
        """One aggregate's current value: `having` reads only what it needs (A[i])."""
        agg = self.aggs[i]
        if agg is None:
            self.materialize()
            agg = self.aggs[i]
        v = agg.value()
        if agg.kind == "rate":
            return v / self.R.size if self.R.size else None
        return v

    def materialize(self) -> None:
        """Build the aggregates left unbuilt, from the held events (none is folded while cold)."""
        R = self.R
        aggs = self.aggs
        events = self.buf[self.head:]
        for i in R.cold:
            agg = R.ctors[i]()
            arg = R.args[i]
            for e in events:
                agg.add(e[2][arg] if arg is not None else None, e[0])
            aggs[i] = agg
        self.warm = True

    def values(self, exact: bool = False) -> list:
        """Current aggregate values; `exact` also orders sample() by the window's events."""
        if not self.warm:
            self.materialize()
        out = []
        size = self.R.size
        for i, agg in enumerate(self.aggs):
            if exact and agg.kind == "sample":
                out.append(self._sample(i, self.R.args[i], agg.n))
                continue
            v = agg.value()
            if agg.kind == "rate":
                v = v / size if size else None
            out.append(v)
        return out

    def _sample(self, i: int, arg: int, n: int) -> list:
        seen: dict = {}
        for sl in self.slices or ():
            for v in sl[5][i][0]:         # the slice's values in first-appearance order
                if v not in seen:
                    seen[v] = None
                    if len(seen) >= n:
                        return list(seen)
        return _sample_held(seen, self.buf, self.head, arg, n)

    def reset(self) -> None:
        """Start afresh, keeping first_seen memories (they are about the key, not the window)."""
        R = self.R
        self.buf = []
        self.head = 0
        self.nf = 0
        self.slices = None
        self.aggs = [agg if isinstance(agg, FirstSeen) else (None if i in R.cold_set else
                     (agg.fresh() if agg is not None else R.ctors[i]())) for i, agg in enumerate(self.aggs)]
        self.warm = not R.cold

    # -- expiry and folding (the held events' part is generated per rule: SlideShape.expire)
    def drop_slices(self, lim: float) -> None:
        """Take out the folded slices whose events have all left the window (last ts <= lim)."""
        slices = self.slices
        aggs = self.aggs
        while slices and slices[0][2] <= lim:
            sl = slices.popleft()
            rest = list(slices)
            for i, agg in enumerate(aggs):
                sm = sl[5][i]
                if sm is not None:
                    agg.drop(sm, [r[5][i] for r in rest])
            self.nf -= sl[3]
        if not slices:
            self.slices = None

    def fold(self, cap: int) -> int:
        """Fold the oldest held events into slices until at most `cap` are held; how many were folded."""
        if not self.warm:
            self.materialize()
        R = self.R
        width = R.width
        buf = self.buf
        aggs = self.aggs
        args = R.args
        slices = self.slices
        if slices is None:
            slices = self.slices = deque()
        k = 0
        while len(buf) - self.head > cap:
            ts, eid, vals, _rec = buf[self.head]
            buf[self.head] = None
            self.head += 1
            sid = int(ts // width)
            if slices and slices[-1][0] == sid:
                sl = slices[-1]
                sl[2] = ts
                sl[3] += 1
            else:
                sl = [sid, ts, ts, 1, eid, [agg.summary() for agg in aggs]]
                slices.append(sl)
            sms = sl[5]
            for i, agg in enumerate(aggs):
                if sms[i] is not None:
                    arg = args[i]
                    agg.fold(vals[arg] if arg is not None else None, ts, sms[i])
            k += 1
        self.nf += k
        if self.head >= 32 and self.head * 2 >= len(buf):
            del buf[:self.head]
            self.head = 0
        return k

    # -- matches
    def provenance(self, specs, values: list, fields: tuple, cap: int, now: float) -> dict:
        events = self.events
        n = len(self)
        shown = events[: max(0, cap - 1)]
        if len(events) > len(shown):
            shown.append(events[-1])
        end = events[-1][0] if events else None
        prov = {
            "window": {"type": "sliding", "size": format_seconds(self.R.size),
                       "start": format_ts(end - self.R.size) if end is not None else None,
                       "end": format_ts(end)},
            "values": {s.label: jsonable(v) for s, v in zip(specs, values)},
            "event_count": n,
            "events": [event_record((e[1], e[0], e[3]), fields) for e in shown],
            "omitted": n - len(shown),
        }
        capped = self.capped_flags(specs, now)
        if capped:
            prov["capped"] = capped
        return prov

    def capped_flags(self, specs, now: float) -> list[str]:
        """The caps that shaped this window's values or provenance (flags of its match)."""
        out = []
        if self.slices:
            out.append("window-folded")
            if self.slices[0][1] <= now - self.R.size:
                out.append("window-sliced")
        for s, agg in zip(specs, self.aggs):
            if s.kind in CAPPED and agg is not None and agg.capped:
                out.append("distinct-capped")
                break
        out += first_seen_flags(specs, self.aggs)
        return out

    # -- snapshot
    def dump(self) -> list:
        return [[[e[0], e[1], list(e[2]), list(e[3])] for e in self.events],
                [a.dump() if a is not None else None for a in self.aggs], self.warm, self.nf,
                [[sl[0], sl[1], sl[2], sl[3], sl[4],
                  [_dump_summary(sm) for sm in sl[5]]] for sl in self.slices or ()]]

    def load(self, d) -> None:
        events, aggs, warm, nf, slices = d
        R = self.R
        self.buf = [(e[0], e[1], tuple(e[2]), tuple(e[3])) for e in events]
        self.head = 0
        self.warm = bool(warm)
        self.nf = int(nf)
        if len(aggs) != len(R.ctors):
            raise ValueError("aggregates do not match the rule")
        out = []
        for i, s in enumerate(aggs):
            if s is None:
                if i not in R.cold_set or self.warm:
                    raise ValueError("an aggregate is missing")
                out.append(None)
                continue
            agg = R.ctors[i]()
            agg.load(s)
            out.append(agg)
        self.aggs = out
        self.slices = deque([int(sl[0]), float(sl[1]), float(sl[2]), int(sl[3]), sl[4],
                             [_load_summary(sm) for sm in sl[5]]] for sl in slices) if slices else None
        if self.slices and sum(sl[3] for sl in self.slices) != self.nf:
            raise ValueError("folded events do not add up")


def _dump_summary(sm):
    if sm is None:
        return None
    if sm and type(sm[0]) is dict:
        return [list(sm[0].items()), *sm[1:]]
    return list(sm)


def _load_summary(d):
    if d is None:
        return None
    if d and type(d[0]) is list and all(type(x) is list and len(x) == 2 for x in d[0]):
        return [{_hashable(k): c for k, c in d[0]}, *d[1:]]
    return list(d)


def first_seen_flags(specs, aggs) -> list[str]:
    """`first-seen-capped` when a first_seen() verdict may be wrong (its memory forgot values in the horizon)."""
    for s, agg in zip(specs, aggs):
        if s.kind == "first_seen" and agg is not None and agg.doubt:
            return ["first-seen-capped"]
    return []


class SlideShape:
    """What every key of one sliding rule shares: aggregate constructors, the generated update code.

    `on_event(ev)` (generated, one call per event) finds the key's state,
    expires and adds the event, folds past `limit window`, and evaluates
    `having` only once the window holds the events `having` needs
    (`guard`, derived from its `count()`/`distinct()` lower bounds).
    """

    def __init__(self, machine, spec):
        self.size = spec.window_size
        self.width = self.size / SLICES_PER_WINDOW if self.size else 1.0
        self.ctors = factories(spec.aggs, spec.limits, self.size)
        self.args = tuple(a.arg for a in spec.aggs)
        self.classes = tuple(type(make_aggregator(a, spec.limits, self.size)) for a in spec.aggs)
        self.guard = int(getattr(spec, "window_guard", 0) or 0)
        self.cold = tuple(i for i, a in enumerate(spec.aggs) if a.kind in COLD_KINDS) if self.guard >= 2 else ()
        self.cold_set = frozenset(self.cold)
        self.cap = max(2, spec.limit("window"))
        cold = self.cold_set
        ctors = self.ctors
        if cold:
            hot = [(i, c) for i, c in enumerate(ctors) if i not in cold]
            n = len(ctors)

            def new_aggs(_hot=hot, _n=n):
                out = [None] * _n
                for i, c in _hot:
                    out[i] = c()
                return out
        else:
            def new_aggs(_ctors=ctors):
                return [c() for c in _ctors]
        self.new_aggs = new_aggs
        self.State = type(f"SlideKey_{spec.index}", (SlideKey,), {"__slots__": (), "R": self})
        self.on_event, self.expire, self.source = self._generate(machine, spec)

    def _generate(self, machine, spec):
        w, consts = pycode.Writer(), pycode.Consts()
        n = len(self.classes)
        unpack = (", ".join(f"a{i}" for i in range(n)) + ", = st.aggs") if n else None
        hot = [i for i in range(n) if i not in self.cold_set]
        cold = list(self.cold)

        def updates(method: str, indices) -> None:
            for i in indices:
                arg = self.args[i]
                write_update(w, consts, self.classes[i], method, f"a{i}",
                             f"vals[{arg}]" if arg is not None else "None", f"v{i}")

        # expire(st, now): slices first (all older than the held events), then held events.
        w.line("def expire(st, now):")
        w.indent()
        w.line(f"lim = now - {consts.add(self.size)}")
        w.line("if st.slices is not None:")
        w.line("    st.drop_slices(lim)")
        w.line("    if st.slices is not None:")
        w.line("        return")
        w.line("buf = st.buf")
        w.line("h = st.head")
        w.line("end = len(buf)")
        w.line("if h >= end or buf[h][0] > lim:")
        w.line("    return")
        if unpack:
            w.line(unpack)
        if cold:
            w.line("warm = st.warm")
        w.line("while h < end:")
        w.indent()
        w.line("e = buf[h]")
        w.line("ts = e[0]")
        w.line("if ts > lim:")
        w.line("    break")
        w.line("vals = e[2]")
        updates("remove", hot)
        if cold:
            w.line("if warm:")
            w.indent()
            updates("remove", cold)
            w.line("pass")
            w.dedent()
        w.line("buf[h] = None")
        w.line("h += 1")
        w.dedent()
        w.line("if h >= 32 and h * 2 >= end:")
        w.line("    del buf[:h]")
        w.line("    h = 0")
        w.line("st.head = h")
        w.dedent()

        # on_event(ev): the whole per-event path of the rule, one call.
        w.line("def on_event(ev):")
        w.indent()
        w.line("p = prep(ev)")
        w.line("if p is None:")
        w.line("    machine.missing_key += 1")      # a key field is missing: the event takes no part (counted)
        w.line("    return")
        w.line("key, vals, rec = p")
        w.line("now = eng.now")
        w.line("st = get_state(key)")
        w.line("if st is None:")
        w.line("    st = State()")
        w.line("    new_key(key, st)")
        w.line("else:")
        w.line("    move_to_end(key)")
        w.line(f"    if now - st.last > {consts.add(machine.horizon + machine.extra_horizon())}:")
        w.line("        st = State()")
        w.line("        states[key] = st")
        w.line("st.last = now")
        w.line("buf = st.buf")
        w.line("h = st.head")
        w.line(f"if st.slices is not None or (h < len(buf) and buf[h][0] <= now - {consts.add(self.size)}):")
        w.line("    expire(st, now)")
        w.line("buf.append((now, ev.get('id'), vals, rec))")
        w.line("ts = now")
        if unpack:
            w.line(unpack)
        updates("add", hot)
        if cold:
            w.line("if st.warm:")
            w.indent()
            updates("add", cold)
            w.line("pass")
            w.dedent()
        w.line("held = len(buf) - st.head")
        w.line(f"if held > {consts.add(self.cap)}:")
        w.line(f"    machine.folded += st.fold({consts.add(self.cap)})")
        if self.guard >= 2:
            w.line(f"if held + st.nf < {consts.add(self.guard)}:")
            w.line("    st.prev = False")
            w.line("    return")
        w.line("if not having(st, ev):")
        w.line("    st.prev = False")
        w.line("    return")
        w.line("fire(key, st, ev, now)")
        w.dedent()
        states = machine.states
        params = ("prep", "get_state", "move_to_end", "states", "new_key", "eng", "State", "having", "fire",
                  "machine")
        filename = pycode.unique_filename("sliding window", spec.name)
        factory, source, _lines = pycode.compile_factory(w, consts, "make_window", "on_event, expire", filename,
                                                         dict(TEMPLATE_NAMES), params)
        on_event, expire = factory(*consts.values, spec.prep, states.get, states.move_to_end, states,
                                   machine.new_key, machine.engine, self.State, spec.having,
                                   machine._sliding_true, machine)
        return on_event, expire, source


class WindowMachine(Machine):
    """One window rule's keyed windows."""

    kind = "window"

    def __init__(self, engine, spec):
        super().__init__(engine, spec)
        self.wkind = spec.window_kind
        self.size = spec.window_size
        self.gap = spec.window_gap
        self.ecap = spec.limit("events")
        self.open_ends: dict[float, list] = {}
        self.base_idx = [i for i, a in enumerate(spec.aggs) if a.kind == "baseline"]
        self.need = 1
        if spec.sustain and self.size:
            self.need = max(1, int(math.ceil(spec.sustain / self.size - 1e-9)))
        # Aggregates with a horizon (baseline, first_seen) keep an idle key's state that long.
        longest = max([a.param for a in spec.aggs if REGISTRY[a.kind].horizon] + [spec.sustain or 0.0])
        self._extra = longest
        self.fs_idx = [i for i, a in enumerate(spec.aggs) if a.kind == "first_seen"]
        self.ctors = factories(spec.aggs, spec.limits, self.size or self.gap)
        self.args = tuple(a.arg for a in spec.aggs)
        # Tumbling and session windows: the aggregates' adds in one generated call.
        self._add_all = fused_updates(
            tuple(type(make_aggregator(a, spec.limits, self.size or self.gap)) for a in spec.aggs), self.args)[0]
        self.folded = 0          # events folded into slices (long sliding windows)
        self.flagged: dict[str, int] = {}   # matches per flag (caps that shaped them)
        self.shape = None
        if self.wkind == "sliding":
            # The hot path, generated for this rule: one call per event.
            self.shape = SlideShape(self, spec)
            self.on_event = self.shape.on_event

    def extra_horizon(self) -> float:
        return self._extra

    def forget(self, key, st) -> None:
        if st.open and self.wkind == "tumbling" and st.start is not None:
            keys = self.open_ends.get(st.start + self.size)
            if keys is not None:
                keys.pop(key, None)

    def pinned(self, st) -> bool:
        return st.open and self.wkind != "sliding"

    # -- entry (sliding rules use their generated `SlideShape.on_event`, bound in __init__)
    def on_event(self, ev) -> None:
        spec = self.spec
        prepped = spec.prep(ev)
        if prepped is None:         # a key field is missing: the event takes no part (counted)
            self.missing_key += 1
            return
        key, vals, rec = prepped
        now = self.engine.now
        st = self.states.get(key)
        if st is None:
            st = WinState()
            self.new_key(key, st)
        else:
            self.states.move_to_end(key)
            if now - st.last > self.horizon + self._extra and not st.open:
                st = WinState()          # idle past the horizon: a new key
                self.states[key] = st
        st.last = now
        if self.wkind == "tumbling":
            self._tumbling(key, st, ev, now, vals, rec)
        else:
            self._session(key, st, ev, now, vals, rec)

    # -- sliding (`on_event` is generated: SlideShape)
    def _sliding_true(self, key, st: SlideKey, ev, now) -> None:
        """`having` is true for this event: fire unless the refire policy holds it back."""
        spec = self.spec
        win = st
        policy = spec.refire
        if policy == "keep":
            fire = not st.prev
        elif policy == "cooldown":
            fire = now >= st.cool
            if fire:
                st.cool = now + (spec.refire_after or 0.0)
        else:
            fire = True
        st.prev = True
        if not fire:
            return
        values = win.values(exact=True)
        prov = win.provenance(spec.aggs, values, spec.record_fields, self.ecap, now)
        prov = {"kind": "window", **prov}
        first = win.first()
        first_ts = first[0] if first is not None else now
        flags = win.capped_flags(spec.aggs, now)
        fields = spec.emit(ev, values, None) if spec.emit is not None else {}
        fp = spec.fingerprint(ev, values, None) if spec.fingerprint is not None else None
        ids = (first[1], win.last_event()[1]) if first is not None else ("", "")
        m = self._match(key, first_ts, now, now, fields, fp, prov, flags, ids)
        if policy == "reset":
            win.reset()
            st.prev = False
        self.engine.emit(spec, m, ev)

    # -- tumbling
    def _tumbling(self, key, st: WinState, ev, now, vals, rec) -> None:
        size = self.size
        wid = int(now // size)
        if st.open and st.wid != wid:
            self._close(key, st)       # safety net: the timer normally closed it already
        if not st.open:
            self._open(st, wid * size, wid)
            end = (wid + 1) * size
            keys = self.open_ends.get(end)
            if keys is None:
                self.open_ends[end] = {key: None}
                self.engine.schedule(end, BEFORE, self.spec.index, "close", end, None)
            else:
                keys[key] = None
        self._accumulate(st, ev, now, vals, rec)

    def _open(self, st: WinState, start: float, wid) -> None:
        spec = self.spec
        st.open = True
        st.wid = wid
        st.start = start
        st.n = 0
        st.first = []
        st.last_rec = None
        old = st.aggs
        st.aggs = []
        for i, a in enumerate(spec.aggs):
            if old is not None and i in self.fs_idx:
                st.aggs.append(old[i])      # first_seen memory outlives windows
            else:
                st.aggs.append(make_aggregator(a, spec.limits, self.size or self.gap))
        if self.base_idx and st.bases is None:
            st.bases = {i: Baseline(spec.aggs[i], spec.limits, self.size) for i in self.base_idx}

    def _accumulate(self, st: WinState, ev, now, vals, rec) -> None:
        spec = self.spec
        st.n += 1
        r = (ev.get("id"), now, rec)
        if len(st.first) < max(1, self.ecap - 1):
            st.first.append(r)
        st.last_rec = r
        if spec.view is not None:
            st.view = spec.view(ev)
        self._add_all(st.aggs, vals, now)

    def _values(self, st: WinState, span: float) -> list:
        out = []
        for i, agg in enumerate(st.aggs):
            if st.bases is not None and i in st.bases:
                out.append(st.bases[i].value())
                continue
            v = agg.value()
            if agg.kind == "rate":
                v = v / span if span > 0 else None
            out.append(v)
        return out

    def _close(self, key, st: WinState, at: float | None = None) -> None:
        spec = self.spec
        eng = self.engine
        if self.wkind == "tumbling":
            span = self.size
            end = st.start + self.size
        else:
            span = max(st.last_rec[1] - st.start, 1.0) if st.last_rec else 1.0
            end = (st.last_rec[1] if st.last_rec else st.start) + self.gap
        if st.bases is not None:
            for b in st.bases.values():
                b.catch_up(st.wid)
        values = self._values(st, span)
        view = st.view if st.view is not None else {}
        ok = bool(spec.having(values, view)) if st.n else False
        fire = False
        if ok:
            if self.wkind == "tumbling" and self.need > 1:
                if st.last_true == st.wid - 1:
                    st.streak += 1
                else:
                    st.streak = 1
                    st.run_first = st.first[0][1] if st.first else st.start
                fire = st.streak == self.need
            else:
                fire = True
            st.last_true = st.wid
        else:
            st.streak = 0
        if st.bases is not None:
            for i, b in st.bases.items():
                inner = spec.aggs[i].inner
                b.observe(st.wid, st.aggs[inner].value() if inner is not None else 0)
        if fire:
            prov = {
                "kind": "window",
                "window": {"type": self.wkind,
                           **({"size": format_seconds(self.size)} if self.wkind == "tumbling"
                              else {"gap": format_seconds(self.gap)}),
                           "start": format_ts(st.start), "end": format_ts(end)},
                "values": {s.label: jsonable(v) for s, v in zip(spec.aggs, values)},
                "event_count": st.n,
                "events": [event_record(r, spec.record_fields) for r in
                           (st.first + ([st.last_rec] if st.last_rec is not None and st.n > len(st.first) else []))],
                "omitted": max(0, st.n - len(st.first) - (1 if st.n > len(st.first) else 0)),
            }
            if self.need > 1:
                prov["sustained"] = {"windows": st.streak, "for": format_seconds(spec.sustain)}
            flags = []
            for s, agg in zip(spec.aggs, st.aggs):
                if s.kind in CAPPED and agg.capped:
                    flags.append("distinct-capped")
                    break
            flags += first_seen_flags(spec.aggs, st.aggs)
            fields = spec.emit(view, values, None) if spec.emit is not None else {}
            fp = spec.fingerprint(view, values, None) if spec.fingerprint is not None else None
            first_ts = st.first[0][1] if st.first else st.start
            last_ts = st.last_rec[1] if st.last_rec else st.start
            ids = (st.first[0][0] if st.first else "", st.last_rec[0] if st.last_rec else "")
            if self.wkind == "tumbling" and self.need > 1 and st.run_first is not None:
                first_ts = st.run_first
            m = self._match(key, first_ts, last_ts, end if at is None else at, fields, fp, prov, flags, ids)
            eng.emit(spec, m, view)
        st.open = False
        st.first = []
        st.last_rec = None
        st.n = 0

    def on_timer(self, kind: str, a, b) -> None:
        if kind == "close":
            keys = self.open_ends.pop(a, {})
            for key in keys:
                st = self.states.get(key)
                if st is not None and st.open and st.start + self.size == a:
                    self._close(key, st, a)
        elif kind == "session":
            key = a
            st = self.states.get(key)
            if st is None or not st.open:
                return
            st.armed = False
            deadline = st.last + self.gap
            if deadline <= self.engine.now:
                self._close(key, st, deadline)
            else:
                st.armed = True
                self.engine.schedule(deadline, AFTER, self.spec.index, "session", key, None)

    # -- session
    def _session(self, key, st: WinState, ev, now, vals, rec) -> None:
        if st.open and st.last_rec is not None and now - st.last_rec[1] > self.gap:
            self._close(key, st, st.last_rec[1] + self.gap)
        if not st.open:
            self._open(st, now, None)
        self._accumulate(st, ev, now, vals, rec)
        if not st.armed:
            st.armed = True
            self.engine.schedule(now + self.gap, AFTER, self.spec.index, "session", key, None)

    def _match(self, key, first_ts, last_ts, emitted_at, fields, fp, prov, flags, ids) -> Match:
        spec = self.spec
        key_d = self.key_dict(key)
        flags = sorted(set(flags + self.degraded(first_ts)))
        for f in flags:
            self.flagged[f] = self.flagged.get(f, 0) + 1
        fp_parts = (spec.name, fp) if fp is not None else (spec.name, sorted(key_d.items()))
        match_id = stable_hash(spec.name, key_d, ids[0], ids[1], emitted_at)
        return Match(spec.name, spec.ttp, spec.goal, spec.severity, spec.title, key_d, first_ts, last_ts,
                     emitted_at, fields, prov, stable_hash(*fp_parts), match_id, flags)

    # -- introspection
    def describe(self, key, st: WinState) -> dict | None:
        """The key's current aggregate values, for near-miss reports."""
        spec = self.spec
        if self.wkind == "sliding":
            if not len(st) or st.last_event() is None or st.last_event()[0] <= self.engine.now - self.size:
                return None     # every event has left the window
            values = st.values()
            closes = st.first()[0] + self.size - self.engine.now
        else:
            if not st.open or not st.n:
                return None
            span = self.size if self.wkind == "tumbling" else max((st.last_rec[1] - st.start), 1.0)
            values = self._values(st, span)
            end = st.start + self.size if self.wkind == "tumbling" else st.last_rec[1] + self.gap
            closes = end - self.engine.now
        shown = {a.label: jsonable(v) for a, v in zip(spec.aggs, values)}
        text = ", ".join(f"{k}={v}" for k, v in shown.items())
        text += f"; window {'slides' if self.wkind == 'sliding' else 'closes'} in {max(closes, 0.0):g}s"
        return {"rule": spec.name, "kind": "window", "key": self.key_dict(key), "values": shown,
                "closes_in": closes, "progress": 0.5, "text": text}

    # -- snapshot
    def dump(self) -> list:
        items = [self.dump_state(key, st) for key, st in self.states.items()]
        return [self.dump_base(), [[e, list(ks)] for e, ks in self.open_ends.items()], items,
                [self.folded, self.flagged]]

    def dump_state(self, key, st: WinState) -> list:
        if self.wkind == "sliding":
            return [key, st.last, st.prev, st.cool, None, None, 0, [], None, None, None, 0, None, None,
                    False, False, st.dump(), None]
        if True:
            return [
                key, st.last, st.prev, st.cool, st.wid, st.start, st.n,
                [[r[0], r[1], list(r[2])] for r in st.first],
                [st.last_rec[0], st.last_rec[1], list(st.last_rec[2])] if st.last_rec else None,
                st.view, [a.dump() for a in st.aggs] if st.aggs is not None else None,
                st.streak, st.last_true,
                {str(i): b.dump() for i, b in st.bases.items()} if st.bases else None,
                st.armed, st.open, st.win.dump() if st.win is not None else None, st.run_first,
            ]

    def load(self, data) -> None:
        base, ends, items, (folded, flagged) = data
        self.folded = int(folded)
        self.flagged = {str(f): int(n) for f, n in flagged.items()}
        self.load_base(base)
        self.open_ends = {e: {thaw_key(k): None for k in ks} for e, ks in ends}
        self.states.clear()
        for item in items:
            self.load_state(item)

    def load_state(self, item) -> None:
        """Insert one key's state (from `dump_state`), as most recently active."""
        spec = self.spec
        (key, last, prev, cool, wid, start, n, first, last_rec, view, aggs, streak, last_true,
         bases, armed, open_, win, run_first) = item
        if self.wkind == "sliding":
            st = self.shape.State()     # the other fields of a sliding rule's dump are defaults
            st.last, st.prev, st.cool = last, prev, cool
            if win is not None:
                st.load(win)
        else:
            st = WinState()
            st.last, st.prev, st.cool, st.wid, st.start, st.n = last, prev, cool, wid, start, n
            st.first = [(r[0], r[1], tuple(r[2])) for r in first]
            st.last_rec = (last_rec[0], last_rec[1], tuple(last_rec[2])) if last_rec else None
            st.view = view
            if aggs is not None:
                st.aggs = [make_aggregator(a, spec.limits, self.size or self.gap) for a in spec.aggs]
                for agg, d in zip(st.aggs, aggs):
                    agg.load(d)
            st.streak, st.last_true = streak, last_true
            if bases:
                st.bases = {}
                for i, d in bases.items():
                    b = Baseline(spec.aggs[int(i)], spec.limits, self.size)
                    b.load(d)
                    st.bases[int(i)] = b
            st.armed, st.open, st.run_first = armed, open_, run_first
            if win is not None:
                st.win = SlidingWindow(spec.aggs, spec.limits, self.size)
                st.win.load(win)
        key = thaw_key(key)
        self.states.pop(key, None)
        self.states[key] = st
