"""Text the playground prints: matches as provenance trees, near misses, events.

Rendering only: every function takes engine data (a `Match`, a partial
from `Engine.partials()`, a normalised event) and returns plain text, with
ANSI colour only when asked. Thresholds shown next to window values
("distinct(user)=17 of 20") are read from the rule's checked `having`
condition (`sleuth.dsl.ir`), not guessed from text.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from sleuth.dsl import ir
from sleuth.engine.duration import format_human
from sleuth.engine.match import format_ts

_FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "==", "!=": "!="}
_TOP_FIELDS = ("method", "path", "route", "status")


class Paint:
    """ANSI colour, or nothing (scripts, pipes, NO_COLOR)."""

    _CODES = {"bold": "1", "dim": "2", "red": "1;31", "green": "32", "yellow": "33", "cyan": "36",
              "magenta": "35"}

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, style: str, text: str) -> str:
        if not self.enabled or not text:
            return text
        return f"\x1b[{self._CODES[style]}m{text}\x1b[0m"


PLAIN = Paint(False)


# ---------------------------------------------------------------- values and times


def value_text(v: Any) -> str:
    """A value as a person reads it: strings bare, floats short, lists as JSON."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (int, str)):
        return str(v)
    return json.dumps(v, ensure_ascii=False, default=str)


def key_text(key: dict) -> str:
    return ", ".join(f"{k}={value_text(v)}" for k, v in key.items())


def ts_text(ts: float | None) -> str:
    return format_ts(ts) or "-"


# ---------------------------------------------------------------- thresholds


@attrs.frozen
class Threshold:
    """`label op value` taken from a rule's `having` (the aggregate on the left)."""

    label: str
    op: str
    value: Any

    def met(self, v: Any) -> bool | None:
        if v is None or isinstance(v, (list, dict, str)) and not isinstance(self.value, str):
            return None
        try:
            return {">=": v >= self.value, ">": v > self.value, "<=": v <= self.value,
                    "<": v < self.value, "==": v == self.value, "!=": v != self.value}[self.op]
        except TypeError:
            return None


def _walk(node):
    yield node
    if isinstance(node, ir.Agg):
        return
    if attrs.has(type(node)):
        for f in attrs.fields(type(node)):
            v = getattr(node, f.name)
            if isinstance(v, ir.Expr):
                yield from _walk(v)
            elif isinstance(v, tuple):
                for x in v:
                    if isinstance(x, ir.Expr):
                        yield from _walk(x)


def having_thresholds(rule: ir.Rule | None) -> tuple[list[str], list[Threshold]]:
    """(labels of the aggregates `having` reads, `agg op constant` comparisons in it)."""
    if rule is None or rule.having is None:
        return [], []
    labels: list[str] = []
    limits: list[Threshold] = []
    for node in _walk(rule.having):
        if isinstance(node, ir.Agg):
            if node.label() not in labels:
                labels.append(node.label())
        elif isinstance(node, ir.Compare):
            if isinstance(node.left, ir.Agg) and isinstance(node.right, ir.Const):
                limits.append(Threshold(node.left.label(), node.op, node.right.value))
            elif isinstance(node.right, ir.Agg) and isinstance(node.left, ir.Const):
                limits.append(Threshold(node.right.label(), _FLIP[node.op], node.left.value))
    return labels, limits


# ---------------------------------------------------------------- partial matches


def window_progress(values: dict, limits: list[Threshold]) -> float:
    """How close a window is to firing (0..1), from its `>=`/`>` thresholds."""
    fracs = []
    for t in limits:
        v = values.get(t.label)
        if t.op in (">=", ">") and isinstance(v, (int, float)) and isinstance(t.value, (int, float)) and t.value > 0:
            fracs.append(min(1.0, v / t.value))
    return sum(fracs) / len(fracs) if fracs else 0.5


def window_text(p: dict, labels: list[str], limits: list[Threshold], sliding: bool) -> str:
    """`distinct(user)=17 of 20, ratio(status == 200)=0 (< 0.05), window slides in 40s`."""
    values = p.get("values", {})
    shown = [lab for lab in labels if lab in values] or list(values)
    parts = []
    for lab in shown:
        v = values[lab]
        mine = [t for t in limits if t.label == lab]
        text = f"{lab}={value_text(v)}"
        ge = [t for t in mine if t.op == ">="]
        if ge and len(mine) == 1:
            text += f" of {value_text(ge[0].value)}"
        elif mine:
            text += " (" + " and ".join(f"{t.op} {value_text(t.value)}" for t in mine) + ")"
        parts.append(text)
    closes = p.get("closes_in")
    verb = "slides" if sliding else "closes"
    if p.get("stale_since") is not None:
        parts.append(f"as of the last event at {ts_text(p['stale_since'])} (older events have slid out since)")
    elif closes is not None:
        parts.append(f"window {verb} in {format_human(max(0.0, closes))}")
    return ", ".join(parts)


def sequence_text(p: dict, steps) -> str:
    """`stuck at step 1 ('fails'): needs >= 3 repeats of 'fails', has 2; expires in 29m28s`.

    From a sequence partial's fields and the rule's steps (`StepSpec`s).
    """
    j = p["step"] - 1
    s = steps[j]
    count = p["count"]
    if count < s.min:
        need = f"needs {'>= ' if s.max is None or s.max > s.min else ''}{s.min} repeats of '{s.name}', has {count}"
    elif j + 1 < len(steps):
        need = f"step '{s.name}' done; waiting for '{steps[j + 1].name}'"
    else:
        need = "complete"
    text = f"stuck at step {j + 1} ('{s.name}'): {need}"
    if p.get("expires_in") is not None:
        text += f"; expires in {format_human(p['expires_in'])}"
    return text


def partial_text(p: dict, labels: list[str], limits: list[Threshold], spec) -> str:
    """The near-miss sentence of one partial (after `rule, key: `); `spec` is its rule's `RuleSpec`."""
    if p.get("kind") == "window":
        return window_text(p, labels, limits, spec.window_kind == "sliding")
    if p.get("wait"):
        return p["text"]          # the playground's own sentence (a wait for a trailing absence)
    return sequence_text(p, spec.steps)


def partial_line(p: dict, text: str) -> str:
    key = key_text(p.get("key", {}))
    return f"{p['rule']}, {key}: {text}" if key else f"{p['rule']}: {text}"


def seq_state(p: dict) -> str:
    """A sequence partial in a few words: `step 1 'fails' 2 of 3`."""
    if "count" not in p:
        return "all steps done, waiting for the absence deadline"
    if p["count"] < p.get("needed", 1):
        return f"step {p['step']} '{p['step_name']}' {p['count']} of {p['needed']}"
    return f"step {p['step']} '{p['step_name']}' done" + (f" ({p['count']} events)" if p["count"] > 1 else "")


# ---------------------------------------------------------------- events and matches


def event_line(ev: dict, paint: Paint = PLAIN) -> str:
    """`e5  2026-01-01T00:00:08.000Z  POST /api/v1/login status=401 src_ip=... user=...`."""
    head = [paint("bold", str(ev.get("id", "?"))), ts_text(ev.get("ts"))]
    if "method" in ev:
        head.append(str(ev["method"]))
    if "path" in ev or "route" in ev:
        path = ev.get("path", ev.get("route"))
        route = ev.get("route")
        head.append(str(path) + (f" ({route})" if route is not None and route != path else ""))
    rest = [f"{k}={value_text(v)}" for k, v in ev.items()
            if k not in ("id", "ts", "method", "path", "route") and v is not None]
    return "  ".join(head) + ("  " + " ".join(rest) if rest else "")


def match_line(n: int, m, paint: Paint = PLAIN) -> str:
    """One line per match: `MATCH #1 credential_stuffing src_ip=... (high) at ...`."""
    key = key_text(m.key)
    return (f"{paint('red', 'MATCH')} #{n} {paint('bold', m.rule)}" + (f"  {key}" if key else "")
            + f"  ({m.severity})  at {ts_text(m.emitted_at)}")


def _fields_text(fields: dict | None) -> str:
    if not fields:
        return ""
    return " ".join(f"{k}={value_text(v)}" for k, v in fields.items())


def _event_rows(events: list[dict], indent: str, omitted: int = 0) -> list[str]:
    """One row per provenance event; the engine keeps the first ones and the newest,
    so the "not kept" marker goes before the newest."""
    rows = []
    for e in events:
        line = f"{indent}{e.get('id')}  {e.get('ts')}"
        fields = _fields_text(e.get("fields"))
        rows.append(line + (f"  {fields}" if fields else ""))
    if omitted:
        rows.insert(max(0, len(rows) - 1), f"{indent}... {omitted} more not kept")
    return rows


def match_tree(n: int, m, paint: Paint = PLAIN) -> str:
    """A match with its provenance as an indented tree (steps → events; window → values, events)."""
    d = m.to_dict()
    out = [match_line(n, m, paint),
           f"  ttp={m.ttp}  goal={m.goal}  first {d['first_ts']}  last {d['last_ts']}",
           f"  fingerprint {m.fingerprint}  match_id {m.match_id}"]
    if m.flags:
        out.append(f"  flags: {', '.join(m.flags)}")
    if m.fields:
        out.append("  fields:")
        for k, v in m.fields.items():
            out.append(f"    {k} = {value_text(v)}")
    prov = d["provenance"]
    kind = prov.get("kind")
    if kind in ("sequence", "join"):
        out.append(f"  {kind} within {prov.get('within') or 'no time limit'}")
        for s in prov.get("steps", []):
            count = s.get("count", len(s.get("events", [])))
            out.append(f"    step {s['step']}: {count} event{'s' if count != 1 else ''}")
            if "window" in s:
                out.extend(_window_rows(s["window"], "      "))
            else:
                out.extend(_event_rows(s.get("events", []), "      ", s.get("omitted", 0)))
        for a in prov.get("absences", []):
            if "between" in a:
                where = f"between {a['between'][0]} and {a['between'][1]}"
            else:
                where = f"after {a.get('after')} within {a.get('within')}"
                if a.get("checked_until"):
                    where += f", checked until {a['checked_until']}"
            out.append(f"    absence {a['name']} {where}: {'seen' if a.get('seen') else 'not seen'}")
        if prov.get("decided_at_watermark"):
            out.append(f"    decided when the watermark passed {prov['decided_at_watermark']}")
    elif kind == "window":
        out.extend(_window_rows(prov, "  "))
    elif kind == "event":
        out.append("  event")
        out.extend(_event_rows(prov.get("events", []), "    "))
    else:
        for k, v in prov.items():
            out.append(f"  {k}: {value_text(v)}")
    return "\n".join(out)


def _window_rows(prov: dict, indent: str) -> list[str]:
    w = prov.get("window", {})
    size = w.get("size") or (f"gap {w['gap']}" if w.get("gap") else "")
    shape = " ".join(x for x in ("window", w.get("type", ""), size) if x)
    out = [f"{indent}{shape}: {w.get('start')} .. {w.get('end')}"]
    for label, v in prov.get("values", {}).items():
        out.append(f"{indent}  {label} = {value_text(v)}")
    if prov.get("sustained"):
        s = prov["sustained"]
        out.append(f"{indent}  held for {s.get('windows')} windows ({s.get('for')})")
    count = prov.get("event_count", len(prov.get("events", [])))
    out.append(f"{indent}  events: {count}")
    out.extend(_event_rows(prov.get("events", []), indent + "    ", prov.get("omitted", 0)))
    if prov.get("capped"):
        out.append(f"{indent}  capped: {', '.join(prov['capped'])}")
    return out
