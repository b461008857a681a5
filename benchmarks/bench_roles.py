#!/usr/bin/env python
"""Endpoint-role benchmark: accuracy on hand-labelled real APIs, and what roles cost.

Accuracy: every operation of the labelled corpus (``../shared/data/openapi-corpus``,
or ``$SLEUTH_SHARED_DATA/openapi-corpus``, or ``--corpus DIR``) is decided by a
``RoleTable`` built from the API's documents; precision, recall and F1 (micro,
over the non-null labels) per API, for the development and held-out groups and
overall, then the confusion of every wrong answer (label -> predicted). Then the
three evaluation sets side by side (the synthetic development set the rules are
improved on, the corpus, the simulator's held-out API worlds), overall and per role.

Cost, as ratios to baselines measured in the same process: inference per
operation (word caches cleared: a cold build) against compiling the same
document for routing (``OpenAPI(doc)``);
a table lookup (the per-event work: ``RoleTable.mapping.get``) against a plain
``dict.get`` on a table of the same size; the heuristic path cache hit against the heuristic templater's
own cache hit, and an uncached ``decide_path`` in microseconds.

    python benchmarks/bench_roles.py
    python benchmarks/bench_roles.py --json --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sleuth.engine.ingest import roles
from sleuth.engine.ingest.openapi import HeuristicTemplater, OpenAPI
from sleuth.engine.ingest.roles import PathRoles, RoleTable, decide_path
from sleuth.playground.roles_eval import (
    DEVELOPMENT,
    HELD_OUT,
    Score,
    corpus_apis,
    corpus_root,
    evaluation_sets,
    load_api,
    per_role,
    score,
)

TEMPLATES = ["/api/v1/auth/login", "/api/v1/users/{id}", "/api/v1/orders/{id}", "/api/v1/orders",
             "/api/v1/products/{id}", "/api/v1/search", "/api/v1/cart", "/api/v1/coupons/{id}/redeem",
             "/api/v1/account/password", "/api/v1/users/{id}/orders", "/health", "/api/v1/checkout"]


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def accuracy(root: Path) -> dict:
    apis = corpus_apis(root)
    per_api: dict[str, Score] = {}
    for api in apis:
        per_api[api] = score(load_api(api, root)[1])
    groups = {}
    for name, members in (("development", DEVELOPMENT), ("held-out", HELD_OUT), ("all", tuple(apis))):
        s = Score()
        for api in members:
            if api in per_api:
                s.merge(per_api[api])
        groups[name] = s
    return {"apis": per_api, "groups": groups}


def cost(root: Path, repeat: int) -> dict:
    docs = []
    for api in corpus_apis(root):
        folder = root / api
        docs.append([OpenAPI.load(p).doc for p in sorted(folder.iterdir()) if p.suffix in (".json", ".yaml")])
    n_ops = sum(OpenAPI(d).operations for ds in docs for d in ds)

    def compile_only() -> None:
        for ds in docs:
            for d in ds:
                OpenAPI(d)

    apis = [[OpenAPI(d) for d in ds] for ds in docs]

    def build_tables() -> None:
        roles._words_of.cache_clear()  # cold: every document's words read afresh
        roles._normalise.cache_clear()
        roles._ident_words.cache_clear()
        roles._method_part.cache_clear()
        for group in apis:
            RoleTable(group)

    t_compile = _median_time(compile_only, repeat)
    t_build = _median_time(build_tables, repeat)

    # per-event lookup on a table of every corpus operation
    tables = [RoleTable(group) for group in apis]
    keys = [(r.method, r.routes[0]) for t in tables for r in t.rows if r.routes]
    table = tables[max(range(len(tables)), key=lambda i: len(tables[i].rows))]
    local_keys = [(r.method, r.routes[0]) for r in table.rows if r.routes] or keys
    plain = {k: (None, None) for k in local_keys}
    rounds = max(1, 400_000 // len(local_keys))

    def lookups() -> None:
        look = table.mapping.get  # what the per-event wiring holds
        for _ in range(rounds):
            for m, r in local_keys:
                look((m, r))

    def dict_gets() -> None:
        get = plain.get
        for _ in range(rounds):
            for m, r in local_keys:
                get((m, r))

    def method_lookups() -> None:
        look = table.lookup
        for _ in range(rounds):
            for m, r in local_keys:
                look(m, r)

    n_look = rounds * len(local_keys)
    t_look = _median_time(lookups, repeat)
    t_dict = _median_time(dict_gets, repeat)
    t_method = _median_time(method_lookups, repeat)

    # heuristic path: cached hit vs the templater's cached hit; uncached decision
    pr = PathRoles()
    tpl = HeuristicTemplater()
    paths = [t.replace("{id}", "12345") for t in TEMPLATES]
    for t in TEMPLATES:
        pr.decide("GET", t)
    for p in paths:
        tpl.template(p)
    hit_rounds = max(1, 400_000 // len(TEMPLATES))

    def pr_hits() -> None:
        d = pr.decide
        for _ in range(hit_rounds):
            for t in TEMPLATES:
                d("GET", t)

    def tpl_hits() -> None:
        f = tpl.template
        for _ in range(hit_rounds):
            for p in paths:
                f(p)

    def uncached() -> None:
        for t in TEMPLATES * 50:
            decide_path("POST", t)

    n_hits = hit_rounds * len(TEMPLATES)
    t_pr = _median_time(pr_hits, repeat)
    t_tpl = _median_time(tpl_hits, repeat)
    t_unc = _median_time(uncached, repeat)
    return {
        "operations": n_ops,
        "inference_us_per_operation": t_build / n_ops * 1e6,
        "compile_us_per_operation": t_compile / n_ops * 1e6,
        "inference_vs_compile": t_build / t_compile,
        "lookup_ns": t_look / n_look * 1e9,
        "dict_get_ns": t_dict / n_look * 1e9,
        "lookup_vs_dict_get": t_look / t_dict,
        "lookup_method_ns": t_method / n_look * 1e9,
        "path_cache_hit_ns": t_pr / n_hits * 1e9,
        "templater_cache_hit_ns": t_tpl / n_hits * 1e9,
        "path_hit_vs_templater_hit": t_pr / t_tpl,
        "decide_path_uncached_us": t_unc / (len(TEMPLATES) * 50) * 1e6,
    }


def _fig(s: Score) -> dict:
    return {"operations": s.operations, "labelled": s.labelled, "tp": s.tp, "fp": s.fp, "fn": s.fn,
            "precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, help="the openapi-corpus folder (default: the shared data folder)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is kept (default 3)")
    ap.add_argument("--json", action="store_true", help="JSON output")
    args = ap.parse_args(argv)
    root = args.corpus or corpus_root()
    if not corpus_apis(root):
        print(f"bench_roles: no labelled corpus at {root}", file=sys.stderr)
        return 3
    acc = accuracy(root)
    with tempfile.TemporaryDirectory() as tmp:
        sets = evaluation_sets(Path(tmp), root)
    c = cost(root, args.repeat)
    if args.json:
        out = {"apis": {k: _fig(v) for k, v in acc["apis"].items()},
               "groups": {k: _fig(v) for k, v in acc["groups"].items()},
               "sets": {k: _fig(score(v)) for k, v in sets.items()},
               "roles": {k: {r: _fig(s) for r, s in per_role(v).items()} for k, v in sets.items()},
               "confusion": sorted(([lab, pred, n] for (lab, pred), n in acc["groups"]["all"].confusion.items()),
                                   key=lambda x: (-x[2], str(x[0]), str(x[1]))),
               "cost": {k: round(v, 3) if isinstance(v, float) else v for k, v in c.items()}}
        print(json.dumps(out, indent=2))
        return 0
    print(f"{'api':16} {'group':12} {'ops':>4} {'labelled':>8} {'tp':>4} {'fp':>3} {'fn':>3} "
          f"{'precision':>9} {'recall':>7} {'f1':>6}")
    for api, s in acc["apis"].items():
        group = "development" if api in DEVELOPMENT else "held-out" if api in HELD_OUT else "-"
        print(f"{api:16} {group:12} {s.operations:4} {s.labelled:8} {s.tp:4} {s.fp:3} {s.fn:3} "
              f"{s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}")
    for name, s in acc["groups"].items():
        print(f"{'[' + name + ']':29} {s.operations:4} {s.labelled:8} {s.tp:4} {s.fp:3} {s.fn:3} "
              f"{s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}")
    conf = acc["groups"]["all"].confusion
    print("\nwrong answers (label -> predicted):" + ("" if conf else " none"))
    for (lab, pred), n in sorted(conf.items(), key=lambda x: (-x[1], str(x[0][0]), str(x[0][1]))):
        print(f"  {lab!s:15} -> {pred!s:15} {n}")
    print(f"\n{'set':16} {'ops':>5} {'labelled':>8} {'tp':>4} {'fp':>3} {'fn':>3} {'precision':>9} {'recall':>7} "
          f"{'f1':>6}")
    for name, items in sets.items():
        s = score(items)
        print(f"{name:16} {s.operations:5} {s.labelled:8} {s.tp:4} {s.fp:3} {s.fn:3} {s.precision:9.3f} "
              f"{s.recall:7.3f} {s.f1:6.3f}")
    print(f"\nper role (tp/fp/fn): {'role':14} " + " ".join(f"{name:>18}" for name in sets))
    by_set = {name: per_role(items) for name, items in sets.items()}
    for role in sorted({r for v in by_set.values() for r in v}):
        cells = []
        for name in sets:
            s = by_set[name].get(role)
            cells.append("-" if s is None else f"{s.tp:>3}/{s.fp}/{s.fn} {s.precision:4.2f} {s.recall:4.2f}")
        print(f"{'':20} {role:14} " + " ".join(f"{c:>18}" for c in cells))
    print(f"\ncost ({c['operations']} operations, median of {args.repeat}):")
    print(f"  inference        {c['inference_us_per_operation']:8.1f} us/operation "
          f"({c['inference_vs_compile']:.2f}x compiling the document for routing, "
          f"{c['compile_us_per_operation']:.1f} us/operation)")
    print(f"  table lookup     {c['lookup_ns']:8.1f} ns ({c['lookup_vs_dict_get']:.2f}x a dict.get, "
          f"{c['dict_get_ns']:.1f} ns; through RoleTable.lookup {c['lookup_method_ns']:.1f} ns)")
    print(f"  path cache hit   {c['path_cache_hit_ns']:8.1f} ns ({c['path_hit_vs_templater_hit']:.2f}x the templater's "
          f"cache hit, {c['templater_cache_hit_ns']:.1f} ns)")
    print(f"  decide_path      {c['decide_path_uncached_us']:8.1f} us uncached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
