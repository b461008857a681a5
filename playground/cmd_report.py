"""`sleuth report`: an offline HTML page of a run's matches (docs/report.md).

`configure` declares the options, `run_report` writes the page and prints
its path on stdout and a one-line summary on stderr. Exit codes: 0 written,
2 usage (a bad interval or budget), 3 an input that cannot be read (or the
output that cannot be written, or `--strict` and a line that is not a match).
"""

from __future__ import annotations

import argparse
import sys

from .cli import EXIT_IO, EXIT_OK, EXIT_USAGE


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth report`."""
    p.add_argument("matches", nargs="+", metavar="MATCHES",
                   help="match files of 'sleuth run' (JSON lines, gzip too; '-' for stdin)")
    p.add_argument("-o", "--out", metavar="FILE", required=True, help="the HTML file to write")
    p.add_argument("--events", nargs="+", action="extend", metavar="FILE",
                   help="the run's input events: field coverage (any format 'sleuth run' reads)")
    p.add_argument("--quarantine", nargs="+", action="extend", metavar="FILE",
                   help="the run's --quarantine file(s): what it set aside, by reason")
    p.add_argument("--labels", metavar="DIR",
                   help="a 'sleuth simulate' folder: evaluation figures beside the matches")
    p.add_argument("--pack", metavar="PACK",
                   help="the rule pack of the run ('builtin' for the shipped one): rule file:line and text")
    p.add_argument("--interval", metavar="DURATION",
                   help="timeline interval such as 5m or 1h (default: from the span, at most 48 intervals)")
    p.add_argument("--title", metavar="TEXT", help="the page's title (default: 'sleuth report')")
    p.add_argument("--detail-bytes", type=int, default=None, metavar="N",
                   help="budget of matches held with full provenance, in bytes (default 1200000)")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 3) on a matches line that is not a match record instead of skipping it")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


def run_report(args) -> int:
    """Write the report; see the module docstring for the exit codes."""
    from .report import (
        DETAIL_BYTES,
        ReportInputError,
        ReportUsageError,
        parse_interval,
        write_report,
    )

    budget = DETAIL_BYTES if args.detail_bytes is None else args.detail_bytes
    if budget < 0:
        print("sleuth report: --detail-bytes must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    pack = None
    try:
        interval = parse_interval(args.interval) if args.interval else None
        if args.pack:
            from sleuth.dsl.errors import PackError

            from .cli import load_pack_or_report, pack_paths

            try:
                pack = load_pack_or_report(pack_paths(args.pack))
            except (OSError, PackError) as exc:
                print(f"sleuth report: cannot load the pack {args.pack}: {exc}", file=sys.stderr)
                return EXIT_IO
            if pack is None:
                return EXIT_IO
        report = write_report(args.out, args.matches, events=args.events, quarantine=args.quarantine,
                              labels=args.labels, pack=pack, interval=interval, title=args.title,
                              detail_bytes=budget, strict=args.strict)
    except ReportUsageError as exc:
        print(f"sleuth report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReportInputError as exc:
        print(f"sleuth report: {exc}", file=sys.stderr)
        return EXIT_IO
    s, d = report["summary"], report["detail"]
    if s["skipped"]:
        first = report["skipped"]["examples"][0]
        print(f"sleuth report: skipped {s['skipped']:,} line(s) that are not match records "
              f"(first: {first['where']}: {first['reason']}: {first['detail']})", file=sys.stderr)
    if not args.quiet:
        held = "all" if d["shown"] == d["total"] else f"{d['shown']:,}"
        print(f"sleuth report: wrote {args.out} ({report['bytes'] / 1024:,.0f} KiB): {s['matches']:,} matches "
              f"({held} with provenance), {s['rules']} rules, {s['unique']:,} unique TTPs", file=sys.stderr)
    print(args.out)
    return EXIT_OK
