"""The attack programs' toolkit: the catalogue entry, shadow endpoints and shared helpers.

Part of ``sleuth simulate``. ``AttackKind`` describes a generator (its technique,
difficulty and the signal features a detection needs, which labels turn into
``visible`` flags per rendering); the helpers place an instance in time, make
residential-proxy and hosting clients, draw combo lists and victims, and sign a
throw-away account up. ``attack.py`` (the original programs) and
``attack_fleet.py`` (behaviours seen in real access logs) share them.
"""

from __future__ import annotations

import random

import attrs

from .traffic import Client, Visit, World
from .world import DEVICES, FIXED, LANG, Device, Network, User, fake_usernames, pick


@attrs.frozen
class AttackKind:
    """One attack generator: the technique it produces and how hard it is to see."""

    name: str
    ttp: str
    goal: str
    difficulty: str  # easy | medium | hard
    summary: str
    also: tuple[str, ...] = ()  # other techniques the same events legitimately show
    needs: tuple[tuple[str, ...], ...] = ()  # signal features a detection needs (alternatives)
    tuning: bool = True  # part of the tuning world's default run


@attrs.frozen
class Shadow:
    """An undocumented endpoint the API really serves (or answers for)."""

    method: str
    path: str
    status: int  # in the world's own terms


# ------------------------------------------------------------------------ helpers

TOR_BROWSER = Device("Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0", "tor-browser", "bot", 1)
BROWSERS = tuple(d for d in DEVICES if d.kind != "app")


def window(rng: random.Random, w: World, minutes: float, lo: float = 0.04, hi: float = 0.97) -> tuple[int, int]:
    """A [t0, t1) inside the span: ``minutes`` long, or 80 % of a shorter span."""
    span = w.end - w.start
    dur = int(min(minutes * 60_000, 0.8 * span))
    a, b = w.start + int(lo * span), w.start + int(hi * span) - dur
    t0 = a + int(rng.random() * max(0, b - a))
    return t0, t0 + dur


def net_client(net: Network, rng: random.Random, d: Device, web: bool = False, lang: str | None = None) -> Client:
    """A client on one network (a hosting or reputation range) with the device's UA and TLS stack."""
    return Client(net.random_ip(rng), net.asn, net.country, d.ua, d.ja3, lang, web)


def resi(w: World, rng: random.Random, d: Device, country: str | None = None) -> Client:
    """A residential-proxy exit: a home-broadband address, optionally in one country."""
    nets = FIXED if country is None else tuple(n for n in FIXED if n.country == country) or FIXED
    net = nets[rng.randrange(len(nets))] if country else pick(rng, FIXED, w.pop.fixed_cum)
    return Client(net.random_ip(rng), net.asn, net.country, d.ua, d.ja3, LANG.get(net.country), True)


def combo(w: World, rng: random.Random, n: int, real: float = 0.35, reuse: float = 0.04) -> list[tuple[str, bool]]:
    """A leaked combo list: (username, password-is-right-here) pairs."""
    users = w.pop.users
    fakes = iter(fake_usernames(rng, n, w.pop.by_name))
    out = []
    for _ in range(n):
        if rng.random() < real:
            out.append((users[rng.randrange(len(users))].name, rng.random() < reuse))
        else:
            out.append((next(fakes), False))
    return out


def victims(w: World, rng: random.Random, k: int, before: int, bank: bool = False) -> list[User]:
    """Users with a benign login before ``before`` (so the takeover has history to differ from)."""
    users = w.pop.users
    seen = [users[i] for i, (t, _) in w.first_login.items() if t < before and not users[i].corporate
            and (users[i].account_id or not bank)]
    seen.sort(key=lambda u: u.idx)
    if len(seen) < k:
        seen += [u for u in rng.sample(users, 4 * k) if u.account_id or not bank]
    if len(seen) < k:
        # A very short or small run: too few customers logged in yet and no bank customer in the
        # draw. Take the first eligible users (no draw, so runs that got here before are unchanged).
        have = {u.idx for u in seen}
        seen += [u for u in users if (u.account_id or not bank) and u.idx not in have][: k - len(seen)]
    return rng.sample(seen, k)


def register(v: Visit, rng: random.Random) -> str:
    """The attacker signs up a throw-away account and logs in with it."""
    name = fake_usernames(rng, 1, v.w.pop.by_name)[0].split("@")[0] + str(rng.randint(10, 99))
    v.hit("register", status=201, user=name)
    v.think(3, 0.5)
    v.hit("login", user=name)
    v.user = name
    return name


def random_ua(rng: random.Random) -> str:
    """A plausible desktop Chrome User-Agent of a random build."""
    major = rng.randint(100, 131)
    return (f"Mozilla/5.0 (Windows NT {rng.choice(('10.0', '6.1', '11.0'))}; Win64; x64) AppleWebKit/537.36 "
            f"(KHTML, like Gecko) Chrome/{major}.0.{rng.randint(4000, 6800)}.{rng.randint(10, 250)} Safari/537.36")


