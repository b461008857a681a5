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
        sp = sub.add_parser(name, description=f"sleuth {name}: {summary}",
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
    import importlib

    run = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print("sleuth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output closed early (e.g. piped into head): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
