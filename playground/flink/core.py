"""The keyed stages of `sleuth flink run`, as plain Python: what every Flink operator does.

Stage by stage, with no Flink import (so the main test suite runs it): the
input is cut into chunks at line boundaries (`plan_chunks`), read with the
readers of `sleuth run` (same positions, ids and quarantine reasons) and
ordered by event time by `Ingest` (the engine's lateness, late events and
far-future guard); `plan_stages` turns the pack's partition plan into one keyed
stage per key expression (rules over rules in later stages); a
`KeyedRunner` holds one engine per worker and each key's state as bytes
outside it (`export_key`/`import_key`), with the key's deadlines turned into
timers in whole milliseconds. `LocalPipeline` chains these in one process:
the reference the Flink job is tested against, and a test bed for the
protocol itself.
"""

from __future__ import annotations

import heapq
import io
import math
import os
import pickle
from collections.abc import Iterable, Iterator

import attrs

from sleuth.engine import BadInput, Engine, Match, Normalizer, Quarantine
from sleuth.engine.ingest.source import Bad, open_source, sniff_format
from sleuth.engine.match import format_ts
from sleuth.engine.population import Population, QuerySpec
from sleuth.engine.quarantine import excerpt_of

#: Engine time a worker may advance to once Flink's watermark has passed millisecond `ms`
#: sits this far below the next millisecond: float rounding of an event time to whole
#: milliseconds (about 2e-7 s at today's epoch) never puts a later event behind it.
DELTA = 1e-6
MAX_SUSPECTS = 256
CHUNK_BYTES = 1 << 20
LINE_FORMATS = ("jsonl", "apache", "nginx")     # formats cut into chunks at line boundaries


class Unsupported(ValueError):
    """The pack uses something the keyed runner cannot partition (message says what)."""


def to_ms(ts: float) -> int:
    """Flink's timestamp (whole milliseconds) of an event time in seconds."""
    return math.floor(ts * 1000)


def reached(ms: int) -> float:
    """The engine time every key may be advanced to once the watermark has passed `ms`.

    Any later event or match has a timestamp above `ms`, so a time at or after
    `(ms + 1) / 1000`: one `DELTA` below it is safe from rounding.
    """
    return (ms + 1) / 1000 - DELTA


def timer_ms(t: float) -> int:
    """The millisecond at whose watermark an engine deadline at `t` is due (`reached(ms) > t`)."""
    ms = to_ms(t)
    while reached(ms) <= t:
        ms += 1
    return ms


# ---------------------------------------------------------------- the plan


@attrs.frozen
class Stage:
    """One keyed stage: the rules of one key expression at one level (0: events; n: rules over rules)."""

    index: int
    level: int
    key_names: tuple[str, ...]
    rules: tuple[str, ...]

    @property
    def name(self) -> str:
        key = ",".join(self.key_names) or "-"
        return f"{'events' if self.level == 0 else f'matches{self.level}'}[{key}]"


def check_supported(pack) -> None:
    """Raise `Unsupported` for what cannot be cut by key: per-step keys (so `until ... by`), counting pipes, suppression by other fields."""
    for r in pack.rules:
        if r.suppress_key is not None:
            raise Unsupported(f"rule {r.name} suppresses by fields other than its key "
                              f"(suppress ... by ...): not supported by the keyed runner")
        if r.kind in ("sequence", "join") and any(s.key is not None for s in r.steps):
            raise Unsupported(f"rule {r.name} keys its steps on their own fields (per-step by): "
                              f"not supported by the keyed runner")
        counting = [p.kind for p in r.pipes if p.kind != "filter"]
        if counting:
            # `| head` and `| unique` count a rule's matches across all keys: no one key's state holds them.
            raise Unsupported(f"rule {r.name} has a '| {counting[0]}' pipe, which spans keys: "
                              f"not supported by the keyed runner")


def plan_stages(pack) -> list[Stage]:
    """The pack's partition plan as keyed stages, in the order they run.

    Event rules with the same key form one stage (level 0). A `from matches`
    rule is at level 1 + the highest level of the rules it reads; its rules
    with the same key and level form one stage.
    """
    check_supported(pack)
    by_name = {r.name: r for r in pack.rules}
    level: dict[str, int] = {}

    def lvl(name: str, seen: tuple = ()) -> int:
        if name in level:
            return level[name]
        r = by_name[name]
        if r.source == "events":
            level[name] = 0
        else:
            producers = r.consumes if r.consumes is not None else \
                [x.name for x in pack.rules if x.source == "events"]
            level[name] = 1 + max((lvl(p, (*seen, name)) for p in producers if p not in seen), default=0)
        return level[name]

    groups: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    for group in pack.partition_plan():
        for name in group["rules"]:
            groups.setdefault((lvl(name), tuple(group["key"])), []).append(name)
    order = sorted(groups, key=lambda g: (g[0], g[1]))
    return [Stage(i, lv, key, tuple(sorted(groups[(lv, key)], key=lambda n: by_name[n].index)))
            for i, (lv, key) in enumerate(order)]


def consumers_of(pack, stage: Stage) -> frozenset[str]:
    """The producing rules whose matches a rules-over-rules stage reads."""
    out: set[str] = set()
    for name in stage.rules:
        r = pack.rule(name)
        if r.consumes is not None:
            out.update(r.consumes)
        else:
            out.update(x.name for x in pack.rules if x.source == "events")
    return frozenset(out)


class Router:
    """Which level-0 stages an event can matter to, and its key in each.

    An event goes to a stage when the pack's dispatch index could hand it to
    one of the stage's rules (its route, method or status bucket, or the rules
    every event visits): most stages see only the traffic their rules read.
    """

    def __init__(self, pack, stages: list[Stage]):
        self.pack = pack
        dispatch = pack.events
        self.stages = [s for s in stages if s.level == 0]
        always = set() if dispatch.always is None else {i for i, _r in dispatch.always.slots}
        self._plan = []
        for s in self.stages:
            idx = {pack.rule(n).index for n in s.rules}
            tables = []
            for field, table in dispatch.index:
                values = frozenset(v for v, g in table.items() if any(i in idx for i, _r in g.slots))
                if values:
                    tables.append((field, values))
            spec = pack.rule(s.rules[0])
            self._plan.append((s, bool(idx & always), tuple(tables), spec.key))

    def route(self, ev: dict) -> list[tuple[Stage, object]]:
        """(stage, sleuth key) for every stage that may read `ev`."""
        out = []
        get = ev.get
        for stage, every, tables, keyf in self._plan:
            if not every:
                for field, values in tables:
                    try:
                        if get(field) in values:
                            break
                    except TypeError:       # an unhashable value: let the stage's engine report it
                        break
                else:
                    continue
            out.append((stage, sleuth_key(keyf, ev)))
        return out


def sleuth_key(keyf, ev: dict):
    """The key value a rule's machines file `ev` under (None when a key field is missing)."""
    if keyf is None:
        return ()
    try:
        return keyf(ev)
    except Exception:
        return None     # the stage's engine reports the rule error itself


def flink_key(key) -> str:
    """The key as Flink hashes it: its repr, deterministic for the values keys hold."""
    return repr(key)


def dispatch_rank(pack, ev: dict) -> dict[int, int]:
    """Rule index → the order in which one engine's dispatch visits the rules for `ev`.

    Matches decided by one event reach rules over rules in this order in a
    single engine; the keyed runner sorts them the same way.
    """
    rank: dict[int, int] = {}
    dispatch = pack.events
    groups = []
    for field, table in dispatch.index:
        try:
            g = table.get(ev.get(field))
        except TypeError:
            g = None
        if g is not None:
            groups.append(g)
    if dispatch.always is not None:
        groups.append(dispatch.always)
    for g in groups:
        for i, _role in g.slots:
            rank.setdefault(i, len(rank))
    return rank


# ---------------------------------------------------------------- reading


@attrs.frozen
class Chunk:
    """A slice of one input, read by one call: `[start, end)` bytes, its first line's number."""

    index: int          # the input's index (inputs are ordered)
    path: str
    name: str           # the source name of ids and quarantine records (as `sleuth run`)
    format: str
    start: int
    end: int | None     # None: to the end (formats read whole)
    first_line: int


def plan_chunks(inputs: list[tuple[str, str]], fmt: str = "auto", chunk_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Cut inputs `(path, name)` into chunks at line boundaries, counting lines.

    Line formats (JSON lines, access logs) are cut about every `chunk_bytes`;
    gzip, JSON documents, msgpack and CSV are read whole by one chunk.
    Raises `OSError` when an input cannot be read.
    """
    out: list[Chunk] = []
    for i, (path, name) in enumerate(inputs):
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
            resolved = fmt
            if head[:2] == b"\x1f\x8b":
                resolved = None
            elif fmt == "auto":
                resolved = sniff_format(head)
            if resolved not in LINE_FORMATS:
                out.append(Chunk(i, path, name, fmt, 0, None, 1))
                continue
            size = os.fstat(fh.fileno()).st_size
            start, line = 0, 1
            fh.seek(0)
            while start < size:
                target = start + chunk_bytes
                if target >= size:
                    end = size
                    data = None
                else:
                    fh.seek(target)
                    rest = fh.readline()
                    end = target + len(rest)
                if end >= size:
                    end = size
                out.append(Chunk(i, path, name, resolved, start, end, line))
                fh.seek(start)
                data = fh.read(end - start)
                line += data.count(b"\n")
                start = end
    return out


def read_chunk(chunk: Chunk, *, max_line_bytes: int = 1 << 20) -> Iterator[tuple[int, object]]:
    """`(position, item)` of one chunk, positions as `sleuth run` numbers them (item may be `Bad`)."""
    if chunk.end is None:
        reader = open_source(chunk.path, chunk.format, max_line_bytes=max_line_bytes, name=chunk.name)
        yield from reader
        return
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        data = fh.read(chunk.end - chunk.start)
    reader = open_source(io.BytesIO(data), chunk.format, max_line_bytes=max_line_bytes, name=chunk.name)
    shift = chunk.first_line - 1
    for pos, item in reader:
        yield pos + shift, item


class Lines:
    """A write-only sink collecting quarantine lines (bytes), drained by the caller."""

    def __init__(self) -> None:
        self.items: list[bytes] = []

    def write(self, data) -> None:
        self.items.append(data if isinstance(data, bytes) else data.encode("utf-8"))

    def drain(self) -> list[bytes]:
        out, self.items = self.items, []
        return out


class _PassThrough:
    """The keyed engines' normaliser: events arrive normalised by the ingest stage."""

    def normalize(self, event, source="", position=0):
        return event


PASS_THROUGH = _PassThrough()


# ---------------------------------------------------------------- ingest: time order


# ---------------------------------------------------------------- population statistics

#: The key under which the ingest attaches an event's `share()`/`spread()` answers.
ANSWERS = "\x00population"


def query_key(q: QuerySpec) -> tuple:
    """A population query's identity across the pack (the same call in two rules is one answer)."""
    return (q.kind, q.field, q.horizon, q.of, q.period)


def pack_queries(pack) -> list[QuerySpec]:
    """Every population query of the pack's rules, once each, in rule order."""
    seen: dict[tuple, QuerySpec] = {}
    for r in pack.rules:
        for q in r.queries:
            seen.setdefault(query_key(q), q)
    return list(seen.values())


def _field_value(ev: dict, path: tuple):
    v = ev
    for part in path:
        if type(v) is not dict:
            return None
        v = v.get(part)
    return v


class StreamPopulation:
    """The pack's sketches over the whole stream, kept by the (single, in-order) ingest.

    A keyed stage sees only the events routed to it, so its own sketches would
    count a partition, not the stream. The ingest observes every released
    event in the engine's processing order and attaches, under `ANSWERS`,
    each query's answer for that event (as one engine computes it right after
    observing the event); the stages answer from there (`EventAnswers`). Its
    state pickles with the ingest's (savepoints).
    """

    def __init__(self, pack):
        self.population = Population(pack.population)
        self.queries = [(query_key(q), q.field, self.population.query(q)) for q in pack_queries(pack)]

    def __bool__(self) -> bool:
        return bool(self.queries)

    def attach(self, ev: dict) -> None:
        """Observe `ev` and attach its answers (the engine observes before the rules read)."""
        self.population.observe(ev, ev["ts"])
        ev[ANSWERS] = {key: fn(_field_value(ev, field)) for key, field, fn in self.queries}


class EventAnswers(Population):
    """A stage engine's `population=`: no sketches of its own; answers read from the current event."""

    def __init__(self) -> None:
        super().__init__(())
        self.current: dict | None = None

    def query(self, q: QuerySpec):
        key = query_key(q)

        def answer(_value, _key=key, _self=self):
            cur = _self.current
            return None if cur is None else cur.get(_key)
        return answer


def take_answers(ev: dict) -> tuple[dict, dict | None]:
    """The event without the ingest's attached answers, and those answers (None when none)."""
    if ANSWERS not in ev:
        return ev, None
    ev = dict(ev)
    return ev, ev.pop(ANSWERS)


class Ingest:
    """Normalise records and release them in event-time order, as the engine's buffer does.

    The watermark is the highest accepted time minus `lateness`; an event
    behind it is quarantined as `late`; an event more than
    `future_tolerance` ahead of the clock (and the first event: there is no
    clock yet) is held; later events vote for it (not behind it by more than
    the lateness) or against it, `future_confirm - 1` votes confirm it, the
    end of input confirms one nothing came back before, and the rest are
    quarantined as `future` (the engine's far-future guard, docs/semantics.md). Released events are `(seq, event)` in (time, arrival) order;
    `seq` is the arrival number. The whole state pickles (`dump`/`load`).
    """

    def __init__(self, normalizer, quarantine: Quarantine, *, lateness: float = 5.0,
                 future_tolerance: float = 86400.0, future_confirm: int = 2, pack=None):
        self.normalize = getattr(normalizer, "normalize", normalizer)
        # With a pack that reads population statistics: the stream-wide sketches (see above).
        stream = StreamPopulation(pack) if pack is not None else None
        self.population = stream if stream else None
        self.quarantine = quarantine
        self.lateness = float(lateness)
        self.tol = float(future_tolerance)
        self.confirm = int(future_confirm)
        self.seq = 0
        self.max_ts = -math.inf
        self.wm = -math.inf
        self.heap: list = []
        self.suspects: list = []          # [(ts, seq, ev), source, position, votes for, votes against]
        self.normal_since = 0
        self.counts = {"read": 0, "quarantined": 0, "late": 0, "future": 0}

    def dump(self) -> dict:
        return {"seq": self.seq, "max_ts": self.max_ts, "wm": self.wm, "heap": self.heap,
                "suspects": self.suspects, "normal_since": self.normal_since, "counts": self.counts,
                "population": self.population.population.dump() if self.population is not None else None}

    def load(self, state: dict) -> None:
        self.seq, self.max_ts, self.wm = state["seq"], state["max_ts"], state["wm"]
        self.heap = state["heap"]
        # Held events: [item, source, position, votes for, against] (older states: without the votes).
        self.suspects = [list(h) + [0, 0] * (len(h) == 3) for h in state["suspects"]]
        self.normal_since, self.counts = state["normal_since"], state["counts"]
        if self.population is not None:
            self.population.population.load(state.get("population"))

    def _quarantine(self, source, position, reason, detail, excerpt, record=None) -> None:
        self.counts["quarantined"] += 1
        # The event itself is kept (as the engine keeps it), so the quarantine can be replayed.
        self.quarantine.add(source, position, reason, detail, excerpt, record=record)

    def push(self, source: str, position: int, item) -> list[tuple[int, dict]]:
        """Take one record from a reader; return the events now due, in order."""
        self.seq += 1
        self.counts["read"] += 1
        if type(item) is Bad:
            self._quarantine(source, position, item.reason, item.detail, item.excerpt)
            return []
        try:
            ev = self.normalize(item, source, position)
        except BadInput as exc:
            self.counts["quarantined"] += 1
            self.quarantine.add_bad(source, position, exc, item)      # as the engine: the record kept
            return []
        return self._accept((ev["ts"], self.seq, ev), source, position)

    def _accept(self, item, source, position, judge: bool = True) -> list:
        ts = item[0]
        if ts < self.wm:
            self.counts["late"] += 1
            self._quarantine(source, position, "late",
                             f"event time {format_ts(ts)} is behind the watermark {format_ts(self.wm)} "
                             f"(lateness {self.lateness:g}s)", excerpt_of(item[2].get("id")), record=item[2])
            return []
        out: list = []
        if judge and self.suspects:
            out += self._judge(ts)
        if ts > self.max_ts:
            if ts - self.max_ts > self.tol:
                # A jump far ahead (or the very first event): later events must agree with it.
                return out + self._suspect(item, source, position)
            self.max_ts = ts
            heapq.heappush(self.heap, item)
            self.wm = max(self.wm, ts - self.lateness)
            out += self._release(self.wm)
        else:
            heapq.heappush(self.heap, item)
            if ts <= self.wm:
                out += self._release(self.wm)
        if self.suspects:
            self.normal_since += 1
            if self.normal_since >= 1000:
                self._drop_suspects("unconfirmed after 1000 events")
        return out

    def _suspect(self, item, source, position) -> list:
        """Hold a far-future event: [item, source, position, votes for, votes against] (the engine's guard)."""
        held = [item, source, position, 0, 0]
        if self.confirm <= 1:
            return self._confirm([held])
        self.suspects.append(held)
        if len(self.suspects) > MAX_SUSPECTS:
            old, src, pos = self.suspects.pop(0)[:3]
            self.counts["future"] += 1
            self._quarantine(src, pos, "future", f"event time {format_ts(old[0])} was never confirmed "
                             f"(more than {MAX_SUSPECTS} unconfirmed events held)", excerpt_of(old[2].get("id")),
                             record=old[2])
        return []

    def _judge(self, ts: float) -> list:
        """One more event at `ts` votes for the held events it is not behind, against the others."""
        need = self.confirm - 1
        confirmed, keep = [], []
        for h in self.suspects:
            if ts >= h[0][0] - self.lateness:
                h[3] += 1
                if h[3] >= need:
                    confirmed.append(h)
                    continue
            else:
                h[4] += 1
            keep.append(h)
        self.suspects = keep
        return self._confirm(confirmed) if confirmed else []

    def _confirm(self, group: list) -> list:
        """Held events believed: they move the clock; held events it caught up with follow, in time order."""
        items = sorted(h[0] for h in group)
        for it in items:
            heapq.heappush(self.heap, it)
        self.max_ts = max(self.max_ts, items[-1][0])
        self.wm = max(self.wm, self.max_ts - self.lateness)
        out = self._release(self.wm)
        rest = sorted(self.suspects, key=lambda h: (h[0][0], h[0][1]))
        self.suspects = []
        for h in rest:
            if h[0][0] - self.max_ts > self.tol:
                self.suspects.append(h)
            else:
                out += self._accept(h[0], h[1], h[2], judge=False)
        self.suspects.sort(key=lambda h: h[0][1])
        self.normal_since = 0
        return out

    def _drop_suspects(self, why: str) -> None:
        for h in self.suspects:
            (ts, _seq, ev), src, pos = h[0], h[1], h[2]
            self.counts["future"] += 1
            self._quarantine(src, pos, "future", f"event time {format_ts(ts)} is more than {self.tol:g}s ahead "
                             f"of the clock ({format_ts(self.max_ts)}); {why}", excerpt_of(ev.get("id")), record=ev)
        self.suspects = []
        self.normal_since = 0

    def _release(self, wm: float) -> list:
        heap = self.heap
        out = []
        attach = self.population.attach if self.population is not None else None
        while heap and heap[0][0] <= wm:
            ts, seq, ev = heapq.heappop(heap)
            if attach is not None:
                attach(ev)
            out.append((seq, ev))
        return out

    def finish(self) -> list[tuple[int, dict]]:
        """End of input: the end agrees with held events nothing came back before; the rest are `future`."""
        out: list = []
        need = self.confirm - 1
        while True:
            ready = [h for h in self.suspects if not h[4] and h[3] + 1 >= need]
            if not ready:
                break
            chosen = {id(h) for h in ready}
            self.suspects = [h for h in self.suspects if id(h) not in chosen]
            out += self._confirm(ready)
        if self.suspects:
            self._drop_suspects("never confirmed before the end of input")
        self.wm = math.inf
        return out + self._release(math.inf)


# ---------------------------------------------------------------- keyed stages


Ordered = tuple[tuple, Match]     # (order key, match): how matches travel between stages


class KeyedRunner:
    """One keyed stage in one worker: one engine, each key's state kept outside as bytes.

    `run(blob, key, items, upto_ms)` takes the key's stored blob (or None),
    its buffered items in order and the watermark (whole milliseconds):
    it imports the key, feeds the items (events of level-0 stages, matches of
    other stages for rules over rules), moves the key's clock to the
    watermark (its due timers fire), exports the key and rewinds the engine.
    It returns `(matches, blob, due_ms, idle_ms)`: the matches made, with
    order keys for rules over rules; the key's new blob (None: nothing worth
    keeping); the milliseconds at which the key next needs a timer (its next
    deadline, and the time its state becomes garbage).
    """

    def __init__(self, pack, stage: Stage, *, grace: float = 0.0, quarantine: Quarantine | None = None):
        self.pack = pack
        self.stage = stage
        self.quarantine = quarantine if quarantine is not None else Quarantine(Lines())
        self.answers = EventAnswers()
        self.engine = Engine(pack, lateness=0.0, grace=grace, future_confirm=1, rules=stage.rules,
                             normalizer=PASS_THROUGH, quarantine=self.quarantine, population=self.answers)
        self._phase = {r.index: (0 if r.kind == "window" and r.window_kind == "tumbling" else 2)
                       for r in pack.rules}
        self._index = {r.name: r.index for r in pack.rules}

    def _timer_orders(self, matches: list[Match]) -> list[Ordered]:
        idx = self._index
        return [((m.emitted_at, self._phase[idx[m.rule]], 0, idx[m.rule]), m) for m in matches]

    def run(self, blob: bytes | None, key, items: list, upto_ms: int):
        """Feed `items` of `key` (`(seq, event)` or `(order, Match)`, in order), then advance to `upto_ms`."""
        eng = self.engine
        if blob is not None:
            eng.import_key(blob)
        out: list[Ordered] = []
        idx = self._index
        try:
            for a, b in items:
                if type(b) is Match:
                    out += self._timer_orders(eng.advance(b.emitted_at))
                    out += [((*a, j), x) for j, x in enumerate(eng.feed_match(b))]
                    continue
                ts = b["ts"]
                out += self._timer_orders(eng.advance(ts))     # the key's deadlines before `ts` first
                b, self.answers.current = take_answers(b)
                made = eng.feed(b, None, a)
                self.answers.current = None
                if made:
                    rank = dispatch_rank(self.pack, b)
                    out += [((ts, 1, a, rank.get(idx[m.rule], len(rank) + idx[m.rule])), m) for m in made]
            out += self._timer_orders(eng.advance(reached(upto_ms)))
            due, idle = eng.key_schedule(key)
            now = eng.now
            blob = eng.export_key(key, remove=True)
        except BaseException:
            eng.export_key(key, remove=True)     # the engine stays empty for the next key
            raise
        finally:
            eng.rewind()
        if due is None and (idle is None or idle < now):
            return out, None, None, None
        # An unbounded sequence's key stays until it completes or is dropped: no idle timer.
        idle_ms = None if idle is None or idle == math.inf else timer_ms(idle)
        return out, blob, (None if due is None else timer_ms(due)), idle_ms


def order_bucket(items: Iterable[Ordered]) -> list[Ordered]:
    """Matches in the order one engine would have fed them to rules over rules."""
    return sorted(items, key=lambda om: om[0])


def item_order(item) -> tuple:
    """How a stage's items are fed: events by (time, arrival), matches by their order key."""
    a, b = item
    return a if type(b) is Match else (b["ts"], a)


def item_ms(item) -> int:
    """The millisecond an item is due at: an event's time, or a match's `emitted_at`."""
    b = item[1]
    return to_ms(b.emitted_at if type(b) is Match else b["ts"])


# ---------------------------------------------------------------- everything in one process


def make_normalizer(mapping: dict | None = None, openapi=None, templating: bool = True) -> Normalizer:
    """The normaliser `sleuth run` builds from its options (the engine's own construction path).

    Raises `EngineError` for an unreadable or malformed OpenAPI document.
    """
    from sleuth.engine.options import DEFAULTS, build_normalizer

    return build_normalizer(None, mapping=dict(mapping or {}), openapi=[openapi] if openapi is not None else [],
                            templating=templating, roles={}, max_string=DEFAULTS["max_string"])


class LocalPipeline:
    """The keyed job's data flow in one process, keys' state in dicts (the reference for the Flink job).

    Events flow ingest → level-0 stages (one per key expression) → stages of
    rules over rules. Per stage and key, as the Flink operator keeps them: a
    buffer of items, the key's blob and one timer per millisecond; the
    watermark (the highest time minus 1 ms, moved every `watermark_every`
    events, as Flink's periodic watermark lags) fires timers in time order.
    """

    def __init__(self, pack, *, lateness: float = 5.0, grace: float = 0.0, normalizer=None,
                 watermark_every: int = 1):
        self.pack = pack
        self.watermark_every = watermark_every
        self.stages = plan_stages(pack)
        self.router = Router(pack, self.stages)
        self.quarantine = Quarantine(Lines())
        norm = normalizer or make_normalizer()
        # Keys may be derived fields (client, actor, role): derive what the pack reads before routing.
        want = getattr(norm, "want", None)
        if callable(want):
            want(pack.fields)
        self.ingest = Ingest(norm, self.quarantine, lateness=lateness, pack=pack)
        self.runners = {s.index: KeyedRunner(pack, s, grace=grace, quarantine=self.quarantine)
                        for s in self.stages}
        self.consumes = {s.index: consumers_of(pack, s) for s in self.stages if s.level > 0}
        self.blobs: dict[tuple[int, str], bytes] = {}
        self.buffers: dict[tuple[int, str], list] = {}
        self.timers: list = []
        self.armed: set = set()
        self.events = 0
        self.matches: list[Match] = []
        self.wm_ms = -(1 << 62)
        self.max_ms = -(1 << 62)

    def _arm(self, ms: int, si: int, fkey: str, key) -> None:
        # One timer per (stage, key, millisecond), as Flink keeps them.
        if (ms, si, fkey) not in self.armed:
            self.armed.add((ms, si, fkey))
            heapq.heappush(self.timers, (ms, si, fkey, key))

    def _buffer(self, si: int, fkey: str, key, item) -> None:
        buf = self.buffers.setdefault((si, fkey), [])
        if not buf:
            self._arm(item_ms(item), si, fkey, key)
        buf.append(item)

    def _emit(self, stage: Stage, out: list[Ordered]) -> None:
        for order, m in out:
            self.matches.append(m)
            for s in self.stages:
                if s.level > stage.level and m.rule in self.consumes[s.index]:
                    key = sleuth_key(self.pack.rule(s.rules[0]).key, m.as_event())
                    self._buffer(s.index, flink_key(key), key, (order, m))

    def feed_records(self, records: Iterable[tuple[str, int, object]]) -> None:
        """Records `(source, position, item)` from readers, in input order."""
        for source, pos, item in records:
            for seq, ev in self.ingest.push(source, pos, item):
                self._event(seq, ev)

    def _event(self, seq: int, ev: dict) -> None:
        self.events += 1
        self.max_ms = max(self.max_ms, to_ms(ev["ts"]))
        if self.events % self.watermark_every == 0:
            self.advance(self.max_ms - 1)
        for stage, key in self.router.route(ev):
            self._buffer(stage.index, flink_key(key), key, (seq, ev))

    def advance(self, wm_ms: int) -> None:
        """The watermark passes `wm_ms`: timers up to it fire in time order, stage level by level.

        As in Flink, a stage of rules over rules sees the watermark only after
        the stages before it fired all their timers up to it and sent their
        matches.
        """
        if wm_ms <= self.wm_ms:
            return
        self.wm_ms = wm_ms
        for level in sorted({s.level for s in self.stages}):
            later = []
            while self.timers and self.timers[0][0] <= wm_ms:
                t = heapq.heappop(self.timers)
                if self.stages[t[1]].level != level:
                    later.append(t)
                    continue
                ms, si, fkey, key = t
                self.armed.discard((ms, si, fkey))
                self.fire(si, fkey, key)
            for t in later:
                heapq.heappush(self.timers, t)

    def fire(self, si: int, fkey: str, key) -> None:
        """A timer of one stage and key: what the Flink operator's `on_timer` does."""
        stage = self.stages[si]
        buf = self.buffers.pop((si, fkey), [])
        due_items = [it for it in buf if item_ms(it) <= self.wm_ms]
        rest = [it for it in buf if item_ms(it) > self.wm_ms]
        if rest:
            self.buffers[(si, fkey)] = rest
            self._arm(min(item_ms(it) for it in rest), si, fkey, key)
        due_items.sort(key=item_order)
        out, blob, due, idle = self.runners[si].run(self.blobs.get((si, fkey)), key, due_items, self.wm_ms)
        if blob is None:
            self.blobs.pop((si, fkey), None)
        else:
            self.blobs[(si, fkey)] = blob
            for ms in (due, idle):
                if ms is not None:
                    self._arm(ms, si, fkey, key)
        self._emit(stage, out)

    def close(self) -> None:
        for seq, ev in self.ingest.finish():
            self._event(seq, ev)
        self.advance(1 << 62)


def run_local(pack, records: Iterable[tuple[str, int, object]], **kw) -> LocalPipeline:
    """Run records through a `LocalPipeline` to the end; returns it (matches, quarantine)."""
    pipe = LocalPipeline(pack, **kw)
    pipe.feed_records(records)
    pipe.close()
    return pipe


def chunk_records(chunks: list[Chunk]) -> Iterator[tuple[str, int, object]]:
    """Every record of the chunks, in order, as `(source, position, item)`."""
    for c in chunks:
        for pos, item in read_chunk(c):
            yield c.name, pos, item


def dumps(obj) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


__all__ = ["Chunk", "Ingest", "KeyedRunner", "LocalPipeline", "Router", "Stage", "Unsupported",
           "check_supported", "chunk_records", "consumers_of", "dispatch_rank", "flink_key", "item_order",
           "make_normalizer",
           "order_bucket", "plan_chunks", "plan_stages", "reached", "read_chunk", "run_local", "sleuth_key",
           "timer_ms", "to_ms"]
