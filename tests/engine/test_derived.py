"""Derived records: a runtime beside the engine feeds `from matches` rules that name it.

`Engine.listeners` are called with each match as it is emitted;
`Engine.feed_derived(producer, record)` called from one of them enters the
record at that match's time. Only rules naming the producer (`rule ==
"@decision"`) read it; rules without a producer filter never do. The
checker accepts the reserved producer names and still rejects unknown rules.
"""

from __future__ import annotations

import pytest

from sleuth.dsl import PackError, load_pack
from sleuth.engine import Engine

RULES = '''
rule hit {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = high title = "a login" }
  by src_ip
  when route == "/login"
}

rule any_match {
  meta { ttp = "campaign" goal = "account-takeover" severity = low title = "any event rule's match" }
  from matches
  when true
}

rule twice_decided {
  meta { ttp = "campaign" goal = "account-takeover" severity = critical title = "two decisions for one address" }
  from matches
  where rule == "@decision" and action == "block"
  by src_ip
  window 1m
  having count() >= 2
}
'''


def _decider(engine: Engine, seen: list):
    def listen(m):
        seen.append(m.rule)
        if m.rule != "hit":
            return
        engine.feed_derived("@decision", {
            "id": f"d-{m.match_id}", "ts": m.emitted_at, "rule": "@decision", "action": "block",
            "match_id": m.match_id, "src_ip": m.key["src_ip"], "key": dict(m.key), "fields": {},
        })
    return listen


def _run(pack, events, batch: bool):
    eng = Engine(pack, lateness=0.0)
    seen: list = []
    eng.listeners.append(_decider(eng, seen))
    out = eng.feed_many(events) if batch else [m for ev in events for m in eng.feed(ev)]
    out += eng.close()
    return eng, out, seen


EVENTS = [{"id": f"e{i}", "ts": 100.0 + i, "src_ip": ip, "route": "/login"}
          for i, ip in enumerate(["198.51.100.1", "203.0.113.9", "198.51.100.1", "203.0.113.9"])]


@pytest.mark.parametrize("batch", [False, True], ids=["feed", "feed_many"])
def test_rule_over_rules_reads_decisions_only_by_name(batch):
    pack = load_pack(sources={"t.ttp": RULES})
    eng, out, seen = _run(pack, EVENTS, batch)
    by_rule = [(m.rule, dict(m.key)) for m in out]
    # 4 hits; any_match reads each hit (never a decision); twice_decided fires on the second decision per address.
    assert by_rule == [
        ("hit", {"src_ip": "198.51.100.1"}), ("any_match", {}),
        ("hit", {"src_ip": "203.0.113.9"}), ("any_match", {}),
        ("hit", {"src_ip": "198.51.100.1"}), ("any_match", {}),
        ("twice_decided", {"src_ip": "198.51.100.1"}),
        ("hit", {"src_ip": "203.0.113.9"}), ("any_match", {}),
        ("twice_decided", {"src_ip": "203.0.113.9"}),
    ]
    # Listeners see every emitted match once it has been fed to `from matches` rules, so a match
    # those rules complete reaches the listeners before the match that completed it.
    # (the listener notes `hit` before it feeds the decision that completes `twice_decided`).
    assert seen == ["any_match", "hit", "any_match", "hit", "any_match", "hit", "twice_decided",
                    "any_match", "hit", "twice_decided"]
    td = [m for m in out if m.rule == "twice_decided"][0]
    assert td.emitted_at == 102.0
    assert td.provenance["event_count"] == 2
    assert [e["id"] for e in td.provenance["events"]] == [f"d-{out[0].match_id}", f"d-{out[4].match_id}"]
    assert eng.stats()["matches_by_rule"] == {"hit": 4, "any_match": 4, "twice_decided": 2}


def test_feed_and_feed_many_agree_with_derived_records():
    pack = load_pack(sources={"t.ttp": RULES})
    a = _run(pack, EVENTS, False)
    b = _run(pack, EVENTS, True)
    assert [m.to_json() for m in a[1]] == [m.to_json() for m in b[1]]
    assert a[0].snapshot() == b[0].snapshot()


def test_no_listener_no_derived_records():
    pack = load_pack(sources={"t.ttp": RULES})
    eng = Engine(pack, lateness=0.0)
    out = eng.feed_many(EVENTS) + eng.close()
    assert [m.rule for m in out].count("twice_decided") == 0
    assert len(out) == 8


def test_checker_accepts_reserved_producer_and_rejects_unknown_rule():
    load_pack(sources={"t.ttp": RULES})
    bad = RULES.replace('"@decision"', '"@decisoin"')
    with pytest.raises(PackError) as exc:
        load_pack(sources={"t.ttp": bad})
    assert [d.code for d in exc.value.errors] == ["unknown-rule"]
    assert "'@decisoin', which does not exist" in exc.value.errors[0].message
