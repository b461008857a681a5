"""`sleuth run` and `sleuth explain`: rules over files or stdin, and the compiled machine.

`run` reads every input through one reader interface (formats
auto-detected, gzip transparent), feeds the engine in batches, writes
matches as JSON lines (stdout or `--out`), bad input to `--quarantine`, a
progress line on a terminal and a summary on stderr. With `--state FILE` it
checkpoints the engine and the input position atomically (temp file +
rename) every `--checkpoint-every` events and at exit, and resumes from
there: with `--out FILE` every match is written exactly once across a kill
and restart (the output file is cut back to its checkpointed length).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import msgpack
import orjson

from sleuth.dsl.diagnostic import render_all
from sleuth.dsl.errors import PackError
from sleuth.dsl.pack import builtin_pack_path, load_pack
from sleuth.engine import Engine, Normalizer, Quarantine
from sleuth.engine.errors import SnapshotError
from sleuth.engine.ingest import Bad, open_source

from .cli import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_IO, EXIT_OK, EXIT_USAGE, use_colour

BATCH = 512
STATE_MAGIC = "sleuth-run-state"


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


def _load(paths) -> object:
    try:
        return load_pack(paths)
    except PackError as exc:
        print(render_all(exc.errors, exc.sources, colour=use_colour(sys.stderr)), file=sys.stderr)
        print(f"sleuth: the rule pack has {len(exc.errors)} error(s); nothing was run", file=sys.stderr)
        return None


def _pack_arg(value: str | None) -> list[str]:
    if value in (None, "", "builtin", "api"):
        return [builtin_pack_path()]
    return [value]


def build_normalizer(args):
    mapping = {}
    if getattr(args, "mapping", None):
        from sleuth.engine.ingest import load_mapping

        mapping.update(load_mapping(args.mapping))
    for item in getattr(args, "map", None) or []:
        from sleuth.engine.ingest import parse_mapping

        canon, src = parse_mapping(item)
        mapping[canon] = src
    templater = None
    if getattr(args, "openapi", None):
        from sleuth.engine.ingest import OpenAPI

        templater = OpenAPI.load(args.openapi)
    elif not getattr(args, "no_templating", False):
        from sleuth.engine.ingest import HeuristicTemplater

        templater = HeuristicTemplater()
    return Normalizer(mapping, templater=templater)


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def run_run(args) -> int:
    pack = _load(_pack_arg(args.pack))
    if pack is None:
        return EXIT_FINDINGS
    inputs = args.inputs or ["-"]
    for p in inputs:
        if p != "-" and not os.path.exists(p):
            print(f"sleuth run: no such file: {p}", file=sys.stderr)
            return EXIT_IO
    try:
        normalizer = build_normalizer(args)
    except (OSError, ValueError) as exc:
        print(f"sleuth run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    enrich = []
    if args.enrich_table:
        from sleuth.engine.ingest import PrefixTable

        enrich.append(PrefixTable.from_csv(args.enrich_table))
    options = dict(lateness=args.lateness, grace=args.grace, max_keys=args.max_keys)
    abs_inputs = [os.path.abspath(p) if p != "-" else "-" for p in inputs]

    # Resume from a checkpoint when one exists.
    file_index, skip, out_len, q_len = 0, 0, 0, 0
    state = None
    if args.state and os.path.exists(args.state):
        try:
            with open(args.state, "rb") as fh:
                state = msgpack.unpackb(fh.read(), raw=False, strict_map_key=False)
            if not isinstance(state, dict) or state.get("magic") != STATE_MAGIC:
                raise SnapshotError("not a sleuth run state file")
            if state.get("inputs") != abs_inputs:
                raise SnapshotError("the state file was written for other inputs")
            file_index, skip = int(state["file_index"]), int(state["position"])
            out_len, q_len = int(state["out_len"]), int(state.get("quarantine_len", 0))
        except (SnapshotError, OSError, ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
            print(f"sleuth run: cannot resume from {args.state}: {exc}", file=sys.stderr)
            return EXIT_IO
        try:
            header = msgpack.unpackb(state["engine"], raw=False)[0]
        except Exception:
            header = {}
        if not isinstance(header, dict) or header.get("pack") != pack.fingerprint:
            print(f"sleuth run: cannot resume from {args.state}: it was written with another rule pack",
                  file=sys.stderr)
            return EXIT_IO
        if state.get("done"):
            print(f"sleuth run: {args.state} records a finished run; nothing to do "
                  f"(remove it to run again)", file=sys.stderr)
            return EXIT_OK

    # Outputs: on resume, cut back to what the checkpoint had written (exactly once).
    def open_out(path: str, length: int):
        if state is not None:
            fh = open(path, "r+b") if os.path.exists(path) else open(path, "w+b")
            fh.truncate(length)
            fh.seek(length)
            return fh
        return open(path, "wb")

    qsink = open_out(args.quarantine, q_len) if args.quarantine else None
    quarantine = Quarantine(qsink)
    if state is not None:
        try:
            engine = Engine.restore(pack, state["engine"], normalizer=normalizer, quarantine=quarantine,
                                    enrich=enrich)
        except SnapshotError as exc:
            print(f"sleuth run: cannot resume from {args.state}: {exc}", file=sys.stderr)
            return EXIT_IO
    else:
        engine = Engine(pack, normalizer=normalizer, quarantine=quarantine, enrich=enrich, **options)
    import gc

    gc.freeze()    # the pack and its generated code live for the whole run: keep them out of GC scans
    out = open_out(args.out, out_len) if args.out else sys.stdout.buffer
    progress = Progress(sys.stderr.isatty() and not args.quiet and not args.no_progress,
                        sum(os.path.getsize(p) for p in inputs if p != "-" and os.path.isfile(p)) or None)
    written = 0
    started = time.process_time()
    wall = time.monotonic()
    read_events = 0
    stop = {"flag": False}

    def on_signal(signum, frame):
        # Stop at the next safe point (between batches); a second Ctrl-C stops hard.
        if stop["flag"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop["flag"] = True
        stop["signal"] = signum

    old_term = signal.signal(signal.SIGTERM, on_signal)
    old_int = signal.signal(signal.SIGINT, on_signal)

    def write(matches) -> None:
        nonlocal written
        for m in matches:
            out.write(m.to_json())
            out.write(b"\n")
        written += len(matches)

    def checkpoint(fi: int, pos: int, done: bool = False) -> None:
        if not args.state:
            return
        out.flush()
        if out is not sys.stdout.buffer:
            os.fsync(out.fileno())
        if qsink is not None:
            qsink.flush()
            os.fsync(qsink.fileno())
        blob = msgpack.packb({
            "magic": STATE_MAGIC, "version": 1, "inputs": abs_inputs,
            "file_index": fi, "position": pos, "done": done,
            "out_len": out.tell() if out is not sys.stdout.buffer else 0,
            "quarantine_len": qsink.tell() if qsink is not None else 0,
            "engine": engine.snapshot(),
        }, use_bin_type=True)
        _atomic_write(args.state, blob)

    since_checkpoint = 0
    last_checkpoint = time.monotonic()
    last_reload = time.monotonic()
    fi, fed_pos = file_index, skip
    finished = False
    try:
        for fi in range(file_index, len(inputs)):
            path = inputs[fi]
            try:
                reader = open_source(None if path == "-" else path, args.format, follow=args.follow,
                                     max_line_bytes=args.max_line_bytes,
                                     idle_timeout=args.idle_timeout if args.follow else None,
                                     stop=lambda: stop["flag"])
            except ValueError as exc:
                print(f"sleuth run: {exc}", file=sys.stderr)
                return EXIT_USAGE
            name = reader.name
            batch: list = []
            positions: list[int] = []
            fed_pos = skip if fi == file_index else 0
            pending_pos = fed_pos
            limit = 1 if args.follow else BATCH

            def flush(name=name) -> None:
                nonlocal batch, positions, fed_pos, read_events, since_checkpoint
                if batch:
                    write(engine.feed_many(batch, name, positions))
                    read_events += len(batch)
                    since_checkpoint += len(batch)
                    batch, positions = [], []
                fed_pos = pending_pos  # noqa: B023 (read when called, inside this iteration)

            try:
                for pos, item in reader:
                    if fi == file_index and pos <= skip:
                        continue
                    if args.follow and time.monotonic() - last_reload >= 1.0:
                        last_reload = time.monotonic()
                        changed = pack.reload_lists()
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
                            out.flush()
                        progress.update(read_events, written)
                        if args.state and (since_checkpoint >= args.checkpoint_every
                                           or (args.follow and time.monotonic() - last_checkpoint >= 5.0)):
                            checkpoint(fi, fed_pos)
                            since_checkpoint = 0
                            last_checkpoint = time.monotonic()
                    if stop["flag"]:
                        break
            except BrokenPipeError:
                raise           # our output was closed (e.g. piped into head): stop quietly
            except OSError as exc:
                print(f"sleuth run: cannot read {path}: {exc}", file=sys.stderr)
                return EXIT_IO
            flush()
            if stop["flag"] or (args.follow and args.state):
                # Interrupted, or a followed input went idle: keep the stream open for a
                # later run (nothing is closed: windows and absences stay pending).
                checkpoint(fi, fed_pos)
                break
            skip = 0
        else:
            finished = True
        if finished:
            write(engine.close())
            checkpoint(len(inputs), 0, done=True)
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
        progress.done()
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
        if qsink is not None:
            qsink.close()
    cpu = time.process_time() - started
    elapsed = time.monotonic() - wall
    stats = engine.stats()
    if args.metrics:
        with open(args.metrics, "wb") as fh:
            fh.write(orjson.dumps({**stats, "cpu_seconds": round(cpu, 3), "wall_seconds": round(elapsed, 3)},
                                  option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
    if not args.quiet:
        print_summary(stats, cpu, elapsed, sys.stderr)
        if not finished:
            print(f"sleuth run: stopped at {inputs[fi]}:{fed_pos}; "
                  + (f"resume with the same command (state in {args.state})" if args.state else
                     "nothing was checkpointed (use --state FILE to resume)"), file=sys.stderr)
    # SIGTERM is a requested, clean stop (0); Ctrl-C is an interruption (130).
    return EXIT_INTERRUPTED if stop.get("signal") == signal.SIGINT and not finished else EXIT_OK


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
    fired = {k: v for k, v in stats["matches_by_rule"].items() if v}
    if fired:
        w("matches by rule: " + ", ".join(f"{k} {v:,}" for k, v in sorted(fired.items(), key=lambda x: -x[1])) + "\n")
    if stats["unique_ttps"]:
        w("unique TTPs (fingerprints): " + ", ".join(f"{k} {v:,}" for k, v in stats["unique_ttps"].items()) + "\n")
    w(f"speed: {rate:,.0f} events/s of CPU ({cpu:.2f} s CPU, {wall:.2f} s wall)\n")


def run_explain(args) -> int:
    pack = _load(_pack_arg(args.pack))
    if pack is None:
        return EXIT_FINDINGS
    names = [r.name for r in pack.rules]
    wanted = args.rules or names
    status = EXIT_OK
    for name in wanted:
        try:
            spec = pack.rule(name)
        except KeyError:
            from sleuth.dsl.diagnostic import closest

            guess = closest(name, names)
            print(f"sleuth explain: no rule named '{name}'" + (f"; did you mean '{guess}'?" if guess else ""),
                  file=sys.stderr)
            status = EXIT_USAGE
            continue
        sys.stdout.write(spec.explain_text)
        if args.dispatch:
            sys.stdout.write("\ndispatch functions holding this rule:\n")
            for group in pack.events.groups() + pack.matches.groups():
                if any(pack.rules[i].name == name for i, _r in group.slots):
                    sys.stdout.write(f"\n# {group.name}\n")
                    for i, text in enumerate(group.source.splitlines(), 1):
                        info = group.lines.get(i)
                        tag = f"  # {info.file}:{info.line}" if info else ""
                        sys.stdout.write(f"  {i:>3} | {text}{tag}\n")
        sys.stdout.write("\n")
    return status
