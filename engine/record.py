"""The engine's time records: buffered events, timers, held far-future events.

Stage: event time (`engine.py`). Timers and held events are named tuples
(`Timer`, `Held`): they order in heaps as tuples, snapshot as plain lists,
and read by name. A buffered event stays a plain `(ts, seq, event)` tuple,
taken apart by unpacking (`ts, seq, ev = item`; only its time, `item[0]`,
is read by index to order the buffer): it is made once per event on the hot
path, and measured on CPython 3.11 a named tuple costs ~0.55 µs to create
against ~0.06 µs for a tuple (a `__slots__` object ~0.19 µs, and it does not
order as a tuple), about half the whole cost of a filter rule per event.
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: Timer kinds: a tumbling window's end, a session's gap, a trailing absence's deadline.
TIMER_KINDS = frozenset({"close", "session", "absence"})
#: Timer phases: before the events at its time (a window ending at T closes first), after them.
BEFORE, AFTER = 0, 2


class Timer(NamedTuple):
    """A pending decision at an event time, ordered by (time, phase, seq).

    `rule` is the rule's index; `target` the key it is about (for `close`,
    the window end shared by every key closing then); `token` tells an
    absence's wait apart from later ones of the same key.
    """

    time: float
    phase: int
    seq: int
    rule: int
    kind: str
    target: Any
    token: Any


class Held(NamedTuple):
    """A far-future event held until later events agree with its time: `item` is `(ts, seq, event)`.

    `votes` counts the later events at or after its time (minus the
    lateness), `against` those that came back before it (docs/semantics.md,
    the far-future guard).
    """

    item: tuple
    source: str
    position: int
    votes: int = 0
    against: int = 0
