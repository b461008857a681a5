"""Honest results from `sleuth run`: exit codes, one-line errors, replayable quarantine records.

Issue 16's reproductions: 100% of the input rejected (junk, no time, a
truncated gzip, nothing at all) exited 0; a log of an unknown format was
skipped with exit 0; an unwritable output, a missing table or a bad number
gave a Python traceback and exit 1; late and far-future quarantine records
kept only the event id, so input read from stdin could not be replayed.
"""

from __future__ import annotations

import base64
import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

META = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'
EVERY = f"rule every {{ {META} when exists(id) }}\n"
T0 = 1_714_564_800


def sleuth(*args: str, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], input=stdin,
                          capture_output=True, timeout=600)


@pytest.fixture
def every(tmp_path: Path) -> Path:
    p = tmp_path / "every.ttp"
    p.write_text(EVERY, encoding="utf-8")
    return p


def _good(tmp_path: Path) -> Path:
    p = tmp_path / "good.jsonl"
    p.write_bytes(b"".join(orjson.dumps({"ts": T0 + i, "id": f"e{i}"}) + b"\n" for i in range(5)))
    return p


# ---------------------------------------------------------------- nothing usable: exit 3

NOTHING = {
    "junk": b"hello world\nthis is not a log\n\x00\x01\x02\n",
    "no-time": b'{"user": "a"}\n{"user": "b"}\n',
    "truncated-gzip": gzip.compress(b'{"ts": 1714564800, "id": "a"}\n' * 2000)[:18],     # cut in its header
    "not-json": b'{"ts": 1714564800, \n{"ts": \n',
    "empty": b"",
}


@pytest.mark.parametrize("kind", list(NOTHING))
def test_nothing_usable_read_exits_3(tmp_path: Path, every: Path, kind):
    p = tmp_path / "in.log"
    p.write_bytes(NOTHING[kind])
    args = ["run", str(every), str(p), "-o", str(tmp_path / "m.jsonl")]
    if kind == "junk":
        args.append("--skip-unknown")         # else: unknown format, also exit 3 (below)
    r = sleuth(*args)
    assert r.returncode == 3, r.stderr.decode()
    assert b"nothing usable was read: no event reached the rules" in r.stderr
    assert b"Traceback" not in r.stderr


def test_an_input_of_unknown_format_exits_3_unless_skipped(tmp_path: Path, every: Path):
    weird = tmp_path / "weird.log"
    weird.write_bytes(b"<<<binary-ish record 1>>>\n<<<binary-ish record 2>>>\n")
    good = _good(tmp_path)
    r = sleuth("run", str(every), str(good), str(weird), "-o", str(tmp_path / "m.jsonl"))
    assert r.returncode == 3
    err = r.stderr.decode().strip()
    assert err == (f"sleuth run: cannot tell the format of {weird} from its first line; pass --format (one of "
                   "auto, jsonl, json, msgpack, apache, nginx, csv, alb, cloudfront, w3c, iis, envoy, caddy, "
                   "traefik), or --skip-unknown to go on without it (sleuth inspect shows what it sees)")
    assert not (tmp_path / "m.jsonl").exists() or (tmp_path / "m.jsonl").stat().st_size == 0
    r = sleuth("run", str(every), str(good), str(weird), "--skip-unknown", "-o", str(tmp_path / "m.jsonl"),
               "--quarantine", str(tmp_path / "q.jsonl"))
    assert r.returncode == 0, r.stderr.decode()
    assert f"skipped: {weird} (unknown format)".encode() in r.stderr
    assert len((tmp_path / "m.jsonl").read_bytes().splitlines()) == 5
    q = [orjson.loads(x) for x in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert [(x["source"], x["reason"]) for x in q] == [(str(weird), "unknown-format")]


# ---------------------------------------------------------------- bad options and paths: one line, 2 or 3

def _bad_cases(tmp: Path) -> dict[str, tuple[list[str], int, str]]:
    missing = tmp / "no-such-dir"
    return {
        "unwritable-out": (["-o", str(missing / "m.jsonl")], 3,
                           f"sleuth run: cannot write the output {missing / 'm.jsonl'}: No such file or directory"),
        "out-is-a-directory": (["-o", str(tmp)], 3, f"sleuth run: cannot write the output {tmp}: it is a directory"),
        "unwritable-quarantine": (["--quarantine", str(missing / "q.jsonl")], 3,
                                  f"sleuth run: cannot write the quarantine {missing / 'q.jsonl'}: No such file or "
                                  "directory"),
        "unwritable-state": (["--state", str(missing / "state")], 3,
                             f"sleuth run: cannot write the state file {missing / 'state'}: No such file or "
                             "directory"),
        "unwritable-metrics": (["--metrics", str(missing / "m.json")], 3,
                               f"sleuth run: cannot write the metrics {missing / 'm.json'}: No such file or "
                               "directory"),
        "unwritable-report": (["--report", str(missing / "r.html")], 3,
                              f"sleuth run: cannot write the report {missing / 'r.html'}: No such file or "
                              "directory"),
        "missing-enrich-table": (["--enrich-table", str(tmp / "prefixes.csv")], 3,
                                 f"sleuth run: cannot read the enrich table {tmp / 'prefixes.csv'}: No such file or "
                                 "directory"),
        "missing-mapping": (["--mapping", str(tmp / "m.map")], 3,
                            f"sleuth run: cannot read {tmp / 'm.map'}: No such file or directory"),
        "missing-openapi": (["--openapi", str(tmp / "api.yaml")], 3,
                            f"sleuth run: cannot read {tmp / 'api.yaml'}: No such file or directory"),
        "missing-input": (["--", str(tmp / "nope.log")], 3, f"sleuth run: no such file: {tmp / 'nope.log'}"),
        "lateness-negative": (["--lateness", "-5"], 2, "sleuth run: --lateness must be a finite number >= 0 "
                                                       "(got '-5')"),
        "lateness-nan": (["--lateness", "nan"], 2, "sleuth run: --lateness must be a finite number >= 0 (got 'nan')"),
        "lateness-inf": (["--lateness", "inf"], 2, "sleuth run: --lateness must be a finite number >= 0 (got 'inf')"),
        "lateness-text": (["--lateness", "soon"], 2, "sleuth run: --lateness must be a finite number >= 0 "
                                                     "(got 'soon')"),
        "grace-negative": (["--grace", "-1"], 2, "sleuth run: --grace must be a finite number >= 0 (got '-1')"),
        "max-keys-zero": (["--max-keys", "0"], 2, "sleuth run: --max-keys must be a whole number >= 1 (got '0')"),
        "checkpoint-every-zero": (["--checkpoint-every", "0"], 2,
                                  "sleuth run: --checkpoint-every must be a whole number >= 1 (got '0')"),
        "max-line-bytes-text": (["--max-line-bytes", "1MB"], 2,
                                "sleuth run: --max-line-bytes must be a whole number >= 1 (got '1MB')"),
        "bad-map": (["--map", "nonsense"], 2, None),
    }


CASES = list(_bad_cases(Path("/x")))


@pytest.mark.parametrize("case", CASES)
def test_a_bad_option_or_path_is_one_line_and_the_right_code(tmp_path: Path, every: Path, case):
    args, code, message = _bad_cases(tmp_path)[case]
    good = _good(tmp_path)
    if args[0] == "--":
        argv = ["run", str(every), *args[1:]]
    else:
        argv = ["run", str(every), str(good), *args]
    r = sleuth(*argv)
    assert r.returncode == code, r.stderr.decode()
    err = r.stderr.decode()
    assert b"Traceback" not in r.stderr
    assert len(err.strip().splitlines()) == 1, err
    if message is not None:
        assert err.strip() == message
    assert not any(tmp_path.glob("*.tmp-*"))           # nothing half-written left behind


def test_a_malformed_enrich_table_and_openapi_are_input_errors(tmp_path: Path, every: Path):
    good = _good(tmp_path)
    (tmp_path / "t.csv").write_text("cidr,asn,country\nnot-a-network,x,y\n")
    (tmp_path / "api.yaml").write_text("- just\n- a list\n")
    for opt, f in (("--enrich-table", "t.csv"), ("--openapi", "api.yaml")):
        r = sleuth("run", str(every), str(good), opt, str(tmp_path / f))
        assert r.returncode == 3 and len(r.stderr.splitlines()) == 1 and b"Traceback" not in r.stderr, r.stderr


# ---------------------------------------------------------------- quarantine records can be replayed


def test_quarantine_records_keep_the_input_and_replay_from_stdin(tmp_path: Path, every: Path):
    """Every reason keeps what was read: the line a reader could not decode (`raw`, or `raw_base64`
    when it is not UTF-8), the record or event otherwise (`record`), late and far-future events too.
    Read from stdin, the quarantine alone gives the input back: it replays."""
    lines = [orjson.dumps({"ts": T0 + i, "id": f"e{i}", "user": "u"}) for i in range(100)]
    set_aside = {
        b"{not json": "not-json",
        b"\xff\xfe binary \xc3": "bad-encoding",
        b"[1, 2, 3]": "not-mapping",
        b'{"id": "nt", "user": "x"}': "no-time",
        b'{"ts": "yesterday", "id": "bt"}': "bad-time",
        orjson.dumps({"ts": T0 + 10, "id": "late1", "user": "u"}): "late",
        orjson.dumps({"ts": T0 + 400 * 86400, "id": "ff", "user": "u"}): "future",
    }
    for k, line in enumerate(set_aside):
        lines.insert(20 + 10 * k, line)
    data = b"\n".join(lines) + b"\n"
    r = sleuth("run", str(every), "-", "--lateness", "5", "--quarantine", str(tmp_path / "q.jsonl"),
               "-o", str(tmp_path / "m.jsonl"), stdin=data)
    assert r.returncode == 0, r.stderr.decode()
    q = [orjson.loads(x) for x in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert sorted(x["reason"] for x in q) == sorted(set_aside.values())
    assert all(x["source"] == "<stdin>" for x in q)
    replayed = {}
    for x in q:
        if "raw" in x:
            line = x["raw"].encode()
        elif "raw_base64" in x:
            line = base64.b64decode(x["raw_base64"])
        else:
            line = orjson.dumps(x["record"])
        replayed[x["reason"]] = line
    for original, reason in set_aside.items():
        if reason in ("not-json", "bad-encoding"):
            assert replayed[reason] == original, reason                      # the line itself
        else:
            assert orjson.loads(replayed[reason]) == orjson.loads(original), reason   # the same record
    # The late and far-future events, replayed on their own from stdin, reach the rules.
    again = replayed["late"] + b"\n" + replayed["future"] + b"\n"
    r = sleuth("run", str(every), "-", "-o", str(tmp_path / "again.jsonl"), "--metrics",
               str(tmp_path / "again.json"), stdin=again)
    assert r.returncode == 0, r.stderr.decode()
    got = [orjson.loads(x)["provenance"]["events"][0]["id"] for x in (tmp_path / "again.jsonl").read_bytes().split()]
    assert got == ["late1", "ff"]
