"""`sleuth serve`: an HTTP decision service for gateways (nginx auth_request, Envoy ext_authz).

Loads the pack and the policy, restores `--state` when it exists, starts one
engine worker thread, a background writer and uvicorn on a socket bound
here (`--port 0` picks a free port, printed on stderr). SIGTERM or Ctrl-C
shut down gracefully: in-flight requests finish, the worker drains its
queue, the state is written atomically, outputs are flushed. The endpoints
and the deployment are described in docs/mitigation.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time

from .cli import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_IO, EXIT_OK, EXIT_USAGE


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth serve`."""
    p.add_argument("pack", metavar="PACK", help="rule pack folder or rule file ('builtin' for the shipped pack)")
    p.add_argument("--policy", metavar="FILE", help="the policy of actions (TOML, docs/mitigation.md); "
                   "default: log every match, enforce nothing")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port to listen on; 0 picks a free one (default 8787)")
    p.add_argument("--trusted-proxy", action="append", metavar="CIDR",
                   help="a proxy whose X-Forwarded-For / X-Real-IP is believed (repeatable; default loopback)")
    p.add_argument("--session-cookie", metavar="NAME", help="the cookie holding the session id (-> session)")
    p.add_argument("--header-field", action="append", metavar="FIELD=HEADER",
                   help="take a canonical field from a forwarded header, e.g. user=x-user (repeatable)")
    p.add_argument("--budget-ms", type=float, default=50.0, metavar="MS",
                   help="answer a decision within this time, else by the fail mode (default 50)")
    p.add_argument("--fail-closed", action="store_true",
                   help="deny when the engine fails or is late (default: the policy's on_error, allow)")
    p.add_argument("--matches", default="-", metavar="FILE", help="write matches here as JSON lines (default stdout)")
    p.add_argument("--decisions", default="-", metavar="FILE",
                   help="write decisions here as JSON lines (default stdout)")
    p.add_argument("--quarantine", metavar="FILE", help="write bad input here, one JSON line with its reason each")
    p.add_argument("--state", metavar="FILE", help="restore from this file at start, write it at shutdown")
    p.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                   help="with --state, also write it this often (default 60; 0: only at shutdown)")
    p.add_argument("--lateness", type=float, default=5.0, metavar="SECONDS",
                   help="out-of-order tolerance of ingested log events (default 5)")
    p.add_argument("--max-keys", type=int, default=1_000_000, metavar="N",
                   help="global cap on live keys per engine (LRU eviction; default 1000000)")
    p.add_argument("--max-pending", type=int, default=4096, metavar="N",
                   help="decision requests waiting for the engine before overload answers (default 4096)")
    p.add_argument("--max-body", type=int, default=16 << 20, metavar="BYTES",
                   help="largest /ingest batch (default 16 MiB)")
    p.add_argument("--envoy-prefix", default="/ext_authz", metavar="PATH",
                   help="path prefix of Envoy ext_authz requests (default /ext_authz)")
    p.add_argument("--map", action="append", metavar="CANONICAL=SOURCE.PATH",
                   help="map an input field to a canonical one (repeatable)")
    p.add_argument("--mapping", metavar="FILE", help="a mapping file (see docs/input.md)")
    p.add_argument("--openapi", action="append", metavar="SPEC",
                   help="OpenAPI 3 document (JSON or YAML): routes and spec.* fields (repeatable)")
    p.add_argument("--no-templating", action="store_true",
                   help="without --openapi, do not derive route from path heuristically")
    p.add_argument("--enrich-table", metavar="CSV", help="prefix table adding asn/country to events (docs/input.md)")
    p.add_argument("--access-log", action="store_true", help="uvicorn's access log on stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="no start line and summary on stderr")


class _Stop:
    signal: int | None = None


def run_serve(args) -> int:
    try:
        import prometheus_client  # noqa: F401
        import uvicorn
    except ImportError as exc:
        print(f"sleuth serve: needs the 'serve' extra ({exc.name} is missing): pip install 'sleuth[serve]'",
              file=sys.stderr)
        return EXIT_USAGE
    from sleuth.engine.policy import Policy, PolicyError, load_policy

    from .cli import load_pack_or_report, pack_paths
    from .cmd_run import build_normalizer
    from .serve.app import ServeApp
    from .serve.guard import Guard
    from .serve.metrics import Metrics
    from .serve.output import Writer, atomic_write
    from .serve.request import DEFAULT_TRUSTED, RequestMapper
    from .serve.worker import Worker

    say = (lambda msg: None) if args.quiet else (lambda msg: print(f"sleuth serve: {msg}", file=sys.stderr))
    if args.budget_ms <= 0 or args.max_pending < 1 or args.max_body < 1 or args.lateness < 0:
        print("sleuth serve: --budget-ms, --max-pending and --max-body must be > 0, --lateness >= 0",
              file=sys.stderr)
        return EXIT_USAGE
    pack = load_pack_or_report(pack_paths(args.pack))
    if pack is None:
        return EXIT_FINDINGS
    policy = Policy.default()
    if args.policy:
        try:
            policy = load_policy(args.policy)
        except OSError as exc:
            print(f"sleuth serve: cannot read {args.policy}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_IO
        except PolicyError as exc:
            print("\n\n".join(d.render() for d in exc.diagnostics), file=sys.stderr)
            print(f"sleuth serve: the policy has {sum(d.is_error for d in exc.diagnostics)} error(s); "
                  "nothing was started", file=sys.stderr)
            return EXIT_FINDINGS
        for w in list(policy.warnings) + policy.check_rules(r.name for r in pack.rules):
            print(w.render(), file=sys.stderr)
    fields = {}
    for item in args.header_field or []:
        canon, sep, header = item.partition("=")
        if not sep or not canon or not header:
            print(f"sleuth serve: --header-field takes FIELD=HEADER, not {item!r}", file=sys.stderr)
            return EXIT_USAGE
        fields[canon.strip()] = header.strip()
    try:
        mapper = RequestMapper(trusted_proxies=args.trusted_proxy or DEFAULT_TRUSTED,
                               session_cookie=args.session_cookie, fields=fields)
        normalizer = build_normalizer(args)
    except (OSError, ValueError) as exc:
        print(f"sleuth serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    enrich = []
    if args.enrich_table:
        from sleuth.engine.ingest.enrich import PrefixTable

        enrich.append(PrefixTable.from_csv(args.enrich_table))
    try:
        writer = Writer({"matches": args.matches, "decisions": args.decisions, "quarantine": args.quarantine})
    except OSError as exc:
        print(f"sleuth serve: cannot open an output: {exc}", file=sys.stderr)
        return EXIT_IO
    guard = Guard(pack, policy, normalizer=normalizer, enrich=enrich, max_keys=args.max_keys,
                  lateness=args.lateness, writer=writer)
    if args.state and os.path.exists(args.state):
        from sleuth.engine import SnapshotError

        try:
            with open(args.state, "rb") as fh:
                guard.restore(fh.read())
        except (OSError, SnapshotError) as exc:
            print(f"sleuth serve: cannot resume from {args.state}: {exc}", file=sys.stderr)
            writer.close()
            return EXIT_IO
        say(f"resumed from {args.state} ({len(guard.enforcer.active())} active decisions)")

    metrics = Metrics()
    worker = Worker(guard, max_pending=args.max_pending,
                    snapshot_every=args.checkpoint_every if args.state and args.checkpoint_every > 0 else None,
                    on_snapshot=(lambda blob: writer.write_file(args.state, blob)) if args.state else None,
                    observe=metrics.engine_latency.observe)

    def shutdown() -> None:
        worker.stop()
        if args.state:
            atomic_write(args.state, guard.snapshot())     # the worker has ended: this thread owns the guard
        writer.close()

    fail_open = not args.fail_closed and policy.on_error == "allow"
    app = ServeApp(worker, mapper, metrics, budget=args.budget_ms / 1000.0, fail_open=fail_open,
                   envoy_prefix=args.envoy_prefix, max_body=args.max_body, on_shutdown=shutdown)
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"sleuth serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        writer.close()
        return EXIT_IO
    host, port = sock.getsockname()[:2]
    stop = _Stop()

    class Server(uvicorn.Server):
        # Graceful stop on SIGTERM/SIGINT without re-raising the signal afterwards (uvicorn's
        # default), so that the state is written and the exit code is ours.
        def capture_signals(self):
            import contextlib

            @contextlib.contextmanager
            def handlers():
                def on_signal(sig, frame):
                    if self.should_exit and sig == signal.SIGINT:
                        self.force_exit = True
                    stop.signal = sig
                    self.should_exit = True
                old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
                try:
                    yield
                finally:
                    for s, h in old.items():
                        signal.signal(s, h)
            return handlers()

    loop = "uvloop" if _has("uvloop") else "asyncio"
    http = "httptools" if _has("httptools") else "h11"
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=args.access_log, loop=loop,
                            http=http, timeout_graceful_shutdown=10)
    server = Server(config)
    worker.start()
    say(f"listening on http://{host}:{port} (pack {pack.name}, {len(pack.rules)} rules; "
        f"policy {args.policy or 'log only'}; {'fail-open' if fail_open else 'fail-closed'})")
    started = time.monotonic()
    try:
        server.run(sockets=[sock])
    finally:
        if worker.alive:       # startup failed or the server stopped without a lifespan shutdown
            shutdown()
    st = guard.stats()
    c = st["counters"]
    say(f"stopped after {time.monotonic() - started:.1f}s: {c['requests']:,} requests, "
        f"{c['ingested']:,} ingested events, {sum(st['live']['matches_by_rule'].values()) + (sum(st['log']['matches_by_rule'].values()) if st['log'] else 0):,} matches, "
        f"{sum(st['policy']['decisions'].values()):,} decisions, {sum(st['quarantined'].values()):,} quarantined"
        + (f"; state written to {args.state}" if args.state else ""))
    if not server.started:
        return EXIT_IO
    return EXIT_INTERRUPTED if stop.signal == signal.SIGINT else EXIT_OK


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
