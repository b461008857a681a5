"""`sleuth test`: run the tests written inside rule files.

With a deployment profile (./sleuth.toml or `--profile F`), the pack is loaded
with its constants and lists, and the engine gets its OpenAPI documents and
role overrides, so the tests say whether the rules still hold on this site.
"""

from __future__ import annotations

import argparse
import sys
import time

from sleuth.dsl.testing import junit_xml, run_tests

from .cli import EXIT_FINDINGS, EXIT_OK, pack_paths, use_colour
from .deploy import add_profile_options, load_pack_with, load_profile_or_report


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth test`."""
    p.add_argument("pack", metavar="PACK", nargs="?", default="builtin",
                   help="rule pack folder or rule file (default: the shipped pack)")
    p.add_argument("-k", metavar="TEXT", help="only tests whose name or rule contains TEXT")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML results for CI")
    p.add_argument("--no-mutations", action="store_true", help="skip the derived boundary mutations")
    p.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    add_profile_options(p)


#: What of a profile reaches the engine of `sleuth test`: the API's documents and roles. Test events
#: are written in canonical fields, so the field mapping does not apply; lateness stays 5 s.
TEST_OPTIONS = ("openapi", "roles")


def run_test(args) -> int:
    """Run the pack's tests (with the profile's constants, lists, documents and roles); exit 1 on a failure."""
    profile, code = load_profile_or_report(args, "test")
    if code is not None:
        return code
    pack, code = load_pack_with(pack_paths(args.pack), profile, "test")
    if pack is None:
        return code if code is not None else EXIT_FINDINGS
    options = {}
    if profile is not None:
        from sleuth.dsl.profile import engine_options

        options = {k: v for k, v in engine_options(profile).items() if k in TEST_OPTIONS}
    colour = use_colour(sys.stdout)
    green, red, dim, reset = ("\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[0m") if colour else ("", "", "", "")
    started = time.monotonic()
    results = run_tests(pack, pattern=args.k, mutations=not args.no_mutations, options=options)
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
