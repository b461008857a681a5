"""Attack generators for ``sleuth simulate``: every taxonomy TTP, easy to hard.

Each generator writes one or more labelled instances into the ``World``: the
events it emits are appended to the instance's list through ``Visit.tags``, so
a label's ``event_ids`` are exactly the attacker's requests (never the victim's
own traffic). Responses come from the same app model as benign traffic (401 on
bad passwords, 403 on others' objects, 429 from the API's rate limiters, 5xx
when the expensive export route is overloaded). Programs name operations and
objects, never paths, so the world's renderer gives them its routes and answers.
``ATTACK_KINDS`` is the public catalogue (with ``attack_fleet.py``'s behaviours
from real logs and each generator's signal ``NEEDS``); ``run_attacks`` schedules
them inside the simulated span.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from .attack_fleet import FLEET_GENERATORS, FLEET_KINDS
from .benign import any_product, login, view_product
from .kit import BROWSERS as _BROWSERS
from .kit import TOR_BROWSER as _TOR_BROWSER
from .kit import AttackKind, Shadow
from .kit import combo as _combo
from .kit import net_client as _net_client
from .kit import random_ua as _random_ua
from .kit import register as _register
from .kit import resi as _resi
from .kit import victims as _victims
from .kit import window as _window
from .traffic import Client, Instance, Visit, World, session_id
from .world import (
    ACCOUNT_LO,
    BAD,
    BANK,
    BOT,
    DEVICES,
    FIXED,
    HOSTING,
    M247,
    ORDER_HI,
    ORDER_LO,
    SEARCH_TERMS,
    TOR,
    TTPS,
    User,
    giftcard_code,
    ip_str,
    ja3_of,
)

SHADOW: tuple[Shadow, ...] = (
    Shadow("GET", "/api/internal/debug", 200),
    Shadow("GET", "/api/internal/metrics", 200),
    Shadow("GET", "/api/v0/users", 200),
    Shadow("GET", "/api/v1/admin/users", 403),
    Shadow("GET", "/api/v1/admin/config", 403),
    Shadow("POST", "/api/v1/admin/impersonate", 403),
    Shadow("GET", "/api/v2/users", 404),
    Shadow("GET", "/api/v1/users", 404),
    Shadow("GET", "/api/swagger.json", 404),
    Shadow("GET", "/api/v1/debug", 404),
    Shadow("GET", "/actuator/env", 404),
    Shadow("GET", "/.env", 404),
    Shadow("POST", "/graphql", 404),
    Shadow("GET", "/api/v1/config", 404),
    Shadow("GET", "/api/v1/export/all", 404),
    Shadow("PUT", "/api/v1/products/{product}", 405),
    Shadow("DELETE", "/api/v1/orders/{order}", 405),
    Shadow("PATCH", "/api/v1/account", 405),
    Shadow("DELETE", "/api/v1/account", 405),
    Shadow("GET", "/api/v0/users/{user}", 200),
)
"""Shadow endpoints, legacy versions and undocumented methods (absent from openapi.json)."""

_ORIGINAL: tuple[AttackKind, ...] = (
    AttackKind("stuffing-burst", "credential-stuffing", "account-takeover", "easy",
               "One hosting IP, python-requests, ~4 logins/s over hundreds of usernames; spoofed "
               "x-forwarded-for; most answers 429 or 401, a few 200."),
    AttackKind("stuffing-proxy-pool", "credential-stuffing", "account-takeover", "medium",
               "Residential proxy pool (one request per IP), one Go TLS stack (one JA3) behind rotating "
               "browser UAs, ~1 login/s for 12 min.", ("l3-rotation",)),
    AttackKind("stuffing-low-slow", "credential-stuffing", "account-takeover", "hard",
               "One login every 12-40 s, every attempt from a new residential IP with a fresh session and "
               "a consistent browser UA/JA3 pair: the signal is only the failure ratio and the user set."),
    AttackKind("username-probe", "account-aggregation", "account-takeover", "easy",
               "Hosting IP checks hundreds of usernames on /users/exists, then requests password resets "
               "for the ones that exist."),
    AttackKind("aggregation-spread", "account-aggregation", "account-takeover", "hard",
               "25 real usernames, each tried with 4-7 passwords, every attempt from a different "
               "residential IP over ~40 min; per-username failures from many sources.", ("l3-rotation",)),
    AttackKind("ato-takeover", "account-takeover", "account-takeover", "medium",
               "Per victim: 2-5 failures from proxies, success, then within minutes e-mail, phone and "
               "payout changes from a new IP and fingerprint."),
    AttackKind("ato-mfa-brute", "account-takeover", "account-takeover", "hard",
               "Password known; OTP brute force on /auth/mfa/verify, slowed by the limiter (429), then "
               "success and MFA device + phone replaced.", ("business-logic-abuse",)),
    AttackKind("ato-quiet", "account-takeover", "account-takeover", "hard",
               "One failure, success from a residential IP in the victim's country, a little browsing, "
               "then e-mail and password changed from a different JA3: looks like the traveller trap."),
    AttackKind("scrape-catalogue", "scraping", "scraping", "easy",
               "One OVH IP and session walking product ids in order every 600 ms (detail + price), no "
               "cart, no login.", ("low-entropy-automation",)),
    AttackKind("scrape-prices", "scraping", "scraping", "medium",
               "An AWS host (no partner key) polling the price route of many distinct products with 4 "
               "workers for 15 min."),
    AttackKind("scrape-distributed", "scraping", "scraping", "hard",
               "Headless Chrome over a residential proxy pool: each IP a new session doing 3-8 "
               "searches/product pages, jittered; many distinct products overall, never a cart.",
               ("l3-rotation",)),
    AttackKind("enum-orders", "enumeration", "scraping", "easy",
               "A fresh account walks /orders/{id} sequentially at 4/s: 403 for others' orders, 404 for "
               "gaps."),
    AttackKind("enum-accounts", "enumeration", "fraud", "medium",
               "A bank customer walks /accounts/{id}/balance ids one by one every ~1.5 s: 403/404."),
    AttackKind("enum-invoice-bola", "enumeration", "scraping", "hard",
               "BOLA: valid token, random ids in a dense range on the unprotected /orders/{id}/invoice "
               "route (200s: data leaks), jittered 4-15 s for 30 min."),
    AttackKind("giftcard-crack", "business-logic-abuse", "fraud", "easy",
               "One account redeems hundreds of random gift-card codes at 3/s: 404s and 429s, one hit."),
    AttackKind("coupon-crack", "business-logic-abuse", "fraud", "medium",
               "20 residential IPs validate BF26-XXXX coupon guesses, one every ~2 s for 15 min."),
    AttackKind("cart-hoarding", "business-logic-abuse", "fraud", "medium",
               "Fresh accounts fill carts with the flash-sale items (max quantity) and re-add them every "
               "few minutes, never checking out."),
    AttackKind("otp-transfer-brute", "business-logic-abuse", "fraud", "hard",
               "A hijacked bank session creates a transfer and brute-forces its OTP confirmation from 3 "
               "IPs, paced under the limiter."),
    AttackKind("rotation-session-hop", "l3-rotation", "account-takeover", "easy",
               "A stolen session token used from 40 IPs in 8+ ASNs within 5 minutes."),
    AttackKind("rotation-slow-token", "l3-rotation", "scraping", "hard",
               "One account and session, a new residential IP (same country) every 1-3 requests for 20 "
               "min, browsing like a person."),
    AttackKind("reputation-tor", "l3-reputation", "account-takeover", "easy",
               "Tor exits (synthetic list) on login, password reset and account routes."),
    AttackKind("reputation-hosting", "l3-reputation", "fraud", "medium",
               "Card testing and payout changes from hosting ASNs and the synthetic known-bad ranges, "
               "with browser UAs."),
    AttackKind("session-churn", "session-rotation", "scraping", "easy",
               "One IP and JA3 starting a new session every 2-4 requests for 10 min."),
    AttackKind("session-churn-spray", "session-rotation", "account-takeover", "hard",
               "Password spraying from one hosting /24: a new session for every 2 login attempts, "
               "jittered over 30 min.", ("credential-stuffing",)),
    AttackKind("fp-rotation-ip", "fingerprint-rotation", "account-takeover", "easy",
               "One IP, a new UA and JA3 on nearly every request (logins and product views)."),
    AttackKind("fp-rotation-account", "fingerprint-rotation", "fraud", "hard",
               "One mule account redeeming gift cards and checking out, Chrome build and JA3 varied on "
               "every request, 3 IPs, jittered."),
    AttackKind("metronome", "low-entropy-automation", "fraud", "easy",
               "A sneaker bot polls the flash-sale item every 1.000 s (±2 ms), identical requests, then "
               "carts and checks out the instant the sale opens."),
    AttackKind("jitter-bot", "low-entropy-automation", "scraping", "hard",
               "Polls 20 prices round-robin every 4.0 s ±5 % from a residential IP with a real browser "
               "fingerprint; identical request shape."),
    AttackKind("sustained-source", "sustained-volume", "disruption", "easy",
               "One Hetzner IP searching at ~2.5 req/s for 15 min (a normal source: a few per minute)."),
    AttackKind("sustained-route", "sustained-volume", "disruption", "hard",
               "150 residential IPs add ~2x the normal volume of /search for 15 min, none of them loud.",
               ("l3-rotation",)),
    AttackKind("shadow-probe", "spec-anomaly", "scraping", "easy",
               "Probes shadow endpoints, legacy versions and undocumented methods (200/403/404/405)."),
    AttackKind("param-tamper", "spec-anomaly", "fraud", "medium",
               "A logged-in user sends schema-violating and unknown parameters (negative quantity, "
               "page_size 5000, is_admin, non-integer ids) at a human pace."),
    AttackKind("shadow-quiet", "spec-anomaly", "scraping", "hard",
               "A normal browser session that calls the legacy /api/v0/users/{id} (no auth) every "
               "20-40 s between product views.", ("enumeration",)),
    AttackKind("export-burst", "resource-exhaustion", "disruption", "easy",
               "Bursts of the export route with page_size=10000: 20-40 s latencies, 503/504, then 429.",
               ("spec-anomaly",)),
    AttackKind("export-distributed", "resource-exhaustion", "disruption", "hard",
               "60 accounts on 60 residential IPs fire valid exports (page_size 100) in synchronised "
               "bursts; latency climbs and 5xx appear."),
    AttackKind("campaign", "campaign", "fraud", "hard",
               "One actor (AS9009, one JA3 family) cycles scraping, credential stuffing, takeover and "
               "gift-card abuse over the run; each stage is also labelled with campaign set."),
)

A, U, R, O, T = "address", "ua", "route", "outcome", "time"
NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "stuffing-burst": ((A, R, O),),
    # one TLS stack behind rotating UAs; or the login route's failures surge ~10x
    "stuffing-proxy-pool": (("fingerprint", R, O), (R, O, T)),
    "stuffing-low-slow": (("username", O), ("fingerprint", U, O)),
    "username-probe": ((A, R),),
    "aggregation-spread": (("username", O),),
    "ato-takeover": (("user", A), ("session", A)),
    "ato-mfa-brute": ((A, R, O), ("user", R, O), ("session", R, O)),
    "ato-quiet": (("user", "fingerprint"), ("user", U)),
    "scrape-catalogue": ((A, R, "object"), (A, R, T)),
    "scrape-prices": ((A, R),),
    "scrape-distributed": (("fingerprint", R),),
    "enum-orders": ((A, R, O),),
    "enum-accounts": ((A, R, O),),
    "enum-invoice-bola": ((A, R, "object"), ("user", "object"), ("session", "object")),
    "giftcard-crack": ((A, R, O),),
    "coupon-crack": ((R, O),),
    "cart-hoarding": (("user", "params"), ("session", "params")),
    "otp-transfer-brute": (("object", R, O), ("user", R, O), ("session", R, O)),
    "rotation-session-hop": (("session", A), ("user", A)),
    "rotation-slow-token": (("session", A), ("user", A)),
    "reputation-tor": ((A, R),),
    "reputation-hosting": (("network", R),),
    "session-churn": (("session-start", A),),
    "session-churn-spray": (("session-start", A),),
    "fp-rotation-ip": ((A, U), (A, "fingerprint")),
    "fp-rotation-account": (("user", U), ("user", "fingerprint"), (A, U)),
    "metronome": ((A, R, T),),
    "jitter-bot": ((A, R, T),),
    "sustained-source": ((A,),),
    "sustained-route": ((R, T),),
    "shadow-probe": ((R,),),
    "param-tamper": (("query",), ("object",), ("params",)),
    "shadow-quiet": ((R,),),
    "export-burst": ((A, R, O),),
    "export-distributed": ((R, T, O),),
    "campaign": (("network",), ("fingerprint",)),
}
"""Signal features (``worlds.FEATURES``) each generator's defining signal needs: alternatives,
any one complete set suffices. Route-level surges count where the generator was built to
make one (proxy-pool stuffing, coupon guessing, distributed exports); a weak bump in a
route's totals does not."""

CAMPAIGN_STAGE_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "scraping": ((A, R, "object"), (A, R, T)),
    "credential-stuffing": ((A, R, O),),
    "account-takeover": (("user", A), ("session", A)),
    "business-logic-abuse": ((A, R, O),),
}
"""Needs of the campaign's stage labels, by the stage's technique."""

ATTACK_KINDS: tuple[AttackKind, ...] = (
    *(attrs.evolve(k, needs=NEEDS[k.name]) for k in _ORIGINAL),
    *FLEET_KINDS,
)
"""Every generator: the original programs (the tuning world's default run), then the
behaviours of real access logs (``attack_fleet.py``; held-out worlds run all of them)."""

# --------------------------------------------------------------- credential stuffing


def stuffing_burst(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 4)
    c = _net_client(rng.choice(HOSTING[1:4]), rng, BOT["python"])
    v = Visit(w, rng, t0, c, tags=(inst.events,), gap=(5, 40))
    for name, ok in _combo(w, rng, 1400):
        if v.t >= t1:
            break
        # Spoofed per request, hoping the API trusts it for rate limiting (it does not).
        c.xff = ip_str(rng.getrandbits(32) | 0x01000000)
        status = w.login_status(name, ok) if w.login_limit.allow(c.ip, v.t) else 429
        v.hit("login", status=status, user=name)
        if status == 200:
            v.session = session_id(rng)
            v.hit("account", user=name)
            v.session = None
        v.wait(rng.uniform(150, 350))


def stuffing_proxy_pool(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 12)
    tool = BOT["go"]
    v = Visit(w, rng, t0, _resi(w, rng, tool), tags=(inst.events,))
    for name, ok in _combo(w, rng, 1200):
        if v.t >= t1:
            break
        d = _BROWSERS[rng.randrange(len(_BROWSERS))]
        c = _resi(w, rng, tool)
        c.ua, c.lang = d.ua, None  # the UA is spoofed, the TLS stack is not
        v.c = c
        v.session = None
        status = w.login_status(name, ok)
        v.hit("login", status=status, user=name)
        if status == 200:
            v.session = session_id(rng)
            v.hit("account", user=name)
        v.wait(rng.expovariate(1 / 900))


def stuffing_low_slow(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 50, 0.02, 0.98)
    stacks = [d for d in _BROWSERS if "Chrome/131" in d.ua or "Firefox/133" in d.ua]
    v = Visit(w, rng, t0, _resi(w, rng, stacks[0]), tags=(inst.events,))
    for name, ok in _combo(w, rng, 400, real=0.45, reuse=0.05):
        if v.t >= t1:
            break
        v.c = _resi(w, rng, stacks[rng.randrange(len(stacks))])
        v.session = session_id(rng)
        v.referer = "https://shop.example/login"
        status = w.login_status(name, ok)
        v.hit("login", status=status, user=name)
        if status == 200:
            v.think(3)
            v.hit("account", user=name)
        v.wait(rng.uniform(12_000, 40_000))


# -------------------------------------------------------------- account aggregation


def username_probe(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 5)
    c = _net_client(rng.choice(HOSTING), rng, BOT["httpx"])
    v = Visit(w, rng, t0, c, tags=(inst.events,), gap=(5, 30))
    found = []
    for name, _ in _combo(w, rng, 700, real=0.5):
        if v.t >= t1:
            break
        status = 200 if w.exists_limit.allow(c.ip, v.t) else 429
        v.hit("exists", query={"username": name}, status=status)
        if status == 200 and name in w.pop.by_name:
            found.append(name)
        v.wait(rng.uniform(200, 450))
    for name in found[:120]:
        v.hit("reset", status=202, user=name)
        v.wait(rng.uniform(400, 900))


def aggregation_spread(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 40)
    targets = rng.sample(w.pop.users, 25)
    tool = BOT["headless"]
    plan = []
    for u in targets:
        tries = rng.randint(4, 7)
        hit = rng.random() < 0.3
        for k in range(tries):
            plan.append((t0 + int(rng.random() * (t1 - t0)), u, hit and k == tries - 1))
        if rng.random() < 0.4:
            plan.append((t0 + int(rng.random() * (t1 - t0)), u, None))
    plan.sort(key=lambda x: (x[0], x[1].idx))
    for t, u, ok in plan:
        v = Visit(w, rng, t, _resi(w, rng, tool), session_id(rng), tags=(inst.events,))
        if ok is None:
            v.hit("reset", status=202, user=u.name)
        else:
            v.hit("login", status=w.login_status(u.name, ok), user=u.name)


# ------------------------------------------------------------------ account takeover


def _takeover_changes(v: Visit, u: User, rng: random.Random) -> None:
    v.referer = "https://shop.example/account"
    v.hit("account")
    v.think(6, 0.5)
    v.hit("chg_email")
    v.think(4, 0.5)
    v.hit("chg_phone")
    if u.account_id:
        v.think(5, 0.5)
        v.host = BANK
        v.hit("chg_payout", params={"iban_hash": f"iban_{rng.getrandbits(40):010x}"})


def ato_takeover(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 12, 0.3)
    kind = inst.kind
    victims = _victims(w, rng, 3, t0)
    for i, u in enumerate(victims):
        me = inst if i == 0 else w.label(kind, inst.ttp, inst.goal, inst.difficulty, "")
        me.description = (f"Takeover of '{u.name}': failures from proxies, success, then e-mail/phone"
                          f"{'/payout' if u.account_id else ''} changed from a new IP and fingerprint.")
        start = t0 + int(rng.random() * (t1 - t0) * 0.5)
        tool = BOT["headless"]
        v = Visit(w, rng, start, _resi(w, rng, tool), tags=(me.events,))
        for _ in range(rng.randint(2, 5)):
            v.hit("login", status=401, user=u.name)
            v.wait(rng.uniform(8_000, 30_000))
            v.c = _resi(w, rng, tool)
        v.session = session_id(rng)
        login(v, u, typos=False)
        v.wait(rng.uniform(60_000, 360_000))
        d = BOT["node"] if rng.random() < 0.5 else _BROWSERS[rng.randrange(len(_BROWSERS))]
        v.c = _net_client(rng.choice(HOSTING), rng, d)
        _takeover_changes(v, u, rng)


def ato_mfa_brute(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 25, 0.2)
    u = _victims(w, rng, 1, t0, bank=True)[0]
    inst.description = f"MFA brute force on '{u.name}', then MFA device and phone replaced."
    d = _BROWSERS[rng.randrange(len(_BROWSERS))]
    v = Visit(w, rng, t0, _resi(w, rng, d, u.country), session_id(rng), host=BANK, tags=(inst.events,))
    login(v, u, typos=False)
    tries = 0
    while v.t < t1 - 120_000:
        v.wait(rng.uniform(15_000, 55_000))
        tries += 1
        if not w.otp_limit.allow(u.name, v.t):
            v.hit("mfa", status=429, params={"otp": "invalid"})
        elif tries >= 24 and rng.random() < 0.25:
            v.hit("mfa", params={"otp": "valid"})
            break
        else:
            v.hit("mfa", status=401, params={"otp": "invalid"})
    else:
        v.hit("mfa", params={"otp": "valid"})
    v.think(8, 0.4)
    v.hit("chg_mfa", params={"method": "sms"})
    v.think(5, 0.4)
    v.hit("chg_phone")


def ato_quiet(w: World, rng: random.Random, inst: Instance) -> None:
    t0, _ = _window(rng, w, 15, 0.35)
    u = _victims(w, rng, 1, t0)[0]
    inst.description = f"Quiet takeover of '{u.name}' from its home country: one failure, success, e-mail and password changed."
    stack = "chromium-win" if "Mac" in u.devices[0].ua else "chromium-mac"
    d = next(x for x in _BROWSERS if x.stack == stack)
    v = Visit(w, rng, t0, _resi(w, rng, d, u.country), session_id(rng), tags=(inst.events,))
    v.referer = "https://shop.example/login"
    v.hit("login", status=401, user=u.name)
    v.think(7, 0.4)
    login(v, u, typos=False)
    v.think()
    view_product(v, any_product(w, rng))
    v.wait(rng.uniform(180_000, 480_000))
    v.c = _resi(w, rng, BOT["headless"], u.country)
    v.referer = "https://shop.example/account"
    v.hit("chg_email")
    v.think(5, 0.4)
    v.hit("chg_password")


# ----------------------------------------------------------------------- scraping


def scrape_catalogue(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 8)
    c = _net_client(HOSTING[3], rng, BOT["scrapy"])
    v = Visit(w, rng, t0, c, session_id(rng), tags=(inst.events,))
    pid = rng.randint(20001, 23000)
    t = t0
    while t < t1:
        v.t = t
        ok = pid in w.cat.product_set
        v.hit("product", status=200 if ok else 404, obj=pid, lat=25 + rng.random() * 10)
        if ok:
            v.hit("price", obj=pid, lat=10 + rng.random() * 5)
        pid += 1
        t += 600 + rng.randint(-15, 15)


def scrape_prices(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 15)
    products = list(w.cat.products)
    rng.shuffle(products)
    ip = HOSTING[0].random_ip(rng)
    todo = iter(products)
    for worker in range(4):
        c = Client(ip, HOSTING[0].asn, HOSTING[0].country, BOT["node"].ua, BOT["node"].ja3)
        v = Visit(w, rng, t0 + worker * 250, c, tags=(inst.events,))
        while v.t < t1:
            p = next(todo, None)
            if p is None:
                break
            v.hit("price", obj=p)
            v.wait(rng.uniform(800, 1400))


def scrape_distributed(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 25)
    tool = BOT["headless"]
    products = list(w.cat.products)
    rng.shuffle(products)
    todo = iter(products)
    t = t0
    while t < t1:
        v = Visit(w, rng, t, _resi(w, rng, tool), session_id(rng), tags=(inst.events,))
        v.c.lang = "en-US,en;q=0.9"
        if rng.random() < 0.5:
            v.hit("search", query={"q": rng.choice(SEARCH_TERMS), "page": str(rng.randint(1, 20))})
        for _ in range(rng.randint(3, 8)):
            v.wait(rng.uniform(2000, 7000))
            p = next(todo, None)
            if p is None:
                return
            view_product(v, p)
        t += int(rng.uniform(2500, 6000))


# -------------------------------------------------------------------- enumeration


def enum_orders(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 3)
    c = _net_client(rng.choice(HOSTING), rng, BOT["python"])
    v = Visit(w, rng, t0, c, session_id(rng), tags=(inst.events,), gap=(5, 25))
    _register(v, rng)
    oid = rng.randint(ORDER_LO, ORDER_HI - 2000)
    while v.t < t1:
        v.hit("order", status=w.order_status(oid, None), obj=oid)
        oid += 1
        v.wait(rng.uniform(150, 300))


def enum_accounts(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 10)
    c = _net_client(HOSTING[5], rng, BOT["node"])
    v = Visit(w, rng, t0, c, session_id(rng), host=BANK, tags=(inst.events,))
    _register(v, rng)
    aid = ACCOUNT_LO + rng.randrange(50_000)
    owners = w.cat.account_owner
    while v.t < t1:
        v.hit("balance", status=403 if aid in owners else 404, obj=aid)
        aid += 1
        v.wait(rng.uniform(1000, 2000))


def enum_invoice_bola(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 30)
    d = next(x for x in _BROWSERS if x.stack == "chromium-win")
    v = Visit(w, rng, t0, _resi(w, rng, d), session_id(rng), tags=(inst.events,))
    _register(v, rng)
    lo = rng.randint(ORDER_LO, ORDER_HI - 3000)
    while v.t < t1:
        v.wait(rng.uniform(4000, 15000))
        oid = lo + rng.randrange(3000)
        v.referer = f"https://shop.example/orders/{oid}"
        # The invoice route forgets the owner check: others' invoices come back 200.
        v.hit("invoice", status=200 if oid in w.cat.order_owner else 404, obj=oid)


# ----------------------------------------------------------- business-logic abuse


def giftcard_crack(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 4)
    c = _net_client(rng.choice(HOSTING), rng, BOT["python"])
    v = Visit(w, rng, t0, c, session_id(rng), tags=(inst.events,), gap=(5, 25))
    name = _register(v, rng)
    hit_at = rng.randint(200, 500)
    valid = w.cat.giftcard_list
    n = 0
    while v.t < t1:
        n += 1
        code = valid[rng.randrange(len(valid))] if n == hit_at else giftcard_code(rng)
        if not w.code_limit.allow(name, v.t):
            status = 429
        else:
            status = w.redeem(code)
        v.hit("giftcard", status=status, params={"code": code})
        v.wait(rng.uniform(200, 450))


def coupon_crack(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 15)
    d = BOT["go"]
    clients = [_resi(w, rng, d) for _ in range(20)]
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    t, n = t0, 0
    hit_at = rng.randint(150, 350)
    while t < t1:
        c = clients[n % len(clients)]
        v = Visit(w, rng, t, c, tags=(inst.events,))
        n += 1
        code = "BF26-VIP" if n == hit_at else "BF26-" + "".join(rng.choice(alphabet) for _ in range(4))
        status = 200 if code == "BF26-VIP" else 404
        if not w.code_limit.allow(c.ip, t):
            status = 429
        v.hit("coupon", status=status, params={"coupon": code})
        t += int(rng.uniform(1200, 2800))


def cart_hoarding(w: World, rng: random.Random, inst: Instance) -> None:
    fs, fe = w.flash
    if fe <= fs or not w.sale_products:
        fs, fe = _window(rng, w, 25)
    d = next(x for x in _BROWSERS if x.stack == "chromium-win")
    ips = [_resi(w, rng, d) for _ in range(2)]
    sale = w.sale_products or tuple(w.cat.products[:3])
    for k in range(6):
        c = attrs.evolve(ips[k % 2])
        v = Visit(w, rng, fs - 90_000 + k * rng.randint(3_000, 9_000), c, session_id(rng), tags=(inst.events,))
        _register(v, rng)
        while v.t < fe:
            for p in sale:
                sold = w.sold_out.get(p)
                v.hit("cart_add", status=409 if sold is not None and v.t >= sold else 200,
                      params={"product_id": p, "quantity": 10})
                v.wait(rng.uniform(300, 900))
            v.hit("cart")
            v.wait(rng.uniform(180_000, 300_000))  # carts expire after 5 minutes


def otp_transfer_brute(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 18)
    u = _victims(w, rng, 1, t0, bank=True)[0]
    inst.description = f"OTP brute force on a transfer from '{u.name}''s hijacked bank session."
    d = BOT["go"]
    clients = [_resi(w, rng, d) for _ in range(3)]
    v = Visit(w, rng, t0, clients[0], session_id(rng), user=u.name, host=BANK, tags=(inst.events,))
    v.hit("transfer", status=201, params={"amount": 4850.0, "to": f"iban_{rng.getrandbits(40):010x}"})
    tid = w.new_transfer()
    n = 0
    while v.t < t1:
        v.wait(rng.uniform(8_000, 35_000))
        v.c = clients[n % 3]
        n += 1
        if not w.otp_limit.allow(("transfer", tid), v.t):
            status = 429
        else:
            status = 200 if n >= 30 and rng.random() < 0.2 else 401
        v.hit("transfer_confirm", status=status, obj=tid,
              params={"otp": "valid" if status == 200 else "invalid"})
        if status == 200:
            break


# ------------------------------------------------------------------- L3 rotation


def rotation_session_hop(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 5)
    u = _victims(w, rng, 1, t0)[0]
    inst.description = f"Stolen session of '{u.name}' replayed from 40 IPs across many ASNs."
    d = BOT["python"]
    nets = list(HOSTING) + list(FIXED[:6]) + list(BAD)
    v = Visit(w, rng, t0, _net_client(nets[0], rng, d), session_id(rng), user=u.name, tags=(inst.events,))
    routes = ["account", "orders", "account", "orders"]
    for i in range(40):
        v.c = _net_client(nets[i % len(nets)], rng, d)
        key = routes[i % 4]
        if key == "orders" and u.orders and rng.random() < 0.5:
            oid = rng.choice(u.orders)
            v.hit("order", obj=oid)
        else:
            v.hit(key)
        v.wait(rng.uniform(3000, 9000))
        if v.t >= t1:
            break


def rotation_slow_token(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 20)
    d = next(x for x in _BROWSERS if x.stack == "chromium-win")
    v = Visit(w, rng, t0, _resi(w, rng, d, "US"), session_id(rng), tags=(inst.events,))
    _register(v, rng)
    while v.t < t1:
        v.c = _resi(w, rng, d, "US")
        for _ in range(rng.randint(1, 3)):
            v.think(6, 0.6)
            if rng.random() < 0.7:
                view_product(v, any_product(w, rng))
            else:
                v.hit("search", query={"q": rng.choice(SEARCH_TERMS)})


# ---------------------------------------------------------------- L3 reputation


def reputation_tor(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 12)
    v = Visit(w, rng, t0, _net_client(TOR, rng, _TOR_BROWSER), tags=(inst.events,))
    for name, ok in _combo(w, rng, 400, real=0.6, reuse=0.06):
        if v.t >= t1:
            break
        v.c = _net_client(TOR, rng, _TOR_BROWSER, lang="en-US,en;q=0.5")
        v.session = session_id(rng)
        if rng.random() < 0.25:
            v.hit("reset", status=202, user=name)
        else:
            status = w.login_status(name, ok)
            v.hit("login", status=status, user=name)
            if status == 200:
                v.think(4, 0.4)
                v.hit("account", user=name)
                v.hit("chg_email", user=name)
        v.wait(rng.uniform(2500, 7000))


def reputation_hosting(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 12)
    nets = list(HOSTING) + list(BAD)
    d = next(x for x in _BROWSERS if x.stack == "chromium-win")
    accounts = []
    v = Visit(w, rng, t0, _net_client(nets[0], rng, d, True), session_id(rng), tags=(inst.events,))
    for k in range(3):
        v.c = _net_client(nets[k], rng, d, True, "en-US,en;q=0.9")
        accounts.append(_register(v, rng))
    n = 0
    while v.t < t1:
        v.c = _net_client(nets[n % len(nets)], rng, d, True, "en-US,en;q=0.9")
        v.user = accounts[n % 3]
        n += 1
        r = rng.random()
        if r < 0.6:  # card testing: small amounts, a new stolen card each time
            v.hit("checkout", status=402 if rng.random() < 0.8 else 201,
                  params={"amount": round(rng.uniform(1, 5), 2), "card": f"card_{rng.getrandbits(48):012x}"})
        elif r < 0.85:
            v.hit("giftcard", status=404, params={"code": giftcard_code(rng)})
        else:
            v.hit("chg_payout", params={"iban_hash": f"iban_{rng.getrandbits(40):010x}"})
        v.wait(rng.uniform(4000, 12000))


# ------------------------------------------------------------- session rotation


def session_churn(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 10)
    c = _resi(w, rng, BOT["httpx"])
    v = Visit(w, rng, t0, c, tags=(inst.events,))
    while v.t < t1:
        v.session = session_id(rng)
        for _ in range(rng.randint(2, 4)):
            r = rng.random()
            if r < 0.6:
                p = any_product(w, rng)
                v.hit("product", status=200 if p in w.cat.product_set else 404, obj=p)
            elif r < 0.85:
                v.hit("search", query={"q": rng.choice(SEARCH_TERMS)})
            else:
                v.hit("price", obj=any_product(w, rng))
            v.wait(rng.uniform(400, 1200))


def session_churn_spray(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 30)
    net = HOSTING[5]
    base = net.random_ip(rng).rsplit(".", 1)[0]
    ips = [f"{base}.{h}" for h in rng.sample(range(2, 254), 5)]
    targets = rng.sample(w.pop.users, 40)
    d = BOT["curl"]
    n = 0
    t = t0
    while t < t1:
        c = Client(ips[n % 5], net.asn, net.country, d.ua, d.ja3)
        v = Visit(w, rng, t, c, session_id(rng), tags=(inst.events,))
        for _ in range(2):
            u = targets[n % len(targets)]
            n += 1
            v.hit("login", status=w.login_status(u.name, rng.random() < 0.01), user=u.name)
            v.wait(rng.uniform(1500, 4000))
        t += int(rng.uniform(5_000, 20_000))


# ------------------------------------------------------------ fingerprint rotation


def fp_rotation_ip(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 8)
    c = _net_client(rng.choice(HOSTING), rng, BOT["python"])
    v = Visit(w, rng, t0, c, tags=(inst.events,))
    combos = iter(_combo(w, rng, 800))
    while v.t < t1:
        if rng.random() < 0.9:  # almost every request: a new UA and a new TLS hello
            c.ua = _random_ua(rng)
            c.ja3 = ja3_of(f"rotator-{rng.getrandbits(32)}")
        if rng.random() < 0.6:
            name, ok = next(combos, ("guest", False))
            v.hit("login", status=w.login_status(name, ok), user=name)
        else:
            p = any_product(w, rng)
            v.hit("product", status=200 if p in w.cat.product_set else 404, obj=p)
        v.wait(rng.uniform(600, 1500))


def fp_rotation_account(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 25)
    d = next(x for x in _BROWSERS if x.stack == "chromium-win")
    clients = [_resi(w, rng, d) for _ in range(3)]
    v = Visit(w, rng, t0, clients[0], session_id(rng), tags=(inst.events,))
    u = _register(v, rng)
    pool = [ja3_of(f"mule-kit-{i}") for i in range(30)]
    valid = w.cat.giftcard_list
    n = 0
    while v.t < t1:
        v.wait(rng.uniform(10_000, 40_000))
        c = attrs.evolve(clients[n % 3])
        c.ua = (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/131.0.{rng.randint(6778, 6778 + 90)}.{rng.randint(1, 140)} Safari/537.36")
        c.ja3 = pool[rng.randrange(30)]
        v.c = c
        n += 1
        r = rng.random()
        if r < 0.55:
            code = valid[rng.randrange(len(valid))] if rng.random() < 0.5 else giftcard_code(rng)
            v.hit("giftcard", status=w.redeem(code), params={"code": code}, user=u)
        elif r < 0.8:
            v.hit("checkout", status=201, params={"amount": round(rng.uniform(80, 400), 2), "card": "giftcard"})
        else:
            v.hit("account")


# ------------------------------------------------------------ low-entropy automation


def metronome(w: World, rng: random.Random, inst: Instance) -> None:
    fs, fe = w.flash
    if fe <= fs or not w.sale_products:
        fs, _ = _window(rng, w, 15, 0.3)
    p = w.sale_products[0] if w.sale_products else w.cat.products[0]
    span = w.end - w.start
    t = max(w.start, fs - int(min(600_000, 0.15 * span)))
    c = _resi(w, rng, BOT["python"])
    c.ua = DEVICES[0].ua  # claims Chrome, shakes hands like python
    v = Visit(w, rng, t, c, session_id(rng), tags=(inst.events,))
    name = _register(v, rng)
    v.user = None  # polling is anonymous; the purchase uses the account
    t = v.t + 1000
    stop = min(fs + int(min(300_000, 0.08 * span)), w.end)
    bought = False
    while t < stop:
        v.t = t
        v.hit("product", obj=p, resp=3120, lat=20 + rng.random() * 4)
        if t >= fs and not bought:
            v.hit("cart_add", params={"product_id": p, "quantity": 1}, user=name)
            v.hit("checkout", status=201, params={"amount": 49.0, "card": "card_4c1f2e7a9b30"}, user=name)
            bought = True
        t += 1000 + rng.randint(-2, 2)


def jitter_bot(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 30)
    d = next(x for x in _BROWSERS if x.stack == "chromium-mac")
    v = Visit(w, rng, t0, _resi(w, rng, d), session_id(rng), tags=(inst.events,))
    watch = rng.sample(w.cat.products[:2000], 20)
    t, n = t0, 0
    while t < t1:
        v.t = t
        p = watch[n % 20]
        v.referer = f"https://shop.example/p/{p}"
        v.hit("price", obj=p, resp=158)
        n += 1
        t += int(4000 * rng.uniform(0.95, 1.05))


# --------------------------------------------------------------- sustained volume


def sustained_source(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 15)
    c = _net_client(HOSTING[2], rng, BOT["go"])
    v = Visit(w, rng, t0, c, session_id(rng), tags=(inst.events,))
    while v.t < t1:
        v.hit("search", query={"q": rng.choice(SEARCH_TERMS), "page": str(rng.randint(1, 30))})
        v.wait(rng.expovariate(1 / 400))


def sustained_route(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 15)
    d = next(x for x in _BROWSERS if x.stack == "chromium-win")
    clients = [_resi(w, rng, d) for _ in range(150)]
    per_s = max(0.5, 3.0 * w.scale)  # ~2x the route's own baseline at any scale
    t = t0
    while t < t1:
        c = clients[rng.randrange(150)]
        v = Visit(w, rng, t, c, tags=(inst.events,))
        v.hit("search", query={"q": " ".join(rng.sample(SEARCH_TERMS, 3)), "page": str(rng.randint(1, 50))},
              lat=rng.uniform(200, 900))
        t += 1 + int(rng.expovariate(per_s) * 1000)


# -------------------------------------------------------------------- spec anomaly


def shadow_probe(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 4)
    c = _net_client(rng.choice(HOSTING), rng, BOT["curl"])
    v = Visit(w, rng, t0, c, tags=(inst.events,))
    probes = list(w.shadow or SHADOW) * 3
    rng.shuffle(probes)
    for s in probes:
        if v.t >= t1:
            break
        path = s.path.format(product=rng.choice(w.cat.products), order=rng.randint(ORDER_LO, ORDER_HI),
                             user=rng.randint(1, 50_000))
        v.hit("", path, s.status, method=s.method, resp=3800 if s.status == 200 else 60)
        v.wait(rng.uniform(300, 2500))


def param_tamper(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 20)
    d = next(x for x in _BROWSERS if x.stack == "firefox")
    v = Visit(w, rng, t0, _resi(w, rng, d), session_id(rng), tags=(inst.events,))
    _register(v, rng)
    p = w.cat.products[5]
    moves = [
        lambda: v.hit("cart_add", status=400, params={"product_id": p, "quantity": -5}),
        lambda: v.hit("cart_add", status=400, params={"product_id": p, "quantity": 9999}),
        lambda: v.hit("cart_add", status=400, params={"product_id": "20001 OR 1=1", "quantity": 1}),
        lambda: v.hit("checkout", status=400, params={"amount": -10.0, "card": "card_000000000000"}),
        lambda: v.hit("checkout", status=201, params={"amount": 0.01, "card": "card_000000000000",
                                                      "coupon": "BLACKFRIDAY26", "discount": 100}),
        lambda: v.hit("chg_email", params={"email": "x@evil.example", "is_admin": True}),
        lambda: v.hit("account", query={"debug": "true", "fields": "password_hash"}),
        lambda: v.hit("products", status=400, query={"page_size": "5000"}, params={"page_size": 5000}),
        lambda: v.hit("products", status=400, query={"page_size": "abc", "sort": "price;DROP TABLE"},
                      params={"page_size": "abc"}),
        lambda: v.hit("product", status=404, obj="20001'--"),
        lambda: v.hit("product", status=404, obj="-1"),
        lambda: v.hit("order", status=404, obj="../../admin"),
        lambda: v.hit("search", status=400, query={"q": "A" * 4096}),
        lambda: v.hit("giftcard", status=400, params={"code": "GC-" + "9" * 60}),
        lambda: v.hit("chg_mfa", status=400, params={"method": "none"}),
    ]
    while v.t < t1:
        v.think(12, 0.6)
        if rng.random() < 0.4:
            view_product(v, any_product(w, rng))  # cover traffic
        else:
            moves[rng.randrange(len(moves))]()


def shadow_quiet(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 30)
    d = next(x for x in _BROWSERS if x.stack == "safari-macos")
    v = Visit(w, rng, t0, _resi(w, rng, d), session_id(rng), tags=(inst.events,))
    uid = rng.randint(1000, 40_000)
    while v.t < t1:
        v.think(25, 0.3)
        uid += rng.randint(1, 5)
        resp = rng.randint(700, 1100)
        method, path, field = w.fx.legacy if w.fx is not None else ("GET", "/api/v0/users/{}", None)
        v.hit("", path.format(uid), 200, method=method, resp=resp, params={field: uid} if field else None)
        if rng.random() < 0.6:
            v.think(6, 0.5)
            view_product(v, any_product(w, rng))


# ------------------------------------------------------------- resource exhaustion


def export_burst(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 10)
    c = _net_client(HOSTING[4], rng, BOT["python"])
    v = Visit(w, rng, t0, c, session_id(rng), host=BANK, tags=(inst.events,))
    name = _register(v, rng)
    t = v.t
    while t < t1:
        for k in range(25):
            v.t = t + k * rng.randint(40, 200)
            if not w.export_limit.allow(name, v.t):
                status, lat, resp = 429, 2.0, 44
            else:
                status = rng.choice((200, 503, 504, 504))
                lat = rng.uniform(18_000, 40_000) if status != 503 else rng.uniform(50, 200)
                resp = 4_800_000 + rng.randrange(100_000) if status == 200 else 60
            v.hit("export", status=status, query={"page_size": "10000", "format": "json"},
                  params={"page_size": 10000}, lat=lat, resp=resp)
        t += 120_000


def export_distributed(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = _window(rng, w, 25)
    d = next(x for x in _BROWSERS if x.stack == "chromium-win")
    bots = []
    for _ in range(60):
        v = Visit(w, rng, t0 + rng.randrange(120_000), _resi(w, rng, d), session_id(rng), host=BANK,
                  tags=(inst.events,))
        _register(v, rng)
        bots.append(v)
    burst = t0 + 180_000
    while burst < t1:
        for v in bots:
            for _ in range(rng.randint(1, 2)):
                v.t = burst + rng.randrange(20_000)
                r = rng.random()
                status = 200 if r < 0.6 else 503 if r < 0.8 else 504
                lat = rng.uniform(3_000, 25_000) if status != 503 else rng.uniform(30, 200)
                v.hit("export", status=status, query={"page_size": "100", "format": "csv"},
                      params={"page_size": 100}, lat=lat, resp=48_000 if status == 200 else 60)
        burst += int(rng.uniform(240_000, 360_000))


# ------------------------------------------------------------------------ campaign


def campaign(w: World, rng: random.Random, inst: Instance) -> None:
    """One actor through four stages; each stage is its own label tied to ``inst``."""
    span = w.end - w.start
    ips = sorted({M247.random_ip(rng) for _ in range(12)})
    family = [ja3_of(f"actor-kit-{v}") for v in ("2.3.0", "2.3.1", "2.4.0")]

    def client(k: int) -> Client:
        d = _BROWSERS[k % 3]
        return Client(ips[k % len(ips)], M247.asn, M247.country, d.ua, family[k % 3], "en-US,en;q=0.9", True)

    def stage(ttp: str, goal: str, text: str) -> Instance:
        s = w.label("campaign", ttp, goal, "hard", f"Campaign stage: {text}", campaign=inst)
        return s

    def at(frac: float) -> int:
        return w.start + int(frac * span)

    # 1. Reconnaissance: prices and gift-card products.
    s1 = stage("scraping", "scraping", "catalogue and price walk from AS9009.")
    v = Visit(w, rng, at(0.05), client(0), session_id(rng), tags=(s1.events, inst.events))
    while v.t < at(0.2):
        p = w.cat.products[rng.randrange(len(w.cat.products))]
        view_product(v, p)
        v.wait(rng.uniform(900, 1800))
    # 2. Credential stuffing.
    s2 = stage("credential-stuffing", "account-takeover", "credential stuffing over AS9009 addresses.")
    cracked: list[User] = []
    v = Visit(w, rng, at(0.25), client(1), tags=(s2.events, inst.events))
    victims = {u.name for u in rng.sample(w.pop.users, 4)}
    combos = _combo(w, rng, 600, real=0.35, reuse=0.0)
    combos[50:50] = [(n, True) for n in sorted(victims)]
    for k, (name, ok) in enumerate(combos):
        if v.t >= at(0.45):
            break
        v.c = client(k)
        status = w.login_status(name, ok) if w.login_limit.allow(v.c.ip, v.t) else 429
        v.hit("login", status=status, user=name)
        if status == 200:
            cracked.append(w.pop.by_name[name])
        v.wait(rng.uniform(600, 2600))
    # 3. Takeover of the cracked accounts.
    s3 = stage("account-takeover", "account-takeover", "takeover of the cracked accounts (e-mail, phone changed).")
    for k, u in enumerate(cracked[:3]):
        v = Visit(w, rng, at(0.47) + k * 240_000, client(k + 5), session_id(rng), tags=(s3.events, inst.events))
        login(v, u, typos=False)
        v.think(20, 0.4)
        _takeover_changes(v, u, rng)
    # 4. Gift-card abuse with the taken-over accounts.
    s4 = stage("business-logic-abuse", "fraud", "gift-card code cracking and redemption on taken-over accounts.")
    valid = w.cat.giftcard_list
    owners = cracked[:3] or [w.pop.users[0]]
    v = Visit(w, rng, at(0.62), client(7), session_id(rng), tags=(s4.events, inst.events))
    n = 0
    while v.t < at(0.9):
        u = owners[n % len(owners)]
        v.user = u.name
        v.c = client(n)
        n += 1
        code = valid[rng.randrange(len(valid))] if n % 37 == 0 else giftcard_code(rng)
        status = w.redeem(code) if w.code_limit.allow(u.name, v.t) else 429
        v.hit("giftcard", status=status, params={"code": code})
        if status == 200:
            v.hit("checkout", status=201, params={"amount": round(rng.uniform(150, 600), 2), "card": "giftcard"})
        v.wait(rng.uniform(2500, 6000))


_GENERATORS: dict[str, Callable[..., None]] = {
    "stuffing-burst": stuffing_burst,
    "stuffing-proxy-pool": stuffing_proxy_pool,
    "stuffing-low-slow": stuffing_low_slow,
    "username-probe": username_probe,
    "aggregation-spread": aggregation_spread,
    "ato-takeover": ato_takeover,
    "ato-mfa-brute": ato_mfa_brute,
    "ato-quiet": ato_quiet,
    "scrape-catalogue": scrape_catalogue,
    "scrape-prices": scrape_prices,
    "scrape-distributed": scrape_distributed,
    "enum-orders": enum_orders,
    "enum-accounts": enum_accounts,
    "enum-invoice-bola": enum_invoice_bola,
    "giftcard-crack": giftcard_crack,
    "coupon-crack": coupon_crack,
    "cart-hoarding": cart_hoarding,
    "otp-transfer-brute": otp_transfer_brute,
    "rotation-session-hop": rotation_session_hop,
    "rotation-slow-token": rotation_slow_token,
    "reputation-tor": reputation_tor,
    "reputation-hosting": reputation_hosting,
    "session-churn": session_churn,
    "session-churn-spray": session_churn_spray,
    "fp-rotation-ip": fp_rotation_ip,
    "fp-rotation-account": fp_rotation_account,
    "metronome": metronome,
    "jitter-bot": jitter_bot,
    "sustained-source": sustained_source,
    "sustained-route": sustained_route,
    "shadow-probe": shadow_probe,
    "param-tamper": param_tamper,
    "shadow-quiet": shadow_quiet,
    "export-burst": export_burst,
    "export-distributed": export_distributed,
    "campaign": campaign,
}
_GENERATORS.update(FLEET_GENERATORS)
assert set(_GENERATORS) == {k.name for k in ATTACK_KINDS}
assert {k.ttp for k in ATTACK_KINDS} == set(TTPS)
ONCE = frozenset({"campaign", "metronome", "cart-hoarding", "price-poller", "backup-enum-fleet", "worm"})
"""Generators that run once per run whatever its length (the others once per ~4 hours)."""


def run_attacks(w: World, seed: int, ttps: tuple[str, ...], hours: float,
                kinds: frozenset[str] | None = None) -> None:
    """Run every generator whose ttp is in ``ttps`` (and, given ``kinds``, whose name is in it);
    one instance per ~4 simulated hours."""
    repeat = max(1, round(hours / 4))
    for kind in ATTACK_KINDS:
        if kind.ttp not in ttps or (kinds is not None and kind.name not in kinds):
            continue
        fn = _GENERATORS[kind.name]
        for i in range(1 if kind.name in ONCE else repeat):
            rng = random.Random(f"{seed}:attack:{kind.name}:{i}")
            inst = w.label(kind.name, kind.ttp, kind.goal, kind.difficulty, kind.summary, kind.also)
            fn(w, rng, inst)
