"""Readers, the ingest stage before ``normalize.py``: bytes -> decoded records.

``open_source`` returns a ``Reader`` yielding ``(position, item)``, where
``item`` is a decoded record or a ``Bad`` for the quarantine: nothing a file
contains raises out of the iteration.  ``FORMAT_TABLE`` is the one table of
input formats (JSON lines, JSON, msgpack, Apache/nginx, CSV and the load
balancer, CDN and proxy logs of ``formats/``), with the default lateness of
each; gzip is unwrapped by magic bytes, ``auto`` sniffs the first bytes, a
reader knows the byte offset of every line (resume) and follows a file across
rotation and truncation (``follow.py``).  Measured design choice: lines are
cut from 1 MiB chunks with ``bytes.split`` and handed over as one list per
chunk, so reading JSON lines costs ~0.2 µs/line over the floor of
``for line in file: orjson.loads(line)``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import os
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import attrs
import msgpack
import orjson

from ..quarantine import Bad
from ..schema import ALIAS_OF, CANONICAL
from . import formats as _formats
from .accesslog import escape_bytes, parse_access_line
from .follow import FINGERPRINT_BYTES, Identity, digest, locate
from .normalize import default_id

__all__ = ["DEFAULT_LATENESS", "FORMATS", "FORMAT_ALIASES", "FORMAT_TABLE", "IDLE", "Bad", "InputFormat",
           "Reader", "default_lateness", "open_source", "parse_access_line", "sniff", "sniff_format"]


@attrs.frozen
class InputFormat:
    """One input format: its ``--format`` name, what it is, and its default ``--lateness``.

    ``lateness`` (seconds) is the disorder its writer produces (docs/input.md,
    "Disorder in access logs"): 5 s for event streams written in time order,
    the request timeout for access logs, which are written when a request
    ends but stamped when it began.  ``offsets``: positions are lines of the
    input and each has a byte offset (a resumed run seeks to it); without,
    a resumed run reads the input again and skips what it had read.
    """

    name: str
    title: str
    lateness: float
    decoder: str                                  # the Reader method decoding it
    line_reader: Callable[[], Any] | None = None  # formats/: a LineReader factory
    offsets: bool = True


def _table() -> dict[str, InputFormat]:
    own = [
        InputFormat("jsonl", "JSON lines (one event per line)", 5.0, "_iter_jsonl"),
        InputFormat("json", "one JSON document: an array of events, or one object", 5.0, "_iter_json",
                    offsets=False),
        InputFormat("msgpack", "a stream of msgpack maps", 5.0, "_iter_msgpack", offsets=False),
        InputFormat("apache", "Apache access log (common, combined, %D)", 60.0, "_iter_access"),
        InputFormat("nginx", "nginx access log (combined, main, $request_time)", 60.0, "_iter_access"),
        InputFormat("csv", "CSV or TSV with a header row", 5.0, "_iter_csv"),
    ]
    extra = [InputFormat(spec.name, spec.title, spec.lateness, "_iter_lines", spec.reader)
             for spec in _formats.FORMATS.values()]
    return {f.name: f for f in own + extra}


#: The input formats, by ``--format`` name (docs/input.md describes each).
FORMAT_TABLE: dict[str, InputFormat] = _table()
#: Format names accepted by ``open_source`` and ``sleuth run --format`` (``auto`` sniffs).
FORMATS = ("auto", *FORMAT_TABLE)
#: Formats that are another format under a second name.
FORMAT_ALIASES = {"nginx": "apache"}
#: The lateness of an input whose format is not known yet (JSON lines').
DEFAULT_LATENESS = 5.0

#: What a reader made with ``idle_marker=True`` yields as its item when a followed input has
#: nothing to read right now (with position 0): the caller decides when to look again.
IDLE = type("Idle", (), {"__repr__": lambda self: "IDLE", "__slots__": ()})()
_SWITCH = object()     # from _chunks: the followed file was rotated or truncated, a new file starts

_CHUNK = 1 << 20
_SNIFF = 1 << 16
_EXCERPT = 200
_MAX_DOC = 1 << 28  # the ``json`` format reads one document into memory
_GZIP_MAGIC = b"\x1f\x8b"
_NAMED = tuple(f for f in FORMATS if f != "auto" and f not in FORMAT_ALIASES)  # what sniffing can tell
_BOM = codecs.BOM_UTF8


def default_lateness(fmt: str | None) -> float:
    """The default ``--lateness`` for inputs of format ``fmt`` (5 s when unknown)."""
    spec = FORMAT_TABLE.get(fmt or "")
    return spec.lateness if spec is not None else DEFAULT_LATENESS


def _excerpt(data: bytes | str) -> str:
    if isinstance(data, str):
        return data[:_EXCERPT]
    return data[: _EXCERPT * 4].decode("utf-8", "replace")[:_EXCERPT]


def _with_raw(bad: Bad, line: bytes) -> Bad:
    """The Bad with the whole input line kept for the quarantine record."""
    return attrs.evolve(bad, raw=line) if bad.raw is None or type(bad.raw) is str else bad


class _Stop(Exception):
    """Internal: the reader was closed or told to stop."""


class _Prefixed:
    """A read-only stream that first serves ``prefix``, then ``stream``."""

    def __init__(self, prefix: bytes, stream: Any) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            if n is None or n < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:n], self._prefix[n:]
            return data
        return self._stream.read(n)


class Reader:
    """An iterable of ``(position, item)`` over one input; see ``open_source``.

    ``name`` labels quarantine records and default event ids; ``format`` is
    the resolved format once ``probe()`` or iteration has started, and
    ``sniffed`` says why auto-detection chose it; ``counts`` holds ``lines``
    (physical lines or msgpack objects seen), ``records`` (decoded items
    yielded), ``empty`` and one counter per ``Bad`` reason.  A reader is
    iterated once.  ``close()`` may be called from another thread: a
    following reader then stops within one poll interval.

    For resuming: ``start_offset`` (bytes of the content, after gzip) and
    ``start_line`` (the position of the line there) start the reader
    mid-input, ``context`` gives back what the lines before said (a CSV
    header, W3C ``#Fields``: ``context()``), and ``skip_before`` drops the
    records before that position for formats without offsets.
    ``offset_of(line)`` and ``identity()`` tell where a line is, for a
    state file.  With ``idle_marker``, a followed input with nothing to read
    yields ``(0, IDLE)`` instead of sleeping, so that one loop can poll
    several inputs.
    """

    def __init__(
        self,
        path: Any,
        format: str = "auto",
        *,
        follow: bool = False,
        max_line_bytes: int = 1 << 20,
        name: str | None = None,
        stop: threading.Event | Callable[[], bool] | None = None,
        idle_timeout: float | None = None,
        poll_interval: float = 0.2,
        start_offset: int = 0,
        start_line: int = 1,
        skip_before: int = 0,
        context: Any = None,
        idle_marker: bool = False,
        chunk_size: int = _CHUNK,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r} (expected one of {', '.join(FORMATS)})")
        self._path = path
        self._stream_given = path is not None and path != "-" and hasattr(path, "read")
        if name is None:
            if path is None or path == "-":
                name = "<stdin>"
            elif self._stream_given:
                name = str(getattr(path, "name", "<stream>"))
            else:
                name = os.fspath(path)
                name = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        self.name: str = name
        self.format = format
        self.sniffed: str = "given with --format" if format != "auto" else ""
        self.follow = follow
        self.max_line_bytes = max(1, int(max_line_bytes))
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval
        self.idle_marker = idle_marker
        self.chunk_size = max(1 << 12, int(chunk_size))
        self.counts: dict[str, int] = {"lines": 0, "records": 0, "empty": 0}
        self._closed = threading.Event()
        if stop is None:
            self._stop_cb: Callable[[], bool] = self._closed.is_set
        elif isinstance(stop, threading.Event):
            self._stop_cb = lambda: stop.is_set() or self._closed.is_set()
        else:
            self._stop_cb = lambda: bool(stop()) or self._closed.is_set()
        self._start_offset = max(0, int(start_offset))
        self._line0 = max(1, int(start_line))
        self._skip_before = int(skip_before)
        self._context = context
        self._raw: Any = None
        self._stream: Any = None
        self._raw_off = 0        # bytes read from the raw file (follow: rotation and truncation checks)
        self._content_off = 0    # bytes of content (after gzip) read so far, from offset 0
        self._first = b""        # the first bytes of the content (the file's fingerprint)
        self._discard = 0        # content bytes to skip before the head (resume of a stream or gzip)
        self._head = b""
        self._head_done = False
        self._head_eof = False
        self._seg_off = 0        # content offset of the head's first byte
        self._batch: tuple | None = None   # (first line, its offset, lines, sizes) of the batch read last
        self._next_line = self._line0      # the position after the last item yielded
        self._line_reader: Any = None
        self._last_identity: Identity | None = None
        self._head_error: BaseException | None = None
        self._csv_header: list[str] | None = None
        self._csv_delim = ","
        self._started = False
        #: True when following ended on KeyboardInterrupt (Ctrl-C) rather than a stop.
        self.interrupted = False

    def __repr__(self) -> str:
        return f"Reader({self.name!r}, format={self.format!r})"

    def close(self) -> None:
        """Stop iteration, from any thread: it ends at the next chunk or follow
        poll, and the file the reader opened is closed when it does."""
        self._closed.set()

    # ------------------------------------------------------------ opening

    def _open(self) -> None:
        p = self._path
        if p is None or p == "-":
            self._raw = sys.stdin.buffer
        elif self._stream_given:
            self._raw = p
        else:
            self._raw = open(p, "rb", buffering=0)  # noqa: SIM115 - closed in __iter__'s finally
        self._seekable = False
        if not self._stream_given and self._raw is not sys.stdin.buffer:
            try:
                self._seekable = os.path.isfile(p)
            except (OSError, ValueError):
                self._seekable = False
        if self._seekable:
            fd = self._raw.fileno()
            if os.pread(fd, 2, 0) == _GZIP_MAGIC:
                self._discard = self._start_offset
            else:
                # (An empty file being followed is taken as plain text: logs being written are.)
                self._stream = self._raw
                if self._start_offset:
                    # Resume mid-file: seek, and take the fingerprint bytes from the start.
                    self._raw.seek(self._start_offset)
                    self._raw_off = self._content_off = self._start_offset
                    self._first = os.pread(fd, min(FINGERPRINT_BYTES, self._start_offset), 0)
        else:
            self._discard = self._start_offset

    def _read_raw(self, n: int) -> bytes:
        raw = self._raw
        read = getattr(raw, "read1", None) or raw.read
        data = read(n)
        if data is None:  # a non-blocking raw stream with nothing ready
            return b""
        self._raw_off += len(data)
        return data

    def _read(self) -> bytes:
        s = self._stream
        data = self._read_raw(self.chunk_size) if s is self._raw else s.read1(self.chunk_size)
        if data and self._content_off < FINGERPRINT_BYTES:
            self._first += data[: FINGERPRINT_BYTES - self._content_off]
        self._content_off += len(data)
        return data

    def _wait(self, started: float) -> bool:
        """One follow poll (blocking mode): False when following should end."""
        if not self.follow or self._stop_cb():
            return False
        if self.idle_timeout is not None and time.monotonic() - started >= self.idle_timeout:
            return False
        try:
            time.sleep(self.poll_interval)
        except KeyboardInterrupt:
            # Ctrl-C while tailing ends the input cleanly; the caller can tell.
            self.interrupted = True
            return False
        return not self._stop_cb()

    def _fill_head(self, wait: bool) -> bool:
        """Read the start of the input (gzip unwrapped, resume offset skipped) into ``_head``.

        True once there is enough to decide the format (a whole first line,
        the sniff window, or the end of the input); False when following
        without waiting and that is not there yet.
        """
        if self._head_done:
            return True
        if self._raw is None:
            self._open()
        try:
            return self._fill_head_or_raise(wait)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            # A corrupt or truncated gzip start, or an I/O error: iterating yields it as a Bad.
            self._head_error = e
            self._head, self._head_done = b"", True
            return True

    def _fill_head_or_raise(self, wait: bool) -> bool:
        started = time.monotonic()
        while True:
            if self._stream is None:
                # Two bytes tell gzip: unwrap it before anything else.
                data = self._read_raw(_CHUNK)
                if data:
                    self._head += data
                if len(self._head) >= 2 or (not data and not self.follow):
                    head, self._head = self._head, b""
                    if head[:2] == _GZIP_MAGIC:
                        self.follow = False  # a growing gzip member cannot be tailed
                        self._stream = gzip.GzipFile(fileobj=_Prefixed(head, self._raw), mode="rb")
                    else:
                        self._stream = self._raw
                        if head and self._content_off < FINGERPRINT_BYTES:
                            self._first += head[:FINGERPRINT_BYTES]
                        self._content_off += len(head)
                        self._head = head
                    continue
                if not data:
                    if not wait or not self._wait(started):
                        return False
                continue
            while self._discard and not self._stop_cb():
                # Resuming a gzip file or a stream: the content before the offset was read before.
                if self._head:
                    cut = min(self._discard, len(self._head))
                    self._head, self._discard = self._head[cut:], self._discard - cut
                    continue
                data = self._read()
                if not data:
                    break
                cut = min(self._discard, len(data))
                self._head, self._discard = data[cut:], self._discard - cut
            if self.format != "auto" or b"\n" in self._head or len(self._head) >= _SNIFF:
                break               # a known format needs no bytes to start: the decoder reads on
            data = self._read()
            if data:
                self._head += data
                continue
            if not self.follow:
                self._head_eof = True
                break
            if not wait or not self._wait(started):
                if self._head and not self.follow:
                    break
                return False
        self._seg_off = self._start_offset if not self._discard else self._start_offset - self._discard
        if self._start_offset == 0 and self._head[:3] == _BOM:
            self._head = self._head[3:]
            self._seg_off += 3
        self._head_done = True
        return True

    def probe(self, wait: bool = True) -> str | None:
        """Read the start of the input and decide its format, before iterating.

        Returns the format (``auto`` resolved by sniffing, ``sniffed`` says
        why), or None: the input is empty, not recognised (``unknown`` is
        True), or (``wait=False``, following) nothing is there yet.  Raises
        ``OSError`` when the input cannot be opened.
        """
        if not self._fill_head(wait):
            return None
        if self.format == "auto":
            if not self._head.strip():
                return None
            fmt, why = sniff(self._head)
            if fmt is None:
                return None
            self.format, self.sniffed = fmt, why
        return self.format

    @property
    def head(self) -> bytes:
        """The first bytes ``probe()`` read (gzip unwrapped), before iteration starts."""
        return self._head

    @property
    def head_error(self) -> str | None:
        """After ``probe()``: why the start could not be read (a corrupt or truncated gzip, an I/O error), or None.

        Iterating yields it as one ``bad-gzip`` or ``io-error`` record.
        """
        e = self._head_error
        return None if e is None else f"{type(e).__name__}: {e}"

    @property
    def unknown(self) -> bool:
        """After ``probe()``: the input has bytes but auto-detection cannot tell its format."""
        return self._head_done and self.format == "auto" and bool(self._head.strip())

    # ------------------------------------------------------------ positions

    def offset_of(self, line: int) -> int | None:
        """The content offset (bytes, after gzip) where physical line ``line`` starts.

        Known for the lines of the chunk being read and the line after it
        (a reader iterated up to there); None otherwise, and for formats whose
        positions are not lines (``json``, ``msgpack``).
        """
        b = self._batch
        if b is None:
            if self._head_done and line == self._line0 and self.format in FORMAT_TABLE \
                    and FORMAT_TABLE[self.format].offsets:
                return self._seg_off
            return None
        first, off, lines, sizes = b
        if not first <= line <= first + len(lines):
            return None
        for j in range(line - first):
            size = sizes.get(j) if sizes else None
            off += size if size is not None else len(lines[j]) + 1
        return off

    @property
    def next_line(self) -> int:
        """The position after the last item yielded (where a resumed reader starts)."""
        return self._next_line

    def identity(self) -> Identity | None:
        """The identity of the file being read (device, inode, its first bytes), or None for a stream.

        Still known once the reader has ended (it is taken before the file is closed).
        """
        if self._raw is None or self._stream_given or self._raw is sys.stdin.buffer:
            return None
        try:
            st = os.fstat(self._raw.fileno())
        except (OSError, ValueError):
            return self._last_identity
        return Identity(st.st_dev, st.st_ino, len(self._first), digest(self._first))

    def context(self) -> Any:
        """What the lines read so far tell the next ones (a CSV header, W3C directives), as plain data."""
        if self.format == "csv" and self._csv_header is not None:
            return {"csv_header": list(self._csv_header), "csv_delim": self._csv_delim}
        lr = self._line_reader
        if lr is not None and hasattr(lr, "context"):
            return lr.context()
        return None

    # ----------------------------------------------------------- iterating

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        if self._started:
            raise RuntimeError(f"reader {self.name!r} was already iterated")
        self._started = True
        if self._raw is None:
            self._open()  # OSError here is the caller's: a missing file is not bad input
        try:
            while not self._fill_head(wait=not self.idle_marker):
                if self._stop_cb():
                    return
                yield 0, IDLE
            if self._head_error is not None:
                raise self._head_error
            if self.format == "auto":
                if self.probe() is None:
                    if self.unknown:
                        self._count("unknown-format")
                        yield self._line0, Bad("unknown-format",
                                               "cannot tell the format from the first bytes; "
                                               "use --format " + "|".join(_NAMED), _excerpt(self._head))
                    return
            spec = FORMAT_TABLE[self.format]
            if spec.line_reader is not None:
                self._line_reader = spec.line_reader()
                if self._context is not None and hasattr(self._line_reader, "restore"):
                    self._line_reader.restore(self._context)
            elif self.format == "csv" and isinstance(self._context, dict):
                header = self._context.get("csv_header")
                if isinstance(header, list) and all(type(h) is str for h in header):
                    self._csv_header = header
                    self._csv_delim = "\t" if self._context.get("csv_delim") == "\t" else ","
            head, self._head = self._head, b""
            yield from getattr(self, spec.decoder)(head)
        except _Stop:
            return
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            # A corrupt or truncated gzip stream, or an I/O error mid-file.
            reason = "bad-gzip" if self._stream is not self._raw and self._stream is not None else "io-error"
            self._count(reason)
            yield self._next_line, Bad(reason, f"{type(e).__name__}: {e}", "")
        finally:
            if self._stream is not None and self._stream is not self._raw:
                try:
                    self._stream.close()
                except Exception:  # closing a corrupt gzip may raise again
                    pass
            if self._raw is not None and not self._stream_given and self._raw is not sys.stdin.buffer:
                self._last_identity = self.identity()
                self._raw.close()

    def _count(self, reason: str) -> None:
        c = self.counts
        c[reason] = c.get(reason, 0) + 1

    # ------------------------------------------------------------ following

    def _chunks(self) -> Iterator[Any]:
        """The content, chunk by chunk; following: also ``_SWITCH`` and (with ``idle_marker``) ``IDLE``."""
        started = time.monotonic()
        watch = self.follow and self._stream is self._raw and not self._stream_given \
            and self._path not in (None, "-")
        while True:
            if self._closed.is_set():
                raise _Stop
            first, off = self._first, self._content_off
            data = self._read()
            if data:
                if watch and first and not self._starts_with(first):
                    # Truncated and written again under us (copytruncate): this chunk may be new
                    # content at an old offset. Drop it; the rest of the old file is in the copy.
                    self._first, self._content_off = first, off
                    self._raw_off -= len(data)
                    cur = os.fstat(self._raw.fileno())
                    yield from self._truncated(Identity(cur.st_dev, cur.st_ino, len(first), digest(first)))
                    started = time.monotonic()
                    continue
                started = time.monotonic()
                yield data
                continue
            if not self.follow:
                return
            turn = self._turn()
            if turn is not None:
                yield from turn
                started = time.monotonic()
                continue
            if self.idle_marker:
                if self._stop_cb():
                    return
                yield IDLE
                continue
            if not self._wait(started):
                return

    def _turn(self) -> Iterator[Any] | None:
        """A followed file at its end: was it rotated or truncated? The chunks that finish it, then _SWITCH."""
        if self._stream_given or self._path in (None, "-") or self._stream is not self._raw:
            return None
        try:
            st = os.stat(self._path)
            cur = os.fstat(self._raw.fileno())
        except OSError:
            return None
        if (st.st_ino, st.st_dev) != (cur.st_ino, cur.st_dev):
            return self._rotated()
        if cur.st_size < self._raw_off or not self._starts_as_read():
            return self._truncated(Identity(cur.st_dev, cur.st_ino, len(self._first), digest(self._first)))
        return None

    def _starts_as_read(self) -> bool:
        """Whether the file still starts with the bytes read from it (copytruncate rewrites them)."""
        return self._starts_with(self._first)

    def _starts_with(self, first: bytes) -> bool:
        if not first:
            return True
        try:
            return os.pread(self._raw.fileno(), len(first), 0) == first
        except OSError:
            return True

    def _rotated(self) -> Iterator[Any]:
        # The name now holds another file: what the writer added to the old one comes first.
        while True:
            data = self._read()
            if not data:
                break
            yield data
        try:
            new = open(self._path, "rb", buffering=0)  # noqa: SIM115 - closed in __iter__'s finally
        except OSError:
            return
        old, self._raw = self._raw, new
        self._stream = new
        old.close()
        self._restart()
        yield _SWITCH

    def _truncated(self, ident: Identity) -> Iterator[Any]:
        # copytruncate: what was written after the last read went into the copy, if it is there.
        found, _newer = locate(self._path, ident, self._content_off)
        if found is not None and found != self._path:
            try:
                with _open_at(found, self._content_off) as tail:
                    while True:
                        data = tail.read(self.chunk_size)
                        if not data:
                            break
                        yield data
            except (OSError, EOFError, zlib.error):
                pass
        self._raw.seek(0)
        self._restart()
        yield _SWITCH

    def _restart(self) -> None:
        self._raw_off = self._content_off = 0
        self._first = b""
        self.counts["reopened"] = self.counts.get("reopened", 0) + 1

    # ------------------------------------------------------------ lines

    def _batches(self, head: bytes) -> Iterator[tuple[int, Any]]:
        """(number of the first line, lines) per chunk; an oversized line is None; IDLE passes through.

        Never holds more than ``max_line_bytes`` of one line plus one chunk:
        past the limit, the rest of the line is skipped up to its newline.
        Records each batch's offset for ``offset_of``.
        """
        limit = self.max_line_bytes
        counts = self.counts
        lineno = self._line0 - 1
        off = self._seg_off       # content offset where the next line starts
        pending = b""
        skipping = False
        skipped = 0
        new_file = off == 0 and not head     # a byte-order mark may start the first chunk read
        skip = self._skip_before
        chunks = self._chunks()
        chunk = head
        while True:
            if not chunk:
                chunk = next(chunks, None)
                if chunk is None:
                    break
                if chunk is IDLE:
                    chunk = b""
                    yield lineno + 1, IDLE
                    continue
                if chunk is _SWITCH:
                    chunk = b""
                    if skipping or pending:   # the old file's last line, without a newline
                        size = skipped if skipping else len(pending)
                        line = None if skipping else pending
                        pending, skipping, skipped = b"", False, 0
                        counts["lines"] += 1
                        self._batch = (lineno + 1, off, [line], {0: size})
                        yield lineno + 1, [line]
                        lineno += 1
                    off = 0
                    new_file = True
                    # The next line is the new file's first: at its offset 0 (for a checkpoint now).
                    self._batch = (lineno + 1, 0, [], None)
                    continue
                if new_file:
                    new_file = False
                    if chunk[:3] == _BOM:
                        chunk = chunk[3:]
                        off += 3
                    if not chunk:
                        continue
            lines: list = []
            sizes: dict[int, int] | None = None
            nbytes = 0
            if skipping:
                i = chunk.find(b"\n")
                if i < 0:
                    skipped += len(chunk)
                    chunk = b""
                    continue
                lines.append(None)
                sizes = {0: skipped + i + 1}
                nbytes = skipped + i + 1
                skipping = False
                skipped = 0
                chunk = chunk[i + 1:]
            data = pending + chunk if pending else chunk
            chunk = b""
            parts = data.split(b"\n")
            pending = parts.pop()
            nbytes += len(data) - len(pending)
            if len(pending) > limit:
                skipped = len(pending)
                pending = b""
                skipping = True
            # Only a chunk longer than the limit can hold an oversized line.
            if len(data) > limit and parts and max(map(len, parts)) > limit:
                base = len(lines)
                for i, line in enumerate(parts):
                    if len(line) > limit:
                        if sizes is None:
                            sizes = {}
                        sizes[base + i] = len(line) + 1
                        parts[i] = None
            if lines:
                lines.extend(parts)
            else:
                lines = parts
            if lines:
                counts["lines"] += len(lines)
                self._batch = (lineno + 1, off, lines, sizes)
                first = lineno + 1
                lineno += len(lines)
                if first < skip:
                    # Resuming a stream: these lines were read by an earlier run.
                    cut = min(len(lines), skip - first)
                    lines, first = lines[cut:], first + cut
                if lines:
                    yield first, lines
            off += nbytes
        if (skipping or pending) and not self.follow and lineno + 1 >= skip:  # a last line without a newline
            size = skipped if skipping else len(pending)
            counts["lines"] += 1
            self._batch = (lineno + 1, off, [None if skipping else pending], {0: size})
            yield lineno + 1, [None if skipping else pending]
        # Following, an unfinished last line stays unread: a resumed run reads it whole.

    def _oversized(self, pos: int) -> tuple[int, Bad]:
        self._count("oversized")
        return pos, Bad("oversized", f"line longer than {self.max_line_bytes} bytes", "")

    # jsonl is the hot path: everything is hoisted into locals.
    def _iter_jsonl(self, head: bytes) -> Iterator[tuple[int, Any]]:
        loads = orjson.loads
        JSONDecodeError = orjson.JSONDecodeError
        counts = self.counts
        for pos, lines in self._batches(head):
            if lines is IDLE:
                yield 0, IDLE
                continue
            good = 0
            for line in lines:
                if line:
                    try:
                        item = loads(line)
                    except JSONDecodeError as e:
                        bad = self._bad_json(line, e)
                        if bad is not None:
                            self._next_line = pos + 1
                            yield pos, bad
                        else:
                            counts["empty"] += 1
                    else:
                        good += 1
                        self._next_line = pos + 1
                        yield pos, item
                elif line is None:
                    self._next_line = pos + 1
                    yield self._oversized(pos)
                else:
                    counts["empty"] += 1
                pos += 1
            self._next_line = pos
            counts["records"] += good

    def _bad_json(self, line: bytes, e: Exception) -> Bad | None:
        if not line.strip():  # "\r" or blanks only
            return None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as u:
            self._count("bad-encoding")
            return Bad("bad-encoding", f"invalid UTF-8 at byte {u.start}", _excerpt(line), raw=line)
        self._count("not-json")
        return Bad("not-json", str(e), text[:_EXCERPT], raw=line)

    def _iter_json(self, head: bytes) -> Iterator[tuple[int, Any]]:
        parts = [head]
        size = len(head)
        while True:
            data = self._read()
            if not data:
                break
            size += len(data)
            if size > _MAX_DOC:
                self._count("oversized")
                yield 1, Bad("oversized", f"JSON document larger than {_MAX_DOC} bytes", _excerpt(head))
                return
            parts.append(data)
        doc = b"".join(parts)
        self.counts["lines"] += 1
        try:
            value = orjson.loads(doc)
        except orjson.JSONDecodeError as e:
            bad = self._bad_json(doc, e)
            if bad is not None:
                yield 1, bad
            return
        items = value if isinstance(value, list) else [value]
        self.counts["records"] += len(items)
        skip = self._skip_before
        for pos, item in enumerate(items, 1):
            if pos < skip:
                continue
            self._next_line = pos + 1
            yield pos, item

    def _iter_msgpack(self, head: bytes) -> Iterator[tuple[int, Any]]:
        def unpacker() -> msgpack.Unpacker:
            return msgpack.Unpacker(
                raw=False, strict_map_key=False, unicode_errors="backslashreplace",
                max_buffer_size=max(self.max_line_bytes, _CHUNK) * 2)

        up = unpacker()
        counts = self.counts
        skip = self._skip_before
        pos = fed = 0
        chunks = self._chunks()
        chunk = head
        while True:
            if not chunk:
                chunk = next(chunks, None)
                if chunk is None:
                    break
                if chunk is IDLE:
                    chunk = b""
                    yield 0, IDLE
                    continue
                if chunk is _SWITCH:
                    chunk = b""
                    if up.tell() < fed:
                        self._count("bad-msgpack")
                        yield pos + 1, Bad("bad-msgpack", f"truncated msgpack object at the end of a rotated "
                                                          f"file ({fed - up.tell()} bytes)", "")
                    up, fed = unpacker(), 0
                    continue
            try:
                up.feed(chunk)
                fed += len(chunk)
            except msgpack.BufferFull:
                self._count("oversized")
                yield pos + 1, Bad("oversized", f"msgpack object larger than {self.max_line_bytes} bytes",
                                   _excerpt(chunk))
                return
            chunk = b""
            while True:
                try:
                    item = next(up)
                except StopIteration:
                    break
                except msgpack.BufferFull:
                    self._count("oversized")
                    yield pos + 1, Bad("oversized", "msgpack object too large", "")
                    return
                except Exception as e:  # FormatError, StackError, ExtraData, ValueError, ...
                    self._count("bad-msgpack")
                    yield pos + 1, Bad("bad-msgpack", f"corrupt msgpack stream: {type(e).__name__}: {e}", "")
                    return
                pos += 1
                counts["lines"] += 1
                counts["records"] += 1
                if pos < skip:
                    continue
                self._next_line = pos + 1
                yield pos, item
        if up.tell() < fed:  # bytes left over: the last object is incomplete
            self._count("bad-msgpack")
            yield pos + 1, Bad("bad-msgpack", f"truncated msgpack object at end of input "
                                              f"({fed - up.tell()} bytes)", "")

    def _iter_access(self, head: bytes) -> Iterator[tuple[int, Any]]:
        name = self.name
        counts = self.counts
        parse = parse_access_line
        for pos, lines in self._batches(head):
            if lines is IDLE:
                yield 0, IDLE
                continue
            for line in lines:
                if line is None:
                    self._next_line = pos + 1
                    yield self._oversized(pos)
                    pos += 1
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    text = escape_bytes(line)
                text = text.rstrip("\r\n")
                if not text.strip():
                    counts["empty"] += 1
                    pos += 1
                    continue
                ev = parse(text)
                self._next_line = pos + 1
                if type(ev) is dict:
                    ev["id"] = default_id(name, pos)
                    counts["records"] += 1
                    if "request" in ev:
                        counts["unparsed-request"] = counts.get("unparsed-request", 0) + 1
                    yield pos, ev
                else:
                    self._count(ev.reason)
                    yield pos, _with_raw(ev, line)
                pos += 1
            self._next_line = pos

    def _iter_lines(self, head: bytes) -> Iterator[tuple[int, Any]]:
        """The formats of ``formats/``: one physical line at a time through the format's reader."""
        name = self.name
        counts = self.counts
        feed = self._line_reader.feed_line
        for pos, lines in self._batches(head):
            if lines is IDLE:
                yield 0, IDLE
                continue
            for line in lines:
                if line is None:
                    self._next_line = pos + 1
                    yield self._oversized(pos)
                    pos += 1
                    continue
                item = feed(line)
                if item is None:          # a blank line, a directive or a comment
                    counts["empty"] += 1
                    pos += 1
                    continue
                self._next_line = pos + 1
                if type(item) is dict:
                    item["id"] = default_id(name, pos)
                    counts["records"] += 1
                    yield pos, item
                else:
                    self._count(item.reason)
                    yield pos, _with_raw(item, line)
                pos += 1
            self._next_line = pos

    def _iter_csv(self, head: bytes) -> Iterator[tuple[int, Any]]:
        counts = self.counts
        buf: list[str] = []

        def feed() -> Iterator[str]:
            while buf:
                yield buf.pop()
            # an unclosed quote asks for another line: make it an error
            raise csv.Error("unclosed quote (a record must fit on one line)")

        reader = None
        for pos, lines in self._batches(head):
            if lines is IDLE:
                yield 0, IDLE
                continue
            for line in lines:
                header = self._csv_header
                if line is None:
                    self._next_line = pos + 1
                    yield self._oversized(pos)
                    pos += 1
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as u:
                    self._count("bad-encoding")
                    self._next_line = pos + 1
                    yield pos, Bad("bad-encoding", f"invalid UTF-8 at byte {u.start}", _excerpt(line), raw=line)
                    pos += 1
                    continue
                text = text.rstrip("\r")
                if not text.strip():
                    counts["empty"] += 1
                    pos += 1
                    continue
                if header is None:
                    text = text.lstrip("\ufeff")
                    self._csv_delim = "\t" if "\t" in text and "," not in text else ","
                buf.append(text)
                try:
                    if reader is None:
                        reader = csv.reader(feed(), delimiter=self._csv_delim)
                    row = next(reader)
                except (csv.Error, StopIteration, RuntimeError) as e:
                    reader = None
                    buf.clear()
                    self._count("bad-csv-row")
                    self._next_line = pos + 1
                    yield pos, Bad("bad-csv-row", str(e) or type(e).__name__, text[:_EXCERPT], raw=line)
                    pos += 1
                    continue
                if header is None:
                    self._csv_header = [h.strip() for h in row]
                    counts["header"] = 1
                    pos += 1
                    continue
                self._next_line = pos + 1
                if len(row) > len(header):
                    self._count("bad-csv-row")
                    yield pos, Bad("bad-csv-row",
                                   f"{len(row)} cells but the header has {len(header)}", text[:_EXCERPT], raw=line)
                    pos += 1
                    continue
                # Empty cells are missing fields; values stay text (the
                # Normalizer coerces them).
                rec = {h: v for h, v in zip(header, row) if v != "" and h}
                counts["records"] += 1
                yield pos, rec
                pos += 1
            self._next_line = pos


class _open_at:
    """A file's content from ``offset`` (gzip unwrapped), as a context manager with ``read(n)``."""

    def __init__(self, path: str, offset: int) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by __exit__
        try:
            if self._fh.read(2) == _GZIP_MAGIC:
                self._fh.seek(0)
                self._stream: Any = gzip.GzipFile(fileobj=self._fh, mode="rb")
                left = offset
                while left:
                    got = self._stream.read(min(left, _CHUNK))
                    if not got:
                        break
                    left -= len(got)
            else:
                self._fh.seek(offset)
                self._stream = self._fh
        except BaseException:
            self._fh.close()
            raise

    def read(self, n: int) -> bytes:
        return self._stream.read(n)

    def __enter__(self) -> _open_at:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._stream is not self._fh:
            self._stream.close()
        self._fh.close()


def open_at(path: str, offset: int) -> _open_at:
    """Open ``path`` positioned at content offset ``offset`` (gzip unwrapped); a context manager."""
    return _open_at(path, offset)


# ------------------------------------------------------------- sniffing

# Header cells that make a comma/tab-separated first line a CSV header.
_FIELD_NAMES = frozenset(CANONICAL) | frozenset(ALIAS_OF)


def sniff_format(head: bytes) -> str | None:
    """The format of an input from its first bytes (gzip already unwrapped), or None.

    The rules of ``sniff``, which also says why.
    """
    return sniff(head)[0]


def sniff(head: bytes) -> tuple[str | None, str]:
    """``(format or None, why)`` from the first bytes of an input (gzip already unwrapped).

    Rules, in order: a msgpack map marker (0x80-0x8f, 0xde, 0xdf) -> msgpack;
    the load balancer, CDN and proxy formats (``formats.sniff_extra``: W3C
    directives, Caddy or Traefik JSON records, Envoy's default line, an ALB
    line); ``{`` -> jsonl when the first line is a whole JSON value, is
    longer than the sniffed head, or when one of the next lines is a whole
    object; else json (one pretty-printed document); ``[`` -> json unless the
    first line is a whole value followed by more lines (then jsonl); a first
    line that parses as an access-log line -> apache; a comma- or
    tab-separated first line naming a canonical field or alias -> csv.
    """
    if head[:3] == _BOM:
        head = head[3:]
    if not head:
        return None, "the input is empty"
    b0 = head[0]
    if 0x80 <= b0 <= 0x8F or b0 in (0xDE, 0xDF):
        return "msgpack", f"the first byte 0x{b0:02x} is a msgpack map"
    extra = _formats.sniff_extra(head)
    if extra is not None:
        return extra, _EXTRA_WHY[extra]
    text = head.lstrip()
    if not text:
        return None, "the input holds only blank lines"
    first, _, rest = text.partition(b"\n")
    c = text[:1]
    if c in (b"{", b"["):
        try:
            orjson.loads(first)
            whole = True
        except orjson.JSONDecodeError:
            whole = False
        if c == b"{":
            if whole:
                return "jsonl", "the first line is a whole JSON object"
            if b"\n" not in text:
                return "jsonl", "a JSON object longer than the sniffed 64 KiB"
            # A broken first line must not turn a JSON lines file into one bad document:
            # any of the next lines being a whole object means JSON lines.
            for line2 in rest.split(b"\n")[:8]:
                line2 = line2.strip()
                if line2[:1] == b"{":
                    try:
                        orjson.loads(line2)
                        return "jsonl", "a line after the first is a whole JSON object"
                    except orjson.JSONDecodeError:
                        continue
            return "json", "a JSON document that spans lines"
        if whole:
            if rest.strip():
                return "jsonl", "the first line is a whole JSON value and more lines follow"
            return "json", "one JSON array"
        # A broken first line starting with '[': JSON lines if a next line is a whole value.
        for line2 in rest.split(b"\n")[:8]:
            line2 = line2.strip()
            if line2[:1] in (b"{", b"["):
                try:
                    orjson.loads(line2)
                    return "jsonl", "a line after the first is a whole JSON value"
                except orjson.JSONDecodeError:
                    continue
        return "json", "a JSON array that spans lines"
    line = first.decode("utf-8", "backslashreplace").rstrip("\r")
    if isinstance(parse_access_line(line), dict):
        return "apache", 'the first line reads as an access-log line (host ident user [time] "request" status size)'
    delim = "\t" if "\t" in line and "," not in line else ","
    if delim in line:
        try:
            cells = next(csv.reader([line], delimiter=delim))
        except csv.Error:
            return None, "a line with an unclosed quote"
        named = [cell.strip() for cell in cells if cell.strip() in _FIELD_NAMES]
        if named:
            kind = "tab" if delim == "\t" else "comma"
            return "csv", f"a {kind}-separated header naming {', '.join(named[:4])}"
        return None, ("a comma- or tab-separated first line, but none of its cells is a field name sleuth "
                      "knows (pass --format csv and --map)")
    return None, "the first line is none of the known formats"


_EXTRA_WHY = {
    "cloudfront": "W3C directives (#Version, #Fields) with CloudFront's x-edge-* fields",
    "iis": "W3C directives (#Software: Microsoft Internet Information Services, or IIS-only fields)",
    "w3c": "W3C extended log directives (#Version or #Software, and #Fields)",
    "caddy": "JSON records of Caddy's http.log.access logger",
    "traefik": "JSON records of Traefik's access log (RequestMethod, StartUTC)",
    "envoy": "the first line reads as Envoy's default access-log format",
    "alb": "the first line reads as an AWS ALB access-log line",
}


def open_source(
    path: str | os.PathLike | BinaryIO | None,
    format: str = "auto",
    *,
    follow: bool = False,
    max_line_bytes: int = 1 << 20,
    name: str | None = None,
    stop: threading.Event | Callable[[], bool] | None = None,
    idle_timeout: float | None = None,
    poll_interval: float = 0.2,
    **resume: Any,
) -> Reader:
    """Open an input for reading: a path, ``None``/``"-"`` for stdin, or a binary stream.

    ``format`` is one of ``FORMATS``; gzip is detected by its magic bytes
    whatever the format.  ``follow`` tails a growing file (poll every
    ``poll_interval`` s; a rotated file is read to its end before the new
    one, a truncated one from its start again) until ``close()``, ``stop``
    (an Event or a callable returning True), or ``idle_timeout`` seconds
    without new data.  Lines longer than ``max_line_bytes`` become
    ``Bad("oversized")``.  ``resume`` takes the other options of ``Reader``
    (``start_offset``, ``start_line``, ``skip_before``, ``context``,
    ``idle_marker``, ``chunk_size``).  Nothing is read before ``probe()`` or
    iteration; raises ``ValueError`` for an unknown format and ``OSError``
    (then) when the file cannot be opened.
    """
    return Reader(path, format, follow=follow, max_line_bytes=max_line_bytes, name=name,
                  stop=stop, idle_timeout=idle_timeout, poll_interval=poll_interval, **resume)
