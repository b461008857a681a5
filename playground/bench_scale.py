"""`sleuth bench` cases at scale: long sliding windows and the shipped pack over many keys.

Part of the benchmark suite (docs/performance.md, "Exact at scale"). Two cases:

- ``longwin``: one key sending 1,000 events/s into a sliding window of 1 hour and
  of 24 hours (count, distinct, ratio, max, cv of the gaps) for the window's span
  plus a quarter of the 1-hour window; past ``limit window`` the oldest events fold
  into 1/60-window slices, so memory follows the slices, not the events. Reports
  µs/event, the key's deep size at checkpoints and peak RSS (each window in its own
  process);
- ``keys``: the shipped pack on traffic spread over 10k, 100k and 1M distinct
  addresses (one simulated hour of attacks mixed in), default caps: µs/event,
  peak RSS, evictions (per rule and of sequence partials), matches on attack events.

Both run only when named (``--only longwin,keys``): minutes each.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import subprocess
import sys
import tempfile

import orjson

RATE = 1000.0            # events per second per key
T0 = 1_764_230_400.0

LONG_RULE = '''rule long_window {{
  meta {{ ttp = "scraping" goal = "scraping" severity = low title = "long window at scale" }}
  by src_ip window {span}
  having count() >= 100 and distinct(path) >= {never} and ratio(status >= 400) > 0.5
    and max(latency_ms) > 0 and cv(interarrival()) >= 0
}}'''


def _cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def long_window_child(span: str, events: int, paths: int, checkpoints: int = 4, on_mark=None) -> dict:
    """One long-window run (called in a child process): a JSON-ready summary.

    One address sends `events` GETs at `RATE` per second over `paths` distinct paths
    (every 7th a 404); `distinct(path)` is set out of reach so the window is read
    on every event without matching: the cost measured is the window's upkeep.
    `on_mark` (optional) is called with each checkpoint's row as it is taken.
    """
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine
    from sleuth.engine.state import deep_size

    pack = load_pack(sources={"long.ttp": LONG_RULE.format(span=span, never=paths + 1)})
    eng = Engine(pack, lateness=0)
    mach = eng.machines[0]
    gc.collect()
    gc.freeze()
    rss0 = _rss_mb()
    step = max(1, events // checkpoints)
    marks = []
    cpu = 0.0
    matches = 0
    batch = 50_000
    done = 0
    while done < events:
        hi = min(events, done + batch, (done // step + 1) * step)    # checkpoints fall on batch ends
        evs = [{"id": f"e{i}", "ts": T0 + i / RATE, "method": "GET", "path": f"/items/{i % paths}",
                "status": 404 if i % 7 == 0 else 200, "latency_ms": 20 + i % 90, "src_ip": "203.0.113.7"}
               for i in range(done, hi)]
        c0 = _cpu()
        matches += len(eng.feed_many(evs))
        cpu += _cpu() - c0
        before = done
        done = hi
        if done // step != before // step or done == events:
            # The key's deep size: what the window really holds (events and slices).
            held = sum(deep_size(st) for st in mach.states.values())
            marks.append({"events": done, "stream_s": round(done / RATE), "key_bytes": held, "folded": mach.folded,
                          "us_per_event": round(cpu / done * 1e6, 3)})
            if on_mark is not None:
                on_mark(marks[-1])
    stats = eng.stats()
    return {"span": span, "events": events, "rate_per_key": RATE, "distinct_paths": paths,
            "us_per_event": round(cpu / events * 1e6, 3), "cpu_s": round(cpu, 2), "matches": matches,
            "key_bytes": marks[-1]["key_bytes"], "checkpoints": marks,
            "window_events_folded": stats.get("window_events_folded", 0),
            "peak_rss_mb": _rss_mb(), "rss_before_mb": rss0}


def long_window_case(spans: tuple[str, ...] = ("1h", "24h"), paths: int = 5000,
                     hours: dict | None = None, say=None) -> dict:
    """The `longwin` case: each window in a child process over its span plus 15 minutes of stream.

    `hours` overrides the stream length per span (e.g. ``{"24h": 2}`` for a quick look: the
    window then never fills, which the row's `stream_s` shows).
    """
    from sleuth.engine.duration import parse_duration

    out = {}
    for span in spans:
        seconds = parse_duration(span)
        stream = (hours or {}).get(span)
        length = stream * 3600 if stream is not None else seconds + 900
        n = int(length * RATE)
        if say:
            say(f"sliding window {span}, 1 key at {RATE:,.0f} events/s, {n:,} events ({length / 3600:.2f} h of stream)")
        proc = subprocess.run([sys.executable, "-c", "import sys, orjson; from sleuth.playground.bench_scale import "
                               "long_window_child as f; print(orjson.dumps(f(sys.argv[1], int(sys.argv[2]), "
                               "int(sys.argv[3]))).decode())", span, str(n), str(paths)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            out[f"long_window_{span}"] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
            continue
        out[f"long_window_{span}"] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    return out


def key_scale_events(keys: int, hours: float = 1.0, seed: int = 11) -> tuple[list[dict], set, dict]:
    """One simulated hour (attacks labelled) plus one request from each of `keys` distinct addresses,
    spread over the hour, in time order; the attack event ids; the world's OpenAPI document."""
    from .sim.world import format_ts, parse_ts
    from .simulate import SimConfig, generate

    sim = generate(SimConfig(hours=hours, seed=seed, scale=1.0))
    attack = {i for lab in sim.labels for i in lab["event_ids"]}
    rnd = random.Random(seed)
    gets = [e for e in sim.events if e.get("method") == "GET"][:200]
    stamps = [parse_ts(e["ts"]) for e in sim.events]
    t0, t1 = min(stamps), max(stamps)
    extra = []
    for i in range(keys):
        e = dict(gets[i % len(gets)])
        e["id"] = f"k{i}"
        e["ts"] = format_ts(t0 + (t1 - t0) * i // max(keys, 1))
        e["src_ip"] = f"{100 + i // 16_777_216 % 100}.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        e["session"] = f"s{rnd.getrandbits(48):012x}"
        extra.append(e)
    pairs = sorted(zip(stamps + [parse_ts(e["ts"]) for e in extra], range(len(stamps) + len(extra))))
    both = sim.events + extra
    return [both[i] for _, i in pairs], attack, sim.openapi


def key_scale_child(tmp: str) -> dict:
    """One `keys` run (in a child process) over the files `key_scale_case` wrote."""
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, Normalizer
    from sleuth.engine.ingest import OpenAPI, open_source

    with open(os.path.join(tmp, "openapi.json"), "rb") as fh:
        spec = OpenAPI.load(orjson.loads(fh.read()))
    with open(os.path.join(tmp, "attack.json"), "rb") as fh:
        attack = set(orjson.loads(fh.read()))
    pack = load_pack()
    eng = Engine(pack, normalizer=Normalizer(templater=spec))
    gc.freeze()
    n = matches = on_attack = 0
    cpu = 0.0
    batch: list = []

    def feed(items) -> None:
        nonlocal matches, on_attack, cpu
        c0 = _cpu()
        out = eng.feed_many(items)
        cpu += _cpu() - c0
        matches += len(out)
        on_attack += sum(1 for m in out if attack.intersection(m.event_ids))

    for _pos, item in open_source(os.path.join(tmp, "events.jsonl"), "jsonl"):
        batch.append(item)
        n += 1
        if len(batch) >= 4096:
            feed(batch)
            batch = []
    feed(batch)
    c0 = _cpu()
    tail = eng.close()
    cpu += _cpu() - c0
    matches += len(tail)
    on_attack += sum(1 for m in tail if attack.intersection(m.event_ids))
    stats = eng.stats()
    return {"events": n, "us_per_event": round(cpu / n * 1e6, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": _rss_mb(),
            "matches": matches, "matches_on_attack_events": on_attack, "evictions": stats["evictions"],
            "evicted_by_rule": stats["evicted_by_rule"],
            "partials_evicted_by_rule": stats.get("partials_evicted_by_rule", {}), "keys_at_end": stats["keys"]}


def key_scale_case(sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000), say=None) -> dict:
    """The `keys` case: the shipped pack, default caps, at each number of extra distinct addresses."""
    out = {}
    for keys in sizes:
        if say:
            say(f"shipped pack, one simulated hour + {keys:,} distinct addresses")
        events, attack, openapi = key_scale_events(keys)
        tmp = tempfile.mkdtemp(prefix="sleuth-bench-keys-")
        try:
            with open(os.path.join(tmp, "events.jsonl"), "wb") as fh:
                for e in events:
                    fh.write(orjson.dumps(e) + b"\n")
            with open(os.path.join(tmp, "openapi.json"), "wb") as fh:
                fh.write(orjson.dumps(openapi))
            with open(os.path.join(tmp, "attack.json"), "wb") as fh:
                fh.write(orjson.dumps(sorted(attack)))
            del events
            proc = subprocess.run([sys.executable, "-c", "import sys, orjson; from sleuth.playground.bench_scale "
                                   "import key_scale_child as f; print(orjson.dumps(f(sys.argv[1])).decode())", tmp],
                                  capture_output=True, text=True)
        finally:
            for name in os.listdir(tmp):
                os.remove(os.path.join(tmp, name))
            os.rmdir(tmp)
        if proc.returncode != 0:
            out[f"shipped_pack_{keys}_keys"] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
            continue
        out[f"shipped_pack_{keys}_keys"] = {"extra_addresses": keys, **orjson.loads(proc.stdout.strip().splitlines()[-1])}
    base = out.get(f"shipped_pack_{sizes[0]}_keys", {})
    for keys in sizes[1:]:
        row = out.get(f"shipped_pack_{keys}_keys", {})
        if "us_per_event" in row and base.get("us_per_event"):
            row["cost_vs_smallest"] = round(row["us_per_event"] / base["us_per_event"], 2)
    return out


def render_scale(cases: dict) -> list[str]:
    """Text lines for the scale cases present in `cases`."""
    lines = []
    for name, row in cases.items():
        if name.startswith("long_window_") and "us_per_event" in row:
            marks = ", ".join(f"{m['stream_s'] / 3600:.2f} h: {m['key_bytes'] / 1e6:.1f} MB" for m in row["checkpoints"])
            lines.append(f"{name:<34}{row['us_per_event']:>8} µs/event  {row['events']:,} events  key state {marks}  "
                         f"folded {row['window_events_folded']:,}  peak RSS {row['peak_rss_mb']} MB")
        elif name.startswith("shipped_pack_") and name.endswith("_keys") and "us_per_event" in row:
            vs = f"  x{row['cost_vs_smallest']} vs smallest" if "cost_vs_smallest" in row else ""
            lines.append(f"{name:<34}{row['us_per_event']:>8} µs/event  {row['events']:,} events  peak RSS "
                         f"{row['peak_rss_mb']} MB  evictions {row['evictions']:,}  partials evicted "
                         f"{sum(row['partials_evicted_by_rule'].values()):,}  attack matches "
                         f"{row['matches_on_attack_events']}{vs}")
        elif "error" in row and (name.startswith("long_window_") or name.endswith("_keys")):
            lines.append(f"{name:<34}error: {row['error']}")
    return lines
