"""`sleuth run` over several inputs and real log formats: one stream by event time, lateness by format.

Issue 16's reproductions: rotated logs given in shell order (newest first),
two servers' logs over the same hours, a followed log rotated between two
runs, sorted logs with gaps of days, an Apache log whose slow requests come
out of order, and the load balancer, CDN and proxy formats read by `sleuth
run` itself. Each builds its input in a temporary folder (the honeynet log
is read where it lies, outside the project).
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import orjson
import pytest
from shared_data import shared_data

DATA = Path(__file__).resolve().parents[1] / "ingest" / "data" / "formats"
META = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'
EVERY = f"rule every {{ {META} when exists(id) }}\n"
T0 = 1_714_564_800


def sleuth(*args: str, stdin: bytes | None = None, timeout: float = 600):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], input=stdin,
                          capture_output=True, timeout=timeout)


def metrics(path: Path) -> dict:
    return orjson.loads(path.read_bytes())


def ids(out: Path) -> list[str]:
    return [orjson.loads(line)["provenance"]["events"][0]["id"] for line in out.read_bytes().splitlines()]


def write_jsonl(path: Path, events) -> None:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))


@pytest.fixture
def every(tmp_path: Path) -> Path:
    p = tmp_path / "every.ttp"
    p.write_text(EVERY, encoding="utf-8")
    return p


# ---------------------------------------------------------------- many inputs are one stream


def test_rotated_honeynet_logs_in_shell_order_are_one_stream(tmp_path: Path):
    """`sleuth run builtin access_log*`: 23 rotated files, newest first (shell order): all 38,487 events
    are read, none late, in time order (it used to process 90 and quarantine the rest as late)."""
    folder = shared_data("honeynet2004")
    files = sorted(str(p) for p in folder.glob("access_log*"))     # what the shell gives: access_log first
    assert files[0].endswith("access_log") and len(files) == 23
    r = sleuth("run", "builtin", *files, "-o", str(tmp_path / "m.jsonl"), "--metrics", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr.decode()
    m = metrics(tmp_path / "m.json")
    assert m["events_in"] == m["events_processed"] == 38_487
    assert m["quarantined"] == {}
    assert m["lateness"] == {"seconds": 60.0, "source": "the default for apache: requests are logged when "
                                                         "they end; --lateness to change"}
    assert all(i["order"]["out_of_order"] == 0 for i in m["inputs"])
    assert b"inputs: 23 files merged by event time (apache)" in r.stderr
    assert b"lateness: 60 s (the default for apache" in r.stderr


def test_a_quoted_glob_of_rotated_and_gzipped_logs(tmp_path: Path, every: Path):
    """A glob sleuth expands itself (quoted), over plain and gzipped rotations named in any order."""
    events = [{"ts": T0 + i, "id": f"e{i}"} for i in range(300)]
    (tmp_path / "app.log.2.gz").write_bytes(gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in events[:100])))
    write_jsonl(tmp_path / "app.log.1", events[100:200])
    write_jsonl(tmp_path / "app.log", events[200:])
    r = sleuth("run", str(every), str(tmp_path / "app.log*"), "--lateness", "0", "-o", str(tmp_path / "m.jsonl"),
               "--metrics", str(tmp_path / "m.json"), "-q")
    assert r.returncode == 0, r.stderr.decode()
    assert ids(tmp_path / "m.jsonl") == [f"e{i}" for i in range(300)]
    assert metrics(tmp_path / "m.json")["quarantined"] == {}
    r = sleuth("run", str(every), str(tmp_path / "nothing*"), "-q")
    assert r.returncode == 3 and r.stderr.decode().strip().endswith("no file matches " + str(tmp_path / "nothing*"))


def test_two_servers_over_the_same_hours_are_one_stream(tmp_path: Path, every: Path):
    """`sleuth run P a.jsonl b.jsonl`, two servers' logs over the same hours: merged by time, none late
    (96 of the second file's 100 events used to be late), the same output as one sorted file."""
    a = [{"ts": T0 + 2 * i, "id": f"a{i}", "src_ip": "203.0.113.1"} for i in range(100)]
    b = [{"ts": T0 + 2 * i + 1, "id": f"b{i}", "src_ip": "203.0.113.2"} for i in range(100)]
    write_jsonl(tmp_path / "a.jsonl", a)
    write_jsonl(tmp_path / "b.jsonl", b)
    write_jsonl(tmp_path / "sorted.jsonl", sorted(a + b, key=lambda e: e["ts"]))
    r = sleuth("run", str(every), str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "-o",
               str(tmp_path / "m.jsonl"), "--metrics", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr.decode()
    assert metrics(tmp_path / "m.json")["quarantined"] == {}
    assert b"inputs: 2 files merged by event time (jsonl)" in r.stderr
    assert sleuth("run", str(every), str(tmp_path / "sorted.jsonl"), "-o", str(tmp_path / "s.jsonl"),
                  "-q").returncode == 0
    assert ids(tmp_path / "m.jsonl") == ids(tmp_path / "s.jsonl")
    assert (tmp_path / "m.jsonl").read_bytes() == (tmp_path / "s.jsonl").read_bytes()


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)], ids=["oldest-first", "newest-first",
                                                                                   "shuffled"])
def test_rotated_names_in_any_order_give_the_same_output(tmp_path: Path, every: Path, order):
    files = []
    for k in range(4):
        p = tmp_path / f"app.log.{3 - k}"
        write_jsonl(p, [{"ts": T0 + 100 * k + i, "id": f"e{100 * k + i}"} for i in range(100)])
        files.append(str(p))
    r = sleuth("run", str(every), *[files[k] for k in order], "--lateness", "0", "-o", str(tmp_path / "m.jsonl"),
               "-q")
    assert r.returncode == 0, r.stderr.decode()
    assert ids(tmp_path / "m.jsonl") == [f"e{i}" for i in range(400)]


def test_each_files_own_order_is_checked(tmp_path: Path, every: Path):
    """A file out of order within itself is named, with its largest lateness, and the run says what
    the lateness set aside."""
    ok = [{"ts": T0 + i, "id": f"a{i}"} for i in range(0, 200, 2)]
    shuffled = [{"ts": T0 + i, "id": f"b{i}"} for i in range(1, 200, 2)]
    shuffled.insert(60, shuffled.pop(50))                            # b101 written after b121: 20 s late
    write_jsonl(tmp_path / "a.jsonl", ok)
    write_jsonl(tmp_path / "b.jsonl", shuffled)
    r = sleuth("run", str(every), str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--lateness", "5",
               "-o", str(tmp_path / "m.jsonl"), "--metrics", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr.decode()
    m = metrics(tmp_path / "m.json")
    assert [i["order"] for i in m["inputs"]] == [
        {"events": 100, "out_of_order": 0, "largest_lateness_s": 0.0},
        {"events": 100, "out_of_order": 1, "largest_lateness_s": 20.0}]
    assert m["quarantined"] == {"late": 1}
    err = r.stderr.decode()
    assert f"order: {tmp_path / 'b.jsonl'}: 1 of 100 events out of order in the file (largest 20 s, more than " \
           "the lateness)" in err
    assert "late: 1 event arrived after the lateness; sleuth inspect measures the disorder" in err


# ---------------------------------------------------------------- resume across rotation


def test_a_restart_after_rotation_reads_the_rest_of_the_rotated_file_then_the_new_one(tmp_path: Path, every: Path):
    """`--follow --state` stopped, the log rotated (1,000 more lines went to the old file first, then
    1,000 to the new one), started again: all 3,030 lines once (2,000 used to be skipped: the saved
    line count was applied to the new file)."""
    log = tmp_path / "app.log"
    write_jsonl(log, [{"ts": T0 + i, "id": f"e{i}"} for i in range(1030)])
    cmd = ["run", str(every), str(log), "--follow", "--idle-timeout", "1", "--state", str(tmp_path / "state"),
           "--lateness", "0", "-o", str(tmp_path / "m.jsonl"), "-q"]
    assert sleuth(*cmd).returncode == 0
    assert len(ids(tmp_path / "m.jsonl")) == 1030
    with open(log, "ab") as fh:
        fh.write(b"".join(orjson.dumps({"ts": T0 + i, "id": f"e{i}"}) + b"\n" for i in range(1030, 2030)))
    log.rename(tmp_path / "app.log.1")
    write_jsonl(log, [{"ts": T0 + i, "id": f"e{i}"} for i in range(2030, 3030)])
    r = sleuth(*cmd[:-1])
    assert r.returncode == 0, r.stderr.decode()
    assert ids(tmp_path / "m.jsonl") == [f"e{i}" for i in range(3030)]
    assert f"note: {log}: rotated while sleuth was stopped: read the rest of {tmp_path / 'app.log.1'} first" \
        in r.stderr.decode()
    assert sleuth(*cmd).returncode == 0 and len(ids(tmp_path / "m.jsonl")) == 3030     # nothing new: nothing again


# ---------------------------------------------------------------- long gaps (the far-future guard)


def test_a_sorted_log_with_gaps_of_days_loses_nothing(tmp_path: Path, every: Path):
    """Events alone between gaps of more than a day, and a last event after such a gap, are all
    processed in order (21 were dropped as late, and the last one as future)."""
    times = [T0, T0 + 60, T0 + 3 * 86400, T0 + 7 * 86400, T0 + 7 * 86400 + 5, T0 + 9 * 86400,
             T0 + 30 * 86400, T0 + 30 * 86400 + 1, T0 + 45 * 86400]
    write_jsonl(tmp_path / "gaps.jsonl", [{"ts": t, "id": f"g{k}"} for k, t in enumerate(times)])
    r = sleuth("run", str(every), str(tmp_path / "gaps.jsonl"), "-o", str(tmp_path / "m.jsonl"),
               "--metrics", str(tmp_path / "m.json"), "-q")
    assert r.returncode == 0
    assert ids(tmp_path / "m.jsonl") == [f"g{k}" for k in range(len(times))]
    assert metrics(tmp_path / "m.json")["quarantined"] == {}


# ---------------------------------------------------------------- lateness by format


def _apache_line(t: int, i: int) -> bytes:
    from datetime import datetime

    stamp = datetime.fromtimestamp(t, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'203.0.113.{i % 200} - - [{stamp}] "GET /api/v1/items/{i} HTTP/1.1" 200 512 "-" "curl/8"\n'.encode()


def test_access_logs_default_to_a_lateness_that_covers_request_durations(tmp_path: Path, every: Path):
    """Apache writes a line when the request ends, stamped when it began: 19 lines behind by up to
    50 s were late with 5 s; the access-log default of 60 s keeps them. A 10-minute request stays
    late and the summary says so; an explicit --lateness wins."""
    lines = []
    for i in range(400):
        t = T0 + i
        if i % 20 == 19 and i < 380:
            t -= 10 + 2 * (i // 20)           # 19 slow requests, 10-46 s
        if i == 390:
            t -= 600                          # a 10-minute export
        lines.append(_apache_line(t, i))
    (tmp_path / "access.log").write_bytes(b"".join(lines))
    r = sleuth("run", str(every), str(tmp_path / "access.log"), "-o", str(tmp_path / "m.jsonl"),
               "--metrics", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr.decode()
    m = metrics(tmp_path / "m.json")
    assert m["lateness"]["seconds"] == 60.0 and m["quarantined"] == {"late": 1}
    assert b"lateness: 60 s (the default for apache: requests are logged when they end" in r.stderr
    assert sleuth("run", str(every), str(tmp_path / "access.log"), "--lateness", "5", "--metrics",
                  str(tmp_path / "m5.json"), "-q", "-o", str(tmp_path / "m5.jsonl")).returncode == 0
    m5 = metrics(tmp_path / "m5.json")
    assert m5["quarantined"] == {"late": 20} and m5["lateness"] == {"seconds": 5.0, "source": "--lateness"}
    assert sleuth("run", str(every), str(tmp_path / "access.log"), "--lateness", "600", "--metrics",
                  str(tmp_path / "m600.json"), "-q", "-o", str(tmp_path / "m600.jsonl")).returncode == 0
    assert metrics(tmp_path / "m600.json")["quarantined"] == {}


@pytest.mark.parametrize("fmt, lateness", [("alb", 60), ("cloudfront", 60), ("w3c", 60), ("iis", 120),
                                           ("envoy", 60), ("caddy", 60), ("traefik", 60)])
def test_each_format_is_detected_read_and_given_its_lateness(tmp_path: Path, every: Path, fmt, lateness):
    """The formats of engine/ingest/formats, auto-detected by `sleuth run` itself: the same events
    as the format's reader gives (the expected file of its sample), and the format's lateness."""
    sample = DATA / f"{fmt}.log"
    expected = [orjson.loads(x) for x in (DATA / f"{fmt}.log.expected.jsonl").read_bytes().splitlines()]
    r = sleuth("run", str(every), str(sample), "-o", str(tmp_path / "m.jsonl"), "--metrics",
               str(tmp_path / "m.json"), "--lateness", "1e9", "--quarantine", str(tmp_path / "q.jsonl"))
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(ids(tmp_path / "m.jsonl")) == sorted(f"{sample}:{e['line']}" for e in expected if "event" in e)
    bad = [orjson.loads(x) for x in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert [(b["position"], b["reason"]) for b in bad] == [(e["line"], e["bad"]["reason"]) for e in expected
                                                           if "bad" in e]
    m = metrics(tmp_path / "m.json")
    assert m["inputs"][0]["format"] == fmt
    r = sleuth("run", str(every), str(sample), "-q", "--metrics", str(tmp_path / "d.json"), "-o", "/dev/null")
    assert metrics(tmp_path / "d.json")["lateness"]["seconds"] == lateness


def test_json_lines_keep_5_seconds_and_the_format_choices_are_the_table(tmp_path: Path, every: Path):
    from sleuth.engine.ingest.source import FORMAT_TABLE

    write_jsonl(tmp_path / "e.jsonl", [{"ts": T0, "id": "a"}, {"ts": T0 + 1, "id": "b"}])
    assert sleuth("run", str(every), str(tmp_path / "e.jsonl"), "-q", "--metrics", str(tmp_path / "m.json"),
                  "-o", "/dev/null").returncode == 0
    assert metrics(tmp_path / "m.json")["lateness"]["seconds"] == 5.0
    r = sleuth("run", "--help")
    assert all(name.encode() in r.stdout for name in FORMAT_TABLE)
