"""`sleuth eval`: detection quality of a pack on labelled simulator traffic."""

from __future__ import annotations

import os
import sys

import orjson

from .cli import EXIT_IO, EXIT_OK
from .cmd_run import _pack_arg


def run_eval_cmd(args) -> int:
    from .evaluate import render_table, run_eval, run_eval_sim

    pack = _pack_arg(args.pack)[0]
    if args.data is not None:
        if not os.path.isfile(os.path.join(args.data, "events.jsonl")):
            print(f"sleuth eval: {args.data} is not a 'sleuth simulate' output folder (no events.jsonl)",
                  file=sys.stderr)
            return EXIT_IO
        result = run_eval(pack, args.data, openapi=not args.no_openapi, detail=args.detail)
    else:
        from .simulate import SimConfig

        cfg = SimConfig(hours=args.hours, seed=args.seed, scale=args.scale, attacks=args.attacks,
                        only_benign=args.only_benign)
        result = run_eval_sim(pack, cfg, openapi=not args.no_openapi, detail=args.detail)
    blob = orjson.dumps(result, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(blob + b"\n")
    if args.json:
        sys.stdout.write(blob.decode() + "\n")
    else:
        sys.stdout.write(render_table(result))
    return EXIT_OK
