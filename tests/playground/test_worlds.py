"""The simulator's API worlds (``sleuth simulate --world``): one pytest id per world for each property.

A small run per world (half an hour at 14:00 UTC, when every office is open, scale
0.08, every attack) feeds most tests; determinism uses tiny runs of its own. The
bigger runs that check the stated population figures at scale 1 are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from sleuth.engine.ingest import Normalizer, parse_time
from sleuth.engine.ingest.enrich import PrefixTable
from sleuth.engine.ingest.openapi import OpenAPI
from sleuth.engine.ingest.source import Bad, open_source
from sleuth.engine.quarantine import Quarantine
from sleuth.playground.sim import (
    ATTACK_KINDS,
    TTPS,
    WORLD_TRAP_KINDS,
    WORLDS,
    SimConfig,
    default_generators,
    generate,
    trap_kinds,
    write,
)
from sleuth.playground.sim.figures import population_figures
from sleuth.playground.sim.ops import ROLE
from sleuth.playground.sim.worlds import FEATURES

NAMES = list(WORLDS)
HELD_OUT = [n for n in NAMES if WORLDS[n].held_out]
FILES = ("events.jsonl", "labels.jsonl", "traps.jsonl", "openapi.json", "manifest.json", "roles.tsv",
         "access.log", "prefixes.csv")
ROLES = {r for r in ROLE.values() if r is not None}
# Generators whose requests are meant to miss the documented API, or to break its schema.
UNDOCUMENTED_BY_DESIGN = {"shadow-probe", "shadow-quiet", "param-tamper", "backup-enum-fleet", "worm"}
INVALID_BY_DESIGN = {"param-tamper", "export-burst"}
_SIMS: dict[str, object] = {}


def small(world: str):
    """The shared small run of ``world`` (cached for the module)."""
    if world not in _SIMS:
        _SIMS[world] = generate(SimConfig(hours=0.5, scale=0.08, seed=11, world=world, start="2026-11-27T14:00:00Z"))
    return _SIMS[world]


def _ms(ts: str) -> int:
    return int(round(parse_time(ts) * 1000))


def _who(sim) -> dict[str, str]:
    """event id -> generator of the attack instance holding it (campaign umbrellas last)."""
    out: dict[str, str] = {}
    for lab in sorted(sim.labels, key=lambda lab: lab["ttp"] == "campaign"):
        for i in lab["event_ids"]:
            out.setdefault(i, lab["generator"])
    return out


def _instances(sim, generator: str) -> list[list[dict]]:
    by_id = {e["id"]: e for e in sim.events}
    return [[by_id[i] for i in lab["event_ids"]] for lab in sim.labels if lab["generator"] == generator]


# ------------------------------------------------------------------- determinism


@pytest.mark.parametrize("world", NAMES)
def test_same_seed_gives_byte_identical_files(world, tmp_path):
    config = SimConfig(hours=0.2, scale=0.03, seed=5, world=world, disorder=1.5)
    out = []
    for name in ("a", "b"):
        write(generate(config), tmp_path / name, access_log=True)
        out.append({f: (tmp_path / name / f).read_bytes() for f in FILES})
    assert out[0] == out[1]
    other = generate(SimConfig(hours=0.2, scale=0.03, seed=6, world=world, disorder=1.5))
    write(other, tmp_path / "c", access_log=True)
    assert (tmp_path / "c" / "events.jsonl").read_bytes() != out[0]["events.jsonl"]


def test_held_out_worlds_independent_of_hash_randomisation(tmp_path):
    code = ("import sys; from sleuth.playground.sim import SimConfig, generate, write\n"
            f"for w in {HELD_OUT!r}:\n"
            "    write(generate(SimConfig(hours=0.1, scale=0.02, seed=4, world=w)), sys.argv[1] + '/' + w, "
            "access_log=True)\n")
    outs = []
    for hashseed in ("1", "2"):
        out = tmp_path / hashseed
        subprocess.run([sys.executable, "-c", code, str(out)], check=True,
                       env=dict(os.environ, PYTHONHASHSEED=hashseed))
        outs.append({(w, f): (out / w / f).read_bytes() for w in HELD_OUT for f in FILES})
    assert outs[0] == outs[1]


# ------------------------------------------------------------------- coverage


@pytest.mark.parametrize("world", NAMES)
def test_every_ttp_present(world):
    assert {lab["ttp"] for lab in small(world).labels} == set(TTPS)


@pytest.mark.parametrize("world", NAMES)
def test_every_generator_of_the_world_runs(world):
    sim = small(world)
    assert {lab["generator"] for lab in sim.labels} == set(default_generators(WORLDS[world]))
    assert sorted(sim.manifest["generators"]) == sorted(default_generators(WORLDS[world]))
    expected = 36 if world == "tuning" else len(ATTACK_KINDS)
    assert len(default_generators(WORLDS[world])) == expected


@pytest.mark.parametrize("world", NAMES)
def test_every_trap_kind_present(world):
    sim = small(world)
    assert {t["trap"] for t in sim.traps} == set(trap_kinds(WORLDS[world]))
    assert set(trap_kinds(WORLDS[world])) <= set(WORLD_TRAP_KINDS)
    assert sim.manifest["world"]["trap_kinds"] == list(trap_kinds(WORLDS[world]))


# -------------------------------------------------------------- OpenAPI document


def _allowed_fields(doc: dict) -> dict[str, set[str]]:
    """operationId -> query parameter and request-body field names it documents."""
    out: dict[str, set[str]] = {}
    for item in doc["paths"].values():
        for op in item.values():
            names = {p["name"] for p in op.get("parameters", ()) if p["in"] == "query"}
            for media in op.get("requestBody", {}).get("content", {}).values():
                names |= set(media["schema"].get("properties", {}))
            out[op["operationId"]] = names
    return out


@pytest.mark.parametrize("world", NAMES)
def test_openapi_loads_and_every_request_resolves(world):
    sim = small(world)
    api = OpenAPI.load(json.loads(json.dumps(sim.openapi)))
    assert api.operations == len(sim.manifest["roles"])
    allowed = _allowed_fields(sim.openapi)
    who = _who(sim)
    stray: Counter = Counter()
    for e in sim.events:
        route, spec = api.route(e["method"], e["path"], e.get("query"))
        gen = who.get(e["id"], "benign")
        if not spec["documented"]:
            stray[("undocumented", gen)] += 1
            continue
        if spec["unknown_params"] or spec["invalid_params"]:
            stray[("invalid", gen)] += 1
        if gen == "benign":
            extra = set(e.get("params", {})) - allowed[spec["operation"]]
            assert not extra, (e, extra)
    assert {g for (k, g) in stray if k == "undocumented"} <= UNDOCUMENTED_BY_DESIGN, stray
    assert {g for (k, g) in stray if k == "invalid"} <= INVALID_BY_DESIGN, stray
    assert {"shadow-probe", "shadow-quiet"} <= {g for (k, g) in stray if k == "undocumented"}


@pytest.mark.parametrize("world", HELD_OUT)
def test_held_out_documents_carry_no_sleuth_extension(world):
    doc = small(world).openapi
    assert "x-sleuth" not in json.dumps(doc).lower()
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert all(op.get("summary") and op.get("tags") for item in doc["paths"].values() for op in item.values())
    tuning_paths = set(WORLDS["tuning"].openapi()["paths"])
    assert not set(doc["paths"]) & tuning_paths  # its own route names


@pytest.mark.parametrize("world", NAMES)
def test_roles_table_covers_the_document(world, tmp_path):
    sim = small(world)
    paths = write(sim, tmp_path)
    rows = [line.split("\t") for line in Path(paths["roles.tsv"]).read_text().splitlines()]
    doc_ops = {(m.upper(), p, op["operationId"]) for p, item in sim.openapi["paths"].items() for m, op in item.items()}
    assert {(m, p, o) for m, p, o, _ in rows} == doc_ops
    assert {r for *_, r in rows} <= ROLES | {"null"}
    assert {"login", "register", "password-reset", "catalogue", "object-read", "giftcard", "coupon",
            "checkout"} <= {r for *_, r in rows}


# ------------------------------------------------------------------ populations


@pytest.mark.parametrize("world", NAMES)
def test_population_figures_that_do_not_depend_on_scale(world):
    figures = population_figures(small(world))
    stated = WORLDS[world].populace.stated
    for key in ("customer_sessionless_share", "carrier_request_share", "top10_customer_fingerprint_share"):
        if key in stated:
            lo, hi = stated[key]
            assert lo <= figures[key] <= hi, (key, figures[key], stated[key])


@pytest.mark.parametrize("world", HELD_OUT)
def test_automated_clients_keep_their_schedules(world):
    sim = small(world)
    pp = WORLDS[world].populace
    by_id = {e["id"]: e for e in sim.events}
    traps = defaultdict(list)
    for t in sim.traps:
        traps[t["trap"]].append([by_id[i] for i in t["event_ids"]])
    assert len(traps["uptime-monitor"]) == len(pp.monitors)
    for evs in traps["uptime-monitor"]:
        (m,) = [m for m in pp.monitors if m.ua == evs[0]["ua"]]
        per_ip = defaultdict(list)
        for e in evs:
            per_ip[e["src_ip"]].append(_ms(e["ts"]))
        assert len(per_ip) == m.locations and len({e.get("ua") for e in evs}) == 1
        for times in per_ip.values():
            gaps = [b - a for a, b in zip(sorted(times), sorted(times)[1:])]
            assert all(abs(g - m.period_s * 1000) <= 2 * m.jitter_ms for g in gaps), (m.name, gaps[:5])
    assert len(traps["bulk-download"]) == len(pp.bulk)  # half an hour: one download each
    for evs in traps["bulk-download"]:
        assert {(e["method"], e["path"]) for e in evs} == {(evs[0]["method"], evs[0]["path"])}
        (b,) = [b for b in pp.bulk if b.ua == evs[0]["ua"]]
        assert {e.get("ua") for e in evs} == {b.ua} and len({e["src_ip"] for e in evs}) == 1
        gaps = [b2 - a for a, b2 in zip([_ms(e["ts"]) for e in evs], [_ms(e["ts"]) for e in evs][1:])]
        assert statistics.pstdev(gaps) / statistics.mean(gaps) < 0.1
    assert traps["long-poller"]  # (a 60-minute poller may not come round in half an hour)
    for evs in traps["long-poller"]:
        (p,) = [p for p in pp.pollers if p.ua == evs[0]["ua"]]
        starts = sorted({_ms(e["ts"]) // 60_000 for e in evs})
        polls = [starts[0]] + [b for a, b in zip(starts, starts[1:]) if b - a > 1]
        assert all(abs((b - a) - p.period_min) <= 1 for a, b in zip(polls, polls[1:]))
    offices = traps["corporate-nat"]
    assert len(offices) == len(pp.corporate)
    for evs in offices:
        assert len({e["src_ip"] for e in evs}) == 1 and len({e["user"] for e in evs if "user" in e}) >= 15
    assert traps["app-refresh"] and traps["mobile-cgnat"]


# --------------------------------------------------------------- access log


@pytest.mark.parametrize("world", NAMES)
def test_access_log_reads_back_through_the_apache_reader(world, tmp_path):
    sim = small(world)
    paths = write(sim, tmp_path, access_log=True)
    reader = open_source(paths["access.log"], name="access.log")
    norm = Normalizer()
    quarantine = Quarantine(keep=10)
    table = PrefixTable.from_csv(paths["prefixes.csv"])
    n = 0
    for (pos, item), ev in zip(reader, sim.events, strict=True):
        if isinstance(item, Bad):
            quarantine.add_bad(reader.name, pos, item)
            continue
        out = norm(item, reader.name, pos)
        table(out)
        n += 1
        assert out["id"] == f"access.log:{pos}" and pos == n
        for field in ("src_ip", "method", "path", "status", "ua", "asn", "country"):
            assert out.get(field) == ev.get(field), (field, out, ev)
        assert out.get("query", {}) == ev.get("query", {})
        assert out.get("resp_bytes") == (ev["resp_bytes"] or None)
        assert out.get("headers", {}).get("referer") == ev.get("headers", {}).get("referer")
        assert int(out["ts"]) == _ms(ev["ts"]) // 1000
        assert not {"ja3", "session", "user", "params", "latency_ms"} & set(out)
    assert reader.format == "apache"
    assert quarantine.total == 0 and n == len(sim.events)


# --------------------------------------------------------------------- labels


@pytest.mark.parametrize("world", NAMES)
def test_labels_say_what_each_rendering_can_show(world):
    sim = small(world)
    spec = WORLDS[world]
    for lab in sim.labels:
        assert lab["world"] == world
        assert set(lab["visible"]) == {"events", "access_log"}
        for rendering, shown in lab["visible"].items():
            missing = lab["missing"].get(rendering, [])
            assert shown == (not missing)
            assert set(missing) <= set(FEATURES) - spec.features(rendering)
        assert not (lab["visible"]["access_log"] and not lab["visible"]["events"]) or world == "harbor"
    assert all(t["world"] == world for t in sim.traps)
    vis = {(lab["generator"], lab["ttp"]): lab["visible"] for lab in sim.labels}
    assert vis[("stuffing-burst", "credential-stuffing")] == {"events": True, "access_log": True}
    assert vis[("aggregation-spread", "account-aggregation")]["access_log"] is False
    # harbor and marquee log no username on a failed sign-in
    assert vis[("aggregation-spread", "account-aggregation")]["events"] is (world not in ("harbor", "marquee"))
    assert vis[("scrape-distributed", "scraping")]["events"] is (world != "relay")
    assert vis[("session-churn", "session-rotation")]["access_log"] is (world == "harbor")
    assert vis[("enum-invoice-bola", "enumeration")]["access_log"] is (world != "relay")


# ----------------------------------------------------------- identity fields

JA4 = re.compile(r"t1[23]d\d{4}h[12]_[0-9a-f]{12}_[0-9a-f]{12}")


@pytest.mark.parametrize("world", NAMES)
def test_identity_fields(world):
    sim = small(world)
    events = sim.events
    ident = WORLDS[world].identity
    field = ident.fingerprint_field
    ja3 = [e[field] for e in events if field in e]
    if field != "ja3":  # the fingerprint has its own field (marquee: "ja4"), never "ja3"
        assert not any("ja3" in e for e in events)
    if ident.fingerprint is None:
        assert not ja3
    elif ident.fingerprint == "ja4":
        assert ja3 and all(JA4.fullmatch(j) for j in ja3)
        who = _who(sim)
        chrome = {e[field] for e in events if "Chrome/131.0.0.0" in e.get("ua", "") and "Edg/" not in e["ua"]
                  and e["id"] not in who and field in e}
        assert len(chrome) == 1  # one JA4 for Chrome on every OS
    else:
        assert ja3 and all(re.fullmatch(r"[0-9a-f]{32}", j) for j in ja3)
    sessions = [e["session"] for e in events if "session" in e]
    if ident.session == "none":
        assert not sessions
        assert sum(e["path"].endswith("/anonymous/token") for e in events) > 50
    else:
        assert sessions and all(s.startswith(ident.session_prefix) for s in sessions)
    logins = [e for e in events if e["path"] == WORLDS[world].base + WORLDS[world].ops["login"].path
              and e.get("params", {}).get("grant_type", "password") == "password"] if world != "tuning" else \
        [e for e in events if e["path"] == "/api/v1/auth/login"]
    assert logins
    if ident.user == "authenticated":
        assert not any("user" in e for e in logins)
    elif ident.user == "success":  # the fan once signed in; a failed sign-in names nobody
        assert not any("user" in e for e in logins if e["status"] >= 400)
        assert all("user" in e for e in logins if e["status"] < 300)
        assert any(e["status"] >= 400 for e in logins) and any(e["status"] < 300 for e in logins)
    else:
        assert all("user" in e for e in logins)


LOGIN_FAILURE = {"tuning": (401, None), "northwind": (403, None), "relay": (200, "invalid_auth"),
                 "harbor": (400, None), "marquee": (422, None)}


@pytest.mark.parametrize("world", NAMES)
def test_outcome_conventions(world):
    sim = small(world)
    spec = WORLDS[world]
    (burst,) = _instances(sim, "stuffing-burst")
    statuses = Counter((e["status"], e.get("outcome")) for e in burst if e["method"] == "POST")
    status, outcome = LOGIN_FAILURE[world]
    assert statuses[(status, outcome if spec.conventions.envelope else None)] > 10
    assert sum(n for (s, _), n in statuses.items() if s == 429) > 10  # the rate limiter
    if spec.conventions.envelope:
        assert all("outcome" in e for e in sim.events if e["path"].startswith(spec.base + "/"))
        bad = [e for e in burst if e.get("outcome") == "invalid_auth"]
        assert {e["resp_bytes"] for e in bad} == {len('{"ok":false,"error":"invalid_auth"}')}
        assert {e["status"] for e in sim.events} <= {200, 429, 503, 504, 404}
    else:  # an older generation of routes may answer in an envelope (marquee's mobile API): only there
        older_hosts = {op.host for op in spec.older.values()} if spec.older_conventions is not None and \
            spec.older_conventions.envelope else set()
        assert not any("outcome" in e for e in sim.events if e["host"] not in older_hosts)
    (walk,) = _instances(sim, "enum-orders")
    reads = walk[2:]  # after signing up and logging in
    if spec.conventions.envelope:  # someone else's order: HTTP 200, {"ok":false,"error":"not_allowed"}
        assert {(e["status"], e["outcome"]) for e in reads} == {(200, "not_allowed"), (200, "not_found")}
    else:
        assert {e["status"] for e in reads} == {spec.conventions.not_owner, 404}


# ------------------------------------------------ behaviours from real logs


def _object_ids(sim, evs: list[dict]) -> list[str]:
    api = OpenAPI(sim.openapi)
    out = []
    for e in evs:
        m = api.match(e["path"])
        if m and m[1]:
            out.append(next(iter(m[1].values())))
        elif "order_id" in e.get("params", {}):
            out.append(str(e["params"]["order_id"]))
    return out


@pytest.mark.parametrize("world", HELD_OUT)
def test_behaviours_of_real_access_logs(world):
    sim = small(world)
    (rot,) = _instances(sim, "ua-rotation")
    assert len({e["src_ip"] for e in rot}) == 1 and len({e["ua"] for e in rot}) == 46
    (poll,) = _instances(sim, "price-poller")
    starts = sorted(_ms(e["ts"]) for e in poll)
    bursts = [starts[0]] + [b for a, b in zip(starts, starts[1:]) if b - a > 60_000]
    period = 6 * 60_000  # half an hour: span / 5
    assert len(bursts) >= 4 and all(abs((b - a) - period) <= 6_000 for a, b in zip(bursts, bursts[1:]))
    assert len({e["src_ip"] for e in poll}) == 1 and not any("session" in e for e in poll)
    (fleet,) = _instances(sim, "backup-enum-fleet")
    per = Counter(e["src_ip"] for e in fleet)
    assert len(per) >= 300 and max(per.values()) <= 8 and not any("ua" in e for e in fleet)
    assert all(e["status"] == 404 for e in fleet)
    (w,) = _instances(sim, "worm")
    per = Counter(e["src_ip"] for e in w)
    assert len(per) >= 300 and max(per.values()) <= 3 and {e["ua"] for e in w} == {"Hello, world"}
    assert not any("ja3" in e for e in w)
    (walk,) = _instances(sim, "enum-distributed")
    reads = walk[2:]  # after signing up and logging in
    ids = [int(re.sub(r"\D", "", i)) for i in _object_ids(sim, reads)]
    assert len(ids) == len(reads) >= 100 and all(b - a == 1 for a, b in zip(ids, ids[1:]))
    assert len({e["src_ip"] for e in reads}) >= 20 and len({e["user"] for e in reads}) == 1


def test_generators_can_be_chosen_in_any_world():
    sim = generate(SimConfig(hours=0.25, scale=0.02, world="tuning", generators=("ua-rotation", "worm")))
    assert {lab["generator"] for lab in sim.labels} == {"ua-rotation", "worm"}
    sim = generate(SimConfig(hours=0.25, scale=0.02, world="tuning", generators="all", attacks="spec-anomaly"))
    assert {lab["generator"] for lab in sim.labels} == {k.name for k in ATTACK_KINDS if k.ttp == "spec-anomaly"}
    with pytest.raises(ValueError, match="unknown generator"):
        generate(SimConfig(generators=("nope",)))
    with pytest.raises(ValueError, match="unknown world"):
        generate(SimConfig(world="atlantis"))


def test_simulate_command_writes_every_world(tmp_path):
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "simulate", "--world", "all", "--hours", "0.05",
                        "--scale", "0.02", "--benign-only", "--access-log", "-o", str(tmp_path)],
                       capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    for world in NAMES:
        manifest = json.loads((tmp_path / world / "manifest.json").read_text())
        assert manifest["world"]["name"] == world and manifest["config"]["only_benign"] is True
        assert (tmp_path / world / "access.log").stat().st_size > 0
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "simulate", "--world", "nowhere", "-o",
                        str(tmp_path / "x")], capture_output=True, check=False)
    assert r.returncode == 2 and b"unknown world 'nowhere'" in r.stderr and b"Traceback" not in r.stderr


# --------------------------------------------------------------------- slow


@pytest.mark.slow
@pytest.mark.parametrize("world", NAMES)
def test_stated_population_figures_at_scale_one(world):
    sim = generate(SimConfig(hours=1, scale=1, seed=7, world=world, only_benign=True, start="2026-11-27T14:00:00Z"))
    figures = population_figures(sim)
    for key, (lo, hi) in WORLDS[world].populace.stated.items():
        assert lo <= figures[key] <= hi, (key, figures[key], (lo, hi))


@pytest.mark.slow
@pytest.mark.parametrize("world", HELD_OUT)
def test_price_poller_keeps_its_67_minute_period_over_six_hours(world):
    sim = generate(SimConfig(hours=6, scale=0.05, seed=3, world=world, generators=("price-poller",)))
    (poll,) = _instances(sim, "price-poller")
    starts = sorted(_ms(e["ts"]) for e in poll)
    bursts = [starts[0]] + [b for a, b in zip(starts, starts[1:]) if b - a > 60_000]
    assert len(bursts) >= 5 and all(abs((b - a) - 67 * 60_000) <= 6_000 for a, b in zip(bursts, bursts[1:]))


# ------------------------------------------------- marquee: two generations of routes


def test_marquee_older_generation_serves_the_android_app():
    """The Android app and one aggregator still call the older mobile API (documented as deprecated):
    its own host, ids in the query, no JA4 (the CDN is not in front of it), errors as HTTP 200 with
    an envelope; everyone else calls /v3."""
    spec = WORLDS["marquee"]
    sim = small("marquee")
    assert spec.held_out and sim.manifest["world"]["held_out"] is True
    older_block = sim.manifest["world"]["older"]
    assert older_block["hosts"] == ["m.marquee.example"] and older_block["unlogged"] == ["ja4"]
    assert older_block["conventions"]["envelope"] is True and older_block["conventions"]["limited"] == 503
    assert not any("older" in small(w).manifest["world"] for w in NAMES if w != "marquee")
    doc = sim.openapi
    deprecated = {(m.upper(), p) for p, item in doc["paths"].items() for m, op in item.items() if op.get("deprecated")}
    assert deprecated == {(op.method, op.path) for op in spec.older.values()}
    assert all(p.startswith("/mobile/") and p.endswith(".do") for _, p in deprecated)
    assert "https://m.marquee.example" in {s["url"] for s in doc["servers"]}
    detail = doc["paths"]["/mobile/eventDetail.do"]["get"]["parameters"]
    assert {(p["name"], p["in"], p["required"]) for p in detail} == {("eventId", "query", True)}
    assert set(doc["paths"]["/mobile/login.do"]["post"]["responses"]) == {"200", "503"}  # envelope, nginx limiter
    assert set(doc["paths"]["/v3/auth/sign-in"]["post"]["responses"]) == {"200", "422", "429"}
    who = _who(sim)
    benign = [e for e in sim.events if e["id"] not in who]
    older = [e for e in benign if e["host"] == "m.marquee.example"]
    current = [e for e in benign if e["host"] == spec.host]
    assert len(older) + len(current) == len(benign)
    assert 0.05 < len(older) / len(benign) < 0.3
    assert {e["ua"].split("/")[0] for e in older} == {"MarqueeAndroid", "GigPulse-Sync"}
    assert not any(e["ua"].startswith(("MarqueeAndroid/", "GigPulse-Sync/")) and e["path"] in
                   {op.path for k, op in spec.ops.items() if k in spec.older} for e in current)
    assert not any("ja4" in e for e in older) and all("outcome" in e for e in older)
    assert all(e["status"] in (200, 503) for e in older)
    assert all("ja4" in e for e in current)  # every benign client of /v3 speaks TLS through the CDN
    reads = [e for e in older if e["path"] == "/mobile/eventDetail.do"]
    assert reads and all(set(e["query"]) == {"eventId"} and e["query"]["eventId"].isdigit() for e in reads)
    failed = [e for e in older if e["outcome"] != "ok"]
    assert failed  # the Android app's mistyped passwords: AUTH_FAILED in HTTP 200
    assert all(e["resp_bytes"] == len('{"ok":false,"error":""}') + len(e["outcome"]) for e in failed)


def test_marquee_every_documented_operation_is_reached():
    """Every operation of marquee's document, current and deprecated, gets requests in the small run;
    the deprecated ones from benign clients (no attack program calls the older API)."""
    sim = small("marquee")
    api = OpenAPI.load(json.loads(json.dumps(sim.openapi)))
    who = _who(sim)
    hit: dict[str, set[str]] = defaultdict(set)
    for e in sim.events:
        _, spec = api.route(e["method"], e["path"], e.get("query"))
        if spec["documented"]:
            hit[spec["operation"]].add("attack" if e["id"] in who else "benign")
    doc_ops = {op["operationId"]: bool(op.get("deprecated")) for item in sim.openapi["paths"].values()
               for op in item.values()}
    assert set(hit) == set(doc_ops)
    assert all(hit[op] == {"benign"} for op, deprecated in doc_ops.items() if deprecated)


def test_marquee_fans_search_for_events():
    """Searches carry the world's own vocabulary (artists, teams, venues), not the shop's."""
    from sleuth.playground.sim.world import SEARCH_TERMS

    sim = small("marquee")
    who = _who(sim)
    searches = [e for e in sim.events if e["path"] in ("/v3/event-search", "/mobile/search.do")]
    benign = Counter(e["query"]["keyword"] for e in searches if e["id"] not in who)
    assert len(benign) >= 20 and set(benign) <= set(WORLDS["marquee"].search_terms)
    assert not {e["query"]["keyword"] for e in searches} & set(SEARCH_TERMS)
