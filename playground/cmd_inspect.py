"""`sleuth inspect`: what sleuth sees in log files before a run.

For each input: the detected format and why, records and quarantined lines,
the time range and the input's own order; for all inputs merged by event
time (as `sleuth run` reads them): the disorder seen (largest lateness) and
the `--lateness` it recommends, the share of events carrying each field,
sample events, CSV/TSV columns that map to no field (with a suggested
`--map`), and the rules of a pack that cannot fire on this input. Reads
every record (or `--limit N`); memory is bounded (counters, a few samples,
the first 200 rows of a CSV for its column advice).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import orjson

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_OK, EXIT_USAGE, pack_paths

#: Lateness values a recommendation is rounded up to (seconds).
NICE = (1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
THRESHOLDS = (5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth inspect`."""
    from sleuth.engine.ingest.source import FORMATS  # the one format table

    p.add_argument("inputs", nargs="+", metavar="FILE", help="log files (as `sleuth run` reads them; '-' for stdin)")
    p.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: detected)")
    p.add_argument("--pack", default="builtin", metavar="PACK",
                   help="the rule pack whose blind rules to list (default: the shipped pack)")
    p.add_argument("--map", action="append", metavar="CANONICAL=SOURCE.PATH", help="as sleuth run --map")
    p.add_argument("--mapping", metavar="FILE", help="as sleuth run --mapping")
    p.add_argument("--openapi", action="append", metavar="SPEC",
                   help="as sleuth run --openapi (routes, spec.*; repeatable)")
    p.add_argument("--no-templating", action="store_true", help="as sleuth run --no-templating")
    p.add_argument("--samples", type=int, default=3, metavar="N", help="sample events to show (default 3)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="read at most N records (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout instead of text")
    p.epilog = (
        "Reads the inputs as 'sleuth run' would (merged by event time) and reports, for\n"
        "each: the detected format and why, records, time range and order; for all: the\n"
        "disorder seen and the --lateness it recommends, the share of events carrying each\n"
        "field, sample events, CSV/TSV columns that map to no field (with a suggested\n"
        "--map), and the rules of --pack that cannot fire on this input.\n\n"
        "exit codes:\n"
        "  0    every input was read and holds events\n"
        "  1    an input's format is unknown or it is unreadable, or no event was read\n"
        "  2    a bad option\n"
        "  3    a file cannot be read\n\n"
        "See docs/input.md.")


class _Disorder:
    """Incremental lateness profile of the merged stream (counters only)."""

    def __init__(self) -> None:
        self.latest = -math.inf
        self.events = self.late = 0
        self.max = 0.0
        self.lost = dict.fromkeys(THRESHOLDS, 0)

    def add(self, t: float) -> None:
        self.events += 1
        if t < self.latest:
            x = self.latest - t
            self.late += 1
            if x > self.max:
                self.max = x
            for th in THRESHOLDS:
                if x > th:
                    self.lost[th] += 1
        else:
            self.latest = t


def recommend(largest: float, default: float) -> float:
    """The lateness to pass: the format's default, or the largest lateness seen rounded up to a nice value."""
    if largest <= default:
        return default
    for v in NICE:
        if v >= largest:
            return float(v)
    return float(math.ceil(largest))


def _ts(t: float | None) -> str | None:
    from sleuth.engine.match import format_ts

    return format_ts(t) if t is not None else None


def run_inspect(args) -> int:
    from sleuth.engine.ingest import Bad, BadInput
    from sleuth.engine.ingest.columns import advice_text, advise
    from sleuth.engine.ingest.coverage import FieldCoverage
    from sleuth.engine.ingest.merge import InputOrder, Merge
    from sleuth.engine.ingest.normalize import EXTRA_FIELDS
    from sleuth.engine.ingest.source import FORMAT_ALIASES, default_lateness, open_source
    from sleuth.engine.schema import CANONICAL

    from .cmd_run import InputError, build_normalizer, expand_inputs

    if args.samples < 0 or args.limit < 0:
        print("sleuth inspect: --samples and --limit must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        inputs = expand_inputs(args.inputs)
    except InputError as exc:
        print(f"sleuth inspect: {exc}", file=sys.stderr)
        return EXIT_IO
    try:
        normalizer = build_normalizer(args)
    except OSError as exc:
        print(f"sleuth inspect: cannot read {exc.filename or 'an input file'}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_IO
    except ValueError as exc:
        print(f"sleuth inspect: {exc}", file=sys.stderr)
        return EXIT_IO if getattr(exc, "openapi", False) else EXIT_USAGE
    # The derived fields (role, operation, client, actor) as a pack reading them would get them.
    from sleuth.engine.schema import EVENT_FIELDS

    normalizer.want(f.name for f in EVENT_FIELDS if f.origin == "derived")
    needs, pack_rules, pack_error = _needs(args.pack)
    if pack_error and pack_error.startswith("no such pack"):     # asked for by name: nothing to inspect against
        print(f"sleuth inspect: {pack_error}", file=sys.stderr)
        return EXIT_IO

    readers = []
    per: list[dict] = []
    for path in inputs:
        r = open_source(None if path == "-" else path, args.format, chunk_size=max(1 << 16, (1 << 20) // len(inputs)))
        try:
            fmt = r.probe()
        except OSError as exc:
            print(f"sleuth inspect: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_IO
        from sleuth.engine.ingest.source import sniff

        info = {"input": path, "format": fmt, "detected": r.sniffed,
                "records": 0, "events": 0, "quarantined": {}, "first": None, "last": None}
        if fmt is None:
            head = r.head                       # what the reader saw: why it could not tell
            if r.head_error is not None:
                info["detected"] = f"unreadable ({r.head_error})"
                info["unreadable"] = True
            else:
                info["detected"] = sniff(head)[1] if head.strip() else "the input is empty"
            info["first_line"] = head.split(b"\n", 1)[0][:200].decode("utf-8", "replace")
        per.append(info)
        readers.append(r)

    paths = {n for n in needs_paths(needs)}
    coverage = FieldCoverage(set(CANONICAL) | set(EXTRA_FIELDS) | paths)
    orders = [InputOrder() for _ in inputs]
    other: dict[str, int] = {}
    disorder = _Disorder()
    samples: list[dict] = []
    csv_rows: dict[int, list] = {}
    route_in_input = 0
    normalize = normalizer.normalize
    time_of = _time_of(normalizer)
    live = [i for i, r in enumerate(readers) if per[i]["format"] is not None]
    merge = Merge([readers[i] for i in live], time_of)
    read = 0
    for j, pos, item in merge:
        i = live[j]
        info = per[i]
        read += 1
        if args.limit and read > args.limit:
            break
        info["records"] += 1
        if type(item) is Bad:
            info["quarantined"][item.reason] = info["quarantined"].get(item.reason, 0) + 1
            continue
        if per[i]["format"] == "csv" and len(csv_rows.setdefault(i, [])) < 200 and type(item) is dict:
            csv_rows[i].append(item)
        if type(item) is dict and (item.get("route") is not None or item.get("http.route") is not None):
            route_in_input += 1
        try:
            ev = normalize(item, readers[i].name, pos)
        except BadInput as exc:
            info["quarantined"][exc.reason] = info["quarantined"].get(exc.reason, 0) + 1
            continue
        info["events"] += 1
        t = ev["ts"]
        orders[i].add(t)
        disorder.add(t)
        coverage(ev)
        for k in ev:
            if k not in coverage.counts and k != "_invalid" and (k in other or len(other) < 40):
                other[k] = other.get(k, 0) + 1
        if len(samples) < args.samples:
            samples.append(ev)
    for r in readers:
        r.close()
    for i, info in enumerate(per):
        o = orders[i]
        info["first"], info["last"] = _ts(o.first), _ts(o.last)
        info["order"] = {"out_of_order": o.out_of_order, "largest_lateness_s": round(o.max_lateness, 3)}

    warnings: list[str] = []
    advice_json = {}
    for i, info in enumerate(per):
        if info["format"] != "csv":
            continue
        ctx = readers[i].context() or {}
        header = ctx.get("csv_header") or []
        advice = advise(header, csv_rows.get(i, []), normalizer.mapping)
        advice_json[info["input"]] = {"unmapped": list(advice.unmapped), "missing": list(advice.missing),
                                      "suggest": advice.suggest, "notes": list(advice.notes),
                                      "map": advice.map_options}
        warnings += advice_text(info["input"], advice)
    for info in per:
        if info.get("unreadable"):
            warnings.append(f"{info['input']}: {info['detected']}: a corrupt or truncated start")
        elif info["format"] is None:
            warnings.append(f"{info['input']}: unknown format ({info['detected']}): pass --format")

    fmts = [f for f in (p["format"] for p in per) if f]
    default = max((default_lateness(f) for f in fmts), default=5.0)
    rec = recommend(disorder.max, default)
    blind = []
    if needs is not None:
        from sleuth.dsl.needs import blind_rules

        blind = blind_rules(needs, coverage.events, coverage.counts,
                            openapi=bool(args.openapi), route_in_input=route_in_input)
    starts = [o.first for o in orders if o.first is not None]
    ends = [o.last for o in orders if o.last is not None]
    shown = [p for p in coverage.paths if "." not in p] + [p for p in coverage.paths if "." in p]
    result = {
        "inputs": per,
        "events": coverage.events,
        "first": _ts(min(starts)) if starts else None, "last": _ts(max(ends)) if ends else None,
        "disorder": {"events_out_of_order": disorder.late, "largest_lateness_s": round(disorder.max, 3),
                     "lost_at": {str(k): v for k, v in disorder.lost.items()}},
        "lateness": {"default_s": default, "recommended_s": rec,
                     "formats": sorted({FORMAT_ALIASES.get(f, f) for f in fmts})},
        "fields": {p: round(coverage.counts[p] / coverage.events, 4) if coverage.events else None for p in shown},
        "field_counts": {p: coverage.counts[p] for p in shown},
        "other_fields": dict(sorted(other.items(), key=lambda kv: -kv[1])[:20]),
        "samples": samples,
        "columns": advice_json,
        "pack": args.pack, "pack_error": pack_error, "pack_rules": pack_rules,
        "blind_rules": [{"rule": b.rule, "cannot_fire": b.cannot, "why": b.why} for b in blind],
        "warnings": warnings,
    }
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result, default=str, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        _print(result, sys.stdout)
    if any(p["format"] is None for p in per) or coverage.events == 0:
        return EXIT_FINDINGS
    return EXIT_OK


def needs_paths(needs) -> set:
    if not needs:
        return set()
    from sleuth.dsl.needs import needed_paths

    return needed_paths(needs)


def _needs(pack: str):
    """The pack's needs (None when it cannot be checked), its rule count, and why not."""
    from sleuth.dsl.needs import pack_needs
    from sleuth.dsl.pack import check_paths

    paths = pack_paths(pack)
    if not os.path.exists(paths[0]):
        return None, 0, f"no such pack: {pack}"
    try:
        checked = check_paths(paths)
    except Exception as exc:            # an unreadable pack: the inspection of the logs goes on
        return None, 0, f"{type(exc).__name__}: {exc}"
    if checked.errors:
        return None, len(checked.rules), f"the pack has {len(checked.errors)} error(s) (sleuth check {pack})"
    return pack_needs(checked.rules), len(checked.rules), None


def _time_of(normalizer):
    from sleuth.engine.ingest import BadInput

    def time_of(item):
        try:
            return normalizer.normalize(item, "", 0)["ts"]
        except BadInput:
            return None
    return time_of


def _events(n: int) -> str:
    return "1 event" if n == 1 else f"{n:,} events"


def _pct(count: int, events: int) -> str:
    from sleuth.engine.ingest.coverage import percent

    return percent(count / events) if events else "-"


def _print(r: dict, out) -> None:
    w = out.write
    for info in r["inputs"]:
        w(f"{info['input']}\n")
        if info["format"] is None:
            w(f"  format: unknown: {info['detected']}\n")
            if info.get("first_line"):
                w(f"  first line: {info['first_line']}\n")
            continue
        w(f"  format: {info['format']} ({info['detected']})\n")
        q = info["quarantined"]
        bad = sum(q.values())
        w(f"  records: {info['records']:,}: {info['events']:,} events"
          + (f", {bad:,} quarantined (" + ", ".join(f"{k} {v:,}" for k, v in sorted(q.items())) + ")" if bad else "")
          + "\n")
        if info["first"]:
            w(f"  time: {info['first']} .. {info['last']}\n")
        o = info["order"]
        if o["out_of_order"]:
            w(f"  order: {_events(o['out_of_order'])} out of order, the largest {o['largest_lateness_s']:g} s "
              f"behind a line before it\n")
        elif info["events"]:
            w("  order: in time order\n")
    many = len(r["inputs"]) > 1
    w(("all inputs, merged by event time:\n" if many else "") + f"events: {r['events']:,}"
      + (f", {r['first']} .. {r['last']}" if r["first"] else "") + "\n")
    d, lat = r["disorder"], r["lateness"]
    if d["events_out_of_order"]:
        w(f"disorder: {_events(d['events_out_of_order'])} "
          f"{'arrives' if d['events_out_of_order'] == 1 else 'arrive'} after a later-stamped one; the largest "
          f"lateness is {d['largest_lateness_s']:g} s\n")
    else:
        w("disorder: none (every event is at or after the one before it)\n")
    names = ", ".join(lat["formats"]) or "this input"
    if lat["recommended_s"] > lat["default_s"]:
        lost = d["lost_at"].get(str(int(lat["default_s"]))) if float(lat["default_s"]).is_integer() else None
        w(f"lateness: recommended --lateness {lat['recommended_s']:g}: it covers the largest lateness seen "
          f"(the default for {names}, {lat['default_s']:g} s, would set "
          + (f"{_events(lost)} aside as late)\n" if lost is not None else "events aside as late)\n"))
    else:
        w(f"lateness: recommended --lateness {lat['recommended_s']:g}, the default for {names} "
          f"(no event later than that)\n")
    if r["events"]:
        w("fields (share of events): "
          + ", ".join(f"{k} {_pct(n, r['events'])}" for k, n in r["field_counts"].items()) + "\n")
    if r["other_fields"]:
        w("other fields: " + ", ".join(f"{k} ({v:,})" for k, v in r["other_fields"].items()) + "\n")
    if r["samples"]:
        w("sample events:\n")
        for ev in r["samples"]:
            w("  " + orjson.dumps(ev, default=str).decode() + "\n")
    if r["pack_error"]:
        w(f"blind rules: not listed ({r['pack_error']})\n")
    else:
        cannot = [b for b in r["blind_rules"] if b["cannot_fire"]]
        may = [b for b in r["blind_rules"] if not b["cannot_fire"]]
        if cannot:
            w(f"rules that cannot fire on this input ({len(cannot)} of {r['pack_rules']} in {r['pack']}):\n")
            for b in cannot:
                w(f"  {b['rule']}: {b['why']}\n")
        elif r["events"]:
            w(f"rules that cannot fire on this input: none of {r['pack_rules']} in {r['pack']}\n")
        if may:
            w(f"rules that may miss events of this input ({len(may)}):\n")
            for b in may:
                w(f"  {b['rule']}: {b['why']}\n")
    for line in r["warnings"]:
        w(f"warning: {line}\n")
