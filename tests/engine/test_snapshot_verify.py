"""Snapshots verify what they restore: the pack's layout, the header's own bytes, every byte of the body.

The header records each rule's name, kind, window kind, aggregates, key and
steps; restoring into a pack whose layout differs names the first rule
that differs. The header is sealed by its own checksum and the body by
another, so flipping any single byte of a snapshot is refused (or, where
msgpack reads the same values back, restores exactly the same state).
"""

from __future__ import annotations

import pytest
from corpus import compile_rules

from sleuth.engine import Engine, SnapshotError

RULES = '''
rule w {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high  title = "t" }
  by src_ip
  window 1m
  limit window 3
  having distinct(user) >= 4 and count() >= 9
}
rule s {
  meta { ttp = "account-takeover"  goal = "account-takeover"  severity = high  title = "s" }
  by user within 5m
  sequence {
    a: status == 401
    b: status == 200
  }
}
'''


def _events(n: int, start: float = 100.0) -> list[dict]:
    return [{"id": f"e{i}", "ts": start + i, "src_ip": f"10.0.0.{i % 2}", "user": f"u{i % 5}",
             "status": 401 if i % 4 else 200} for i in range(n)]


@pytest.fixture(scope="module")
def pack():
    return compile_rules(RULES)


@pytest.fixture(scope="module")
def blob(pack):
    eng = Engine(pack, lateness=0)
    eng.feed_many(_events(8))
    assert eng.machines[0].folded > 0, "the fixture must hold folded slices"
    return eng.snapshot()


def test_a_pack_with_another_layout_is_refused_naming_the_rule(pack, blob):
    other = compile_rules(RULES.replace("having distinct(user) >= 4 and count() >= 9",
                                        "having count() >= 9"))
    with pytest.raises(SnapshotError) as err:
        Engine.restore(other, blob)
    text = str(err.value)
    assert "another rule pack" in text
    assert "rule #1 is 'w' (window sliding: distinct, count; by src_ip) in the snapshot" in text
    assert "'w' (window sliding: count; by src_ip) in this pack" in text


def test_a_renamed_rule_is_named(pack, blob):
    other = compile_rules(RULES.replace("rule s {", "rule s2 {"))
    with pytest.raises(SnapshotError, match=r"rule #2 is 's' \(sequence: 2 steps; by user\) in the snapshot, "
                                            r"'s2' \(sequence: 2 steps; by user\) in this pack"):
        Engine.restore(other, blob)


def test_folded_windows_survive_a_snapshot(pack):
    events = _events(40)
    whole = Engine(pack, lateness=0)
    expected = whole.feed_many(events) + whole.close()
    for cut in (5, 9, 17, 30):
        eng = Engine(pack, lateness=0)
        got = eng.feed_many(events[:cut])
        blob = eng.snapshot()
        eng = Engine.restore(pack, blob)
        assert eng.snapshot() == blob
        got += eng.feed_many(events[cut:]) + eng.close()
        assert [m.to_json() for m in got] == [m.to_json() for m in expected]
    assert any("window-folded" in m.flags for m in expected)


def test_every_byte_flipped_is_refused_or_restores_the_same_state(pack, blob):
    outcomes: dict[str, int] = {}
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0xFF
        try:
            eng = Engine.restore(pack, bytes(bad))
        except SnapshotError:
            outcomes["refused"] = outcomes.get("refused", 0) + 1
            continue
        # Restored: only acceptable when it is the very same state (msgpack read equal values).
        assert eng.snapshot() == blob, f"byte {i} flipped restored different state"
        outcomes["same"] = outcomes.get("same", 0) + 1
    assert outcomes.get("refused", 0) == len(blob) - outcomes.get("same", 0)
    assert outcomes["refused"] >= len(blob) * 0.99
