"""A thread-safe front for one engine: callers from many threads, one at a time inside.

Runtime stage, for embedders such as web servers whose handlers run on a thread
pool. `Engine` itself serves one thread at a time and raises `EngineError` when a
second call enters (engine.py's guard); `SharedEngine` puts a lock in front of it,
so each call runs whole and the state stays consistent. The order in which
threads get the lock is the arrival order the engine sees, so matches equal a
sequential run over that order. Past one core, run one engine per partition
(`pack.partition_plan()`, docs/embedding.md) instead of sharing one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from .engine import Engine
from .match import Match
from .spec import PackSpec


class SharedEngine:
    """`Engine` behind a lock: `feed`, `feed_many`, `advance`, `close`, `snapshot`, `stats`, `partials`.

    `SharedEngine(pack, **options)` builds the engine (same options as
    `Engine`); `SharedEngine.wrap(engine)` shares an existing one. Every call
    holds the lock for its whole duration (a `feed_many` batch included), so a
    caller waits at most one other call. `engine` is the engine itself: use it
    only while holding `lock` (`with shared.lock: ...`).
    """

    def __init__(self, pack: PackSpec | None = None, *, engine: Engine | None = None, **options: Any) -> None:
        if (pack is None) == (engine is None):
            raise TypeError("SharedEngine needs a pack (and Engine options) or engine=")
        self.engine = engine if engine is not None else Engine(pack, **options)  # type: ignore[arg-type]
        self.lock = threading.Lock()

    @classmethod
    def wrap(cls, engine: Engine) -> SharedEngine:
        """Share an engine that already exists (restored from a snapshot, say)."""
        return cls(engine=engine)

    def feed(self, event: Any, source: str | None = None, position: int | None = None) -> list[Match]:
        """`Engine.feed` under the lock."""
        with self.lock:
            return self.engine.feed(event, source, position)

    def feed_many(self, events: Iterable, source: str | None = None,
                  positions: list[int] | None = None) -> list[Match]:
        """`Engine.feed_many` under the lock (the batch runs whole)."""
        with self.lock:
            return self.engine.feed_many(events, source, positions)

    def advance(self, to: float) -> list[Match]:
        """`Engine.advance` under the lock."""
        with self.lock:
            return self.engine.advance(to)

    def close(self) -> list[Match]:
        """`Engine.close` under the lock."""
        with self.lock:
            return self.engine.close()

    def snapshot(self) -> bytes:
        """`Engine.snapshot` under the lock: a consistent cut between two calls."""
        with self.lock:
            return self.engine.snapshot()

    def stats(self) -> dict:
        """`Engine.stats` under the lock."""
        with self.lock:
            return self.engine.stats()

    def partials(self, rule: str | None = None, key: Any = None) -> list[dict]:
        """`Engine.partials` under the lock."""
        with self.lock:
            return self.engine.partials(rule, key)


__all__ = ["SharedEngine"]
