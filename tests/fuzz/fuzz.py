#!/usr/bin/env python
"""The long fuzz run: hostile events and hostile rule texts, zero unhandled exceptions.

Events (``--events N``), in rounds of ``--round`` events, each round on a
fresh engine over one of the packs (the fuzz pack below, and the shipped
pack): three generators mixed,

- structure-aware: canonical API events with 0-4 mutations each (a field
  replaced by a hostile value of any msgpack type, deleted, renamed to an
  alias, nested; the time made late, equal, far-future, far-past, textual);
- random values: arbitrary nested structures (not only mappings);
- through the readers: JSON lines, mutated at the byte level (flips,
  truncation, duplicated keys, NaN, deep nesting, random bytes), and the
  same records as msgpack, CSV and access-log text, read by
  ``open_source`` and fed in batches.

Checked: ``feed``/``feed_many``/``close`` never raise; every match
serialises (``to_json``); no rule raises at run time (``rule-error``); at
the end of each round processed + quarantined == fed; a snapshot taken
mid-round restores and the run continues.

Rule texts (``--rules M``): mutations of the shipped pack's files and of
the fuzz pack (character, line and token level), token soup, and
grammar-based generation of valid-ish rules (every clause, absurd sizes,
catastrophic regexes, injection strings). Checked: each text loads or
raises ``PackError``/``RuleSyntaxError`` whose diagnostics carry a code
and a span inside a known source; nothing else escapes; a text that loads
runs 200 events without an exception or a rule error.

Failures are written to ``--out`` (one JSON file each, with the input and
the traceback) and grouped by signature. Signatures of known, reported
bugs (``KNOWN``) are counted apart and fail the run only with ``--strict``.

    python tests/fuzz/fuzz.py --events 1000000 --rules 10000 --seed 1
    python tests/fuzz/fuzz.py --events 20000 --rules 300 --seed 7 --json
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import msgpack
import orjson

from sleuth.dsl import load_pack
from sleuth.dsl.errors import PackError, RuleSyntaxError
from sleuth.engine import Engine
from sleuth.engine.ingest import Bad, open_source

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0

# Signatures (regex over "Type: message") of bugs already reported, with the
# test that pins each one.
KNOWN = {
    r"TypeError: Integer exceeds 64-bit range":
        "tests/reliability/test_hostile_input.py::test_sum_beyond_64_bits_never_crashes_the_output",
    r"SnapshotError: state cannot be serialised: recursion limit exceeded":
        "tests/reliability/test_resume.py::test_a_deeply_nested_json_field_never_breaks_checkpointing",
    r"SnapshotError: corrupt snapshot: StackError":
        "tests/reliability/test_resume.py::test_a_deeply_nested_json_field_never_breaks_checkpointing",
    r"ValueError: embedded null byte":
        "tests/reliability/test_hostile_rules.py::test_a_nul_in_a_path_is_a_diagnostic",
    r"RecursionError: maximum recursion depth exceeded while getting the repr":
        "tests/reliability/test_hostile_input.py::test_deeply_nested_values_are_counted_by_aggregates",
}

META = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'
FUZZ_PACK = f'''
macro login_fail = route == "/login" and status in (401, 403, 429)
list bad_nets = ["10.0.0.0/8", "192.168.1.1", "2001:db8::/32"]
list words = ["admin", "root", "\\"quoted\\"", "back\\\\slash"]

rule ato {{
  {META}
  by user
  within 5m
  sequence {{
    fails:  login_fail repeat >= 3
    ok:     route == "/login" and status == 200
    change: route == "/account/email" and src_ip != fails.src_ip
  }}
  until route == "/logout"
  unless mfa: route == "/mfa" between ok and change
  emit {{ first_ip = fails.src_ip }}
  suppress 2m
}}
rule trailing {{
  {META}
  by user within 5m
  sequence {{ req: route == "/reset" repeat 2..4 }}
  unless done: route == "/done" after req within 30s
}}
rule stepwin {{
  {META}
  by src_ip within 10m
  sequence {{
    probe: status == 404 window 1m having count() >= 3
    hit:   status == 200 and length(path) > 3 within 2m
  }}
}}
rule perstep {{
  {META}
  by session within 5m
  sequence {{
    a: route == "/a" by user
    b: route == "/b" by user
  }}
}}
rule burst {{
  {META}
  by src_ip
  window 1m
  where not exists(headers.x-api-key)
  having count() >= 5 and distinct(user) >= 2 and ratio(status >= 400) > 0.2 and entropy(path) >= 0
  emit {{ n = count(), s = sum(resp_bytes), a = avg(latency_ms), top = sample(user, 3), c = changes(route),
          lo = min(req_bytes), hi = max(req_bytes), r = rate(), cv = cv(interarrival()),
          j = jitter(interarrival()) }}
  refire cooldown 20s
}}
rule steady {{
  {META}
  by user
  window 1m tumbling
  having count() >= 4 or count() > 2 * baseline(count(), 5m)
  emit {{ n = count(), u = distinct(src_ip) }}
}}
rule sustained {{
  {META}
  by user
  window 30s tumbling
  having count() >= 2 for 1m
}}
rule session_heavy {{
  {META}
  by src_ip
  window session gap 30s
  having count() >= 4 and max(resp_bytes) > 1000
  emit {{ avg_bytes = avg(resp_bytes), rate = rate() }}
  refire keep
}}
rule new_ip {{
  {META}
  by user
  window 10m
  having first_seen(src_ip, 1h) and count() >= 2
}}
rule fields {{
  {META}
  by user, src_ip
  when (ua =~ /bot|crawl|spider/i or path ~ "/api/*/admin*" or lower(user) in @words or src_ip in @bad_nets
        or cidr(src_ip, "172.16.0.0/12") or startswith(path, "/internal") or query.debug == "1"
        or headers.x-forwarded-for == src_ip or hour(ts) == 3 or int(status / 100) == 5
        or latency_ms * 2 > 1e6 or req_bytes - resp_bytes > 100000 or -asn < -65000 or weekday(ts) == 6)
        and country != "ZZ"
  emit {{ u = upper(user), l = length(ua), p = str(status), f = float(asn), d = abs(req_bytes - 5) }}
  fingerprint user, route
  suppress 30s by src_ip
}}
rule campaign {{
  {META}
  from matches
  by user
  window 10m
  having distinct(rule) >= 2
}}
rule chain {{
  {META}
  from matches
  where rule == "campaign"
  by user
  window 1h
  having count() >= 1
}}
'''

# ---------------------------------------------------------------- hostile values

USERS = ["alice", "bob", "carol", "ADMIN", "root", "", "\"quoted\"", "back\\slash", "ünïcødé", "𝔘"]
IPS = ["10.0.0.1", "10.0.0.2", "192.168.1.1", "172.16.5.4", "8.8.8.8", "2001:db8::1", "::1", "999.1.1.1",
       "not-an-ip", ""]
ROUTES = ["/login"] * 5 + ["/account/email", "/mfa", "/logout", "/reset", "/done", "/a", "/b", "/x",
                           "/api/v1/admin", "/internal/x"]
ALIASES = {"ts": ["@timestamp", "timestamp", "time"], "src_ip": ["source.ip", "client.ip"],
           "user": ["user.name", "enduser.id"], "status": ["http.response.status_code"],
           "method": ["http.request.method"], "ua": ["user_agent.original"], "path": ["url.path"],
           "latency_ms": ["event.duration"]}


def hostile_value(rnd: random.Random, depth: int = 0):
    """A value of any msgpack type, biased to edges (the reader can deliver all of these)."""
    r = rnd.random()
    if r < 0.12:
        return rnd.choice([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, -2**63, 2**64 - 1, 401, 200, 65535, 10**18])
    if r < 0.22:
        return rnd.choice([0.0, -0.0, 1.5, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf, 401.0, 1e15])
    if r < 0.27:
        return rnd.choice([None, True, False])
    if r < 0.50:
        return rnd.choice([
            "", " ", "\x00", "\n\r\t", "401", " 401 ", "4e2", "1e400", "nan", "-inf", "0x10", "9" * 40,
            "2026-01-01T00:00:00Z", "10/Oct/2004:04:20:13 -0400", "yesterday", "1700000000", "1700000000000",
            "a" * rnd.choice([100, 5000, 70_000]), "\u202e\u2028\ufeff", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "x" * 9000 + "bot",
            "Googlebot/2.1", "/api/v1/admin", "/internal/" + "a" * 300, "10.0.0.1", "2001:db8::dead",
            "\"); __import__('os') #", "{\"nested\": \"json\"}", "%00%ff%", "debug=1&a=2&a=3",
        ] + USERS + IPS)
    if r < 0.55:
        return rnd.choice([b"", b"\xff\xfe", b"bot", bytes(rnd.randrange(256) for _ in range(20))])
    if r < 0.60 and depth < 3:
        return msgpack.ExtType(rnd.randrange(128), bytes(rnd.randrange(256) for _ in range(rnd.randrange(8))))
    if depth >= 4:
        return rnd.choice(["leaf", 1, None])
    if r < 0.80:
        return [hostile_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if r < 0.97:
        out = {}
        for _ in range(rnd.randrange(5)):
            k = rnd.choice(["a", "x-api-key", "debug", "ip", "X-Forwarded-For", "", "ts", 1, 1.5, True, None,
                            b"k", "\x00"])
            out[k] = hostile_value(rnd, depth + 1)
        return out
    return deep(rnd.choice([100, 1000, 1020]))


def deep(levels: int):
    root: dict = {}
    cur = root
    for _ in range(levels):
        cur["a"] = {}
        cur = cur["a"]
    return root


def canonical(rnd: random.Random, t: float, i: int) -> dict:
    route = rnd.choice(ROUTES)
    return {
        "id": f"e{i}", "ts": t, "user": rnd.choice(USERS[:5]), "src_ip": rnd.choice(IPS[:6]),
        "session": f"s{rnd.randrange(5)}", "method": rnd.choice(["GET", "POST", "PUT"]),
        "route": route, "path": route if rnd.random() < 0.8 else route + "/" + str(rnd.randrange(100)),
        "status": rnd.choice([200, 200, 200, 401, 403, 404, 429, 500]),
        "ua": rnd.choice(["Mozilla/5.0", "curl/8", "Googlebot/2.1", "python-requests", ""]),
        "resp_bytes": rnd.choice([10, 500, 2000, 9000]), "req_bytes": rnd.choice([0, 100, 200_000]),
        "latency_ms": rnd.uniform(0.1, 900), "asn": rnd.choice([64500, 65001, 13335]),
        "country": rnd.choice(["US", "DE", "ZZ"]), "headers": {"x-forwarded-for": rnd.choice(IPS[:3])},
        "query": {"debug": rnd.choice(["0", "1"])},
    }


def mutate_event(rnd: random.Random, ev: dict) -> dict:
    ev = dict(ev)
    for _ in range(rnd.choice([0, 0, 1, 1, 2, 3, 4])):
        op = rnd.random()
        keys = list(ev) or ["ts"]
        k = rnd.choice(keys)
        if op < 0.40:
            ev[k] = hostile_value(rnd)
        elif op < 0.50:
            ev.pop(k, None)
        elif op < 0.60 and k in ALIASES:
            alias = rnd.choice(ALIASES[k])
            v = ev.pop(k)
            if rnd.random() < 0.5 and "." in alias:
                head, _, tail = alias.partition(".")
                ev[head] = {tail: v} if rnd.random() < 0.5 else {**(ev.get(head) if isinstance(ev.get(head), dict)
                                                                    else {}), tail: v}
            else:
                ev[alias] = v
        elif op < 0.75:
            t = ev.get("ts") if isinstance(ev.get("ts"), float) else T0
            if rnd.random() < 0.85:      # disorder within or just beyond the lateness, ties
                ev["ts"] = rnd.choice([t, t, t - 0.5, t - 3, t - 6, t - 61, t + 1e-9, t + 0.001])
            else:                        # far away or unreadable
                ev["ts"] = rnd.choice([t - 1e6, t + 86400 * rnd.uniform(2, 4000), -1.0, 0.0, 253402300800.0,
                                       t * 1000, t * 1e9, str(t), "2023-11-14T22:13:20.5+02:00",
                                       "14/Nov/2023:22:13:20 +0000", "garbage", None, True, [t], {"t": t}])
        elif op < 0.85:
            ev[rnd.choice(["note", "body", "nested", "_invalid", "spec", "protocol", "request"])] = \
                hostile_value(rnd)
        elif op < 0.92:
            ev["headers"] = hostile_value(rnd) if rnd.random() < 0.5 else {
                rnd.choice(["X-Api-Key", "x-forwarded-for", "X-FORWARDED-FOR", 7]): hostile_value(rnd)}
        else:
            ev["query"] = rnd.choice([hostile_value(rnd), "debug=1&" + "a=" * 3000, "?debug=1", "%zz&=&&="])
    return ev


def random_record(rnd: random.Random):
    """Not necessarily a mapping: what a broken producer might send."""
    v = hostile_value(rnd)
    if rnd.random() < 0.5:
        return {"ts": rnd.choice([T0 + rnd.uniform(0, 1000), "2023-11-14T22:13:20Z", hostile_value(rnd)]),
                **({"x": v} if not isinstance(v, dict) else {str(k): x for k, x in v.items()})}
    return v


# ---------------------------------------------------------------- byte-level input

def mutate_bytes(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randrange(1, 4)):
        op = rnd.random()
        if not b:
            b += bytes([rnd.randrange(256)])
        i = rnd.randrange(len(b))
        if op < 0.3:
            b[i] = rnd.randrange(256)
        elif op < 0.45:
            del b[i:i + rnd.randrange(1, 10)]
        elif op < 0.6:
            b[i:i] = rnd.choice([b"NaN", b"Infinity", b"\xff", b"\\u0000", b'"ts":1,"ts":"x",', b"{", b"]",
                                 b"99999999999999999999999", b"\x00", b"\r", b'\\ud800', b"1e999"])
        elif op < 0.7:
            b = b[:i]
        elif op < 0.8:
            b = bytearray(b'{"a":' * rnd.choice([10, 1024, 1030, 5000]) + b"1" + b"}" * rnd.choice([10, 1024, 5000]))
        else:
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 30)))
    return bytes(b)


def _cell(v) -> str:
    try:
        return str(v)[:5000]
    except Exception:  # noqa: BLE001 - deep nesting
        return "?"


def reader_blob(rnd: random.Random, t: float, n: int) -> tuple[str, bytes, float]:
    """(format, bytes, time of the last record) holding about n records, some broken."""
    fmt = rnd.choice(["jsonl", "jsonl", "jsonl", "auto", "msgpack", "csv", "apache"])
    evs = []
    for i in range(n):
        t += rnd.choice([0.01, 0.5, 2.0])
        evs.append(mutate_event(rnd, canonical(rnd, t, i)) if rnd.random() < 0.5 else canonical(rnd, t, i))
    if fmt in ("jsonl", "auto"):
        lines = []
        for ev in evs:
            try:
                line = orjson.dumps(ev, default=repr, option=orjson.OPT_NON_STR_KEYS)
            except Exception:  # noqa: BLE001 - unencodable (deep, huge ints): send something else
                line = b'{"unencodable": true}'
            if rnd.random() < 0.15:
                line = mutate_bytes(rnd, line)
            lines.append(line)
        if rnd.random() < 0.1:
            lines.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(200))))
        return fmt, b"\n".join(lines) + rnd.choice([b"\n", b"", b"\r\n"]), t
    if fmt == "msgpack":
        out = bytearray()
        for ev in evs:
            try:
                out += msgpack.packb(ev, use_bin_type=True, default=repr)
            except Exception:  # noqa: BLE001 - unencodable value
                out += msgpack.packb({"ts": t})
        if rnd.random() < 0.05:          # one bad byte spoils the rest of a msgpack stream
            out = bytearray(mutate_bytes(rnd, bytes(out)))
        return fmt, bytes(out), t
    if fmt == "csv":
        rows = ["ts,src_ip,user,method,path,status,ua"]
        for ev in evs:
            cells = [_cell(ev.get(k, "")) for k in ("ts", "src_ip", "user", "method", "path", "status", "ua")]
            row = ",".join('"' + c.replace('"', '""') + '"' if rnd.random() < 0.3 else c.replace(",", " ")
                           for c in cells)
            if rnd.random() < 0.05:
                row += ',"unclosed'
            rows.append(row)
        return fmt, "\n".join(rows).encode("utf-8", "surrogatepass"), t
    lines = []
    for ev in evs:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ev["ts"] if isinstance(ev.get("ts"), float)
                                                                     and 0 < ev["ts"] < 1e10 else t))
        c = {k: _cell(ev.get(k, d)) for k, d in (("src_ip", "-"), ("user", "-"), ("method", "GET"),
                                                  ("path", "/"), ("status", 200), ("ua", "-"))}
        line = (f'{c["src_ip"]} - {c["user"]} [{stamp}] '
                f'"{c["method"]} {c["path"]} HTTP/1.1" {c["status"]} 123 "-" "{c["ua"]}"').encode("utf-8", "surrogatepass")
        if rnd.random() < 0.15:
            line = mutate_bytes(rnd, line)
        lines.append(line)
    return fmt, b"\n".join(lines) + b"\n", t


# ---------------------------------------------------------------- rule texts

KEYWORDS = ["rule", "macro", "list", "import", "test", "meta", "by", "within", "window", "where", "when",
            "having", "sequence", "until", "unless", "between", "after", "emit", "suppress", "from", "matches",
            "limit", "fingerprint", "refire", "repeat", "for", "session", "gap", "sliding", "tumbling",
            "events", "expect", "match", "no", "and", "or", "not", "in", "true", "false", "file", "cooldown"]
PUNCT = ["{", "}", "(", ")", "[", "]", ",", ":", "=", "==", "!=", "<", "<=", ">", ">=", "~", "=~", "+", "-",
         "*", "/", "%", "@", ".", "..", "\n", "#", '"', "$", "\\", "\t", ";"]
LITERALS = ['"s"', '"a\\"b"', '"""long\nstring"""', "401", "-1", "1.5", "2e3", "500ms", "5m", "1h", "30d",
            "31d", "0s", "99999999999999999999w", "10.0.0.0/8", "1.2.3.4", "/^bot/i", "/(a+)+$/", "/((a+))+$/",
            "/.*.*.*x/", '"*a*"', str(10**30), '"\\u0000"', '"\\"); __import__(\'os\')"']
FIELDS = ["status", "user", "src_ip", "route", "path", "ua", "method", "asn", "latency_ms", "req_bytes",
          "resp_bytes", "headers.x-api-key", "query.debug", "spec.documented", "ts", "country", "session",
          "nope", "__class__", "a.b.c.d.e"]
DURATIONS = ["1ms", "500ms", "1s", "30s", "1m", "5m", "1h", "1d", "30d", "31d", "0s", "1000d", "0.0001ms"]
AGGS = ["count()", "count(status >= 400)", "ratio(status == 401)", "distinct(src_ip)", "sum(resp_bytes)",
        "min(latency_ms)", "max(req_bytes)", "avg(latency_ms)", "entropy(path)", "cv(interarrival())",
        "jitter(interarrival())", "changes(route)", "rate()", "sample(user, 3)", "sample(user, 100000)",
        "first_seen(src_ip, 1h)", "baseline(count(), 10m)", "distinct(headers)", "count(nope)", "sum(user)"]
TTPS = ["scraping", "credential-stuffing", "account-takeover", "campaign", "nope"]


def _lit(rnd):
    return rnd.choice(LITERALS + ['"' + rnd.choice(USERS).replace("\\", "\\\\").replace('"', '\\"') + '"'])


def gen_expr(rnd: random.Random, depth: int = 0, steps=()) -> str:
    r = rnd.random()
    if depth > 3 or r < 0.35:
        f = rnd.choice(FIELDS + [f"{s}.{rnd.choice(FIELDS)}" for s in steps])
        op = rnd.choice(["==", "!=", "<", ">=", "in", "not in", "~", "=~"])
        if op in ("in", "not in"):
            return f"{f} {op} " + rnd.choice(["(401, 403)", '["a", "b"]', "@words", "@nope", "10.0.0.0/8",
                                                "(" + ", ".join(_lit(rnd) for _ in range(3)) + ")"])
        return f"{f} {op} {_lit(rnd)}"
    if r < 0.5:
        return rnd.choice(["lower", "upper", "length", "exists", "int", "str", "float", "abs", "hour",
                           "startswith", "cidr", "nope"]) + "(" + rnd.choice(FIELDS) + \
            rnd.choice(["", ', "x"', ", 1"]) + ")" + rnd.choice(["", " == 1", ' == "x"', " > 3"])
    if r < 0.6:
        return "not " + gen_expr(rnd, depth + 1, steps)
    if r < 0.7:
        return f"({rnd.choice(FIELDS)} {rnd.choice(['+', '-', '*', '/', '%'])} {_lit(rnd)}) > {_lit(rnd)}"
    return f"({gen_expr(rnd, depth + 1, steps)} {rnd.choice(['and', 'or'])} {gen_expr(rnd, depth + 1, steps)})"


def gen_rule(rnd: random.Random, name: str) -> str:
    kind = rnd.choice(["event", "sequence", "window", "window"])
    parts = [f'meta {{ ttp = "{rnd.choice(TTPS)}" goal = "scraping" severity = {rnd.choice(["low", "high", "x"])}'
             f' title = {_lit(rnd)} }}']
    if rnd.random() < 0.8:
        parts.append("by " + ", ".join(rnd.sample(FIELDS[:8], rnd.randrange(1, 3))))
    if rnd.random() < 0.15:
        parts.append("from matches")
    if kind == "event":
        parts.append("when " + gen_expr(rnd))
    elif kind == "sequence":
        parts.append(f"within {rnd.choice(DURATIONS)}")
        names = [rnd.choice(["a", "b", "c", "fails", "ok", "status"]) + str(i) for i in range(rnd.randrange(1, 5))]
        steps = []
        for i, s in enumerate(names):
            mod = rnd.choice(["", "", " repeat 3", " repeat >= 2", " repeat 2..5", " repeat 0", " repeat 5..2",
                              f" repeat {rnd.choice([1000, 1001, 10**6])}", f" within {rnd.choice(DURATIONS)}",
                              f" window {rnd.choice(DURATIONS)} having {rnd.choice(AGGS)} >= 2", " by session"])
            steps.append(f"  {s}: {gen_expr(rnd, 1, names[:i])}{mod}")
        parts.append("sequence {\n" + "\n".join(steps) + "\n}")
        if rnd.random() < 0.3:
            parts.append("until " + gen_expr(rnd, 2))
        if rnd.random() < 0.3 and len(names) > 1:
            parts.append(f"unless n: {gen_expr(rnd, 2)} between {names[0]} and {names[-1]}")
        if rnd.random() < 0.3:
            parts.append(f"unless m: {gen_expr(rnd, 2)} after {names[-1]} within {rnd.choice(DURATIONS)}")
    else:
        wk = rnd.choice(["", " sliding", " tumbling"])
        parts.append(rnd.choice([f"window {rnd.choice(DURATIONS)}{wk}", f"window session gap {rnd.choice(DURATIONS)}"]))
        if rnd.random() < 0.5:
            parts.append("where " + gen_expr(rnd, 1))
        having = " and ".join(f"{rnd.choice(AGGS)} {rnd.choice(['>=', '>', '<', '=='])} {rnd.choice(['1', '2', '0.5', '3 * baseline(count(), 1h)'])}"
                              for _ in range(rnd.randrange(1, 4)))
        parts.append("having " + having + (f" for {rnd.choice(DURATIONS)}" if rnd.random() < 0.2 else ""))
        if rnd.random() < 0.3:
            parts.append(rnd.choice(["refire reset", "refire keep", f"refire cooldown {rnd.choice(DURATIONS)}",
                                     "refire never"]))
    if rnd.random() < 0.4:
        parts.append("emit { " + ", ".join(f"{rnd.choice(['n', 'x', 'rule', 'key', '__import__', 'k0'])}{i} = "
                                           f"{rnd.choice(AGGS + FIELDS)}" for i in range(rnd.randrange(1, 4))) + " }")
    if rnd.random() < 0.2:
        parts.append(f"suppress {rnd.choice(DURATIONS)}" + (" by src_ip" if rnd.random() < 0.5 else ""))
    if rnd.random() < 0.2:
        parts.append("limit " + ", ".join(f"{rnd.choice(['keys', 'partials', 'events', 'distinct', 'values', 'window', 'memory'])} "
                                          f"{rnd.choice([0, 1, 64, 65, 10_000, 10**7, 10**8, 10**30])}"
                                          for _ in range(rnd.randrange(1, 3))))
    if rnd.random() < 0.1:
        parts.append(f"fingerprint {rnd.choice(FIELDS)}, {_lit(rnd)}")
    if rnd.random() < 0.1:
        rnd.shuffle(parts)
    return f"rule {name} {{\n  " + "\n  ".join(parts) + "\n}\n"


STR_FIELDS = ["user", "route", "path", "ua", "method", "country", "session", "headers.x-api-key", "query.debug"]
INT_FIELDS = ["status", "asn", "req_bytes", "resp_bytes"]
GOOD_DURATIONS = ["1s", "30s", "1m", "5m", "10m", "1h"]
GOOD_TTPS = ["scraping", "credential-stuffing", "account-takeover", "enumeration", "campaign"]


def _str_lit(rnd) -> str:
    v = rnd.choice(USERS + ROUTES + ["GET", "POST", "\\", "\"); __import__('os') #", "*", "US"])
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def good_expr(rnd: random.Random, depth: int = 0, steps=()) -> str:
    """A well-typed condition (most of these check)."""
    r = rnd.random()
    if depth < 2 and r < 0.25:
        op = rnd.choice(["and", "or"])
        return f"({good_expr(rnd, depth + 1, steps)} {op} {good_expr(rnd, depth + 1, steps)})"
    if depth < 2 and r < 0.3:
        return "not " + good_expr(rnd, depth + 1, steps)
    if steps and r < 0.4:
        s = rnd.choice(steps)
        return rnd.choice([f"src_ip != {s}.src_ip", f"user == {s}.user", f"status > {s}.status"])
    kind = rnd.random()
    if kind < 0.45:
        f = rnd.choice(STR_FIELDS)
        return rnd.choice([
            f"{f} == {_str_lit(rnd)}", f"{f} != {_str_lit(rnd)}", f"{f} in ({_str_lit(rnd)}, {_str_lit(rnd)})",
            f"{f} =~ /{rnd.choice(['bot', '^/api', 'a|b', '[0-9]+$', 'x{2,5}', '(ab|cd)+e', '.*x'])}/"
            f"{rnd.choice(['', 'i'])}",
            f'{f} ~ "{rnd.choice(["/api/*", "*bot*", "?x*", "[!a]*"])}"', f"lower({f}) == {_str_lit(rnd)}",
            f"startswith({f}, {_str_lit(rnd)})", f"length({f}) > {rnd.randrange(10)}", f"exists({f})",
            f"{f} in @words"])
    if kind < 0.8:
        f = rnd.choice(INT_FIELDS)
        n = rnd.choice([0, 1, 200, 401, 500, 10**6, 2**62])
        return rnd.choice([f"{f} >= {n}", f"{f} == {n}", f"{f} in (401, 403, 429)", f"({f} + 1) > {n}",
                           f"{f} / 100 == 5", f"{f} % 7 == 3", f"{f} * {n} > {n}"])
    if kind < 0.9:
        return rnd.choice(["latency_ms > 1.5", "latency_ms * 2 >= 100.0", "hour(ts) == 3"])
    return rnd.choice(["src_ip in 10.0.0.0/8", 'cidr(src_ip, "192.168.0.0/16")', "src_ip in @bad_nets",
                       "src_ip not in 10.0.0.0/8"])


def good_agg(rnd: random.Random, tumbling: bool) -> str:
    f = rnd.choice(STR_FIELDS)
    i = rnd.choice(INT_FIELDS)
    choices = [f"count() >= {rnd.randrange(1, 6)}", f"distinct({f}) >= {rnd.randrange(1, 4)}",
               f"ratio({good_expr(rnd, 2)}) > 0.{rnd.randrange(10)}", f"sum({i}) > {rnd.choice([10, 10**6])}",
               "avg(latency_ms) > 100.0", f"max({i}) > 1000", f"min({i}) < 5", f"entropy({f}) > 1.0",
               "cv(interarrival()) < 0.5", "jitter(interarrival()) < 0.5", f"changes({f}) >= 2", "rate() > 0.5",
               f"count({good_expr(rnd, 2)}) >= 2", f"first_seen({rnd.choice(['src_ip', 'ua'])}, 1h)"]
    if tumbling:
        choices.append(f"count() > {rnd.choice(['2', '1.5'])} * baseline(count(), {rnd.choice(['10m', '1h'])})")
    return rnd.choice(choices)


def gen_good_rule(rnd: random.Random, name: str) -> str:
    kind = rnd.choice(["event", "sequence", "window"])
    parts = [f'meta {{ ttp = "{rnd.choice(GOOD_TTPS)}" goal = "scraping" '
             f'severity = {rnd.choice(["low", "medium", "high", "critical"])} title = {_str_lit(rnd)} }}']
    keys = rnd.sample(["user", "src_ip", "session", "route"], rnd.randrange(0, 3))
    if keys:
        parts.append("by " + ", ".join(keys))
    if kind == "event":
        parts.append("when " + good_expr(rnd))
        if rnd.random() < 0.4:
            parts.append("emit { " + ", ".join(f"e{j} = {rnd.choice(STR_FIELDS + INT_FIELDS)}"
                                               for j in range(rnd.randrange(1, 3))) + " }")
    elif kind == "sequence":
        parts.append(f"within {rnd.choice(GOOD_DURATIONS)}")
        names = [f"s{j}" for j in range(rnd.randrange(1, 5))]
        lines = []
        for j, s in enumerate(names):
            mod = rnd.choice(["", "", " repeat 2", " repeat >= 2", " repeat 2..3",
                              f" within {rnd.choice(GOOD_DURATIONS)}" if j else "",
                              f" window 1m having {good_agg(rnd, False)}"])
            lines.append(f"  {s}: {good_expr(rnd, 1, names[:j])}{mod}")
        parts.append("sequence {\n" + "\n".join(lines) + "\n}")
        if rnd.random() < 0.3:
            parts.append("until " + good_expr(rnd, 2))
        if rnd.random() < 0.3 and len(names) > 1:
            parts.append(f"unless n: {good_expr(rnd, 2)} between {names[0]} and {names[-1]}")
        if rnd.random() < 0.3:
            parts.append(f"unless m: {good_expr(rnd, 2)} after {names[-1]} within {rnd.choice(GOOD_DURATIONS)}")
        if rnd.random() < 0.3:
            parts.append(f"emit {{ first = {names[0]}.user }}")
        if rnd.random() < 0.2:
            parts.append(f"limit partials {rnd.randrange(1, 5)}, events {rnd.randrange(1, 30)}")
    else:
        wk = rnd.choice(["", " sliding", " tumbling", "session"])
        tumbling = wk == " tumbling"
        if wk == "session":
            parts.append(f"window session gap {rnd.choice(GOOD_DURATIONS)}")
        else:
            parts.append(f"window {rnd.choice(GOOD_DURATIONS)}{wk}")
        if rnd.random() < 0.5:
            parts.append("where " + good_expr(rnd, 1))
        having = " and ".join(good_agg(rnd, tumbling) for _ in range(rnd.randrange(1, 3)))
        parts.append("having " + having + (" for 5m" if tumbling and rnd.random() < 0.2 else ""))
        if wk in ("", " sliding") and rnd.random() < 0.3:
            parts.append(rnd.choice(["refire keep", "refire cooldown 1m", "refire reset"]))
        if rnd.random() < 0.4:
            parts.append(f"emit {{ n = count(), s = sample(user, 3), t = sum({rnd.choice(INT_FIELDS)}) }}")
        if rnd.random() < 0.2:
            parts.append(f"limit keys {rnd.choice([1, 10, 1000])}, distinct {rnd.choice([1, 5, 100])}")
    if rnd.random() < 0.2:
        parts.append(f"suppress {rnd.choice(GOOD_DURATIONS)}" + (" by src_ip" if rnd.random() < 0.5 else ""))
    if rnd.random() < 0.1:
        parts.append("from matches")
    return f"rule {name} {{\n  " + "\n  ".join(parts) + "\n}\n"


PRELUDE = ('list words = ["admin", "root", "\\"quoted\\""]\nlist bad_nets = ["10.0.0.0/8", "2001:db8::/32"]\n'
           "macro noisy = status >= 400\n")


def gen_file(rnd: random.Random, good: bool = True) -> str:
    out = [PRELUDE]
    if rnd.random() < 0.05:
        out.append(rnd.choice(['import "nope.ttp"', 'import "/etc/hostname"', 'list f = file("nope.txt")']))
    for i in range(rnd.randrange(1, 4)):
        out.append(gen_good_rule(rnd, f"r{i}") if good and rnd.random() < 0.9 else gen_rule(rnd, f"r{i}"))
    out.append("rule use_all {\n  meta { ttp = \"scraping\" goal = \"scraping\" severity = low title = \"u\" }\n"
               "  when noisy and user in @words and src_ip in @bad_nets\n}")
    if rnd.random() < 0.1:
        out.append('test "t" for r0 {\n  events { { user = "a" } repeat 3 { user = "b", status = 401 } }\n'
                   '  expect match\n}')
    return "\n".join(out)


def token_soup(rnd: random.Random) -> str:
    toks = [rnd.choice(KEYWORDS + PUNCT + FIELDS + LITERALS) for _ in range(rnd.randrange(1, 60))]
    return "".join(rnd.choice([" ", "", "\n"]) + t for t in toks)


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|/(?:[^/\\\n]|\\.)+/|[A-Za-z_][A-Za-z0-9_.-]*|[0-9.]+[a-z]*|\S')


def mutate_text(rnd: random.Random, text: str) -> str:
    for _ in range(rnd.randrange(1, 4)):
        op = rnd.random()
        if not text:
            return token_soup(rnd)
        if op < 0.35:                       # token level
            toks = list(_TOKEN.finditer(text))
            if not toks:
                continue
            m = rnd.choice(toks)
            repl = rnd.choice(KEYWORDS + PUNCT + LITERALS + FIELDS + DURATIONS + AGGS + ["", m.group() * 2])
            text = text[:m.start()] + repl + text[m.end():]
        elif op < 0.55:                     # character level
            i = rnd.randrange(len(text))
            text = text[:i] + rnd.choice(["", "{", "}", '"', "\\", "\n", "\x00", "é", "\u2028", "/", "#"]) + \
                text[i + rnd.randrange(0, 3):]
        elif op < 0.7:                      # line level
            lines = text.split("\n")
            i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
            if rnd.random() < 0.5:
                lines[i], lines[j] = lines[j], lines[i]
            else:
                del lines[i]
            text = "\n".join(lines)
        elif op < 0.8:
            text = text[: rnd.randrange(len(text))]
        elif op < 0.9:                      # splice a generated rule in
            text += "\n" + gen_rule(rnd, f"g{rnd.randrange(100)}")
        else:
            i = rnd.randrange(len(text))
            j = min(len(text), i + rnd.randrange(1, 200))
            text = text[:i] + text[i:j] * rnd.randrange(2, 4) + text[j:]
    return text


def seed_files() -> list[tuple[str, str]]:
    """(path, text) of the shipped pack's files plus the fuzz pack."""
    out = []
    pack_dir = REPO / "rulepacks" / "api"
    for p in sorted(pack_dir.glob("*.ttp")):
        out.append((str(p), p.read_text(encoding="utf-8")))
    out.append((str(REPO / "tests" / "fuzz" / "fuzz_pack.ttp"), FUZZ_PACK))
    return out


# ---------------------------------------------------------------- the run


def _safe_repr(value, limit: int = 20000) -> str:
    try:
        return repr(value)[:limit]
    except Exception:  # noqa: BLE001 - deep nesting, hostile objects
        return f"<{type(value).__name__} (repr failed)>"


class Fuzz:
    def __init__(self, seed: int, out_dir: Path | None, verbose: bool = False):
        self.rnd = random.Random(seed)
        self.seed = seed
        self.out_dir = out_dir
        self.verbose = verbose
        self.failures: Counter = Counter()
        self.known: Counter = Counter()
        self.examples: dict[str, str] = {}
        self.counts: Counter = Counter()
        self.quarantine: Counter = Counter()
        self.rule_outcomes: Counter = Counter()
        self.diag_codes: Counter = Counter()
        self.slowest_load = (0.0, "")

    # -- failures
    def fail(self, kind: str, exc: BaseException | None, payload) -> None:
        text = f"{type(exc).__name__}: {exc}" if exc is not None else kind
        sig = f"{kind}: {text}"[:200]
        for pattern in KNOWN:
            if re.search(pattern, text):
                self.known[sig] += 1
                return
        self.failures[sig] += 1
        if sig not in self.examples:
            tb = "".join(traceback.format_exception(exc)) if exc is not None else ""
            self.examples[sig] = tb
            if self.out_dir is not None:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                n = len(self.examples)
                with open(self.out_dir / f"failure-{n:03d}.json", "w", encoding="utf-8") as fh:
                    json.dump({"signature": sig, "kind": kind, "traceback": tb, "seed": self.seed,
                               "input": payload if isinstance(payload, str) else _safe_repr(payload)}, fh, indent=1)
        if self.verbose:
            print(f"FAIL {sig}", file=sys.stderr)

    # -- events
    def _inputs(self, t: float, done: int):
        """The next piece of input: ("feed", record) | ("many", records, None) | ("many", items, positions)."""
        rnd = self.rnd
        mode = rnd.random()
        if mode < 0.6:                                   # structure-aware, one by one or batched
            size = rnd.choice([1, 1, 16, 128])
            batch = []
            for _ in range(size):
                t += rnd.choice([0.0, 0.001, 0.5, 1.0, 3.0, 30.0])
                batch.append(mutate_event(rnd, canonical(rnd, t, done + len(batch))))
            return t, ("feed", batch[0]) if size == 1 else ("many", batch, None)
        if mode < 0.7:                                   # random records
            return t, ("feed", random_record(rnd))
        fmt, blob, t = reader_blob(rnd, t, rnd.choice([5, 50, 200]))   # through a reader
        reader = open_source(io.BytesIO(blob), fmt, max_line_bytes=rnd.choice([1 << 20, 2000]))
        items, positions = [], []
        try:
            for pos, item in reader:
                if type(item) is Bad:
                    self.counts["reader_bad"] += 1
                    self.quarantine["reader:" + item.reason] += 1
                    continue
                items.append(item)
                positions.append(pos)
        except Exception as exc:  # noqa: BLE001 - a reader must never raise on bytes
            self.fail("reader", exc, blob[:5000].decode("latin-1"))
        self.counts["reader_records"] += len(items)
        return t, ("many", items, positions)

    def events_round(self, pack, n: int, start: float) -> None:
        """One engine, about `n` events, a snapshot + restore at a random point, then close."""
        rnd = self.rnd
        eng = Engine(pack, lateness=rnd.choice([0.0, 5.0, 60.0]), max_keys=rnd.choice([50, 10_000, 1_000_000]),
                     future_confirm=rnd.choice([3, 5, 100]))
        fed = 0
        t = start
        cut = rnd.randrange(max(1, n))
        try:
            while fed < n:
                try:
                    t, piece = self._inputs(t, fed)
                except Exception as exc:  # noqa: BLE001 - a bug in the fuzzer itself, not in sleuth
                    self.counts["harness_errors"] += 1
                    if self.verbose:
                        print(f"fuzz harness: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                try:
                    if piece[0] == "feed":
                        matches = eng.feed(piece[1])
                        fed += 1
                    else:
                        matches = eng.feed_many(piece[1], "fuzz", piece[2])
                        fed += len(piece[1])
                    for m in matches:
                        m.to_json()
                    self.counts["matches"] += len(matches)
                except Exception as exc:  # noqa: BLE001 - the point of a fuzzer
                    self.fail("feed", exc, piece[1])
                    return
                if cut is not None and fed >= cut:
                    cut = None
                    try:
                        restored = Engine.restore(pack, eng.snapshot())
                    except Exception as exc:  # noqa: BLE001 - reported; the round goes on without it
                        self.fail("snapshot", exc, "state after the events above")
                    else:
                        eng = restored
                        self.counts["restores"] += 1
            try:
                matches = eng.close()
                for m in matches:
                    m.to_json()
                self.counts["matches"] += len(matches)
            except Exception as exc:  # noqa: BLE001
                self.fail("close", exc, "end of round")
                return
            s = eng.stats()
            quarantined = sum(v for k, v in s["quarantined"].items() if k not in ("rule-error", "enrich-error"))
            if s["events_processed"] + quarantined != fed:
                self.fail("accounting", None,
                          f"processed {s['events_processed']} + quarantined {quarantined} != fed {fed}")
            if s["rule_errors"]:
                detail = [r["detail"] for r in eng.quarantine.records if r["reason"] == "rule-error"][:3]
                self.fail("rule-error", RuntimeError("; ".join(detail)), detail)
            self.counts["events_processed"] += s["events_processed"]
            for k, v in s["quarantined"].items():
                self.quarantine[k] += v
        finally:
            self.counts["events_fed"] += fed

    # -- rule texts
    def rule_text(self, seeds: list[tuple[str, str]]) -> None:
        rnd = self.rnd
        r = rnd.random()
        path, base = rnd.choice(seeds)
        if r < 0.45:
            kind, path, text = "mutated-pack", path, mutate_text(rnd, base)
        elif r < 0.65:
            kind, path, text = "generated-valid", str(REPO / "tests" / "fuzz" / "gen.ttp"), gen_file(rnd)
        elif r < 0.75:
            kind, path, text = "generated-wild", str(REPO / "tests" / "fuzz" / "gen.ttp"), gen_file(rnd, good=False)
        elif r < 0.85:
            kind, path, text = "mutated-generated", str(REPO / "tests" / "fuzz" / "gen.ttp"), \
                mutate_text(rnd, gen_file(rnd, good=rnd.random() < 0.5))
        else:
            kind, path, text = "token-soup", str(REPO / "tests" / "fuzz" / "soup.ttp"), token_soup(rnd)
        self.counts["rule_texts"] += 1
        self.counts[f"rule_texts:{kind}"] += 1
        started = time.perf_counter()
        try:
            pack = load_pack(sources={path: text})
        except (PackError, RuleSyntaxError) as exc:
            self.rule_outcomes[type(exc).__name__] += 1
            if not exc.diagnostics:
                self.fail("no-diagnostics", None, text)
            for d in exc.diagnostics:
                self.diag_codes[d.code] += 1
                if not d.code or d.span is None or d.span.line < 1 or (d.span.file not in exc.sources
                                                                      and not os.path.exists(d.span.file)):
                    self.fail("bad-diagnostic", None, text)
                    break
            return
        except RecursionError as exc:
            self.fail("load", exc, text)
            return
        except Exception as exc:  # noqa: BLE001
            self.fail("load", exc, text)
            return
        finally:
            took = time.perf_counter() - started
            if took > self.slowest_load[0]:
                self.slowest_load = (took, text[:2000])
            if took > 10:
                self.fail("slow-load", None, text)
        self.rule_outcomes["loaded"] += 1
        try:
            eng = Engine(pack, lateness=rnd.choice([0.0, 5.0]))
            t = T0 + rnd.uniform(0, 1e6)
            evs = []
            for i in range(200):
                t += rnd.choice([0.001, 0.5, 2.0, 20.0])
                ev = canonical(rnd, t, i)
                evs.append(mutate_event(rnd, ev) if rnd.random() < 0.3 else ev)
            ms = eng.feed_many(evs) + eng.close()
            for m in ms:
                m.to_json()
            self.counts["generated_rule_matches"] += len(ms)
            if eng.stats()["rule_errors"]:
                detail = [x["detail"] for x in eng.quarantine.records if x["reason"] == "rule-error"][:2]
                self.fail("rule-error", RuntimeError("; ".join(detail)), text)
        except Exception as exc:  # noqa: BLE001
            self.fail("run-loaded-rule", exc, text)


def run(events: int, rules: int, seed: int, *, out_dir: Path | None = None, round_size: int = 5000,
        progress: bool = False, verbose: bool = False) -> dict:
    fz = Fuzz(seed, out_dir, verbose)
    started_wall = time.monotonic()
    started_cpu = time.process_time()
    packs = [("fuzz", load_pack(sources={str(REPO / "tests" / "fuzz" / "fuzz_pack.ttp"): FUZZ_PACK}))]
    try:
        packs.append(("shipped", load_pack()))
    except PackError as exc:  # the shipped pack is being edited: say so, go on
        print(f"fuzz: shipped pack does not load ({len(exc.errors)} errors); fuzzing the fuzz pack only",
              file=sys.stderr)
    t = T0
    rounds = 0
    while fz.counts["events_fed"] + fz.counts["reader_bad"] < events:
        name, pack = packs[rounds % len(packs)]
        before = fz.counts["events_fed"] + fz.counts["reader_bad"]
        fz.events_round(pack, min(round_size, events - before), t)
        fz.counts[f"rounds:{name}"] += 1
        rounds += 1
        t += 10 * 86400
        if progress and rounds % 20 == 0:
            print(f"fuzz: {fz.counts['events_fed']:,} events, {time.monotonic() - started_wall:.0f}s",
                  file=sys.stderr)
    events_wall = time.monotonic() - started_wall
    seeds = seed_files()
    for i in range(rules):
        fz.rule_text(seeds)
        if progress and (i + 1) % 500 == 0:
            print(f"fuzz: {i + 1:,} rule texts, {time.monotonic() - started_wall:.0f}s", file=sys.stderr)
    return {
        "seed": seed,
        "events_fed_to_engine": fz.counts["events_fed"],
        "events_processed": fz.counts["events_processed"],
        "reader_records": fz.counts["reader_records"],
        "reader_bad_records": fz.counts["reader_bad"],
        "quarantined_by_reason": dict(sorted(fz.quarantine.items())),
        "matches": fz.counts["matches"],
        "harness_errors": fz.counts["harness_errors"],
        "snapshot_restores": fz.counts["restores"],
        "event_rounds": {k.split(":", 1)[1]: v for k, v in fz.counts.items() if k.startswith("rounds:")},
        "rule_texts": fz.counts["rule_texts"],
        "rule_texts_by_kind": {k.split(":", 1)[1]: v for k, v in fz.counts.items() if k.startswith("rule_texts:")},
        "rule_outcomes": dict(fz.rule_outcomes),
        "diagnostic_codes": dict(fz.diag_codes.most_common()),
        "slowest_rule_load_seconds": round(fz.slowest_load[0], 3),
        "failures": dict(fz.failures),
        "known_bugs_hit": dict(fz.known),
        "events_seconds_wall": round(events_wall, 1),
        "wall_seconds": round(time.monotonic() - started_wall, 1),
        "cpu_seconds": round(time.process_time() - started_cpu, 1),
        "python": sys.version.split()[0],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000, help="events to generate (default 100000)")
    p.add_argument("--rules", type=int, default=1000, help="rule texts to generate (default 1000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--round", type=int, default=5000, help="events per engine (default 5000)")
    p.add_argument("--out", type=Path, default=REPO / "out" / "fuzz",
                   help="where failing inputs are written")
    p.add_argument("--strict", action="store_true", help="known bugs fail the run too")
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    summary = run(args.events, args.rules, args.seed, out_dir=args.out, round_size=args.round,
                  progress=not args.json, verbose=args.verbose)
    print(json.dumps(summary, indent=None if args.json else 2, ensure_ascii=False))
    bad = bool(summary["failures"]) or (args.strict and bool(summary["known_bugs_hit"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
