"""Hostile input: nothing a client sends can crash the engine or go uncounted.

docs/reliability.md, "Hostile input". Through `Engine.feed` / `feed_many`
and through `sleuth run` (the JSON lines reader): huge strings, deep
nesting (100k levels as JSON text, and as a Python dict), NaN/Infinity,
wrong types for every canonical field, invalid UTF-8 and binary lines,
duplicate keys, timestamps far in the future or past, non-mapping JSON,
empty objects. For every input:

- no exception escapes;
- it is processed or quarantined with a reason: processed + quarantined ==
  fed (rule errors are counted apart and must stay at zero: every runtime
  primitive is total);
- rules reading such fields stay correct (a coerced value matches, a value
  that cannot be used does not, a cut string is matched on what is kept).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from packs import stream

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS

META = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'
FIELD_RULES = f'''
rule ua_bot      {{ {META} when ua =~ /bot/ }}
rule status_401  {{ {META} when status == 401 }}
rule big_request {{ {META} when req_bytes > 1000000 }}
rule api_key     {{ {META} when headers.x-api-key == "k" }}
rule api_path    {{ {META} when path ~ "/api/*" }}
rule slow        {{ {META} when latency_ms >= 1000.5 }}
rule from_asn    {{ {META} when asn == 64500 }}
rule debug_query {{ {META} when query.debug == "1" }}
rule by_user     {{ {META} by user window 1m having count() >= 3 and distinct(src_ip) >= 2 }}
'''
HUGE = "x" * 10_000_000           # 10 MB
T0 = 1_700_000_000.0


def _deep_dict(levels: int) -> dict:
    root: dict = {}
    cur = root
    for _ in range(levels):
        cur["a"] = {}
        cur = cur["a"]
    return root


def _deep_list(levels: int) -> list:
    root: list = []
    cur = root
    for _ in range(levels):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    return root


DEEP = _deep_dict(100_000)
DEEP_LIST = _deep_list(100_000)
WRONG_VALUES = {
    "none": None, "true": True, "false": False, "zero": 0, "negative": -1, "int64-max": 2**63 - 1,
    "float": 1.5, "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "empty": "", "nul": "\x00",
    "huge": HUGE, "list": [1, 2], "empty-list": [], "dict": {"a": {"b": 1}}, "empty-dict": {},
    "bytes": b"\xff\xfe", "numeric-text": "401", "float-text": "1e400", "long-digits": "9" * 100,
    "iso-time": "2026-01-01T00:00:00Z", "deep": DEEP, "deep-list": DEEP_LIST,
}


def _hostile_events() -> list:
    """Every canonical field with every wrong value, plus whole-record oddities."""
    out: list = []
    t = T0
    for field in sorted(CANONICAL_FIELDS):
        for name, value in WRONG_VALUES.items():
            t += 0.5
            ev = {"id": f"{field}-{name}", "ts": t, "user": "u1", "src_ip": "10.0.0.1", "route": "/login",
                  "status": 200}
            ev[field] = value
            out.append(ev)
    t += 1
    out += [
        {"ts": t, "note": HUGE, "user": "u2"}, {"ts": t, "note": DEEP}, {"ts": t, "note": DEEP_LIST},
        {"ts": t, "headers": DEEP}, {"ts": t, "query": DEEP}, {"ts": t, "params": DEEP_LIST},
        {"ts": t, 7: "int key", (1, 2): "tuple key", None: "none key"},
        {"ts": t + 10 * 365 * 86400, "id": "far-future"}, {"ts": 1.0, "id": "far-past"},
        {"ts": -5.0, "id": "before-1970"}, {"ts": 1e30, "id": "absurd"}, {"ts": "yesterday"},
        {"ts": True}, {"ts": None}, {"@timestamp": "2023-11-14T22:13:20Z", "id": "alias"},
        {}, {"no": "time"}, None, 1, 1.5, "a string", b"bytes", [], [{"ts": t}], True, DEEP_LIST,
    ]
    return out


def _accounted(eng: Engine) -> tuple[int, int]:
    s = eng.stats()
    quarantined = sum(v for k, v in s["quarantined"].items() if k not in ("rule-error", "enrich-error"))
    return s["events_processed"], quarantined


@pytest.fixture(scope="module")
def field_pack():
    return load_pack(sources={"h.ttp": FIELD_RULES})


@pytest.mark.parametrize("api", ["feed", "feed_many"])
def test_every_hostile_event_is_processed_or_quarantined(field_pack, multi_pack, api):
    hostile = _hostile_events()
    normal = stream(7, 300, start=T0)
    # Interleave: normal traffic keeps flowing around the hostile records.
    fed = []
    for i, ev in enumerate(hostile):
        fed.append(ev)
        if i % 2 == 0 and normal:
            fed.append(normal.pop(0))
    fed += normal
    for pack in (field_pack, multi_pack):
        eng = Engine(pack)
        if api == "feed":
            for ev in fed:
                eng.feed(ev)
        else:
            for i in range(0, len(fed), 64):
                eng.feed_many(fed[i:i + 64])
        eng.close()
        processed, quarantined = _accounted(eng)
        assert processed + quarantined == len(fed) == eng.stats()["events_in"]
        assert eng.stats()["rule_errors"] == 0, list(eng.quarantine.records)
        q = eng.stats()["quarantined"]
        assert q["not-mapping"] == 9 and q["no-time"] == 4      # ts=None is a missing time
        assert q["future"] >= 1 and q["late"] >= 1 and q["bad-time"] >= 5


def _run_one(pack, ev) -> list[str]:
    eng = Engine(pack, lateness=0)
    out = eng.feed(ev) + eng.close()
    return sorted(m.rule for m in out)


CORRECTNESS = [
    # (event fields, rules that must match); every event has ts and nothing else.
    ({"ua": "bot" + HUGE}, ["ua_bot"]),                    # cut to max_string, 'bot' is kept
    ({"ua": HUGE + "bot"}, []),                            # 'bot' was cut off
    ({"ua": "x" * 9000 + "bot"}, ["ua_bot"]),               # the whole value is searched (no scan window)
    ({"ua": ["bot"]}, []), ({"ua": b"bot"}, ["ua_bot"]), ({"ua": None}, []),
    ({"status": "401"}, ["status_401"]), ({"status": 401.0}, ["status_401"]), ({"status": " 401 "}, ["status_401"]),
    ({"status": True}, []), ({"status": "401.5"}, []), ({"status": [401]}, []), ({"status": math.nan}, []),
    ({"status": 401.5}, []), ({"status": {"code": 401}}, []), ({"status": 2**70}, []),
    ({"req_bytes": 2**63}, []), ({"req_bytes": "2000000"}, ["big_request"]), ({"req_bytes": 1e7}, ["big_request"]),
    ({"req_bytes": math.inf}, []), ({"req_bytes": -5_000_000}, []), ({"req_bytes": "1e400"}, []),
    ({"headers": {"X-Api-Key": "k"}}, ["api_key"]), ({"headers": {"x-api-key": ["k"]}}, []),
    ({"headers": "x-api-key: k"}, []), ({"headers": DEEP}, []), ({"headers": {"x-api-key": "k" + HUGE}}, []),
    ({"path": "/api/" + HUGE}, ["api_path"]), ({"path": "/ap"}, []), ({"path": 404}, []),
    ({"latency_ms": "1000.5"}, ["slow"]), ({"latency_ms": math.nan}, []), ({"latency_ms": 1e300}, []),
    ({"asn": "64500"}, ["from_asn"]), ({"asn": 64500.0}, ["from_asn"]), ({"asn": -64500}, []),
    ({"query": "debug=1&x=2"}, ["debug_query"]), ({"query": {"debug": "1"}}, ["debug_query"]),
    ({"query": "debug=" + HUGE}, []), ({"query": DEEP}, []), ({"query": 1}, []),
]


@pytest.mark.parametrize("fields, expected", CORRECTNESS,
                         ids=[f"{i}-{next(iter(f))}" for i, (f, _e) in enumerate(CORRECTNESS)])
def test_rules_on_hostile_fields_stay_correct(field_pack, fields, expected):
    assert _run_one(field_pack, {"ts": T0, **fields}) == expected


def test_a_window_over_hostile_keys_stays_correct(field_pack):
    """Unusable key values take no part; usable ones still count."""
    eng = Engine(field_pack, lateness=0)
    evs = [{"ts": T0 + i, "user": u, "src_ip": ip} for i, (u, ip) in enumerate([
        ("alice", "1.1.1.1"), ([1], "2.2.2.2"), ({"a": 1}, "3.3.3.3"), ("alice", "2.2.2.2"),
        (None, "4.4.4.4"), ("alice", HUGE), (math.nan, "5.5.5.5"), ("alice", "1.1.1.1")])]
    got = [m for m in eng.feed_many(evs) + eng.close() if m.rule == "by_user"]
    assert [m.key for m in got] == [{"user": "alice"}]


# ---------------------------------------------------------------- through sleuth run


def _lines() -> list[tuple[bytes, str | None]]:
    """(line, expected quarantine reason or None when the line must be processed)."""
    good = {"ts": T0, "user": "u", "src_ip": "10.0.0.1", "route": "/login", "status": 401}

    def j(obj) -> bytes:
        return orjson.dumps(obj)

    out: list[tuple[bytes, str | None]] = [
        (j(good), None),
        (j({**good, "ua": HUGE}), "oversized"),                    # > --max-line-bytes (1 MiB)
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "not-json"),  # 100k levels
        (b"[" * 100_000 + b"]" * 100_000, "not-json"),
        (b'{"ts": %d, "x": ' % T0 + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}", None),  # 1000 levels: fine
        (b'{"ts": NaN}', "not-json"), (b'{"ts": 1.7e9, "status": Infinity}', "not-json"),
        (b'{"ts": 1.7e9, "latency_ms": 1e400}', "not-json"),
        (b'{"ts": 1700000001, "user": "a", "user": "b"}', None),     # duplicate keys: the last wins
        (b"\xff\xfe\xfd garbage", "bad-encoding"), (b'{"ts": 1700000001, "user": "\xc3\x28"}', "bad-encoding"),
        (bytes(range(256)).replace(b"\n", b""), "bad-encoding"), (b"\x00\x00\x00\x00", "not-json"),
        (b'"just a string"', "not-mapping"), (b"[1, 2, 3]", "not-mapping"), (b"42", "not-mapping"),
        (b"null", "not-mapping"), (b"true", "not-mapping"), (b"{}", "no-time"), (b'{"id": "x"}', "no-time"),
        (j({**good, "ts": T0 + 10 * 365 * 86400}), "future"), (j({**good, "ts": 1.0}), "late"),
        (j({**good, "ts": -1}), "bad-time"), (j({**good, "ts": "not a time"}), "bad-time"),
        (j({**good, "ts": True}), "bad-time"), (j({**good, "ts": {"$date": 1}}), "bad-time"),
        (b'{"ts": 1700000002, "status": 99999999999999999999}', None),   # read as a float: out of range
        (b"{" + b'"k": 1, ' * 2 + b"unterminated", "not-json"),
    ]
    for field in sorted(CANONICAL_FIELDS):
        if field == "ts":
            continue
        for value in ([1, 2], {"a": 1}, True, "", "x" * 60_000, 1.5, -1, None):
            out.append((j({**good, "ts": T0 + 2, field: value}), None))
    return out


def test_sleuth_run_counts_every_line(tmp_path: Path):
    (tmp_path / "h.ttp").write_text(FIELD_RULES, encoding="utf-8")
    lines = _lines()
    src = tmp_path / "in.jsonl"
    with open(src, "wb") as fh:
        for line, _reason in lines:
            fh.write(line + b"\n")
        fh.write(b"\n\n")                                  # blank lines are skipped, not counted
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "run", str(tmp_path / "h.ttp"), str(src),
                        "--out", str(tmp_path / "m.jsonl"), "--quarantine", str(tmp_path / "q.jsonl"),
                        "--metrics", str(tmp_path / "metrics.json"), "-q"], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert b"Traceback" not in r.stderr
    metrics = orjson.loads((tmp_path / "metrics.json").read_bytes())
    records = [orjson.loads(x) for x in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    by_position = {rec["position"]: rec["reason"] for rec in records}
    expected = {i: reason for i, (_line, reason) in enumerate(lines, 1) if reason is not None}
    assert by_position == expected
    quarantined = sum(v for k, v in metrics["quarantined"].items() if k not in ("rule-error", "enrich-error"))
    assert metrics["events_processed"] + quarantined == len(lines)
    assert metrics["rule_errors"] == 0
    # The one good line and the duplicate-key line reach the rules.
    assert orjson.loads((tmp_path / "m.jsonl").read_bytes().splitlines()[0])["rule"] == "status_401"


def test_sleuth_run_with_a_larger_line_limit_cuts_huge_strings(tmp_path: Path):
    (tmp_path / "h.ttp").write_text(FIELD_RULES, encoding="utf-8")
    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps({"ts": T0 - 1, "ua": "-"}) + b"\n" +
                    orjson.dumps({"ts": T0, "ua": "bot" + HUGE}) + b"\n" +
                    orjson.dumps({"ts": T0 + 1, "ua": HUGE + "bot"}) + b"\n")
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "run", str(tmp_path / "h.ttp"), str(src),
                        "--max-line-bytes", str(32 << 20), "-q"], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert [m["rule"] for m in out] == ["ua_bot"]
    assert max(len(x) for x in r.stdout.splitlines()) < 200_000       # provenance is cut, not 10 MB


def test_binary_garbage_through_every_reader(tmp_path: Path, capsys):
    """Random bytes under each --format: nothing raised (in-process: the same code path), every record
    quarantined, and exit 3 (nothing usable was read; with auto-detection, an unknown format)."""
    import random

    from sleuth.playground import cli

    rnd = random.Random(3)
    (tmp_path / "h.ttp").write_text(FIELD_RULES, encoding="utf-8")
    (tmp_path / "g.bin").write_bytes(bytes(rnd.randrange(256) for _ in range(200_000)))
    for fmt, extra in (("auto", ["--skip-unknown"]), ("jsonl", []), ("json", []), ("msgpack", []),
                       ("apache", []), ("csv", [])):
        code = cli.main(["run", str(tmp_path / "h.ttp"), str(tmp_path / "g.bin"), "--format", fmt, "-q",
                         "--out", str(tmp_path / f"{fmt}.jsonl"), "--metrics", str(tmp_path / f"{fmt}.json"), *extra])
        assert code == 3, fmt
        metrics = orjson.loads((tmp_path / f"{fmt}.json").read_bytes())
        assert metrics["rule_errors"] == 0 and metrics["events_processed"] == 0
        assert sum(metrics["quarantined"].values()) > 0, fmt
    assert cli.main(["run", str(tmp_path / "h.ttp"), str(tmp_path / "g.bin"), "-q"]) == 3     # unknown format


@pytest.mark.parametrize("first", [b'{"ts": 1700000000, "ua": "cut', b"[1, 2",
                                   orjson.dumps({"ts": T0, "ua": "x" * 2_000_000})],
                         ids=["truncated-object", "truncated-array", "2MB-line"])
def test_one_bad_first_line_costs_one_line(tmp_path: Path, first: bytes):
    (tmp_path / "h.ttp").write_text(FIELD_RULES, encoding="utf-8")
    src = tmp_path / "in.jsonl"
    src.write_bytes(first + b"\n" + b"".join(orjson.dumps({"ts": T0 + i, "status": 401}) + b"\n"
                                              for i in range(1, 101)))
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "run", str(tmp_path / "h.ttp"), str(src),
                        "--metrics", str(tmp_path / "metrics.json"), "-q"], capture_output=True, timeout=600)
    assert r.returncode == 0
    metrics = orjson.loads((tmp_path / "metrics.json").read_bytes())
    assert metrics["matches_by_rule"]["status_401"] == 100
    assert sum(metrics["quarantined"].values()) == 1


# ---------------------------------------------------------------- time


def test_far_future_event_does_not_move_the_clock(multi_pack):
    events = stream(8, 2000)
    forged = {**events[500], "id": "forged", "ts": events[500]["ts"] + 50 * 365 * 86400}
    eng = Engine(multi_pack)
    ref = Engine(multi_pack)
    got = eng.feed_many(events[:500] + [forged] + events[500:]) + eng.close()
    want = ref.feed_many(events) + ref.close()
    assert [m.to_json() for m in got] == [m.to_json() for m in want]
    assert eng.stats()["quarantined"] == {"future": 1}


def test_two_agreeing_far_future_events_are_a_real_gap(multi_pack):
    """Documented: `future_confirm` (default 2) events within `future_tolerance` of each
    other confirm a jump (a log that resumes next week); raise it for untrusted clocks."""
    events = stream(8, 200)
    jump = events[-1]["ts"] + 7 * 86400
    later = [{**ev, "id": "l" + ev["id"], "ts": ev["ts"] - events[0]["ts"] + jump} for ev in stream(9, 50)]
    eng = Engine(multi_pack)
    eng.feed_many(events + later)
    eng.close()
    assert eng.stats()["events_processed"] == 250 and "future" not in eng.stats()["quarantined"]
    strict = Engine(multi_pack, future_confirm=100)
    strict.feed_many(events + later[:50])
    strict.close()
    assert strict.stats()["quarantined"].get("future") == 50


def test_a_forged_first_event_does_not_blind_the_engine(multi_pack):
    events = stream(8, 500)
    forged = {**events[0], "id": "forged", "ts": events[0]["ts"] + 50 * 365 * 86400}
    eng = Engine(multi_pack)
    eng.feed_many([forged] + events)
    eng.close()
    assert eng.stats()["quarantined"] == {"future": 1}
    assert eng.stats()["events_processed"] == 500


# ---------------------------------------------------------------- output


SUM_RULES = f'''
rule total {{ {META} by user window 1m having count() >= 3 emit {{ total = sum(resp_bytes) }} }}
rule heavy {{ {META} by user window 1m having count() >= 3 and sum(req_bytes) > 1000000 }}
'''


@pytest.mark.parametrize("where", ["emit", "provenance"])
def test_sum_beyond_64_bits_never_crashes_the_output(tmp_path: Path, where):
    (tmp_path / "s.ttp").write_text(SUM_RULES, encoding="utf-8")
    field = "resp_bytes" if where == "emit" else "req_bytes"
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"ts": T0 + i, "user": "u", field: 2**63 - 1}) + b"\n"
                             for i in range(3)))
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "run", str(tmp_path / "s.ttp"), str(src),
                        "-q"], capture_output=True, timeout=600)
    assert b"Traceback" not in r.stderr
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) >= 1


@pytest.mark.parametrize("agg", ["distinct(headers.x-api-key) >= 1", "entropy(headers.x-api-key) >= 0",
                                 "changes(headers.x-api-key) >= 0", "first_seen(headers.x-api-key, 1h)"])
def test_deeply_nested_values_are_counted_by_aggregates(agg):
    pack = load_pack(sources={"a.ttp": f"rule r {{ {META} by user window 1m having {agg} }}"})
    line = b'{"ts": 1700000000, "user": "u", "headers": {"x-api-key": ' + b"[" * 1000 + b"]" * 1000 + b"}}"
    eng = Engine(pack, lateness=0)
    got = eng.feed(orjson.loads(line)) + eng.close()
    assert eng.stats()["rule_errors"] == 0
    assert len(got) == 1
