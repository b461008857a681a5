"""The playground's state: rules being written, the events fed so far, the engine.

A `Session` holds the loaded pack files (path → text), the declarations
typed in the session (one in-memory rule file, `<session>.ttp`), the
compiled pack, an `Engine`, the log of what was fed and of every `time`
move, and the matches. Every change of rules recompiles the whole pack;
on any error nothing changes, otherwise the log is replayed into a fresh
engine, so the state always belongs to the current rules. No terminal is
involved: every operation returns an `Outcome` (success and text).

Time: each `feed` is processed at once (the watermark moves to the batch's
newest event, so windows and absences due by then are decided); events
older than the watermark are late, as in `sleuth run`. Relative times in
`feed repeat` continue from the session's current time.
"""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from sleuth.dsl import ast
from sleuth.dsl.diagnostic import Diagnostic, Related, render_all, sort_diagnostics
from sleuth.dsl.errors import RuleSyntaxError
from sleuth.dsl.lower import compile_pack
from sleuth.dsl.pack import check_paths, check_sources, find_rule_files
from sleuth.dsl.parse import parse_recovering
from sleuth.dsl.span import Span
from sleuth.dsl.testing import BASE_TIME, TestError, generate_events, run_case
from sleuth.dsl.unparse import format_source, quote, unparse
from sleuth.engine import Engine
from sleuth.engine.ingest import BadInput
from sleuth.engine.match import format_ts

from . import repl_render as R
from .repl_lexer import lex
from .repl_trace import Trace

SESSION_FILE = "<session>.ttp"
INPUT = "<input>"
STEP_SHOW = 50           # events shown one by one in step mode per feed; the rest go in one batch
LIST_LIMIT = 20          # partials and match trees shown before "... and K more"
_KINDS = {ast.RuleDecl: "rule", ast.MacroDecl: "macro", ast.ListDecl: "list", ast.Import: "import",
          ast.TestDecl: "test"}


@attrs.frozen
class Outcome:
    """What a command did: `ok` is False when it failed (the script's exit code)."""

    ok: bool
    text: str = ""
    quit: bool = False


@attrs.define
class Decl:
    """One declaration typed in the session, kept as written."""

    kind: str
    name: str
    text: str


@attrs.define
class Feed:
    """A fed batch (normalised events) and the watermark it moved to."""

    events: list
    until: float


@attrs.define
class Advance:
    to: float


@attrs.define
class Compiled:
    pack: Any
    checked: Any
    sources: dict
    layout: dict           # session decl key -> (start, end) offsets in the session text
    imports_at: int = 0    # where the generated imports start in the session text

    @property
    def errors(self) -> list[Diagnostic]:
        return self.checked.errors


def decl_key(decl: ast.Decl) -> tuple[str, str]:
    kind = _KINDS[type(decl)]
    if isinstance(decl, ast.Import):
        return kind, decl.path
    if isinstance(decl, ast.TestDecl):
        return kind, f"{decl.name} for {decl.rule}"
    return kind, decl.name


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _span_in(text: str, file: str, start: int, end: int) -> Span:
    line, col = _line_col(text, start)
    end_line, end_col = _line_col(text, max(start, end))
    return Span(file, line, col, end_line, end_col, start, end)


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


class Session:
    """Rules, events, engine and matches of one playground session."""

    def __init__(self, *, colour: bool = False, normalizer=None, options: dict | None = None, profile=None):
        """`options` are `Engine(...)` options (a deployment profile's, from `sleuth play`); `profile`
        also rewrites the constants and lists of the packs loaded (docs/deploying.md)."""
        from sleuth.engine.options import DEFAULTS, INGEST, build_normalizer, canonical

        self.paint = R.Paint(colour)
        self.colour = colour
        self.options = dict(options or {})
        self.profile = profile
        # Events are normalised here (to show them) and by the engine: one normaliser for both,
        # built by the engine's own path from the input options.
        self.normalizer = normalizer or build_normalizer(
            None, **{k: canonical(k, self.options.get(k, DEFAULTS[k])) for k in sorted(INGEST)})
        self._time_options = {k: v for k, v in self.options.items() if k in ("lateness", "grace", "max_keys")}
        self.pack_paths: list[str] = []
        self.pack_files: dict[str, str] = {}
        self.decls: dict[tuple[str, str], Decl] = {}
        self.log: list[Feed | Advance] = []
        self.matches: list = []
        self.clock: float | None = None
        self.next_id = 1
        self.step_mode = False
        self.quarantined = 0
        self.trace = Trace(self)
        compiled = self._compile(self.pack_files, self.decls)
        self._commit(compiled)
        self.engine = self._new_engine()

    # ---------------------------------------------------------------- compiling

    def session_text(self, decls: dict | None = None) -> str:
        """The session's rule file as the user wrote it (no generated imports)."""
        decls = self.decls if decls is None else decls
        return "".join(d.text + "\n\n" for d in decls.values())

    def _compile(self, pack_files: dict[str, str], decls: dict) -> Compiled:
        parts: list[str] = []
        layout: dict = {}
        pos = 0
        for key, d in decls.items():
            layout[key] = (pos, pos + len(d.text))
            parts.append(d.text + "\n\n")
            pos += len(d.text) + 2
        # The session sees the pack's macros and lists: it imports every pack
        # file, at the end so the lines the user typed keep their numbers.
        own_rules = {name for (kind, name) in decls if kind == "rule"}
        sources: dict[str, str] = {}
        for path, text in pack_files.items():
            for kind, name, start, end in _pack_decls(path, text):
                if kind == "rule" and name in own_rules:
                    text = _blank(text, start, end)     # the session's definition overrides it
            sources[path] = text
            parts.append(f"import {quote(path)}\n")
        sources[SESSION_FILE] = "".join(parts)
        checked = check_sources(sources)
        pack = None if checked.errors else compile_pack(checked, name="playground")
        return Compiled(pack, checked, checked.sources, layout, pos)

    def _commit(self, compiled: Compiled) -> None:
        self.compiled = compiled
        self.pack = compiled.pack
        self.checked = compiled.checked

    def _new_engine(self) -> Engine:
        # Interactive: every event counts as it is typed, so the first one needs no
        # second event to confirm the clock (future_confirm=1).
        return Engine(self.pack, normalizer=self.normalizer, future_confirm=1, **self._time_options)

    def _render(self, diags: list[Diagnostic], sources: dict) -> str:
        return render_all(sort_diagnostics(diags), sources, colour=self.colour)

    def _replay(self) -> str:
        """A fresh engine, fed the whole log again; says so."""
        self.engine = self._new_engine()
        self.matches = []
        events = 0
        for entry in self.log:
            if isinstance(entry, Feed):
                self.matches.extend(self.engine.feed_many(entry.events))
                self.matches.extend(self.engine.advance(entry.until))
                events += len(entry.events)
            else:
                self.matches.extend(self.engine.advance(entry.to))
        if not self.log:
            return ""
        by_rule: dict[str, int] = {}
        for m in self.matches:
            by_rule[m.rule] = by_rule.get(m.rule, 0) + 1
        detail = " (" + ", ".join(f"{k} {v}" for k, v in by_rule.items()) + ")" if by_rule else ""
        return (f"replayed {events} event{'s' if events != 1 else ''} into a fresh engine: "
                f"{len(self.matches)} match{'es' if len(self.matches) != 1 else ''}{detail}")

    # ---------------------------------------------------------------- defining

    def define(self, block: str) -> Outcome:
        """Add or replace the rules, macros, lists, imports and tests written in `block`."""
        module, syntax = parse_recovering(block, INPUT)
        if syntax:
            return Outcome(False, self._render(syntax, {INPUT: block}) + "\nnothing changed")
        if not module.decls:
            return Outcome(True)
        new = dict(self.decls)
        placed: dict[tuple[str, str], int] = {}       # key -> offset of its text in the block
        said: list[str] = []
        start = 0
        decls = list(module.decls)
        for i, decl in enumerate(decls):
            # A declaration's text runs from the end of the one before (so the
            # comments above it come along) to its own end (the last one: to
            # the end of the block).
            end = decl.span.end if i + 1 < len(decls) else len(block)
            chunk = block[start:end]
            key = decl_key(decl)
            verb = "replaced" if key in new else "defined"
            new[key] = Decl(key[0], key[1], chunk.strip())
            placed[key] = start + len(chunk) - len(chunk.lstrip())
            said.append(self._said(key, verb))
            start = end
        compiled = self._compile(self.pack_files, new)
        mine, other = self._split(compiled, placed, new, block)
        if compiled.errors:
            errors = [d for d in mine if d.is_error]
            text = ""
            if errors:
                text = self._render(errors, {INPUT: block})
            others = [d for d in other if d.is_error]
            if others:
                text += ("\n\n" if text else "") + self._render(others, compiled.sources)
            return Outcome(False, text + "\nnothing changed")
        self._commit(compiled)
        self.decls = new
        out = list(said)
        warnings = [d for d in mine if not d.is_error]
        if warnings:
            out.append(self._render(warnings, {INPUT: block}))
        # Tests do not change what runs: the engine's state stays valid.
        replay = "" if all(k[0] == "test" for k in placed) else self._replay()
        if replay:
            out.append(replay)
        return Outcome(True, "\n".join(out))

    def _said(self, key: tuple[str, str], verb: str) -> str:
        kind, name = key
        if kind == "import":
            return f"import {quote(name)} {verb}"
        if kind == "test":
            return f"test \"{name.rsplit(' for ', 1)[0]}\" {verb}"
        note = ""
        if kind == "rule" and verb == "defined":
            for path, text in self.pack_files.items():
                for k, n, start, _end in _pack_decls(path, text):
                    if k == "rule" and n == name:
                        line = text.count("\n", 0, start) + 1
                        note = f" (overrides the rule of {path}:{line})"
        return f"{kind} '{name}' {verb}{note}"

    def _split(self, compiled: Compiled, placed: dict, decls: dict, block: str):
        """Diagnostics of the new block, moved onto the block's own lines, and the others."""
        ranges = [(compiled.layout[k], off) for k, off in placed.items() if k in compiled.layout]

        def move(span: Span) -> Span | None:
            if span.file != SESSION_FILE:
                return None
            for (a, b), off in ranges:
                if a <= span.start <= b:
                    s = span.start - a + off
                    e = min(span.end, b) - a + off
                    return _span_in(block, INPUT, s, e)
            return None

        mine, other = [], []
        for d in compiled.checked.diagnostics:
            sp = move(d.span)
            if sp is None:
                if d.span.file == SESSION_FILE and d.span.start >= compiled.imports_at:
                    continue          # about the generated imports: not the user's business
                other.append(d)
                continue
            related = []
            for r in d.related:
                rs = move(r.span)
                related.append(Related(r.message, rs) if rs is not None else r)
            mine.append(Diagnostic(d.code, d.severity, d.message, sp, d.hints, related))
        return mine, other

    def drop(self, name: str) -> Outcome:
        """Remove a rule, macro, list or test of the session."""
        keys = [k for k in self.decls if k[1] == name or (k[0] == "test" and k[1].rsplit(" for ", 1)[0] == name)]
        if not keys:
            return Outcome(False, f"the session defines nothing named '{name}'")
        new = {k: v for k, v in self.decls.items() if k not in keys}
        compiled = self._compile(self.pack_files, new)
        if compiled.errors:
            return Outcome(False, self._render(compiled.errors, compiled.sources) + "\nnothing changed")
        self._commit(compiled)
        self.decls = new
        out = [f"{k[0]} '{name}' dropped" for k in keys]
        replay = self._replay()
        return Outcome(True, "\n".join(out + ([replay] if replay else [])))

    # ---------------------------------------------------------------- packs

    def load(self, path: str) -> Outcome:
        """Add the rule files of a pack folder or file."""
        from sleuth.dsl.pack import builtin_pack_path

        if path in ("builtin", "api"):
            path = builtin_pack_path()
        if not os.path.exists(path):
            return Outcome(False, f"no such file or folder: {path}")
        files, err = self._read_files([path])
        if err:
            return Outcome(False, err)
        return self._set_pack({**self.pack_files, **files}, self.pack_paths + [path], f"loaded {path}")

    def reload(self) -> Outcome:
        """Read every loaded pack file again from disk."""
        if not self.pack_paths:
            return Outcome(False, "nothing loaded yet (load PATH first)")
        files, err = self._read_files(self.pack_paths)
        if err:
            return Outcome(False, err + "\nnothing changed")
        return self._set_pack(files, list(self.pack_paths), "reloaded")

    def _read_files(self, paths: list[str]) -> tuple[dict[str, str], str]:
        """The rule files of `paths`, with the profile's constants and lists written in."""
        files, err = _read_files(paths)
        if err or self.profile is None or not (self.profile.constants or self.profile.lists):
            return files, err
        from sleuth.dsl.profile import ProfileError, profile_sources

        try:
            return profile_sources(paths, self.profile), ""
        except ProfileError as exc:
            return {}, exc.render(colour=self.colour, limit=None)

    def _set_pack(self, files: dict[str, str], paths: list[str], verb: str) -> Outcome:
        compiled = self._compile(files, self.decls)
        if compiled.errors:
            return Outcome(False, self._render(compiled.errors, compiled.sources) + "\nnothing changed")
        self._commit(compiled)
        self.pack_files = files
        self.pack_paths = paths
        pack_rules = [r for r in self.pack.rules if r.file != SESSION_FILE]
        own = {name for (kind, name) in self.decls if kind == "rule"}
        shadowed = sorted({n for f, t in files.items() for k, n, _s, _e in _pack_decls(f, t)
                           if k == "rule" and n in own})
        out = [f"{verb}: {len(files)} file{'s' if len(files) != 1 else ''}, {len(pack_rules)} "
               f"rule{'s' if len(pack_rules) != 1 else ''}"
               + (f" ({', '.join(r.name for r in pack_rules[:8])}{', ...' if len(pack_rules) > 8 else ''})"
                  if pack_rules else "")
               + (f"; overridden by the session: {', '.join(shadowed)}" if shadowed else "")]
        replay = self._replay()
        if replay:
            out.append(replay)
        return Outcome(True, "\n".join(out))

    # ---------------------------------------------------------------- time

    @property
    def now(self) -> float:
        """The session's current time (the watermark); the test base time before any event."""
        return self.clock if self.clock is not None else BASE_TIME

    def advance(self, to: float) -> Outcome:
        """Move the watermark to `to`: windows close and absences fire."""
        if self.clock is not None and to < self.clock:
            return Outcome(False, f"time only moves forward: it is already {format_ts(self.clock)}")
        before = len(self.live_partials())
        fired = self.engine.advance(to)
        self.log.append(Advance(to))
        self.clock = to
        first = len(self.matches) + 1
        self.matches.extend(fired)
        after = len(self.live_partials())
        out = [f"time is now {format_ts(to)}"]
        if fired:
            out.append(f"{len(fired)} match{'es' if len(fired) != 1 else ''} fired:")
            out.extend(R.match_line(first + i, m, self.paint) for i, m in enumerate(fired))
        else:
            out.append("nothing fired")
        if after != before:
            out.append(f"live partial matches: {before} -> {after}")
        return Outcome(True, "\n".join(out))

    # ---------------------------------------------------------------- feeding

    def prepare(self, raw_events: list) -> tuple[list[dict], list[str]]:
        """Normalise events for the engine: ids `e1, e2, ...` and times filled in where missing."""
        good: list[dict] = []
        bad: list[str] = []
        last = self.clock
        for n, raw in enumerate(raw_events, 1):
            eid = f"event {n} of the batch" if len(raw_events) > 1 else "the event"
            if isinstance(raw, dict):
                raw = dict(raw)
                if raw.get("id") is None:
                    raw["id"] = f"e{self.next_id}"
                    self.next_id += 1
                eid = str(raw["id"])
            try:
                ev = self.normalizer(raw, "<feed>", self.next_id)
            except BadInput as exc:
                if exc.reason == "no-time" and isinstance(raw, dict) and "ts" not in raw:
                    raw["ts"] = last + 1.0 if last is not None else BASE_TIME
                    try:
                        ev = self.normalizer(raw, "<feed>", self.next_id)
                    except BadInput as exc2:
                        bad.append(f"{eid}: {exc2.reason}: {exc2.detail}")
                        continue
                else:
                    bad.append(f"{eid}: {exc.reason}: {exc.detail}")
                    continue
            last = ev["ts"] if last is None else max(last, ev["ts"])
            good.append(ev)
        self.quarantined += len(bad)
        return good, bad

    def feed(self, raw_events: list, *, what: str = "") -> Outcome:
        """Feed events (mappings); in step mode, one at a time with what each one did."""
        events, bad = self.prepare(raw_events)
        out: list[str] = []
        if bad:
            out.append(f"{len(bad)} event{'s' if len(bad) != 1 else ''} quarantined:")
            out.extend(f"  {b}" for b in bad[:10])
            if len(bad) > 10:
                out.append(f"  ... and {len(bad) - 10} more")
        if not events:
            out.append("no event fed")
            return Outcome(not bad, "\n".join(out))
        late0 = self.engine.metrics["late"]
        first = len(self.matches) + 1
        if self.step_mode:
            shown, rest = events[:STEP_SHOW], events[STEP_SHOW:]
            for ev in shown:
                out.extend(self.trace.step(ev, self._batch))
            if rest:
                out.append(f"step mode shows {STEP_SHOW} events; the other {len(rest)} are fed at once")
                self._batch(rest)
        else:
            self._batch(events)
        new = self.matches[first - 1:]
        late = self.engine.metrics["late"] - late0
        ids = f" ({events[0]['id']}..{events[-1]['id']})" if len(events) > 1 else f" ({events[0]['id']})"
        summary = (f"fed {len(events)} {what + ' ' if what else ''}event{'s' if len(events) != 1 else ''}"
                   f"{ids if len(events) <= 1000 else ''}; time is now {format_ts(self.clock)}")
        if late:
            summary += f"; {late} late (behind the watermark) and quarantined"
        if not self.step_mode or len(events) > STEP_SHOW:
            out.append(summary)
            out.extend(R.match_line(first + i, m, self.paint) for i, m in enumerate(new[:LIST_LIMIT]))
            if len(new) > LIST_LIMIT:
                out.append(f"... and {len(new) - LIST_LIMIT} more matches (see: matches)")
        else:
            out.append(summary)
        return Outcome(not bad, "\n".join(out))

    def _batch(self, events: list[dict]) -> None:
        top = max(ev["ts"] for ev in events)
        until = top if self.clock is None else max(self.clock, top)
        self.matches.extend(self.engine.feed_many(events))
        self.matches.extend(self.engine.advance(until))
        self.log.append(Feed(events, until))
        self.clock = until

    def interrupted(self) -> Outcome:
        """After Ctrl-C inside a command: back to the state the log describes."""
        last = self.log[-1] if self.log else None
        self.clock = None if last is None else (last.until if isinstance(last, Feed) else last.to)
        self._replay()
        return Outcome(False, "interrupted; the events fed before this command are kept")

    def generate(self, text: str) -> tuple[list[dict] | None, str]:
        """Events of the test-generator syntax (`repeat 30 { ts = 2s * i ... }`, `{ ... }`).

        Relative times (durations) count from the session's current time.
        """
        prefix = 'test "feed" for feed { events { '
        wrapped = prefix + text + "\n} }"
        module, syntax = parse_recovering(wrapped, INPUT)
        if syntax:
            moved = []
            for d in syntax:
                s = max(0, min(len(text), d.span.start - len(prefix)))
                e = max(s, min(len(text), d.span.end - len(prefix)))
                moved.append(Diagnostic(d.code, d.severity, d.message, _span_in(text, INPUT, s, e), d.hints))
            return None, self._render(moved, {INPUT: text})
        (decl,) = module.decls
        try:
            events = [ev for item in decl.items for ev in generate_events(item.gens, self.now, self.clock)]
        except TestError as exc:
            return None, f"cannot build the events: {exc}"
        return events, ""

    def simulate(self, seconds: float, seed: int) -> tuple[list[dict] | None, str]:
        """Simulated traffic (`sleuth simulate`) starting at the session's current time."""
        from .simulate import SimConfig, generate

        start = format_ts(self.clock) if self.clock is not None else SimConfig().start
        try:
            sim = generate(SimConfig(hours=seconds / 3600.0, seed=seed, start=start))
        except ValueError as exc:
            return None, f"cannot simulate: {exc}"
        return sim.events, ""

    def read_file(self, path: str) -> tuple[list | None, str]:
        """Records of a file in any format the readers know (`sleuth.engine.ingest`)."""
        from sleuth.engine.ingest import Bad, open_source

        if not os.path.isfile(path):
            return None, f"no such file: {path}"
        items: list = []
        bad = 0
        try:
            for _pos, item in open_source(path):
                if isinstance(item, Bad):
                    bad += 1
                else:
                    items.append(item)
        except (OSError, ValueError) as exc:
            return None, f"cannot read {path}: {exc}"
        return items, (f"{bad} unreadable record{'s' if bad != 1 else ''} skipped" if bad else "")

    # ---------------------------------------------------------------- looking

    def partials(self, rule: str | None = None, filters: dict[str, str] | None = None
                 ) -> list[tuple[dict, str, float]]:
        """Live partial matches at the session's clock (nearest first) as (partial, text, progress)."""
        return self.trace.partials(rule, filters)

    def live_partials(self, rule: str | None = None) -> list[dict]:
        """`Engine.partials()` seen at the session's clock (see `Trace.live_partials`)."""
        return self.trace.live_partials(rule)

    def rule_names(self) -> list[str]:
        return [r.name for r in self.pack.rules] if self.pack is not None else []

    def origin(self, rule) -> str:
        return "session" if rule.file == SESSION_FILE else f"{rule.file}:{rule.line}"

    def run_tests(self, rule: str | None = None):
        """Results of the embedded tests (of one rule, or all)."""
        results = []
        for case in self.pack.tests:
            if rule is None or case.rule == rule:
                results.extend(run_case(self.pack, case))
        return results

    def reset(self) -> Outcome:
        n = sum(len(e.events) for e in self.log if isinstance(e, Feed))
        m = len(self.matches)
        self.log = []
        self.matches = []
        self.clock = None
        self.next_id = 1
        self.quarantined = 0
        self.engine = self._new_engine()
        return Outcome(True, f"cleared {n} event{'s' if n != 1 else ''} and {m} match{'es' if m != 1 else ''}; "
                             f"rules kept")

    # ---------------------------------------------------------------- saving

    def save(self, path: str) -> Outcome:
        """Write the session's declarations to `path` in canonical form, then `sleuth check` it."""
        decls = [d for d in self.decls.values()]
        if not decls:
            return Outcome(False, "the session defines nothing yet: type a rule first")
        body = "".join(d.text + "\n\n" for d in decls)
        imports, copies = self._imports_for(body, path)
        text = ("".join(f"import {quote(p)}\n" for p in imports) + ("\n" if imports else "")
                + "".join(c + "\n\n" for c in copies) + body)
        try:
            text = format_source(text, path)
        except RuleSyntaxError as exc:        # cannot happen for checked text; say so if it does
            return Outcome(False, exc.render())
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError as exc:
            return Outcome(False, f"cannot write {path}: {exc.strerror or exc}")
        checked = check_paths([path])
        errors = checked.errors
        warnings = len(checked.diagnostics) - len(errors)
        counts: dict[str, int] = {}
        for d in decls:
            counts[d.kind] = counts.get(d.kind, 0) + 1
        what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items())
        head = f"saved {what} to {path}"
        if errors:
            return Outcome(False, head + "\nbut sleuth check finds errors:\n"
                           + self._render(errors, checked.sources))
        return Outcome(True, f"{head}\nsleuth check {path}: 0 errors, {warnings} warning{'s' if warnings != 1 else ''}")

    def _imports_for(self, body: str, path: str) -> tuple[list[str], list[str]]:
        """What the saved file needs from the pack: (imports, copied declarations).

        A pack file whose macros or lists the session uses is imported; but
        importing brings its rules along, so when the session overrides one
        of them the macros and lists used (and those they use) are copied
        instead, with list file paths rebased.
        """
        words = _words(body)
        own_rules = {name for (kind, name) in self.decls if kind == "rule"}
        own = {name for (kind, name) in self.decls if kind in ("macro", "list")}
        folder = os.path.dirname(os.path.abspath(path))
        imports: list[str] = []
        copies: list[str] = []
        for file, text in self.pack_files.items():
            decls = _pack_decls(file, text)
            names = {n: (s, e) for k, n, s, e in decls if k in ("macro", "list")}
            used = (set(names) & words) - own
            if not used:
                continue
            if not any(k == "rule" and n in own_rules for k, n, _s, _e in decls):
                imports.append(os.path.relpath(os.path.abspath(file), folder))
                continue
            todo, done = sorted(used), set()
            while todo:
                name = todo.pop()
                if name in done:
                    continue
                done.add(name)
                s_, e_ = names[name]
                todo.extend(sorted((set(names) & _words(text[s_:e_])) - done - own))
            module, _ = parse_recovering(text, file)
            for decl in module.decls:
                if isinstance(decl, (ast.MacroDecl, ast.ListDecl)) and decl.name in done:
                    if isinstance(decl, ast.ListDecl) and decl.file is not None:
                        src = os.path.join(os.path.dirname(os.path.abspath(file)), decl.file)
                        decl = attrs.evolve(decl, file=os.path.relpath(src, folder))
                    copies.append(f"# copied from {file}\n{unparse(decl)}")
        return imports, copies

    def report(self, path: str, interval: str | None = None) -> Outcome:
        """Write the offline HTML report (docs/report.md) of the session: its matches, events, quarantine, rules."""
        from .report import ReportInputError, ReportUsageError, write_report

        if not self.matches:
            return Outcome(False, "no match yet: nothing to report")
        events = [ev for item in self.log if isinstance(item, Feed) for ev in item.events]
        try:
            figures = write_report(path, [m.to_dict() for m in self.matches], events=events,
                                   quarantine=self.engine.quarantine, pack=self.pack, interval=interval,
                                   title="sleuth playground")
        except (ReportInputError, ReportUsageError) as exc:
            return Outcome(False, str(exc))
        s = figures["summary"]
        return Outcome(True, f"wrote {path}: {s['matches']} matches, {s['rules']} rules, "
                             f"{s['unique']} unique TTPs")

    def stats(self) -> str:
        s = self.engine.stats()
        fed = sum(len(e.events) for e in self.log if isinstance(e, Feed))
        lines = [f"events: {fed} fed, {s['events_processed']} processed, {self.quarantined} quarantined as bad input, "
                 f"{s['late']} late",
                 f"time: {format_ts(self.clock) if self.clock is not None else 'no event yet'}",
                 f"matches: {s['matches']}" + (f" ({s['suppressed']} suppressed)" if s["suppressed"] else "")]
        fired = {k: v for k, v in s["matches_by_rule"].items() if v}
        if fired:
            lines.append("  by rule: " + ", ".join(f"{k} {v}" for k, v in fired.items()))
        keys = {k: v for k, v in s["keys_by_rule"].items() if v}
        lines.append("live keys: " + (", ".join(f"{k} {v}" for k, v in keys.items()) if keys else "none"))
        if s["rule_errors"]:
            lines.append(f"rule errors: {s['rule_errors']}")
        if s["unique_ttps"]:
            lines.append("unique TTPs: " + ", ".join(f"{k} {v}" for k, v in s["unique_ttps"].items()))
        n_rules = len(self.pack.rules) if self.pack else 0
        own = sum(1 for k in self.decls if k[0] == "rule")
        lines.append(f"rules: {n_rules} ({own} from the session, {n_rules - own} from "
                     f"{len(self.pack_files)} pack file{'s' if len(self.pack_files) != 1 else ''})")
        return "\n".join(lines)


def _words(text: str) -> set[str]:
    """The names in rule text, as the grammar's lexer reads them."""
    return {text[p.start:p.end] for p in lex(text) if p.type in ("NAME", "SEGMENT")}


_PACK_DECLS: dict[tuple[str, str], list] = {}


def _pack_decls(path: str, text: str) -> list[tuple[str, str, int, int]]:
    """(kind, name, start, end) of the declarations of a pack file (cached by text)."""
    hit = _PACK_DECLS.get((path, text))
    if hit is None:
        module, _diags = parse_recovering(text, path)
        hit = []
        for d in module.decls:
            kind, name = decl_key(d)
            hit.append((kind, name, d.span.start, d.span.end))
        if len(_PACK_DECLS) > 256:
            _PACK_DECLS.clear()
        _PACK_DECLS[(path, text)] = hit
    return hit


def _read_files(paths: list[str]) -> tuple[dict[str, str], str]:
    files: dict[str, str] = {}
    for p in paths:
        for f in find_rule_files(p):
            rel = os.path.relpath(f)
            disp = os.path.normpath(rel if not rel.startswith("..") else f)
            try:
                with open(f, encoding="utf-8") as fh:
                    files[disp] = fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                return {}, f"cannot read {f}: {exc}"
    if not files:
        return {}, f"no rule files (.ttp) in {', '.join(paths)}"
    return files, ""
