"""The ASGI middleware, in process: the nginx test's scenario through Starlette and httpx's ASGI transport.

In process the response status is known and fed as the event's outcome, so
the status rule (`failed_logins`, five 401s) fires, which the gateway's
events cannot do; a match applies from the next request on (N = 1). Also:
tags reach the application, fail-open on an error inside sleuth, state kept
across an application restart through the ASGI lifespan, metrics served.
"""

from __future__ import annotations

import asyncio
import json

import pytest

httpx = pytest.importorskip("httpx", reason="the middleware tests need httpx (the 'test' extra)")
starlette = pytest.importorskip("starlette", reason="the middleware tests need starlette (the 'test' extra)")

import serve_helpers as H  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from sleuth.dsl import load_pack  # noqa: E402
from sleuth.engine.policy import policy_from_toml  # noqa: E402
from sleuth.playground.serve import Guard, RequestMapper, SleuthMiddleware  # noqa: E402
from sleuth.playground.serve.output import Writer  # noqa: E402


def make_app(seen_tags: list) -> Starlette:
    async def login(request: Request):
        body = await request.json()
        ok = body.get("password") == "correct horse"
        return JSONResponse({"ok": ok}, status_code=200 if ok else 401)

    async def item(request: Request):
        tag = request.headers.get("x-sleuth-tag")
        if tag:
            seen_tags.append((request.client.host, tag))
        return JSONResponse({"item": request.path_params["n"]})

    return Starlette(routes=[Route("/api/login", login, methods=["POST"]), Route("/api/items/{n}", item)])


def make_guard(tmp_path=None, clock=None) -> Guard:
    writer = None
    if tmp_path is not None:
        writer = Writer({"matches": str(tmp_path / "matches.jsonl"), "decisions": str(tmp_path / "decisions.jsonl"),
                         "quarantine": None})
    kw = {"clock": clock} if clock is not None else {}
    return Guard(load_pack(sources={"pack.ttp": H.PACK}), policy_from_toml(H.POLICY), writer=writer, **kw)


async def play(app, plan) -> tuple[list, dict]:
    clients = {}
    results, headers = [], {}
    try:
        for ip, method, path, body, hdrs in plan:
            c = clients.get(ip)
            if c is None:
                c = clients[ip] = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50000)),
                                                    base_url="http://api.test")
            r = await c.request(method, path, json=body, headers=hdrs)
            results.append((ip, r.status_code))
            headers.setdefault(ip, []).append(r.headers)
    finally:
        for c in clients.values():
            await c.aclose()
    return results, headers


def test_same_scenario_in_process(tmp_path):
    seen: list = []
    guard = make_guard(tmp_path)
    app = SleuthMiddleware(make_app(seen), guard, mapper=RequestMapper(session_cookie="sid"))
    results, headers = asyncio.run(play(app, H.scenario()))
    guard.writer.close()
    got = H.by_client(results)
    # The fifth 401 completes failed_logins (its outcome is fed after the response): from the sixth on, 403.
    assert got[H.ATTACKER] == [401] * 5 + [403] * 45
    # The 40th read completes fast_reader: from the 41st on, 429 with the time left of the challenge.
    assert got[H.SCRAPER] == [200] * 40 + [429] * 10
    assert 295 <= int(headers[H.SCRAPER][40]["retry-after"]) <= 300
    assert got[H.MONITOR] == [200] * 50
    for ip in H.USERS:
        assert set(got[ip]) == {200}, ip
    # Tags reach the application from the scripted client's second request on.
    assert seen == [(H.SCRIPTED, "scripted_client")] * 25
    decisions = [json.loads(x) for x in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    first_block = next(d for d in decisions if d["action"] == "block")
    assert (first_block["rule"], first_block["key"]) == ("failed_logins", {"src_ip": H.ATTACKER})
    assert headers[H.ATTACKER][5]["x-sleuth-decision"] == first_block["decision_id"]
    matches = {m["match_id"]: m for m in map(json.loads, (tmp_path / "matches.jsonl").read_text().splitlines())}
    prov = matches[first_block["match_id"]]["provenance"]
    assert [e["fields"]["status"] for e in prov["events"]] == [401] * 5
    assert guard.live.stats()["matches_by_rule"]["failed_logins"] >= 1
    assert app.failures == {}


def test_events_carry_the_outcome():
    guard = make_guard(clock=iter(float(t) for t in range(1000, 2000)).__next__)
    app = SleuthMiddleware(make_app([]), guard, mapper=RequestMapper(session_cookie="sid"))
    plan = [(H.USERS[0], "POST", "/api/login?next=%2Fhome", {"user": "u", "password": "correct horse"},
             {"User-Agent": H.BROWSER_UA, "Cookie": "sid=abc; theme=dark", "Authorization": "Bearer secret"})]
    captured = []
    orig = guard.live.feed

    def spy(ev, *a, **kw):
        captured.append(dict(ev))
        return orig(ev, *a, **kw)

    guard.live.feed = spy
    asyncio.run(play(app, plan))
    (ev,) = captured
    assert ev["ts"] == 1001.0                        # stamped again when the response completed
    assert {k: ev[k] for k in ("id", "method", "path", "route", "query", "src_ip", "session", "ua", "status",
                               "resp_bytes")} == {
        "id": "serve:1", "method": "POST", "path": "/api/login", "route": "/api/login", "query": {"next": "/home"},
        "src_ip": H.USERS[0], "session": "abc", "ua": H.BROWSER_UA, "status": 200, "resp_bytes": 11}
    assert ev["latency_ms"] >= 0
    assert "cookie" not in ev["headers"] and "authorization" not in ev["headers"]
    assert ev["headers"]["host"] == "api.test"


def test_fail_open_when_sleuth_breaks():
    guard = make_guard()

    def broken(raw):
        raise RuntimeError("boom")

    guard.precheck = broken
    app = SleuthMiddleware(make_app([]), guard)
    results, _ = asyncio.run(play(app, [(H.USERS[0], "GET", "/api/items/1", None, {})]))
    assert results == [(H.USERS[0], 200)]
    assert app.failures == {"error": 1}
    closed = SleuthMiddleware(make_app([]), guard, fail_open=False)
    results, _ = asyncio.run(play(closed, [(H.USERS[0], "GET", "/api/items/1", None, {})]))
    assert results == [(H.USERS[0], 403)]
    # The policy's on_error is the default.
    deny = Guard(load_pack(sources={"pack.ttp": H.PACK}), policy_from_toml('on_error = "deny"\n'))
    deny.precheck = broken
    results, _ = asyncio.run(play(SleuthMiddleware(make_app([]), deny), [(H.USERS[0], "GET", "/api/items/1",
                                                                            None, {})]))
    assert results == [(H.USERS[0], 403)]


def test_state_across_application_restart(tmp_path):
    state = tmp_path / "state.bin"

    async def lifespan_run(app, plan):
        sent = []
        queue = asyncio.Queue()
        await queue.put({"type": "lifespan.startup"})

        async def receive():
            return await queue.get()

        async def send(msg):
            sent.append(msg["type"])
            if msg["type"] == "lifespan.startup.complete":
                await queue.put({"type": "lifespan.shutdown"})

        results = (await play(app, plan))[0]
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return results, sent

    stuff = [(H.ATTACKER, "POST", "/api/login", {"user": "v", "password": "x"}, {})] * 6
    app = SleuthMiddleware(make_app([]), make_guard(), state=str(state))
    results, sent = asyncio.run(lifespan_run(app, stuff))
    assert [s for _, s in results] == [401] * 5 + [403]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"] and state.exists()
    again = SleuthMiddleware(make_app([]), make_guard(), state=str(state))
    results, _ = asyncio.run(lifespan_run(again, stuff[:1]))
    assert results == [(H.ATTACKER, 403)]


def test_starlette_add_middleware_and_metrics():
    pytest.importorskip("prometheus_client", reason="metrics need prometheus-client (the 'serve' extra)")
    from sleuth.playground.serve.metrics import Metrics

    app = make_app([])
    app.add_middleware(SleuthMiddleware, guard=make_guard(), metrics=Metrics(), metrics_path="/metrics")
    plan = [(H.ATTACKER, "POST", "/api/login", {"user": "v", "password": "x"}, {})] * 7
    results, _ = asyncio.run(play(app, plan + [(H.USERS[0], "GET", "/metrics", None, {})]))
    assert [s for _, s in results] == [401] * 5 + [403] * 2 + [200]

    async def scrape():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return (await c.get("/metrics")).text

    text = asyncio.run(scrape()).splitlines()
    for line in ('sleuth_events_total{channel="live"} 7.0', 'sleuth_decisions_total{action="block"} 1.0',
                 'sleuth_enforced_total{action="block"} 2.0', 'sleuth_decision_seconds_count{endpoint="middleware"} 7.0',
                 'sleuth_answers_total{action="block"} 2.0'):
        assert line in text, line


def test_fastapi_add_middleware():
    fastapi = pytest.importorskip("fastapi", reason="FastAPI is not installed (the same mechanism as Starlette's, "
                                                    "tested above)")
    api = fastapi.FastAPI()

    @api.post("/api/login")
    async def login(body: dict):
        ok = body.get("password") == "correct horse"
        return fastapi.responses.JSONResponse({"ok": ok}, status_code=200 if ok else 401)

    api.add_middleware(SleuthMiddleware, guard=make_guard(), mapper=RequestMapper(session_cookie="sid"))
    plan = [(H.ATTACKER, "POST", "/api/login", {"user": "v", "password": "x"}, {})] * 7
    results, _ = asyncio.run(play(api, plan))
    assert [s for _, s in results] == [401] * 5 + [403] * 2
