"""Quarantine: where bad input goes instead of stopping the stream.

One sink for everything set aside: a record a reader could not decode (a
``Bad`` it yields in place of the record), a record the normaliser rejected
(``BadInput``, raised; ``Normalizer`` also turns a reader's ``Bad`` fed to
the engine into one) and an event the engine sets aside (late, from the
future, a rule that raised). Each is counted by a stable reason id and, when
a sink is given, written as one JSON line with sorted keys.  Nothing is
dropped silently; the counters feed the run summary.
"""

from __future__ import annotations

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
    ``excerpt`` (the first 200 characters of the input).
    """

    reason: str
    detail: str
    excerpt: str = ""


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
    ``{"detail", "excerpt", "position", "reason", "source"}`` per record;
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

    def add(self, source: str, position: int, reason: str, detail: str, excerpt: str = "") -> None:
        """Count one bad record and write it to the sink (O(1) apart from the write)."""
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
        if self._keep:
            self.records.append(rec)
        if self.sink is not None:
            line = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
            if self._text:
                self.sink.write(line.decode("utf-8"))  # type: ignore[call-overload]  # a text sink
            else:
                self.sink.write(line)

    def add_bad(self, source: str, position: int, bad: Bad | BadInput, raw: Any = "") -> None:
        """Record a reader's ``Bad`` or a normaliser's ``BadInput``; ``raw`` shows the input when it has no excerpt."""
        self.add(source, position, bad.reason, bad.detail, bad.excerpt or excerpt_of(raw))

    def __repr__(self) -> str:
        return f"Quarantine(total={self.total}, counts={self.counts!r})"
