"""Threads: one engine serves one thread at a time; `SharedEngine` serves many.

docs/embedding.md, "Threads". A second call entering an engine while another
is inside raises `EngineError` (before touching any state) instead of
corrupting it: shown deterministically with an enricher that parks the first
call, and under real threads with a tiny switch interval (no rule errors, every
event either taken whole or refused). `SharedEngine` under real threads gives
the matches of a sequential run over the same events.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter

import orjson
import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine, EngineError, SharedEngine

RULES = '''
rule burst {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high  title = "burst" }
  by src_ip
  window 10s
  having count() >= 3
}
rule fail_then_ok {
  meta { ttp = "account-takeover"  goal = "account-takeover"  severity = high  title = "f" }
  by user
  within 1m
  sequence {
    f: status == 401 repeat >= 2
    s: status == 200
  }
}
'''


@pytest.fixture(scope="module")
def pack():
    return load_pack(sources={"threads.ttp": RULES})


def events(n: int, offset: int = 0) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"id": f"t{offset + i}", "ts": 1000.0 + (offset + i) * 0.01, "src_ip": f"10.0.0.{i % 7}",
                    "user": f"u{i % 5}", "status": 401 if i % 3 else 200, "route": "/login", "method": "POST"})
    return out


def view(matches) -> Counter:
    """Matches as a multiset, without the arrival-dependent match id."""
    out: Counter = Counter()
    for m in matches:
        d = m.to_dict()
        d.pop("match_id")
        out[orjson.dumps(d, option=orjson.OPT_SORT_KEYS)] += 1
    return out


def test_a_second_call_inside_an_engine_raises_engine_error(pack):
    parked, release = threading.Event(), threading.Event()

    def park(ev):
        if ev.get("id") == "slow":
            parked.set()
            release.wait(5)

    eng = Engine(pack, enrich=[park])
    first = threading.Thread(target=eng.feed, args=({"id": "slow", "ts": 1.0, "src_ip": "1.1.1.1"},))
    first.start()
    assert parked.wait(5)
    try:
        for call in (lambda: eng.feed({"ts": 2.0, "src_ip": "1.1.1.1"}), lambda: eng.feed_many([]),
                     eng.close, eng.snapshot, lambda: eng.advance(10.0)):
            with pytest.raises(EngineError, match="while another call is running on this engine"):
                call()
    finally:
        release.set()
        first.join(5)
    # The refused calls changed nothing: the engine goes on as if they never happened.
    assert eng.stats()["events_in"] == 1
    assert eng.metrics["rule_errors"] == 0
    eng.feed({"ts": 2.0, "src_ip": "1.1.1.1"})
    assert eng.stats()["events_in"] == 2


def test_a_listener_feeding_its_own_engine_is_refused(pack):
    eng = Engine(pack)
    errors = []

    def echo(m):
        try:
            eng.feed({"ts": 3000.0, "src_ip": "9.9.9.9"})
        except EngineError as exc:
            errors.append(exc)

    eng.listeners.append(echo)
    eng.feed_many(events(30))
    eng.close()
    assert errors and eng.metrics["rule_errors"] == 0


def test_unshared_engine_under_threads_refuses_instead_of_corrupting(pack):
    """The issue's reproduction: two threads feeding one engine gave rule errors and nothing was raised."""
    eng = Engine(pack, lateness=1000.0)
    taken, refused = Counter(), Counter()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def worker(k):
        for ev in events(400, offset=k * 400):
            try:
                eng.feed(ev)
                taken[k] += 1
            except EngineError:
                refused[k] += 1

    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    eng.close()
    assert eng.metrics["rule_errors"] == 0
    assert eng.quarantine.counts.get("rule-error", 0) == 0
    assert eng.stats()["events_in"] == sum(taken.values())
    assert sum(taken.values()) + sum(refused.values()) == 1600


def test_shared_engine_under_threads_equals_a_sequential_run(pack):
    threads_n, per = 8, 300
    slices = [events(per, offset=k * per) for k in range(threads_n)]
    seq = Engine(pack, lateness=1000.0)
    expected = []
    for s in slices:
        for ev in s:
            expected += seq.feed(ev)
    expected += seq.close()

    shared = SharedEngine(pack, lateness=1000.0)
    got: list = []
    got_lock = threading.Lock()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)

    def worker(evs):
        for i in range(0, len(evs), 7):
            out = shared.feed_many(evs[i:i + 7]) if i % 2 else [m for ev in evs[i:i + 7] for m in shared.feed(ev)]
            with got_lock:
                got.extend(out)

    try:
        threads = [threading.Thread(target=worker, args=(s,)) for s in slices]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    got += shared.close()
    stats = shared.stats()
    assert stats["rule_errors"] == 0 and stats["quarantined"] == {}
    assert stats["events_in"] == threads_n * per
    assert expected and view(got) == view(expected)
