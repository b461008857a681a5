"""`sleuth report`: one offline HTML page of a run's matches, for people.

The unique-TTP timeline (by technique and by goal), matches per rule over
time, severity mix, top actors, campaigns (rules over rules), a drill-down
from every match held to its provenance, the quarantine summary, field
coverage of the input and, with a simulator's labels, the evaluation. Stages:
`inputs` reads, `aggregate` computes the figures, `svg` draws, `html` writes
the page. Python API: `write_report(path, matches, ...)`; docs/report.md.
"""

from __future__ import annotations

import os
from typing import Any

from .aggregate import DETAIL_BYTES, build_report, choose_interval, parse_interval
from .html import render_html
from .inputs import MatchInput, ReportInputError, ReportUsageError

__all__ = [
    "DETAIL_BYTES",
    "MatchInput",
    "ReportInputError",
    "ReportUsageError",
    "build_report",
    "choose_interval",
    "parse_interval",
    "render_html",
    "render_report",
    "write_report",
]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sleuth")
    except Exception:
        return "unknown"


def render_report(matches: Any, **options: Any) -> tuple[bytes, dict]:
    """The page's bytes and its figures, for `matches` (files or dicts; see `write_report`)."""
    source = matches if isinstance(matches, MatchInput) else MatchInput(
        [matches] if isinstance(matches, (str, os.PathLike)) else matches)
    names = {}
    for k in ("events", "quarantine"):
        v = options.get(k)
        if isinstance(v, (str, os.PathLike)):
            v = options[k] = [v]
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, (str, os.PathLike)) for x in v):
            names[k] = [os.fspath(x) for x in v]
        elif v is not None:
            names[k] = "(in memory)" if isinstance(v, (list, tuple)) else "(this run)"
    labels = options.get("labels")
    if labels is not None:
        names["labels"] = os.fspath(labels) if isinstance(labels, (str, os.PathLike)) else "(in memory)"
    pack = options.get("pack")
    if pack is not None:
        names["pack"] = (os.fspath(pack) if isinstance(pack, (str, os.PathLike))
                         else getattr(pack, "name", "(in memory)"))
    report = build_report(source, names=names, **options)
    return render_html(report, _version()), report


def write_report(path: str | os.PathLike, matches: Any, *, events: Any = None, quarantine: Any = None,
                 labels: Any = None, pack: Any = None, interval: float | str | None = None,
                 title: str | None = None, detail_bytes: int = DETAIL_BYTES, strict: bool = False) -> dict:
    """Write the report page to `path` (atomically) and return its figures.

    `matches`: match files (JSON lines, gzip too, `-` for stdin) or match
    dicts (`Match.to_dict()`); `events`: event files or dicts (field
    coverage); `quarantine`: quarantine files or the run's `Quarantine`;
    `labels`: a `sleuth simulate` folder (evaluation); `pack`: a `PackSpec`
    or pack path (rule file:line and text); `interval`: seconds or `5m`
    (default: chosen from the span); `detail_bytes`: budget of the matches
    held with full provenance; `strict`: a matches line that is not a match
    record is an error instead of a counted skip. Raises `ReportInputError` (unreadable input
    or output) and `ReportUsageError` (options that cannot work).
    """
    page, report = render_report(matches, events=events, quarantine=quarantine, labels=labels, pack=pack,
                                 interval=interval, title=title, detail_bytes=detail_bytes, strict=strict)
    out = os.fspath(path)
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(page)
        os.replace(tmp, out)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ReportInputError(f"cannot write {out}: {exc.strerror or exc}") from None
    report["bytes"] = len(page)
    return report
