"""`sleuth bench`: the benchmark suite (docs/performance.md)."""

from __future__ import annotations

import argparse
import sys

import orjson

from .cli import EXIT_OK, EXIT_USAGE


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth bench`."""
    p.add_argument("--events", type=int, default=1_000_000, help="events per case (default 1000000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported (default 3)")
    p.add_argument("--only", metavar="LIST", help="comma-separated cases: filter,sequence,mix,pack,memory; and, only when "
                        "named (minutes each, in child processes): budget (the shipped pack with a flood of distinct "
                        "addresses, default caps vs --memory), longwin (a 1-hour and a 24-hour sliding window at 1,000 "
                        "events/s per key), keys (the shipped pack at 10k, 100k and 1M distinct addresses)")
    p.add_argument("--long-hours", metavar="SPAN=H", action="append", default=[],
                   help="stream length of a longwin window in hours (e.g. 24h=2 for a quick look; default: the "
                        "window's span plus 15 minutes); repeatable")
    p.add_argument("--memory", default="512MB", metavar="SIZE", help="the byte budget of the budget case (default 512MB)")
    p.add_argument("--flood", type=int, default=1_000_000, metavar="N",
                   help="distinct source addresses of the budget case (default 1000000)")
    p.add_argument("--vs-eql", metavar="PYTHON",
                   help="a Python interpreter with eql 1.0.1 installed (separate virtualenv: eql is AGPL)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--serve", action="store_true",
                   help="instead: the latency sleuth adds to requests at 1,000/s, in process (ASGI middleware) "
                        "and through nginx auth_request (needs the serve extra; nginx for the second)")


def run_bench(args) -> int:
    if getattr(args, "serve", False):
        return _run_serve_bench(args)
    from .bench import render, run_suite

    only = set(args.only.split(",")) if args.only else None
    long_hours = {}
    for item in args.long_hours:
        span, _, hours = item.partition("=")
        try:
            long_hours[span.strip()] = float(hours)
        except ValueError:
            print(f"sleuth bench: --long-hours wants SPAN=HOURS (e.g. 24h=2), not {item!r}", file=sys.stderr)
            return EXIT_USAGE
    progress = (lambda s: print(f"... {s}", file=sys.stderr)) if not args.json else None
    results = run_suite(events=args.events, repeat=args.repeat, only=only, vs_eql=args.vs_eql, progress=progress,
                        budget=args.memory, budget_flood=args.flood, long_hours=long_hours or None)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    else:
        print(render(results))
    return EXIT_OK


def _run_serve_bench(args) -> int:
    from .serve.bench import render_serve, run_serve_bench

    progress = (lambda s: print(f"... {s}", file=sys.stderr)) if not args.json else None
    results = run_serve_bench(progress=progress)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    else:
        print(render_serve(results))
    return EXIT_OK
