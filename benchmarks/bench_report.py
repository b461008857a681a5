#!/usr/bin/env python
"""Report benchmark: size, time and memory of `sleuth report` on a large generated match file.

`synthetic_matches(n, seed)` varies real match shapes (window, sequence with
absences, single event, a campaign citing earlier matches every 50th) over a
day of event time: ids, keys, fingerprints and provenance events change per
match, so nothing deduplicates and the aggregates have realistic spread.
The goal of docs/report.md: < 2 MB of HTML for 100,000 matches.

    python benchmarks/bench_report.py --matches 100000
    python benchmarks/bench_report.py --matches 100000 --events-per-match 20 --json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import sys
import tempfile
import time

import orjson

from sleuth.engine.match import format_ts

START = 1795766400.0     # 2026-11-27T00:00:00Z
RULES = [
    ("stuffing_single_source", "credential-stuffing", "account-takeover", "high", "window", "src_ip"),
    ("aggregation_user_many_sources", "account-aggregation", "account-takeover", "high", "window", "user"),
    ("ato_failures_then_change_elsewhere", "account-takeover", "account-takeover", "critical", "sequence", "user"),
    ("scraping_catalogue_walk", "scraping", "scraping", "medium", "window", "src_ip"),
    ("enum_denied_object_walk", "enumeration", "scraping", "high", "window", "src_ip"),
    ("bla_giftcard_cracking", "business-logic-abuse", "fraud", "high", "window", "user"),
    ("rotation_user_many_networks", "l3-rotation", "account-takeover", "high", "window", "user"),
    ("reputation_tor_sensitive", "l3-reputation", "account-takeover", "medium", "event", "src_ip"),
    ("session_churn_source", "session-rotation", "scraping", "medium", "window", "src_ip"),
    ("fp_rotation_source", "fingerprint-rotation", "scraping", "high", "window", "src_ip"),
    ("automation_metronome", "low-entropy-automation", "scraping", "medium", "window", "ja3"),
    ("volume_route_surge", "sustained-volume", "disruption", "medium", "window", "route"),
    ("spec_undocumented_endpoint", "spec-anomaly", "scraping", "medium", "event", "src_ip"),
    ("exhaustion_expensive_burst", "resource-exhaustion", "disruption", "high", "window", "src_ip"),
]


def _hex(*parts) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def _event(rng: random.Random, t: float, key: str, value: str) -> dict:
    return {"id": f"ev-{rng.randrange(10 ** 8):08d}", "ts": format_ts(t),
            "fields": {key: value, "route": "/api/v1/auth/login", "status": rng.choice((200, 401, 429))}}


def synthetic_matches(n: int, seed: int = 1, events_per_match: int = 6) -> list[dict]:
    """`n` schema-shaped match records over 24 h of event time (every 50th a campaign)."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        t = START + rng.random() * 86400
        if i % 50 == 49 and len(out) >= 3:
            cited = rng.sample(out[-40:], 3)
            mid = _hex("c", seed, i)
            out.append({
                "match_id": mid, "rule": "campaign_kill_chain", "ttp": "campaign", "goal": "fraud",
                "severity": "critical", "title": "Recon, access, takeover, fraud from one network",
                "key": {"asn": rng.randrange(1000, 70000)},
                "first_ts": format_ts(t - 600), "last_ts": format_ts(t), "emitted_at": format_ts(max(t, *(
                    _t(c) for c in cited))),
                "fields": {}, "fingerprint": _hex("fc", seed, i % 300), "flags": [],
                "provenance": {"kind": "sequence", "within": "6h", "steps": [
                    {"step": s, "count": 1, "omitted": 0, "events": [
                        {"id": c["match_id"], "ts": c["emitted_at"], "fields": {"ttp": c["ttp"]}}]}
                    for s, c in zip(("recon", "access", "takeover"), cited)]},
            })
            continue
        rule, ttp, goal, sev, kind, keyf = RULES[rng.randrange(len(RULES))]
        actor = (f"203.0.{rng.randrange(256)}.{rng.randrange(256)}" if keyf == "src_ip"
                 else f"user{rng.randrange(5000)}" if keyf == "user" else _hex("a", rng.randrange(2000)))
        evs = [_event(rng, t - 60 + k, keyf, actor) for k in range(events_per_match)]
        if kind == "window":
            prov = {"kind": "window", "window": {"type": "sliding", "size": "10m", "start": format_ts(t - 600),
                                                 "end": format_ts(t)},
                    "values": {"distinct(user)": rng.randrange(20, 90), "ratio(status == 200)": 0.01},
                    "event_count": 40 + events_per_match, "events": evs, "omitted": 40}
        elif kind == "sequence":
            prov = {"kind": "sequence", "within": "30m", "steps": [
                {"step": "fails", "count": 4, "omitted": 0, "events": evs[:4]},
                {"step": "success", "count": 1, "omitted": 0, "events": evs[4:5]},
                {"step": "change", "count": 1, "omitted": 0, "events": evs[5:6]}],
                "absences": [{"name": "recovered", "between": ["fails", "success"], "seen": False}]}
        else:
            prov = {"kind": "event", "events": evs[:1]}
        out.append({
            "match_id": _hex("m", seed, i), "rule": rule, "ttp": ttp, "goal": goal, "severity": sev,
            "title": rule.replace("_", " "), "key": {keyf: actor},
            "first_ts": format_ts(t - 60), "last_ts": format_ts(t), "emitted_at": format_ts(t),
            "fields": {"asn": rng.randrange(1000, 70000)},
            "fingerprint": _hex("f", rule, actor), "flags": ["evicted"] if i % 997 == 0 else [],
            "provenance": prov,
        })
    return out


def cloned_matches(n: int, seed: int = 1, templates: int = 1000) -> list[dict]:
    """`n` matches made fast from `templates` synthetic ones: new ids, times, keys and fingerprints.

    Provenance is shared between clones (it is only read), so this costs
    ~3 µs a match instead of ~80; aggregates still spread over a day, 20,000
    actors and 70,000 fingerprints.
    """
    base = synthetic_matches(templates, seed)
    out = []
    for i in range(n):
        m = dict(base[i % templates])
        t = format_ts(START + i * 86400.0 / n)
        (field, value), = m["key"].items() if len(m["key"]) == 1 else (("asn", 0),)
        m.update(match_id=f"{i:016x}", emitted_at=t, last_ts=t, fingerprint=f"{(i * 7919) % 70000:016x}",
                 key={field: f"{value}#{i % 20000}"})
        out.append(m)
    return out


def _t(m: dict) -> float:
    from sleuth.engine.ingest import parse_time

    return parse_time(m["emitted_at"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--matches", type=int, default=100_000)
    p.add_argument("--events-per-match", type=int, default=6, help="provenance events per match (default 6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", metavar="DIR", help="keep the match file and the page here")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from sleuth.playground.report import write_report

    d = args.keep or tempfile.mkdtemp(prefix="sleuth-bench-report-")
    os.makedirs(d, exist_ok=True)
    src, out = os.path.join(d, "matches.jsonl"), os.path.join(d, "report.html")
    with open(src, "wb") as fh:
        for m in synthetic_matches(args.matches, args.seed, args.events_per_match):
            fh.write(orjson.dumps(m, option=orjson.OPT_SORT_KEYS) + b"\n")
    cpu0, wall0 = time.process_time(), time.monotonic()
    r = write_report(out, [src])
    result = {
        "matches": args.matches, "input_bytes": os.path.getsize(src), "page_bytes": os.path.getsize(out),
        "held_with_provenance": r["detail"]["shown"], "detail_bytes": r["detail"]["bytes"],
        "cpu_s": round(time.process_time() - cpu0, 2), "wall_s": round(time.monotonic() - wall0, 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": sys.version.split()[0],
    }
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"{result['matches']:,} matches ({result['input_bytes'] / 1e6:.1f} MB of JSON lines) -> "
              f"{result['page_bytes'] / 1e6:.2f} MB of HTML ({result['held_with_provenance']:,} held with "
              f"provenance) in {result['cpu_s']} s CPU, {result['wall_s']} s wall, max RSS "
              f"{result['max_rss_mb']} MB (includes generating the input)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
