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

import sys
from collections import OrderedDict, deque
from itertools import islice

NEG_INF = float("-inf")
#: Bytes a key costs before any of the rule's keys was measured (docs/performance.md: 0.6-0.9 KB measured).
DEFAULT_KEY_BYTES = 1024
#: Per-key bookkeeping outside the state object: the ordered dictionary's entry and the key itself.
KEY_OVERHEAD = 120

#: Every cap of the engine and what says so when it shapes a match: the flag it sets (and counts
#: in `Engine.stats()["capped"]`), or why no value changes. tests/engine/test_caps.py reads the
#: engine's source for caps and checks each is here and, when it has a flag, that the flag is set.
CAP_FLAGS: dict[str, str | tuple[None, str]] = {
    "keys": "evicted",                       # per-rule key cap: least recently active key evicted
    "max_keys": "evicted",                   # engine-wide key cap: the rule holding most keys gives one up
    "memory": "evicted",                     # byte budget: rules above the fair level give keys up
    "window": "window-folded",               # held events per sliding key: older ones folded into slices
    "distinct": "distinct-capped",           # value table of distinct/entropy/sample
    "values": "first-seen-capped",           # first_seen() memory
    "suppress": "suppression-capped",        # suppression table, bounded like the rule's keys
    "unique": "unique-evicted",              # values a `| unique` pipe remembers
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
        # Events that met the rule's condition but lacked a key field: they take no part.
        self.missing_key = 0
        self.key_bytes = DEFAULT_KEY_BYTES   # estimated bytes per key (measured: `measure_key_bytes`)

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

    def measure_key_bytes(self, sample: int = 8) -> int:
        """Re-estimate bytes per key from a sample of keys (the oldest and the newest); returns it.

        Deep sizes (`deep_size`) of the sampled states plus `KEY_OVERHEAD`,
        folded into the running estimate (half old, half new), so the
        engine's byte budget follows what the rule's keys really hold.
        """
        states = self.states
        if not states:
            return self.key_bytes
        half = max(1, sample // 2)
        picks = list(islice(states.items(), half))
        if len(states) > half:
            picks += list(islice(reversed(states.items()), half))
        sizes = [deep_size(st) + deep_size(k) + KEY_OVERHEAD for k, st in picks]
        measured = sum(sizes) // len(sizes)
        self.key_bytes = max(64, (self.key_bytes + measured) // 2)
        return self.key_bytes

    def estimated_bytes(self) -> int:
        return len(self.states) * self.key_bytes

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
        return [self.evicted, self.expired, self.last_eviction, self.missing_key]

    def load_base(self, s) -> None:
        self.evicted, self.expired, self.last_eviction = s[:3]
        self.missing_key = s[3] if len(s) > 3 else 0


_ATOMS = (str, int, float, bool, bytes, type(None))


def deep_size(obj, _seen: set | None = None, _depth: int = 0) -> int:
    """Approximate bytes held by a state object: `sys.getsizeof` over what it references.

    Follows lists, tuples, dicts, deques and `__slots__`; shared code
    (functions, classes) is not counted. Long containers are measured on
    their first 32 items and extrapolated, so a 10,000-event window is
    estimated without walking it.
    """
    seen = _seen if _seen is not None else set()
    i = id(obj)
    if i in seen or _depth > 12:
        return 0
    seen.add(i)
    t = type(obj)
    size = sys.getsizeof(obj)
    if t in _ATOMS:
        return size
    if t is list or t is tuple or t is deque or t is set or t is frozenset:
        n = len(obj)
        part = sum(deep_size(x, seen, _depth + 1) for x in islice(obj, 32))
        return size + (part * n // 32 if n > 32 else part)
    if t is dict or t is OrderedDict:
        n = len(obj)
        part = sum(deep_size(k, seen, _depth + 1) + deep_size(v, seen, _depth + 1) for k, v in islice(obj.items(), 32))
        return size + (part * n // 32 if n > 32 else part)
    if callable(obj) or isinstance(obj, type):
        return 0
    for cls in t.__mro__:
        for name in getattr(cls, "__slots__", ()):
            v = getattr(obj, name, None)
            if v is not None and not callable(v):
                size += deep_size(v, seen, _depth + 1)
    d = getattr(obj, "__dict__", None)
    if d:
        size += deep_size(d, seen, _depth + 1)
    return size


def parse_bytes(value) -> int | None:
    """`512MB`, `1.5GiB`, `800k`, `1000000` (bytes) -> bytes; None stays None. Raises `ValueError`."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a memory size is a number of bytes or a text like 512MB")
    if isinstance(value, (int, float)):
        n = int(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        units = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10 ** 6, "mb": 10 ** 6, "mib": 2 ** 20,
                 "g": 10 ** 9, "gb": 10 ** 9, "gib": 2 ** 30}
        num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(num):]
        if unit not in units or not num:
            raise ValueError(f"not a memory size: {value!r} (e.g. 512MB, 2GiB)")
        n = int(float(num) * units[unit])
    if n < 1 << 20:
        raise ValueError(f"a memory budget must be at least 1 MiB, got {n} bytes")
    return n


def thaw_key(k):
    """A key read back from msgpack: lists become tuples again."""
    if isinstance(k, list):
        return tuple(thaw_key(x) for x in k)
    return k
