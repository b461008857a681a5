"""Reference lists: ``list hosting_asns = file("lists/hosting_asns.txt")`` at run time.

One value a line (``#`` comments, blank lines ignored); the kind is inferred:
all integers -> an int set, all IP addresses or CIDR blocks -> IP ranges,
anything else -> a string set.  Membership (``x in lst``) never raises.

Measured design choice: IP ranges are merged into sorted disjoint integer
intervals searched with ``bisect`` (O(log n)): ~1 µs per lookup for 50,000
ranges, where a scan over ``ipaddress`` networks costs milliseconds.
``IntervalMap`` (longest-prefix values) is shared with ``enrich.PrefixTable``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

__all__ = ["IntervalMap", "RefList", "parse_cidr", "parse_ip"]

_INET = socket.AF_INET
_INET6 = socket.AF_INET6
_pton = socket.inet_pton
_V4_MAPPED = (0xFFFF << 32, (0xFFFF << 32) | 0xFFFFFFFF)
_INT_TEXT = re.compile(r"[+-]?\d{1,20}")


def parse_ip(value: Any) -> tuple[int, int] | None:
    """``"203.0.113.7"`` -> ``(4, 3405803783)``; IPv6 -> ``(6, n)``; None when not an IP.

    IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) count as IPv4.  Never
    raises; ~0.5 µs (``socket.inet_pton``, strict dotted quads only).
    """
    if type(value) is not str:
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            value = str(value)
        elif isinstance(value, str):
            value = str(value)
        else:
            return None
    if len(value) > 45:
        return None
    if ":" in value:
        try:
            n = int.from_bytes(_pton(_INET6, value), "big")
        except (OSError, ValueError):
            return None
        if _V4_MAPPED[0] <= n <= _V4_MAPPED[1]:
            return 4, n & 0xFFFFFFFF
        return 6, n
    try:
        return 4, int.from_bytes(_pton(_INET, value), "big")
    except (OSError, ValueError):
        return None


def parse_cidr(text: str) -> tuple[int, int, int] | None:
    """``"10.0.0.0/8"`` or a single address -> ``(version, first, last)``; None if not one.

    Host bits are allowed (``10.1.2.3/8`` means ``10.0.0.0/8``).
    """
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    first = int(net.network_address)
    last = int(net.broadcast_address)
    if net.version == 6 and net.prefixlen >= 96 and _V4_MAPPED[0] <= first <= _V4_MAPPED[1]:
        return 4, first & 0xFFFFFFFF, last & 0xFFFFFFFF
    return net.version, first, last


class IntervalMap:
    """Disjoint sorted integer intervals with a value each; ``find`` is O(log n).

    Built from ``(first, last, value)`` blocks that are nested or disjoint
    (as CIDR blocks are): the most specific block wins, and a later
    duplicate of the same block wins over an earlier one.
    """

    __slots__ = ("ends", "starts", "values")

    def __init__(self, blocks: Iterable[tuple[int, int, Any]]) -> None:
        # Sweep: blocks sorted by start, the larger first; a stack holds the
        # enclosing blocks, and every stretch goes to the innermost one.
        ordered = sorted(
            ((s, e, i, v) for i, (s, e, v) in enumerate(blocks)), key=lambda b: (b[0], -b[1], b[2]))
        out: list[tuple[int, int, Any]] = []

        def emit(a: int, b: int, v: Any) -> None:
            if a > b:
                return
            if out and out[-1][1] + 1 == a and out[-1][2] == v:
                out[-1] = (out[-1][0], b, v)  # coalesce neighbours with equal values
            else:
                out.append((a, b, v))

        stack: list[tuple[int, Any]] = []
        pos = 0
        for s, e, _, v in ordered:
            while stack and stack[-1][0] < s:
                end, val = stack.pop()
                emit(pos, end, val)
                pos = max(pos, end + 1)
            if stack:
                emit(pos, s - 1, stack[-1][1])
            pos = max(pos, s)
            stack.append((e, v))
        while stack:
            end, val = stack.pop()
            emit(pos, end, val)
            pos = max(pos, end + 1)
        self.starts = [b[0] for b in out]
        self.ends = [b[1] for b in out]
        self.values = [b[2] for b in out]

    def find(self, n: int, default: Any = None) -> Any:
        """The value of the interval holding ``n``, or ``default``."""
        i = bisect_right(self.starts, n) - 1
        if i >= 0 and n <= self.ends[i]:
            return self.values[i]
        return default

    def __len__(self) -> int:
        return len(self.starts)


def _strip_comment(line: str) -> str:
    # "#" starts a comment at the beginning of a line or after whitespace,
    # so values such as "C#" or "a#b" survive.
    s = line.strip()
    if s.startswith("#"):
        return ""
    m = re.search(r"\s#", s)
    if m is not None:
        s = s[: m.start()].rstrip()
    return s


class RefList:
    """An immutable-looking, reloadable set of reference values; see the module docstring.

    ``kind`` is ``"int"``, ``"ip"`` or ``"str"`` (an empty list is ``"str"``);
    ``values`` is a frozenset (for ``"ip"``: the normalised CIDR strings);
    ``source`` is the file path or None.  ``x in lst`` never raises.
    """

    def __init__(self, values: Iterable[Any] = (), *, name: str = "", source: str | None = None) -> None:
        self.name = name
        self.source = source
        self._stamp: tuple[int, int] | None = None
        self._load(list(values))

    @classmethod
    def from_values(cls, values: Iterable[Any], name: str = "") -> RefList:
        """A list from Python values (strings are inferred like file lines, ints stay ints)."""
        return cls(values, name=name)

    @classmethod
    def from_file(cls, path: str | os.PathLike, name: str | None = None) -> RefList:
        """Read a list file (UTF-8, one value a line).  Raises ``OSError``."""
        p = os.fspath(path)
        lst = cls.__new__(cls)
        lst.name = name if name is not None else os.path.splitext(os.path.basename(p))[0]
        lst.source = p
        lst._stamp = None
        lst._read()
        return lst

    def _read(self) -> None:
        st = os.stat(self.source)
        with open(self.source, encoding="utf-8-sig", errors="replace") as f:
            lines = [_strip_comment(line) for line in f]
        self._load([s for s in lines if s])
        self._stamp = (st.st_mtime_ns, st.st_size)

    def maybe_reload(self) -> bool:
        """Reload the file when its mtime or size changed; True if it did.

        A file that vanished or cannot be read keeps the current values.
        """
        if self.source is None:
            return False
        try:
            st = os.stat(self.source)
        except OSError:
            return False
        if (st.st_mtime_ns, st.st_size) == self._stamp:
            return False
        try:
            self._read()
        except OSError:
            return False
        return True

    def _load(self, values: list[Any]) -> None:
        # Build everything first, then swap, so a reader never sees half a list.
        texts = [v.strip() if isinstance(v, str) else v for v in values]
        texts = [v for v in texts if v != ""]
        kind = "str"
        if texts and all((isinstance(v, int) and not isinstance(v, bool))
                         or (isinstance(v, str) and _INT_TEXT.fullmatch(v)) for v in texts):
            kind = "int"
            vals: frozenset = frozenset(int(v) for v in texts)
        elif texts and all(isinstance(v, str) for v in texts):
            cidrs = [parse_cidr(v) for v in texts]
            if all(c is not None for c in cidrs):
                kind = "ip"
                v4 = [(c[1], c[2], True) for c in cidrs if c[0] == 4]
                v6 = [(c[1], c[2], True) for c in cidrs if c[0] == 6]
                vals = frozenset(str(ipaddress.ip_network(v, strict=False)) for v in texts)
                self._v4, self._v6 = IntervalMap(v4), IntervalMap(v6)
        if kind == "str":
            vals = frozenset(v if isinstance(v, str) else str(v) for v in texts)
        self.kind = kind
        self.values = vals

    def __contains__(self, value: Any) -> bool:
        kind = self.kind
        if kind == "str":
            return type(value) is str and value in self.values
        if kind == "int":
            t = type(value)
            if t is int:
                return value in self.values
            if t is str and len(value) <= 21 and _INT_TEXT.fullmatch(value.strip()):
                return int(value) in self.values
            if t is float and value.is_integer():
                return int(value) in self.values
            return False
        ip = parse_ip(value)
        if ip is None:
            return False
        m = self._v4 if ip[0] == 4 else self._v6
        return m.find(ip[1], False)

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        return iter(sorted(self.values, key=str))

    def __repr__(self) -> str:
        where = f" from {self.source!r}" if self.source else ""
        return f"RefList({self.name!r}, kind={self.kind!r}, {len(self)} values{where})"
