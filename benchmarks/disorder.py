#!/usr/bin/env python
"""Disorder of access logs, measured and modelled: the figures behind the lateness defaults.

Lines are written when requests end, stamped (or read) with when they began,
so a line is late by up to its request's duration.  Prints the lateness
profile (``sleuth.engine.ingest.formats.disorder.measure``) of the real honeynet
Apache log (``<repo>/../shared/data``, or ``$SLEUTH_SHARED_DATA``), files
oldest first, and of seeded model traffic: Poisson arrivals; durations 98.9 %
log-normal (median 40 ms, sigma 1), 1 % uniform 1-10 s, 0.1 % cut by the
proxy timeout (``--timeout``); 1 s and 1 ms stamps.  As a markdown table:
``python benchmarks/disorder.py [--minutes 30]``.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import random
import sys

from sleuth.engine.ingest.formats.disorder import Disorder, measure
from sleuth.engine.ingest.source import Bad, open_source

THRESHOLDS = (1, 5, 10, 30, 60, 61, 120)


def honeynet_dir() -> pathlib.Path:
    base = os.environ.get("SLEUTH_SHARED_DATA")
    root = pathlib.Path(base) if base else pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return root / "honeynet2004"


def honeynet_times(d: pathlib.Path) -> list[float]:
    """Event times of every access_log* file, oldest file first (access_log.25 ... access_log)."""
    def age(p: pathlib.Path) -> int:
        suffix = p.name.rpartition(".")[2]
        return int(suffix) if suffix.isdigit() else 0
    times = []
    for path in sorted(d.glob("access_log*"), key=age, reverse=True):
        for _, item in open_source(path):
            if not isinstance(item, Bad):
                times.append(item["ts"])
    return times


def simulate(rate: float, minutes: float, timeout: float, resolution: float, seed: int) -> list[float]:
    """Stamped start times of simulated requests, in the order their lines are written (end time)."""
    rnd = random.Random(seed)
    horizon = minutes * 60.0
    t = 0.0
    recs = []
    mu = math.log(0.040)
    while True:
        t += rnd.expovariate(rate)
        if t >= horizon:
            break
        u = rnd.random()
        if u < 0.001:
            d = timeout
        elif u < 0.011:
            d = rnd.uniform(1.0, 10.0)
        else:
            d = min(rnd.lognormvariate(mu, 1.0), timeout)
        recs.append((t + d, t))
    recs.sort()
    return [math.floor(s / resolution) * resolution for _, s in recs]


def row(name: str, d: Disorder) -> str:
    q = d.quantiles
    lost = " | ".join(f"{d.lost[t]:,}" for t in THRESHOLDS)
    return (f"| {name} | {d.events:,} | {d.late:,} | {d.max:.3f} | {q[0.99]:.3f} | {q[0.999]:.3f} | "
            f"{q[0.9999]:.3f} | {lost} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="simulated traffic per scenario")
    ap.add_argument("--timeout", type=float, default=60.0, help="upstream timeout of the proxy (s)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    head = ("| stream | events | late | max s | p99 s | p99.9 s | p99.99 s | "
            + " | ".join(f"lost at {t} s" for t in THRESHOLDS) + " |")
    print(head)
    print("|" + "---|" * (7 + len(THRESHOLDS)))
    d = honeynet_dir()
    if d.is_dir():
        print(row("honeynet2004 (real Apache 1.3, 1 s stamps)", measure(honeynet_times(d), thresholds=THRESHOLDS)))
    else:
        print(f"honeynet log not found at {d}: skipped", file=sys.stderr)
    for rate in (20.0, 200.0, 2000.0):
        for resolution, label in ((1.0, "1 s"), (0.001, "1 ms")):
            times = simulate(rate, args.minutes, args.timeout, resolution, args.seed)
            name = f"model {rate:g} req/s, {label} stamps, timeout {args.timeout:g} s"
            print(row(name, measure(times, thresholds=THRESHOLDS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
