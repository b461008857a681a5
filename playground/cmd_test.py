"""`sleuth test`: run the tests written inside rule files."""

from __future__ import annotations

import sys
import time

from sleuth.dsl.testing import junit_xml, run_tests

from .cli import EXIT_FINDINGS, EXIT_OK, use_colour
from .cmd_run import _load, _pack_arg


def run_test(args) -> int:
    pack = _load(_pack_arg(args.pack))
    if pack is None:
        return EXIT_FINDINGS
    colour = use_colour(sys.stdout)
    green, red, dim, reset = ("\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[0m") if colour else ("", "", "", "")
    started = time.monotonic()
    results = run_tests(pack, pattern=args.k, mutations=not args.no_mutations)
    written = [r for r in results if r.mutation is None]
    mutations = [r for r in results if r.mutation is not None]
    failed = [r for r in results if not r.passed]
    for r in results:
        if r.passed and not args.verbose:
            continue
        mark = f"{green}ok{reset}" if r.passed else f"{red}FAIL{reset}"
        print(f"{mark}  {r.id}  {dim}(rule {r.rule}){reset}")
        if not r.passed and r.message:
            print("    " + r.message.replace("\n", "\n    "))
    if args.junit:
        with open(args.junit, "w", encoding="utf-8") as fh:
            fh.write(junit_xml(results))
    elapsed = time.monotonic() - started
    summary = (f"{len(written)} tests, {len(mutations)} mutations: "
               f"{len(results) - len(failed)} passed, {len(failed)} failed ({elapsed:.2f}s)")
    print((red if failed else green) + summary + reset)
    return EXIT_FINDINGS if failed else EXIT_OK
