"""Shared pieces of the log-format parsers: the failure value, decoding, small field parsers.

The one place that imports from the quarantine and normaliser modules (``Bad``,
``parse_time``, ``parse_query``, ``excerpt_of``), so that moving those modules means changing
these import lines only (not from ``source.py``, which imports this package).  Helpers here never raise on hostile text: a value
that cannot be read is ``None`` and the caller turns it into a ``Bad`` naming
the field.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from ...quarantine import Bad, excerpt_of
from ..normalize import BadInput, parse_query
from ..timestamp import parse_time

__all__ = ["Bad", "BadInput", "excerpt_of", "parse_query", "parse_time"]

EXCERPT = 200  # characters of the input kept in a Bad, as source.py does
REQUEST_KEEP = 1024  # characters of an unparsable request kept in ``request``, as source.py does
MAX_INT = 2**63 - 1  # byte counts above this are out of the canonical range

#: Reason ids these parsers add to the quarantine's table (``quarantine.REASONS``).
REASONS: dict[str, str] = {
    "field-count": "a delimited log line (ALB, W3C/IIS/CloudFront) with fewer or more fields "
                   "than its format or its #Fields header declares",
    "no-fields-header": "a W3C extended log data line before any #Fields directive",
    "not-access-record": "a JSON log line (Caddy, Traefik) that is another kind of log record, "
                         "not a request",
}

_INT = re.compile(r"\d{1,19}")
_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,9})?")
_IPV6_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\](?::(\d{1,5}))?")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an RFC 9110 token
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,15})://([^/?#]*)")


def bad(reason: str, detail: str, text: str | bytes) -> Bad:
    """A ``Bad`` with at most 200 characters of the input as its excerpt (and all of it as ``raw``)."""
    raw = text
    if isinstance(text, bytes):
        text = text[: EXCERPT * 4].decode("utf-8", "replace")
    return Bad(reason, detail, text[:EXCERPT], raw=raw)


def decode_line(line: bytes | str) -> str:
    """One physical line as text, without its line ending.

    Bytes that are not UTF-8 are escaped the way Apache 2 logs them
    (``\\xhh``, ``\\\\``), as the Apache reader does: a log line is never
    quarantined for its encoding (ALB keeps request bytes as the client sent
    them).  ``repr`` does the escaping in C.
    """
    if isinstance(line, str):
        return line.rstrip("\r\n")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        r = repr(line)
        text = r[2:-1]
        if r[1] == "'":
            text = text.replace("\\'", "'")
    return text.rstrip("\r\n")


def to_int(s: str, hi: int = MAX_INT) -> int | None:
    """A decimal integer in 0..hi, or None."""
    if _INT.fullmatch(s) is None:
        return None
    n = int(s)
    return n if n <= hi else None


def to_seconds(s: str) -> float | None:
    """Non-negative decimal seconds (``0.082``), or None."""
    if _SECONDS.fullmatch(s) is None:
        return None
    return float(s)


def time_of(value: Any) -> float | str:
    """Epoch seconds of a time value, or the ``bad-time`` detail text."""
    try:
        return parse_time(value)
    except BadInput as e:
        return e.detail


def split_host_port(addr: str) -> tuple[str, int | None] | None:
    """``192.0.2.1:443``, ``[2001:db8::1]:443``, ``2001:db8::1:443`` -> (host, port).

    A bare IPv6 address with a port appended (as ALB writes it) is split at
    its last colon.  None when there is no port or it is not a number.
    """
    m = _IPV6_BRACKETED.fullmatch(addr)
    if m is not None:
        port = m.group(2)
        return m.group(1), (int(port) if port is not None else None)
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or len(port) > 5:
        return None
    return host, int(port)


def unquote_field(s: str) -> str:
    """One level of percent-decoding (CloudFront encodes ``%`` itself as ``%25``).

    Bytes that are not UTF-8 after decoding are escaped as ``\\xhh``.
    """
    if "%" not in s:
        return s
    return unquote(s, errors="backslashreplace")


def set_target(ev: dict, method: str | None, target: str, absolute: bool = False) -> None:
    """``path`` and ``query`` (and ``host`` for an absolute-form target) from a request target.

    The path is the raw target before ``?`` (not percent-decoded), as the
    Apache reader keeps it.  With ``absolute`` (a log that writes every
    request as ``scheme://host:port/uri``, as ALB does) the scheme and
    authority are cut off the path and the authority goes to ``host``;
    ``CONNECT host:port`` sets ``host``.
    """
    if absolute:
        a = _ABSOLUTE.match(target)
        if a is not None:
            if a.group(2):
                ev["host"] = a.group(2)
            target = target[a.end():]
            if not target or target[0] == "?":
                target = "/" + target
    elif method == "CONNECT":
        ev["host"] = target
    path, q, query = target.partition("?")
    ev["path"] = path
    if q:
        ev["query"] = parse_query(query)


def split_request(req: str, ev: dict, absolute: bool = False) -> bool:
    """``METHOD target HTTP/x.y`` (the target may contain spaces) into ``ev``.

    Returns False, and keeps the raw text in ``request`` (first 1,024
    characters), when the request is not of that shape; ``-`` is no request.
    """
    method, sp, rest = req.partition(" ")
    protocol = None
    i = rest.rfind(" ")
    if i >= 0:
        protocol = rest[i + 1:]
        if protocol == "-" or protocol.startswith("HTTP/"):
            rest = rest[:i]
        else:
            protocol = None
    if not sp or not rest or rest == "-" or method == "-" or _METHOD.fullmatch(method) is None:
        if req not in ("-", "", "- - -"):
            ev["request"] = req[:REQUEST_KEEP]
        return False
    ev["method"] = method
    set_target(ev, method, rest, absolute)
    if protocol and protocol != "-":
        ev["protocol"] = protocol
    return True


def header_name(name: str) -> str:
    """A header name as canonical ``headers`` keys are: lower case."""
    return name.lower()
