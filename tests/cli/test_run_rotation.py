"""`sleuth run --follow --state`: every line once across kill -9, rotation, truncation and restart.

One followed log, written by the test, goes through what log rotation does
to a file while `sleuth run` follows it or is down: rename rotation (the
writer still adds to the old file), copytruncate (the copy holds what was
written after the last read), plain truncation, SIGKILL at random points of
the stream and restarts; the file identity (device, inode, first bytes) and
byte offset in the state decide where to go on. A rule matches every event,
so the output file must hold each line's id exactly once. Nothing sleeps for
a fixed time: each step polls the output until a deadline.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import msgpack
import orjson

SLEUTH = [sys.executable, "-m", "sleuth.playground.cli"]
RULE = ('rule every { meta { ttp = "scraping" goal = "scraping" severity = low title = "every event" } '
        "when exists(id) }\n")
T0 = 1_714_564_800
DEADLINE = 120.0


class Log:
    """The followed log: lines with increasing times and unique ids, and what logrotate does to it."""

    def __init__(self, folder: Path):
        self.path = folder / "app.log"
        self.path.write_bytes(b"")
        self.n = 0

    def lines(self, k: int) -> bytes:
        out = []
        for _ in range(k):
            out.append(orjson.dumps({"ts": T0 + self.n, "id": f"e{self.n}", "src_ip": "203.0.113.7",
                                     "path": "/api/v1/items", "status": 200}) + b"\n")
            self.n += 1
        return b"".join(out)

    def append(self, k: int, to: Path | None = None) -> None:
        with open(to or self.path, "ab") as fh:
            fh.write(self.lines(k))

    def _shift(self) -> None:
        for i in range(8, 0, -1):
            old = self.path.with_name(f"app.log.{i}")
            if old.exists():
                old.rename(self.path.with_name(f"app.log.{i + 1}"))

    def rename_rotation(self) -> Path:
        """`mv app.log app.log.1` and a new empty app.log (logrotate's `create`); the old file's new name."""
        self._shift()
        rotated = self.path.with_name("app.log.1")
        self.path.rename(rotated)
        self.path.write_bytes(b"")
        return rotated

    def copytruncate(self) -> None:
        """logrotate's `copytruncate`: copy app.log to app.log.1, then truncate app.log in place."""
        self._shift()
        shutil.copyfile(self.path, self.path.with_name("app.log.1"))
        with open(self.path, "r+b") as fh:
            fh.truncate(0)


class Run:
    """The `sleuth run --follow --state` process, started again after each kill."""

    def __init__(self, folder: Path, log: Log):
        self.folder = folder
        self.out = folder / "out.jsonl"
        self.cmd = SLEUTH + ["run", str(folder / "every.ttp"), str(log.path), "--follow", "--lateness", "0",
                             "--state", str(folder / "state"), "--checkpoint-every", "7", "--out", str(self.out),
                             "-q", "--no-progress"]
        self.proc: subprocess.Popen | None = None
        self.log = log

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def restart(self, what: str) -> None:
        """Start again and wait until the new process has caught up: a line written now must come out
        (the output of the killed one may already show every earlier line, until it is cut back)."""
        self.start()
        self.log.append(1)
        end = time.monotonic() + DEADLINE
        marker = f"e{self.log.n - 1}"
        while marker not in self.ids():
            assert self.proc.poll() is None, self.proc.stderr.read().decode(errors="replace")
            assert time.monotonic() < end, f"{what}: the restarted run did not catch up"
            time.sleep(0.05)
        self.wait_for(self.log.n, what)

    def ids(self) -> Counter:
        got: Counter = Counter()
        if not self.out.exists():
            return got
        for line in self.out.read_bytes().splitlines():
            try:
                got[orjson.loads(line)["provenance"]["events"][0]["id"]] += 1
            except (orjson.JSONDecodeError, KeyError, IndexError):
                continue                  # a line cut by SIGKILL: cut back on restart
        return got

    def wait_for(self, count: int, what: str) -> None:
        """Poll the output until `count` distinct ids are in it (the process must stay alive)."""
        end = time.monotonic() + DEADLINE
        while len(self.ids()) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"sleuth run exited ({self.proc.returncode}) before {what}: "
                                     + self.proc.stderr.read().decode(errors="replace"))
            assert time.monotonic() < end, f"{what}: {len(self.ids())} of {count} ids within {DEADLINE:g} s"
            time.sleep(0.05)

    def wait_for_checkpoint(self) -> None:
        """Poll until a state file exists whose output length is not 0 (something checkpointed)."""
        end = time.monotonic() + DEADLINE
        state = self.folder / "state"
        while True:
            try:
                if msgpack.unpackb(state.read_bytes(), raw=False, strict_map_key=False)["out_len"] > 0:
                    return
            except (OSError, ValueError, KeyError, msgpack.UnpackException):
                pass
            assert self.proc.poll() is None and time.monotonic() < end, "no checkpoint"
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def all_once(self) -> None:
        got = self.ids()
        twice = sorted(k for k, v in got.items() if v > 1)
        missing = sorted(set(f"e{i}" for i in range(self.log.n)) - set(got), key=lambda s: int(s[1:]))
        assert not twice and not missing, f"repeated {twice[:10]}, missing {missing[:10]}"


def test_follow_and_resume_across_kill_rotation_truncation_and_restart(tmp_path: Path):
    rnd = random.Random(16)
    (tmp_path / "every.ttp").write_text(RULE, encoding="utf-8")
    log = Log(tmp_path)
    run = Run(tmp_path, log)
    run.start()
    try:
        log.append(40)
        run.wait_for(40, "the first lines")

        # kill -9 mid-stream (after a checkpoint, at a random point of the output), restart
        log.append(200)
        run.wait_for_checkpoint()
        run.wait_for(40 + rnd.randrange(1, 150), "part of a burst")
        run.kill()
        run.restart("the burst after a restart")
        run.all_once()

        # rename rotation while following: the writer adds to the old file, then the new one
        rotated = log.rename_rotation()
        log.append(5, to=rotated)
        log.append(30)
        run.wait_for(log.n, "lines after a rename rotation")
        run.all_once()

        # kill -9, rename rotation while stopped (lines go to the old file and to the new one), restart
        log.append(10)
        run.wait_for(log.n - rnd.randrange(1, 10), "a few lines before a kill")
        run.kill()
        log.append(7)
        rotated = log.rename_rotation()
        log.append(5, to=rotated)
        log.append(20)
        run.restart("lines of the rotated file and the new one after a restart")
        run.all_once()

        # copytruncate while following, between two polls of the idle follower: lines it has not
        # read yet are only in the copy, and the truncated file is written again
        log.append(20)
        log.copytruncate()
        log.append(25)
        run.wait_for(log.n, "lines after copytruncate")
        run.all_once()

        # kill -9, copytruncate while stopped, restart
        log.append(10)
        run.kill()
        log.append(6)
        log.copytruncate()
        log.append(10)
        run.restart("lines of the copy and the truncated file after a restart")
        run.all_once()

        # plain truncation once everything was read (nothing to copy), then a kill during catch-up
        with open(log.path, "r+b") as fh:
            fh.truncate(0)
        log.append(300)
        run.wait_for(log.n - 300 + rnd.randrange(1, 250), "part of a long burst")
        run.kill()
        run.restart("the long burst after a restart")
        run.all_once()

        # a graceful stop checkpoints and exits 0
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=60) == 0
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    run.all_once()
    assert log.n == 692
