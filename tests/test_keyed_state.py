"""Per-key state export/import: what a keyed stream processor needs.

A runner that keeps every key's state outside the engine (exported after
each event, imported before the next event of that key) must produce the
same matches as one engine holding everything.
"""

from __future__ import annotations

import random

import msgpack
import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine, SnapshotError

RULES = '''
rule seq {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = high title = "seq" }
  by user within 2m
  sequence {
    a: route == "/a" repeat >= 2
    b: route == "/b" and src_ip != a.src_ip
  }
}
rule win {
  meta { ttp = "scraping" goal = "scraping" severity = low title = "win" }
  by user
  window 1m
  having count() >= 4 and distinct(src_ip) >= 2
}
rule tum {
  meta { ttp = "sustained-volume" goal = "disruption" severity = low title = "tum" }
  by user
  window 1m tumbling
  having count() >= 3
}
rule quiet {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = low title = "absence" }
  by user within 5m
  sequence { req: route == "/reset" }
  unless done: route == "/done" after req within 30s
}
'''


def _stream(seed: int, n: int = 400):
    rnd = random.Random(seed)
    t = 1000.0
    out = []
    for i in range(n):
        t += rnd.choice([0.5, 1, 2, 5, 20])
        out.append({"id": f"e{i}", "ts": t, "user": f"u{rnd.randrange(6)}", "src_ip": f"10.0.0.{rnd.randrange(3)}",
                    "route": rnd.choice(["/a", "/a", "/b", "/x", "/reset", "/done"])})
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_external_key_store_gives_the_same_matches(seed):
    pack = load_pack(sources={"k.ttp": RULES})
    events = _stream(seed)
    whole = Engine(pack, lateness=0)
    expected = [m.to_json() for m in whole.feed_many(events) + whole.close()]

    eng = Engine(pack, lateness=0)
    store: dict[str, bytes] = {}
    got = []
    for ev in events:
        key = ev["user"]
        if key in store:
            eng.import_key(store.pop(key))
        got += [m.to_json() for m in eng.feed(ev)]
        store[key] = eng.export_key(key, remove=True)
    for blob in store.values():
        eng.import_key(blob)
    got += [m.to_json() for m in eng.close()]
    assert sorted(got) == sorted(expected)
    assert len(expected) > 0


def test_key_state_of_another_pack_is_refused():
    pack = load_pack(sources={"k.ttp": RULES})
    other = load_pack(sources={"k.ttp": RULES + "\n# changed\n"})
    eng = Engine(pack, lateness=0)
    eng.feed({"ts": 1, "user": "u", "route": "/a", "src_ip": "1.1.1.1"})
    blob = eng.export_key("u")
    with pytest.raises(SnapshotError, match="another format version or rule pack"):
        Engine(other).import_key(blob)
    with pytest.raises(SnapshotError):
        Engine(pack).import_key(b"garbage")


def test_partition_plan_groups_rules_by_key():
    pack = load_pack(sources={"k.ttp": RULES})
    assert pack.partition_plan() == [{"key": ["user"], "rules": ["seq", "win", "tum", "quiet"]}]


SUPPRESSED = '''
rule burst {
  meta { ttp = "scraping" goal = "scraping" severity = low title = "burst" }
  by user
  window 1m
  having count() >= 2
  suppress 5m
}
rule every_b {
  meta { ttp = "scraping" goal = "scraping" severity = low title = "every /b" }
  when route == "/b"
  by user
  suppress 2m
}
'''


@pytest.mark.parametrize("seed", [4, 5])
def test_suppression_travels_with_the_key(seed):
    pack = load_pack(sources={"s.ttp": SUPPRESSED})
    events = _stream(seed)
    whole = Engine(pack, lateness=0)
    expected = [m.to_json() for m in whole.feed_many(events) + whole.close()]
    assert whole.stats()["suppressed"] > 0

    # A fresh engine per event: nothing but the key's blob carries state over.
    store: dict[str, bytes] = {}
    got = []
    clock = None
    for ev in events:
        eng = Engine(pack, lateness=0, future_confirm=1)
        if clock is not None:
            eng.advance(clock)
        if ev["user"] in store:
            eng.import_key(store.pop(ev["user"]))
        got += [m.to_json() for m in eng.feed(ev)]
        clock = ev["ts"]
        blob = eng.export_key(ev["user"], remove=True)
        if eng.stats()["keys"] == 0 and msgpack.unpackb(blob)[1]:
            store[ev["user"]] = blob
    assert sorted(got) == sorted(expected)


def test_rules_option_runs_only_the_named_rules():
    pack = load_pack(sources={"k.ttp": RULES})
    events = _stream(7)
    whole = Engine(pack, lateness=0)
    expected = [m.to_json() for m in whole.feed_many(events) + whole.close() if m.rule in ("seq", "tum")]
    part = Engine(pack, lateness=0, rules=["seq", "tum"])
    got = [m.to_json() for m in part.feed_many(events) + part.close()]
    assert got == expected and got
    assert part.stats()["keys_by_rule"]["win"] == 0
    restored = Engine.restore(pack, part.snapshot())
    assert restored.rules == frozenset({"seq", "tum"})
    from sleuth.engine import EngineError
    with pytest.raises(EngineError, match="no rule named 'nope'"):
        Engine(pack, rules=["nope"])


def test_key_schedule_names_the_next_timer_and_the_idle_time():
    pack = load_pack(sources={"k.ttp": RULES})
    eng = Engine(pack, lateness=0, grace=2, future_confirm=1)
    eng.feed({"id": "r", "ts": 100.0, "user": "u", "route": "/reset"})
    due, idle = eng.key_schedule("u")
    # The trailing absence decides at 100 + 30 s (+ grace 2); the tumbling window [60, 120) ends at 120.
    assert due == 120.0
    assert idle == 100.0 + 300.0 + 30.0
    assert eng.key_schedule("nobody") == (None, None)
    blob = eng.export_key("u", remove=True)
    other = Engine(pack, lateness=0, grace=2, future_confirm=1)
    other.advance(200.0)            # the key arrives after its deadlines passed
    other.import_key(blob)
    fired = other.advance(200.0)    # the watermark does not move, the overdue timers fire
    assert [(m.rule, m.emitted_at) for m in fired] == [("quiet", 132.0)]
    # The absence decided, `quiet` holds nothing for the key any more (its state is dropped);
    # what is left is `win`'s sliding minute over the event at 100.
    assert other.key_schedule("u") == (None, 160.0)
    assert other.stats()["keys_by_rule"]["quiet"] == 0


def test_feed_match_runs_rules_over_rules_elsewhere():
    src = RULES + '''
rule chain {
  meta { ttp = "campaign" goal = "fraud" severity = high title = "chain" }
  from matches
  by user within 10m
  sequence {
    w: rule == "win"
    s: rule == "seq"
  }
}
'''
    pack = load_pack(sources={"k.ttp": src})
    events = _stream(11, 600)
    whole = Engine(pack, lateness=0)
    expected = [m.to_json() for m in whole.feed_many(events) + whole.close() if m.rule == "chain"]
    assert expected
    producers = Engine(pack, lateness=0, rules=["seq", "win", "tum", "quiet"])
    made = producers.feed_many(events) + producers.close()
    consumer = Engine(pack, lateness=0, rules=["chain"])
    got = []
    for m in made:
        got += [x.to_json() for x in consumer.feed_match(m)]
    got += [x.to_json() for x in consumer.close()]
    assert got == expected
