"""`sleuth run`: rules over files or stdin; matches as JSON lines.

Every input is read through one reader interface (formats auto-detected,
gzip transparent); `RunLoop` feeds the engine in batches, writes matches as
JSON lines (stdout or `--out`), bad input to `--quarantine`, a progress
line on a terminal and a summary on stderr. With `--state FILE` it
checkpoints the engine and the input position atomically (temp file +
rename) every `--checkpoint-every` events and at exit, and resumes from
there: with `--out FILE` every match is written exactly once across a kill
and restart (the output file is cut back to its checkpointed length).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import msgpack
import orjson

from sleuth.engine import Engine, Quarantine
from sleuth.engine.errors import EngineError, SnapshotError
from sleuth.engine.ingest import Bad, open_source

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


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth run`."""
    p.add_argument("pack", metavar="PACK", help="rule pack folder or rule file ('builtin' for the shipped pack)")
    p.add_argument("inputs", nargs="*", metavar="FILE", help="input files ('-' or none: stdin); gzip is read transparently")
    p.add_argument("--format", default="auto",
                   choices=("auto", "jsonl", "json", "msgpack", "apache", "nginx", "csv"),
                   help="input format (default: detected from the first bytes)")
    p.add_argument("-o", "--out", metavar="FILE", help="write matches here instead of stdout")
    p.add_argument("--quarantine", metavar="FILE", help="write bad input here, one JSON line with its reason each")
    p.add_argument("--lateness", type=float, default=None, metavar="SECONDS",
                   help="out-of-order tolerance in event time (default: the profile's, else 5)")
    p.add_argument("--grace", type=float, default=0.0, metavar="SECONDS",
                   help="extra wait before deciding a trailing absence (default 0)")
    p.add_argument("--max-keys", type=int, default=1_000_000, metavar="N",
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
                   help="keep reading a growing file (Ctrl-C to stop); list files reload when they change")
    p.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                   help="with --follow, stop after this long without new input")
    p.add_argument("--max-line-bytes", type=int, default=1 << 20, metavar="N",
                   help="longer input lines are quarantined as 'oversized' (default 1 MiB)")
    p.add_argument("--state", metavar="FILE", help="checkpoint here and resume from it (see docs/reliability.md)")
    p.add_argument("--checkpoint-every", type=int, default=100_000, metavar="N",
                   help="events between checkpoints with --state (default 100000)")
    p.add_argument("--metrics", metavar="FILE", help="write the run's counters as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress line even on a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    add_profile_options(p)


def run_run(args) -> int:
    profile, code = load_profile_or_report(args, "run")
    if code is not None:
        return code
    pack, code = load_pack_with(pack_paths(args.pack), profile, "run")
    if pack is None:
        return code if code is not None else EXIT_FINDINGS
    inputs = args.inputs or ["-"]
    for p in inputs:
        if p != "-" and not os.path.exists(p):
            print(f"sleuth run: no such file: {p}", file=sys.stderr)
            return EXIT_IO
    try:
        options = engine_options(args, profile)
    except (OSError, ValueError) as exc:
        print(f"sleuth run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.memory is not None:
        from sleuth.engine.state import parse_bytes

        try:
            parse_bytes(args.memory)
        except ValueError as exc:
            print(f"sleuth run: --memory: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return RunLoop(args, pack, inputs, options).run()


class RunLoop:
    """One `sleuth run` from start to end: resume, open outputs, feed, checkpoint, finish.

    `run()` returns the exit code. The steps are methods so that each reads
    on its own: `resume` (the state file, if any), `open` (outputs cut back
    to the checkpoint, the engine new or restored, signal handlers),
    `feed_file` (one input, in batches, checkpointing as it goes),
    `checkpoint`, `close` (outputs and handlers, whatever happened) and
    `report` (metrics file and summary). SIGTERM and a first Ctrl-C stop at
    the next batch boundary; a second Ctrl-C stops at once.
    """

    def __init__(self, args, pack, inputs: list[str], options: dict):
        self.args = args
        self.pack = pack
        self.inputs = inputs
        self.abs_inputs = [os.path.abspath(p) if p != "-" else "-" for p in inputs]
        self.options = options                # Engine(...) options: the embedding path (docs/embedding.md)
        self.state: dict | None = None        # the state file resumed from
        self.file_index = 0                   # where the run (re)starts
        self.skip = 0                         # positions of that input already fed
        self.out_len = self.q_len = 0         # checkpointed lengths of --out and --quarantine
        self.fi = 0                           # the input being read
        self.fed_pos = 0                      # its last position fed to the engine
        self.stopping = False
        self.stop_signal: int | None = None
        self.finished = False
        self.written = 0
        self.read_events = 0
        self.since_checkpoint = 0
        self.last_checkpoint = self.last_reload = time.monotonic()

    def run(self) -> int:
        code = self.resume()
        if code is None:
            code = self.open()
        if code is not None:
            return code
        try:
            code = self.feed()
            if code is not None:
                return code
            if self.finished:
                self.write(self.engine.close())
                self.checkpoint(len(self.inputs), 0, done=True)
        finally:
            self.close()
        return self.report()

    # ---------------------------------------------------------------- start

    def resume(self) -> int | None:
        """Read the state file when there is one; an exit code if the run must not go on."""
        args = self.args
        if not (args.state and os.path.exists(args.state)):
            return None
        try:
            with open(args.state, "rb") as fh:
                state = msgpack.unpackb(fh.read(), raw=False, strict_map_key=False)
            if not isinstance(state, dict) or state.get("magic") != STATE_MAGIC:
                raise SnapshotError("not a sleuth run state file")
            if state.get("inputs") != self.abs_inputs:
                raise SnapshotError("the state file was written for other inputs")
            self.file_index, self.skip = int(state["file_index"]), int(state["position"])
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
        args = self.args
        self.qsink = self._open_out(args.quarantine, self.q_len) if args.quarantine else None
        self.quarantine = Quarantine(self.qsink)
        if self.state is not None:
            try:
                self.engine = Engine.restore(self.pack, self.state["engine"], quarantine=self.quarantine,
                                             **self.options)
            except SnapshotError as exc:
                print(f"sleuth run: cannot resume from {args.state}: {exc}", file=sys.stderr)
                return EXIT_IO
        else:
            try:
                self.engine = Engine(self.pack, quarantine=self.quarantine, **self.options)
            except EngineError as exc:
                print(f"sleuth run: {exc}", file=sys.stderr)
                if self.qsink is not None:
                    self.qsink.close()
                return EXIT_USAGE
        import gc

        gc.freeze()    # the pack and its generated code live for the whole run: keep them out of GC scans
        self.out = self._open_out(args.out, self.out_len) if args.out else sys.stdout.buffer
        self.progress = Progress(sys.stderr.isatty() and not args.quiet and not args.no_progress,
                                 sum(os.path.getsize(p) for p in self.inputs
                                     if p != "-" and os.path.isfile(p)) or None)
        self.started = time.process_time()
        self.wall = time.monotonic()
        self.old_term = signal.signal(signal.SIGTERM, self._on_signal)
        self.old_int = signal.signal(signal.SIGINT, self._on_signal)
        return None

    def _on_signal(self, signum, frame) -> None:
        # Stop at the next safe point (between batches); a second Ctrl-C stops hard.
        if self.stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stopping = True
        self.stop_signal = signum

    # ---------------------------------------------------------------- feed

    def write(self, matches) -> None:
        out = self.out
        for m in matches:
            out.write(m.to_json())
            out.write(b"\n")
        self.written += len(matches)

    def feed(self) -> int | None:
        """Every input from where the run starts; an exit code when an input fails."""
        self.fi, self.fed_pos = self.file_index, self.skip
        for fi in range(self.file_index, len(self.inputs)):
            self.fi = fi
            code = self.feed_file(fi)
            if code is not None:
                return code
            if self.stopping or (self.args.follow and self.args.state):
                # Interrupted, or a followed input went idle: keep the stream open for a
                # later run (nothing is closed: windows and absences stay pending).
                self.checkpoint(fi, self.fed_pos)
                return None
            self.skip = 0
        self.finished = True
        return None

    def feed_file(self, fi: int) -> int | None:
        """One input, in batches (one event at a time with --follow); an exit code on failure."""
        args = self.args
        path = self.inputs[fi]
        try:
            reader = open_source(None if path == "-" else path, args.format, follow=args.follow,
                                 max_line_bytes=args.max_line_bytes,
                                 idle_timeout=args.idle_timeout if args.follow else None,
                                 stop=lambda: self.stopping)
        except ValueError as exc:
            print(f"sleuth run: {exc}", file=sys.stderr)
            return EXIT_USAGE
        name = reader.name
        first = fi == self.file_index
        skip = self.skip
        batch: list = []
        positions: list[int] = []
        self.fed_pos = pending_pos = skip if first else 0
        limit = 1 if args.follow else BATCH
        quarantine, engine = self.quarantine, self.engine

        def flush() -> None:
            nonlocal batch, positions
            if batch:
                self.write(engine.feed_many(batch, name, positions))
                self.read_events += len(batch)
                self.since_checkpoint += len(batch)
                batch, positions = [], []
            self.fed_pos = pending_pos

        try:
            for pos, item in reader:
                if first and pos <= skip:
                    continue
                if args.follow and time.monotonic() - self.last_reload >= 1.0:
                    self.last_reload = time.monotonic()
                    changed = self.pack.reload_lists()
                    if changed and not args.quiet:
                        print(f"sleuth run: reloaded list(s) {', '.join(changed)}", file=sys.stderr)
                pending_pos = pos
                if type(item) is Bad:
                    quarantine.add(name, pos, item.reason, item.detail, item.excerpt)
                else:
                    batch.append(item)
                    positions.append(pos)
                if len(batch) >= limit or (type(item) is Bad and not batch):
                    flush()
                    if args.follow:
                        self.out.flush()
                    self.progress.update(self.read_events, self.written)
                    if args.state and (self.since_checkpoint >= args.checkpoint_every
                                       or (args.follow and time.monotonic() - self.last_checkpoint >= 5.0)):
                        self.checkpoint(fi, self.fed_pos)
                        self.since_checkpoint = 0
                        self.last_checkpoint = time.monotonic()
                if self.stopping:
                    break
        except BrokenPipeError:
            raise           # our output was closed (e.g. piped into head): stop quietly
        except OSError as exc:
            print(f"sleuth run: cannot read {path}: {exc}", file=sys.stderr)
            return EXIT_IO
        flush()
        return None

    def checkpoint(self, fi: int, pos: int, done: bool = False) -> None:
        """With --state: outputs synced, then engine and input position written atomically."""
        if not self.args.state:
            return
        out, qsink = self.out, self.qsink
        out.flush()
        if out is not sys.stdout.buffer:
            os.fsync(out.fileno())
        if qsink is not None:
            qsink.flush()
            os.fsync(qsink.fileno())
        blob = msgpack.packb({
            "magic": STATE_MAGIC, "version": 1, "inputs": self.abs_inputs,
            "file_index": fi, "position": pos, "done": done,
            "out_len": out.tell() if out is not sys.stdout.buffer else 0,
            "quarantine_len": qsink.tell() if qsink is not None else 0,
            "engine": self.engine.snapshot(),
        }, use_bin_type=True)
        _atomic_write(self.args.state, blob)

    # ---------------------------------------------------------------- finish

    def close(self) -> None:
        """Handlers restored, progress line cleared, outputs flushed and closed."""
        signal.signal(signal.SIGTERM, self.old_term)
        signal.signal(signal.SIGINT, self.old_int)
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

    def report(self) -> int:
        """The metrics file and the summary; the exit code of a run that went to its end or stopped."""
        args = self.args
        cpu = time.process_time() - self.started
        elapsed = time.monotonic() - self.wall
        stats = self.engine.stats()
        if args.metrics:
            with open(args.metrics, "wb") as fh:
                fh.write(orjson.dumps({**stats, "cpu_seconds": round(cpu, 3), "wall_seconds": round(elapsed, 3)},
                                      option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
        if not args.quiet:
            print_summary(stats, cpu, elapsed, sys.stderr)
            if not self.finished:
                print(f"sleuth run: stopped at {self.inputs[self.fi]}:{self.fed_pos}; "
                      + (f"resume with the same command (state in {args.state})" if args.state else
                         "nothing was checkpointed (use --state FILE to resume)"), file=sys.stderr)
        # SIGTERM is a requested, clean stop (0); Ctrl-C is an interruption (130).
        return EXIT_INTERRUPTED if self.stop_signal == signal.SIGINT and not self.finished else EXIT_OK


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


def build_normalizer(args, pack=None):
    """The normaliser `sleuth run`'s input options describe (for commands that build their own engine).

    The engine's own construction path (`sleuth.engine.options.build_normalizer`)
    with the options of `engine_options(args, None)`; raises OSError or ValueError
    for an unreadable or malformed mapping or OpenAPI document.
    """
    from sleuth.engine.options import DEFAULTS, canonical
    from sleuth.engine.options import build_normalizer as build

    opts = engine_options(args, None)
    kw = {k: canonical(k, opts.get(k, DEFAULTS[k])) for k in ("mapping", "openapi", "templating", "roles", "max_string")}
    try:
        return build(pack, **kw)
    except EngineError as exc:
        raise ValueError(str(exc)) from exc


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
    if stats.get("partials_evicted_by_rule"):
        w("sequence partials lost to eviction: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(stats["partials_evicted_by_rule"].items())) + "\n")
    fired = {k: v for k, v in stats["matches_by_rule"].items() if v}
    if fired:
        w("matches by rule: " + ", ".join(f"{k} {v:,}" for k, v in sorted(fired.items(), key=lambda x: -x[1])) + "\n")
    if stats["unique_ttps"]:
        w("unique TTPs (fingerprints): " + ", ".join(f"{k} {v:,}" for k, v in stats["unique_ttps"].items()) + "\n")
    w(f"speed: {rate:,.0f} events/s of CPU ({cpu:.2f} s CPU, {wall:.2f} s wall)\n")
