"""Canonical events from HTTP request metadata: what a gateway forwards, or an ASGI scope.

Stage: before the engine, in `sleuth serve` (nginx `auth_request`, Envoy
`ext_authz`) and the ASGI middleware. The client address is the peer unless
the peer is a trusted proxy; then Envoy's `X-Envoy-External-Address`, else
`X-Forwarded-For` read right to left, the first address that is not a trusted
proxy being the client (entries a client wrote itself, on the left, are never
believed), else `X-Real-IP`. No HTTP is
parsed here: the ASGI server (uvicorn) did that; headers arrive as byte pairs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sleuth.engine.ingest.normalize import parse_query

# Credentials never enter events (they would land in provenance and match files).
SECRET_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", "set-cookie"})
# Headers that carry the forwarded request itself, not the client's headers.
_FORWARDING = frozenset({"x-original-uri", "x-original-method", "x-original-url"})
MAX_HEADERS = 64
MAX_ID = 128
DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128")


class RequestMapper:
    """Build canonical events (docs/input.md) from request metadata.

    `trusted_proxies`: CIDRs of proxies whose forwarding headers are
    believed. `session_cookie`: the cookie holding the session id (its
    value becomes `session`). `fields`: canonical field -> request header
    (e.g. `{"user": "x-user", "ja3": "x-ja3"}`) for what an upstream
    authenticator or TLS terminator forwards. `request_id_header`: the
    header whose value becomes the event `id` (gateways' request ids link
    matches to their access logs).
    """

    def __init__(self, *, trusted_proxies: Iterable[str] = DEFAULT_TRUSTED, session_cookie: str | None = None,
                 fields: dict[str, str] | None = None, request_id_header: str = "x-request-id"):
        self.trusted = tuple(ipaddress.ip_network(c.strip(), strict=False) for c in trusted_proxies)
        self.session_cookie = session_cookie
        self.fields = {k: v.lower() for k, v in (fields or {}).items()}
        self.request_id_header = request_id_header.lower()
        self._trust_cache: dict[str, bool] = {}

    # ------------------------------------------------------------ addresses
    def is_trusted(self, addr: str) -> bool:
        t = self._trust_cache.get(addr)
        if t is None:
            try:
                ip = ipaddress.ip_address(addr)
                t = any(ip in net for net in self.trusted)
            except ValueError:
                t = False
            if len(self._trust_cache) >= 4096:
                self._trust_cache.clear()
            self._trust_cache[addr] = t
        return t

    def client_address(self, peer: str | None, xff: str | None, real_ip: str | None) -> str | None:
        """The client's address: the peer, or what trusted proxies say it is."""
        if peer is None or not self.is_trusted(peer):
            return peer
        if xff:
            hops = [h.strip() for h in xff.split(",") if h.strip()]
            last_trusted = peer
            for hop in reversed(hops):
                if hop.startswith("[") and "]" in hop:       # [v6]:port
                    hop = hop[1:hop.index("]")]
                elif hop.count(":") == 1:                     # v4:port
                    hop = hop.split(":")[0]
                if not _is_ip(hop):
                    return last_trusted     # garbage from the client's side: the last address we trust
                if not self.is_trusted(hop):
                    return hop
                last_trusted = hop
            return last_trusted
        if real_ip and _is_ip(real_ip.strip()):
            return real_ip.strip()
        return peer

    # ------------------------------------------------------------ events
    def event(self, headers: list[tuple[bytes, bytes]], *, peer: str | None, method: str, target: str,
              original: bool) -> dict:
        """The event of one request; `original`: read `X-Original-URI/Method` (nginx auth_request)."""
        h: dict[str, str] = {}
        for k, v in headers:
            name = k.decode("latin-1").lower()
            val = v.decode("latin-1")
            if name in h:
                h[name] = h[name] + ("; " if name == "cookie" else ", ") + val
            else:
                h[name] = val
        if original:
            method = h.get("x-original-method") or method
            target = h.get("x-original-uri") or h.get("x-original-url") or target
        path, _, query = target.partition("?")
        ev: dict = {"method": method.upper()[:32], "path": path}
        if query:
            q = parse_query(query)
            if q:
                ev["query"] = q
        ip = None
        ext = h.get("x-envoy-external-address")
        if ext and peer is not None and self.is_trusted(peer) and _is_ip(ext.strip()):
            ip = ext.strip()       # Envoy's own view of the client (it strips x-envoy-* from outside)
        if ip is None:
            ip = self.client_address(peer, h.get("x-forwarded-for"), h.get("x-real-ip"))
        if ip is not None:
            ev["src_ip"] = ip
        host = h.get("x-forwarded-host") or h.get("host")
        if host:
            ev["host"] = host
        ua = h.get("user-agent")
        if ua is not None:
            ev["ua"] = ua
        rid = h.get(self.request_id_header)
        if rid and len(rid) <= MAX_ID and rid.isprintable():
            ev["id"] = rid
        if self.session_cookie and "cookie" in h:
            s = cookie_value(h["cookie"], self.session_cookie)
            if s:
                ev["session"] = s
        for canon, header in self.fields.items():
            v = h.get(header)
            if v:
                ev[canon] = v
        kept = {}
        for name, val in h.items():
            if name in SECRET_HEADERS or name in _FORWARDING:
                continue
            if len(kept) >= MAX_HEADERS:
                break
            kept[name] = val
        if kept:
            ev["headers"] = kept
        return ev

    def from_scope(self, scope: dict) -> dict:
        """The event of an ASGI HTTP request (the ASGI middleware)."""
        client = scope.get("client")
        target = scope.get("raw_path") or scope.get("path", "/").encode("utf-8", "surrogateescape")
        if isinstance(target, bytes):
            target = target.decode("latin-1")
        qs = scope.get("query_string") or b""
        if qs:
            target = f"{target}?{qs.decode('latin-1')}"
        return self.event(scope.get("headers") or [], peer=client[0] if client else None,
                          method=scope.get("method", "GET"), target=target, original=False)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie `name` in a Cookie header (`a=1; b=2`), quotes removed; None when absent."""
    for part in header.split(";"):
        k, sep, v = part.strip().partition("=")
        if sep and k == name:
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1]
            return v or None
    return None
