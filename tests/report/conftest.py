"""Fixtures of the report tests: one short simulated run, reported through the real command line.

`sim_run` simulates 30 minutes (seed 7, scale 0.1: ~31k events, ~140
matches of every technique, one campaign), runs the shipped pack over it
with `sleuth run` and writes the report with `sleuth report`, each as a
subprocess, once per session.
"""

from __future__ import annotations

import pytest
from reportkit import sleuth


@pytest.fixture(scope="session")
def sim_run(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("report-sim")
    sim = d / "sim"
    sleuth("simulate", "--hours", "0.5", "--seed", "7", "--scale", "0.1", "-o", str(sim))
    matches, quarantine = d / "matches.jsonl", d / "quarantine.jsonl"
    # a few bad lines so that the quarantine summary has something to show
    events = d / "events.jsonl"
    events.write_bytes((sim / "events.jsonl").read_bytes() + b'{"broken json\n{"src_ip": "203.0.113.9"}\n')
    sleuth("run", "builtin", str(events), "--openapi", str(sim / "openapi.json"), "-o", str(matches),
           "--quarantine", str(quarantine), "-q")
    report = d / "report.html"
    proc = sleuth("report", str(matches), "--events", str(events), "--quarantine", str(quarantine),
                  "--labels", str(sim), "--pack", "builtin", "--interval", "5m", "-o", str(report))
    return {"dir": d, "sim": sim, "events": events, "matches": matches, "quarantine": quarantine,
            "report": report, "stdout": proc.stdout, "stderr": proc.stderr}
