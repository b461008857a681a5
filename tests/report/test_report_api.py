"""`write_report` from memory, the way `sleuth demo`, `sleuth run --report` and the playground call it.

A simulation in memory, the shipped pack run by an `Engine` with a
`Quarantine`, and the report written from match dicts, event dicts, the
quarantine object, the labels as data and the compiled pack: the figures
equal those of the same matches read from a file.
"""

from __future__ import annotations

import orjson

from sleuth.dsl.pack import load_pack
from sleuth.engine import Engine, Normalizer, Quarantine
from sleuth.engine.ingest.openapi import OpenAPI
from sleuth.playground.report import render_report, write_report
from sleuth.playground.simulate import SimConfig, generate


def test_in_memory_run_report_equals_the_file_report(tmp_path):
    sim = generate(SimConfig(hours=0.25, seed=5, scale=0.05))
    pack = load_pack(None)
    quarantine = Quarantine(keep=10)
    engine = Engine(pack, normalizer=Normalizer(templater=OpenAPI.load(sim.openapi)), quarantine=quarantine)
    events = sim.events + [{"src_ip": "203.0.113.9"}]          # one without a time: quarantined
    matches = []
    for i in range(0, len(events), 2048):
        matches.extend(engine.feed_many(events[i:i + 2048], "sim"))
    matches.extend(engine.close())
    dicts = [m.to_dict() for m in matches]
    assert dicts, "the simulated quarter hour should match something"
    out = tmp_path / "demo.html"
    labels = {"name": "(simulated in memory)", "labels": sim.labels, "traps": sim.traps, "manifest": sim.manifest}
    r = write_report(out, dicts, events=events, quarantine=quarantine, labels=labels, pack=pack)
    assert out.read_bytes()[:15] == b"<!DOCTYPE html>" and r["bytes"] == out.stat().st_size
    assert r["quarantine"]["total"] == 1 and r["quarantine"]["by_reason"][0]["reason"] == "no-time"
    assert r["quarantine"]["by_reason"][0]["examples"][0]["source"] == "sim"
    assert r["coverage"]["events"] == len(sim.events)
    assert r["evaluation"]["matches"]["total"] == len(dicts)
    assert all(x["file"] for x in r["rules"])

    path = tmp_path / "m.jsonl"
    path.write_bytes(b"".join(m.to_json() + b"\n" for m in matches))
    _page, from_file = render_report([str(path)], pack=pack)
    for k in ("timeline", "rules", "severity", "actors", "campaigns", "summary", "matches", "interval"):
        assert from_file[k] == r[k], k
    assert orjson.loads(orjson.dumps(r["matches"])) == r["matches"]


def test_single_paths_and_a_broken_pack_path(tmp_path):
    import pytest

    from sleuth.playground.report import ReportInputError

    m = {"match_id": "00000000000000aa", "rule": "r", "ttp": "scraping", "goal": "scraping", "severity": "low",
         "title": "t", "key": {}, "first_ts": "2026-11-27T08:00:00.000Z", "last_ts": "2026-11-27T08:00:00.000Z",
         "emitted_at": "2026-11-27T08:00:00.000Z", "fields": {}, "fingerprint": "00000000000000bb", "flags": [],
         "provenance": {"kind": "event", "events": []}}
    path, events = tmp_path / "m.jsonl", tmp_path / "e.jsonl"
    path.write_bytes(orjson.dumps(m) + b"\n")
    events.write_bytes(b'{"ts": "2026-11-27T08:00:00Z", "src_ip": "203.0.113.1"}\n')
    _page, r = render_report(path, events=events, quarantine=str(events))
    assert r["inputs"] == {"matches": [str(path)], "events": [str(events)], "quarantine": [str(events)]}
    assert r["coverage"]["events"] == 1 and r["quarantine"]["total"] == 1
    broken = tmp_path / "broken.ttp"
    broken.write_text("rule x {\n")
    with pytest.raises(ReportInputError, match="the rule pack has errors"):
        render_report(path, pack=str(broken))
