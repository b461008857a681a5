"""The byte budget (`Engine(memory=...)`): accounting per rule, max-min fair eviction, flags and counters.

A flood of distinct source addresses through a rule keyed by address must
evict that rule's own keys only: a rule keyed by user that holds less than
an equal share of the budget keeps every key and gives exactly the matches
of an unbounded run. The estimate stays under the budget, and the bytes the
engine really allocates (tracemalloc) stay under it too (the estimate errs
high: events held by several rules are counted once per rule).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

import pytest
from corpus import compile_rules

from sleuth.engine import Engine, EngineError
from sleuth.engine.state import deep_size, parse_bytes

META = 'meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high  title = "t" }'
RULES = f"""
rule by_source {{ {META} by src_ip window 10m having distinct(user) >= 3 }}
rule by_user {{ {META} by user window 10m where status == 401 having count() >= 4 }}
"""
MIB = 1 << 20


def _stream(flood: int) -> list[dict]:
    """`flood` events from distinct addresses, and 12 users failing logins among them (every 50th event)."""
    out = []
    for i in range(flood):
        ev = {"id": f"f{i}", "ts": 1000.0 + i * 0.01, "src_ip": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
              "user": f"x{i}", "status": 200}
        out.append(ev)
        if i % 50 == 0:
            u = i // 50 % 12
            out.append({"id": f"u{i}", "ts": 1000.0 + i * 0.01, "src_ip": "192.0.2.1", "user": f"victim{u}",
                        "status": 401})
    return out


def _run(events, **options):
    eng = Engine(compile_rules(RULES), lateness=0, **options)
    out = []
    for i in range(0, len(events), 1000):
        out += eng.feed_many(events[i:i + 1000])
    out += eng.close()
    return eng, out


@pytest.fixture(scope="module")
def flood():
    events = _stream(30_000)
    free_eng, free = _run(events)
    eng, bounded = _run(events, memory="2MB")
    return events, free_eng, free, eng, bounded


def test_a_flood_evicts_only_the_flooding_rule(flood):
    _, free_eng, free, eng, bounded = flood
    stats = eng.stats()
    assert free_eng.stats()["evictions"] == 0
    assert stats["evicted_by_rule"].get("by_source", 0) > 20_000
    assert "by_user" not in stats["evicted_by_rule"]
    assert eng.metrics["evictions_memory"] == stats["evictions"]
    by_user = [(m.key, m.first_ts, m.last_ts, m.flags) for m in free if m.rule == "by_user"]
    assert by_user and by_user == [(m.key, m.first_ts, m.last_ts, m.flags) for m in bounded if m.rule == "by_user"]


def test_matches_shaped_by_the_budget_are_flagged(flood):
    _, _, free, _, bounded = flood
    src = [m for m in bounded if m.rule == "by_source"]
    assert any("evicted" in m.flags for m in src)
    assert not any("evicted" in m.flags for m in free)
    # The attacking address stays active, so least-recently-active eviction keeps it: same matches.
    assert [(m.key, m.first_ts, m.last_ts) for m in src] == [
        (m.key, m.first_ts, m.last_ts) for m in free if m.rule == "by_source"]


def test_the_estimate_stays_under_the_budget(flood):
    _, _, _, eng, _ = flood
    report = eng.stats()["memory"]
    assert report["budget"] == 2_000_000
    assert 0 < report["estimated"] <= report["budget"]
    assert set(report["by_rule"]) == {"by_source", "by_user"}
    assert report["by_rule"]["by_user"] < report["budget"] / 2


def test_allocated_bytes_stay_under_the_budget():
    events = _stream(20_000)
    gc.collect()
    tracemalloc.start()
    try:
        eng = Engine(compile_rules(RULES), lateness=0, memory="2MB")
        base = tracemalloc.get_traced_memory()[0]
        for i in range(0, len(events), 1000):
            eng.feed_many(events[i:i + 1000])
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held <= 2_000_000, held


def test_the_budget_is_a_snapshot_option():
    eng, _ = _run(_stream(200), memory="3MiB")
    back = Engine.restore(eng.pack, eng.snapshot())
    assert back.memory == 3 * MIB


@pytest.mark.parametrize("text, expected", [
    ("512MB", 512_000_000), ("1.5GiB", 3 * 2 ** 29), ("8000k", 8_000_000), ("2 MiB", 2 * MIB), (3_000_000, 3_000_000),
    ("1048576", MIB), (None, None),
], ids=["MB", "GiB-fraction", "k", "space", "int", "digits", "none"])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "12XB", "", "-5MB", True, "100k"],
                         ids=["word", "unit", "empty", "negative", "bool", "below-1MiB"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(EngineError):
        Engine(compile_rules(RULES), memory=text)


def test_deep_size_follows_slots_and_containers():
    class Slotted:
        __slots__ = ("a", "b")

        def __init__(self):
            self.a = [1.5, "x" * 100]
            self.b = {"k": (1, 2)}

    s = Slotted()
    assert deep_size(s) == sys.getsizeof(s) + deep_size(s.a) + deep_size(s.b)
    assert deep_size(s.a) >= 100
    shared = "y" * 1000
    assert deep_size([shared, shared]) < deep_size([shared, "z" * 1000])
