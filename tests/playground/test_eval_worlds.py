"""`sleuth eval` over worlds and folders: exact scores of a hand-built run, the access-log rendering,
benign-only folders, pooling, determinism, parallel runs, the command line, and `events_meta`.

The hand-built run is 13 events of a two-rule pack, so every figure is known in advance; the
simulator runs are the smallest that still hold attacks (a tenth of an hour, two generators) and
take seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from sleuth.dsl.pack import load_pack
from sleuth.playground.evaluate import (
    evaluate,
    evaluate_folders,
    evaluate_worlds,
    events_meta,
    render_worlds,
    select_worlds,
)
from sleuth.playground.sim import access_log_lines
from sleuth.playground.simulate import WORLDS, SimConfig, generate, write

PACK = '''rule failed_logins {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = medium
         title = "Three failed logins from one address in a minute" }
  by src_ip
  window 1m sliding
  where status == 401
  having count() >= 3
  suppress 1h
}

rule not_found_walk {
  meta { ttp = "enumeration"  goal = "scraping"  severity = low
         title = "Three not-found answers to one address in a minute" }
  by src_ip
  window 1m sliding
  where status == 404
  having count() >= 3
  suppress 1h
}
'''

OPENAPI = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
           "paths": {"/login": {"post": {"operationId": "login", "responses": {"200": {"description": "ok"}}}},
                     "/items/{id}": {"get": {"operationId": "item", "parameters": [
                         {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                         "responses": {"200": {"description": "ok"}}}}}}
START = "2026-11-27T08:00:00.000Z"


def _ts(sec: int) -> str:
    return f"2026-11-27T08:{sec // 60:02d}:{sec % 60:02d}.000Z"


def _ev(n: int, sec: int, ip: str, method: str, path: str, status: int) -> dict:
    return {"id": f"ev-{n:08d}", "ts": _ts(sec), "src_ip": ip, "method": method, "path": path, "status": status,
            "host": "api.shop.example", "ua": "curl/8.5.0", "resp_bytes": 20}


def _label(lid, ttp, ids, sec, access_log=True):
    return {"id": lid, "ttp": ttp, "also": [], "difficulty": "easy", "generator": "hand", "campaign": None,
            "start": _ts(sec), "event_ids": ids, "world": "tuning",
            "visible": {"events": True, "access_log": access_log}}


def _folder(path: Path, events, labels, traps, only_benign: bool, access_log: bool = False) -> Path:
    path.mkdir(parents=True)
    manifest = {"config": {"only_benign": only_benign, "seed": 1},
                "span": {"start": START, "end": "2026-11-27T08:30:00.000Z", "hours": 0.5},
                "events": {"count": len(events)},
                "world": {"name": "tuning", "title": "hand-built", "held_out": False}}
    for name, rows in (("events.jsonl", events), ("labels.jsonl", labels), ("traps.jsonl", traps)):
        (path / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (path / "openapi.json").write_bytes(orjson.dumps(OPENAPI))
    (path / "manifest.json").write_bytes(orjson.dumps(manifest))
    if access_log:
        (path / "access.log").write_text("\n".join(access_log_lines(events)) + "\n")
        (path / "prefixes.csv").write_text("cidr,asn,country,org,kind\n203.0.113.0/24,64500,NL,Example,hosting\n")
    return path


TRAP_EVENTS = [(7, 120, "198.51.100.7"), (8, 125, "198.51.100.7"), (9, 130, "198.51.100.7")]


def _attack_run(root: Path, access_log: bool = False) -> Path:
    evs = [_ev(1, 0, "203.0.113.1", "POST", "/login", 401), _ev(2, 10, "203.0.113.1", "POST", "/login", 401),
           _ev(3, 20, "203.0.113.1", "POST", "/login", 401),
           _ev(4, 60, "203.0.113.2", "POST", "/login", 401), _ev(5, 70, "203.0.113.2", "POST", "/login", 401),
           _ev(6, 80, "203.0.113.2", "POST", "/login", 401)]
    evs += [_ev(n, s, ip, "POST", "/login", 401) for n, s, ip in TRAP_EVENTS]
    evs += [_ev(10, 200, "203.0.113.3", "GET", "/items/1", 404), _ev(11, 201, "203.0.113.3", "GET", "/items/2", 404),
            _ev(12, 202, "203.0.113.3", "GET", "/items/3", 404), _ev(13, 300, "198.51.100.9", "GET", "/items/5", 200)]
    labels = [_label("atk-1", "credential-stuffing", ["ev-00000001", "ev-00000002", "ev-00000003"], 0),
              # the access log is said not to show atk-2: its alarm must stay attack traffic there
              _label("atk-2", "credential-stuffing", ["ev-00000004", "ev-00000005", "ev-00000006"], 60,
                     access_log=False),
              _label("atk-3", "credential-stuffing", ["ev-00000010", "ev-00000011", "ev-00000012"], 200)]
    traps = [{"id": "trap-1", "trap": "corporate-nat", "event_ids": ["ev-00000007", "ev-00000008", "ev-00000009"]}]
    return _folder(root / "attack", evs, labels, traps, only_benign=False, access_log=access_log)


def _benign_run(root: Path) -> Path:
    evs = [_ev(n, s, ip, "POST", "/login", 401) for n, s, ip in TRAP_EVENTS]
    traps = [{"id": "trap-1", "trap": "corporate-nat", "event_ids": [e["id"] for e in evs]}]
    return _folder(root / "benign", evs, [], traps, only_benign=True)


@pytest.fixture
def pack(tmp_path: Path):
    f = tmp_path / "pack.ttp"
    f.write_text(PACK)
    return load_pack(str(f))


# ---------------------------------------------------------------- exact scores of a hand-built run


def test_folders_exact_scores_in_both_renderings(tmp_path, pack):
    r = evaluate_folders(pack, [_attack_run(tmp_path), _benign_run(tmp_path)])
    (w,) = r["worlds"]
    assert (w["world"], w["tuned"], w["held_out"]) == ("tuning", True, False)
    ev, log = w["renderings"]["events"], w["renderings"]["access_log"]
    # events: atk-1 and atk-2 found with the right technique 20 s after their first request,
    # atk-3 only by the enumeration rule (wrong technique), the NAT's three failures a false alarm.
    a = ev["attack"]
    assert a["matches"] == {"total": 4, "attributed": 3, "correct_ttp": 2, "false": 1, "on_hidden": 0}
    assert (a["recall"], a["macro_recall"], a["precision"], a["precision_any_ttp"]) == (0.6667, 0.6667, 0.5, 0.75)
    assert a["instances"]["ttd_median_s"] == 20.0
    assert a["false_alarms"] == {"count": 1, "per_hour": 2.0, "by_trap": {"corporate-nat": 1},
                                 "by_rule": {"failed_logins": 1}}
    assert a["missed"] == ["atk-3 hand (credential-stuffing, easy)"]
    # the access log: atk-2 is not counted, its match is still on attack traffic (not a false alarm)
    b = log["attack"]
    assert b["instances"]["instances"] == 2 and b["hidden"]["instances"] == 1
    assert b["matches"] == {"total": 4, "attributed": 3, "correct_ttp": 2, "false": 1, "on_hidden": 1}
    assert (b["recall"], b["precision"]) == (0.5, 0.5)
    assert b["quarantined"] == {}
    # the benign-only folder: its one match is a false alarm, per hour of its span
    for rendering in (ev, log):
        assert rendering["benign"]["false_alarms"]["per_hour"] == 2.0
        assert rendering["benign"]["only_benign"] is True
    rows = {row["rendering"]: row for row in r["summary"]["rows"]}
    assert rows["events"] | {} == {
        "world": "tuning", "tuned": True, "rendering": "events", "instances": 3, "hidden": 0,
        "macro_recall": 0.6667, "recall": 0.6667, "precision": 0.5, "precision_any_ttp": 0.75,
        "ttd_median_s": 20.0, "ttd_p90_s": 20.0, "matches": 4, "false_alarms_attack_run_per_hour": 2.0,
        "false_alarms_per_hour": 2.0, "false_alarms": 1, "benign_hours": 0.5}
    assert "held_out" not in r["summary"]        # no held-out world among the folders
    text = render_worlds(r)
    assert "tuning (tuned)" in text and "hidden" not in text.split("\n")[0]


def test_access_log_file_scores_like_the_rendered_events(tmp_path, pack):
    rendered = evaluate_folders(pack, [_attack_run(tmp_path / "a")])
    from_file = evaluate_folders(pack, [_attack_run(tmp_path / "b", access_log=True)])
    a = rendered["worlds"][0]["renderings"]["access_log"]["attack"]
    b = from_file["worlds"][0]["renderings"]["access_log"]["attack"]
    assert a == b and a["matches"]["total"] == 4


def test_access_log_can_be_left_out(tmp_path, pack):
    r = evaluate_folders(pack, [_attack_run(tmp_path)], access_log=False)
    assert list(r["worlds"][0]["renderings"]) == ["events"]
    assert "benign" not in r["worlds"][0]["renderings"]["events"]
    assert r["summary"]["rows"][0].get("false_alarms_per_hour") is None


def test_folders_of_one_world_are_pooled(tmp_path, pack):
    one = _attack_run(tmp_path / "one")
    two = _attack_run(tmp_path / "two")
    r = evaluate_folders(pack, [one, two], detail=True)
    a = r["worlds"][0]["renderings"]["events"]["attack"]
    assert a["runs"] == 2 and a["instances"]["instances"] == 6 and a["traffic"]["hours"] == 1.0
    assert a["matches"]["total"] == 8 and a["false_alarms"]["per_hour"] == 2.0
    assert a["missed"] == ["attack/atk-3 hand (credential-stuffing, easy)"] * 2
    assert {row["run"] for row in a["instance_detail"]} == {"attack"}


def test_a_folder_without_simulator_output_is_refused(tmp_path, pack):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a 'sleuth simulate' output folder"):
        evaluate_folders(pack, [tmp_path / "empty"])


# ---------------------------------------------------------------- events_meta


@pytest.mark.parametrize("manifest, events, kw, want", [
    pytest.param({"span": {"start": "a", "end": "b", "hours": 2}, "events": {"count": 9}}, [{"ts": "x"}], {},
                 {"start": "a", "end": "b", "events": 9, "hours": 2}, id="manifest-first"),
    pytest.param({}, [{"ts": "2026-11-27T08:00:00Z"}, {"ts": "2026-11-27T09:30:00Z"}], {},
                 {"start": "2026-11-27T08:00:00Z", "end": "2026-11-27T09:30:00Z", "events": 2, "hours": 1.5},
                 id="from-events"),
    pytest.param(None, None, {"start": 0.0, "end": 1800.0, "count": 5},
                 {"start": 0.0, "end": 1800.0, "events": 5, "hours": 0.5}, id="fallbacks"),
    pytest.param({"span": {"start": "2026-11-27T08:00:00Z"}}, None, {"end": "2026-11-27T08:15:00Z"},
                 {"start": "2026-11-27T08:00:00Z", "end": "2026-11-27T08:15:00Z", "events": None, "hours": 0.25},
                 id="manifest-then-fallback"),
    pytest.param({}, [], {}, {"start": None, "end": None, "events": 0, "hours": 0.0}, id="nothing-known"),
])
def test_events_meta(manifest, events, kw, want):
    assert events_meta(manifest, events, **kw) == want


def test_events_meta_feeds_evaluate_per_hour():
    meta = events_meta({}, [{"ts": "2026-11-27T08:00:00Z"}, {"ts": "2026-11-27T08:30:00Z"}])
    r = evaluate([{"match_id": "m", "rule": "r", "ttp": "scraping", "provenance": {"events": [{"id": "z"}]}}],
                 [], [], meta)
    assert r["false_alarms"]["per_hour"] == 2.0


# ---------------------------------------------------------------- worlds from the simulator

TINY = {"hours": 0.1, "scale": 0.01, "generators": "stuffing-burst,worm"}


@pytest.fixture(scope="module")
def tiny():
    return evaluate_worlds(None, worlds="relay", seeds=(7,), **TINY)


def test_select_worlds():
    held = tuple(n for n, w in WORLDS.items() if w.held_out)
    assert select_worlds(None) == tuple(WORLDS) == select_worlds("all")
    assert select_worlds("held-out") == held and "tuning" not in held
    assert select_worlds("harbor,tuning") == ("tuning", "harbor")          # the simulator's order
    with pytest.raises(ValueError, match="unknown world 'mars'"):
        select_worlds("relay,mars")


def test_world_runs_score_like_evaluate_on_the_same_simulation(tiny):
    from sleuth.playground.evaluate import _run_pack

    (w,) = tiny["worlds"]
    assert (w["world"], w["held_out"], w["tuned"]) == ("relay", True, False)
    sim = generate(SimConfig(hours=0.1, seed=7, scale=0.01, world="relay", generators=TINY["generators"]))
    matches, _metrics = _run_pack(load_pack(None), sim.events, sim.openapi)
    want = evaluate(matches, sim.labels, sim.traps, events_meta(sim.manifest, sim.events))
    got = w["renderings"]["events"]["attack"]
    for k in ("recall", "macro_recall", "precision", "precision_any_ttp", "per_ttp", "matches", "false_alarms",
              "missed", "instances", "hidden"):
        assert got[k] == want[k], k
    assert got["instances"]["instances"] == len([lab for lab in sim.labels if lab["visible"]["events"]]) > 0
    benign = w["renderings"]["events"]["benign"]
    assert benign["only_benign"] and benign["instances"]["instances"] == 0
    assert tiny["summary"]["held_out"]["events"]["worlds"] == ["relay"]


def test_world_runs_match_simulate_folders(tiny, tmp_path):
    """The in-memory access log equals `sleuth simulate --access-log`'s file read from the folder."""
    for benign in (False, True):
        cfg = SimConfig(hours=0.1, seed=7, scale=0.01, world="relay", generators=TINY["generators"],
                        only_benign=benign)
        write(generate(cfg), tmp_path / str(benign), access_log=True)
    r = evaluate_folders(None, [tmp_path / "False", tmp_path / "True"])
    assert r["worlds"][0]["renderings"] == tiny["worlds"][0]["renderings"]
    assert r["summary"]["rows"] == tiny["summary"]["rows"]


def test_parallel_runs_give_the_same_result(tiny):
    again = evaluate_worlds(None, worlds="relay", seeds=(7,), jobs=2, **TINY)
    assert orjson.dumps(again, option=orjson.OPT_SORT_KEYS) == orjson.dumps(tiny, option=orjson.OPT_SORT_KEYS)


def test_bad_options_are_value_errors():
    for kw, msg in (({"hours": 0}, "hours"), ({"scale": -1}, "scale"), ({"seeds": ()}, "seed"),
                    ({"attack_runs": False, "benign_runs": False}, "nothing to run")):
        with pytest.raises(ValueError, match=msg):
            evaluate_worlds(None, worlds="relay", **{"hours": 0.1, **kw})


# ---------------------------------------------------------------- the command


def sleuth(*args: str, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], capture_output=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_cli_json_is_the_api_result_in_any_hash_seed(tiny):
    p = sleuth("eval", "--worlds", "relay", "--hours", "0.1", "--scale", "0.01", "--generators",
               TINY["generators"], "--format", "json", env={"PYTHONHASHSEED": "123"})
    assert p.returncode == 0, p.stderr
    assert orjson.loads(p.stdout) == orjson.loads(orjson.dumps(tiny))
    assert b"runs" in p.stderr and b"CPU" in p.stderr       # timings on stderr, never in the result


def test_cli_folders_table_and_out_file(tmp_path, pack):
    attack, benign = _attack_run(tmp_path), _benign_run(tmp_path)
    (tmp_path / "p.ttp").write_text(PACK)
    out = tmp_path / "r.json"
    p = sleuth("eval", str(tmp_path / "p.ttp"), str(attack), str(benign), "-o", str(out), "-q")
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    text = p.stdout.decode()
    assert text == render_worlds(orjson.loads(out.read_bytes()))
    assert "tuning (tuned)  events" in text and "benign-only: 1 false alarms = 2.00/h (failed_logins 1)" in text


@pytest.mark.parametrize("args, code, message", [
    pytest.param(["--worlds", "mars"], 2, "unknown world 'mars'", id="unknown-world"),
    pytest.param(["--hours", "0"], 2, "hours must be > 0", id="no-hours"),
    pytest.param(["--seeds", "7,x"], 2, "seeds are integers", id="bad-seeds"),
    pytest.param(["--attacks", "teleportation"], 2, "unknown ttp", id="unknown-attack"),
    pytest.param(["--only-benign", "--no-benign"], 2, "leave nothing to run", id="nothing-to-run"),
    pytest.param(["--jobs", "0"], 2, "--jobs must be at least 1", id="no-jobs"),
    pytest.param(["builtin", "/nonexistent/sim"], 3, "not a 'sleuth simulate' output folder", id="bad-folder"),
    pytest.param(["/nonexistent/pack"], 3, "no such rule pack", id="bad-pack"),
])
def test_cli_errors_say_what_is_wrong(args, code, message):
    p = sleuth("eval", *args, "--hours", "0.1", "--scale", "0.01") if "--hours" not in args else sleuth("eval", *args)
    assert p.returncode == code, p.stderr
    err = p.stderr.decode()
    # one line saying what is wrong (after argparse's usage for a malformed option), no traceback
    assert message in err.strip().splitlines()[-1] and "Traceback" not in err


def test_cli_takes_a_folder_as_first_argument(tmp_path):
    """`sleuth eval DIR`: the shipped pack on a simulate folder (not a pack named DIR)."""
    attack = _attack_run(tmp_path)
    p = sleuth("eval", str(attack), "--format", "json", "--no-access-log")
    assert p.returncode == 0, p.stderr
    r = orjson.loads(p.stdout)
    assert r["config"]["folders"] == {"tuning": [str(attack)]} and r["pack"]["rules"] > 10


@pytest.mark.parametrize("world, seed, scale", [("tuning", 3, 0.01), ("northwind", 3, 0.01), ("relay", 11, 0.02),
                                                 ("harbor", 7, 0.02), ("marquee", 3, 0.01)])
def test_tiny_runs_build(world, seed, scale):
    """A takeover's victim is drawn from customers seen logging in; a tenth of an hour at scale
    0.01-0.02 may have none with a bank account yet (these raised ValueError)."""
    sim = generate(SimConfig(hours=0.1, seed=seed, scale=scale, world=world))
    assert any(lab["ttp"] == "account-takeover" for lab in sim.labels)
