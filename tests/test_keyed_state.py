"""Per-key state export/import: what a keyed stream processor needs.

A runner that keeps every key's state outside the engine (exported after
each event, imported before the next event of that key) must produce the
same matches as one engine holding everything.
"""

from __future__ import annotations

import random

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
