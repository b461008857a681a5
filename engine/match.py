"""Matches: what the engine emits, with provenance, ids and fingerprints.

A `Match` is a plain record (documented in docs/matches.md, with a JSON
Schema): the rule and its taxonomy ids, the key, event times, the event time
at which the engine decided the match, emitted fields, a deterministic match
id, a TTP fingerprint, flags, and provenance (per step, the events that
satisfied it; for a window, its bounds, aggregate values and contributing
events). `to_json()` is byte-stable: sorted keys, times as RFC 3339 with
milliseconds, so the same input gives byte-identical output.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_SECONDS: dict[int, str] = {}


def format_ts(ts: float | None) -> str | None:
    """Epoch seconds → `2026-11-27T08:00:00.123Z` (millisecond precision, UTC)."""
    if ts is None or not math.isfinite(ts):
        return None
    sec, ms = divmod(round(ts * 1000), 1000)
    head = _SECONDS.get(sec)
    if head is None:
        try:
            dt = datetime.fromtimestamp(sec, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        head = dt.strftime("%Y-%m-%dT%H:%M:%S")
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()   # a bounded memo: formatting the same second repeatedly is the common case
        _SECONDS[sec] = head
    return head + _MILLIS[ms]


_MILLIS = tuple(f".{n:03d}Z" for n in range(1000))


_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 64 - 1


def jsonable(value: Any, depth: int = 0) -> Any:
    """A value made safe for JSON: tuples → lists, non-finite floats → None, huge ints → text."""
    t = type(value)
    if t is int:
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if t is str:
        return value if value.isprintable() or _encodable(value) else value.encode("utf-8", "backslashreplace").decode()
    if t is bool or value is None:
        return value
    if t is float:
        return value if math.isfinite(value) else None
    if depth > 32:
        return None
    if t is list or t is tuple:
        return [jsonable(v, depth + 1) for v in value]
    if t is dict:
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if t in (frozenset, set):
        return sorted((jsonable(v, depth + 1) for v in value), key=repr)
    return str(value)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:    # a lone surrogate from hostile input
        return False


def stable_hash(*parts: Any, size: int = 8) -> str:
    """A short deterministic hex digest of parts (str, numbers, tuples, lists, dicts of those).

    Hashes `repr`, which is deterministic for these types (dicts in their
    insertion order, which the engine fixes), and ~5x cheaper than JSON.
    """
    return hashlib.blake2b(repr(parts).encode("utf-8", "backslashreplace"), digest_size=size).hexdigest()


def event_record(rec: tuple, fields: tuple[str, ...]) -> dict:
    """A provenance event: id, time and the fields the rule read."""
    eid, ts, values = rec
    out: dict[str, Any] = {"id": eid, "ts": format_ts(ts)}
    if fields:
        d = {}
        for f, v in zip(fields, values):
            if v is None:
                continue
            t = type(v)
            d[f] = v if (t is str and len(v) < 4096 and v.isascii()) or t is bool else jsonable(v)
        out["fields"] = d
    return out


@attrs.define(slots=True)
class Match:
    """One detection. Times are epoch seconds; `to_dict()` formats them."""

    rule: str
    ttp: str
    goal: str
    severity: str
    title: str
    key: dict
    first_ts: float
    last_ts: float
    emitted_at: float
    fields: dict
    provenance: dict
    fingerprint: str
    match_id: str
    flags: list = attrs.Factory(list)

    @property
    def event_ids(self) -> list[str]:
        """Every event id in the provenance (for attribution)."""
        return provenance_event_ids(self.provenance)

    def to_dict(self) -> dict:
        return {
            "match_id": self.match_id,
            "rule": self.rule,
            "ttp": self.ttp,
            "goal": self.goal,
            "severity": self.severity,
            "title": self.title,
            "key": jsonable(self.key),
            "first_ts": format_ts(self.first_ts),
            "last_ts": format_ts(self.last_ts),
            "emitted_at": format_ts(self.emitted_at),
            "fields": jsonable(self.fields),
            "fingerprint": self.fingerprint,
            "flags": list(self.flags),
            "provenance": self.provenance,
        }

    def to_json(self) -> bytes:
        """One JSON line (no newline), keys sorted: byte-stable."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)

    def as_event(self) -> dict:
        """The match seen as an event by `from matches` rules."""
        ev = {
            "id": self.match_id,
            "ts": self.emitted_at,
            "rule": self.rule,
            "ttp": self.ttp,
            "goal": self.goal,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "key": dict(self.key),
            "fields": dict(self.fields),
        }
        for k, v in self.key.items():
            ev.setdefault(k, v)
        for k, v in self.fields.items():
            ev.setdefault(k, v)
        return ev


def provenance_event_ids(prov: dict) -> list[str]:
    """Every event id a provenance record cites, in order (steps, window events, last event)."""
    out: list[str] = []
    for step in prov.get("steps", ()):
        for e in step.get("events", ()):
            out.append(e["id"])
    for e in prov.get("events", ()):
        out.append(e["id"])
    last = prov.get("last_event")
    if last and last.get("id") not in out:
        out.append(last["id"])
    for m in prov.get("matches", ()):
        out.extend(m.get("event_ids", ()))
    return out
