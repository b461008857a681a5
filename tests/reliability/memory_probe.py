"""Memory measurements for the bounded-memory tests and docs/reliability.md.

Two tools, both usable from the command line:

    python tests/reliability/memory_probe.py per-key [--keys N]
    python tests/reliability/memory_probe.py explode --keys N [--cap C --max-keys M]

`per-key` prints the bytes each idle key costs per rule kind (tracemalloc,
traced Python allocations after the key's event was processed, divided by
the number of keys). `explode` runs a key-explosion attack (N distinct
source IPs, one event each, through a sliding-window rule and a sequence
rule keyed by src_ip, with an attacker IP among them and one far-future
timestamp in the middle) and prints, as JSON, the peak RSS growth (run it
in a fresh process), the engine's stats and what
the attacker's matches looked like. The RSS is sampled after every batch
of 512 events (`/proc/self/statm`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
import tracemalloc

from sleuth.dsl import load_pack
from sleuth.engine import Engine

META = 'meta { ttp = "l3-rotation" goal = "scraping" severity = low title = "t" }'

KINDS = {
    "event": f'rule r {{ {META} by src_ip when route == "/never" }}',
    "sequence": f'rule r {{ {META} by src_ip within 5m sequence {{ a: route == "/x" b: route == "/y" }} }}',
    "sliding": f'rule r {{ {META} by src_ip window 1m having count() >= 1000 }}',
    "sliding-3-aggregates": (f'rule r {{ {META} by src_ip window 1m '
                             f'having count() >= 1000 and distinct(user) > 5 and avg(resp_bytes) > 3 }}'),
    "tumbling": f'rule r {{ {META} by src_ip window 1m tumbling having count() >= 1000 }}',
    "session": f'rule r {{ {META} by src_ip window session gap 1m having count() >= 1000 }}',
}

T0 = 1_700_000_000.0


def ip(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def rotating(n: int, t0: float = T0, step: float = 0.001):
    """One event per distinct source IP, `step` seconds apart."""
    for i in range(n):
        yield {"id": f"e{i}", "ts": t0 + i * step, "src_ip": ip(i), "route": "/x", "user": "u",
               "resp_bytes": 10}


def _feed_batches(eng: Engine, events, size: int = 256) -> int:
    n = 0
    batch = []
    for ev in events:
        batch.append(ev)
        if len(batch) == size:
            eng.feed_many(batch)
            n += len(batch)
            batch = []
    if batch:
        eng.feed_many(batch)
        n += len(batch)
    eng.feed_many([])          # drop the reference to the last batch's matches
    return n


def bytes_per_key(text: str, keys: int = 5000, **options) -> float:
    """Traced bytes per idle key of a one-rule pack (lateness 0: every event processed)."""
    pack = load_pack(sources={"m.ttp": text})
    eng = Engine(pack, lateness=0, **options)
    _feed_batches(eng, rotating(10, T0 - 100))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _feed_batches(eng, rotating(keys))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / keys


def explosion_pack(cap: int) -> str:
    return f'''
rule burst {{
  meta {{ ttp = "l3-rotation" goal = "scraping" severity = low title = "burst" }}
  by src_ip
  window 1m
  having count() >= 20
  limit keys {cap}
}}
rule login_then_admin {{
  meta {{ ttp = "account-takeover" goal = "account-takeover" severity = high title = "seq" }}
  by src_ip
  within 5m
  sequence {{
    a: route == "/login"
    b: route == "/admin"
  }}
  limit keys {cap}
}}
'''


ATTACKER = "203.0.113.7"


def explosion_events(n: int):
    """n rotating IPs; every 50th event the attacker (login, admin alternately);
    one far-future event in the middle. Yields (kind, event)."""
    t = T0
    for i in range(n):
        t = T0 + i * 0.001
        if i % 50 == 25:
            yield "attacker", {"id": f"a{i}", "ts": t, "src_ip": ATTACKER,
                               "route": "/login" if (i // 50) % 2 == 0 else "/admin"}
        elif i == n // 2:
            yield "future", {"id": "forged", "ts": t + 10 * 365 * 86400, "src_ip": "198.51.100.1",
                             "route": "/login"}
        else:
            yield "rotating", {"id": f"e{i}", "ts": t, "src_ip": ip(i), "route": "/login"}


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss() -> int:
    """Current resident set size in bytes.

    Not `ru_maxrss`: a child started from a big process (pytest) can inherit
    its parent's high-water mark, which would hide this run's growth.
    """
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def explode(n: int, cap: int, max_keys: int, lateness: float = 5.0) -> dict:
    pack = load_pack(sources={"x.ttp": explosion_pack(cap)})
    eng = Engine(pack, lateness=lateness, max_keys=max_keys)
    _feed_batches(eng, ({"ts": T0 - 1000 + i, "src_ip": ip(i), "route": "/x"} for i in range(100)))
    gc.collect()
    rss0 = peak = rss()
    started = time.process_time()
    # Matches are summarised as they come: keeping them would measure the probe.
    summary: dict = {"count": 0, "by_rule": {}, "evicted_by_rule": {}, "keys": set(), "after_future": 0}
    kinds = {"attacker": 0, "rotating": 0, "future": 0}
    batch = []
    last_normal = None
    future_at = None

    def note(matches) -> None:
        for m in matches:
            summary["count"] += 1
            summary["by_rule"][m.rule] = summary["by_rule"].get(m.rule, 0) + 1
            if "evicted" in m.flags:
                summary["evicted_by_rule"][m.rule] = summary["evicted_by_rule"].get(m.rule, 0) + 1
            summary["keys"].add(tuple(sorted(m.key.items())))
            if future_at is not None and m.first_ts > future_at + 1:
                summary["after_future"] += 1

    for kind, ev in explosion_events(n):
        kinds[kind] += 1
        if kind != "future":
            last_normal = ev["ts"]
        else:
            future_at = ev["ts"] - 10 * 365 * 86400
        batch.append(ev)
        if len(batch) == 512:
            note(eng.feed_many(batch))
            batch = []
            peak = max(peak, rss())
    note(eng.feed_many(batch))
    watermark_before_close = eng.watermark
    stats_before_close = eng.stats()
    peak = max(peak, rss())
    note(eng.close())
    cpu = time.process_time() - started
    stats = eng.stats()
    return {
        "events": n, "kinds": kinds, "cap": cap, "max_keys": max_keys, "cpu_seconds": round(cpu, 2),
        "peak_rss_growth_bytes": peak - rss0,
        "keys_before_close": stats_before_close["keys"],
        "keys_by_rule_before_close": stats_before_close["keys_by_rule"],
        "evictions": stats["evictions"], "evicted_by_rule": stats["evicted_by_rule"],
        "events_processed": stats["events_processed"], "quarantined": stats["quarantined"],
        "watermark_before_close": watermark_before_close,
        "last_normal_ts": last_normal, "future_inserted_at": future_at,
        "matches": summary["count"], "matches_by_rule": summary["by_rule"],
        "evicted_matches_by_rule": summary["evicted_by_rule"],
        "match_keys": sorted(dict(k) for k in summary["keys"]) if len(summary["keys"]) < 10 else ["many"],
        "matches_after_the_future_event": summary["after_future"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pk = sub.add_parser("per-key")
    pk.add_argument("--keys", type=int, default=20000)
    ex = sub.add_parser("explode")
    ex.add_argument("--keys", type=int, required=True)
    ex.add_argument("--cap", type=int, default=5000)
    ex.add_argument("--max-keys", type=int, default=8000)
    args = p.parse_args(argv)
    if args.cmd == "per-key":
        out = {kind: round(bytes_per_key(text, args.keys), 1) for kind, text in KINDS.items()}
    else:
        out = explode(args.keys, args.cap, args.max_keys)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
