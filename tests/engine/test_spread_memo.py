"""`spread`'s memo of string hashes: same sketch state as hashing every time, and bounded.

`Spread.add` remembers the 64-bit hashes of recent strings (`HASH_MEMO_CAP`); the memo is
a pure function's, so a sketch fed with it must hold exactly the hashes of one fed without
it (cap 0), including strings past MAX_VALUE_CHARS (never remembered) and non-strings.
"""

from __future__ import annotations

import random

import pytest

from sleuth.engine import population
from sleuth.engine.population import MAX_VALUE_CHARS, Spread, hash64


def _feed(values: list, monkeypatch, cap: int) -> list:
    monkeypatch.setattr(population, "HASH_MEMO_CAP", cap)
    population._HASH_MEMO.clear()
    sp = Spread(("session",), 60.0, 600.0)
    sp.start = 0
    st = sp.fresh(0)
    states = []
    for i, v in enumerate(values):
        sp.add(st, {"session": v}, i * 0.5)
        assert len(population._HASH_MEMO) <= cap
        states.append((st[0], list(st[1]), st[2], st[3]))
    return states


@pytest.mark.parametrize("seed", [1, 2])
def test_memo_gives_the_sketch_state_of_no_memo(seed, monkeypatch):
    rng = random.Random(seed)
    pool = [f"s{rng.randrange(10**9)}" for _ in range(300)] + ["x" * (MAX_VALUE_CHARS + 5), "é\ud800", 7, 2.5,
                                                               True, None]
    values = [rng.choice(pool) for _ in range(3000)]
    with_memo = _feed(values, monkeypatch, 64)       # a small cap: the memo empties itself many times
    without = _feed(values, monkeypatch, 0)
    assert with_memo == without
    assert any(len(s[1]) == population.DISTINCT_HASHES for s in with_memo)   # the KMV sketch filled


def test_memo_holds_hash64_and_skips_long_strings(monkeypatch):
    monkeypatch.setattr(population, "HASH_MEMO_CAP", 16)
    population._HASH_MEMO.clear()
    sp = Spread(("session",), 60.0, 600.0)
    sp.start = 0
    st = sp.fresh(0)
    long = "y" * (MAX_VALUE_CHARS + 1)
    for v in ["a", "b", long, "a"]:
        sp.add(st, {"session": v}, 1.0)
    assert population._HASH_MEMO == {"a": hash64("a"), "b": hash64("b")}
    for i in range(40):
        sp.add(st, {"session": f"v{i}"}, 1.0)
    assert 0 < len(population._HASH_MEMO) <= 16
