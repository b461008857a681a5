"""Behaviour of ``sleuth simulate``'s engine (``sleuth.playground.simulate``).

One small run with every attack (module fixture) feeds most tests; determinism,
disorder and selection use their own tiny runs. Data-driven checks get one pytest
id per case (per field, per ttp, per trap kind).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from sleuth.playground.simulate import (
    ATTACK_KINDS,
    GOALS,
    TRAP_KINDS,
    TTPS,
    SimConfig,
    generate,
    write,
)

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HOSTING = {16509, 14061, 24940, 16276, 63949, 20473, 9009}
BAD_NETS = [ipaddress.ip_network(n) for n in ("185.220.100.0/22", "198.51.100.0/24", "203.0.113.0/24")]
FILES = ("events.jsonl", "labels.jsonl", "traps.jsonl", "openapi.json", "manifest.json", "roles.tsv")


def _ms(ts: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def sim():
    return generate(SimConfig(hours=1, scale=0.25, seed=11))


@pytest.fixture(scope="module")
def by_id(sim):
    return {e["id"]: e for e in sim.events}


@pytest.fixture(scope="module")
def attack_ids(sim):
    return {i for lab in sim.labels for i in lab["event_ids"]}


# ------------------------------------------------------------------ OpenAPI matcher


class Spec:
    """Tiny OpenAPI matcher: which documented operation, if any, an event fits."""

    def __init__(self, doc: dict) -> None:
        self.ops = []
        for template, methods in doc["paths"].items():
            rx = re.compile("^" + re.sub(r"\{[^}]+\}", r"([^/]+)", template) + "$")
            names = re.findall(r"\{([^}]+)\}", template)
            for method, op in methods.items():
                self.ops.append((rx, names, method.upper(), template, op))

    def match(self, ev: dict):
        for rx, _names, method, template, op in self.ops:
            if method == ev["method"] and rx.match(ev["path"]):
                return template, op
        return None

    def conforms(self, ev: dict) -> bool:
        """Documented route and method, known parameters, values inside their schema."""
        found = self.match(ev)
        if found is None:
            return False
        template, op = found
        schemas = {}
        for p in op.get("parameters", ()):
            schemas[(p["in"], p["name"])] = p["schema"]
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        for name, s in body.get("properties", {}).items():
            schemas[("body", name)] = s
        rx = re.compile("^" + re.sub(r"\{[^}]+\}", r"([^/]+)", template) + "$")
        names = re.findall(r"\{([^}]+)\}", template)
        values = [("path", n, v) for n, v in zip(names, rx.match(ev["path"]).groups())]
        values += [("query", k, v) for k, v in ev.get("query", {}).items()]
        for k, v in ev.get("params", {}).items():
            where = "body" if ("body", k) in schemas else "query"
            values.append((where, k, v))
        for where, name, value in values:
            s = schemas.get((where, name))
            if s is None or not _fits(s, value):
                return False
        return True


def _fits(schema: dict, value) -> bool:
    t = schema["type"]
    if t in ("integer", "number"):
        if isinstance(value, str):
            try:
                value = int(value) if t == "integer" else float(value)
            except ValueError:
                return False
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if t == "integer" and not isinstance(value, int):
            return False
        return schema.get("minimum", -1e18) <= value <= schema.get("maximum", 1e18)
    if t == "string":
        if not isinstance(value, str) or len(value) > schema.get("maxLength", 10**9):
            return False
        return "enum" not in schema or value in schema["enum"]
    if t == "boolean":
        return isinstance(value, bool)
    return False


@pytest.fixture(scope="module")
def spec(sim):
    return Spec(sim.openapi)


# ----------------------------------------------------------------------- determinism


def _write_bytes(config: SimConfig, out: Path) -> dict[str, bytes]:
    write(generate(config), out)
    return {name: (out / name).read_bytes() for name in FILES}


def test_same_seed_gives_byte_identical_files(tmp_path):
    config = SimConfig(hours=0.5, scale=0.1, seed=3)
    assert _write_bytes(config, tmp_path / "a") == _write_bytes(config, tmp_path / "b")


def test_different_seed_gives_different_events(tmp_path):
    a = _write_bytes(SimConfig(hours=0.5, scale=0.1, seed=3), tmp_path / "a")
    b = _write_bytes(SimConfig(hours=0.5, scale=0.1, seed=4), tmp_path / "b")
    assert a["events.jsonl"] != b["events.jsonl"]
    assert a["labels.jsonl"] != b["labels.jsonl"]


def test_output_independent_of_hash_randomisation(tmp_path):
    code = (
        "import sys; from sleuth.playground.simulate import SimConfig, generate, write; "
        "write(generate(SimConfig(hours=0.25, scale=0.05, seed=5, disorder=2)), sys.argv[1])"
    )
    outs = []
    for hashseed in ("1", "2"):
        out = tmp_path / hashseed
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env)
        outs.append({name: (out / name).read_bytes() for name in FILES})
    assert outs[0] == outs[1]


def test_write_returns_every_file(tmp_path):
    paths = write(generate(SimConfig(hours=0.1, scale=0.05)), tmp_path / "x")
    assert sorted(paths) == sorted(FILES)
    assert all(Path(p).is_file() for p in paths.values())
    json.loads(Path(paths["manifest.json"]).read_text())


# --------------------------------------------------------------------------- disorder


@pytest.mark.parametrize("disorder", [0.0, 0.5, 5.0, 30.0])
def test_arrival_disorder_bound(disorder):
    events = generate(SimConfig(hours=0.25, scale=0.1, seed=2, disorder=disorder)).events
    newest = 0
    worst = 0
    for e in events:
        t = _ms(e["ts"])
        newest = max(newest, t)
        worst = max(worst, newest - t)
    assert worst <= disorder * 1000
    if disorder >= 5:
        assert worst > 0.5 * disorder * 1000  # the disorder is really there


def test_disorder_is_a_permutation_of_event_order():
    base = generate(SimConfig(hours=0.25, scale=0.1, seed=2))
    shuffled = generate(SimConfig(hours=0.25, scale=0.1, seed=2, disorder=10))
    assert [e["id"] for e in base.events] == sorted(e["id"] for e in shuffled.events)
    assert [e["id"] for e in shuffled.events] != [e["id"] for e in base.events]
    assert [e["ts"] for e in base.events] == sorted(e["ts"] for e in base.events)


# ------------------------------------------------------------------------ selection


def test_every_ttp_has_an_instance(sim):
    assert {lab["ttp"] for lab in sim.labels} == set(TTPS)


def test_attack_selection_gives_only_that():
    out = generate(SimConfig(hours=0.5, scale=0.1, attacks=("scraping",)))
    assert out.labels
    assert {lab["ttp"] for lab in out.labels} == {"scraping"}
    assert out.manifest["attacks_enabled"] == ["scraping"]


def test_only_benign_gives_no_labels():
    out = generate(SimConfig(hours=0.5, scale=0.1, only_benign=True))
    assert out.labels == []
    assert out.traps
    assert out.manifest["events"]["attack"] == 0


def test_unknown_ttp_is_rejected():
    with pytest.raises(ValueError, match="unknown ttp id"):
        generate(SimConfig(attacks=("scrapping",)))


def test_attack_catalogue():
    names = [k.name for k in ATTACK_KINDS]
    assert len(names) == len(set(names))
    assert {k.ttp for k in ATTACK_KINDS} == set(TTPS)
    assert all(k.goal in GOALS and k.difficulty in ("easy", "medium", "hard") for k in ATTACK_KINDS)
    levels = defaultdict(set)
    for k in ATTACK_KINDS:
        levels[k.ttp].add(k.difficulty)
    assert sum(1 for t in TTPS if {"easy", "hard"} <= levels[t]) >= 10


# ----------------------------------------------------------------------- event schema

FIELD_CHECKS = {
    "id": lambda v: isinstance(v, str) and v.startswith("ev-"),
    "ts": lambda v: isinstance(v, str) and TS_RE.match(v) is not None,
    "src_ip": lambda v: isinstance(v, str) and ipaddress.ip_address(v).version == 4,
    "asn": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
    "country": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Z]{2}", v) is not None,
    "method": lambda v: v in ("GET", "POST", "PUT", "PATCH", "DELETE"),
    "host": lambda v: v in ("api.shop.example", "api.bank.example"),
    "path": lambda v: isinstance(v, str) and v.startswith("/"),
    "status": lambda v: isinstance(v, int) and 100 <= v <= 599,
    "ua": lambda v: isinstance(v, str) and len(v) > 3,
    "ja3": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v) is not None,
    "req_bytes": lambda v: isinstance(v, int) and v >= 0,
    "resp_bytes": lambda v: isinstance(v, int) and v >= 0,
    "latency_ms": lambda v: isinstance(v, float) and v > 0,
    "user": lambda v: isinstance(v, str) and v != "",
    "session": lambda v: isinstance(v, str) and v.startswith("s_"),
    "query": lambda v: isinstance(v, dict) and v and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
    "params": lambda v: isinstance(v, dict) and v and all(isinstance(k, str) for k in v),
    "headers": lambda v: isinstance(v, dict) and all(k == k.lower() and isinstance(x, str) for k, x in v.items()),
}
REQUIRED = ("id", "ts", "src_ip", "asn", "country", "method", "host", "path", "status", "ua", "ja3",
            "req_bytes", "resp_bytes", "latency_ms")


@pytest.mark.parametrize("field", sorted(FIELD_CHECKS))
def test_field_type(sim, field):
    check = FIELD_CHECKS[field]
    present = [e for e in sim.events if field in e]
    if field in REQUIRED:
        assert len(present) == len(sim.events)
    assert present
    bad = [e for e in present if not check(e[field])]
    assert not bad, bad[:3]


def test_no_unknown_fields_and_no_route(sim):
    allowed = set(FIELD_CHECKS)
    assert all(set(e) <= allowed for e in sim.events)
    assert not any("route" in e for e in sim.events)


def test_event_ids_unique(sim):
    assert len({e["id"] for e in sim.events}) == len(sim.events)


def test_events_inside_span(sim):
    span = sim.manifest["span"]
    assert all(span["start"] <= e["ts"] < span["end"] for e in sim.events)


# --------------------------------------------------------------------------- labels

LABEL_KEYS = {"id", "ttp", "goal", "difficulty", "start", "end", "entities", "event_ids", "campaign",
              "description", "generator", "also", "world", "visible", "missing"}


def test_label_format(sim, by_id):
    for lab in sim.labels:
        assert set(lab) == LABEL_KEYS
        assert lab["ttp"] in TTPS and lab["goal"] in GOALS and lab["difficulty"] in ("easy", "medium", "hard")
        assert lab["event_ids"] == sorted(lab["event_ids"]) and lab["event_ids"]
        evs = [by_id[i] for i in lab["event_ids"]]  # KeyError = dangling reference
        assert lab["start"] == min(e["ts"] for e in evs) and lab["end"] == max(e["ts"] for e in evs)
        for field, values in lab["entities"].items():
            assert values == sorted({e[field] for e in evs if field in e})
        assert set(lab["also"]) <= set(TTPS) - {lab["ttp"]}


def test_trap_format(sim, by_id, attack_ids):
    for trap in sim.traps:
        assert set(trap) == {"id", "trap", "start", "end", "entities", "event_ids", "description", "world"}
        assert trap["trap"] in TRAP_KINDS
        assert all(i in by_id for i in trap["event_ids"])
        assert not attack_ids & set(trap["event_ids"])  # traps are benign


@pytest.mark.parametrize("kind", TRAP_KINDS)
def test_every_trap_kind_present(sim, kind):
    assert any(t["trap"] == kind for t in sim.traps)


def _route(ev: dict) -> str:
    return re.sub(r"/\d+(?=/|$)", "/{id}", ev["path"])


SETUP = {"/api/v1/auth/register", "/api/v1/auth/login"}


def _sig_stuffing(evs):
    logins = [e for e in evs if e["path"] == "/api/v1/auth/login"]
    return (all(e["path"] in ("/api/v1/auth/login", "/api/v1/account") for e in evs)
            and len({e["user"] for e in logins}) >= 50
            and sum(e["status"] != 200 for e in logins) / len(logins) > 0.8)


def _sig_aggregation(evs):
    routes = {"/api/v1/auth/login", "/api/v1/users/exists", "/api/v1/auth/password-reset"}
    users = {e.get("user") or e.get("query", {}).get("username") for e in evs}
    return all(e["path"] in routes for e in evs) and len(users) >= 20


def _sig_takeover(evs):
    changes = [e for e in evs if e["path"].startswith("/api/v1/account/") and e["method"] == "POST"]
    success = [e for e in evs if e["path"] == "/api/v1/auth/login" and e["status"] == 200]
    return bool(changes) and bool(success) and min(e["ts"] for e in success) < max(e["ts"] for e in changes)


def _sig_scraping(evs):
    ok = ("/api/v1/products", "/api/v1/search", "/api/v1/categories")
    return all(e["method"] == "GET" and e["path"].startswith(ok) for e in evs)


def _sig_enumeration(evs):
    walk = [e for e in evs if e["path"] not in SETUP]
    ids = {re.search(r"/(\d+)(?:/|$)", e["path"]).group(1) for e in walk if re.search(r"/\d+", e["path"])}
    return len(walk) >= len(evs) - 2 and len(ids) >= 0.5 * len(walk) and len({_route(e) for e in walk}) <= 2


def _sig_logic(evs):
    ok = {"/api/v1/giftcards/redeem", "/api/v1/coupons/validate", "/api/v1/cart/items", "/api/v1/cart",
          "/api/v1/transfers", "/api/v1/checkout", "/api/v1/auth/mfa/verify"} | SETUP
    return all(_route(e).replace("/{id}/confirm", "") in ok for e in evs)


def _sig_l3_rotation(evs):
    per = defaultdict(set)
    for e in evs:
        for key in ("session", "user", "ja3"):
            if key in e:
                per[(key, e[key])].add(e["src_ip"])
    return max(len(v) for v in per.values()) >= 10


def _sig_reputation(evs):
    return all(e["asn"] in HOSTING or any(ipaddress.ip_address(e["src_ip"]) in n for n in BAD_NETS) for e in evs)


def _sig_session_rotation(evs):
    # A browser-like client's first request of a session may go out before its cookie is set
    # (the tuning world's sessionless starts): most events carry one.
    per = Counter(e["session"] for e in evs if "session" in e)
    return sum("session" in e for e in evs) >= 0.6 * len(evs) and len(per) >= 50 and statistics.median(per.values()) <= 4


def _sig_fingerprint(evs):
    return len({(e["ua"], e["ja3"]) for e in evs}) >= 0.4 * len(evs) and len({e["ja3"] for e in evs}) >= 10


def _sig_low_entropy(evs):
    shapes = Counter((e["method"], _route(e)) for e in evs)
    shape = shapes.most_common(1)[0][0]
    times = sorted(_ms(e["ts"]) for e in evs if (e["method"], _route(e)) == shape)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return len(gaps) >= 100 and statistics.pstdev(gaps) / statistics.mean(gaps) < 0.1


def _sig_sustained(evs):
    minutes = Counter(_ms(e["ts"]) // 60_000 for e in evs)
    full = [minutes.get(m, 0) for m in range(min(minutes) + 1, max(minutes))]  # ends are partial
    return len(full) >= 10 and min(full) >= 30


def _sig_spec(evs, spec):
    return sum(not spec.conforms(e) for e in evs) >= 0.25 * len(evs)


def _sig_exhaustion(evs):
    exports = [e for e in evs if e["path"] == "/api/v1/reports/export"]
    return (len(exports) >= len(evs) * 0.75 and all(e["path"] in SETUP for e in evs if e not in exports)
            and sum(e["status"] in (429, 503, 504) for e in exports) >= 0.3 * len(exports))


def _sig_campaign(evs):
    return len({e["asn"] for e in evs}) == 1 and len({e["ja3"] for e in evs}) <= 3


SIGNATURES = {
    "credential-stuffing": _sig_stuffing,
    "account-aggregation": _sig_aggregation,
    "account-takeover": _sig_takeover,
    "scraping": _sig_scraping,
    "enumeration": _sig_enumeration,
    "business-logic-abuse": _sig_logic,
    "l3-rotation": _sig_l3_rotation,
    "l3-reputation": _sig_reputation,
    "session-rotation": _sig_session_rotation,
    "fingerprint-rotation": _sig_fingerprint,
    "low-entropy-automation": _sig_low_entropy,
    "sustained-volume": _sig_sustained,
    "spec-anomaly": _sig_spec,
    "resource-exhaustion": _sig_exhaustion,
    "campaign": _sig_campaign,
}


@pytest.mark.parametrize("ttp", TTPS)
def test_labelled_events_have_the_ttp_signature(sim, by_id, spec, ttp):
    labs = [lab for lab in sim.labels if lab["ttp"] == ttp]
    assert labs, f"no instance of {ttp}"
    for lab in labs:
        evs = [by_id[i] for i in lab["event_ids"]]
        sig = SIGNATURES[ttp]
        ok = sig(evs, spec) if ttp == "spec-anomaly" else sig(evs)
        assert ok, f"{lab['id']} ({lab['generator']}) lacks the {ttp} signature: {lab['description']}"


def test_campaign_stages_point_at_the_campaign(sim):
    (camp,) = [lab for lab in sim.labels if lab["ttp"] == "campaign"]
    stages = [lab for lab in sim.labels if lab["campaign"] == camp["id"]]
    assert {s["ttp"] for s in stages} >= {"scraping", "credential-stuffing", "account-takeover", "business-logic-abuse"}
    assert set().union(*(s["event_ids"] for s in stages)) == set(camp["event_ids"])
    assert camp["entities"]["asn"] == [9009]
    assert all(lab["campaign"] is None for lab in sim.labels if lab["generator"] != "campaign")


def test_takeover_changes_come_from_a_new_source(sim, by_id, attack_ids):
    for lab in sim.labels:
        if lab["generator"] != "ato-takeover":
            continue
        (victim,) = lab["entities"]["user"]
        own = {(e["src_ip"], e["ja3"]) for e in sim.events if e.get("user") == victim and e["id"] not in attack_ids}
        changes = [by_id[i] for i in lab["event_ids"] if "/account/" in by_id[i]["path"]]
        assert changes and all((e["src_ip"], e["ja3"]) not in own for e in changes)


def test_manifest_counts(sim):
    m = sim.manifest
    assert m["events"]["count"] == len(sim.events)
    assert m["labels"]["by_ttp"] == {t: sum(lab["ttp"] == t for lab in sim.labels) for t in TTPS}
    assert sum(m["traps"]["by_kind"].values()) == len(sim.traps)
    assert m["events"]["attack"] == len({i for lab in sim.labels for i in lab["event_ids"]})
    assert m["reference_lists"]["tor_exit_cidrs"] == ["185.220.100.0/22"]


def test_attacks_accepts_a_comma_separated_string():
    assert SimConfig(attacks="scraping, enumeration").attacks == ("scraping", "enumeration")


def test_responses_are_consistent_with_the_app(sim):
    for e in sim.events:
        if e["path"] == "/api/v1/auth/login":
            assert e["status"] in (200, 401, 429)
        if e["status"] == 429:
            assert e["latency_ms"] < 10
    # Ordinary customers never trip the rate limiter.
    labelled = {i for lab in sim.labels for i in lab["event_ids"]}
    assert not [e for e in sim.events if e["id"] not in labelled and e["status"] == 429]


# -------------------------------------------------------------------------- openapi


def test_openapi_is_json_with_every_documented_route(sim, tmp_path):
    from sleuth.playground.sim.spec import ROUTES

    doc = json.loads(json.dumps(sim.openapi))
    assert doc["openapi"].startswith("3.0")
    ops = {(m.upper(), p) for p, methods in doc["paths"].items() for m in methods}
    assert ops == {(r.method, r.template) for r in ROUTES.values()}
    assert not any(p.startswith(("/api/v0", "/api/internal")) or "/admin" in p for p in doc["paths"])
    params = doc["paths"]["/api/v1/orders/{order_id}"]["get"]["parameters"]
    assert params[0]["schema"]["type"] == "integer"
    export = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/reports/export"]["get"]["parameters"]}
    assert export["page_size"] == {"type": "integer", "minimum": 1, "maximum": 100}


def test_benign_traffic_conforms_to_the_openapi(sim, spec, attack_ids):
    bad = [e for e in sim.events if e["id"] not in attack_ids and not spec.conforms(e)]
    assert not bad, bad[:3]


# ----------------------------------------------------------------------------- traps


def test_flash_sale_multiplies_product_cart_checkout(sim, attack_ids):
    fs, fe = _ms(sim.manifest["flash_sale"]["start"]), _ms(sim.manifest["flash_sale"]["end"])
    assert 20 * 60_000 <= fe - fs <= 30 * 60_000
    pcc = ("/api/v1/products", "/api/v1/cart", "/api/v1/checkout")
    times = [_ms(e["ts"]) for e in sim.events if e["id"] not in attack_ids and e["path"].startswith(pcc)]
    during = sum(fs <= t < fe for t in times) / (fe - fs)
    before = sum(fs - 15 * 60_000 <= t < fs for t in times) / (15 * 60_000)
    assert 4.0 <= during / before <= 7.0
    assert 4.5 <= sim.manifest["flash_sale"]["multiplier"] <= 5.5


def test_uptime_monitor_every_30_seconds_exactly(sim, by_id):
    # The original monitor (the world's other monitors probe from several locations, 60-120 s apart).
    (trap,) = [t for t in sim.traps if t["trap"] == "uptime-monitor" and "30.000 s" in t["description"]]
    times = [_ms(by_id[i]["ts"]) for i in trap["event_ids"]]
    assert {b - a for a, b in zip(times, times[1:])} == {30_000}
    assert len(times) == 120
    assert all(by_id[i]["path"] == "/health" for i in trap["event_ids"])


def test_corporate_nat_hundreds_of_users_one_ip(sim, by_id):
    (trap,) = [t for t in sim.traps if t["trap"] == "corporate-nat"]
    logins = [by_id[i] for i in trap["event_ids"] if by_id[i]["path"] == "/api/v1/auth/login"]
    assert len(trap["entities"]["src_ip"]) == 1
    assert len({e["user"] for e in logins}) >= 100
    assert sum(e["status"] == 200 for e in logins) / len(logins) > 0.85


def test_daily_cycle_and_scale():
    night = generate(SimConfig(hours=0.5, scale=0.2, only_benign=True, start="2026-11-27T04:00:00Z"))
    evening = generate(SimConfig(hours=0.5, scale=0.2, only_benign=True, start="2026-11-27T19:00:00Z"))
    assert len(evening.events) > 1.8 * len(night.events)
