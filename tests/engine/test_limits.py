"""Bounds that need more events than a corpus case can list.

docs/semantics.md sections 1, 4 and 8: an unconfirmed far-future event is
quarantined after 1000 further events; the engine-wide `max_keys` cap holds
across rules; idle-key collection never changes output.
"""

from __future__ import annotations

import random

import pytest
from corpus import compile_rules, json_lines, run_items
from streams import AGENTS, GAPS, IPS, METHODS, MIXED_PACK, ROUTES, STATUSES, USERS

from sleuth.engine import Engine

X = '''
rule x {
  meta { ttp = "spec-anomaly"  goal = "scraping"  severity = low  title = "t" }
  when route == "/x"
}
'''

TWO_SEQUENCES = '''
rule r {
  meta { ttp = "scraping"  goal = "scraping"  severity = low  title = "t" }
  by user
  within 1m
  sequence {
    a: route == "/a"
    b: route == "/b"
  }
}
rule q {
  meta { ttp = "scraping"  goal = "scraping"  severity = low  title = "t" }
  by user
  within 1m
  sequence {
    a: route == "/a"
    b: route == "/b"
  }
}
'''


def test_an_unconfirmed_far_future_event_is_quarantined_after_1000_further_events():
    eng = Engine(compile_rules(X))
    eng.feed({"ts": 100, "route": "/x"})
    eng.feed({"ts": 10_000_000, "route": "/x"})
    for i in range(999):
        eng.feed({"ts": 100 + i * 0.01, "route": "/x"})
    assert eng.quarantine.counts.get("future", 0) == 0, "quarantined before the 1000th further event"
    eng.feed({"ts": 111, "route": "/x"})
    assert eng.quarantine.counts.get("future") == 1


def test_a_far_future_first_event_does_not_set_the_clock():
    """The first event needs confirmation too: a lone forged first timestamp is quarantined."""
    eng = Engine(compile_rules(X), lateness=5)
    out = eng.feed({"ts": 10_000_000, "route": "/x"})
    out += eng.feed({"ts": 100, "route": "/x"})
    out += eng.feed({"ts": 101, "route": "/x"})
    out += eng.close()
    assert [m.first_ts for m in out] == [100, 101]
    assert dict(eng.quarantine.counts) == {"future": 1}


def test_max_keys_holds_across_rules():
    eng = Engine(compile_rules(TWO_SEQUENCES), max_keys=1500, lateness=0)
    peak = 0
    for i in range(3000):
        eng.feed({"id": f"k{i}", "ts": 100 + i * 0.001, "user": f"u{i}", "route": "/a"})
        peak = max(peak, eng.stats()["keys"])
    assert peak <= 1500


def _long_sorted_stream(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    t = 1000.0
    out = []
    for i in range(n):
        t += rnd.choice(GAPS)
        out.append({"id": f"x{i}", "ts": t, "user": rnd.choice(USERS), "src_ip": rnd.choice(IPS),
                    "route": rnd.choice(ROUTES), "status": rnd.choice(STATUSES),
                    "method": rnd.choice(METHODS), "ua": rnd.choice(AGENTS)})
    return out


def test_collection_never_changes_output_of_a_long_sorted_stream():
    """More than 4096 events buffered until close(): the flush must match the streaming run."""
    pack = compile_rules(MIXED_PACK)
    events = _long_sorted_stream(5000, seed=3)
    _, streaming = run_items(pack, events, {"lateness": 5})
    _, buffered = run_items(pack, events, {"lateness": 1e6})
    assert json_lines(m for m, _ in buffered) == json_lines(m for m, _ in streaming)


# ---------------------------------------------------------------- feed_many buffering


def test_feed_many_never_holds_a_long_iterable_whole():
    """Due events are released at least every DRAIN_EVERY events, not at the end of the call."""
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine
    from sleuth.engine.engine import DRAIN_EVERY

    pack = load_pack(sources={"f.ttp": '''rule f {
  meta { ttp = "spec-anomaly" goal = "scraping" severity = low title = "t" }
  when status == 500
}
'''})
    eng = Engine(pack, lateness=0)
    most = []

    def stream():
        for i in range(20 * DRAIN_EVERY):
            most.append(eng.stats()["buffered"])
            yield {"id": f"e{i}", "ts": 1e9 + i, "status": 500 if i % 1000 == 0 else 200}

    got = eng.feed_many(stream())
    assert [m.provenance["events"][0]["id"] for m in got] == [f"e{i}" for i in range(0, 20 * DRAIN_EVERY, 1000)]
    assert max(most) <= DRAIN_EVERY
    assert len(eng._fifo) <= 2 * DRAIN_EVERY     # consumed slots are dropped too


def test_feed_many_positions_must_be_one_per_event():
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, EngineError

    pack = load_pack(sources={"f.ttp": '''rule f {
  meta { ttp = "spec-anomaly" goal = "scraping" severity = low title = "t" }
  when status == 500
}
'''})
    eng = Engine(pack)
    with pytest.raises(EngineError, match="2 events but 1 positions"):
        eng.feed_many([{"ts": 1e9}, {"ts": 1e9}], positions=[7])
    eng.feed_many([{"ts": 1e9}, {"ts": "bad"}], source="in.jsonl", positions=[7, 9])
    assert [(r["source"], r["position"], r["reason"]) for r in eng.quarantine.records] == [
        ("in.jsonl", 9, "bad-time")]


def test_feed_many_keeps_what_it_took_when_the_iterable_raises():
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine

    pack = load_pack(sources={"f.ttp": '''rule f {
  meta { ttp = "spec-anomaly" goal = "scraping" severity = low title = "t" }
  by user
  within 1m
  sequence {
    a: status == 401
    b: status == 200
  }
}
'''})
    events = [{"id": f"e{i}", "ts": 1e9 + i, "user": f"u{i % 3}", "status": (401, 200)[i % 2]} for i in range(50)]

    def broken():
        yield from events[:30]
        raise OSError("the disk went away")

    eng = Engine(pack)
    with pytest.raises(OSError):
        eng.feed_many(broken())
    got = eng.feed_many(events[30:]) + eng.close()
    ref = Engine(pack)
    want = ref.feed_many(events[:30]) + ref.feed_many(events[30:]) + ref.close()
    assert [m.to_json() for m in got] == [m.to_json() for m in want[len(want) - len(got):]]
    assert eng.stats() == ref.stats()
    assert eng.snapshot() == ref.snapshot()
