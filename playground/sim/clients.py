"""Benign automated clients and offices of the held-out worlds, each recorded as a trap instance.

Part of ``sleuth simulate``. Real APIs carry machine traffic that looks like an
attack to a naive rule: uptime monitors probing from several locations, declared
crawlers, partner integrations polling with an API key, self-identified
bulk-download scripts (steady, one documented route), legitimate pollers with
periods from minutes to hours, apps refreshing in the background, offices behind
one NAT address. The dataclasses are what a world's ``Populace`` lists; the
drivers emit through ``Visit.hit`` like every other client, so the world's
renderer gives them its routes, identity fields and answers.
"""

from __future__ import annotations

import random

import attrs

from .benign import browse, client_for, login, script_account, script_orders, script_shop
from .traffic import Client, Visit, World, session_id
from .world import DEVICES, FIXED, LANG, PRODUCT_HI, PRODUCT_LO, Network, ja3_of


@attrs.frozen
class Monitor:
    """An uptime check: ``op`` every ``period_s`` from each of ``locations`` addresses."""

    name: str
    ua: str | None
    network: Network
    period_s: float
    locations: int = 1
    op: str = "health"
    jitter_ms: int = 0  # 0: exact period (a scheduler); >0: uniform jitter per check


@attrs.frozen
class Crawler:
    """A declared search-engine crawler on the catalogue (published ranges, documented UA)."""

    name: str
    ua: str
    network: Network
    pace_s: float  # mean seconds between pages (±20 %)
    ips: int = 4
    share: float = 0.6  # share of the span it crawls
    sender: str = ""  # the ``from`` header it sends


@attrs.frozen
class Partner:
    """A partner integration polling ``items`` objects of ``op`` every ``period_s`` with an API key."""

    name: str
    ua: str
    network: Network
    key: str
    period_s: float
    items: int = 25
    op: str = "price"
    ips: int = 2


@attrs.frozen
class Bulk:
    """A bulk-download script: pages of the documented feed route, one after the other, steadily."""

    name: str
    ua: str
    network: Network
    key: str
    pace_s: float  # seconds between pages (±8 %)
    minutes: float  # how long a download runs
    runs: int = 1  # downloads per 6 simulated hours (at least one)
    op: str = "feed"  # the documented route it pages through ("feed", or a listing such as "products")


@attrs.frozen
class Poller:
    """A legitimate long-period poller: ``op`` every ``period_min`` minutes (± ``jitter_s``)."""

    name: str
    ua: str
    network: Network
    period_min: float
    op: str = "products"
    calls: int = 1  # requests per poll
    jitter_s: float = 2.0
    key: str = ""


@attrs.frozen
class Refresh:
    """Native apps working in the background: ``kind`` is ``token`` (OAuth refresh every
    ~``period_min``), ``orders`` (order status every ~``period_min``) or ``tracking`` (an active
    delivery polled every ``period_min`` minutes, i.e. seconds, for 15-35 minutes)."""

    kind: str
    devices: int  # devices at scale 1
    period_min: float


@attrs.frozen
class Site:
    """An office whose employees shop from work behind one egress address."""

    name: str
    network: Network
    per_hour: float  # employee sessions an hour (scale 1)
    hours: tuple[int, int]  # office hours, UTC
    country: str
    xff: str = "10.20"  # internal address prefix the proxy adds in x-forwarded-for


# ------------------------------------------------------------------- drivers


def monitor(w: World, rng: random.Random, m: Monitor) -> None:
    """``m.op`` every ``m.period_s`` from each location, sessionless, always 200."""
    trap = w.trap("uptime-monitor", f"{m.name}: {m.op} every {m.period_s:g} s from {m.locations} "
                  f"location(s) on AS{m.network.asn} (machine-regular, one route, hosting network).")
    period = int(m.period_s * 1000)
    ips = sorted({m.network.random_ip(rng) for _ in range(m.locations * 3)})[: m.locations]
    for ip in ips:
        c = Client(ip, m.network.asn, m.network.country, m.ua, _tls(m.ua), None, False)
        v = Visit(w, rng, 0, c, tags=(trap.events,))
        t = w.start + rng.randrange(period)
        while t < w.end:
            v.t = t + (rng.randint(-m.jitter_ms, m.jitter_ms) if m.jitter_ms else 0)
            v.hit(m.op, lat=1.0 + rng.random() * 3)
            t += period


def crawler(w: World, rng: random.Random, cr: Crawler) -> None:
    """Product pages at a steady, jittered pace from the crawler's published range."""
    trap = w.trap("search-crawler", f"{cr.name} (declared UA, published {', '.join(cr.network.prefixes)}): "
                  "many distinct product pages at a regular pace, no login, no cart.")
    ips = sorted({cr.network.random_ip(rng) for _ in range(cr.ips)})
    span = w.end - w.start
    t = w.start + int(rng.uniform(0.02, 0.2) * span)
    stop = min(t + int(cr.share * span), w.end)
    products = list(w.cat.products)
    rng.shuffle(products)
    headers = {"from": cr.sender} if cr.sender else None
    for i, p in enumerate(products):
        if t >= stop:
            break
        c = Client(ips[i % len(ips)], cr.network.asn, cr.network.country, cr.ua, _tls(cr.ua), None, False)
        v = Visit(w, rng, t, c, tags=(trap.events,))
        if i % 40 == 0:
            v.hit("categories", headers=headers)
        if rng.random() < 0.04:
            p = rng.randint(PRODUCT_LO, PRODUCT_HI)
        v.hit("product", status=200 if p in w.cat.product_set else 404, obj=p, headers=headers)
        t += int(cr.pace_s * 1000 * rng.uniform(0.8, 1.2))


def partner(w: World, rng: random.Random, p: Partner) -> None:
    """The same ``p.items`` objects polled every period with the partner's API key."""
    trap = w.trap("partner-poller", f"{p.name}: API key {p.key}, polls {p.items} {p.op} requests every "
                  f"{p.period_s:g} s from AS{p.network.asn} (regular, hosting network).")
    ips = sorted({p.network.random_ip(rng) for _ in range(p.ips)})
    watch = sorted(rng.sample(w.cat.products[:400], p.items))
    period = int(p.period_s * 1000)
    t = w.start + rng.randrange(period)
    n = 0
    headers = {"x-api-key-id": p.key}
    while t < w.end:
        c = Client(ips[n % len(ips)], p.network.asn, p.network.country, p.ua, _tls(p.ua), None, False)
        v = Visit(w, rng, t + rng.randrange(300), c, tags=(trap.events,), gap=(40, 80))
        for obj in watch:
            if p.op == "products":
                v.hit("products", query={"category": str(w.cat.product_cat[obj]), "page": "1", "page_size": "100"},
                      params={"page_size": 100}, headers=headers)
            else:
                v.hit(p.op, obj=obj, headers=headers)
        t += period
        n += 1


def bulk(w: World, rng: random.Random, b: Bulk) -> None:
    """Feed pages in order at a steady pace; the run stops at the last page or the time budget."""
    span = w.end - w.start
    runs = max(1, round(b.runs * span / 21_600_000))
    ip = b.network.random_ip(rng)
    headers = {"x-api-key-id": b.key} if b.key else None
    pages = max(1, len(w.cat.products) // 5)  # 100 rows a page: products x variants x stores
    for _ in range(runs):
        trap = w.trap("bulk-download", f"{b.name}: downloads the catalogue feed page by page every "
                      f"{b.pace_s:g} s for up to {b.minutes:g} min (UA {b.ua!r}, one documented route, "
                      f"AS{b.network.asn}).")
        dur = int(min(b.minutes * 60_000, 0.7 * span))
        t = w.start + int(rng.uniform(0.02, 0.95) * (span - dur))
        stop = t + dur
        c = Client(ip, b.network.asn, b.network.country, b.ua, _tls(b.ua), None, False)
        v = Visit(w, rng, t, c, tags=(trap.events,))
        page, due = 1, t
        while v.t < stop and page <= pages:
            if b.op == "feed":
                v.hit("feed", query={"page": str(page), "page_size": "100"}, params={"page_size": 100},
                      headers=headers, lat=rng.uniform(250, 600), resp=rng.randint(150_000, 210_000))
            else:
                v.hit(b.op, query={"page": str(page), "page_size": "100"}, params={"page_size": 100},
                      headers=headers)
            page += 1
            due += int(b.pace_s * 1000 * rng.uniform(0.92, 1.08))  # a scheduler's pace, not response-driven
            v.t = max(v.t, due)


def poller(w: World, rng: random.Random, p: Poller) -> None:
    """One poll every ``period_min`` minutes, all day: a feed reader, an ERP sync, a status page."""
    trap = w.trap("long-poller", f"{p.name}: {p.op} every {p.period_min:g} min (± {p.jitter_s:g} s) from "
                  f"AS{p.network.asn}, UA {p.ua!r}: a legitimate long-period poller.")
    c = Client(p.network.random_ip(rng), p.network.asn, p.network.country, p.ua, _tls(p.ua), None, False)
    period = int(p.period_min * 60_000)
    t = w.start + rng.randrange(period)
    headers = {"x-api-key-id": p.key} if p.key else None
    while t < w.end:
        v = Visit(w, rng, t + int(rng.uniform(-p.jitter_s, p.jitter_s) * 1000), c, tags=(trap.events,))
        for k in range(p.calls):
            if p.op == "products":
                v.hit("products", query={"sort": "newest", "page": str(k + 1), "page_size": "50"},
                      params={"page_size": 50}, headers=headers)
            else:
                v.hit(p.op, query={"page": str(k + 1), "page_size": "100"} if p.op == "feed" else None,
                      params={"page_size": 100} if p.op == "feed" else None, headers=headers)
        t += period


def refresh(w: World, rng: random.Random, r: Refresh, scale: float) -> None:
    """Apps in the background: thousands of devices, each on its own slow, jittered timer."""
    trap = w.trap("app-refresh", {
        "token": f"App token refresh: every ~{r.period_min:g} min per signed-in device, from home and "
                 "carrier networks (a legitimate long-period poller, thousands of times over).",
        "orders": f"App order-status refresh: every ~{r.period_min:g} min per device with an open order "
                  "(background fetch), many devices behind carrier CGNAT.",
        "tracking": f"Delivery tracking: the app polls an active order every {r.period_min * 60:g} s for "
                    "15-35 minutes (short-period, regular, CGNAT-heavy, legitimate).",
    }[r.kind])
    users = [u for u in w.pop.users if any(d.kind == "app" for d in u.devices)]
    if not users:
        return
    n = max(3, int(r.devices * max(scale, 0.05)))
    span = w.end - w.start
    period = r.period_min * 60_000
    for _ in range(n):
        u = users[rng.randrange(len(users))]
        d = next(x for x in u.devices if x.kind == "app")
        c = client_for(w, rng, u, d)
        v = Visit(w, rng, 0, c, session_id(rng), u.name, tags=(trap.events,))
        if r.kind == "tracking":
            oid = w.new_order(u)
            t = w.start + int(rng.random() * span)
            stop = t + int(rng.uniform(15, 35) * 60_000)
            while t < min(stop, w.end):
                v.t = t
                v.hit("order", obj=oid)
                t += int(period * rng.uniform(0.97, 1.03))
            continue
        t = w.start + int(rng.random() * period)
        while t < w.end:
            v.t = t
            if r.kind == "token":
                v.hit("refresh", params={"grant_type": "refresh_token"})
            else:
                v.hit("orders")
                if u.orders and rng.random() < 0.5:
                    v.hit("order", obj=u.orders[-1])
            if c.pool and rng.random() < 0.3:
                v.c = c = c.moved(rng.choice(c.pool))
            t += int(period * rng.uniform(0.9, 1.1))


def office(w: World, rng: random.Random, site: Site, scale: float) -> None:
    """Employees of one company shopping from the office: hundreds of users, one address."""
    homes = [u for u in w.pop.users if u.country == site.country and u.home in FIXED and not u.corporate]
    staff = rng.sample(homes, min(300, len(homes)))
    if not staff:
        return
    for u in staff:
        u.corporate = True
    trap = w.trap("corporate-nat", f"{site.name}: hundreds of employees behind one egress address "
                  f"(AS{site.network.asn}), one standard browser build, mostly successful logins.")
    ip = site.network.random_ip(rng)
    image = [d for d in DEVICES if "Edg/131" in d.ua or ("Chrome/131" in d.ua and "Windows" in d.ua)]
    per_hour = site.per_hour * max(scale, 0.8)
    lo, hi = site.hours
    t = w.start - 12 * 60_000
    while True:
        t += 1 + int(rng.expovariate(per_hour / 3_600_000))
        if t >= w.end:
            break
        hour = (t % 86_400_000) // 3_600_000
        inside = lo <= hour < hi if lo < hi else (hour >= lo or hour < hi)
        if not inside and rng.random() > 0.05:
            continue
        u = staff[rng.randrange(len(staff))]
        d = image[0] if rng.random() < 0.7 else image[-1]
        c = Client(ip, site.network.asn, site.network.country, d.ua, d.ja3, LANG.get(site.country), True,
                   f"{site.xff}.{u.idx % 250}.{(u.idx // 250) % 250 + 2}")
        v = Visit(w, rng, t, c, session_id(rng), tags=(trap.events,))
        r = rng.random()
        if r < 0.5:
            script_shop(v, u)
        elif r < 0.75:
            script_orders(v, u)
        elif r < 0.95:
            browse(v, u, rng.randint(1, 5))
            login(v, u)
            v.think()
            v.hit("account")
        else:
            script_account(v, u)


def _tls(ua: str | None) -> str | None:
    """A stable synthetic JA3 for a scripted client's TLS stack (from its UA's product token)."""
    if ua is None:
        return None
    return ja3_of("client:" + ua.split("/")[0].split(" ")[0])


