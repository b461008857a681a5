"""The time-ordered buffer: `feed` and `feed_many` agree at its edges, and user code cannot break it.

Each case was a divergence or a crash found by review: the watermark after
`advance()` with no confirmed clock, the far-future boundary in floats,
straggler heaps in snapshots, rule-error positions, interrupts mid-release,
held far-future events taken back, custom normalisers, and times or index
values broken by enrichers.
"""

from __future__ import annotations

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine, Normalizer

META = 'meta { ttp = "account-takeover"  goal = "account-takeover"  severity = high  title = "t" }'
FIRE = load_pack(sources={"a.ttp": f"rule r {{ {META} when status == 500 }}"})
ROUTED = load_pack(sources={"b.ttp": f'rule r {{ {META} when route == "/x" and status == 500 }}'})
WINDOW = load_pack(sources={"c.ttp": f"rule r {{ {META} by user window 1m having count() >= 2 }}"})


def ids(matches):
    return [m.provenance["events"][0]["id"] for m in matches]


def both(pack, events, **options):
    """(matches, engine) fed one by one, and the same through feed_many."""
    one = Engine(pack, **options)
    a = [m for e in events for m in one.feed(e)]
    many = Engine(pack, **options)
    b = many.feed_many(events)
    return (a, one), (b, many)


def test_watermark_after_advance_without_a_clock_moves_only_with_events():
    out = {}
    for how in ("feed", "feed_many"):
        eng = Engine(FIRE, lateness=5)
        eng.feed({"id": "a", "ts": 1000.0, "status": 500})
        eng.advance(500.0)          # no clock confirmed: the held event sets max_ts = 1000, the watermark stays 500
        ev = {"id": "b", "ts": 600.0, "status": 500}
        got = eng.feed_many([ev]) if how == "feed_many" else eng.feed(ev)
        out[how] = (ids(got + eng.close()), dict(eng.quarantine.counts))
    assert out["feed"] == out["feed_many"] == (["b", "a"], {})


def test_far_future_boundary_is_the_same_test_in_feed_and_feed_many():
    # c is exactly 86,400 s after b, across 2**30 s: `c <= b + tol` and `c - b <= tol` differ in floats.
    # d comes back to b's time: c, held, is contradicted (a last held event nothing contradicts is kept).
    evs = [{"id": "a", "ts": 1073667489.25393, "status": 500}, {"id": "b", "ts": 1073667490.25393, "status": 500},
           {"id": "c", "ts": 1073753890.25393, "status": 500}, {"id": "d", "ts": 1073667491.25393, "status": 500}]
    (a, one), (b, many) = both(FIRE, evs)
    assert ids(a + one.close()) == ids(b + many.close()) == ["a", "b", "d"]
    assert one.quarantine.counts == many.quarantine.counts == {"future": 1}


def test_snapshot_bytes_do_not_depend_on_the_straggler_heap_layout():
    evs = [{"id": f"e{i}", "ts": float(t), "status": 500} for i, t in enumerate([100, 100, 92, 105, 101, 99, 98])]
    (_, one), (_, many) = both(FIRE, evs, lateness=10)
    assert one.snapshot() == many.snapshot()
    assert Engine.restore(FIRE, one.snapshot()).snapshot() == one.snapshot()


def test_rule_error_is_recorded_at_the_events_own_position():
    def enrich(ev):
        if ev["id"] == "e1":
            ev["user"] = {"not", "hashable"}

    evs = [{"id": f"e{i}", "ts": 100.0 + i, "user": "u"} for i in range(10)]
    (_, one), (_, many) = both(WINDOW, evs, lateness=2, enrich=[enrich])
    want = [("<feed>", 2, "rule-error", "e1")]
    for eng in (one, many):
        assert [(r["source"], r["position"], r["reason"], r["excerpt"]) for r in eng.quarantine.records] == want


def test_an_unhashable_index_value_from_an_enricher_is_a_rule_error_not_a_crash():
    def enrich(ev):
        if ev["id"] == "e1":
            ev["route"] = ["/x"]

    evs = [{"id": f"e{i}", "ts": 100.0 + i, "route": "/x", "status": 500} for i in range(4)]
    (a, one), (b, many) = both(ROUTED, evs, lateness=0, enrich=[enrich])
    for got, eng in ((a, one), (b, many)):
        assert ids(got + eng.close()) == ["e0", "e2", "e3"]
        assert [(r["position"], r["reason"]) for r in eng.quarantine.records] == [(2, "rule-error")]


def test_an_interrupt_mid_release_never_processes_an_event_twice():
    eng = Engine(FIRE, lateness=0)
    m = eng.machines[0]
    orig = m.on_event
    calls = []

    def on_event(ev):
        calls.append(ev["id"])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return orig(ev)

    m.on_event = on_event
    eng._event_dispatch = eng._bind(FIRE.events)
    with pytest.raises(KeyboardInterrupt):
        eng.feed_many([{"id": f"e{i}", "ts": 1e9 + i, "status": 500} for i in range(5)])
    rest = eng.close()
    assert ids(rest) == ["e4"]
    assert calls == ["e0", "e1", "e2", "e3", "e4"]
    assert eng.stats()["events_processed"] == 5


def test_held_far_future_events_taken_back_keep_their_own_order():
    evs = [{"id": f"e{i}", "ts": float(t), "status": 500}
           for i, t in enumerate([1100, 1150, 1120, 1120, 1000, 1000, 1000, 1000])]
    (a, one), (b, many) = both(FIRE, evs, future_tolerance=100, future_confirm=5, lateness=60)
    want = ["e4", "e5", "e6", "e7", "e0", "e2", "e3", "e1"]
    assert ids(a + one.close()) == ids(b + many.close()) == want


def test_a_normaliser_subclass_is_used_by_feed_and_feed_many():
    class Loud(Normalizer):
        def normalize(self, raw, source="", position=0):
            return {**super().normalize(raw, source, position), "status": 500}

    class Plain:
        def normalize(self, raw, source, position):
            return dict(raw)

    evs = [{"id": f"e{i}", "ts": 100.0 + i, "status": 200} for i in range(3)]
    for nz, want in ((Loud, ["e0", "e1", "e2"]), (Plain, [])):
        (a, one), (b, many) = both(FIRE, evs, lateness=0, normalizer=nz())
        assert ids(a + one.close()) == ids(b + many.close()) == want


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "soon", None, -1.0], ids=repr)
def test_a_time_broken_by_an_enricher_is_quarantined(bad):
    def enrich(ev):
        if ev["id"] == "e3":
            ev["ts"] = bad

    evs = [{"id": f"e{i}", "ts": 100.0 + i, "status": 500} for i in range(8)]
    (a, one), (b, many) = both(FIRE, evs, lateness=1, enrich=[enrich])
    for got, eng in ((a, one), (b, many)):
        assert ids(got + eng.close()) == ["e0", "e1", "e2", "e4", "e5", "e6", "e7"]
        assert [(r["position"], r["reason"]) for r in eng.quarantine.records] == [(4, "bad-time")]
        assert eng.max_time == 107.0
