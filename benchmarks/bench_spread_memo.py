"""The memo of `spread`'s string hashes against no memo, in one process.

Runs the shipped pack engine only over simulated traffic with `population.HASH_MEMO_CAP`
at its default and at 0 (no memo), alternating, `--repeat` times each: with no rule's state
(`Engine(rules=[])`: the reader-side work, the population sketches every event feeds, the
dispatch) and the whole pack. Reports median CPU µs per event and the ratio (no memo / memo:
above 1.0 the memo is faster); the matches must be byte-identical.

    python benchmarks/bench_spread_memo.py --hours 0.25 --repeat 5
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics


def main() -> None:
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, Normalizer, population
    from sleuth.engine.ingest import OpenAPI
    from sleuth.playground.simulate import SimConfig, generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=0.25)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sim = generate(SimConfig(hours=args.hours, seed=11, scale=1.0))
    pack = load_pack()
    spec = OpenAPI.load(sim.openapi)
    events = [dict(e) for e in sim.events]
    n = len(events)
    cap = population.HASH_MEMO_CAP

    def once(rules, memo: bool) -> tuple[float, list[bytes]]:
        population.HASH_MEMO_CAP = cap if memo else 0
        population._HASH_MEMO.clear()
        eng = Engine(pack, normalizer=Normalizer(templater=spec), rules=rules)
        gc.collect()
        gc.disable()
        c0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        ms = []
        for i in range(0, n, 4096):
            ms += eng.feed_many(events[i:i + 4096])
        ms += eng.close()
        used = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
        gc.enable()
        return used, [m.to_json() for m in ms]

    once([], True)     # warm: route caches, canonical events
    out: dict = {"events": n, "memo_cap": cap}
    for label, rules in (("no_rule_state", []), ("whole_pack", None)):
        cpu: dict[bool, list[float]] = {True: [], False: []}
        outs: dict[bool, list[bytes]] = {}
        for _ in range(args.repeat):
            for memo in (False, True):
                c, ms = once(rules, memo)
                cpu[memo].append(c)
                outs[memo] = ms
        if outs[True] != outs[False]:
            raise SystemExit(f"{label}: the memo changed the matches")
        m, r = statistics.median(cpu[True]), statistics.median(cpu[False])
        out[label] = {"memo_us_per_event": round(m / n * 1e6, 2), "no_memo_us_per_event": round(r / n * 1e6, 2),
                      "saved_us_per_event": round((r - m) / n * 1e6, 2), "no_memo_over_memo": round(r / m, 3),
                      "matches": len(outs[True])}
        print(json.dumps({label: out[label]}), flush=True)
    population.HASH_MEMO_CAP = cap
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
