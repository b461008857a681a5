"""Events per second of `sleuth flink run` beside `sleuth run`, on the same input, in one run.

Speed is events per CPU second (the machine is shared, so wall time says
little): for `sleuth run`, this process's CPU time through the readers, the
engine and JSON output; for the keyed protocol alone (`LocalPipeline`, no
Flink), the same; for Flink, the CPU time of the JVMs that run the job
(with thread mode, Python runs inside them), from submission to the end,
with the job's start-up measured on a 20-event input and subtracted (after
a warm-up job: the first job of a JVM pays for class loading and JIT). Wall
times are reported beside. Needs the flink extra and Java.

    python benchmarks/bench_flink.py --hours 0.5 --scale 0.3 --parallelism 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of processes (and their threads) from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def java_pids(own_only: bool = True) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    cmd = fh.read()
            except OSError:
                continue
            if cmd.startswith(b"java") or b"/bin/java" in cmd.split(b"\0")[0]:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                if own_only and ppid != os.getpid():
                    continue            # another process's JVM
                out.append(int(d))
    return out


def run_engine(pack, path: str) -> tuple[int, float, int]:
    from sleuth.engine import Engine
    from sleuth.engine.ingest.source import open_source
    from sleuth.playground.flink.core import make_normalizer

    t = time.process_time()
    eng = Engine(pack, normalizer=make_normalizer())
    batch, positions, n, out = [], [], 0, 0
    for pos, item in open_source(path, name=path):
        if type(item).__name__ != "Bad":
            batch.append(item)
            positions.append(pos)
        if len(batch) >= 512:
            out += sum(len(m.to_json()) > 0 for m in eng.feed_many(batch, path, positions))
            n += len(batch)
            batch, positions = [], []
    out += sum(len(m.to_json()) > 0 for m in eng.feed_many(batch, path, positions) + eng.close())
    n += len(batch)
    return n, time.process_time() - t, out


def run_local(pack, path: str) -> tuple[float, int]:
    from sleuth.playground.flink.core import chunk_records, plan_chunks
    from sleuth.playground.flink.core import run_local as local

    t = time.process_time()
    pipe = local(pack, chunk_records(plan_chunks([(path, path)])), watermark_every=200)
    return time.process_time() - t, len(pipe.matches)


def run_flink(pack_path: str, path: str, out: str, parallelism: int, extra: dict | None) -> tuple[float, float]:
    from sleuth.playground.flink import job
    from sleuth.playground.flink.core import plan_chunks

    options = {"lateness": 5.0, "grace": 0.0, "future_tolerance": 86400.0, "future_confirm": 2,
               "max_line_bytes": 1 << 20, "mapping": {}, "openapi": None, "templating": True}
    env = job.environment(parallelism, checkpoint_dir=out + "-checkpoints", extra=extra)
    job.build(env, pack_path, plan_chunks([(path, path)]), out, options)
    pids = java_pids(own_only=extra is None)
    c0, w0 = cpu_of(pids), time.monotonic()
    job.submit(env).wait()
    return cpu_of(pids) - c0, time.monotonic() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="a JSON lines file (default: simulate)")
    ap.add_argument("--hours", type=float, default=0.5)
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    from sleuth.dsl import load_pack
    from sleuth.dsl.pack import builtin_pack_path

    work = tempfile.mkdtemp(prefix="bench-flink-")
    path = args.input
    if path is None:
        from sleuth.playground.simulate import SimConfig, generate, write

        write(generate(SimConfig(hours=args.hours, scale=args.scale, seed=args.seed)), work)
        path = os.path.join(work, "events.jsonl")
    tiny = os.path.join(work, "tiny.jsonl")
    with open(path, "rb") as src, open(tiny, "wb") as dst:
        for _ in range(20):
            dst.write(src.readline())
    pack_path = builtin_pack_path()
    pack = load_pack(pack_path)
    n, engine_cpu, matches = run_engine(pack, path)
    local_cpu, local_matches = run_local(pack, path)
    extra = None
    result = {"events": n, "matches": matches, "sleuth_run": {"cpu_s": round(engine_cpu, 2),
                                                               "events_per_cpu_s": round(n / engine_cpu)},
              "keyed_protocol_in_one_process": {"cpu_s": round(local_cpu, 2),
                                                "events_per_cpu_s": round(n / local_cpu),
                                                "cost_vs_sleuth_run": round(local_cpu / engine_cpu, 1),
                                                "matches": local_matches},
              "flink": []}
    # The first job of a JVM pays for class loading and JIT warm-up: run one before measuring.
    run_flink(pack_path, tiny, os.path.join(work, "warm-up"), args.parallelism[0], extra)
    for p in args.parallelism:
        start_cpu, start_wall = run_flink(pack_path, tiny, os.path.join(work, f"tiny-{p}"), p, extra)
        cpu, wall = run_flink(pack_path, path, os.path.join(work, f"out-{p}"), p, extra)
        net_cpu, net_wall = max(cpu - start_cpu, 1e-9), max(wall - start_wall, 1e-9)
        result["flink"].append({
            "parallelism": p, "target": "local mini-cluster (one JVM)",
            "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "startup_cpu_s": round(start_cpu, 1),
            "startup_wall_s": round(start_wall, 1), "events_per_cpu_s": round(n / net_cpu),
            "events_per_wall_s": round(n / net_wall), "cost_vs_sleuth_run": round(net_cpu / engine_cpu, 1)})
        print(json.dumps(result["flink"][-1]), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
