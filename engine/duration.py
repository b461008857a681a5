"""Durations: the one unit table, parsing and formatting (`90s`, `5m`, `1500ms`).

Shared by every stage: the rule language parses duration literals with
`parse_duration` and writes them back with `format_duration` (`sleuth fmt`,
explain); the engine writes window sizes and horizons into provenance with
`format_seconds`; the playground reads `advance 1h30m` with
`parse_compound` and shows `9m28s` with `format_human`. Measured choice:
literals are converted in decimal and rounded once, so `0.7s` and `700ms`
are the same float (700 * 0.001 is 0.7000000000000001 in binary).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

__all__ = ["UNITS", "format_duration", "format_human", "format_seconds", "parse_compound", "parse_duration"]

#: Unit -> seconds, largest first (the language's duration units).
UNITS: dict[str, Decimal] = {"w": Decimal(604800), "d": Decimal(86400), "h": Decimal(3600), "m": Decimal(60),
                             "s": Decimal(1), "ms": Decimal("0.001")}
_LITERAL = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
# Provenance uses whole units up to days (match output is a stable interface: no weeks).
_PROVENANCE_UNITS = tuple((u, float(UNITS[u])) for u in ("d", "h", "m", "s", "ms"))
_HUMAN_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_duration(text: str) -> float:
    """Seconds of one duration literal (`1.5h` -> 5400.0); raises `ValueError` otherwise."""
    m = _LITERAL.fullmatch(text)
    if m is None:
        raise ValueError(f"not a duration: {text[:40]!r} (expected e.g. 30s, 5m, 1.5h)")
    return float(Decimal(m.group(1)) * UNITS[m.group(2)])


def parse_compound(text: str) -> float | None:
    """`5m`, `1h30m`, `90s` -> seconds (the sum of the parts); None when `text` is not one."""
    text = text.strip()
    if not text or _LITERAL.sub("", text):
        return None
    return sum(float(Decimal(n) * UNITS[u]) for n, u in _LITERAL.findall(text))


def format_duration(seconds: float) -> str:
    """Largest exact unit as a literal: 90 -> '90s', 5400 -> '90m', 1.5 -> '1500ms'.

    Exact in decimal, from the shortest text of the float, so the result
    parses back to the same float with `parse_duration`.
    """
    if not math.isfinite(seconds):
        return "1" + "0" * 400 + "w"    # only a literal this long reads back as infinity
    exact = Decimal(repr(float(seconds)))
    for unit, size in UNITS.items():
        v = exact / size
        if v >= 1 and v == v.to_integral_value() and v * size == exact:
            return f"{int(v)}{unit}"
    ms = format((exact * 1000).normalize(), "f")
    return f"{ms}ms"


def format_seconds(seconds: float | None) -> str | None:
    """A duration in provenance: its largest whole unit up to days (`90s`, `5m`, `7d`, `1500ms`)."""
    if seconds is None:
        return None
    for unit, size in _PROVENANCE_UNITS:
        v = seconds / size
        if v >= 1 and abs(v - round(v)) < 1e-9:
            return f"{int(round(v))}{unit}"
    return f"{seconds:g}s"


def format_human(seconds: float) -> str:
    """For people, to the second: `568` -> `9m28s`, `3600` -> `1h`, `0.5` -> `500ms`."""
    if seconds < 0:
        return "-" + format_human(-seconds)
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:.0f}ms"
    whole = int(round(seconds))
    parts = []
    for unit, size in _HUMAN_UNITS:
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"
