"""`sleuth run` with rules on derived fields (role, actor) and the summary's missing-key line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RULES = '''rule login_burst {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high  title = "logins by actor" }
  by actor
  window 1m
  where role == "login" and status == 401
  having count() >= 3
  emit { client = client }
}

rule per_session {
  meta { ttp = "session-rotation"  goal = "scraping"  severity = low  title = "by session" }
  by session
  window 1m
  where role == "login"
  having count() >= 100
}
'''


def test_rules_on_role_and_actor_run_on_an_access_log_and_the_summary_counts_missing_keys(tmp_path: Path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "r.ttp").write_text(RULES)
    lines = [f'203.0.113.7 - - [01/Jan/2026:00:00:0{i} +0000] "POST /rpc/Auth.Login HTTP/1.1" 401 35 "-" '
             f'"python-requests/2.31.0"' for i in range(4)]
    (tmp_path / "access.log").write_text("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "run", str(pack), str(tmp_path / "access.log")],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    matches = [json.loads(x) for x in r.stdout.splitlines()]
    # No session, no user in an access log: the actor is the address and the user agent's family.
    assert [(m["rule"], m["key"], m["fields"]) for m in matches] == [
        ("login_burst", {"actor": "a:203.0.113.7 ua:python-requests/2"}, {"client": "ua:python-requests/2"})]
    # The route's words give the role without a document; the session rule is blind to all four logins.
    assert b"missing key (events that took no part): per_session 4\n" in r.stderr
