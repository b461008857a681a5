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
from collections.abc import Iterable

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_IO, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# ---------------------------------------------------------------- commands
#
# Adding a command is one file and one line:
#
#   playground/cmd_<name>.py   def configure(p: argparse.ArgumentParser) -> None   # its options
#                              def run_<name>(args) -> int                        # its exit code
#   COMMANDS below             "<name>": "one-line summary for the overview",
#
# A command's module is imported only when that command runs or its help is
# asked for, so `sleuth --help` imports none of them and stays fast (~0.1 s);
# keep heavy imports (the engine, the simulator) inside `run_<name>` when the
# options do not need them. Exit codes are the EXIT_* above; `use_colour`,
# `pack_paths` and `load_pack_or_report` are shared by the commands.
COMMANDS: dict[str, str] = {
    "demo": "simulate an API the pack was not tuned on, run the shipped pack, score it, write the report",
    "check": "parse and lint rule files and packs",
    "fmt": "rewrite rule files in canonical form",
    "run": "run rules over files or stdin; matches as JSON lines",
    "inspect": "show what sleuth sees in log files: format, fields, time order, rules that cannot fire",
    "test": "run the tests written inside rule files",
    "explain": "show a rule's compiled machine and generated code",
    "play": "the playground: write, feed, watch and explain rules interactively",
    "roles": "show the business role of every API route, with the evidence",
    "simulate": "write labelled synthetic API traffic",
    "eval": "score a rule pack on every simulated API (tuned and held out), events and access logs",
    "report": "write an offline HTML report: unique-TTP timeline, actors, campaigns, provenance",
    "serve": "decide on live requests for gateways (nginx auth_request, Envoy ext_authz)",
    "flink": "run a rule pack as an Apache Flink job (needs Java and the flink extra)",
    "bench": "measure speed and memory (events/s of CPU, ratios in one run)",
    "import": "translate EQL queries or Sigma rules into sleuth rules",
}


def command_module(name: str):
    """The module of command `name` (`sleuth.playground.cmd_<name>`), imported on first use."""
    import importlib

    return importlib.import_module(f"sleuth.playground.cmd_{name}")


# ---------------------------------------------------------------- shared by the commands


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def pack_paths(value: str | None) -> list[str]:
    """The rule pack argument of a command: `builtin` (or nothing) is the shipped pack."""
    if value in (None, "", "builtin", "api"):
        from sleuth.dsl.pack import builtin_pack_path

        return [builtin_pack_path()]
    return [value]


def load_pack_or_report(paths):
    """The compiled pack, or None after printing its error diagnostics on stderr."""
    from sleuth.dsl.diagnostic import render_all
    from sleuth.dsl.errors import PackError
    from sleuth.dsl.pack import load_pack

    try:
        return load_pack(paths)
    except PackError as exc:
        print(render_all(exc.errors, exc.sources, colour=use_colour(sys.stderr)), file=sys.stderr)
        print(f"sleuth: the rule pack has {len(exc.errors)} error(s); nothing was run", file=sys.stderr)
        return None


# ---------------------------------------------------------------- driver


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The `sleuth` parser with the options of `commands` (default: every command).

    Configuring a command imports its module; `main` configures only the
    command being run.
    """
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
    for name, summary in COMMANDS.items():
        sp = sub.add_parser(name, prog=f"sleuth {name}", description=f"sleuth {name}: {summary}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        if commands is None or name in commands:
            command_module(name).configure(sp)
    hp = sub.add_parser("help", description="show help for a command")
    hp.add_argument("topic", nargs="?", metavar="COMMAND")
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command named in `argv`: its first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def _overview() -> str:
    width = max(len(n) for n in COMMANDS) + 3
    lines = ["These are the sleuth commands:", ""]
    for name, summary in COMMANDS.items():
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
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    parser = build_parser([command] if command in COMMANDS else [])
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
        build_parser([args.topic]).parse_args([args.topic, "--help"])
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    import gc

    # The engine's state is acyclic tuples and dicts; the cyclic collector only
    # rescans millions of live objects. Collect rarely (measured: ~2x on the
    # shipped pack end to end); reference counting still frees everything.
    gc.set_threshold(200_000, 50, 1000)

    run = getattr(command_module(args.command), f"run_{args.command}")
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
