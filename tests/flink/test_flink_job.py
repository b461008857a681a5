"""`sleuth flink run` on a local Flink mini-cluster: same matches as `sleuth run`, across savepoints and rescaling.

Needs Java and the `flink` extra (apache-flink 2.3): `.ci/run` makes a
virtualenv of its own for them and runs this folder there; elsewhere these
tests skip and say why. One JVM serves every test (PyFlink starts it once
per process); each job starts its own mini-cluster.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from collections import Counter

import orjson
import pytest

from sleuth.playground.cmd_flink import missing_runtime

_WHY = missing_runtime()
if _WHY is not None:
    pytest.skip(f"Flink tests need Java and the flink extra: {_WHY}", allow_module_level=True)

from sleuth.dsl import load_pack  # noqa: E402
from sleuth.dsl.pack import builtin_pack_path  # noqa: E402
from sleuth.engine import Engine, Quarantine  # noqa: E402
from sleuth.engine.ingest.source import open_source  # noqa: E402
from sleuth.playground.flink import job  # noqa: E402
from sleuth.playground.flink.core import Lines, make_normalizer, plan_chunks  # noqa: E402
from sleuth.playground.simulate import SimConfig, generate, write  # noqa: E402

OPTIONS = {"lateness": 5.0, "grace": 0.0, "future_tolerance": 86400.0, "future_confirm": 2,
           "max_line_bytes": 1 << 20, "mapping": {}, "openapi": None, "templating": True}


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    """Simulated traffic (seeded, with disorder) plus hostile lines, and what `sleuth run` makes of it."""
    out = tmp_path_factory.mktemp("sim")
    write(generate(SimConfig(hours=0.2, scale=0.05, seed=5, disorder=3.0, attacks=(
        "account-takeover", "business-logic-abuse", "session-rotation", "l3-reputation", "fingerprint-rotation"))), out)
    path = out / "events.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    first = orjson.loads(lines[0])
    lines.insert(500, b"{not json\n")
    lines.insert(900, orjson.dumps({**first, "id": "too-late"}) + b"\n")
    path.write_bytes(b"".join(lines))
    name = str(path)
    sink = Lines()
    pack = load_pack(builtin_pack_path())
    eng = Engine(pack, normalizer=make_normalizer(), quarantine=Quarantine(sink))
    batch, positions = [], []
    for pos, item in open_source(name, name=name):
        if type(item).__name__ == "Bad":
            eng.quarantine.add(name, pos, item.reason, item.detail, item.excerpt)
        else:
            batch.append(item)
            positions.append(pos)
    matches = [m.to_json() for m in eng.feed_many(batch, name, positions) + eng.close()]
    assert len(matches) > 20 and len(sink.items) == 2
    return name, matches, [x.rstrip(b"\n") for x in sink.items]


def _lines(directory: str) -> list[bytes]:
    out: list[bytes] = []
    for f in glob.glob(os.path.join(directory, "**", "*.jsonl"), recursive=True):
        if not os.path.basename(f).startswith("."):
            with open(f, "rb") as fh:
                out += [x for x in fh.read().splitlines() if x]
    return out


def _start(path: str, out: str, parallelism: int, savepoint: str | None = None,
           max_rate: float | None = None) -> job.Running:
    chunks = plan_chunks([(path, path)], chunk_bytes=64 * 1024)
    env = job.environment(parallelism, savepoint=savepoint, checkpoint_ms=1000,
                          checkpoint_dir=os.path.join(out, "..", os.path.basename(out) + "-checkpoints"))
    job.build(env, builtin_pack_path(), chunks, out, {**OPTIONS, "max_rate": max_rate})
    return job.submit(env)


def test_same_matches_as_sleuth_run_at_parallelism_2(traffic, tmp_path):
    path, expected, expected_q = traffic
    out = str(tmp_path / "out")
    _start(path, out, 2).wait()
    got = _lines(os.path.join(out, "matches"))
    assert Counter(got) == Counter(expected)
    assert sorted(_lines(os.path.join(out, "quarantine"))) == sorted(expected_q)


def test_savepoint_and_resume_equal_an_uninterrupted_run_at_any_parallelism(traffic, tmp_path):
    path, expected, expected_q = traffic
    out = str(tmp_path / "out")
    saved = str(tmp_path / "saved")
    running = _start(path, out, 2)
    # Stop while the job runs: as soon as the first matches are being written. The savepoint
    # holds the keys' state, their pending timers, the reader's buffer and the sink's position.
    deadline = time.monotonic() + 300
    while not glob.glob(os.path.join(out, "matches", "**", "*"), recursive=True):
        assert time.monotonic() < deadline, "the job wrote nothing in 5 minutes"
        time.sleep(0.2)
    savepoint = running.stop_with_savepoint(str(tmp_path / "savepoints"))
    assert os.path.exists(savepoint.replace("file:", ""))
    first = _lines(os.path.join(out, "matches"))
    assert 0 < len(first) <= len(expected) and not set(first) - set(expected)
    shutil.copytree(out, saved)
    for parallelism in (2, 3, 1):
        shutil.rmtree(out)
        shutil.copytree(saved, out)
        _start(path, out, parallelism, savepoint=savepoint).wait()
        got = _lines(os.path.join(out, "matches"))
        assert Counter(got) == Counter(expected), f"resumed at parallelism {parallelism}"
        assert sorted(_lines(os.path.join(out, "quarantine"))) == sorted(expected_q)


def test_the_command_runs_the_shipped_pack(traffic, tmp_path):
    path, expected, expected_q = traffic
    out = tmp_path / "cli"
    sleuth = [sys.executable, "-m", "sleuth.playground.cli"]
    res = subprocess.run([*sleuth, "flink", "run", "builtin", "--input", path, "-o", str(out), "-p", "2"],
                         capture_output=True, timeout=600)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    assert (out / "matches.jsonl").read_bytes() == b"".join(x + b"\n" for x in sorted(expected))
    assert f"{len(expected)} matches".encode() in res.stderr.replace(b",", b"")
    again = subprocess.run([*sleuth, "flink", "run", "builtin", "--input", path, "-o", str(out)],
                           capture_output=True, timeout=600)
    assert again.returncode == 3 and b"earlier run" in again.stderr
