"""Envoy's default access log format -> canonical events (the reader stage).

The documented default (``[%START_TIME%] "method path protocol" code flags
rx tx duration upstream-time "xff" "ua" "request-id" "authority"
"upstream-host"``) has no client address: ``src_ip`` is read from
X-Forwarded-For, from its right end (the address the nearest trusted proxy
appended), skipping ``xff_trusted_hops`` more.  The request ends at the
first ``" <code> <flags> <n> <n> <n> <n|-> "`` whose tail reads (at most 8
tried), so a quote in a path or user agent does not derail it; linear time.
"""

from __future__ import annotations

import re
from typing import Any

from ._common import Bad, bad, decode_line, split_request, time_of, to_int

__all__ = ["parse_envoy_line"]

_PREFIX = re.compile(r'\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z)\] "')
_PREFIX_ANY = re.compile(r'\[([^\]]{1,64})\] "')
_MIDDLE = re.compile(r'" (\d{1,3}|-) ([A-Za-z,_-]{1,256}) (\d{1,19}|-) (\d{1,19}|-) (\d{1,19}|-) (\d{1,19}|-) "')
_FLAGS = re.compile(r"-|[A-Z]{1,8}(?:,[A-Z]{1,8})*|[A-Za-z_]{1,64}(?:,[A-Za-z_]{1,64})*")
_MAX_CANDIDATES = 8


def _quoted_tail(tail: str) -> list[str] | None:
    """``"xff" "ua" "request-id" "authority" "upstream"`` -> the five values.

    Split from the right (request id, authority and upstream host never hold
    quotes); the user agent, which may, is what is left after the XFF.
    """
    if len(tail) < 2 or tail[0] != '"' or tail[-1] != '"':
        return None
    body = tail[1:-1]
    right = []
    for _ in range(3):
        i = body.rfind('" "')
        if i < 0:
            return None
        right.append(body[i + 3:])
        body = body[:i]
    i = body.find('" "')
    if i < 0:
        return None
    return [body[:i], body[i + 3:], *reversed(right)]


def parse_envoy_line(line: str | bytes, xff_trusted_hops: int = 0) -> dict | Bad:
    """One line of Envoy's default access log -> a canonical event (without ``id``), or a ``Bad``.

    ``ts`` is ``START_TIME`` (the request's first byte); ``status`` the
    response code (0: no response was sent); ``req_bytes``/``resp_bytes`` the
    body bytes; ``latency_ms`` ``DURATION``; ``host`` the ``:authority``;
    ``src_ip`` the X-Forwarded-For address ``xff_trusted_hops`` from the
    right.  Response flags, upstream service time, request id and upstream
    host go to ``ev["envoy"]``.
    """
    text = decode_line(line)
    m = _PREFIX.match(text)
    if m is None:
        if _PREFIX_ANY.match(text) is not None:
            return bad("bad-time", "envoy: START_TIME is not the default %Y-%m-%dT%H:%M:%E3SZ", text)
        return bad("unparsable-line", 'envoy: not [START_TIME] "request" ...', text)
    start = m.end()
    found = None
    for tries, mid in enumerate(_MIDDLE.finditer(text, start)):
        if tries >= _MAX_CANDIDATES:
            break
        tail = _quoted_tail(text[mid.end() - 1:].rstrip())
        if tail is not None and _FLAGS.fullmatch(mid.group(2)) is not None:
            found = mid, tail
            break
    if found is None:
        return bad("unparsable-line", "envoy: no '\"request\" code flags bytes bytes duration time \"...\"' "
                                      "part", text)
    mid, tail = found
    ts = time_of(m.group(1))
    if type(ts) is not float:
        return bad("bad-time", f"envoy: {ts}", text)
    code, flags, received, sent, duration, upstream_time = mid.groups()
    xff, ua, request_id, authority, upstream = tail
    ev: dict[str, Any] = {"ts": ts}
    addrs = [a.strip() for a in xff.split(",")] if xff and xff != "-" else []
    addrs = [a for a in addrs if a]
    if len(addrs) > xff_trusted_hops:
        ev["src_ip"] = addrs[-1 - xff_trusted_hops]
    split_request(text[start:mid.start()], ev)
    if code != "-":
        ev["status"] = int(code)
    if received != "-":
        n = to_int(received)
        if n is not None:
            ev["req_bytes"] = n
    if sent != "-":
        n = to_int(sent)
        if n is not None:
            ev["resp_bytes"] = n
    if duration != "-":
        ev["latency_ms"] = float(int(duration))
        if code == "101":
            # An upgraded connection (WebSocket) is logged when it closes: an event then, not
            # late by its whole lifetime.
            ev["ts"] = round(ts + int(duration) / 1000.0, 6)
    if ua and ua != "-":
        ev["ua"] = ua
    if authority and authority != "-":
        ev["host"] = authority
    if addrs:
        ev["headers"] = {"x-forwarded-for": xff}
    envoy: dict[str, Any] = {}
    if flags != "-":
        envoy["response_flags"] = flags
    if upstream_time != "-":
        envoy["upstream_service_time"] = int(upstream_time)
    if request_id and request_id != "-":
        envoy["request_id"] = request_id
    if upstream and upstream != "-":
        envoy["upstream_host"] = upstream
    if envoy:
        ev["envoy"] = envoy
    return ev
