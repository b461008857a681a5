"""Fused window updates (`aggregate.fused_updates`) against the aggregates' own add/remove.

Every aggregate class, alone and all together, fed the same seeded values
(hashable and not, None, bools, NaN) with removals in window order: the
fused functions leave exactly the state (`dump()`) and `value()` that one
`add`/`remove` call per aggregate leaves.
"""

from __future__ import annotations

import random

import pytest

from sleuth.engine.aggregate import REGISTRY, Baseline, fused_updates

VALUES = ["a", "b", "c", 1, 2, 2.5, True, False, None, float("nan"), ["x", 1], {"k": "v"}]


def _fresh(cls):
    return cls(None, {"distinct": 3}, 60.0)


CLASSES = sorted({c for d in REGISTRY.values() for c in (d.cls, d.cls_with_arg) if c is not None} - {Baseline},
                 key=lambda c: c.__name__)


def _run(classes, seed, args):
    rnd = random.Random(seed)
    add_all, remove_all = fused_updates(tuple(classes), args)
    plain = [_fresh(c) for c in classes]
    fused = [_fresh(c) for c in classes]
    window = []
    for step in range(300):
        ts = 1000.0 + step
        vals = tuple(rnd.choice(VALUES) for _ in classes)
        window.append((ts, vals))
        for agg, a in zip(plain, args):
            agg.add(vals[a] if a is not None else None, ts)
        add_all(fused, vals, ts)
        while len(window) > 7 or (window and rnd.random() < 0.2):
            t0, v0 = window.pop(0)
            for agg, a in zip(plain, args):
                agg.remove(v0[a] if a is not None else None, t0)
            remove_all(fused, v0, t0)
        assert [repr(a.dump()) for a in fused] == [repr(a.dump()) for a in plain], step
        assert repr([a.value() for a in fused]) == repr([a.value() for a in plain]), step


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("arg", [0, None], ids=["value", "no-argument"])
def test_fused_update_of_one_aggregate_equals_its_methods(cls, arg):
    _run([cls], 1, (arg,))


def test_fused_update_of_all_aggregates_together():
    classes = CLASSES + CLASSES[::-1]
    _run(classes, 2, tuple(None if i % 3 == 2 else i for i in range(len(classes))))
