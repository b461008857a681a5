"""The benchmark's hand-written floor computes what the engine computes.

`sleuth bench` compares the 30-rule mix with careful hand-written Python for
the same rules; the ratio only means something if both find the same
matches. Same seeded events, same match count per rule (no timing here).
"""

from __future__ import annotations

from collections import Counter

import orjson

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.playground.bench import ROUTES, handwritten_mix, make_events, mix_rules


def test_handwritten_mix_matches_the_engine_rule_by_rule(tmp_path):
    events = make_events(30_000, keys=50, seed=3, rate=500.0)
    for i, e in enumerate(events):     # varied paths on the windows' routes, so that distinct(path) can pass
        if e["route"] in ROUTES[8:12]:
            e["path"] = f"{e['route']}/{i % 7}"
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = tmp_path / "hand.jsonl"
    n = handwritten_mix(str(path), str(out))
    hand = Counter(orjson.loads(line)["rule"] for line in out.read_bytes().splitlines())
    eng = Engine(load_pack(sources={"mix.ttp": mix_rules(1)}))
    engine = Counter(m.rule for m in eng.feed_many(events) + eng.close())
    assert n == sum(hand.values())
    assert {r[0] for r in engine} == {"f", "s", "w"}     # filters, sequences and windows all fire
    assert hand == engine
