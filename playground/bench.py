"""The benchmark suite behind `sleuth bench` (and `benchmarks/run.py`).

Speed is reported as events per second of **user CPU time** (median of
`--repeat` runs, default 3) next to wall time, and every comparison as a
ratio measured in the same process, because the machines are shared and
noisy (see docs/performance.md). Events come from a seeded generator; "engine
only" feeds decoded dicts from memory, "end to end" reads a JSON lines file,
decodes, runs the engine and writes matches.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import orjson

ROUTES = [
    "/api/v1/products/{id}", "/api/v1/products", "/api/v1/search", "/api/v1/cart", "/api/v1/cart/items",
    "/api/v1/checkout", "/api/v1/orders/{id}", "/api/v1/orders", "/api/v1/auth/login", "/api/v1/auth/logout",
    "/api/v1/account", "/api/v1/account/email", "/api/v1/account/password", "/api/v1/transfers",
    "/api/v1/giftcards/redeem", "/api/v1/coupons/validate", "/api/v1/health", "/api/v1/categories/{id}",
    "/api/v1/export", "/api/v1/users/exists",
]
WEIGHTS = [22, 8, 10, 6, 5, 2, 5, 3, 8, 2, 6, 1, 1, 2, 1, 1, 4, 6, 1, 2]
# A larger API: 180 more operations carrying a third of the traffic, so a pack
# of 300 rules has rules about routes the 30-rule mix never looks at.
EXTRA = [f"/api/v2/svc{n // 10}/op{n % 10}" for n in range(180)]
ALL_ROUTES = ROUTES + EXTRA
ALL_WEIGHTS = WEIGHTS + [30.0 / len(EXTRA) * 2] * len(EXTRA)
METHOD = {"/api/v1/auth/login": "POST", "/api/v1/cart/items": "POST", "/api/v1/checkout": "POST",
          "/api/v1/account/email": "PUT", "/api/v1/account/password": "PUT", "/api/v1/transfers": "POST",
          "/api/v1/giftcards/redeem": "POST", "/api/v1/coupons/validate": "POST", "/api/v1/auth/logout": "POST"}


def make_events(n: int, *, keys: int = 10_000, seed: int = 1, rate: float = 200.0) -> list[dict]:
    """`n` canonical events: `keys` users and about as many IPs, `rate` events/s."""
    rnd = random.Random(seed)
    t = 1_764_230_400.0
    routes = rnd.choices(ALL_ROUTES, ALL_WEIGHTS, k=n)
    out = []
    for i in range(n):
        t += rnd.expovariate(rate)
        route = routes[i]
        u = rnd.randrange(keys)
        status = 200
        r = rnd.random()
        if route == "/api/v1/auth/login":
            status = 401 if r < 0.3 else 200
        elif r < 0.04:
            status = 404
        elif r < 0.05:
            status = 403
        out.append({
            "id": f"e{i}", "ts": t, "src_ip": f"10.{u % 200}.{(u // 200) % 250}.{u % 250}", "user": f"user{u}",
            "method": METHOD.get(route, "GET"), "route": route, "path": route.replace("{id}", str(rnd.randrange(99999))),
            "status": status, "asn": 64500 + u % 300, "ua": "Mozilla/5.0",
            "latency_ms": round(rnd.expovariate(1 / 40.0), 1),
        })
    return out


FILTER = '''rule filter_one {
  meta { ttp = "spec-anomaly" goal = "scraping" severity = low title = "one filter" }
  when method == "POST" and route == "/api/v1/auth/login" and status == 401
}
'''


def sequence_rule(within: str = "5m", name: str = "seq5") -> str:
    return f'''rule {name} {{
  meta {{ ttp = "account-takeover" goal = "account-takeover" severity = high title = "5 steps" }}
  by user within {within}
  sequence {{
    fail:     route == "/api/v1/auth/login" and status == 401
    login:    route == "/api/v1/auth/login" and status == 200
    account:  route == "/api/v1/account" and method == "GET"
    email:    route == "/api/v1/account/email" and method == "PUT"
    transfer: route == "/api/v1/transfers" and method == "POST"
  }}
}}
'''


def mix_rules(copies: int = 1) -> str:
    """20 filters, 6 sequences, 4 windowed aggregates (per copy; copy c is about routes 20c..20c+19)."""
    out = []
    for c in range(copies):
        R = ALL_ROUTES[20 * c: 20 * c + 20]
        for i in range(20):
            route = R[i % len(R)]
            st = (200, 401, 403, 404)[i % 4]
            out.append(f'''rule f{c}_{i} {{
  meta {{ ttp = "spec-anomaly" goal = "scraping" severity = low title = "filter {i}" }}
  when route == "{route}" and status == {st} and latency_ms > {100 + 10 * i}
}}''')
        for i in range(6):
            a, b, d = R[i], R[i + 6], R[(i + 10) % len(R)]
            out.append(f'''rule s{c}_{i} {{
  meta {{ ttp = "account-takeover" goal = "account-takeover" severity = high title = "sequence {i}" }}
  by user within {5 + i}m
  sequence {{
    a: route == "{a}"
    b: route == "{b}"
    c: route == "{d}" and status == 200
  }}
}}''')
        for i in range(4):
            key = ("src_ip", "user", "asn", "route")[i]
            out.append(f'''rule w{c}_{i} {{
  meta {{ ttp = "credential-stuffing" goal = "account-takeover" severity = high title = "window {i}" }}
  by {key}
  window {i + 1}m
  where route == "{R[8 + i]}"
  having count() >= {30 + i} and distinct(path) >= 5
}}''')
    return "\n".join(out) + "\n"


def handwritten_mix(path: str, out_path: str = os.devnull) -> int:
    """The 30-rule mix (one copy of `mix_rules`) as careful hand-written Python: the floor.

    JSON lines in, matches out as JSON lines, no validation, no reordering and
    no provenance: filters by a route table, sequences as one dict of partials
    per user (newest partial wins, steps checked last to first), windows as a
    deque and a value counter per key (reset after a match). Returns the count.
    """
    from collections import Counter, deque

    R = ALL_ROUTES[:20]
    filters: dict = {}
    for i in range(20):
        filters.setdefault(R[i % 20], []).append((f"f0_{i}", (200, 401, 403, 404)[i % 4], 100 + 10 * i))
    seq_steps: dict = {}      # route -> [(rule index, step)]
    for i in range(6):
        for step, r in enumerate((R[i], R[i + 6], R[(i + 10) % 20])):
            seq_steps.setdefault(r, []).append((i, step))
    for v in seq_steps.values():
        v.sort(key=lambda x: -x[1])
    within = [(5 + i) * 60.0 for i in range(6)]
    partials: list[dict] = [{} for _ in range(6)]     # per sequence: user -> [start of step-1 partial, of step-2]
    win_route = {R[8 + i]: i for i in range(4)}
    win_key = ("src_ip", "user", "asn", "route")
    wins: list[dict] = [{} for _ in range(4)]
    loads, dumps = orjson.loads, orjson.dumps
    n = 0
    with open(path, "rb") as fh, open(out_path, "wb") as out:
        write = out.write
        for line in fh:
            e = loads(line)
            route = e.get("route")
            t = e["ts"]
            fl = filters.get(route)
            if fl:
                st, lat = e.get("status"), e.get("latency_ms", 0)
                for name, want, thr in fl:
                    if st == want and lat > thr:
                        write(dumps({"rule": name, "ts": t, "id": e["id"]}) + b"\n")
                        n += 1
            steps = seq_steps.get(route)
            if steps:
                user = e.get("user")
                for i, step in steps:
                    p = partials[i].get(user)
                    if step == 2:
                        if p and p[1] is not None and t - p[1] <= within[i] and e.get("status") == 200:
                            write(dumps({"rule": f"s0_{i}", "ts": t, "user": user, "first": p[1]}) + b"\n")
                            n += 1
                            p[1] = None
                    elif step == 1:
                        if p and p[0] is not None and t - p[0] <= within[i]:
                            p[1], p[0] = p[0], None
                    else:
                        if p is None:
                            partials[i][user] = [t, None]
                        else:
                            p[0] = t
            wi = win_route.get(route)
            if wi is not None:
                key = e.get(win_key[wi])
                w = wins[wi].get(key)
                if w is None:
                    w = wins[wi][key] = (deque(), Counter())
                q, paths = w
                size = (wi + 1) * 60.0
                while q and q[0][0] <= t - size:
                    _, old = q.popleft()
                    paths[old] -= 1
                    if not paths[old]:
                        del paths[old]
                q.append((t, e.get("path")))
                paths[e.get("path")] += 1
                if len(q) >= 30 + wi and len(paths) >= 5:
                    write(dumps({"rule": f"w0_{wi}", "ts": t, "key": key, "count": len(q)}) + b"\n")
                    n += 1
                    q.clear()
                    paths.clear()
    return n


def _cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def measure(fn: Callable[[], int], repeat: int) -> dict:
    """Median user-CPU seconds and wall seconds of `fn` over `repeat` runs."""
    cpus, walls, counts = [], [], []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            c0, w0 = _cpu(), time.perf_counter()
            counts.append(fn())
            cpus.append(_cpu() - c0)
            walls.append(time.perf_counter() - w0)
        finally:
            gc.enable()
    return {"cpu": statistics.median(cpus), "wall": statistics.median(walls), "cpu_min": min(cpus),
            "cpu_max": max(cpus), "count": counts[-1]}


def run_suite(events: int = 1_000_000, repeat: int = 3, only: set[str] | None = None,
              vs_eql: str | None = None, progress: Callable[[str], None] | None = None,
              eql_events: int = 50_000, budget: str = "512MB", budget_flood: int = 1_000_000,
              long_hours: dict | None = None) -> dict:
    """Run the benchmark cases; returns a JSON-ready report (`budget`, `longwin` and `keys` run
    only when named in `only`; `long_hours` shortens `longwin`'s streams, per window span)."""
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine

    say = progress or (lambda s: None)
    results: dict = {"events": events, "repeat": repeat, "python": sys.version.split()[0],
                     "machine": os.uname().machine, "cpus": os.cpu_count(), "cases": {}}
    cases = results["cases"]

    def want(name):
        return only is None or name in only

    # The budget and memory cases make their own events: no 1M-event file for them alone.
    if only is not None and not only - {"budget", "memory", "longwin", "keys"}:
        events = results["events"] = 0
    say(f"generating {events:,} events")
    evs = make_events(events)
    tmp = tempfile.mkdtemp(prefix="sleuth-bench-")
    path = os.path.join(tmp, "events.jsonl")
    with open(path, "wb") as fh:
        for e in evs:
            fh.write(orjson.dumps(e) + b"\n")

    def floor() -> int:
        n = 0
        loads = orjson.loads
        with open(path, "rb") as fh:
            for line in fh:
                loads(line)
                n += 1
        return n

    if events:
        say("input floor: read + orjson.loads")
        base = measure(floor, repeat)
        cases["input_floor"] = _row(base, events)

    def engine_only(pack, data=evs) -> Callable[[], int]:
        def run() -> int:
            eng = Engine(pack)
            n = 0
            for i in range(0, len(data), 4096):
                n += len(eng.feed_many(data[i:i + 4096]))
            n += len(eng.close())
            return n
        return run

    def end_to_end(pack) -> Callable[[], int]:
        return lambda: run_file(pack, path, lambda: Engine(pack))

    if want("filter"):
        say("one filter rule")
        pack = load_pack(sources={"filter.ttp": FILTER})
        cases["filter_engine"] = _row(measure(engine_only(pack), repeat), events)
        cases["filter_end_to_end"] = _row(measure(end_to_end(pack), repeat), events, base)
    if want("sequence"):
        for within in ("30s", "30m"):
            say(f"5-step sequence, within {within}")
            pack = load_pack(sources={"seq.ttp": sequence_rule(within)})
            cases[f"sequence_{within}_engine"] = _row(measure(engine_only(pack), repeat), events)
        say("5-step sequence, 10x keys")
        pack = load_pack(sources={"seq.ttp": sequence_rule("30m")})
        many = make_events(events, keys=100_000)
        cases["sequence_30m_10x_keys_engine"] = _row(measure(engine_only(pack, many), repeat), events)
        del many
        cases["sequence_30m_end_to_end"] = _row(measure(end_to_end(pack), repeat), events, base)
    if want("mix"):
        say("30-rule mix")
        pack30 = load_pack(sources={"mix.ttp": mix_rules(1)})
        cases["mix30_end_to_end"] = _row(measure(end_to_end(pack30), repeat), events, base)
        say("30-rule mix, hand-written Python (the floor)")
        cases["mix30_handwritten_floor"] = _row(measure(lambda: handwritten_mix(path), repeat), events, base)
        cases["mix30_engine"] = _row(measure(engine_only(pack30), repeat), events)
        say("300 rules")
        pack300 = load_pack(sources={"mix.ttp": mix_rules(10)})
        cases["mix300_end_to_end"] = _row(measure(end_to_end(pack300), repeat), events, base)
    if want("pack"):
        say("shipped pack on simulated traffic")
        cases.update(_pack_case(repeat, say))
    if want("memory"):
        say("memory per key")
        cases.update(memory_per_key())
    if only is not None and "budget" in only:     # minutes: two child runs of the shipped pack, 1M addresses
        cases.update(budget_case(budget_flood, budget, say))
    if only is not None and "longwin" in only:    # minutes: a 1-hour and a 24-hour window at 1k events/s
        from .bench_scale import long_window_case
        cases.update(long_window_case(say=say, hours=long_hours))
    if only is not None and "keys" in only:       # minutes: the shipped pack at 10k, 100k, 1M addresses
        from .bench_scale import key_scale_case
        cases.update(key_scale_case(say=say))
    ratios = {}
    if "sequence_30s_engine" in cases and "sequence_30m_engine" in cases:
        ratios["sequence_cost_30m_over_30s"] = round(
            cases["sequence_30m_engine"]["us_per_event"] / cases["sequence_30s_engine"]["us_per_event"], 3)
    if "sequence_30m_10x_keys_engine" in cases:
        ratios["sequence_cost_10x_keys"] = round(
            cases["sequence_30m_10x_keys_engine"]["us_per_event"] / cases["sequence_30m_engine"]["us_per_event"], 3)
    if "mix30_handwritten_floor" in cases:
        ratios["mix30_vs_handwritten"] = round(
            cases["mix30_handwritten_floor"]["us_per_event"] / cases["mix30_end_to_end"]["us_per_event"], 3)
    if "mix300_end_to_end" in cases:
        ratios["rules_x10_time"] = round(
            cases["mix300_end_to_end"]["us_per_event"] / cases["mix30_end_to_end"]["us_per_event"], 3)
    if vs_eql:
        # eql runs the 30-rule mix at ~1k events/s: it reads the first `eql_events` events
        # of the same file; rates (events per CPU second) are compared.
        say(f"eql (separate interpreter, first {min(eql_events, events):,} events)")
        eql_path = os.path.join(tmp, "eql_events.jsonl")
        with open(path, "rb") as src, open(eql_path, "wb") as dst:
            for n, line in enumerate(src):
                if n >= eql_events:
                    break
                dst.write(line)
        eql = run_eql(vs_eql, eql_path, min(eql_events, events), 1)
        os.remove(eql_path)
        results["eql"] = eql
        for name, key in (("filter", "filter_end_to_end"), ("sequence", "sequence_30m_end_to_end"),
                          ("mix30", "mix30_end_to_end")):
            if name in eql and key in cases:
                ratios[f"{name}_vs_eql"] = round(cases[key]["events_per_cpu_s"] / eql[name]["events_per_cpu_s"], 1)
    results["ratios"] = ratios
    try:
        os.remove(path)
        os.rmdir(tmp)
    except OSError:
        pass
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return results


def run_file(pack, path: str, make_engine) -> int:
    """End to end: read a JSON lines file, run the engine, serialise every match; the match count."""
    from sleuth.engine.ingest import open_source

    eng = make_engine()
    n = 0
    with open(os.devnull, "wb") as out:
        batch = []
        for _pos, item in open_source(path, "jsonl"):
            batch.append(item)
            if len(batch) >= 4096:
                for m in eng.feed_many(batch):
                    out.write(m.to_json() + b"\n")
                    n += 1
                batch = []
        for m in eng.feed_many(batch) + eng.close():
            out.write(m.to_json() + b"\n")
            n += 1
    return n


def _row(m: dict, events: int, base: dict | None = None) -> dict:
    row = {"events_per_cpu_s": round(events / m["cpu"]) if m["cpu"] > 0 else None,
           "us_per_event": round(m["cpu"] / events * 1e6, 3), "cpu_s": round(m["cpu"], 3),
           "wall_s": round(m["wall"], 3), "matches": m["count"]}
    if base is not None and m["cpu"] > 0:
        row["ratio_to_input_floor"] = round(base["cpu"] / m["cpu"], 3)
    return row


def _pack_case(repeat: int, say, per_rule_events: int = 20_000) -> dict:
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, Normalizer
    from sleuth.engine.ingest import OpenAPI

    from .simulate import SimConfig, generate

    sim = generate(SimConfig(hours=2, seed=11, scale=1.0))
    tmp = tempfile.mkdtemp(prefix="sleuth-bench-sim-")
    path = os.path.join(tmp, "events.jsonl")
    with open(path, "wb") as fh:
        for e in sim.events:
            fh.write(orjson.dumps(e) + b"\n")
    pack = load_pack()
    spec = OpenAPI.load(sim.openapi)
    n = len(sim.events)
    head = [dict(e) for e in sim.events[:per_rule_events]]
    del sim

    def run() -> int:
        return run_file(pack, path, lambda: Engine(pack, normalizer=Normalizer(templater=spec)))

    row = _row(measure(run, repeat), n)
    row["events"] = n
    os.remove(path)
    os.rmdir(tmp)
    out = {"shipped_pack_end_to_end": row}
    if per_rule_events:
        say(f"shipped pack, each rule alone (engine only, first {len(head):,} events)")
        out["shipped_pack_per_rule"] = per_rule_costs(
            pack, head, lambda rules: Engine(pack, normalizer=Normalizer(templater=spec), rules=rules))
    return out


def per_rule_costs(pack, events: list[dict], make_engine, repeat: int = 3) -> dict:
    """µs of CPU per event each rule adds: the engine running that rule alone, minus the engine
    running none (same dispatch and predicates, every rule's state work skipped), median of
    `repeat`, engine only over `events` (decoded in memory). Also the sum of the rules beside
    the whole pack's own cost over the same baseline: sharing work across rules makes it lower.
    """
    def timed(rules) -> float:
        def go() -> int:
            eng = make_engine(rules)
            k = 0
            for i in range(0, len(events), 4096):
                k += len(eng.feed_many(events[i:i + 4096]))
            return k + len(eng.close())
        return measure(go, repeat)["cpu"]

    timed([])      # warm up: the normaliser caches routes, the events get their canonical form
    base = timed([])
    n = len(events)
    costs = {r.name: max(0.0, timed([r.name]) - base) / n * 1e6 for r in pack.rules}
    whole = max(0.0, timed(None) - base) / n * 1e6
    return {"events": n, "baseline_us_per_event": round(base / n * 1e6, 2),
            "whole_pack_us_per_event": round(whole, 2), "sum_of_rules_us_per_event": round(sum(costs.values()), 2),
            "us_per_event": {k: round(v, 2) for k, v in sorted(costs.items(), key=lambda kv: -kv[1])}}


def memory_per_key(keys: int = 200_000) -> dict:
    """Bytes of engine state per idle key, for a sequence and a window rule (tracemalloc)."""
    import tracemalloc

    from sleuth.dsl import load_pack
    from sleuth.engine import Engine

    out = {}
    rules = {
        "sequence": sequence_rule("30m"),
        "window": '''rule w { meta { ttp = "credential-stuffing" goal = "account-takeover" severity = low title = "w" }
  by src_ip window 10m where route == "/api/v1/auth/login" having distinct(user) >= 20 }''',
    }
    for name, text in rules.items():
        pack = load_pack(sources={f"{name}.ttp": text})
        evs = [{"id": f"k{i}", "ts": 1_764_230_400.0 + i * 0.001, "route": "/api/v1/auth/login", "status": 401,
                "method": "POST", "user": f"user{i}", "src_ip": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
               for i in range(keys)]
        eng = Engine(pack, lateness=0)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        eng.feed_many(evs)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        live = eng.stats()["keys"]
        out[f"memory_{name}_bytes_per_key"] = {"keys": live, "bytes_per_key": round((after - before) / max(live, 1))}
        del evs, eng
    out["memory_shipped_pack_bytes_per_key"] = shipped_pack_key_bytes(min(keys, 50_000))
    return out


def shipped_pack_key_bytes(keys: int = 50_000) -> dict:
    """Bytes per idle key per rule of the shipped pack: one event for each of `keys` distinct
    addresses, users, sessions and fingerprints (tracemalloc, events allocated inside the
    measurement and dropped by the caller, so that what the windows hold counts), beside the
    engine's own estimate (`Engine(memory=...)` accounting)."""
    import tracemalloc

    from sleuth.dsl import load_pack
    from sleuth.engine import Engine

    pack = load_pack()
    base = make_events(keys, keys=keys, rate=1000.0)
    eng = Engine(pack, lateness=0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    evs = [dict(e, user=f"user{i}", src_ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                session=f"s{i}", ja3=f"j{i}") for i, e in enumerate(base)]
    del base
    eng.feed_many(evs)
    del evs
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    per_rule = {m.spec.name: len(m.states) for m in eng.machines if m.states}
    for m in eng.machines:
        if m.states:
            m.measure_key_bytes(64)
    live = sum(per_rule.values())
    est = sum(m.estimated_bytes() for m in eng.machines)
    return {"keys": live, "rules_with_keys": len(per_rule), "bytes_per_key_per_rule": round(held / max(live, 1)),
            "estimate_over_traced": round(est / max(held, 1), 2),
            "estimated_bytes_per_key": {n: m.key_bytes for m in eng.machines for n in [m.spec.name] if m.states}}


def budget_case(flood: int = 1_000_000, budget: str = "512MB", say=None) -> dict:
    """The shipped pack on one simulated hour plus `flood` events from distinct source addresses,
    with the default caps and with the byte budget `budget`, each in its own process (peak RSS).

    Recall is over the unbounded run's matches that involve a labelled attack event:
    the share of them (same rule, key and first time) the budgeted run also gives.
    """
    from .sim.world import format_ts, parse_ts
    from .simulate import SimConfig, generate

    sim = generate(SimConfig(hours=1, seed=11, scale=1.0))
    attack = sorted({i for lab in sim.labels for i in lab["event_ids"]})
    rnd = random.Random(5)
    template = next(e for e in sim.events if e.get("method") == "GET")
    stamps = [parse_ts(e["ts"]) for e in sim.events]     # milliseconds
    t0, t1 = min(stamps), max(stamps)
    noise = []
    for i in range(flood):
        e = dict(template)
        e["id"] = f"flood{i}"
        e["ts"] = format_ts(t0 + (t1 - t0) * i // max(flood, 1))
        e["src_ip"] = f"{100 + i // 16_777_216 % 100}.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        e.pop("session", None)
        e["ja3"] = f"{rnd.getrandbits(64):016x}"
        noise.append(e)
    events = [e for _, e in sorted(zip(stamps + [parse_ts(e["ts"]) for e in noise], sim.events + noise),
                                   key=lambda p: p[0])]
    tmp = tempfile.mkdtemp(prefix="sleuth-bench-budget-")
    path = os.path.join(tmp, "events.jsonl")
    with open(path, "wb") as fh:
        for e in events:
            fh.write(orjson.dumps(e) + b"\n")
    with open(os.path.join(tmp, "openapi.json"), "wb") as fh:
        fh.write(orjson.dumps(sim.openapi))
    with open(os.path.join(tmp, "attack.json"), "wb") as fh:
        fh.write(orjson.dumps(attack))
    n = len(events)
    del sim, events, noise
    runs = {}
    for label, mem in (("default", None), ("budget", budget)):
        if say:
            say(f"memory budget: {label} ({n:,} events)")
        proc = subprocess.run([sys.executable, "-c", "import sys; from sleuth.playground.bench import budget_child; "
                               "budget_child(*sys.argv[1:])", tmp, mem or ""], capture_output=True, text=True)
        if proc.returncode != 0:
            return {"memory_budget": {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}}
        runs[label] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    free = {tuple(x) for x in runs["default"].pop("attack_matches")}
    kept = {tuple(x) for x in runs["budget"].pop("attack_matches")}
    for name in os.listdir(tmp):
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    return {"memory_budget": {"events": n, "flood_addresses": flood, "budget": budget, **runs,
                              "attack_matches_default": len(free), "attack_matches_kept": len(free & kept),
                              "attack_recall": round(len(free & kept) / len(free), 4) if free else None}}


def budget_child(tmp: str, memory: str) -> None:
    """One run of `budget_case` (in a child process): prints a JSON summary line."""
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, Normalizer
    from sleuth.engine.ingest import OpenAPI

    with open(os.path.join(tmp, "openapi.json"), "rb") as fh:
        spec = OpenAPI.load(orjson.loads(fh.read()))
    with open(os.path.join(tmp, "attack.json"), "rb") as fh:
        attack = set(orjson.loads(fh.read()))
    pack = load_pack()
    matches: list = []
    eng = Engine(pack, normalizer=Normalizer(templater=spec), memory=memory or None)
    gc.freeze()
    c0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    from sleuth.engine.ingest import open_source

    batch = []
    for _pos, item in open_source(os.path.join(tmp, "events.jsonl"), "jsonl"):
        batch.append(item)
        if len(batch) >= 4096:
            matches += eng.feed_many(batch)
            batch = []
    matches += eng.feed_many(batch) + eng.close()
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
    stats = eng.stats()
    hits = []
    for m in matches:
        if attack.intersection(m.event_ids):
            hits.append([m.rule, orjson.dumps(m.key, option=orjson.OPT_SORT_KEYS).decode(), m.first_ts])
    print(orjson.dumps({
        "cpu_s": round(cpu, 2), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "matches": len(matches), "evictions": stats["evictions"], "keys_at_end": stats["keys"],
        "evicted_by_rule": stats["evicted_by_rule"],
        "estimated_mb": round(stats["memory"]["estimated"] / 1e6, 1) if "memory" in stats else None,
        "attack_matches": hits}).decode())


EQL_SCRIPT = r'''
import sys, time, resource, json
import eql
path, events = sys.argv[1], int(sys.argv[2])
queries = {
  "filter": ['any where method == "POST" and route == "/api/v1/auth/login" and status == 401'],
  "sequence": ['sequence by user with maxspan=30m [any where route == "/api/v1/auth/login" and status == 401] '
               '[any where route == "/api/v1/auth/login" and status == 200] [any where route == "/api/v1/account" and method == "GET"] '
               '[any where route == "/api/v1/account/email" and method == "PUT"] [any where route == "/api/v1/transfers" and method == "POST"]'],
}
R = json.loads(sys.argv[3])
mix = []
for i in range(20):
    mix.append(f'any where route == "{R[i % 20]}" and status == {(200, 401, 403, 404)[i % 4]} and latency_ms > {100 + 10 * i}')
for i in range(6):
    mix.append(f'sequence by user with maxspan={5 + i}m [any where route == "{R[i]}"] [any where route == "{R[i + 6]}"] '
               f'[any where route == "{R[(i + 10) % 20]}" and status == 200]')
for i in range(4):
    key = ("src_ip", "user", "asn", "route")[i]
    mix.append(f'any where route == "{R[8 + i]}" | unique_count {key} | filter count >= {30 + i}')
queries["mix30"] = mix
out = {}
for name, qs in queries.items():
    cfg = eql.ParserConfig()
    with cfg:
        parsed = [eql.parse_query(q, implied_any=True, implied_base=True) for q in qs]
    hits = []
    engine = eql.PythonEngine()
    for q in parsed:
        engine.add_query(q)
    engine.add_output_hook(hits.append)
    c0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    def stream():
        with open(path) as fh:
            for line in fh:
                data = json.loads(line)
                yield eql.Event("generic", data["ts"], data)
    engine.stream_events(stream(), finalize=True)
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
    out[name] = {"events_per_cpu_s": round(events / cpu), "cpu_s": round(cpu, 3), "matches": len(hits)}
print(json.dumps(out))
'''


def run_eql(python: str, path: str, events: int, repeat: int) -> dict:
    """Run eql 1.0.1 in another interpreter (it is AGPL: never imported here)."""
    script = os.path.join(os.path.dirname(path), "eql_bench.py")
    with open(script, "w") as fh:
        fh.write(EQL_SCRIPT)
    best: dict = {}
    for _ in range(repeat):
        proc = subprocess.run([python, script, path, str(events), orjson.dumps(ROUTES).decode()],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "eql failed"}
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        res = orjson.loads(lines[-1])
        for k, v in res.items():
            if k not in best or v["events_per_cpu_s"] > best[k]["events_per_cpu_s"]:
                best[k] = v
    return best


def render(results: dict) -> str:
    lines = [f"{results['events']:,} events, median of {results['repeat']} runs, Python {results['python']}, "
             f"{results['cpus']} CPUs ({results['machine']})", "",
             f"{'case':<34}{'events/s (CPU)':>16}{'µs/event':>10}{'wall s':>9}{'matches':>10}{'vs floor':>10}"]
    for name, row in results["cases"].items():
        if name == "shipped_pack_per_rule" or name.startswith("long_window_") or name.endswith("_keys"):
            continue
        if "events_per_cpu_s" not in row:
            lines.append(f"{name:<34}{row}")
            continue
        eps = f"{row['events_per_cpu_s']:,}" if row["events_per_cpu_s"] else "-"
        ratio = f"{row['ratio_to_input_floor']:.2f}" if "ratio_to_input_floor" in row else ""
        lines.append(f"{name:<34}{eps:>16}{row['us_per_event']:>10}{row['wall_s']:>9}{row['matches']:>10}{ratio:>10}")
    for name, row in results["cases"].items():
        if "bytes_per_key" in row:
            lines.append(f"{name:<34}{row['bytes_per_key']:>10} bytes/key ({row['keys']:,} keys)")
    from .bench_scale import render_scale

    scale = render_scale(results["cases"])
    if scale:
        lines += ["", *scale]
    per_rule = results["cases"].get("shipped_pack_per_rule")
    if per_rule:
        lines.append("")
        lines.append(f"shipped pack, µs/event each rule adds (engine only, {per_rule['events']:,} events; baseline "
                     f"{per_rule['baseline_us_per_event']} µs, whole pack +{per_rule['whole_pack_us_per_event']} µs, "
                     f"sum of rules +{per_rule['sum_of_rules_us_per_event']} µs):")
        for name, us in per_rule["us_per_event"].items():
            lines.append(f"  {name:<40}{us:>8}")
    if results.get("ratios"):
        lines.append("")
        for k, v in results["ratios"].items():
            lines.append(f"{k:<34}{v:>10}")
    if results.get("eql"):
        lines.append("")
        lines.append(f"eql: {results['eql']}")
    lines.append(f"peak RSS: {results.get('peak_rss_mb')} MB")
    return "\n".join(lines)
