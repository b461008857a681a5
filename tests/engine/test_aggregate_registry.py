"""The aggregate registry (`engine/aggregate.py`), walked entry by entry.

Every aggregate of the language is one `REGISTRY` entry. Each must be
documented (a doc line, a class docstring, a row in docs/language.md),
typed (its arity agrees with its argument kinds, and the values it really
produces have its declared result type), honest about `capped` (a capped
aggregate flags itself past the `distinct` limit; the others never do),
and usable end to end: a window rule using it compiles, runs and reports
it under its label.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.engine.aggregate import (
    ARG_KINDS,
    CAPPED,
    PER_EVENT,
    REGISTRY,
    RESULT_TYPES,
    AggregateDef,
    aggregate,
)
from sleuth.engine.spec import AggSpec

NAMES = sorted(REGISTRY)
LANGUAGE_DOC = (Path(__file__).parents[2] / "docs" / "language.md").read_text(encoding="utf-8")
VALUES = ["a", "b", "c", "d", "e", 1, 2, 3.5, None, True]


def _spec(d: AggregateDef, *, arg: int | None = 0) -> AggSpec:
    param = 3 if "size" in d.args else 3600.0 if "duration" in d.args else None
    uses_arg = bool(set(d.args) & PER_EVENT)
    return AggSpec(d.name, d.name, arg if uses_arg else None, param, None)


def _typed(result: str, value) -> bool:
    if result == "any":
        return True
    if value is None:
        return result != "int"       # int aggregates are defined on an empty window too
    return {"int": type(value) is int, "num": type(value) in (int, float), "bool": type(value) is bool,
            "list": type(value) is list}[result]


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_documented(name):
    d = REGISTRY[name]
    assert d.name == name and aggregate(name) is d
    assert d.doc and not d.doc.endswith(".")
    assert d.cls.__doc__ and (d.cls_with_arg is None or d.cls_with_arg.__doc__)
    assert f"`{name}(" in LANGUAGE_DOC, f"docs/language.md has no row for {name}()"


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_typed(name):
    d = REGISTRY[name]
    lo, hi = d.arity
    assert 0 <= lo <= hi == len(d.args)
    assert set(d.args) <= set(ARG_KINDS)
    assert d.result in RESULT_TYPES
    # The values the runtime class really produces have the declared type, at every step.
    for arg in (0, None) if lo == 0 else (0,):
        spec = _spec(d, arg=arg)
        agg = d.make(spec, {"distinct": 4}, 60.0)
        assert type(agg) is d.class_for(spec)
        assert _typed(d.result, agg.value()), (name, agg.value())
        for i, v in enumerate(VALUES):
            agg.add(v if spec.arg is not None else None, 1000.0 + i * (1 + i % 3))
            assert _typed(d.result, agg.value()), (name, v, agg.value())


@pytest.mark.parametrize("name", NAMES)
def test_capped_flag_is_honest(name):
    d = REGISTRY[name]
    assert (name in CAPPED) == d.capped
    agg = d.make(_spec(d), {"distinct": 2, "values": 2}, 60.0)
    for i in range(10):
        agg.add(f"value-{i}", 1000.0 + i)
    if d.capped:
        assert agg.capped is True, f"{name}() is declared capped but did not cap at 2 values"
        assert not d.make(_spec(d), {"distinct": 100}, 60.0).capped
    else:
        assert getattr(agg, "capped", False) is False, f"{name}() flags itself capped but is not declared so"


@pytest.mark.parametrize("name", NAMES)
def test_fresh_keeps_configuration_and_drops_state(name):
    d = REGISTRY[name]
    agg = d.make(_spec(d), {"distinct": 5, "values": 7}, 30.0)
    for i, v in enumerate(VALUES):
        agg.add(v, 1000.0 + i)
    new = agg.fresh()
    assert type(new) is type(agg)
    for slot in agg.CONFIG:
        assert getattr(new, slot) == getattr(agg, slot)
    assert new.dump() == d.make(_spec(d), {"distinct": 5, "values": 7}, 30.0).dump()


_ARG_TEXT = {"value": "user", "number": "resp_bytes", "predicate": "status == 401",
             "interarrival": "interarrival()", "aggregate": "count()", "duration": "1h", "size": "3"}


@pytest.mark.parametrize("name", NAMES)
def test_entry_compiles_and_runs_in_a_rule(name):
    d = REGISTRY[name]
    call = f"{name}({', '.join(_ARG_TEXT[k] for k in d.args)})"
    text = (f'rule r {{\n  meta {{ ttp = "scraping"  goal = "scraping"  severity = "low" }}\n'
            f"  by src_ip\n  window 1m tumbling\n  having count() >= 1\n  emit {{ v = {call} }}\n}}\n")
    pack = load_pack(sources={"t.ttp": text})
    (rule,) = pack.rules
    assert [a.kind for a in rule.aggs if a.label == call] == [name]
    eng = Engine(pack, lateness=0)
    events = [{"ts": 1_000_000.0 + i, "src_ip": "192.0.2.1", "user": f"u{i % 2}", "status": 401,
               "resp_bytes": 100 * i} for i in range(4)]
    out = eng.feed_many(events) + eng.close()
    assert len(out) == 1
    assert call in out[0].provenance["values"]
    assert _typed(d.result, out[0].fields["v"]), out[0].fields


def test_registry_entries_are_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        REGISTRY["count"].capped = True
