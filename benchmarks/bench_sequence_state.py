"""Sequence state only for events that can start a partial: the gain, as ratios in one run.

Runs the 30-rule mix and the 5-step sequence of `sleuth bench` (same event
generator, `playground/bench.py`) twice per repeat, interleaved: with the
engine as it is, and with the baseline `SequenceMachine.eager_state = True`
(every event of any step creates its key's state, the behaviour before). It
reports user-CPU µs per event (median), the ratio new/baseline, live keys at
the end and evictions. Run: `python benchmarks/bench_sequence_state.py
[--events N] [--repeat R]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.engine.sequence import SequenceMachine
from sleuth.playground.bench import make_events, mix_rules, sequence_rule


def _cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def _once(pack, events, eager: bool) -> tuple[float, dict]:
    SequenceMachine.eager_state = eager
    try:
        gc.collect()
        t0 = _cpu()
        eng = Engine(pack)
        for i in range(0, len(events), 4096):
            eng.feed_many(events[i:i + 4096])
        stats_before_close = eng.stats()
        eng.close()
        return _cpu() - t0, stats_before_close
    finally:
        SequenceMachine.eager_state = False


def compare(name: str, pack, events, repeat: int) -> dict:
    runs: dict[bool, list[float]] = {False: [], True: []}
    stats: dict[bool, dict] = {}
    for _ in range(repeat):
        for eager in (True, False):
            cpu, st = _once(pack, events, eager)
            runs[eager].append(cpu)
            stats[eager] = st
    us = {k: statistics.median(v) / len(events) * 1e6 for k, v in runs.items()}
    seq_rules = [r.name for r in pack.rules if r.kind == "sequence"]

    def keys(st):
        return sum(v for k, v in st["keys_by_rule"].items() if k in seq_rules)

    return {
        "case": name, "events": len(events),
        "us_per_event_baseline": round(us[True], 3), "us_per_event": round(us[False], 3),
        "ratio_new_over_baseline": round(us[False] / us[True], 3),
        "sequence_keys_baseline": keys(stats[True]), "sequence_keys": keys(stats[False]),
        "evictions_baseline": stats[True]["evictions"], "evictions": stats[False]["evictions"],
        "matches_equal": stats[True]["matches"] == stats[False]["matches"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    evs = make_events(args.events)
    many = make_events(args.events, keys=1_000_000, seed=2)
    out = [
        compare("mix_30_rules", load_pack(sources={"mix.ttp": mix_rules(1)}), evs, args.repeat),
        compare("sequence_5_steps_30m", load_pack(sources={"seq.ttp": sequence_rule("30m")}), evs, args.repeat),
        compare("sequence_5_steps_30m_1M_keys", load_pack(sources={"seq.ttp": sequence_rule("30m")}), many,
                args.repeat),
        compare("sequence_5_steps_unbounded_1M_keys",
                load_pack(sources={"seq.ttp": sequence_rule("30m").replace(" within 30m", "")}), many, args.repeat),
    ]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
