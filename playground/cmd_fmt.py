"""`sleuth fmt`: rewrite rule files in canonical form (comments kept).

The text `sleuth.dsl.unparse.format_source` gives, written through a temp
file and a rename; `--check` only reports the files that would change and
`--diff` prints a unified diff. Exit 1 when a file would change (with
`--check`/`--diff`) or does not parse.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys

from sleuth.dsl.diagnostic import render
from sleuth.dsl.errors import RuleSyntaxError
from sleuth.dsl.pack import find_rule_files
from sleuth.dsl.unparse import format_source

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_OK, use_colour


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth fmt`."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="rule files (.ttp) or pack folders")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if any file is not in canonical form")
    p.add_argument("--diff", action="store_true", help="print a unified diff instead of rewriting")


def run_fmt(args) -> int:
    files: list[str] = []
    for p in args.paths:
        if not os.path.exists(p):
            print(f"sleuth fmt: no such file or folder: {p}", file=sys.stderr)
            return EXIT_IO
        files.extend(find_rule_files(p))
    changed = 0
    failed = 0
    colour = use_colour(sys.stderr)
    for path in files:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"sleuth fmt: cannot read {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        try:
            new = format_source(text, path)
        except RuleSyntaxError as exc:
            for d in exc.diagnostics:
                print(render(d, exc.sources, colour=colour), file=sys.stderr)
            failed += 1
            continue
        if new == text:
            continue
        changed += 1
        if args.check or args.diff:
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(
                    text.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))
            else:
                print(f"would reformat {path}")
            continue
        tmp = f"{path}.sleuth-fmt.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.replace(tmp, path)
        print(f"reformatted {path}", file=sys.stderr)
    total = len(files)
    verb = "would be reformatted" if (args.check or args.diff) else "reformatted"
    print(f"{changed} of {total} file{'s' if total != 1 else ''} {verb}"
          + (f", {failed} could not be parsed" if failed else ""), file=sys.stderr)
    if failed:
        return EXIT_FINDINGS
    if (args.check or args.diff) and changed:
        return EXIT_FINDINGS
    return EXIT_OK
