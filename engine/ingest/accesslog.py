"""Apache/nginx access-log lines -> canonical events, for the `apache` reader.

Formats: common, combined, each optionally followed by nginx's
`"$http_x_forwarded_for"` and by `%D` (integer µs) or `$request_time`
(decimal seconds); rules in docs/input.md. Measured design choice: the
common well-formed line is matched by one linear regex (~2x cheaper than
the general parser, which handles quotes inside fields and junk requests
with a bounded number of candidate request ends: linear in the line).
"""

from __future__ import annotations

import re
from typing import Any

from ..quarantine import Bad, BadInput
from .normalize import parse_query
from .timestamp import parse_time

__all__ = ["escape_bytes", "parse_access_line"]

_EXCERPT = 200
_REQUEST_KEEP = 1024  # characters of an unparsable request line kept in ``request``

# %h %l %u [%t] "  -- the fixed prefix of the common log format
_PREFIX = re.compile(r'(\S+) (\S+) (\S+) \[([^\]]{1,64})\] "')
# the end of "%r": a quote, the status and the size, then the end or another field
_REQ_END = re.compile(r'" (\d{3}|-) (\d+|-)(?=$| "| \d|\s+$)')
_TAIL_NUM = re.compile(r" (\d{1,12}(?:\.\d{1,9})?)\s*$")
_XFF = re.compile(r"[-0-9A-Fa-f.:, ]*")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_PROTOCOL = re.compile(r"HTTP/\d(?:\.\d)?")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")
_MAX_CANDIDATES = 8  # request-end candidates tried: bounds the work on hostile lines
# The common well-formed line in one linear regex (no quotes inside quoted
# fields, a plain request): ~2x cheaper than the general parser below, and
# must give the same event (tests check both on every honeynet line).
_WELL_FORMED = re.compile(
    r'(\S+) \S+ (\S+) \[([^\]]{1,64})\] "([!#$%&\'*+.^_`|~0-9A-Za-z-]+) ([^" ]+) (HTTP/\d(?:\.\d)?)" '
    r'(\d{3}) (\d+|-)(?: "([^"]*)" "([^"]*)")?(?: (\d{1,12}(?:\.\d{1,9})?))?\s*')


def parse_access_line(text: str) -> dict | Bad:
    """One Apache/nginx access-log line -> a canonical event dict (without ``id``), or a ``Bad``.

    Formats: common, combined, each optionally followed by nginx's
    ``"$http_x_forwarded_for"`` and by ``%D`` (integer, µs) or nginx
    ``$request_time`` (decimal seconds).  A request field that is not
    ``METHOD target [HTTP/x.y]`` keeps the line an event: ``method``/``path``
    are left out and the raw text goes to ``request`` (first 1024 chars).
    Costs a few µs per line; linear in the line length.
    """
    w = _WELL_FORMED.fullmatch(text)
    if w is not None:
        host, user, when, method, target, protocol, status, size, referer, ua, num = w.groups()
        try:
            ts = parse_time(when)
        except BadInput as e:
            return Bad("bad-time", e.detail, text[:_EXCERPT])
        ev = {"ts": ts, "src_ip": host, "method": method}
        _target(method, target, protocol, ev)
        ev["status"] = int(status)
        if size != "-":
            ev["resp_bytes"] = int(size)
        if user != "-":
            ev["user"] = user
        if num is not None:
            ev["latency_ms"] = float(num) * 1000.0 if "." in num else int(num) / 1000.0
        if referer is not None and referer != "-":
            ev["headers"] = {"referer": referer}
        if ua is not None and ua != "-":
            ev["ua"] = ua
        return ev
    return _parse_access_line(text)


def _parse_access_line(text: str) -> dict | Bad:
    """The general parser: any line shape, quotes inside fields, junk requests."""
    m = _PREFIX.match(text)
    if m is None:
        return Bad("unparsable-line", "not an access-log line (host ident user [time] \"request\" ...)",
                   text[:_EXCERPT])
    host, _ident, user, when = m.groups()
    start = m.end()
    tries = 0
    for end in _REQ_END.finditer(text, start):
        tries += 1
        if tries > _MAX_CANDIDATES:
            break
        tail = text[end.end():]
        extra = _parse_tail(tail)
        if extra is None:
            continue
        try:
            ts = parse_time(when)
        except BadInput as e:
            return Bad("bad-time", e.detail, text[:_EXCERPT])
        ev: dict[str, Any] = {"ts": ts, "src_ip": host}
        _parse_request(text[start:end.start()], ev)
        status, size = end.groups()
        if status != "-":
            ev["status"] = int(status)
        if size != "-":
            ev["resp_bytes"] = int(size)
        if user != "-":
            ev["user"] = user
        ev.update(extra)
        return ev
    return Bad("unparsable-line", "no '\"request\" status bytes' part", text[:_EXCERPT])


def _parse_tail(tail: str) -> dict | None:
    """What follows the size: referer, user agent, x-forwarded-for, request time."""
    out: dict[str, Any] = {}
    s = tail.rstrip()
    m = _TAIL_NUM.search(s)
    if m is not None and (m.start() == 0 or s[m.start() - 1] == '"'):
        num = m.group(1)
        # nginx $request_time is decimal seconds; Apache %D integer microseconds.
        out["latency_ms"] = float(num) * 1000.0 if "." in num else int(num) / 1000.0
        s = s[: m.start()]
    if not s:
        return out
    if not (s.startswith(' "') and s.endswith('"')) or len(s) < 6:
        return None
    i = s.find('" "', 2)
    if i < 0:
        return None
    referer = s[2:i]
    ua = s[i + 3:-1]
    # nginx "main": ... "$http_user_agent" "$http_x_forwarded_for"
    j = ua.rfind('" "')
    if j >= 0 and _XFF.fullmatch(ua[j + 3:]):
        xff = ua[j + 3:]
        ua = ua[:j]
        if xff != "-" and xff:
            out.setdefault("headers", {})["x-forwarded-for"] = xff
    if referer != "-":
        out.setdefault("headers", {})["referer"] = referer
    if ua != "-":
        out["ua"] = ua
    return out


def escape_bytes(line: bytes) -> str:
    """A line that is not UTF-8, escaped much as Apache 2 logs bytes (``\\xhh``, ``\\\\``).

    Apache 1.3 wrote request bytes unescaped (the honeynet's 8 KB WebDAV
    overflow attempts); ``repr`` does the escaping in C, ~40x faster than a
    ``backslashreplace`` decode of such a line.
    """
    r = repr(line)
    body = r[2:-1]
    if r[1] == "'":
        body = body.replace("\\'", "'")
    return body


def _parse_request(req: str, ev: dict) -> None:
    method, sp, rest = req.partition(" ")
    protocol = None
    i = rest.rfind(" ")
    if i >= 0 and _PROTOCOL.fullmatch(rest, i + 1):
        protocol = rest[i + 1:]
        rest = rest[:i]
    if not sp or not rest or not _METHOD.fullmatch(method):
        if req != "-":  # "-" is what Apache logs when no request arrived (408)
            ev["request"] = req[:_REQUEST_KEEP]
        return
    ev["method"] = method
    _target(method, rest, protocol, ev)


def _target(method: str, target: str, protocol: str | None, ev: dict) -> None:
    path, q, query = target.partition("?")
    ev["path"] = path
    if q:
        ev["query"] = parse_query(query)
    if protocol:
        ev["protocol"] = protocol
    a = _ABSOLUTE.match(target)
    if a is not None:
        ev["host"] = a.group(1)  # absolute-form target (proxy request)
    elif method == "CONNECT":
        ev["host"] = path  # authority-form target
