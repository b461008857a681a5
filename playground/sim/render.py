"""Rendering one request of the operation catalogue into a held-out world's event.

Part of ``sleuth simulate``. ``Visit.hit`` builds the event as the tuning world
would log it, then ``Renderer.render`` rewrites it in place: the world's method,
host and path (object ids in the path, formatted the world's way, in the query,
or in the body for an RPC API; the older generation of routes for the clients
that still call it), renamed query and body parameters, the world's answer
(401/403/400/422/200-with-error-envelope and an ``outcome`` field), its
fingerprint (JA3, JA4-shaped in ``ja3`` or its own ``ja4`` field, or none),
session and user fields, app user agents, referers and search terms. ``first_use`` runs when a visit sends a session for the first time:
the first request of a web visit may carry no cookie yet, and an OAuth world
emits the guest-token grant that starts the session. Measured: ~2 µs per event.
"""

from __future__ import annotations

import hashlib

from .benign import SCRIPTS
from .ops import CANON
from .world import BANK_APPS, BOT, DEVICES, SEARCH_TERMS
from .worlds import Conventions, WorldSpec, answer

# JA4_a (protocol, TLS version, SNI, cipher count, extension count, ALPN) per TLS stack family.
# Chromium builds share one JA4 whatever the OS (JA4 sorts the extensions Chrome shuffles).
_FAMILY = {
    "chromium-win": ("chromium", "t13d1516h2"),
    "chromium-mac": ("chromium", "t13d1516h2"),
    "chromium-android": ("chromium", "t13d1516h2"),
    "headless-chromium": ("headless-chromium", "t13d1515h2"),
    "safari-ios": ("safari", "t13d2014h2"),
    "safari-macos": ("safari", "t13d2014h2"),
    "ios-urlsession": ("urlsession", "t13d2013h2"),
    "firefox": ("firefox", "t13d1715h2"),
    "tor-browser": ("tor-browser", "t13d1714h2"),
    "okhttp4": ("okhttp", "t13d1613h2"),
    "golang-1.22": ("go", "t13d1312h2"),
    "python-requests": ("python-requests", "t13d4907h1"),
    "python-httpx": ("python-httpx", "t13d4907h2"),
    "curl-openssl3": ("curl", "t13d3112h1"),
    "nodejs-20": ("node", "t13d5212h1"),
    "python-twisted": ("twisted", "t12d4605h1"),
    "googlebot": ("googlebot", "t13d1516h2"),
    "uptime-go": ("uptime-go", "t13d1312h1"),
    "java-17": ("java", "t13d4312h1"),
}
_KNOWN = {d.ja3: d.stack for d in (*DEVICES, *BANK_APPS, *BOT.values())}
_KNOWN[hashlib.md5(b"tor-browser").hexdigest()] = "tor-browser"


def ja4_of(ja3: str) -> str:
    """A JA4-shaped fingerprint (``t13d1516h2_8daaf6152771_e5627efa2ab1``) for a simulated TLS stack.

    Known stacks get their family's JA4_a and hashes of the family name (so Chrome on every
    OS shares one value); any other client hello gets values derived from its JA3.
    """
    stack = _KNOWN.get(ja3)
    if stack in _FAMILY:
        family, head = _FAMILY[stack]
    else:
        family = ja3
        n = int(ja3[:4], 16)
        head = f"t13d{12 + n % 30:02d}{8 + (n >> 5) % 10:02d}{'h2' if n & 1 else 'h1'}"
    b = hashlib.sha256(f"ciphers:{family}".encode()).hexdigest()[:12]
    c = hashlib.sha256(f"extensions:{family}".encode()).hexdigest()[:12]
    return f"{head}_{b}_{c}"


class _Route:
    """One operation compiled for rendering."""

    __slots__ = ("fixed", "full", "host", "int_query", "method", "names", "obj", "obj_fmt", "obj_in",
                 "obj_param", "older", "post", "pre", "query_params", "rpc", "user_logged", "user_on_failure")

    def __init__(self, spec: WorldSpec, key: str, older: bool = False) -> None:
        op = spec.older[key] if older else spec.ops[key]
        self.older = older
        self.obj_in = op.obj_in
        self.user_on_failure = op.user_on_failure
        self.method = op.method
        self.host = op.host or spec.host
        base = "" if op.host and op.host != spec.host else spec.base
        self.full = base + op.path
        pre, _, rest = self.full.partition("{")
        self.pre, self.post = pre, rest.partition("}")[2]
        self.obj = op.obj
        self.obj_fmt = op.obj_fmt
        self.obj_param = op.obj_param
        self.query_params = op.query_params
        self.names = {**spec.names, **op.names}
        self.fixed = dict(op.fixed)
        self.rpc = spec.style == "rpc"
        self.user_logged = op.user_logged
        self.int_query = frozenset(p.name for p in CANON[key].params if p.where == "query" and p.type == "integer")


class Renderer:
    """Turns tuning-world events into one held-out world's events (see the module docstring)."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.canon = CANON
        self.legacy = spec.legacy
        self.ident = spec.identity
        self.conv: Conventions = spec.conventions
        self.routes = {key: _Route(spec, key) for key in spec.ops}
        # The older generation of routes, for the clients (user agents) that still call it.
        self.older = {key: _Route(spec, key, older=True) for key in spec.older}
        self.older_clients = tuple(spec.older_clients)
        self._older_ua: dict[str | None, bool] = {}
        self.older_unlogged = tuple(sorted(spec.older_unlogged))
        self.fp_field = spec.identity.fingerprint_field
        n = len(spec.search_terms)
        self.terms = {t: spec.search_terms[i % n] for i, t in enumerate(SEARCH_TERMS)} if n else None
        self._answers: dict[tuple[str, int], tuple[int, str | None]] = {}
        self._ja4: dict[str, str] = {}
        self.ua = {}
        for d in (*DEVICES, *BANK_APPS):
            for old, new in spec.apps:
                if d.ua.startswith(old):
                    self.ua[d.ua] = new + d.ua[len(old):]
        self.referers = spec.referers
        self.key_header = spec.key_header
        self.session_prefix = spec.identity.session_prefix
        self.api_prefix = spec.base + "/" if spec.base else "/"
        weights = spec.populace.scripts or tuple(w for _, w in SCRIPTS)
        self.script_cum = [sum(weights[: i + 1]) for i in range(len(weights))]

    # ------------------------------------------------------------ sessions

    def first_use(self, v, key: str) -> None:
        """A visit sends this session for the first time (called by ``Visit.hit``)."""
        v.seen = v.session
        ident = self.ident
        if ident.grants:
            if key not in ("login", "token", "refresh", "register"):
                v.hit("token", params={"grant_type": "client_credentials"})  # the guest token
        elif ident.first_without_session and v.c.web and v.rng.random() < ident.first_without_session:
            v.fresh = True  # the cookie is set by this request's response

    # -------------------------------------------------------------- events

    def answer(self, key: str, status: int, older: bool = False) -> tuple[int, str | None]:
        """Cached ``worlds.answer`` for an operation's catalogue status (on the older routes: their
        own conventions)."""
        k = (key, status, older)
        out = self._answers.get(k)
        if out is None:
            conv = (self.spec.older_conventions or self.conv) if older else self.conv
            out = self._answers[k] = answer(conv, key, status)
        return out

    def _calls_older(self, ua: str | None) -> bool:
        """Does a client with this user agent (as the tuning world writes it) still call the older routes?"""
        out = self._older_ua.get(ua)
        if out is None:
            out = self._older_ua[ua] = ua is not None and ua.startswith(self.older_clients)
        return out

    def render(self, v, key: str, obj: object, ev: dict) -> None:
        """Rewrite ``ev`` (built by ``Visit.hit`` for operation ``key``) into this world."""
        r = self.routes.get(key)
        conv = self.conv
        if self.older and key in self.older and self._calls_older(ev.get("ua")):
            r = self.older[key]
        if r is not None:
            ev["method"] = r.method
            ev["host"] = r.host
            names = r.names
            params = ev.pop("params", None)
            query = ev.pop("query", None)
            if self.terms is not None and query and "q" in query:
                query["q"] = self.terms.get(query["q"], query["q"])
            if params:
                if r.obj_param is not None and r.obj_param in params:
                    obj = params.pop(r.obj_param)
                for k in r.query_params:
                    if k in params and not r.rpc:
                        query = {**(query or {}), k: str(params.pop(k))}
                params = {names.get(k, k): val for k, val in params.items()}
            if r.rpc:
                if query:
                    params = params or {}
                    for k, val in query.items():
                        if k in r.int_query and type(val) is str and val.isdigit():
                            val = int(val)
                        params.setdefault(names.get(k, k), val)
                if obj is not None and r.obj is not None:
                    params = params or {}
                    params[r.obj] = obj
                ev["path"] = r.full
            else:
                if query:
                    ev["query"] = {names.get(k, k): val for k, val in query.items()}
                if obj is not None and r.obj is not None and r.obj_in == "query":
                    ev["query"] = {r.obj: r.obj_fmt.format(obj) if type(obj) is int else str(obj),
                                   **ev.get("query", {})}
                    ev["path"] = r.full
                elif obj is not None and r.obj is not None:
                    ev["path"] = f"{r.pre}{r.obj_fmt.format(obj) if type(obj) is int else obj}{r.post}"
                else:
                    ev["path"] = r.full
            if r.fixed:
                params = {**(params or {}), **r.fixed}
            if params:
                ev["params"] = params
            if not r.user_logged or (not r.user_on_failure and ev["status"] >= 400):
                ev.pop("user", None)
            status, outcome = self.answer(key, ev["status"], r.older)
        else:  # an undocumented endpoint: path and method are already this world's
            ev["host"] = self.spec.host
            status = ev["status"]
            outcome = None
            if conv.envelope and ev["path"].startswith(self.api_prefix):
                # the RPC dispatcher answers for anything under its prefix, in its envelope
                outcome = "ok" if status < 300 else conv.codes.get(("", status), "unknown_method")
                status = 200
        if status != ev["status"]:
            ev["status"] = status
        if outcome is not None:
            ev["outcome"] = outcome
            if outcome != "ok":
                ev["resp_bytes"] = 23 + len(outcome)  # {"ok":false,"error":"<code>"}
        ja3 = ev.get("ja3")
        if ja3 is not None:
            fp = self.ident.fingerprint
            if fp is None:
                del ev["ja3"]
            elif fp == "ja4":
                j = self._ja4.get(ja3)
                if j is None:
                    j = self._ja4[ja3] = ja4_of(ja3)
                if self.fp_field == "ja3":
                    ev["ja3"] = j
                else:
                    del ev["ja3"]
                    ev[self.fp_field] = j
        if r is not None and r.older:
            for f in self.older_unlogged:  # the older generation's origin does not log these
                ev.pop(f, None)
        if v.fresh:
            v.fresh = False
            ev.pop("session", None)
        s = ev.get("session")
        if s is not None:
            if self.ident.session == "none":
                del ev["session"]
            elif self.session_prefix != "s_":
                ev["session"] = self.session_prefix + s[2:]
        ua = ev.get("ua")
        if ua is not None and ua in self.ua:
            ev["ua"] = self.ua[ua]
        h = ev.get("headers")
        if h is not None:
            ref = h.get("referer")
            if ref is not None:
                for old, new in self.referers:
                    if ref.startswith(old):
                        h["referer"] = new + ref[len(old):]
                        break
            if "x-api-key-id" in h and self.key_header != "x-api-key-id":
                h[self.key_header] = h.pop("x-api-key-id")
        ev["_k"] = key
