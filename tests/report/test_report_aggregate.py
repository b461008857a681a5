"""The figures of `sleuth report`: exact counts per interval, detail budget, bad and empty input.

Hand-built matches with known answers: distinct fingerprints per interval
(a fingerprint repeated inside an interval counts once, across intervals
once per interval), matches per rule and interval, severity, actors,
campaigns found three ways, the byte budget of the matches held with
provenance (campaigns first, then every rule before any rule's second),
skipped lines with their reasons and positions, and empty inputs.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import orjson
import pytest

from sleuth.engine.match import format_ts
from sleuth.playground.report import (
    MatchInput,
    ReportInputError,
    ReportUsageError,
    build_report,
    choose_interval,
    parse_interval,
    render_report,
)
from sleuth.playground.report.inputs import field_coverage, read_quarantine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_report import cloned_matches, synthetic_matches  # noqa: E402


def match(mid: int, rule: str, ttp: str, t: str, fp: str, *, goal: str = "account-takeover",
          severity: str = "high", key: dict | None = None, prov: dict | None = None) -> dict:
    return {"match_id": f"{mid:016x}", "rule": rule, "ttp": ttp, "goal": goal, "severity": severity,
            "title": f"title of {rule}", "key": key if key is not None else {"src_ip": "203.0.113.7"},
            "first_ts": t, "last_ts": t, "emitted_at": t, "fields": {}, "fingerprint": fp, "flags": [],
            "provenance": prov or {"kind": "event", "events": [{"id": f"e{mid}", "ts": t, "fields": {}}]}}


def cite(mid: int, t: str, ttp: str) -> dict:
    return {"step": f"s{mid}", "count": 1, "omitted": 0,
            "events": [{"id": f"{mid:016x}", "ts": t, "fields": {"ttp": ttp}}]}


@pytest.fixture
def small() -> list[dict]:
    return [
        match(1, "stuff", "credential-stuffing", "2026-11-27T08:00:30.000Z", "f1"),
        match(2, "stuff", "credential-stuffing", "2026-11-27T08:01:10.000Z", "f1"),
        match(3, "stuff", "credential-stuffing", "2026-11-27T08:01:20.000Z", "f2", key={"src_ip": "198.51.100.1"}),
        match(5, "stuff", "credential-stuffing", "2026-11-27T08:01:40.000Z", "f1"),
        match(4, "scrape", "scraping", "2026-11-27T08:01:59.999Z", "f3", goal="scraping", severity="medium",
              key={"src_ip": "203.0.113.7", "ja3": "abc"}),
        match(6, "chain", "campaign", "2026-11-27T08:04:00.000Z", "f4", goal="fraud", severity="critical",
              key={"asn": 64500},
              prov={"kind": "sequence", "within": "1h", "steps": [cite(1, "2026-11-27T08:00:30.000Z", "x"),
                                                                   cite(4, "2026-11-27T08:01:59.999Z", "y")]}),
    ]


def test_unique_ttps_per_interval_are_exact(small):
    r = build_report(MatchInput(small), interval="1m")
    assert r["interval"]["bins"] == [f"2026-11-27T08:0{i}:00.000Z" for i in range(5)]
    tl = r["timeline"]["ttp"]
    assert tl["series"] == ["credential-stuffing", "scraping", "campaign"]   # taxonomy order
    assert tl["values"] == [[1, 2, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]
    assert tl["distinct"] == [1, 3, 0, 0, 1]
    assert tl["matches"] == [1, 4, 0, 0, 1]
    assert tl["overall"] == {"credential-stuffing": 2, "scraping": 1, "campaign": 1}
    goal = r["timeline"]["goal"]
    assert goal["series"] == ["account-takeover", "scraping", "fraud"]
    assert goal["values"] == [[1, 2, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]
    assert r["summary"] == {"matches": 6, "rules": 3, "techniques": 3, "unique": 4,
                            "first": "2026-11-27T08:00:30.000Z", "last": "2026-11-27T08:04:00.000Z",
                            "skipped": 0, "duplicates": 0}


def test_rules_severity_actors_and_campaigns(small):
    r = build_report(MatchInput(small), interval="1m")
    rules = {x["rule"]: x for x in r["rules"]}
    assert [x["rule"] for x in r["rules"]] == ["stuff", "chain", "scrape"]   # most matches, then name
    assert rules["stuff"]["bins"] == [1, 3, 0, 0, 0] and rules["stuff"]["unique"] == 2
    assert rules["chain"]["bins"] == [0, 0, 0, 0, 1]
    assert [(s["severity"], s["matches"], s["rules"]) for s in r["severity"]] == [
        ("critical", 1, 1), ("high", 4, 1), ("medium", 1, 1)]
    top = r["actors"]["top"]
    assert (top[0]["field"], top[0]["value"], top[0]["matches"]) == ("src_ip", "203.0.113.7", 4)
    assert top[0]["ttps"] == [["credential-stuffing", 3], ["scraping", 1]]
    assert r["actors"]["total"] == 4
    camp = r["campaigns"]
    assert camp["total"] == 1
    row = camp["rows"][0]
    assert (row["rule"], row["why"]) == ("chain", "cites other matches")
    assert [(s["step"], s["rule"]) for s in row["steps"]] == [("s1", "stuff"), ("s4", "scrape")]
    assert r["consumed_by"] == {f"{1:016x}": [f"{6:016x}"], f"{4:016x}": [f"{6:016x}"]}


def test_a_campaign_technique_or_a_pack_rule_reading_matches_is_a_campaign():
    lone = [match(1, "lone", "campaign", "2026-11-27T08:00:00.000Z", "f")]
    r = build_report(MatchInput(lone))
    assert r["campaigns"]["rows"][0]["why"] == "campaign technique"
    from sleuth.dsl.pack import load_pack

    pack = load_pack(None)
    shipped = [match(2, "campaign_kill_chain", "fraud-ish", "2026-11-27T08:00:00.000Z", "g")]
    r = build_report(MatchInput(shipped), pack=pack)
    assert r["campaigns"]["rows"][0]["why"] == "rule reads from matches"
    assert r["rules"][0]["file"].endswith("campaign.ttp") and r["rules"][0]["line"] > 0
    assert "from matches" in r["rule_meta"]["campaign_kill_chain"]["text"]


@pytest.mark.parametrize("span, expected", [(0, 60), (600, 60), (3600, 120), (6 * 3600, 600), (86400, 3600),
                                            (7 * 86400, 21600), (365 * 86400, 1209600),
                                            (20 * 365 * 86400, 23 * 604800)])
def test_the_automatic_interval_shows_at_most_48(span, expected):
    assert choose_interval(span) == expected
    start = 1795766400.0 + expected - 0.001        # the worst alignment: the span starts just before a boundary
    ms = [match(1, "r", "scraping", format_ts(start), "a"), match(2, "r", "scraping", format_ts(start + span), "b")]
    assert len(build_report(MatchInput(ms))["interval"]["bins"]) <= 48


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1.5h", 5400), ("1d", 86400)])
def test_intervals_parse(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "-5m", "0s", "500ms", "5 minutes"])
def test_bad_intervals_are_usage_errors(text):
    with pytest.raises(ReportUsageError):
        parse_interval(text)


def test_too_many_intervals_is_a_usage_error(small):
    assert len(build_report(MatchInput(small), interval="1s")["interval"]["bins"]) == 211
    many = small + [match(99, "stuff", "credential-stuffing", "2026-11-27T09:00:00.000Z", "f9")]
    with pytest.raises(ReportUsageError, match="3,571 intervals"):
        build_report(MatchInput(many), interval="1s")


def test_empty_input_gives_an_empty_report(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    page, r = render_report([str(empty)], events=[], quarantine=[])
    assert r["summary"]["matches"] == 0 and r["interval"]["bins"] == [] and r["matches"] == []
    assert r["timeline"]["ttp"]["series"] == [] and r["actors"]["top"] == [] and r["campaigns"]["total"] == 0
    assert b"No matches in the input." in page and b"No matches: nothing to draw." in page
    assert r["coverage"]["events"] == 0 and r["quarantine"]["total"] == 0


def test_bad_lines_are_skipped_with_reason_and_position(tmp_path, small):
    lines = [orjson.dumps(small[0]), b"{not json", b"[1, 2]", orjson.dumps({**small[1], "match_id": "XYZ"}),
             orjson.dumps({**small[2], "emitted_at": "yesterday", "last_ts": None}),
             orjson.dumps({**small[3], "key": "a string"}), orjson.dumps(small[0]), b"", orjson.dumps(small[4])]
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    r = build_report(MatchInput([str(path)]))
    assert r["summary"]["matches"] == 2
    assert r["summary"]["skipped"] == 5 and r["summary"]["duplicates"] == 1
    assert r["skipped"]["by_reason"] == {"bad-key": 1, "bad-match-id": 1, "no-time": 1, "not-json": 1,
                                         "not-object": 1}
    assert [(e["where"], e["reason"]) for e in r["skipped"]["examples"]] == [
        (f"{path}:2", "not-json"), (f"{path}:3", "not-object"), (f"{path}:4", "bad-match-id"),
        (f"{path}:5", "no-time"), (f"{path}:6", "bad-key")]
    with pytest.raises(ReportInputError, match=r"m\.jsonl:2: not a match record \(not-json"):
        build_report(MatchInput([str(path)]), strict=True)


def test_gzip_and_several_files_are_read(tmp_path, small):
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl"
    a.write_bytes(gzip.compress(b"\n".join(orjson.dumps(m) for m in small[:3]) + b"\n"))
    b.write_bytes(b"\n".join(orjson.dumps(m) for m in small[3:]) + b"\n")
    r = build_report(MatchInput([str(a), str(b)]), interval="1m")
    assert r["summary"]["matches"] == 6
    assert r["timeline"]["ttp"]["values"] == build_report(MatchInput(small), interval="1m")["timeline"]["ttp"]["values"]


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(ReportInputError, match="no such file"):
        MatchInput([str(tmp_path / "nope.jsonl")])


def test_the_detail_budget_holds_campaigns_first_then_every_rule():
    ms = synthetic_matches(600, seed=3)
    full = build_report(MatchInput(ms), detail_bytes=10 ** 9)
    assert full["detail"]["shown"] == 600
    sizes = {m["match_id"]: len(orjson.dumps(m, option=orjson.OPT_SORT_KEYS)) for m in full["matches"]}
    budget = 120_000
    r = build_report(MatchInput(ms), detail_bytes=budget)
    held = [m["match_id"] for m in r["matches"]]
    assert 0 < len(held) < 600 and r["detail"]["shown"] == len(held)
    assert r["detail"]["bytes"] == sum(sizes[m] for m in held) <= budget
    rules_held = {m["rule"] for m in r["matches"]}
    assert rules_held == {x["rule"] for x in r["rules"]}        # every rule is represented
    camp = [row["match_id"] for row in r["campaigns"]["rows"]]
    first_camp = camp[0]
    assert first_camp in held                                    # campaigns come first
    for s in r["campaigns"]["rows"][0]["steps"]:
        assert s["match_id"] in held                             # with the matches they cite
    times = [m["emitted_at"] for m in r["matches"]]
    assert times == sorted(times)                                # the page lists them in time order
    # every figure is still over all 600
    assert r["summary"]["matches"] == 600 and sum(x["matches"] for x in r["rules"]) == 600
    none = build_report(MatchInput(ms), detail_bytes=0)
    assert none["matches"] == [] and none["detail"] == {"shown": 0, "total": 600, "budget": 0, "bytes": 0}


def test_page_size_stays_bounded_for_many_matches():
    ms = synthetic_matches(5000, seed=5)
    page, r = render_report(ms, detail_bytes=200_000)
    assert r["detail"]["bytes"] <= 200_000
    assert len(page) < 200_000 + 700_000, len(page)


def test_same_input_same_bytes(small, tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(m) for m in small) + b"\n")
    one, _ = render_report([str(path)])
    two, _ = render_report([str(path)])
    assert one == two
    shuffled_keys = [dict(reversed(list(m.items()))) for m in small]
    three, _ = render_report(shuffled_keys)
    four, _ = render_report(small)
    assert three == four


def test_field_coverage_counts_fields_invalid_values_and_unreadable_records():
    events = [
        {"ts": "2026-11-27T08:00:00Z", "id": "a", "src_ip": "203.0.113.7", "status": 200, "params": {"coupon": "X"}},
        {"ts": "2026-11-27T08:00:01Z", "src_ip": "203.0.113.8", "status": "abc", "custom": 1},
        {"@timestamp": "2026-11-27T08:00:02Z", "user": {"name": "alice"}, "status": 404},
        {"src_ip": "203.0.113.9"},                     # no time
        ["not", "a", "mapping"],
    ]
    cov = field_coverage(events)
    rows = {r["field"]: r for r in cov["fields"]}
    assert (cov["records"], cov["events"]) == (5, 3)
    assert [(u["reason"], u["count"]) for u in cov["unreadable"]] == [("no-time", 1), ("not-mapping", 1)]
    assert (rows["ts"]["present"], rows["id"]["present"]) == (3, 1)   # ids the reader assigns do not count
    assert (rows["src_ip"]["present"], rows["src_ip"]["missing"]) == (2, 1)
    assert (rows["status"]["present"], rows["status"]["invalid"], rows["status"]["missing"]) == (2, 1, 0)
    assert rows["user"]["present"] == 1 and rows["route"]["present"] == 0
    assert cov["sub_keys"] == {"params": [{"key": "coupon", "count": 1}]}
    assert {"field": "custom", "count": 1} in cov["other_fields"]
    assert (cov["start"], cov["end"]) == ("2026-11-27T08:00:00.000Z", "2026-11-27T08:00:02.000Z")


def test_quarantine_summary(tmp_path):
    q = tmp_path / "q.jsonl"
    recs = [{"reason": "late", "source": "a.jsonl", "position": 3, "detail": "late by 9s", "excerpt": "{}"},
            {"reason": "late", "source": "a.jsonl", "position": 4, "detail": "late by 10s", "excerpt": "{}"},
            {"reason": "not-json", "source": "b.jsonl", "position": 1, "detail": "x", "excerpt": "<b>"}]
    q.write_bytes(b"\n".join(orjson.dumps(r) for r in recs) + b"\nnot json\n")
    s = read_quarantine([str(q)])
    assert s["total"] == 3 and s["unreadable_lines"] == 1
    assert [(x["reason"], x["count"]) for x in s["by_reason"]] == [("late", 2), ("not-json", 1)]
    assert s["by_reason"][0]["meaning"].startswith("an event older than the watermark")
    assert [e["position"] for e in s["by_reason"][0]["examples"]] == [3, 4]
    assert s["by_source"] == [{"source": "a.jsonl", "count": 2}, {"source": "b.jsonl", "count": 1}]
    from sleuth.engine import Quarantine

    live = Quarantine(keep=5)
    live.add("x.jsonl", 7, "no-time", "no ts", "{}")
    s = read_quarantine(live)
    assert s["total"] == 1 and s["by_reason"][0]["examples"][0]["position"] == 7


def test_provenance_events_are_kept_up_to_a_thousand_other_lists_to_fifty():
    evs = [{"id": f"e{i}", "ts": "2026-11-27T08:00:00.000Z", "fields": {"n": i}} for i in range(1500)]
    m = match(1, "r", "scraping", "2026-11-27T08:00:00.000Z", "f",
              prov={"kind": "sequence", "within": "1h", "steps": [
                  {"step": "a", "count": 120, "omitted": 0, "events": evs[:120]},
                  {"step": "b", "count": 1500, "omitted": 0, "events": evs}]})
    m["fields"] = {"sample": list(range(120))}
    r = build_report(MatchInput([m]))
    steps = r["matches"][0]["provenance"]["steps"]
    assert len(steps[0]["events"]) == 120
    assert len(steps[1]["events"]) == 1001 and steps[1]["events"][-1] == "… [1,500 items in all]"
    assert r["matches"][0]["fields"]["sample"][-1] == "… [120 items in all]"
    assert len(r["matches"][0]["fields"]["sample"]) == 51


@pytest.mark.slow
def test_a_hundred_thousand_matches_fit_in_two_megabytes():
    ms = cloned_matches(100_000, seed=1)
    page, r = render_report(ms)
    assert r["summary"]["matches"] == 100_000 and r["detail"]["bytes"] <= r["detail"]["budget"]
    assert len(page) < 2_000_000, len(page)
