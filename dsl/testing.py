"""Tests inside rule files: build their events, run them, check expectations.

A `test "name" for rule { ... }` block is evaluated against the compiled
pack it lives in: its events (inline, `repeat N { ... }` generators with
`i`, or `events from "fixtures/x.jsonl"`) are fed to a fresh engine, and
the rule's matches are checked against `expect match { assertions }`,
`expect no match` or `expect N matches`. Times written as durations
(`ts = 2s * i`) are relative to `BASE_TIME`; an event without `ts` comes
1 s after the previous one. Events without `id` are named `e1`, `e2`, ...

For sequence and window rules with a passing positive test, boundary
mutations are derived and run as tests of their own, each expected to
lose the match: the last step moved past `within`, the last step moved
before the first, one repeated event dropped below the threshold, one
contributing event dropped from a window that met a `>= N` threshold
exactly. `sleuth test` and pytest collect the same `TestResult`s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

import attrs
import orjson

from sleuth.engine import Engine
from sleuth.engine.match import format_ts
from sleuth.engine.spec import PackSpec

from . import ast, ir
from .check import TestCase
from .codegen import Consts, ExprCompiler, Queries, compile_source, unique_filename
from .expression import Ctx, ExprChecker

BASE_TIME = 1767225600.0          # 2026-01-01T00:00:00Z
_INTERP = re.compile(r"\{i(?::([0-9]*d?))?\}")


@attrs.frozen
class Rel:
    """A relative time written as a duration (seconds after BASE_TIME)."""

    seconds: float


@attrs.define
class TestResult:
    """The outcome of one test (or one derived mutation)."""

    __test__ = False

    id: str                 # "ato.ttp:88 one IP, many users" (+ " [mutation]")
    rule: str
    name: str
    file: str
    line: int
    passed: bool
    message: str = ""
    mutation: str | None = None
    events: int = 0
    matches: int = 0


class TestError(Exception):
    """A test that cannot be built (a fixture missing, a bad generator value)."""


# ---------------------------------------------------------------- event building


def _eval(node: ast.Expr, i: int):
    if isinstance(node, ast.String):
        text = node.value
        if "{i" in text:
            def repl(m):
                spec = m.group(1)
                return format(i, spec) if spec else str(i)
            text = _INTERP.sub(repl, text)
        return text
    if isinstance(node, (ast.IntLit, ast.FloatLit, ast.BoolLit)):
        return node.value
    if isinstance(node, ast.Duration):
        return Rel(node.seconds)
    if isinstance(node, ast.Cidr):
        return node.text
    if isinstance(node, ast.Field):
        if node.parts == ("i",):
            return i
        raise TestError(f"'{node.dotted}' has no value in a test event (only 'i' is defined)")
    if isinstance(node, ast.Neg):
        v = _eval(node.operand, i)
        return Rel(-v.seconds) if isinstance(v, Rel) else -v
    if isinstance(node, ast.ListLit):
        return [_plain(_eval(x, i)) for x in node.items]
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, i), _eval(node.right, i)
        rel = isinstance(a, Rel) or isinstance(b, Rel)
        x = a.seconds if isinstance(a, Rel) else a
        y = b.seconds if isinstance(b, Rel) else b
        if isinstance(x, str) or isinstance(y, str):
            if node.op == "+":
                return f"{x}{y}"
            raise TestError(f"'{node.op}' on strings in a test event")
        try:
            r = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y,
                 "/": lambda: x / y, "%": lambda: x % y}[node.op]()
        except ZeroDivisionError as exc:
            raise TestError("division by zero in a test event") from exc
        return Rel(r) if rel else r
    if isinstance(node, ast.Call):
        args = [_plain(_eval(a, i)) for a in node.args]
        fns = {"str": str, "int": int, "float": float, "lower": str.lower, "upper": str.upper}
        if node.name in fns and len(args) == 1:
            try:
                return fns[node.name](args[0])
            except (TypeError, ValueError) as exc:
                raise TestError(f"{node.name}() in a test event: {exc}") from exc
        raise TestError(f"function '{node.name}' is not available in test events")
    raise TestError(f"{type(node).__name__} is not a value in a test event")


def _plain(v):
    return v.seconds if isinstance(v, Rel) else v


def _set(ev: dict, path: tuple[str, ...], value) -> None:
    d = ev
    for p in path[:-1]:
        nxt = d.get(p)
        if not isinstance(nxt, dict):
            nxt = d[p] = {}
        d = nxt
    d[path[-1]] = value


def generate_events(gens: Iterable[ast.EventLit | ast.EventRepeat], base: float = BASE_TIME,
                    last: float | None = None) -> list[dict]:
    """The events of generator blocks (`{ ... }`, `repeat N { ... }`), in written order.

    Times written as durations count from `base`; an event without `ts`
    comes 1 s after the previous one (the first: after `last`, or at
    `base`). `i` counts from 0 in each `repeat`. Events get no `id`.
    Raises `TestError` for a value that cannot be built (a field other
    than `i`, a division by zero, an unknown function).
    """
    events: list[dict] = []
    for gen in gens:
        count = gen.count if isinstance(gen, ast.EventRepeat) else 1
        for i in range(count):
            ev: dict = {}
            for a in gen.assigns:
                v = _eval(a.value, i)
                if a.target.parts == ("ts",):
                    if isinstance(v, Rel):
                        v = base + v.seconds
                else:
                    v = _plain(v)
                _set(ev, a.target.parts, v)
            if "ts" not in ev:
                ev["ts"] = (last + 1.0) if isinstance(last, (int, float)) else base
            last = ev["ts"] if isinstance(ev["ts"], (int, float)) else last
            events.append(ev)
    return events


def build_events(case: TestCase, base: float = BASE_TIME) -> list[dict]:
    """The events of a test block, in written order (relative times count from `base`)."""
    events: list[dict] = []
    last_ts = None
    for item in case.decl.items:
        if isinstance(item, ast.EventsInline):
            for ev in generate_events(item.gens, base, last_ts):
                last_ts = ev["ts"] if isinstance(ev["ts"], (int, float)) else last_ts
                ev.setdefault("id", f"e{len(events) + 1}")
                events.append(ev)
        elif isinstance(item, ast.EventsFile):
            path = os.path.normpath(os.path.join(os.path.dirname(case.file), item.path))
            try:
                with open(path, "rb") as fh:
                    for n, line in enumerate(fh, 1):
                        line = line.strip()
                        if not line:
                            continue
                        try:
                            ev = orjson.loads(line)
                        except orjson.JSONDecodeError as exc:
                            raise TestError(f"{item.path}:{n}: not JSON: {exc}") from exc
                        if isinstance(ev, dict):
                            ev.setdefault("id", f"{os.path.basename(path)}:{n}")
                        events.append(ev)
            except OSError as exc:
                raise TestError(f"cannot read events file {item.path}: {exc.strerror}") from exc
    return events


# ---------------------------------------------------------------- match views and assertions


def _label_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") or "value"


def match_view(m) -> dict:
    """What an assertion sees of a match: top-level fields, key and emitted fields, steps, window."""
    d = m.to_dict()
    view = {
        "rule": m.rule, "ttp": m.ttp, "goal": m.goal, "severity": m.severity, "title": m.title,
        "fingerprint": m.fingerprint, "flags": list(m.flags), "key": dict(m.key), "fields": dict(m.fields),
        "first_ts": m.first_ts - BASE_TIME, "last_ts": m.last_ts - BASE_TIME,
        "emitted_at": m.emitted_at - BASE_TIME, "events": m.event_ids,
    }
    for k, v in m.fields.items():
        view.setdefault(k, v)
    for k, v in m.key.items():
        view.setdefault(k, v)
    prov = d["provenance"]
    if prov.get("kind") in ("sequence", "join"):
        steps = {}
        for s in prov["steps"]:
            ids = [e["id"] for e in s["events"]]
            steps[s["step"]] = {"count": s["count"], "ids": ids, "first": ids[0] if ids else None,
                                "last": ids[-1] if ids else None, "omitted": s["omitted"]}
        view["steps"] = steps
    elif prov.get("kind") == "window":
        win = {"count": prov["event_count"], "ids": [e["id"] for e in prov["events"]]}
        for label, v in prov["values"].items():
            win[_label_name(label)] = v
        view["window"] = win
    return view


def compile_condition(e: ir.Expr, kind: str, label: str, population=None) -> Callable[[dict], bool]:
    """A checked event-level condition as a function of one event (or match view).

    The source is generated like a rule's (values bound as constants,
    registered in linecache under `<sleuth kind label>`). The condition
    must not reference earlier steps. `share()`/`spread()` read `population`
    (an engine's `Population`); without one they are missing.
    """
    consts = Consts()
    queries = Queries()
    body = ExprCompiler(consts, {}, queries=queries).cond(e)
    params = ", ".join(consts.names + queries.names)
    src = f"def make({params}):\n    def check(ev):\n        return {body}\n    return check\n"
    factory = compile_source(src, unique_filename(kind, label), consts, "make")
    fns = population.queries(queries.specs) if population is not None else queries.unbound()
    return factory(*consts.values, *fns)


def compile_assertion(node: ast.Expr, case: TestCase):
    """An assertion → a function of a match view (checked like any condition)."""
    checker = ExprChecker()
    ctx = Ctx(case.scope, test_assert=True, where="an assertion")
    e = checker.cond(node, ctx)
    if checker.diags:
        raise TestError("; ".join(d.message for d in checker.diags))
    return compile_condition(e, "assert", case.name)


# ---------------------------------------------------------------- running


def _run(pack: PackSpec, events: list[dict], rule: str, options: dict | None = None):
    eng = Engine(pack, **{"lateness": 5.0, **(options or {})})
    out = []
    for ev in events:
        out.extend(eng.feed(ev))
    # Process what is still buffered (but decide no pending deadline) before looking at partials.
    out.extend(eng.advance(eng.max_time))
    partials = eng.partials(rule)
    out.extend(eng.close())
    mine = [m for m in out if m.rule == rule]
    return mine, partials, eng


def _describe_events(events: list[dict], limit: int = 8) -> str:
    lines = []
    for ev in events[:limit]:
        e = dict(ev)
        if isinstance(e.get("ts"), (int, float)):
            e["ts"] = f"+{e['ts'] - BASE_TIME:g}s" if e["ts"] >= BASE_TIME else format_ts(e["ts"])
        lines.append("      " + orjson.dumps(e, option=orjson.OPT_SORT_KEYS, default=str).decode()[:200])
    if len(events) > limit:
        lines.append(f"      ... and {len(events) - limit} more")
    return "\n".join(lines)


def _failure_q(case: TestCase, events, matches, partials, why: str, quarantine=None) -> str:
    out = [f"{why}", f"    rule: {case.rule}", f"    events ({len(events)}):", _describe_events(events)]
    if quarantine is not None and quarantine.total:
        # Events set aside never reach the rule: the commonest surprise is `late`
        # (a generator written after another, but earlier in time by more than 5 s).
        counts = ", ".join(f"{k} {v}" for k, v in sorted(quarantine.counts.items()))
        out.append(f"    quarantined ({counts}), so the rule never saw them:")
        for r in list(quarantine.records)[:4]:
            out.append(f"      {r.get('excerpt', '')}: {r.get('reason')}: {r.get('detail', '')[:160]}")
    if matches:
        out.append(f"    matches ({len(matches)}):")
        for m in matches[:3]:
            out.append("      " + m.to_json().decode()[:400])
    if partials:
        out.append("    nearest partial matches:")
        for p in partials[:3]:
            key = ", ".join(f"{k}={v}" for k, v in p["key"].items())
            out.append(f"      {key}: {p['text']}")
    elif not matches:
        out.append("    nearest partial matches: none (no event reached the rule's first step or window)")
    return "\n".join(out)


def check_expectations(case: TestCase, matches, events, partials, quarantine=None) -> tuple[bool, str]:
    """(passed, failure report) of a test's expectations against the rule's matches."""
    def _failure(*a):
        return _failure_q(*a, quarantine=quarantine)

    for item in case.decl.items:
        if isinstance(item, ast.ExpectNone):
            if matches:
                return False, _failure(case, events, matches, partials,
                                       f"expected no match, got {len(matches)}")
        elif isinstance(item, ast.ExpectCount):
            if len(matches) != item.count:
                return False, _failure(case, events, matches, partials,
                                       f"expected {item.count} match{'es' if item.count != 1 else ''}, "
                                       f"got {len(matches)}")
        elif isinstance(item, ast.ExpectMatch):
            if not matches:
                return False, _failure(case, events, matches, partials, "expected a match, got none")
            checks = [(a, compile_assertion(a, case)) for a in item.asserts]
            views = [match_view(m) for m in matches]
            if not any(all(fn(v) for _a, fn in checks) for v in views):
                from .unparse import unparse

                failing = []
                for a, fn in checks:
                    if not any(fn(v) for v in views):
                        failing.append(unparse(a))
                detail = "no match satisfies: " + "; ".join(failing or ["all assertions together"])
                return False, _failure(case, events, matches, partials, detail)
    return True, ""


def case_id(case: TestCase) -> str:
    """The id `sleuth test` and pytest give a test block: `"ato.ttp:88 one IP, many users"`.

    A derived mutation's id is this plus ` [label]`.
    """
    return f"{os.path.basename(case.file)}:{case.span.line} {case.name}"


def run_case(pack: PackSpec, case: TestCase, *, mutations: bool = True,
             options: dict | None = None) -> list[TestResult]:
    """Run one test block (and its derived mutations); `options` are `Engine(...)` options."""
    base_id = case_id(case)
    try:
        events = build_events(case)
    except TestError as exc:
        return [TestResult(base_id, case.rule, case.name, case.file, case.span.line, False, f"cannot build: {exc}")]
    try:
        matches, partials, eng = _run(pack, events, case.rule, options)
        ok, msg = check_expectations(case, matches, events, partials, eng.quarantine)
    except TestError as exc:
        return [TestResult(base_id, case.rule, case.name, case.file, case.span.line, False, str(exc))]
    results = [TestResult(base_id, case.rule, case.name, case.file, case.span.line, ok, msg,
                          events=len(events), matches=len(matches))]
    if mutations and ok and matches and _positive(case):
        spec = pack.rule(case.rule)
        for label, mutated in derive_mutations(spec, events, matches[0]):
            mm, mp, _e = _run(pack, mutated, case.rule, options)
            passed = len(mm) < len(matches)
            msg = "" if passed else _failure_q(case, mutated, mm, mp,
                                                f"mutation '{label}' should lose the match, "
                                                f"still {len(mm)} match(es)")
            results.append(TestResult(f"{base_id} [{label}]", case.rule, case.name, case.file, case.span.line,
                                      passed, msg, mutation=label, events=len(mutated), matches=len(mm)))
    return results


def _positive(case: TestCase) -> bool:
    return any(isinstance(i, ast.ExpectMatch) or (isinstance(i, ast.ExpectCount) and i.count > 0)
               for i in case.decl.items) and not any(isinstance(i, ast.EventsFile) for i in case.decl.items)


def derive_mutations(spec, events: list[dict], m) -> Iterable[tuple[str, list[dict]]]:
    """Boundary mutations of a positive test where they are well defined."""
    prov = m.provenance
    by_id = {ev.get("id"): n for n, ev in enumerate(events)}
    if prov.get("kind") == "sequence" and len(prov["steps"]) >= 2:
        steps = prov["steps"]
        last_ids = [e["id"] for e in steps[-1]["events"]]
        first_ids = [e["id"] for e in steps[0]["events"]]
        if all(i in by_id for i in last_ids + first_ids) and spec.within and not spec.absences:
            # Move the last step's events past `within` from the first step.
            t_first = m.first_ts
            shifted = []
            for ev in events:
                ev2 = dict(ev)
                if ev.get("id") in last_ids:
                    ev2["ts"] = t_first + spec.within + 1.0
                shifted.append(ev2)
            shifted.sort(key=lambda e: (e["ts"] if isinstance(e.get("ts"), (int, float)) else 0))
            yield "last step past within", shifted
            # Move the last step before the first.
            moved = []
            for ev in events:
                ev2 = dict(ev)
                if ev.get("id") in last_ids:
                    ev2["ts"] = t_first - 1.0
                moved.append(ev2)
            moved.sort(key=lambda e: (e["ts"] if isinstance(e.get("ts"), (int, float)) else 0))
            yield "last step before first", moved
        for s_spec, s in zip(spec.steps, steps):
            if s_spec.min > 1 and s["count"] >= s_spec.min and s["omitted"] == 0:
                drop = [e["id"] for e in s["events"]][: s["count"] - s_spec.min + 1]
                if all(i in by_id for i in drop):
                    yield f"'{s['step']}' below repeat {s_spec.min}", [e for e in events if e.get("id") not in drop]
                break
    elif prov.get("kind") == "window" and prov.get("window", {}).get("type") == "sliding":
        thr = _simple_threshold(spec)
        if thr is not None:
            label, n = thr
            if prov["values"].get(label) == n and prov.get("omitted", 0) == 0:
                ids = [e["id"] for e in prov["events"]]
                if ids and ids[-1] in by_id:
                    yield f"drop one event below {label} >= {n}", [e for e in events if e.get("id") != ids[-1]]


def _simple_threshold(spec) -> tuple[str, int] | None:
    """(`count()` or `distinct(x)`, N) when having is exactly `agg >= N`."""
    having = spec.explain_text.split("having:")[1].split("\n")[0] if "having:" in spec.explain_text else ""
    used = [a for a in spec.aggs if a.label in having]
    if len(used) != 1:
        return None
    a = used[0]
    if a.kind not in ("count", "distinct") or (a.kind == "count" and a.arg is not None):
        return None
    m = re.search(r">= *([0-9]+)", spec.explain_text.split("having:")[1].split("\n")[0]) if "having:" in spec.explain_text else None
    if m is None or " and " in spec.explain_text.split("having:")[1].split("\n")[0] \
            or " or " in spec.explain_text.split("having:")[1].split("\n")[0]:
        return None
    return a.label, int(m.group(1))


def run_tests(pack: PackSpec, *, pattern: str | None = None, mutations: bool = True,
              options: dict | None = None) -> list[TestResult]:
    """Run every test block of a compiled pack (tests come from `load_pack`).

    `options` are `Engine(...)` options (`sleuth test` gives the profile's
    OpenAPI documents and role overrides); the default lateness is 5 s.
    """
    results: list[TestResult] = []
    for case in pack.tests:
        if pattern and pattern not in case.name and pattern not in case.rule:
            continue
        results.extend(run_case(pack, case, mutations=mutations, options=options))
    return results


def junit_xml(results: list[TestResult], suite: str = "sleuth") -> str:
    """JUnit XML for CI systems."""
    from xml.sax.saxutils import escape, quoteattr

    fails = sum(1 for r in results if not r.passed)
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           f'<testsuite name={quoteattr(suite)} tests="{len(results)}" failures="{fails}" errors="0">']
    for r in results:
        out.append(f'  <testcase classname={quoteattr(os.path.basename(r.file))} name={quoteattr(r.id)}>')
        if not r.passed:
            out.append(f'    <failure message={quoteattr(r.message.splitlines()[0] if r.message else "failed")}>'
                       f"{escape(r.message)}</failure>")
        out.append("  </testcase>")
    out.append("</testsuite>")
    return "\n".join(out) + "\n"


__all__ = ["run_tests", "run_case", "case_id", "TestResult", "TestError", "build_events", "generate_events",
           "compile_condition", "match_view", "junit_xml", "BASE_TIME", "ir"]
