"""The simulated world: networks, devices, people, the catalogue and the app's answers.

Part of ``sleuth simulate`` (playground layer). Everything here is built from a
``random.Random`` the caller hands in, so a world is a pure function of the seed.
Prefix-to-ASN pairs are *plausible* (real ASNs, prefixes of the right owner as far
as we know) but not authoritative; the reputation ranges are synthetic and are
listed in ``docs/simulator.md`` and in every ``manifest.json``.
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
import ipaddress
import random
import time
from datetime import datetime

import attrs

from sleuth.engine.schema import GOALS as _GOALS
from sleuth.engine.schema import TTPS as _TTPS

# The taxonomy's ids: one definition, in the engine's schema.
TTPS = _TTPS
GOALS = _GOALS

SHOP = "api.shop.example"
BANK = "api.bank.example"

# --------------------------------------------------------------------------- time


def parse_ts(text: str) -> int:
    """RFC 3339 text → epoch milliseconds (UTC)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(round(dt.timestamp() * 1000))


class TsFormatter:
    """Epoch ms → ``2026-11-27T08:00:00.123Z``; caches the per-second prefix.

    Events arrive in time order at format time, so the one-entry cache hits
    for ~all events (strftime costs ~1.5 µs, the cache hit ~0.2 µs).
    """

    __slots__ = ("_sec", "_prefix")

    def __init__(self) -> None:
        self._sec = None
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        sec, milli = divmod(ms, 1000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{milli:03d}Z"


def format_ts(ms: int) -> str:
    """Epoch ms → RFC 3339 UTC string with milliseconds."""
    return TsFormatter()(ms)


def day_start_ms(ms: int) -> int:
    """Midnight UTC of the day holding ``ms``."""
    return ms - ms % 86_400_000


# ----------------------------------------------------------------------- networks


def _prefix(cidr: str) -> tuple[int, int]:
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address), net.num_addresses


def ip_str(n: int) -> str:
    """32-bit int → dotted quad (3× faster than ``ipaddress``)."""
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@attrs.frozen
class Network:
    """One autonomous system's slice of address space, as the API sees it."""

    name: str
    asn: int
    country: str
    kind: str  # fixed | mobile | hosting | tor | bad | crawler | corporate | office
    prefixes: tuple[str, ...]
    weight: float = 1.0
    pool: int = 0  # mobile carriers: size of the CGNAT pool the API sees
    _ranges: tuple[tuple[int, int], ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_ranges", tuple(_prefix(p) for p in self.prefixes))

    def random_ip(self, rng: random.Random) -> str:
        """An address inside one of the prefixes, avoiding .0 and .255."""
        base, size = self._ranges[rng.randrange(len(self._ranges))]
        n = base + rng.randrange(size)
        last = n & 255
        if last in (0, 255):
            n += 7 if last == 0 else -7
        return ip_str(n)


# Home broadband, weighted roughly by the shop's customer geography.
FIXED = (
    Network("Comcast", 7922, "US", "fixed", ("73.32.0.0/11", "24.60.0.0/14", "98.192.0.0/13"), 11),
    Network("AT&T Internet", 7018, "US", "fixed", ("99.0.0.0/11", "107.192.0.0/12"), 8),
    Network("Verizon Fios", 701, "US", "fixed", ("71.160.0.0/11", "108.0.0.0/13"), 6),
    Network("Charter Spectrum", 20115, "US", "fixed", ("24.176.0.0/13", "47.32.0.0/12"), 7),
    Network("British Telecom", 2856, "GB", "fixed", ("86.128.0.0/10", "81.128.0.0/12"), 6),
    Network("Virgin Media", 5089, "GB", "fixed", ("82.0.0.0/12",), 4),
    Network("Deutsche Telekom", 3320, "DE", "fixed", ("79.192.0.0/10", "87.128.0.0/10"), 7),
    Network("Vodafone Kabel", 3209, "DE", "fixed", ("95.88.0.0/14",), 3),
    Network("Orange", 3215, "FR", "fixed", ("90.0.0.0/9",), 4),
    Network("Free", 12322, "FR", "fixed", ("82.64.0.0/14",), 3),
    Network("Rogers", 812, "CA", "fixed", ("99.224.0.0/11",), 3),
    Network("Bell Canada", 577, "CA", "fixed", ("70.48.0.0/13",), 2),
    Network("KPN", 1136, "NL", "fixed", ("77.160.0.0/12",), 2),
    Network("Telefonica Espana", 3352, "ES", "fixed", ("83.32.0.0/11",), 2),
    Network("TIM", 3269, "IT", "fixed", ("79.0.0.0/11",), 2),
    Network("Telstra", 1221, "AU", "fixed", ("101.160.0.0/11",), 2),
    Network("NTT OCN", 4713, "JP", "fixed", ("114.144.0.0/12",), 1),
)
# Mobile carriers put thousands of subscribers behind a small CGNAT pool.
MOBILE = (
    Network("T-Mobile US", 21928, "US", "mobile", ("172.56.0.0/13",), 6, pool=40),
    Network("Verizon Wireless", 6167, "US", "mobile", ("174.192.0.0/10",), 5, pool=48),
    Network("AT&T Mobility", 20057, "US", "mobile", ("107.77.192.0/18",), 4, pool=32),
    Network("EE", 12576, "GB", "mobile", ("92.40.0.0/14",), 3, pool=24),
    Network("Telefonica O2 DE", 6805, "DE", "mobile", ("89.204.128.0/17",), 3, pool=16),
    Network("Orange Mobile", 3215, "FR", "mobile", ("92.184.96.0/19",), 2, pool=16),
    Network("Reliance Jio", 55836, "IN", "mobile", ("49.36.0.0/14",), 1, pool=16),
)
HOSTING = (
    Network("Amazon AWS", 16509, "US", "hosting", ("3.80.0.0/12", "54.144.0.0/12")),
    Network("DigitalOcean", 14061, "US", "hosting", ("159.89.0.0/16", "167.99.0.0/16", "134.209.0.0/16")),
    Network("Hetzner", 24940, "DE", "hosting", ("88.99.0.0/16", "116.202.0.0/16")),
    Network("OVH", 16276, "FR", "hosting", ("51.68.0.0/16", "145.239.0.0/16")),
    Network("Linode Akamai", 63949, "US", "hosting", ("45.33.0.0/17", "172.104.0.0/15")),
    Network("Vultr", 20473, "US", "hosting", ("45.32.0.0/16", "149.28.0.0/16")),
)
HOSTING_ASNS: tuple[int, ...] = tuple(sorted({n.asn for n in HOSTING} | {9009}))
# The campaign actor's VPN/hosting provider (also counted as hosting).
M247 = Network("M247", 9009, "GB", "hosting", ("37.120.128.0/17",))
# Synthetic reputation lists (documented in docs/simulator.md).
TOR = Network("Tor exits (synthetic list)", 60729, "DE", "tor", ("185.220.100.0/22",))
BAD = (
    Network("Known-bad proxies A (synthetic)", 64500, "NL", "bad", ("198.51.100.0/24",)),
    Network("Known-bad proxies B (synthetic)", 64501, "PA", "bad", ("203.0.113.0/24",)),
)
GOOGLEBOT = Network("Googlebot", 15169, "US", "crawler", ("66.249.64.0/19",))
CORPORATE = Network("Globex GmbH egress", 3320, "DE", "corporate", ("80.146.191.0/24",))
SUPPORT_OFFICE = Network("Shop support BPO", 9299, "PH", "office", ("112.198.64.0/20",))
HOTEL = Network("Hotel Wi-Fi (True Internet)", 7470, "TH", "fixed", ("171.96.0.0/13",))

# Networks of the held-out worlds' automated clients and of infected devices (worms,
# scanner fleets). Same caveat: plausible owner/prefix pairs, not authoritative.
BINGBOT = Network("Bingbot (Microsoft)", 8075, "US", "crawler", ("157.55.39.0/24", "207.46.13.0/24"))
GCP = Network("Google Cloud", 396982, "US", "hosting", ("34.64.0.0/10", "35.184.0.0/13"))
AZURE = Network("Microsoft Azure", 8075, "US", "hosting", ("20.36.0.0/14", "40.112.0.0/13"))
CLOUDFLARE_WARP = Network("Cloudflare WARP", 13335, "US", "hosting", ("104.28.0.0/16",))
IOT = (
    Network("China Telecom", 4134, "CN", "fixed", ("116.224.0.0/12", "183.128.0.0/11"), 9),
    Network("China Unicom", 4837, "CN", "fixed", ("123.112.0.0/12", "221.192.0.0/13"), 6),
    Network("VNPT", 45899, "VN", "fixed", ("113.160.0.0/11",), 4),
    Network("BSNL", 9829, "IN", "fixed", ("117.192.0.0/10",), 5),
    Network("HiNet", 3462, "TW", "fixed", ("114.32.0.0/12",), 3),
    Network("KT Corporation", 4766, "KR", "fixed", ("121.128.0.0/10",), 3),
    Network("Claro NET", 28573, "BR", "fixed", ("177.32.0.0/11",), 4),
    Network("TE Data", 8452, "EG", "fixed", ("41.32.0.0/12",), 2),
    Network("Telkom Indonesia", 7713, "ID", "fixed", ("36.64.0.0/11",), 3),
    Network("Telmex", 8151, "MX", "fixed", ("187.128.0.0/10",), 2),
    Network("Rostelecom", 12389, "RU", "fixed", ("178.64.0.0/13",), 3),
)
"""Consumer networks full of unpatched routers and cameras: where worms and scanner fleets live."""

REFERENCE_LISTS = {
    "hosting_asns": list(HOSTING_ASNS),
    "tor_exit_cidrs": list(TOR.prefixes),
    "known_bad_cidrs": [p for n in BAD for p in n.prefixes],
    "crawler_cidrs": {"googlebot": list(GOOGLEBOT.prefixes)},
}

LANG = {
    "US": "en-US,en;q=0.9",
    "GB": "en-GB,en;q=0.9",
    "DE": "de-DE,de;q=0.9,en;q=0.8",
    "FR": "fr-FR,fr;q=0.9,en;q=0.7",
    "CA": "en-CA,en;q=0.9,fr-CA;q=0.8",
    "NL": "nl-NL,nl;q=0.9,en;q=0.8",
    "ES": "es-ES,es;q=0.9",
    "IT": "it-IT,it;q=0.9",
    "AU": "en-AU,en;q=0.9",
    "JP": "ja-JP,ja;q=0.9",
    "IN": "en-IN,en;q=0.9,hi;q=0.8",
    "PH": "en-PH,en;q=0.9",
    "TH": "th-TH,th;q=0.9,en;q=0.8",
}

# ------------------------------------------------------------------------ devices


def ja3_of(stack: str) -> str:
    """Synthetic JA3: md5 of a TLS-stack label, stable across runs."""
    return hashlib.md5(stack.encode()).hexdigest()


@attrs.frozen
class Device:
    """A browser or app build: its User-Agent and its TLS stack (→ JA3)."""

    ua: str
    stack: str
    kind: str  # desktop | phone | app
    weight: float
    ja3: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "ja3", ja3_of(self.stack))


_CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
_CHROME_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
_CHROME_AND = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36"
_SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v} Safari/605.1.15"
_SAFARI_IOS = "Mozilla/5.0 (iPhone; CPU iPhone OS {o} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v} Mobile/15E148 Safari/604.1"
_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
_EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0"


def _devices() -> tuple[Device, ...]:
    out = []
    for v, w in ((131, 9), (130, 4), (129, 1.5)):
        out.append(Device(_CHROME_WIN.format(v=v), "chromium-win", "desktop", w))
        out.append(Device(_CHROME_MAC.format(v=v), "chromium-mac", "desktop", w * 0.35))
        out.append(Device(_CHROME_AND.format(v=v), "chromium-android", "phone", w * 1.2))
        out.append(Device(_EDGE.format(v=v), "chromium-win", "desktop", w * 0.3))
    for v, o, w in (("18.1", "18_1", 6), ("18.0", "18_0", 3), ("17.6", "17_6_1", 1.5)):
        out.append(Device(_SAFARI_IOS.format(v=v, o=o), "safari-ios", "phone", w))
        out.append(Device(_SAFARI_MAC.format(v=v), "safari-macos", "desktop", w * 0.4))
    for v, w in ((133, 1.5), (132, 1.0), (128, 0.4)):
        out.append(Device(_FIREFOX.format(v=v), "firefox", "desktop", w))
    out.append(
        Device(
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
            "chromium-android",
            "phone",
            1.5,
        )
    )
    out.append(Device("ShopApp/7.4.2 (iPhone; iOS 18.1; Scale/3.00)", "ios-urlsession", "app", 4))
    out.append(Device("ShopApp/7.4.1 (Android 14; Pixel 8) okhttp/4.12.0", "okhttp4", "app", 3))
    out.append(Device("ShopApp/7.3.9 (Android 13; SM-A546B) okhttp/4.11.0", "okhttp4", "app", 1))
    return tuple(out)


DEVICES = _devices()
BANK_APPS = (
    Device("BankApp/3.9.0 (iPhone; iOS 18.1)", "ios-urlsession", "app", 1),
    Device("BankApp/3.9.0 (Android 14) okhttp/4.12.0", "okhttp4", "app", 1),
)
# Automation stacks: what bots look like on the wire.
BOT = {
    "python": Device("python-requests/2.32.3", "python-requests", "bot", 1),
    "httpx": Device("python-httpx/0.27.2", "python-httpx", "bot", 1),
    "go": Device("Go-http-client/2.0", "golang-1.22", "bot", 1),
    "curl": Device("curl/8.5.0", "curl-openssl3", "bot", 1),
    "node": Device("axios/1.7.7", "nodejs-20", "bot", 1),
    "headless": Device(_CHROME_WIN.format(v=131), "headless-chromium", "bot", 1),
    "scrapy": Device("Scrapy/2.11.2 (+https://scrapy.org)", "python-twisted", "bot", 1),
    "googlebot": Device(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot", "bot", 1
    ),
    "uptime": Device(
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "uptime-go", "bot", 1
    ),
    "partner": Device("PriceCompare-Feed/1.8 (+https://pricecompare.example/partners)", "java-17", "bot", 1),
}

# ------------------------------------------------------------------------- people

_FIRST = (
    "anna james maria john linda robert sarah michael emma david olivia daniel sophie thomas "
    "laura paul julia mark emily peter lucas chloe max lea noah mia liam hannah ben clara "
    "oliver amelia jack isla harry grace leon marie felix lena louis camille hugo ines "
    "ryan megan kevin ashley brian nicole jason rachel eric priya arjun aiko kenji "
    "giulia marco lucia pablo sven ingrid"
).split()
_LAST = (
    "smith johnson williams brown jones miller davis garcia wilson taylor anderson thomas "
    "moore martin lee walker hall young king wright scott green baker adams nelson hill "
    "mueller schmidt schneider fischer weber meyer wagner becker bernard dubois moreau "
    "laurent lefevre roux fournier rossi russo ferrari esposito romano lopez martinez "
    "sanchez perez patel sharma singh tanaka suzuki sato jansen devries bakker obrien "
    "murphy kelly campbell stewart"
).split()


@attrs.define(slots=True)
class User:
    """One registered customer: identity, home network and devices."""

    idx: int
    name: str
    country: str
    home: Network
    home_ip: str  # fixed-line users; mobile users draw from their carrier's pool per session
    devices: tuple[Device, ...]
    account_id: int = 0  # bank account, 0 when none
    orders: list[int] = attrs.field(factory=list)
    card: str = ""
    corporate: bool = False


def _cum(weights) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def pick(rng: random.Random, items, cum: list[float]):
    """Weighted choice with precomputed cumulative weights (bisect, O(log n))."""
    return items[bisect.bisect(cum, rng.random() * cum[-1])]


def _username(rng: random.Random, taken: set[str]) -> str:
    rand = rng.random  # int(rand() * n) instead of randrange: 4x cheaper, same determinism
    while True:
        f, l = _FIRST[int(rand() * len(_FIRST))], _LAST[int(rand() * len(_LAST))]
        r = rand()
        if r < 0.3:
            name = f"{f}.{l}"
        elif r < 0.5:
            name = f"{f}{l}{1 + int(rand() * 98)}"
        elif r < 0.65:
            name = f"{f[0]}{l}"
        elif r < 0.8:
            name = f"{f}_{l}{60 + int(rand() * 40)}"
        else:
            name = f"{f}.{l}{1 + int(rand() * 1999)}@mail.example"
        if name not in taken:
            taken.add(name)
            return name


def fake_usernames(rng: random.Random, n: int, taken) -> list[str]:
    """Usernames from a leaked combo list of *another* site: not in ``taken`` (a container)."""
    seen: set[str] = set()
    out = []
    while len(out) < n:
        name = _username(rng, seen)
        if name not in taken:
            out.append(name)
    return out


# ---------------------------------------------------------------------- catalogue

PRODUCT_LO, PRODUCT_HI = 20001, 26000  # ~82 % of ids exist (the rest are delisted → 404)
ORDER_LO, ORDER_HI = 140001, 190000  # historical orders; new ones are numbered from ORDER_HI
ACCOUNT_LO = 7_300_000
CATEGORIES = 48
VALID_COUPONS = ("BLACKFRIDAY26", "WELCOME10", "FREESHIP", "BF26-VIP")
SEARCH_TERMS = (
    "tv 65 inch oled", "airpods", "air fryer", "lego", "ps5", "xbox", "nintendo switch", "laptop",
    "gaming laptop", "iphone 16", "iphone case", "usb-c charger", "robot vacuum", "coffee machine",
    "espresso", "headphones", "noise cancelling", "smart watch", "fitbit", "kindle", "ipad",
    "monitor 27", "4k monitor", "mechanical keyboard", "mouse", "winter jacket", "boots",
    "sneakers", "running shoes", "blender", "instant pot", "vacuum", "dyson", "mattress",
    "pillow", "towels", "christmas lights", "christmas tree", "gift card", "toys", "board games",
    "drone", "camera", "gopro", "tripod", "printer", "ssd 2tb", "router", "mesh wifi",
)


@attrs.define(slots=True)
class Catalogue:
    """Products, orders, bank accounts and codes: what the API can answer about."""

    products: list[int]
    product_cum: list[float]
    product_set: frozenset[int]
    product_cat: dict[int, int]
    order_owner: dict[int, int]  # order id → user idx (historical + created in the run)
    account_owner: dict[int, int]
    giftcards: frozenset[str]
    giftcard_list: list[str]  # sorted, for deterministic picks
    next_order: int = ORDER_HI
    next_transfer: int = 5_100_000


def giftcard_code(rng: random.Random) -> str:
    """``GC-XXXX-XXXX-XXXX``, 12 characters of an unambiguous alphabet."""
    a = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "GC-" + "-".join("".join(rng.choice(a) for _ in range(4)) for _ in range(3))


@attrs.define(slots=True)
class Population:
    """Registered users plus the catalogue they shop in."""

    users: list[User]
    by_name: dict[str, User]
    catalogue: Catalogue
    fixed_cum: list[float]
    mobile_cum: list[float]
    device_cum: list[float]
    pools: dict[int, list[str]]  # carrier ASN → CGNAT pool addresses


def build_population(rng: random.Random, n_users: int, *, mobile_share: float = 0.22,
                     app_weight: float = 1.0, pool_factor: float = 1.0) -> Population:
    """Create ``n_users`` customers, ~60 k historical orders and the product catalogue.

    ``mobile_share`` of them only use a phone behind their carrier's CGNAT (pools scaled
    by ``pool_factor``); ``app_weight`` multiplies the native apps' share of devices.
    """
    taken: set[str] = set()
    fixed_cum = _cum(n.weight for n in FIXED)
    mobile_cum = _cum(n.weight for n in MOBILE)
    app = app_weight
    device_cum = _cum(d.weight * (app if d.kind == "app" else 1.0) for d in DEVICES)
    phones = [d for d in DEVICES if d.kind != "desktop"]
    phone_cum = _cum(d.weight * (app if d.kind == "app" else 1.0) for d in phones)
    pools = {}
    for m in MOBILE:
        pools[m.asn] = sorted({m.random_ip(rng) for _ in range(max(2, round(m.pool * pool_factor)))})
    users: list[User] = []
    by_name: dict[str, User] = {}
    for i in range(n_users):
        mobile_only = rng.random() < mobile_share
        if mobile_only:
            home = pick(rng, MOBILE, mobile_cum)
            devs = (pick(rng, phones, phone_cum),)
            home_ip = ""
        else:
            home = pick(rng, FIXED, fixed_cum)
            home_ip = home.random_ip(rng)
            first = pick(rng, DEVICES, device_cum)
            devs = (first,) if rng.random() < 0.55 else (first, pick(rng, phones, phone_cum))
        u = User(i, _username(rng, taken), home.country, home, home_ip, devs)
        u.card = f"card_{rng.getrandbits(48):012x}"
        if rng.random() < 0.3:
            u.account_id = ACCOUNT_LO + i * 7 + rng.randrange(7)
        users.append(u)
        by_name[u.name] = u
    # Products: Zipf-like popularity, so a few items get most views (as in real shops).
    products = [p for p in range(PRODUCT_LO, PRODUCT_HI + 1) if rng.random() < 0.82]
    rng.shuffle(products)
    product_cum = _cum(1.0 / (r + 8) ** 0.9 for r in range(len(products)))
    product_cat = {p: 1 + (p * 2654435761 >> 7) % CATEGORIES for p in products}
    order_owner = {}
    rand = rng.random
    for o in range(ORDER_LO, ORDER_HI):
        if rand() < 0.93:  # the rest were purged → 404
            owner = int(rand() * n_users)
            order_owner[o] = owner
            users[owner].orders.append(o)
    account_owner = {u.account_id: u.idx for u in users if u.account_id}
    cards = {giftcard_code(rng) for _ in range(400)}
    cat = Catalogue(
        products=products,
        product_cum=product_cum,
        product_set=frozenset(products),
        product_cat=product_cat,
        order_owner=order_owner,
        account_owner=account_owner,
        giftcards=frozenset(cards),
        giftcard_list=sorted(cards),
    )
    return Population(users, by_name, cat, fixed_cum, mobile_cum, device_cum, pools)


# ------------------------------------------------------------------- rate limits


class Limiter:
    """Fixed-window counter per key: the API's rate limiter (``allow`` → 429 when False).

    Callers feed it their own requests in time order per key; keys are per actor
    (IP, user), so generation order across actors does not matter.
    """

    __slots__ = ("limit", "window", "_state")

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.window = window_ms
        self._state: dict[object, tuple[int, int]] = {}

    def allow(self, key: object, t: int) -> bool:
        slot = t // self.window
        s, n = self._state.get(key, (slot, 0))
        if s != slot:
            n = 0
        self._state[key] = (slot, n + 1)
        return n < self.limit


def epoch_of(date: str) -> int:
    """``YYYY-MM-DD`` → epoch ms of its midnight UTC."""
    return calendar.timegm(time.strptime(date, "%Y-%m-%d")) * 1000
