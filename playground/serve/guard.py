"""The engines, the policy and the outputs behind `sleuth serve` and the ASGI middleware.

A `Guard` holds two engines over one pack and one policy `Enforcer`: `live`
(lateness 0) takes request events stamped with the receiving clock, so a
match fires on the request that completes it; `log` (lateness as `sleuth
run`) takes batches of log events with their own times (access logs carrying
response statuses, shipped later), which the live engine would quarantine as
late; its watermark also follows the clock (`tick`). Matches of both decide
through the one policy. Not thread-safe: one owner at a time (worker.py).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterable, Iterator

import msgpack
import orjson

from sleuth.engine import BadInput, Engine, Normalizer, Quarantine, SnapshotError
from sleuth.engine.ingest.openapi import HeuristicTemplater
from sleuth.engine.ingest.source import Bad, open_source
from sleuth.engine.policy import Enforcer, Policy, Verdict

STATE_MAGIC = "sleuth-serve-state"
STATE_VERSION = 1
INGEST_CHUNK = 256
_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


class Guard:
    """Feed request and log events, decide through the policy, answer requests, write outputs.

    `writer` (a `Writer`, or None for nothing written) receives `matches`,
    `decisions` and `quarantine` lines. `clock` gives the live events' time
    (default `time.time`); stamps never go backwards.
    """

    def __init__(self, pack, policy: Policy | None = None, *, normalizer: Normalizer | None = None,
                 enrich: Iterable = (), max_keys: int = 1_000_000, lateness: float = 5.0, writer=None,
                 source: str = "serve", clock: Callable[[], float] = time.time):
        self.pack = pack
        self.policy = policy if policy is not None else Policy.default()
        self.normalizer = normalizer if normalizer is not None else Normalizer(templater=HeuristicTemplater())
        self._normalize = getattr(self.normalizer, "normalize", self.normalizer)
        self.enrich = tuple(enrich)
        self.max_keys = max_keys
        self.lateness = float(lateness)
        self.writer = writer
        self.source = source
        self.clock = clock
        # One quarantine per engine (a snapshot carries its engine's counts), one output stream.
        self._quarantines = {c: Quarantine(writer.sink("quarantine") if writer is not None else None)
                             for c in ("live", "log")}
        self.enforcer = Enforcer(self.policy, on_decision=self._on_decision)
        self.live = self._engine(0.0, "live")
        self.enforcer.attach(self.live, "live")
        self.log: Engine | None = None
        self._n = 0
        self._batches = 0
        self._t = -math.inf
        self.counters = {"requests": 0, "outcomes": 0, "bad_requests": 0, "ingested": 0, "ingest_batches": 0,
                         "ingest_bad": 0}

    def _engine(self, lateness: float, channel: str) -> Engine:
        return Engine(self.pack, lateness=lateness, max_keys=self.max_keys, normalizer=self.normalizer,
                      quarantine=self._quarantines[channel], enrich=self.enrich,
                      source=f"{self.source}:{channel}")

    # ------------------------------------------------------------ requests
    def stamp(self) -> float:
        """The live clock: now, never before an earlier stamp or the live engine's latest event."""
        t = self.clock()
        if t < self._t:
            t = self._t
        if t < self.live.max_time:
            t = self.live.max_time
        self._t = t
        return t

    def _prepare(self, raw: dict) -> dict | None:
        self._n += 1
        raw["ts"] = self.stamp()
        if "id" not in raw:
            raw["id"] = f"{self.source}:{self._n}"
        try:
            return self._normalize(raw, self.source, self._n)
        except BadInput:
            self.counters["bad_requests"] += 1
            self.live.feed(raw, position=self._n)       # the engine quarantines it with its reason
            return None

    def decide(self, raw: dict) -> Verdict:
        """Gateway mode: feed the request event, then answer it (a match it completes applies at once)."""
        self.counters["requests"] += 1
        ev = self._prepare(raw)
        if ev is None:
            return self.enforcer.check(raw, self._t)
        self._emit(self.live.feed(ev, position=self._n))
        return self.enforcer.check(ev, ev["ts"])

    def precheck(self, raw: dict) -> tuple[Verdict, dict | None]:
        """In-process mode, before the application: the answer from current state, and the event."""
        self.counters["requests"] += 1
        ev = self._prepare(raw)
        if ev is None:
            return self.enforcer.check(raw, self._t), None
        return self.enforcer.check(ev, ev["ts"]), ev

    def outcome(self, ev: dict, status: int, *, latency_ms: float | None = None,
                resp_bytes: int | None = None) -> None:
        """In-process mode, after the response: feed the event with its status, at the completion time."""
        self.counters["outcomes"] += 1
        ev["ts"] = self.stamp()
        ev["status"] = int(status)
        if latency_ms is not None:
            ev["latency_ms"] = round(float(latency_ms), 3)
        if resp_bytes is not None:
            ev["resp_bytes"] = int(resp_bytes)
        self._emit(self.live.feed(ev, position=self._n))

    # ------------------------------------------------------------ log batches
    def ingest(self, body: bytes, fmt: str = "auto") -> Iterator[dict]:
        """Feed a batch of log records (JSON lines, access log, CSV, msgpack) to the log engine.

        A generator: it yields after every 256 events so that the owner can
        answer pending requests between chunks; the last value yielded is
        the batch's counts (`events`, `bad`).
        """
        if self.log is None:
            self.log = self._engine(self.lateness, "log")
            self.enforcer.attach(self.log, "log")
        self._batches += 1
        self.counters["ingest_batches"] += 1
        name = f"{self.source}:ingest:{self._batches}"
        reader = open_source(io.BytesIO(body), fmt, name=name)
        batch: list = []
        positions: list = []
        events = bad = 0
        for pos, item in reader:
            if type(item) is Bad:
                self._quarantines["log"].add(name, pos, item.reason, item.detail, item.excerpt)
                bad += 1
                continue
            batch.append(item)
            positions.append(pos)
            if len(batch) >= INGEST_CHUNK:
                self._emit(self.log.feed_many(batch, name, positions))
                events += len(batch)
                batch, positions = [], []
                yield {"events": events, "bad": bad}
        if batch:
            self._emit(self.log.feed_many(batch, name, positions))
            events += len(batch)
        self.counters["ingested"] += events
        self.counters["ingest_bad"] += bad
        self.tick()
        yield {"events": events, "bad": bad}

    def tick(self) -> None:
        """Move the log engine's watermark with the live clock (now minus the lateness).

        Log events are real times of this site: once the clock has passed an
        event's time plus the lateness, its windows may close and its matches
        decide, without waiting for later log lines. Called after each batch
        and about every second by the owner.
        """
        if self.log is not None:
            t = self.stamp() - self.lateness
            if t > self.log.watermark:
                self._emit(self.log.advance(t))

    # ------------------------------------------------------------ outputs
    def _emit(self, matches: list) -> None:
        if matches and self.writer is not None:
            for m in matches:
                self.writer.write("matches", m.to_json() + b"\n")

    def _on_decision(self, rec: dict) -> None:
        if self.writer is not None:
            self.writer.write("decisions", orjson.dumps(rec, option=_JSON))

    # ------------------------------------------------------------ introspection and state
    def stats(self) -> dict:
        """Counters for /metrics and /healthz (read by the owner)."""
        return {
            "live": self.live.stats(),
            "log": self.log.stats() if self.log is not None else None,
            "policy": self.enforcer.stats(),
            "quarantined": self.quarantined(),
            "counters": dict(self.counters),
            "writer": self.writer.stats() if self.writer is not None else None,
        }

    def quarantined(self) -> dict:
        """Quarantined records by reason, both engines."""
        out: dict = {}
        for q in self._quarantines.values():
            for reason, n in q.counts.items():
                out[reason] = out.get(reason, 0) + n
        return dict(sorted(out.items()))

    def snapshot(self) -> bytes:
        """Both engines, the policy state and the clock, as one versioned blob."""
        body = {
            "magic": STATE_MAGIC, "version": STATE_VERSION, "pack": self.pack.fingerprint,
            "live": self.live.snapshot(), "log": self.log.snapshot() if self.log is not None else None,
            "policy": self.enforcer.snapshot(), "n": self._n, "batches": self._batches, "t": self._t,
            "counters": self.counters,
        }
        return msgpack.packb(body, use_bin_type=True)

    def restore(self, blob: bytes) -> None:
        """Resume from `snapshot()` bytes (on a fresh Guard); raises `SnapshotError` and changes nothing then."""
        try:
            body = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        except Exception as exc:
            raise SnapshotError(f"not a sleuth serve state ({type(exc).__name__})") from exc
        if not isinstance(body, dict) or body.get("magic") != STATE_MAGIC:
            raise SnapshotError("not a sleuth serve state (bad magic)")
        if body.get("version") != STATE_VERSION:
            raise SnapshotError(f"serve state version {body.get('version')} is not supported")
        if body.get("pack") != self.pack.fingerprint:
            raise SnapshotError("the state was written with another rule pack; restore with the same rules "
                                "or start without the state file")
        opts = dict(normalizer=self.normalizer, enrich=self.enrich)
        fresh = {c: Quarantine(q.sink) for c, q in self._quarantines.items()}
        live = Engine.restore(self.pack, body["live"], quarantine=fresh["live"], **opts)
        log = (Engine.restore(self.pack, body["log"], lateness=self.lateness, quarantine=fresh["log"], **opts)
               if body.get("log") else None)
        enforcer = Enforcer(self.policy, on_decision=self._on_decision)
        enforcer.restore(body["policy"])
        try:
            n, batches, t = int(body["n"]), int(body["batches"]), float(body["t"])
            counters = {k: int(body["counters"].get(k, 0)) for k in self.counters}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotError(f"corrupt serve state: {type(exc).__name__}: {exc}") from exc
        self.live, self.log, self.enforcer, self._quarantines = live, log, enforcer, fresh
        enforcer.attach(live, "live")
        if log is not None:
            enforcer.attach(log, "log")
        self._n, self._batches, self._t, self.counters = n, batches, t, counters

    def active(self, where: dict | None = None) -> list[dict]:
        """Active decisions, optionally only those whose key has these field values."""
        out = self.enforcer.active()
        if where:
            out = [d for d in out if all(str(d["key"].get(k)) == v for k, v in where.items())]
        return out
