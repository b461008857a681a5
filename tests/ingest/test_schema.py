"""The event schema table (`engine/schema.py`) and what is derived from it.

One table of fields, types, aliases and bounds: the documentation's table
lists the same fields and aliases in the same order, and the normaliser
honours every entry (types, alias priority, bounds) at run time.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sleuth.engine.ingest import BadInput, Normalizer
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS, EXTRA_FIELDS
from sleuth.engine.schema import (
    ALIAS_OF,
    ALIASES,
    BOUNDS,
    CANONICAL,
    EVENT_FIELDS,
    FIELDS,
    PYTHON_TYPES,
    field,
)

INPUT_DOC = (Path(__file__).parents[2] / "docs" / "input.md").read_text(encoding="utf-8")
TS = 1_700_000_000.0


def _doc_rows() -> list[tuple[str, tuple[str, ...]]]:
    table = INPUT_DOC.split("| field | type | aliases, highest priority first |")[1].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0].strip("`"), tuple(re.findall(r"`([^`]+)`", cells[2].split("(")[0]))))
    return rows


def test_docs_table_is_the_schema_table():
    assert _doc_rows() == [(f.name, f.aliases) for f in EVENT_FIELDS if f.origin == "event"]


def test_derived_tables_agree_with_the_entries():
    assert list(FIELDS) == [f.name for f in EVENT_FIELDS]
    assert CANONICAL == tuple(CANONICAL_FIELDS)
    assert {n: PYTHON_TYPES[FIELDS[n]] for n in EXTRA_FIELDS} == EXTRA_FIELDS
    assert ALIAS_OF == {a: n for n, paths in ALIASES.items() for a in paths}
    assert all(field(n).name == n for n in FIELDS)
    with pytest.raises(KeyError):
        field("nope")


@pytest.mark.parametrize("name", CANONICAL)
def test_a_value_of_the_declared_type_is_kept_as_is(name):
    value = {"str": "x", "ip": "192.0.2.1", "int": 7, "float": 1.5, "time": TS, "map": {"a": "b"}}[FIELDS[name]]
    ev = Normalizer()({"ts": TS, "id": "e1", name: value})
    assert ev[name] == value and type(ev[name]) is PYTHON_TYPES[FIELDS[name]]
    assert "_invalid" not in ev


@pytest.mark.parametrize("name", sorted(set(BOUNDS) - {"ts"}))
def test_bounds_are_enforced(name):
    lo, hi = BOUNDS[name]
    t = CANONICAL_FIELDS[name]
    assert Normalizer()({"ts": TS, name: t(hi)})[name] == hi
    assert Normalizer()({"ts": TS, name: t(lo)})[name] == lo
    beyond = hi * 2 if t is float else hi + 1
    ev = Normalizer()({"ts": TS, name: beyond})
    assert name not in ev and ev["_invalid"][name] == "out-of-range"


def test_time_bounds_are_enforced():
    lo, hi = BOUNDS["ts"]
    assert Normalizer()({"ts": hi})["ts"] == hi
    assert Normalizer()({"ts": lo})["ts"] == lo
    with pytest.raises(BadInput, match="before 1970"):
        Normalizer()({"ts": lo - 1})


def test_alias_scale_converts_units():
    (scaled,) = [f for f in EVENT_FIELDS if f.alias_scale != 1.0]
    assert scaled.name == "latency_ms"
    ev = Normalizer()({"ts": TS, "event.duration": 2_500_000})
    assert ev["latency_ms"] == 2.5
    assert Normalizer()({"ts": TS, "latency_ms": 2_500_000})["latency_ms"] == 2_500_000.0
