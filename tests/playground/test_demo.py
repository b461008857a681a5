"""`sleuth demo`: a held-out world by default, said so, honest figures, and the HTML report.

Runs the command on the smallest simulation that still holds attacks (a tenth of an hour at
scale 0.01: seconds) and recomputes its summary with `evaluate()` on the same simulation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.dsl.pack import load_pack
from sleuth.playground.cli import build_parser
from sleuth.playground.cmd_demo import DEFAULT_WORLD
from sleuth.playground.evaluate import _run_pack, evaluate, events_meta
from sleuth.playground.simulate import WORLDS, SimConfig, generate

SMALL = ["--hours", "0.1", "--scale", "0.01"]


def demo(*args: str, tmp: Path):
    env = {**os.environ, "TMPDIR": str(tmp), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "demo", *args], capture_output=True,
                          timeout=300, env=env)


def test_the_default_world_is_held_out():
    args = build_parser(["demo"]).parse_args(["demo"])
    assert args.world == DEFAULT_WORLD and WORLDS[DEFAULT_WORLD].held_out
    assert (args.hours, args.scale, args.seed) == (0.5, 0.1, 7)


def test_demo_says_it_is_held_out_reports_honestly_and_writes_the_report(tmp_path):
    p = demo(*SMALL, "--world", "relay", tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert out.splitlines()[0].startswith("sleuth demo: world relay (Relay Web API), a held-out world: "
                                          "the pack was not tuned on this API")
    # The summary is evaluate() of the same simulation and pack.
    sim = generate(SimConfig(hours=0.1, seed=7, scale=0.01, world="relay"))
    matches, _ = _run_pack(load_pack(None), sim.events, sim.openapi)
    r = evaluate(matches, sim.labels, sim.traps, events_meta(sim.manifest, sim.events))
    fa = r["false_alarms"]
    want = (f"In short (held-out world relay, 0.1 h): recall with the right technique {r['recall']:.2f} "
            f"(macro over techniques {r['macro_recall']:.2f}), precision {r['precision']:.2f} "
            f"(any technique {r['precision_any_ttp']:.2f}), {fa['count']} false alarm"
            f"{'s' if fa['count'] != 1 else ''} on benign traffic ({fa['per_hour'] or 0:.1f}/h).")
    assert want in out
    assert f"{r['instances']['instances']:>4}" in out      # the per-technique table counts what the events show
    report = tmp_path / "sleuth-demo-7.html"               # the default: the temp folder
    assert re.search(rf"Report  {re.escape(str(report))} \(\d+ KiB", out)
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "relay (held-out world)" in page


def test_demo_on_the_tuned_world_says_so_and_no_report(tmp_path):
    p = demo(*SMALL, "--world", "tuning", "--no-report", tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "world tuning" in out.splitlines()[0] and "the tuned world" in out.splitlines()[0]
    assert "In short (tuned world tuning" in out and "Report" not in out
    assert not list(tmp_path.glob("sleuth-demo-*.html"))


def test_demo_report_path(tmp_path):
    target = tmp_path / "sub" / "d.html"
    target.parent.mkdir()
    p = demo(*SMALL, "--world", "harbor", "--report", str(target), tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    assert target.stat().st_size > 10_000 and str(target) in p.stdout.decode()


@pytest.mark.parametrize("args, code, message", [
    pytest.param(["--world", "mars"], 2, "unknown world 'mars'", id="unknown-world"),
    pytest.param(["--hours", "0"], 2, "--hours must be > 0", id="no-hours"),
    pytest.param(["--report", "/nonexistent/dir/x.html", *SMALL], 3, "cannot write", id="unwritable-report"),
])
def test_demo_errors(tmp_path, args, code, message):
    p = demo(*args, tmp=tmp_path)
    assert p.returncode == code
    err = p.stderr.decode()
    assert message in err.strip().splitlines()[-1] and "Traceback" not in err
