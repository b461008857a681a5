"""Synthetic match files for the report's tests and size benchmark.

`synthetic_matches(n, seed)` varies real match shapes (window, sequence with
absences, single event, a campaign citing earlier matches) over a day of
event time: ids, keys, fingerprints and provenance events change per match,
so nothing deduplicates and the aggregates have realistic spread.
"""

from __future__ import annotations

import hashlib
import random

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


def _t(m: dict) -> float:
    from sleuth.engine.normalize import parse_time

    return parse_time(m["emitted_at"])
