"""Benign traffic for ``sleuth simulate``: shoppers, bank customers and the traps.

Sessions arrive as a non-homogeneous Poisson process (thinning) whose rate follows
a daily cycle and a holiday surge; each session is a short script (browse, shop,
orders, bank, account change, forgotten password, sign-up) with log-normal think
times. On top come the false-positive traps, each recorded as a trap instance:
corporate NAT, mobile CGNAT, an uptime monitor, Googlebot, a price partner, a
traveller, support agents and the flash sale (~5× product/cart/checkout traffic).
"""

from __future__ import annotations

import calendar
import random
import time

from .traffic import Client, Visit, World, session_id, share_of
from .world import (
    BANK,
    BANK_APPS,
    BOT,
    CATEGORIES,
    CORPORATE,
    DEVICES,
    FIXED,
    GOOGLEBOT,
    HOSTING,
    HOTEL,
    LANG,
    PRODUCT_HI,
    PRODUCT_LO,
    SEARCH_TERMS,
    SUPPORT_OFFICE,
    VALID_COUPONS,
    Device,
    User,
    day_start_ms,
    pick,
)

PEAK_EPS = 20.0
"""Benign events per second at the daily peak of an ordinary day, at scale 1."""
EVENTS_PER_SESSION = 13.0
"""Measured mean events per baseline session; converts the event rate to sessions."""
WARMUP_MS = 12 * 60_000  # start sessions before the span so it opens in steady state

# Relative activity per UTC hour: European evening and US evening peaks, 05:00 trough.
_DAILY = (0.85, 0.8, 0.65, 0.5, 0.38, 0.3, 0.32, 0.42, 0.55, 0.65, 0.7, 0.74,
          0.78, 0.82, 0.86, 0.9, 0.92, 0.95, 0.98, 1.0, 1.0, 0.97, 0.93, 0.9)

HOME = "https://shop.example/"
CART = "https://shop.example/cart"
CHECKOUT = "https://shop.example/checkout"
ACCOUNT = "https://shop.example/account"
BANK_HOME = "https://bank.example/app"
SALE_PAGE = "https://shop.example/flash-sale"


def daily(ms: int) -> float:
    """Relative activity (0–1) at this time of day, linearly interpolated per hour."""
    h = (ms % 86_400_000) / 3_600_000
    i = int(h)
    f = h - i
    return _DAILY[i] * (1 - f) + _DAILY[(i + 1) % 24] * f


def surge(ms: int) -> float:
    """Holiday multiplier around Black Friday (the Friday after the 4th Thursday of November)."""
    year = time.gmtime(ms // 1000).tm_year
    nov1 = calendar.timegm((year, 11, 1, 0, 0, 0)) * 1000
    first_thu = (3 - time.gmtime(nov1 // 1000).tm_wday) % 7
    black_friday = nov1 + (first_thu + 22) * 86_400_000
    day = (day_start_ms(ms) - black_friday) // 86_400_000
    if day == 0:
        return 1.25
    if day in (1, 2):
        return 1.15  # the weekend
    if day == 3:
        return 1.2  # Cyber Monday
    if -7 <= day <= 26:
        return 1.08  # the holiday season
    return 1.0


def event_rate(ms: int, scale: float, peak: float = PEAK_EPS) -> float:
    """Expected benign events per second at ``ms`` (``peak``: events/s at the daily peak, scale 1)."""
    return peak * scale * daily(ms) * surge(ms)


# --------------------------------------------------------------------- building blocks


def client_for(w: World, rng: random.Random, u: User, device: Device | None = None) -> Client:
    """The client of one of ``u``'s sessions: one of their devices on their home network."""
    if device is None:
        device = u.devices[0] if len(u.devices) == 1 or rng.random() < 0.65 else u.devices[1]
    lang = LANG.get(u.country, "en-US,en;q=0.9")
    if u.home.kind == "mobile":
        pool = w.pop.pools[u.home.asn]
        return Client(rng.choice(pool), u.home.asn, u.country, device.ua, device.ja3, lang,
                      device.kind != "app", None, pool)
    return Client(u.home_ip, u.home.asn, u.country, device.ua, device.ja3, lang, device.kind != "app")


def any_product(w: World, rng: random.Random) -> int:
    cat = w.cat
    if rng.random() < 0.02:  # stale link to a delisted product
        return rng.randint(PRODUCT_LO, PRODUCT_HI)
    return pick(rng, cat.products, cat.product_cum)


def view_product(v: Visit, p: int) -> bool:
    """A product page: detail, then the price/stock sub-request."""
    v.referer = f"https://shop.example/p/{p}"
    if p not in v.w.cat.product_set:
        v.hit("product", status=404, obj=p)
        return False
    v.hit("product", obj=p)
    v.hit("price", obj=p)
    return True


def search(v: Visit) -> None:
    q = v.rng.choice(SEARCH_TERMS)
    v.referer = HOME
    v.hit("search", query={"q": q})
    if v.rng.random() < 0.25:
        v.think(4, 0.6)
        v.hit("search", query={"q": q, "page": "2"})


def list_products(v: Visit, category: int) -> None:
    v.referer = f"https://shop.example/c/{category}"
    page = 1 if v.rng.random() < 0.8 else v.rng.randint(2, 5)
    v.hit("products", query={"category": str(category), "page": str(page), "page_size": "24"},
          params={"page_size": 24})


def login(v: Visit, u: User, typos: bool = True, host: str | None = None) -> None:
    """Log in, with the occasional typo (1–3 failures, then success)."""
    rng = v.rng
    fails = 0
    if typos and rng.random() < 0.08:
        r = rng.random()
        fails = 1 if r < 0.7 else 2 if r < 0.92 else 3
    for _ in range(fails):
        v.hit("login", status=401, user=u.name, host=host)
        v.think(5, 0.5)
    v.hit("login", user=u.name, host=host)
    v.user = u.name
    seen = v.w.first_login.get(u.idx)
    if seen is None or v.t < seen[0]:
        v.w.first_login[u.idx] = (v.t, v.c)


def browse(v: Visit, u: User, n: int) -> list[int]:
    """Anonymous or logged-in catalogue browsing; returns the products seen."""
    rng, w = v.rng, v.w
    viewed: list[int] = []
    r = rng.random()
    if r < 0.3:
        v.referer = HOME
        v.hit("categories")
        v.think(3)
        list_products(v, rng.randint(1, CATEGORIES))
        v.think()
    elif r < 0.6:
        search(v)
        v.think()
    for _ in range(n):
        r = rng.random()
        if r < 0.64:
            p = any_product(w, rng)
            if view_product(v, p):
                viewed.append(p)
        elif r < 0.82:
            search(v)
        elif r < 0.95:
            cat = w.cat.product_cat.get(viewed[-1]) if viewed else None
            list_products(v, cat or rng.randint(1, CATEGORIES))
        else:
            v.referer = HOME
            v.hit("categories")
        v.think()
    return viewed


def add_to_cart(v: Visit, p: int, qty: int = 1) -> int:
    w = v.w
    if p not in w.cat.product_set:
        status = 404
    elif p in w.sold_out and v.t >= w.sold_out[p]:
        status = 409
    else:
        status = 200
    v.hit("cart_add", status=status, params={"product_id": p, "quantity": qty})
    return status


def checkout(v: Visit, u: User, coupon: str | None = None) -> int:
    """Pay; a card decline is retried once. Returns the final status."""
    rng = v.rng
    v.referer = CHECKOUT
    params = {"amount": round(rng.lognormvariate(4.2, 0.8), 2), "card": u.card}
    if coupon:
        params["coupon"] = coupon
    status = 402 if rng.random() < 0.03 else 201
    v.hit("checkout", status=status, params=params)
    if status == 402:
        v.think(20, 0.5)
        status = 201
        v.hit("checkout", status=status, params=dict(params))
    return status


# ------------------------------------------------------------------------- scripts


def script_browse(v: Visit, u: User) -> None:
    rng = v.rng
    viewed = browse(v, u, 1 + int(rng.expovariate(1 / 6)))
    if viewed and rng.random() < 0.12:
        add_to_cart(v, viewed[-1])
        v.referer = CART
        v.hit("cart")


def script_shop(v: Visit, u: User) -> None:
    rng, w = v.rng, v.w
    viewed = browse(v, u, rng.randint(1, 7))
    v.referer = HOME
    login(v, u)
    v.think(3)
    k = 1 + (rng.random() < 0.4) + (rng.random() < 0.15)
    for i in range(k):
        p = viewed[-1 - i] if i < len(viewed) else any_product(w, rng)
        if i >= len(viewed):
            view_product(v, p)
            v.think(4)
        add_to_cart(v, p, 1 if rng.random() < 0.85 else rng.randint(2, 4))
        v.think(3)
    v.referer = CART
    v.hit("cart")
    if rng.random() < 0.15:
        v.think(4)
        p = viewed[0] if viewed else any_product(w, rng)
        v.hit("cart_remove", status=200 if p in w.cat.product_set else 404, obj=p)
    if rng.random() < 0.6:
        v.think(8)
        coupon = None
        if rng.random() < 0.25:
            code = rng.choice(VALID_COUPONS)
            if rng.random() < 0.2:
                code = code.lower() if rng.random() < 0.5 else code[:-1]  # typo → unknown
            ok = code in VALID_COUPONS
            v.hit("coupon", status=200 if ok else 404, params={"coupon": code})
            coupon = code if ok else None
            v.think(3)
        if rng.random() < 0.04:
            code = w.cat.giftcard_list[rng.randrange(len(w.cat.giftcard_list))]
            v.hit("giftcard", status=w.redeem(code), params={"code": code})
            v.think(3)
        if checkout(v, u, coupon) == 201:
            oid = w.new_order(u)
            v.think(4)
            v.referer = f"https://shop.example/orders/{oid}"
            v.hit("order", obj=oid)
    if rng.random() < 0.3:
        v.think(5)
        v.hit("logout", status=204)


def script_orders(v: Visit, u: User) -> None:
    rng = v.rng
    v.referer = ACCOUNT
    login(v, u)
    v.think(2)
    v.hit("orders")
    for oid in rng.sample(u.orders, min(len(u.orders), rng.randint(1, 3))):
        v.think(5)
        v.referer = f"https://shop.example/orders/{oid}"
        v.hit("order", obj=oid)
        if rng.random() < 0.25:
            v.hit("invoice", obj=oid)
    v.think(4)
    v.referer = ACCOUNT
    v.hit("account")


def script_bank(v: Visit, u: User) -> None:
    rng = v.rng
    v.host = BANK
    v.referer = BANK_HOME
    login(v, u)
    v.think(6, 0.5)  # waiting for the code to arrive
    if rng.random() < 0.04:
        v.hit("mfa", status=401, params={"otp": "invalid"})
        v.think(6, 0.5)
    v.hit("mfa", params={"otp": "valid"})
    v.hit("balance", obj=u.account_id)
    v.think(4)
    v.hit("transfers")
    if rng.random() < 0.3:
        v.think(15)
        v.hit("transfer", status=201, params={"amount": round(rng.lognormvariate(4.5, 1.0), 2),
                                              "to": f"iban_{rng.getrandbits(40):010x}"})
        tid = v.w.new_transfer()
        v.think(12, 0.5)
        if rng.random() < 0.03:
            v.hit("transfer_confirm", status=401, obj=tid, params={"otp": "invalid"})
            v.think(8, 0.5)
        v.hit("transfer_confirm", obj=tid, params={"otp": "valid"})
    if rng.random() < 0.02:
        v.think(10)
        v.hit("chg_payout", params={"iban_hash": f"iban_{rng.getrandbits(40):010x}"})
    if rng.random() < 0.05:
        v.think(6)
        size = rng.choice((25, 50, 100))
        v.hit("export", query={"page_size": str(size), "format": "csv"}, params={"page_size": size},
              lat=rng.uniform(400, 2600), resp=size * 480)
    if rng.random() < 0.4:
        v.think(6)
        v.hit("logout", status=204)


def script_account(v: Visit, u: User) -> None:
    rng = v.rng
    v.referer = ACCOUNT
    login(v, u)
    v.think(3)
    v.hit("account")
    v.think(10)
    r = rng.random()
    if r < 0.45:
        v.hit("chg_password")
    elif r < 0.7:
        v.hit("chg_email")
    elif r < 0.9:
        v.hit("chg_phone")
    else:
        v.hit("chg_mfa", params={"method": "totp"})
    v.think(4)
    v.hit("account")


def script_forgot(v: Visit, u: User) -> None:
    v.referer = "https://shop.example/login"
    v.hit("reset", status=202, user=u.name)
    v.think(90, 0.6)  # reading the e-mail
    v.hit("reset_confirm", user=u.name)
    v.think(5)
    login(v, u, typos=False)
    v.think()
    browse(v, u, v.rng.randint(1, 4))


def script_register(v: Visit, u: User) -> None:
    """A new customer signs up (``u`` lends its network and device, its name is taken)."""
    rng = v.rng
    v.referer = "https://shop.example/signup"
    name = f"{u.name.split('@')[0]}{rng.randint(100, 999)}"
    if rng.random() < 0.5:  # the name they wanted first is taken
        v.hit("exists", query={"username": u.name})
        v.think(4)
    v.hit("exists", query={"username": name})
    v.think(10, 0.5)
    v.hit("register", status=201, user=name)
    v.user = name
    v.think()
    browse(v, u, rng.randint(1, 4))
    if rng.random() < 0.2:
        v.hit("account")


SCRIPTS = (
    (script_browse, 0.36),
    (script_shop, 0.31),
    (script_orders, 0.08),
    (script_bank, 0.14),
    (script_account, 0.035),
    (script_forgot, 0.02),
    (script_register, 0.025),
)
_SCRIPT_CUM = [sum(w for _, w in SCRIPTS[: i + 1]) for i in range(len(SCRIPTS))]


def run_session(w: World, rng: random.Random, t: int, u: User, c: Client, tags: tuple = ()) -> Visit:
    """Run one session script for ``u`` starting at ``t``."""
    fx = w.fx
    script = pick(rng, SCRIPTS, _SCRIPT_CUM if fx is None else fx.script_cum)[0]
    if script is script_bank and not u.account_id:
        script = script_shop
    if script is script_bank and c.web and rng.random() < 0.5:
        bank_app = BANK_APPS[0] if "iPhone" in c.ua or rng.random() < 0.5 else BANK_APPS[1]
        c = Client(c.ip, c.asn, c.country, bank_app.ua, bank_app.ja3, c.lang, False, c.xff, c.pool)
    v = Visit(w, rng, t, c, session_id(rng), tags=tags, hop=0.03 if c.pool else 0.0)
    if fx is not None and not c.web and fx.ident.app_launch and rng.random() < fx.ident.cold_start:
        app_launch(v, fx.ident.app_launch)
    elif fx is None and not c.web and w.app_launch and share_of(v.session) < w.cold_start:
        app_launch(v, w.app_launch)
    script(v, u)
    return v


def app_launch(v: Visit, calls: int) -> None:
    """A native app starting: home-screen calls fired before it attaches its stored session."""
    sid, v.session = v.session, None
    v.hit("categories")
    v.hit("products", query={"page": "1", "page_size": "24"}, params={"page_size": 24})
    if calls >= 3:
        v.hit("price", obj=v.w.cat.products[v.rng.randrange(12)])
    v.session = sid
    v.think(2, 0.5)


# --------------------------------------------------------------------------- drivers


def baseline(w: World, rng: random.Random, scale: float, peak: float = PEAK_EPS) -> None:
    """Ordinary customers, all day; mobile-carrier sessions are tagged as CGNAT traps."""
    users = w.pop.users
    cgnat = {}
    lam_max = peak * scale * 1.3 / EVENTS_PER_SESSION  # sessions per second, upper bound
    rate_max = lam_max * EVENTS_PER_SESSION
    t = w.start - WARMUP_MS
    while True:
        t += 1 + int(rng.expovariate(lam_max) * 1000)
        if t >= w.end:
            break
        if rng.random() * rate_max > event_rate(t, scale, peak):
            continue
        u = users[rng.randrange(len(users))]
        c = client_for(w, rng, u)
        tags = ()
        if c.pool:
            trap = cgnat.get(c.asn)
            if trap is None:
                trap = cgnat[c.asn] = w.trap(
                    "mobile-cgnat",
                    f"Mobile carrier AS{c.asn}: thousands of subscribers share a small CGNAT pool; "
                    "many users (and logins) per IP, and sessions that change IP mid-way.",
                )
            tags = (trap.events,)
        run_session(w, rng, t, u, c, tags)


def corporate(w: World, rng: random.Random, scale: float) -> None:
    """Employees of one company shopping from the office: hundreds of users, one IP."""
    employees = [u for u in w.pop.users if u.corporate]
    if not employees:
        return
    trap = w.trap("corporate-nat", "Corporate NAT: hundreds of employees behind one egress IP, one "
                  "standard browser build, mostly successful logins (a few typos).")
    ip = CORPORATE.random_ip(rng)
    image = [d for d in DEVICES if "Edg/131" in d.ua or ("Chrome/131" in d.ua and "Windows" in d.ua)]
    per_hour = 240 * max(scale, 0.8)  # a trap must stay a trap in small runs: ~200 users an hour
    t = w.start - WARMUP_MS
    while True:
        t += 1 + int(rng.expovariate(per_hour / 3_600_000))
        if t >= w.end:
            break
        hour = (t % 86_400_000) // 3_600_000
        if not 7 <= hour < 16 and rng.random() > 0.05:
            continue
        u = employees[rng.randrange(len(employees))]
        d = image[0] if rng.random() < 0.7 else image[-1]
        c = Client(ip, CORPORATE.asn, CORPORATE.country, d.ua, d.ja3, LANG["DE"], True,
                   f"10.20.{u.idx % 250}.{(u.idx // 250) % 250 + 2}")
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


def uptime_monitor(w: World, rng: random.Random) -> None:
    """GET /health every 30 s exactly, from a hosting ASN: machine-regular, benign."""
    trap = w.trap("uptime-monitor", "Uptime monitor: GET /health every 30.000 s from a hosting ASN "
                  "(machine-regular inter-arrival, one route).")
    net = HOSTING[4]
    d = BOT["uptime"]
    c = Client(net.random_ip(rng), net.asn, net.country, d.ua, d.ja3, None, False)
    v = Visit(w, rng, w.start + rng.randrange(30_000), c, tags=(trap.events,))
    t = v.t
    while t < w.end:
        v.t = t
        v.hit("health", lat=1.0 + rng.random() * 3)
        t += 30_000


def googlebot(w: World, rng: random.Random) -> None:
    """A declared crawler walking product pages at a steady, slightly jittered pace."""
    trap = w.trap("search-crawler", "Googlebot (declared UA, documented 66.249.64.0/19 range): many "
                  "distinct product pages at a regular pace, no login, no cart.")
    d = BOT["googlebot"]
    ips = sorted({GOOGLEBOT.random_ip(rng) for _ in range(4)})
    span = w.end - w.start
    t = w.start + int(rng.uniform(0.02, 0.2) * span)
    stop = t + int(0.6 * span)
    products = list(w.cat.products)
    rng.shuffle(products)
    for i, p in enumerate(products):
        if t >= min(stop, w.end):
            break
        c = Client(ips[i % len(ips)], GOOGLEBOT.asn, GOOGLEBOT.country, d.ua, d.ja3, None, False)
        v = Visit(w, rng, t, c, tags=(trap.events,))
        if i % 40 == 0:
            v.hit("categories", headers={"from": "googlebot(at)googlebot.com"})
        if rng.random() < 0.04:
            p = rng.randint(PRODUCT_LO, PRODUCT_HI)
        v.hit("product", status=200 if p in w.cat.product_set else 404, obj=p,
              headers={"from": "googlebot(at)googlebot.com"})
        t += int(3000 * rng.uniform(0.8, 1.2))


def partner(w: World, rng: random.Random) -> None:
    """A price-comparison partner polling 25 prices every 60 s with its API key."""
    trap = w.trap("partner-poller", "Partner price feed: API key in x-api-key-id, polls 25 price "
                  "routes every 60 s from AWS (regular, hosting ASN).")
    net = HOSTING[0]
    d = BOT["partner"]
    ips = sorted({net.random_ip(rng) for _ in range(2)})
    watch = sorted(rng.sample(w.cat.products[:400], 25))
    t = w.start + rng.randrange(60_000)
    n = 0
    while t < w.end:
        c = Client(ips[n % 2], net.asn, net.country, d.ua, d.ja3, None, False)
        v = Visit(w, rng, t + rng.randrange(300), c, tags=(trap.events,), gap=(40, 80))
        for p in watch:
            v.hit("price", obj=p, headers={"x-api-key-id": "pk_pricecompare_7f3a"})
        t += 60_000
        n += 1


def traveller(w: World, rng: random.Random, count: int) -> None:
    """A customer logs in from abroad (hotel Wi-Fi) and changes the password."""
    span = w.end - w.start
    cands = [u for u in w.pop.users if u.home.kind == "fixed" and not u.corporate and u.country != HOTEL.country]
    for _ in range(count):
        u = cands[rng.randrange(len(cands))]
        trap = w.trap("traveller", f"Traveller: '{u.name}' (home {u.country}, AS{u.home.asn}) logs in from "
                      f"a hotel in {HOTEL.country} with their usual device, then changes the password.")
        home = client_for(w, rng, u, u.devices[0])
        v = Visit(w, rng, w.start + int(rng.uniform(0.02, 0.3) * span), home, session_id(rng), tags=(trap.events,))
        browse(v, u, 2)
        login(v, u, typos=False)
        v.hit("account")
        d = u.devices[0]
        c = Client(HOTEL.random_ip(rng), HOTEL.asn, HOTEL.country, d.ua, d.ja3, LANG.get(u.country), d.kind != "app")
        v = Visit(w, rng, w.start + int(rng.uniform(0.5, 0.8) * span), c, session_id(rng), tags=(trap.events,))
        v.referer = ACCOUNT
        if rng.random() < 0.6:
            v.hit("login", status=401, user=u.name)
            v.think(6, 0.4)
        login(v, u, typos=False)
        v.think(3)
        v.hit("account")
        v.think(20, 0.5)
        v.hit("chg_password")
        v.think()
        browse(v, u, 2)


def support_agents(w: World, rng: random.Random, scale: float) -> None:
    """Support staff open many distinct customers' orders (all 200: they may)."""
    span_h = (w.end - w.start) / 3_600_000
    orders = sorted(w.cat.order_owner)
    d = next(x for x in DEVICES if "Chrome/131" in x.ua and "Windows" in x.ua)
    ip = SUPPORT_OFFICE.random_ip(rng)
    for name in ("support-maria.santos", "support-jomar.reyes")[: 1 + (scale >= 0.5)]:
        trap = w.trap("support-agent", f"Support agent '{name}': opens many distinct customers' orders "
                      "and invoices while working tickets (200s, non-sequential ids).")
        c = Client(ip, SUPPORT_OFFICE.asn, SUPPORT_OFFICE.country, d.ua, d.ja3, LANG["PH"], True)
        v = Visit(w, rng, w.start + rng.randrange(300_000), c, session_id(rng), tags=(trap.events,))
        v.referer = "https://admin.shop.example/tickets"
        v.hit("login", user=name)
        v.user = name
        n = int(70 * span_h)
        for _ in range(n):
            v.think(45, 0.5)
            if v.t >= w.end:
                break
            oid = orders[rng.randrange(len(orders))]
            v.hit("order", obj=oid)
            if rng.random() < 0.4:
                v.hit("invoice", obj=oid)


def flash_sale(w: World, rng: random.Random) -> None:
    """The flash sale: ~5× product/cart/checkout traffic for ~25 min from 40 % of the span."""
    span = w.end - w.start
    dur = int(min(25 * 60_000, 0.45 * span))
    fs = w.start + int(0.4 * span)
    fe = fs + dur
    w.flash = (fs, fe)
    sale = tuple(w.cat.products[:3])
    w.sale_products = sale
    w.sold_out = {sale[0]: fs + int(0.55 * dur), sale[1]: fs + int(0.8 * dur)}
    trap = w.trap("flash-sale", f"Flash sale on products {list(sale)}: ~5x product/cart/checkout "
                  "traffic from many real customers; items sell out (409).")
    pcc = _pcc(w)
    base = sum(1 for e in w.events if fs <= e["ts"] < fe and pcc(e))
    target = 4 * max(base, 25)
    got = 0
    users = w.pop.users
    while got < target:
        u = users[rng.randrange(len(users))]
        t = fs + int(dur * rng.random() ** 1.15)
        c = client_for(w, rng, u)
        v = Visit(w, rng, t, c, session_id(rng), tags=(trap.events,))
        n0 = len(trap.events)
        _flash_shopper(v, u, sale, fe)
        got += sum(1 for e in trap.events[n0:] if e["ts"] < fe and pcc(e))
    w.flash_stats = {"baseline_pcc_events": base, "flash_pcc_events": got,
                     "multiplier": round((base + got) / max(base, 1), 2)}


PCC_OPS = frozenset({"products", "product", "price", "cart", "cart_add", "cart_remove", "checkout"})
"""The product, cart and checkout operations whose volume the flash sale multiplies."""


def _pcc(w: World):
    """Is an event a product/cart/checkout request? (The tuning world's paths say so; held-out
    worlds' renderers keep the operation in ``_k`` until the run is finished.)"""
    if w.fx is None:
        prefixes = ("/api/v1/products", "/api/v1/cart", "/api/v1/checkout")
        return lambda e: e["path"].startswith(prefixes)
    return lambda e: e.get("_k") in PCC_OPS


def _flash_shopper(v: Visit, u: User, sale: tuple[int, ...], fe: int) -> None:
    rng = v.rng
    p = sale[0] if rng.random() < 0.5 else rng.choice(sale)
    v.referer = SALE_PAGE
    if rng.random() < 0.7:
        login(v, u)
    in_cart = False
    while v.t < fe:
        view_product(v, p)
        r = rng.random()
        if not in_cart and r < 0.35:
            v.think(1.5, 0.5)
            if v.t >= fe:
                break
            in_cart = add_to_cart(v, p) == 200
        elif in_cart and r < 0.7 and v.user:
            v.think(2, 0.5)
            if v.t >= fe:
                break
            v.referer = CART
            v.hit("cart")
            sold = v.w.sold_out.get(p)
            if sold is not None and v.t >= sold:
                v.referer = CHECKOUT
                v.hit("checkout", status=409, params={"amount": 49.0, "card": u.card})
            elif checkout(v, u) == 201:
                v.w.new_order(u)
            break
        elif r < 0.8:
            v.referer = SALE_PAGE
            list_products(v, v.w.cat.product_cat[p])
        if rng.random() < 0.07:
            break
        v.think(2.5, 0.7)


def flag_corporate(w: World, rng: random.Random, n: int) -> None:
    """Mark ``n`` German fixed-line customers as employees of the corporate-NAT company."""
    de = [u for u in w.pop.users if u.country == "DE" and u.home in FIXED]
    for u in rng.sample(de, min(n, len(de))):
        u.corporate = True
