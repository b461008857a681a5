"""`sleuth simulate`: labelled synthetic API traffic to files."""

from __future__ import annotations

import sys
import time

from .cli import EXIT_OK, EXIT_USAGE


def run_simulate(args) -> int:
    from .simulate import SimConfig, generate, write

    try:
        config = SimConfig(hours=args.hours, seed=args.seed, scale=args.scale, disorder=args.disorder,
                           attacks=tuple(a.strip() for a in args.attacks.split(",") if a.strip())
                           if args.attacks else None,
                           only_benign=args.only_benign, start=args.start)
        started = time.monotonic()
        sim = generate(config)
    except ValueError as exc:
        print(f"sleuth simulate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    paths = write(sim, args.out)
    took = time.monotonic() - started
    print(f"wrote {len(sim.events):,} events, {len(sim.labels)} attack instances, {len(sim.traps)} traps "
          f"to {args.out}/ in {took:.1f}s", file=sys.stderr)
    for _name, path in sorted(paths.items()):
        print(path)
    return EXIT_OK
