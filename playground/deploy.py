"""The deployment profile for commands: `--profile F` / `--no-profile`, the pack and engine options it gives.

Playground stage. `sleuth run`, `test`, `play` and `check` read `sleuth.toml` from
the working directory (or `--profile F`) through `sleuth.dsl.profile`: the pack is
loaded with the profile's constants and lists, and the engine gets the profile's
input options (`engine_options`) with the command's flags on top (a flag given on
the command line wins). A profile with errors stops the command with every
diagnostic (exit 2), as `sleuth roles` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .cli import EXIT_FINDINGS, EXIT_IO, EXIT_USAGE, use_colour


def add_profile_options(p: argparse.ArgumentParser) -> None:
    """`--profile F` and `--no-profile` on a command."""
    p.add_argument("--profile", metavar="FILE",
                   help="deployment profile (default: ./sleuth.toml when present; see docs/deploying.md)")
    p.add_argument("--no-profile", action="store_true", help="ignore ./sleuth.toml")


def profile_path(args) -> str | None:
    """The profile a command reads: `--profile F`, else ./sleuth.toml unless `--no-profile`."""
    from sleuth.dsl.profile import find_profile

    if getattr(args, "profile", None):
        return args.profile
    if getattr(args, "no_profile", False):
        return None
    return find_profile(".")


def load_profile_or_report(args, command: str) -> tuple[Any, int | None]:
    """(the profile or None, None), or (None, exit code) after printing every diagnostic on stderr."""
    from sleuth.dsl.profile import ProfileError, load_profile

    path = profile_path(args)
    if path is None:
        return None, None
    if not os.path.isfile(path):
        print(f"sleuth {command}: no such profile: {path}", file=sys.stderr)
        return None, EXIT_IO
    try:
        return load_profile(path), None
    except ProfileError as exc:
        print(exc.render(colour=use_colour(sys.stderr), limit=None), file=sys.stderr)
        print(f"sleuth {command}: the profile {path} has {len(exc.errors)} error(s)", file=sys.stderr)
        return None, EXIT_USAGE


def load_pack_with(paths: list[str], profile: Any, command: str) -> tuple[Any, int | None]:
    """The compiled pack (with the profile's constants and lists), or (None, exit code) after the diagnostics."""
    from sleuth.dsl.diagnostic import render_all
    from sleuth.dsl.errors import PackError
    from sleuth.dsl.profile import ProfileError, load_pack_with_profile

    from .cli import load_pack_or_report

    if profile is None or not (profile.constants or profile.lists):
        pack = load_pack_or_report(paths)
        return pack, (None if pack is not None else EXIT_FINDINGS)
    try:
        return load_pack_with_profile(paths, profile), None
    except ProfileError as exc:
        print(exc.render(colour=use_colour(sys.stderr), limit=None), file=sys.stderr)
        print(f"sleuth {command}: the profile {profile.path} does not fit the pack", file=sys.stderr)
        return None, EXIT_USAGE
    except PackError as exc:
        print(render_all(exc.errors, exc.sources, colour=use_colour(sys.stderr)), file=sys.stderr)
        print(f"sleuth: the rule pack has {len(exc.errors)} error(s); nothing was run", file=sys.stderr)
        return None, EXIT_FINDINGS


def engine_options(args, profile: Any) -> dict:
    """`Engine(...)` input and time options from the profile, then the command's flags.

    `--lateness`, `--openapi` (repeatable: replaces the profile's documents),
    `--no-templating`, `--mapping FILE` and `--map` (added to the profile's
    `[fields]`, the flags last), `--enrich-table`, `--grace`, `--max-keys`, `--memory`.
    Raises OSError or ValueError for an unreadable or malformed mapping file.
    """
    from sleuth.dsl.profile import engine_options as from_profile

    out = from_profile(profile) if profile is not None else {}
    mapping = dict(out.get("mapping", {}))
    if getattr(args, "mapping", None):
        from sleuth.engine.ingest import load_mapping

        mapping.update(load_mapping(args.mapping))
    for item in getattr(args, "map", None) or []:
        from sleuth.engine.ingest import parse_mapping

        canon, src = parse_mapping(item)
        mapping[canon] = src
    if mapping:
        out["mapping"] = mapping
    if getattr(args, "openapi", None):
        out["openapi"] = list(args.openapi)
    if getattr(args, "no_templating", False):
        out["templating"] = False
    if getattr(args, "lateness", None) is not None:
        out["lateness"] = args.lateness
    for name in ("grace", "max_keys", "enrich_table", "memory"):
        if getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    return out
