"""Event times: text and numbers -> float epoch seconds (UTC), part of ingest.

`parse_time` reads RFC 3339 / ISO 8601, epoch numbers in s, ms, µs or ns
(chosen by magnitude), Apache/nginx log times and `datetime` objects; the
normaliser calls it for `ts`, the access-log reader for `[%t]`. Measured
choices: an RFC 3339 string goes straight to `datetime.fromisoformat` (~0.3
µs, not cached: such strings rarely repeat); other text is cached (LRU 4096:
log times repeat within a second).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from ..quarantine import BadInput
from ..schema import TS_MAX

__all__ = ["INT_TEXT", "NUMBER_TEXT", "TS_MAX", "parse_clf_time", "parse_time"]

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_CLF_TIME = re.compile(
    r"\[?(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?: ([+-])(\d{2}):?(\d{2}))?\]?")
#: A decimal number as text (also what the normaliser coerces to numbers).
NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
#: An integer as text, at most 20 digits.
INT_TEXT = re.compile(r"[+-]?\d{1,20}")


def _bad_time(detail: str) -> BadInput:
    return BadInput("bad-time", detail)


def _epoch(value: float | int) -> float:
    """Epoch number in s, ms, µs or ns (chosen by magnitude) -> float seconds."""
    if value != value or value in (math.inf, -math.inf):
        raise _bad_time(f"time is not a finite number ({value!r})")
    a = abs(value)
    # Magnitude heuristic: < 1e11 is seconds (up to year 5138), < 1e14 is
    # milliseconds, < 1e17 microseconds, < 1e20 nanoseconds.
    if a < 1e11:
        seconds = float(value)
    elif a < 1e14:
        seconds = value / 1e3
    elif a < 1e17:
        seconds = value / 1e6
    elif a < 1e20:
        seconds = value / 1e9
    else:
        raise _bad_time(f"epoch number {value!r} is too large for s, ms, µs or ns")
    if seconds < 0.0:
        raise _bad_time(f"time {value!r} is before 1970")
    if seconds > TS_MAX:
        raise _bad_time(f"time {value!r} is after the year 9999")
    return seconds


def parse_clf_time(text: str) -> float:
    """Apache/nginx ``10/Oct/2004:04:20:13 -0400`` (brackets optional) -> epoch seconds.

    A missing offset means UTC.  Raises ``BadInput("bad-time")``.
    """
    m = _CLF_TIME.fullmatch(text)
    if m is None:
        raise _bad_time(f"not a log time: {text[:60]!r}")
    return _clf_match(m, text)


def _clf_match(m: re.Match, text: str) -> float:
    day, mon, year, hh, mm, ss, frac, sign, oh, om = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        raise _bad_time(f"unknown month {mon!r} in {text[:60]!r}")
    offset = 0
    if sign is not None:
        offset = int(oh) * 3600 + int(om) * 60
        if sign == "-":
            offset = -offset
    try:
        dt = datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError as e:
        raise _bad_time(f"{e} in {text[:60]!r}") from None
    seconds = (dt - _EPOCH).total_seconds() - offset
    if frac:
        seconds += int(frac) / 10 ** len(frac)
    return _check_range(seconds, text)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_fromisoformat = datetime.fromisoformat


def _check_range(seconds: float, text: str) -> float:
    if seconds < 0.0:
        raise _bad_time(f"time {text[:60]!r} is before 1970")
    if seconds > TS_MAX:
        raise _bad_time(f"time {text[:60]!r} is after the year 9999")
    return seconds


@lru_cache(maxsize=4096)
def _parse_time_text(text: str) -> float:
    # Cached: in real logs many events share one timestamp string.
    s = text.strip()
    if not s:
        raise _bad_time("empty time string")
    if NUMBER_TEXT.fullmatch(s):
        # Integer text keeps full precision for ns epochs.
        return _epoch(int(s) if INT_TEXT.fullmatch(s) else float(s))
    c0 = s[0]
    if c0 == "[" or (len(s) > 3 and s[2] == "/") or (len(s) > 2 and s[1] == "/"):
        m = _CLF_TIME.fullmatch(s)
        if m is not None:
            return _clf_match(m, s)
    iso = s.upper()  # RFC 3339 allows lower-case 't' and 'z'
    if iso.endswith("UTC"):
        iso = iso[:-3].rstrip() + "Z"
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise _bad_time(f"unparsable time {s[:60]!r}") from None
    return _from_datetime(dt, s)


def _from_datetime(dt: datetime, text: Any) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        seconds = (dt - _EPOCH) / timedelta(seconds=1)
    except OverflowError:
        raise _bad_time(f"time {str(text)[:60]!r} is out of range") from None
    return _check_range(seconds, str(text))


def parse_time(value: Any) -> float:
    """Event time -> float epoch seconds (UTC).

    Accepts RFC 3339 / ISO 8601 strings (offset or ``Z``; none means UTC),
    epoch numbers or numeric strings in seconds, milliseconds, microseconds or
    nanoseconds (by magnitude: < 1e11 s, < 1e14 ms, < 1e17 µs, < 1e20 ns),
    Apache ``10/Oct/2004:04:20:13 -0400`` and ``datetime`` objects.  Raises
    ``BadInput("bad-time")`` for NaN, infinities, booleans, times before 1970
    or after 9999, and anything unparsable.  Strings are cached (LRU 4096).
    """
    t = type(value)
    if t is float or t is int:
        return _epoch(value)
    if t is str:
        n = len(value)
        if n > 80:  # no time string is this long; keeps the cache small
            raise _bad_time(f"unparsable time {value[:60]!r}...")
        if n >= 10 and value[4] == "-":
            # RFC 3339 straight to C (~0.3 µs); such strings rarely repeat, so no cache.
            try:
                dt = _fromisoformat(value)
            except ValueError:
                pass
            else:
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=UTC)
                return _check_range(dt.timestamp(), value)
        return _parse_time_text(value)
    if isinstance(value, bool):
        raise _bad_time(f"time must not be a boolean ({value!r})")
    if isinstance(value, (int, float)):
        return _epoch(float(value))
    if isinstance(value, str):
        return parse_time(str(value))
    if isinstance(value, datetime):
        return _from_datetime(value, value)
    if isinstance(value, (bytes, bytearray)):
        return parse_time(bytes(value[:128]).decode("utf-8", "replace"))
    raise _bad_time(f"expected a time string or epoch number, got {type(value).__name__}")
