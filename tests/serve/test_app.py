"""The `sleuth serve` ASGI application with its worker thread, through httpx's ASGI transport.

Answers for nginx (`/auth`: 200, 403, 401 + X-Sleuth-Status) and Envoy
(`/ext_authz/...`: the real status and body, requests shaped as Envoy sends
them); outcomes from an ingested access log decide what the decision
endpoint enforces; fail-open and fail-closed on timeout, overload and error;
the other endpoints' answers.
"""

from __future__ import annotations

import asyncio
import time

import pytest

httpx = pytest.importorskip("httpx", reason="needs httpx (the 'test' extra)")
pytest.importorskip("prometheus_client", reason="sleuth serve needs the 'serve' extra (prometheus-client)")

import serve_helpers as H  # noqa: E402

from sleuth.dsl import load_pack  # noqa: E402
from sleuth.engine.policy import policy_from_toml  # noqa: E402
from sleuth.playground.serve.app import ServeApp  # noqa: E402
from sleuth.playground.serve.guard import Guard  # noqa: E402
from sleuth.playground.serve.metrics import Metrics  # noqa: E402
from sleuth.playground.serve.request import RequestMapper  # noqa: E402
from sleuth.playground.serve.worker import Worker  # noqa: E402

GW = "127.0.0.1"      # the gateway, the only trusted proxy


def make(budget=0.5, fail_open=True, max_pending=4096, guard=None):
    guard = guard or Guard(load_pack(sources={"pack.ttp": H.PACK}), policy_from_toml(H.POLICY))
    metrics = Metrics()
    worker = Worker(guard, max_pending=max_pending, observe=metrics.engine_latency.observe)
    worker.start()
    app = ServeApp(worker, RequestMapper(trusted_proxies=[f"{GW}/32"]), metrics, budget=budget,
                   fail_open=fail_open)
    return app, worker


def run(app, calls):
    async def go():
        out = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(GW, 40000)),
                                     base_url="http://sleuth") as c:
            for method, url, kw in calls:
                out.append(await c.request(method, url, **kw))
        return out
    return asyncio.run(go())


def auth(ip, uri="/api/login", method="POST", **extra):
    return ("GET", "/auth", {"headers": {"X-Original-URI": uri, "X-Original-Method": method, "X-Real-IP": ip,
                                         "X-Forwarded-For": ip, **extra}})


def envoy(ip, path="/api/login", method="POST", **extra):
    return (method, "/ext_authz" + path, {"headers": {"x-forwarded-for": ip, **extra}})


def test_nginx_answers():
    app, worker = make()
    try:
        rs = run(app, [auth(H.ATTACKER)] * 11 + [auth(H.SCRAPER, "/api/items/1", "GET")] * 41
                 + [auth(H.SCRIPTED, "/api/items/2", "GET", **{"User-Agent": "python-requests/2"})])
    finally:
        worker.stop()
    assert [r.status_code for r in rs[:11]] == [200] * 9 + [403] * 2
    assert rs[0].headers["x-sleuth-action"] == "allow"
    assert rs[9].headers["x-sleuth-action"] == "block" and len(rs[9].headers["x-sleuth-decision"]) == 16
    scraper = rs[11:52]
    assert [r.status_code for r in scraper] == [200] * 39 + [401] * 2
    last = scraper[-1].headers
    assert (last["x-sleuth-action"], last["x-sleuth-status"]) == ("challenge", "429")
    assert 295 <= int(last["retry-after"]) <= 300
    tagged = rs[-1]
    assert (tagged.status_code, tagged.headers["x-sleuth-action"], tagged.headers["x-sleuth-tag"]) == (
        200, "tag", "scripted_client")


def test_envoy_answers_with_the_real_status_and_body():
    app, worker = make()
    try:
        rs = run(app, [envoy(H.ATTACKER, **{"x-request-id": f"r{i}"}) for i in range(10)]
                 + [envoy(H.SCRAPER, f"/api/items/{i}?page=2", "GET") for i in range(40)])
        active = run(app, [("GET", "/active", {"params": {"src_ip": H.ATTACKER}})])[0].json()["active"]
    finally:
        worker.stop()
    assert [r.status_code for r in rs[:10]] == [200] * 9 + [403]
    assert rs[9].text == "Forbidden\n"
    assert rs[-1].status_code == 429 and rs[-1].text == "Too Many Requests\n"
    assert int(rs[-1].headers["retry-after"]) == 300
    assert [(a["action"], a["key"]) for a in active] == [("block", {"src_ip": H.ATTACKER})]


def test_outcomes_from_the_access_log_decide_for_the_gateway():
    app, worker = make()
    now = time.time()
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now - 10))
    log = "".join(f'{H.ATTACKER} - - [{stamp}] "POST /api/login HTTP/1.1" 401 17 "-" "Mozilla/5.0"\n'
                  for _ in range(5)) + "this is not an access log line\n"
    try:
        before = run(app, [auth(H.ATTACKER)])[0]
        rs = run(app, [("POST", "/ingest", {"content": log.encode()}), auth(H.ATTACKER), auth(H.USERS[0])])
        stats = worker.guard.stats()
    finally:
        worker.stop()
    assert before.status_code == 200
    assert rs[0].status_code == 200 and rs[0].json() == {"events": 5, "bad": 1}
    assert [r.status_code for r in rs[1:]] == [403, 200]
    assert stats["log"]["matches_by_rule"]["failed_logins"] == 1
    assert stats["quarantined"] == {"unparsable-line": 1}


def test_fail_open_and_closed():
    # The engine is busy (a long job holds its lock): the request is queued and the budget expires.
    for fail_open, status in ((True, 200), (False, 403)):
        app, worker = make(budget=0.02, fail_open=fail_open)
        worker.lock.acquire()
        try:
            r = run(app, [auth(H.USERS[0])])[0]
        finally:
            worker.lock.release()
        try:
            health = run(app, [("GET", "/healthz", {})])[0].json()
        finally:
            worker.stop()
        assert r.status_code == status
        assert r.headers["x-sleuth-action"] == ("fail-open" if fail_open else "fail-closed")
        assert (health["failures"], health["queued"]) == ({"timeout": 1}, 1)
        # The timed-out request's event was still fed once the engine was free.
        assert worker.guard.counters["requests"] == 1

    app, worker = make(max_pending=0)
    worker.lock.acquire()
    try:
        r = run(app, [auth(H.USERS[0])])[0]
    finally:
        worker.lock.release()
        worker.stop()
    assert (r.status_code, app.failures) == (200, {"overload": 1})

    def broken(raw):
        raise RuntimeError("boom")

    app, worker = make()
    worker.guard.decide = broken
    try:
        r = run(app, [auth(H.USERS[0])])[0]
        text = run(app, [("GET", "/metrics", {})])[0].text
    finally:
        worker.stop()
    assert (r.status_code, app.failures) == (200, {"error": 1})
    assert 'sleuth_failures_total{outcome="open",reason="error"} 1.0' in text.splitlines()


def test_other_endpoints():
    app, worker = make()
    app.max_body = 100
    try:
        rs = run(app, [("GET", "/nope", {}), ("GET", "/ingest", {}),
                       ("POST", "/ingest", {"params": {"format": "xml"}, "content": b"x"}),
                       ("POST", "/ingest", {"content": b"x" * 101}),
                       ("POST", "/ingest", {"params": {"format": "jsonl"}, "content": b'{"ts": 1}\n[1]\n'}),
                       ("GET", "/healthz", {})])
    finally:
        worker.stop()
    assert [r.status_code for r in rs] == [404, 405, 400, 413, 200, 200]
    assert rs[4].json() == {"events": 2, "bad": 0}         # the array is quarantined by the normaliser
    assert rs[5].json() == {"status": "ok", "pending": 0, "queued": 0, "failures": {}}


def test_lifespan_runs_shutdown():
    app, worker = make()
    calls = []
    app.on_shutdown = lambda: calls.append(worker.stop())

    async def go():
        q = asyncio.Queue()
        for m in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
            q.put_nowait(m)
        sent = []

        async def send(msg):
            sent.append(msg["type"])
        await app({"type": "lifespan"}, q.get, send)
        return sent

    assert asyncio.run(go()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert calls == [True] and not worker.alive
