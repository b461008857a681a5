"""`sleuth play` end to end: prompt_toolkit pipe input, piped stdin, a real terminal, the docs.

One scripted session (define a rule, feed events, a near miss, move time, a
match with provenance, save, `sleuth check` the saved file) is driven
through each front end; the terminal tests run the real program in a pty
(tmux, or pexpect) and read the screen.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sleuth.dsl.pack import check_paths
from sleuth.playground.repl import Shell, blocks, interactive, run_script, toolbar_text
from sleuth.playground.repl_session import Session

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "playground.md"

SCRIPT = '''\
# a scripted session
macro login = method == "POST" and route ~ "/api/*/login"
rule credential_stuffing {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high
         title = "one IP, many users failing to log in" }
  by src_ip
  window 10m tumbling
  where login
  having distinct(user) >= 20
}
feed repeat 17 { ts = 2s * i  src_ip = "203.0.113.7"  method = "POST"  path = "/api/v1/login"  status = 401  user = "user{i}" }
partials credential_stuffing
feed repeat 3 { ts = 40s + 2s * i  src_ip = "203.0.113.7"  method = "POST"  path = "/api/v1/login"  status = 401  user = "more{i}" }
partials credential_stuffing
time +10m
matches credential_stuffing
save {saved}
'''

NEAR_MISS = ["credential_stuffing, src_ip=203.0.113.7: distinct(user)=17 of 20, window closes in 9m28s",
             "fed 3 events (e18..e20); time is now 2026-01-01T00:01:16.000Z",
             "credential_stuffing, src_ip=203.0.113.7: distinct(user)=20 of 20, window closes in 8m44s"]
TIME_FIRES = ("time is now 2026-01-01T00:11:16.000Z\n"
              "1 match fired:\n"
              "MATCH #1 credential_stuffing  src_ip=203.0.113.7  (high)  at 2026-01-01T00:10:00.000Z")
PROVENANCE = [
    "MATCH #1 credential_stuffing  src_ip=203.0.113.7  (high)  at 2026-01-01T00:10:00.000Z",
    "  ttp=credential-stuffing  goal=account-takeover  first 2026-01-01T00:00:00.000Z  last 2026-01-01T00:01:16.000Z",
    "  window tumbling 10m: 2026-01-01T00:00:00.000Z .. 2026-01-01T00:10:00.000Z",
    "    distinct(user) = 20",
    "    events: 20",
    "      e1  2026-01-01T00:00:00.000Z  method=POST route=/api/v1/login src_ip=203.0.113.7 user=user0",
    "      e20  2026-01-01T00:01:16.000Z  method=POST route=/api/v1/login src_ip=203.0.113.7 user=more2",
]


def sleuth_cmd() -> list[str]:
    """The installed `sleuth` console script, or the same entry point through this Python."""
    exe = Path(sys.executable).with_name("sleuth")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from sleuth.playground.cli import main; sys.exit(main())"]


def check_saved(path: Path) -> None:
    """The saved file passes `sleuth check` (run as a program)."""
    assert path.exists()
    proc = subprocess.run([*sleuth_cmd(), "check", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 errors" in proc.stderr


def check_session_output(out: str, saved: Path) -> None:
    lines = [ln for ln in out.splitlines() if not ln.startswith("> ")]     # without the script's echo
    assert "\n".join(NEAR_MISS) in "\n".join(lines)
    assert TIME_FIRES in out
    for line in PROVENANCE:
        assert line in lines, line
    assert f"saved 1 macro, 1 rule to {saved}" in out
    assert f"sleuth check {saved}: 0 errors, 0 warnings" in out
    check_saved(saved)
    assert "rule credential_stuffing {" in saved.read_text()


# ---------------------------------------------------------------- prompt_toolkit pipe input


def test_interactive_repl_through_pipe_input(tmp_path) -> None:
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    saved = tmp_path / "saved.ttp"
    history = tmp_path / "history"
    script = SCRIPT.replace("{saved}", str(saved))
    out = io.StringIO()
    with create_pipe_input() as inp:
        for line in script.splitlines():
            if line.startswith("#"):
                continue
            # typed as a person would: the editor indents after '{' and dedents a '}'
            inp.send_text(line.strip() + "\r")
        inp.send_text("quit\r")
        with create_app_session(input=inp, output=DummyOutput()):
            code = interactive(Shell(Session()), str(history), out=out)
    assert code == 0
    text = out.getvalue()
    assert "rule 'credential_stuffing' defined" in text
    check_session_output(text, saved)
    hist = history.read_text()
    assert "+rule credential_stuffing {\n+  meta {" in hist and "+partials credential_stuffing" in hist


def test_toolbar_says_what_enter_will_do() -> None:
    assert toolbar_text("") == " type a rule, a command, or 'help'"
    assert toolbar_text("rule x {\n  when a ==") == " 1 open brace: Enter continues (Esc Enter submits)"
    assert toolbar_text('macro m = status == 500') == " parses: Enter checks and defines it"
    assert toolbar_text("macro m = status ==").startswith(" line 1:")
    assert toolbar_text("partials cred") == " partials [RULE] [FIELD=VALUE ...]"
    assert toolbar_text("partial") == " unknown command 'partial'; did you mean 'partials'?"


# ---------------------------------------------------------------- script mode


def test_piped_stdin_runs_the_script(tmp_path) -> None:
    saved = tmp_path / "saved.ttp"
    proc = subprocess.run([*sleuth_cmd(), "play"], input=SCRIPT.replace("{saved}", str(saved)), capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x1b[" not in proc.stdout                      # plain output
    assert proc.stdout.startswith('> macro login = method == "POST" and route ~ "/api/*/login"\n'
                                  "macro 'login' defined\n> rule credential_stuffing {\n")
    check_session_output(proc.stdout, saved)


def test_script_errors_do_not_stop_it_and_set_the_exit_code(tmp_path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("nonsense\nrule x {\n  when y ==\n}\nstats\n")
    proc = subprocess.run([*sleuth_cmd(), "play", "--script", str(script)], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert "unknown command 'nonsense'" in proc.stdout
    assert "error[missing-operand]" in proc.stdout
    assert "events: 0 fed" in proc.stdout                  # the script went on after the errors
    assert run_script(Shell(Session()), ["stats", "rules"], io.StringIO()) == 0


def test_blocks_follow_open_brackets() -> None:
    lines = ["# comment", "", "rule x {", "  # inside", "", "  when a == \"}\"", "}", "feed [", "{}", "]", "stats"]
    assert list(blocks(lines)) == ['rule x {\n  # inside\n\n  when a == "}"\n}', "feed [\n{}\n]", "stats"]
    out = io.StringIO()
    assert run_script(Shell(Session()), ["stats", "quit", "nonsense"], out) == 0   # quit stops the script
    assert "> quit" in out.getvalue() and "nonsense" not in out.getvalue()


# ---------------------------------------------------------------- a real terminal


def _wait(capture, pattern: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture()
        if re.search(pattern, screen):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared on the screen:\n{screen}")


def test_play_in_a_real_terminal_with_tmux(tmp_path) -> None:
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed")
    sock = f"sleuth-test-{os.getpid()}"
    base = [tmux, "-L", sock, "-f", os.devnull]
    cmd = " ".join(shlex.quote(c) for c in sleuth_cmd()) + f" play --history {shlex.quote(str(tmp_path / 'h'))}"
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    subprocess.run([*base, "new-session", "-d", "-x", "110", "-y", "40", "-s", "play",
                    f"env TERM=xterm-256color {cmd}"], check=True, env=env, timeout=30)

    def keys(text: str, enter: bool = True) -> None:
        subprocess.run([*base, "send-keys", "-t", "play", "-l", text], check=True, timeout=10)
        if enter:
            subprocess.run([*base, "send-keys", "-t", "play", "Enter"], check=True, timeout=10)

    def screen(escapes: bool = False) -> str:
        args = [*base, "capture-pane", "-p", "-t", "play"] + (["-e"] if escapes else [])
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout

    try:
        _wait(screen, r"sleuth>")
        keys("rule slow {")
        keys('meta { ttp = "resource-exhaustion" goal = "disruption" severity = low title = "slow" }')
        keys('when route ~ "/api/*" and latency_ms > 2000   # slow calls')
        _wait(screen, r"\.\.\. +when route")                     # continuation prompt, still in the block
        keys("}")
        _wait(screen, r"rule 'slow' defined")
        keys('feed {"path": "/api/v1/search", "latency_ms": 2500}')
        keys("matches")
        plain = _wait(screen, r"latency_ms=2500")
        assert "sleuth> rule slow {" in plain
        assert "fed 1 event (e1); time is now 2026-01-01T00:00:00.000Z" in plain
        assert "MATCH #1 slow  (low)  at 2026-01-01T00:00:00.000Z" in plain
        keys("partials sl", enter=False)
        text = _wait(screen, r"partials \[RULE\] \[FIELD=VALUE \.\.\.\]")  # the bottom toolbar
        assert "sleuth> partials sl" in text
        coloured = screen(escapes=True)
        sgr = r"((?:\x1b\[[0-9;:]*m)+)"

        def style_before(token: str) -> str:
            m = re.search(sgr + re.escape(token), coloured)
            assert m is not None, (token, coloured)
            return m.group(1)

        # the grammar's classes get different styles: keyword, string, number, comment
        styles = {style_before(t) for t in ("when", '"/api/*"', "2000", "# slow calls")}
        assert len(styles) == 4, styles
        assert "1" in style_before("when").replace("[", ";").replace("m", ";").split(";")   # keywords are bold
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True, timeout=10)


def test_play_in_a_pty_with_pexpect(tmp_path) -> None:
    pexpect = pytest.importorskip("pexpect")
    argv = sleuth_cmd()
    env = dict(os.environ, TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(argv[0], [*argv[1:], "play", "--history", str(tmp_path / "h")], env=env,
                          dimensions=(40, 110), encoding="utf-8", timeout=20)
    try:
        child.expect("sleuth> ")
        child.send('macro slow = latency_ms > 2000\r')
        child.expect("macro 'slow' defined")
        child.send("rule r {\r")
        child.send('meta { ttp = "resource-exhaustion" goal = "disruption" severity = low title = "r" }\r')
        child.send("when slow\r}\r")
        child.expect("rule 'r' defined")
        child.send('{"latency_ms": 2600}\r')
        child.expect(r"fed 1 event \(e1\)")
        child.expect(r"\x1b\[1;31mMATCH\x1b\[0m #1 \x1b\[1mr\x1b\[0m  \(low\)")   # coloured on a terminal
        child.send("\x04")                                      # Ctrl-D leaves
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "+macro slow = latency_ms > 2000" in (tmp_path / "h").read_text()


# ---------------------------------------------------------------- the walkthrough in docs/playground.md


def _fenced_after(marker: str, text: str) -> list[str]:
    return re.findall(re.escape(marker) + r"\n```[a-z]*\n(.*?)\n```", text, re.S)


def _rewrite_outputs(doc: str, outputs: list[str], actual: str) -> str:
    """The doc with its output blocks cut from `actual` at the same commands (`--update-golden`)."""
    starts = []
    pos = 0
    for block in outputs:
        first = block.split("\n", 1)[0] + "\n"
        pos = actual.index(first, pos)
        starts.append(pos)
        pos += len(first)
    pieces = [actual[a:b].rstrip("\n") for a, b in zip(starts, starts[1:] + [len(actual)])]
    marker = "<!-- playground: output -->\n```\n"
    for old, new in zip(outputs, pieces):
        doc = doc.replace(marker + old + "\n```", marker + new + "\n```", 1)
    return doc


def test_docs_walkthrough_is_the_real_output(tmp_path, request) -> None:
    doc = DOC.read_text(encoding="utf-8")
    (script,) = _fenced_after("<!-- playground: script -->", doc)
    outputs = _fenced_after("<!-- playground: output -->", doc)
    assert len(outputs) >= 6
    proc = subprocess.run([*sleuth_cmd(), "play"], input=script + "\n", capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if request.config.getoption("--update-golden") and proc.stdout != "\n".join(outputs) + "\n":
        DOC.write_text(_rewrite_outputs(doc, outputs, proc.stdout), encoding="utf-8")
        return
    # pytest --update-golden rewrites the output blocks from a real run
    assert proc.stdout == "\n".join(outputs) + "\n"
    checked = check_paths([str(tmp_path / "rules" / "playground.ttp")])
    assert not checked.diagnostics and len(checked.rules) == 3


def test_report_writes_the_session_page(tmp_path) -> None:
    page = tmp_path / "session.html"
    script = SCRIPT.replace("save {saved}\n", f"report {page} 1m\nreport\n")
    out = io.StringIO()
    code = run_script(Shell(Session()), script.splitlines(), out)
    text = out.getvalue()
    assert code == 1                                           # the bare 'report' is a usage error
    assert f"wrote {page}: 1 matches, 1 rules, 1 unique TTPs" in text
    assert "usage: report FILE [INTERVAL]" in text
    html = page.read_text(encoding="utf-8")
    assert "credential_stuffing" in html and "203.0.113.7" in html
    empty = io.StringIO()
    run_script(Shell(Session()), [f"report {tmp_path / 'none.html'}"], empty)
    assert "no match yet: nothing to report" in empty.getvalue()
