"""CSV/TSV column advice (engine/ingest/columns.py): which columns map to no field, and the `--map` to pass.

One case per header shape a real log has: W3C names written as CSV columns,
Apache's `%h` called `host` (the client), a whole request line in one column,
a header that needs nothing, a `--map` already given, a user-agent column.
"""

from __future__ import annotations

import pytest

from sleuth.engine.ingest.columns import advice_text, advise

CASES = {
    "w3c-names": (
        {"time": "2024-05-01T12:00:00Z", "c-ip": "203.0.113.5", "cs-method": "GET", "cs-uri-stem": "/a",
         "sc-status": "200", "cs-username": "bob"}, None,
        {"src_ip": "c-ip", "method": "cs-method", "path": "cs-uri-stem", "status": "sc-status", "user": "cs-username"},
        (),
        ["x: columns c-ip, cs-method, cs-uri-stem, sc-status, cs-username map to no event field, and no column "
         "gives src_ip, method, path, status, user",
         "x: suggested: --map src_ip=c-ip --map method=cs-method --map path=cs-uri-stem --map status=sc-status "
         "--map user=cs-username"]),
    "host-is-the-client": (
        {"ts": "1714564800", "host": "203.0.113.5", "method": "GET", "path": "/a", "status": "200", "user": "u"},
        None, {"src_ip": "host"}, (),
        ["x: column 'host' is read as host, but its values look like src_ip (Apache calls the client %h, 'host')",
         "x: suggested: --map src_ip=host"]),
    "request-line-by-values": (
        {"ts": "1714564800", "req": "GET /a HTTP/1.1", "ip": "10.0.0.1", "st": "404"}, None,
        {"src_ip": "ip", "status": "st"}, ("method", "path", "user"),
        ["x: columns req, ip, st map to no event field, and no column gives src_ip, method, path, status, user",
         "x: column 'req' holds whole request lines (METHOD target HTTP/x): --map cannot split them; write "
         "method and path as columns of their own",
         "x: suggested: --map src_ip=ip --map status=st"]),
    "canonical-header": (
        {"ts": "1", "src_ip": "10.0.0.1", "method": "GET", "path": "/a", "status": "200", "user": "u"}, None,
        {}, (), []),
    "map-already-given": (
        {"ts": "1", "host": "10.0.0.1", "method": "GET", "path": "/a", "status": "200", "user": "u"},
        {"src_ip": "host"}, {}, (), []),
    "user-agent-by-name": (
        {"ts": "1", "src_ip": "10.0.0.1", "method": "GET", "path": "/a", "status": "200", "user": "u",
         "agent": "curl/8"}, None, {"ua": "agent"}, (),
        ["x: suggested: --map ua=agent"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_column_advice(case):
    row, mapping, suggest, missing, text = CASES[case]
    advice = advise(list(row), [row], mapping)
    assert advice.suggest == suggest
    assert advice.missing == missing
    assert advice.needed == bool(suggest or missing)
    assert advice_text("x", advice) == text
