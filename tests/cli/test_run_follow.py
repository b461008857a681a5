"""`sleuth run --follow`: events are evaluated as they arrive and list files reload when they change."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

RULE = '''
list bad_ips = file("bad_ips.txt")
rule known_bad {
  meta { ttp = "l3-reputation" goal = "account-takeover" severity = high title = "known bad source" }
  by src_ip
  when src_ip in @bad_ips
}
'''


def test_follow_reloads_list_files(tmp_path: Path):
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "r.ttp").write_text(RULE)
    lst = tmp_path / "pack" / "bad_ips.txt"
    lst.write_text("# feed\n198.51.100.0/24\n")
    events = tmp_path / "events.jsonl"
    out = tmp_path / "matches.jsonl"

    def append(ts, ip):
        with events.open("a") as fh:
            fh.write(json.dumps({"id": f"e{ts}", "ts": ts, "src_ip": ip}) + "\n")

    append(1000, "203.0.113.9")          # not in the list yet
    append(1001, "198.51.100.7")         # in the list
    proc = subprocess.Popen([sys.executable, "-m", "sleuth.playground.cli", "run", str(tmp_path / "pack"),
                             str(events), "--follow", "--idle-timeout", "4", "--lateness", "0", "-o", str(out),
                             "--format", "jsonl"], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        lst.write_text("# feed\n198.51.100.0/24\n203.0.113.0/24\n")
        time.sleep(1.5)
        append(1002, "203.0.113.9")      # now in the list
        time.sleep(1.5)
        append(1003, "192.0.2.1")        # never in the list
        stderr = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    ids = [json.loads(line)["provenance"]["events"][0]["id"] for line in out.read_text().splitlines()]
    assert ids == ["e1001", "e1002"]
    assert "reloaded list(s) bad_ips" in stderr
