"""The ECS/OpenTelemetry alias table of sleuth.engine.ingest.formats and the disorder measurement."""

from __future__ import annotations

import importlib.util
import os
import pathlib

import pytest

from sleuth.engine.ingest.formats.aliases import ALIASES, DERIVED, SOURCES, derive, missing_from
from sleuth.engine.ingest.formats.disorder import lateness, measure
from sleuth.engine.ingest.normalize import ALIASES as IN_USE
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS

REPO = pathlib.Path(__file__).resolve().parents[2]

# What docs/input.md ("ECS and OpenTelemetry names") listed as missing from the table in use before
# they were added to engine/schema.py's EVENT_FIELDS (the one table the normaliser and checker read).
ADDED = {
    "src_ip": ("source.address", "network.peer.address", "http.client_ip", "net.sock.peer.addr", "net.peer.ip"),
    "asn": ("client.as.number",),
    "country": ("client.geo.country_iso_code",),
    "method": ("http.method",),
    "host": ("http.host", "net.host.name"),
    "status": ("http.status_code",),
    "user": ("user.id",),
    "ua": ("http.user_agent",),
    "ja3": ("tls.client.ja4",),
    "req_bytes": ("http.request.body.size", "http.request_content_length"),
    "resp_bytes": ("http.response.body.size", "http.response_content_length"),
}
VALUES = {"src_ip": "203.0.113.7", "asn": 64500, "country": "FR", "method": "POST", "host": "api.example.com",
          "status": 401, "user": "alice", "ua": "curl/8.4.0", "ja3": "t13d1516h2_8daaf6152771_e5627efa2ab1",
          "req_bytes": 412, "resp_bytes": 61}


def test_no_alias_is_missing_from_the_table_in_use():
    assert missing_from(IN_USE) == {}
    docs = (REPO / "docs" / "input.md").read_text()
    for names in ADDED.values():
        for name in names:
            assert f"`{name}`" in docs, name


@pytest.mark.parametrize("field, alias", [(f, a) for f, names in ADDED.items() for a in names],
                         ids=[a for names in ADDED.values() for a in names])
def test_the_normaliser_reads_every_added_alias_flat_and_nested(field, alias):
    from sleuth.engine.ingest import Normalizer

    value = VALUES[field]
    flat = Normalizer()({"ts": 1714564800, alias: str(value)}, "x", 1)
    nested: dict = {"ts": 1714564800}
    node = nested
    parts = alias.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    assert flat[field] == value and Normalizer()(nested, "x", 1)[field] == value


def test_the_rule_checker_reads_an_added_alias_as_its_field():
    from sleuth.dsl import load_pack

    meta = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'
    pack = load_pack(sources={"a.ttp": f'rule r {{ {meta} when http.status_code == 401 }}'})
    assert "status" in pack.fields


def test_table_extends_the_table_in_use_keeping_its_order():
    assert set(ALIASES) <= set(CANONICAL_FIELDS)
    for field, names in IN_USE.items():
        mine = ALIASES[field]
        assert mine[:len(names)] == names, field


def test_every_alias_has_a_source_and_no_alias_serves_two_fields():
    seen = {}
    for field, names in ALIASES.items():
        for name in names:
            assert name in SOURCES
            assert seen.setdefault(name, field) == field
    assert set(SOURCES) == set(seen)


DERIVE_CASES = [
    ("url.full", {"url.full": "https://api.example.com:8443/api/v1/orders?page=2"},
     {"path": "/api/v1/orders", "query": "page=2", "host": "api.example.com"}),
    ("url.original-relative", {"url": {"original": "/api/v1/orders?page=2"}},
     {"path": "/api/v1/orders", "query": "page=2"}),
    ("http.target", {"http.target": "/a/b?x=1", "http.host": "h"}, {"path": "/a/b", "query": "x=1"}),
    ("http.url-no-path", {"http.url": "http://h.example"}, {"path": "/", "host": "h.example"}),
    ("path-already-there", {"url.path": "/kept", "url.full": "https://h/other?q=1"}, {"query": "q=1", "host": "h"}),
    ("headers", {"http.request.header.x-api-key": ["k1", "k2"], "http.request.referrer": "https://r/",
                 "headers": {"referer": "mine"}},
     {"headers": {"referer": "mine", "x-api-key": "k1, k2"}}),
    ("wrong-types", {"url.full": ["x"], "http.request.header.a": 5}, {}),
    ("bad-url", {"url.full": "http://[::1/x"}, {}),
]


@pytest.mark.parametrize(("record", "added"), [c[1:] for c in DERIVE_CASES], ids=[c[0] for c in DERIVE_CASES])
def test_derive(record, added):
    out = derive(record)
    assert {k: v for k, v in out.items() if k not in record or record[k] != v} == added
    assert set(DERIVED) >= {"url.full", "url.original", "http.url", "http.target"}


# ------------------------------------------------------------------ disorder

def test_lateness_per_event():
    assert list(lateness([10, 5, 11, 9, 12, 12, 3])) == [0, 5, 0, 2, 0, 0, 9]


def test_measure_exact():
    d = measure([10, 5, 11, 9, 12, 12, 3], quantiles=(0.5, 0.8, 0.99), thresholds=(1, 2, 5, 9))
    assert (d.events, d.late, d.max) == (7, 3, 9)
    assert d.quantiles == {0.5: 0.0, 0.8: 5.0, 0.99: 9.0}
    assert d.lost == {1: 3, 2: 2, 5: 1, 9: 0}  # strictly later than the lateness: what the engine drops


def test_measure_sorted_and_empty():
    assert measure([1.0, 1.0, 2.0]).max == 0.0
    d = measure([])
    assert (d.events, d.late, d.max, d.quantiles[0.999]) == (0, 0, 0.0, 0.0)


def _honeynet() -> pathlib.Path:
    base = os.environ.get("SLEUTH_SHARED_DATA")
    return (pathlib.Path(base) if base else REPO.parent / "shared" / "data") / "honeynet2004"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_disorder", REPO / "benchmarks" / "disorder.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_real_honeynet_log_is_in_order():
    """docs/input.md: the real Apache log, files oldest first, has no line out of order."""
    d = _honeynet()
    if not d.is_dir():
        pytest.skip(f"the real honeynet log is not at {d} (set SLEUTH_SHARED_DATA)")
    m = measure(_bench().honeynet_times(d))
    assert (m.events, m.late, m.max) == (38487, 0, 0.0)


def test_model_lateness_reaches_the_timeout():
    """docs/input.md: a request cut at the proxy's timeout is late by the timeout (one seeded model run)."""
    times = _bench().simulate(rate=200.0, minutes=2.0, timeout=60.0, resolution=0.001, seed=7)
    m = measure(times, thresholds=(5, 60))
    assert 59.0 < m.max <= 60.0
    assert m.lost[60] == 0 and m.lost[5] > 0
