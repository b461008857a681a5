"""Disorder of a stream of event times: how late events arrive (a measurement for lateness defaults).

An event's lateness is how far its time is behind the latest time seen
before it (0 for an event in order); the engine quarantines an event whose
lateness exceeds ``--lateness``.  ``measure`` gives the largest lateness,
quantiles over all events and the number of events each candidate lateness
would lose.  Exact: it keeps the lateness of the late events only (memory
proportional to their number).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import attrs

__all__ = ["Disorder", "lateness", "measure"]


def lateness(times: Iterable[float]) -> Iterator[float]:
    """Per event, in arrival order: the latest earlier time minus its own, or 0."""
    latest = -math.inf
    for t in times:
        if t < latest:
            yield latest - t
        else:
            latest = t
            yield 0.0


@attrs.frozen
class Disorder:
    """The lateness profile of one stream.

    ``quantiles`` maps q (0.99, 0.999, ...) to the nearest-rank quantile of
    the lateness of all events (in-order events count as 0); ``lost`` maps a
    candidate ``--lateness`` L to the number of events later than L (those
    the engine would quarantine as ``late``).
    """

    events: int
    late: int
    max: float
    quantiles: dict[float, float]
    lost: dict[float, int]


def measure(times: Iterable[float], quantiles: Iterable[float] = (0.99, 0.999, 0.9999),
            thresholds: Iterable[float] = (1, 5, 10, 30, 60, 120, 300, 600)) -> Disorder:
    """The ``Disorder`` of a stream of event times, in arrival order."""
    late = []
    n = 0
    for x in lateness(times):
        n += 1
        if x > 0.0:
            late.append(x)
    late.sort()
    k = len(late)
    qs = {}
    for q in quantiles:
        rank = max(1, math.ceil(q * n)) if n else 0  # nearest rank, 1-based
        qs[q] = late[rank - 1 - (n - k)] if rank > n - k else 0.0
    lost = {}
    for t in thresholds:
        # events strictly later than t
        lo, hi = 0, k
        while lo < hi:
            mid = (lo + hi) // 2
            if late[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        lost[t] = k - lo
    return Disorder(events=n, late=k, max=late[-1] if late else 0.0, quantiles=qs, lost=lost)
