"""Which file is which: identities of followed files across rotation, truncation and restarts.

The reader stage's memory of files, as log shippers keep it: a file is its
device and inode plus a fingerprint of its first bytes (blake2b of up to 1 KiB,
gzip unwrapped), so a rename keeps the identity, a new file at the same name
or a truncated-and-rewritten file (copytruncate) does not, and a copy
(copytruncate's ``access.log.1``) or a compressed rotation is recognised by
its first bytes.  ``locate`` finds where a file read earlier went (the
rotated sibling) and which siblings were rotated after it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from typing import Any

import attrs

__all__ = ["FINGERPRINT_BYTES", "Identity", "digest", "fingerprint", "identify", "identify_path", "is_same",
           "locate", "siblings"]

#: Bytes of a file's start that identify it (as Filebeat's fingerprint and Vector's checksum).
FINGERPRINT_BYTES = 1024
_GZIP_MAGIC = b"\x1f\x8b"


@attrs.frozen
class Identity:
    """A file as a follower knows it: ``dev``/``ino`` and the fingerprint of its first ``size`` bytes.

    ``size`` is below ``FINGERPRINT_BYTES`` only for a file that was shorter
    when it was identified; an empty file (size 0) is told apart by its
    device and inode only.
    """

    dev: int
    ino: int
    size: int
    digest: str

    def to_json(self) -> dict[str, Any]:
        """A plain dict for a state file."""
        return {"dev": self.dev, "ino": self.ino, "size": self.size, "digest": self.digest}

    @classmethod
    def from_json(cls, data: Any) -> Identity | None:
        """The identity a state file holds, or None when it is not one."""
        try:
            return cls(int(data["dev"]), int(data["ino"]), int(data["size"]), str(data["digest"]))
        except (KeyError, TypeError, ValueError):
            return None

    def same_start(self, head: bytes) -> bool:
        """Whether a file starting with ``head`` starts as the identified file did."""
        return len(head) >= self.size and digest(head[: self.size]) == self.digest


def digest(data: bytes) -> str:
    """The fingerprint of some bytes (blake2b, 128 bits, hex)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _read_head(fh: Any, n: int) -> bytes:
    """The first ``n`` bytes of an open binary file (gzip unwrapped), without moving it."""
    try:
        head = os.pread(fh.fileno(), n, 0)
    except (OSError, AttributeError, ValueError):
        return b""
    if head[:2] == _GZIP_MAGIC:
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = os.pread(fh.fileno(), 1 << 16, 0)
            head = d.decompress(data, n)
        except (OSError, zlib.error):
            return b""
    return head[:n]


def fingerprint(fh: Any, n: int = FINGERPRINT_BYTES) -> tuple[int, str]:
    """``(size, digest)`` of the first ``n`` bytes of an open file (fewer if it is shorter)."""
    head = _read_head(fh, n)
    return len(head), digest(head)


def identify(fh: Any) -> Identity | None:
    """The identity of an open file (None for a stream without a file descriptor)."""
    try:
        st = os.fstat(fh.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    size, dg = fingerprint(fh)
    return Identity(st.st_dev, st.st_ino, size, dg)


def identify_path(path: str) -> Identity | None:
    """The identity of the file at ``path`` now (None when it cannot be opened)."""
    try:
        with open(path, "rb") as fh:
            return identify(fh)
    except OSError:
        return None


def is_same(ident: Identity, fh: Any) -> bool:
    """Whether an open file is the identified one: same device and inode, same first bytes."""
    try:
        st = os.fstat(fh.fileno())
    except (OSError, AttributeError, ValueError):
        return False
    if (st.st_dev, st.st_ino) != (ident.dev, ident.ino):
        return False
    return ident.same_start(_read_head(fh, ident.size))


def siblings(path: str) -> list[str]:
    """Files beside ``path`` named as its rotations are (``access.log.1``, ``access.log-20240501.gz``).

    Sorted by modification time, newest first (rotation keeps the mtime, and
    gzip keeps it when it compresses a rotated file).
    """
    folder, base = os.path.split(os.path.abspath(path))
    out = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        if name == base or not name.startswith(base) or name[len(base)] not in ".-_":
            continue
        p = os.path.join(folder, name)
        try:
            st = os.stat(p)
        except OSError:
            continue
        if os.path.isfile(p):
            out.append((st.st_mtime_ns, p))
    out.sort(reverse=True)
    return [p for _m, p in out]


def _open_head(path: str, n: int) -> tuple[os.stat_result, bytes] | None:
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            return st, _read_head(fh, n)
    except OSError:
        return None


def _decompressed_size(path: str) -> int:
    """Bytes of a gzip file once decompressed (read through: rotated files are small and rare)."""
    n = 0
    try:
        with gzip.open(path, "rb") as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    return n
                n += len(chunk)
    except (OSError, EOFError, zlib.error):
        return n


def locate(path: str, ident: Identity, offset: int) -> tuple[str | None, list[str]]:
    """Where the file identified as ``ident`` (read up to ``offset``) is now, for a followed ``path``.

    Returns ``(found, newer)``: ``found`` is ``path`` itself when it is still
    that file and not shorter than ``offset`` (not truncated); else the
    rotated sibling with the same device and inode (a rename), or with the
    same first bytes and at least ``offset`` bytes (a copy, or a compressed
    rotation); None when it is gone.  ``newer`` lists the siblings rotated
    after it, oldest first: files written after it that must be read before
    the one now at ``path``.
    """
    here = _open_head(path, ident.size)
    if here is not None:
        st, head = here
        if (st.st_dev, st.st_ino) == (ident.dev, ident.ino) and ident.same_start(head) and st.st_size >= offset:
            return path, []
    cands = siblings(path)
    found = None
    for p in cands:                       # a rename keeps device and inode
        got = _open_head(p, ident.size)
        if got is not None and (got[0].st_dev, got[0].st_ino) == (ident.dev, ident.ino) \
                and ident.same_start(got[1]):
            found = p
            break
    if found is None:
        for p in cands:                   # a copy or a compressed rotation keeps the first bytes
            got = _open_head(p, ident.size)
            if got is None or not ident.same_start(got[1]):
                continue
            size = _decompressed_size(p) if _is_gzip(p) else got[0].st_size
            if size >= offset and ident.size > 0:
                found = p
                break
    if found is None:
        return None, []
    newer = list(reversed(cands[: cands.index(found)]))
    return found, newer


def _is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    except OSError:
        return False
