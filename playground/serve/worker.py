"""Who runs the engines in `sleuth serve`: the request handler itself, or one worker thread, under a lock.

An engine is not thread-safe, so every use of the Guard holds `Worker.lock`.
A decision request takes it without waiting when it is free and runs the
engine on the event loop (measured: handing each request to a thread cost
~100 µs of CPU and as much latency, more than the engine's ~40 µs). Long jobs
(log batches 256 events at a time, snapshots, the log clock) run in the
worker thread. A request that finds the lock taken is queued (bounded) and
waits at most the budget, then gets the fail mode; queued requests go first.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

TICK_EVERY = 1.0      # seconds between moves of the log engine's watermark with the clock


def _send(loop, fut, ok: bool, value) -> None:
    try:
        loop.call_soon_threadsafe(_deliver, fut, ok, value)
    except RuntimeError:     # the loop has closed: nobody waits for this answer any more
        pass


def _deliver(fut, ok: bool, value) -> None:
    if fut.done():          # the handler timed out and answered already
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class Worker:
    """Owns a Guard; `submit` runs a function on it in this thread and resolves an asyncio future.

    `max_pending` bounds queued requests (past it `submit` refuses and the
    caller answers without the engine: overload); `max_batches` bounds queued
    log batches. `snapshot_every` (seconds) calls `on_snapshot(guard.snapshot())`
    periodically from this thread.
    """

    def __init__(self, guard, *, max_pending: int = 4096, max_batches: int = 64,
                 snapshot_every: float | None = None, on_snapshot: Callable[[bytes], None] | None = None,
                 observe: Callable[[float], None] | None = None):
        self.guard = guard
        self.max_pending = max_pending
        self.max_batches = max_batches
        self.snapshot_every = snapshot_every
        self.on_snapshot = on_snapshot
        self.lock = threading.Lock()      # held by whoever runs the Guard
        self._requests: deque = deque()
        self._batches: deque = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sleuth-engine", daemon=True)
        self.errors = 0
        self.observe = observe          # the engine time of each request (a histogram's observe)
        self._last_snapshot = time.monotonic()
        self._last_tick = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    @property
    def pending(self) -> int:
        return len(self._requests)

    def submit(self, fn: Callable, arg, loop, fut, timed: bool = False) -> bool:
        """Queue `fn(guard, arg)`; its result (or exception) resolves `fut` on `loop`. False when full.

        `timed`: report the time `fn` took to `observe` (decision requests).
        """
        if len(self._requests) >= self.max_pending or self._stopping:
            return False
        with self._cv:
            self._requests.append((fn, arg, loop, fut, timed))
            self._cv.notify()
        return True

    def submit_batch(self, body: bytes, fmt: str, loop, fut) -> bool:
        """Queue a log batch for `Guard.ingest`; False when the batch queue is full."""
        if len(self._batches) >= self.max_batches or self._stopping:
            return False
        with self._cv:
            self._batches.append((body, fmt, loop, fut))
            self._cv.notify()
        return True

    def _serve_requests(self) -> None:
        q = self._requests
        guard = self.guard
        observe = self.observe
        clock = time.perf_counter
        while q:
            fn, arg, loop, fut, timed = q.popleft()
            t0 = clock()
            try:
                with self.lock:
                    value = fn(guard, arg)
                ok = True
            except Exception as exc:     # reported to the handler, which answers fail-open or closed
                self.errors += 1
                value, ok = exc, False
            if timed and observe is not None:
                observe(clock() - t0)
            _send(loop, fut, ok, value)

    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._requests and not self._batches and not self._stopping:
                    self._cv.wait(self._wait_time())
                if self._stopping and not self._requests and not self._batches:
                    return
            self._serve_requests()
            if self._batches:
                body, fmt, loop, fut = self._batches.popleft()
                try:
                    counts = None
                    steps = self.guard.ingest(body, fmt)
                    while True:
                        with self.lock:         # one chunk of 256 events at a time
                            counts = next(steps, None) or counts
                            done = steps.gi_frame is None
                        if done:
                            break
                        self._serve_requests()
                    _send(loop, fut, True, counts)
                except Exception as exc:
                    self.errors += 1
                    _send(loop, fut, False, exc)
            self._maybe_tick()
            self._maybe_snapshot()

    def _wait_time(self) -> float:
        wait = TICK_EVERY
        if self.snapshot_every:
            wait = min(wait, self.snapshot_every - (time.monotonic() - self._last_snapshot))
        return max(0.05, wait)

    def _maybe_tick(self) -> None:
        now = time.monotonic()
        if now - self._last_tick >= TICK_EVERY:
            self._last_tick = now
            try:
                with self.lock:
                    self.guard.tick()
            except Exception:
                self.errors += 1

    def _maybe_snapshot(self) -> None:
        if self.snapshot_every and self.on_snapshot is not None and \
                time.monotonic() - self._last_snapshot >= self.snapshot_every:
            self._last_snapshot = time.monotonic()
            try:
                with self.lock:
                    blob = self.guard.snapshot()
                self.on_snapshot(blob)
            except Exception:
                self.errors += 1

    def stop(self, timeout: float = 30.0) -> bool:
        """Finish the queued jobs, then end the thread; True when it ended within `timeout`."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
