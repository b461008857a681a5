"""`sleuth play`: the playground REPL: write rules, feed events, watch and explain.

Three layers: `repl_session.Session` holds the state and does the work (no
terminal; `repl_trace.Trace` reads partials and step-mode changes for it),
`Shell` here turns one submitted block of text into a command
and its printed `Outcome`, and two front ends feed it blocks: the
interactive prompt (prompt_toolkit: multi-line blocks while brackets are
open, highlighting from the grammar's lexer, completion, history, a
toolbar with the parse state) and the script reader (stdin that is not a
terminal, or `--script FILE`: the same blocks, echoed as `> ...`, plain
output, exit code 1 if any command failed).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable

import attrs
import orjson

from sleuth.dsl.diagnostic import closest
from sleuth.engine.duration import format_human, parse_compound
from sleuth.engine.ingest import BadInput, parse_time
from sleuth.engine.match import format_ts

from . import repl_render as R
from .repl_lexer import block_complete, bracket_depth
from .repl_session import LIST_LIMIT, Outcome, Session

DEFAULT_HISTORY = "~/.sleuth_history"
DECL_WORDS = ("rule", "macro", "list", "import", "test")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S+")
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*#[^\n]*\n|[ \t]*\n)+")


@attrs.frozen
class Command:
    """A REPL command: how to call it, one line for `help`, more for `help NAME`."""

    name: str
    usage: str
    summary: str
    detail: str = ""


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("help", "help [COMMAND]", "list the commands, or explain one"),
    Command("load", "load PATH", "load a rule pack folder or rule file",
            "Its rules run, and its macros and lists can be used by the rules you type.\n"
            "'load builtin' loads the shipped pack. Errors are shown and nothing changes."),
    Command("reload", "reload", "read the loaded pack files again from disk",
            "The events fed so far are replayed into a fresh engine with the new rules."),
    Command("rules", "rules", "list the rules: kind, key, where they come from, matches"),
    Command("show", "show [NAME]", "print the session's rule file, or one declaration of it"),
    Command("drop", "drop NAME", "remove a rule, macro, list or test from the session"),
    Command("feed", "feed EVENTS | feed FILE | feed repeat N { ... } | feed sim DURATION [seed N]",
            "feed events to the rules",
            "feed {\"ts\": \"2026-11-27T10:00:00Z\", \"src_ip\": \"203.0.113.7\", \"user\": \"bob\"}\n"
            "    one JSON object, a JSON array, or JSON lines (a line starting with '{' feeds too)\n"
            "feed events.jsonl\n"
            "    a file in any format 'sleuth run' reads (JSON lines, JSON, msgpack, access logs, CSV)\n"
            "feed repeat 30 { ts = 2s * i  src_ip = \"203.0.113.7\"  user = \"user{i}\" }\n"
            "    the generator syntax of rule tests; durations are relative to the current time,\n"
            "    'i' counts from 0, an event without ts comes 1s after the one before\n"
            "feed sim 10m seed 3\n"
            "    simulated API traffic with attacks (as 'sleuth simulate'), from the current time\n"
            "Events without an id are named e1, e2, ...; after each feed the watermark moves to the\n"
            "newest event, so windows and absences due by then are decided."),
    Command("time", "time [+DURATION | TIME]", "show or move the watermark: windows close, absences fire",
            "time +5m                     move 5 minutes forward\n"
            "time 2026-11-27T10:00:00Z    move to that time\n"
            "Shows the matches this decided."),
    Command("step", "step [on|off]", "step mode: show what each fed event does to each rule",
            "In step mode every event fed is shown with the rules it touched: partial matches\n"
            "started, advanced, restarted or dropped, window values changing, matches."),
    Command("partials", "partials [RULE] [FIELD=VALUE ...]", "live partial matches: why a rule has not fired (yet)",
            "Nearest to firing first. Sequences say the step they are stuck at and when they\n"
            "expire; windows show the values 'having' reads against its thresholds."),
    Command("matches", "matches [RULE]", "the matches so far, with provenance",
            "Each match as a tree: steps and the events that filled them, or the window with\n"
            "its values and events, with the fields the rule read."),
    Command("explain", "explain RULE", "a rule's compiled machine and generated code"),
    Command("test", "test [RULE]", "run the tests written in the rules (session and pack)",
            "Written as: test \"name\" for RULE { events { ... } expect match { ... } }"),
    Command("report", "report FILE [INTERVAL]", "write an offline HTML report of the session (as 'sleuth report')",
            "The matches so far with their provenance, the events fed (field coverage), the\n"
            "quarantine and the rules' text; INTERVAL (5m, 1h) sets the timeline's step."),
    Command("save", "save FILE", "write the session's declarations to a rule file (canonical, checked)",
            "The file gets imports for the pack files whose macros or lists it uses, is written\n"
            "in canonical form (as 'sleuth fmt') and is checked (as 'sleuth check')."),
    Command("reset", "reset", "forget the events, matches and engine state; keep the rules"),
    Command("stats", "stats", "counters: events, matches, live keys, quarantine"),
    Command("quit", "quit", "leave the playground (also: exit, Ctrl-D)"),
)}
COMMAND_WORDS = frozenset(COMMANDS) | {"exit"}

INTRO = "sleuth playground: type a rule or a command ('help' lists them); Ctrl-D quits"


class Shell:
    """One submitted block of text → one command → its `Outcome`."""

    def __init__(self, session: Session):
        self.session = session

    @property
    def paint(self) -> R.Paint:
        return self.session.paint

    def run(self, block: str) -> Outcome:
        text = block.strip()
        if not text or text.startswith("#") and "\n" not in text:
            return Outcome(True)
        if text[0] in "{[":
            return self.cmd_feed(text)
        # Comment lines above a definition belong to it; they do not make a command.
        head = _LEADING_COMMENTS.sub("", text + "\n").strip()
        if not head or head.startswith("#"):
            return Outcome(True)
        word = _WORD.match(head).group()
        arg = head[len(word):].strip()
        if word == "exit":
            word = "quit"
        handler: Callable[[str], Outcome] | None = getattr(self, f"cmd_{word}", None)
        if word in DECL_WORDS and not (word == "test" and not arg.startswith('"')):
            handler, arg = self.session.define, block
        elif word not in COMMANDS or handler is None:
            guess = closest(word, list(COMMANDS) + list(DECL_WORDS))
            return Outcome(False, f"unknown command '{word}'" + (f"; did you mean '{guess}'?" if guess else "")
                           + " (help lists the commands)")
        try:
            return handler(arg)
        except Exception as exc:  # a bug must not end the session: report it, keep going
            return Outcome(False, f"internal error in '{word}': {type(exc).__name__}: {exc}")

    # ---------------------------------------------------------------- commands

    def cmd_help(self, arg: str) -> Outcome:
        if arg:
            cmd = COMMANDS.get(arg)
            if cmd is None:
                if arg in DECL_WORDS:
                    return Outcome(True, _DEFINE_HELP)
                guess = closest(arg, list(COMMANDS))
                return Outcome(False, f"no command '{arg}'" + (f"; did you mean '{guess}'?" if guess else ""))
            return Outcome(True, f"{cmd.usage}\n  {cmd.summary}" + (f"\n\n{cmd.detail}" if cmd.detail else ""))
        width = max(len(c.usage) for c in COMMANDS.values() if len(c.usage) < 36)
        lines = [_DEFINE_HELP, "", "commands:"]
        for c in COMMANDS.values():
            usage = c.usage if len(c.usage) < 36 else f"{c.name} ..."
            lines.append(f"  {usage.ljust(width)}  {c.summary}")
        lines.append("\nhelp COMMAND tells more.")
        return Outcome(True, "\n".join(lines))

    def cmd_load(self, arg: str) -> Outcome:
        if not arg:
            return _usage("load")
        return self.session.load(_unquote(arg))

    def cmd_reload(self, arg: str) -> Outcome:
        return self.session.reload()

    def cmd_rules(self, arg: str) -> Outcome:
        s = self.session
        if not s.pack or not s.pack.rules:
            return Outcome(True, "no rules yet: type one (rule NAME { ... }) or load a pack")
        rows = []
        for r in s.pack.rules:
            if r.kind in ("sequence", "join"):
                shape = f"{r.kind} of {len(r.steps)}" + (f" within {format_human(r.within)}" if r.within else "")
            elif r.kind == "window":
                shape = (f"window session gap {format_human(r.window_gap)}" if r.window_kind == "session"
                         else f"window {format_human(r.window_size)} {r.window_kind}")
            else:
                shape = "event"
            key = f"by {', '.join(r.key_names)}" if r.key_names else ""
            n = s.engine.matches_by_rule.get(r.name, 0)
            rows.append((r.name, shape, key, s.origin(r), f"{n} match{'es' if n != 1 else ''}"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        return Outcome(True, "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths + [0])).rstrip()
                                       for row in rows))

    def cmd_show(self, arg: str) -> Outcome:
        s = self.session
        if not arg:
            text = s.session_text().rstrip()
            return Outcome(True, text or "the session defines nothing yet")
        hits = [d for (k, n), d in s.decls.items() if n == arg or n.rsplit(" for ", 1)[0] == arg]
        if hits:
            return Outcome(True, "\n\n".join(d.text for d in hits))
        for r in s.pack.rules if s.pack else ():
            if r.name == arg:
                return Outcome(True, f"# {s.origin(r)}\n{r.source_text}" if r.source_text else s.origin(r))
        return Outcome(False, f"nothing named '{arg}' in the session")

    def cmd_drop(self, arg: str) -> Outcome:
        if not arg:
            return _usage("drop")
        return self.session.drop(arg.strip())

    def cmd_feed(self, arg: str) -> Outcome:
        s = self.session
        arg = arg.strip()
        if not arg:
            return _usage("feed")
        if arg[0] in "{[":
            return self._feed_text(arg)
        word = arg.split(None, 1)[0]
        if word == "repeat":
            events, err = s.generate(arg)
            if events is None:
                return Outcome(False, err)
            return s.feed(events)
        if word == "sim":
            parts = arg.split()
            seconds = parse_compound(parts[1]) if len(parts) > 1 else None
            seed = 7
            if len(parts) == 4 and parts[2] == "seed" and parts[3].isdigit():
                seed = int(parts[3])
            elif len(parts) != 2:
                seconds = None
            if not seconds:
                return Outcome(False, "usage: feed sim DURATION [seed N]   e.g. feed sim 10m seed 3")
            events, err = s.simulate(seconds, seed)
            if events is None:
                return Outcome(False, err)
            return s.feed(events, what="simulated")
        items, note = s.read_file(_unquote(arg))
        if items is None:
            return Outcome(False, note)
        out = s.feed(items)
        return Outcome(out.ok, (note + "\n" if note else "") + out.text)

    def _feed_text(self, text: str) -> Outcome:
        try:
            value = orjson.loads(text)
            events = value if isinstance(value, list) else [value]
            return self.session.feed(events)
        except orjson.JSONDecodeError as exc:
            first_error = exc
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > 1:
            try:
                return self.session.feed([orjson.loads(ln) for ln in lines])
            except orjson.JSONDecodeError:
                pass
        if '":' in text or "\":" in text:
            return Outcome(False, f"not JSON: {first_error}")
        events, err = self.session.generate(text)
        if events is None:
            return Outcome(False, f"not JSON ({first_error}) nor events in the test syntax:\n{err}")
        return self.session.feed(events)

    def cmd_time(self, arg: str) -> Outcome:
        s = self.session
        arg = arg.strip()
        if not arg:
            if s.clock is None:
                return Outcome(True, "no event yet; relative times start at "
                                     f"{format_ts(s.now)}")
            return Outcome(True, f"time is {format_ts(s.clock)} (the watermark)")
        if arg.startswith("+"):
            seconds = parse_compound(arg[1:])
            if seconds is None:
                return Outcome(False, f"not a duration: {arg[1:]!r} (e.g. +5m, +1h30m, +90s)")
            return s.advance(s.now + seconds)
        try:
            to = parse_time(arg)
        except BadInput:
            return Outcome(False, f"not a time: {arg!r} (e.g. +5m or 2026-11-27T10:00:00Z)")
        return s.advance(to)

    def cmd_step(self, arg: str) -> Outcome:
        s = self.session
        arg = arg.strip().lower()
        if arg in ("on", "off"):
            s.step_mode = arg == "on"
        elif arg:
            return _usage("step")
        else:
            s.step_mode = not s.step_mode
        return Outcome(True, f"step mode {'on' if s.step_mode else 'off'}")

    def _rule_arg(self, name: str) -> Outcome | None:
        names = self.session.rule_names()
        if name in names:
            return None
        guess = closest(name, names)
        return Outcome(False, f"no rule named '{name}'" + (f"; did you mean '{guess}'?" if guess else ""))

    def cmd_partials(self, arg: str) -> Outcome:
        s = self.session
        rule = None
        filters: dict[str, str] = {}
        for part in _split(arg):
            if "=" in part:
                k, _, v = part.partition("=")
                filters[k.strip()] = v.strip()
            elif rule is None:
                rule = part
            else:
                return _usage("partials")
        if rule is not None and (bad := self._rule_arg(rule)):
            return bad
        rows = s.partials(rule, filters)
        if not rows:
            where = f" for {rule}" if rule else ""
            where += (" with " + ", ".join(f"{k}={v}" for k, v in filters.items())) if filters else ""
            text = f"no live partial match{where}"
            if rule and not filters and not any(m.rule == rule for m in s.matches):
                text += " (no event has reached its first step or window, or what did has expired)"
            return Outcome(True, text)
        out = [R.partial_line(p, text) for p, text, _ in rows[:LIST_LIMIT]]
        if len(rows) > LIST_LIMIT:
            out.append(f"... and {len(rows) - LIST_LIMIT} more (narrow with: partials RULE FIELD=VALUE)")
        return Outcome(True, "\n".join(out))

    def cmd_matches(self, arg: str) -> Outcome:
        s = self.session
        rule = arg.strip() or None
        if rule is not None and (bad := self._rule_arg(rule)):
            return bad
        chosen = [(i, m) for i, m in enumerate(s.matches, 1) if rule is None or m.rule == rule]
        if not chosen:
            return Outcome(True, "no match yet" + (f" for {rule}" if rule else ""))
        out = [R.match_tree(i, m, self.paint) for i, m in chosen[:LIST_LIMIT]]
        if len(chosen) > LIST_LIMIT:
            out.append(f"... and {len(chosen) - LIST_LIMIT} more")
        return Outcome(True, "\n".join(out))

    def cmd_explain(self, arg: str) -> Outcome:
        name = arg.strip()
        if not name:
            return _usage("explain")
        if bad := self._rule_arg(name):
            return bad
        return Outcome(True, self.session.pack.rule(name).explain_text.rstrip())

    def cmd_test(self, arg: str) -> Outcome:
        s = self.session
        rule = arg.strip() or None
        if rule is not None and (bad := self._rule_arg(rule)):
            return bad
        results = s.run_tests(rule)
        if not results:
            return Outcome(True, "no tests" + (f" for {rule}" if rule else "")
                           + " (write one: test \"name\" for RULE { events { ... } expect match })")
        out = []
        for r in results:
            mark = self.paint("green", "ok") if r.passed else self.paint("red", "FAIL")
            out.append(f"{mark}  {r.id}")
            if not r.passed and r.message:
                out.append("    " + r.message.replace("\n", "\n    "))
        failed = [r for r in results if not r.passed]
        written = sum(1 for r in results if r.mutation is None)
        out.append(f"{written} test{'s' if written != 1 else ''}, {len(results) - written} mutation"
                   f"{'s' if len(results) - written != 1 else ''}: {len(results) - len(failed)} passed, "
                   f"{len(failed)} failed")
        return Outcome(not failed, "\n".join(out))

    def cmd_save(self, arg: str) -> Outcome:
        if not arg.strip():
            return _usage("save")
        return self.session.save(_unquote(arg.strip()))

    def cmd_reset(self, arg: str) -> Outcome:
        return self.session.reset()

    def cmd_report(self, arg: str) -> Outcome:
        parts = _split(arg)
        if not parts or len(parts) > 2:
            return _usage("report")
        return self.session.report(parts[0], parts[1] if len(parts) > 1 else None)

    def cmd_stats(self, arg: str) -> Outcome:
        return Outcome(True, self.session.stats())

    def cmd_quit(self, arg: str) -> Outcome:
        return Outcome(True, quit=True)


_DEFINE_HELP = """\
define by typing (a block continues while braces are open; the same name replaces):
  rule NAME { ... }        macro NAME = EXPR        list NAME = [ ... ]
  test "NAME" for RULE { events { ... } expect match { ... } }        import "FILE.ttp"
after every change the rules are checked and compiled (nothing changes on errors) and the
events fed so far are replayed into a fresh engine."""


def _usage(name: str) -> Outcome:
    return Outcome(False, f"usage: {COMMANDS[name].usage}")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return os.path.expanduser(text)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


# ---------------------------------------------------------------- script mode


def blocks(lines: Iterable[str]) -> Iterable[str]:
    """Group script lines into blocks: a block goes on while its brackets are open.

    Blank lines and `#` comment lines between blocks are skipped.
    """
    buf: list[str] = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf.append(line)
        if bracket_depth("\n".join(buf)) == 0:
            yield "\n".join(buf)
            buf = []
    if buf:
        yield "\n".join(buf)


def run_script(shell: Shell, lines: Iterable[str], out) -> int:
    """Run a script; echo each block as `> ...`; exit code 1 if any command failed."""
    failed = False
    for block in blocks(lines):
        out.write("".join(f"> {ln}\n" for ln in block.split("\n")))
        outcome = shell.run(block)
        if outcome.text:
            out.write(outcome.text.rstrip("\n") + "\n")
        failed = failed or not outcome.ok
        if outcome.quit:
            break
    out.flush()
    return 1 if failed else 0


# ---------------------------------------------------------------- interactive mode


def toolbar_text(text: str) -> str:
    """The bottom toolbar: what Enter will do with the current text."""
    stripped = text.strip()
    if not stripped:
        return " type a rule, a command, or 'help'"
    word = stripped.split(None, 1)[0]
    if word in COMMAND_WORDS and word != "test" or stripped[0] in "{[":
        cmd = COMMANDS.get("feed" if stripped[0] in "{[" else ("quit" if word == "exit" else word))
        depth = bracket_depth(text)
        return f" {cmd.usage}" + (f"   ({depth} open bracket{'s' if depth != 1 else ''}: Enter continues)"
                                  if depth else "")
    if word not in DECL_WORDS:
        guess = closest(word, list(COMMANDS) + list(DECL_WORDS))
        return f" unknown command '{word}'" + (f"; did you mean '{guess}'?" if guess else "")
    from sleuth.dsl.parse import parse_recovering

    depth = bracket_depth(text)
    _module, diags = parse_recovering(text, "<input>")
    if not diags:
        return " parses: Enter checks and defines it"
    d = diags[0]
    if depth:
        return f" {depth} open brace{'s' if depth != 1 else ''}: Enter continues (Esc Enter submits)"
    return f" line {d.span.line}:{d.span.col}: {d.message}"


def interactive(shell: Shell, history: str | None, *, out=None, input=None, output=None) -> int:
    """The prompt_toolkit REPL; returns the exit code (0)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.application.current import get_app
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    from .repl_complete import SleuthCompleter
    from .repl_lexer import STYLE, SleuthLexer

    out = out or sys.stdout
    kb = KeyBindings()

    @kb.add("enter")
    def _enter(event) -> None:
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            buf.apply_completion(state.current_completion)
            return
        if buf.document.is_cursor_at_the_end and block_complete(buf.text):
            buf.validate_and_handle()
            return
        line = buf.document.current_line_before_cursor
        indent = line[: len(line) - len(line.lstrip())]
        if line.rstrip().endswith(("{", "(", "[")):
            indent += "  "
        buf.insert_text("\n" + indent)

    @kb.add("escape", "enter")
    def _submit(event) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("}")
    def _close(event) -> None:
        # Dedent a closing brace typed on an otherwise blank line.
        buf = event.current_buffer
        line = buf.document.current_line_before_cursor
        if line.strip() == "" and len(line) >= 2:
            buf.delete_before_cursor(2)
        buf.insert_text("}")

    hist = InMemoryHistory()
    if history:
        path = os.path.expanduser(history)
        try:
            if os.path.dirname(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
            hist = FileHistory(path)
        except OSError as exc:
            out.write(f"(history not kept: cannot write {path}: {exc.strerror})\n")

    def bottom_toolbar():
        try:
            return toolbar_text(get_app().current_buffer.text)
        except Exception:  # the toolbar must never break typing
            return ""

    session = PromptSession(
        message=[("class:prompt", "sleuth> ")], multiline=True, key_bindings=kb,
        lexer=SleuthLexer(COMMAND_WORDS), completer=SleuthCompleter(shell, COMMANDS), complete_while_typing=False,
        history=hist, style=STYLE, include_default_pygments_style=False,
        prompt_continuation=lambda width, line, wrap: [("class:continuation", "...".rjust(width - 1) + " ")],
        bottom_toolbar=bottom_toolbar, input=input, output=output, enable_history_search=False,
    )
    out.write(INTRO + "\n")
    out.flush()
    while True:
        try:
            text = session.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            outcome = shell.run(text)
        except KeyboardInterrupt:
            outcome = shell.session.interrupted()
        if outcome.text:
            out.write(outcome.text.rstrip("\n") + "\n")
            out.flush()
        if outcome.quit:
            break
    return 0
