"""Helpers of the report tests: the command line in a subprocess, match files, recounted timelines.

`expected_timeline` recounts distinct fingerprints per interval straight
from match records, independently of the report's code.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import orjson

from sleuth.engine.ingest import parse_time
from sleuth.engine.match import format_ts

INTERVAL_S = 300


def sleuth(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`sleuth ARGS` in a subprocess (the installed entry point's module)."""
    proc = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"sleuth {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def read_matches(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def expected_timeline(matches: list[dict], interval: float = INTERVAL_S, by: str = "ttp") -> dict:
    """Interval start (RFC 3339) → {technique (or goal): distinct fingerprints}, from the records."""
    cells: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for m in matches:
        t = parse_time(m["emitted_at"])
        start = format_ts(math.floor(t / interval) * interval)
        cells[start][m[by]].add(m["fingerprint"])
    return {b: {k: len(v) for k, v in row.items()} for b, row in cells.items()}
