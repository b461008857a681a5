"""`sleuth demo`: simulate an API the shipped pack was not tuned on, run the pack, summarise, write the report.

The README's first command. Everything happens in memory: a held-out world
of the simulator (northwind by default: the pack's thresholds were set on the
`tuning` world only) is simulated, its events go through the same normaliser
(given only the world's OpenAPI document) and engine as `sleuth run`, the
matches are scored against the labels with `playground/evaluate.py`, and the
offline HTML report (`write_report`) is written to the temp folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter

from sleuth.dsl.pack import builtin_pack_path

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_OK, EXIT_USAGE, load_pack_or_report, use_colour

DEFAULT_WORLD = "northwind"
"""The world `sleuth demo` shows: held out (the pack was never tuned on it)."""


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth demo`."""
    p.description = (
        "sleuth demo: simulate an API the shipped pack was never tuned on, run the pack, show what it\n"
        f"finds and how well (against the simulator's labels), and write the HTML report.\n\n"
        f"The default world, {DEFAULT_WORLD}, is held out: the pack's thresholds were set on the 'tuning'\n"
        "world, and the engine gets only the world's OpenAPI document. 'sleuth eval' scores every world.")
    p.add_argument("--world", default=DEFAULT_WORLD,
                   help="simulated API: northwind (default), relay, harbor (held out) or tuning (the one the "
                        "pack was tuned on)")
    p.add_argument("--hours", type=float, default=0.5, help="simulated time (default 0.5)")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.add_argument("--scale", type=float, default=0.1, help="benign volume multiplier (default 0.1)")
    p.add_argument("--pack", metavar="PATH", help="rule pack to run (default: the shipped pack)")
    rep = p.add_mutually_exclusive_group()
    rep.add_argument("--report", metavar="FILE",
                     help="where to write the HTML report (default: sleuth-demo-<seed>.html in the temp folder)")
    rep.add_argument("--no-report", action="store_true", help="do not write the HTML report")


def _fail(msg: str, code: int) -> int:
    print(f"sleuth demo: {msg}", file=sys.stderr)
    return code


def run_demo(args) -> int:
    from sleuth.engine import Engine, Normalizer, Quarantine
    from sleuth.engine.ingest import OpenAPI

    from .evaluate import evaluate, events_meta, render_table
    from .simulate import WORLDS, SimConfig, generate

    if args.world not in WORLDS:
        return _fail(f"unknown world {args.world!r}; expected one of: {', '.join(WORLDS)}", EXIT_USAGE)
    if not args.hours > 0 or args.scale < 0:
        return _fail("--hours must be > 0 and --scale >= 0", EXIT_USAGE)
    spec = WORLDS[args.world]
    colour = use_colour(sys.stdout)
    bold, dim, reset = ("\x1b[1m", "\x1b[2m", "\x1b[0m") if colour else ("", "", "")
    pack = load_pack_or_report([args.pack or builtin_pack_path()])
    if pack is None:
        return EXIT_FINDINGS
    out = sys.stdout
    if spec.held_out:
        about = ("a held-out world: the pack was not tuned on this API (its thresholds were set on the "
                 "'tuning' world) and the engine gets only its OpenAPI document")
    else:
        about = ("the tuned world: the pack's thresholds were set on this API, so these figures flatter it "
                 "(sleuth eval shows the held-out worlds)")
    out.write(f"{bold}sleuth demo{reset}: world {bold}{spec.name}{reset} ({spec.title}), {about}\n")
    print(f"{dim}{args.hours:g} h of simulated traffic (seed {args.seed}, scale {args.scale:g}), "
          f"{len(pack.rules)} rules{reset}", file=sys.stderr)
    w0 = time.monotonic()
    t0 = time.process_time()
    try:
        sim = generate(SimConfig(hours=args.hours, seed=args.seed, scale=args.scale, world=spec.name))
    except ValueError as exc:      # the options were checked: the simulator cannot build this small a run
        return _fail(f"the simulator cannot build this run ({exc}); try a larger --scale or --hours", EXIT_USAGE)
    t1 = time.process_time()
    print(f"{dim}simulated {len(sim.events):,} events, {len(sim.labels)} labelled attack instances "
          f"in {t1 - t0:.1f}s{reset}", file=sys.stderr)
    import gc

    gc.freeze()    # simulated events and the compiled pack stay alive: keep them out of GC scans
    normalizer = Normalizer(templater=OpenAPI.load(sim.openapi))
    quarantine = Quarantine()
    engine = Engine(pack, normalizer=normalizer, quarantine=quarantine)
    c0 = time.process_time()
    matches = []
    events = sim.events
    for i in range(0, len(events), 2048):
        matches.extend(engine.feed_many(events[i:i + 2048], "sim"))
    matches.extend(engine.close())
    cpu = time.process_time() - c0
    stats = engine.stats()
    dicts = [m.to_dict() for m in matches]

    by_ttp = Counter(m.ttp for m in matches)
    by_goal = Counter(m.goal for m in matches)
    actors: Counter = Counter()
    for m in matches:
        for k in ("src_ip", "asn", "user", "ja3", "session"):
            if k in m.key and m.key[k] is not None:
                actors[f"{k}={m.key[k]}"] += 1
                break
    out.write(f"\n{bold}Matches by technique{reset}  ({len(matches):,} matches, "
              f"{stats['suppressed']:,} suppressed)\n")
    for ttp, n in by_ttp.most_common():
        uniq = stats["unique_ttps"].get(ttp, 0)
        out.write(f"  {ttp:<26}{n:>6}   {uniq:>5} unique TTP fingerprints\n")
    out.write(f"\n{bold}Matches by end goal{reset}\n")
    for goal, n in by_goal.most_common():
        out.write(f"  {goal:<26}{n:>6}\n")
    out.write(f"\n{bold}Top actors{reset}\n")
    for actor, n in actors.most_common(8):
        techniques = sorted({m.ttp for m in matches
                             if any(f"{k}={v}" == actor for k, v in m.key.items())})
        out.write(f"  {actor:<40}{n:>5}  {', '.join(techniques)}\n")

    result = evaluate(dicts, sim.labels, sim.traps, events_meta(sim.manifest, sim.events))
    kind = "held-out" if spec.held_out else "tuned"
    out.write(f"\n{bold}Detection against the simulator's labels ({spec.name}, {kind} world){reset}\n")
    out.write(render_table(result, max_missed=8))
    fa = result["false_alarms"]
    out.write(f"\n{bold}In short{reset} ({kind} world {spec.name}, {args.hours:g} h): "
              f"recall with the right technique {_f(result['recall'])} "
              f"(macro over techniques {_f(result['macro_recall'])}), "
              f"precision {_f(result['precision'])} (any technique {_f(result['precision_any_ttp'])}), "
              f"{fa['count']} false alarm{'s' if fa['count'] != 1 else ''} on benign traffic "
              f"({fa['per_hour'] or 0:.1f}/h).\n")
    rate = stats["events_processed"] / cpu if cpu > 0 else 0.0
    out.write(f"\n{bold}Speed{reset}  {stats['events_processed']:,} events in {cpu:.2f} s CPU: "
              f"{rate:,.0f} events/s (one core, end to end in memory)\n")
    q = stats["quarantined"]
    if q:
        out.write(f"quarantined: {', '.join(f'{k} {v}' for k, v in q.items())}\n")
    if not args.no_report:
        from .report import ReportInputError, ReportUsageError, write_report

        path = args.report or os.path.join(tempfile.gettempdir(), f"sleuth-demo-{args.seed}.html")
        labels = {"name": f"sleuth demo: world {spec.name}, seed {args.seed} (in memory)", "labels": sim.labels,
                  "traps": sim.traps, "manifest": sim.manifest}
        try:
            figures = write_report(path, dicts, quarantine=quarantine, labels=labels, pack=pack,
                                   title=f"sleuth demo: {spec.name} ({kind} world), {args.hours:g} h, "
                                         f"seed {args.seed}")
        except (ReportInputError, ReportUsageError) as exc:
            return _fail(str(exc), EXIT_IO)
        out.write(f"\n{bold}Report{reset}  {path} ({figures['bytes'] / 1024:,.0f} KiB, offline HTML: "
                  f"open it in a browser)\n")
    out.write(f"\n{dim}Every world, held out and tuned: sleuth eval   ·   "
              f"sleuth simulate --world {spec.name} -o sim && sleuth run builtin sim/events.jsonl "
              f"--openapi sim/openapi.json | head   ·   sleuth play builtin{reset}\n")
    print(f"{dim}demo done in {time.monotonic() - w0:.1f} s{reset}", file=sys.stderr)
    return EXIT_OK


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
