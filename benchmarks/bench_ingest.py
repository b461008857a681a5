#!/usr/bin/env python
"""Ingest benchmark: read + decode + normalise, events per second of user CPU, per format.

A seeded generator writes N API events to temporary files (JSON lines,
msgpack, Apache combined with %D, CSV, gzip JSON lines); each is read with
``open_source`` and every record normalised with ``Normalizer``.  Figures are
events / user-CPU second (median of --repeat runs) next to wall time, and the
ratio to the input floor "read + orjson.loads" measured in the same process.
Micro figures: the Normalizer's fast and slow paths, OpenAPI routing, the
heuristic templater, and reference-list CIDR lookups over 50,000 ranges.

    python benchmarks/bench_ingest.py --events 1000000
    python benchmarks/bench_ingest.py --events 200000 --json
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time

import msgpack
import orjson

from sleuth.engine.ingest import Bad, BadInput, HeuristicTemplater, Normalizer, OpenAPI, open_source
from sleuth.engine.reflist import RefList

ROUTES = ["/api/v1/login", "/api/v1/users/{id}", "/api/v1/orders/{id}", "/api/v1/orders",
          "/api/v1/products/{id}", "/api/v1/search", "/api/v1/cart", "/api/v1/coupons/{id}/redeem",
          "/api/v1/account/password", "/api/v1/users/{id}/orders"]
UAS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
       "python-requests/2.31.0", "curl/8.4.0", "okhttp/4.12.0"]
METHODS = ["GET"] * 6 + ["POST"] * 3 + ["PUT", "DELETE"]
STATUSES = [200] * 14 + [201, 204, 301, 400, 401, 401, 403, 404, 404, 429, 500]


def generate(n: int, seed: int) -> list[dict]:
    """N canonical events (no ``id``: files rarely carry one), deterministic for a seed."""
    rng = random.Random(seed)
    ips = [f"198.51.100.{i}" for i in range(256)] + [f"203.0.113.{i}" for i in range(256)] + \
          [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(4000)]
    users = [f"user{i}" for i in range(2000)]
    ts = 1_700_000_000.0
    out = []
    for _ in range(n):
        ts += rng.expovariate(50.0)
        route = rng.choice(ROUTES)
        path = route.replace("{id}", str(rng.randrange(1, 100000)))
        ev = {"ts": round(ts, 6), "src_ip": rng.choice(ips), "method": rng.choice(METHODS), "path": path,
              "status": rng.choice(STATUSES), "user": rng.choice(users), "ua": rng.choice(UAS),
              "latency_ms": round(rng.lognormvariate(3.0, 0.8), 3), "resp_bytes": rng.randrange(0, 20000)}
        out.append(ev)
    return out


def _apache_time(ts: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))


def write_files(events: list[dict], d: str) -> dict[str, tuple[str, str]]:
    """format label -> (path, reader format)."""
    files = {}
    p = os.path.join(d, "events.jsonl")
    with open(p, "wb") as f:
        for ev in events:
            f.write(orjson.dumps(ev, option=orjson.OPT_APPEND_NEWLINE))
    files["jsonl"] = (p, "jsonl")
    pg = os.path.join(d, "events.jsonl.gz")
    with open(p, "rb") as src, gzip.open(pg, "wb", compresslevel=6) as dst:
        dst.write(src.read())
    files["jsonl.gz"] = (pg, "auto")
    p = os.path.join(d, "events.msgpack")
    with open(p, "wb") as f:
        pack = msgpack.Packer().pack
        for ev in events:
            f.write(pack(ev))
    files["msgpack"] = (p, "msgpack")
    p = os.path.join(d, "access.log")
    with open(p, "w", encoding="utf-8") as f:
        for ev in events:
            f.write(f'{ev["src_ip"]} - - [{_apache_time(ev["ts"])}] "{ev["method"]} {ev["path"]} HTTP/1.1" '
                    f'{ev["status"]} {ev["resp_bytes"]} "-" "{ev["ua"]}" {int(ev["latency_ms"] * 1000)}\n')
    files["apache"] = (p, "apache")
    p = os.path.join(d, "events.csv")
    cols = ["ts", "src_ip", "method", "path", "status", "user", "ua", "latency_ms", "resp_bytes"]
    with open(p, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for ev in events:
            w.writerow([ev[c] for c in cols])
    files["csv"] = (p, "csv")
    return files


def cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def measure(fn, repeat: int) -> tuple[float, float, int]:
    """Median user-CPU seconds, median wall seconds, and fn's event count."""
    cpus, walls, n = [], [], 0
    for _ in range(repeat):
        c0, w0 = cpu(), time.perf_counter()
        n = fn()
        cpus.append(cpu() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(cpus), statistics.median(walls), n


def floor(path: str) -> int:
    """The input floor: read lines, orjson.loads each."""
    loads = orjson.loads
    n = 0
    with open(path, "rb") as f:
        for line in f:
            loads(line)
            n += 1
    return n


def read_only(path: str, fmt: str) -> int:
    n = 0
    for _pos, item in open_source(path, fmt):
        if type(item) is not Bad:
            n += 1
    return n


def read_normalise(path: str, fmt: str) -> int:
    norm = Normalizer().normalize
    r = open_source(path, fmt)
    name = r.name
    n = 0
    for pos, item in r:
        if type(item) is Bad:
            continue
        try:
            norm(item, name, pos)
        except BadInput:
            continue
        n += 1
    return n


def per_call(fn, arg, number: int) -> float:
    """Median ns per call over 5 runs (CPU time)."""
    runs = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(number):
            fn(arg)
        runs.append((time.process_time() - t0) / number * 1e9)
    return statistics.median(runs)


def micro(events: list[dict], number: int) -> dict[str, float]:
    out: dict[str, float] = {}
    norm = Normalizer().normalize
    canonical = dict(events[0], id="x:1")
    assert norm(canonical) is canonical
    out["normalize fast path (canonical dict, returned as is)"] = per_call(norm, canonical, number)
    out["normalize repair (no id: copy + id)"] = per_call(norm, dict(events[1]), number)
    out["normalize repair (int ts)"] = per_call(norm, dict(events[2], id="x", ts=1700000000), number)
    out["normalize repair (RFC 3339 ts, as the simulator writes)"] = per_call(
        norm, dict(events[3], id="x", ts="2026-11-27T08:00:01.123Z"), number)
    ecs = {"@timestamp": "2024-01-01T00:00:00Z", "source": {"ip": "198.51.100.7"},
           "url": {"path": "/api/v1/orders", "query": "page=2"}, "http": {"request": {"method": "GET"},
                                                                          "response": {"status_code": 200}},
           "user": {"name": "alice"}, "user_agent": {"original": "curl/8"}, "event": {"duration": 1200000}}
    out["normalize slow path (ECS nested document)"] = per_call(norm, ecs, number // 4)
    keyset = frozenset(canonical)
    out["reference: `raw.keys() <= CANONICAL` alone"] = per_call(lambda r: r.keys() <= keyset, canonical, number)
    out["reference: orjson.loads of the same event"] = per_call(orjson.loads, orjson.dumps(canonical), number)
    return out


SPEC = {"openapi": "3.0.0", "servers": [{"url": "/api/v1"}], "paths": {
    **{r.replace("/api/v1", ""): {"get": {"operationId": f"op{i}", "parameters": [
        {"name": "id", "in": "path", "schema": {"type": "integer", "minimum": 1}},
        {"name": "page", "in": "query", "schema": {"type": "integer"}}]}, "post": {}}
       for i, r in enumerate(ROUTES)},
    **{f"/extra/{i}/{{id}}": {"get": {}} for i in range(200)}}}


def routing(events: list[dict]) -> dict[str, float]:
    """Routes per second (CPU) over 100k generated requests: a first pass where
    paths repeat as generated, then a second pass where every path is cached."""
    out = {}
    reqs = [(ev["method"], ev["path"], {"page": "2"}) for ev in events[:100_000]]
    unique = len({p for _, p, _ in reqs}) / len(reqs)
    api = OpenAPI.load(SPEC)
    h = HeuristicTemplater()
    for label, fn in (
        ("OpenAPI route(), 210 templates, with a query", lambda m, p, q: api.route(m, p, q)),
        ("heuristic route()", lambda m, p, q: h.route(m, p, q)),
    ):
        for run in (f"first pass ({unique:.0%} distinct paths)", "second pass (all cached)"):
            t0 = time.process_time()
            for m, p, q in reqs:
                fn(m, p, q)
            out[f"{label}, {run}"] = len(reqs) / (time.process_time() - t0)
    return out


def reflist_lookups(seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    nets = {f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice([20, 24, 28])}"
            for _ in range(50_000)}
    t0 = time.process_time()
    lst = RefList.from_values(sorted(nets))
    build = time.process_time() - t0
    ips = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
           for _ in range(200_000)]
    t0 = time.process_time()
    hits = sum(1 for ip in ips if ip in lst)
    dt = time.process_time() - t0
    return {"ranges": len(nets), "build s": build, "lookups/s": len(ips) / dt, "hits": hits}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events per format (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--formats", default="jsonl,jsonl.gz,msgpack,apache,csv")
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    ap.add_argument("--json-out", metavar="FILE", help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)

    events = generate(args.events, args.seed)
    results: dict = {"events": args.events, "repeat": args.repeat, "python": sys.version.split()[0],
                     "machine": platform.machine(), "cpu": _cpu_name(), "formats": {}}
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-") as d:
        files = write_files(events, d)
        fcpu, fwall, n = measure(lambda: floor(files["jsonl"][0]), args.repeat)
        results["floor"] = {"events": n, "user_cpu_s": fcpu, "wall_s": fwall, "events_per_s": n / fcpu}
        for label in args.formats.split(","):
            path, fmt = files[label]
            rcpu, rwall, rn = measure(lambda path=path, fmt=fmt: read_only(path, fmt), args.repeat)
            ncpu, nwall, nn = measure(lambda path=path, fmt=fmt: read_normalise(path, fmt), args.repeat)
            assert rn == nn == args.events, (label, rn, nn)
            results["formats"][label] = {
                "read_user_cpu_s": rcpu, "read_wall_s": rwall, "read_events_per_s": rn / rcpu,
                "user_cpu_s": ncpu, "wall_s": nwall, "events_per_s": nn / ncpu,
                "us_per_event": ncpu / nn * 1e6, "x_floor": ncpu / fcpu,
                "bytes": os.path.getsize(path)}
    results["normalize_ns"] = micro(events, 200_000)
    results["routes_per_s"] = routing(events)
    results["reflist"] = reflist_lookups(args.seed)

    blob = orjson.dumps(results, option=orjson.OPT_INDENT_2)
    if args.json_out:
        with open(args.json_out, "wb") as f:
            f.write(blob + b"\n")
    if args.json:
        print(blob.decode())
        return 0
    f = results["floor"]
    print(f"sleuth ingest benchmark: {args.events:,} events, median of {args.repeat}, "
          f"Python {results['python']}, {results['cpu']}")
    print(f"floor (read + orjson.loads, jsonl): {f['events_per_s'] / 1e6:.2f} M events/s user CPU "
          f"({f['user_cpu_s'] / f['events'] * 1e6:.2f} µs/event, wall {f['wall_s']:.2f} s)\n")
    print(f"{'format':<10} {'read+decode':>12} {'+normalise':>12} {'µs/event':>9} {'user CPU s':>11} "
          f"{'wall s':>8} {'x floor':>8}")
    for label, r in results["formats"].items():
        print(f"{label:<10} {r['read_events_per_s'] / 1e3:>10.0f} k {r['events_per_s'] / 1e3:>10.0f} k "
              f"{r['us_per_event']:>9.2f} {r['user_cpu_s']:>11.2f} {r['wall_s']:>8.2f} {r['x_floor']:>8.2f}")
    print("\nNormalizer, per call (ns, CPU):")
    for k, v in results["normalize_ns"].items():
        print(f"  {v:>8.0f}  {k}")
    print("\nRouting (routes/s, CPU, one pass over 100k generated requests, then again):")
    for k, v in results["routes_per_s"].items():
        print(f"  {v / 1e3:>8.0f} k  {k}")
    r = results["reflist"]
    print(f"\nRefList: {r['ranges']:,} CIDR ranges built in {r['build s']:.2f} s; "
          f"{r['lookups/s'] / 1e3:.0f} k lookups/s ({r['hits']:,} hits of 200,000)")
    return 0


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
