"""`sleuth run --follow`: events are evaluated as they arrive and list files reload when they change.

Nothing here sleeps for a fixed time: every step polls for what the run
shows (a match in the output file, a line on stderr) until a deadline, so
the test is as fast as the machine allows and does not fail under load.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RULE = '''
list bad_ips = file("bad_ips.txt")
rule known_bad {
  meta { ttp = "l3-reputation" goal = "account-takeover" severity = high title = "known bad source" }
  by src_ip
  when src_ip in @bad_ips
}
'''
DEADLINE = 60.0     # seconds any one step may take on a loaded machine


def _wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen,
              between: Callable[[], None] | None = None) -> None:
    """Poll `ready()` (calling `between()` each round) until it holds; fail at the deadline."""
    end = time.monotonic() + DEADLINE
    while not ready():
        assert proc.poll() is None, f"sleuth run exited ({proc.returncode}) before {what}"
        assert time.monotonic() < end, f"no {what} within {DEADLINE:g} s"
        if between is not None:
            between()
        time.sleep(0.05)


def test_follow_reloads_list_files(tmp_path: Path):
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "r.ttp").write_text(RULE)
    lst = tmp_path / "pack" / "bad_ips.txt"
    lst.write_text("# feed\n198.51.100.0/24\n")
    events = tmp_path / "events.jsonl"
    out = tmp_path / "matches.jsonl"
    err = tmp_path / "stderr.txt"

    def append(eid, ts, ip):
        with events.open("a") as fh:
            fh.write(json.dumps({"id": eid, "ts": ts, "src_ip": ip}) + "\n")

    def matched() -> list[str]:
        text = out.read_text() if out.exists() else ""
        # A line is complete once its newline is written (the run flushes per match).
        return [json.loads(line)["provenance"]["events"][0]["id"] for line in text.splitlines(True)
                if line.endswith("\n")]

    append("e1000", 1000, "203.0.113.9")          # not in the list yet
    append("e1001", 1001, "198.51.100.7")         # in the list
    # --idle-timeout only ends a run the test lost track of; the test stops it with SIGTERM.
    with err.open("w") as err_fh:
        proc = subprocess.Popen([sys.executable, "-m", "sleuth.playground.cli", "run", str(tmp_path / "pack"),
                                 str(events), "--follow", "--idle-timeout", "120", "--lateness", "0",
                                 "-o", str(out), "--format", "jsonl"], stderr=err_fh, text=True)
    try:
        _wait_for("match of e1001", lambda: matched() == ["e1001"], proc)
        lst.write_text("# feed\n198.51.100.0/24\n203.0.113.0/24\n")
        # Lists are reloaded (at most once a second) when the next event arrives:
        # feed events no list holds until the run says it reloaded.
        probes = iter(range(1, 10**6))

        def probe() -> None:
            n = next(probes)
            append(f"probe{n}", 1001 + n / 10**6, "192.0.2.1")

        _wait_for("list reload", lambda: "reloaded list(s) bad_ips" in err.read_text(), proc, between=probe)
        append("e1002", 1002, "203.0.113.9")      # now in the list
        append("e1003", 1003, "192.0.2.1")        # never in the list
        append("e1004", 1004, "198.51.100.8")     # in the list: once it matched, e1003 was read too
        _wait_for("match of e1004", lambda: matched()[-1:] == ["e1004"], proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = err.read_text()
    assert proc.returncode == 0, stderr
    assert matched() == ["e1001", "e1002", "e1004"]
    assert "reloaded list(s) bad_ips" in stderr
