"""Readers on ordinary and hostile inputs: every format, gzip, streams, limits, follow."""

from __future__ import annotations

import gzip
import io
import os
import sys
import threading
import time

import msgpack
import orjson
import pytest

from sleuth.engine.ingest import Bad, open_source, parse_access_line, sniff_format
from sleuth.engine.ingest import source as source_mod


def read(data: bytes, fmt: str = "auto", **kw):
    r = open_source(io.BytesIO(data), fmt, **kw)
    items = list(r)
    return r, items


def bad(reason: str):
    """Matches any Bad with this reason (details and excerpts are checked elsewhere)."""

    class _AnyBad:
        def __eq__(self, other):
            return isinstance(other, Bad) and other.reason == reason

        def __repr__(self):
            return f"Bad({reason!r}, ...)"

    return _AnyBad()


# name, input bytes, format, expected items, expected counts (subset)
CASES = [
    ("jsonl", b'{"a":1}\n{"a":2}\n', "jsonl", [(1, {"a": 1}), (2, {"a": 2})], {"lines": 2, "records": 2}),
    ("jsonl-crlf", b'{"a":1}\r\n{"a":2}\r\n', "jsonl", [(1, {"a": 1}), (2, {"a": 2})], {"records": 2}),
    ("jsonl-bom", b'\xef\xbb\xbf{"a":1}\n', "jsonl", [(1, {"a": 1})], {"records": 1}),
    ("jsonl-empty-lines", b'\n{"a":1}\n\n  \n\r\n{"a":2}\n', "jsonl", [(2, {"a": 1}), (6, {"a": 2})],
     {"lines": 6, "empty": 4, "records": 2}),
    ("jsonl-no-final-newline", b'{"a":1}\n{"a":2}', "jsonl", [(1, {"a": 1}), (2, {"a": 2})], {"records": 2}),
    ("jsonl-truncated-final-line", b'{"a":1}\n{"a":', "jsonl", [(1, {"a": 1}), (2, bad("not-json"))],
     {"records": 1, "not-json": 1}),
    ("jsonl-invalid-utf8", b'{"a":"\xff"}\n{"a":1}\n', "jsonl", [(1, bad("bad-encoding")), (2, {"a": 1})],
     {"bad-encoding": 1}),
    ("jsonl-lone-surrogate", b'{"a":"\\ud800"}\n', "jsonl", [(1, bad("not-json"))], {"not-json": 1}),
    ("jsonl-non-mapping", b'[1,2]\n"x"\n3\nnull\n', "jsonl", [(1, [1, 2]), (2, "x"), (3, 3), (4, None)],
     {"records": 4}),
    ("jsonl-garbage", b'hello\n{"a":1}\n', "jsonl", [(1, bad("not-json")), (2, {"a": 1})], {"not-json": 1}),
    ("jsonl-nan", b'{"a":NaN}\n', "jsonl", [(1, bad("not-json"))], {}),
    ("jsonl-empty-input", b"", "jsonl", [], {"lines": 0}),
    ("json-array", b'[{"a":1},\n {"a":2}]', "json", [(1, {"a": 1}), (2, {"a": 2})], {"records": 2}),
    ("json-object", b'{\n  "a": 1\n}\n', "json", [(1, {"a": 1})], {"records": 1}),
    ("json-broken", b'[{"a":1},', "json", [(1, bad("not-json"))], {"not-json": 1}),
    ("msgpack", msgpack.packb({"a": 1}) + msgpack.packb({"b": [1, 2]}), "msgpack",
     [(1, {"a": 1}), (2, {"b": [1, 2]})], {"records": 2}),
    ("msgpack-non-map", msgpack.packb([1]) + msgpack.packb("s"), "msgpack", [(1, [1]), (2, "s")], {}),
    ("msgpack-int-keys", msgpack.packb({1: "a"}), "msgpack", [(1, {1: "a"})], {}),
    ("msgpack-bad-utf8", b"\x81\xa1a\xa2\xff\xfe", "msgpack", [(1, {"a": "\\xff\\xfe"})], {}),
    ("msgpack-corrupt", msgpack.packb({"a": 1}) + b"\xc1\x00\x00", "msgpack",
     [(1, {"a": 1}), (2, bad("bad-msgpack"))], {"bad-msgpack": 1}),
    ("msgpack-truncated", msgpack.packb({"a": 1}) + msgpack.packb({"b": "xyz"})[:-2], "msgpack",
     [(1, {"a": 1}), (2, bad("bad-msgpack"))], {"bad-msgpack": 1}),
    ("csv", b"ts,user,status\n1700000000,alice,401\n1700000001,,200\n", "csv",
     [(2, {"ts": "1700000000", "user": "alice", "status": "401"}), (3, {"ts": "1700000001", "status": "200"})],
     {"lines": 3, "records": 2, "header": 1}),
    ("csv-quoted", b'ts,ua\n1,"Mozilla, ""quoted"""\n', "csv", [(2, {"ts": "1", "ua": 'Mozilla, "quoted"'})], {}),
    ("csv-bom-crlf", b"\xef\xbb\xbfts,user\r\n1,bob\r\n", "csv", [(2, {"ts": "1", "user": "bob"})], {}),
    ("csv-tabs", b"ts\tuser\n1\tbob\n", "csv", [(2, {"ts": "1", "user": "bob"})], {}),
    ("csv-short-row", b"ts,user,status\n1,bob\n", "csv", [(2, {"ts": "1", "user": "bob"})], {}),
    ("csv-long-row", b"ts,user\n1,bob,extra\n2,amy\n", "csv",
     [(2, bad("bad-csv-row")), (3, {"ts": "2", "user": "amy"})], {"bad-csv-row": 1}),
    ("csv-unclosed-quote", b'ts,user\n1,"bob\n2,amy\n', "csv",
     [(2, bad("bad-csv-row")), (3, {"ts": "2", "user": "amy"})], {"bad-csv-row": 1}),
    ("csv-invalid-utf8", b"ts,user\n1,\xff\n", "csv", [(2, bad("bad-encoding"))], {"bad-encoding": 1}),
    ("apache-not-a-log-line", b"hello world\n", "apache", [(1, bad("unparsable-line"))], {"unparsable-line": 1}),
    ("auto-unknown", b"\x00\x01\x02 binary\n", "auto", [(1, bad("unknown-format"))], {"unknown-format": 1}),
    ("auto-empty", b"", "auto", [], {}),
    ("auto-whitespace", b"\n \n", "auto", [], {}),
]


@pytest.mark.parametrize("data, fmt, expected, counts", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_reader(data, fmt, expected, counts):
    r, items = read(data, fmt)
    assert items == expected
    for k, v in counts.items():
        assert r.counts.get(k, 0) == v, k


@pytest.mark.parametrize("data, fmt, expected, counts", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_reader_gzip(data, fmt, expected, counts):
    # gzip is recognised by its magic bytes whatever the format and the name
    r, items = read(gzip.compress(data), fmt)
    assert items == expected


@pytest.mark.parametrize("data, fmt, expected, counts", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_reader_tiny_chunks(monkeypatch, data, fmt, expected, counts):
    # chunk boundaries anywhere must not change what is read
    monkeypatch.setattr(source_mod, "_CHUNK", 3)
    monkeypatch.setattr(source_mod, "_SNIFF", 5)
    r, items = read(data, fmt)
    assert items == expected


AUTO = [
    ("jsonl", b'{"ts": 1}\n{"ts": 2}\n', "jsonl"),
    ("jsonl-leading-blank", b'\n\n{"ts": 1}\n', "jsonl"),
    ("json-pretty-object", b'{\n "ts": 1\n}\n', "json"),
    ("json-array", b'[{"ts": 1}, {"ts": 2}]\n', "json"),
    ("jsonl-of-arrays", b"[1]\n[2]\n", "jsonl"),
    ("msgpack-fixmap", msgpack.packb({"ts": 1}), "msgpack"),
    ("msgpack-map16", msgpack.packb({f"k{i}": i for i in range(20)}), "msgpack"),
    ("apache", b'1.2.3.4 - - [10/Oct/2004:04:20:13 -0400] "GET / HTTP/1.1" 200 5 "-" "x"\n', "apache"),
    ("nginx", b'1.2.3.4 - - [10/Oct/2004:04:20:13 -0400] "GET / HTTP/1.1" 200 5 "-" "x" "-" 0.004\n', "apache"),
    ("csv", b"timestamp,user,status\n1,2,3\n", "csv"),
    ("csv-ecs-names", b"@timestamp,source.ip\n1,2\n", "csv"),
    ("unknown-csv", b"a,b,c\n1,2,3\n", None),
    ("text", b"hello\n", None),
]


@pytest.mark.parametrize("data, fmt", [pytest.param(d, f, id=i) for i, d, f in AUTO])
def test_sniff(data, fmt):
    assert sniff_format(data) == fmt
    r, _ = read(gzip.compress(data))
    if fmt is not None:
        assert r.format == fmt


def test_bad_has_excerpt_and_detail():
    _, items = read(b"x" * 500 + b"\n", "jsonl")
    (pos, b), = items
    assert b.reason == "not-json" and b.detail and b.excerpt == "x" * 200
    _, items = read(b'{"a":"\xff\xfe"}\n', "jsonl")
    assert items[0][1].excerpt == '{"a":"\ufffd\ufffd"}'


# ------------------------------------------------------------------ oversized

@pytest.mark.parametrize("chunk", [1 << 20, 7], ids=["big-chunks", "tiny-chunks"])
def test_oversized_lines(monkeypatch, chunk):
    monkeypatch.setattr(source_mod, "_CHUNK", chunk)
    data = b'{"a":1}\n' + b'{"b":"' + b"x" * 100 + b'"}\n' + b'{"c":3}\n' + b"y" * 100
    r, items = read(data, "jsonl", max_line_bytes=32)
    assert items == [(1, {"a": 1}), (2, bad("oversized")), (3, {"c": 3}), (4, bad("oversized"))]
    assert r.counts["oversized"] == 2


def test_oversized_line_is_not_held_in_memory(monkeypatch):
    # a 64 MB line with a 1 KB limit: the reader keeps skipping, never joining
    class Endless(io.RawIOBase):
        def __init__(self):
            self.left = 64 << 20

        def readable(self):
            return True

        def readinto(self, b):
            if self.left <= 0:
                data = b'\n{"ok":1}\n'[: len(b)]
                b[: len(data)] = data
                self.left -= len(data)
                return len(data) if self.left > -20 else 0
            n = min(len(b), self.left)
            b[:n] = b"z" * n
            self.left -= n
            return n

    seen = []
    original = source_mod.Reader._batches

    def spy(self, head):
        for pos, lines in original(self, head):
            seen.append(max((len(x) for x in lines if x), default=0))
            yield pos, lines

    monkeypatch.setattr(source_mod.Reader, "_batches", spy)
    items = list(open_source(io.BufferedReader(Endless()), "jsonl", max_line_bytes=1024))
    assert items == [(1, bad("oversized")), (2, {"ok": 1})]
    assert max(seen) <= 1024


# -------------------------------------------------------------- access logs

LINES = {
    "combined": (
        '203.0.113.7 - alice [10/Oct/2004:04:20:13 -0400] "GET /api/v1/users/7?x=1&x=2 HTTP/1.1" 200 2326 '
        '"http://ref.example/" "Mozilla/5.0 (X11)"',
        {"ts": 1097396413.0, "src_ip": "203.0.113.7", "method": "GET", "path": "/api/v1/users/7",
         "query": {"x": ["1", "2"]}, "protocol": "HTTP/1.1", "status": 200, "resp_bytes": 2326,
         "user": "alice", "headers": {"referer": "http://ref.example/"}, "ua": "Mozilla/5.0 (X11)"}),
    "common": (
        '192.0.2.1 - - [10/Oct/2004:04:20:13 +0000] "POST /login HTTP/1.0" 401 -',
        {"ts": 1097382013.0, "src_ip": "192.0.2.1", "method": "POST", "path": "/login",
         "protocol": "HTTP/1.0", "status": 401}),
    "common-with-%D": (
        '192.0.2.1 - - [10/Oct/2004:04:20:13 +0000] "GET / HTTP/1.1" 200 5 1500',
        {"ts": 1097382013.0, "src_ip": "192.0.2.1", "method": "GET", "path": "/", "protocol": "HTTP/1.1",
         "status": 200, "resp_bytes": 5, "latency_ms": 1.5}),
    "combined-with-%D": (
        '192.0.2.1 - - [10/Oct/2004:04:20:13 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8" 250',
        {"ts": 1097382013.0, "src_ip": "192.0.2.1", "method": "GET", "path": "/", "protocol": "HTTP/1.1",
         "status": 200, "resp_bytes": 5, "ua": "curl/8", "latency_ms": 0.25}),
    "nginx-main-request-time": (
        '2001:db8::1 - - [10/Oct/2004:04:20:13 +0000] "GET /x HTTP/2.0" 502 0 "-" "curl/8" '
        '"198.51.100.1, 10.0.0.1" 0.004',
        {"ts": 1097382013.0, "src_ip": "2001:db8::1", "method": "GET", "path": "/x", "protocol": "HTTP/2.0",
         "status": 502, "resp_bytes": 0, "ua": "curl/8",
         "headers": {"x-forwarded-for": "198.51.100.1, 10.0.0.1"}, "latency_ms": 4.0}),
    "hostname-client": (
        'pcp740115pcs.reston01.va.comcast.net - - [22/Apr/2004:11:52:42 -0400] "GET / HTTP/1.0" 403 304 "-" "-"',
        {"ts": 1082649162.0, "src_ip": "pcp740115pcs.reston01.va.comcast.net", "method": "GET",
         "path": "/", "protocol": "HTTP/1.0", "status": 403, "resp_bytes": 304}),
    "http-0.9": (
        '1.2.3.4 - - [05/Oct/2004:11:25:39 -0400] "GET /scripts/nsiislog.dll" 404 - "-" "-"',
        {"ts": 1096989939.0, "src_ip": "1.2.3.4", "method": "GET", "path": "/scripts/nsiislog.dll",
         "status": 404}),
    "no-request-408": (
        '1.2.3.4 - - [01/Aug/2004:15:04:02 -0400] "-" 408 - "-" "-"',
        {"ts": 1091387042.0, "src_ip": "1.2.3.4", "status": 408}),
    "binary-request": (
        '1.2.3.4 - - [16/Jun/2004:21:32:48 -0400] "\x05\x01" 501 - "-" "-"',
        {"ts": 1087435968.0, "src_ip": "1.2.3.4", "request": "\x05\x01", "status": 501}),
    "junk-method": (
        '1.2.3.4 - - [22/Apr/2004:11:54:06 -0400] "GET!not found /cfdocs/x.cfm HTTP/1.0" 400 371 "-" "-"',
        {"ts": 1082649246.0, "src_ip": "1.2.3.4", "method": "GET!not", "path": "found /cfdocs/x.cfm",
         "protocol": "HTTP/1.0", "status": 400, "resp_bytes": 371}),
    "quote-in-request": (
        '1.2.3.4 - - [22/Apr/2004:11:55:13 -0400] "GET" /hostadmin/?page=\' HTTP/1.0" 501 345 "-" "-"',
        {"ts": 1082649313.0, "src_ip": "1.2.3.4", "request": "GET\" /hostadmin/?page=' HTTP/1.0",
         "status": 501, "resp_bytes": 345}),
    "proxy-absolute-form": (
        '1.2.3.4 - - [09/Oct/2004:02:49:04 -0400] "GET http://www.yahoo.com/ HTTP/1.1" 200 2890 "-" "x"',
        {"ts": 1097304544.0, "src_ip": "1.2.3.4", "method": "GET", "path": "http://www.yahoo.com/",
         "host": "www.yahoo.com", "protocol": "HTTP/1.1", "status": 200, "resp_bytes": 2890, "ua": "x"}),
    "connect": (
        '1.2.3.4 - - [02/Aug/2004:18:51:41 -0400] "CONNECT 1.3.3.7:1337 HTTP/1.0" 405 309 "-" "-"',
        {"ts": 1091487101.0, "src_ip": "1.2.3.4", "method": "CONNECT", "path": "1.3.3.7:1337",
         "host": "1.3.3.7:1337", "protocol": "HTTP/1.0", "status": 405, "resp_bytes": 309}),
    "ua-with-quotes": (
        '1.2.3.4 - - [02/Aug/2004:18:51:41 -0400] "GET / HTTP/1.0" 200 1 "-" "evil "quoted" agent"',
        {"ts": 1091487101.0, "src_ip": "1.2.3.4", "method": "GET", "path": "/", "protocol": "HTTP/1.0",
         "status": 200, "resp_bytes": 1, "ua": 'evil "quoted" agent'}),
    "empty-referer-and-agent": (
        '1.2.3.4 - - [02/Aug/2004:18:51:41 -0400] "GET / HTTP/1.0" 200 1 "" ""',
        {"ts": 1091487101.0, "src_ip": "1.2.3.4", "method": "GET", "path": "/", "protocol": "HTTP/1.0",
         "status": 200, "resp_bytes": 1, "headers": {"referer": ""}, "ua": ""}),
    "status-dash": (
        '1.2.3.4 - - [02/Aug/2004:18:51:41 -0400] "GET / HTTP/1.0" - -',
        {"ts": 1091487101.0, "src_ip": "1.2.3.4", "method": "GET", "path": "/", "protocol": "HTTP/1.0"}),
}


@pytest.mark.parametrize("line, expected", [pytest.param(*v, id=k) for k, v in LINES.items()])
def test_access_line(line, expected):
    assert parse_access_line(line) == expected


@pytest.mark.parametrize("line, reason", [
    ("", "unparsable-line"),
    ("hello", "unparsable-line"),
    ('1.2.3.4 - - [10/Oct/2004:04:20:13 -0400] "GET / HTTP/1.1"', "unparsable-line"),
    ('1.2.3.4 - - [10/Oct/2004:04:20:13 -0400] "GET / HTTP/1.1" 200 5 trailing junk', "unparsable-line"),
    ('1.2.3.4 - - [99/Oct/2004:04:20:13 -0400] "GET / HTTP/1.1" 200 5', "bad-time"),
    ('1.2.3.4 - - [yesterday] "GET / HTTP/1.1" 200 5', "bad-time"),
], ids=["empty", "word", "no-status", "trailing-junk", "bad-day", "bad-time-text"])
def test_access_line_rejects(line, reason):
    b = parse_access_line(line)
    assert isinstance(b, Bad) and b.reason == reason
    assert b.excerpt == line[:200]


def test_access_reader_ids_and_invalid_utf8():
    data = (b'1.2.3.4 - - [10/Oct/2004:04:20:13 -0400] "SEARCH /\x90\x90\xc3\xa9 HTTP/1.1" 414 349 "-" "-"\n'
            b"garbage\n")
    r, items = read(data, "apache", name="x.log")
    assert items[0] == (1, {"ts": 1097396413.0, "src_ip": "1.2.3.4", "method": "SEARCH",
                            "path": "/\\x90\\x90\\xc3\\xa9", "protocol": "HTTP/1.1", "status": 414,
                            "resp_bytes": 349, "id": "x.log:1"})
    assert items[1] == (2, bad("unparsable-line"))
    assert r.counts == {"lines": 2, "records": 1, "empty": 0, "unparsable-line": 1}


def test_hostile_access_line_is_linear():
    line = '1.2.3.4 - - [10/Oct/2004:04:20:13 -0400] "' + '" 200 1 "' * 50_000
    t = time.process_time()
    assert isinstance(parse_access_line(line), Bad)
    assert time.process_time() - t < 5  # bounded candidates; was quadratic without the cap


# ---------------------------------------------------------------- streams

def test_stdin(monkeypatch):
    class FakeStdin:
        buffer = io.BytesIO(b'{"a":1}\n')

    monkeypatch.setattr(sys, "stdin", FakeStdin)
    for path in (None, "-"):
        FakeStdin.buffer.seek(0)
        r = open_source(path)
        assert list(r) == [(1, {"a": 1})]
        assert r.name == "<stdin>"


def test_stream_name_and_file_name(tmp_path):
    assert open_source(io.BytesIO(b"")).name == "<stream>"
    assert open_source(io.BytesIO(b""), name="feed").name == "feed"
    p = tmp_path / "e.jsonl"
    p.write_bytes(b'{"a":1}\n')
    r = open_source(p)
    assert r.name == str(p)
    assert list(r) == [(1, {"a": 1})]
    assert r.format == "jsonl"


def test_missing_file_raises():
    r = open_source("/nonexistent/file.jsonl")
    with pytest.raises(OSError):
        list(r)


def test_unknown_format_name():
    with pytest.raises(ValueError, match="unknown format"):
        open_source(io.BytesIO(b""), "xml")


def test_reader_is_iterated_once():
    r = open_source(io.BytesIO(b'{"a":1}\n'))
    list(r)
    with pytest.raises(RuntimeError):
        list(r)


def test_corrupt_gzip():
    data = gzip.compress(b'{"a":1}\n' * 1000)
    r, items = read(data[: len(data) // 2])
    assert items[-1] == (items[-1][0], bad("bad-gzip"))
    assert all(it == {"a": 1} for _, it in items[:-1])
    r, items = read(b"\x1f\x8b" + b"\x00" * 30)
    assert items == [(1, bad("bad-gzip"))]


# ------------------------------------------------------------------ follow

def _collect(reader, out):
    for item in reader:
        out.append(item)


def test_follow_until_close(tmp_path):
    p = tmp_path / "live.jsonl"
    p.write_bytes(b'{"n":1}\n')
    r = open_source(p, follow=True, poll_interval=0.02)
    out: list = []
    t = threading.Thread(target=_collect, args=(r, out))
    t.start()
    try:
        _wait_for(lambda: len(out) == 1)
        with open(p, "ab") as f:
            f.write(b'{"n":2}\n{"n":')
            f.flush()
            _wait_for(lambda: len(out) == 2)
            f.write(b"3}\n")
        _wait_for(lambda: len(out) == 3)
    finally:
        r.close()
        t.join(5)
    assert not t.is_alive()
    assert out == [(1, {"n": 1}), (2, {"n": 2}), (3, {"n": 3})]


def test_follow_idle_timeout_and_stop_callable(tmp_path):
    p = tmp_path / "live.jsonl"
    p.write_bytes(b'{"n":1}\n')
    t0 = time.monotonic()
    assert list(open_source(p, follow=True, idle_timeout=0.1, poll_interval=0.02)) == [(1, {"n": 1})]
    assert time.monotonic() - t0 < 3
    ev = threading.Event()
    ev.set()
    assert list(open_source(p, follow=True, stop=ev, poll_interval=0.02)) == [(1, {"n": 1})]
    assert list(open_source(p, follow=True, stop=lambda: True, poll_interval=0.02)) == [(1, {"n": 1})]


def test_follow_rotation(tmp_path):
    p = tmp_path / "live.jsonl"
    p.write_bytes(b'{"n":1}\n')
    r = open_source(p, follow=True, poll_interval=0.02)
    out: list = []
    t = threading.Thread(target=_collect, args=(r, out))
    t.start()
    try:
        _wait_for(lambda: len(out) == 1)
        os.rename(p, tmp_path / "live.jsonl.1")
        p.write_bytes(b'{"n":2}\n')
        _wait_for(lambda: len(out) == 2)
    finally:
        r.close()
        t.join(5)
    assert out == [(1, {"n": 1}), (2, {"n": 2})]
    assert r.counts["reopened"] == 1


def test_follow_waits_for_first_bytes(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_bytes(b"")
    r = open_source(p, follow=True, poll_interval=0.02)
    out: list = []
    t = threading.Thread(target=_collect, args=(r, out))
    t.start()
    try:
        time.sleep(0.1)
        p.write_bytes(b'{"n":1}\n')
        _wait_for(lambda: len(out) == 1)
    finally:
        r.close()
        t.join(5)
    assert out == [(1, {"n": 1})] and r.format == "jsonl"


def _wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_orjson_numbers_stay_bounded():
    # orjson turns integers past 64 bits into floats and refuses NaN/Infinity:
    # the Normalizer relies on that for JSON input.
    _, items = read(b'{"a":18446744073709551616}\n{"a":1e400}\n', "jsonl")
    assert items[0] == (1, {"a": float(2**64)})
    assert items[1] == (2, bad("not-json"))
    assert orjson.loads(b"[1]") == [1]


def test_follow_ends_on_keyboard_interrupt(tmp_path, monkeypatch):
    p = tmp_path / "live.jsonl"
    p.write_bytes(b'{"n":1}\n')

    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(source_mod.time, "sleep", interrupted)
    r = open_source(p, follow=True)
    assert list(r) == [(1, {"n": 1})]
    assert r.interrupted is True


def test_command_line_formats_are_the_readers_formats():
    # `sleuth run --format` lists them itself (the command line must not import the
    # engine just to build its parser); this pins the two lists together.
    from sleuth.engine.ingest.source import FORMAT_ALIASES, FORMATS
    from sleuth.playground.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    (fmt,) = [a for a in run._actions if "--format" in a.option_strings]
    assert tuple(fmt.choices) == FORMATS
    assert set(FORMAT_ALIASES) <= set(FORMATS) and set(FORMAT_ALIASES.values()) <= set(FORMATS)
