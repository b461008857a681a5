"""`sleuth simulate`: labelled synthetic API traffic to files."""

from __future__ import annotations

import os
import sys
import time

from .cli import EXIT_IO, EXIT_OK, EXIT_USAGE


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
