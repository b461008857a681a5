#!/usr/bin/env python
"""What population statistics (`share`, `spread`) cost, as ratios measured in one process.

The 30-rule mix of `sleuth bench` (20 filters, 6 sequences, 4 windows) over
the bench's seeded events, each given a TLS fingerprint drawn from a Zipf
law over 60 values. Cases, engine only (decoded events fed in chunks):

- `mix30`: the mix alone (no sketch: the engine's hot loop is the one without population);
- `mix30 + filter`: plus a `when` rule on a plain comparison (the same
  matches: the fingerprints under 1% of the stream), against
  `mix30 + share filter`: the same rule reading `share(ja3) < 0.01`
  (one sketch updated on every event, one query per POST);
- `mix30 + window`: plus a sliding window by ja3, against
  `mix30 + spread window`: the same window also reading `share(ja3)` and
  `spread(ja3, src_ip, 10m)` (one sketch with a spread).

With `--base-rev REV` the mix alone also runs in a child process on the code
of REV (`git archive`, e.g. the commit before population statistics), in
alternation with this tree, for the cost when no rule uses them.

With `--fleets EVENTS.jsonl` (e.g. `sleuth simulate --world northwind
--only-benign --hours 3`), what the statistics are for: a cookie-less fleet
rule by ja3 with a fixed threshold, with `share(ja3) < 0.05` and with
`distinct(src_ip) >= 5 * spread(ja3, src_ip, 10m)`, over the benign traffic
alone, then with a fleet of 40 addresses injected one hour in on a new
fingerprint and on the most popular one.

    python benchmarks/bench_population.py --events 200000 --repeat 5
    python benchmarks/bench_population.py --base-rev main --json
    python benchmarks/bench_population.py --fleets sim/events.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

META = 'meta { ttp = "l3-rotation" goal = "account-takeover" severity = medium title = "t" }'
FILTER = f'rule pop_filter {{\n  {META}\n  when method == "POST" and {{cond}}\n}}\n'
WINDOW = f'''rule pop_window {{
  {META}
  by ja3
  window 10m sliding
  having distinct(src_ip) >= 400{{extra}}
  suppress 1h
}}
'''


def with_fingerprints(events: list[dict], seed: int = 9) -> list[dict]:
    rng = random.Random(seed)
    names = [f"fp{r}" for r in range(60)]
    weights = [1.0 / (r + 1) ** 1.3 for r in range(60)]
    picks = rng.choices(names, weights, k=len(events))
    return [dict(e, ja3=p) for e, p in zip(events, picks)]


def cases() -> dict[str, str]:
    from sleuth.playground.bench import mix_rules
    mix = mix_rules(1)
    return {
        "mix30": mix,
        # The same matches as the share filter: the fingerprints under 1% of this stream.
        "mix30 + filter": mix + FILTER.replace(
            "{cond}", "ja3 not in (" + ", ".join(f'"fp{r}"' for r in range(15)) + ")"),
        "mix30 + share filter": mix + FILTER.replace("{cond}", "share(ja3) < 0.01"),
        "mix30 + window": mix + WINDOW.replace("{extra}", ""),
        "mix30 + spread window": mix + WINDOW.replace(
            "{extra}", " and share(ja3) < 0.05 and distinct(src_ip) >= 5 * spread(ja3, src_ip, 10m)"),
    }


def _runner(text: str, events: list[dict]):
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine
    pack = load_pack(sources={"bench.ttp": text})

    def run() -> int:
        eng = Engine(pack)
        n = 0
        for i in range(0, len(events), 4096):
            n += len(eng.feed_many(events[i:i + 4096]))
        return n + len(eng.close())
    return run


def run_cases(texts: dict[str, str], events: list[dict], repeat: int) -> dict:
    """Each case once per round, `repeat` rounds: the cases of a ratio see the same machine conditions."""
    from sleuth.playground.bench import measure
    runners = {name: _runner(text, events) for name, text in texts.items()}
    cpu: dict[str, list[float]] = {name: [] for name in texts}
    counts: dict[str, int] = {}
    for _ in range(repeat):
        for name, run in runners.items():
            m = measure(run, 1)
            cpu[name].append(m["cpu"])
            counts[name] = m["count"]
    return {name: {"us_per_event": round(statistics.median(c) / len(events) * 1e6, 3), "matches": counts[name],
                   "cpu_min": min(c), "cpu_max": max(c)} for name, c in cpu.items()}


def run_case(text: str, events: list[dict], repeat: int) -> dict:
    return run_cases({"case": text}, events, repeat)["case"]


FLEET_BASE = ("by ja3\n  window 10m sliding\n  where not exists(session)\n"
              "  having distinct(src_ip) >= 30 and count() <= 3 * distinct(src_ip)")
FLEET_VARIANTS = {"fixed": "", "share": " and share(ja3) < 0.05",
                  "spread": " and distinct(src_ip) >= 5 * spread(ja3, src_ip, 10m)"}


def fleets(path: str) -> dict:
    """Matches of the three fleet rules on benign traffic, and with a fleet injected."""
    from collections import Counter

    import orjson

    from sleuth.dsl import load_pack
    from sleuth.engine import Engine
    from sleuth.engine.ingest.timestamp import parse_time
    src = "\n".join(f"rule {n} {{\n  {META}\n  {FLEET_BASE}{x}\n  suppress 30m\n}}" for n, x in FLEET_VARIANTS.items())
    pack = load_pack(sources={"fleet.ttp": src})
    with open(path, "rb") as fh:
        events = [orjson.loads(line) for line in fh]
    for e in events:
        e["ts"] = parse_time(e["ts"])
    events.sort(key=lambda e: e["ts"])
    popular = Counter(e.get("ja3") for e in events).most_common(1)[0][0]
    hours = (events[-1]["ts"] - events[0]["ts"]) / 3600
    out: dict = {"events": len(events), "hours": round(hours, 2), "popular": popular, "runs": {}}
    for label, ja3 in (("benign", None), ("fleet on a new fingerprint", "fleet-fp"),
                       ("fleet on the most popular fingerprint", popular)):
        extra = [] if ja3 is None else [
            {"id": f"fleet{i}", "ts": events[0]["ts"] + 3600 + 5 * i, "ja3": ja3, "src_ip": f"198.51.100.{i}",
             "method": "POST", "path": "/login", "status": 401} for i in range(40)]
        eng = Engine(pack)
        ms = eng.feed_many(sorted(events + extra, key=lambda e: e["ts"])) + eng.close()
        out["runs"][label] = {n: {"matches": sum(m.rule == n for m in ms),
                                  "on_the_fleet": sum(m.rule == n and m.first_ts >= events[0]["ts"] + 3600
                                                      and m.first_ts <= events[0]["ts"] + 3600 + 200
                                                      and m.key.get("ja3") == ja3 for m in ms)}
                              for n in FLEET_VARIANTS}
    return out


def child(events: int, repeat: int) -> None:
    """Time the mix alone on whatever `sleuth` this process imports (no population functions)."""
    from sleuth.playground.bench import make_events, mix_rules
    evs = with_fingerprints(make_events(events))
    print(json.dumps(run_case(mix_rules(1), evs, repeat)))


def base_tree(rev: str) -> Path:
    """The package of `rev` as an importable tree in a temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix="sleuth-base-"))
    src = tmp / "src"
    src.mkdir()
    tar = subprocess.run(["git", "-C", str(REPO), "archive", rev, "engine", "dsl", "playground", "rulepacks"],
                         check=True, capture_output=True).stdout
    tar_path = tmp / "src.tar"
    tar_path.write_bytes(tar)
    with tarfile.open(tar_path) as tf:
        tf.extractall(src, filter="data")
    pkg = tmp / "pkg" / "sleuth"
    pkg.mkdir(parents=True)
    for name in ("engine", "dsl", "playground", "rulepacks"):
        (pkg / name).symlink_to(src / name)
    return tmp / "pkg"


def cross_version(rev: str, events: int, repeat: int, rounds: int) -> dict:
    """The mix alone: this tree against `rev`, alternating child processes."""
    import site
    base = base_tree(rev)
    sitepk = ":".join(site.getsitepackages())
    this_pkg = Path(tempfile.mkdtemp(prefix="sleuth-this-")) / "sleuth"
    this_pkg.mkdir()
    for name in ("engine", "dsl", "playground", "rulepacks"):
        (this_pkg / name).symlink_to(REPO / name)
    out: dict[str, list[float]] = {"this": [], "base": []}
    for _ in range(rounds):
        for label, path in (("base", base), ("this", this_pkg.parent)):
            env = dict(os.environ, PYTHONPATH=f"{path}:{sitepk}")
            # -S: no site processing, so the editable install's finder does not shadow `path`.
            res = subprocess.run([sys.executable, "-S", __file__, "--child", "--events", str(events),
                                  "--repeat", str(repeat)], env=env, check=True, capture_output=True, text=True)
            out[label].append(json.loads(res.stdout)["us_per_event"])
    b, t = statistics.median(out["base"]), statistics.median(out["this"])
    return {"base_rev": rev, "base_us": b, "this_us": t, "ratio": round(t / b, 3), "runs": out}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="alternations of the two trees (--base-rev)")
    p.add_argument("--base-rev", help="also time the mix alone on this git revision, in child processes")
    p.add_argument("--fleets", metavar="EVENTS", help="the fleet rules over this JSON lines file (see above)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.events, args.repeat)
        return 0
    if args.fleets:
        res = fleets(args.fleets)
        if args.json:
            print(json.dumps(res, indent=2))
        else:
            print(f"{res['events']:,} events over {res['hours']} h; most popular fingerprint {res['popular']}")
            for label, rows in res["runs"].items():
                print(f"{label}: " + ", ".join(f"{n} {r['matches']} matches ({r['on_the_fleet']} on the fleet)"
                                               for n, r in rows.items()))
        return 0
    from sleuth.playground.bench import make_events
    evs = with_fingerprints(make_events(args.events))
    results: dict = {"events": args.events, "repeat": args.repeat, "cases": {}}
    results["cases"] = run_cases(cases(), evs, args.repeat)
    c = results["cases"]
    results["ratios"] = {
        "share filter / plain filter": round(c["mix30 + share filter"]["us_per_event"]
                                             / c["mix30 + filter"]["us_per_event"], 3),
        "spread window / plain window": round(c["mix30 + spread window"]["us_per_event"]
                                              / c["mix30 + window"]["us_per_event"], 3),
        "share filter / mix30": round(c["mix30 + share filter"]["us_per_event"] / c["mix30"]["us_per_event"], 3),
        "spread window / mix30": round(c["mix30 + spread window"]["us_per_event"] / c["mix30"]["us_per_event"], 3),
    }
    if args.base_rev:
        results["no_use"] = cross_version(args.base_rev, args.events, args.repeat, args.rounds)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, row in c.items():
            print(f"{name:<24} {row['us_per_event']:>8.2f} us/event  {row['matches']:>6} matches")
        for name, r in results["ratios"].items():
            print(f"{name:<32} {r:.3f}")
        if "no_use" in results:
            nu = results["no_use"]
            print(f"mix30, this tree / {nu['base_rev']}: {nu['ratio']:.3f} "
                  f"({nu['this_us']:.2f} vs {nu['base_us']:.2f} us/event)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
