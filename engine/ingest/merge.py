"""Several inputs as one stream: a k-way merge by event time, the reader stage of multi-file runs.

Rotated logs (``access_log*`` in any order) and the logs of several servers
over the same hours are one stream.  ``Merge`` holds one record per input,
its lookahead, in a heap keyed by (event time, input index, arrival) and
yields the earliest; memory is that one record per input plus each reader's
read buffer, whatever the inputs' lengths or overlap.  Measured choice: a
merged stream is never more out of order than its most disordered input
(each record is yielded when it is the earliest of all lookaheads), so an
input in time order needs no lateness at all; records without a usable time
(bad lines, records the normaliser refuses) are passed on at once.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from ..quarantine import Bad
from .source import IDLE

__all__ = ["InputOrder", "Merge"]


@attrs.define
class InputOrder:
    """How one input's own records are ordered: what ``sleuth run`` checks for each file.

    ``events`` timed records read, ``out_of_order`` those older than a
    record before them in the same input, ``max_lateness`` how much older
    (seconds) at most; ``first``/``last`` the earliest and latest times.
    """

    events: int = 0
    out_of_order: int = 0
    max_lateness: float = 0.0
    first: float | None = None
    last: float | None = None
    _max: float = float("-inf")

    def add(self, t: float) -> None:
        self.events += 1
        if t < self._max:
            self.out_of_order += 1
            if self._max - t > self.max_lateness:
                self.max_lateness = self._max - t
        else:
            self._max = t
        if self.first is None or t < self.first:
            self.first = t
        if self.last is None or t > self.last:
            self.last = t


class Merge:
    """A k-way merge of readers by event time; iterating yields ``(input index, position, item)``.

    ``time_of(item)`` gives an item's event time, or None when it has none
    (the item is then yielded as soon as it is read).  Inputs that are
    followed may yield ``IDLE`` (readers made with ``idle_marker=True``): an
    input with nothing to read does not hold the others back (its later
    records are ordered by the engine's lateness like any straggler), it is
    read again every ``poll_interval`` seconds, and when every input is idle
    the merge yields ``IDLE`` itself.  One input is passed through as it is
    (no time is computed).  ``order[i]`` is the ``InputOrder`` of input i,
    ``held(i)`` the position of the record of input i waiting in the heap.
    """

    def __init__(self, readers: Iterable[Iterable[tuple[int, Any]]], time_of: Callable[[Any], float | None],
                 *, poll_interval: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self.readers = list(readers)
        self.time_of = time_of
        self.poll_interval = poll_interval
        self.clock = clock
        k = len(self.readers)
        self.order = [InputOrder() for _ in range(k)]
        self._held: list[int | None] = [None] * k
        self._its: list[Iterator | None] = [None] * k
        #: Per input: its reader has ended (read to its end, or stopped).
        self.done = [False] * k

    def held(self, index: int) -> int | None:
        """The position of input ``index``'s record waiting in the merge (read, not yet yielded)."""
        return self._held[index]

    def __iter__(self) -> Iterator[Any]:
        if len(self.readers) == 1:
            yield from self._single()
            return
        yield from self._merge()

    def _single(self) -> Iterator[Any]:
        self._its[0] = it = iter(self.readers[0])
        for pos, item in it:
            if item is IDLE:
                yield IDLE
            else:
                yield 0, pos, item
        self.done[0] = True

    def _merge(self) -> Iterator[Any]:
        k = len(self.readers)
        heap: list = []
        idle = [False] * k
        done = self.done
        seq = 0
        time_of = self.time_of
        held = self._held
        order = self.order
        push, pop = heapq.heappush, heapq.heappop

        def pull(i: int) -> Iterator[Any]:
            """Read input i up to its next timed record (into the heap); untimed ones go out at once."""
            nonlocal seq
            it = self._its[i]
            for pos, item in it:
                if item is IDLE:
                    idle[i] = True
                    return
                t = None if type(item) is Bad else time_of(item)
                if t is None:
                    yield i, pos, item
                    continue
                order[i].add(t)
                seq += 1
                push(heap, (t, i, seq, pos, item))
                held[i] = pos
                return
            done[i] = True

        for i, r in enumerate(self.readers):
            self._its[i] = iter(r)
        for i in range(k):
            yield from pull(i)
        last_poll = self.clock()
        while True:
            while heap:
                _t, i, _s, pos, item = pop(heap)
                held[i] = None
                yield i, pos, item
                yield from pull(i)
                if any(idle) and self.clock() - last_poll >= self.poll_interval:
                    last_poll = self.clock()
                    for j in range(k):
                        if idle[j] and held[j] is None:
                            idle[j] = False
                            yield from pull(j)
            if all(done):
                return
            # Nothing held: every live input is idle. Say so, then look again.
            yield IDLE
            last_poll = self.clock()
            for j in range(k):
                if idle[j]:
                    idle[j] = False
                    yield from pull(j)
