"""`sleuth simulate`: labelled synthetic API traffic to files."""

from __future__ import annotations

import argparse
import os
import sys
import time

from .cli import EXIT_IO, EXIT_OK, EXIT_USAGE


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth simulate`."""
    p.add_argument("--hours", type=float, default=1.0, help="simulated time span (default 1)")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same bytes)")
    p.add_argument("--scale", type=float, default=1.0, help="benign traffic volume multiplier (default 1)")
    p.add_argument("--disorder", type=float, default=0.0, metavar="SECONDS",
                   help="shuffle arrival order by up to this much event time")
    p.add_argument("--attacks", metavar="LIST", help="comma-separated ttp ids to include (default: all)")
    p.add_argument("--only-benign", "--benign-only", action="store_true",
                   help="no attacks, only benign traffic and traps")
    p.add_argument("--start", default="2026-11-27T08:00:00Z", help="RFC 3339 start time")
    p.add_argument("--world", default="tuning", metavar="NAME",
                   help="API world: tuning (default), northwind, relay, harbor, marquee, or all (one sub-folder each)")
    p.add_argument("--generators", metavar="LIST",
                   help="comma-separated attack generators (default: the world's own set; 'all' for every one)")
    p.add_argument("--access-log", action="store_true",
                   help="also write access.log (combined log format) and prefixes.csv")
    p.add_argument("-o", "--out", metavar="DIR", default="sim-out",
                   help="output folder (events.jsonl, labels.jsonl, traps.jsonl, openapi.json, manifest.json, "
                        "roles.tsv)")


def run_simulate(args) -> int:
    from .simulate import WORLDS, SimConfig, generate, write

    names = list(WORLDS) if args.world == "all" else [args.world]
    generators = getattr(args, "generators", None)
    for name in names:
        out = os.path.join(args.out, name) if args.world == "all" else args.out
        try:
            config = SimConfig(hours=args.hours, seed=args.seed, scale=args.scale, disorder=args.disorder,
                               attacks=tuple(a.strip() for a in args.attacks.split(",") if a.strip())
                               if args.attacks else None,
                               only_benign=args.only_benign, start=args.start, world=name,
                               generators=generators)
            started = time.monotonic()
            sim = generate(config)
        except ValueError as exc:
            print(f"sleuth simulate: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            paths = write(sim, out, access_log=getattr(args, "access_log", False))
        except OSError as exc:
            print(f"sleuth simulate: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_IO
        took = time.monotonic() - started
        print(f"{name}: wrote {len(sim.events):,} events, {len(sim.labels)} attack instances, {len(sim.traps)} "
              f"traps to {out}/ in {took:.1f}s", file=sys.stderr)
        for _name, path in sorted(paths.items()):
            print(path)
    return EXIT_OK
