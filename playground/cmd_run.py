"""`sleuth run`: rules over files or stdin; matches as JSON lines.

Every input is read through one reader interface (formats auto-detected,
gzip transparent); several inputs are one stream, merged by event time
(`engine/ingest/merge.py`). `RunLoop` feeds the engine in batches, writes
matches as JSON lines (stdout or `--out`), bad input to `--quarantine`, a
progress line on a terminal and a summary on stderr: the lateness used and
why, each input's order, the coverage of the fields the pack reads and the
rules that cannot fire on this input. With `--state FILE` it checkpoints the
engine and, per input file, its identity and byte offset atomically (temp
file + rename) and resumes from there, across rotation and truncation of
followed files: with `--out FILE` every match is written exactly once.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import signal
import sys
import time

import msgpack
import orjson

from .cli import (
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_OK,
    EXIT_USAGE,
    pack_paths,
)
from .deploy import add_profile_options, engine_options, load_pack_with, load_profile_or_report

BATCH = 512
STATE_MAGIC = "sleuth-run-state"
STATE_VERSION = 2
_GLOB_CHARS = frozenset("*?[")


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth run`."""
    from sleuth.engine.ingest.source import FORMATS  # the one format table

    p.add_argument("pack", metavar="PACK", help="rule pack folder or rule file ('builtin' for the shipped pack)")
    p.add_argument("inputs", nargs="*", metavar="FILE",
                   help="input files ('-' or none: stdin), merged by event time; gzip is read transparently; "
                        "a quoted glob ('access_log*') is expanded")
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="input format (default: detected from the first bytes; see docs/input.md)")
    p.add_argument("--skip-unknown", action="store_true",
                   help="go on without an input whose format cannot be detected (default: exit 3)")
    p.add_argument("-o", "--out", metavar="FILE", help="write matches here instead of stdout")
    p.add_argument("--quarantine", metavar="FILE", help="write bad input here, one JSON line with its reason each")
    p.add_argument("--lateness", metavar="SECONDS",
                   help="out-of-order tolerance in event time (default: the profile's, else by format: 60 "
                        "for access logs, 120 for IIS, 5 for JSON lines; see docs/input.md)")
    p.add_argument("--grace", default="0", metavar="SECONDS",
                   help="extra wait before deciding a trailing absence (default 0)")
    p.add_argument("--max-keys", default="1000000", metavar="N",
                   help="global cap on live keys across rules (the rule holding most keys gives one up; "
                        "default 1000000)")
    p.add_argument("--memory", metavar="SIZE",
                   help="byte budget for rule state, e.g. 512MB or 2GiB (fair eviction across rules; "
                        "docs/performance.md)")
    p.add_argument("--map", action="append", metavar="CANONICAL=SOURCE.PATH",
                   help="map an input field to a canonical one (repeatable)")
    p.add_argument("--mapping", metavar="FILE", help="a mapping file (see docs/input.md)")
    p.add_argument("--openapi", action="append", metavar="SPEC",
                   help="OpenAPI 3 document (JSON or YAML): routes and spec.* fields (repeatable: the first "
                        "document that knows a path routes it; replaces the profile's)")
    p.add_argument("--no-templating", action="store_true",
                   help="without --openapi, do not derive route from path heuristically")
    p.add_argument("--enrich-table", metavar="CSV", help="prefix table adding asn/country to events (docs/input.md)")
    p.add_argument("--follow", action="store_true",
                   help="keep reading growing files, across rotation and truncation (Ctrl-C to stop); "
                        "list files reload when they change")
    p.add_argument("--idle-timeout", metavar="SECONDS",
                   help="with --follow, stop after this long without new input")
    p.add_argument("--max-line-bytes", default=str(1 << 20), metavar="N",
                   help="longer input lines are quarantined as 'oversized' (default 1 MiB)")
    p.add_argument("--state", metavar="FILE", help="checkpoint here and resume from it (see docs/reliability.md)")
    p.add_argument("--checkpoint-every", default="100000", metavar="N",
                   help="events between checkpoints with --state (default 100000)")
    p.add_argument("--metrics", metavar="FILE", help="write the run's counters, field coverage and blind rules as JSON")
    p.add_argument("--report", metavar="FILE", help="write the offline HTML report of the run here at the end")
    p.epilog = (
        "The summary on stderr gives the events read and processed, what was quarantined\n"
        "and why, matches by rule, the lateness used and why, the share of events carrying\n"
        "each field the pack reads, and the rules that cannot fire on this input.\n\n"
        "exit codes:\n"
        "  0    the input was read to its end (with or without matches)\n"
        "  1    the rule pack has errors\n"
        "  2    a bad option (one line on stderr)\n"
        "  3    nothing usable was read, an input's format is unknown (see --skip-unknown),\n"
        "       or a file cannot be read or written (one line on stderr)\n"
        "  130  interrupted\n\n"
        "See 'sleuth inspect FILE...' to see what sleuth reads in a log before a run,\n"
        "and docs/input.md (formats, several inputs, resume) and docs/reliability.md.")
    p.add_argument("--no-progress", action="store_true", help="no progress line even on a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    add_profile_options(p)


class UsageError(Exception):
    """A bad option value: exit 2 with its one-line message."""


class InputError(Exception):
    """An input or output that cannot be used: exit 3 with its one-line message."""


def _number(args, name: str, *, integer: bool = False, low: float = 0.0, strict: bool = False,
            optional: bool = False):
    """The option `--name` as a finite number >= low (> low with strict), or UsageError."""
    raw = getattr(args, name.replace("-", "_"))
    if raw is None and optional:
        return None
    what = "a whole number" if integer else "a finite number"
    bound = f"{'>' if strict else '>='} {low:g}"
    try:
        value = int(raw) if integer else float(raw)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} must be {what} {bound} (got {raw!r})") from None
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise UsageError(f"--{name} must be {what} {bound} (got {raw!r})")
    return value


def check_options(args) -> None:
    """Validate the numeric options in place (strings -> numbers); UsageError on a bad one."""
    args.lateness = _number(args, "lateness", optional=True)
    args.grace = _number(args, "grace")
    args.max_keys = _number(args, "max-keys", integer=True, low=1)
    args.checkpoint_every = _number(args, "checkpoint-every", integer=True, low=1)
    args.max_line_bytes = _number(args, "max-line-bytes", integer=True, low=1)
    args.idle_timeout = _number(args, "idle-timeout", optional=True)


def expand_inputs(inputs: list[str]) -> list[str]:
    """Inputs as given, a quoted glob expanded (sorted), duplicates dropped; InputError when one is missing."""
    out: list[str] = []
    seen: set[str] = set()
    for p in inputs or ["-"]:
        if p == "-":
            names = ["-"]
        elif os.path.exists(p):
            names = [p]
        elif _GLOB_CHARS & set(p):
            names = sorted(glob.glob(p))
            if not names:
                raise InputError(f"no file matches {p}")
        else:
            raise InputError(f"no such file: {p}")
        for n in names:
            if n != "-" and os.path.isdir(n):
                raise InputError(f"{n} is a directory")
            key = n if n == "-" else os.path.realpath(n)
            if key not in seen:
                seen.add(key)
                out.append(n)
    return out


def check_writable(path: str, what: str) -> None:
    """InputError unless `path` can be written (created if missing; nothing is left behind)."""
    existed = os.path.exists(path)
    if os.path.isdir(path):
        raise InputError(f"cannot write {what} {path}: it is a directory")
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    if not existed:
        try:
            os.unlink(path)
        except OSError:
            pass


class _EarlySignals:
    """SIGTERM before the run's own handlers are in place (loading the pack, opening inputs):
    remembered, so that the run stops at its first safe point and checkpoints (exit 0)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.old = signal.signal(signal.SIGTERM, self._on)

    def _on(self, signum, frame) -> None:
        self.signal = signum

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self.old)


def run_run(args) -> int:
    early = _EarlySignals()
    try:
        return _run(args, early)
    finally:
        early.restore()


def _run(args, early: _EarlySignals) -> int:
    try:
        check_options(args)
    except UsageError as exc:
        print(f"sleuth run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        inputs = expand_inputs(args.inputs)
        for path, what in ((args.out, "the output"), (args.quarantine, "the quarantine"),
                           (args.metrics, "the metrics"), (args.report, "the report")):
            if path:
                check_writable(path, what)
        if args.state and not os.path.exists(args.state):
            check_writable(args.state, "the state file")
    except InputError as exc:
        print(f"sleuth run: {exc}", file=sys.stderr)
        return EXIT_IO
    profile, code = load_profile_or_report(args, "run")
    if code is not None:
        return code
    pack, code = load_pack_with(pack_paths(args.pack), profile, "run")
    if pack is None:
        return code if code is not None else EXIT_FINDINGS
    try:
        options = engine_options(args, profile)
        normalizer = build_normalizer(args, pack, profile)
    except OSError as exc:
        print(f"sleuth run: cannot read {exc.filename or 'an input file'}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_IO
    except ValueError as exc:
        # A bad --map or mapping file is a usage error; an OpenAPI document that is not one, an input error.
        print(f"sleuth run: {exc}", file=sys.stderr)
        return EXIT_IO if getattr(exc, "openapi", False) else EXIT_USAGE
    if args.memory is not None:
        from sleuth.engine.state import parse_bytes

        try:
            parse_bytes(args.memory)
        except ValueError as exc:
            print(f"sleuth run: --memory: {exc}", file=sys.stderr)
            return EXIT_USAGE
    from sleuth.engine.errors import EngineError
    from sleuth.engine.options import build_enrichers

    try:
        enrich = build_enrichers(options.get("enrich_table"))
    except EngineError as exc:
        print(f"sleuth run: {exc}", file=sys.stderr)
        return EXIT_IO
    return RunLoop(args, pack, inputs, normalizer, enrich, early, options).run()


class RunLoop:
    """One `sleuth run` from start to end: resume, open inputs and outputs, feed, checkpoint, finish.

    `run()` returns the exit code. The steps are methods so that each reads
    on its own: `resume` (the state file, if any), `open_inputs` (a reader
    per input, resumed at its byte offset, its format probed: the default
    lateness follows from it), `open` (outputs cut back to the checkpoint,
    the engine new or restored, signal handlers), `feed` (the inputs merged
    by event time, in batches, checkpointing as it goes), `checkpoint`,
    `close` (outputs and handlers, whatever happened) and `report` (metrics
    file, summary, HTML report, exit code). SIGTERM and a first Ctrl-C stop
    at the next batch boundary; a second Ctrl-C stops at once.
    """

    def __init__(self, args, pack, inputs: list[str], normalizer, enrich: list, early=None,
                 options: dict | None = None):
        self.args = args
        # The profile's options with the flags on top (engine_options): lateness, grace, max_keys.
        self.options = options if options is not None else {}
        self.early = early
        self.pack = pack
        self.inputs = inputs
        self.abs_inputs = [os.path.abspath(p) if p != "-" else "-" for p in inputs]
        self.normalizer = normalizer
        self.enrich = enrich
        self.state: dict | None = None        # the state file resumed from
        self.files: list[dict | None] = [None] * len(inputs)   # per input: where it resumes
        self.out_len = self.q_len = 0         # checkpointed lengths of --out and --quarantine
        self.readers: list = [None] * len(inputs)
        self.finished_inputs = [False] * len(inputs)
        self.notes: list[str] = []            # lines for the summary (lost tails, skipped inputs)
        self.column_warnings: list[str] = []  # CSV/TSV columns that map to no field
        self.skipped: list[str] = []          # inputs of unknown format, skipped
        self.stopping = False
        self.stop_signal: int | None = None
        self.finished = False
        self.written = 0
        self.read_events = 0
        self.since_checkpoint = 0
        self.route_in_input = 0
        self.lateness_source = ""
        self.last_checkpoint = self.last_reload = time.monotonic()
        self.coverage = None
        self.needs = None
        self.tee = None
        self.qsink = None
        self.out = None

    def run(self) -> int:
        code = self.resume()
        if code is None:
            code = self.open_inputs()
        if code is None:
            code = self.open()
        if code is not None:
            self.close_inputs()
            return code
        try:
            code = self.feed()
            if code is not None:
                return code
            if self.finished:
                self.write(self.engine.close())
                self.checkpoint(done=True)
        finally:
            self.close()
        return self.report()

    # ---------------------------------------------------------------- start

    def resume(self) -> int | None:
        """Read the state file when there is one; an exit code if the run must not go on."""
        args = self.args
        if not (args.state and os.path.exists(args.state)):
            return None
        from sleuth.engine.errors import SnapshotError

        try:
            with open(args.state, "rb") as fh:
                state = msgpack.unpackb(fh.read(), raw=False, strict_map_key=False)
            if not isinstance(state, dict) or state.get("magic") != STATE_MAGIC:
                raise SnapshotError("not a sleuth run state file")
            if state.get("version") != STATE_VERSION:
                raise SnapshotError(f"it was written by another version of sleuth run (format "
                                    f"{state.get('version')!r}, this one reads {STATE_VERSION})")
            if state.get("inputs") != self.abs_inputs:
                raise SnapshotError("the state file was written for other inputs")
            files = state["files"]
            if not isinstance(files, list) or len(files) != len(self.inputs) or \
                    not all(isinstance(f, dict) for f in files):
                raise SnapshotError("its list of input positions is malformed")
            self.files = files
            self.out_len, self.q_len = int(state["out_len"]), int(state.get("quarantine_len", 0))
        except (SnapshotError, OSError, ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
            print(f"sleuth run: cannot resume from {args.state}: {exc}", file=sys.stderr)
            return EXIT_IO
        self.state = state
        try:
            header = msgpack.unpackb(state["engine"], raw=False)[0]
        except Exception:
            header = {}
        if not isinstance(header, dict) or header.get("pack") != self.pack.fingerprint:
            print(f"sleuth run: cannot resume from {args.state}: it was written with another rule pack",
                  file=sys.stderr)
            return EXIT_IO
        if state.get("done"):
            print(f"sleuth run: {args.state} records a finished run; nothing to do "
                  f"(remove it to run again)", file=sys.stderr)
            return EXIT_OK
        return None

    def _reader(self, path: str, fmt: str, follow: bool, chunk: int, **resume):
        return open_source(None if path == "-" else path, fmt, follow=follow,
                           max_line_bytes=self.args.max_line_bytes, name=resume.pop("name", None),
                           stop=lambda: self.stopping, idle_marker=follow, chunk_size=chunk, **resume)

    def _resumed_reader(self, i: int, chunk: int):
        """Input i's reader, where the state file left it (a chain when its file was rotated meanwhile)."""
        from sleuth.engine.ingest.follow import Identity, locate

        path, entry, follow = self.inputs[i], self.files[i], self.args.follow
        name = entry.get("name") if isinstance(entry.get("name"), str) else None
        fmt = entry.get("format") if entry.get("format") in _formats() else self.args.format
        line = int(entry.get("line", 1))
        offset = entry.get("offset")
        ctx = entry.get("context")
        ident = Identity.from_json(entry.get("identity")) if entry.get("identity") is not None else None
        if path == "-" or ident is None or type(offset) is not int:
            # A stream, or a format without byte offsets: read again, skipping what was read.
            return self._reader(path, fmt, follow, chunk, name=name, skip_before=line, start_line=1,
                                context=ctx)
        found, newer = locate(path, ident, offset)
        if found == path:
            return self._reader(path, fmt, follow, chunk, name=name, start_offset=offset, start_line=line,
                                context=ctx)
        if not follow:
            raise InputError(f"cannot resume from {self.args.state}: {path} is not the file the state was "
                             f"written for (it was replaced or truncated since)")
        parts = []
        if found is None:
            self.notes.append(f"{path}: the file read before was rotated or truncated while sleuth was stopped "
                              f"and its rest (after byte {offset:,}) is gone: lines written to it after the "
                              f"checkpoint are lost")
        else:
            parts.append((found, False, offset, ctx))
            parts += [(p, False, 0, None) for p in newer]
            self.notes.append(f"{path}: rotated while sleuth was stopped: read the rest of {found}"
                              + (f" and {len(newer)} newer rotated file(s)" if newer else "") + " first")
        parts.append((path, True, 0, None))
        makers = []
        for p, f, o, c in parts:
            def make(start: int, p=p, f=f, o=o, c=c):
                return self._reader(p, fmt, f and follow, chunk, name=name or path, start_offset=o,
                                    start_line=start, context=c)
            makers.append(make)
        return _Chain(makers, line, name or path)

    def open_inputs(self) -> int | None:
        """A reader per input (resumed where the state says), each probed: formats, default lateness."""
        args = self.args
        k = len(self.inputs)
        # Bounded memory: the readers' chunks share 1 MiB (at least 64 KiB each) plus one record per input.
        chunk = max(1 << 16, (1 << 20) // max(1, k))
        try:
            for i, path in enumerate(self.inputs):
                entry = self.files[i]
                if entry is not None and entry.get("finished"):
                    self.finished_inputs[i] = True
                    continue
                if entry is not None:
                    self.readers[i] = self._resumed_reader(i, chunk)
                else:
                    self.readers[i] = self._reader(path, args.format, args.follow, chunk)
        except InputError as exc:
            print(f"sleuth run: {exc}", file=sys.stderr)
            return EXIT_IO
        except ValueError as exc:
            print(f"sleuth run: {exc}", file=sys.stderr)
            return EXIT_USAGE
        formats = []
        waiting = args.follow
        deadline = time.monotonic() + args.idle_timeout if args.idle_timeout is not None else None
        while True:
            pending = False
            for i, r in enumerate(self.readers):
                if r is None:
                    continue
                try:
                    fmt = r.probe(wait=not args.follow)
                except OSError as exc:
                    print(f"sleuth run: cannot read {self.inputs[i]}: {exc.strerror or exc}", file=sys.stderr)
                    return EXIT_IO
                if fmt is None and r.unknown:
                    if not args.skip_unknown:
                        print(f"sleuth run: cannot tell the format of {self.inputs[i]} from its first line; "
                              f"pass --format (one of {', '.join(_formats())}), or --skip-unknown to go on "
                              f"without it (sleuth inspect shows what it sees)", file=sys.stderr)
                        return EXIT_IO
                    if self.inputs[i] not in self.skipped:
                        self.skipped.append(self.inputs[i])
                elif fmt is None and args.follow and getattr(r, "format", "auto") == "auto":
                    pending = True
                if fmt is not None and self.files[i] is None:
                    formats.append(fmt)
            known = [getattr(r, "format", "auto") for r in self.readers if r is not None]
            if not waiting or not pending or any(f != "auto" for f in known) or self.stopping \
                    or (self.early is not None and self.early.signal is not None):
                break
            # Following files that are all still empty: the default lateness waits for a format.
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        self.formats = [getattr(r, "format", None) if r is not None else None for r in self.readers]
        self.lateness = self._lateness([f for f in self.formats if f and f != "auto"])
        self.column_warnings = self._check_columns()
        if not args.quiet:
            for line in self.column_warnings:
                print(f"sleuth run: warning: {line}", file=sys.stderr)
        return None

    def _check_columns(self) -> list[str]:
        """CSV/TSV inputs whose columns do not give client, path, status...: what to --map (never silent)."""
        from sleuth.engine.ingest import Bad
        from sleuth.engine.ingest.columns import advice_text, advise

        out = []
        for i, fmt in enumerate(self.formats):
            path = self.inputs[i]
            if fmt != "csv" or path == "-" or self.readers[i] is None:
                continue
            peek = open_source(path, "csv")
            rows = []
            try:
                for _pos, item in peek:
                    if type(item) is not Bad:
                        rows.append(item)
                    if len(rows) >= 200:
                        break
            except OSError:
                continue
            finally:
                peek.close()
            ctx = peek.context() or {}
            advice = advise(ctx.get("csv_header") or [], rows, getattr(self.normalizer, "mapping", {}))
            if advice.needed:
                out += advice_text(path, advice)
        return out

    def _lateness(self, formats: list[str]) -> float:
        from sleuth.engine.ingest.source import DEFAULT_LATENESS, FORMAT_ALIASES, default_lateness

        args = self.args
        if self.state is not None:
            self.lateness_source = "restored from the state file"
            return float("nan")        # the engine's own (restored) option
        if args.lateness is not None:
            self.lateness_source = "--lateness"
            return args.lateness
        if self.options.get("lateness") is not None:
            self.lateness_source = "the deployment profile"
            return float(self.options["lateness"])
        if not formats:
            self.lateness_source = "the default (no input format seen)"
            return DEFAULT_LATENESS
        best = max(formats, key=default_lateness)
        names = sorted({FORMAT_ALIASES.get(f, f) for f in formats})
        value = default_lateness(best)
        why = "requests are logged when they end" if value > DEFAULT_LATENESS else "events written in time order"
        self.lateness_source = f"the default for {', '.join(names)}: {why}; --lateness to change"
        return value

    def _open_out(self, path: str, length: int):
        # On resume, cut back to what the checkpoint had written (exactly once).
        if self.state is not None:
            fh = open(path, "r+b") if os.path.exists(path) else open(path, "w+b")
            fh.truncate(length)
            fh.seek(length)
            return fh
        return open(path, "wb")

    def open(self) -> int | None:
        """Outputs, the engine (new or restored) and the signal handlers; an exit code on failure."""
        from sleuth.engine import Engine, Quarantine
        from sleuth.engine.errors import EngineError, SnapshotError

        args = self.args
        try:
            self.qsink = self._open_out(args.quarantine, self.q_len) if args.quarantine else None
            self.out = self._open_out(args.out, self.out_len) if args.out else sys.stdout.buffer
            if args.report and not args.out:
                self.tee_path = f"{args.report}.matches-{os.getpid()}.tmp"
                self.tee = open(self.tee_path, "wb")
        except OSError as exc:
            print(f"sleuth run: cannot write {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_IO
        self.quarantine = Quarantine(self.qsink, keep=20 if args.report else 0)
        enrich = list(self.enrich)
        if not args.quiet or args.metrics or args.report:
            self._watch_coverage(enrich)
        if self.state is not None:
            try:
                self.engine = Engine.restore(self.pack, self.state["engine"], normalizer=self.normalizer,
                                             quarantine=self.quarantine, enrich=enrich)
            except SnapshotError as exc:
                print(f"sleuth run: cannot resume from {args.state}: {exc}", file=sys.stderr)
                return EXIT_IO
            self.lateness = self.engine.lateness
            if self.coverage is not None:
                self.coverage.load(self.state.get("coverage"))
            self.route_in_input = int(self.state.get("route_in_input", 0) or 0)
        else:
            try:
                self.engine = Engine(self.pack, normalizer=self.normalizer, quarantine=self.quarantine,
                                     enrich=enrich, lateness=self.lateness,
                                     grace=self.options.get("grace", args.grace),
                                     max_keys=self.options.get("max_keys", args.max_keys),
                                     memory=self.options.get("memory"))
            except EngineError as exc:      # an option the engine refuses (from the profile)
                print(f"sleuth run: {exc}", file=sys.stderr)
                return EXIT_USAGE
        import gc

        from sleuth.engine.ingest.merge import Merge

        gc.freeze()    # the pack and its generated code live for the whole run: keep them out of GC scans
        self.live = [i for i, r in enumerate(self.readers) if r is not None]
        self.merge = Merge([self.readers[i] for i in self.live], self._time_of())
        self.progress = Progress(sys.stderr.isatty() and not args.quiet and not args.no_progress,
                                 sum(os.path.getsize(p) for p in self.inputs
                                     if p != "-" and os.path.isfile(p)) or None)
        self.started = time.process_time()
        self.wall = time.monotonic()
        self.old_term = signal.signal(signal.SIGTERM, self._on_signal)
        self.old_int = signal.signal(signal.SIGINT, self._on_signal)
        if self.early is not None and self.early.signal is not None:
            self.stopping, self.stop_signal = True, self.early.signal
        return None

    def _watch_coverage(self, enrich: list) -> None:
        """The field coverage counter (an enricher, last) and the pack's needs, for the summary."""
        from sleuth.dsl.needs import needed_paths, pack_needs
        from sleuth.dsl.pack import check_paths
        from sleuth.engine.ingest.coverage import FieldCoverage

        try:
            checked = check_paths(pack_paths(self.args.pack))
            self.needs = pack_needs(checked.rules) if not checked.errors else []
        except Exception:      # the pack loaded once already: never fail the run over its summary
            self.needs = []
        from sleuth.engine.schema import FIELDS

        # Event fields only: `from matches` rules read match fields (`ttp`, `rule`), not the input's.
        self.coverage = FieldCoverage({f for f in self.pack.fields if f in FIELDS} | needed_paths(self.needs))
        enrich.append(self.coverage)
        self.openapi = bool(self.options.get("openapi"))
        self.count_routes = not self.openapi and any(n.templates or n.template_routes or n.reads_spec
                                                     for n in self.needs)

    def _time_of(self):
        """An item's event time for the merge: the normaliser's reading of it (None when it has none)."""
        from sleuth.engine.quarantine import BadInput

        normalize = self.normalizer.normalize
        mapped = "ts" in getattr(self.normalizer, "mapping", {})

        def time_of(item):
            if not mapped and type(item) is dict:
                t = item.get("ts")
                if type(t) is float:
                    return t
            try:
                return normalize(item, "", 0)["ts"]
            except BadInput:
                return None
            except Exception:      # a custom normaliser's own failure: the engine will report it
                return None
        return time_of

    def _on_signal(self, signum, frame) -> None:
        # Stop at the next safe point (between batches); a second Ctrl-C stops hard.
        if self.stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stopping = True
        self.stop_signal = signum

    # ---------------------------------------------------------------- feed

    def write(self, matches) -> None:
        out, tee = self.out, self.tee
        for m in matches:
            line = m.to_json()
            out.write(line)
            out.write(b"\n")
            if tee is not None:
                tee.write(line + b"\n")
        self.written += len(matches)

    def feed(self) -> int | None:
        """The inputs merged by event time, in batches; an exit code when an input fails."""
        from sleuth.engine.ingest import Bad
        from sleuth.engine.ingest.source import IDLE

        args = self.args
        engine, quarantine = self.engine, self.quarantine
        names = [self.readers[i].name for i in self.live]
        batch: list = []
        positions: list[int] = []
        cur = -1
        count_routes = self.coverage is not None and self.count_routes
        last_data = time.monotonic()
        idle_since: float | None = None

        def flush() -> None:
            nonlocal batch, positions
            if batch:
                self.write(engine.feed_many(batch, names[cur], positions))
                self.read_events += len(batch)
                self.since_checkpoint += len(batch)
                batch, positions = [], []

        try:
            for x in self.merge:
                if x is IDLE:
                    flush()
                    self.out.flush()
                    now = time.monotonic()
                    if idle_since is None:
                        idle_since = last_data = now
                    self._between(now)
                    if self.stopping:
                        break
                    if args.idle_timeout is not None and now - last_data >= args.idle_timeout:
                        break
                    time.sleep(0.2)
                    continue
                idle_since = None
                j, pos, item = x
                if j != cur:
                    flush()
                    cur = j
                if type(item) is Bad:
                    quarantine.add_bad(names[j], pos, item)
                else:
                    if count_routes and type(item) is dict and (item.get("route") is not None
                                                                or item.get("http.route") is not None):
                        self.route_in_input += 1
                    batch.append(item)
                    positions.append(pos)
                    if len(batch) < BATCH:
                        continue
                flush()
                self.progress.update(self.read_events, self.written)
                if args.state and self.since_checkpoint >= args.checkpoint_every:
                    self.checkpoint()
                if self.stopping:
                    break
        except BrokenPipeError:
            raise           # our output was closed (e.g. piped into head): stop quietly
        except OSError as exc:
            print(f"sleuth run: cannot read {names[cur] if cur >= 0 else 'the input'}: {exc}", file=sys.stderr)
            return EXIT_IO
        flush()
        if not self.stopping and not (args.follow and args.state):
            self.finished = True
        else:
            # Interrupted, or a followed input went idle: keep the stream open for a later
            # run (nothing is closed: windows and absences stay pending).
            self.checkpoint()
        return None

    def _between(self, now: float) -> None:
        """While following and idle: reload changed lists, checkpoint at least every 5 s."""
        args = self.args
        if now - self.last_reload >= 1.0:
            self.last_reload = now
            changed = self.pack.reload_lists()
            if changed and not args.quiet:
                print(f"sleuth run: reloaded list(s) {', '.join(changed)}", file=sys.stderr)
        if args.state and (self.since_checkpoint >= args.checkpoint_every
                           or (self.since_checkpoint and now - self.last_checkpoint >= 5.0)):
            self.checkpoint()

    def _positions(self) -> list[dict]:
        """Per input: where a resumed run starts (identity, byte offset, line, header context)."""
        out = []
        held = {idx: self.merge.held(n) for n, idx in enumerate(self.live)}
        for i, r in enumerate(self.readers):
            if r is None:
                out.append(self.files[i] if self.files[i] is not None else {"finished": True})
                continue
            line = held.get(i)
            if line is None:
                line = r.next_line
            # Read to its end (a followed file never is, unless gzip stopped the following).
            finished = self.merge.done[self.live.index(i)] and not getattr(r, "follow", False)
            ident = r.identity()
            fmt = r.format
            entry = {"name": r.name, "format": fmt, "line": line, "offset": r.offset_of(line),
                     "identity": ident.to_json() if ident is not None else None,
                     "context": r.context(), "finished": finished}
            out.append(entry)
        return out

    def checkpoint(self, done: bool = False) -> None:
        """With --state: outputs synced, then engine and input positions written atomically."""
        if not self.args.state:
            return
        out, qsink = self.out, self.qsink
        out.flush()
        if out is not sys.stdout.buffer:
            os.fsync(out.fileno())
        if qsink is not None:
            qsink.flush()
            os.fsync(qsink.fileno())
        files = self._positions()
        if done:
            for f in files:
                f["finished"] = True
        blob = msgpack.packb({
            "magic": STATE_MAGIC, "version": STATE_VERSION, "inputs": self.abs_inputs,
            "files": files, "done": done,
            "out_len": out.tell() if out is not sys.stdout.buffer else 0,
            "quarantine_len": qsink.tell() if qsink is not None else 0,
            "coverage": self.coverage.state() if self.coverage is not None else None,
            "route_in_input": self.route_in_input,
            "engine": self.engine.snapshot(),
        }, use_bin_type=True)
        _atomic_write(self.args.state, blob)
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()

    # ---------------------------------------------------------------- finish

    def close_inputs(self) -> None:
        for r in self.readers:
            if r is not None:
                r.close()

    def close(self) -> None:
        """Handlers restored, progress line cleared, outputs flushed and closed."""
        signal.signal(signal.SIGTERM, self.old_term)
        signal.signal(signal.SIGINT, self.old_int)
        self.close_inputs()
        self.progress.done()
        out = self.out
        try:
            out.flush()
        except BrokenPipeError:
            pass
        if out is not sys.stdout.buffer:
            out.close()
        else:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                pass
        if self.qsink is not None:
            self.qsink.close()
        if self.tee is not None:
            self.tee.close()

    def blind(self) -> list:
        """The rules that cannot fire (or may miss events) on what was read."""
        if self.coverage is None or not self.needs:
            return []
        from sleuth.dsl.needs import blind_rules

        return blind_rules(self.needs, self.coverage.events, self.coverage.counts, openapi=self.openapi,
                           route_in_input=self.route_in_input)

    def input_info(self) -> list[dict]:
        """Per input: name, format (and why), records read, its own order."""
        out = []
        orders = {idx: self.merge.order[n] for n, idx in enumerate(self.live)} if len(self.live) > 1 else {}
        for i, path in enumerate(self.inputs):
            r = self.readers[i]
            info = {"input": path, "format": getattr(r, "format", None) if r is not None else None,
                    "detected": getattr(r, "sniffed", "") if r is not None else "",
                    "records": r.counts.get("records", 0) if r is not None else 0}
            o = orders.get(i)
            if o is not None:
                info["order"] = {"events": o.events, "out_of_order": o.out_of_order,
                                 "largest_lateness_s": round(o.max_lateness, 3)}
            out.append(info)
        return out

    def report(self) -> int:
        """Metrics file, summary and HTML report; the exit code of a run that went to its end or stopped."""
        args = self.args
        cpu = time.process_time() - self.started
        elapsed = time.monotonic() - self.wall
        stats = self.engine.stats()
        blind = self.blind()
        lateness = {"seconds": self.engine.lateness, "source": self.lateness_source}
        nothing = self.finished and stats["events_processed"] == 0
        if args.metrics:
            extra = {"inputs": self.input_info(), "lateness": lateness,
                     "coverage": self._coverage_json(), "blind_rules": [
                         {"rule": b.rule, "cannot_fire": b.cannot, "why": b.why} for b in blind],
                     "skipped_inputs": self.skipped, "warnings": self.column_warnings}
            try:
                with open(args.metrics, "wb") as fh:
                    fh.write(orjson.dumps({**stats, **extra, "cpu_seconds": round(cpu, 3),
                                           "wall_seconds": round(elapsed, 3)},
                                          option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
            except OSError as exc:
                print(f"sleuth run: cannot write the metrics {args.metrics}: {exc.strerror or exc}", file=sys.stderr)
                return EXIT_IO
        if not args.quiet:
            print_summary(stats, cpu, elapsed, sys.stderr)
            print_input_summary(self, stats, blind, sys.stderr)
            if not self.finished:
                print("sleuth run: stopped; " + (f"resume with the same command (state in {args.state})"
                                                 if args.state else
                                                 "nothing was checkpointed (use --state FILE to resume)"),
                      file=sys.stderr)
        if nothing:
            print("sleuth run: nothing usable was read: no event reached the rules"
                  + (f" ({', '.join(f'{k} {v:,}' for k, v in stats['quarantined'].items())} quarantined)"
                     if stats["quarantined"] else "") + "; see sleuth inspect", file=sys.stderr)
        code = self.write_report()
        if code is not None:
            return code
        if nothing:
            return EXIT_IO
        # SIGTERM is a requested, clean stop (0); Ctrl-C is an interruption (130).
        return EXIT_INTERRUPTED if self.stop_signal == signal.SIGINT and not self.finished else EXIT_OK

    def _coverage_json(self) -> dict | None:
        cov = self.coverage
        if cov is None:
            return None
        return {"events": cov.events,
                "fields": {p: round(cov.counts[p] / cov.events, 4) if cov.events else None for p in cov.paths}}

    def write_report(self) -> int | None:
        """`--report FILE`: the offline HTML page of this run (docs/report.md); an exit code on failure."""
        args = self.args
        if not args.report:
            return None
        from .report import ReportInputError, ReportUsageError, write_report
        from .report.inputs import MatchInput

        matches: object = args.out
        if not args.out:
            # The matches went to standard output; the page names that, not the private copy read back.
            class _Written(MatchInput):
                names = property(lambda self: ["(standard output)"])

            matches = _Written([self.tee_path])
        files = [p for p in self.inputs if p != "-"]
        events = files if (files and len(files) == len(self.inputs) and args.format == "auto"
                           and not args.map and not args.mapping) else None
        try:
            figures = write_report(args.report, matches if isinstance(matches, MatchInput) else [matches],
                                   events=events,
                                   quarantine=[args.quarantine] if args.quarantine else self.quarantine,
                                   pack=self.pack)
        except ReportInputError as exc:
            print(f"sleuth run: cannot write the report: {exc}", file=sys.stderr)
            return EXIT_IO
        except ReportUsageError as exc:
            print(f"sleuth run: cannot write the report: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            if not args.out:
                try:
                    os.unlink(self.tee_path)
                except OSError:
                    pass
        if not args.quiet:
            print(f"sleuth run: wrote the report {args.report} ({figures.get('bytes', 0) // 1024:,} KiB)",
                  file=sys.stderr)
        return None


class _Chain:
    """One input read from several files in turn (a followed file rotated while sleuth was stopped).

    Presents the reader interface the run uses; each file's reader is made
    when the one before it ends, numbering its lines on from there.
    """

    def __init__(self, makers: list, start_line: int, name: str):
        self._makers = list(makers)
        self.name = name
        self.current = self._makers.pop(0)(start_line)
        self.counts: dict[str, int] = {}
        self.sniffed = "restored from the state file"

    def __getattr__(self, name: str):
        return getattr(self.current, name)

    def probe(self, wait: bool = True):
        return self.current.probe(wait=wait)

    def close(self) -> None:
        self.current.close()

    def __iter__(self):
        while True:
            yield from self.current
            for k, v in self.current.counts.items():
                self.counts[k] = self.counts.get(k, 0) + v
            if not self._makers:
                return
            self.current = self._makers.pop(0)(self.current.next_line)


def _formats() -> tuple[str, ...]:
    from sleuth.engine.ingest.source import FORMATS

    return FORMATS


def open_source(*args, **kwargs):
    """`sleuth.engine.ingest.open_source` (a module attribute: tests replace it to simulate a crash)."""
    from sleuth.engine.ingest import open_source as real

    return real(*args, **kwargs)


class Progress:
    """A one-line progress display on stderr, only on a terminal."""

    def __init__(self, enabled: bool, total_bytes: int | None = None):
        self.enabled = enabled
        self.start = time.monotonic()
        self.last = 0.0
        self.total = total_bytes

    def update(self, events: int, matches: int, done_bytes: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        rate = events / max(now - self.start, 1e-9)
        bar = ""
        if self.total and done_bytes is not None:
            frac = min(1.0, done_bytes / self.total)
            filled = int(frac * 24)
            bar = f"[{'#' * filled}{'.' * (24 - filled)}] {frac * 100:5.1f}% "
        sys.stderr.write(f"\r{bar}{events:,} events  {matches:,} matches  {rate:,.0f} ev/s ")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 78 + "\r")
            sys.stderr.flush()


def build_normalizer(args, pack=None, profile=None):
    """The normaliser a command's input options describe: the profile's, then the flags on top.

    The engine's own construction path (`sleuth.engine.options.build_normalizer`,
    which `Engine(pack, ...)` uses) with `engine_options(args, profile)`: --map,
    --mapping, --openapi (repeatable), --no-templating; with `pack`, the types of
    the fields it reads are checked. Raises OSError for an unreadable mapping
    file and ValueError for a malformed one or a bad --map; a ValueError about
    an OpenAPI document carries `openapi = True` (an input error, exit 3, unlike
    a bad --map, exit 2).
    """
    from sleuth.engine.errors import EngineError
    from sleuth.engine.options import DEFAULTS, INGEST, canonical
    from sleuth.engine.options import build_normalizer as build

    opts = engine_options(args, profile)
    try:
        kw = {k: canonical(k, opts.get(k, DEFAULTS[k])) for k in sorted(INGEST)}
        return build(pack, **kw)
    except EngineError as exc:
        if isinstance(exc.__cause__, OSError):
            raise exc.__cause__ from None       # a file that cannot be read: the caller's "cannot read"
        err = ValueError(str(exc))
        err.openapi = "OpenAPI document" in str(exc)     # type: ignore[attr-defined]
        raise err from exc


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def print_summary(stats: dict, cpu: float, wall: float, stream) -> None:
    """The human summary of a run."""
    ev = stats["events_in"]
    rate = stats["events_processed"] / cpu if cpu > 0 else 0.0
    w = stream.write
    w(f"events: {ev:,} read, {stats['events_processed']:,} processed; "
      f"{stats['matches']:,} matches ({stats['suppressed']:,} suppressed)\n")
    q = stats["quarantined"]
    if q:
        w("quarantined: " + ", ".join(f"{k} {v:,}" for k, v in q.items()) + "\n")
    else:
        w("quarantined: none\n")
    if stats["evictions"]:
        w(f"evictions: {stats['evictions']:,} keys (" +
          ", ".join(f"{k} {v:,}" for k, v in stats["evicted_by_rule"].items()) + ")\n")
    missing = stats.get("missing_key_by_rule")
    if missing:
        # Events a rule's condition selected but whose key field was absent: the rule is blind to them.
        w("missing key (events that took no part): " +
          ", ".join(f"{k} {v:,}" for k, v in sorted(missing.items(), key=lambda x: -x[1])) + "\n")
    if stats.get("partials_evicted_by_rule"):
        w("sequence partials lost to eviction: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(stats["partials_evicted_by_rule"].items())) + "\n")
    fired = {k: v for k, v in stats["matches_by_rule"].items() if v}
    if fired:
        w("matches by rule: " + ", ".join(f"{k} {v:,}" for k, v in sorted(fired.items(), key=lambda x: -x[1])) + "\n")
    if stats["unique_ttps"]:
        w("unique TTPs (fingerprints): " + ", ".join(f"{k} {v:,}" for k, v in stats["unique_ttps"].items()) + "\n")
    w(f"speed: {rate:,.0f} events/s of CPU ({cpu:.2f} s CPU, {wall:.2f} s wall)\n")


def _pct(share: float) -> str:
    from sleuth.engine.ingest.coverage import percent

    return percent(share)


def print_input_summary(loop: RunLoop, stats: dict, blind: list, stream) -> None:
    """What the run read: inputs and their order, the lateness and why, field coverage, blind rules."""
    w = stream.write
    infos = loop.input_info()
    fmts = sorted({i["format"] for i in infos if i["format"] and i["format"] != "auto"})
    if len(infos) > 1:
        w(f"inputs: {len(infos)} files merged by event time ({', '.join(fmts) or 'no format seen'})\n")
    elif infos and infos[0]["format"] and infos[0]["format"] != "auto":
        why = f": {infos[0]['detected']}" if infos[0]["detected"] else ""
        w(f"input: {infos[0]['format']}{why}\n")
    w(f"lateness: {loop.engine.lateness:g} s ({loop.lateness_source})\n")
    for info in infos:
        o = info.get("order")
        if o and o["out_of_order"]:
            over = o["largest_lateness_s"] > loop.engine.lateness
            w(f"order: {info['input']}: {o['out_of_order']:,} of {o['events']:,} events out of order in the file "
              f"(largest {o['largest_lateness_s']:g} s{', more than the lateness' if over else ''})\n")
    if stats["quarantined"].get("late"):
        n_late = stats["quarantined"]["late"]
        w(f"late: {'1 event' if n_late == 1 else f'{n_late:,} events'} arrived after the lateness; "
          f"sleuth inspect measures the disorder and recommends a --lateness\n")
    for path in loop.skipped:
        w(f"skipped: {path} (unknown format)\n")
    for line in loop.column_warnings:
        w(f"warning: {line}\n")
    for note in loop.notes:
        w(f"note: {note}\n")
    cov = loop.coverage
    if cov is not None and cov.events:
        shown = [p for p in cov.paths if "." not in p] + [p for p in cov.paths if "." in p]
        w("fields the pack reads (share of events): "
          + ", ".join(f"{p} {_pct(cov.counts[p] / cov.events)}" for p in shown) + "\n")
    cannot = [b for b in blind if b.cannot]
    may = [b for b in blind if not b.cannot]
    if cannot:
        w(f"rules that cannot fire on this input ({len(cannot)} of {len(loop.pack.rules)}):\n")
        for b in cannot:
            w(f"  {b.text()}\n")
    if may:
        w(f"rules that may miss events of this input ({len(may)}):\n")
        for b in may:
            w(f"  {b.text()}\n")
