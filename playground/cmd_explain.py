"""`sleuth explain`: a rule's compiled machine and its generated code.

Prints `RuleSpec.explain_text` (the machine as a disassembly, then the
generated source with each line tagged by its rule-file line), the same
text the golden tests pin; `--dispatch` adds the generated dispatch
functions that hold the rule, each with its constants. An unknown rule name is a usage error (2)
with a did-you-mean.
"""

from __future__ import annotations

import argparse
import sys

from sleuth.dsl.diagnostic import closest

from .cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, load_pack_or_report, pack_paths


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth explain`."""
    p.add_argument("pack", metavar="PACK", help="rule pack folder or rule file ('builtin' for the shipped pack)")
    p.add_argument("rules", nargs="*", metavar="RULE", help="rules to explain (default: all)")
    p.add_argument("--dispatch", action="store_true", help="also print the dispatch functions holding the rule")
    p.add_argument("--pack", action="store_true", dest="whole_pack",
                   help="explain the pack as a whole: which window rules could share one per-key store")


def run_explain(args) -> int:
    pack = load_pack_or_report(pack_paths(args.pack))
    if pack is None:
        return EXIT_FINDINGS
    if args.whole_pack:
        from sleuth.dsl.lower import sharing_text

        sys.stdout.write(sharing_text(pack.sharing))
        if not args.rules:
            return EXIT_OK
    names = [r.name for r in pack.rules]
    wanted = args.rules or names
    status = EXIT_OK
    for name in wanted:
        try:
            spec = pack.rule(name)
        except KeyError:
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
                    sys.stdout.write("  constants:" + ("\n" if group.constants else " (none)\n"))
                    for line in group.constants:
                        sys.stdout.write(f"    {line}\n")
        sys.stdout.write("\n")
    return status
