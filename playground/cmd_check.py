"""`sleuth check` and `sleuth fmt`: the language front end at the command line."""

from __future__ import annotations

import difflib
import os
import sys

import orjson

from sleuth.dsl.diagnostic import render
from sleuth.dsl.errors import RuleSyntaxError
from sleuth.dsl.pack import check_paths, find_rule_files
from sleuth.dsl.unparse import format_source

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_OK, use_colour


def run_check(args) -> int:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        for p in missing:
            print(f"sleuth check: no such file or folder: {p}", file=sys.stderr)
        return EXIT_IO
    checked = check_paths(args.paths)
    diags = list(checked.diagnostics)
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
            print(render(d, checked.sources, colour=colour))
            print()
        files = len(checked.sources)
        summary = (f"{files} file{'s' if files != 1 else ''}, {len(checked.rules)} rule"
                   f"{'s' if len(checked.rules) != 1 else ''}, {len(checked.tests)} test"
                   f"{'s' if len(checked.tests) != 1 else ''}: {errors} error{'s' if errors != 1 else ''}, "
                   f"{warnings} warning{'s' if warnings != 1 else ''}")
        print(summary, file=sys.stderr)
    if errors or (args.strict and warnings):
        return EXIT_FINDINGS
    return EXIT_OK


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
