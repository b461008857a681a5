"""`sleuth roles`: the role table from documents and traffic, profiles, JSON lines, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.playground.cli import main

SPEC = {
    "openapi": "3.0.3",
    "servers": [{"url": "https://api.example.com/v2"}],
    "paths": {
        "/auth/signin": {"post": {"operationId": "signIn", "summary": "Sign in with a password"}},
        "/auth/session": {"delete": {"operationId": "endSession"}},
        "/auth/otp-secret": {"get": {"operationId": "getOtpSecret"}},
        "/products/{id}": {"get": {"operationId": "getProduct"}},
        "/wallet/top-up": {"post": {"operationId": "topUpWallet"}},
        "/register-or-login": {"post": {"operationId": "registerOrLogin"}},
    },
}


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    p = tmp_path / "api.json"
    p.write_text(json.dumps(SPEC))
    return p


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["roles", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_overview_lists_the_command():
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli"], capture_output=True, timeout=60)
    assert b"   roles" in r.stdout


def test_text_table_ambiguity_and_sensitive_routes(capsys, spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "--openapi", str(spec), "--no-evidence")
    assert code == 1  # an ambiguous documented operation
    assert out.split("\n") == [
        "6 operations in 1 document: 3 with a role, 1 ambiguous",
        "METHOD  ROUTE               ROLE            OPERATION",
        "POST    /auth/signin        login           signIn",
        "DELETE  /auth/session       logout          endSession",
        "GET     /auth/otp-secret    -               getOtpSecret",
        "GET     /products/{id}      catalogue       getProduct",
        "POST    /wallet/top-up      -               topUpWallet",
        "POST    /register-or-login  ambiguous       registerOrLogin",
        "",
        "ambiguous (1): give each a role in the profile's [roles] table",
        "  POST    /register-or-login  (login or register)",
        '          "POST /register-or-login" = "login"',
        "",
        "look sensitive but have no role (2): check them, add a [roles] override where one applies",
        "  GET     /auth/otp-secret  getOtpSecret  [auth, otp, secret]",
        "  POST    /wallet/top-up  topUpWallet  [wallet]",
        "",
    ]
    assert err == ""


def test_evidence_lines_follow_each_row(capsys, spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _code, out, _err = run(capsys, "--openapi", str(spec))
    lines = out.split("\n")
    i = lines.index("POST    /auth/signin        login           signIn")
    assert lines[i + 1:i + 3] == ["        operationId 'signIn' repeats the path",
                                  "        path '/auth/signin': words auth+login → login (the word 'login'); "
                                  "summary agree"]


def test_json_lines_one_per_operation(capsys, spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _err = run(capsys, "--openapi", str(spec), "--format", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(rows) == 6
    assert rows[0] == {
        "method": "POST", "route": "/auth/signin", "operation": "signIn", "role": "login",
        "evidence": ["operationId 'signIn' repeats the path",
                     "path '/auth/signin': words auth+login → login (the word 'login'); summary agree"],
        "source": "path", "candidates": [], "routes": ["/v2/auth/signin"], "spec": str(spec),
        "sensitive": []}
    assert rows[2]["role"] is None and rows[2]["sensitive"] == ["auth", "otp", "secret"]
    assert rows[5]["candidates"] == ["login", "register"]


def test_profile_overrides_and_documents(capsys, spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sleuth.toml").write_text(
        'openapi = "api.json"\n[roles]\n"POST /register-or-login" = "login"\n"/wallet/top-up" = "payment"\n')
    code, out, _err = run(capsys, "--no-evidence")
    assert code == 0
    assert "POST    /register-or-login  login           registerOrLogin" in out
    assert "POST    /wallet/top-up      payment         topUpWallet" in out
    code, out, _err = run(capsys, "--no-evidence", "--format", "json")
    row = [json.loads(x) for x in out.splitlines()][4]
    assert (row["role"], row["source"], row["evidence"]) == ("payment", "override", ["profile override 'payment'"])
    # --no-profile ignores ./sleuth.toml: nothing left to read
    code, _out, err = run(capsys, "--no-profile")
    assert code == 2 and "nothing to read" in err


def test_profile_errors_exit_2_with_diagnostics(capsys, tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[roles]\n"POST /x" = "logn"\n')
    code, _out, err = run(capsys, "--profile", str(bad))
    assert code == 2
    assert f"{bad}:2:13: error[unknown-role]: 'logn' is not a role" in err
    assert "= hint: did you mean 'login'?" in err
    code, _out, err = run(capsys, "--profile", str(tmp_path / "none.toml"))
    assert code == 3 and "no such profile" in err


def test_unreadable_documents_and_events(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "--openapi", "missing.yaml")
    assert code == 3 and err.startswith("sleuth roles: cannot read missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    code, _out, err = run(capsys, "--openapi", "list.yaml")
    assert code == 3 and "must be a mapping" in err
    code, _out, err = run(capsys, "nope.jsonl")
    assert code == 3 and "no such file: nope.jsonl" in err


EVENTS = [
    {"ts": 1, "method": "POST", "path": "/api/v1/sessions", "status": 201},
    {"ts": 2, "method": "POST", "path": "/api/v1/sessions", "status": 401},
    {"ts": 3, "method": "GET", "path": "/api/v1/orders/8812", "status": 200},
    {"ts": 4, "method": "GET", "path": "/api/v1/orders/8813", "status": 200},
    {"ts": 5, "method": "GET", "path": "/api/v1/secret-token-store", "status": 404},
    {"ts": 6, "method": "GET", "path": "/index.html", "status": 200},
]


def _events(tmp_path: Path, extra: list[str] = ()) -> Path:
    p = tmp_path / "events.jsonl"
    p.write_text("\n".join([json.dumps(e) for e in EVENTS] + list(extra)) + "\n")
    return p


def test_events_without_a_document_use_heuristic_templates(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ev = _events(tmp_path, ["not json", json.dumps({"method": "GET", "path": "/x"})])
    code, out, _err = run(capsys, str(ev), "--no-evidence")
    assert code == 0
    assert out.split("\n") == [
        "4 routes seen in 6 events (heuristic templates, no OpenAPI document): 2 with a role, 0 ambiguous",
        "METHOD  ROUTE                       ROLE             SEEN",
        "GET     /api/v1/orders/{id}         object-read         2",
        "GET     /api/v1/secret-token-store  -                   1",
        "POST    /api/v1/sessions            login               2",
        "GET     /index.html                 -                   1",
        "",
        "look sensitive but have no role (1): check them, add a [roles] override where one applies",
        "  GET     /api/v1/secret-token-store  [secret, token]",
        "2 records set aside: no-time 1, not-json 1",
        "",
    ]
    code, out, _err = run(capsys, str(ev), "--format", "json")
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows[0] == {"method": "GET", "route": "/api/v1/orders/{id}", "operation": None, "role": "object-read",
                       "evidence": ["heuristic '/api/v1/orders/{id}': words api+order → object-read (reads one "
                                    "'order' by id)"],
                       "source": "heuristic", "candidates": [], "seen": 2, "sensitive": []}


def test_events_with_a_document_are_counted_per_operation(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    doc = {"openapi": "3.0.0", "servers": [{"url": "/api/v1"}],
           "paths": {"/sessions": {"post": {"operationId": "createSession"}},
                     "/orders/{id}": {"get": {"operationId": "getOrder"}}}}
    (tmp_path / "api.json").write_text(json.dumps(doc))
    code, out, _err = run(capsys, "--openapi", "api.json", str(_events(tmp_path)), "--no-evidence")
    assert code == 0
    assert out.split("\n")[1:4] == [
        "METHOD  ROUTE         ROLE            OPERATION      SEEN",
        "POST    /sessions     login           createSession     2",
        "GET     /orders/{id}  object-read     getOrder          2",
    ]
    assert "6 events read; 2 matched no documented operation" in out
