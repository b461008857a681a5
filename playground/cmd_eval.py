"""`sleuth eval`: detection quality of a pack on every simulated world, tuned and held out.

The command-line entry to `evaluate.py`: by default every world is simulated
in memory (attack run and benign-only run per seed), the pack runs on each
world's events and on its plain access log, and the scores come out as a
table (summary first, then per world and technique) or as JSON
(`--format json`, `--out FILE`); `DIR...` scores `sleuth simulate` folders
instead. Timings go to stderr, never into the result (it is deterministic).
`python -m sleuth.playground.evaluate ARGS` is the same command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import orjson

from .cli import EXIT_IO, EXIT_OK, EXIT_USAGE, pack_paths


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers separated by commas (got {text!r})") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seed given")
    return seeds


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth eval`."""
    p.description = (
        "sleuth eval: score a rule pack on labelled simulator traffic, every world.\n\n"
        "Every world is simulated in memory (the tuned world and the held-out ones), once with\n"
        "attacks and once benign only, and the pack runs on its JSON events and on its plain\n"
        "access log, given only the world's OpenAPI document. Reported per world and rendering:\n"
        "recall with the right technique per technique (macro and overall), time to detect,\n"
        "match precision, false alarms per hour on the benign-only run. docs/detection.md\n"
        "defines each figure.")
    p.epilog = ("examples:\n"
                "  sleuth eval                                  every world, 1 h, seed 7, scale 0.3\n"
                "  sleuth eval --worlds held-out --seeds 7,11   the held-out worlds, two seeds pooled\n"
                "  sleuth eval --format json -o eval.json       JSON for machines\n"
                "  sleuth eval builtin sim/ benign/             sleuth simulate folders (--world all too)")
    p.add_argument("pack", metavar="PACK", nargs="?", default="builtin",
                   help="rule pack folder or file (default: builtin, the shipped pack)")
    p.add_argument("data", metavar="DIR", nargs="*",
                   help="'sleuth simulate' folders to score instead of simulating (a folder of "
                        "--world all stands for its worlds; --benign-only folders give false alarms)")
    g = p.add_argument_group("in-memory simulation")
    g.add_argument("--worlds", metavar="LIST", default="all",
                   help="worlds to run: names, 'all' (default) or 'held-out'")
    g.add_argument("--hours", type=float, default=1.0, help="hours per run (default 1)")
    seeds = g.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one seed (default 7)")
    seeds.add_argument("--seeds", type=_seeds, metavar="LIST", help="seeds, comma-separated: runs pooled per world")
    g.add_argument("--scale", type=float, default=0.3, help="benign volume multiplier (default 0.3)")
    g.add_argument("--attacks", metavar="LIST", help="ttp ids to simulate (default: all)")
    g.add_argument("--generators", metavar="LIST", help="attack generators (default: each world's)")
    g.add_argument("--only-benign", action="store_true", help="only the benign-only runs (false alarms)")
    g.add_argument("--no-benign", action="store_true", help="skip the benign-only runs (no false alarms per hour)")
    g.add_argument("-j", "--jobs", type=int, default=1,
                   help="runs in parallel processes (default 1; the result does not depend on it)")
    p.add_argument("--access-log", dest="access_log", action=argparse.BooleanOptionalAction, default=True,
                   help="also score the plain access-log rendering (default: yes)")
    p.add_argument("--no-openapi", action="store_true", help="route heuristically instead of by the OpenAPI document")
    p.add_argument("--detail", action="store_true", help="per-instance and per-match rows in the JSON")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                   help="output: table (default), json, or markdown (the tables of docs/detection.md)")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("-o", "--out", metavar="FILE", help="also write the JSON result here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or timing on stderr")


def _is_sim_folder(path: str) -> bool:
    if os.path.isfile(os.path.join(path, "events.jsonl")):
        return True
    try:
        return any(os.path.isfile(os.path.join(path, s, "events.jsonl")) for s in os.listdir(path))
    except OSError:
        return False


def _fail(msg: str, code: int) -> int:
    print(f"sleuth eval: {msg}", file=sys.stderr)
    return code


def run_eval(args) -> int:
    from . import evaluate

    pack_arg, dirs = args.pack, list(args.data)
    if pack_arg not in (None, "builtin", "api") and os.path.isdir(pack_arg) and _is_sim_folder(pack_arg):
        pack_arg, dirs = "builtin", [pack_arg, *dirs]      # `sleuth eval DIR`: the shipped pack on DIR
    pack = pack_paths(pack_arg)[0]
    if not os.path.exists(pack):
        return _fail(f"no such rule pack: {pack}", EXIT_IO)
    if args.jobs < 1:
        return _fail("--jobs must be at least 1", EXIT_USAGE)
    if args.only_benign and args.no_benign:
        return _fail("--only-benign and --no-benign leave nothing to run", EXIT_USAGE)
    from .cli import load_pack_or_report

    compiled = load_pack_or_report([pack])
    if compiled is None:
        return EXIT_IO
    progress = None
    if not args.quiet and sys.stderr.isatty():
        def progress(msg: str) -> None:
            print(f"  {msg}", file=sys.stderr, flush=True)
    timings: dict = {}
    c0, w0 = time.process_time(), time.monotonic()
    try:
        if dirs:
            for d in dirs:
                if not _is_sim_folder(d):
                    return _fail(f"{d} is not a 'sleuth simulate' output folder (no events.jsonl in it "
                                 f"or in its sub-folders)", EXIT_IO)
            result = evaluate.evaluate_folders(compiled, dirs, access_log=args.access_log,
                                               openapi=not args.no_openapi, detail=args.detail,
                                               progress=progress, timings=timings)
        else:
            seeds = args.seeds or [args.seed if args.seed is not None else 7]
            result = evaluate.evaluate_worlds(
                compiled, worlds=args.worlds, hours=args.hours, seeds=seeds, scale=args.scale,
                attacks=args.attacks, generators=args.generators, access_log=args.access_log,
                attack_runs=not args.only_benign, benign_runs=not args.no_benign, openapi=not args.no_openapi,
                detail=args.detail, jobs=args.jobs, progress=progress, timings=timings)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (OSError, orjson.JSONDecodeError) as exc:
        return _fail(f"cannot read the simulator output: {exc}", EXIT_IO)
    blob = orjson.dumps(result, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    if args.out:
        try:
            with open(args.out, "wb") as fh:
                fh.write(blob + b"\n")
        except OSError as exc:
            return _fail(f"cannot write {args.out}: {exc.strerror or exc}", EXIT_IO)
    if args.json or args.format == "json":
        sys.stdout.write(blob.decode() + "\n")
    elif args.format == "markdown":
        sys.stdout.write(evaluate.render_markdown(result))
    else:
        sys.stdout.write(evaluate.render_worlds(result))
    if not args.quiet:
        events = sum(n for t in timings.values() for k, v in t.items() if k != "simulate" for n in [v["events"]])
        engine = sum(v["cpu_s"] for t in timings.values() for k, v in t.items() if k != "simulate")
        print(f"sleuth eval: {len(timings)} runs, {events:,} events through the engine in {engine:.1f} s CPU "
              f"({time.process_time() - c0:.1f} s CPU in this process, {time.monotonic() - w0:.1f} s wall)",
              file=sys.stderr)
    return EXIT_OK
