"""AWS Application Load Balancer access logs -> canonical events (the reader stage).

One space-separated line per request, free-text fields in double quotes, in
the documented order; AWS appends new fields at the end and says to ignore
unknown trailing ones, so any line with at least the 18 fields of the first
version is read (up to the 33 known today: conn_trace_id, transformed_host,
transformed_uri, request_transform_status).  A quote inside the request or
user agent is tolerated: the line is re-split at up to 8 x 8 candidate field
ends and the split whose fields all have their documented shapes wins, so a
hostile line costs time linear in its length.
"""

from __future__ import annotations

import re
from typing import Any

from ._common import (
    Bad,
    bad,
    decode_line,
    split_host_port,
    split_request,
    time_of,
    to_int,
)

__all__ = ["ALB_FIELDS", "parse_alb_line"]

#: The documented fields in order (quoted ones in double quotes in the log).
ALB_FIELDS: tuple[str, ...] = (
    "type", "time", "elb", "client:port", "target:port", "request_processing_time",
    "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code",
    "received_bytes", "sent_bytes", "request", "user_agent", "ssl_cipher", "ssl_protocol",
    "target_group_arn", "trace_id", "domain_name", "chosen_cert_arn", "matched_rule_priority",
    "request_creation_time", "actions_executed", "redirect_url", "error_reason", "target:port_list",
    "target_status_code_list", "classification", "classification_reason", "conn_trace_id",
    "transformed_host", "transformed_uri", "request_transform_status",
)
_MIN_FIELDS = 18  # the first version of the format (up to trace_id)
_N_PREFIX = 12  # type .. sent_bytes: never quoted, never contain spaces
_QUOTED = frozenset((12, 13, 17, 18, 19, 22, 23, 24, 25, 26, 27, 28))
_UNQUOTED = frozenset((14, 15, 16, 20, 21))
_MAX_CANDIDATES = 8

_TYPE = re.compile(r"[a-z][a-z0-9]{0,15}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")
_STATUS = re.compile(r"\d{3}")
_PROC = re.compile(r"-1|\d{1,9}(?:\.\d{1,9})?")
_CIPHER = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TLS = re.compile(r"[A-Za-z0-9._-]{1,32}")
_ARN = re.compile(r"arn:\S{1,1000}")
_PRIORITY = re.compile(r"-1|\d{1,6}")

# Field index -> key under ev["alb"] for values kept as logged (text); "-" is left out.
_KEEP_TEXT = {
    2: "elb", 4: "target", 14: "ssl_cipher", 15: "ssl_protocol", 16: "target_group_arn",
    17: "trace_id", 18: "domain_name", 19: "chosen_cert_arn", 22: "actions_executed",
    23: "redirect_url", 24: "error_reason", 25: "target_port_list", 26: "target_status_code_list",
    27: "classification", 28: "classification_reason", 29: "conn_trace_id",
    30: "transformed_host", 31: "transformed_uri", 32: "request_transform_status",
}


def _tokens(text: str, start: int, first: int) -> list[tuple[str, bool]] | str:
    """Split at spaces from ``start`` (field number ``first``, 0-based); a field
    starting with a quote ends at a quote followed by a space or the end of the
    line.  A string is an error detail."""
    out: list[tuple[str, bool]] = []
    i, n = start, len(text)
    find = text.find
    while i < n:
        if text[i] == '"':
            j = i + 1
            while True:
                k = find('"', j)
                if k < 0:
                    return f"unclosed quote in field {first + len(out) + 1}"
                if k + 1 == n or text[k + 1] == " ":
                    break
                j = k + 1
            out.append((text[i + 1:k], True))
            i = k + 2
        else:
            k = find(" ", i)
            if k < 0:
                k = n
            out.append((text[i:k], False))
            i = k + 1
    return out


def _check_tail(toks: list[tuple[str, bool]], first: int) -> str | None:
    """The shapes of fields ``first``.. (index in the full line); an error detail or None."""
    for i, (v, quoted) in enumerate(toks, first):
        if i in _QUOTED:
            if not quoted:
                return f"field {i + 1} ({ALB_FIELDS[i]}) is not quoted"
            continue
        if i in _UNQUOTED and quoted:
            return f"field {i + 1} ({ALB_FIELDS[i]}) is quoted"
        if v == "-":
            continue
        if i == 14 and _CIPHER.fullmatch(v) is None:
            return f"field 15 (ssl_cipher) is not a cipher name: {v[:40]!r}"
        if i == 15 and _TLS.fullmatch(v) is None:
            return f"field 16 (ssl_protocol) is not a protocol name: {v[:40]!r}"
        if i == 16 and _ARN.fullmatch(v) is None:
            return f"field 17 (target_group_arn) is not an ARN: {v[:40]!r}"
        if i == 20 and _PRIORITY.fullmatch(v) is None:
            return f"field 21 (matched_rule_priority) is not a priority: {v[:40]!r}"
        if i == 21 and _TIME.fullmatch(v) is None:
            return f"field 22 (request_creation_time) is not an ISO 8601 UTC time: {v[:40]!r}"
    return None


def _split_free_text(text: str, rest: int) -> tuple[list[tuple[str, bool]], str | None]:
    """Fields 12.. when the plain split failed: try request and user-agent ends."""
    if text[rest:rest + 1] != '"':
        return [], "field 13 (request) is not quoted"
    first_error = None
    find = text.find
    k = rest
    for _ in range(_MAX_CANDIDATES):
        k = find('" "', k + 1)
        if k < 0:
            break
        request = text[rest + 1:k]
        m = k + 2
        for _ in range(_MAX_CANDIDATES):
            m = find('" ', m + 1)
            if m < 0:
                break
            toks = _tokens(text, m + 2, 14)
            if isinstance(toks, str):
                first_error = first_error or toks
                continue
            if len(toks) + 14 < _MIN_FIELDS:
                continue
            err = _check_tail(toks, 14)
            if err is None:
                return [(request, True), (text[k + 3:m], True), *toks], None
            first_error = first_error or err
    return [], first_error or "no '\"request\" \"user_agent\"' fields"


# The common well-formed line in one regex (no quote inside a quoted field): fields after
# trace_id are optional, each only if the one before it is there.  ~3x cheaper than the
# general path below, and must give the same event (tests check both on every sample line).
_Q = r' "([^"]*)"'
_U = r' ([^" ][^ ]*)'
_E = r' ("[^"]*"|[^" ][^ ]*)'  # conn_trace_id and later: quoted or not
_TAIL = [_Q, _Q, _U, _U, _Q, _Q, _Q, _Q, _Q, _Q, _Q, _E, _E, _E, _E]  # fields 19..33
_FAST = re.compile(
    r'([a-z][a-z0-9]{0,15}) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)'
    r' "([^"]*)" "([^"]*)" ([^" ][^ ]*) ([^" ][^ ]*) ([^" ][^ ]*) "([^"]*)"'
    # fields after the 33rd (AWS adds fields at the end) are ignored
    + "".join(f"(?:{t}" for t in _TAIL) + r"(?: .*)?" + ")?" * len(_TAIL))


def parse_alb_line(line: str | bytes) -> dict | Bad:
    """One ALB access-log line -> a canonical event dict (without ``id``), or a ``Bad``.

    ``ts`` is ``request_creation_time`` (when the load balancer received the
    request); lines of the older versions without it take ``time`` (when
    the response was sent) minus the processing times; an upgraded
    connection (status 101, WebSocket) takes ``time``, when it closed and
    was logged.  ``status`` is ``elb_status_code``; ``latency_ms`` the sum
    of the three processing times (absent when one is -1).  Everything else
    ALB logs is kept under ``ev["alb"]`` (docs/input.md lists the names).
    """
    text = decode_line(line)
    m = _FAST.fullmatch(text)
    if m is not None:
        fields = [v for v in m.groups() if v is not None]
        for i in range(29, len(fields)):
            v = fields[i]
            if v[:1] == '"':
                fields[i] = v[1:-1]
        # Quoting is the regex's; the shapes of the unquoted fields 15-17, 21, 22 are checked here.
        n = len(fields)
        c, p, a = fields[14], fields[15], fields[16]
        if ((c == "-" or _CIPHER.fullmatch(c)) and (p == "-" or _TLS.fullmatch(p))
                and (a == "-" or _ARN.fullmatch(a))
                and (n <= 20 or fields[20] == "-" or _PRIORITY.fullmatch(fields[20]))
                and (n <= 21 or fields[21] == "-" or _TIME.fullmatch(fields[21]))):
            return _build(text, fields)
    return _parse_general(text)


def _parse_general(text: str) -> dict | Bad:
    """Any line: the fields split one by one, quotes inside quoted fields tolerated."""
    parts = text.split(" ", _N_PREFIX)
    if len(parts) <= _N_PREFIX:
        return bad("field-count", f"alb: {len(parts)} fields, expected at least {_MIN_FIELDS}", text)
    err = _check_prefix(parts)
    if err is not None:
        return bad(err[0], err[1], text)
    start = len(text) - len(parts[_N_PREFIX])
    toks = _tokens(text, start, _N_PREFIX)
    err = toks if isinstance(toks, str) else None
    if err is None:
        if len(toks) + _N_PREFIX < _MIN_FIELDS:
            return bad("field-count", f"alb: {len(toks) + _N_PREFIX} fields, expected at least "
                                      f"{_MIN_FIELDS}", text)
        err = _check_tail(toks, _N_PREFIX)
    if err is not None:
        toks, err2 = _split_free_text(text, start)
        if err2 is not None:
            return bad("unparsable-line", f"alb: {err}", text)
    return _build(text, parts[:_N_PREFIX] + [v for v, _ in toks])


def _check_prefix(parts: list[str]) -> tuple[str, str] | None:
    """The shapes of the 12 unquoted leading fields: None, or (reason, detail)."""
    typ, when, _elb, client, target = parts[:5]
    if _TYPE.fullmatch(typ) is None:
        return "unparsable-line", f"alb: field 1 (type) is not a request type: {typ[:40]!r}"
    if _TIME.fullmatch(when) is None:
        return "bad-time", f"alb: field 2 (time) is not an ISO 8601 UTC time: {when[:60]!r}"
    if split_host_port(client) is None:
        return "unparsable-line", f"alb: field 4 (client:port) is not an address: {client[:60]!r}"
    if target != "-" and split_host_port(target) is None:
        return "unparsable-line", f"alb: field 5 (target:port) is not an address: {target[:60]!r}"
    for i in (5, 6, 7):
        if _PROC.fullmatch(parts[i]) is None:
            return "unparsable-line", f"alb: field {i + 1} ({ALB_FIELDS[i]}) is not seconds or -1: {parts[i][:40]!r}"
    for i in (8, 9):
        v = parts[i]
        if v != "-" and _STATUS.fullmatch(v) is None:
            return "unparsable-line", f"alb: field {i + 1} ({ALB_FIELDS[i]}) is not a status code: {v[:40]!r}"
    for i in (10, 11):
        v = parts[i]
        if v != "-" and to_int(v) is None:
            return "unparsable-line", f"alb: field {i + 1} ({ALB_FIELDS[i]}) is not a byte count: {v[:40]!r}"
    return None


def _build(text: str, fields: list[str]) -> dict | Bad:
    """The event of a split line (``fields``: 18 or more values, quotes removed)."""
    err = _check_prefix(fields)
    if err is not None:
        return bad(err[0], err[1], text)
    n = len(fields)
    typ, when, _elb, client, _target, t_req, t_target, t_resp, status, t_status, received, sent = fields[:12]
    times = [float(t_req), float(t_target), float(t_resp)]
    created = fields[21] if n > 21 else "-"
    if status == "101":
        # An upgraded connection (WebSocket) is logged when it closes: it is an event then,
        # not when it was opened (which would make it late by the connection's lifetime).
        ts = time_of(when)
    elif created != "-":
        ts = time_of(created)
    else:
        ts = time_of(when)
        if type(ts) is float:
            ts = max(0.0, round(ts - sum(t for t in times if t > 0), 6))
    if type(ts) is not float:
        return bad("bad-time", f"alb: {ts}", text)
    hp = split_host_port(client)
    ev: dict[str, Any] = {"ts": ts, "src_ip": hp[0]}
    # A malformed request is logged as "- http://host:port- -": kept raw in ev["request"].
    split_request(fields[12], ev, absolute=True)
    host = ev.get("host")
    if host is not None:
        # The listener port is always written after the host: the API host is without it.
        hport = split_host_port(host)
        if hport is not None:
            ev["host"] = hport[0]
    if status != "-":
        ev["status"] = int(status)
    if times[0] >= 0 and times[1] >= 0 and times[2] >= 0:
        ev["latency_ms"] = round((times[0] + times[1] + times[2]) * 1000.0, 3)
    ua = fields[13]
    if ua and ua != "-":
        ev["ua"] = ua
    alb: dict[str, Any] = {"type": typ}
    if hp[1] is not None:
        alb["client_port"] = hp[1]
    for i, key in _KEEP_TEXT.items():
        if i >= n:
            break
        v = fields[i]
        if v != "-" and v != "":
            alb[key] = v
    if t_status != "-":
        alb["target_status"] = int(t_status)
    alb["request_processing_time"], alb["target_processing_time"], alb["response_processing_time"] = times
    if received != "-":
        alb["received_bytes"] = int(received)
    if sent != "-":
        alb["sent_bytes"] = int(sent)
    if n > 20 and fields[20] != "-":
        alb["matched_rule_priority"] = int(fields[20])
    alb["time"] = when
    ev["alb"] = alb
    return ev
