"""The ASGI application behind `sleuth serve`: decisions for gateways, log ingest, health, metrics.

Stage: the HTTP face of a `Guard` and its `Worker` (worker.py). Plain ASGI
(uvicorn parses HTTP; no framework): `/auth` answers nginx `auth_request`
(200 allow, 403 block, 401 with `X-Sleuth-Status: 429` for a challenge or
throttle, which the nginx configuration turns into 429), `/ext_authz/...`
answers Envoy's HTTP ext_authz with the real status and body, `/ingest`
takes batches of log lines, `/healthz`, `/metrics` (Prometheus) and
`/active` (the active decisions, for "why was I blocked"). A decision the
engine cannot give within the budget is answered by the fail mode and counted.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl

import orjson

from sleuth.engine.policy import Verdict

from .request import RequestMapper
from .worker import Worker

MAX_BODY = 16 << 20
INGEST_FORMATS = ("auto", "jsonl", "json", "msgpack", "apache", "nginx", "csv")


class _Late(Exception):
    """The engine did not answer within the budget."""


def _expire(fut) -> None:
    if not fut.done():
        fut.set_exception(_Late())


def _decide(guard, ev):
    return guard.decide(ev)


def _stats(guard, _):
    return guard.stats()


def _active(guard, where):
    return guard.active(where)


class ServeApp:
    """ASGI app: `ServeApp(worker, mapper, metrics)`; `budget` in seconds; `fail_open` (default True)."""

    def __init__(self, worker: Worker, mapper: RequestMapper, metrics=None, *, budget: float = 0.05,
                 fail_open: bool = True, envoy_prefix: str = "/ext_authz", max_body: int = MAX_BODY,
                 on_startup=None, on_shutdown=None):
        self.worker = worker
        self.mapper = mapper
        self.metrics = metrics
        self.budget = budget
        self.fail_open = fail_open
        self.envoy_prefix = envoy_prefix.rstrip("/")
        self.max_body = max_body
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.failures: dict[str, int] = {}
        self.queued = 0          # decisions that found the engine busy and waited for the worker
        block = worker.guard.policy.block
        self._closed_verdict = Verdict("block", block.status, (("X-Sleuth-Action", "fail-closed"),),
                                       (), block.body)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path == "/auth":
                await self._decision(scope, send, nginx=True)
            elif path.startswith(self.envoy_prefix + "/") or path == self.envoy_prefix:
                await self._decision(scope, send, nginx=False)
            elif path == "/ingest":
                await self._ingest(scope, receive, send)
            elif path == "/healthz":
                await self._health(send)
            elif path == "/metrics":
                await self._metrics(send)
            elif path == "/active":
                await self._active(scope, send)
            else:
                await _respond(send, 404, b"not found\n", [(b"content-type", b"text/plain")])
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # ------------------------------------------------------------ decisions
    def _fail(self, reason: str) -> Verdict:
        outcome = "open" if self.fail_open else "closed"
        self.failures[reason] = self.failures.get(reason, 0) + 1
        if self.metrics is not None:
            self.metrics.failures.labels(reason, outcome).inc()
        if self.fail_open:
            return Verdict("allow", 200, (("X-Sleuth-Action", "fail-open"),))
        return self._closed_verdict

    async def _decision(self, scope, send, nginx: bool) -> None:
        t0 = time.perf_counter()
        if nginx:
            target = scope.get("raw_path") or b"/"
        else:
            raw = scope.get("raw_path") or scope["path"].encode("latin-1", "replace")
            target = raw[len(self.envoy_prefix):] or b"/"
        target = target.decode("latin-1")
        qs = scope.get("query_string")
        if qs and not nginx:
            target = f"{target}?{qs.decode('latin-1')}"
        try:
            ev = self.mapper.event(scope["headers"], peer=scope["client"][0] if scope.get("client") else None,
                                   method=scope["method"], target=target, original=nginx)
        except Exception:
            verdict = self._fail("error")
        else:
            lock = self.worker.lock
            if lock.acquire(blocking=False):
                # The engine is free: run it here (no hand-off; see worker.py).
                t1 = time.perf_counter()
                try:
                    verdict = self.worker.guard.decide(ev)
                except Exception:
                    verdict = self._fail("error")
                finally:
                    lock.release()
                if self.metrics is not None:
                    self.metrics.engine_latency.observe(time.perf_counter() - t1)
                await self._answer(send, verdict, nginx)
                if self.metrics is not None:
                    self.metrics.latency.labels("auth" if nginx else "ext_authz").observe(time.perf_counter() - t0)
                    self.metrics.answers.labels(verdict.action).inc()
                return
            self.queued += 1
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            if not self.worker.submit(_decide, ev, loop, fut, timed=True):
                verdict = self._fail("overload")
            else:
                # A plain timer on the future (cheaper than wait_for): on expiry the answer is the
                # fail mode; the worker's late answer is then dropped, its event still fed.
                timer = loop.call_later(self.budget, _expire, fut)
                try:
                    verdict = await fut
                except _Late:
                    verdict = self._fail("timeout")
                except Exception:
                    verdict = self._fail("error")
                finally:
                    timer.cancel()
        await self._answer(send, verdict, nginx)
        if self.metrics is not None:
            self.metrics.latency.labels("auth" if nginx else "ext_authz").observe(time.perf_counter() - t0)
            self.metrics.answers.labels(verdict.action).inc()

    async def _answer(self, send, v: Verdict, nginx: bool) -> None:
        headers = [(k.lower().encode("latin-1"), val.encode("latin-1", "replace")) for k, val in v.headers]
        if not v.headers:
            headers.append((b"x-sleuth-action", v.action.encode()))
        if v.allowlist is not None:
            headers.append((b"x-sleuth-allowlist", v.allowlist.encode("latin-1", "replace")))
        if v.allowed:
            for k, val in v.upstream_headers:
                headers.append((k.lower().encode("latin-1"), val.encode("latin-1", "replace")))
            await _respond(send, 200, b"", headers)
            return
        if nginx:
            # auth_request passes on 401 and 403 only: a challenge or throttle is a 401 that the
            # nginx configuration maps to the real status (X-Sleuth-Status) with error_page.
            status = 403 if v.action == "block" else 401
            headers.append((b"x-sleuth-status", str(v.status).encode()))
            await _respond(send, status, b"", headers)
        else:
            headers.append((b"content-type", b"text/plain; charset=utf-8"))
            await _respond(send, v.status, v.body.encode("utf-8"), headers)

    # ------------------------------------------------------------ ingest
    async def _ingest(self, scope, receive, send) -> None:
        if scope["method"] != "POST":
            await _respond(send, 405, b"POST JSON lines (or access-log lines) to /ingest\n",
                           [(b"allow", b"POST"), (b"content-type", b"text/plain")])
            return
        params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        fmt = params.get("format", "auto")
        if fmt not in INGEST_FORMATS:
            await _json(send, 400, {"error": f"unknown format {fmt!r}", "formats": list(INGEST_FORMATS)})
            return
        chunks = []
        size = 0
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > self.max_body:
                await _json(send, 413, {"error": f"a batch is at most {self.max_body} bytes"})
                return
            chunks.append(body)
            more = msg.get("more_body", False)
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if not self.worker.submit_batch(b"".join(chunks), fmt, loop, fut):
            await _json(send, 503, {"error": "too many batches waiting; retry"}, [(b"retry-after", b"1")])
            return
        try:
            counts = await fut
        except Exception as exc:
            await _json(send, 500, {"error": f"{type(exc).__name__}: {exc}"[:300]})
            return
        if self.metrics is not None:
            self.metrics.ingest_latency.observe(time.perf_counter() - t0)
        await _json(send, 200, counts)

    # ------------------------------------------------------------ health, metrics, active
    async def _call(self, fn, arg, timeout: float = 5.0):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if not self.worker.submit(fn, arg, loop, fut):
            raise RuntimeError("the engine queue is full")
        return await asyncio.wait_for(fut, timeout)

    async def _health(self, send) -> None:
        ok = self.worker.alive
        await _json(send, 200 if ok else 503, {"status": "ok" if ok else "stopping", "pending": self.worker.pending,
                                                "queued": self.queued, "failures": self.failures})

    async def _metrics(self, send) -> None:
        if self.metrics is None:
            await _respond(send, 404, b"metrics need prometheus-client\n", [(b"content-type", b"text/plain")])
            return
        try:
            stats = await self._call(_stats, None)
        except Exception:
            stats = None         # histograms and answer counters still go out
        body = self.metrics.render(stats, self.worker.pending, self.queued)
        from .metrics import CONTENT_TYPE_LATEST

        await _respond(send, 200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    async def _active(self, scope, send) -> None:
        where = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            rows = await self._call(_active, where)
        except Exception as exc:
            await _json(send, 503, {"error": f"{type(exc).__name__}: {exc}"[:300]})
            return
        await _json(send, 200, {"active": rows})

    async def _lifespan(self, receive, send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    if self.on_startup is not None:
                        self.on_startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                try:
                    if self.on_shutdown is not None:
                        await asyncio.get_running_loop().run_in_executor(None, self.on_shutdown)
                except Exception as exc:
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send, status: int, body: bytes, headers: list) -> None:
    headers = headers + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send, status: int, obj, headers: list | None = None) -> None:
    await _respond(send, status, orjson.dumps(obj) + b"\n",
                   [(b"content-type", b"application/json")] + (headers or []))
