"""The `sleuth` command line.

One entry point with git-style sub-commands (`sleuth <command> --help`,
`sleuth help <command>`). Machine output is JSON lines; people get a summary
on stderr, a progress bar when stderr is a terminal, and colour only on a
TTY (and never with NO_COLOR set). Exit codes are documented in README.md:

    0  success                      1  findings: rule errors, failed tests, fmt differences
    2  usage error (bad arguments)  3  input/output error (unreadable file, bad state file)
    130 interrupted
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_IO, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, summary: str, handler: str):
    """Register a sub-command: `summary` for the overview, `handler` its run function's module path."""
    def deco(configure):
        COMMANDS[name] = (summary, configure, handler)
        return configure
    return deco


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


# ---------------------------------------------------------------- commands


@command("demo", "simulate an hour of API traffic, run the shipped pack, show what it finds",
         "sleuth.playground.cmd_demo:run_demo")
def _demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=1.0, help="simulated time (default 1)")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.add_argument("--scale", type=float, default=0.5, help="benign volume multiplier (default 0.5)")
    p.add_argument("--pack", metavar="PATH", help="rule pack to run (default: the shipped pack)")


@command("check", "parse and lint rule files and packs", "sleuth.playground.cmd_check:run_check")
def _check(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="rule files (.ttp) or pack folders")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people (default) or JSON lines for editors and CI")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only, no warnings")


@command("fmt", "rewrite rule files in canonical form", "sleuth.playground.cmd_check:run_fmt")
def _fmt(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="rule files (.ttp) or pack folders")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if any file is not in canonical form")
    p.add_argument("--diff", action="store_true", help="print a unified diff instead of rewriting")


@command("run", "run rules over files or stdin; matches as JSON lines", "sleuth.playground.cmd_run:run_run")
def _run(p: argparse.ArgumentParser) -> None:
    p.add_argument("pack", metavar="PACK", help="rule pack folder or rule file ('builtin' for the shipped pack)")
    p.add_argument("inputs", nargs="*", metavar="FILE", help="input files ('-' or none: stdin); gzip is read transparently")
    p.add_argument("--format", default="auto",
                   choices=("auto", "jsonl", "json", "msgpack", "apache", "nginx", "csv"),
                   help="input format (default: detected from the first bytes)")
    p.add_argument("-o", "--out", metavar="FILE", help="write matches here instead of stdout")
    p.add_argument("--quarantine", metavar="FILE", help="write bad input here, one JSON line with its reason each")
    p.add_argument("--lateness", type=float, default=5.0, metavar="SECONDS",
                   help="out-of-order tolerance in event time (default 5)")
    p.add_argument("--grace", type=float, default=0.0, metavar="SECONDS",
                   help="extra wait before deciding a trailing absence (default 0)")
    p.add_argument("--max-keys", type=int, default=1_000_000, metavar="N",
                   help="global cap on live keys across rules (LRU eviction; default 1000000)")
    p.add_argument("--map", action="append", metavar="CANONICAL=SOURCE.PATH",
                   help="map an input field to a canonical one (repeatable)")
    p.add_argument("--mapping", metavar="FILE", help="a mapping file (see docs/input.md)")
    p.add_argument("--openapi", metavar="SPEC", help="OpenAPI 3 document (JSON or YAML): routes and spec.* fields")
    p.add_argument("--no-templating", action="store_true",
                   help="without --openapi, do not derive route from path heuristically")
    p.add_argument("--enrich-table", metavar="CSV", help="prefix table adding asn/country to events (docs/input.md)")
    p.add_argument("--follow", action="store_true",
                   help="keep reading a growing file (Ctrl-C to stop); list files reload when they change")
    p.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                   help="with --follow, stop after this long without new input")
    p.add_argument("--max-line-bytes", type=int, default=1 << 20, metavar="N",
                   help="longer input lines are quarantined as 'oversized' (default 1 MiB)")
    p.add_argument("--state", metavar="FILE", help="checkpoint here and resume from it (see docs/reliability.md)")
    p.add_argument("--checkpoint-every", type=int, default=100_000, metavar="N",
                   help="events between checkpoints with --state (default 100000)")
    p.add_argument("--metrics", metavar="FILE", help="write the run's counters as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress line even on a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


@command("test", "run the tests written inside rule files", "sleuth.playground.cmd_test:run_test")
def _test(p: argparse.ArgumentParser) -> None:
    p.add_argument("pack", metavar="PACK", nargs="?", default="builtin",
                   help="rule pack folder or rule file (default: the shipped pack)")
    p.add_argument("-k", metavar="TEXT", help="only tests whose name or rule contains TEXT")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML results for CI")
    p.add_argument("--no-mutations", action="store_true", help="skip the derived boundary mutations")
    p.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")


@command("explain", "show a rule's compiled machine and generated code", "sleuth.playground.cmd_run:run_explain")
def _explain(p: argparse.ArgumentParser) -> None:
    p.add_argument("pack", metavar="PACK", help="rule pack folder or rule file ('builtin' for the shipped pack)")
    p.add_argument("rules", nargs="*", metavar="RULE", help="rules to explain (default: all)")
    p.add_argument("--dispatch", action="store_true", help="also print the dispatch functions holding the rule")


@command("play", "the playground: write, feed, watch and explain rules interactively",
         "sleuth.playground.repl:run_play")
def _play(p: argparse.ArgumentParser) -> None:
    p.add_argument("pack", metavar="PACK", nargs="?", help="rule pack folder or rule file to load first")
    p.add_argument("--history", metavar="FILE", help="history file (default: ~/.sleuth_history)")
    p.add_argument("--script", metavar="FILE", help="run the commands in FILE (plain output), then exit")


@command("simulate", "write labelled synthetic API traffic", "sleuth.playground.cmd_sim:run_simulate")
def _simulate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=1.0, help="simulated time span (default 1)")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same bytes)")
    p.add_argument("--scale", type=float, default=1.0, help="benign traffic volume multiplier (default 1)")
    p.add_argument("--disorder", type=float, default=0.0, metavar="SECONDS",
                   help="shuffle arrival order by up to this much event time")
    p.add_argument("--attacks", metavar="LIST", help="comma-separated ttp ids to include (default: all)")
    p.add_argument("--only-benign", action="store_true", help="no attacks, only benign traffic and traps")
    p.add_argument("--start", default="2026-11-27T08:00:00Z", help="RFC 3339 start time")
    p.add_argument("-o", "--out", metavar="DIR", default="sim-out",
                   help="output folder (events.jsonl, labels.jsonl, traps.jsonl, openapi.json, manifest.json)")


@command("eval", "score a rule pack against labelled simulator traffic", "sleuth.playground.cmd_eval:run_eval_cmd")
def _eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("pack", metavar="PACK", nargs="?", default="builtin",
                   help="rule pack folder or file (default: the shipped pack)")
    p.add_argument("data", metavar="DIR", nargs="?", help="a 'sleuth simulate' folder (default: simulate in memory)")
    p.add_argument("--hours", type=float, default=1.0, help="in-memory simulation: hours (default 1)")
    p.add_argument("--seed", type=int, default=7, help="in-memory simulation: seed (default 7)")
    p.add_argument("--scale", type=float, default=1.0, help="in-memory simulation: benign volume (default 1)")
    p.add_argument("--attacks", metavar="LIST", help="in-memory simulation: ttp ids (default: all)")
    p.add_argument("--only-benign", action="store_true", help="in-memory simulation: no attacks (false alarms)")
    p.add_argument("--no-openapi", action="store_true", help="route heuristically instead of by the OpenAPI document")
    p.add_argument("--detail", action="store_true", help="per-instance and per-match rows in the JSON")
    p.add_argument("--json", action="store_true", help="JSON result on stdout instead of the table")
    p.add_argument("-o", "--out", metavar="FILE", help="also write the JSON result here")


@command("bench", "measure speed and memory (events/s of CPU, ratios in one run)",
         "sleuth.playground.cmd_bench:run_bench")
def _bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=1_000_000, help="events per case (default 1000000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported (default 3)")
    p.add_argument("--only", metavar="LIST", help="comma-separated cases: filter,sequence,mix,pack,memory")
    p.add_argument("--vs-eql", metavar="PYTHON",
                   help="a Python interpreter with eql 1.0.1 installed (separate virtualenv: eql is AGPL)")
    p.add_argument("--json", action="store_true", help="JSON output")


@command("flink", "run a rule pack as an Apache Flink job (needs Java and the flink extra)",
         "sleuth.playground.cmd_flink:run_flink")
def _flink(p: argparse.ArgumentParser) -> None:
    from .cmd_flink import configure

    configure(p)


# ---------------------------------------------------------------- driver


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sleuth",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="sleuth: a rules-as-code detection engine for attacks on APIs",
        usage="sleuth [--version] [--help] <command> [<args>]",
        epilog=_overview(),
    )
    parser.add_argument("--version", action="version", version=f"sleuth {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", help=argparse.SUPPRESS)
    sub.required = False
    for name, (summary, configure, _handler) in COMMANDS.items():
        sp = sub.add_parser(name, prog=f"sleuth {name}", description=f"sleuth {name}: {summary}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        configure(sp)
    hp = sub.add_parser("help", description="show help for a command")
    hp.add_argument("topic", nargs="?", metavar="COMMAND")
    return parser


def _overview() -> str:
    width = max(len(n) for n in COMMANDS) + 3
    lines = ["These are the sleuth commands:", ""]
    for name, (summary, _c, _h) in COMMANDS.items():
        lines.append(f"   {name.ljust(width)}{summary}")
    lines += ["", "See 'sleuth help <command>' or 'sleuth <command> --help' to read about a command."]
    return "\n".join(lines)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sleuth")
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sleuth` console script; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help()
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    if args.command == "help":
        if args.topic is None:
            parser.print_help()
            return EXIT_OK
        if args.topic not in COMMANDS:
            print(f"sleuth: '{args.topic}' is not a sleuth command. See 'sleuth --help'.", file=sys.stderr)
            return EXIT_USAGE
        parser.parse_args([args.topic, "--help"])
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    module_name, func_name = COMMANDS[args.command][2].split(":")
    import gc
    import importlib

    # The engine's state is acyclic tuples and dicts; the cyclic collector only
    # rescans millions of live objects. Collect rarely (measured: ~2x on the
    # shipped pack end to end); reference counting still frees everything.
    gc.set_threshold(200_000, 50, 1000)

    run = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print("sleuth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output closed early (e.g. piped into head): not an error of ours.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
