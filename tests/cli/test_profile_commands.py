"""The deployment profile in `sleuth run`, `test`, `play` and `check`: ./sleuth.toml, --profile F, --no-profile.

One small pack whose constant `bad_status` (401) the profile sets to 403: each
command sees the site's value with the profile and the pack's without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PACK = '''macro login = method == "POST" and route == "/api/v1/auth/login"
macro bad_status = 401
rule failed_login {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = low  title = "a failed login" }
  by src_ip
  when login and status == bad_status
}
test "a refused login" for failed_login {
  events { { method = "POST"  route = "/api/v1/auth/login"  status = 403  src_ip = "203.0.113.7"  user = "a" } }
  expect match { src_ip == "203.0.113.7" }
}
'''
EVENT = {"ts": "2026-01-01T00:00:00Z", "method": "POST", "path": "/api/v1/auth/login", "status": 403,
         "src_ip": "203.0.113.7", "user": "a"}
SCRIPT = ('load pack\nfeed { ts = 0s  src_ip = "203.0.113.7"  method = "POST"  path = "/api/v1/auth/login"'
          '  status = 403  user = "a" }\nmatches\n')


def sleuth(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "p.ttp").write_text(PACK)
    (tmp_path / "sleuth.toml").write_text("[constants]\nbad_status = 403\n")
    (tmp_path / "ev.jsonl").write_text(json.dumps(EVENT) + "\n")
    (tmp_path / "s.txt").write_text(SCRIPT)
    return tmp_path


def test_run_reads_the_profile(site):
    r = sleuth(site, "run", "pack", "ev.jsonl", "-q")
    assert r.returncode == 0
    (match,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert (match["rule"], match["key"], match["provenance"]["events"][0]["id"]) == \
        ("failed_login", {"src_ip": "203.0.113.7"}, "ev.jsonl:1")
    r = sleuth(site, "run", "pack", "ev.jsonl", "-q", "--no-profile")
    assert (r.returncode, r.stdout) == (0, "")


def test_test_reads_the_profile(site):
    r = sleuth(site, "test", "pack")
    assert r.returncode == 0 and "1 tests, 0 mutations: 1 passed, 0 failed" in r.stdout
    r = sleuth(site, "test", "pack", "--no-profile")
    assert r.returncode == 1 and "FAIL  p.ttp:8 a refused login  (rule failed_login)" in r.stdout


def test_play_reads_the_profile(site):
    r = sleuth(site, "play", "--script", "s.txt")
    assert r.returncode == 0 and "MATCH #1 failed_login  src_ip=203.0.113.7  (low)" in r.stdout
    r = sleuth(site, "play", "--script", "s.txt", "--no-profile")
    assert r.returncode == 0 and "MATCH" not in r.stdout and "no match yet" in r.stdout


def test_check_reports_the_profile_with_line_and_column(site):
    r = sleuth(site, "check", "pack")
    assert r.returncode == 0 and "2 files, 1 rule, 1 test: 0 errors, 0 warnings" in r.stderr
    (site / "bad.toml").write_text("latenes = 3\n[constants]\nbad_status = 403\nnope = 1\n")
    r = sleuth(site, "check", "pack", "--profile", "bad.toml")
    assert r.returncode == 1
    assert "bad.toml:1:1: error[unknown-key]: unknown key 'latenes' in the profile" in r.stdout
    assert "bad.toml:4:1: error[unknown-constant]: the pack has no constant named 'nope'" in r.stdout
    assert "2 files, 1 rule, 1 test: 2 errors, 0 warnings" in r.stderr
    assert sleuth(site, "check", "pack", "--profile", "none.toml").returncode == 3


@pytest.mark.parametrize("command", [["run", "pack", "ev.jsonl"], ["test", "pack"], ["play", "--script", "s.txt"]])
def test_a_bad_profile_stops_the_command(site, command):
    (site / "sleuth.toml").write_text("latenes = 3\n")
    r = sleuth(site, *command)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "sleuth.toml:1:1: error[unknown-key]: unknown key 'latenes' in the profile" in r.stderr
    (site / "sleuth.toml").unlink()
    r = sleuth(site, *command, "--profile", "none.toml")
    assert r.returncode == 3 and "no such profile: none.toml" in r.stderr


@pytest.mark.parametrize("command", [["run", "pack", "ev.jsonl"], ["test", "pack"]])
def test_a_profile_that_does_not_fit_the_pack_stops_the_command(site, command):
    (site / "sleuth.toml").write_text("[constants]\nnope = 1\n")
    r = sleuth(site, *command)
    assert r.returncode == 2 and r.stdout == ""
    assert "sleuth.toml:2:1: error[unknown-constant]: the pack has no constant named 'nope'" in r.stderr


def test_play_refuses_a_pack_the_profile_does_not_fit(site):
    # the session's profile is checked against each pack it loads: the load fails, the script goes on
    (site / "sleuth.toml").write_text("[constants]\nnope = 1\n")
    r = sleuth(site, "play", "--script", "s.txt")
    assert r.returncode == 1
    assert "sleuth.toml:2:1: error[unknown-constant]: the pack has no constant named 'nope'" in r.stdout
    assert "no match yet" in r.stdout
