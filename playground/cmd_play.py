"""`sleuth play`: the playground REPL (`repl.py`) started from the command line.

On a terminal the interactive prompt; with `--script FILE` or stdin that is
not a terminal, the same commands read as a script with plain output (exit
1 when a command failed, 3 when the script cannot be read). A deployment
profile (./sleuth.toml or `--profile F`) applies to the session: its input
options to the events, its constants and lists to the packs loaded.
"""

from __future__ import annotations

import argparse
import sys

from sleuth.engine.errors import EngineError

from .cli import EXIT_IO, EXIT_USAGE, use_colour
from .deploy import add_profile_options, load_profile_or_report
from .repl import DEFAULT_HISTORY, Shell, interactive, run_script
from .repl_session import Session


def configure(p: argparse.ArgumentParser) -> None:
    """The options of `sleuth play`."""
    p.add_argument("pack", metavar="PACK", nargs="?", help="rule pack folder or rule file to load first")
    p.add_argument("--history", metavar="FILE", help="history file (default: ~/.sleuth_history)")
    p.add_argument("--script", metavar="FILE", help="run the commands in FILE (plain output), then exit")
    add_profile_options(p)


def run_play(args) -> int:
    """`sleuth play [PACK] [--history FILE] [--script FILE]`."""
    script = getattr(args, "script", None)
    tty = sys.stdin.isatty() and script is None
    profile, code = load_profile_or_report(args, "play")
    if code is not None:
        return code
    options = {}
    if profile is not None:
        from sleuth.dsl.profile import engine_options

        options = engine_options(profile)
    try:
        session = Session(colour=tty and use_colour(sys.stdout), options=options, profile=profile)
    except (ValueError, EngineError) as exc:     # an OpenAPI document or mapping that does not load
        print(f"sleuth play: {exc}", file=sys.stderr)
        return EXIT_USAGE
    shell = Shell(session)
    failed = False
    if getattr(args, "pack", None):
        outcome = session.load(args.pack)
        sys.stdout.write(outcome.text.rstrip("\n") + "\n")
        failed = not outcome.ok
    if script is not None:
        try:
            with open(script, encoding="utf-8") as fh:
                code = run_script(shell, fh, sys.stdout)
        except OSError as exc:
            print(f"sleuth play: cannot read {script}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_IO
        return 1 if failed else code
    if not tty:
        code = run_script(shell, sys.stdin, sys.stdout)
        return 1 if failed else code
    return interactive(shell, getattr(args, "history", None) or DEFAULT_HISTORY)
