"""Regenerate the benign look-alike fixtures of rulepacks/api/fixtures/ from the simulator.

    python tests/rulepacks/make_fixtures.py

Every fixture is a slice of one labelled trap (or of ordinary customers) of
`sleuth simulate --hours 1 --seed 7 --scale 1`, routed through the
simulator's OpenAPI document so that `route` is set (tests run without a
spec), and trimmed to the fields rules read. The slices are chosen so that
each one is a realistic negative for the rules whose README line names it;
rulepacks/api/fixtures/README.md records what each file holds.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import orjson

from sleuth.engine.ingest import OpenAPI, parse_time
from sleuth.playground.simulate import SimConfig, generate

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "rulepacks", "api", "fixtures")
KEEP = ("id", "ts", "src_ip", "asn", "country", "method", "path", "route", "query", "params", "status",
        "user", "session", "ua", "ja3", "latency_ms")
KEEP_HEADERS = ("x-api-key-id", "from", "x-forwarded-for")


def trim(ev: dict, api: OpenAPI, drop: tuple[str, ...] = (), spec: bool = False) -> dict:
    out = {k: ev[k] for k in KEEP if k in ev and k not in drop}
    route, fields = api.route(ev.get("method", ""), ev["path"], ev.get("query"))
    out["route"] = route
    if spec:
        out["spec"] = fields
    hdr = {k: v for k, v in (ev.get("headers") or {}).items() if k in KEEP_HEADERS}
    if hdr:
        out["headers"] = hdr
    return out


def write(name: str, events: list[dict]) -> None:
    path = os.path.join(OUT, name)
    with open(path, "wb") as fh:
        for ev in events:
            fh.write(orjson.dumps(ev, option=orjson.OPT_SORT_KEYS) + b"\n")
    print(f"{name}: {len(events)} events")


def main() -> None:
    sim = generate(SimConfig(hours=1, seed=7, scale=1.0, only_benign=True))
    api = OpenAPI(sim.openapi)
    events = sorted(sim.events, key=lambda e: e["ts"])
    by_id = {e["id"]: e for e in events}
    traps = defaultdict(list)
    for t in sim.traps:
        traps[t["trap"]].append(t)

    def ids_of(kind: str, k: int = 0) -> set:
        return set(traps[kind][k]["event_ids"])

    def window(evs, start: str, minutes: float) -> list[dict]:
        t0 = parse_time(start)
        return [e for e in evs if t0 <= parse_time(e["ts"]) < t0 + minutes * 60]

    # Corporate NAT: the office egress IP, 10 minutes at 08:30.
    ids = ids_of("corporate-nat")
    corp = [e for e in events if e["id"] in ids]
    write("corporate_nat.jsonl", [trim(e, api) for e in window(corp, "2026-11-27T08:30:00Z", 10)])

    # Mobile CGNAT: the busiest carrier address over 30 minutes.
    ids = set().union(*(set(t["event_ids"]) for t in traps["mobile-cgnat"]))
    cg = [e for e in events if e["id"] in ids]
    busiest = Counter(e["src_ip"] for e in window(cg, "2026-11-27T08:15:00Z", 30)).most_common(1)[0][0]
    write("cgnat_address.jsonl",
          [trim(e, api) for e in window(cg, "2026-11-27T08:15:00Z", 30) if e["src_ip"] == busiest])

    # Customers logging in (all benign logins, typos included) over 10 minutes.
    logins = [e for e in events if e["path"] == "/api/v1/auth/login"]
    write("customer_logins.jsonl", [trim(e, api, ("ua", "latency_ms", "country"))
                                    for e in window(logins, "2026-11-27T08:20:00Z", 10)])

    # The traveller: seen at home, later logs in from a hotel abroad and changes the password.
    write("traveller.jsonl", [trim(by_id[i], api) for i in sorted(ids_of("traveller"), key=lambda i: by_id[i]["ts"])])

    # A support agent working tickets for 40 minutes.
    ids = ids_of("support-agent")
    write("support_agent.jsonl",
          [trim(e, api) for e in window([e for e in events if e["id"] in ids], "2026-11-27T08:10:00Z", 40)])

    # The declared crawler, 15 minutes.
    ids = ids_of("search-crawler")
    crawl = [e for e in events if e["id"] in ids]
    write("googlebot.jsonl", [trim(e, api) for e in window(crawl, crawl[0]["ts"], 15)])

    # The partner price feed, 15 minutes.
    ids = ids_of("partner-poller")
    write("partner_feed.jsonl",
          [trim(e, api) for e in window([e for e in events if e["id"] in ids], "2026-11-27T08:10:00Z", 15)])

    # Flash-sale shoppers: the 4 busiest shopper sessions (refreshing the sale item).
    ids = ids_of("flash-sale")
    sale = [e for e in events if e["id"] in ids]
    top = {s for s, _ in Counter(e.get("session") for e in sale if e.get("session")).most_common(4)}
    write("flash_sale_shoppers.jsonl", [trim(e, api, ("ua", "latency_ms", "country"))
                                        for e in sale if e.get("session") in top])


    # Attack side: the param-tamper instance (spec-anomaly, medium), with the
    # router's spec.* conformance fields.
    att = generate(SimConfig(hours=1, seed=7, scale=1.0, attacks=("spec-anomaly",)))
    api = OpenAPI(att.openapi)
    lab = next(x for x in att.labels if x["generator"] == "param-tamper")
    ids = set(lab["event_ids"])
    write("param_tamper.jsonl", [trim(e, api, ("ua", "latency_ms", "country"), spec=True)
                                 for e in sorted(att.events, key=lambda e: e["ts"]) if e["id"] in ids])


if __name__ == "__main__":
    main()
