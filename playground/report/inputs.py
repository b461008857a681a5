"""Inputs of `sleuth report`: match files, events, quarantine files, labels and a rule pack.

Every reader here is defensive: a match file is untrusted text like any
input, so a line that is not a match record is skipped with a reason and a
counter (never silently, never a crash), strings are clipped before they
reach the page, and nothing but a file that cannot be opened at all raises
(`ReportInputError`, exit 3). Match files are read through the engine's own
reader (`open_source`: gzip transparent, bad lines as `Bad`), so a matches
file and an events file are read the same way.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from sleuth.engine.ingest import parse_time
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS, EXTRA_FIELDS, BadInput, Normalizer
from sleuth.engine.ingest.source import Bad, open_source
from sleuth.engine.quarantine import REASONS

__all__ = [
    "MATCH_ID",
    "MatchInput",
    "ReportInputError",
    "ReportUsageError",
    "clip",
    "clip_provenance",
    "clip_value",
    "field_coverage",
    "provenance_ids",
    "read_labels",
    "read_quarantine",
    "rule_info",
]

#: A match id as the engine writes it: 16 lower-case hex digits.
MATCH_ID = re.compile(r"[0-9a-f]{16}")

#: A matches line longer than this is skipped as `oversized` (the engine caps provenance,
#: so a real match is a few KB; 16 MiB leaves room for huge emitted strings).
MAX_MATCH_LINE = 16 << 20

#: Characters of a string kept on the page, items of a list, keys of a mapping, nesting depth.
CLIP_CHARS, CLIP_ITEMS, CLIP_KEYS, CLIP_DEPTH = 300, 50, 100, 8
#: Mapping keys (a window value's label is its aggregate's text) are cut shorter than values.
CLIP_KEY_CHARS = 120
#: Events of one provenance list the page keeps (the engine's own cap is 20 unless a rule raises it).
PROV_EVENTS = 1000

#: Distinct sub-keys counted per mapping field (`params`, `headers`, `query`) and distinct
#: non-canonical top-level keys counted by field coverage; past these, "other keys".
COVERAGE_KEYS = 64


class ReportInputError(Exception):
    """An input that cannot be read at all (missing, unreadable, not the expected kind): exit 3."""


class ReportUsageError(Exception):
    """Options that cannot work with these inputs (a bad interval, too many intervals): exit 2."""


# ---------------------------------------------------------------- clipping


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """`text` cut to `limit` characters, saying how long it was; lone surrogates made visible."""
    if len(text) > limit:
        text = f"{text[:limit]}… [{len(text):,} characters in all]"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:   # a lone surrogate (in-memory input): no JSON encoder takes it
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clip_provenance(prov: Any) -> Any:
    """`clip_value` of a provenance record, but its event lists are kept whole up to 1,000 events.

    The engine already caps them (`limit events`, 20 by default); a rule that
    raises the cap asked for that evidence, so the page shows all of it.
    """
    if not isinstance(prov, dict):
        return clip_value(prov)
    out = clip_value({k: v for k, v in prov.items() if k not in ("events", "steps")})
    if isinstance(prov.get("events"), list):
        out["events"] = clip_value(prov["events"], items=PROV_EVENTS)
    elif "events" in prov:
        out["events"] = clip_value(prov["events"])
    steps = prov.get("steps")
    if isinstance(steps, list):
        out["steps"] = [
            {**clip_value({k: v for k, v in st.items() if k != "events"}),
             **({"events": clip_value(st["events"], items=PROV_EVENTS)} if "events" in st else {})}
            if isinstance(st, dict) else clip_value(st) for st in steps[:CLIP_ITEMS]]
        if len(steps) > CLIP_ITEMS:
            out["steps"].append(f"… [{len(steps):,} items in all]")
    elif "steps" in prov:
        out["steps"] = clip_value(steps)
    return out


def clip_value(value: Any, depth: int = 0, items: int = 0) -> Any:
    """A JSON value made small for the page: long strings, lists and mappings cut, with a note.

    `items` raises the list cap of this one (outer) list.
    """
    t = type(value)
    if t is str:
        return clip(value)
    if t is int:
        return value if -(2 ** 63) <= value < 2 ** 64 else clip(str(value))   # JSON encoders stop at 64 bits
    if value is None or t is bool or t is float:
        return value
    if depth >= CLIP_DEPTH:
        return "[nested deeper than the report shows]"
    if t is list or t is tuple:
        cap = items or CLIP_ITEMS
        out = [clip_value(v, depth + 1) for v in value[:cap]]
        if len(value) > cap:
            out.append(f"… [{len(value):,} items in all]")
        return out
    if t is dict:
        out_d = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= CLIP_KEYS:
                out_d["…"] = f"[{len(value):,} keys in all]"
                break
            out_d[clip(str(k), CLIP_KEY_CHARS)] = clip_value(v, depth + 1)
        return out_d
    return clip(str(value))


def value_text(value: Any, limit: int = 200) -> str:
    """A key value as people read it: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return clip(value, limit)
    try:
        return clip(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode(), limit)
    except TypeError:   # not JSON (in-memory input), or a lone surrogate inside
        return clip(str(value), limit)


def as_time(value: Any) -> float | None:
    """Epoch seconds of a match time, or None when it is missing or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_time(value)
    except (BadInput, ValueError, TypeError, OverflowError):
        return None


def provenance_ids(prov: Any) -> list[tuple[str, str]]:
    """(step name, id) of every event a provenance record cites, in order.

    The same walk as `sleuth.engine.match.provenance_event_ids`, but over an
    untrusted record: anything that is not a string id is passed over.
    """
    out: list[tuple[str, str]] = []
    if not isinstance(prov, dict):
        return out

    def events(step: str, items: Any) -> None:
        if isinstance(items, list):
            for e in items:
                if isinstance(e, dict) and isinstance(e.get("id"), str):
                    out.append((step, e["id"]))

    steps = prov.get("steps")
    if isinstance(steps, list):
        for s in steps:
            if isinstance(s, dict):
                events(str(s.get("step", "")), s.get("events"))
    events("", prov.get("events"))
    last = prov.get("last_event")
    if isinstance(last, dict) and isinstance(last.get("id"), str):
        if all(last["id"] != i for _s, i in out):
            out.append(("", last["id"]))
    consumed = prov.get("matches")
    if isinstance(consumed, list):
        for m in consumed:
            if isinstance(m, dict) and isinstance(m.get("event_ids"), list):
                out.extend(("", i) for i in m["event_ids"] if isinstance(i, str))
    return out


# ---------------------------------------------------------------- matches


def check_match(rec: Any) -> str | None:
    """Why `rec` is not a match record (a stable reason id), or None when it is one."""
    if not isinstance(rec, dict):
        return "not-object"
    mid = rec.get("match_id")
    if not isinstance(mid, str) or not MATCH_ID.fullmatch(mid):
        return "bad-match-id"
    if not isinstance(rec.get("rule"), str) or not rec["rule"]:
        return "no-rule"
    if as_time(rec.get("emitted_at")) is None and as_time(rec.get("last_ts")) is None:
        return "no-time"
    for name in ("key", "fields"):
        if rec.get(name) is not None and not isinstance(rec[name], dict):
            return f"bad-{name}"
    if rec.get("provenance") is not None and not isinstance(rec["provenance"], dict):
        return "bad-provenance"
    return None


#: What each skip reason means (docs/report.md lists the same).
SKIP_REASONS: dict[str, str] = {
    "not-json": "a line that is not JSON",
    "bad-encoding": "bytes that are not UTF-8",
    "oversized": f"a line longer than {MAX_MATCH_LINE >> 20} MiB",
    "not-object": "a JSON value that is not an object",
    "bad-match-id": "no match_id of 16 hex digits",
    "no-rule": "no rule name",
    "no-time": "neither emitted_at nor last_ts is a readable time",
    "bad-key": "key is not an object",
    "bad-fields": "fields is not an object",
    "bad-provenance": "provenance is not an object",
}


class MatchInput:
    """Matches to report on: files of JSON lines (read twice, never held whole) or dicts.

    Iterating yields `(where, record)` for every match record and calls
    `skip(where, reason, detail)` for every line that is not one. `where` is
    `file:line` (or `#n` for in-memory records). `-` reads standard input
    once and keeps its lines, so that it can be read a second time.
    """

    def __init__(self, items: Iterable[Any]):
        paths: list[str] = []
        records: list[dict] | None = None
        for item in items:
            if isinstance(item, (str, os.PathLike)):
                paths.append(os.fspath(item))
            else:
                records = [] if records is None else records
                records.append(item)
        if paths and records is not None:
            raise TypeError("give match files or match records, not both")
        self.paths = paths
        self.records = records
        self._stdin: bytes | None = None
        for p in paths:
            if p != "-" and not os.path.isfile(p):
                raise ReportInputError(f"no such file: {p}")

    @property
    def names(self) -> list[str]:
        """The inputs as the user gave them (for the report's header)."""
        return list(self.paths) if self.records is None else ["(in memory)"]

    def read(self, skip, want: set[str] | None = None) -> Iterator[tuple[str, dict]]:
        """`(where, record)` of every match record; with `want`, only of those match ids (no skips)."""
        if self.records is not None:
            for i, rec in enumerate(self.records, 1):
                if want is not None and not (isinstance(rec, dict) and rec.get("match_id") in want):
                    continue
                reason = check_match(rec)
                if reason:
                    skip(f"#{i}", reason, SKIP_REASONS.get(reason, reason))
                else:
                    yield f"#{i}", rec
            return
        for path in self.paths:
            yield from self._read_file(path, skip, want)

    def _read_file(self, path: str, skip, want: set[str] | None) -> Iterator[tuple[str, dict]]:
        import io

        if path == "-":
            if self._stdin is None:
                import sys

                self._stdin = sys.stdin.buffer.read()
            source: Any = io.BytesIO(self._stdin)
            name = "<stdin>"
        else:
            source, name = path, path
        try:
            reader = open_source(source, "jsonl", max_line_bytes=MAX_MATCH_LINE, name=name)
            for pos, item in reader:
                if want is not None and not (type(item) is dict and item.get("match_id") in want):
                    continue
                where = f"{name}:{pos}"
                if type(item) is Bad:
                    if item.reason in ("io-error", "bad-gzip"):
                        raise ReportInputError(f"cannot read {name}: {item.detail}")
                    skip(where, item.reason, item.detail)
                    continue
                reason = check_match(item)
                if reason:
                    skip(where, reason, SKIP_REASONS.get(reason, reason))
                    continue
                yield where, item
        except OSError as exc:
            raise ReportInputError(f"cannot read {name}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- quarantine


def read_quarantine(source: Any, samples: int = 3) -> dict:
    """Counts by reason and by input of quarantined records, with a few samples per reason.

    `source` is a list of quarantine files (`sleuth run --quarantine`) or a
    `sleuth.engine.Quarantine` (its counters, and its kept records as samples).
    """
    by_reason: Counter = Counter()
    by_source: Counter = Counter()
    examples: dict[str, list[dict]] = {}
    unreadable = 0
    files: list[str] = []

    def add(rec: dict) -> None:
        reason = rec.get("reason")
        reason = reason if isinstance(reason, str) else "?"
        by_reason[clip(reason, 60)] += 1
        src = rec.get("source")
        by_source[clip(src if isinstance(src, str) and src else "?", 120)] += 1
        bucket = examples.setdefault(clip(reason, 60), [])
        if len(bucket) < samples:
            bucket.append({"source": value_text(rec.get("source") or "", 120),
                           "position": rec.get("position") if isinstance(rec.get("position"), int) else None,
                           "detail": value_text(rec.get("detail") or "", 200),
                           "excerpt": value_text(rec.get("excerpt") or "", 200)})

    if hasattr(source, "counts") and not isinstance(source, (list, tuple, str)):
        for rec in list(getattr(source, "records", ()) or ()):
            bucket = examples.setdefault(clip(str(rec.get("reason", "?")), 60), [])
            if len(bucket) < samples:
                bucket.append({"source": value_text(rec.get("source") or "", 120),
                               "position": rec.get("position") if isinstance(rec.get("position"), int) else None,
                               "detail": value_text(rec.get("detail") or "", 200),
                               "excerpt": value_text(rec.get("excerpt") or "", 200)})
        by_reason.update({clip(str(k), 60): int(v) for k, v in dict(source.counts).items() if v})
        files = ["(this run)"]
    else:
        for path in [os.fspath(p) for p in ([source] if isinstance(source, (str, os.PathLike)) else source)]:
            files.append(path)
            if not os.path.isfile(path):
                raise ReportInputError(f"no such file: {path}")
            try:
                for _pos, item in open_source(path, "jsonl", max_line_bytes=MAX_MATCH_LINE):
                    if type(item) is Bad or not isinstance(item, dict):
                        if type(item) is Bad and item.reason in ("io-error", "bad-gzip"):
                            raise ReportInputError(f"cannot read {path}: {item.detail}")
                        unreadable += 1
                        continue
                    add(item)
            except OSError as exc:
                raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    reasons = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "files": files,
        "total": sum(by_reason.values()),
        "unreadable_lines": unreadable,
        "by_reason": [{"reason": r, "count": n, "meaning": REASONS.get(r, ""),
                       "examples": examples.get(r, [])} for r, n in reasons],
        "by_source": [{"source": s, "count": n}
                      for s, n in sorted(by_source.items(), key=lambda kv: (-kv[1], kv[0]))[:20]],
    }


# ---------------------------------------------------------------- field coverage

_ASSIGNED = "\x00report"   # the source name given to the normaliser: ids it invents start with it
_MAPPINGS = ("params", "headers", "query")
_FIELDS = tuple(CANONICAL_FIELDS) + tuple(k for k in EXTRA_FIELDS if k not in CANONICAL_FIELDS)
_NOTES = {
    "id": "assigned from the input position when missing",
    "route": "derived from path by the run (OpenAPI or heuristic) when missing",
    "spec": "added by the run's OpenAPI templater",
    "protocol": "from access logs",
    "request": "from access logs",
}


class _Coverage:
    """Counters of field coverage over a stream of records (bounded: fixed fields, capped keys)."""

    def __init__(self) -> None:
        self.records = 0
        self.events = 0
        self.bad: Counter = Counter()
        self.present: Counter = Counter()
        self.invalid: Counter = Counter()
        self.sub: dict[str, Counter] = {m: Counter() for m in _MAPPINGS}
        self.sub_other: Counter = Counter()
        self.other: Counter = Counter()
        self.other_more = 0
        self.start: float | None = None
        self.end: float | None = None
        self.normalizer = Normalizer()

    def add(self, raw: Any, position: int) -> None:
        self.records += 1
        if type(raw) is Bad:
            self.bad[raw.reason] += 1
            return
        try:
            ev = self.normalizer.normalize(raw, _ASSIGNED, position)
        except BadInput as exc:
            self.bad[exc.reason] += 1
            return
        self.events += 1
        ts = ev.get("ts")
        if isinstance(ts, float):
            self.start = ts if self.start is None or ts < self.start else self.start
            self.end = ts if self.end is None or ts > self.end else self.end
        invalid = ev.get("_invalid") or {}
        for name in _FIELDS:
            v = ev.get(name)
            if v is None or v == "" or v == {}:
                continue
            if name == "id" and isinstance(v, str) and v.startswith(_ASSIGNED):
                continue
            if name in invalid:
                continue
            self.present[name] += 1
        for name in invalid:
            self.invalid[str(name)] += 1
        for m in _MAPPINGS:
            sub = ev.get(m)
            if isinstance(sub, dict):
                counter = self.sub[m]
                for k in sub:
                    k = str(k)
                    if k in counter or len(counter) < COVERAGE_KEYS:
                        counter[k] += 1
                    else:
                        self.sub_other[m] += 1
        for k in ev:
            if k in CANONICAL_FIELDS or k in EXTRA_FIELDS or k == "_invalid":
                continue
            k = str(k)
            if k in self.other or len(self.other) < COVERAGE_KEYS:
                self.other[k] += 1
            else:
                self.other_more += 1

    def result(self, files: list[str]) -> dict:
        from sleuth.engine.match import format_ts

        n = self.events
        rows = []
        for name in _FIELDS:
            if name in EXTRA_FIELDS and not self.present[name] and not self.invalid[name]:
                continue
            rows.append({"field": name, "present": self.present[name], "invalid": self.invalid[name],
                         "missing": n - self.present[name] - self.invalid[name],
                         "share": round(self.present[name] / n, 4) if n else None,
                         "note": _NOTES.get(name, "")})
        subs = {m: [{"key": clip(k, 80), "count": c}
                    for k, c in sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0]))[:20]]
                for m, cnt in self.sub.items() if cnt}
        return {
            "files": files,
            "records": self.records,
            "events": n,
            "start": format_ts(self.start), "end": format_ts(self.end),
            "unreadable": [{"reason": r, "count": c, "meaning": REASONS.get(r, "")}
                           for r, c in sorted(self.bad.items(), key=lambda kv: (-kv[1], kv[0]))],
            "fields": rows,
            "sub_keys": subs,
            "other_fields": [{"field": clip(k, 80), "count": c}
                             for k, c in sorted(self.other.items(), key=lambda kv: (-kv[1], kv[0]))[:20]],
        }


def field_coverage(events: Iterable[Any]) -> dict:
    """How many events carry each canonical field, as the engine's normaliser reads them.

    `events` is a list of event files (any format `sleuth run` reads) or of
    event dicts. Records the engine could not read are counted by reason.
    Memory is bounded: fixed counters plus at most 64 keys per mapping field.
    """
    cov = _Coverage()
    files: list[str] = []
    items = [events] if isinstance(events, (str, os.PathLike)) else list(events)
    if items and all(isinstance(x, (str, os.PathLike)) for x in items):
        for path in [os.fspath(p) for p in items]:
            files.append(path)
            if not os.path.isfile(path):
                raise ReportInputError(f"no such file: {path}")
            try:
                for pos, item in open_source(path, "auto"):
                    if type(item) is Bad and item.reason in ("io-error",):
                        raise ReportInputError(f"cannot read {path}: {item.detail}")
                    cov.add(item, pos)
            except OSError as exc:
                raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    else:
        files.append("(in memory)")
        for i, raw in enumerate(items, 1):
            cov.add(raw, i)
    return cov.result(files)


# ---------------------------------------------------------------- labels


def _jsonl(path: str, required: bool) -> list[dict]:
    if not os.path.isfile(path):
        if required:
            raise ReportInputError(f"no such file: {path}")
        return []
    out = []
    try:
        with open(path, "rb") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise ReportInputError(f"{path}:{n}: not a JSON line") from None
                if not isinstance(rec, dict):
                    raise ReportInputError(f"{path}:{n}: not a JSON object")
                out.append(rec)
    except OSError as exc:
        raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return out


def read_labels(directory: str | os.PathLike) -> dict:
    """`labels.jsonl`, `traps.jsonl` and `manifest.json` of a `sleuth simulate` folder."""
    d = os.fspath(directory)
    if not os.path.isdir(d):
        raise ReportInputError(f"no such folder: {d}")
    labels = _jsonl(os.path.join(d, "labels.jsonl"), required=True)
    traps = _jsonl(os.path.join(d, "traps.jsonl"), required=False)
    manifest: dict = {}
    mpath = os.path.join(d, "manifest.json")
    if os.path.isfile(mpath):
        try:
            with open(mpath, "rb") as fh:
                manifest = orjson.loads(fh.read())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ReportInputError(f"cannot read {mpath}: {exc}") from None
        if not isinstance(manifest, dict):
            raise ReportInputError(f"{mpath}: not a JSON object")
    return {"name": d, "labels": labels, "traps": traps, "manifest": manifest}


# ---------------------------------------------------------------- rule pack


def rule_info(pack: Any) -> dict[str, dict]:
    """Rule name → where it is written (file, line), its text, and what it reads (events|matches).

    `pack` is a compiled `PackSpec` or anything `load_pack` accepts.
    """
    if isinstance(pack, (str, os.PathLike, list, tuple)):
        from sleuth.dsl.errors import PackError
        from sleuth.dsl.pack import load_pack

        try:
            pack = load_pack(pack)
        except PackError as exc:
            raise ReportInputError(f"the rule pack has errors: {exc}") from None
        except OSError as exc:
            raise ReportInputError(f"cannot read the rule pack: {exc}") from None
    texts = _rule_texts({r.file for r in pack.rules if r.file})
    out = {}
    for r in pack.rules:
        text = texts.get((r.file, r.name), "")
        out[r.name] = {"file": r.file, "line": r.line, "reads": r.source, "text": clip(text, 8000),
                       "title": r.title, "ttp": r.ttp, "goal": r.goal, "severity": r.severity}
    return out


def _rule_texts(files) -> dict[tuple[str, str], str]:
    """(file, rule name) → the rule's text as written, read back from the rule files.

    A compiled pack keeps each rule's file and line, not its text; the files are
    parsed again (recovering, so one broken file costs only its own rules).
    """
    from sleuth.dsl import ast as rule_ast
    from sleuth.dsl.parse import parse_recovering

    out: dict[tuple[str, str], str] = {}
    for file in sorted(files):
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        module, _diags = parse_recovering(text, file)
        for decl in module.decls:
            if isinstance(decl, rule_ast.RuleDecl):
                out[(file, decl.name)] = text[decl.span.start:decl.span.end]
    return out
