"""Event emission for ``sleuth simulate``: clients, visits and the shared world state.

Every generator (benign sessions, traps, attacks) emits through ``Visit.hit``, which
looks the route up in ``spec.ROUTES``, answers with sizes and a latency typical of
that route and status, and appends the event to the run's list (and to the label
or trap instance it belongs to). Events carry ``ts`` as epoch ms until
``simulation.finish`` formats them; ids are assigned there, in event-time order.
Measured: ~4 µs per ``hit`` on this machine, the bulk of generation time.
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Any

import attrs

from .spec import ROUTES
from .world import SHOP, Catalogue, Limiter, Population, User

# Standard-normal quantiles: ``_Z[int(random() * n)]`` is a normal draw at a tenth of
# the cost of ``random.gauss`` (tails cut at ~3.8 sigma, irrelevant for think times).
_NZ = 8192
_Z = tuple(NormalDist().inv_cdf((i + 0.5) / _NZ) for i in range(_NZ))
_exp = math.exp

_ERR_BYTES = {400: 140, 401: 70, 402: 110, 403: 60, 404: 52, 409: 90, 429: 44, 500: 80, 503: 60, 504: 0}


@attrs.define(slots=True)
class Client:
    """What the API sees of a requester on the wire: address, network and fingerprint."""

    ip: str
    asn: int
    country: str
    ua: str | None  # None: no User-Agent header at all
    ja3: str | None  # None: plain HTTP, no TLS client hello
    lang: str | None = None  # accept-language; None for clients that send none
    web: bool = True  # browser SPA (sends referer) vs. native app / script
    xff: str | None = None  # x-forwarded-for added by a proxy in front of the client
    pool: list[str] | None = None  # CGNAT pool the address may hop within

    def moved(self, ip: str) -> Client:
        """The same device seen from another address of the same network."""
        return attrs.evolve(self, ip=ip)


@attrs.define(slots=True)
class Instance:
    """One labelled attack instance or benign trap, filled while generating."""

    kind: str  # attack generator name or trap kind
    description: str
    ttp: str | None = None  # None for traps
    goal: str | None = None
    difficulty: str | None = None
    also: tuple[str, ...] = ()
    campaign: Instance | None = None
    events: list[dict] = attrs.field(factory=list)
    ident: str = ""  # assigned at finish time


@attrs.define(slots=True)
class World:
    """Shared state of one run: population, time span, events and labels so far."""

    pop: Population
    start: int
    end: int
    scale: float = 1.0
    events: list[dict] = attrs.field(factory=list)
    labels: list[Instance] = attrs.field(factory=list)
    traps: list[Instance] = attrs.field(factory=list)
    first_login: dict[int, tuple[int, Client]] = attrs.field(factory=dict)
    flash: tuple[int, int] = (0, 0)
    sale_products: tuple[int, ...] = ()
    sold_out: dict[int, int] = attrs.field(factory=dict)
    flash_stats: dict = attrs.field(factory=dict)
    redeemed: set[str] = attrs.field(factory=set)  # membership only: never iterated
    login_limit: Limiter = attrs.field(factory=lambda: Limiter(30, 60_000))
    code_limit: Limiter = attrs.field(factory=lambda: Limiter(20, 60_000))
    otp_limit: Limiter = attrs.field(factory=lambda: Limiter(5, 300_000))
    export_limit: Limiter = attrs.field(factory=lambda: Limiter(6, 120_000))
    exists_limit: Limiter = attrs.field(factory=lambda: Limiter(120, 60_000))
    fx: Any = None  # the world's renderer (``render.Renderer``); None: the tuning world, as generated
    shadow: tuple = ()  # undocumented endpoints this API really answers (``attack.Shadow``)
    # The tuning world's sessionless starts (held-out worlds: their renderer's ``Identity``): the share
    # of web visits whose first request goes out before the cookie is set, and of app sessions that
    # start cold with ``app_launch`` sessionless calls.
    fresh_share: float = 0.0
    app_launch: int = 0
    cold_start: float = 0.0

    @property
    def cat(self) -> Catalogue:
        return self.pop.catalogue

    def label(self, kind: str, ttp: str, goal: str, difficulty: str, description: str,
              also: tuple[str, ...] = (), campaign: Instance | None = None) -> Instance:
        inst = Instance(kind, description, ttp, goal, difficulty, also, campaign)
        self.labels.append(inst)
        return inst

    def trap(self, kind: str, description: str) -> Instance:
        inst = Instance(kind, description)
        self.traps.append(inst)
        return inst

    # ------------------------------------------------------------ app answers

    def login_status(self, name: str, correct: bool) -> int:
        return 200 if correct and name in self.pop.by_name else 401

    def order_status(self, order: int, user: User | None) -> int:
        owner = self.cat.order_owner.get(order)
        if owner is None:
            return 404
        return 200 if user is not None and owner == user.idx else 403

    def redeem(self, code: str) -> int:
        """Gift-card redemption: 200 once per valid code, then 409; unknown codes 404."""
        if code not in self.cat.giftcards:
            return 404
        if code in self.redeemed:
            return 409
        self.redeemed.add(code)
        return 200

    def new_order(self, user: User) -> int:
        cat = self.cat
        oid = cat.next_order
        cat.next_order += 1
        cat.order_owner[oid] = user.idx
        user.orders.append(oid)
        return oid

    def new_transfer(self) -> int:
        self.cat.next_transfer += 1 + (self.cat.next_transfer % 3)
        return self.cat.next_transfer


def session_id(rng: random.Random) -> str:
    """An opaque session token hash as the API logs it."""
    return f"s_{rng.getrandbits(80):020x}"


def share_of(session: str) -> float:
    """A uniform number in [0, 1) read from a session id's last 8 hex digits (a draw that costs no
    random stream)."""
    try:
        return int(session[-8:], 16) / 4_294_967_296
    except ValueError:
        return 0.0


@attrs.define(slots=True)
class Visit:
    """One actor's cursor through time: a browser session, a bot loop, a poller.

    ``hit`` emits one request at the cursor and moves it past the response;
    ``think`` adds human (log-normal) think time.
    """

    w: World
    rng: random.Random
    t: int
    c: Client
    session: str | None = None
    user: str | None = None
    host: str = SHOP
    tags: tuple[list, ...] = ()
    referer: str | None = None
    hop: float = 0.0  # chance per think step that a CGNAT client changes address
    gap: tuple[int, int] = (8, 90)  # client-side ms between a response and the next request
    seen: str | None = None  # the session value already sent once (held-out worlds' renderers)
    fresh: bool = False  # the next event goes out before the session cookie is set

    def hit(self, key: str, path: str | None = None, status: int = 200, *, obj: object = None,
            query: dict | None = None, params: dict | None = None, headers: dict | None = None,
            user: str | None = None, host: str | None = None, method: str | None = None,
            lat: float | None = None, resp: int | None = None) -> dict:
        """Emit one request of operation ``key`` on object ``obj`` (or a raw ``path`` when ``key`` is
        no operation: shadow endpoints, probes); ``status`` is in the operation catalogue's terms
        and the world's renderer turns it into its own convention."""
        fx = self.w.fx
        if self.session is not None and self.session != self.seen:
            if fx is not None:
                fx.first_use(self, key)
            elif self.w.fresh_share:
                self.seen = self.session
                # Decided from the session id, not the visit's random stream (which stays as it was).
                self.fresh = self.c.web and share_of(self.session) < self.w.fresh_share
        rand = self.rng.random
        r = ROUTES.get(key) if fx is None else fx.canon.get(key)
        if r is not None:
            if path is None:
                path = r.template if obj is None else r.fill(obj)
            method = method or r.method
            host = host or (r.host if r.host != SHOP else self.host)
            base_lat, base_resp, req = r.lat, r.resp, r.req
        else:
            host = host or self.host
            base_lat, base_resp, req = 60.0, 800, 0
        if lat is None:
            if status == 429:
                lat = 1.0 + rand() * 3
            elif status in (404, 403):
                lat = base_lat * 0.5 * _exp(0.35 * _Z[int(rand() * _NZ)])
            else:
                lat = base_lat * _exp(0.4 * _Z[int(rand() * _NZ)])
        if resp is None:
            if status < 300:
                resp = 0 if status == 204 else int(base_resp * (0.75 + 0.5 * rand()))
            else:
                resp = _ERR_BYTES.get(status, 64) + int(rand() * 12)
        c = self.c
        ev = {
            "ts": self.t,
            "src_ip": c.ip,
            "asn": c.asn,
            "country": c.country,
            "method": method,
            "host": host,
            "path": path,
            "status": status,
            "ua": c.ua,
            "ja3": c.ja3,
            "req_bytes": req + int(rand() * 24) if req else 0,
            "resp_bytes": resp,
            "latency_ms": round(lat, 1),
        }
        u = user or self.user
        if u is not None:
            ev["user"] = u
        if self.session is not None:
            ev["session"] = self.session
        if query:
            ev["query"] = query
        if params:
            ev["params"] = params
        h = {}
        if c.lang is not None:
            h["accept-language"] = c.lang
        if c.web and self.referer is not None:
            h["referer"] = self.referer
        if c.xff is not None:
            h["x-forwarded-for"] = c.xff
        if headers:
            h.update(headers)
        if h:
            ev["headers"] = h
        if c.ua is None or c.ja3 is None:  # no User-Agent header; plain HTTP (no TLS hello)
            if c.ua is None:
                del ev["ua"]
            if c.ja3 is None:
                del ev["ja3"]
        if fx is not None:
            fx.render(self, key, obj, ev)
        elif self.fresh:  # the response to this request sets the cookie
            self.fresh = False
            ev.pop("session", None)
        self.w.events.append(ev)
        for tag in self.tags:
            tag.append(ev)
        lo, hi = self.gap
        self.t += int(lat) + lo + int(rand() * (hi - lo + 1))
        return ev

    def think(self, median_s: float = 6.0, sigma: float = 1.0) -> None:
        """Human think time: log-normal, clipped to [0.6 s, 10 min]."""
        s = median_s * _exp(sigma * _Z[int(self.rng.random() * _NZ)])
        self.t += int(1000 * min(600.0, max(0.6, s)))
        if self.hop and self.c.pool and self.rng.random() < self.hop:
            # CGNAT re-mapping or a cell handover: same device, new public address.
            self.c = self.c.moved(self.rng.choice(self.c.pool))

    def wait(self, ms: float) -> None:
        self.t += int(ms)
