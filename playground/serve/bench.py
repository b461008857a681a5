"""`sleuth bench --serve`: the latency sleuth adds to a request, in process and through nginx auth_request.

Open-loop load at a fixed rate (default 1,000 requests/s): latency counts
from each request's due time (no coordinated omission). In process: the time
each request spends in the middleware around an ASGI app that answers at
once. Through nginx: the documented `auth_request` configuration minus the
same nginx without it, percentile by percentile, alternating in blocks, both
to an nginx `return 200`. Decisions per second from a closed loop. The
client is asyncio with h11 (uvicorn's HTTP/1.1 library).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

PACK = '''\
macro login = method == "POST" and route == "/api/login"

rule login_burst {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = high title = "ten logins in a minute" }
  by src_ip
  window 1m
  where login
  having count() >= 10
}

rule failed_logins {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = high title = "five failed logins" }
  by src_ip
  window 1m
  where login and status == 401
  having count() >= 5
}

rule fast_reader {
  meta { ttp = "scraping" goal = "scraping" severity = medium title = "forty reads in a minute" }
  by src_ip
  window 1m
  where method == "GET" and route == "/api/items/{id}"
  having count() >= 40
}

rule scripted_client {
  meta { ttp = "low-entropy-automation" goal = "scraping" severity = low title = "a scripted client" }
  by src_ip
  when ua =~ /python-requests/
  suppress 10m
}
'''

POLICY = '''\
[[rules]]
ttp = "credential-stuffing"
action = "block"
key = "address"
duration = "10m"

[[rules]]
rule = "fast_reader"
action = "challenge"
key = "address"
duration = "5m"

[[rules]]
rule = "scripted_client"
action = "tag"
key = "address"
'''

# The site configuration of docs/mitigation.md (tests/serve/test_mitigation_docs.py checks they are the same text).
NGINX_SITE = '''\
upstream sleuth {
    server 127.0.0.1:8787;                    # sleuth serve
    keepalive 32;
}

upstream app {
    server 127.0.0.1:8000;                    # the API
    keepalive 32;
}

server {
    listen 8080;

    location / {
        auth_request /_sleuth;
        auth_request_set $sleuth_decision $upstream_http_x_sleuth_decision;
        auth_request_set $sleuth_retry    $upstream_http_retry_after;
        auth_request_set $sleuth_tag      $upstream_http_x_sleuth_tag;
        error_page 401 = @sleuth_challenge;          # challenge or throttle
        error_page 403 = @sleuth_block;
        error_page 500 502 503 504 = @sleuth_unavailable;

        proxy_set_header X-Sleuth-Tag $sleuth_tag;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://app;
    }

    location = /_sleuth {
        internal;
        proxy_pass http://sleuth/auth;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Request-ID $request_id;
        proxy_set_header Host $host;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_connect_timeout 100ms;
        proxy_read_timeout 1s;                       # sleuth answers within --budget-ms
    }

    location @sleuth_challenge {
        add_header Retry-After $sleuth_retry always;
        add_header X-Sleuth-Decision $sleuth_decision always;
        return 429 "Too Many Requests\\n";
    }

    location @sleuth_block {
        add_header X-Sleuth-Decision $sleuth_decision always;
        return 403 "Forbidden\\n";
    }

    location @sleuth_unavailable {
        # sleuth cannot be reached: let the request through (fail open, like sleuth itself)
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://app;
    }
}
'''

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"


def plan(n: int, seed: int = 7) -> list[tuple[str, str, str, str]]:
    """`n` requests (address, method, target, user agent): 2,000 users reading and logging in, with
    one request in twenty from 20 stuffing addresses (blocked after ten logins each) and a few
    scripted clients (tagged)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.05:
            out.append((f"192.0.2.{rnd.randrange(20)}", "POST", "/api/login", BROWSER))
            continue
        u = rnd.randrange(2000)
        ip = f"10.{u // 250}.{u % 250}.{u % 7}"
        ua = "python-requests/2.31.0" if u % 50 == 0 else BROWSER
        if r < 0.08:
            out.append((ip, "POST", "/api/login", ua))
        else:
            out.append((ip, "GET", f"/api/items/{rnd.randrange(100000)}?page={rnd.randrange(5)}", ua))
    return out


def percentiles(samples: list[float]) -> dict:
    """p50, p90, p99, p99.9 and max in milliseconds (3 decimals)."""
    if not samples:
        return {}
    s = sorted(samples)

    def q(p):
        return round(s[min(len(s) - 1, int(p * len(s)))] * 1000, 3)

    return {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": round(s[-1] * 1000, 3),
            "mean": round(statistics.fmean(s) * 1000, 3)}


# ---------------------------------------------------------------- in process


async def _app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\n"})


async def _receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message):
    return None


def _scope(ip: str, method: str, target: str, ua: str) -> dict:
    path, _, qs = target.partition("?")
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": qs.encode(), "root_path": "",
            "headers": [(b"host", b"api.example"), (b"user-agent", ua.encode()), (b"accept", b"*/*")],
            "client": (ip, 50000), "server": ("127.0.0.1", 8000)}


def bench_in_process(requests: int, rate: float, closed: int) -> dict:
    """The middleware around an ASGI app that answers at once: added latency at `rate`, then flat out."""
    from sleuth.dsl import load_pack
    from sleuth.engine.policy import policy_from_toml

    from .guard import Guard
    from .middleware import SleuthMiddleware
    from .output import Writer

    pack = load_pack(sources={"bench.ttp": PACK})
    writer = Writer({"matches": os.devnull, "decisions": os.devnull, "quarantine": os.devnull})
    guard = Guard(pack, policy_from_toml(POLICY), writer=writer)
    added: list[float] = []
    statuses: dict[int, int] = {}

    async def send_status(message):
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    mw = SleuthMiddleware(_app, guard, observe=added.append)
    traffic = plan(requests + closed)

    async def paced() -> tuple[list, float]:
        lat = []
        t0 = time.perf_counter() + 0.01
        for i, req in enumerate(traffic[:requests]):
            due = t0 + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            start = time.perf_counter()
            await mw(_scope(*req), _receive, send_status)
            lat.append(time.perf_counter() - start)
        return lat, time.perf_counter() - t0

    async def flat(app, reqs) -> float:
        t0 = time.perf_counter()
        for req in reqs:
            await app(_scope(*req), _receive, _discard)
        return time.perf_counter() - t0

    cpu0, load0 = time.process_time(), os.getloadavg()[0]
    lat, elapsed = asyncio.run(paced())
    cpu = time.process_time() - cpu0
    paced_added = list(added)
    rest = traffic[requests:]
    with_mw = asyncio.run(flat(mw, rest))
    bare = asyncio.run(flat(_app, rest))
    writer.close()
    st = guard.stats()
    return {
        "requests": requests, "rate": rate, "achieved_rate": round(requests / elapsed, 1),
        "added_ms": percentiles(paced_added), "request_ms": percentiles(lat),
        "cpu_us_per_request": round(cpu / requests * 1e6, 1),
        "load_average": round((load0 + os.getloadavg()[0]) / 2, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "decisions": sum(st["policy"]["decisions"].values()), "matches": sum(st["live"]["matches_by_rule"].values()),
        "closed_loop_requests": closed, "decisions_per_s": round(closed / with_mw),
        "bare_app_per_s": round(closed / bare),
    }


# ---------------------------------------------------------------- through nginx


class _Conn:
    """One keep-alive HTTP/1.1 connection (h11 parses; asyncio streams carry bytes)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = self.h = None

    async def open(self) -> None:
        import h11

        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.h = h11.Connection(h11.CLIENT)

    async def request(self, method: str, target: str, headers: list) -> int:
        import h11

        if self.h is None or self.h.our_state is not h11.IDLE:
            await self.close()
            await self.open()
        self.writer.write(self.h.send(h11.Request(method=method, target=target, headers=headers))
                          + self.h.send(h11.EndOfMessage()))
        status = 0
        while True:
            ev = self.h.next_event()
            if ev is h11.NEED_DATA:
                data = await self.reader.read(65536)
                self.h.receive_data(data)
                if not data and self.h.their_state is not h11.DONE:
                    raise ConnectionError("closed by the server")
                continue
            if isinstance(ev, h11.Response):
                status = ev.status_code
            elif isinstance(ev, h11.EndOfMessage):
                break
        if self.h.our_state is h11.DONE and self.h.their_state is h11.DONE:
            try:
                self.h.start_next_cycle()
            except h11.LocalProtocolError:
                self.h = None
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _headers(ip: str, ua: str, direct: bool, method: str, target: str) -> list:
    h = [("host", "api.example"), ("user-agent", ua), ("x-forwarded-for", ip)]
    if direct:       # what nginx's /_sleuth location would send
        h += [("x-original-uri", target), ("x-original-method", method), ("x-real-ip", "127.0.0.1")]
    return h


async def _load(port: int, traffic, rate: float | None, connections: int, direct: bool) -> tuple[list, float, dict]:
    """Send `traffic` (paced at `rate`, or flat out when None) over `connections` connections."""
    conns = [_Conn(port) for _ in range(connections)]
    for c in conns:
        await c.open()
    lat: list[float] = []
    statuses: dict[int, int] = {}
    nxt = [0]
    t0 = time.perf_counter() + 0.05

    async def run(conn: _Conn):
        while nxt[0] < len(traffic):
            i = nxt[0]
            nxt[0] += 1
            ip, method, target, ua = traffic[i]
            due = t0 + i / rate if rate else time.perf_counter()
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            if direct:
                status = await conn.request("GET", "/auth", _headers(ip, ua, True, method, target))
            else:
                status = await conn.request(method, target, _headers(ip, ua, False, method, target))
            lat.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1

    gc.disable()          # the client's own collections would count as latency
    try:
        await asyncio.gather(*(run(c) for c in conns))
    finally:
        gc.enable()
    elapsed = time.perf_counter() - t0
    for c in conns:
        await c.close()
    return lat, elapsed, {str(k): v for k, v in sorted(statuses.items())}


def _cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and its children (Linux /proc), 0.0 elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    try:
        pids = [root]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                    if int(fields[1]) == root:
                        pids.append(int(d))
                except (OSError, IndexError, ValueError):
                    continue
        for pid in pids:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return 0.0
    return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def nginx_binary() -> str | None:
    for cand in (os.environ.get("SLEUTH_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.path.exists(cand) and os.access(cand, os.X_OK):
            return cand
    return None


BLOCK = 500


def _phase(acc: dict, name: str, port: int, direct: bool, traffic, rate: float, serve_pid: int, gw_pid: int) -> None:
    a = acc.setdefault(name, {"lat": [], "elapsed": 0.0, "statuses": {}, "sleuth_cpu": 0.0, "nginx_cpu": 0.0,
                              "load": []})
    c_serve, c_gw = _cpu_seconds(serve_pid), _cpu_seconds(gw_pid)
    a["load"].append(os.getloadavg()[0])
    lat, elapsed, statuses = asyncio.run(_load(port, traffic, rate, 32, direct))
    a["sleuth_cpu"] += _cpu_seconds(serve_pid) - c_serve
    a["nginx_cpu"] += _cpu_seconds(gw_pid) - c_gw
    a["lat"] += lat
    a["elapsed"] += elapsed
    for k, v in statuses.items():
        a["statuses"][k] = a["statuses"].get(k, 0) + v


def bench_nginx(requests: int, rate: float, closed: int, say: Callable[[str], None]) -> dict:
    """Real nginx with the documented auth_request configuration, a real `sleuth serve`, on loopback."""
    try:
        import h11  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"needs the 'serve' extra ({exc.name} is missing)"}
    binary = nginx_binary()
    if binary is None:
        return {"skipped": "nginx is not installed (Debian: apt-get install nginx-light)"}
    tmp = tempfile.mkdtemp(prefix="sleuth-bench-serve-")
    with open(os.path.join(tmp, "pack.ttp"), "w") as fh:
        fh.write(PACK)
    with open(os.path.join(tmp, "policy.toml"), "w") as fh:
        fh.write(POLICY)
    sport, listen, app, base = (_free_port() for _ in range(4))
    site = (NGINX_SITE.replace("server 127.0.0.1:8787;", f"server 127.0.0.1:{sport};")
            .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app};")
            .replace("listen 8080;", f"listen 127.0.0.1:{listen};"))
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as fh:
        fh.write(f"""{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
    server {{                                  # the upstream: answers at once
        listen 127.0.0.1:{app};
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{                                  # the baseline: the same proxying, no auth_request
        listen 127.0.0.1:{base};
        location / {{
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }}
    }}
}}
""")
    serve = subprocess.Popen([sys.executable, "-m", "sleuth.playground.cli", "serve", os.path.join(tmp, "pack.ttp"),
                              "--policy", os.path.join(tmp, "policy.toml"), "--port", str(sport), "--matches",
                              os.devnull, "--decisions", os.devnull, "-q"],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "serve.err"), "wb"))
    gw = subprocess.Popen([binary, "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c", conf, "-g", "daemon off;"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict = {"requests": requests, "rate": rate}
    try:
        _wait_port(sport, serve)
        _wait_port(listen, gw)
        _wait_port(base, gw)
        traffic = plan(requests, seed=11)
        say("auth_request: warm-up")
        asyncio.run(_load(listen, plan(1000, seed=5), rate, 32, False))
        # Baseline and auth_request alternate in blocks of 500 requests, so that both meet the same
        # conditions of a shared machine; each block is paced at `rate`.
        acc: dict = {}
        blocks = max(1, requests // BLOCK)
        say(f"auth_request: baseline and auth_request alternating, {blocks} blocks of {BLOCK} each, "
            f"then sleuth serve alone, at {rate:,.0f}/s")
        for b in range(blocks):
            part = traffic[b * BLOCK:(b + 1) * BLOCK]
            for name, port, direct in (("baseline", base, False), ("auth_request", listen, False)):
                _phase(acc, name, port, direct, part, rate, serve.pid, gw.pid)
        _phase(acc, "sleuth_direct", sport, True, traffic, rate, serve.pid, gw.pid)
        for name, a in acc.items():
            n = len(a["lat"])
            out[name] = {"latency_ms": percentiles(a["lat"]), "achieved_rate": round(n / a["elapsed"], 1),
                         "statuses": {k: v for k, v in sorted(a["statuses"].items())},
                         "sleuth_cpu_us": round(a["sleuth_cpu"] / n * 1e6, 1),
                         "nginx_cpu_us": round(a["nginx_cpu"] / n * 1e6, 1),
                         "load_average": round(statistics.fmean(a["load"]), 2)}
        out["added_ms"] = {k: round(out["auth_request"]["latency_ms"][k] - out["baseline"]["latency_ms"][k], 3)
                           for k in ("p50", "p90", "p99", "p999")}
        say(f"auth_request: flat out, {closed:,} decisions")
        lat, elapsed, _ = asyncio.run(_load(sport, plan(closed, seed=13), None, 16, True))
        out["decisions_per_s"] = round(closed / elapsed)
        lat, elapsed, _ = asyncio.run(_load(listen, plan(closed, seed=17), None, 16, False))
        out["gateway_requests_per_s"] = round(closed / elapsed)
    except (RuntimeError, OSError, ConnectionError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for proc, sig in ((gw, signal.SIGQUIT), (serve, signal.SIGTERM)):
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run_serve_bench(requests: int = 10000, rate: float = 1000.0, closed: int = 10000,
                    progress: Callable[[str], None] | None = None) -> dict:
    """Both measurements; a JSON-ready report."""
    say = progress or (lambda s: None)
    say(f"in process: {requests:,} requests at {rate:,.0f}/s through the middleware")
    res = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "machine": os.uname().machine,
           "in_process": bench_in_process(requests, rate, closed)}
    res["auth_request"] = bench_nginx(requests, rate, closed, say)
    return res


def render_serve(res: dict) -> str:
    """The report as a table for people."""
    ip = res["in_process"]
    lines = [f"sleuth bench --serve: Python {res['python']}, {res['cpus']} CPUs ({res['machine']})", "",
             f"in process (ASGI middleware), {ip['requests']:,} requests at {ip['rate']:,.0f}/s "
             f"(achieved {ip['achieved_rate']:,.0f}/s): {ip['matches']} matches, {ip['decisions']} decisions, "
             f"statuses {ip['statuses']}",
             _row("  added latency", ip["added_ms"]),
             f"  CPU {ip['cpu_us_per_request']} µs per request (all of the process, pacing included); "
             f"load average {ip['load_average']}",
             f"  flat out: {ip['decisions_per_s']:,} requests/s through the middleware "
             f"(bare app {ip['bare_app_per_s']:,}/s)", ""]
    ng = res["auth_request"]
    if "skipped" in ng:
        lines.append(f"nginx auth_request: skipped ({ng['skipped']})")
    elif "error" in ng and "auth_request" not in ng:
        lines.append(f"nginx auth_request: failed ({ng['error']})")
    else:
        lines.append(f"nginx auth_request, {ng['requests']:,} requests at {ng['rate']:,.0f}/s (open loop, "
                     f"32 connections; baseline and auth_request alternating in blocks of {BLOCK})")
        for name in ("baseline", "auth_request", "sleuth_direct"):
            if name in ng:
                r = ng[name]
                lines.append(_row(f"  {name}", r["latency_ms"]) + f"   {r['statuses']}")
                lines.append(f"{'':<26} CPU per request: sleuth {r['sleuth_cpu_us']} µs, nginx {r['nginx_cpu_us']} µs; "
                             f"load average {r['load_average']}")
        if "added_ms" in ng:
            lines.append("  added by auth_request (auth_request minus baseline, percentile by percentile): "
                         + "  ".join(f"{k} {v:.3f}" for k, v in ng["added_ms"].items()) + " ms")
        if "decisions_per_s" in ng:
            lines.append(f"  flat out: {ng['decisions_per_s']:,} decisions/s (sleuth serve, 16 connections), "
                         f"{ng['gateway_requests_per_s']:,} requests/s through nginx with auth_request")
        if "error" in ng:
            lines.append(f"  error: {ng['error']}")
    return "\n".join(lines)


def _row(label: str, p: dict) -> str:
    return (f"{label:<26} p50 {p['p50']:.3f}  p90 {p['p90']:.3f}  p99 {p['p99']:.3f}  "
            f"p99.9 {p['p999']:.3f}  max {p['max']:.3f} ms")
