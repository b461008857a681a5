"""Detection quality of a rule pack on labelled simulator traffic (`sleuth eval`).

`evaluate()` scores matches against a run's ground truth (`labels.jsonl`,
`traps.jsonl`); `evaluate_worlds()` simulates every world (the tuned one and
the held-out ones) in memory, runs the pack on each world's events and on its
plain access log read back through the apache reader, attack run and
benign-only run, and pools seeds; `evaluate_folders()` does the same from
`sleuth simulate` folders. Results are plain JSON (sorted keys, rounded
floats, no timings): the same options give the same bytes. Scoring rules are
in docs/detection.md ("How matches are scored").
"""

from __future__ import annotations

import io
import math
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import orjson

from sleuth.engine.ingest import parse_time
from sleuth.engine.match import provenance_event_ids

DIFFICULTIES = ("easy", "medium", "hard")
RENDERINGS = ("events", "access_log")
"""What the engine reads: the world's JSON events, or its plain access log (combined format)."""
BATCH = 4096
ACCESS_LOG = "access.log"   # the reader's source name: access-log events get ids `access.log:<line>`

__all__ = [
    "RENDERINGS",
    "evaluate",
    "evaluate_folders",
    "evaluate_worlds",
    "events_meta",
    "macro_recall",
    "render_markdown",
    "render_table",
    "render_worlds",
    "run_eval",
    "run_eval_sim",
    "select_worlds",
]


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


def events_meta(manifest: Mapping | None, events: Sequence[Mapping] | None = None, *,
                start=None, end=None, count: int | None = None) -> dict:
    """The traffic figures `evaluate()` needs (`start`, `end`, `events`, `hours`) for a run.

    From the simulator's `manifest.json` (its `span` and event count) first;
    what it lacks comes from `events` (the first and last `ts`, their
    number), then from the keyword fallbacks. `hours` is the manifest's span,
    else the time between start and end (0 when unknown).
    """
    manifest = manifest if isinstance(manifest, Mapping) else {}
    span = manifest.get("span") if isinstance(manifest.get("span"), Mapping) else {}
    ev = manifest.get("events") if isinstance(manifest.get("events"), Mapping) else {}
    first = events[0].get("ts") if events else None
    last = events[-1].get("ts") if events else None
    start = span.get("start") or first or start
    end = span.get("end") or last or end
    n = ev.get("count")
    if n is None:
        n = len(events) if events is not None else count
    hours = span.get("hours")
    if hours is None:
        s, e = _ts(start), _ts(end)
        hours = (e - s) / 3600.0 if s is not None and e is not None and e > s else 0.0
    return {"start": start, "end": end, "events": n, "hours": hours}


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


def _visible(label: Mapping, rendering: str | None) -> bool:
    """Can `rendering` show the instance's own technique? Labels without `visible` (older
    simulator output) and `rendering=None` count every instance."""
    if rendering is None:
        return True
    vis = label.get("visible")
    if not isinstance(vis, Mapping) or rendering not in vis:
        return True
    return bool(vis[rendering])


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


def _score(matches: list[dict], labels: list[dict], traps: list[dict], meta: Mapping, *,
           only_benign: bool, rendering: str | None, detail: bool, run: str | None = None) -> dict:
    """One run's raw score: a row per attack instance and the match counters (see `_summary`)."""
    hours = float(meta.get("hours") or 0.0)
    if not hours:
        s, e = _ts(meta.get("start")), _ts(meta.get("end"))
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
    counts: Counter = Counter()
    match_rows = []
    for k, m in enumerate(matches):
        rule, ttp = m.get("rule", "?"), m.get("ttp", "?")
        per_rule[rule]["matches"] += 1
        counts["total"] += 1
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
            # Attack traffic, whether or not this rendering can show the instance's technique:
            # an alarm on a hidden instance's events is that instance's, never a false alarm.
            counts["attributed"] += 1
            per_rule[rule]["attributed"] += 1
            inst_any[best].append(k)
            ok = ttp in ok_ttps[best]
            if ok:
                counts["correct_ttp"] += 1
                per_rule[rule]["correct_ttp"] += 1
            if not _visible(labels[best], rendering):
                counts["on_hidden"] += 1
            if detail:
                match_rows.append({"match_id": m.get("match_id"), "rule": rule, "ttp": ttp,
                                   "emitted_at": m.get("emitted_at"), "instance": labels[best].get("id"),
                                   "generator": labels[best].get("generator"),
                                   "instance_ttp": labels[best].get("ttp"), "correct_ttp": ok,
                                   **({"run": run} if run is not None else {})})
            if ttp == labels[best].get("ttp"):
                t = _ts(m.get("emitted_at"))
                if t is not None:
                    inst_right[best].append(t)
            continue
        counts["false"] += 1
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
                               "key": m.get("key"), **({"run": run} if run is not None else {})})

    instances = []
    for i, lab in enumerate(labels):
        ttd = None
        if inst_right[i] and starts[i] is not None:
            ttd = max(0.0, min(inst_right[i]) - starts[i])
        row = {
            "id": lab.get("id"), "ttp": lab.get("ttp"), "difficulty": lab.get("difficulty"),
            "generator": lab.get("generator"), "campaign": lab.get("campaign"),
            "events": sizes[i], "visible": _visible(lab, rendering),
            "detected": bool(inst_any[i]), "detected_right_ttp": bool(inst_right[i]),
            "matches": len(inst_any[i]), "rules": sorted({matches[k].get("rule") for k in inst_any[i]}),
            "ttd_s": _r(ttd, 1),
        }
        if run is not None:
            row["run"] = run
        instances.append(row)
    return {"only_benign": bool(only_benign), "rendering": rendering, "hours": hours,
            "traffic": {"events": meta.get("events"), "start": meta.get("start"), "end": meta.get("end")},
            "instances": instances, "counts": counts, "per_rule": per_rule, "fp_by_trap": fp_by_trap,
            "fp_by_rule": fp_by_rule, "match_rows": match_rows}


def _group(rows: list[dict]) -> dict:
    n = len(rows)
    det = sum(r["detected"] for r in rows)
    right = sum(r["detected_right_ttp"] for r in rows)
    ttds = [r["ttd_s"] for r in rows if r["ttd_s"] is not None]
    return {"instances": n, "detected": det, "detected_right_ttp": right,
            "recall": _ratio(right, n), "recall_any_ttp": _ratio(det, n),
            "ttd_median_s": _r(_quantile(ttds, 0.5), 1), "ttd_p90_s": _r(_quantile(ttds, 0.9), 1)}


def macro_recall(per_ttp: Mapping[str, Mapping]) -> float | None:
    """The mean of the per-technique recalls (techniques with at least one counted instance)."""
    vals = [s["detected_right_ttp"] / s["instances"] for s in per_ttp.values() if s.get("instances")]
    return round(sum(vals) / len(vals), 4) if vals else None


def _summary(scores: list[dict], detail: bool) -> dict:
    """The JSON result of one or more runs' raw scores, pooled (instances and matches added up)."""
    instances = [row for s in scores for row in s["instances"]]
    shown = [r for r in instances if r["visible"]]
    hidden = [r for r in instances if not r["visible"]]
    counts: Counter = Counter()
    per_rule: dict[str, Counter] = defaultdict(Counter)
    fp_by_trap: Counter = Counter()
    fp_by_rule: Counter = Counter()
    for s in scores:
        counts.update(s["counts"])
        for rule, c in s["per_rule"].items():
            per_rule[rule].update(c)
        fp_by_trap.update(s["fp_by_trap"])
        fp_by_rule.update(s["fp_by_rule"])
    hours = sum(s["hours"] for s in scores)
    n_events = [s["traffic"]["events"] for s in scores]
    groups: dict[str, dict[str, list]] = {"ttp": defaultdict(list), "difficulty": defaultdict(list),
                                          "generator": defaultdict(list)}
    for row in shown:
        groups["ttp"][row["ttp"]].append(row)
        groups["difficulty"][row["difficulty"]].append(row)
        groups["generator"][row["generator"]].append(row)
    hidden_ttp: dict[str, list] = defaultdict(list)
    for row in hidden:
        hidden_ttp[row["ttp"]].append(row)
    per_ttp = {t: _group(rows) for t, rows in sorted(groups["ttp"].items(), key=lambda x: str(x[0]))}
    total, false = counts["total"], counts["false"]
    pooled = len(scores) > 1      # instance ids repeat across runs: name the run
    first = scores[0] if scores else {"only_benign": False, "rendering": None, "traffic": {}}
    result = {
        "only_benign": bool(first["only_benign"]),
        "rendering": first["rendering"],
        "runs": len(scores),
        "traffic": {"events": sum(n_events) if all(isinstance(n, int) for n in n_events) else None,
                    "hours": _r(hours, 3), "start": first["traffic"].get("start"),
                    "end": first["traffic"].get("end")},
        "instances": _group(shown),
        "recall": _ratio(sum(r["detected_right_ttp"] for r in shown), len(shown)),
        "macro_recall": macro_recall(per_ttp),
        "per_ttp": per_ttp,
        "per_difficulty": {d: _group(groups["difficulty"][d]) for d in DIFFICULTIES if d in groups["difficulty"]},
        "per_generator": {g: _group(rows) for g, rows in sorted(groups["generator"].items(), key=lambda x: str(x[0]))},
        "hidden": {"instances": len(hidden), "detected": sum(r["detected"] for r in hidden),
                   "detected_right_ttp": sum(r["detected_right_ttp"] for r in hidden),
                   "per_ttp": {t: {"instances": len(rows), "detected_right_ttp": sum(r["detected_right_ttp"]
                                                                                     for r in rows)}
                               for t, rows in sorted(hidden_ttp.items(), key=lambda x: str(x[0]))}},
        "matches": {"total": total, "attributed": counts["attributed"], "correct_ttp": counts["correct_ttp"],
                    "false": false, "on_hidden": counts["on_hidden"]},
        "precision": _ratio(counts["correct_ttp"], total),
        "precision_any_ttp": _ratio(counts["attributed"], total),
        "false_alarms": {
            "count": false,
            "per_hour": _r(false / hours, 3) if hours else None,
            "by_trap": dict(sorted(fp_by_trap.items())),
            "by_rule": dict(sorted(fp_by_rule.items())),
        },
        "per_rule": {r: {"matches": c["matches"], "attributed": c["attributed"], "correct_ttp": c["correct_ttp"],
                         "false": c["false"]} for r, c in sorted(per_rule.items())},
        "missed": [(r["run"] + "/" if pooled and r.get("run") else "") + str(r["id"]) + " " + str(r["generator"])
                   + " (" + str(r["ttp"]) + ", " + str(r["difficulty"]) + ")"
                   for r in shown if not r["detected_right_ttp"]],
    }
    if detail:
        result["instance_detail"] = instances
        result["match_detail"] = [row for s in scores for row in s["match_rows"]]
    return result


def evaluate(matches: list[dict], labels: list[dict], traps: list[dict], events_meta: Mapping, *,
             only_benign: bool = False, detail: bool = False, rendering: str | None = "events") -> dict:
    """Score matches (`Match.to_dict()` records) against ground truth.

    `events_meta` holds at least `start`, `end` (RFC 3339 or epoch seconds),
    `events` (count) and `hours` (see `events_meta()`). `rendering`
    (`events`, `access_log`, or None for every instance) selects the
    instances recall counts: those whose label says that rendering can show
    them (`visible`); matches on the others still count as attack traffic.
    Returns a JSON-ready dict (definitions in docs/detection.md); with
    `detail`, also `instance_detail` (one row per attack instance) and
    `match_detail` (one row per match: the instance or trap it was
    attributed to).
    """
    if rendering is not None and rendering not in RENDERINGS:
        raise ValueError(f"rendering must be one of {', '.join(RENDERINGS)} or None (got {rendering!r})")
    return _summary([_score(matches, labels, traps, events_meta, only_benign=only_benign, rendering=rendering,
                            detail=detail)], detail)


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


def _grid(rows: list[tuple[str, ...]], rules: Iterable[int] = (0,), left: int = 1) -> list[str]:
    """Rows as aligned text: the first `left` columns to the left, the rest to the right, a rule
    of dashes after each row index in `rules`."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    rules = set(rules)
    for n, r in enumerate(rows):
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
        if n in rules:
            out.append("  ".join("-" * w for w in widths))
    return out


def render_table(result: dict, max_missed: int | None = None) -> str:
    """A compact terminal table of an `evaluate()` result (`max_missed`: list at most that many misses)."""
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
    if len(rows) > 1:
        lines += _grid(rows, (0, len(rows) - 2) if s.get("instances") else (0,))
    if result.get("macro_recall") is not None:
        lines.append(f"macro recall (mean over techniques): {_pct(result['macro_recall'])}")
    diff = result.get("per_difficulty", {})
    if diff:
        lines.append("recall by difficulty: " + ", ".join(
            f"{d} {_pct(v['recall'])} ({v['detected_right_ttp']}/{v['instances']})" for d, v in diff.items()))
    hid = result.get("hidden") or {}
    if hid.get("instances"):
        lines.append(f"not counted: {hid['instances']} instance(s) this rendering cannot show "
                     f"({hid['detected']} with a match on their traffic)")
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
    missed = result.get("missed") or []
    if missed:
        shown = missed if max_missed is None else missed[:max_missed]
        more = len(missed) - len(shown)
        lines.append(f"missed ({len(missed)}): " + "; ".join(shown) + (f"; ... {more} more" if more else ""))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- running one rendering


def _read_jsonl(path: str) -> list[dict]:
    out = []
    with open(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(orjson.loads(line))
    return out


def _templater(openapi_doc: dict | None):
    from sleuth.engine.ingest import HeuristicTemplater, OpenAPI

    return OpenAPI(openapi_doc) if openapi_doc is not None else HeuristicTemplater()


def _run_pack(pack, events: Iterable[dict], openapi_doc: dict | None) -> tuple[list[dict], dict]:
    """All matches of `pack` over `events` (as dicts), plus engine metrics."""
    from sleuth.engine import Engine, Normalizer

    eng = Engine(pack, normalizer=Normalizer(templater=_templater(openapi_doc)))
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


def _run_access_log(pack, log: bytes | str | os.PathLike, prefixes: str | os.PathLike,
                    openapi_doc: dict | None) -> tuple[list[dict], dict, dict]:
    """All matches of `pack` over a combined-format access log read through the engine's
    apache reader (ids `access.log:<line>`), ASN and country from the prefix table."""
    from sleuth.engine import Engine, Normalizer, Quarantine
    from sleuth.engine.ingest import Bad, PrefixTable, open_source

    table = PrefixTable.from_csv(prefixes)
    quarantine = Quarantine(keep=10)
    eng = Engine(pack, normalizer=Normalizer(templater=_templater(openapi_doc)), quarantine=quarantine,
                 enrich=[table])
    stream = io.BytesIO(log) if isinstance(log, bytes) else log
    reader = open_source(stream, "apache", name=ACCESS_LOG)
    out = []
    batch: list[dict] = []
    positions: list[int] = []
    for pos, item in reader:
        if type(item) is Bad:
            quarantine.add(ACCESS_LOG, pos, item.reason, item.detail, item.excerpt)
            continue
        batch.append(item)
        positions.append(pos)
        if len(batch) >= BATCH:
            out.extend(eng.feed_many(batch, ACCESS_LOG, positions))
            batch, positions = [], []
    if batch:
        out.extend(eng.feed_many(batch, ACCESS_LOG, positions))
    out.extend(eng.close())
    return [m.to_dict() for m in out], dict(eng.metrics), dict(sorted(quarantine.counts.items()))


def _as_log_ids(rows: list[dict], line_of: dict[str, str]) -> list[dict]:
    """Labels or traps with their event ids as access-log ids (line n of the log is event n)."""
    out = []
    for row in rows:
        row = dict(row)
        row["event_ids"] = [line_of[e] for e in row.get("event_ids", ()) if e in line_of]
        out.append(row)
    return out


def _load(pack_path):
    from sleuth.dsl.pack import load_pack

    if pack_path is None or isinstance(pack_path, (str, os.PathLike)):
        return load_pack(pack_path if pack_path is not None else None)
    return pack_path   # already compiled


def _finish(pack, events, labels, traps, openapi_doc, manifest, detail: bool = False) -> dict:
    matches, metrics = _run_pack(pack, events, openapi_doc)
    only_benign = bool((manifest.get("config") or {}).get("only_benign"))
    result = evaluate(matches, labels, traps, events_meta(manifest, events), only_benign=only_benign,
                      detail=detail)
    result["engine"] = {"metrics": metrics}
    cfg = manifest.get("config")
    if cfg:
        result["config"] = cfg
    return result


def run_eval(pack_path, data_dir: str | os.PathLike, *, openapi: bool = True, detail: bool = False) -> dict:
    """Run a pack over a simulator output directory's events and score it (one run, one rendering).

    `pack_path`: a pack folder, rule file, compiled `PackSpec`, or None for
    the shipped pack. `data_dir` holds `events.jsonl`, `labels.jsonl`,
    `traps.jsonl`, `openapi.json` (and `manifest.json`). With `openapi`
    the OpenAPI document derives `route` and `spec.*`; without, the
    heuristic templater does (no `spec` fields).
    """
    run = _read_folder(os.fspath(data_dir), openapi)
    return _finish(_load(pack_path), run.events, run.labels, run.traps, run.openapi, run.manifest, detail)


def run_eval_sim(pack_path, config, *, openapi: bool = True, detail: bool = False) -> dict:
    """Simulate `config` (a `SimConfig`) in memory, run the pack over its events, score it."""
    from sleuth.playground.simulate import generate

    sim = generate(config)
    return _finish(_load(pack_path), sim.events, sim.labels, sim.traps, sim.openapi if openapi else None,
                   sim.manifest, detail)


# ---------------------------------------------------------------- every world


class _Run:
    """One simulated run as the evaluation reads it (from memory or from a folder)."""

    __slots__ = ("access_log", "events", "labels", "manifest", "name", "openapi", "prefixes", "traps")

    def __init__(self, name, events, labels, traps, openapi, manifest, access_log=None, prefixes=None):
        self.name, self.events, self.labels, self.traps = name, events, labels, traps
        self.openapi, self.manifest = openapi, manifest
        self.access_log, self.prefixes = access_log, prefixes   # paths, when a folder has them

    @property
    def world(self) -> dict:
        w = self.manifest.get("world")
        return w if isinstance(w, dict) else {"name": "tuning", "held_out": False}

    @property
    def only_benign(self) -> bool:
        return bool((self.manifest.get("config") or {}).get("only_benign"))


def _world_info(world: Mapping) -> dict:
    return {"name": world.get("name", "tuning"), "title": world.get("title"),
            "held_out": bool(world.get("held_out", False))}


def _read_folder(d: str, openapi: bool = True) -> _Run:
    doc = None
    if openapi:
        with open(os.path.join(d, "openapi.json"), "rb") as fh:
            doc = orjson.loads(fh.read())
    manifest: dict = {}
    mpath = os.path.join(d, "manifest.json")
    if os.path.exists(mpath):
        with open(mpath, "rb") as fh:
            manifest = orjson.loads(fh.read())
    log = os.path.join(d, "access.log")
    pfx = os.path.join(d, "prefixes.csv")
    return _Run(d, _read_jsonl(os.path.join(d, "events.jsonl")), _read_jsonl(os.path.join(d, "labels.jsonl")),
                _read_jsonl(os.path.join(d, "traps.jsonl")), doc, manifest,
                log if os.path.isfile(log) and os.path.isfile(pfx) else None,
                pfx if os.path.isfile(log) and os.path.isfile(pfx) else None)


def _score_run(pack, run: _Run, renderings: Sequence[str], detail: bool, tag: str | None) -> tuple[dict, dict]:
    """Raw scores of one run in each rendering, plus CPU seconds and events per rendering."""
    from sleuth.playground.sim import access_log_lines
    from sleuth.playground.sim.accesslog import write_prefixes

    out, cost = {}, {}
    meta = events_meta(run.manifest, run.events)
    for rendering in renderings:
        c0 = time.process_time()
        if rendering == "events":
            matches, metrics = _run_pack(pack, run.events, run.openapi)
            labels, traps, quarantined = run.labels, run.traps, {}
        else:
            with tempfile.TemporaryDirectory(prefix="sleuth-eval-") as tmp:
                prefixes = run.prefixes
                if prefixes is None:
                    from sleuth.playground.simulate import WORLDS

                    spec = WORLDS.get(run.world.get("name"))
                    prefixes = os.path.join(tmp, "prefixes.csv")
                    write_prefixes(prefixes, [s.network for s in spec.populace.corporate] if spec else [])
                log = run.access_log
                if log is None:
                    log = ("\n".join(access_log_lines(run.events)) + "\n").encode("utf-8") if run.events else b""
                matches, metrics, quarantined = _run_access_log(pack, log, prefixes, run.openapi)
            line_of = {ev.get("id"): f"{ACCESS_LOG}:{n}" for n, ev in enumerate(run.events, 1)}
            labels, traps = _as_log_ids(run.labels, line_of), _as_log_ids(run.traps, line_of)
        raw = _score(matches, labels, traps, meta, only_benign=run.only_benign, rendering=rendering,
                     detail=detail, run=tag)
        raw["engine"] = metrics
        raw["quarantined"] = quarantined
        out[rendering] = raw
        cost[rendering] = (time.process_time() - c0, len(run.events))
    return out, cost


def select_worlds(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """World names from `--worlds`: names, `all` (the default) or `held-out`, in the simulator's order.

    Raises `ValueError` naming an unknown world."""
    from sleuth.playground.simulate import WORLDS

    if text is None:
        return tuple(WORLDS)
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    want: set[str] = set()
    for t in items:
        if t == "all":
            want |= set(WORLDS)
        elif t in ("held-out", "heldout"):
            want |= {n for n, w in WORLDS.items() if w.held_out}
        elif t in WORLDS:
            want.add(t)
        else:
            raise ValueError(f"unknown world {t!r}; expected some of: {', '.join(WORLDS)}, all, held-out")
    if not want:
        raise ValueError("no world selected")
    return tuple(n for n in WORLDS if n in want)


def _sim_task(args) -> tuple[str, int, bool, dict, dict]:
    """Simulate one (world, seed, benign-only) run and score it: the unit of `evaluate_worlds`."""
    from sleuth.playground.simulate import SimConfig, generate

    pack, world, seed, benign, hours, scale, attacks, generators, renderings, openapi, detail = args
    pack = _worker_pack if isinstance(pack, str) and pack == _FORKED else pack
    c0 = time.process_time()
    try:
        sim = generate(SimConfig(hours=hours, seed=seed, scale=scale, world=world, only_benign=benign,
                                 attacks=attacks, generators=generators))
    except ValueError as exc:
        raise ValueError(f"world {world}, seed {seed}: the simulator cannot build this run ({exc})") from None
    gen = time.process_time() - c0
    run = _Run(f"{world}/seed {seed}" + (" benign-only" if benign else ""), sim.events, sim.labels, sim.traps,
               sim.openapi if openapi else None, sim.manifest)
    raw, cost = _score_run(pack, run, renderings, detail, f"seed{seed}")
    cost["simulate"] = (gen, len(sim.events))
    for r in raw.values():
        r["world"] = _world_info(run.world)
    return world, seed, benign, raw, cost


_FORKED = "<the pack inherited from the parent process>"   # tasks are pickled: a marker, not the pack
_worker_pack = None


def _pool_map(fn, tasks: list, jobs: int, pack):
    """`map(fn, tasks)` in order, over `jobs` forked processes when that is possible."""
    global _worker_pack
    if jobs <= 1 or len(tasks) <= 1:
        yield from map(fn, tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:          # no fork on this platform: one process
        yield from map(fn, tasks)
        return
    _worker_pack = pack         # inherited by the forked workers: a compiled pack is not picklable
    tasks = [(_FORKED, *t[1:]) for t in tasks]
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx) as pool:
            yield from pool.map(fn, tasks)
    finally:
        _worker_pack = None


def evaluate_worlds(pack=None, *, worlds: Iterable[str] | str | None = None, hours: float = 1.0,
                    seeds: Iterable[int] = (7,), scale: float = 0.3, attacks=None, generators=None,
                    access_log: bool = True, attack_runs: bool = True, benign_runs: bool = True,
                    openapi: bool = True, detail: bool = False, jobs: int = 1,
                    progress: Callable[[str], None] | None = None, timings: dict | None = None) -> dict:
    """Simulate every selected world in memory and score the pack on each (see `evaluate_folders`).

    Per world and seed: an attack run (recall, precision, time to detect) and
    a benign-only run (false alarms per hour), each on the JSON events and,
    with `access_log`, on the plain access log read back through the apache
    reader. The engine gets each world's OpenAPI document and nothing else
    about it. Seeds are pooled per world. `jobs` > 1 runs (world, seed, run)
    units in forked processes: the result is the same. `timings`, when given,
    receives CPU seconds per unit (kept out of the result, which is
    deterministic).
    """
    names = select_worlds(worlds)
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("no seed given")
    if not hours > 0:
        raise ValueError(f"hours must be > 0 (got {hours!r})")
    if scale < 0:
        raise ValueError(f"scale must be >= 0 (got {scale!r})")
    if not (attack_runs or benign_runs):
        raise ValueError("nothing to run: neither attack runs nor benign-only runs")
    compiled = _load(pack)
    renderings = RENDERINGS if access_log else ("events",)
    kinds = [b for b in (False, True) if (benign_runs if b else attack_runs)]
    tasks = [(compiled, w, s, b, hours, scale, attacks, generators, renderings, openapi, detail)
             for w in names for s in seeds for b in kinds]
    scores: dict[str, dict] = {w: {} for w in names}
    for world, seed, benign, raw, cost in _pool_map(_sim_task, tasks, jobs, compiled):
        scores[world].setdefault("benign" if benign else "attack", []).append(raw)
        if timings is not None:
            timings[f"{world}/seed{seed}/{'benign' if benign else 'attack'}"] = {
                k: {"cpu_s": round(c, 2), "events": n} for k, (c, n) in cost.items()}
        if progress is not None:
            spent = sum(c for c, _n in cost.values())
            progress(f"{world}, seed {seed}, {'benign-only' if benign else 'attacks'}: "
                     f"{cost['simulate'][1]:,} events, {spent:.1f} s CPU")
    config = {"source": "simulation", "worlds": list(names), "hours": hours, "seeds": list(seeds), "scale": scale,
              "attacks": list(attacks) if isinstance(attacks, (list, tuple)) else attacks,
              "generators": list(generators) if isinstance(generators, (list, tuple)) else generators,
              "renderings": list(renderings), "openapi": openapi,
              "runs": [k for k in ("attack", "benign") if (attack_runs if k == "attack" else benign_runs)]}
    return _assemble(compiled, scores, config, detail)


def _folder_runs(dirs: Iterable[str | os.PathLike]) -> list[str]:
    """The `sleuth simulate` folders under `dirs`: each one itself, or its sub-folders (`--world all`)."""
    out = []
    for d in dirs:
        d = os.fspath(d)
        if os.path.isfile(os.path.join(d, "events.jsonl")):
            out.append(d)
            continue
        subs = sorted(os.path.join(d, s) for s in os.listdir(d)) if os.path.isdir(d) else []
        found = [s for s in subs if os.path.isfile(os.path.join(s, "events.jsonl"))]
        if not found:
            raise FileNotFoundError(f"{d} is not a 'sleuth simulate' output folder (no events.jsonl in it "
                                    f"or in its sub-folders)")
        out += found
    return out


def evaluate_folders(pack, dirs: Iterable[str | os.PathLike], *, access_log: bool = True, openapi: bool = True,
                     detail: bool = False, progress: Callable[[str], None] | None = None,
                     timings: dict | None = None) -> dict:
    """Score the pack on `sleuth simulate` folders (a folder of `--world all` stands for its worlds).

    Folders are grouped by the world their manifest names; a benign-only
    folder (`--benign-only`) gives that world's false alarms per hour, the
    others recall and precision; folders of one world are pooled. The access
    log is `access.log` with `prefixes.csv` when the folder has them, else
    the events rendered as one. Raises `FileNotFoundError` for a folder
    without simulator output.
    """
    compiled = _load(pack)
    renderings = RENDERINGS if access_log else ("events",)
    scores: dict[str, dict] = {}
    folders: dict[str, list] = defaultdict(list)
    for d in _folder_runs(dirs):
        run = _read_folder(d, openapi)
        raw, cost = _score_run(compiled, run, renderings, detail, os.path.basename(os.path.normpath(d)) or d)
        name = run.world.get("name", "tuning")
        for r in raw.values():
            r["world"] = _world_info(run.world)
        scores.setdefault(name, {}).setdefault("benign" if run.only_benign else "attack", []).append(raw)
        folders[name].append(d)
        if timings is not None:
            timings[d] = {k: {"cpu_s": round(c, 2), "events": n} for k, (c, n) in cost.items()}
        if progress is not None:
            progress(f"{d}: {len(run.events):,} events, {sum(c for c, _n in cost.values()):.1f} s CPU")
    from sleuth.playground.simulate import WORLDS

    order = [w for w in WORLDS if w in scores] + sorted(w for w in scores if w not in WORLDS)
    config = {"source": "folders", "folders": {w: folders[w] for w in order}, "worlds": order,
              "renderings": list(renderings), "openapi": openapi}
    return _assemble(compiled, {w: scores[w] for w in order}, config, detail)


# ---------------------------------------------------------------- the result


def _row(world: str, info: dict, rendering: str, attack: dict | None, benign: dict | None) -> dict:
    """One line of the summary table: a world in one rendering."""
    row = {"world": world, "tuned": not info.get("held_out", True), "rendering": rendering}
    if attack is not None:
        row.update(instances=attack["instances"]["instances"], hidden=attack["hidden"]["instances"],
                   macro_recall=attack["macro_recall"], recall=attack["recall"], precision=attack["precision"],
                   precision_any_ttp=attack["precision_any_ttp"], ttd_median_s=attack["instances"]["ttd_median_s"],
                   ttd_p90_s=attack["instances"]["ttd_p90_s"], matches=attack["matches"]["total"],
                   false_alarms_attack_run_per_hour=attack["false_alarms"]["per_hour"])
    if benign is not None:
        row.update(false_alarms_per_hour=benign["false_alarms"]["per_hour"],
                   false_alarms=benign["false_alarms"]["count"], benign_hours=benign["traffic"]["hours"])
    return row


def _aggregate(rows: list[dict]) -> dict:
    """Mean and worst of the held-out rows (worst: lowest recall and precision, most false alarms)."""
    out: dict[str, dict] = {"mean": {}, "worst": {}}
    for key, worst in (("macro_recall", min), ("recall", min), ("precision", min), ("precision_any_ttp", min),
                       ("false_alarms_per_hour", max), ("ttd_median_s", max), ("ttd_p90_s", max)):
        vals = [r[key] for r in rows if r.get(key) is not None]
        out["mean"][key] = round(sum(vals) / len(vals), 4) if vals else None
        out["worst"][key] = worst(vals) if vals else None
    out["worlds"] = [r["world"] for r in rows]
    return out


def _add_up(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counters added key by key (zeros kept: `rule_errors: 0` is a finding)."""
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def _assemble(pack, scores: dict[str, dict], config: dict, detail: bool) -> dict:
    worlds = []
    rows = []
    for name, kinds in scores.items():
        some = next(iter(kinds.values()))[0]
        info = some.get("world") or {"name": name, "held_out": name != "tuning"}
        entry = {"world": name, "title": info.get("title"), "held_out": bool(info.get("held_out", True)),
                 "tuned": not info.get("held_out", True), "renderings": {}}
        for rendering in config["renderings"]:
            block = {}
            for kind in ("attack", "benign"):
                if kind in kinds:
                    raws = [r[rendering] for r in kinds[kind]]
                    res = _summary(raws, detail)
                    res["engine"] = {"metrics": _add_up(r["engine"] for r in raws)}
                    if rendering == "access_log":
                        res["quarantined"] = _add_up(r["quarantined"] for r in raws)
                    block[kind] = res
            entry["renderings"][rendering] = block
            rows.append(_row(name, info, rendering, block.get("attack"), block.get("benign")))
        worlds.append(entry)
    summary: dict = {"rows": rows}
    for rendering in config["renderings"]:
        held = [r for r in rows if r["rendering"] == rendering and not r["tuned"]]
        if held:
            summary.setdefault("held_out", {})[rendering] = _aggregate(held)
    rules = len(getattr(pack, "rules", ()) or ())
    return {"format": 1, "pack": {"rules": rules}, "config": config, "worlds": worlds, "summary": summary}


_RENDER_NAME = {"events": "events", "access_log": "access log"}


def render_worlds(result: dict) -> str:
    """The terminal report of `evaluate_worlds()` / `evaluate_folders()`: the summary, then per world."""
    cfg = result.get("config", {})
    lines = []
    tuned = [w["world"] for w in result["worlds"] if w["tuned"]]
    held = [w["world"] for w in result["worlds"] if not w["tuned"]]
    if cfg.get("source") == "simulation":
        seeds = cfg.get("seeds") or []
        lines.append(f"{result['pack']['rules']} rules; per world {cfg['hours']:g} h x "
                     f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))}), "
                     f"scale {cfg['scale']:g}, simulated in memory")
    else:
        lines.append(f"{result['pack']['rules']} rules; simulator folders: "
                     + "; ".join(f"{w}: {', '.join(ds)}" for w, ds in cfg.get("folders", {}).items()))
    lines.append(f"tuned on: {', '.join(tuned) or 'none of these worlds'}; held out (never tuned on, given only "
                 f"their OpenAPI document): {', '.join(held) or 'none'}")
    lines.append("")
    head = ("world", "rendering", "inst", "macro rec", "recall", "precision", "any ttp", "FA/h benign",
            "ttd p50", "ttd p90")
    table = [head]

    def cells(name: str, r: dict) -> tuple[str, ...]:
        return (name, _RENDER_NAME.get(r.get("rendering"), r.get("rendering") or ""),
                str(r["instances"]) if "instances" in r else "-", _pct(r.get("macro_recall")),
                _pct(r.get("recall")), _pct(r.get("precision")), _pct(r.get("precision_any_ttp")),
                _pct(r.get("false_alarms_per_hour")), _fmt_s(r.get("ttd_median_s")), _fmt_s(r.get("ttd_p90_s")))

    rules_after = []
    rows = result["summary"]["rows"]
    for r in rows:
        table.append(cells(r["world"] + (" (tuned)" if r["tuned"] else ""), r))
    rules_after.append(len(table) - 1)
    held_agg = result["summary"].get("held_out", {})
    for rendering in [r for r in RENDERINGS if r in held_agg]:
        agg = held_agg[rendering]
        for kind in ("mean", "worst"):
            table.append(cells(f"held-out {kind}", {"rendering": rendering, **agg[kind]}))
    lines += _grid(table, (0, rules_after[0]) if len(table) > rules_after[0] + 1 else (0,), left=2)
    lines.append("FA/h benign: false alarms per hour on the benign-only run; recall counts only instances "
                 "the rendering can show")
    for w in result["worlds"]:
        lines.append("")
        lines += _render_world(w)
    return "\n".join(lines) + "\n"


def _render_world(w: dict) -> list[str]:
    rend = w["renderings"]
    names = [r for r in RENDERINGS if r in rend]     # a JSON round trip sorts the keys
    title = f"{w['world']}" + (f": {w['title']}" if w.get("title") else "")
    title += " (tuned)" if w["tuned"] else " (held out)"
    lines = [title]
    attack = {r: rend[r].get("attack") for r in names}
    benign = {r: rend[r].get("benign") for r in names}
    some_a = next((a for a in attack.values() if a), None)
    some_b = next((b for b in benign.values() if b), None)
    traffic = []
    if some_a:
        traffic.append(f"attack runs {some_a['traffic']['events'] or 0:,} events")
    if some_b:
        traffic.append(f"benign-only runs {some_b['traffic']['events'] or 0:,} events, "
                       f"{some_b['traffic']['hours'] or 0:g} h")
    if traffic:
        lines.append("  " + "; ".join(traffic))
    if some_a:
        ttps = sorted({t for r in names if attack[r] for t in (*attack[r]["per_ttp"], *attack[r]["hidden"]["per_ttp"])})
        head = ["ttp"]
        for r in names:
            head += [f"{_RENDER_NAME[r]}: inst", "right", "recall", "p50", "p90"]
        table = [tuple(head)]
        for t in ttps:
            row = [t]
            for r in names:
                s = attack[r]["per_ttp"].get(t) if attack[r] else None
                hid = (attack[r]["hidden"]["per_ttp"].get(t) or {}).get("instances", 0) if attack[r] else 0
                if s:
                    row += [str(s["instances"]) + (f" +{hid}h" if hid else ""), str(s["detected_right_ttp"]),
                            _pct(s["recall"]), _fmt_s(s["ttd_median_s"]), _fmt_s(s["ttd_p90_s"])]
                else:
                    row += [f"0 +{hid}h" if hid else "0", "-", "-", "-", "-"]
            table.append(tuple(row))
        foot = ["all"]
        for r in names:
            s = attack[r]["instances"] if attack[r] else None
            foot += ([str(s["instances"]), str(s["detected_right_ttp"]), _pct(s["recall"]),
                      _fmt_s(s["ttd_median_s"]), _fmt_s(s["ttd_p90_s"])] if s else ["-"] * 5)
        table.append(tuple(foot))
        lines += ["  " + x for x in _grid(table, (0, len(table) - 2))]
        lines.append("  (+Nh: instances the rendering cannot show, not counted)")
    for r in names:
        a, b = attack[r], benign[r]
        label = _RENDER_NAME[r]
        parts = []
        if a:
            m = a["matches"]
            parts.append(f"macro recall {_pct(a['macro_recall'])}, precision {_pct(a['precision'])} "
                         f"(any ttp {_pct(a['precision_any_ttp'])}) over {m['total']} matches, "
                         f"{m['false']} on no attack ({a['false_alarms']['per_hour'] or 0:.2f}/h)")
        if b:
            fa = b["false_alarms"]
            by_rule = ", ".join(f"{k} {v}" for k, v in sorted(fa["by_rule"].items(), key=lambda x: (-x[1], x[0])))
            parts.append(f"benign-only: {fa['count']} false alarms = {fa['per_hour'] or 0:.2f}/h"
                         + (f" ({by_rule})" if by_rule else ""))
        q = (a or b or {}).get("quarantined")
        if q:
            parts.append("quarantined: " + ", ".join(f"{k} {v}" for k, v in q.items()))
        lines.append(f"  {label}: " + "; ".join(parts))
        if a and a.get("missed"):
            shown = a["missed"][:12]
            more = len(a["missed"]) - len(shown)
            lines.append(f"  {label} missed ({len(a['missed'])}): " + "; ".join(shown)
                         + (f"; ... {more} more" if more else ""))
    return lines


def render_markdown(result: dict) -> str:
    """The tables of docs/detection.md from an `evaluate_worlds()` / `evaluate_folders()` result:
    the summary per world and rendering, recall per technique, false alarms by rule."""
    cfg = result.get("config", {})
    worlds = result["worlds"]
    lines = []
    if cfg.get("source") == "simulation":
        seeds = ", ".join(map(str, cfg.get("seeds") or []))
        lines.append(f"{result['pack']['rules']} rules; every world {cfg['hours']:g} h per seed, seeds {seeds} "
                     f"(pooled), scale {cfg['scale']:g}.")
    lines += ["", "| world | rendering | instances (not shown) | macro recall | recall | precision (any technique) "
                  "| false alarms/h benign-only | false alarms/h attack run | time to detect p50 / p90 |",
              "|---|---|---|---|---|---|---|---|---|"]

    def cells(r: dict) -> str:
        inst = f"{r['instances']} ({r['hidden']})" if "instances" in r else "-"
        return (f"{inst} | {_pct(r.get('macro_recall'))} | {_pct(r.get('recall'))} | {_pct(r.get('precision'))} "
                f"({_pct(r.get('precision_any_ttp'))}) | {_pct(r.get('false_alarms_per_hour'))} | "
                f"{_pct(r.get('false_alarms_attack_run_per_hour'))} | {_fmt_s(r.get('ttd_median_s'))} / "
                f"{_fmt_s(r.get('ttd_p90_s'))} |")

    for r in result["summary"]["rows"]:
        name = f"{r['world']} (tuned)" if r["tuned"] else f"**{r['world']}**"
        lines.append(f"| {name} | {_RENDER_NAME[r['rendering']]} | {cells(r)}")
    held = result["summary"].get("held_out", {})
    for rendering in [x for x in RENDERINGS if x in held]:
        for kind in ("mean", "worst"):
            a = held[rendering][kind]
            lines.append(f"| held-out {kind} | {_RENDER_NAME[rendering]} | - | {_pct(a.get('macro_recall'))} | "
                         f"{_pct(a.get('recall'))} | {_pct(a.get('precision'))} ({_pct(a.get('precision_any_ttp'))}) | "
                         f"{_pct(a.get('false_alarms_per_hour'))} | - | {_fmt_s(a.get('ttd_median_s'))} / "
                         f"{_fmt_s(a.get('ttd_p90_s'))} |")
    cols = [(w, r) for w in worlds for r in RENDERINGS if r in w["renderings"] and "attack" in w["renderings"][r]]
    if cols:
        lines += ["", "Instances found with the right technique, of those the rendering can show "
                      "(`-`: none it can show):", "",
                  "| technique | " + " | ".join(f"{w['world']}{' (tuned)' if w['tuned'] else ''}: "
                                              f"{_RENDER_NAME[r]}" for w, r in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        ttps = sorted({t for w, r in cols for t in (*w["renderings"][r]["attack"]["per_ttp"],
                                                    *w["renderings"][r]["attack"]["hidden"]["per_ttp"])})
        for t in ttps:
            row = []
            for w, r in cols:
                s = w["renderings"][r]["attack"]["per_ttp"].get(t)
                row.append(f"{s['detected_right_ttp']}/{s['instances']}" if s else "-")
            lines.append(f"| {t} | " + " | ".join(row) + " |")
        lines.append("| **macro recall** | " + " | ".join(
            f"**{_pct(w['renderings'][r]['attack']['macro_recall'])}**" for w, r in cols) + " |")
    fa_rows = [(w, r, w["renderings"][r]["benign"]) for w in worlds for r in RENDERINGS
               if r in w["renderings"] and "benign" in w["renderings"][r]]
    if fa_rows:
        lines += ["", "False alarms on the benign-only runs, by rule:", "",
                  "| world | rendering | hours | false alarms | per hour | by rule |", "|---|---|---|---|---|---|"]
        for w, r, b in fa_rows:
            fa = b["false_alarms"]
            by_rule = ", ".join(f"`{k}` {v}" for k, v in sorted(fa["by_rule"].items(), key=lambda x: (-x[1], x[0])))
            lines.append(f"| {w['world']}{' (tuned)' if w['tuned'] else ''} | {_RENDER_NAME[r]} | "
                         f"{b['traffic']['hours']:g} | {fa['count']} | {_pct(fa['per_hour'])} | {by_rule or '-'} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line


if __name__ == "__main__":
    # `python -m sleuth.playground.evaluate ARGS` is `sleuth eval ARGS` (one implementation: cmd_eval.py).
    from sleuth.playground.cli import main

    sys.exit(main(["eval", *sys.argv[1:]]))
