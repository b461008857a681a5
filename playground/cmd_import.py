"""`sleuth import eql|sigma`: existing detections (EQL queries, Sigma rules) as sleuth rules.

Reads the sources, translates them (`playground/importer/`), prints the
rule file (`sleuth fmt` form, each rule after comments citing its source
and its semantic differences) on stdout or to `-o FILE`, and every
diagnostic on stderr in the compiler format (`--format json`: one JSON
object per line). The output is loaded as a pack before it is written, so
an import never writes a rule that does not compile. Exit 0 when every
query or rule translated (warnings allowed), 1 when some could not be (they
are left out), 2 on bad options, 3 when a source cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_OK, EXIT_USAGE, use_colour


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth import` and its two sub-commands."""
    sub = p.add_subparsers(dest="dialect", metavar="{eql,sigma}")
    sub.required = True
    eql = sub.add_parser("eql", prog="sleuth import eql", help="EQL queries (a file, or - for stdin)",
                         description="Translate EQL queries to sleuth rules. A text file holds one query, or "
                                     "several separated by lines holding only '---'; a .toml file holds tables "
                                     "with a 'query' (and optional 'name', 'description').")
    eql.add_argument("source", metavar="FILE|-", help="the EQL file, or - to read stdin")
    eql.add_argument("--case", choices=("insensitive", "sensitive"), default="insensitive",
                     help="how ==, in, functions and keys compare strings (default: insensitive, as EQL)")
    eql.add_argument("--event-type-field", default="event_type", metavar="FIELD",
                     help="the event field holding EQL's event type (default: event_type)")
    eql.add_argument("--count-window", default="30d", metavar="DURATION",
                     help="the tumbling window '| count' becomes (default: 30d)")
    sig = sub.add_parser("sigma", prog="sleuth import sigma", help="Sigma rules and correlation rules (YAML)",
                         description="Translate Sigma detection rules and correlation rules (YAML files or "
                                     "folders) to sleuth rules. Needs pySigma: pip install 'sleuth[import]'.")
    sig.add_argument("sources", nargs="+", metavar="FILE", help="Sigma YAML files or folders")
    for sp in (eql, sig):
        sp.add_argument("-o", "--output", metavar="FILE", help="write the rules here (default: stdout)")
        sp.add_argument("--name", metavar="PREFIX", help="rule names start with this (default: from the source)")
        sp.add_argument("--ttp", default="spec-anomaly", help="meta ttp of the rules (default: spec-anomaly)")
        sp.add_argument("--goal", default="fraud", help="meta goal of the rules (default: fraud)")
        sp.add_argument("--severity", choices=("low", "medium", "high", "critical"),
                        help="meta severity (default: Sigma's level, else medium)")
        sp.add_argument("--map", action="append", default=[], metavar="SOURCE=FIELD",
                        help="read the source field SOURCE as the sleuth field FIELD (repeatable)")
        sp.add_argument("--profile", metavar="FILE",
                        help="a deployment profile whose [fields] mapping applies (source path -> field)")
        sp.add_argument("--format", choices=("text", "json"), default="text", help="diagnostics format")


def _options(args):
    from sleuth.engine.schema import GOALS, TTPS
    from sleuth.playground.importer import ImportOptions

    if args.ttp not in TTPS:
        raise ValueError(f"unknown ttp '{args.ttp}' (one of: {', '.join(TTPS)})")
    if args.goal not in GOALS:
        raise ValueError(f"unknown goal '{args.goal}' (one of: {', '.join(GOALS)})")
    fields: dict[str, str] = {}
    if args.profile:
        from sleuth.dsl.profile import ProfileError, load_profile

        try:
            profile = load_profile(args.profile)
        except ProfileError as exc:
            raise OSError(f"bad profile {args.profile}: {exc}") from exc
        for canonical, source in profile.fields.items():
            fields[source] = canonical
    for item in args.map:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise ValueError(f"--map takes SOURCE=FIELD (got '{item}')")
        fields[src] = dst
    opts = ImportOptions(ttp=args.ttp, goal=args.goal, severity=args.severity, prefix=args.name, fields=fields)
    if args.dialect == "eql":
        from sleuth.engine.duration import parse_duration

        try:
            parse_duration(args.count_window)
        except ValueError as exc:
            raise ValueError(f"--count-window: {exc}") from exc
        opts.case = args.case
        opts.event_type_field = args.event_type_field
        opts.count_window = args.count_window
    return opts


def run_import(args) -> int:
    try:
        options = _options(args)
    except ValueError as exc:
        print(f"sleuth import: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"sleuth import: {exc}", file=sys.stderr)
        return EXIT_IO
    from sleuth.playground.importer.sigma import SigmaUnavailable

    try:
        if args.dialect == "eql":
            result, header = _eql(args, options)
        else:
            result, header = _sigma(args, options)
    except OSError as exc:
        print(f"sleuth import: {exc}", file=sys.stderr)
        return EXIT_IO
    except SigmaUnavailable as exc:
        print(f"sleuth import: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from sleuth.dsl.diagnostic import render_all, sort_diagnostics
    from sleuth.playground.importer import render, verify
    from sleuth.playground.importer.common import drop_unloadable

    drop_unloadable(result)
    text = render(result, header)
    broken = verify(text)
    diags = sort_diagnostics(result.diagnostics)
    if args.format == "json":
        for d in diags:
            print(json.dumps(d.to_json(), ensure_ascii=False), file=sys.stderr)
    elif diags:
        print(render_all(diags, result.sources, colour=use_colour(sys.stderr)), file=sys.stderr)
    if broken:
        # Never write a rule that does not load: this is a bug of the importer, said as such.
        print(render_all(broken, {"imported.ttp": text}), file=sys.stderr)
        print("sleuth import: the translation does not load (an importer bug); nothing written", file=sys.stderr)
        return EXIT_FINDINGS
    if args.output:
        tmp = f"{args.output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, args.output)
        except OSError as exc:
            print(f"sleuth import: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_IO
    else:
        sys.stdout.write(text)
    errors = len(result.errors)
    warnings = len(diags) - errors
    print(f"{len(result.rules)} rule(s) written; {errors} error(s) (left out), {warnings} difference(s) stated",
          file=sys.stderr)
    return EXIT_FINDINGS if errors else EXIT_OK


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise OSError(f"{path} is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise OSError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _eql(args, options):
    from sleuth.playground.importer.eql import import_eql, toml_queries

    text = _read(args.source)
    file = "<stdin>" if args.source == "-" else args.source
    if file.endswith(".toml"):
        units, names = toml_queries(text, file)
        result = import_eql(text, file, options, names=names, units=units)
    else:
        result = import_eql(text, file, options)
    return result, f"Imported from EQL by 'sleuth import eql {args.source}' (docs/importing.md)."


def _sigma(args, options):
    from sleuth.playground.importer.sigma import import_sigma

    paths = []
    for src in args.sources:
        if os.path.isdir(src):
            for root, _dirs, files in sorted(os.walk(src)):
                paths += [os.path.join(root, f) for f in sorted(files) if f.endswith((".yml", ".yaml"))]
        elif os.path.exists(src):
            paths.append(src)
        else:
            raise OSError(f"no such file or folder: {src}")
    texts = {p: _read(p) for p in paths}
    result = import_sigma(texts, options)
    return result, f"Imported from Sigma by 'sleuth import sigma {' '.join(args.sources)}' (docs/importing.md)."
