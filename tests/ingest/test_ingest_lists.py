"""Reference lists, prefix-table enrichment and the quarantine."""

from __future__ import annotations

import io
import os
import random

import orjson
import pytest

from sleuth.engine.ingest import DEFAULT_PREFIXES, Bad, BadInput, Prefix, PrefixTable, chain
from sleuth.engine.quarantine import REASONS, Quarantine, excerpt_of
from sleuth.engine.reflist import IntervalMap, RefList, parse_cidr, parse_ip

# ------------------------------------------------------------------- RefList

IP_LIST = ["10.0.0.0/8", "10.1.0.0/16", "192.0.2.7", "198.51.100.0/25", "2001:db8::/32", "::1",
           "172.16.5.4/12"]

MEMBERSHIP = [
    ("v4-in-cidr", "10.200.3.4", True),
    ("v4-single", "192.0.2.7", True),
    ("v4-next-to-single", "192.0.2.8", False),
    ("v4-cidr-last", "198.51.100.127", True),
    ("v4-cidr-past-end", "198.51.100.128", False),
    ("host-bits-allowed", "172.31.255.255", True),
    ("v6-in-cidr", "2001:db8:ffff::1", True),
    ("v6-loopback", "::1", True),
    ("v6-outside", "2001:db9::1", False),
    ("v4-mapped-v6", "::ffff:10.0.0.1", True),
    ("v4-outside", "8.8.8.8", False),
    ("int", 167772161, False),
    ("none", None, False),
    ("list", ["10.0.0.1"], False),
    ("dict", {"ip": "10.0.0.1"}, False),
    ("huge-string", "1" * 100_000, False),
    ("hostname", "pcp740115pcs.reston01.va.comcast.net", False),
    ("ip-with-port", "10.0.0.1:80", False),
    ("short-form", "10.1", False),
    ("bytes", b"10.0.0.1", False),
    ("zone-id", "fe80::1%eth0", False),
]


@pytest.mark.parametrize("value, expected", [pytest.param(v, e, id=i) for i, v, e in MEMBERSHIP])
def test_ip_membership(value, expected):
    lst = RefList.from_values(IP_LIST, name="nets")
    assert lst.kind == "ip"
    assert (value in lst) is expected


def test_kinds_and_values():
    ints = RefList.from_values(["64496", " 64500 ", "-1"])
    assert ints.kind == "int" and ints.values == frozenset({64496, 64500, -1})
    assert [x in ints for x in (64496, "64500", 64500.0, True, 1.5, "x", None, [1], 2**200)] == \
        [True, True, True, False, False, False, False, False, False]
    strs = RefList.from_values(["alice", "10.0.0.1", "42"])
    assert strs.kind == "str"  # mixed kinds are plain strings
    assert "10.0.0.1" in strs and "42" in strs and 42 not in strs and ["alice"] not in strs
    assert RefList.from_values([]).kind == "str" and len(RefList.from_values([])) == 0
    ips = RefList.from_values(["10.1.2.3/8", "2001:DB8::/32"])
    assert ips.values == frozenset({"10.0.0.0/8", "2001:db8::/32"})
    assert len(ips) == 2


def test_file_comments_and_blank_lines(tmp_path):
    p = tmp_path / "hosting.txt"
    p.write_text("\ufeff# hosting ASNs\n\n64498  # cloud A\n  64499\n#64500\n")
    lst = RefList.from_file(p)
    assert lst.kind == "int" and lst.values == frozenset({64498, 64499})
    assert lst.name == "hosting" and lst.source == str(p)
    p2 = tmp_path / "agents.txt"
    p2.write_text("C# client\nsqlmap/1.0 # tool\n")
    assert RefList.from_file(p2).values == frozenset({"C# client", "sqlmap/1.0"})


def test_reload_on_change(tmp_path):
    p = tmp_path / "bad_ips.txt"
    p.write_text("192.0.2.1\n")
    lst = RefList.from_file(p)
    assert "192.0.2.1" in lst and lst.maybe_reload() is False
    p.write_text("192.0.2.0/24\n203.0.113.9\n")
    os.utime(p, ns=(1, 1))  # a different mtime even on coarse clocks
    assert lst.maybe_reload() is True
    assert "192.0.2.200" in lst and "203.0.113.9" in lst
    assert lst.maybe_reload() is False
    p.unlink()
    assert lst.maybe_reload() is False  # a vanished file keeps the last values
    assert "203.0.113.9" in lst
    assert RefList.from_values(["a"]).maybe_reload() is False


def test_many_ranges_match_a_linear_scan():
    rng = random.Random(7)
    nets = set()
    while len(nets) < 5000:
        nets.add(f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice([16, 20, 24, 28])}")
    lst = RefList.from_values(sorted(nets))
    blocks = [parse_cidr(n) for n in nets]
    for _ in range(3000):
        ip = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        n = parse_ip(ip)[1]
        assert (ip in lst) == any(s <= n <= e for _, s, e in blocks), ip


def test_interval_map_longest_prefix():
    m = IntervalMap([(0, 99, "outer"), (10, 19, "inner"), (12, 12, "host"), (50, 59, "b"), (50, 59, "b2")])
    assert [m.find(x) for x in (0, 9, 10, 11, 12, 13, 19, 20, 50, 99, 100)] == \
        ["outer", "outer", "inner", "inner", "host", "inner", "inner", "outer", "b2", "outer", None]


@pytest.mark.parametrize("value, expected", [
    ("203.0.113.7", (4, 3405803783)), ("::ffff:1.2.3.4", (4, 16909060)), ("::", (6, 0)),
    ("1.2.3", None), ("01.2.3.4", None), ("", None), (None, None), (5, None), ("x" * 50, None),
], ids=["v4", "mapped", "v6-zero", "short", "leading-zero", "empty", "none", "int", "long"])
def test_parse_ip(value, expected):
    assert parse_ip(value) == expected


# -------------------------------------------------------------------- enrich

@pytest.mark.parametrize("ip, asn, country", [
    ("192.0.2.1", 64496, "US"), ("192.0.2.200", 64497, "DE"), ("198.51.100.5", 64499, "SG"),
    ("198.51.100.100", 64498, "NL"), ("203.0.113.9", 64500, "RU"), ("203.0.113.250", 64501, "BR"),
    ("10.9.8.7", 64512, "ZZ"), ("172.20.0.1", 64513, "ZZ"), ("192.168.1.1", 64514, "ZZ"),
    ("2001:db8::42", 64502, "US"), ("2001:db8:bad::1", 64503, "NL"),
], ids=lambda v: str(v))
def test_default_prefix_table(ip, asn, country):
    table = PrefixTable.default()
    ev = {"src_ip": ip}
    table(ev)
    assert ev == {"src_ip": ip, "asn": asn, "country": country}


def test_enricher_keeps_existing_fields_and_ignores_junk():
    table = PrefixTable.default()
    ev = {"src_ip": "198.51.100.5", "country": "FR"}
    table(ev)
    assert ev == {"src_ip": "198.51.100.5", "country": "FR", "asn": 64499}
    for src in ("8.8.8.8", "host.example", None, 5, ["x"]):
        ev = {"src_ip": src}
        table(ev)
        assert ev == {"src_ip": src}
    ev = {}
    table(ev)
    assert ev == {}


def test_prefix_table_csv(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("# test\ncidr,asn,country\n10.0.0.0/8,AS65000,\n10.1.0.0/16,,NL\n")
    t = PrefixTable.from_csv(p)
    assert t.lookup("10.2.0.1") == Prefix("10.0.0.0/8", 65000, None)
    assert t.lookup("10.1.0.1") == Prefix("10.1.0.0/16", None, "NL")
    assert len(t) == 2
    p.write_text("cidr,asn,country\nnot-a-cidr,1,US\n")
    with pytest.raises(ValueError):
        PrefixTable.from_csv(p)
    p.write_text("cidr,asn,country\n10.0.0.0/8,one,US\n")
    with pytest.raises(ValueError, match="row 2"):
        PrefixTable.from_csv(p)


def test_chain():
    seen = []
    hook = chain(PrefixTable.default(), lambda ev: seen.append(dict(ev)))
    ev = {"src_ip": "203.0.113.9"}
    hook(ev)
    assert seen == [{"src_ip": "203.0.113.9", "asn": 64500, "country": "RU"}]


def test_hosting_list_matches_table():
    lst = RefList.from_file(os.path.join(os.path.dirname(DEFAULT_PREFIXES), "hosting_asns.txt"))
    kinds = {row.asn for row in PrefixTable.default().rows if row.kind in ("hosting", "proxy")}
    assert lst.values == kinds


# ---------------------------------------------------------------- quarantine

def test_quarantine_sink_and_counts():
    sink = io.BytesIO()
    q = Quarantine(sink, keep=2)
    q.add("a.jsonl", 3, "not-json", "unexpected character", "x" * 500)
    q.add_bad("a.jsonl", 4, Bad("oversized", "line longer than 10 bytes", ""))
    q.add_bad("b.jsonl", 9, BadInput("no-time", "no 'ts' field"), raw={"user": "x"})
    assert q.total == 3
    assert q.counts == {"not-json": 1, "oversized": 1, "no-time": 1}
    lines = sink.getvalue().splitlines()
    assert lines[0] == orjson.dumps({"detail": "unexpected character", "excerpt": "x" * 200,
                                     "position": 3, "reason": "not-json", "source": "a.jsonl"})
    assert orjson.loads(lines[2]) == {"detail": "no 'ts' field", "excerpt": '{"user":"x"}', "position": 9,
                                      "reason": "no-time", "source": "b.jsonl", "record": {"user": "x"}}
    assert [r["position"] for r in q.records] == [4, 9]


def test_quarantine_text_sink_and_no_sink():
    out = io.StringIO()
    q = Quarantine(out)
    q.add("s", 1, "late", "older than the watermark")
    assert out.getvalue().endswith("\n") and '"reason":"late"' in out.getvalue()
    q = Quarantine()
    q.add("s", 1, "future", "d")
    assert q.total == 1 and len(q.records) == 0


@pytest.mark.parametrize("value, expected", [
    ("abc", "abc"), (b"a\xffb", "a\ufffdb"), ({"a": [1, None]}, '{"a":[1,null]}'), ([1, 2], "[1,2]"),
    ({1: "x"}, '{"1":"x"}'), (float("nan"), "null"), (object, None),
], ids=["str", "bytes", "dict", "list", "int-keys", "nan", "class"])
def test_excerpt_of(value, expected):
    got = excerpt_of(value)
    assert isinstance(got, str) and len(got) <= 200
    if expected is not None:
        assert got == expected


def test_reason_ids_are_kebab_and_documented():
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "input.md"), encoding="utf-8").read()
    for reason in REASONS:
        assert reason == reason.lower() and " " not in reason
        assert f"`{reason}`" in doc, reason
