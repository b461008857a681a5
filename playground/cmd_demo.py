"""`sleuth demo`: simulate an hour of API traffic, run the shipped pack, summarise.

The README's first command. Everything happens in memory: the simulator's
events go through the same normaliser (with the simulator's OpenAPI
document for route templates) and engine as `sleuth run`, and the matches
are scored against the simulator's labels with `playground/evaluate.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from sleuth.dsl.pack import builtin_pack_path

from .cli import EXIT_FINDINGS, EXIT_OK, load_pack_or_report, use_colour


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth demo`."""
    p.add_argument("--hours", type=float, default=1.0, help="simulated time (default 1)")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.add_argument("--scale", type=float, default=0.5, help="benign volume multiplier (default 0.5)")
    p.add_argument("--pack", metavar="PATH", help="rule pack to run (default: the shipped pack)")


def run_demo(args) -> int:
    from sleuth.engine import Engine, Normalizer, Quarantine
    from sleuth.engine.ingest import OpenAPI

    from .simulate import SimConfig, generate

    colour = use_colour(sys.stdout)
    bold, dim, reset = ("\x1b[1m", "\x1b[2m", "\x1b[0m") if colour else ("", "", "")
    pack = load_pack_or_report([args.pack or builtin_pack_path()])
    if pack is None:
        return EXIT_FINDINGS
    print(f"{bold}sleuth demo{reset}: {args.hours:g} h of simulated retail/banking API traffic "
          f"(seed {args.seed}, scale {args.scale:g}), {len(pack.rules)} rules", file=sys.stderr)
    t0 = time.monotonic()
    sim = generate(SimConfig(hours=args.hours, seed=args.seed, scale=args.scale))
    t1 = time.monotonic()
    print(f"{dim}simulated {len(sim.events):,} events, {len(sim.labels)} labelled attack instances "
          f"in {t1 - t0:.1f}s{reset}", file=sys.stderr)
    import gc

    gc.freeze()    # simulated events and the compiled pack stay alive: keep them out of GC scans
    normalizer = Normalizer(templater=OpenAPI.load(sim.openapi))
    engine = Engine(pack, normalizer=normalizer, quarantine=Quarantine())
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
    out = sys.stdout
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
    try:
        from .evaluate import evaluate, render_table
    except ImportError:
        evaluate = None
    if evaluate is not None:
        meta = {"start": sim.manifest.get("start"), "end": sim.manifest.get("end"),
                "events": len(sim.events), "hours": args.hours}
        result = evaluate(dicts, sim.labels, sim.traps, meta, only_benign=False)
        out.write(f"\n{bold}Detection against the simulator's labels{reset}\n")
        out.write(render_table(result) + "\n")
    rate = stats["events_processed"] / cpu if cpu > 0 else 0.0
    out.write(f"\n{bold}Speed{reset}  {stats['events_processed']:,} events in {cpu:.2f} s CPU: "
              f"{rate:,.0f} events/s (one core, end to end in memory)\n")
    q = stats["quarantined"]
    if q:
        out.write(f"quarantined: {', '.join(f'{k} {v}' for k, v in q.items())}\n")
    out.write(f"\n{dim}Next: sleuth simulate -o sim && sleuth run builtin sim/events.jsonl --openapi "
              f"sim/openapi.json | head   ·   sleuth play builtin   ·   sleuth test{reset}\n")
    return EXIT_OK
