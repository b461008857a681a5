"""Measured population figures of a simulated run (what docs/simulator.md states per world).

Part of ``sleuth simulate``: the tests check each world's figures against the
``Populace.stated`` bounds and ``python -m sleuth.playground.sim.figures`` prints
them for the docs. Everything is computed from the events and traps alone, as
an analyst would from the files: shares of requests per fingerprint, requests
without a session, carrier and office address sharing, the automated clients'
periods and paces.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import statistics
import sys
from collections import Counter, defaultdict

from .world import MOBILE, parse_ts

CUSTOMER_TRAPS = frozenset({"mobile-cgnat", "corporate-nat", "flash-sale", "traveller", "app-refresh"})
"""Trap kinds whose events are people using the shop (the rest are machines)."""
_CARRIER_NETS = tuple(ipaddress.ip_network(p) for m in MOBILE for p in m.prefixes)


@functools.lru_cache(maxsize=1 << 16)
def _carrier(ip: str) -> bool:
    """Is this address in a mobile carrier's CGNAT range? (Orange's ASN also has fixed lines.)"""
    a = ipaddress.ip_address(ip)
    return any(a in n for n in _CARRIER_NETS)


def _gaps(times: list[int]) -> list[int]:
    times = sorted(times)
    return [b - a for a, b in zip(times, times[1:])]


def _fp(e: dict) -> str | None:
    """The TLS fingerprint an event carries (``ja3``, or ``ja4`` where a world logs it in its own field)."""
    return e.get("ja3") or e.get("ja4")


def population_figures(sim) -> dict:
    """Figures of the benign traffic of ``sim`` (a ``Simulation``); see the module docstring."""
    attack = {i for lab in sim.labels for i in lab["event_ids"]}
    trap_of: dict[str, str] = {}
    by_trap: dict[str, list[list[dict]]] = defaultdict(list)
    by_id = {e["id"]: e for e in sim.events}
    for t in sim.traps:
        evs = [by_id[i] for i in t["event_ids"]]
        by_trap[t["trap"]].append(evs)
        for i in t["event_ids"]:
            trap_of[i] = t["trap"]
    benign = [e for e in sim.events if e["id"] not in attack]
    customers = [e for e in benign if trap_of.get(e["id"], "customer") in CUSTOMER_TRAPS | {"customer"}]
    # Ordinary customers only (no office, sale or app background traffic): shares of them do not
    # depend on the scale, whereas offices and machines keep their volume at any scale.
    ordinary = [e for e in benign if trap_of.get(e["id"], "customer") in ("customer", "mobile-cgnat")]
    n = len(benign) or 1
    out: dict = {"benign_requests": len(benign), "customer_requests": len(customers)}
    cfps = Counter(_fp(e) for e in customers if _fp(e))
    if cfps:
        out["top10_customer_fingerprint_share"] = round(sum(c for _, c in cfps.most_common(10)) / len(customers), 4)
    fps = Counter(_fp(e) for e in benign if _fp(e))
    if fps:
        top = fps.most_common(10)
        out["top10_fingerprint_share"] = round(sum(c for _, c in top) / n, 4)
        out["fingerprints"] = len(fps)
        first = top[0][0]
        out["top_fingerprint_share"] = round(top[0][1] / n, 4)
        out["top_fingerprint_addresses"] = len({e["src_ip"] for e in benign if _fp(e) == first})
        out["fingerprinted_share"] = round(sum(fps.values()) / n, 4)
    out["sessionless_share"] = round(sum("session" not in e for e in benign) / n, 4)
    if ordinary:
        out["customer_sessionless_share"] = round(sum("session" not in e for e in ordinary) / len(ordinary), 4)
        out["carrier_request_share"] = round(sum(_carrier(e["src_ip"]) for e in ordinary) / len(ordinary), 4)
    users_at: dict[str, set] = defaultdict(set)
    for e in customers:
        if "user" in e and _carrier(e["src_ip"]):
            users_at[e["src_ip"]].add(e["user"])
    if users_at:
        out["users_per_carrier_address"] = statistics.median(len(u) for u in users_at.values())
    out["addresses"] = len({e["src_ip"] for e in benign})
    offices = []
    for evs in by_trap.get("corporate-nat", []):
        offices.append(len({e["user"] for e in evs if "user" in e}))
    if offices:
        out["users_per_office_address"] = min(offices)
    periods = []
    for evs in by_trap.get("uptime-monitor", []):
        per_ip: dict[str, list[int]] = defaultdict(list)
        for e in evs:
            per_ip[e["src_ip"]].append(parse_ts(e["ts"]))
        for times in per_ip.values():
            g = _gaps(times)
            if g:
                periods.append(round(statistics.median(g) / 1000, 1))
    if periods:
        out["monitor_periods_s"] = sorted(set(periods))
    bulk = []
    for evs in by_trap.get("bulk-download", []):
        g = _gaps([parse_ts(e["ts"]) for e in evs])
        routes = {(e["method"], e["path"]) for e in evs}
        if len(g) > 2:
            bulk.append({"requests": len(evs), "routes": len(routes), "uas": len({e.get("ua") for e in evs}),
                         "pace_s": round(statistics.median(g) / 1000, 2),
                         "pace_cv": round(statistics.pstdev(g) / statistics.mean(g), 3)})
    if bulk:
        out["bulk_downloads"] = bulk
    polls = []
    for evs in by_trap.get("long-poller", []):
        starts, last = [], None
        for t in sorted(parse_ts(e["ts"]) for e in evs):
            if last is None or t - last > 30_000:
                starts.append(t)
            last = t
        g = _gaps(starts)
        if g:
            polls.append(round(statistics.median(g) / 60_000, 1))
    if polls:
        out["poller_periods_min"] = sorted(polls)
    for kind in ("app-refresh", "flash-sale", "search-crawler", "partner-poller"):
        k = sum(len(evs) for evs in by_trap.get(kind, []))
        if k:
            out[f"{kind}_share"] = round(k / n, 4)
    return out


def main(argv: list[str] | None = None) -> int:
    from .simulation import WORLDS, SimConfig, generate

    p = argparse.ArgumentParser(prog="python -m sleuth.playground.sim.figures",
                                description="Population figures of each world's benign traffic.")
    p.add_argument("--world", default="all")
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default="2026-11-27T14:00:00Z", help="RFC 3339 start (offices open at 14:00 UTC)")
    args = p.parse_args(argv)
    for name in WORLDS if args.world == "all" else [args.world]:
        sim = generate(SimConfig(hours=args.hours, scale=args.scale, seed=args.seed, world=name, only_benign=True,
                                 start=args.start))
        print(name, population_figures(sim))
    return 0


if __name__ == "__main__":
    sys.exit(main())
