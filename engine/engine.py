"""The streaming engine: event time, dispatch, machines, matches.

`Engine(pack)` evaluates a compiled pack over a stream of events. Time is
event time: the watermark is the highest event time seen minus `lateness`;
events within lateness are reordered through a time-ordered buffer (an
in-order list, released in bulk, plus a heap for stragglers) and processed in time order,
ties in arrival order; an event behind the watermark is quarantined as
`late`. Timers (tumbling-window ends, session ends, trailing-absence
deadlines) are merged with events by (time, phase): a window ending at T
closes before events at T, a deadline at T fires after them. Because every
decision is a function of event times only, a stream shuffled within the
lateness gives exactly the matches of the sorted stream, and a snapshot
restored mid-stream continues byte-identically.

Dispatch runs generated functions: per index field (route, method, ...)
one dict lookup finds the bucket function holding only the rules that can
match that value; each rule's handler then updates its machine. Input
goes through the ingest stage first (`engine/ingest/`); the time records are
in `record.py`, the snapshot format in `snapshot.py`.
"""

from __future__ import annotations

import heapq
import os
from _thread import allocate_lock
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import options as _options
from . import snapshot as _snapshot
from .errors import EngineError, SnapshotError
from .ingest.normalize import ID_ONLY, with_id
from .match import Match, event_record, format_ts, jsonable, stable_hash
from .pipe import Pipeline
from .population import Population
from .quarantine import BadInput, Quarantine, excerpt_of
from .record import BEFORE, Held, Timer
from .schema import TS_MAX
from .sequence import JoinMachine, SequenceMachine
from .spec import PackSpec, RuleSpec
from .state import NEG_INF, Machine, thaw_key
from .window import WindowMachine

INF = float("inf")
COLLECT_EVERY = 4096
DRAIN_EVERY = 1024    # feed_many releases due events at least this often
MAX_SUSPECTS = 256
#: Distinct match ids remembered for one emission instant (to number matches of identical content).
MAX_INSTANT_IDS = 65536
_NO_MATCHES: list = []


class EventMachine(Machine):
    """A single-event (`when`) rule: every event that satisfies it is a match."""

    kind = "event"

    def __init__(self, engine, spec) -> None:
        super().__init__(engine, spec)
        # A rule without key or fingerprint expression has one fingerprint: hash it once.
        self._fixed_fp = (stable_hash(spec.name, []) if spec.key is None and spec.fingerprint is None
                          and not spec.key_names else None)

    def on_event(self, ev) -> None:
        spec = self.spec
        eng = self.engine
        now = eng.now
        name = spec.name
        eid = ev.get("id")
        fp = self._fixed_fp
        if fp is None:
            key = spec.key(ev) if spec.key is not None else ()
            key_d = self.key_dict(key) if key is not None else {n: None for n in spec.key_names}
            f = spec.fingerprint(ev, None, None) if spec.fingerprint is not None else None
            fp = stable_hash(name, f) if f is not None else stable_hash(name, sorted(key_d.items()))
        else:
            key_d = {}
        fields = spec.emit(ev, None, None) if spec.emit is not None else {}
        prov = {"kind": "event", "events": [event_record((eid, now, spec.record(ev)), spec.record_fields)]}
        m = Match(name, spec.ttp, spec.goal, spec.severity, spec.title, key_d, now, now, now,
                  fields, prov, fp, stable_hash(name, eid, now), [])
        eng.emit(spec, m, ev, pipe_values=spec.pipe_values(ev, None) if spec.pipe_values is not None else None)

    def dump(self) -> list:
        return [self.dump_base()]

    def load(self, data) -> None:
        self.load_base(data[0])

    def dump_state(self, key, st) -> list:
        return [key]

    def load_state(self, item) -> None:
        pass


def _skip(*_args) -> None:
    """The handler of a rule this engine does not run (`Engine(rules=...)`)."""


MACHINES = {"event": EventMachine, "sequence": SequenceMachine, "join": JoinMachine, "window": WindowMachine}


class Engine:
    """Evaluate a compiled rule pack over a stream of events.

    `Engine(pack, ...)` is the engine `sleuth run` builds for the same options
    (docs/embedding.md). Time: `lateness` (seconds of disorder tolerated,
    default 5), `grace` (extra seconds before a trailing absence is decided,
    default 0), `future_tolerance` / `future_confirm` (the far-future guard:
    an event more than `future_tolerance` seconds ahead of the clock is held
    until `future_confirm - 1` more events agree with it, else quarantined as
    `future`). State: `max_keys` (global cap on live keys, LRU eviction).
    Input (`engine/options.py`): `mapping` (canonical field -> source path),
    `openapi` (OpenAPI document file(s): routes and `spec.*`), `templating`
    (without `openapi`, derive `route` from `path` by the id heuristic;
    default True), `roles` (role overrides, `"METHOD /route": role`),
    `enrich_table` (a prefix table CSV adding asn/country), `max_string`
    (longer strings are cut). Collaborators: a custom `normalizer` (instead
    of the input options), `quarantine`, `enrich` (callables adding fields to
    each event before rules see it), `population` (an object answering
    `share()`/`spread()` in place of this engine's own sketches, as
    `Population`; a keyed runner answers from the whole stream). `rules` (names of the rules to run,
    default all: the others hold no state and emit nothing; a keyed stream
    processor runs one engine per group of `pack.partition_plan()`).
    `memory` (a byte budget for rule state, `512MB` or bytes: past it keys
    are evicted max-min fairly from the rules holding the most bytes;
    docs/performance.md). Raises `EngineError` for a bad option or an unreadable file.

    One engine is used by one thread at a time: a second thread entering
    `feed`, `feed_many`, `advance`, `close` or `snapshot` while another is
    inside raises `EngineError` (`SharedEngine` serialises callers).

    Cost: O(1) amortised per event and matching rule; no per-event scan of
    keys or partial matches.
    """

    def __init__(self, pack: PackSpec, *, lateness: float = 5.0, grace: float = 0.0,
                 max_keys: int = 1_000_000, future_tolerance: float = 86400.0, future_confirm: int = 2,
                 mapping: Mapping[str, str] | None = None, openapi: str | os.PathLike | Sequence | None = None,
                 templating: bool = True, roles: Mapping[str, str] | None = None,
                 enrich_table: str | os.PathLike | None = None, max_string: int = 65536,
                 normalizer: Any = None, quarantine: Quarantine | None = None,
                 enrich: Iterable = (), source: str = "<feed>", rules: Iterable[str] | None = None,
                 population: Population | None = None,
                 memory: int | str | None = None):
        if not isinstance(pack, PackSpec):
            raise EngineError(f"Engine needs a compiled pack (load_pack(...)), got {type(pack).__name__}")
        given = {"lateness": lateness, "grace": grace, "max_keys": max_keys, "future_tolerance": future_tolerance,
                 "future_confirm": future_confirm, "mapping": mapping or {}, "openapi": openapi,
                 "templating": templating, "roles": roles or {}, "enrich_table": enrich_table,
                 "max_string": max_string, "rules": rules, "memory": memory}
        opts = {name: _options.canonical(name, value) for name, value in given.items()}
        if (opts["lateness"] < 0 or opts["grace"] < 0 or opts["future_tolerance"] <= 0 or opts["max_keys"] < 1
                or opts["future_confirm"] < 1 or opts["max_string"] < 1):
            raise EngineError("lateness and grace must be >= 0, future_tolerance > 0, max_keys, "
                              "future_confirm and max_string >= 1")
        if normalizer is not None and (mapping or openapi or roles):
            raise EngineError("give either a custom normalizer or the input options (mapping, openapi, roles) "
                              "that describe one, not both")
        self._opts = opts
        self.memory = opts["memory"]
        self.pack = pack
        # A keyed stream processor runs one engine per partition group: only these rules run.
        self.rules = None if opts["rules"] is None else frozenset(opts["rules"])
        if self.rules is not None:
            unknown = sorted(self.rules - {r.name for r in pack.rules})
            if unknown:
                raise EngineError(f"no rule named '{unknown[0]}' in the pack")
        self.lateness = opts["lateness"]
        self.grace = opts["grace"]
        self.max_keys = opts["max_keys"]
        self.future_tolerance = opts["future_tolerance"]
        self.future_confirm = opts["future_confirm"]
        self._custom_normalizer = normalizer is not None
        # By default the normaliser checks the types of the fields the pack reads.
        self.normalizer = normalizer if normalizer is not None else _options.build_normalizer(
            pack, mapping=opts["mapping"], openapi=opts["openapi"], templating=opts["templating"],
            roles=opts["roles"], max_string=opts["max_string"])
        # Derived fields (role, client, actor...) are computed for the packs that read them.
        want = getattr(self.normalizer, "want", None)
        if callable(want):
            want(pack.fields)
        # Its `normalize` method (a subclass's override too), or the callable itself.
        self.normalize = getattr(self.normalizer, "normalize", self.normalizer)
        # The normaliser's public fast path, inlined by `feed_many`; None for user code (a
        # subclass or any callable), whose event times are then checked after it.
        fast_path = getattr(self.normalizer, "fast_path", None)
        self._fast = fast_path() if callable(fast_path) else None
        self._custom = self._fast is None
        self.quarantine = quarantine if quarantine is not None else Quarantine(keep=100)
        self._custom_enrich = bool(tuple(enrich))
        self.enrich = tuple(_options.build_enrichers(opts["enrich_table"])) + tuple(enrich)
        self.source = source
        # The concurrency guard: held by the call inside an entry point (never waited on).
        self._busy = allocate_lock()
        self.now = NEG_INF
        self._seq = 0
        self._tseq = 0
        self._max_ts = NEG_INF
        self._wm = NEG_INF
        self._fifo: list = []     # in-order buffered events (ts, seq, event), read from _head on
        self._head = 0
        self._heap: list = []
        self._timers: list = []
        self._suspects: list = []
        self._normal_since_suspect = 0
        self._processed = 0
        self._new_keys = 0
        self._nkeys = 0
        self._est_bytes = 0
        self._measure_at = 0
        self._closed = False
        self._out: list = []
        self.metrics: dict[str, int] = {
            "matches": 0, "suppressed": 0, "late": 0,
            "future": 0, "rule_errors": 0, "evictions": 0, "until_resets": 0, "bad_input": 0,
            "piped_out": 0,
        }
        self.matches_by_rule: dict[str, int] = {r.name: 0 for r in pack.rules}
        self.fingerprints: dict[str, set] = {}
        # Match ids given at the latest emission time: content id -> how many matches had it.
        self._ids: dict[str, int] = {}
        self._ids_at = NEG_INF
        # Stream-wide sketches (share(), spread()): every processed event, before the rules.
        # A caller may answer the statistics itself (a keyed runner: from values the single,
        # in-order ingest attached to each event); by default this engine keeps the sketches.
        self.population = population if population is not None else Population(pack.population)
        self._observe = self.population.observer()
        # Machines of three kinds (event, sequence, window), each with its own methods.
        self.machines: list[Any] = [MACHINES[r.kind](self, self.population.bind(r)) for r in pack.rules]
        self._supp: list[OrderedDict | None] = [OrderedDict() if r.suppress else None for r in pack.rules]
        # Per rule: until when a suppression entry dropped at its cap could still have applied.
        self._supp_forgot: list[float] = [NEG_INF] * len(pack.rules)
        self._flag_counts: dict[str, dict[str, int]] = {}    # flags set outside the machines
        self._pipes: list[Pipeline | None] = [Pipeline(r) if r.pipes else None for r in pack.rules]
        self._linemaps: dict[str, tuple[str, dict]] = {r.filename: (r.name, r.lines) for r in pack.rules}
        self._consumers = [r for r in pack.rules if r.source == "matches"
                           and (self.rules is None or r.name in self.rules)]
        self._event_dispatch = self._bind(pack.events)
        self._match_dispatch = self._bind(pack.matches) if self._consumers else None
        self._match_producer: str | None = None
        # Callables run with each emitted match at its time (a policy of actions); see feed_derived.
        self.listeners: list = []
        self._scratch: dict[str, Any] = {}          # import_key validates blobs on these (machines)
        self._running = [m for m in self.machines if self.rules is None or m.spec.name in self.rules]

    # ---------------------------------------------------------------- wiring
    def _bind(self, dispatch):
        def handler(rule_index: int, role: str):
            m = self.machines[rule_index]
            spec = m.spec
            if self.rules is not None and spec.name not in self.rules:
                return _skip
            if spec.source == "matches":
                allowed = set(spec.consumes) if spec.consumes is not None else None
                rules = self.pack.rules
                by_name = {r.name: r for r in rules}

                def eligible(_name=spec.name, _allowed=allowed):
                    prod = self._match_producer
                    if prod == _name:
                        return False
                    if _allowed is not None:
                        return prod in _allowed
                    r = by_name.get(prod)      # None: a derived record (feed_derived), read only by name
                    return r is not None and r.source == "events"
                if role == "seq":
                    return lambda ev, bits, _m=m, _e=eligible: _e() and _m.on_event(ev, bits)
                return lambda ev, _m=m, _e=eligible: _e() and _m.on_event(ev)
            return m.on_event

        index = []
        for field, table in dispatch.index:
            bound = {}
            for value, group in table.items():
                bound[value] = self._make_group(group, handler)
            index.append((field, bound))
        always = self._make_group(dispatch.always, handler) if dispatch.always is not None else None
        return tuple(index), always

    def _make_group(self, group, handler):
        handlers = [handler(i, role) for i, role in group.slots]
        self._linemaps[group.filename] = (group.name, group.lines)
        return group.factory(*handlers, *self.population.queries(group.queries))

    # ---------------------------------------------------------------- input
    def _enter(self, what: str) -> None:
        """Another call holds the concurrency guard: say so (the guard is never waited on)."""
        raise EngineError(f"Engine.{what}() called while another call is running on this engine (another "
                              f"thread, or a listener calling back): an engine serves one thread at a time; use "
                          f"one engine per thread or partition, or SharedEngine (docs/embedding.md)")

    def feed(self, event, source: str | None = None, position: int | None = None) -> list[Match]:
        """Take one event (any mapping); return the matches it completes (often none).

        Bad input is quarantined with a reason and counted, never raised.
        Raises `EngineError` after `close()`, or when another call is running
        on this engine (another thread).
        """
        if not self._busy.acquire(False):
            self._enter("feed")
        try:
            return self._feed(event, source, position)
        finally:
            self._busy.release()

    def _feed(self, event, source: str | None, position: int | None) -> list[Match]:
        if self._closed:
            raise EngineError("the engine is closed")
        out: list[Match] = []
        self._out = out
        self._seq = seq = self._seq + 1
        try:
            ev = self.normalize(event, source or self.source, seq if position is None else position)
        except BadInput as exc:
            self.metrics["bad_input"] += 1
            self.quarantine.add_bad(source or self.source, seq if position is None else position, exc, event)
            return out
        if self.enrich or self._custom:
            if self.enrich:
                ev = self._enrich(ev, event, source, position)
            if not self._time_ok(ev, source or self.source, seq if position is None else position, event):
                return out
        ts = ev["ts"]
        mx = self._max_ts
        if mx <= ts and ts - mx <= self.future_tolerance and not self._suspects:
            # In order (the common case): append to the monotone buffer, release what is due.
            self._max_ts = ts
            self._fifo.append((ts, seq, ev))
            wm = ts - self.lateness
            if wm > self._wm:
                self._wm = wm
            self._release(self._wm)
            return out
        self._accept(ev, source, position)
        return out

    def _time_ok(self, ev, source, position, event) -> bool:
        """After user code (an enricher, a custom normaliser): is `ts` still a finite number? Else quarantined."""
        ts = ev.get("ts") if isinstance(ev, dict) else None
        if (type(ts) is float or type(ts) is int) and 0 <= ts <= TS_MAX:
            return True
        self.metrics["bad_input"] += 1
        self.quarantine.add(source, position, "bad-time",
                            f"the time is {type(ts).__name__} {str(ts)[:40]!r} after an enricher or normaliser",
                            excerpt_of(event), record=event)
        return False

    def _enrich(self, ev, event, source, position) -> dict:
        """Run the enrichers on the event (a copy when it is the caller's own dict)."""
        if ev is event:
            ev = dict(ev)
        for fn in self.enrich:
            try:
                fn(ev)
            except Exception as exc:  # an enricher is user code: report, keep the event
                self.quarantine.add(source or self.source, position if position is not None else self._seq,
                                    "enrich-error", f"{type(exc).__name__}: {exc}"[:300], excerpt_of(event),
                                    record=event)
        return ev

    def feed_many(self, events: Iterable, source: str | None = None,
                  positions: list[int] | None = None) -> list[Match]:
        """Feed an iterable of events; return all their matches in order.

        Same matches, state and quarantine as calling `feed` for each, about
        half the cost per event: in-order events are appended to the buffer
        in a tight loop and released in bulk (at least every `DRAIN_EVERY`
        events, so a long iterable is never held whole); the normaliser's
        fast path is inlined. `positions` (one per event: `EngineError`
        otherwise) are the input positions used for default ids
        (`<source>:<position>`) and quarantine entries; by default the
        arrival number. If the iterable itself raises, the events taken
        before stay in the engine, consistently (a later call goes on from
        them); matches they completed during this call go with the
        exception, so feed untrusted iterables in chunks. Raises
        `EngineError` when another call is running on this engine.
        """
        if not self._busy.acquire(False):
            self._enter("feed_many")
        try:
            return self._feed_many(events, source, positions)
        finally:
            self._busy.release()

    def _feed_many(self, events: Iterable, source: str | None, positions: list[int] | None) -> list[Match]:
        if self._closed:
            raise EngineError("the engine is closed")
        out: list[Match] = []
        self._out = out
        normalize = self.normalize
        # The normaliser's fast path inlined: a checker compiled for this key set says the
        # event is canonical as it is (the usual case), or names what the full path must fix.
        shape_of: Any = self._fast or {}.get
        custom = self._custom
        src = source or self.source
        push = self._fifo.append
        lateness, tol = self.lateness, self.future_tolerance
        enrich = self.enrich
        # Hot state lives in locals; it is written back before anything else reads it.
        seq, mx = self._seq, self._max_ts
        held = bool(self._suspects)
        drain_at = seq + DRAIN_EVERY
        if positions is not None:
            if not isinstance(positions, list):
                positions = list(positions)
            if not isinstance(events, (list, tuple)):
                events = list(events)
            if len(positions) != len(events):
                raise EngineError(f"feed_many: {len(events)} events but {len(positions)} positions")
        first = seq + 1
        pushed = False
        try:
            for event in events:
                seq += 1
                # `pos`, the input position (default ids, quarantine), is only worked out when
                # needed: the caller's, or the arrival number.
                check = shape_of(len(event)) if type(event) is dict else None
                if check is not None:
                    try:
                        bad = check(event)
                    except (KeyError, TypeError):
                        bad = True
                else:
                    bad = True
                if not bad:
                    ev = event
                elif bad is ID_ONLY:
                    ev = with_id(event, src, seq if positions is None else positions[seq - first])
                else:
                    pos = seq if positions is None else positions[seq - first]
                    try:
                        ev = normalize(event, src, pos)
                    except BadInput as exc:
                        self._seq = seq
                        self.metrics["bad_input"] += 1
                        self.quarantine.add_bad(src, pos, exc, event)
                        continue
                if enrich or custom:
                    pos = seq if positions is None else positions[seq - first]
                    self._seq = seq
                    if enrich:
                        ev = self._enrich(ev, event, source, pos)
                    if not self._time_ok(ev, src, pos, event):
                        continue
                ts = ev["ts"]
                if ts < mx or held or ts - mx > tol:
                    pos = seq if positions is None else positions[seq - first]
                    self._seq, self._max_ts = seq, mx
                    if pushed and mx - lateness > self._wm:
                        self._wm = mx - lateness
                    pushed = False
                    self._out = out
                    self._accept(ev, src, pos)
                    mx = self._max_ts
                    held = bool(self._suspects)
                    continue
                mx = ts
                push((ts, seq, ev))
                pushed = True
                if seq >= drain_at:
                    drain_at = seq + DRAIN_EVERY
                    self._seq, self._max_ts = seq, mx
                    if mx - lateness > self._wm:
                        self._wm = mx - lateness
                    pushed = False
                    self._release(self._wm)
        finally:
            # Also when the caller's iterable raises: what was taken is kept, consistently.
            # The watermark moves only with events taken in order here, as `feed` moves it.
            self._seq, self._max_ts = seq, mx
            if pushed and mx - lateness > self._wm:
                self._wm = mx - lateness
        self._release(self._wm)
        return out

    def _accept(self, ev: dict, source, position, seq: int | None = None, judge: bool = True) -> None:
        ts = ev["ts"]
        if ts < self._wm:
            self.metrics["late"] += 1
            self.quarantine.add(source or self.source, position if position is not None else self._seq, "late",
                                f"event time {format_ts(ts)} is behind the watermark {format_ts(self._wm)} "
                                f"(lateness {self.lateness:g}s)", excerpt_of(ev.get("id")), record=ev)
            return
        item = (ts, self._seq if seq is None else seq, ev)
        if judge and self._suspects:
            self._judge(ts)
        if ts > self._max_ts:
            if ts - self._max_ts > self.future_tolerance:
                # A jump far ahead (or the very first event: nothing to compare with)
                # must be confirmed by another event before it moves the clock.
                self._suspect(item, source, position)
                return
            self._max_ts = ts
            fifo = self._fifo
            if len(fifo) == self._head or ts >= fifo[-1][0]:
                fifo.append(item)
            else:
                heapq.heappush(self._heap, item)
            wm = ts - self.lateness
            if wm > self._wm:
                self._wm = wm
                self._release(wm)
        else:
            fifo = self._fifo
            if len(fifo) > self._head and ts >= fifo[-1][0]:
                fifo.append(item)
            else:
                heapq.heappush(self._heap, item)
            if ts <= self._wm:
                self._release(self._wm)
        if self._suspects:
            self._normal_since_suspect += 1
            if self._normal_since_suspect >= 1000:
                self._drop_suspects("unconfirmed after 1000 events")

    def _suspect(self, item, source, position) -> None:
        """The far-future guard: a jump far ahead is held until later events agree with it.

        An event more than `future_tolerance` ahead of the clock (and the very
        first event: there is no clock yet) is held. Each later event votes:
        for it when it is not behind it (time at or after the held time minus
        the lateness: the stream moved on), against it when it is (the stream
        came back: the held time is an outlier). `future_confirm - 1` votes
        for it confirm it; see `_judge`, `_close_suspects`. Held events are
        bounded (`MAX_SUSPECTS`): past it the oldest is quarantined.
        """
        held = Held(item, source or self.source, position if position is not None else item[1])
        if self.future_confirm <= 1:
            self._confirm([held])
            return
        self._suspects.append(held)
        if len(self._suspects) > MAX_SUSPECTS:
            (old_ts, _seq, old_ev), src, pos = self._suspects.pop(0)[:3]
            self.metrics["future"] += 1
            self.quarantine.add(src, pos, "future", f"event time {format_ts(old_ts)} was never confirmed "
                                f"(more than {MAX_SUSPECTS} unconfirmed events held)", excerpt_of(old_ev.get("id")),
                                record=old_ev)

    def _judge(self, ts: float) -> None:
        """One more event arrived at `ts`: its vote for or against every held event."""
        need = self.future_confirm - 1
        low = self.lateness
        confirmed = []
        keep = []
        for h in self._suspects:
            if ts >= h.item[0] - low:
                h = h._replace(votes=h.votes + 1)
                if h.votes >= need:
                    confirmed.append(h)
                    continue
            else:
                h = h._replace(against=h.against + 1)
            keep.append(h)
        self._suspects = keep
        if confirmed:
            self._confirm(confirmed)

    def _confirm(self, group: list) -> None:
        """Held events believed: their times move the clock; the held events it caught up with follow."""
        items = sorted(h.item for h in group)
        for it in items:
            heapq.heappush(self._heap, it)
        self._max_ts = max(self._max_ts, items[-1][0])
        wm = self._max_ts - self.lateness
        if wm > self._wm:
            self._wm = wm
        self._release(self._wm)
        # Held events that the confirmed clock has caught up with are ordinary now, in time
        # order (each may move the clock closer to the next).
        rest = sorted(self._suspects, key=lambda h: (h.item[0], h.item[1]))
        self._suspects = []
        for h in rest:
            ts, seq, ev = h.item
            if ts - self._max_ts > self.future_tolerance:
                self._suspects.append(h)
            else:
                self._accept(ev, h.source, h.position, seq, judge=False)
        self._suspects.sort(key=lambda h: h.item[1])       # arrival order, as they were held
        self._normal_since_suspect = 0

    def _close_suspects(self) -> None:
        """End of input: the end agrees with held events nothing came back before (one more vote)."""
        need = self.future_confirm - 1
        while True:
            ready = [h for h in self._suspects if not h.against and h.votes + 1 >= need]
            if not ready:
                return
            chosen = {id(h) for h in ready}
            self._suspects = [h for h in self._suspects if id(h) not in chosen]
            self._confirm(ready)

    def _drop_suspects(self, why: str) -> None:
        for (ts, _seq, ev), src, pos, *_votes in self._suspects:     # Held(item, source, position, ...)
            self.metrics["future"] += 1
            self.quarantine.add(src, pos, "future",
                                f"event time {format_ts(ts)} is more than {self.future_tolerance:g}s ahead of "
                                f"the clock ({format_ts(self._max_ts)}); {why}", excerpt_of(ev.get("id")),
                                record=ev)
        self._suspects = []
        self._normal_since_suspect = 0

    # ---------------------------------------------------------------- time
    def _release(self, wm: float) -> None:
        """Process buffered events and due timers up to the watermark, in time order.

        The buffer is a list read from `_head` on: in-order events are
        appended, stragglers go to a heap. While no straggler or timer is
        pending, the due prefix (found by bisection) is dispatched in a tight
        loop; otherwise events and timers are merged one at a time.
        """
        fifo, heap, timers = self._fifo, self._heap, self._timers
        while True:
            if not heap and not timers:
                head = self._head
                cut = bisect_right(fifo, (wm, INF), head)
                if cut == head:
                    break
                self._drain(head, cut)
                continue
            e = None
            from_heap = False
            head = self._head
            if head < len(fifo) and fifo[head][0] <= wm:
                e = fifo[head]
            if heap and heap[0][0] <= wm and (e is None or heap[0] < e):
                e = heap[0]
                from_heap = True
            if timers:
                t = timers[0]
                time, phase, _tseq, _rule, kind, _target, _token = t
                tt = time + (self.grace if kind == "absence" else 0.0)
                due = tt <= wm if phase == BEFORE else tt < wm
                # A timer before the events at its time sorts as phase 0 < 1, after them as 2 > 1.
                if due and (e is None or (tt, phase) < (e[0], 1)):
                    heapq.heappop(timers)
                    self._fire(t, tt)
                    continue
            if e is None:
                break
            if from_heap:
                heapq.heappop(heap)
            else:
                self._head = head + 1
            ts, seq, ev = e
            self._process(ts, ev, seq)
        # Consumed slots go once they are at least half the list: amortised O(1) per
        # event, and never more consumed events held than are still buffered.
        head = self._head
        if head and head * 2 >= len(fifo):
            del fifo[:head]
            self._head = 0

    def _drain(self, head: int, cut: int) -> None:
        """Dispatch buffered in-order events `head..cut-1`; stop early once a timer or straggler is pending.

        `_head` is left at the first event not taken, also when something
        escapes (an interrupt): an event is never processed twice. Only rule code
        can add a timer, so the check follows a dispatch; `now` is set before
        rule code or the periodic key collection runs, and at the end.
        """
        fifo, heap, timers = self._fifo, self._heap, self._timers
        index, always = self._event_dispatch
        rule_error = self._rule_error
        processed = self._processed
        observe = self._observe
        i = head
        t = self.now
        try:
            if len(index) == 1 and always is None and observe is None:
                ((field, table),) = index
                lookup = table.get
                while i < cut:
                    t, s, e = fifo[i]
                    i += 1
                    try:
                        g = lookup(e.get(field))
                    except TypeError as exc:      # an unhashable value from user code (enricher)
                        g = None
                        rule_error(exc, e, s)
                    processed += 1
                    if g is not None:
                        self.now = t
                        try:
                            g(e)
                        except Exception as exc:
                            rule_error(exc, e, s)
                        if heap or timers:
                            if not processed % COLLECT_EVERY:
                                self._processed = processed
                                self._collect()
                            break
                    if not processed % COLLECT_EVERY:
                        self.now = t
                        self._processed = processed
                        self._collect()
                return
            while i < cut:
                t, s, e = fifo[i]
                i += 1
                self.now = t
                if observe is not None:
                    observe(e, t)
                self._dispatch(e, s, index, always)
                processed += 1
                if not processed % COLLECT_EVERY:
                    self._processed = processed
                    self._collect()
                if heap or timers:
                    break
        finally:
            self._head = i
            self._processed = processed
            self.now = t

    def _process(self, ts: float, ev: dict, seq: int) -> None:
        self.now = ts
        if self._observe is not None:
            self._observe(ev, ts)
        index, always = self._event_dispatch
        self._dispatch(ev, seq, index, always)
        self._processed = n = self._processed + 1
        if not n % COLLECT_EVERY:
            self._collect()

    def _fire(self, t: Timer, at: float) -> None:
        kind = t.kind
        # A timer decides at its own logical time (deadline + grace for absences), even when
        # it runs late (a key's state imported after its deadline passed).
        self.now = at if kind == "absence" else t.time
        try:
            self.machines[t.rule].on_timer(kind, thaw_key(t.target) if kind != "close" else t.target, t.token)
        except Exception as exc:
            self._rule_error(exc, {"id": f"<timer {kind}>"})

    def schedule(self, time: float, phase: int, rule_index: int, kind: str, target, token) -> None:
        """Register a `Timer` (phase `BEFORE`: before events at `time`; `AFTER`: after them)."""
        self._tseq += 1
        heapq.heappush(self._timers, Timer(time, phase, self._tseq, rule_index, kind, target, token))
        if len(self._timers) > 2 * self._nkeys + 256:
            self._compact_timers()      # amortised O(1): at most one live timer per key survives

    def _compact_timers(self) -> None:
        """Drop timers whose key is gone (evicted or expired): memory stays O(live keys)."""
        keep = []
        for t in self._timers:
            m = self.machines[t.rule]
            kind = t.kind
            if kind == "close":
                if t.target in getattr(m, "open_ends", {}):
                    keep.append(t)
                continue
            st = m.states.get(thaw_key(t.target))
            if st is None:
                continue
            if kind == "session" and not (st.open and st.armed):
                continue
            if kind == "absence" and not any(w[1] == t.token for w in (st.waits or ())):
                continue
            keep.append(t)
        heapq.heapify(keep)
        self._timers[:] = keep      # in place: running loops hold this list

    def advance(self, to: float) -> list[Match]:
        """Move the watermark to event time `to` (seconds): windows close, absences fire."""
        if not self._busy.acquire(False):
            self._enter("advance")
        try:
            return self._advance(to)
        finally:
            self._busy.release()

    def _advance(self, to: float) -> list[Match]:
        out: list[Match] = []
        self._out = out
        self._adopt_unclocked()
        if to > self._wm:
            self._wm = to
            if to + self.lateness > self._max_ts:
                self._max_ts = to + self.lateness
        # Also when the watermark stays: timers of a key imported after they were due fire now.
        self._release(self._wm)
        if to > self.now:
            self.now = to      # time has passed: partials() counts what is left from here
        return out

    def _adopt_unclocked(self) -> None:
        """No clock was ever confirmed (too few events): the largest agreeing group sets it.

        Held events no later than that group (+ tolerance) are taken in time
        order; the rest stay held (and are quarantined as `future` at close).
        """
        if not self._suspects or self._max_ts != NEG_INF:
            return
        held = sorted(self._suspects, key=lambda h: (h.item[0], h.item[1]))
        clusters: list[list] = []
        for h in held:
            if clusters and h.item[0] - clusters[-1][-1].item[0] <= self.future_tolerance:
                clusters[-1].append(h)
            else:
                clusters.append([h])
        best = max(clusters, key=len)          # ties: the earliest (max keeps the first)
        top = best[-1].item[0]
        keep, self._suspects = [], []
        for h in held:
            if h.item[0] <= top + self.future_tolerance:
                keep.append(h)
            else:
                self._suspects.append(h)
        for h in keep:
            heapq.heappush(self._heap, h.item)
        self._max_ts = max(h.item[0] for h in keep)

    def close(self) -> list[Match]:
        """End of input: process everything buffered, close all windows, fire all absences."""
        if not self._busy.acquire(False):
            self._enter("close")
        try:
            return self._close()
        finally:
            self._busy.release()

    def _close(self) -> list[Match]:
        if self._closed:
            return []
        out: list[Match] = []
        self._out = out
        if self._suspects:
            self._close_suspects()
        if self._suspects:
            self._drop_suspects("never confirmed before the end of input")
        self._wm = INF
        self._release(INF)
        self._closed = True
        return out

    @property
    def watermark(self) -> float:
        return self._wm

    @property
    def max_time(self) -> float:
        """The highest event time accepted so far (-inf before the first event)."""
        return self._max_ts

    # ---------------------------------------------------------------- output
    def suppress_key_of(self, spec: RuleSpec, ev: dict | None):
        """The suppression key a rule's `suppress ... by f` takes from an event (None: the match key)."""
        if spec.suppress_key is None or ev is None:
            return None
        k = spec.suppress_key(ev)
        return k if isinstance(k, (str, int, float, bool, tuple, type(None))) else repr(jsonable(k))

    def emit(self, spec: RuleSpec, m: Match, ev: dict | None = None, skey=None, pipe_values=None) -> None:
        """Called by machines: run the rule's pipes, apply suppression, record, feed `from matches` rules.

        `ev` is the event that decided the match (for `suppress ... by f`);
        `skey` a suppression key computed earlier (decisions by timers);
        `pipe_values` the rule's per-pipe values for this match (`engine/pipe.py`).
        """
        pipes = self._pipes[spec.index]
        if pipes is not None and pipe_values is not None:
            ok, flags = pipes.admit(pipe_values)
            if not ok:
                self.metrics["piped_out"] += 1
                return
            for f in flags:
                if f not in m.flags:
                    m.flags.append(f)
                    self._count_flag(spec.name, f)
        supp = self._supp[spec.index]
        if supp is not None:
            if skey is None:
                skey = self.suppress_key_of(spec, ev)
            if skey is None:
                skey = tuple(sorted((k, repr(v)) for k, v in m.key.items()))
            now = self.now
            dur = spec.suppress
            while supp:
                k0, t0 = next(iter(supp.items()))
                if t0 + dur <= now:
                    supp.popitem(last=False)
                else:
                    break
            if skey in supp:
                self.metrics["suppressed"] += 1
                return
            if now < self._supp_forgot[spec.index]:
                # A suppression entry dropped at the cap might have held this match back.
                m.flags = sorted(set(m.flags) | {"suppression-capped"})
                self._count_flag(spec.name, "suppression-capped")
            supp[skey] = now
            if len(supp) > spec.limit("keys"):
                _k, t0 = supp.popitem(last=False)   # bounded like the rule's keys: the oldest goes
                if t0 + dur > self._supp_forgot[spec.index]:
                    self._supp_forgot[spec.index] = t0 + dur
        # The id is the machine's content hash (rule, key, first and last event ids, emitted_at);
        # a second match with the same content (identical input events) gets it with its rank
        # among them. Same content means same emission time, so only that instant's ids are
        # kept (bounded); the first match keeps the bare hash, whatever engine or partition
        # computed it (a keyed stream processor gives the ids of `sleuth run`).
        t = m.emitted_at
        if t > self._ids_at:
            self._ids.clear()
            self._ids_at = t
        n = self._ids.get(m.match_id)
        if n is None:
            if len(self._ids) < MAX_INSTANT_IDS:
                self._ids[m.match_id] = 1
        else:
            self._ids[m.match_id] = n + 1
            m.match_id = stable_hash(m.match_id, n)
        self.metrics["matches"] += 1
        self.matches_by_rule[spec.name] += 1
        fps = self.fingerprints.get(spec.ttp)
        if fps is None:
            fps = self.fingerprints[spec.ttp] = set()
        if len(fps) < 1_000_000:
            fps.add(m.fingerprint)
        self._out.append(m)
        if self._match_dispatch is not None:
            self._feed_match(spec.name, m.as_event())
        for fn in self.listeners:
            fn(m)

    def feed_derived(self, producer: str, record: dict) -> None:
        """Feed a record that no rule emitted to the `from matches` rules that name `producer`.

        For a runtime beside the engine (the policy's decisions, producer
        `@decision`, docs/mitigation.md). Call it from a listener (a callable
        in `engine.listeners`, run with each match once the `from matches`
        rules have read it, so the matches they complete reach listeners
        first): the record then enters at that match's time, and the matches
        it completes are returned by the `feed`/`close` call in progress.
        Only rules that name the producer (`where rule == "@decision"`) read it.
        """
        if self._match_dispatch is not None:
            self._feed_match(producer, record)

    def _feed_match(self, producer: str, ev: dict) -> None:
        prev = self._match_producer
        self._match_producer = producer
        try:
            index, always = self._match_dispatch  # type: ignore[misc]  # set: there are consumers
            get = ev.get
            for field, table in index:
                try:
                    g = table.get(get(field))
                except TypeError:
                    g = None
                if g is not None:
                    try:
                        g(ev)
                    except Exception as exc:
                        self._rule_error(exc, ev)
            if always is not None:
                try:
                    always(ev)
                except Exception as exc:
                    self._rule_error(exc, ev)
        finally:
            self._match_producer = prev

    def _dispatch(self, ev: dict, seq: int, index, always) -> None:
        """Run the rule groups an event selects; a rule's error is quarantined, the stream goes on."""
        get = ev.get
        for field, table in index:
            try:
                g = table.get(get(field))
            except TypeError as exc:      # an unhashable value from user code (enricher)
                self._rule_error(exc, ev, seq)
                continue
            if g is not None:
                try:
                    g(ev)
                except Exception as exc:
                    self._rule_error(exc, ev, seq)
        if always is not None:
            try:
                always(ev)
            except Exception as exc:
                self._rule_error(exc, ev, seq)

    def _rule_error(self, exc: Exception, ev: dict, seq: int | None = None) -> None:
        """A rule raised: report it with the rule and its source line; the stream goes on.

        The quarantine position is the event's own arrival number (`seq`), or
        the latest one for errors outside an event (timers, match chains).
        """
        self.metrics["rule_errors"] += 1
        where = "unknown rule"
        tb = exc.__traceback__
        while tb is not None:
            fname = tb.tb_frame.f_code.co_filename
            if fname.startswith("<sleuth"):
                entry = self._linemaps.get(fname)
                info = entry[1].get(tb.tb_lineno) if entry else None
                if info is not None:
                    where = f"rule {info.rule} ({info.file}:{info.line})"
            tb = tb.tb_next
        detail = f"{where}: {type(exc).__name__}: {exc}"[:500]
        self.quarantine.add(self.source, self._seq if seq is None else seq, "rule-error", detail,
                            excerpt_of(ev.get("id")), record=ev)

    # ---------------------------------------------------------------- memory
    def note_new_key(self, machine: Machine, delta: int = 1) -> None:
        """Account a key added (or removed, delta < 0); enforce the key cap and the byte budget.

        Eviction is fair across rules: past `max_keys` the rule holding the
        most keys gives one up (its least recently active); past the byte
        budget, the rules holding the most bytes do. A flood of new keys for
        some rules therefore evicts their own keys, not other rules'.
        """
        self._nkeys += delta
        if delta <= 0:
            return
        self._new_keys += 1
        if self._nkeys > self.max_keys:
            victim = max((m for m in self.machines if m.states), key=_key_count, default=None)
            if victim is not None and victim.evict_one():
                self._nkeys -= 1
        if self.memory is not None:
            # A running upper bound of the estimate (expiry only lowers the truth); enforced exactly.
            self._est_bytes += machine.key_bytes
            if self._est_bytes > self.memory:
                self._enforce_memory()

    def _enforce_memory(self) -> None:
        """Evict until the estimated state fits the budget: max-min fair across rules.

        The level L is found such that every rule keeps min(its bytes, L) and
        the total is just under the budget (water filling); each rule above L
        gives up its least recently active keys down to L. A rule holding no
        more than an equal share of the budget is therefore never evicted
        by it, whatever the other rules' keys do.
        """
        budget = self.memory
        held = [(m.estimated_bytes(), i) for i, m in enumerate(self.machines) if m.states]
        total = sum(h for h, _ in held)
        self._est_bytes = total
        if total <= budget:
            return
        target = budget * 0.98     # a little below: evictions come in batches, not one per new key
        held.sort()
        remaining = target
        n = len(held)
        level = 0.0
        for j, (h, _) in enumerate(held):
            share = remaining / (n - j)
            if h > share:
                level = share
                break
            remaining -= h
        else:
            return
        machines = self.machines
        evicted = 0
        for h, i in held[j:]:
            m = machines[i]
            per_key = m.key_bytes
            k = -int(-(h - level) // per_key)      # ceil: the rule ends at or below the level
            while k > 0 and m.evict_one():
                k -= 1
                evicted += 1
        self._nkeys -= evicted
        self._est_bytes = sum(m.estimated_bytes() for m in machines)
        self.metrics["evictions_memory"] = self.metrics.get("evictions_memory", 0) + evicted

    def memory_report(self) -> dict:
        """Estimated bytes of rule state, per rule and in total, beside the budget."""
        by_rule = {m.spec.name: m.estimated_bytes() for m in self.machines if m.states}
        return {"budget": self.memory, "estimated": sum(by_rule.values()),
                "by_rule": dict(sorted(by_rule.items(), key=lambda kv: -kv[1])),
                "bytes_per_key": {m.spec.name: m.key_bytes for m in self.machines if m.states}}

    def _collect(self) -> None:
        # Relative to the processing time, not the watermark: during close() the
        # watermark is +inf while buffered events still need their keys.
        now = self.now
        for m in self.machines:
            if m.states:
                self._nkeys -= m.collect(now)
        if self.memory is not None:
            # Re-measure a few rules' bytes per key each round (round robin), then enforce.
            machines = [m for m in self.machines if m.states]
            if machines:
                for k in range(min(6, len(machines))):
                    machines[(self._measure_at + k) % len(machines)].measure_key_bytes()
                self._measure_at = (self._measure_at + 6) % len(machines)
            self._enforce_memory()

    def _count_flag(self, rule: str, flag: str) -> None:
        d = self._flag_counts.setdefault(rule, {})
        d[flag] = d.get(flag, 0) + 1

    def flag_counts(self) -> dict[str, dict[str, int]]:
        """Matches per rule and flag, for the flags that say a cap shaped a match (docs/semantics.md §8)."""
        out: dict[str, dict[str, int]] = {}
        for m in self.machines:
            for f, n in getattr(m, "flagged", {}).items():
                out.setdefault(m.spec.name, {})[f] = n
        for rule, d in self._flag_counts.items():
            for f, n in d.items():
                out.setdefault(rule, {})[f] = out.get(rule, {}).get(f, 0) + n
        return {r: dict(sorted(d.items())) for r, d in sorted(out.items())}

    def stats(self) -> dict:
        """Counters and gauges for the run summary and `--metrics`."""
        keys = {m.spec.name: len(m.states) for m in self.machines}
        flags = self.flag_counts()
        totals: dict[str, int] = {}
        for d in flags.values():
            for f, n in d.items():
                totals[f] = totals.get(f, 0) + n
        return {
            "events_in": self._seq,
            "events_processed": self._processed,
            **self.metrics,
            "keys": sum(keys.values()),
            "keys_by_rule": keys,
            "evicted_by_rule": {m.spec.name: m.evicted for m in self.machines if m.evicted},
            "missing_key_by_rule": {m.spec.name: m.missing_key for m in self.machines if m.missing_key},
            "capped": dict(sorted(totals.items())),
            "capped_by_rule": flags,
            "window_events_folded": sum(getattr(m, "folded", 0) for m in self.machines),
            "partials_evicted_by_rule": {m.spec.name: m.partials_evicted for m in self.machines
                                         if getattr(m, "partials_evicted", 0)},
            "quarantined": dict(sorted(self.quarantine.counts.items())),
            "matches_by_rule": dict(self.matches_by_rule),
            "unique_ttps": {ttp: len(v) for ttp, v in sorted(self.fingerprints.items())},
            "watermark": format_ts(self._wm) if self._wm not in (INF, NEG_INF) else None,
            "buffered": len(self._fifo) - self._head + len(self._heap),
            **({"memory": self.memory_report()} if self.memory is not None else {}),
            "timers": len(self._timers),
        }

    # ---------------------------------------------------------------- introspection
    def partials(self, rule: str | None = None, key=None) -> list[dict]:
        """Live partial matches and window values: why a rule did not (yet) fire.

        One entry per (rule, key): for a sequence, its most advanced partial
        (step reached, count against the repeat minimum, time left before
        `within` expires); for a window, the current aggregate values. Sorted
        with the nearest to matching first.
        """
        out = []
        for m in self.machines:
            spec = m.spec
            if rule is not None and spec.name != rule:
                continue
            for k, st in m.states.items():
                if key is not None and k != key and m.key_dict(k) != key:
                    continue
                info = m.describe(k, st) if hasattr(m, "describe") else None
                if info is not None:
                    out.append(info)
        out.sort(key=lambda d: (-d.get("progress", 0.0), d["rule"], repr(d["key"])))
        return out

    # ---------------------------------------------------------------- per-key state
    def _supp_key(self, m: Machine, key):
        """The suppression key of a match of `m` for state key `key` (rules that suppress by their key)."""
        key_d = m.key_dict(key) if key is not None else {n: None for n in m.spec.key_names}
        return tuple(sorted((k, repr(v)) for k, v in key_d.items()))

    def _live(self, m: Machine, st) -> bool:
        """Does a key state still matter now? (Idle past its horizon, it would be treated as new.)"""
        return st.last >= self.now - m.horizon - m.extra_horizon() or m.pinned(st)

    def export_key(self, key, rules: Iterable[str] | None = None, *, remove: bool = False) -> bytes:
        """One key's state across rules, as versioned msgpack bytes tied to the pack.

        For keyed stream processors: keep each key's blob in the processor's
        keyed state store, `import_key` it before feeding that key's events
        and `export_key(..., remove=True)` after, so the engine holds only
        the keys in flight. Timers of the key travel with it, and so does the
        suppression of rules that suppress by their key (`suppress D`, not
        `suppress D by f`). State idle past its rule's horizon is left out: it
        would be treated as new anyway.
        """
        wanted = set(rules) if rules is not None else None
        parts = []
        for m in self._running:
            spec = m.spec
            if wanted is not None and spec.name not in wanted:
                continue
            st = m.states.get(key)
            supp = self._supp[spec.index]
            skey = self._supp_key(m, key) if supp and spec.suppress_key is None else None
            sup_t = supp.get(skey) if skey is not None else None
            if sup_t is not None and sup_t + spec.suppress <= self.now:
                sup_t = None
            live = st is not None and self._live(m, st)
            if live or sup_t is not None:
                timers = [list(t) for t in self._timers if _keyed_timer(t, spec.index, key)] if live else []
                ends = [e for e, ks in getattr(m, "open_ends", {}).items() if key in ks] if live else []
                sup = [key, sup_t] if sup_t is not None else None
                parts.append([spec.name, m.dump_state(key, st) if live else None, timers, ends, sup])
            if remove:
                if skey is not None:
                    supp.pop(skey, None)
                if st is None:
                    continue
                del m.states[key]
                self._nkeys -= 1
                self._timers[:] = [t for t in self._timers if not _keyed_timer(t, spec.index, key)]
                heapq.heapify(self._timers)
                for ks in getattr(m, "open_ends", {}).values():
                    ks.pop(key, None)
        return _snapshot.encode_key(parts, self.pack)

    def import_key(self, blob: bytes) -> None:
        """Load a key's state written by `export_key` (replacing what the engine holds for it)."""
        parts = _snapshot.decode_key(self.pack, blob)
        by_name = {m.spec.name: m for m in self.machines}
        # Validate everything on scratch machines first: a bad blob changes nothing.
        try:
            if not isinstance(parts, list):
                raise ValueError("parts")
            parts = [p + [None] if isinstance(p, list) and len(p) == 4 else p for p in parts]
            for name, item, timers, ends, sup in parts:
                m = by_name.get(name)
                if m is None:
                    raise SnapshotError(f"key state for unknown rule '{name}'")
                if item is not None:
                    scratch = self._scratch.get(name)
                    if scratch is None:
                        scratch = self._scratch[name] = type(m)(self, m.spec)
                    scratch.states.clear()
                    scratch.load_state(item)
                if not all(_snapshot.valid_key_timer(t) for t in timers):
                    raise ValueError("timer")
                if not all(isinstance(e, (int, float)) for e in ends):
                    raise ValueError("window end")
                if sup is not None and not (isinstance(sup, list) and len(sup) == 2
                                            and isinstance(sup[1], (int, float)) and m.spec.suppress):
                    raise ValueError("suppression")
                if item is None and sup is None:
                    raise ValueError("empty part")
        except SnapshotError:
            raise
        except Exception as exc:
            raise SnapshotError(f"corrupt key state: {type(exc).__name__}: {exc}") from exc
        for name, item, timers, ends, sup in parts:
            m = by_name[name]                   # validated above
            if sup is not None:
                self._suppress_at(self._supp[m.spec.index], self._supp_key(m, thaw_key(sup[0])), sup[1])
            if item is None:
                continue
            # The state validated on the scratch machine is moved over (loaded once).
            scratch = self._scratch[name]
            key = thaw_key(item[0])
            st = scratch.states.pop(key)
            new = m.states.pop(key, None) is None
            m.states[key] = st
            if getattr(scratch, "token", 0) > getattr(m, "token", 0):
                m.token = scratch.token     # sequence partial tokens stay unique
            if new:
                self.note_new_key(m)
            for t in timers:
                self._tseq += 1     # renumbered: this engine's timer sequence
                heapq.heappush(self._timers, Timer(*t)._replace(seq=self._tseq))
            key = thaw_key(item[0])
            for e in ends:
                ks = m.open_ends.get(e)
                if ks is None:
                    m.open_ends[e] = {key: None}
                    self.schedule(e, BEFORE, m.spec.index, "close", e, None)
                else:
                    ks[key] = None

    @staticmethod
    def _suppress_at(supp: OrderedDict, skey, t: float) -> None:
        """Record a suppression entry, keeping the entries in time order (expiry reads the front)."""
        supp.pop(skey, None)
        if supp and next(reversed(supp.values())) > t:
            items = sorted([*supp.items(), (skey, t)], key=lambda kv: kv[1])
            supp.clear()
            supp.update(items)
        else:
            supp[skey] = t

    def key_schedule(self, key) -> tuple[float | None, float | None]:
        """When a key this engine holds next needs attention, as event times `(due, idle)`.

        `due`: the earliest of its timers (a tumbling-window end, a session
        end, a trailing-absence deadline plus `grace`), None without one;
        `idle`: the time after which none of its state matters any more (its
        rules' horizons after its last activity, suppression included), None
        when it holds nothing. A keyed stream processor registers its own
        timers at these times, imports the key and calls `advance`.
        """
        due = idle = None
        for t in self._timers:
            if t[4] != "close" and thaw_key(t[5]) == key and self.machines[t[3]].states.get(key) is not None:
                tt = t[0] + (self.grace if t[4] == "absence" else 0.0)
                due = tt if due is None else min(due, tt)
        for m in self._running:
            spec = m.spec
            st = m.states.get(key)
            if st is not None:
                for e, ks in getattr(m, "open_ends", {}).items():
                    if key in ks:
                        due = e if due is None else min(due, e)
                t = st.last + m.horizon + m.extra_horizon()
                idle = t if idle is None else max(idle, t)
            supp = self._supp[spec.index]
            if supp and spec.suppress_key is None:
                t0 = supp.get(self._supp_key(m, key))
                if t0 is not None:
                    idle = t0 + spec.suppress if idle is None else max(idle, t0 + spec.suppress)
        return due, idle

    def rewind(self) -> None:
        """Forget the clock while the engine holds no key (keyed stream processors).

        A worker that imports one key at a time, feeds it and exports it
        again rewinds between keys: the next key's events may be older than
        the last key's. Raises `EngineError` while keys or events are held.
        """
        if self._nkeys or len(self._fifo) > self._head or self._heap or self._suspects:
            raise EngineError("rewind: the engine still holds keys or events")
        self._timers.clear()
        for m in self._running:
            ends = getattr(m, "open_ends", None)
            if ends:
                ends.clear()
        self.now = self._max_ts = self._wm = NEG_INF

    def feed_match(self, match: Match) -> list[Match]:
        """Feed a match made by another engine of the same pack to this engine's `from matches` rules.

        For keyed stream processors that run rules over rules in a stage of
        their own: the match is taken at its `emitted_at` (the watermark moves
        there first, so due timers fire before it), as if the producing rule
        ran in this engine. Returns the matches it completes. A match behind
        the watermark is quarantined as `late`.
        """
        if self._closed:
            raise EngineError("the engine is closed")
        out: list[Match] = []
        self._out = out
        try:
            spec = self.pack.rule(match.rule)
        except KeyError:
            raise EngineError(f"a match of rule '{match.rule}', which is not in this pack") from None
        t = match.emitted_at
        if t < self._wm:
            self.metrics["late"] += 1
            self.quarantine.add("<matches>", self._seq, "late",
                                f"match time {format_ts(t)} is behind the watermark {format_ts(self._wm)}",
                                excerpt_of(match.match_id))
            return out
        if t > self._wm:
            self._wm = t
            if t + self.lateness > self._max_ts:
                self._max_ts = t + self.lateness
        self._release(self._wm)
        self.now = t
        if self._match_dispatch is not None:
            self._feed_match(spec.name, match.as_event())
        return out

    # ---------------------------------------------------------------- snapshots
    def options(self) -> dict:
        """The options that shape this engine's state, as a snapshot records them (files with a digest)."""
        return _options.recorded(self._opts, custom_normalizer=self._custom_normalizer,
                                 custom_enrich=self._custom_enrich)

    def snapshot(self) -> bytes:
        """The engine's whole state as bytes (msgpack, versioned, tied to the pack, checksummed).

        The format is `engine/snapshot.py`'s; raises `SnapshotError` when the state cannot be stored,
        `EngineError` when another call is running on this engine. The options that shape state
        are recorded (`engine/options.py`); `Engine.restore` rebuilds the engine with them.
        """
        if not self._busy.acquire(False):
            self._enter("snapshot")
        try:
            return self._snapshot()
        finally:
            self._busy.release()

    def _snapshot(self) -> bytes:
        body = {
            "options": self.options(),
            "now": self.now, "seq": self._seq, "tseq": self._tseq, "max_ts": self._max_ts, "wm": self._wm,
            "fifo": [list(x) for x in self._fifo[self._head:]], "heap": [list(x) for x in sorted(self._heap, key=_time_seq)],
            "timers": [list(t) for t in sorted(self._timers, key=_timer_order)],
            "suspects": [[list(h.item), h.source, h.position, h.votes, h.against] for h in self._suspects],
            "normal_since_suspect": self._normal_since_suspect,
            "processed": self._processed, "new_keys": self._new_keys, "closed": self._closed,
            "metrics": self.metrics, "matches_by_rule": self.matches_by_rule,
            "fingerprints": {k: sorted(v) for k, v in self.fingerprints.items()},
            "instant_ids": [self._ids_at, sorted(self._ids.items())],
            "machines": [m.dump() for m in self.machines],
            "suppress": [None if s is None else [[k, t] for k, t in s.items()] for s in self._supp],
            "supp_forgot": self._supp_forgot, "flag_counts": self._flag_counts,
            "pipes": [None if p is None else p.dump() for p in self._pipes],
            "quarantine": self.quarantine.counts,
            "population": self.population.dump(),
        }
        return _snapshot.encode(body, self.pack)

    @classmethod
    def restore(cls, pack: PackSpec, blob: bytes, **overrides) -> Engine:
        """An engine resumed from `snapshot()` bytes; raises `SnapshotError` on any mismatch.

        The returned engine is complete or not created at all: a corrupt
        blob (checked by a checksum), another format version or another pack
        never half-restore. The options the snapshot recorded are restored
        (input options too: mapping, OpenAPI documents, templating, roles,
        prefix table); `overrides` may give runtime collaborators
        (`normalizer`, honoured in place of the recorded input options;
        `quarantine`, `enrich`, `source`) and options equal to the recorded
        ones. A different option, a file changed since, or a custom
        normaliser or enricher not given again raise `SnapshotError`.
        """
        body = _snapshot.decode(pack, blob)
        try:
            kwargs = _options.restore_arguments(body["options"], overrides)
            eng = cls(pack, **kwargs)
            eng._load(body)
        except SnapshotError:
            raise
        except EngineError as exc:
            # Conflicts with the caller's arguments were refused above by name; a recorded
            # option the constructor rejects can only come from a damaged snapshot.
            raise SnapshotError(f"corrupt snapshot: a recorded option is invalid: {exc}") from exc
        except Exception as exc:
            raise SnapshotError(f"corrupt snapshot: {type(exc).__name__}: {exc}") from exc
        return eng

    def _load(self, body: dict) -> None:
        self.now = body["now"]
        self._seq = body["seq"]
        self._tseq = body["tseq"]
        self._max_ts = body["max_ts"]
        self._wm = body["wm"]
        self._fifo = [tuple(x) for x in body["fifo"]]       # (ts, seq, event), validated
        self._head = 0
        self._heap = [tuple(x) for x in body["heap"]]
        heapq.heapify(self._heap)
        self._timers = [Timer(*t) for t in body["timers"]]
        heapq.heapify(self._timers)
        self._suspects = [Held(tuple(h[0]), h[1], h[2], *h[3:5]) for h in body["suspects"]]
        self._normal_since_suspect = body["normal_since_suspect"]
        self._processed = body["processed"]
        self._new_keys = body["new_keys"]
        self._closed = body["closed"]
        self.metrics.update(body["metrics"])
        self.matches_by_rule.update(body["matches_by_rule"])
        self.fingerprints = {k: set(v) for k, v in body["fingerprints"].items()}
        at, ids = body.get("instant_ids", [NEG_INF, []])    # absent from older snapshots
        self._ids_at = float(at)
        self._ids = {str(k): int(n) for k, n in ids}
        for m, data in zip(self.machines, body["machines"]):
            m.load(data)
        self.population.load(body.get("population"))
        self._nkeys = sum(len(m.states) for m in self.machines)
        forgot = body.get("supp_forgot", [])
        if not (isinstance(forgot, list) and len(forgot) in (0, len(self.pack.rules))
                and all(isinstance(x, (int, float)) for x in forgot)):
            raise SnapshotError("corrupt snapshot: suppression state is malformed")
        self._supp_forgot = [float(x) for x in forgot] or self._supp_forgot
        self._flag_counts = {str(r): {str(f): int(n) for f, n in d.items()}
                             for r, d in dict(body.get("flag_counts", {})).items()}
        for i, s in enumerate(body["suppress"]):
            if s is not None:
                self._supp[i] = OrderedDict((thaw_key(k), t) for k, t in s)
        for p, data in zip(self._pipes, body.get("pipes") or ()):
            if p is not None and data is not None:
                p.load(data)
        for reason, n in body.get("quarantine", {}).items():
            self.quarantine.counts[reason] = self.quarantine.counts.get(reason, 0) + n
            self.quarantine.total += n


def _key_count(m: Machine) -> int:
    return len(m.states)


def _time_seq(item) -> tuple:
    return item[0], item[1]


def _timer_order(t: Timer) -> tuple:
    return t.time, t.phase, t.seq


def _keyed_timer(t: Timer, rule: int, key) -> bool:
    """Whether a timer of `rule` is about `key` (window-end timers are shared by keys: never)."""
    return t.rule == rule and t.kind != "close" and thaw_key(t.target) == key


def rule_error_location(exc: BaseException) -> str | None:
    """`file:line` of the rule whose generated code raised `exc`, if any (for tools)."""
    tb = exc.__traceback__
    out = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("<sleuth"):
            out = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return out


__all__ = ["Engine", "Match", "SnapshotError", "EngineError"]
