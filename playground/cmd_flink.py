"""`sleuth flink`: run a rule pack as an Apache Flink job (PyFlink, thread mode).

`sleuth flink plan PACK` prints the keyed stages (no Flink needed);
`sleuth flink run PACK --input FILE ...` builds the job from the pack's
partition plan and runs it on a local mini-cluster, or on a cluster when
started by `flink run -pym sleuth.playground.cli flink run ...`
(docs/scale-out.md). Matches and quarantine go to file sinks
under `--out` (exactly once), merged and sorted into `matches.jsonl` and
`quarantine.jsonl` at the end. SIGINT/SIGTERM (or `--stop-after`) with
`--savepoint-dir` stops the job with a savepoint; `--from-savepoint`
resumes it, at any `--parallelism`.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import signal
import sys
import threading
import time

import orjson

from .cli import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_IO, EXIT_OK, EXIT_USAGE

MANIFEST = "flink-run.json"


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth flink`."""
    p.add_argument("action", choices=("run", "plan"), help="run: run the job; plan: print its keyed stages")
    p.add_argument("pack", metavar="PACK", help="rule pack folder or rule file ('builtin' for the shipped pack)")
    p.add_argument("--input", "-i", action="append", metavar="FILE",
                   help="input file (repeatable; '-' reads stdin, spooled to the output folder)")
    p.add_argument("--format", default="auto", choices=("auto", "jsonl", "json", "msgpack", "apache", "nginx", "csv"),
                   help="input format (default: detected)")
    p.add_argument("-p", "--parallelism", type=int, default=2, metavar="N",
                   help="parallelism of the keyed stages (default 2; the reader runs at 1)")
    p.add_argument("-o", "--out", metavar="DIR", default="flink-out",
                   help="output folder: matches/ and quarantine/ part files, then matches.jsonl and "
                        "quarantine.jsonl (default flink-out)")
    p.add_argument("--savepoint-dir", metavar="DIR",
                   help="on SIGINT/SIGTERM or --stop-after, stop the job with a savepoint here")
    p.add_argument("--from-savepoint", metavar="PATH", help="resume from this savepoint (same pack, inputs, --out)")
    p.add_argument("--stop-after", type=float, metavar="SECONDS",
                   help="stop with a savepoint this long after the job starts (needs --savepoint-dir)")
    p.add_argument("--lateness", type=float, default=5.0, metavar="SECONDS",
                   help="out-of-order tolerance in event time (default 5); also the watermark's bound")
    p.add_argument("--grace", type=float, default=0.0, metavar="SECONDS",
                   help="extra wait before deciding a trailing absence (default 0)")
    p.add_argument("--map", action="append", metavar="CANONICAL=SOURCE.PATH",
                   help="map an input field to a canonical one (repeatable)")
    p.add_argument("--mapping", metavar="FILE", help="a mapping file (see docs/input.md)")
    p.add_argument("--openapi", metavar="SPEC", help="OpenAPI 3 document (JSON or YAML): routes and spec.* fields")
    p.add_argument("--no-templating", action="store_true",
                   help="without --openapi, do not derive route from path heuristically")
    p.add_argument("--max-line-bytes", type=int, default=1 << 20, metavar="N",
                   help="longer input lines are quarantined as 'oversized' (default 1 MiB)")
    p.add_argument("--chunk-bytes", type=int, default=256 * 1024, metavar="N",
                   help="the reader takes line-based inputs in chunks of about N bytes (default 256 KiB)")
    p.add_argument("--max-rate", type=float, metavar="EVENTS_PER_S",
                   help="replay the input no faster than this (demos, soak tests; default: as fast as it goes)")
    p.add_argument("--checkpoint-interval", type=float, default=2.0, metavar="SECONDS",
                   help="Flink checkpoint interval; matches are committed to the sink at checkpoints (default 2)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


def _fail(msg: str, code: int) -> int:
    print(f"sleuth flink: {msg}", file=sys.stderr)
    return code


def _pack_path(value: str) -> str:
    if value in ("", "builtin", "api"):
        from sleuth.dsl.pack import builtin_pack_path

        return builtin_pack_path()
    return os.path.abspath(value)


def _load(path: str):
    from sleuth.dsl import load_pack
    from sleuth.dsl.errors import PackError

    try:
        return load_pack(path)
    except PackError as exc:
        from sleuth.dsl.diagnostic import render_all

        print(render_all(exc.errors, exc.sources, colour=False), file=sys.stderr)
        print(f"sleuth flink: the rule pack has {len(exc.errors)} error(s); nothing was run", file=sys.stderr)
        return None


def missing_runtime() -> str | None:
    """Why a Flink job cannot start here (no Java, no pyflink), or None."""
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else None
    if not (java and os.path.exists(java)) and shutil.which("java") is None:
        return "Java 11 or later is needed (none on PATH or in JAVA_HOME)"
    try:
        import pyflink  # noqa: F401
    except ImportError:
        return "the flink extra is not installed: pip install 'sleuth[flink]' (apache-flink 2.3)"
    return None


def _options(args) -> dict:
    mapping: dict = {}
    if args.mapping:
        from sleuth.engine.ingest.mapping import load_mapping

        mapping.update(load_mapping(args.mapping))
    for item in args.map or []:
        from sleuth.engine.ingest.mapping import parse_mapping

        canon, src = parse_mapping(item)
        mapping[canon] = src
    openapi = None
    if args.openapi:
        from sleuth.engine.ingest.openapi import OpenAPI

        OpenAPI.load(args.openapi)          # refuse a bad document here, not in a worker
        openapi = os.path.abspath(args.openapi)
    return {"lateness": args.lateness, "grace": args.grace, "future_tolerance": 86400.0, "future_confirm": 2,
            "max_line_bytes": args.max_line_bytes, "mapping": mapping, "openapi": openapi,
            "templating": not args.no_templating, "max_rate": args.max_rate}


def _print_plan(pack) -> None:
    from .flink.core import plan_stages

    for s in plan_stages(pack):
        key = ", ".join(s.key_names) or "(no key: one Flink key for the whole stream)"
        what = "events" if s.level == 0 else f"matches of level {s.level - 1}"
        print(f"{s.name}: key {key}; reads {what}; rules {', '.join(s.rules)}")


def _collect(directory: str) -> list[bytes]:
    """Lines of the committed part files under `directory` (in-progress files are hidden)."""
    lines: list[bytes] = []
    for f in glob.glob(os.path.join(directory, "**", "*.jsonl"), recursive=True):
        if not os.path.basename(f).startswith("."):
            with open(f, "rb") as fh:
                lines += [x for x in fh.read().splitlines() if x]
    return lines


def run_flink(args) -> int:
    """`sleuth flink run|plan`: the exit code."""
    from .flink.core import Unsupported, check_supported, plan_chunks

    pack_path = _pack_path(args.pack)
    if not os.path.exists(pack_path):
        return _fail(f"no such rule pack: {args.pack}", EXIT_IO)
    pack = _load(pack_path)
    if pack is None:
        return EXIT_FINDINGS
    try:
        check_supported(pack)
    except Unsupported as exc:
        return _fail(str(exc), EXIT_USAGE)
    if args.action == "plan":
        _print_plan(pack)
        return EXIT_OK
    if not args.input:
        return _fail("give the input with --input FILE (or --input - for stdin)", EXIT_USAGE)
    if args.parallelism < 1:
        return _fail("--parallelism must be at least 1", EXIT_USAGE)
    if args.max_rate is not None and args.max_rate <= 0:
        return _fail("--max-rate must be above 0", EXIT_USAGE)
    if args.stop_after is not None and not args.savepoint_dir:
        return _fail("--stop-after needs --savepoint-dir", EXIT_USAGE)
    for p in args.input:
        if p != "-" and not os.path.isfile(p):
            return _fail(f"no such file: {p}", EXIT_IO)
    if args.from_savepoint and not os.path.exists(args.from_savepoint):
        return _fail(f"no such savepoint: {args.from_savepoint}", EXIT_IO)
    try:
        options = _options(args)
    except (OSError, ValueError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    why = missing_runtime()
    if why is not None:
        return _fail(why, EXIT_USAGE)
    out = os.path.abspath(args.out)
    try:
        os.makedirs(out, exist_ok=True)
        inputs = []
        for p in args.input:
            if p == "-":
                spool = os.path.join(out, "stdin.input")
                if not args.from_savepoint:
                    with open(spool, "wb") as fh:
                        shutil.copyfileobj(sys.stdin.buffer, fh)
                inputs.append((spool, "<stdin>"))
            else:
                inputs.append((os.path.abspath(p), p))
        chunks = plan_chunks(inputs, args.format, args.chunk_bytes)
    except OSError as exc:
        return _fail(f"cannot read the input: {exc}", EXIT_IO)
    if not chunks:
        return _fail("the input is empty", EXIT_IO)
    manifest = {"pack": pack.fingerprint, "inputs": [[p, n, os.path.getsize(p)] for p, n in inputs],
                "chunks": hashlib.blake2b(repr([(c.index, c.format, c.start, c.end, c.first_line)
                                                for c in chunks]).encode(), digest_size=12).hexdigest(),
                "options": options}
    mpath = os.path.join(out, MANIFEST)
    if args.from_savepoint:
        try:
            with open(mpath, "rb") as fh:
                before = orjson.loads(fh.read())
        except (OSError, ValueError) as exc:
            return _fail(f"cannot resume: {mpath}: {exc}", EXIT_IO)
        if {k: before.get(k) for k in ("pack", "inputs", "chunks")} != \
                {k: manifest[k] for k in ("pack", "inputs", "chunks")}:
            return _fail("cannot resume: the pack or the inputs differ from the run that wrote the savepoint",
                         EXIT_IO)
    elif _collect(os.path.join(out, "matches")) or os.path.exists(os.path.join(out, "matches.jsonl")):
        return _fail(f"{out} holds the output of an earlier run; remove it or resume with --from-savepoint",
                     EXIT_IO)
    with open(mpath, "wb") as fh:
        fh.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))

    from .flink import job

    started = time.monotonic()
    try:
        # Under `flink run -pym sleuth.playground.cli ...` the environment is the cluster's.
        env = job.environment(args.parallelism, savepoint=args.from_savepoint,
                              checkpoint_ms=max(100, int(args.checkpoint_interval * 1000)),
                              checkpoint_dir=os.path.join(out, "checkpoints"))
        job.build(env, pack_path, chunks, out, options)
        running = job.submit(env, f"sleuth {os.path.basename(pack_path)}")
    except Exception as exc:        # the JVM's refusal (a port in use, a bad savepoint...): one line
        lines = [x for x in str(exc).splitlines() if "Exception" in x or "Error" in x] or [type(exc).__name__]
        return _fail(f"the job could not start: {lines[-1].strip()[:300]}", EXIT_IO)
    stop = threading.Event()
    reason = {}

    def on_signal(signum, frame):
        reason["signal"] = signum
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    done = threading.Event()
    failure: list = []

    def waiter():
        try:
            running.wait()
        except Exception as exc:        # the job failed: reported below
            failure.append(exc)
        done.set()

    threading.Thread(target=waiter, daemon=True).start()
    try:
        while not done.is_set():
            if stop.is_set() or (args.stop_after is not None and time.monotonic() - started >= args.stop_after):
                break
            done.wait(0.2)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if not done.is_set():
        if args.savepoint_dir:
            try:
                path = running.stop_with_savepoint(args.savepoint_dir)
            except Exception as exc:
                if not done.wait(5):
                    return _fail(f"the stop with a savepoint failed: {str(exc).splitlines()[0][:300]}", EXIT_IO)
                path = None
            if path is not None:
                done.wait(30)
                print(path)
                if not args.quiet:
                    print(f"sleuth flink: stopped with a savepoint; resume with the same command and "
                          f"--from-savepoint {path}", file=sys.stderr)
                return EXIT_INTERRUPTED if reason.get("signal") == signal.SIGINT else EXIT_OK
        else:
            running.client.cancel().result()
            return _fail("interrupted (no --savepoint-dir: nothing was saved)", EXIT_INTERRUPTED)
    if failure:
        first = str(failure[0]).strip().splitlines()
        return _fail(f"the job failed: {first[0][:300] if first else type(failure[0]).__name__}", EXIT_IO)
    matches = sorted(_collect(os.path.join(out, "matches")))
    quarantine = sorted(_collect(os.path.join(out, "quarantine")))
    for name, lines in (("matches.jsonl", matches), ("quarantine.jsonl", quarantine)):
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(b"".join(x + b"\n" for x in lines))
    if not args.quiet:
        print(f"sleuth flink: {len(matches):,} matches, {len(quarantine):,} quarantined in "
              f"{time.monotonic() - started:.1f}s; {out}/matches.jsonl", file=sys.stderr)
    return EXIT_OK
