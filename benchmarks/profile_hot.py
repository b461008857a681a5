"""Where the time goes: cProfile of the shipped pack and the 30-rule mix, grouped by stage.

Runs each workload end to end (JSON lines in, matches serialised) under cProfile and sums
each function's own time (tottime) into stages by the file it lives in: generated code
(`<sleuth ...>` filenames, exec'd at pack load), the engine's static modules, the ingest
(reader, normaliser), C builtins. The stage table is what docs/performance.md quotes; the
profiler inflates Python-level call costs, so shares (not absolute µs) are what hold.

    python benchmarks/profile_hot.py --pack-hours 0.25 --mix-events 100000 [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile

import orjson


def stage_of(filename: str, func: str) -> str:
    """The stage a profiled function belongs to, from its file."""
    if filename.startswith("<sleuth"):
        kind = filename.split()[1] if " " in filename else "?"
        return f"generated ({kind})"
    if filename == "~":
        return "builtins (C)"
    base = os.path.basename(filename)
    parent = os.path.basename(os.path.dirname(filename))
    if parent in ("ingest", "formats"):
        return f"ingest/{base}"
    if parent == "engine":
        return f"engine/{base}"
    if parent == "playground":
        return f"playground/{base}"
    return "other"


def profile(fn) -> tuple[pstats.Stats, int]:
    prof = cProfile.Profile()
    prof.enable()
    n = fn()
    prof.disable()
    return pstats.Stats(prof), n


def breakdown(stats: pstats.Stats, events: int, top: int) -> dict:
    stages: dict[str, float] = {}
    funcs = []
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        total += tt
        s = stage_of(filename, func)
        stages[s] = stages.get(s, 0.0) + tt
        funcs.append((tt, f"{os.path.basename(filename) if not filename.startswith('<') else filename[:60]}:{func}"))
    funcs.sort(reverse=True)
    return {
        "events": events, "profiled_us_per_event": round(total / events * 1e6, 2),
        "stages": {k: {"us_per_event": round(v / events * 1e6, 2), "share": round(v / total, 3)}
                   for k, v in sorted(stages.items(), key=lambda kv: -kv[1])},
        "top": [{"func": f, "us_per_event": round(t / events * 1e6, 2), "share": round(t / total, 3)}
                for t, f in funcs[:top]],
    }


def pack_workload(hours: float):
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, Normalizer
    from sleuth.engine.ingest import OpenAPI
    from sleuth.playground.bench import run_file
    from sleuth.playground.simulate import SimConfig, generate

    sim = generate(SimConfig(hours=hours, seed=11, scale=1.0))
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    with os.fdopen(fd, "wb") as fh:
        for e in sim.events:
            fh.write(orjson.dumps(e) + b"\n")
    pack = load_pack()
    spec = OpenAPI.load(sim.openapi)
    n = len(sim.events)
    return n, path, lambda: run_file(pack, path, lambda: Engine(pack, normalizer=Normalizer(templater=spec)))


def mix_workload(events: int):
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine
    from sleuth.playground.bench import make_events, mix_rules, run_file

    fd, path = tempfile.mkstemp(suffix=".jsonl")
    with os.fdopen(fd, "wb") as fh:
        for e in make_events(events):
            fh.write(orjson.dumps(e) + b"\n")
    pack = load_pack(sources={"mix.ttp": mix_rules(1)})
    return events, path, lambda: run_file(pack, path, lambda: Engine(pack))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack-hours", type=float, default=0.25)
    ap.add_argument("--mix-events", type=int, default=100_000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--only", choices=("pack", "mix"))
    args = ap.parse_args()
    out = {}
    for name, make in (("shipped_pack", lambda: pack_workload(args.pack_hours)),
                       ("mix30", lambda: mix_workload(args.mix_events))):
        if args.only and not name.startswith(args.only):
            continue
        n, path, run = make()
        run()      # warm: route caches, generated code
        import gc
        gc.disable()
        stats, matches = profile(run)
        gc.enable()
        os.remove(path)
        out[name] = breakdown(stats, n, args.top)
        out[name]["matches"] = matches
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
