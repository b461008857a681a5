"""Shared pieces of the mitigation tests: the scenario's pack and policy, the doc's configurations,
a tiny upstream API, and launchers for `sleuth serve` and nginx on loopback (ephemeral ports).

Every server started here listens on 127.0.0.x only and every loop is bounded.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "mitigation.md"

PACK = '''\
macro login = method == "POST" and route == "/api/login"

rule login_burst {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = high
         title = "ten logins from one address within a minute" }
  by src_ip
  window 1m
  where login
  having count() >= 10
}

rule failed_logins {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = high
         title = "five failed logins from one address within a minute" }
  by src_ip
  window 1m
  where login and status == 401
  having count() >= 5
}

rule fast_reader {
  meta { ttp = "scraping" goal = "scraping" severity = medium title = "forty reads from one address within a minute" }
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
name = "stuffing"
ttp = "credential-stuffing"
action = "block"
key = "address"
duration = "10m"

[[rules]]
name = "scraping"
rule = "fast_reader"
action = "challenge"
key = "address"
duration = "5m"

[[rules]]
name = "scripted"
rule = "scripted_client"
action = "tag"
key = "address"
value = "{rule}"

[allow.monitor]
address = ["127.0.0.30"]
'''

# The scenario's clients: loopback addresses of their own (Linux routes all of 127/8 to lo).
ATTACKER = "127.0.0.66"
SCRAPER = "127.0.0.77"
MONITOR = "127.0.0.30"
USERS = [f"127.0.0.{n}" for n in range(10, 16)]
SCRIPTED = USERS[0]
ROUNDS = 50


def doc_block(marker: str, lang: str) -> str:
    """The fenced block following `<!-- marker -->` in docs/mitigation.md."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- {re.escape(marker)} -->\n```{lang}\n(.*?)```", text, re.S)
    assert m, f"docs/mitigation.md has no ```{lang} block after <!-- {marker} -->"
    return m.group(1)


def nginx_config(listen: int, sleuth: int, app: int) -> str:
    """The doc's nginx configuration with the three ports of this run (nothing else changed)."""
    conf = doc_block("tested-nginx-config", "nginx")
    for old, new in (("server 127.0.0.1:8787;", f"server 127.0.0.1:{sleuth};"),
                     ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app};"),
                     ("listen 8080;", f"listen 127.0.0.1:{listen};")):
        assert conf.count(old) == 1, f"the doc's nginx config must contain {old!r} once"
        conf = conf.replace(old, new)
    return conf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the upstream API


class _Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen_tags: list = []

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        tag = self.headers.get("X-Sleuth-Tag")
        if tag:
            self.seen_tags.append((self.headers.get("X-Forwarded-For"), tag))
        self._send(200, {"item": self.path})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        ok = body.get("password") == "correct horse"
        self._send(200 if ok else 401, {"ok": ok})


class Upstream:
    """A tiny API on loopback: POST /api/login (200 with the right password, else 401), GET anything."""

    def __init__(self):
        _Api.seen_tags = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen_tags(self) -> list:
        return _Api.seen_tags

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- sleuth serve


class Serve:
    """`sleuth serve` in a subprocess; the port it announces on stderr."""

    def __init__(self, workdir: Path, *args: str, port: int = 0):
        self.workdir = workdir
        self.stderr_path = workdir / f"serve-{time.monotonic_ns()}.err"
        self.errfh = open(self.stderr_path, "wb")
        cmd = [sys.executable, "-m", "sleuth.playground.cli", "serve", str(workdir / "pack.ttp"),
               "--policy", str(workdir / "policy.toml"), "--port", str(port),
               "--matches", str(workdir / "matches.jsonl"), "--decisions", str(workdir / "decisions.jsonl"),
               "--quarantine", str(workdir / "quarantine.jsonl"), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.errfh, cwd=workdir)
        self.port = self._wait_port()

    def _wait_port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr_path.read_text(errors="replace")
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
            if m:
                port = int(m.group(1))
                if _accepting(port):
                    return port
            if self.proc.poll() is not None:
                raise RuntimeError(f"sleuth serve exited ({self.proc.returncode}):\n{text}")
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"sleuth serve did not start:\n{self.stderr_path.read_text(errors='replace')}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errfh.close()
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- nginx


def nginx_binary() -> str | None:
    for cand in (os.environ.get("SLEUTH_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.path.exists(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def nginx_main_config(workdir: Path, site: str) -> Path:
    """A minimal nginx.conf around the doc's site configuration, every path inside `workdir`."""
    (workdir / "site.conf").write_text(site)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / d).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/site.conf;
}}
"""
    path = workdir / "nginx.conf"
    path.write_text(main)
    return path


def nginx_cmd(binary: str, conf: Path, workdir: Path, *extra: str) -> list[str]:
    return [binary, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf), *extra]


class Nginx:
    def __init__(self, binary: str, conf: Path, workdir: Path, port: int):
        self.proc = subprocess.Popen(nginx_cmd(binary, conf, workdir, "-g", "daemon off;"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not _accepting(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                self.stop()
                raise RuntimeError(f"nginx did not start: {err}\n{(workdir / 'error.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- the scenario

SCRIPTED_UA = "python-requests/2.31.0"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"


def scenario() -> list[tuple[str, str, str, dict | None, dict]]:
    """A credential-stuffing burst and a scraper among normal users, in sending order.

    Each item: (client address, method, path, JSON body or None, headers). Per
    round: one stuffing attempt, one scraper read, one monitor read, and for each
    normal user a login in round 0 and a read every other round after it (25 reads:
    under the scraping threshold of 40 a minute).
    """
    plan = []
    for r in range(ROUNDS):
        plan.append((ATTACKER, "POST", "/api/login", {"user": f"victim{r}", "password": f"guess{r}"},
                     {"User-Agent": BROWSER_UA}))
        plan.append((SCRAPER, "GET", f"/api/items/{r}", None, {"User-Agent": BROWSER_UA}))
        plan.append((MONITOR, "GET", f"/api/items/{r}", None, {"User-Agent": "Pingdom.com_bot_version_1.4"}))
        for u, ip in enumerate(USERS):
            ua = SCRIPTED_UA if ip == SCRIPTED else BROWSER_UA
            if r == 0:
                plan.append((ip, "POST", "/api/login", {"user": f"user{u}", "password": "correct horse"},
                             {"User-Agent": ua, "Cookie": f"sid=s{u}"}))
            elif r % 2:
                plan.append((ip, "GET", f"/api/items/{r}", None, {"User-Agent": ua, "Cookie": f"sid=s{u}"}))
    return plan


def by_client(results: list[tuple[str, int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for ip, status in results:
        out.setdefault(ip, []).append(status)
    return out
