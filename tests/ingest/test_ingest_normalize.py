"""Normalizer: aliases, precedence, time, coercion, _invalid, mappings, fast path."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sleuth.engine.ingest import (
    Bad,
    BadInput,
    HeuristicTemplater,
    Normalizer,
    load_mapping,
    parse_mapping,
    parse_query,
    parse_time,
)
from sleuth.engine.ingest.normalize import CANONICAL_FIELDS, ID_ONLY, default_id, with_id
from sleuth.engine.schema import ALIASES

T0 = 1704067200.0  # 2024-01-01T00:00:00Z

# field -> (value given through the alias, value expected in the canonical field)
ALIAS_VALUES = {
    "ts": ("2024-01-01T00:00:00Z", T0),
    "id": ("evt-1", "evt-1"),
    "src_ip": ("203.0.113.7", "203.0.113.7"),
    "asn": (64500, 64500),
    "country": ("NL", "NL"),
    "method": ("POST", "POST"),
    "host": ("api.example.com", "api.example.com"),
    "path": ("/api/v1/login", "/api/v1/login"),
    "route": ("/api/v1/users/{id}", "/api/v1/users/{id}"),
    "query": ("a=1&b=x%20y", {"a": "1", "b": "x y"}),
    "status": (401, 401),
    "user": ("alice", "alice"),
    "session": ("s-1", "s-1"),
    "ua": ("curl/8.0", "curl/8.0"),
    "ja3": ("771,4865-4866,0-23,29,0", "771,4865-4866,0-23,29,0"),
    "req_bytes": (10, 10),
    "resp_bytes": (20, 20),
    "latency_ms": (2_500_000, 2.5),  # event.duration is in nanoseconds
}


def nested(path: str, value):
    out = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def alias_cases():
    for field, aliases in ALIASES.items():
        for alias in aliases:
            yield pytest.param(field, alias, "flat", id=f"{field}<-{alias}[flat]")
            if "." in alias:
                yield pytest.param(field, alias, "nested", id=f"{field}<-{alias}[nested]")


def test_every_field_has_test_values():
    assert set(ALIAS_VALUES) == set(ALIASES)
    assert set(ALIASES) <= set(CANONICAL_FIELDS)


@pytest.mark.parametrize("field, alias, form", list(alias_cases()))
def test_alias(field, alias, form):
    given, expected = ALIAS_VALUES[field]
    raw = {} if field == "ts" else {"ts": T0}
    raw.update({alias: given} if form == "flat" else nested(alias, given))
    ev = Normalizer()(raw, "src", 3)
    assert ev[field] == expected
    assert type(ev[field]) is CANONICAL_FIELDS[field]
    if form == "flat":
        assert alias not in ev  # the flat alias key moved to the canonical field
    assert "_invalid" not in ev


def test_ecs_document():
    raw = {
        "@timestamp": "2024-01-01T00:00:01.500Z",
        "event": {"id": "e9", "duration": 1_000_000},
        "source": {"ip": "198.51.100.9", "port": 51234, "as": {"number": 64498},
                   "geo": {"country_iso_code": "NL"}},
        "url": {"path": "/api/v1/orders", "query": "page=2&page=3", "domain": "shop.example"},
        "http": {"request": {"method": "GET"}, "response": {"status_code": "200"}},
        "user": {"name": "bob", "id": "u7"},
        "user_agent": {"original": "Mozilla/5.0"},
        "labels": {"env": "prod"},
    }
    before = copy.deepcopy(raw)
    ev = Normalizer()(raw, "ecs.jsonl", 1)
    assert raw == before  # the caller's mapping is never mutated
    assert ev == {
        "ts": T0 + 1.5, "id": "e9", "src_ip": "198.51.100.9", "asn": 64498, "country": "NL",
        "method": "GET", "host": "shop.example", "path": "/api/v1/orders",
        "query": {"page": ["2", "3"]}, "status": 200, "user": "bob", "ua": "Mozilla/5.0",
        "latency_ms": 1.0,
        # containers pass through unchanged; the ECS user object became the user name
        "event": raw["event"], "source": raw["source"], "url": raw["url"], "http": raw["http"],
        "user_agent": raw["user_agent"], "labels": raw["labels"],
    }
    assert ev["labels"] is raw["labels"]


def test_otel_flat_keys():
    raw = {"time": 1700000000, "http.request.method": "PUT", "url.path": "/x",
           "http.route": "/x", "http.response.status_code": 204, "client.address": "2001:db8::1",
           "server.address": "api", "enduser.id": "u1", "tls.client.ja3": "abc",
           "http.request.body.bytes": "12", "http.response.body.bytes": 0}
    ev = Normalizer()(raw, "otel", 9)
    assert ev == {"ts": 1700000000.0, "method": "PUT", "path": "/x", "route": "/x", "status": 204,
                  "src_ip": "2001:db8::1", "host": "api", "user": "u1", "ja3": "abc",
                  "req_bytes": 12, "resp_bytes": 0, "id": "otel:9"}


# ---------------------------------------------------------------- precedence

def test_canonical_wins_over_alias():
    ev = Normalizer()({"ts": T0, "src_ip": "192.0.2.1", "source.ip": "192.0.2.2"})
    assert ev["src_ip"] == "192.0.2.1"
    assert ev["source.ip"] == "192.0.2.2"  # an unused alias is just another field


def test_alias_order_decides():
    ev = Normalizer()({"timestamp": 2.0, "time": 3.0, "@timestamp": 1.0})
    assert ev["ts"] == 1.0
    assert ev["timestamp"] == 2.0 and ev["time"] == 3.0
    ev = Normalizer()({"ts": T0, "client": {"ip": "192.0.2.9"}, "source": {"ip": "192.0.2.8"}})
    assert ev["src_ip"] == "192.0.2.8"
    ev = Normalizer()({"ts": T0, "enduser.id": "u2", "user.name": "u1"})
    assert ev["user"] == "u1"


def test_null_is_missing():
    ev = Normalizer()({"ts": None, "@timestamp": T0, "user": None, "user.name": "x", "status": None})
    assert ev == {"ts": T0, "user": "x", "id": ":0"}


def test_invalid_canonical_value_does_not_fall_back_to_alias():
    ev = Normalizer()({"ts": T0, "status": "abc", "http.response.status_code": 200})
    assert "status" not in ev
    assert ev["_invalid"] == {"status": "unparsable"}


def test_ecs_object_without_alias_value_is_recorded():
    ev = Normalizer()({"ts": T0, "user": {"domain": "corp"}, "host": {"name": "web-1"}, "url.domain": "api"})
    assert ev["host"] == "api"
    assert "user" not in ev
    assert ev["_invalid"] == {"user": "wrong-type"}


def test_ecs_user_id_is_an_alias_of_user():
    ev = Normalizer()({"ts": T0, "user": {"id": 5}})
    assert ev["user"] == "5" and "_invalid" not in ev


def test_mapping_wins_over_field_and_aliases():
    n = Normalizer({"user": "actor.login", "src_ip": "headers.x-real-ip"})
    raw = {"ts": T0, "user": "canonical", "user.name": "alias", "actor": {"login": "mapped"},
           "headers": {"x-real-ip": "192.0.2.77"}, "src_ip": "10.0.0.1"}
    ev = n(raw)
    assert ev["user"] == "mapped"
    assert ev["src_ip"] == "192.0.2.77"
    assert ev["headers"] == {"x-real-ip": "192.0.2.77"}
    # when the mapped path is absent, the usual precedence applies
    assert n({"ts": T0, "user": "canonical"})["user"] == "canonical"
    assert n({"ts": T0, "user.name": "alias"})["user"] == "alias"


def test_mapping_flat_key_is_consumed():
    ev = Normalizer({"ts": "when", "status": "resp.code"})({"when": "2024-01-01T00:00:00Z", "resp.code": "503"})
    assert ev == {"ts": T0, "status": 503, "id": ":0"}


def test_mapping_of_unknown_field_is_refused():
    with pytest.raises(ValueError, match="unknown canonical field 'usr'"):
        Normalizer({"usr": "a.b"})


@pytest.mark.parametrize("spec, expected", [
    ("user=actor.login", ("user", "actor.login")),
    (" src_ip = headers.x-forwarded-for ", ("src_ip", "headers.x-forwarded-for")),
], ids=["plain", "spaces"])
def test_parse_mapping(spec, expected):
    assert parse_mapping(spec) == expected


@pytest.mark.parametrize("spec", ["user", "=a", "user=", "nosuch=a.b"], ids=["no-eq", "no-name", "no-path", "unknown"])
def test_parse_mapping_errors(spec):
    with pytest.raises(ValueError):
        parse_mapping(spec)


def test_load_mapping_files(tmp_path):
    (tmp_path / "m.txt").write_text("# comment\n\nuser = actor.login   # who\nts=when\n")
    assert load_mapping(tmp_path / "m.txt") == {"user": "actor.login", "ts": "when"}
    (tmp_path / "m.json").write_text('{"user": "actor.login", "status": "code"}')
    assert load_mapping(tmp_path / "m.json") == {"user": "actor.login", "status": "code"}
    (tmp_path / "bad.txt").write_text("user = a\nnope\n")
    with pytest.raises(ValueError, match=r"bad.txt:2:"):
        load_mapping(tmp_path / "bad.txt")


# ---------------------------------------------------------------------- time

UTC = UTC
GOOD_TIMES = [
    ("rfc3339-z", "2024-01-01T00:00:00Z", T0),
    ("rfc3339-offset", "2024-01-01T02:00:00+02:00", T0),
    ("rfc3339-negative-offset", "2023-12-31T20:00:00-04:00", T0),
    ("rfc3339-fraction", "2024-01-01T00:00:00.250Z", T0 + 0.25),
    ("rfc3339-nanoseconds", "2024-01-01T00:00:00.123456789Z", T0 + 0.123456),
    ("rfc3339-lowercase", "2024-01-01t00:00:00z", T0),
    ("space-separator", "2024-01-01 00:00:00+00:00", T0),
    ("naive-is-utc", "2024-01-01T00:00:00", T0),
    ("utc-suffix", "2024-01-01 00:00:00 UTC", T0),
    ("epoch-seconds-int", 1704067200, T0),
    ("epoch-seconds-float", 1704067200.5, T0 + 0.5),
    ("epoch-milliseconds", 1704067200123, T0 + 0.123),
    ("epoch-microseconds", 1704067200123456, T0 + 0.123456),
    ("epoch-nanoseconds", 1704067200123456789, T0 + 0.123456789),
    ("epoch-string", "1704067200", T0),
    ("epoch-ms-string", "1704067200123", T0 + 0.123),
    ("epoch-zero", 0, 0.0),
    ("apache", "01/Jan/2024:00:00:00 +0000", T0),
    ("apache-offset", "31/Dec/2023:20:00:00 -0400", T0),
    ("apache-brackets", "[10/Oct/2004:04:20:13 -0400]", 1097396413.0),
    ("datetime-aware", datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), T0),
    ("datetime-naive", datetime(2024, 1, 1), T0),
    ("year-9999", "9999-12-31T23:59:59Z", 253402300799.0),
]


@pytest.mark.parametrize("value, expected", [pytest.param(v, e, id=i) for i, v, e in GOOD_TIMES])
def test_parse_time(value, expected):
    got = parse_time(value)
    assert type(got) is float
    assert got == pytest.approx(expected, abs=1e-6)


BAD_TIMES = [
    ("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf), ("true", True), ("false", False),
    ("negative", -1), ("before-1970", "1969-12-31T23:59:59Z"), ("after-9999", "10000-01-01T00:00:00Z"),
    ("too-large", 1e20), ("garbage", "yesterday"), ("empty", ""), ("list", [1]), ("dict", {"a": 1}),
    ("none", None), ("month-13", "2024-13-01T00:00:00Z"), ("apache-bad-month", "10/Foo/2004:04:20:13 -0400"),
    ("apache-feb-30", "30/Feb/2004:04:20:13 -0400"), ("huge-string", "1" * 5000),
    ("nan-string", "nan"), ("ms-before-1970", -1_000_000_000_000),
]


@pytest.mark.parametrize("value", [pytest.param(v, id=i) for i, v in BAD_TIMES])
def test_parse_time_rejects(value):
    with pytest.raises(BadInput) as e:
        parse_time(value)
    assert e.value.reason == "bad-time"
    assert e.value.detail


def test_bad_time_event():
    with pytest.raises(BadInput) as e:
        Normalizer()({"ts": "never"})
    assert e.value.reason == "bad-time"


@pytest.mark.parametrize("raw", [{}, {"ts": None}, {"user": "x"}, {"time.stamp": 1}],
                         ids=["empty", "null", "other-fields", "near-miss"])
def test_no_time(raw):
    with pytest.raises(BadInput) as e:
        Normalizer()(raw)
    assert e.value.reason == "no-time"


@pytest.mark.parametrize("raw", [[], [{"ts": 1}], "x", 5, None, b"{}", 1.5, True],
                         ids=["list", "list-of-event", "str", "int", "none", "bytes", "float", "bool"])
def test_not_mapping(raw):
    with pytest.raises(BadInput) as e:
        Normalizer()(raw)
    assert e.value.reason == "not-mapping"
    assert str(e.value).startswith("not-mapping: ")


# ------------------------------------------------------------------ coercion

COERCED = [
    ("status-text", "status", "401", 401),
    ("status-spaces", "status", " 404 ", 404),
    ("status-float", "status", 401.0, 401),
    ("status-float-text", "status", "401.0", 401),
    ("asn-text", "asn", "64500", 64500),
    ("bytes-zero", "resp_bytes", 0, 0),
    ("latency-int", "latency_ms", 12, 12.0),
    ("latency-text", "latency_ms", "12.5", 12.5),
    ("user-int", "user", 42, "42"),
    ("user-float", "user", 4.5, "4.5"),
    ("user-bytes", "user", b"bob", "bob"),
    ("session-bytes-invalid-utf8", "session", b"a\xff", "a\\xff"),
    ("method-empty", "method", "", ""),
    ("query-text", "query", "?a=1&a=2&b", {"a": ["1", "2"], "b": ""}),
    ("query-mapping", "query", {"a": 1}, {"a": 1}),
    ("headers-lowercase", "headers", {"X-Forwarded-For": "1.2.3.4", "Accept": "*/*"},
     {"x-forwarded-for": "1.2.3.4", "accept": "*/*"}),
    ("params-non-str-names", "params", {1: "a", b"k": "b"}, {"1": "a", "k": "b"}),
]


@pytest.mark.parametrize("field, value, expected", [pytest.param(f, v, e, id=i) for i, f, v, e in COERCED])
def test_coercion(field, value, expected):
    ev = Normalizer()({"ts": T0, "id": "a", field: value})
    assert ev[field] == expected
    assert type(ev[field]) is CANONICAL_FIELDS[field]
    assert "_invalid" not in ev


INVALID = [
    ("status-bool", "status", True, "wrong-type"),
    ("status-list", "status", [401], "wrong-type"),
    ("status-garbage", "status", "4o1", "unparsable"),
    ("status-fraction", "status", 401.5, "not-integer"),
    ("status-nan", "status", math.nan, "not-finite"),
    ("status-too-big", "status", 1000, "out-of-range"),
    ("status-negative", "status", -1, "out-of-range"),
    ("bytes-huge", "resp_bytes", 2**64, "out-of-range"),
    ("bytes-huge-text", "req_bytes", "9" * 30, "out-of-range"),
    ("asn-too-big", "asn", 2**32, "out-of-range"),
    ("latency-nan-text", "latency_ms", "nan", "unparsable"),
    ("latency-inf", "latency_ms", math.inf, "not-finite"),
    ("latency-negative", "latency_ms", -1.0, "out-of-range"),
    ("latency-bool", "latency_ms", False, "wrong-type"),
    ("latency-dict", "latency_ms", {"ms": 1}, "wrong-type"),
    ("user-list", "user", ["a"], "wrong-type"),
    ("user-bool", "user", True, "wrong-type"),
    ("user-nan", "user", math.nan, "not-finite"),
    ("query-int", "query", 5, "wrong-type"),
    ("headers-text", "headers", "x-a: b", "wrong-type"),
    ("params-list", "params", [["a", 1]], "wrong-type"),
]


@pytest.mark.parametrize("field, value, reason", [pytest.param(f, v, r, id=i) for i, f, v, r in INVALID])
def test_invalid_values_are_removed_and_recorded(field, value, reason):
    raw = {"ts": T0, "id": "a", field: value, "other": 1}
    ev = Normalizer()(raw)
    assert field not in ev
    assert ev["_invalid"] == {field: reason}
    assert ev["other"] == 1


def test_long_strings_are_truncated_and_recorded():
    n = Normalizer(max_string=10)
    ev = n({"ts": T0, "id": "x" * 20, "ua": "u" * 11, "path": "p" * 10,
            "headers": {"X-Long": "h" * 11}, "request": "r" * 12})
    assert ev["id"] == "x" * 10 and ev["ua"] == "u" * 10 and ev["path"] == "p" * 10
    assert ev["headers"] == {"x-long": "h" * 10}
    assert ev["request"] == "r" * 10
    assert ev["_invalid"] == {"id": "truncated", "ua": "truncated", "headers.x-long": "truncated",
                              "request": "truncated"}


def test_long_query_string_is_truncated():
    ev = Normalizer(max_string=8)({"ts": T0, "url.query": "a=1&b=2&c=3"})
    assert ev["query"] == {"a": "1", "b": "2"}
    assert ev["_invalid"] == {"query": "truncated"}


def test_existing_invalid_is_merged():
    ev = Normalizer()({"ts": T0, "status": "x", "_invalid": {"ua": "upstream"}})
    assert ev["_invalid"] == {"ua": "upstream", "status": "unparsable"}


@pytest.mark.parametrize("given, expected", [
    (None, "f.jsonl:7"), (42, "42"), (4.5, "4.5"), ([1, 2], "[1, 2]"), ("x" * 300, "x" * 300),
], ids=["missing", "int", "float", "list", "long-str"])
def test_ids(given, expected):
    raw = {"ts": T0} if given is None else {"ts": T0, "id": given}
    assert Normalizer()(raw, "f.jsonl", 7)["id"] == expected


def test_non_string_id_is_bounded():
    ev = Normalizer()({"ts": T0, "id": list(range(1000))})
    assert len(ev["id"]) == 256


def test_unknown_fields_pass_through_unchanged():
    obj = {"deep": [1, {"x": None}]}
    ev = Normalizer()({"ts": T0, "custom": obj, 7: "int key", "request.body": "b"})
    assert ev["custom"] is obj
    assert ev[7] == "int key"
    assert ev["request.body"] == "b"


@pytest.mark.parametrize("text, expected", [
    ("", {}), ("?", {}), ("a=1", {"a": "1"}), ("a=1&a=2&a=3", {"a": ["1", "2", "3"]}),
    ("a", {"a": ""}), ("a=&b=%41+B", {"a": "", "b": "A B"}), ("&&a=1&&", {"a": "1"}),
    ("x=%zz", {"x": "%zz"}), ("k%3D=v%26", {"k=": "v&"}), ("a=1=2", {"a": "1=2"}),
], ids=["empty", "question-mark", "one", "repeated", "no-value", "escapes", "empty-pairs",
        "bad-escape", "escaped-delimiters", "equals-in-value"])
def test_parse_query(text, expected):
    assert parse_query(text) == expected


def test_parse_query_caps_fields():
    assert len(parse_query("&".join(f"k{i}=v" for i in range(5000)))) == 1000


# ------------------------------------------------------------------ fast path

CANONICAL = {"ts": 1700000000.25, "id": "x:1", "src_ip": "203.0.113.7", "method": "POST",
             "path": "/api/v1/login", "route": "/api/v1/login", "status": 401, "user": "u1",
             "ua": "Mozilla/5.0", "latency_ms": 12.5, "resp_bytes": 512,
             "headers": {"x-forwarded-for": "10.0.0.1"}, "query": {"a": "1"}}


def test_fast_path_returns_the_same_object():
    n = Normalizer()
    ev = dict(CANONICAL)
    assert n(ev) is ev
    assert n(ev) is ev  # and again, through the remembered checker
    other = dict(CANONICAL, user="u2")
    assert n(other) is other
    assert n.normalize(other) is other


def test_fast_path_protocol():
    n = Normalizer()
    lookup = n.fast_path()
    assert lookup(len(CANONICAL)) is None          # nothing compiled before the first event of a key set
    n(dict(CANONICAL))
    check = lookup(len(CANONICAL))
    assert check(dict(CANONICAL)) == ()            # canonical as it is
    assert check(dict(CANONICAL, status="401")) == ("status",)   # fields to repair
    with pytest.raises(KeyError):
        check({**{k: v for k, v in CANONICAL.items() if k != "user"}, "other": 1})   # another key set
    no_id = {k: v for k, v in CANONICAL.items() if k != "id"}
    n(dict(no_id))
    assert lookup(len(no_id))(no_id) is ID_ONLY
    ev = with_id(no_id, "f.jsonl", 7)
    assert ev == dict(no_id, id=default_id("f.jsonl", 7)) == n(no_id, "f.jsonl", 7)
    assert "id" not in no_id


def test_fast_path_is_not_offered_to_subclasses():
    class Custom(Normalizer):
        pass

    assert Custom().fast_path() is None and Normalizer().fast_path() is not None


def test_a_readers_bad_record_is_raised_with_its_reason():
    bad = Bad("not-json", "unexpected character", '{"a":')
    with pytest.raises(BadInput) as info:
        Normalizer()(bad, "f.jsonl", 3)
    assert (info.value.reason, info.value.detail, info.value.excerpt) == ("not-json", "unexpected character", '{"a":')


def test_one_quarantine_takes_reader_and_normaliser_errors():
    from sleuth.dsl import load_pack
    from sleuth.engine import Engine, Quarantine

    pack = load_pack(sources={"r.ttp": 'rule r { meta { ttp = "scraping"  goal = "scraping"  severity = "low" }\n'
                                       '  when status == 404 }\n'})
    for feed in ("feed", "feed_many"):
        q = Quarantine(keep=10)
        eng = Engine(pack, quarantine=q)
        items = [Bad("not-json", "unexpected end", '{"ts":'), {}, {"ts": T0, "status": 404}]
        if feed == "feed":
            out = [m for i, it in enumerate(items, 1) for m in eng.feed(it, "f.jsonl", i)] + eng.close()
        else:
            out = eng.feed_many(items, "f.jsonl", [1, 2, 3]) + eng.close()
        assert len(out) == 1
        assert [(r["position"], r["reason"], r["excerpt"]) for r in q.records] == [
            (1, "not-json", '{"ts":'), (2, "no-time", "{}")]
        assert eng.stats()["bad_input"] == 2


@pytest.mark.parametrize("change, fixed", [
    ({"ts": 1700000000}, {"ts": 1700000000.0}),
    ({"status": "401"}, {"status": 401}),
    ({"latency_ms": 3}, {"latency_ms": 3.0}),
    ({"headers": {"X-Forwarded-For": "10.0.0.1"}}, {"headers": {"x-forwarded-for": "10.0.0.1"}}),
    ({"user": 7}, {"user": "7"}),
    ({"id": 99}, {"id": "99"}),
], ids=["int-ts", "text-status", "int-latency", "header-case", "int-user", "int-id"])
def test_near_canonical_events_are_copied_and_fixed(change, fixed):
    n = Normalizer()
    n(dict(CANONICAL))  # warm the checker for this key set
    raw = dict(CANONICAL, **change)
    before = copy.deepcopy(raw)
    ev = n(raw)
    assert ev is not raw
    assert raw == before
    assert ev == dict(CANONICAL, **fixed)


def test_fast_path_id_is_added_on_a_copy():
    raw = {k: v for k, v in CANONICAL.items() if k != "id"}
    ev = Normalizer()(raw, "s", 5)
    assert ev is not raw and "id" not in raw
    assert ev["id"] == "s:5"


@pytest.mark.parametrize("change, invalid", [
    ({"status": True}, {"status": "wrong-type"}),
    ({"status": 10**30}, {"status": "out-of-range"}),
    ({"latency_ms": math.nan}, {"latency_ms": "not-finite"}),
    ({"ua": "u" * 70000}, {"ua": "truncated"}),
    ({"headers": {"x": 1}}, {}),
    ({"query": {1: "a"}}, {}),
], ids=["bool-status", "huge-status", "nan-latency", "long-ua", "non-str-header-value", "int-query-name"])
def test_fast_path_is_sound(change, invalid):
    n = Normalizer()
    n(dict(CANONICAL))
    raw = dict(CANONICAL, **change)
    ev = n(raw)
    assert ev is not raw
    assert ev.get("_invalid", {}) == invalid


def test_null_in_canonical_event():
    n = Normalizer()
    ev = n(dict(CANONICAL, user=None))
    assert "user" not in ev
    with pytest.raises(BadInput) as e:
        n(dict(CANONICAL, ts=None))
    assert e.value.reason == "no-time"


def test_fast_path_respects_user_mapping():
    n = Normalizer({"user": "headers.x-user"})
    raw = dict(CANONICAL, headers={"x-user": "mapped"})
    assert n(raw)["user"] == "mapped"


def test_templater_on_fast_path_copies():
    n = Normalizer(templater=HeuristicTemplater())
    raw = {"ts": T0, "id": "a", "method": "GET", "path": "/api/users/123"}
    ev = n(raw)
    assert ev is not raw and "route" not in raw
    assert ev["route"] == "/api/users/{id}"
    assert "spec" not in ev
    keep = dict(raw, route="/given")
    assert n(keep) is keep  # a route given by the source is kept


def test_templater_errors_are_recorded():
    class Broken:
        def route(self, method, path, query):
            raise RuntimeError("boom")

    ev = Normalizer(templater=Broken())({"ts": T0, "path": "/x"})
    assert "route" not in ev
    assert ev["_invalid"] == {"route": "templater-error"}


# ------------------------------------------------------------------ watched fields (the engine's default)


def test_watch_checks_only_the_fields_rules_read():
    n = Normalizer(watch={"status", "user"})
    n(dict(CANONICAL))
    odd = dict(CANONICAL, ua=7, latency_ms="slow")   # nobody reads these: they pass as they are
    assert n(odd) is odd
    bad = dict(CANONICAL, status="401", user=7)       # read by rules: fixed on a copy
    ev = n(bad)
    assert ev is not bad and ev["status"] == 401 and ev["user"] == "7"
    huge = dict(CANONICAL, id="x" * 70000)            # id and ts are always checked
    assert n(huge)["_invalid"] == {"id": "truncated"}


def test_watch_still_verifies_the_key_set():
    """An alias in place of an unwatched key (same size) is not mistaken for the learned shape."""
    n = Normalizer(watch={"user"})
    base = {k: v for k, v in CANONICAL.items() if k != "user"}
    assert n(dict(base)) == base
    raw = {k: v for k, v in base.items() if k != "ua"}
    raw["user.name"] = "bob"
    assert len(raw) == len(base)
    ev = n(raw)
    assert ev["user"] == "bob" and "user.name" not in ev


def test_watch_checks_route_and_path_only_for_a_templater():
    plain = Normalizer(watch={"status"})
    plain(dict(CANONICAL))
    odd = dict(CANONICAL, path=5)
    assert plain(odd) is odd
    templated = Normalizer(watch={"status"}, templater=HeuristicTemplater())
    templated(dict(CANONICAL))
    assert templated(dict(CANONICAL, path=5))["path"] == "5"
