"""`sleuth serve` on the command line: exit codes and messages, graceful stop, state checks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

pytest.importorskip("uvicorn", reason="sleuth serve needs the 'serve' extra (uvicorn): pip install -e '.[serve]'")
pytest.importorskip("prometheus_client", reason="sleuth serve needs the 'serve' extra (prometheus-client)")

import serve_helpers as H  # noqa: E402


def sleuth(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def work(tmp_path):
    (tmp_path / "pack.ttp").write_text(H.PACK)
    (tmp_path / "policy.toml").write_text(H.POLICY)
    return tmp_path


def test_bad_policy_is_reported_with_line_and_column(work):
    (work / "bad.toml").write_text('[[rules]]\nrule = "login_burts"\naction = "blok"\n')
    r = sleuth("serve", work / "pack.ttp", "--policy", work / "bad.toml", "--port", "0")
    assert r.returncode == 1
    assert f"{work / 'bad.toml'}:3:10: error[unknown-action]: unknown action 'blok'" in r.stderr
    assert "the policy has 1 error(s); nothing was started" in r.stderr


def test_usage_and_io_errors(work):
    r = sleuth("serve", work / "pack.ttp", "--policy", work / "missing.toml")
    assert (r.returncode, r.stderr.splitlines()[-1]) == (3, f"sleuth serve: cannot read {work / 'missing.toml'}: "
                                                            "No such file or directory")
    r = sleuth("serve", work / "pack.ttp", "--header-field", "user")
    assert (r.returncode, r.stderr.strip()) == (2, "sleuth serve: --header-field takes FIELD=HEADER, not 'user'")
    r = sleuth("serve", work / "pack.ttp", "--budget-ms", "0")
    assert r.returncode == 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = sleuth("serve", work / "pack.ttp", "--port", s.getsockname()[1], "--quarantine", work / "q.jsonl")
    assert r.returncode == 3 and "cannot listen on 127.0.0.1:" in r.stderr
    (work / "state.bin").write_bytes(b"not a state")
    r = sleuth("serve", work / "pack.ttp", "--state", work / "state.bin", "--port", "0")
    assert r.returncode == 3 and f"cannot resume from {work / 'state.bin'}" in r.stderr


def test_warnings_do_not_stop_it_and_sigint_writes_state(work):
    (work / "warn.toml").write_text('[[rules]]\nrule = "login_burts"\naction = "block"\n')
    s = H.Serve(work, "--state", work / "state.bin", "--policy", work / "warn.toml")
    assert "warning[unknown-rule]: policy rule 'rules[1]' names rule 'login_burts'" in s.stderr
    assert "did you mean 'login_burst'?" in s.stderr
    assert s.stop(signal.SIGINT) == 130
    assert (work / "state.bin").exists() and "state written to" in s.stderr
    # Another pack: the state is refused.
    (work / "other.ttp").write_text(H.PACK.replace("count() >= 10", "count() >= 11"))
    r = sleuth("serve", work / "other.ttp", "--state", work / "state.bin", "--port", "0")
    assert r.returncode == 3 and "another rule pack" in r.stderr


def test_missing_extra_is_a_clear_message(work):
    code = ("import sys; sys.modules['uvicorn'] = None; from sleuth.playground.cli import main; "
            f"sys.exit(main(['serve', {str(work / 'pack.ttp')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == ("sleuth serve: needs the 'serve' extra (uvicorn is missing): "
                                "pip install 'sleuth[serve]'")


def test_help_lists_serve():
    r = sleuth("--help")
    assert "serve" in r.stdout and "nginx auth_request" in r.stdout
    r = sleuth("help", "serve")
    assert r.returncode == 0 and "--trusted-proxy CIDR" in r.stdout
