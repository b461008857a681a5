"""Detection quality of a rule pack on labelled simulator traffic (`sleuth eval`).

`evaluate()` scores a list of matches against the simulator's ground truth
(`labels.jsonl`, `traps.jsonl`); `run_eval()` runs a pack over a simulator
output directory first; `run_eval_sim()` does the same from a `SimConfig`
without touching the disk; `render_table()` prints the result for people.
The result is plain JSON (sorted keys, rounded floats), stable for CI.

Scoring (also in docs/detection.md):

* **Attribution.** A match's evidence is the event ids of its provenance;
  a `from matches` rule's provenance lists match ids, which are replaced by
  the event ids of those matches (recursively). A match is attributed to the
  attack instance whose labelled events it overlaps most; ties go to an
  instance whose ttp (or `also` list) names the match's ttp, then to the
  smaller instance. A campaign's umbrella label contains all its stages'
  events: a technique match that lands on the umbrella moves to the stage it
  overlaps (its own ttp's stage first), a `campaign` match that lands on a
  stage moves up to the umbrella.
* **Detected**: some match is attributed to the instance. **Detected with
  the right ttp**: some attributed match has the instance's own ttp. Recall
  (overall, per ttp, per difficulty) counts the latter.
* **Precision**: matches attributed to an instance whose ttp or `also`
  techniques name the match's ttp, over all matches. `precision_any_ttp`
  counts every attributed match (attack traffic, whatever the technique).
* **False alarms**: matches attributed to no instance (in an `only_benign`
  run, every match), per hour of traffic, broken down by the trap whose
  events they overlap most (`none` when no trap) and by rule.
* **Time to detect**: first `emitted_at` of a right-ttp match minus the
  instance's first event time; median and p90 per ttp.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable

import orjson

from sleuth.engine.ingest import parse_time
from sleuth.engine.match import provenance_event_ids

DIFFICULTIES = ("easy", "medium", "hard")
BATCH = 4096

__all__ = ["evaluate", "render_table", "run_eval", "run_eval_sim"]


# ---------------------------------------------------------------- helpers


def _ts(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_time(value)
    except Exception:  # a malformed time in a label is reported as missing, not raised
        return None


def _quantile(values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile (numpy's default) of a non-empty list, else None."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _evidence(match_ids: dict[str, dict]) -> dict[str, list[str]]:
    """match id → event ids of its provenance, with consumed matches expanded to their events."""
    memo: dict[str, list[str]] = {}

    def resolve(mid: str, stack: frozenset) -> list[str]:
        if mid in memo:
            return memo[mid]
        m = match_ids[mid]
        out: list[str] = []
        seen: set[str] = set()
        for eid in provenance_event_ids(m.get("provenance") or {}):
            if eid in match_ids and eid not in stack:
                ids = resolve(eid, stack | {eid})
            else:
                ids = [eid]
            for i in ids:
                if i not in seen:
                    seen.add(i)
                    out.append(i)
        memo[mid] = out
        return out

    return {mid: resolve(mid, frozenset({mid})) for mid in match_ids}


# ---------------------------------------------------------------- scoring


def _campaign_level(best: int, ttp: str, overlap: Counter, umbrella_of: dict[int, int],
                    ok_ttps: list[set]) -> int:
    """Move a match between a campaign's umbrella label and its stages.

    The umbrella label holds every stage's events, so evidence that spans two
    stages overlaps the umbrella most. A technique match belongs to the stage
    (of its own ttp if one overlaps, else the one it overlaps most); a
    campaign match belongs to the umbrella.
    """
    stages = [i for i in overlap if umbrella_of.get(i) == best]
    if stages and ttp not in ok_ttps[best]:
        return max(stages, key=lambda i: (ttp in ok_ttps[i], overlap[i], -i))
    up = umbrella_of.get(best)
    if up is not None and up in overlap and ttp in ok_ttps[up] and ttp not in ok_ttps[best]:
        return up
    return best


def evaluate(matches: list[dict], labels: list[dict], traps: list[dict], events_meta: dict, *,
             only_benign: bool = False, detail: bool = False) -> dict:
    """Score matches (`Match.to_dict()` records) against ground truth.

    `events_meta` holds at least `start`, `end` (RFC 3339 or epoch seconds),
    `events` (count) and `hours`. Returns a JSON-ready dict (see the module
    docstring for the definitions); with `detail`, also `instance_detail`
    (one row per attack instance) and `match_detail` (one row per match:
    the instance or trap it was attributed to).
    """
    hours = float(events_meta.get("hours") or 0.0)
    if not hours:
        s, e = _ts(events_meta.get("start")), _ts(events_meta.get("end"))
        hours = (e - s) / 3600.0 if s is not None and e is not None and e > s else 0.0

    # event id → instances / traps holding it
    by_event: dict[str, list[int]] = defaultdict(list)
    for i, lab in enumerate(labels):
        for eid in lab.get("event_ids", ()):
            by_event[eid].append(i)
    trap_of: dict[str, list[int]] = defaultdict(list)
    for i, trap in enumerate(traps):
        for eid in trap.get("event_ids", ()):
            trap_of[eid].append(i)
    sizes = [len(lab.get("event_ids", ())) for lab in labels]
    ok_ttps = [{lab.get("ttp"), *lab.get("also", ())} for lab in labels]
    starts = [_ts(lab.get("start")) for lab in labels]

    # Campaign stages: a stage label is also inside its campaign's umbrella label.
    by_label_id = {lab.get("id"): i for i, lab in enumerate(labels)}
    umbrella_of = {i: by_label_id[lab["campaign"]] for i, lab in enumerate(labels)
                   if lab.get("campaign") in by_label_id}

    ids = {m["match_id"]: m for m in matches if m.get("match_id")}
    evidence = _evidence(ids)

    inst_any: list[list[int]] = [[] for _ in labels]      # attributed match indexes
    inst_right: list[list[float]] = [[] for _ in labels]  # emitted_at of right-ttp matches
    per_rule: dict[str, Counter] = defaultdict(Counter)
    fp_by_trap: Counter = Counter()
    fp_by_rule: Counter = Counter()
    attributed = correct = false = 0
    match_rows = []
    for k, m in enumerate(matches):
        rule, ttp = m.get("rule", "?"), m.get("ttp", "?")
        per_rule[rule]["matches"] += 1
        ev_ids = evidence.get(m.get("match_id"), None)
        if ev_ids is None:
            ev_ids = provenance_event_ids(m.get("provenance") or {})
        best = None
        if not only_benign:
            overlap: Counter = Counter()
            for eid in ev_ids:
                for i in by_event.get(eid, ()):
                    overlap[i] += 1
            if overlap:
                best = max(overlap, key=lambda i: (overlap[i], ttp in ok_ttps[i], -sizes[i], -i))
                best = _campaign_level(best, ttp, overlap, umbrella_of, ok_ttps)
        if best is not None:
            attributed += 1
            per_rule[rule]["attributed"] += 1
            inst_any[best].append(k)
            ok = ttp in ok_ttps[best]
            if ok:
                correct += 1
                per_rule[rule]["correct"] += 1
            if detail:
                match_rows.append({"match_id": m.get("match_id"), "rule": rule, "ttp": ttp,
                                   "emitted_at": m.get("emitted_at"), "instance": labels[best].get("id"),
                                   "generator": labels[best].get("generator"),
                                   "instance_ttp": labels[best].get("ttp"), "correct_ttp": ok})
            if ttp == labels[best].get("ttp"):
                t = _ts(m.get("emitted_at"))
                if t is not None:
                    inst_right[best].append(t)
            continue
        false += 1
        per_rule[rule]["false"] += 1
        fp_by_rule[rule] += 1
        tov: Counter = Counter()
        for eid in ev_ids:
            for j in trap_of.get(eid, ()):
                tov[j] += 1
        kind = traps[max(tov, key=lambda j: (tov[j], -j))].get("trap", "?") if tov else "none"
        fp_by_trap[kind] += 1
        if detail:
            match_rows.append({"match_id": m.get("match_id"), "rule": rule, "ttp": ttp,
                               "emitted_at": m.get("emitted_at"), "instance": None, "trap": kind,
                               "key": m.get("key")})

    # per instance
    instances = []
    groups: dict[str, dict[str, list]] = {"ttp": defaultdict(list), "difficulty": defaultdict(list),
                                          "generator": defaultdict(list)}
    for i, lab in enumerate(labels):
        rules = sorted({matches[k].get("rule") for k in inst_any[i]})
        ttd = None
        if inst_right[i] and starts[i] is not None:
            ttd = max(0.0, min(inst_right[i]) - starts[i])
        row = {
            "id": lab.get("id"), "ttp": lab.get("ttp"), "difficulty": lab.get("difficulty"),
            "generator": lab.get("generator"), "campaign": lab.get("campaign"),
            "events": sizes[i], "detected": bool(inst_any[i]), "detected_right_ttp": bool(inst_right[i]),
            "matches": len(inst_any[i]), "rules": rules, "ttd_s": _r(ttd, 1),
        }
        instances.append(row)
        groups["ttp"][row["ttp"]].append(row)
        groups["difficulty"][row["difficulty"]].append(row)
        groups["generator"][row["generator"]].append(row)

    def summary(rows: list[dict]) -> dict:
        n = len(rows)
        det = sum(r["detected"] for r in rows)
        right = sum(r["detected_right_ttp"] for r in rows)
        ttds = [r["ttd_s"] for r in rows if r["ttd_s"] is not None]
        return {"instances": n, "detected": det, "detected_right_ttp": right,
                "recall": _ratio(right, n), "recall_any_ttp": _ratio(det, n),
                "ttd_median_s": _r(_quantile(ttds, 0.5), 1), "ttd_p90_s": _r(_quantile(ttds, 0.9), 1)}

    n_matches = len(matches)
    result = {
        "only_benign": bool(only_benign),
        "traffic": {"events": events_meta.get("events"), "hours": _r(hours, 3),
                    "start": events_meta.get("start"), "end": events_meta.get("end")},
        "instances": summary(instances),
        "recall": _ratio(sum(r["detected_right_ttp"] for r in instances), len(instances)),
        "per_ttp": {t: summary(rows) for t, rows in sorted(groups["ttp"].items())},
        "per_difficulty": {d: summary(groups["difficulty"][d]) for d in DIFFICULTIES if d in groups["difficulty"]},
        "per_generator": {g: summary(rows) for g, rows in sorted(groups["generator"].items(), key=lambda x: str(x[0]))},
        "matches": {"total": n_matches, "attributed": attributed, "correct_ttp": correct, "false": false},
        "precision": _ratio(correct, n_matches),
        "precision_any_ttp": _ratio(attributed, n_matches),
        "false_alarms": {
            "count": false,
            "per_hour": _r(false / hours, 3) if hours else None,
            "by_trap": dict(sorted(fp_by_trap.items())),
            "by_rule": dict(sorted(fp_by_rule.items())),
        },
        "per_rule": {r: {"matches": c["matches"], "attributed": c["attributed"], "correct_ttp": c["correct"],
                         "false": c["false"]} for r, c in sorted(per_rule.items())},
        "missed": [r["id"] + " " + str(r["generator"]) + " (" + str(r["ttp"]) + ", " + str(r["difficulty"]) + ")"
                   for r in instances if not r["detected_right_ttp"]],
    }
    if detail:
        result["instance_detail"] = instances
        result["match_detail"] = match_rows
    return result


# ---------------------------------------------------------------- rendering


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 120:
        return f"{x:.0f}s"
    if x < 7200:
        return f"{x / 60:.1f}m"
    return f"{x / 3600:.1f}h"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render_table(result: dict) -> str:
    """A compact terminal table of an `evaluate()` result."""
    lines = []
    tr = result.get("traffic", {})
    head = f"{tr.get('events') or 0:,} events, {tr.get('hours') or 0:g} h"
    if result.get("only_benign"):
        head += ", benign only"
    lines.append(head)
    rows = [("ttp", "inst", "det", "right", "recall", "ttd p50", "ttd p90")]
    for ttp, s in result.get("per_ttp", {}).items():
        rows.append((ttp, str(s["instances"]), str(s["detected"]), str(s["detected_right_ttp"]),
                     _pct(s["recall"]), _fmt_s(s["ttd_median_s"]), _fmt_s(s["ttd_p90_s"])))
    s = result.get("instances", {})
    if s.get("instances"):
        rows.append(("all", str(s["instances"]), str(s["detected"]), str(s["detected_right_ttp"]),
                     _pct(s["recall"]), _fmt_s(s["ttd_median_s"]), _fmt_s(s["ttd_p90_s"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    if len(rows) > 1:
        for n, r in enumerate(rows):
            cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
            lines.append("  ".join(cells))
            if n == 0 or (n == len(rows) - 2 and s.get("instances")):
                lines.append("  ".join("-" * w for w in widths))
    diff = result.get("per_difficulty", {})
    if diff:
        lines.append("recall by difficulty: " + ", ".join(
            f"{d} {_pct(v['recall'])} ({v['detected_right_ttp']}/{v['instances']})" for d, v in diff.items()))
    m = result.get("matches", {})
    fa = result.get("false_alarms", {})
    lines.append(f"matches {m.get('total', 0)}: precision {_pct(result.get('precision'))} "
                 f"(any ttp {_pct(result.get('precision_any_ttp'))}), "
                 f"false alarms {fa.get('count', 0)} = {fa.get('per_hour') or 0:.2f}/h")
    if fa.get("by_trap"):
        lines.append("false alarms by trap: " + ", ".join(f"{k} {v}" for k, v in
                                                          sorted(fa["by_trap"].items(), key=lambda x: -x[1])))
    if fa.get("by_rule"):
        lines.append("false alarms by rule: " + ", ".join(f"{k} {v}" for k, v in
                                                          sorted(fa["by_rule"].items(), key=lambda x: -x[1])))
    if result.get("missed"):
        lines.append("missed: " + "; ".join(result["missed"]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- running


def _read_jsonl(path: str) -> list[dict]:
    out = []
    with open(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(orjson.loads(line))
    return out


def _engine(pack, openapi_doc: dict | None):
    from sleuth.engine import Engine, Normalizer
    from sleuth.engine.ingest import HeuristicTemplater, OpenAPI

    templater = OpenAPI(openapi_doc) if openapi_doc is not None else HeuristicTemplater()
    return Engine(pack, normalizer=Normalizer(templater=templater))


def _run_pack(pack, events: Iterable[dict], openapi_doc: dict | None) -> tuple[list[dict], dict]:
    """All matches of `pack` over `events` (as dicts), plus engine metrics."""
    eng = _engine(pack, openapi_doc)
    out = []
    batch: list[dict] = []
    for ev in events:
        batch.append(ev)
        if len(batch) >= BATCH:
            out.extend(eng.feed_many(batch))
            batch = []
    if batch:
        out.extend(eng.feed_many(batch))
    out.extend(eng.close())
    return [m.to_dict() for m in out], dict(eng.metrics)


def _load(pack_path):
    from sleuth.dsl.pack import load_pack

    if pack_path is None or isinstance(pack_path, (str, os.PathLike)):
        return load_pack(pack_path if pack_path is not None else None)
    return pack_path   # already compiled


def _meta(manifest: dict, events: list[dict]) -> dict:
    span = manifest.get("span") or {}
    ev = manifest.get("events") or {}
    start = span.get("start") or (events[0].get("ts") if events else None)
    end = span.get("end") or (events[-1].get("ts") if events else None)
    hours = span.get("hours")
    if hours is None:
        s, e = _ts(start), _ts(end)
        hours = (e - s) / 3600.0 if s is not None and e is not None else 0.0
    return {"start": start, "end": end, "events": ev.get("count", len(events)), "hours": hours}


def _finish(pack, events, labels, traps, openapi_doc, manifest, detail: bool = False) -> dict:
    started = time.perf_counter()
    matches, metrics = _run_pack(pack, events, openapi_doc)
    elapsed = time.perf_counter() - started
    only_benign = bool((manifest.get("config") or {}).get("only_benign"))
    result = evaluate(matches, labels, traps, _meta(manifest, events), only_benign=only_benign, detail=detail)
    result["engine"] = {"metrics": metrics, "seconds": round(elapsed, 2),
                        "events_per_s": round(len(events) / elapsed) if elapsed > 0 else None}
    cfg = manifest.get("config")
    if cfg:
        result["config"] = cfg
    return result


def run_eval(pack_path, data_dir: str | os.PathLike, *, openapi: bool = True, detail: bool = False) -> dict:
    """Run a pack over a simulator output directory and score it.

    `pack_path`: a pack folder, rule file, compiled `PackSpec`, or None for
    the shipped pack. `data_dir` holds `events.jsonl`, `labels.jsonl`,
    `traps.jsonl`, `openapi.json` (and `manifest.json`). With `openapi`
    the OpenAPI document derives `route` and `spec.*`; without, the
    heuristic templater does (no `spec` fields).
    """
    d = os.fspath(data_dir)
    events = _read_jsonl(os.path.join(d, "events.jsonl"))
    labels = _read_jsonl(os.path.join(d, "labels.jsonl"))
    traps = _read_jsonl(os.path.join(d, "traps.jsonl"))
    doc = None
    if openapi:
        with open(os.path.join(d, "openapi.json"), "rb") as fh:
            doc = orjson.loads(fh.read())
    manifest: dict = {}
    mpath = os.path.join(d, "manifest.json")
    if os.path.exists(mpath):
        with open(mpath, "rb") as fh:
            manifest = orjson.loads(fh.read())
    return _finish(_load(pack_path), events, labels, traps, doc, manifest, detail)


def run_eval_sim(pack_path, config, *, openapi: bool = True, detail: bool = False) -> dict:
    """Simulate `config` (a `SimConfig`) in memory, run the pack over it, score it."""
    from sleuth.playground.simulate import generate

    sim = generate(config)
    return _finish(_load(pack_path), sim.events, sim.labels, sim.traps, sim.openapi if openapi else None,
                   sim.manifest, detail)


# ---------------------------------------------------------------- command line


if __name__ == "__main__":
    # `python -m sleuth.playground.evaluate ARGS` is `sleuth eval ARGS` (one implementation: cmd_eval.py).
    from sleuth.playground.cli import main

    sys.exit(main(["eval", *sys.argv[1:]]))
