"""Per-rule keyed state with bounded memory: the base of every machine.

State is partitioned by the rule's key. Each machine keeps its keys in an
`OrderedDict` ordered by last activity; because the engine processes events
in event-time order, that order is also LRU order, so one structure gives
both idle expiry (pop from the front while the front's last activity plus
the rule's horizon is behind the watermark) and key-cap eviction (pop the
least recently active key). Both are O(1) amortised; nothing scans all keys.
A key idle for longer than its horizon is treated as new even before it is
collected, so when collection runs never changes the output.
"""

from __future__ import annotations

from collections import OrderedDict

NEG_INF = float("-inf")

#: Every cap of the engine and what says so when it shapes a match: the flag it sets (and counts
#: in `Engine.stats()["capped"]`), or why no value changes. tests/engine/test_caps.py reads the
#: engine's source for caps and checks each is here and, when it has a flag, that the flag is set.
CAP_FLAGS: dict[str, str | tuple[None, str]] = {
    "keys": "evicted",                       # per-rule key cap: least recently active key evicted
    "max_keys": "evicted",                   # engine-wide key cap (or the byte budget)
    "window": "window-folded",               # held events per sliding key: older ones folded into slices
    "distinct": "distinct-capped",           # value table of distinct/entropy/sample
    "values": "first-seen-capped",           # first_seen() memory
    "suppress": "suppression-capped",        # suppression table, bounded like the rule's keys
    "events": (None, "provenance lists the first events and the newest; `omitted` counts the rest"),
    "partials": (None, "the language's policy (newest partial wins per state, docs/semantics.md §4)"),
}


class Machine:
    """Common keyed-state handling for one rule."""

    kind = "base"

    def __init__(self, engine, spec):
        self.engine = engine
        self.spec = spec
        self.states: OrderedDict = OrderedDict()
        self.cap = min(spec.limit("keys"), engine.max_keys)
        self.horizon = spec.horizon
        self.evicted = 0
        self.expired = 0
        self.last_eviction = NEG_INF

    def new_key(self, key, state) -> None:
        """Insert a fresh key, evicting the least recently active one past the cap."""
        states = self.states
        states[key] = state
        if len(states) > self.cap:
            self.forget(*states.popitem(last=False))
            self.evicted += 1
            self.last_eviction = self.engine.now
            self.engine.metrics["evictions"] += 1
            return      # one in, one out: the global count is unchanged
        self.engine.note_new_key(self)

    def evict_one(self) -> bool:
        """Evict this rule's least recently active key (global budget pressure)."""
        if not self.states:
            return False
        self.forget(*self.states.popitem(last=False))
        self.evicted += 1
        self.last_eviction = self.engine.now
        self.engine.metrics["evictions"] += 1
        return True

    def oldest_activity(self) -> float:
        for st in self.states.values():
            return st.last
        return float("inf")

    def collect(self, now: float) -> int:
        """Drop keys idle past the horizon (no output: they would be treated as new anyway)."""
        states = self.states
        limit = now - self.horizon - self.extra_horizon()
        n = 0
        while states:
            key, st = next(iter(states.items()))
            if st.last >= limit or self.pinned(st):
                break
            self.forget(*states.popitem(last=False))
            n += 1
        self.expired += n
        return n

    def forget(self, key, state) -> None:
        """A key's state is gone (evicted or expired): drop what refers to it elsewhere."""

    def extra_horizon(self) -> float:
        return 0.0

    def pinned(self, st) -> bool:
        """A state that must outlive its horizon (pending timers)."""
        return False

    def degraded(self, first_ts: float) -> list[str]:
        """Flags for a match whose window overlaps a recent eviction of this rule."""
        if self.last_eviction >= first_ts - self.horizon:
            return ["evicted"]
        return []

    def key_dict(self, key) -> dict:
        names = self.spec.key_names
        if not names:
            return {}
        if len(names) == 1:
            return {names[0]: key}
        return dict(zip(names, key))

    # snapshot helpers
    def dump_base(self) -> list:
        return [self.evicted, self.expired, self.last_eviction]

    def load_base(self, s) -> None:
        self.evicted, self.expired, self.last_eviction = s


def thaw_key(k):
    """A key read back from msgpack: lists become tuples again."""
    if isinstance(k, list):
        return tuple(thaw_key(x) for x in k)
    return k
