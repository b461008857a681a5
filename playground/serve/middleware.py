"""The ASGI middleware: sleuth's decisions in process, for any ASGI application.

Stage: around an application (Starlette, FastAPI or plain ASGI; no
framework is imported). Before the application runs, the request is
answered from the active decisions (block, challenge, throttle, tag headers
added to the request the application sees); after the response, the event
is fed to the engine with the response status, latency and size as its
outcome, so rules see what gateways cannot (a failed login's 401). A match
that event completes applies from the next request on. The Guard is called
under a lock: correct under any server, uncontended on one event loop.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from sleuth.engine.policy import Verdict

from .guard import Guard
from .output import atomic_write
from .request import RequestMapper


class SleuthMiddleware:
    """`app = SleuthMiddleware(app, guard)`: enforce the policy and feed outcomes in process.

    `mapper` builds events from the ASGI scope (trusted proxies, session
    cookie, header fields); `fail_open` lets a request through when sleuth
    itself fails, counted in `failures` (default: the policy's `on_error`,
    itself `allow` by default); `state`: a file
    restored at start when it exists and written when the application shuts
    down (ASGI lifespan); `metrics`: a `Metrics` to observe latency into,
    served at `metrics_path` when given; `observe`: a callable given the
    seconds each request spent in sleuth (before and after the application).
    """

    def __init__(self, app, guard: Guard, *, mapper: RequestMapper | None = None, fail_open: bool | None = None,
                 state: str | None = None, metrics=None, metrics_path: str | None = None,
                 observe: Callable[[float], None] | None = None):
        self.app = app
        self.guard = guard
        self.mapper = mapper if mapper is not None else RequestMapper()
        self.fail_open = fail_open if fail_open is not None else guard.policy.on_error == "allow"
        self.state = state
        self.metrics = metrics
        self.metrics_path = metrics_path
        self.observe = observe
        self.lock = threading.Lock()
        self.failures: dict[str, int] = {}
        if state and os.path.exists(state):
            with open(state, "rb") as fh:
                guard.restore(fh.read())

    def snapshot(self) -> bytes:
        with self.lock:
            return self.guard.snapshot()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan" and self.state:
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.metrics_path is not None and scope["path"] == self.metrics_path and self.metrics is not None:
            with self.lock:
                stats = self.guard.stats()
            body = self.metrics.render(stats)
            await _respond(send, 200, body, [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")])
            return
        t0 = time.perf_counter()
        ev = None
        try:
            raw = self.mapper.from_scope(scope)
            with self.lock:
                verdict, ev = self.guard.precheck(raw)
        except Exception:
            verdict = self._fail("error")
        added = time.perf_counter() - t0
        if not verdict.allowed:
            await _respond(send, verdict.status, verdict.body.encode("utf-8"),
                           [(k.lower().encode("latin-1"), v.encode("latin-1", "replace")) for k, v in verdict.headers]
                           + [(b"content-type", b"text/plain; charset=utf-8")])
            added += self._outcome(ev, verdict.status, 0.0, len(verdict.body.encode("utf-8")), verdict)
            self._observe(added)
            return
        if verdict.upstream_headers:
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1", "replace")) for k, v in verdict.upstream_headers]
            scope = dict(scope, headers=list(scope.get("headers") or []) + extra)
        box = [500, 0]

        async def watch(message):
            if message["type"] == "http.response.start":
                box[0] = message["status"]
            elif message["type"] == "http.response.body":
                box[1] += len(message.get("body", b""))
            await send(message)

        t_app = time.perf_counter()
        try:
            await self.app(scope, receive, watch)
        finally:
            added += self._outcome(ev, box[0], (time.perf_counter() - t_app) * 1000.0, box[1], verdict)
            self._observe(added)

    def _observe(self, added: float) -> None:
        if self.observe is not None:
            self.observe(added)
        if self.metrics is not None:
            self.metrics.latency.labels("middleware").observe(added)

    def _outcome(self, ev, status: int, latency_ms: float, size: int, verdict: Verdict) -> float:
        t = time.perf_counter()
        if ev is not None:
            try:
                with self.lock:
                    self.guard.outcome(ev, status, latency_ms=latency_ms, resp_bytes=size)
            except Exception:
                self._fail("error")
        took = time.perf_counter() - t
        if self.metrics is not None:
            self.metrics.answers.labels(verdict.action).inc()
        return took

    def _fail(self, reason: str) -> Verdict:
        self.failures[reason] = self.failures.get(reason, 0) + 1
        if self.metrics is not None:
            self.metrics.failures.labels(reason, "open" if self.fail_open else "closed").inc()
        if self.fail_open:
            return Verdict("allow")
        b = self.guard.policy.block
        return Verdict("block", b.status, (("X-Sleuth-Action", "fail-closed"),), (), b.body)

    def _lifespan_send(self, send):
        async def wrapped(message):
            if message["type"] == "lifespan.shutdown.complete" and self.state:
                atomic_write(self.state, self.snapshot())
            await send(message)
        return wrapped


async def _respond(send, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
