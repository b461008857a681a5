"""The log formats of sleuth.engine.ingest.formats on their real-format samples and on hostile lines.

Each sample in ``tests/ingest/data/formats/`` was written for these tests
following the format's documentation; ``<sample>.expected.jsonl`` holds,
one line per event or ``Bad``, what its reader must give (one test id per
sample line).  After a deliberate change, ``python
tests/ingest/test_ingest_formats.py --update`` rewrites the expected files;
review the diff.
"""

from __future__ import annotations

import pathlib
import sys

import orjson
import pytest

from sleuth.engine.ingest.formats import (
    CLOUDFRONT_FIELDS,
    FORMATS,
    REASONS,
    W3CReader,
    iter_records,
    parse_w3c_line,
    sniff_extra,
)
from sleuth.engine.ingest.formats.alb import parse_alb_line
from sleuth.engine.ingest.formats.envoy import parse_envoy_line
from sleuth.engine.ingest.formats.jsonlog import (
    parse_caddy,
    parse_caddy_line,
    parse_traefik,
    parse_traefik_line,
)
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS, Normalizer
from sleuth.engine.ingest.source import Bad, sniff_format

DATA = pathlib.Path(__file__).resolve().parent / "data" / "formats"
# sample file -> the format sniffing must find (and that reads it)
SAMPLES = {
    "alb.log": "alb", "cloudfront.log": "cloudfront", "iis.log": "iis", "w3c.log": "w3c",
    "envoy.log": "envoy", "caddy.log": "caddy", "traefik.log": "traefik",
}


def _read(name: str) -> list[tuple[int, dict | Bad]]:
    data = (DATA / name).read_bytes()
    return list(iter_records(SAMPLES[name], data.split(b"\n"), name))


def _as_json(pos: int, item: dict | Bad) -> dict:
    if isinstance(item, Bad):
        return {"line": pos, "bad": {"reason": item.reason, "detail": item.detail, "excerpt": item.excerpt}}
    return {"line": pos, "event": item}


def _expected(name: str) -> list[dict]:
    path = DATA / (name + ".expected.jsonl")
    if not path.exists():  # test_sample_gives_exactly_the_expected_lines says so
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


CASES = [(name, exp) for name in SAMPLES for exp in _expected(name)]


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[f"{n}:{e['line']}" for n, e in CASES])
def test_sample_line(name, expected):
    got = dict(_read(name))
    assert _as_json(expected["line"], got[expected["line"]]) == expected


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_gives_exactly_the_expected_lines(name):
    assert [pos for pos, _ in _read(name)] == [e["line"] for e in _expected(name)]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_events_are_canonical(name):
    """The Normalizer takes every event as it is: nothing to coerce, nothing invalid."""
    norm = Normalizer()
    for pos, item in _read(name):
        if isinstance(item, Bad):
            continue
        ev = norm(item, name, pos)
        assert "_invalid" not in ev, (pos, ev.get("_invalid"))
        for field, t in CANONICAL_FIELDS.items():
            if field in item:
                assert type(item[field]) is t, (pos, field, item[field])
                assert ev[field] == item[field]


def test_every_reason_is_known():
    known = set(REASONS) | {"unparsable-line", "bad-time", "no-time", "not-json", "bad-encoding"}
    for name in SAMPLES:
        for _, item in _read(name):
            if isinstance(item, Bad):
                assert item.reason in known


# ------------------------------------------------------------------ sniffing

@pytest.mark.parametrize("name", SAMPLES)
def test_sniff_sample(name):
    data = (DATA / name).read_bytes()
    assert sniff_extra(data) == SAMPLES[name]
    # What the reader hands over is at least the first line (or the directive block) whole.
    lines = data.split(b"\n")
    first = 4 if name in ("iis.log", "w3c.log") else 2 if name == "cloudfront.log" else 1
    assert sniff_extra(b"\n".join(lines[:first]) + b"\n") == SAMPLES[name]


@pytest.mark.parametrize("name", SAMPLES)
def test_sniff_sample_gzip_bom_crlf(name):
    data = (DATA / name).read_bytes().replace(b"\n", b"\r\n")
    assert sniff_extra(b"\xef\xbb\xbf" + data) == SAMPLES[name]


REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "rulepacks").rglob("*.jsonl"))
NOT_OURS = {
    "sleuth-events": b'{"ts": 1714564800, "src_ip": "203.0.113.7", "method": "POST", "path": "/api/v1/login", '
                     b'"status": 401, "request": "POST /api/v1/login HTTP/1.1"}\n{"ts": 1714564801}\n',
    "ecs-event": b'{"@timestamp": "2024-05-01T12:00:00Z", "http": {"request": {"method": "GET"}}, '
                 b'"url": {"path": "/a"}, "request": {"method": "GET", "uri": "/a"}}\n',
    "nginx-combined": b'203.0.113.7 - - [01/May/2024:12:00:00 +0000] "GET /api HTTP/1.1" 200 12 "-" "curl/8.4.0"\n',
    "nginx-main-request-time": b'203.0.113.7 - alice [01/May/2024:12:00:00 +0000] "GET /api HTTP/1.1" 200 12 '
                               b'"-" "curl/8.4.0" "198.51.100.1" 0.012\n',
    "apache-common": b'192.0.2.1 - - [10/Oct/2004:04:20:13 -0400] "GET / HTTP/1.0" 200 2890\n',
    "csv": b"ts,src_ip,method,path,status\n1714564800,203.0.113.7,GET,/a,200\n",
    "tsv": b"ts\tsrc_ip\tstatus\n1714564800\t203.0.113.7\t200\n",
    "json-array": b'[{"ts": 1714564800, "request": {"method": "GET", "uri": "/"}}]\n',
    "empty": b"",
    "blank": b"\n\n  \n",
    "comment-not-w3c": b"# just a comment\n#Fields: nope\n",
    "bracket-not-envoy": b'[2024-05-01T12:00:00.000Z] this is an application log line\n',
    "http-word-not-alb": b"http is a protocol 2024-05-01T12:00:00Z\n",
    "traefik-app-log-only": b'{"level":"info","msg":"Configuration loaded from flags.","time":"2024-05-01T12:00:00Z"}\n',
    "caddy-app-log-only": b'{"level":"info","ts":1714564800.1,"logger":"admin","msg":"admin endpoint started"}\n',
    "caddy-shaped-without-logger": b'{"ts":1714564800.1,"request":{"method":"GET","uri":"/"},"status":200}\n',
}


@pytest.mark.parametrize("name", NOT_OURS)
def test_sniff_never_claims_other_inputs(name):
    assert sniff_extra(NOT_OURS[name]) is None


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_sniff_never_claims_sleuth_json_lines(path):
    data = path.read_bytes()
    assert sniff_extra(data) is None
    assert sniff_extra(data[:65536]) is None


def _shared_data() -> pathlib.Path:
    import os
    base = os.environ.get("SLEUTH_SHARED_DATA")
    return pathlib.Path(base) if base else REPO.parent / "shared" / "data"


HONEYNET = _shared_data() / "honeynet2004"


def test_sniff_never_claims_the_real_apache_log():
    files = sorted(HONEYNET.glob("access_log*"))
    if not files:
        pytest.skip(f"the real honeynet log is not at {HONEYNET} (set SLEUTH_SHARED_DATA)")
    assert len(files) == 23
    for path in files:
        data = path.read_bytes()
        assert sniff_extra(data[:65536]) is None, path.name
        assert sniff_format(data[:65536]) == "apache", path.name
        # every line on its own, too: none is taken for one of these formats
        for line in data.split(b"\n"):
            assert sniff_extra(line + b"\n") is None, (path.name, line[:80])


# --------------------------------------------------------------- hostile ALB

ALB_OK = (DATA / "alb.log").read_text().splitlines()[1]


def _alb_fields(line: str) -> list[str]:
    return line.split(" ")


HOSTILE_ALB = [
    ("two-fields", "http 2024-05-01T12:00:00.000000Z", "field-count", "alb: 2 fields, expected at least 18"),
    ("seventeen-fields", ALB_OK[:ALB_OK.index(' "Root=')], "field-count", "alb: 17 fields, expected at least 18"),
    ("type", "HTTP" + ALB_OK[5:], "unparsable-line", "alb: field 1 (type) is not a request type: 'HTTP'"),
    ("time-word", ALB_OK.replace("2024-05-01T12:00:01.105220Z", "yesterday"), "bad-time",
     "alb: field 2 (time) is not an ISO 8601 UTC time: 'yesterday'"),
    ("time-month-13", ALB_OK.replace("2024-05-01T12:00:01.018000Z", "2024-13-01T12:00:01.018000Z"), "bad-time",
     "alb: unparsable time '2024-13-01T12:00:01.018000Z'"),
    ("creation-time-word", ALB_OK.replace("2024-05-01T12:00:01.018000Z", "soon"), "unparsable-line",
     "alb: field 22 (request_creation_time) is not an ISO 8601 UTC time: 'soon'"),
    ("client", ALB_OK.replace("198.51.100.23:40112", "nohost"), "unparsable-line",
     "alb: field 4 (client:port) is not an address: 'nohost'"),
    ("status", ALB_OK.replace(" 200 200 ", " 2000 200 "), "unparsable-line",
     "alb: field 9 (elb_status_code) is not a status code: '2000'"),
    ("huge-byte-count", ALB_OK.replace(" 236 5120 ", " 99999999999999999999 5120 "), "unparsable-line",
     "alb: field 11 (received_bytes) is not a byte count: '99999999999999999999'"),
    ("processing-time", ALB_OK.replace(" 0.000 0.087 ", " 0.000 fast "), "unparsable-line",
     "alb: field 7 (target_processing_time) is not seconds or -1: 'fast'"),
    ("truncated-in-user-agent", ALB_OK[:ALB_OK.index("Gecko/")], "unparsable-line",
     "alb: unclosed quote in field 14"),
    ("broken-later-field", ALB_OK.replace('"forward"', "forward"), "unparsable-line",
     "alb: field 23 (actions_executed) is not quoted"),
    ("unquoted-request", ALB_OK.replace('"GET https://api.example.com:443/api/v1/orders?page=2&size=50 HTTP/1.1"',
                                        "GET"), "unparsable-line", "alb: field 13 (request) is not quoted"),
]


@pytest.mark.parametrize(("line", "reason", "detail"), [c[1:] for c in HOSTILE_ALB], ids=[c[0] for c in HOSTILE_ALB])
def test_alb_hostile(line, reason, detail):
    got = parse_alb_line(line)
    assert isinstance(got, Bad)
    assert (got.reason, got.detail) == (reason, detail)
    assert got.excerpt == line[:200]


ALB_SAMPLE_LINES = (DATA / "alb.log").read_text().splitlines()


@pytest.mark.parametrize("line", ALB_SAMPLE_LINES, ids=[f"alb.log:{i}" for i in range(1, len(ALB_SAMPLE_LINES) + 1)])
def test_alb_fast_path_takes_the_samples_and_agrees_with_the_general_path(line):
    from sleuth.engine.ingest.formats.alb import _FAST, _parse_general
    assert _FAST.fullmatch(line) is not None
    assert parse_alb_line(line) == _parse_general(line)


@pytest.mark.parametrize("line", [c[1] for c in HOSTILE_ALB], ids=[c[0] for c in HOSTILE_ALB])
def test_alb_fast_and_general_paths_agree_on_hostile_lines(line):
    from sleuth.engine.ingest.formats.alb import _parse_general
    assert parse_alb_line(line) == _parse_general(line)


def test_alb_quotes_inside_request_and_user_agent():
    line = ALB_OK.replace("/api/v1/orders?page=2", '/api/v1/orders" x?page=2').replace(
        "Firefox/125.0", 'Firefox/125.0" onerror="alert(1)')
    ev = parse_alb_line(line)
    assert ev["path"] == '/api/v1/orders" x'
    assert ev["ua"] == ('Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0" '
                        'onerror="alert(1)')
    assert ev["alb"]["classification"] == "Acceptable"


def test_alb_unknown_trailing_fields_are_ignored():
    line = (DATA / "alb.log").read_text().splitlines()[0]
    ev = parse_alb_line(line + ' "future" field 42')
    assert ev == parse_alb_line(line)


def test_alb_huge_user_agent_and_many_quotes_stay_linear():
    ua = "A" * 1_000_000
    ev = parse_alb_line(ALB_OK.replace("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", ua))
    assert ev["ua"] == ua
    norm = Normalizer()(ev, "x", 1)
    assert len(norm["ua"]) == 65536 and norm["_invalid"] == {"ua": "truncated"}
    hostile = ALB_OK.replace("Firefox/125.0", '" "' * 200_000)
    got = parse_alb_line(hostile)
    assert isinstance(got, Bad) and got.reason == "unparsable-line"


def test_alb_not_utf8_is_escaped_not_refused():
    line = ALB_OK.encode().replace(b"/api/v1/orders", b"/api/v1/\xff\xfe")
    ev = parse_alb_line(line)
    assert ev["path"] == "/api/v1/\\xff\\xfe"


# -------------------------------------------------------------- hostile W3C

IIS_HEAD = (DATA / "iis.log").read_text().splitlines()[:4]
IIS_LINE = (DATA / "iis.log").read_text().splitlines()[4]


def _w3c(lines: list[str], flavour: str = "w3c") -> list:
    r = W3CReader(flavour)
    return [r.feed_line(line) for line in lines]


HOSTILE_W3C = [
    ("data-before-fields", ["2024-05-01 12:00:01 GET /"], "no-fields-header",
     "w3c: a data line before any #Fields directive"),
    ("too-few-values", [*IIS_HEAD, "2024-05-01 12:00:01 W3SVC2"], "field-count",
     "iis: 3 fields, the #Fields header declares 22"),
    ("too-many-values", [*IIS_HEAD, IIS_LINE + " extra"], "field-count",
     "iis: 23 fields, the #Fields header declares 22"),
    ("bad-date", [*IIS_HEAD, IIS_LINE.replace("2024-05-01", "01/05/2024")], "bad-time",
     "iis: not a W3C date and time (UTC): '01/05/2024' '12:00:01'"),
    ("impossible-date", [*IIS_HEAD, IIS_LINE.replace("2024-05-01", "2024-02-30")], "bad-time",
     "iis: unparsable time '2024-02-30T12:00:01Z'"),
    ("status-word", [*IIS_HEAD, IIS_LINE.replace(" 200 0 0 ", " OK 0 0 ")], "unparsable-line",
     "iis: sc-status is not a status code: 'OK'"),
    ("time-taken-word", [*IIS_HEAD, IIS_LINE[:-3] + "slow"], "unparsable-line",
     "iis: time-taken is not a duration: 'slow'"),
    ("unclosed-quote", ["#Version: 1.0", "#Fields: date time cs(User-Agent)", '2024-05-01 12:00:00 "curl'],
     "unparsable-line", "w3c: unclosed quoted string"),
    ("no-date-field", ["#Version: 1.0", "#Fields: cs-method cs-uri", "GET /"], "bad-time",
     "w3c: the #Fields header has no date and time fields"),
]


@pytest.mark.parametrize(("lines", "reason", "detail"), [c[1:] for c in HOSTILE_W3C], ids=[c[0] for c in HOSTILE_W3C])
def test_w3c_hostile(lines, reason, detail):
    got = _w3c(lines)[-1]
    assert isinstance(got, Bad)
    assert (got.reason, got.detail) == (reason, detail)


def test_w3c_broken_fields_directive_stops_reading_with_the_old_fields():
    lines = [*IIS_HEAD, "#Fields: " + " ".join(f"f{i}" for i in range(300)), IIS_LINE]
    got = _w3c(lines)
    assert isinstance(got[4], Bad) and got[4].reason == "unparsable-line"
    assert got[4].detail == "w3c: not a #Fields directive of at most 256 field names"
    assert isinstance(got[5], Bad) and got[5].reason == "no-fields-header"


def test_w3c_directives_blank_and_comment_lines_give_none():
    assert _w3c(["#Software: Microsoft Internet Information Services 10.0", "", "   ", "#", "# a comment",
                 "#Remark: x"]) == [None] * 6


def test_cloudfront_without_header_uses_the_default_fields():
    lines = (DATA / "cloudfront.log").read_text().splitlines()
    with_header = _w3c(lines, "cloudfront")[2:]
    without = _w3c(lines[2:], "cloudfront")
    assert without == with_header
    assert isinstance(_w3c(lines[2:], "w3c")[0], Bad)


def test_iis_flavour_from_fields_without_software_directive():
    lines = [line for line in (DATA / "iis.log").read_text().splitlines() if not line.startswith("#Software")]
    ev = _w3c(lines)[3]
    assert ev["latency_ms"] == 187.0 and ev["ts"] == 1714564800.813  # ms, and the start of the request


def test_w3c_generic_reads_time_taken_as_seconds_and_keeps_the_time():
    r = W3CReader()
    assert r.feed_line("#Version: 1.0") is None
    assert r.feed_line("#Fields: date time time-taken sc-status") is None
    assert r.feed_line("2024-05-01 12:00:00 1.5 200") == {"ts": 1714564800.0, "latency_ms": 1500.0, "status": 200}
    assert r.fields == ("date", "time", "time-taken", "sc-status")


def test_w3c_unknown_flavour():
    with pytest.raises(ValueError):
        W3CReader("apache")
    with pytest.raises(ValueError):
        parse_w3c_line(("date", "time"), "2024-05-01 12:00:00", "apache")


def test_parse_w3c_line_is_the_readers_function():
    fields = tuple(IIS_HEAD[3].split()[1:])
    assert parse_w3c_line(fields, IIS_LINE, "iis") == _w3c([*IIS_HEAD, IIS_LINE])[-1]
    assert parse_w3c_line(CLOUDFRONT_FIELDS, (DATA / "cloudfront.log").read_bytes().split(b"\n")[2],
                          "cloudfront")["ts"] == 1714564800.908


# ------------------------------------------------------------ hostile Envoy

ENVOY_OK = (DATA / "envoy.log").read_text().splitlines()[1]

HOSTILE_ENVOY = [
    ("not-envoy", "GET /api HTTP/1.1 200", "unparsable-line", 'envoy: not [START_TIME] "request" ...'),
    ("custom-start-time", ENVOY_OK.replace("2024-05-01T12:00:00.120Z", "01/May/2024:12:00:00"), "bad-time",
     "envoy: START_TIME is not the default %Y-%m-%dT%H:%M:%E3SZ"),
    ("impossible-time", ENVOY_OK.replace("2024-05-01T12:00:00.120Z", "2024-05-01T25:00:00.120Z"), "bad-time",
     "envoy: unparsable time '2024-05-01T25:00:00.120Z'"),
    ("truncated", ENVOY_OK[:ENVOY_OK.index(" 401 ")], "unparsable-line",
     "envoy: no '\"request\" code flags bytes bytes duration time \"...\"' part"),
    ("four-quoted-fields", ENVOY_OK[:ENVOY_OK.rindex(' "')], "unparsable-line",
     "envoy: no '\"request\" code flags bytes bytes duration time \"...\"' part"),
    ("count-word", ENVOY_OK.replace(" 412 61 ", " many 61 "), "unparsable-line",
     "envoy: no '\"request\" code flags bytes bytes duration time \"...\"' part"),
]


@pytest.mark.parametrize(("line", "reason", "detail"), [c[1:] for c in HOSTILE_ENVOY],
                         ids=[c[0] for c in HOSTILE_ENVOY])
def test_envoy_hostile(line, reason, detail):
    got = parse_envoy_line(line)
    assert isinstance(got, Bad)
    assert (got.reason, got.detail) == (reason, detail)


def test_envoy_quote_in_path_and_user_agent():
    line = ENVOY_OK.replace("/api/v1/login", '/api/v1/login"x').replace(
        "python-requests/2.31.0", 'python-requests/2.31.0" "evil')
    ev = parse_envoy_line(line)
    assert ev["path"] == '/api/v1/login"x' and ev["ua"] == 'python-requests/2.31.0" "evil'
    assert ev["envoy"]["request_id"] == "6a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9"


def test_envoy_trusted_hops():
    line = (DATA / "envoy.log").read_text().splitlines()[0]
    assert parse_envoy_line(line)["src_ip"] == "203.0.113.7"
    assert parse_envoy_line(line, 1)["src_ip"] == "198.51.100.23"
    assert "src_ip" not in parse_envoy_line(line, 2)
    got = list(iter_records("envoy", [line], "e", xff_trusted_hops=1))
    assert got[0][1]["src_ip"] == "198.51.100.23"
    with pytest.raises(ValueError):
        FORMATS["envoy"].reader(xff_trusted_hops=-1)


def test_envoy_upgraded_connection_is_an_event_at_its_close():
    line = ENVOY_OK.replace(" 401 - 412 61 396 395 ", " 101 - 0 0 300000 - ")
    assert parse_envoy_line(line)["ts"] == 1714564800.12 + 300.0


# ------------------------------------------------------- hostile JSON formats

CADDY_OK = orjson.loads((DATA / "caddy.log").read_bytes().splitlines()[1])
TRAEFIK_OK = orjson.loads((DATA / "traefik.log").read_bytes().splitlines()[1])

HOSTILE_JSON = [
    ("caddy-not-json", parse_caddy_line, b'{"level":"info","ts":', "not-json",
     "caddy: unexpected end of data: line 1 column 22 (char 21)"),
    ("caddy-invalid-utf8", parse_caddy_line, b'{"msg":"\xff"}', "bad-encoding", "caddy: invalid UTF-8 at byte 8"),
    ("caddy-array", parse_caddy_line, b"[1,2]", "not-access-record", "caddy: a JSON list, not an object"),
    ("caddy-other-logger", parse_caddy_line, b'{"logger":"http.handlers.reverse_proxy","msg":"x","request":'
     b'{"method":"GET","uri":"/"}}', "not-access-record",
     "caddy: not an access record (logger 'http.handlers.reverse_proxy')"),
    ("caddy-no-ts", parse_caddy, {**CADDY_OK, "ts": None}, "no-time", "caddy: no ts"),
    ("caddy-ts-word", parse_caddy, {**CADDY_OK, "ts": "yesterday"}, "bad-time",
     "caddy: unparsable time 'yesterday'"),
    ("caddy-ts-nan-ish", parse_caddy, {**CADDY_OK, "ts": 1e300}, "bad-time",
     "caddy: epoch number 1e+300 is too large for s, ms, µs or ns"),
    ("caddy-duration-word", parse_caddy, {**CADDY_OK, "duration": "forever"}, "bad-time",
     "caddy: duration 'forever' is not a duration"),
    ("caddy-duration-negative", parse_caddy, {**CADDY_OK, "duration": -1.0}, "bad-time",
     "caddy: duration '-1.0' is not a duration"),
    ("traefik-not-json", parse_traefik_line, b"time=x level=info", "not-json",
     "traefik: invalid literal, expected 'true': line 1 column 1 (char 0)"),
    ("traefik-app-log", parse_traefik_line, b'{"level":"warn","msg":"retrying","time":"2024-05-01T12:00:00Z"}',
     "not-access-record", "traefik: not an access record (msg 'retrying')"),
    ("traefik-no-time", parse_traefik, {k: v for k, v in TRAEFIK_OK.items() if k not in ("StartUTC", "StartLocal",
                                                                                           "time")},
     "no-time", "traefik: no StartUTC, StartLocal, nor time and Duration"),
    ("traefik-start-word", parse_traefik, {**TRAEFIK_OK, "StartUTC": "now"}, "bad-time",
     "traefik: unparsable time 'now'"),
]


@pytest.mark.parametrize(("parse", "value", "reason", "detail"), [c[1:] for c in HOSTILE_JSON],
                         ids=[c[0] for c in HOSTILE_JSON])
def test_json_formats_hostile(parse, value, reason, detail):
    got = parse(value)
    assert isinstance(got, Bad)
    assert (got.reason, got.detail) == (reason, detail)
    assert len(got.excerpt) <= 200


def test_json_formats_wrong_types_go_to_invalid_not_to_an_exception():
    norm = Normalizer()
    ev = norm(parse_caddy({**CADDY_OK, "status": "OK", "size": -5, "request": {**CADDY_OK["request"],
                                                                                "uri": ["/a"]}}), "c", 1)
    assert ev["_invalid"] == {"status": "unparsable", "resp_bytes": "out-of-range", "path": "wrong-type"}
    ev = norm(parse_traefik({**TRAEFIK_OK, "DownstreamStatus": True, "RequestMethod": {"x": 1}}), "t", 1)
    assert ev["_invalid"] == {"status": "wrong-type", "method": "wrong-type"}


def test_json_formats_take_any_python_object():
    """From another decoder (msgpack gives bytes, int keys): a Bad or an event, never an exception."""
    assert parse_caddy({"logger": b"\xff", 1: 2}).reason == "not-access-record"
    assert parse_traefik({1: "x", "RequestMethod": b"GET", "StartUTC": b"2024-05-01T12:00:00Z"})["ts"] == 1714564800.0
    assert parse_traefik(None).reason == "not-access-record"


def test_caddy_duration_forms():
    base = {**CADDY_OK, "ts": 1714564801.0}
    assert parse_caddy({**base, "duration": 0.5})["ts"] == 1714564800.5
    assert parse_caddy({**base, "duration": 500_000_000})["latency_ms"] == 500.0  # duration_format nano
    assert parse_caddy({**base, "duration": "1m2.5s"})["latency_ms"] == 62500.0  # duration_format string
    assert parse_caddy({**base, "ts": "2024-05-01T12:00:01Z", "duration": "250ms"})["ts"] == 1714564800.75
    assert parse_caddy({**base, "status": 101, "duration": 30.0})["ts"] == 1714564801.0


def test_traefik_time_minus_duration_when_no_start():
    obj = {k: v for k, v in TRAEFIK_OK.items() if k not in ("StartUTC", "StartLocal")}
    ev = parse_traefik(obj)
    assert ev["ts"] == 1714564801.0 - 0.087123  # logrus time has whole seconds here


# ------------------------------------------------------------ the interface

def test_format_table():
    assert list(FORMATS) == ["alb", "cloudfront", "w3c", "iis", "envoy", "caddy", "traefik"]
    for name, spec in FORMATS.items():
        assert spec.name == name
        assert spec.lateness == (120.0 if name == "iis" else 60.0)
        assert spec.stamped in ("start", "end")
        reader = spec.reader()
        assert reader.feed_line(b"") is None and reader.feed_line("  \r\n") is None


def test_iter_records_numbers_physical_lines_and_sets_ids():
    lines = (DATA / "envoy.log").read_bytes().split(b"\n")
    got = list(iter_records("envoy", [b"", *lines], "e.log"))
    assert [pos for pos, _ in got] == [2, 3, 4, 5, 6, 7]
    assert got[0][1]["id"] == "e.log:2"


if __name__ == "__main__" and "--update" in sys.argv:
    for sample in SAMPLES:
        out = b"".join(orjson.dumps(_as_json(pos, item)) + b"\n" for pos, item in _read(sample))
        (DATA / (sample + ".expected.jsonl")).write_bytes(out)
        print(f"wrote {sample}.expected.jsonl")
