"""The engine case corpus: loading `cases/*.toml`, running a case, comparing.

Shared by `test_cases.py` (one pytest id per case), `test_snapshot.py`
(the same streams cut by snapshots) and `test_properties.py`. The case
format is documented in `cases/README.md`; it is independent of the
engine's internals, so another backend only needs its own `run_items`.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sleuth.dsl import load_pack
from sleuth.engine import Engine

CASES_DIR = Path(__file__).parent / "cases"

# What a case may say, and what an expected match may say.
CASE_KEYS = {"title", "description", "rules", "options", "events", "expect", "quarantined", "stats", "xfail"}
MATCH_KEYS = ("rule", "key", "first_ts", "last_ts", "emitted_at", "fields", "flags", "provenance")
OPTIONAL_MATCH_KEYS = ("ttp", "goal", "severity", "title", "returned_by")
TO_DICT_KEYS = {"match_id", "rule", "ttp", "goal", "severity", "title", "key", "first_ts", "last_ts",
                "emitted_at", "fields", "fingerprint", "flags", "provenance"}
ENGINE_OPTIONS = {"lateness", "grace", "max_keys", "future_tolerance", "future_confirm"}
ADVANCE = "advance_to"       # an events item {advance_to = T} calls Engine.advance(T)


def load_cases(directory: Path = CASES_DIR) -> list[tuple[str, dict]]:
    """Every case as (id, case); id = "<file>::<title>"."""
    out = []
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for case in data.get("case", []):
            out.append((f"{path.name}::{case.get('title', '?')}", case))
    return out


def prepare_items(events: Iterable[dict]) -> list[dict]:
    """Events with default ids: item n (1-based, directives included) gets id "e<n>"."""
    items = []
    for n, item in enumerate(events, 1):
        item = dict(item)
        if ADVANCE not in item:
            item.setdefault("id", f"e{n}")
        items.append(item)
    return items


def compile_rules(rules: str | dict[str, str]):
    """The pack of a case (one file `case.ttp` unless a mapping of files is given)."""
    sources = {"case.ttp": rules} if isinstance(rules, str) else dict(rules)
    return load_pack(sources=sources)


def run_items(pack, items: list[dict], options: dict | None = None, *, engine: Engine | None = None,
              start: int = 0, finish: bool = True):
    """Feed items[start:] (events and advance directives), then close.

    Returns (engine, [(match, returned_by)]) where returned_by is the 1-based
    item number whose feed/advance returned the match, or "close".
    """
    eng = engine if engine is not None else Engine(pack, **(options or {}))
    out: list[tuple[Any, Any]] = []
    for n, item in enumerate(items[start:], start + 1):
        got = eng.advance(float(item[ADVANCE])) if ADVANCE in item else eng.feed(item)
        out.extend((m, n) for m in got)
    if finish:
        out.extend((m, "close") for m in eng.close())
    return eng, out


def json_lines(matches) -> bytes:
    """The byte-stable output of a run (match ids and fingerprints included)."""
    return b"\n".join(m.to_json() for m in matches)


def project(match, returned_by, want: Iterable[str]) -> dict:
    d = match.to_dict()
    d["returned_by"] = returned_by
    return {k: d[k] for k in want}


NULL = "@null"               # TOML has no null: an expected "@null" stands for JSON null


def approx_equal(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Structural equality of expected `a` and actual `b`.

    Floats within `rel`; ints and floats compare by value, bools strictly;
    an expected "@null" matches None.
    """
    if a == NULL:
        return b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(approx_equal(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(approx_equal(x, y, rel) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


MATCH_REF = "@match:"        # "@match:N" stands for the match_id of the N-th match of the run


def resolve_refs(expected: Any, matches: list) -> Any:
    """Replace "@match:N" strings by the id of the N-th output match (1-based).

    A `from matches` rule reads matches whose ids are hashes; the corpus
    names them by position instead, which any backend can resolve.
    """
    if isinstance(expected, str) and expected.startswith(MATCH_REF):
        n = int(expected[len(MATCH_REF):])
        return matches[n - 1].match_id if 0 < n <= len(matches) else expected
    if isinstance(expected, dict):
        return {k: resolve_refs(v, matches) for k, v in expected.items()}
    if isinstance(expected, list):
        return [resolve_refs(v, matches) for v in expected]
    return expected


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def diff(expected: Any, actual: Any) -> str:
    return "".join(difflib.unified_diff(pretty(expected).splitlines(True), pretty(actual).splitlines(True),
                                        "expected", "actual", n=4))


def failure_report(case: dict, pack, expected: Any, actual: Any, extra: str = "") -> str:
    """What a reader needs: the rule, the events, expected vs actual, the compiled machine."""
    parts = [f"case: {case.get('title')}", "", "rules:", case["rules"].rstrip(), "",
             "events:"]
    parts += [f"  {json.dumps(e, sort_keys=True)}" for e in prepare_items(case.get("events", []))]
    if case.get("options"):
        parts += ["", f"options: {json.dumps(case['options'], sort_keys=True)}"]
    if extra:
        parts += ["", extra]
    parts += ["", "expected vs actual (unified diff of pretty JSON):", diff(expected, actual) or "(no diff)",
              "", "actual:", pretty(actual)]
    if pack is not None:
        parts += ["", "explain:"]
        parts += [r.explain_text for r in pack.rules]
    return "\n".join(parts)
