"""No silent cap: every cap in the engine's source is listed, and each one that shapes a match flags it.

The engine's caps are read from its source (`limit("...")`, `limits.get("...")`,
`max_keys`, the suppression table); each must be in `CAP_FLAGS`, and each
flag there is produced by a scenario that exceeds the cap: the match
carries the flag and `Engine.stats()["capped"]` counts it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from corpus import compile_rules

from sleuth.engine import Engine
from sleuth.engine.spec import DEFAULT_LIMITS
from sleuth.engine.state import CAP_FLAGS

ENGINE_DIR = Path(__file__).resolve().parents[2] / "engine"
META = 'meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high  title = "t" }'


def caps_in_source() -> set[str]:
    found: set[str] = set()
    for path in ENGINE_DIR.rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'\blimit\("(\w+)"\)', text))
        found |= {name for name in re.findall(r'limits(?:\s*or\s*\{\})?\)?\.get\("(\w+)"', text)}
        if re.search(r"\bmax_keys\b", text):
            found.add("max_keys")
        if re.search(r"def _enforce_memory\b", text):
            found.add("memory")
        if re.search(r"_supp\b", text):
            found.add("suppress")
    return found


def test_every_cap_in_the_source_is_listed():
    found = caps_in_source()
    assert set(DEFAULT_LIMITS) <= found, "the scan misses caps that DEFAULT_LIMITS declares"
    missing = found - set(CAP_FLAGS)
    assert not missing, f"caps without a flag or a reason in CAP_FLAGS: {sorted(missing)}"


def _ev(i, ts, **kw):
    return {"id": f"e{i}", "ts": ts, "src_ip": "1.1.1.1", "user": "u", "status": 401, **kw}


def _run(rules: str, events: list[dict], **options):
    eng = Engine(compile_rules(rules), lateness=0, future_confirm=1, **options)
    out = []
    for ev in events:
        out += eng.feed(ev)
    out += eng.close()
    return eng, out


SCENARIOS = {
    "evicted": (f"rule w {{ {META} by user window 1h limit keys 2 having count() >= 3 }}",
                [_ev(i, 100 + i, user=u) for i, u in enumerate(["x1", "x2", "a", "a", "a"])], {}),
    "window-folded": (f"rule w {{ {META} by src_ip window 1h limit window 3 having count() >= 6 }}",
                      [_ev(i, 100 + i) for i in range(6)], {}),
    "distinct-capped": (f"rule w {{ {META} by src_ip window 1h limit distinct 2 having distinct(user) >= 3 }}",
                        [_ev(i, 100 + i, user=f"u{i}") for i in range(4)], {}),
    "first-seen-capped": (f"rule w {{ {META} by src_ip window 1h limit values 2 "
                          f"having first_seen(user, 1h) and count() >= 4 }}",
                          [_ev(i, 100 + i, user=f"u{i}") for i in range(4)], {}),
    "suppression-capped": (f"rule w {{ {META} by user window 1h limit keys 1 having count() >= 1 suppress 1h }}",
                           [_ev(0, 100, user="a"), _ev(1, 101, user="b"), _ev(2, 102, user="a")], {}),
    "unique-evicted": (f"rule w {{ {META} when status == 401 | unique user limit unique 1 }}",
                       [_ev(0, 100, user="a"), _ev(1, 101, user="b"), _ev(2, 102, user="a")], {}),
}


def test_every_flag_has_a_scenario():
    flags = {f for f in CAP_FLAGS.values() if isinstance(f, str)}
    assert flags == set(SCENARIOS)


@pytest.mark.parametrize("flag", sorted(SCENARIOS))
def test_a_cap_flags_the_match_and_counts_it(flag):
    rules, events, options = SCENARIOS[flag]
    eng, matches = _run(rules, events, **options)
    flagged = [m for m in matches if flag in m.flags]
    assert flagged, f"no match flagged {flag}: {[m.flags for m in matches]}"
    stats = eng.stats()
    assert stats["capped"].get(flag, 0) >= len(flagged)
    assert stats["capped_by_rule"]["w"][flag] >= len(flagged)


def test_max_keys_evicts_and_flags():
    rules = f"rule w {{ {META} by user window 1h having count() >= 3 }}"
    events = [_ev(i, 100 + i, user=u) for i, u in enumerate(["x1", "x2", "a", "a", "a"])]
    eng, matches = _run(rules, events, max_keys=2)
    assert any("evicted" in m.flags for m in matches)
    assert eng.stats()["evictions"] > 0
