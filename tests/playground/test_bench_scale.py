"""The `sleuth bench` scale cases (playground/bench_scale.py) at toy sizes: they measure what they say.

The long-window case must actually fold (memory follows slices, not events)
and read the window on every event without matching; the key-scale case must
add the distinct addresses it claims, in time order, beside the labelled attacks.
Speed is never asserted here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from sleuth.playground.bench_scale import key_scale_events, long_window_child, render_scale


def test_a_long_window_folds_and_its_memory_stops_growing_once_full():
    # 1-minute window, 1,000 events/s, 4 minutes of stream: full after the first checkpoint.
    row = long_window_child("1m", 240_000, 50, checkpoints=4)
    assert row["events"] == 240_000
    assert row["matches"] == 0                      # distinct(path) >= 51 over 50 paths never holds
    marks = row["checkpoints"]
    assert [m["stream_s"] for m in marks] == [60, 120, 180, 240]
    assert all(m["folded"] > 0 for m in marks)
    assert row["window_events_folded"] == marks[-1]["folded"]
    # Once the window is full, what it holds stays within a slice's worth of the earlier size.
    assert marks[-1]["key_bytes"] <= marks[1]["key_bytes"] * 1.1
    assert marks[2]["key_bytes"] <= marks[1]["key_bytes"] * 1.1
    lines = render_scale({"long_window_1m": row})
    assert lines and lines[0].startswith("long_window_1m") and "folded" in lines[0]


def test_key_scale_events_add_distinct_addresses_in_time_order():
    events, attack, openapi = key_scale_events(500, hours=0.1)
    extra = [e for e in events if e["id"].startswith("k")]
    assert len(extra) == 500
    assert len({e["src_ip"] for e in extra}) == 500
    stamps = [e["ts"] for e in events]
    assert stamps == sorted(stamps)
    assert attack and attack <= {e["id"] for e in events}
    assert openapi.get("paths")


def test_long_hours_must_be_span_equals_hours():
    proc = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "bench", "--only", "longwin",
                           "--long-hours", "24h:2"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "sleuth bench: --long-hours wants SPAN=HOURS (e.g. 24h=2), not '24h:2'"


@pytest.mark.parametrize("case", ["longwin", "keys", "budget"])
def test_scale_cases_are_listed_in_help(case):
    proc = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "bench", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert case in " ".join(proc.stdout.split())
