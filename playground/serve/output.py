"""Writing matches, decisions and quarantine records without making a request wait on disk.

Stage: after the engine and the policy, in `sleuth serve` and the ASGI
middleware. `Writer` is one background thread draining a bounded queue of
JSON lines into their files (flushed at least every 0.2 s); the owner of the
engine only appends to the queue. When the queue is full a line is dropped
and counted per stream (`dropped`), never blocked on and never lost silently.
State files are written atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from typing import BinaryIO

FLUSH_EVERY = 0.2


class Writer:
    """A background JSON lines writer: `write(stream, line)` never blocks on disk.

    `streams` maps a stream name (`matches`, `decisions`, `quarantine`) to a
    path, `-` for standard output, or None (discarded but counted).
    """

    def __init__(self, streams: dict[str, str | None], *, max_queue: int = 100_000):
        self.max_queue = max_queue
        self._q: deque = deque()
        self._cv = threading.Condition()
        self._files: dict[str, BinaryIO | None] = {}
        self._owned: list[BinaryIO] = []
        by_path: dict[str, BinaryIO] = {}
        for name, path in streams.items():
            if path is None:
                self._files[name] = None
            elif path == "-":
                self._files[name] = sys.stdout.buffer
            else:
                fh = by_path.get(path)
                if fh is None:
                    fh = by_path[path] = open(path, "ab")
                    self._owned.append(fh)
                self._files[name] = fh
        self.written: dict[str, int] = {name: 0 for name in streams}
        self.dropped: dict[str, int] = {name: 0 for name in streams}
        self.discarded: dict[str, int] = {}
        self.errors = 0
        self.files_written = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="sleuth-writer", daemon=True)
        self._thread.start()

    def write(self, stream: str, line: bytes) -> None:
        """Queue one line (with its newline) for `stream`; drop and count it when the queue is full."""
        if self._files.get(stream) is None:      # no output configured for this stream
            self.discarded[stream] = self.discarded.get(stream, 0) + 1
            return
        if len(self._q) >= self.max_queue:
            self.dropped[stream] += 1
            return
        self._q.append((stream, line))
        if len(self._q) == 1:
            with self._cv:
                self._cv.notify()

    def write_file(self, path: str, data: bytes) -> None:
        """Queue an atomic write of a whole file (a state snapshot); never dropped."""
        self._q.append((None, (path, data)))
        with self._cv:
            self._cv.notify()

    def sink(self, stream: str) -> _StreamSink:
        """A binary stream object whose `write` queues lines of `stream` (for `Quarantine`)."""
        return _StreamSink(self, stream)

    def _run(self) -> None:
        q = self._q
        while True:
            with self._cv:
                if not q and not self._stop:
                    self._cv.wait(FLUSH_EVERY)
            dirty = set()
            while q:
                stream, line = q.popleft()
                if stream is None:
                    try:
                        atomic_write(*line)
                        self.files_written += 1
                    except OSError:
                        self.errors += 1
                    continue
                fh = self._files[stream]
                try:
                    fh.write(line)
                    self.written[stream] += 1
                    dirty.add(fh)
                except (OSError, ValueError):
                    self.errors += 1
            for fh in dirty:
                try:
                    fh.flush()
                except (OSError, ValueError):
                    self.errors += 1
            if self._stop and not q:
                return

    def close(self) -> None:
        """Write everything queued, flush and close the files this writer opened."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join()
        for fh in self._owned:
            try:
                fh.close()
            except OSError:
                self.errors += 1

    def stats(self) -> dict:
        return {"queued": len(self._q), "written": dict(self.written), "dropped": dict(self.dropped),
                "errors": self.errors}


class _StreamSink:
    def __init__(self, writer: Writer, stream: str):
        self.writer = writer
        self.stream = stream

    def write(self, data: bytes) -> int:
        self.writer.write(self.stream, data)
        return len(data)


def atomic_write(path: str, data: bytes) -> None:
    """Write a file so that a crash leaves the old or the new content, never a mix."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
