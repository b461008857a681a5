"""`sleuth flink`: the plan, and the one-line refusals that need no Flink."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.playground.cmd_flink import missing_runtime


def sleuth(*args: str, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], cwd=cwd,
                          capture_output=True, timeout=300)


def test_plan_lists_one_stage_per_key_expression():
    res = sleuth("flink", "plan", "builtin")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 18
    assert lines[0].startswith("events[-]: key (no key: one Flink key for the whole stream); reads events; rules ")
    assert "events[src_ip]: key src_ip; reads events; rules " in res.stdout.decode()
    assert "matches1[asn]: key asn; reads matches of level 0; rules campaign_network_chain" in lines
    assert lines[-2] == "matches1[user]: key user; reads matches of level 0; rules ato_takeover_monetised"
    assert lines[-1] == "matches2[asn]: key asn; reads matches of level 1; rules campaign_kill_chain"


@pytest.mark.parametrize("args, code, message", [
    (["run", "builtin"], 2, "give the input with --input FILE (or --input - for stdin)"),
    (["run", "builtin", "--input", "nope.jsonl"], 3, "no such file: nope.jsonl"),
    (["run", "builtin", "--input", "x.jsonl", "--parallelism", "0"], 2, "--parallelism must be at least 1"),
    (["run", "builtin", "--input", "x.jsonl", "--stop-after", "3"], 2, "--stop-after needs --savepoint-dir"),
    (["run", "nopack", "--input", "x.jsonl"], 3, "no such rule pack: nopack"),
    (["run", "builtin", "--input", "x.jsonl", "--from-savepoint", "nosp"], 3, "no such savepoint: nosp"),
], ids=["no-input", "missing-input", "bad-parallelism", "stop-needs-savepoints", "missing-pack",
        "missing-savepoint"])
def test_bad_invocations_get_one_line_and_the_right_code(tmp_path, args, code, message):
    (tmp_path / "x.jsonl").write_text('{"ts": 1, "id": "a"}\n')
    res = sleuth("flink", *args, cwd=tmp_path)
    assert res.returncode == code
    assert res.stderr.decode() == f"sleuth flink: {message}\n"


def test_a_pack_the_keyed_runner_cannot_cut_is_refused(tmp_path):
    (tmp_path / "r.ttp").write_text('''
rule r {
  meta { ttp = "scraping" goal = "scraping" severity = low title = "r" }
  when route == "/a"
  by user
  suppress 5m by src_ip
}
''')
    (tmp_path / "x.jsonl").write_text('{"ts": 1, "id": "a"}\n')
    res = sleuth("flink", "run", str(tmp_path / "r.ttp"), "--input", "x.jsonl", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.decode() == ("sleuth flink: rule r suppresses by fields other than its key "
                                   "(suppress ... by ...): not supported by the keyed runner\n")


@pytest.mark.skipif(missing_runtime() is None, reason="Java and the flink extra are both here")
def test_without_java_or_the_extra_one_line_and_exit_2(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"ts": 1, "id": "a"}\n')
    res = sleuth("flink", "run", "builtin", "--input", "x.jsonl", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.decode() == f"sleuth flink: {missing_runtime()}\n"
    assert not (tmp_path / "flink-out").exists() or not any((tmp_path / "flink-out").iterdir())
