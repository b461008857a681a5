"""Real nginx, `auth_request` to a real `sleuth serve` (uvicorn), a tiny upstream: all on loopback.

The nginx configuration is the one in docs/mitigation.md (only the ports
change). A bounded load loop plays a credential-stuffing burst and a
scraper among normal users, each client from its own loopback address:
the stuffer is blocked (403) from the very request on which its rule fires
(N = 0: the decision endpoint feeds the request before answering it), the
scraper is challenged (429 with Retry-After) from its 40th read, the
allow-listed monitor and the normal users never are, and a scripted client
is tagged for the upstream. Then sleuth is stopped: nginx fails open; it is
restarted from its state file: the block holds.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

pytest.importorskip("uvicorn", reason="sleuth serve needs the 'serve' extra (uvicorn): pip install -e '.[serve]'")
pytest.importorskip("prometheus_client", reason="sleuth serve needs the 'serve' extra (prometheus-client)")
httpx = pytest.importorskip("httpx", reason="the load loop needs httpx (the 'test' extra)")

import serve_helpers as H  # noqa: E402


@pytest.fixture(scope="module")
def nginx():
    binary = H.nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light; .ci/run installs it)")
    out = subprocess.run([binary, "-V"], capture_output=True, text=True)
    if "http_auth_request_module" not in out.stderr + out.stdout:
        pytest.skip(f"{binary} was built without the auth_request module")
    return binary


@pytest.fixture
def stack(tmp_path, nginx):
    (tmp_path / "pack.ttp").write_text(H.PACK)
    (tmp_path / "policy.toml").write_text(H.POLICY)
    up = H.Upstream()
    serve = H.Serve(tmp_path, "--trusted-proxy", "127.0.0.1/32", "--state", str(tmp_path / "state.bin"))
    port = H.free_port()
    conf = H.nginx_main_config(tmp_path, H.nginx_config(port, serve.port, up.port))
    gw = H.Nginx(nginx, conf, tmp_path, port)
    stack = {"dir": tmp_path, "upstream": up, "serve": serve, "nginx": gw, "port": port}
    yield stack
    gw.stop()
    stack["serve"].stop()
    up.stop()


def _play(port: int, plan) -> tuple[list, dict]:
    clients = {}
    results = []
    headers_of = {}
    try:
        for ip, method, path, body, headers in plan:
            c = clients.get(ip)
            if c is None:
                c = clients[ip] = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0,
                                               transport=httpx.HTTPTransport(local_address=ip))
            r = c.request(method, path, json=body, headers=headers)
            results.append((ip, r.status_code))
            headers_of.setdefault(ip, []).append(r.headers)
    finally:
        for c in clients.values():
            c.close()
    return results, headers_of


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_attackers_are_stopped_users_never_are(stack):
    results, headers = _play(stack["port"], H.scenario())
    got = H.by_client(results)
    # The stuffer: the upstream answers its first nine wrong passwords (401); the tenth login fires
    # login_burst and is itself refused, as is everything after it.
    assert got[H.ATTACKER] == [401] * 9 + [403] * 41
    # The scraper: 39 reads pass; the 40th fires fast_reader and is challenged, as are the rest.
    assert got[H.SCRAPER] == [200] * 39 + [429] * 11
    assert 295 <= int(headers[H.SCRAPER][39]["retry-after"]) <= 300
    # The monitor reads as fast as the scraper but is allow-listed; normal users are never refused.
    assert got[H.MONITOR] == [200] * 50
    for ip in H.USERS:
        assert set(got[ip]) == {200}, ip
    assert len(results) == 50 * 3 + 6 * 25 + 6

    d = stack["dir"]
    serve = stack["serve"]
    # Why was I blocked: each 403 names the decision, the decision names the match, the match its
    # events. Refused attempts are still events: login_burst fires again every ten attempts and each
    # new decision extends the block and becomes its reason.
    assert serve.stop() == 0
    decisions = _lines(d / "decisions.jsonl")
    blocks = [r for r in decisions if r["action"] == "block"]
    assert [(r["rule"], r["key"], r["policy_rule"]) for r in blocks] == [
        ("login_burst", {"src_ip": H.ATTACKER}, "stuffing")] * 5
    cited = [h["x-sleuth-decision"] for h in headers[H.ATTACKER][9:]]
    assert cited == [b["decision_id"] for b in blocks for _ in range(10)][:41]
    matches = {m["match_id"]: m for m in _lines(d / "matches.jsonl")}
    m = matches[blocks[0]["match_id"]]
    assert m["provenance"]["event_count"] == 10
    assert {e["fields"]["src_ip"] for e in m["provenance"]["events"]} == {H.ATTACKER}
    # The event ids are nginx's $request_id: the access log's request ids.
    assert all(len(e["id"]) == 32 for e in m["provenance"]["events"])
    # Decisions of the run, by rule and action: the monitor's match gets an allow (allow-list).
    summary = sorted({(r["rule"], r["action"], r["key"]["src_ip"]) for r in decisions})
    assert summary == [("fast_reader", "allow", H.MONITOR), ("fast_reader", "challenge", H.SCRAPER),
                       ("login_burst", "block", H.ATTACKER), ("scripted_client", "tag", H.SCRIPTED)]
    # The scripted client's reads reached the upstream tagged (its first request fired the rule).
    assert stack["upstream"].seen_tags == [(f"{H.SCRIPTED}", "scripted_client")] * 25
    assert "stopped after" in serve.stderr and "state written to" in serve.stderr


def test_metrics_and_health(stack):
    _play(stack["port"], H.scenario())
    port = stack["serve"].port
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        health = c.get("/healthz").json()
        assert (health["status"], health["pending"], health["failures"]) == ("ok", 0, {})
        text = c.get("/metrics").text
        active = c.get("/active", params={"src_ip": H.ATTACKER}).json()["active"]
    n = 50 * 3 + 6 * 25 + 6
    for line in (f'sleuth_events_total{{channel="live"}} {n}.0',
                 'sleuth_matches_total{channel="live",rule="login_burst"} 5.0',
                 'sleuth_matches_total{channel="live",rule="failed_logins"} 0.0',
                 'sleuth_decisions_total{action="block"} 5.0',
                 'sleuth_decisions_total{action="challenge"} 1.0',
                 'sleuth_enforced_total{action="block"} 41.0',
                 'sleuth_enforced_total{action="challenge"} 11.0',
                 'sleuth_answers_total{action="block"} 41.0',
                 'sleuth_allowlisted_total 50.0',
                 'sleuth_active_decisions 3.0',
                 f'sleuth_decision_seconds_count{{endpoint="auth"}} {n}.0'):
        assert line in text.splitlines(), line
    assert [(a["action"], a["rule"]) for a in active] == [("block", "login_burst")]


def test_gateway_fails_open_and_state_survives_restart(stack):
    d = stack["dir"]
    plan = [(H.ATTACKER, "POST", "/api/login", {"user": "x", "password": "y"}, {}),
            (H.USERS[1], "GET", "/api/items/1", None, {})]
    first, _ = _play(stack["port"], plan[:1] * 10)      # the tenth attempt fires login_burst
    assert [s for _, s in first] == [401] * 9 + [403]
    assert H.by_client(_play(stack["port"], plan)[0]) == {H.ATTACKER: [403], H.USERS[1]: [200]}
    port = stack["serve"].port
    assert stack["serve"].stop(signal.SIGTERM) == 0
    assert (d / "state.bin").exists()
    # sleuth is down: nginx lets requests through to the upstream (its @sleuth_unavailable location).
    assert H.by_client(_play(stack["port"], plan)[0]) == {H.ATTACKER: [401], H.USERS[1]: [200]}
    # Restarted on the same port from its state: the block (10 minutes) still holds.
    stack["serve"] = H.Serve(d, "--trusted-proxy", "127.0.0.1/32", "--state", str(d / "state.bin"), port=port)
    assert "resumed from" in stack["serve"].stderr
    assert H.by_client(_play(stack["port"], plan)[0]) == {H.ATTACKER: [403], H.USERS[1]: [200]}
