"""Sequence state only for events something can wait for; partials lost to eviction are counted.

Issue 23, item 2: an event that matches only a later step, at a key with no
partial, creates no state, so key pressure from such events cannot evict
real partials. The baseline (`SequenceMachine.eager_state`, the behaviour
before) is run on the same stream to show the test can fail. The 1M-key run
is in the slow tier.
"""

from __future__ import annotations

import io

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.engine.sequence import SequenceMachine
from sleuth.playground.cmd_run import print_summary

RULE = """
rule s {
  meta { ttp = "account-takeover"  goal = "account-takeover"  severity = high  title = "t" }
  by user
  %within%
  sequence {
    a: route == "/a"
    b: route == "/b"
  }
  %limit%
}
"""


def _pack(within: str = "within 1h", limit: str = ""):
    return load_pack(sources={"s.ttp": RULE.replace("%within%", within).replace("%limit%", limit)})


def _stream(keys: int, starters_every: int):
    """1k events/s; every key sends one `/b`; one key in `starters_every` sends `/a` first."""
    t = 0.0
    for k in range(keys):
        user = f"u{k}"
        if k % starters_every == 0:
            yield {"ts": t, "user": user, "route": "/a"}
            t += 0.001
        yield {"ts": t, "user": user, "route": "/b"}
        t += 0.001


def _run(pack, events, *, eager: bool = False):
    old = SequenceMachine.eager_state
    SequenceMachine.eager_state = eager
    try:
        eng = Engine(pack)
        out = eng.feed_many(events)
        out += eng.close()
    finally:
        SequenceMachine.eager_state = old
    return eng, out


@pytest.mark.parametrize("within", ["within 1h", ""], ids=["bounded", "unbounded"])
def test_later_step_events_make_no_state(within: str) -> None:
    pack = _pack(within, "limit keys 1000")
    eng, out = _run(pack, _stream(20_000, 100))
    stats = eng.stats()
    assert len(out) == 200
    assert stats["evictions"] == 0
    assert stats["partials_evicted_by_rule"] == {}
    # Completed keys are dropped at once: nothing is left.
    assert stats["keys_by_rule"] == {"s": 0}


def test_baseline_evicts_under_the_same_stream() -> None:
    # The behaviour before: every /b made a key, so 20,000 keys overflowed the cap of
    # 1,000 and evicted starters between their /a and /b (not here: each /a is
    # followed at once by its /b), but every key past the cap cost an eviction.
    pack = _pack("within 1h", "limit keys 1000")
    eng, out = _run(pack, _stream(20_000, 100), eager=True)
    assert len(out) == 200
    assert eng.stats()["evictions"] > 18_000


def test_partials_lost_to_eviction_are_counted_and_summarised() -> None:
    pack = _pack("", "limit keys 10")
    events = [{"ts": i, "user": f"u{i}", "route": "/a"} for i in range(25)]
    events += [{"ts": 100 + i, "user": f"u{i}", "route": "/b"} for i in range(25)]
    eng, out = _run(pack, events)
    stats = eng.stats()
    assert stats["evicted_by_rule"] == {"s": 15}
    assert stats["partials_evicted_by_rule"] == {"s": 15}
    assert sorted(m.key["user"] for m in out) == sorted(f"u{i}" for i in range(15, 25))
    buf = io.StringIO()
    print_summary(stats, 1.0, 1.0, buf)
    assert "sequence partials lost to eviction: s 15\n" in buf.getvalue()


def test_partials_evicted_survives_a_snapshot() -> None:
    pack = _pack("", "limit keys 2")
    eng = Engine(pack)
    for i in range(5):
        eng.feed({"ts": i, "user": f"u{i}", "route": "/a", "id": f"e{i}"})
    eng.advance(10)
    again = Engine.restore(pack, eng.snapshot())
    assert again.stats()["partials_evicted_by_rule"] == {"s": 3}


@pytest.mark.slow
def test_one_million_keys_no_evictions_of_keys_without_partials() -> None:
    # 1M distinct keys at 1k events/s; 1% start a partial, every key sends a later-step
    # event. Default limit keys (100,000): before, 1M keys were created (900k
    # evictions); now only the 10,000 starters get state, each dropped when it completes.
    pack = _pack("within 30m")
    eng, out = _run(pack, _stream(1_000_000, 100))
    stats = eng.stats()
    assert len(out) == 10_000
    assert stats["evictions"] == 0
    assert stats["partials_evicted_by_rule"] == {}
    assert stats["keys"] == 0
