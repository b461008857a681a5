"""`sleuth check`: parse and check rule files and packs, print every diagnostic.

Text for people (rendered with caret and hints, colour on a terminal, a
summary on stderr) or JSON lines for editors and CI (`--format json`),
sorted by location. The deployment profile (./sleuth.toml or `--profile F`)
is checked with the pack: unknown keys, wrong types, missing files, and
constants or lists the pack does not have, each with file:line:col. Exit 1
when there are errors (or warnings with `--strict`), 3 when a path does not
exist.
"""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from sleuth.dsl.diagnostic import render
from sleuth.dsl.pack import check_paths

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_OK, use_colour
from .deploy import add_profile_options, profile_path


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth check`."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="rule files (.ttp) or pack folders")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people (default) or JSON lines for editors and CI")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only, no warnings")
    add_profile_options(p)


def run_check(args) -> int:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        for p in missing:
            print(f"sleuth check: no such file or folder: {p}", file=sys.stderr)
        return EXIT_IO
    checked = check_paths(args.paths)
    diags = list(checked.diagnostics)
    sources = dict(checked.sources)
    profile = profile_path(args)
    if profile is not None:
        if not os.path.isfile(profile):
            print(f"sleuth check: no such profile: {profile}", file=sys.stderr)
            return EXIT_IO
        from sleuth.dsl.profile import check_profile

        diags += check_profile(profile, pack=checked)
        try:
            with open(profile, encoding="utf-8") as fh:
                sources[os.path.normpath(profile)] = sources[profile] = fh.read()
        except (OSError, UnicodeDecodeError):
            pass
    if args.quiet:
        diags = [d for d in diags if d.is_error]
    errors = sum(1 for d in diags if d.is_error)
    warnings = len(diags) - errors
    if args.format == "json":
        out = sys.stdout.buffer
        for d in sorted(diags, key=lambda d: d.sort_key()):
            out.write(orjson.dumps(d.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n")
        out.flush()
    else:
        colour = use_colour(sys.stdout)
        for d in sorted(diags, key=lambda d: d.sort_key()):
            print(render(d, sources, colour=colour))
            print()
        files = len(checked.sources) + (profile is not None)
        summary = (f"{files} file{'s' if files != 1 else ''}, {len(checked.rules)} rule"
                   f"{'s' if len(checked.rules) != 1 else ''}, {len(checked.tests)} test"
                   f"{'s' if len(checked.tests) != 1 else ''}: {errors} error{'s' if errors != 1 else ''}, "
                   f"{warnings} warning{'s' if warnings != 1 else ''}")
        print(summary, file=sys.stderr)
    if errors or (args.strict and warnings):
        return EXIT_FINDINGS
    return EXIT_OK
