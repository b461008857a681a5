"""The command line: help, exit codes, machine output, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = '''macro login = method == "POST" and route == "/api/v1/auth/login"
rule failed_login {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = low  title = "a failed login" }
  by src_ip
  when login and status == 401
  emit { who = user }
}
test "one failure" for failed_login {
  events { { method = "POST"  route = "/api/v1/auth/login"  status = 401  src_ip = "203.0.113.7"  user = "a" } }
  expect match { src_ip == "203.0.113.7" }
}
'''
BAD = '''rule r {
  meta { ttp = "credential-stufing"  goal = "account-takeover"  severity = low  title = "t" }
  when stauts == 401
}
'''


def sleuth(*args: str, cwd: Path | None = None, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, timeout=120)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    d = tmp_path / "pack"
    d.mkdir()
    (d / "good.ttp").write_text(GOOD)
    return d


def test_no_arguments_prints_the_overview_and_exits_2():
    r = sleuth()
    assert r.returncode == 2
    assert b"These are the sleuth commands:" in r.stdout
    for name in (b"demo", b"run", b"check", b"fmt", b"test", b"explain", b"play", b"simulate", b"eval", b"bench"):
        assert b"   " + name in r.stdout


def test_help_for_a_command_and_unknown_commands():
    r = sleuth("help", "run")
    assert r.returncode == 0 and b"usage: sleuth run" in r.stdout
    r = sleuth("help", "frobnicate")
    assert r.returncode == 2 and b"'frobnicate' is not a sleuth command" in r.stderr
    assert sleuth("frobnicate").returncode == 2


def test_check_exit_codes_and_json(tmp_path: Path, pack: Path):
    assert sleuth("check", str(pack)).returncode == 0
    (tmp_path / "bad.ttp").write_text(BAD)
    r = sleuth("check", str(tmp_path / "bad.ttp"))
    assert r.returncode == 1
    assert b"error[unknown-ttp]: unknown ttp 'credential-stufing'" in r.stdout
    assert b"did you mean 'credential-stuffing'?" in r.stdout
    r = sleuth("check", "--format", "json", str(tmp_path / "bad.ttp"))
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {(d["code"], d["line"], d["col"]) for d in rows} >= {("unknown-ttp", 2, 16)}
    assert all(set(d) >= {"file", "line", "col", "severity", "code", "message", "hints"} for d in rows)
    assert sleuth("check", str(tmp_path / "missing")).returncode == 3


def test_fmt_check_reports_and_fixes(tmp_path: Path):
    f = tmp_path / "x.ttp"
    f.write_text("macro   a=method=='GET'\n".replace("'", '"'))
    r = sleuth("fmt", "--check", str(f))
    assert r.returncode == 1 and b"would reformat" in r.stdout
    assert sleuth("fmt", str(f)).returncode == 0
    assert f.read_text() == 'macro a = method == "GET"\n'
    assert sleuth("fmt", "--check", str(f)).returncode == 0


def test_run_writes_matches_quarantine_and_summary(tmp_path: Path, pack: Path):
    lines = [
        {"ts": "2026-01-01T00:00:00Z", "method": "POST", "route": "/api/v1/auth/login", "status": 401,
         "src_ip": "203.0.113.7", "user": "a"},
        "not json",
        {"ts": "yesterday", "route": "/x"},
        {"ts": "2026-01-01T00:00:01Z", "method": "POST", "route": "/api/v1/auth/login", "status": 200,
         "src_ip": "203.0.113.7", "user": "a"},
    ]
    data = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    (tmp_path / "in.jsonl").write_text(data)
    r = sleuth("run", str(pack), str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "m.jsonl"),
               "--quarantine", str(tmp_path / "q.jsonl"), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    matches = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [(m["rule"], m["key"], m["fields"]) for m in matches] == [
        ("failed_login", {"src_ip": "203.0.113.7"}, {"who": "a"})]
    assert matches[0]["provenance"]["events"][0]["id"].endswith("in.jsonl:1")
    q = [json.loads(x) for x in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(x["position"], x["reason"]) for x in q] == [(2, "not-json"), (3, "bad-time")]
    assert b"events: 3 read" in r.stderr and b"quarantined: bad-time 1, not-json 1" in r.stderr
    # stdin, same result
    r2 = sleuth("run", str(pack), "-", "--format", "jsonl", "-q", stdin=data.encode())
    assert [json.loads(x)["rule"] for x in r2.stdout.splitlines()] == ["failed_login"]
    assert r2.stderr == b""


def test_run_memory_budget_option(tmp_path: Path, pack: Path):
    ev = {"ts": "2026-01-01T00:00:00Z", "method": "POST", "route": "/api/v1/auth/login", "status": 401,
          "src_ip": "203.0.113.7", "user": "a"}
    (tmp_path / "in.jsonl").write_text(json.dumps(ev) + "\n")
    r = sleuth("run", str(pack), str(tmp_path / "in.jsonl"), "--memory", "64MB", "--format", "jsonl", "-q")
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["rule"] for x in r.stdout.splitlines()] == ["failed_login"]
    r = sleuth("run", str(pack), str(tmp_path / "in.jsonl"), "--memory", "lots")
    assert r.returncode == 2
    assert r.stderr == b"sleuth run: --memory: not a memory size: 'lots' (e.g. 512MB, 2GiB)\n"


def test_run_refuses_a_bad_pack_with_diagnostics(tmp_path: Path):
    (tmp_path / "bad.ttp").write_text(BAD)
    r = sleuth("run", str(tmp_path / "bad.ttp"), "-", stdin=b"")
    assert r.returncode == 1
    assert b"error[unknown-ttp]" in r.stderr and b"nothing was run" in r.stderr


def test_explain_prints_the_machine_and_tagged_source(pack: Path):
    r = sleuth("explain", str(pack), "failed_login")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "rule failed_login  event" in out and "generated source:" in out
    assert "good.ttp:6" in out
    r = sleuth("explain", str(pack), "faild_login")
    assert r.returncode == 2 and b"did you mean 'failed_login'?" in r.stderr


def test_test_command_and_junit(tmp_path: Path, pack: Path):
    r = sleuth("test", str(pack), "--junit", str(tmp_path / "j.xml"))
    assert r.returncode == 0 and b"1 tests, 0 mutations: 1 passed, 0 failed" in r.stdout
    xml = (tmp_path / "j.xml").read_text()
    assert 'tests="1" failures="0"' in xml
    (pack / "good.ttp").write_text(GOOD.replace('expect match { src_ip == "203.0.113.7" }', "expect 2 matches"))
    r = sleuth("test", str(pack))
    assert r.returncode == 1 and b"expected 2 matches, got 1" in r.stdout


def test_simulate_is_deterministic_from_the_command_line(tmp_path: Path):
    a = sleuth("simulate", "--hours", "0.05", "--scale", "0.1", "--seed", "3", "-o", str(tmp_path / "a"))
    b = sleuth("simulate", "--hours", "0.05", "--scale", "0.1", "--seed", "3", "-o", str(tmp_path / "b"))
    assert a.returncode == b.returncode == 0
    for name in ("events.jsonl", "labels.jsonl", "traps.jsonl", "openapi.json", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_run_into_a_closed_pipe_stops_quietly(tmp_path: Path, pack: Path):
    line = {"method": "POST", "route": "/api/v1/auth/login", "status": 401, "src_ip": "203.0.113.7", "user": "a"}
    with (tmp_path / "in.jsonl").open("w") as fh:
        for i in range(20000):
            fh.write(json.dumps({**line, "ts": 1_700_000_000 + i}) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "sleuth.playground.cli", "run", str(pack),
                             str(tmp_path / "in.jsonl"), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(100)
    proc.stdout.close()            # like `| head`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in err and b"cannot read" not in err


def test_explain_dispatch_lists_each_group_constants(tmp_path, capsys):
    from sleuth.engine import regex
    from sleuth.playground.cli import main

    rule = tmp_path / "r.ttp"
    rule.write_text('rule r { meta { ttp = "scraping" goal = "scraping" severity = low title = "t" } '
                    'when status == 401 and ua =~ /bot/i }\n', encoding="utf-8")
    assert main(["explain", str(rule), "r", "--dispatch"]) == 0
    out = capsys.readouterr().out
    tail = out.split("dispatch functions holding this rule:")[1]
    matcher = "<re2('bot', 'i')>" if regex.ENGINE == "re2" else "re.compile('bot', re.IGNORECASE)"
    assert f"  constants:\n    k0 = 'ua'\n    k1 = {matcher}\n" in tail
