"""`sleuth roles`: the route → role table of an API, with the evidence for each.

From OpenAPI documents (``--openapi``, repeatable, or the profile's ``openapi``)
every documented operation gets its role (``sleuth.engine.ingest.roles.RoleTable``);
from events without a document, the routes seen in traffic get heuristic
templates and roles (``PathRoles``). The profile's ``[roles]`` overrides win.
Operations that look sensitive (auth, password, token, pay, card...) but got no
role are listed so an override can be added; an ambiguous documented operation
exits 1. ``--format json`` writes one JSON line per operation.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_OK, EXIT_USAGE, use_colour

if TYPE_CHECKING:
    from sleuth.engine.ingest.roles import Decision

# The engine is imported when the command runs, not when `sleuth` builds its parser.

#: Words that make a route worth a role; one of them and no role gets it listed.
SENSITIVE = frozenset("""
auth oauth authenticate authentication login logon signin signup register password passwd pwd passcode token
session account credential credentials pay payment payments card cards otp mfa 2fa totp verify verification
reset recover recovery secret pin wallet transfer transfers withdraw payout bank iban checkout giftcard coupon
voucher refund impersonate sudo email phone
""".split())


def configure(p: argparse.ArgumentParser) -> None:
    """Options of `sleuth roles`."""
    p.add_argument("events", nargs="*", metavar="EVENTS",
                   help="event files: count the routes seen (without a document: roles from heuristic templates)")
    p.add_argument("--openapi", action="append", metavar="SPEC", default=[],
                   help="OpenAPI document, JSON or YAML (repeatable; added to the profile's)")
    p.add_argument("--profile", metavar="FILE",
                   help="deployment profile (default: ./sleuth.toml when present; see docs/deploying.md)")
    p.add_argument("--no-profile", action="store_true", help="ignore ./sleuth.toml")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people (default) or JSON lines, one per operation")
    p.add_argument("--events-format", default="auto",
                   choices=("auto", "jsonl", "json", "msgpack", "apache", "nginx", "csv"),
                   help="format of EVENTS (default: detected)")
    p.add_argument("--no-evidence", action="store_true", help="text: the table without the evidence lines")


def _err(message: str) -> None:
    print(f"sleuth roles: {message}", file=sys.stderr)


def _load_profile(args) -> tuple[Any, int | None]:
    from sleuth.dsl.profile import ProfileError, find_profile, load_profile

    path = args.profile or (None if args.no_profile else find_profile("."))
    if path is None:
        return None, None
    if not os.path.isfile(path):
        _err(f"no such profile: {path}")
        return None, EXIT_IO
    try:
        return load_profile(path), None
    except ProfileError as exc:
        print(exc.render(colour=use_colour(sys.stderr), limit=None), file=sys.stderr)
        _err(f"the profile {path} has {len(exc.errors)} error(s)")
        return None, EXIT_USAGE


def sensitive_words(*texts: str | None) -> list[str]:
    """The sensitive words of a route and operation name (sorted, without repeats)."""
    from sleuth.engine.ingest.roles import split_words

    found = set()
    for text in texts:
        for w in split_words(text or ""):
            if w in SENSITIVE or (w.endswith("s") and w[:-1] in SENSITIVE):
                found.add(w)
    return sorted(found)


class _Routers:
    """Several OpenAPI documents as one templater: the first that matches routes the request."""

    def __init__(self, apis: list) -> None:
        self.apis = apis

    def route(self, method: str, path: str, query: Any = None) -> tuple[str, Any]:
        first = None
        for api in self.apis:
            route, spec = api.route(method, path, query)
            if route != "<unmatched>":
                return route, spec
            first = first or (route, spec)
        return first


def _read_events(args, profile, templater) -> tuple[Counter, int, Counter] | int:
    """(count per (method, route), events read, set aside per reason) or an exit code."""
    from sleuth.engine.ingest.normalize import BadInput, Normalizer
    from sleuth.engine.ingest.source import Bad, open_source

    norm = Normalizer(dict(profile.fields) if profile else {}, templater=templater)
    seen: Counter = Counter()
    bad: Counter = Counter()
    n = 0
    for path in args.events:
        if path != "-" and not os.path.exists(path):
            _err(f"no such file: {path}")
            return EXIT_IO
        try:
            reader = open_source(None if path == "-" else path, args.events_format)
            for pos, item in reader:
                if type(item) is Bad:
                    bad[item.reason] += 1
                    continue
                try:
                    ev = norm(item, reader.name, pos)
                except BadInput as exc:
                    bad[exc.reason] += 1
                    continue
                n += 1
                method, route = ev.get("method"), ev.get("route")
                if isinstance(method, str) and isinstance(route, str):
                    seen[(method, route)] += 1
                else:
                    bad["no-method-or-path"] += 1
        except OSError as exc:
            _err(f"cannot read {path}: {exc}")
            return EXIT_IO
    return seen, n, bad


def _row_json(method: str, route: str, operation: str | None, d: Decision, **extra: Any) -> dict:
    out = {"method": method, "route": route, "operation": operation, "role": d.role, "evidence": list(d.evidence),
           "source": d.source, "candidates": list(d.candidates)}
    out.update(extra)
    return out


def run_roles(args) -> int:
    """Print the role table; 1 when a documented operation is ambiguous."""
    profile, code = _load_profile(args)
    if code is not None:
        return code
    import orjson

    from sleuth.engine.ingest.openapi import HeuristicTemplater, OpenAPI
    from sleuth.engine.ingest.roles import PathRoles, RoleTable

    spec_paths = list(profile.openapi if profile else ()) + list(args.openapi)
    if not spec_paths and not args.events:
        _err("nothing to read: give --openapi SPEC, a profile with 'openapi', or event files")
        return EXIT_USAGE
    apis = []
    for path in spec_paths:
        try:
            apis.append(OpenAPI.load(path))
        except OSError as exc:
            _err(f"cannot read {path}: {exc.strerror or exc}")
            return EXIT_IO
        except ValueError as exc:
            _err(str(exc))
            return EXIT_IO
    overrides = dict(profile.roles) if profile else {}
    table = RoleTable(apis, overrides) if apis else None
    seen: Counter = Counter()
    n_events, bad = 0, Counter()
    if args.events:
        got = _read_events(args, profile, _Routers(apis) if apis else HeuristicTemplater())
        if isinstance(got, int):
            return got
        seen, n_events, bad = got
    rows = []  # (method, route as written, operation, decision, extra)
    if table is not None:
        for r in table.rows:
            extra: dict[str, Any] = {"routes": list(r.routes), "spec": r.spec}
            if args.events:
                extra["seen"] = sum(seen.get((r.method, route), 0) for route in r.routes)
            rows.append((r.method, r.template, r.operation, r.decision, extra))
    else:
        path_roles = PathRoles(overrides)
        for (method, route), count in sorted(seen.items(), key=lambda x: (x[0][1], x[0][0])):
            rows.append((method, route, None, path_roles.decide(method, route), {"seen": count}))
    unmatched = sum(c for (_m, route), c in seen.items() if route == "<unmatched>") if table is not None else 0
    sensitive = [(m, route, op, d) for m, route, op, d, _x in rows
                 if d.role is None and not d.ambiguous and d.source != "override"
                 and sensitive_words(route, op)]
    ambiguous = [(m, route, op, d) for m, route, op, d, _x in rows if d.ambiguous]
    if args.format == "json":
        out = sys.stdout.buffer
        for m, route, op, d, extra in rows:
            extra = dict(extra)
            extra["sensitive"] = sensitive_words(route, op) if d.role is None else []
            out.write(orjson.dumps(_row_json(m, route, op, d, **extra)) + b"\n")
        out.flush()
    else:
        _print_text(args, rows, sensitive, ambiguous, spec_paths, n_events, bad, unmatched, table)
    if table is not None and ambiguous:
        return EXIT_FINDINGS
    return EXIT_OK


def _print_text(args, rows, sensitive, ambiguous, spec_paths, n_events, bad, unmatched, table) -> None:
    colour = use_colour(sys.stdout)
    dim, bold, reset = ("\x1b[2m", "\x1b[1m", "\x1b[0m") if colour else ("", "", "")
    with_role = sum(1 for r in rows if r[3].role)
    if table is not None:
        what = f"{len(rows)} operation{'s' if len(rows) != 1 else ''} in {len(spec_paths)} document" \
               f"{'s' if len(spec_paths) != 1 else ''}"
    else:
        what = f"{len(rows)} route{'s' if len(rows) != 1 else ''} seen in {n_events} event" \
               f"{'s' if n_events != 1 else ''} (heuristic templates, no OpenAPI document)"
    print(f"{bold}{what}: {with_role} with a role, {len(ambiguous)} ambiguous{reset}")
    if not rows:
        return
    show_seen = bool(args.events)
    wr = min(60, max(len(r[1]) for r in rows))
    wo = min(40, max([len(r[2] or "") for r in rows] + [9]))
    head = f"{'METHOD':7} {'ROUTE':{wr}}  {'ROLE':15}"
    if table is not None:
        head += f" {'OPERATION':{wo}}"
    print((head + ("  SEEN" if show_seen else "")).rstrip())
    for m, route, op, d, extra in rows:
        role = d.role or ("ambiguous" if d.ambiguous else "-")
        line = f"{m:7} {route:{wr}}  {role:15}"
        if table is not None:
            line += f" {(op or '-'):{wo}}"
        if show_seen:
            line += f"  {extra.get('seen', 0):>4}"
        print(line.rstrip())
        if not args.no_evidence:
            for ev in d.evidence:
                print(f"{dim}{'':8}{ev}{reset}")
    if ambiguous:
        print(f"\n{bold}ambiguous ({len(ambiguous)}): give each a role in the profile's [roles] table{reset}")
        for m, route, _op, d in ambiguous:
            print(f"  {m:7} {route}  ({' or '.join(d.candidates)})")
            print(f'{dim}          "{m} {route}" = "{d.candidates[0]}"{reset}')
    if sensitive:
        print(f"\n{bold}look sensitive but have no role ({len(sensitive)}): check them, "
              f"add a [roles] override where one applies{reset}")
        for m, route, op, _d in sensitive:
            words = ", ".join(sensitive_words(route, op))
            print(f"  {m:7} {route}{'  ' + op if op else ''}  [{words}]")
    if table is not None and args.events:
        print(f"\n{n_events} events read; {unmatched} matched no documented operation")
    if bad:
        print(f"{sum(bad.values())} records set aside: " + ", ".join(f"{k} {v}" for k, v in sorted(bad.items())))
