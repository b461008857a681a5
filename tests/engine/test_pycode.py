"""The one generated-code path (`engine/pycode.py`) and the generators built on it.

The writer refuses unsafe lines and maps generated lines to rule lines; the
constant pool shares equal values and lists them deterministically; and no
generator writes a value into its source: the normaliser's checkers and
the fused window updates hold no literal strings, the rule modules none
either, and all of them are registered in `linecache`.
"""

from __future__ import annotations

import inspect
import io
import re
import tokenize

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import pycode
from sleuth.engine.aggregate import (
    REGISTRY,
    Count,
    CountIf,
    Distinct,
    Entropy,
    Ratio,
    Sample,
    fused_updates,
)
from sleuth.engine.ingest import Normalizer


def _tokens(source: str, kind: int) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == kind]


def test_writer_refuses_unsafe_lines_and_inherits_line_info():
    w = pycode.Writer()
    info = pycode.LineInfo("r", "a.ttp", 3)
    w.line("def f(ev):", info)
    w.indent()
    w.line("return 1")
    assert w.source == "def f(ev):\n    return 1\n"
    assert w.map == {1: info, 2: info}
    for bad in ("x = '\n'", "x = 'é'", "x = '\x00'"):
        with pytest.raises(ValueError, match="unsafe characters"):
            w.line(bad)


def test_consts_share_equal_values_and_list_them_deterministically():
    k = pycode.Consts()
    assert [k.add("user"), k.add(1), k.add(1.0), k.add("user"), k.add(True)] == ["k0", "k1", "k2", "k0", "k3"]
    assert k.add(frozenset({"b", "a", "c"})) == "k4"
    assert k.add(re.compile(r"^/api/.*$", re.I)) == "k5"
    assert k.add(("a",)) == "k6"
    assert k.listing() == ["k0 = 'user'", "k1 = 1", "k2 = 1.0", "k3 = True", "k4 = {'a', 'b', 'c'}",
                           "k5 = re.compile('^/api/.*$', re.IGNORECASE)", "k6 = ('a',)"]
    assert pycode.describe("x" * 500).endswith("...") and len(pycode.describe("x" * 500)) == 120
    assert pycode.describe("a\nb") == "'a\\nb'"


def test_compile_factory_binds_constants_and_registers_the_source():
    w, k = pycode.Writer(), pycode.Consts()
    w.line("def f(ev):")
    w.line(f"    return ev.get({k.add('user')}) == {k.add('alice')}")
    filename = pycode.unique_filename("test", "f")
    factory, source, lines = pycode.compile_factory(w, k, "make", "f", filename, {})
    f = factory(*k.values)
    assert f({"user": "alice"}) is True and f({}) is False
    assert source.splitlines()[0] == "def make(k0, k1):"
    assert "alice" not in source and inspect.getsource(f).strip().startswith("def f(ev):")


EVENTS = [
    {"id": "e1", "ts": 1.7e9, "src_ip": "10.1.2.3", "user": "u", "route": "/a", "method": "GET", "status": 200,
     "asn": 64500, "latency_ms": 4.0, "headers": {"ua": "x"}, "query": {"a": "1"}, "spec": {}},
    {"ts": 1.7e9, "path": "/a/1", "protocol": "HTTP/1.1", "resp_bytes": 10},
]


@pytest.mark.parametrize("watch", [None, {"route", "status"}], ids=["every-field", "watched"])
@pytest.mark.parametrize("event", EVENTS, ids=["canonical", "no-id"])
def test_normaliser_checkers_hold_no_values(event, watch):
    n = Normalizer(watch=watch)
    n(dict(event))
    check = n.fast_path()(len(event))
    assert _tokens(check.source, tokenize.STRING) == []
    assert _tokens(check.source, tokenize.NUMBER) == []
    assert inspect.getsource(check).lstrip().startswith("def check(ev")
    assert check.constants and all(re.fullmatch(r"k\d+ = .+", c) for c in check.constants)


def test_fused_updates_hold_no_values_and_inline_the_method_templates():
    classes = (CountIf, Distinct, Entropy, Ratio, Sample, Count)
    add_all, remove_all = fused_updates(classes, (0, 1, 2, 3, 4, None))
    for fn in (add_all, remove_all):
        src = inspect.getsource(fn)
        assert _tokens(src, tokenize.STRING) == []
    # Inlined from the same lines the methods were compiled from; Entropy's method is called.
    add_src = inspect.getsource(add_all)
    for i, cls in enumerate(classes):
        if cls is Entropy:
            continue
        for line in cls.ADD:
            assert line.format(a=f"a{i}", v=f"v{i}").strip() in add_src
        assert cls.add.__template__ is cls.ADD and cls.remove.__template__ is cls.REMOVE
    assert "(a2, vals[2], ts)" in add_src
    assert inspect.getsource(Distinct.add).splitlines()[0] == "def add(self, v, ts):"


def test_an_overridden_method_is_called_not_inlined():
    class Doubling(Count):
        __slots__ = ()

        def add(self, v, ts):
            self.n += 2

    add_all, _remove = fused_updates((Doubling,), (None,))
    agg = Doubling()
    add_all([agg], (), 1.0)
    assert agg.n == 2


def test_templated_methods_cover_the_inlined_aggregates():
    inlined = {d.class_for(None) for d in REGISTRY.values()} | {CountIf}
    templated = {c for c in inlined if getattr(c.add, "__template__", None) is not None}
    assert templated == {Count, CountIf, Ratio, Distinct, Sample}


def test_rule_modules_hold_no_string_literals_but_their_function_table():
    pack = load_pack()
    for rule in pack.rules:
        strings = _tokens(rule.source_text, tokenize.STRING)
        table = rule.source_text.rstrip().splitlines()[-1]
        assert all(f"{s}:" in table for s in strings), (rule.name, strings)


def test_rules_and_dispatch_groups_carry_their_constant_listing():
    pack = load_pack()
    for source, constants in [(r.source_text, r.constants) for r in pack.rules] + [
            (g.source, g.constants) for g in pack.events.groups() + pack.matches.groups()]:
        header = source.splitlines()[0]
        assert len(constants) == len(re.findall(r"\bk\d+\b", header)), header
        assert [c.split(" = ")[0] for c in constants] == [f"k{i}" for i in range(len(constants))]
    rule = pack.rules[0]
    assert rule.explain_text.rstrip().endswith("\n".join(f"  {c}" for c in rule.constants))
