"""Caddy and Traefik JSON access logs -> canonical events (the reader stage).

Caddy nests the request (``{"request": {"method", "uri", "headers"}}`` with
zap's ``ts``/``logger``), Traefik writes flat CamelCase fields
(``RequestMethod``, ``StartUTC``, ``request_<Header>``).  ``parse_caddy`` and
``parse_traefik`` map one decoded object; the ``*_line`` forms decode a line
first.  Values go on as logged where the Normalizer can coerce them (it
records what it cannot in ``_invalid``); only the time, which decides the
order, is checked here.  A record of the same log that is not a request is
``Bad("not-access-record")``: counted, never taken for an event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ._common import Bad, bad, excerpt_of, parse_query, split_host_port, time_of

__all__ = [
    "is_caddy_access", "is_traefik_access", "parse_caddy", "parse_caddy_line", "parse_traefik",
    "parse_traefik_line",
]

_GO_DURATION = re.compile(r"(?:(\d{1,20}(?:\.\d{1,20})?)(ns|us|µs|μs|ms|s|m|h)){1,8}")
_GO_PART = re.compile(r"(\d{1,20}(?:\.\d{1,20})?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _decode(line: bytes | str, fmt: str) -> Any:
    """orjson on one line; a ``Bad`` for text that is not JSON (as the JSON lines reader says it)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        if isinstance(line, bytes):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as u:
                return bad("bad-encoding", f"{fmt}: invalid UTF-8 at byte {u.start}", line)
        return bad("not-json", f"{fmt}: {e}", line)


def _target(ev: dict, uri: Any) -> None:
    """``path``/``query`` from a logged request URI (origin form, ``*`` or absolute)."""
    if type(uri) is not str:
        if uri is not None:
            ev["path"] = uri  # the Normalizer records a wrong type in _invalid
        return
    path, q, query = uri.partition("?")
    ev["path"] = path
    if q:
        ev["query"] = parse_query(query)


def _header_values(v: Any) -> Any:
    """A header's logged value(s) as one text (lists joined as HTTP joins them, with ', ')."""
    if type(v) is list and all(type(x) is str for x in v):
        return ", ".join(v)
    return v


def _seconds(v: Any) -> float | None:
    """A Caddy duration: float seconds (default), integer nanoseconds (``duration_format nano``)
    or a Go duration string (``string``); None when unreadable.

    An integer is nanoseconds: zap writes float seconds with no fraction only for an
    exact whole number of seconds, which a real request never takes (0 reads the same).
    """
    t = type(v)
    if t is float:
        return v if v >= 0.0 and v == v and v != float("inf") else None
    if t is int:
        return v / 1e9 if v >= 0 else None
    if t is str and _GO_DURATION.fullmatch(v):
        return sum(float(n) * _GO_UNIT_S[u] for n, u in _GO_PART.findall(v))
    return None


# ------------------------------------------------------------------ Caddy

def is_caddy_access(obj: Any) -> bool:
    """True for a Caddy access-log record: a ``request`` object with a method and a URI,
    and (when present) a ``logger`` under ``http.log.access``."""
    if type(obj) is not dict:
        return False
    req = obj.get("request")
    if type(req) is not dict or "method" not in req or "uri" not in req:
        return False
    logger = obj.get("logger")
    return logger is None or (type(logger) is str and logger.startswith("http.log.access"))


def parse_caddy(obj: Any) -> dict | Bad:
    """One decoded Caddy access-log object -> a canonical event (without ``id``), or a ``Bad``.

    ``ts`` is Caddy's ``ts`` (written when the response ended) minus
    ``duration``; ``src_ip`` is ``request.client_ip`` (Caddy 2.7+, honours
    ``trusted_proxies``), else ``remote_ip``, else the host of
    ``remote_addr`` (before 2.5).  Header names become lower case, lists of
    values are joined with ``", "``.  ``logger``, ``level``, ``tls``,
    ``resp_headers`` and the remote address go to ``ev["caddy"]``.
    """
    if not is_caddy_access(obj):
        if type(obj) is not dict:
            return bad("not-access-record", f"caddy: a JSON {type(obj).__name__}, not an object",
                       excerpt_of(obj))
        what = obj.get("logger", obj.get("msg", "?"))
        return bad("not-access-record", f"caddy: not an access record (logger {str(what)[:80]!r})",
                   excerpt_of(obj))
    req = obj["request"]
    end = obj.get("ts")
    if end is None:
        return bad("no-time", "caddy: no ts", excerpt_of(obj))
    end_ts = time_of(end)
    if type(end_ts) is not float:
        return bad("bad-time", f"caddy: {end_ts}", excerpt_of(obj))
    ev: dict[str, Any] = {"ts": end_ts}
    dur = obj.get("duration")
    if dur is not None:
        seconds = _seconds(dur)
        if seconds is None:
            return bad("bad-time", f"caddy: duration {str(dur)[:40]!r} is not a duration", excerpt_of(obj))
        if obj.get("status") != 101:  # an upgraded connection (WebSocket) stays an event at its close
            ev["ts"] = max(0.0, round(end_ts - seconds, 6))
        ev["latency_ms"] = round(seconds * 1000.0, 6)
    src = req.get("client_ip") or req.get("remote_ip")
    if src is None and type(req.get("remote_addr")) is str:
        hp = split_host_port(req["remote_addr"])
        src = hp[0] if hp is not None else req["remote_addr"]
    if src is not None:
        ev["src_ip"] = src
    ev["method"] = req.get("method")
    if req.get("host") not in (None, ""):
        ev["host"] = req["host"]
    _target(ev, req.get("uri"))
    if req.get("proto") not in (None, ""):
        ev["protocol"] = req["proto"]
    if "status" in obj:
        ev["status"] = obj["status"]
    if "size" in obj:
        ev["resp_bytes"] = obj["size"]
    if "bytes_read" in obj:
        ev["req_bytes"] = obj["bytes_read"]
    user = obj.get("user_id")
    if user not in (None, ""):
        ev["user"] = user
    headers = req.get("headers")
    caddy: dict[str, Any] = {}
    if type(headers) is dict:
        h = {str(k).lower(): _header_values(v) for k, v in headers.items()}
        ua = h.get("user-agent")
        if ua is not None:
            ev["ua"] = ua
        ev["headers"] = h
    elif headers is not None:
        caddy["headers"] = headers
    for key in ("logger", "level"):
        if key in obj:
            caddy[key] = obj[key]
    for key in ("remote_ip", "remote_port", "remote_addr", "tls"):
        if key in req:
            caddy[key] = req[key]
    resp = obj.get("resp_headers")
    if type(resp) is dict:
        caddy["resp_headers"] = {str(k).lower(): _header_values(v) for k, v in resp.items()}
    if caddy:
        ev["caddy"] = caddy
    return ev


def parse_caddy_line(line: bytes | str) -> dict | Bad:
    """One line of a Caddy JSON access log -> event or ``Bad``."""
    obj = _decode(line, "caddy")
    return obj if type(obj) is Bad else parse_caddy(obj)


# ---------------------------------------------------------------- Traefik

# Traefik field -> canonical field (values passed on as logged).
_TRAEFIK_CANONICAL = {
    "RequestMethod": "method", "RequestHost": "host", "RequestProtocol": "protocol",
    "DownstreamStatus": "status", "DownstreamContentSize": "resp_bytes",
    "RequestContentSize": "req_bytes",
}
_TRAEFIK_USED = frozenset((*_TRAEFIK_CANONICAL, "RequestPath", "StartUTC", "ClientHost", "ClientUsername"))


def is_traefik_access(obj: Any) -> bool:
    """True for a Traefik access-log record: it has ``RequestMethod`` and a start time or status."""
    return (type(obj) is dict and "RequestMethod" in obj
            and ("StartUTC" in obj or "StartLocal" in obj or "DownstreamStatus" in obj))


def parse_traefik(obj: Any) -> dict | Bad:
    """One decoded Traefik JSON access-log object -> a canonical event (without ``id``), or a ``Bad``.

    ``ts`` is ``StartUTC`` (else ``StartLocal``; else logrus's ``time``, when
    the line was written, minus ``Duration``); ``latency_ms`` is
    ``Duration`` (nanoseconds); ``src_ip`` ``ClientHost`` (the peer address:
    Traefik does not log the X-Forwarded-For client unless the header is
    kept); ``path``/``query`` from ``RequestPath``; ``request_<Header>``
    fields become ``headers`` (``REDACTED`` values are left out).  Every
    other field keeps its name under ``ev["traefik"]``.
    """
    if not is_traefik_access(obj):
        if type(obj) is not dict:
            return bad("not-access-record", f"traefik: a JSON {type(obj).__name__}, not an object",
                       excerpt_of(obj))
        return bad("not-access-record", f"traefik: not an access record (msg {str(obj.get('msg', '?'))[:80]!r})",
                   excerpt_of(obj))
    dur = obj.get("Duration")
    seconds = dur / 1e9 if type(dur) is int and dur >= 0 else None
    start = obj.get("StartUTC", obj.get("StartLocal"))
    if start is not None:
        ts = time_of(start)
    elif obj.get("time") is not None and seconds is not None:
        ts = time_of(obj["time"])
        if type(ts) is float:
            ts = max(0.0, round(ts - seconds, 6))
    else:
        return bad("no-time", "traefik: no StartUTC, StartLocal, nor time and Duration", excerpt_of(obj))
    if type(ts) is not float:
        return bad("bad-time", f"traefik: {ts}", excerpt_of(obj))
    if start is not None and seconds is not None and obj.get("DownstreamStatus") == 101:
        ts = round(ts + seconds, 6)  # an upgraded connection (WebSocket): an event at its close
    ev: dict[str, Any] = {"ts": ts}
    src = obj.get("ClientHost")
    if src is None and type(obj.get("ClientAddr")) is str:
        hp = split_host_port(obj["ClientAddr"])
        src = hp[0] if hp is not None else obj["ClientAddr"]
    if src not in (None, ""):
        ev["src_ip"] = src
    for k, name in _TRAEFIK_CANONICAL.items():
        if k in obj:
            ev[name] = obj[k]
    _target(ev, obj.get("RequestPath"))
    user = obj.get("ClientUsername")
    if user not in (None, "", "-"):
        ev["user"] = user
    if seconds is not None:
        ev["latency_ms"] = dur / 1e6
    headers: dict[str, Any] = {}
    traefik: dict[str, Any] = {}
    for k, v in obj.items():
        if k in _TRAEFIK_USED:
            continue
        if type(k) is str and k.startswith("request_"):
            if v != "REDACTED":
                headers[k[8:].lower()] = v
            continue
        traefik[k] = v
    if headers:
        ua = headers.get("user-agent")
        if ua is not None:
            ev["ua"] = ua
        ev["headers"] = headers
    if traefik:
        ev["traefik"] = traefik
    return ev


def parse_traefik_line(line: bytes | str) -> dict | Bad:
    """One line of a Traefik JSON access log -> event or ``Bad``."""
    obj = _decode(line, "traefik")
    return obj if type(obj) is Bad else parse_traefik(obj)


def _json_kind(obj: Mapping) -> str:
    """For sniffing: ``caddy``/``traefik`` access records, their other log records, or ``other``."""
    if is_caddy_access(obj):
        return "caddy"
    if is_traefik_access(obj):
        return "traefik"
    if type(obj) is dict:
        if "logger" in obj and "ts" in obj and "level" in obj and "msg" in obj:
            return "caddy-log"  # zap, as Caddy configures it
        if set(obj) <= {"level", "msg", "time", "error", "providerName", "entryPointName",
                        "routerName", "serviceName", "middlewareName", "middlewareType", "module",
                        "plugin", "config", "caller", "stack"} and "msg" in obj and "level" in obj:
            return "traefik-log"  # Traefik's own log records (logrus/zerolog)
    return "other"
