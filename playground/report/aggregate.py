"""The report's figures: every chart and table of `sleuth report`, computed from the matches.

`build_report` reads the matches twice. The first pass keeps one small entry
per match (time, rule, technique, fingerprint, key values, ids it cites,
the size of its page record) and computes every aggregate from those: the
unique-TTP timeline, matches per rule over time, the severity mix, actors,
campaigns. The second pass keeps the full records of the matches chosen for
drill-down, within a byte budget, so that the page stays small enough to
mail (< 2 MB for 100k matches; measured in docs/report.md) whatever the
input size. The result is a plain JSON-ready dict, deterministic for the
same inputs (every ordering has a tie-breaker).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any

import attrs
import orjson

from sleuth.engine.duration import format_seconds
from sleuth.engine.match import format_ts
from sleuth.engine.schema import GOALS, SEVERITIES, TTPS

from .inputs import (
    MATCH_ID,
    MatchInput,
    ReportInputError,
    ReportUsageError,
    as_time,
    clip,
    clip_provenance,
    clip_value,
    field_coverage,
    provenance_ids,
    read_labels,
    read_quarantine,
    rule_info,
    value_text,
)

__all__ = ["DETAIL_BYTES", "build_report", "choose_interval", "parse_interval"]

#: Bytes of page records (full provenance) the report may hold; the rest is aggregated only.
DETAIL_BYTES = 1_200_000
#: Interval ladder of the automatic choice (seconds) and the most intervals it accepts.
INTERVALS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
             172800, 604800, 1209600, 2592000)
MAX_AUTO_BINS = 48
#: An explicit --interval may give at most this many intervals (the page must stay small).
MAX_BINS = 1000
TOP_ACTORS = 25
CAMPAIGN_ROWS = 200
SKIP_EXAMPLES = 20
EXACT_ABOVE = 16_384      # bytes of a match record above which its page size is measured, not estimated
SEVERITY_ORDER = tuple(reversed(SEVERITIES))   # critical first
KNOWN_FLAGS = ("evicted", "window-folded", "window-sliced", "window-capped", "distinct-capped",
               "first-seen-capped", "suppression-capped", "unique-evicted")

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(text: str) -> float:
    """`5m` → 300.0; raises `ReportUsageError` for anything but a positive duration of 1 s or more."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise ReportUsageError(f"bad interval {text!r}: write a duration such as 30s, 5m, 1h or 1d")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 1:
        raise ReportUsageError(f"bad interval {text!r}: the shortest interval is 1s")
    return seconds


def choose_interval(span: float) -> float:
    """The shortest interval of the ladder that shows `span` seconds in at most 48 intervals.

    Intervals are aligned to multiples of their length, so a span covers at
    most `span / interval + 2` of them.
    """
    for iv in INTERVALS:
        if span / iv <= MAX_AUTO_BINS - 2:
            return float(iv)
    weeks = math.ceil(span / ((MAX_AUTO_BINS - 2) * 604800.0))
    return weeks * 604800.0


@attrs.define(slots=True)
class Entry:
    """What the first pass keeps of one match (no provenance, no emitted fields)."""

    seq: int
    t: float
    match_id: str
    rule: str
    ttp: str
    goal: str
    severity: str
    fingerprint: str
    keys: tuple          # ((field, value text), ...)
    refs: tuple          # ((step, id), ...) of cited ids shaped like match ids
    flags: tuple
    size: int            # bytes of its page record (estimated in the first pass, exact after the second)


def _text(value: Any, default: str = "?", limit: int = 120) -> str:
    return clip(value, limit) if isinstance(value, str) and value else default


def page_record(rec: dict, meta: dict) -> dict:
    """The record the page holds for drill-down: clipped, rule metadata only where it differs."""
    out = {
        "match_id": rec["match_id"],
        "rule": clip(rec["rule"], 120),
        "key": clip_value(rec.get("key") or {}),
        "first_ts": clip_value(rec.get("first_ts")),
        "last_ts": clip_value(rec.get("last_ts")),
        "emitted_at": clip_value(rec.get("emitted_at")),
        "fields": clip_value(rec.get("fields") or {}),
        "fingerprint": clip_value(rec.get("fingerprint")),
        "flags": clip_value(rec.get("flags") or []),
        "provenance": clip_provenance(rec.get("provenance") or {}),
    }
    for k in ("ttp", "goal", "severity", "title"):
        v = clip_value(rec.get(k))
        if v != meta.get(k):
            out[k] = v
    return out


def _estimate(rec: dict, meta: dict) -> int:
    """Bytes of `page_record(rec)`, estimated from the record's JSON without clipping it.

    Clipping only shortens (in all but pathological nesting), so this is an
    upper bound in practice; records above 16 KB, the ones clipping shrinks,
    are measured exactly. The second pass measures the records it keeps and
    drops the last chosen ones if an estimate was ever short. Measured: 20x
    cheaper than building the page record of every match.
    """
    try:
        n = len(_dumps(rec))
    except TypeError:   # in-memory input with values JSON cannot hold: measure what the page holds
        return len(_dumps(page_record(rec, meta)))
    if n > EXACT_ABOVE:  # big records are the ones clipping shrinks (huge strings, long lists)
        return len(_dumps(page_record(rec, meta)))
    for k in ("ttp", "goal", "severity", "title"):
        v = rec.get(k)
        if k in rec and v == meta.get(k):
            n -= len(_dumps(v)) + len(k) + 4
    return n


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _series_order(present, known: tuple[str, ...]) -> list[str]:
    return [k for k in known if k in present] + sorted(k for k in present if k not in known)


def _sev_rank(s: str) -> int:
    return SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else len(SEVERITY_ORDER)


def build_report(matches: MatchInput, *, events=None, quarantine=None, labels=None, pack=None,
                 interval: float | str | None = None, title: str | None = None,
                 detail_bytes: int = DETAIL_BYTES, names: dict | None = None, strict: bool = False) -> dict:
    """Every figure of the report as a JSON-ready dict (see docs/report.md).

    `matches` is a `MatchInput`; `events` a list of event files or dicts
    (field coverage); `quarantine` quarantine files or a `Quarantine`;
    `labels` a `sleuth simulate` folder or a dict as `read_labels` returns;
    `pack` a `PackSpec` or a pack path (rule files, lines and text);
    `interval` seconds or a duration (`5m`; default: chosen from the span);
    `strict` makes a line that is not a match record an error. Raises `ReportInputError` (unreadable input) or `ReportUsageError`.
    """
    if isinstance(interval, str):
        interval = parse_interval(interval)
    rules_src = rule_info(pack) if pack is not None else {}
    label_set = read_labels(labels) if isinstance(labels, (str, bytes)) or hasattr(labels, "__fspath__") \
        else labels

    # ---- pass 1: one light entry per match
    skipped: Counter = Counter()
    skip_examples: list[dict] = []

    def skip(where: str, reason: str, detail: str) -> None:
        if strict:
            raise ReportInputError(f"{clip(where, 200)}: not a match record ({reason}: {clip(detail, 200)})")
        skipped[reason] += 1
        if len(skip_examples) < SKIP_EXAMPLES:
            skip_examples.append({"where": clip(where, 200), "reason": reason, "detail": clip(detail, 200)})

    entries: list[Entry] = []
    seen: set[str] = set()
    duplicates = 0
    rule_meta: dict[str, dict] = {}
    slim: list[dict] = []
    for _where, rec in matches.read(skip):
        mid = rec["match_id"]
        if mid in seen:
            duplicates += 1
            continue
        seen.add(mid)
        t = as_time(rec.get("emitted_at"))
        if t is None:
            t = as_time(rec.get("last_ts"))
        rule = clip(rec["rule"], 120)
        meta = rule_meta.get(rule)
        if meta is None:
            meta = rule_meta[rule] = {k: clip_value(rec.get(k)) for k in ("ttp", "goal", "severity", "title")}
        key = rec.get("key") or {}
        prov = rec.get("provenance") or {}
        cited = provenance_ids(prov)
        flags = rec.get("flags") if isinstance(rec.get("flags"), list) else []
        entries.append(Entry(
            seq=len(entries), t=t, match_id=mid, rule=rule,
            ttp=_text(rec.get("ttp"), limit=60), goal=_text(rec.get("goal"), limit=60),
            severity=_text(rec.get("severity"), limit=30),
            fingerprint=_text(rec.get("fingerprint"), default=f"{rule}|{value_text(key, 400)}", limit=400),
            keys=tuple((clip(str(k), 80), value_text(v)) for k, v in sorted(key.items(), key=lambda kv: str(kv[0]))),
            refs=tuple((clip(s, 80), i) for s, i in cited if MATCH_ID.fullmatch(i)),
            flags=tuple(sorted({clip(f, 40) for f in flags if isinstance(f, str)})),
            size=_estimate(rec, meta),
        ))
        if label_set is not None:
            slim.append({"match_id": mid, "rule": rule, "ttp": entries[-1].ttp,
                         "emitted_at": format_ts(t), "key": clip_value(key),
                         "provenance": {"events": [{"id": i} for _s, i in cited]}})

    by_id = {e.match_id: e for e in entries}

    def reads_matches(e: Entry) -> str | None:
        info = rules_src.get(e.rule)
        if info is not None and info.get("reads") == "matches":
            return "rule reads from matches"
        if any(i in by_id and i != e.match_id for _s, i in e.refs):
            return "cites other matches"
        if e.ttp == "campaign":
            return "campaign technique"
        return None

    # ---- time axis
    report: dict[str, Any] = {"title": title or "sleuth report"}
    n = len(entries)
    if entries:
        tmin = min(e.t for e in entries)
        tmax = max(e.t for e in entries)
        iv = float(interval) if interval else choose_interval(tmax - tmin)
        origin = math.floor(tmin / iv) * iv
        nbins = int((tmax - origin) // iv) + 1
        if nbins > MAX_BINS:
            raise ReportUsageError(f"an interval of {format_seconds(iv)} gives {nbins:,} intervals over "
                                   f"this span; the most a report shows is {MAX_BINS:,}")
    else:
        tmin = tmax = origin = 0.0
        iv = float(interval) if interval else 300.0
        nbins = 0
    bins = [format_ts(origin + i * iv) for i in range(nbins)]

    def bin_of(t: float) -> int:
        return min(nbins - 1, int((t - origin) // iv))

    # ---- timelines: distinct fingerprints per interval, by technique and by goal
    def timeline(attr: str, known: tuple[str, ...]) -> dict:
        cells: dict[tuple[int, str], set] = defaultdict(set)
        overall: dict[str, set] = defaultdict(set)
        per_bin: list[set] = [set() for _ in range(nbins)]
        matches_per_bin = [0] * nbins
        for e in entries:
            b = bin_of(e.t)
            s = getattr(e, attr)
            cells[(b, s)].add(e.fingerprint)
            overall[s].add(e.fingerprint)
            per_bin[b].add(e.fingerprint)
            matches_per_bin[b] += 1
        series = _series_order(overall, known)
        return {
            "series": series,
            "values": [[len(cells.get((b, s), ())) for b in range(nbins)] for s in series],
            "distinct": [len(x) for x in per_bin],
            "matches": matches_per_bin,
            "overall": {s: len(overall[s]) for s in series},
            "overall_distinct": len(set().union(*overall.values())) if overall else 0,
        }

    report["interval"] = {"seconds": iv, "label": format_seconds(iv), "bins": bins,
                          "start": format_ts(origin) if nbins else None,
                          "end": format_ts(origin + nbins * iv) if nbins else None}
    report["timeline"] = {"ttp": timeline("ttp", TTPS), "goal": timeline("goal", GOALS)}

    # ---- rules over time
    per_rule: dict[str, dict] = {}
    for e in entries:
        r = per_rule.get(e.rule)
        if r is None:
            r = per_rule[e.rule] = {"bins": [0] * nbins, "fps": set(), "first": e.t, "last": e.t,
                                    "flags": Counter(), "n": 0}
        r["n"] += 1
        r["bins"][bin_of(e.t)] += 1
        r["fps"].add(e.fingerprint)
        r["first"] = min(r["first"], e.t)
        r["last"] = max(r["last"], e.t)
        r["flags"].update(e.flags)
    rules = []
    for name, r in sorted(per_rule.items(), key=lambda kv: (-kv[1]["n"], kv[0])):
        meta = rule_meta[name]
        src = rules_src.get(name, {})
        rules.append({
            "rule": name, "title": value_text(meta.get("title") or src.get("title") or "", 200),
            "ttp": value_text(meta.get("ttp") or "?", 60), "goal": value_text(meta.get("goal") or "?", 60),
            "severity": value_text(meta.get("severity") or "?", 30),
            "matches": r["n"], "unique": len(r["fps"]), "bins": r["bins"],
            "first": format_ts(r["first"]), "last": format_ts(r["last"]),
            "flags": dict(sorted(r["flags"].items())),
            "file": src.get("file"), "line": src.get("line"), "reads": src.get("reads"),
        })
    report["rules"] = rules

    # ---- severity mix
    sev: dict[str, dict] = {}
    for e in entries:
        s = sev.setdefault(e.severity, {"n": 0, "rules": set(), "fps": set()})
        s["n"] += 1
        s["rules"].add(e.rule)
        s["fps"].add(e.fingerprint)
    report["severity"] = [{"severity": k, "matches": v["n"], "rules": len(v["rules"]), "unique": len(v["fps"])}
                          for k, v in sorted(sev.items(), key=lambda kv: (_sev_rank(kv[0]), kv[0]))]

    # ---- actors: every (key field, value) of every match
    actor_n: Counter = Counter()
    for e in entries:
        actor_n.update(e.keys)
    top = sorted(actor_n.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ACTORS]
    detail_of = {a: {"ttps": Counter(), "rules": set(), "first": None, "last": None} for a, _n in top}
    for e in entries:
        for a in e.keys:
            d = detail_of.get(a)
            if d is not None:
                d["ttps"][e.ttp] += 1
                d["rules"].add(e.rule)
                d["first"] = e.t if d["first"] is None else min(d["first"], e.t)
                d["last"] = e.t if d["last"] is None else max(d["last"], e.t)
    report["actors"] = {
        "total": len(actor_n),
        "top": [{"field": a[0], "value": a[1], "matches": c,
                 "ttps": [[t, k] for t, k in sorted(detail_of[a]["ttps"].items(), key=lambda kv: (-kv[1], kv[0]))],
                 "rules": len(detail_of[a]["rules"]),
                 "first": format_ts(detail_of[a]["first"]), "last": format_ts(detail_of[a]["last"])}
                for a, c in top],
    }

    # ---- campaigns: matches of rules over rules
    camp = []
    consumed_by: dict[str, list[str]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: (e.t, e.match_id)):
        why = reads_matches(e)
        if why is None:
            continue
        steps = []
        for step, i in e.refs:
            c = by_id.get(i)
            if c is None or c is e:
                continue
            consumed_by[i].append(e.match_id)
            steps.append({"step": step, "match_id": i, "rule": c.rule, "ttp": c.ttp, "t": format_ts(c.t)})
        camp.append((e, why, steps))
    report["campaigns"] = {
        "total": len(camp),
        "rows": [{"match_id": e.match_id, "rule": e.rule, "ttp": e.ttp, "t": format_ts(e.t),
                  "key": [list(k) for k in e.keys], "why": why, "steps": steps}
                 for e, why, steps in camp[:CAMPAIGN_ROWS]],
    }

    # ---- flags: what the run may have missed inside a match
    flag_n: Counter = Counter()
    for e in entries:
        flag_n.update(e.flags)
    report["flags"] = {f: flag_n[f] for f in sorted(flag_n, key=lambda f: (f not in KNOWN_FLAGS, f))}

    # ---- drill-down: which matches the page holds in full (within the byte budget)
    order = _detail_order(entries, camp)
    chosen = _fit(order, detail_bytes)
    detail: dict[str, dict] = {}
    if chosen:
        for _where, rec in matches.read(lambda *a: None, want=set(chosen)):
            mid = rec["match_id"]
            if mid not in detail:
                detail[mid] = page_record(rec, rule_meta[clip(rec["rule"], 120)])
                by_id[mid].size = len(_dumps(detail[mid]))
        # exact sizes now: if an estimate was short, give up the last chosen until the budget holds
        chosen = _fit([by_id[m] for m in chosen], detail_bytes)
    detail = {m: detail[m] for m in chosen}
    page = [detail[e.match_id] for e in sorted(entries, key=lambda e: (e.t, e.match_id)) if e.match_id in detail]
    used = sum(by_id[m].size for m in chosen)
    report["detail"] = {"shown": len(page), "total": n, "budget": detail_bytes, "bytes": used}
    report["matches"] = page
    report["consumed_by"] = {k: sorted(set(v)) for k, v in sorted(consumed_by.items()) if k in detail}
    report["rule_meta"] = {
        name: {**{k: value_text(v, 200) if v is not None else None for k, v in rule_meta[name].items()},
               **({"file": rules_src[name]["file"], "line": rules_src[name]["line"],
                   "reads": rules_src[name]["reads"], "text": rules_src[name]["text"]}
                  if name in rules_src else {})}
        for name in sorted(rule_meta)}

    # ---- header
    report["summary"] = {
        "matches": n, "rules": len(per_rule),
        "techniques": len(report["timeline"]["ttp"]["series"]),
        "unique": report["timeline"]["ttp"]["overall_distinct"],
        "first": format_ts(tmin) if entries else None, "last": format_ts(tmax) if entries else None,
        "skipped": sum(skipped.values()), "duplicates": duplicates,
    }
    report["skipped"] = {"by_reason": dict(sorted(skipped.items())), "examples": skip_examples}
    report["inputs"] = {"matches": matches.names, **(names or {})}

    report["quarantine"] = read_quarantine(quarantine) if quarantine is not None else None
    report["coverage"] = field_coverage(events) if events is not None else None
    report["evaluation"] = _evaluation(slim, label_set, report) if label_set is not None else None
    return report


def _detail_order(entries: list[Entry], camp: list) -> list[Entry]:
    """Which matches the page holds first, when not all fit.

    Campaign matches and the matches they cite first, then one match of each
    rule in turn (rules by severity, then name; each rule's matches in time
    order), so that every rule is represented before any rule gets a second.
    """
    by_id = {e.match_id: e for e in entries}
    order: list[Entry] = []
    for e, _why, steps in camp:
        order.append(e)
        order.extend(by_id[s["match_id"]] for s in steps)
    per_rule: dict[str, list[Entry]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: (e.t, e.match_id)):
        per_rule[e.rule].append(e)
    queues = [per_rule[r] for r in sorted(per_rule, key=lambda r: (_sev_rank(per_rule[r][0].severity), r))]
    depth = 0
    while queues:
        queues = [q for q in queues if depth < len(q)]
        order.extend(q[depth] for q in queues)
        depth += 1
    return order


def _fit(order: list[Entry], budget: int) -> list[str]:
    """Match ids of `order` that fit in `budget` bytes, in order; one that does not fit is passed
    over (smaller ones after it may still fit)."""
    chosen: list[str] = []
    taken: set[str] = set()
    used = 0
    for e in order:
        if e.match_id in taken:
            continue
        if used + e.size <= budget:
            taken.add(e.match_id)
            chosen.append(e.match_id)
            used += e.size
    return chosen


def _evaluation(slim: list[dict], label_set: dict, report: dict) -> dict:
    """Scores of `playground/evaluate.py` for these matches against a simulator's labels."""
    from sleuth.playground.evaluate import evaluate, events_meta

    manifest = label_set.get("manifest") or {}
    cov = report.get("coverage") or {}
    meta = events_meta(manifest, None, start=cov.get("start") or report["summary"]["first"],
                       end=cov.get("end") or report["summary"]["last"], count=cov.get("events"))
    only_benign = bool((manifest.get("config") or {}).get("only_benign"))
    result = evaluate(slim, label_set.get("labels") or [], label_set.get("traps") or [], meta,
                      only_benign=only_benign, detail=True)
    shown = {m["match_id"] for m in report["matches"]}
    verdicts = {}
    for row in result.pop("match_detail", []):
        if row.get("match_id") in shown:
            verdicts[row["match_id"]] = {k: clip_value(v) for k, v in row.items()
                                         if k in ("instance", "generator", "instance_ttp", "correct_ttp", "trap")}
    result["instance_detail"] = result.get("instance_detail", [])[:500]
    result["verdicts"] = dict(sorted(verdicts.items()))
    result["labels"] = label_set.get("name")
    return result
