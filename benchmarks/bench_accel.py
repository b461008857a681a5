"""What a compiled build of the engine's static modules buys: pure Python vs compiled, alternating.

One interpreter cannot hold both builds of `sleuth.engine`, so each measurement is a child
process (`--child`) run with PYTHONPATH set to the build's root (a folder holding `sleuth/`)
or to nothing (the installed pure-Python package); the parent alternates the builds
`--pairs` times on the same machine and reports the median CPU of each and their ratio
(pure / compiled: above 1.0 the compiled build is faster). Workloads: the shipped pack on
simulated traffic (engine only and end to end) and the 30-rule mix end to end.

    python benchmarks/bench_accel.py --build /path/to/build --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys


def child(workload: str, size: float) -> None:
    import gc
    import hashlib
    import resource
    import tempfile

    import orjson

    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, Normalizer
    from sleuth.engine import engine as engine_module
    from sleuth.playground.bench import make_events, mix_rules, run_file

    def cpu() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_utime

    compiled = not engine_module.__file__.endswith(".py")
    if workload.startswith("pack"):
        from sleuth.engine.ingest import OpenAPI
        from sleuth.playground.simulate import SimConfig, generate

        sim = generate(SimConfig(hours=size, seed=11, scale=1.0))
        pack = load_pack()
        spec = OpenAPI.load(sim.openapi)
        events = sim.events

        def make():
            return Engine(pack, normalizer=Normalizer(templater=spec))
    else:
        events = make_events(int(size))
        pack = load_pack(sources={"mix.ttp": mix_rules(1)})

        def make():
            return Engine(pack)
    n = len(events)
    digest: list[str] = []
    if workload.endswith("engine"):
        data = [dict(e) for e in events]

        def run() -> int:
            eng = make()
            ms = []
            for i in range(0, n, 4096):
                ms += eng.feed_many(data[i:i + 4096])
            ms += eng.close()
            digest.clear()
            digest.append(hashlib.sha256(b"".join(m.to_json() + b"\n" for m in ms)).hexdigest()[:16])
            return len(ms)
    else:
        fd, path = tempfile.mkstemp(suffix=".jsonl")
        with os.fdopen(fd, "wb") as fh:
            for e in events:
                fh.write(orjson.dumps(e) + b"\n")

        def run() -> int:
            return run_file(pack, path, make)
    run()   # warm: caches, generated code
    gc.collect()
    gc.disable()
    c0 = cpu()
    matches = run()
    used = cpu() - c0
    gc.enable()
    print(json.dumps({"compiled": compiled, "events": n, "cpu": used, "matches": matches, "digest": digest[0] if digest else None}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", help="root of the compiled build (holds sleuth/)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--workloads", default="pack_engine:0.25,pack_e2e:0.25,mix_e2e:100000")
    ap.add_argument("--child", nargs=2, metavar=("WORKLOAD", "SIZE"))
    args = ap.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]))
        return
    out = {}
    for spec in args.workloads.split(","):
        workload, size = spec.split(":")
        runs: dict[str, list] = {"pure": [], "compiled": []}
        for _ in range(args.pairs):
            for build in ("pure", "compiled"):
                env = dict(os.environ)
                env.pop("PYTHONPATH", None)
                if build == "compiled":
                    env["PYTHONPATH"] = args.build
                res = subprocess.run([sys.executable, __file__, "--child", workload, size], env=env,
                                     capture_output=True, text=True, check=True)
                row = json.loads(res.stdout.strip().splitlines()[-1])
                if row["compiled"] != (build == "compiled"):
                    raise SystemExit(f"{build} run loaded the wrong build: {row}")
                runs[build].append(row)
        p = statistics.median(r["cpu"] for r in runs["pure"])
        c = statistics.median(r["cpu"] for r in runs["compiled"])
        n = runs["pure"][0]["events"]
        out[workload] = {"events": n, "pure_us_per_event": round(p / n * 1e6, 2),
                         "compiled_us_per_event": round(c / n * 1e6, 2), "pure_over_compiled": round(p / c, 3),
                         "matches": sorted({r["matches"] for b in runs.values() for r in b}),
                         "digests": {b: sorted({r["digest"] for r in rs if r["digest"]}) for b, rs in runs.items()},
                         "pure_cpu": [round(r["cpu"], 3) for r in runs["pure"]],
                         "compiled_cpu": [round(r["cpu"], 3) for r in runs["compiled"]]}
        if len(out[workload]["matches"]) != 1 or any(len(d) > 1 for d in out[workload]["digests"].values()) \
                or len({d for ds in out[workload]["digests"].values() for d in ds}) > 1:
            out[workload]["mismatch"] = True      # the builds disagree: the ratio means nothing
        print(json.dumps({workload: out[workload]}), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
