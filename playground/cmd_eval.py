"""`sleuth eval`: detection quality of a pack on labelled simulator traffic.

The one command-line entry to `evaluate.py`: a `sleuth simulate` folder, or
a simulation generated in memory from the options, scored against its
labels; the table for people, or the JSON result (`--json`, `--out FILE`).
`python -m sleuth.playground.evaluate ARGS` is the same command.
"""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from .cli import EXIT_IO, EXIT_OK, pack_paths


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth eval`."""
    p.add_argument("pack", metavar="PACK", nargs="?", default="builtin",
                   help="rule pack folder or file (default: the shipped pack)")
    p.add_argument("data", metavar="DIR", nargs="?", help="a 'sleuth simulate' folder (default: simulate in memory)")
    p.add_argument("--hours", type=float, default=1.0, help="in-memory simulation: hours (default 1)")
    p.add_argument("--seed", type=int, default=7, help="in-memory simulation: seed (default 7)")
    p.add_argument("--scale", type=float, default=1.0, help="in-memory simulation: benign volume (default 1)")
    p.add_argument("--attacks", metavar="LIST", help="in-memory simulation: ttp ids (default: all)")
    p.add_argument("--only-benign", action="store_true", help="in-memory simulation: no attacks (false alarms)")
    p.add_argument("--no-openapi", action="store_true", help="route heuristically instead of by the OpenAPI document")
    p.add_argument("--detail", action="store_true", help="per-instance and per-match rows in the JSON")
    p.add_argument("--json", action="store_true", help="JSON result on stdout instead of the table")
    p.add_argument("-o", "--out", metavar="FILE", help="also write the JSON result here")


def run_eval(args) -> int:
    from . import evaluate

    pack = pack_paths(args.pack)[0]
    if args.data is not None:
        if not os.path.isfile(os.path.join(args.data, "events.jsonl")):
            print(f"sleuth eval: {args.data} is not a 'sleuth simulate' output folder (no events.jsonl)",
                  file=sys.stderr)
            return EXIT_IO
        result = evaluate.run_eval(pack, args.data, openapi=not args.no_openapi, detail=args.detail)
    else:
        from .simulate import SimConfig

        cfg = SimConfig(hours=args.hours, seed=args.seed, scale=args.scale, attacks=args.attacks,
                        only_benign=args.only_benign)
        result = evaluate.run_eval_sim(pack, cfg, openapi=not args.no_openapi, detail=args.detail)
    blob = orjson.dumps(result, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(blob + b"\n")
    if args.json:
        sys.stdout.write(blob.decode() + "\n")
    else:
        sys.stdout.write(evaluate.render_table(result))
    return EXIT_OK
