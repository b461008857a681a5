"""The real honeynet2004 Apache logs (tests/data/honeynet2004) read end to end.

The numbers were computed once and every line the reader could not fully
parse was inspected by hand: all 38,487 lines are access-log lines, so none is
quarantined; 50 have a request field that is not "METHOD target [HTTP/x.y]"
(36 SOCKS probes "\\x05\\x01", 4 binary blobs, 9 Nikto XSS/quote probes, one
Code Red-style "XXXX...%u9090...=a HTTP/1.1") and keep it raw in ``request``;
229 are 408 timeouts with the request "-" (no method, no path).
"""

from __future__ import annotations

import collections

import pytest
from shared_data import shared_data

from sleuth.engine.ingest import Bad, Normalizer, open_source
from sleuth.engine.quarantine import Quarantine

DATA = shared_data("honeynet2004")
FILES = sorted(DATA.glob("access_log*"))

LINES_PER_FILE = {
    "access_log": 90, "access_log.1": 1199, "access_log.2": 417, "access_log.3": 658,
    "access_log.4": 692, "access_log.5": 251, "access_log.9": 173, "access_log.10": 557,
    "access_log.11": 955, "access_log.12": 853, "access_log.13": 352, "access_log.14": 557,
    "access_log.15": 6840, "access_log.16": 2781, "access_log.17": 1405, "access_log.18": 967,
    "access_log.19": 474, "access_log.20": 568, "access_log.21": 1523, "access_log.22": 2286,
    "access_log.23": 1415, "access_log.24": 9344, "access_log.25": 4130,
}


@pytest.fixture(scope="module")
def honeynet():
    """Every file read and normalised once: (events by (file, line), reader counts, quarantine)."""
    norm = Normalizer()
    q = Quarantine(keep=100)
    events = {}
    counts: collections.Counter = collections.Counter()
    per_file = {}
    for path in FILES:
        r = open_source(path, name=path.name)
        for pos, item in r:
            if isinstance(item, Bad):
                q.add_bad(r.name, pos, item)
                continue
            events[(path.name, pos)] = norm(item, r.name, pos)
        assert r.format == "apache"
        per_file[path.name] = r.counts["lines"]
        counts.update(r.counts)
    return events, counts, q, per_file


def test_all_files_are_there():
    assert [p.name for p in FILES] == sorted(LINES_PER_FILE)
    assert (DATA / "ABOUT.md").exists() and (DATA / "README.txt").exists()


def test_totals(honeynet):
    events, counts, q, per_file = honeynet
    assert per_file == LINES_PER_FILE
    assert dict(counts) == {"lines": 38487, "records": 38487, "empty": 0, "unparsed-request": 50}
    assert len(events) == 38487
    assert q.total == 0 and q.counts == {}


def test_method_and_status_mix(honeynet):
    events = honeynet[0]
    methods = collections.Counter(ev.get("method") for ev in events.values())
    assert methods == {
        "GET": 18388, "PROPFIND": 15244, "OPTIONS": 2798, "SEARCH": 1069, "CONNECT": 427,
        None: 279, "HEAD": 180, "POST": 42, "get": 31, "PUT": 21, "GET!not": 4, "200": 2,
        "TRACE": 1, "TRACK": 1,
    }
    statuses = collections.Counter(ev["status"] for ev in events.values())
    assert statuses == {404: 23682, 200: 11884, 414: 1048, 405: 761, 400: 748, 408: 229, 501: 98,
                        403: 20, 301: 10, 304: 6, 206: 1}
    unparsed = collections.Counter(ev["request"][:8] for ev in events.values() if "request" in ev)
    assert sum(unparsed.values()) == 50
    assert unparsed["\x05\x01"] == 36
    hosts = {ev["src_ip"] for ev in events.values() if not ev["src_ip"][0].isdigit()}
    assert len(hosts) == 1  # one client logged by hostname (HostnameLookups on for a while)
    assert sum(1 for ev in events.values() if not ev["src_ip"][0].isdigit()) == 10


def test_time_range(honeynet):
    ts = [ev["ts"] for ev in honeynet[0].values()]
    assert min(ts) == 1082559367.0  # 21/Apr/2004:10:56:07 -0400
    assert max(ts) == 1097493091.0


EXACT = {
    "first-line": (("access_log.25", 1), {
        "ts": 1082559367.0, "src_ip": "66.110.168.111", "method": "GET", "path": "/",
        "protocol": "HTTP/1.1", "status": 200, "resp_bytes": 2890,
        "ua": "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", "id": "access_log.25:1"}),
    "hostname-client": (("access_log.25", 559), {
        "ts": 1082649162.0, "src_ip": "pcp740115pcs.reston01.va.comcast.net", "method": "GET",
        "path": "/doc/rt/overview-summary.html", "protocol": "HTTP/1.0", "status": 403,
        "resp_bytes": 304, "ua": "Mozilla/4.75 (Nikto/1.32 )", "id": "access_log.25:559"}),
    "junk-method": (("access_log.25", 862), {
        "ts": 1082649246.0, "src_ip": "68.49.152.86", "method": "GET!not",
        "path": "found /cfdocs/expeval/openfile.cfm", "protocol": "HTTP/1.0", "status": 400,
        "resp_bytes": 371, "ua": "Mozilla/4.75 (Nikto/1.32 )", "id": "access_log.25:862"}),
    "numeric-method": (("access_log.25", 1495), {
        "ts": 1082649388.0, "src_ip": "68.49.152.86", "method": "200", "path": "/uploader.php",
        "protocol": "HTTP/1.0", "status": 501, "resp_bytes": 340, "ua": "Mozilla/4.75 (Nikto/1.32 )",
        "id": "access_log.25:1495"}),
    "unparsable-request": (("access_log.25", 1044), {
        "ts": 1082649313.0, "src_ip": "68.49.152.86", "request": "GET\" /hostadmin/?page=' HTTP/1.0",
        "status": 501, "resp_bytes": 345, "ua": "Mozilla/4.75 (Nikto/1.32 )", "id": "access_log.25:1044"}),
    "socks-probe": (("access_log.17", 1009), {
        "ts": 1087435968.0, "src_ip": "211.196.223.10", "request": "\x05\x01", "status": 501,
        "id": "access_log.17:1009"}),
    "timeout-408": (("access_log.10", 61), {
        "ts": 1091387042.0, "src_ip": "63.126.133.19", "status": 408, "id": "access_log.10:61"}),
    "lower-case-get": (("access_log.15", 3), {
        "ts": 1088334201.0, "src_ip": "172.169.205.172", "method": "get",
        "path": "/scripts/..%c0%af..%c0%af..%c0%af..%c0%af..%c0%af..%c0%af..%c0%af..%c0%af/winnt/system32/cmd.exe",
        "query": {"/c dir": ""}, "status": 501, "id": "access_log.15:3"}),
}


@pytest.mark.parametrize("key, expected", [pytest.param(*v, id=k) for k, v in EXACT.items()])
def test_exact_events(honeynet, key, expected):
    assert honeynet[0][key] == expected


def test_414_with_kilobyte_url(honeynet):
    ev = honeynet[0][("access_log", 74)]
    assert {k: v for k, v in ev.items() if k != "path"} == {
        "ts": 1097467150.0, "src_ip": "63.218.33.105", "method": "SEARCH", "status": 414,
        "resp_bytes": 349, "id": "access_log:74"}
    # 8,190 raw bytes of the WebDAV overflow, escaped the way Apache 2 logs bytes
    assert len(ev["path"]) == 32733
    assert ev["path"].startswith("/\\x90\\x02\\xb1\\x02\\xb1")
    big = [e for e in honeynet[0].values() if e["status"] == 414]
    assert len(big) == 1048
    assert min(len(e["path"]) for e in big) > 1000


def test_propfind_burst(honeynet):
    events = honeynet[0]
    burst = sorted((ev["ts"], pos) for (f, pos), ev in events.items()
                   if f == "access_log.24" and ev["src_ip"] == "82.82.97.119" and ev.get("method") == "PROPFIND")
    assert len(burst) == 6131
    assert burst[0] == (1083439690.0, 3018) and burst[-1] == (1083440014.0, 9161)
    per_second = collections.Counter(int(t) for t, _ in burst)
    assert max(per_second.values()) == 30
    ev = events[("access_log.24", 4158)]
    assert ev == {"ts": 1083439770.0, "src_ip": "82.82.97.119", "method": "PROPFIND", "path": "/admin%24",
                  "protocol": "HTTP/1.1", "status": 404, "resp_bytes": 290,
                  "ua": "Microsoft-WebDAV-MiniRedir/5.1.2600", "id": "access_log.24:4158"}


def test_events_are_fast_path_canonical(honeynet):
    # the reader's events are canonical: normalising again returns the same object
    n = Normalizer()
    for ev in list(honeynet[0].values())[:2000]:
        assert n(ev) is ev


def test_fast_and_general_line_parsers_agree():
    # parse_access_line takes a one-regex path for well-formed lines; it must
    # give exactly what the general parser gives (key order included).
    from sleuth.engine.ingest.accesslog import (
        _WELL_FORMED,
        _parse_access_line,
        escape_bytes,
        parse_access_line,
    )

    fast = 0
    for path in FILES:
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = escape_bytes(line)
            a, b = parse_access_line(text), _parse_access_line(text)
            assert a == b, text
            if isinstance(a, dict):
                assert list(a) == list(b), text
            fast += _WELL_FORMED.fullmatch(text) is not None
    assert fast == 36613
