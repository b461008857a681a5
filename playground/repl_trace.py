"""The playground's view into the engine: partials at the session's clock, and what one event did.

`Trace` answers the questions of `partials` and step mode for a `Session`:
which partial matches and windows are live at the session's clock (which
may be later than the engine's last event, after `time +5m`), what one
fed event changed for each rule (partials started, advanced, dropped,
window values moving, matches), and why a sequence left an event alone
although it satisfies one of its steps. Step conditions are compiled with
`sleuth.dsl.testing.compile_condition` from `sleuth.dsl.lower.rule_conditions`;
texts are rendered from the partials' fields (`repl_render`), never by
editing the engine's text.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from sleuth.dsl import ir
from sleuth.dsl.lower import rule_conditions
from sleuth.dsl.testing import compile_condition
from sleuth.engine.match import format_ts

from . import repl_render as R


def partial_key(p: dict) -> tuple:
    """(rule, key, waiting) of a partial: how step mode matches a partial before and after an event."""
    return p["rule"], key_text(p["key"]), bool(p.get("wait"))


def key_text(key: dict) -> str:
    """A key as stable text (sorted JSON), for comparing and sorting partials."""
    return orjson.dumps(key, option=orjson.OPT_SORT_KEYS, default=str).decode()


class Trace:
    """Partials and step-mode reports for one `repl_session.Session`.

    It reads the session's current pack, checked rules, engine, clock and
    matches on every call (they change when rules are redefined or events
    fed); it never imports the session's module (which creates it).
    """

    def __init__(self, session):
        self.session = session
        self._checks: dict[str, tuple] = {}

    # ---------------------------------------------------------------- partials

    def thresholds(self, rule: str) -> tuple[list[str], list[R.Threshold]]:
        """The labels and thresholds of a window rule's `having` (empty for other rules)."""
        for r in self.session.checked.rules:
            if r.name == rule:
                return R.having_thresholds(r)
        return [], []

    def text(self, p: dict) -> str:
        """The near-miss sentence of one live partial."""
        labels, limits = self.thresholds(p["rule"])
        return R.partial_text(p, labels, limits, self.session.pack.rule(p["rule"]))

    def partials(self, rule: str | None = None, filters: dict[str, str] | None = None
                 ) -> list[tuple[dict, str, float]]:
        """Live partial matches (nearest first) as (partial, text, progress)."""
        rows = []
        for p in self.live_partials(rule):
            if filters and any(R.value_text(p["key"].get(k)) != v for k, v in filters.items()):
                continue
            labels, limits = self.thresholds(p["rule"])
            progress = p.get("progress", 0.0)
            if p.get("kind") == "window":
                progress = R.window_progress(p.get("values", {}), limits)
            rows.append((p, self.text(p), progress))
        rows.sort(key=lambda r: (-r[2], r[0]["rule"], key_text(r[0]["key"])))
        return rows

    def live_partials(self, rule: str | None = None) -> list[dict]:
        """`Engine.partials()` seen at the session's clock.

        The engine describes partials at the time of the last event it
        processed; after `time +5m` the watermark is later. Sequence
        partials past their `within` are left out and times left are
        counted from the watermark.
        """
        s = self.session
        delta = 0.0
        if s.clock is not None and s.engine.now != float("-inf"):
            delta = max(0.0, s.clock - s.engine.now)
        out = []
        for p in s.engine.partials(rule):
            if "waiting_until" in p:
                continue          # `_waiting` reports these, with the deadline
            if delta and p.get("kind") == "sequence" and p.get("expires_in") is not None:
                left = p["expires_in"] - delta
                if left < 0:
                    continue
                p = {**p, "expires_in": left}
            elif delta and p.get("kind") == "window" and p.get("closes_in") is not None:
                p = {**p, "closes_in": p["closes_in"] - delta}
                spec = s.pack.rule(p["rule"])
                if p["closes_in"] < 0 and spec.window_kind == "sliding":
                    newest = self._newest_in_window(p)
                    if newest is not None and s.clock - newest >= spec.window_size:
                        continue  # every event has slid out: the window is empty
                    p["stale_since"] = s.engine.now
            out.append(p)
        out.extend(self._waiting(rule))
        return out

    # The two readers below look into the machines' state, because `Engine.partials()`
    # describes partials at the engine's own time only, one per key: it has no way yet
    # to describe them at a later watermark, nor to list each pending trailing absence.

    def _newest_in_window(self, p: dict) -> float | None:
        """Time of the newest event in a sliding window (read from the machine's state)."""
        s = self.session
        machine = s.engine.machines[s.pack.rule(p["rule"]).index]
        for k, st in machine.states.items():
            if machine.key_dict(k) == p["key"]:
                events = getattr(getattr(st, "win", None), "events", None)
                return events[-1][0] if events else None
        return None

    def _waiting(self, rule: str | None) -> list[dict]:
        """Sequences whose steps are all done, waiting out a trailing absence.

        `Engine.partials()` shows one partial per key, and prefers a pending
        one over a match that only waits for its deadline; the waiting ones
        are read here from the machine's state (`SeqState.waits`).
        """
        clock = self.session.clock
        out = []
        for m in self.session.engine.machines:
            spec = m.spec
            if spec.kind != "sequence" or not spec.absences or (rule is not None and spec.name != rule):
                continue
            trailing = [a.name for a in spec.absences if a.end is None]
            for k, st in m.states.items():
                for w in getattr(st, "waits", None) or ():
                    deadline = w[0]
                    if clock is not None and deadline < clock:
                        continue
                    names = " or ".join(f"'{n}'" for n in trailing) or "the absence"
                    out.append({"rule": spec.name, "kind": "sequence", "key": m.key_dict(k), "wait": True,
                                "progress": 0.99, "waiting_until": deadline,
                                "text": f"all steps done; matches at {format_ts(deadline)} "
                                        f"unless {names} happens first"})
        return out

    # ---------------------------------------------------------------- step mode

    def step(self, ev: dict, feed: Callable[[list[dict]], None]) -> list[str]:
        """Feed one event (through `feed`); report the rules it touched and the transitions it caused."""
        s = self.session
        before = {partial_key(p): p for p in self.live_partials()}
        first = len(s.matches)
        feed([ev])
        after = {partial_key(p): p for p in self.live_partials()}
        fired = s.matches[first:]
        lines = [R.event_line(ev, s.paint)]
        touched = {m.rule for m in fired}
        completed = {(m.rule, key_text(m.key)) for m in fired}
        for k in sorted(set(before) | set(after)):
            b, a = before.get(k), after.get(k)
            change = self._transition(b, a, k[:2] in completed)
            if change:
                p = a or b
                touched.add(p["rule"])
                lines.append("  " + R.partial_line(p, change))
        for i, m in enumerate(fired):
            lines.append("  " + R.match_line(first + 1 + i, m, s.paint))
        for rule, key, why in self._why_not(ev, before, touched):
            lines.append("  " + R.partial_line({"rule": rule, "key": key}, why))
        if len(lines) == 1:
            lines.append("  no rule touched")
        return lines

    def _step_checks(self, rule: str) -> list[tuple[int, str, Callable, str]]:
        """(index, name, condition without references, reference text) per step, last first."""
        s = self.session
        cached = self._checks.get(rule)
        if cached is not None and cached[0] is s.pack:
            return cached[1]
        out = []
        for r in s.checked.rules:
            if r.name != rule:
                continue
            conds = rule_conditions(r)        # a sequence's step conditions come first, in order
            for st in r.steps:
                check = compile_condition(conds[st.index], "playground", f"{rule}.{st.name}")
                out.append((st.index, st.name, check, ir.ir_text(st.join) if st.join else ""))
        out.reverse()
        self._checks[rule] = (s.pack, out)
        return out

    def _why_not(self, ev: dict, before: dict, touched: set) -> list[tuple[str, dict, str]]:
        """Sequences an event left alone although it satisfies one of their steps, and why."""
        s = self.session
        out = []
        for spec in s.pack.rules:
            if spec.kind != "sequence" or spec.name in touched or spec.source != "events":
                continue
            for index, name, check, join in self._step_checks(spec.name):
                try:
                    hit = bool(check(ev))
                except Exception:
                    hit = False
                if not hit:
                    continue
                key = spec.key(ev) if spec.key is not None else ()
                if key is None:
                    out.append((spec.name, {}, f"the event satisfies step '{name}' but lacks the key "
                                               f"field(s) {', '.join(spec.key_names)}"))
                    break
                machine = s.engine.machines[spec.index]
                key_d = machine.key_dict(key) if spec.key_names else {}
                p = before.get((spec.name, key_text(key_d), False))
                if p is None:
                    if index > 0:
                        out.append((spec.name, key_d, f"the event satisfies step {index + 1} '{name}', but no "
                                                      f"partial of this key has reached step {index}"))
                        break
                    continue
                done = p.get("count", 0) >= p.get("needed", 1)
                waiting = p.get("step", 1) + (1 if done else 0)
                if index + 1 == waiting:
                    why = (f"the event satisfies step {index + 1} '{name}' but not its reference to "
                           f"earlier steps: {join}" if join else
                           f"the event satisfies step {index + 1} '{name}' but did not advance the partial "
                           f"(a step's time limit passed)")
                    out.append((spec.name, key_d, why))
                    break
                if index + 1 > waiting:
                    out.append((spec.name, key_d, f"the event satisfies step {index + 1} '{name}', but the "
                                                  f"partial is at {R.seq_state(p)}"))
                    break
        return out

    def _transition(self, b: dict | None, a: dict | None, completed: bool = False) -> str:
        if a is None and b is None:
            return ""
        p = a or b
        labels, limits = self.thresholds(p["rule"])
        if p.get("kind") == "window":
            if b is None:
                sliding = self.session.pack.rule(p["rule"]).window_kind == "sliding"
                return "window opened: " + R.window_text(a, labels, limits, sliding)
            if a is None:
                return "window emptied"
            if a.get("values") == b.get("values"):
                return ""
            changed = [lab for lab in (labels or list(a["values"]))
                       if a["values"].get(lab) != b["values"].get(lab)]
            parts = []
            for lab in changed:
                mine = [t for t in limits if t.label == lab]
                tail = ""
                if len(mine) == 1 and mine[0].op == ">=":
                    tail = f" of {R.value_text(mine[0].value)}"
                elif mine:
                    tail = " (" + " and ".join(f"{t.op} {R.value_text(t.value)}" for t in mine) + ")"
                parts.append(f"{lab} {R.value_text(b['values'].get(lab))} -> "
                             f"{R.value_text(a['values'].get(lab))}{tail}")
            return ", ".join(parts) or "window updated"
        if p.get("wait"):
            if b is None:
                return a["text"]
            if a is None:
                return "the wait ended" if self.session.clock >= b["waiting_until"] else \
                    "the absence happened: no match"
            return ""
        if completed and b is not None and "wait" not in b:
            done = f"{R.seq_state(b)} -> completed"
            if a is None:
                return done
            return f"{done}; the most advanced partial left is {R.seq_state(a)} (started {R.ts_text(a.get('started'))})"
        if b is None:
            return f"new partial at {R.seq_state(a)}"
        if a is None:
            return f"partial gone (was at {R.seq_state(b)})"
        if (a.get("step"), a.get("count"), a.get("started")) == (b.get("step"), b.get("count"), b.get("started")):
            return ""
        if a.get("started") != b.get("started"):
            return (f"{R.seq_state(b)} -> the most advanced partial is now {R.seq_state(a)} "
                    f"(started {R.ts_text(a.get('started'))})")
        return f"{R.seq_state(b)} -> {R.seq_state(a)}"


__all__ = ["Trace", "partial_key", "key_text"]
