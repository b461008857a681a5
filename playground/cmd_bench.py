"""`sleuth bench`: the benchmark suite (docs/performance.md)."""

from __future__ import annotations

import sys

import orjson

from .cli import EXIT_OK


def run_bench(args) -> int:
    if getattr(args, "serve", False):
        return _run_serve_bench(args)
    from .bench import render, run_suite

    only = set(args.only.split(",")) if args.only else None
    progress = (lambda s: print(f"... {s}", file=sys.stderr)) if not args.json else None
    results = run_suite(events=args.events, repeat=args.repeat, only=only, vs_eql=args.vs_eql, progress=progress)
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
