"""Readers, the ingest stage before ``normalize.py``: bytes -> decoded records.

``open_source`` returns a ``Reader`` yielding ``(position, item)``, where
``item`` is a decoded record or a ``Bad`` for the quarantine: nothing a file
contains raises out of the iteration.  Formats: JSON lines, one JSON document,
msgpack, Apache/nginx access logs, CSV; gzip is unwrapped by magic bytes and
``auto`` sniffs the first bytes (rules in ``docs/input.md``).  Measured design
choice: lines are cut from 1 MiB chunks with ``bytes.split`` and handed over as
one list per chunk, so reading JSON lines costs ~0.2 µs/line over the floor of
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

import msgpack
import orjson

from ..quarantine import Bad
from ..schema import ALIAS_OF, CANONICAL
from .accesslog import escape_bytes, parse_access_line
from .normalize import default_id

__all__ = ["FORMATS", "FORMAT_ALIASES", "Bad", "Reader", "open_source", "parse_access_line", "sniff_format"]

# Format -> the Reader method decoding it (docs/input.md describes each).
_DECODERS = {"jsonl": "_iter_jsonl", "json": "_iter_json", "msgpack": "_iter_msgpack",
             "apache": "_iter_access", "nginx": "_iter_access", "csv": "_iter_csv"}
#: Format names accepted by ``open_source`` and ``sleuth run --format`` (``auto`` sniffs).
FORMATS = ("auto", *_DECODERS)
#: Formats that are another format under a second name.
FORMAT_ALIASES = {"nginx": "apache"}

_CHUNK = 1 << 20
_SNIFF = 1 << 16
_EXCERPT = 200
_MAX_DOC = 1 << 28  # the ``json`` format reads one document into memory
_GZIP_MAGIC = b"\x1f\x8b"
_NAMED = tuple(f for f in FORMATS if f != "auto" and f not in FORMAT_ALIASES)  # what sniffing can tell
_BOM = codecs.BOM_UTF8


def _excerpt(data: bytes | str) -> str:
    if isinstance(data, str):
        return data[:_EXCERPT]
    return data[: _EXCERPT * 4].decode("utf-8", "replace")[:_EXCERPT]


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
    the resolved format once iteration has started; ``counts`` holds
    ``lines`` (physical lines or msgpack objects seen), ``records``
    (decoded items yielded), ``empty`` and one counter per ``Bad`` reason.
    A reader is iterated once.  ``close()`` may be called from another
    thread: a following reader then stops within one poll interval.
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
        self.follow = follow
        self.max_line_bytes = max(1, int(max_line_bytes))
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval
        self.counts: dict[str, int] = {"lines": 0, "records": 0, "empty": 0}
        self._closed = threading.Event()
        if stop is None:
            self._stop_cb: Callable[[], bool] = self._closed.is_set
        elif isinstance(stop, threading.Event):
            self._stop_cb = lambda: stop.is_set() or self._closed.is_set()
        else:
            self._stop_cb = lambda: bool(stop()) or self._closed.is_set()
        self._raw: Any = None
        self._stream: Any = None
        self._offset = 0  # bytes consumed from the raw file (follow mode)
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

    def _read_raw(self, n: int) -> bytes:
        raw = self._raw
        read = getattr(raw, "read1", None) or raw.read
        data = read(n)
        if data is None:  # a non-blocking raw stream with nothing ready
            return b""
        self._offset += len(data)
        return data

    def _wait(self, started: float) -> bool:
        """One follow poll: False when following should end."""
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
        if self._stop_cb():
            return False
        self._check_rotation()
        return True

    def _check_rotation(self) -> None:
        """Reopen a followed file that was rotated (new inode) or truncated."""
        if self._stream_given or self._path in (None, "-") or self._stream is not self._raw:
            return
        try:
            st = os.stat(self._path)
            cur = os.fstat(self._raw.fileno())
        except OSError:
            return
        if st.st_ino != cur.st_ino or st.st_dev != cur.st_dev or st.st_size < self._offset:
            try:
                new = open(self._path, "rb", buffering=0)  # noqa: SIM115
            except OSError:
                return
            self._raw.close()
            self._raw = self._stream = new
            self._offset = 0
            self.counts["reopened"] = self.counts.get("reopened", 0) + 1

    def _head(self) -> bytes:
        """Read the start of the input (waiting when following), unwrapping gzip."""
        started = time.monotonic()
        head = b""
        while len(head) < 2:
            data = self._read_raw(_CHUNK)
            if not data:
                if head or not self._wait(started):
                    break
                continue
            head += data
        self._stream = self._raw
        if head[:2] == _GZIP_MAGIC:
            self.follow = False  # a growing gzip member cannot be tailed
            self._stream = gzip.GzipFile(fileobj=_Prefixed(head, self._raw), mode="rb")
            head = self._stream.read1(_CHUNK)
        # Enough to see the first line when sniffing.
        while self.format == "auto" and len(head) < _SNIFF and b"\n" not in head:
            data = self._read()
            if not data:
                break
            head += data
        if head[:3] == _BOM:
            head = head[3:]
        return head

    def _read(self) -> bytes:
        s = self._stream
        if s is self._raw:
            return self._read_raw(_CHUNK)
        return s.read1(_CHUNK)

    # ----------------------------------------------------------- iterating

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        if self._started:
            raise RuntimeError(f"reader {self.name!r} was already iterated")
        self._started = True
        self._open()  # OSError here is the caller's: a missing file is not bad input
        try:
            head = self._head()
            if self.format == "auto":
                fmt = sniff_format(head)
                if fmt is None:
                    if head.strip():
                        self._count("unknown-format")
                        yield 1, Bad("unknown-format",
                                     "cannot tell the format from the first bytes; "
                                     "use --format " + "|".join(_NAMED), _excerpt(head))
                    return
                self.format = fmt
            yield from getattr(self, _DECODERS[self.format])(head)
        except _Stop:
            return
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            # A corrupt or truncated gzip stream, or an I/O error mid-file.
            reason = "bad-gzip" if self._stream is not self._raw else "io-error"
            self._count(reason)
            yield self.counts["lines"] + 1, Bad(reason, f"{type(e).__name__}: {e}", "")
        finally:
            if self._stream is not None and self._stream is not self._raw:
                try:
                    self._stream.close()
                except Exception:  # closing a corrupt gzip may raise again
                    pass
            if self._raw is not None and not self._stream_given and self._raw is not sys.stdin.buffer:
                self._raw.close()

    def _count(self, reason: str) -> None:
        c = self.counts
        c[reason] = c.get(reason, 0) + 1

    def _batches(self, head: bytes) -> Iterator[tuple[int, list]]:
        """(number of the first line, lines) per chunk; an oversized line is None.

        Never holds more than ``max_line_bytes`` of one line plus one chunk:
        past the limit, the rest of the line is skipped up to its newline.
        """
        limit = self.max_line_bytes
        counts = self.counts
        lineno = 0
        pending = b""
        skipping = False
        chunk = head
        started = time.monotonic()
        while True:
            if not chunk:
                chunk = self._read()
                if not chunk:
                    if self._wait(started):
                        continue
                    break
            if self._closed.is_set():
                raise _Stop
            started = time.monotonic()
            lines: list = []
            if skipping:
                i = chunk.find(b"\n")
                if i < 0:
                    chunk = b""
                    continue
                lines.append(None)
                skipping = False
                chunk = chunk[i + 1:]
            data = pending + chunk if pending else chunk
            chunk = b""
            parts = data.split(b"\n")
            pending = parts.pop()
            if len(pending) > limit:
                pending = b""
                skipping = True
            # Only a chunk longer than the limit can hold an oversized line.
            if len(data) > limit and parts and max(map(len, parts)) > limit:
                for i, line in enumerate(parts):
                    if len(line) > limit:
                        parts[i] = None
            if lines:
                lines.extend(parts)
            else:
                lines = parts
            if lines:
                counts["lines"] += len(lines)
                yield lineno + 1, lines
                lineno += len(lines)
        if skipping or pending:  # a last line without a newline
            counts["lines"] += 1
            yield lineno + 1, [None if skipping else pending]

    def _oversized(self, pos: int) -> tuple[int, Bad]:
        self._count("oversized")
        return pos, Bad("oversized", f"line longer than {self.max_line_bytes} bytes", "")

    # jsonl is the hot path: everything is hoisted into locals.
    def _iter_jsonl(self, head: bytes) -> Iterator[tuple[int, Any]]:
        loads = orjson.loads
        JSONDecodeError = orjson.JSONDecodeError
        counts = self.counts
        for pos, lines in self._batches(head):
            good = 0
            for line in lines:
                if line:
                    try:
                        item = loads(line)
                    except JSONDecodeError as e:
                        bad = self._bad_json(line, e)
                        if bad is not None:
                            yield pos, bad
                        else:
                            counts["empty"] += 1
                    else:
                        good += 1
                        yield pos, item
                elif line is None:
                    yield self._oversized(pos)
                else:
                    counts["empty"] += 1
                pos += 1
            counts["records"] += good

    def _bad_json(self, line: bytes, e: Exception) -> Bad | None:
        if not line.strip():  # "\r" or blanks only
            return None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as u:
            self._count("bad-encoding")
            return Bad("bad-encoding", f"invalid UTF-8 at byte {u.start}", _excerpt(line))
        self._count("not-json")
        return Bad("not-json", str(e), text[:_EXCERPT])

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
        yield from enumerate(items, 1)

    def _iter_msgpack(self, head: bytes) -> Iterator[tuple[int, Any]]:
        unpacker = msgpack.Unpacker(
            raw=False, strict_map_key=False, unicode_errors="backslashreplace",
            max_buffer_size=max(self.max_line_bytes, _CHUNK) * 2)
        counts = self.counts
        pos = fed = 0
        chunk = head
        started = time.monotonic()
        while True:
            if not chunk:
                chunk = self._read()
                if not chunk:
                    if self._wait(started):
                        continue
                    break
            started = time.monotonic()
            if self._closed.is_set():
                raise _Stop
            try:
                unpacker.feed(chunk)
                fed += len(chunk)
            except msgpack.BufferFull:
                self._count("oversized")
                yield pos + 1, Bad("oversized", f"msgpack object larger than {self.max_line_bytes} bytes",
                                   _excerpt(chunk))
                return
            chunk = b""
            while True:
                try:
                    item = next(unpacker)
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
                yield pos, item
        if unpacker.tell() < fed:  # bytes left over: the last object is incomplete
            self._count("bad-msgpack")
            yield pos + 1, Bad("bad-msgpack", f"truncated msgpack object at end of input "
                                              f"({fed - unpacker.tell()} bytes)", "")

    def _iter_access(self, head: bytes) -> Iterator[tuple[int, Any]]:
        name = self.name
        counts = self.counts
        parse = parse_access_line
        for pos, lines in self._batches(head):
            for line in lines:
                if line is None:
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
                if type(ev) is dict:
                    ev["id"] = default_id(name, pos)
                    counts["records"] += 1
                    if "request" in ev:
                        counts["unparsed-request"] = counts.get("unparsed-request", 0) + 1
                    yield pos, ev
                else:
                    self._count(ev.reason)
                    yield pos, ev
                pos += 1

    def _iter_csv(self, head: bytes) -> Iterator[tuple[int, Any]]:
        counts = self.counts
        header: list[str] | None = None
        buf: list[str] = []

        def feed() -> Iterator[str]:
            while buf:
                yield buf.pop()
            # an unclosed quote asks for another line: make it an error
            raise csv.Error("unclosed quote (a record must fit on one line)")

        reader = None
        delim = ","
        for pos, lines in self._batches(head):
            for line in lines:
                if line is None:
                    yield self._oversized(pos)
                    pos += 1
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as u:
                    self._count("bad-encoding")
                    yield pos, Bad("bad-encoding", f"invalid UTF-8 at byte {u.start}", _excerpt(line))
                    pos += 1
                    continue
                text = text.rstrip("\r")
                if not text.strip():
                    counts["empty"] += 1
                    pos += 1
                    continue
                if header is None:
                    text = text.lstrip("\ufeff")
                    delim = "\t" if "\t" in text and "," not in text else ","
                buf.append(text)
                try:
                    if reader is None:
                        reader = csv.reader(feed(), delimiter=delim)
                    row = next(reader)
                except (csv.Error, StopIteration, RuntimeError) as e:
                    reader = None
                    buf.clear()
                    self._count("bad-csv-row")
                    yield pos, Bad("bad-csv-row", str(e) or type(e).__name__, text[:_EXCERPT])
                    pos += 1
                    continue
                if header is None:
                    header = [h.strip() for h in row]
                    counts["header"] = 1
                    pos += 1
                    continue
                if len(row) > len(header):
                    self._count("bad-csv-row")
                    yield pos, Bad("bad-csv-row",
                                   f"{len(row)} cells but the header has {len(header)}", text[:_EXCERPT])
                    pos += 1
                    continue
                # Empty cells are missing fields; values stay text (the
                # Normalizer coerces them).
                rec = {h: v for h, v in zip(header, row) if v != "" and h}
                counts["records"] += 1
                yield pos, rec
                pos += 1


# ------------------------------------------------------------- sniffing

# Header cells that make a comma/tab-separated first line a CSV header.
_FIELD_NAMES = frozenset(CANONICAL) | frozenset(ALIAS_OF)


def sniff_format(head: bytes) -> str | None:
    """The format of an input from its first bytes (gzip already unwrapped), or None.

    Rules, in order: a msgpack map marker (0x80-0x8f, 0xde, 0xdf) -> msgpack;
    ``{`` -> jsonl when the first line is a whole JSON value, is longer than
    the sniffed head, or when one of the next lines is a whole object; else
    json (one pretty-printed document); ``[`` -> json unless the first line is a whole
    value followed by more lines (then jsonl); a first line that parses as an
    access-log line -> apache; a comma- or tab-separated first line naming a
    canonical field or alias -> csv.
    """
    if head[:3] == _BOM:
        head = head[3:]
    if not head:
        return None
    b0 = head[0]
    if 0x80 <= b0 <= 0x8F or b0 in (0xDE, 0xDF):
        return "msgpack"
    text = head.lstrip()
    if not text:
        return None
    first, _, rest = text.partition(b"\n")
    c = text[:1]
    if c in (b"{", b"["):
        try:
            orjson.loads(first)
            whole = True
        except orjson.JSONDecodeError:
            whole = False
        if c == b"{":
            if whole or b"\n" not in text:
                return "jsonl"     # one object a line (or a first line longer than the sniff window)
            # A broken first line must not turn a JSON lines file into one bad document:
            # any of the next lines being a whole object means JSON lines.
            for line2 in rest.split(b"\n")[:8]:
                line2 = line2.strip()
                if line2[:1] == b"{":
                    try:
                        orjson.loads(line2)
                        return "jsonl"
                    except orjson.JSONDecodeError:
                        continue
            return "json"
        if whole:
            return "jsonl" if rest.strip() else "json"
        # A broken first line starting with '[': JSON lines if a next line is a whole value.
        for line2 in rest.split(b"\n")[:8]:
            line2 = line2.strip()
            if line2[:1] in (b"{", b"["):
                try:
                    orjson.loads(line2)
                    return "jsonl"
                except orjson.JSONDecodeError:
                    continue
        return "json"
    line = first.decode("utf-8", "backslashreplace").rstrip("\r")
    if isinstance(parse_access_line(line), dict):
        return "apache"
    delim = "\t" if "\t" in line and "," not in line else ","
    if delim in line:
        try:
            cells = next(csv.reader([line], delimiter=delim))
        except csv.Error:
            return None
        if any(cell.strip() in _FIELD_NAMES for cell in cells):
            return "csv"
    return None


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
) -> Reader:
    """Open an input for reading: a path, ``None``/``"-"`` for stdin, or a binary stream.

    ``format`` is one of ``FORMATS``; gzip is detected by its magic bytes
    whatever the format.  ``follow`` tails a growing file (poll every
    ``poll_interval`` s, reopening it after rotation) until ``close()``,
    ``stop`` (an Event or a callable returning True), or ``idle_timeout``
    seconds without new data.  Lines longer than ``max_line_bytes`` become
    ``Bad("oversized")``.  Nothing is read before iteration; raises
    ``ValueError`` for an unknown format and ``OSError`` (on iteration) when
    the file cannot be opened.
    """
    return Reader(path, format, follow=follow, max_line_bytes=max_line_bytes, name=name,
                  stop=stop, idle_timeout=idle_timeout, poll_interval=poll_interval)

