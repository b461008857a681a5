"""Property tests: no input escapes as an exception; everything becomes an event or a Bad/BadInput."""

from __future__ import annotations

import gzip
import io
import math
import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sleuth.engine.ingest import (  # noqa: E402
    FORMATS,
    Bad,
    BadInput,
    HeuristicTemplater,
    Normalizer,
    OpenAPI,
    open_source,
    parse_access_line,
)
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS  # noqa: E402
from sleuth.engine.reflist import RefList  # noqa: E402
from sleuth.engine.schema import ALIASES  # noqa: E402

# SLEUTH_FUZZ_EXAMPLES=5000 pytest tests/ingest/test_ingest_fuzz.py for a longer hunt.
FAST = settings(max_examples=int(os.environ.get("SLEUTH_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

KEYS = st.sampled_from(
    list(CANONICAL_FIELDS) + [a for v in ALIASES.values() for a in v]
    + ["source", "url", "http", "user", "event", "_invalid", "protocol", "request", "spec"]
) | st.text(max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=30) | st.binary(max_size=10)
           | st.sampled_from(["2024-01-01T00:00:00Z", "10/Oct/2004:04:20:13 -0400", "1700000000", "401",
                              "a=1&b=2", "NaN", "-1"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=5), max_leaves=20)
EVENTS = st.dictionaries(KEYS, VALUES, max_size=12)


def _check_event(ev):
    assert isinstance(ev, dict)
    assert type(ev["ts"]) is float and 0 <= ev["ts"] <= 253402300800 and not math.isnan(ev["ts"])
    assert type(ev["id"]) is str
    for name, t in CANONICAL_FIELDS.items():
        if name in ev:
            assert type(ev[name]) is t, (name, ev[name])
    if "headers" in ev:
        assert all(type(k) is str and k == k.lower() for k in ev["headers"])


@FAST
@given(EVENTS)
def test_normalizer_total_on_mappings(raw):
    n = Normalizer()
    try:
        ev = n(raw, "fuzz", 1)
    except BadInput as e:
        assert e.reason in ("no-time", "bad-time")
        return
    _check_event(ev)
    assert n(ev) == ev  # normalising twice changes nothing more


NEAR_CANONICAL = st.fixed_dictionaries(
    {"ts": st.floats(0, 2e9) | st.integers(0, 2**40), "id": st.text(max_size=5)},
    optional={k: VALUES | st.sampled_from([None, "x", 1, 2.5, {}]) for k in
              ["src_ip", "status", "latency_ms", "headers", "query", "spec", "protocol", "request",
               "user", "asn", "route", "path", "params"]})


@FAST
@given(NEAR_CANONICAL)
def test_normalizer_total_near_canonical(raw):
    n = Normalizer()
    for _ in range(2):  # the second call goes through the remembered checker
        try:
            ev = n(raw, "fuzz", 1)
        except BadInput as e:
            assert e.reason in ("no-time", "bad-time")
            return
        _check_event(ev)
        if "spec" in ev:
            assert isinstance(ev["spec"], dict)
        for k in ("protocol", "request"):
            if k in ev:
                assert type(ev[k]) is str


@FAST
@given(VALUES)
def test_normalizer_total_on_any_value(raw):
    try:
        ev = Normalizer(max_string=16)(raw)
    except BadInput as e:
        assert e.reason in ("not-mapping", "no-time", "bad-time")
        return
    _check_event(ev)


@FAST
@given(st.binary(max_size=400), st.sampled_from([f for f in FORMATS]), st.booleans())
def test_readers_total_on_bytes(data, fmt, gz):
    if gz:
        data = gzip.compress(data)[: max(2, len(data))]  # sometimes truncated
    n = Normalizer()
    r = open_source(io.BytesIO(data), fmt, max_line_bytes=64)
    last = 0
    for pos, item in r:
        assert isinstance(pos, int) and pos >= 1
        assert pos >= last or isinstance(item, Bad)
        last = pos
        if isinstance(item, Bad):
            assert item.reason and len(item.excerpt) <= 200
            continue
        try:
            n(item, r.name, pos)
        except BadInput:
            pass


LOG_PIECES = st.sampled_from(['1.2.3.4 - - [10/Oct/2004:04:20:13 -0400] "', 'GET / HTTP/1.1', '" 200 5',
                              ' "-" "ua"', ' 0.004', ' 123', '"', ' ', '\\"', '-', '\x00', 'é', '\n'])


@FAST
@given(st.lists(LOG_PIECES | st.text(max_size=5), max_size=12).map("".join))
def test_access_line_total(text):
    r = parse_access_line(text)
    assert isinstance(r, (dict, Bad))
    if isinstance(r, dict):
        _check_event(dict(r, id="x"))


@FAST
@given(st.lists(LOG_PIECES | st.sampled_from(['"-"', ' "-" "-"', '"" ""', "CONNECT a:1", "http://x/"])
                | st.text(max_size=5), max_size=14).map("".join))
def test_fast_and_general_access_parsers_agree(text):
    from sleuth.engine.ingest.accesslog import _parse_access_line

    a, b = parse_access_line(text), _parse_access_line(text)
    assert a == b
    if isinstance(a, dict):
        assert list(a) == list(b)


@FAST
@given(st.text(max_size=60), st.text(max_size=8) | st.none(), st.dictionaries(st.text(max_size=5), VALUES, max_size=4))
def test_routers_total(path, method, query):
    api = OpenAPI.load({"openapi": "3.0.0", "paths": {
        "/a/{x}": {"get": {"parameters": [{"name": "x", "in": "path", "schema": {"type": "integer"}},
                                          {"name": "q", "in": "query", "schema": {"type": "array", "items": {
                                              "type": "string", "pattern": "^[a-z]+$"}}}]}},
        "/a/b.{ext}": {"post": {}}}})
    route, spec = api.route(method, path, query)
    assert isinstance(route, str) and isinstance(spec["documented"], bool)
    route, spec = HeuristicTemplater().route(method, path, query)
    assert isinstance(route, str) and spec is None


@FAST
@given(VALUES)
def test_reflist_membership_total(value):
    for lst in (RefList.from_values(["10.0.0.0/8", "::1"]), RefList.from_values(["1", "2"]),
                RefList.from_values(["a", "b"])):
        assert (value in lst) in (True, False)
