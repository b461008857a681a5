"""Quarantine: where bad input goes instead of stopping the stream.

One sink for everything set aside: a record a reader could not decode (a
``Bad`` it yields in place of the record), a record the normaliser rejected
(``BadInput``, raised; ``Normalizer`` also turns a reader's ``Bad`` fed to
the engine into one) and an event the engine sets aside (late, from the
future, a rule that raised). Each is counted by a stable reason id and, when
a sink is given, written as one JSON line with sorted keys, with the input
it set aside (the line, or the record as JSON) so that it can be replayed.
Nothing is dropped silently; the counters feed the run summary.
"""

from __future__ import annotations

import base64
import io
from collections import deque
from typing import Any, BinaryIO

import attrs
import orjson

from .errors import SleuthError

__all__ = ["REASONS", "Bad", "BadInput", "Quarantine", "excerpt_of"]

#: Every reason id sleuth uses, with its meaning (docs/input.md lists the same).
REASONS: dict[str, str] = {
    # readers (engine/ingest/source.py, engine/ingest/accesslog.py)
    "not-json": "a JSON line or document that does not parse",
    "bad-encoding": "bytes that are not valid UTF-8 (JSON lines, CSV)",
    "oversized": "a line or record longer than max_line_bytes",
    "bad-msgpack": "a corrupt or truncated msgpack stream (the rest of that input is skipped)",
    "bad-gzip": "a corrupt or truncated gzip stream (the rest of that input is skipped)",
    "io-error": "the input could not be read any further",
    "unparsable-line": "a line of an access log that is not an access-log line",
    "bad-csv-row": "a CSV row with more cells than the header, or an unclosed quote",
    "unknown-format": "format auto-detection failed (the input is skipped)",
    # normaliser (engine/ingest/normalize.py, engine/ingest/timestamp.py)
    "not-mapping": "a record that is not a mapping (a JSON array, string, number, ...)",
    "no-time": "an event without ts (nor @timestamp, timestamp, time)",
    "bad-time": "an event time that cannot be read, or before 1970, or after 9999",
    # engine
    "late": "an event older than the watermark minus the allowed lateness",
    "future": "an event too far ahead of the clock",
    "rule-error": "a rule raised while evaluating this event (the stream goes on)",
    "enrich-error": "an enricher raised on this event (the event goes on without its fields)",
}

_EXCERPT = 200
_DETAIL = 1000


@attrs.frozen
class Bad:
    """A record that could not be decoded, as a reader yields it in its place.

    A stable ``reason`` id (``REASONS``), a human ``detail`` and an
    ``excerpt`` (the first 200 characters of the input).  ``raw`` is the
    whole input line (bytes or text, without its line ending) when the reader
    has it, for the quarantine record (replay); it takes no part in equality
    or ``repr``.
    """

    reason: str
    detail: str
    excerpt: str = ""
    raw: bytes | str | None = attrs.field(default=None, eq=False, repr=False)


class BadInput(SleuthError):
    """A record that cannot become an event, raised by the normaliser (an ``Exception``).

    ``reason`` is a stable kebab id (``not-mapping``, ``no-time``,
    ``bad-time``, or a reader's reason for a ``Bad`` fed to the engine) that
    quarantine records and counters use; ``detail`` is for people;
    ``excerpt`` (may be empty) shows the input.
    """

    def __init__(self, reason: str, detail: str, excerpt: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.excerpt = excerpt


def _raw_fields(raw: bytes | str) -> dict[str, str]:
    """The input line of a record as JSON text: ``raw`` when it is UTF-8, else ``raw_base64``."""
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
            return {"raw": raw}
        except UnicodeEncodeError:  # lone surrogates: keep the exact code units
            return {"raw_base64": base64.b64encode(raw.encode("utf-8", "surrogatepass")).decode("ascii")}
    raw = bytes(raw)
    try:
        return {"raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"raw_base64": base64.b64encode(raw).decode("ascii")}


def _record_json(record: Any) -> Any:
    """A decoded record as a JSON value (what a replay feeds back), or None when it has none."""
    if record is None:
        return None
    try:
        return orjson.loads(orjson.dumps(record, default=_default, option=orjson.OPT_NON_STR_KEYS))
    except Exception:  # deep nesting, integers beyond 64 bits, ...
        return None


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, int):          # beyond 64 bits: as text
        return str(value)
    raise TypeError


def excerpt_of(value: Any) -> str:
    """At most 200 characters showing ``value`` (bytes decoded, others as JSON); never raises."""
    try:
        if isinstance(value, str):
            return value[:_EXCERPT]
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value[: _EXCERPT * 4]).decode("utf-8", "replace")[:_EXCERPT]
        data = orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS)
        return data[: _EXCERPT * 4].decode("utf-8", "replace")[:_EXCERPT]
    except Exception:  # deep nesting, a hostile __repr__, ...
        try:
            return repr(value)[:_EXCERPT]
        except Exception:
            return f"<{type(value).__name__}>"


class Quarantine:
    """Counts bad input by reason and optionally writes it as JSON lines.

    ``sink`` is a binary stream (a text stream also works) receiving
    ``{"detail", "excerpt", "position", "reason", "source"}`` per record,
    plus the input itself when the caller has it: ``raw`` (the whole input
    line, or ``raw_base64`` when it is not UTF-8) for what a reader could not
    decode, ``record`` (the decoded record or event, as JSON) for the rest;
    ``keep=N`` keeps the last N records in ``records`` (for the REPL and
    tests).  ``counts`` maps reason -> number, ``total`` is their sum.
    """

    def __init__(self, sink: BinaryIO | None = None, *, keep: int = 0) -> None:
        self.sink = sink
        self._text = isinstance(sink, io.TextIOBase)
        self.counts: dict[str, int] = {}
        self.total = 0
        self.records: deque[dict[str, Any]] = deque(maxlen=max(0, keep))
        self._keep = keep > 0

    def add(self, source: str, position: int, reason: str, detail: str, excerpt: Any = "", *,
            raw: bytes | str | None = None, record: Any = None) -> None:
        """Count one bad record and write it to the sink (O(1) apart from the write).

        ``raw`` is the input line the record came from, ``record`` the decoded
        record or event (either makes the quarantine record replayable).
        """
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.total += 1
        if self.sink is None and not self._keep:
            return
        rec = {
            "source": str(source),
            "position": position if type(position) is int else str(position),
            "reason": str(reason),
            "detail": str(detail)[:_DETAIL],
            "excerpt": excerpt_of(excerpt),
        }
        if raw is not None:
            rec.update(_raw_fields(raw))
        elif record is not None:
            value = _record_json(record)
            if value is not None:
                rec["record"] = value
        if self._keep:
            self.records.append(rec)
        if self.sink is not None:
            line = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
            if self._text:
                self.sink.write(line.decode("utf-8"))  # type: ignore[call-overload]  # a text sink
            else:
                self.sink.write(line)

    def add_bad(self, source: str, position: int, bad: Bad | BadInput, raw: Any = "") -> None:
        """Record a reader's ``Bad`` or a normaliser's ``BadInput``.

        ``raw`` is the record the normaliser was given (it shows the input when
        the error has no excerpt, and is kept as ``record``); a reader's
        ``Bad`` keeps its own input line (``Bad.raw``).
        """
        line = getattr(bad, "raw", None)
        if type(raw) is Bad:            # a reader's Bad fed to the engine: its line is the input
            line = raw.raw if line is None else line
            raw = ""
        self.add(source, position, bad.reason, bad.detail, bad.excerpt or excerpt_of(raw),
                 raw=line, record=None if line is not None or isinstance(raw, str) and raw == "" else raw)

    def __repr__(self) -> str:
        return f"Quarantine(total={self.total}, counts={self.counts!r})"
