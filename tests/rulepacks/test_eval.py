"""Detection quality of the api pack on seeded simulator traffic, and the scorer itself.

The scorer: exact results on hand-built labels and matches, one pytest id
per situation. The quality tier: `sleuth eval`'s default run (every world,
one hour at scale 0.3, seed 7, attack and benign-only runs, JSON events and
plain access log) and a benign-only hour of the tuned world with another
seed. Every world's floors are the measured quality of the pack minus a
small margin (the held-out figures and the baseline of the pack before its
rewrite on roles are in docs/detection.md). Floors only move up (and
false-alarm ceilings only down): when a change to the pack crosses one, fix
the pack (or explain in docs/detection.md why it must move), never move it
silently. Plain `pytest` runs the quality tier, the inner loop (`-m "not slow
and not quality"`) leaves it out.
"""

from __future__ import annotations

import pytest

from sleuth.playground.evaluate import (
    evaluate,
    evaluate_worlds,
    macro_recall,
    render_table,
    render_worlds,
    run_eval_sim,
)
from sleuth.playground.simulate import WORLDS, SimConfig

# ---------------------------------------------------------------- the scorer


def _match(mid, rule, ttp, ids, emitted="2026-11-27T08:10:00.000Z", kind="window"):
    prov = ({"kind": "window", "events": [{"id": i} for i in ids]} if kind == "window"
            else {"kind": "sequence", "steps": [{"step": "s", "events": [{"id": i} for i in ids]}]})
    return {"match_id": mid, "rule": rule, "ttp": ttp, "emitted_at": emitted, "provenance": prov}


LABELS = [
    {"id": "atk-1", "ttp": "credential-stuffing", "also": ["l3-rotation"], "difficulty": "easy",
     "generator": "stuffing", "start": "2026-11-27T08:00:00.000Z", "event_ids": ["a1", "a2", "a3"]},
    {"id": "atk-2", "ttp": "campaign", "also": [], "difficulty": "hard", "generator": "campaign",
     "start": "2026-11-27T08:05:00.000Z", "event_ids": ["c1", "c2", "c3", "c4"]},
    {"id": "atk-3", "ttp": "scraping", "also": [], "difficulty": "hard", "generator": "campaign",
     "campaign": "atk-2", "start": "2026-11-27T08:05:00.000Z", "event_ids": ["c1", "c2"]},
    {"id": "atk-4", "ttp": "enumeration", "also": [], "difficulty": "medium", "generator": "enum",
     "start": "2026-11-27T08:00:00.000Z", "event_ids": ["e1"]},
]
TRAPS = [{"id": "trap-1", "trap": "corporate-nat", "event_ids": ["n1", "n2"]}]
META = {"start": "2026-11-27T08:00:00Z", "end": "2026-11-27T10:00:00Z", "events": 100, "hours": 2}


def test_attribution_precision_and_false_alarms():
    matches = [
        _match("m1", "stuffing_single_source", "credential-stuffing", ["a1", "a2", "x9"]),
        _match("m2", "rotation_cookieless_fleet", "l3-rotation", ["a3"]),            # an `also` technique
        _match("m3", "scraping_catalogue_walk", "scraping", ["c1", "c2"], kind="sequence"),  # tie: the stage
        _match("m4", "stuffing_single_source", "credential-stuffing", ["n1", "n2", "z"]),  # a trap
        _match("m5", "volume_source_sustained", "sustained-volume", ["z1"]),          # unexplained
        _match("m6", "reputation_tor_sensitive", "l3-reputation", ["e1"]),           # attack, wrong ttp
    ]
    r = evaluate(matches, LABELS, TRAPS, META, detail=True)
    rows = {row["match_id"]: row for row in r["match_detail"]}
    assert rows["m1"]["instance"] == "atk-1" and rows["m1"]["correct_ttp"]
    assert rows["m2"]["instance"] == "atk-1" and rows["m2"]["correct_ttp"]
    assert rows["m3"]["instance"] == "atk-3"
    assert rows["m4"]["trap"] == "corporate-nat" and rows["m5"]["trap"] == "none"
    assert rows["m6"]["instance"] == "atk-4" and not rows["m6"]["correct_ttp"]
    assert r["matches"] == {"total": 6, "attributed": 4, "correct_ttp": 3, "false": 2, "on_hidden": 0}
    assert r["precision"] == 0.5 and r["precision_any_ttp"] == round(4 / 6, 4)
    assert r["false_alarms"]["per_hour"] == 1.0
    assert r["false_alarms"]["by_trap"] == {"corporate-nat": 1, "none": 1}
    per = {row["id"]: row for row in r["instance_detail"]}
    assert per["atk-1"]["detected_right_ttp"] and per["atk-1"]["ttd_s"] == 600.0
    assert per["atk-3"]["detected_right_ttp"]
    assert per["atk-4"]["detected"] and not per["atk-4"]["detected_right_ttp"]
    assert not per["atk-2"]["detected"]
    assert r["recall"] == 0.5
    assert r["per_difficulty"]["hard"]["recall"] == 0.5
    assert "atk-2 campaign (campaign, hard)" in r["missed"]
    assert "precision" in render_table(r)


def test_rules_over_rules_attribute_through_their_matches():
    stage = _match("m1", "scraping_catalogue_walk", "scraping", ["c1", "c2"])
    other = _match("m2", "stuffing_network_wave", "credential-stuffing", ["c3", "c4"])
    chain = _match("m3", "campaign_kill_chain", "campaign", ["m1", "m2"], emitted="2026-11-27T09:05:00.000Z",
                   kind="sequence")
    r = evaluate([stage, other, chain], LABELS, TRAPS, META, detail=True)
    rows = {row["match_id"]: row for row in r["match_detail"]}
    assert rows["m3"]["instance"] == "atk-2" and rows["m3"]["correct_ttp"]
    assert r["per_ttp"]["campaign"]["ttd_median_s"] == 3600.0


def test_technique_evidence_spanning_two_stages_stays_with_a_stage():
    labels = LABELS + [
        {"id": "atk-5", "ttp": "account-takeover", "also": [], "difficulty": "hard", "generator": "campaign",
         "campaign": "atk-2", "start": "2026-11-27T08:20:00.000Z", "event_ids": ["c3", "c4"]},
    ]
    # A takeover window that also holds the stuffing-stage login (c2): the umbrella
    # overlaps most (3 events), but the match is the takeover stage's.
    m = _match("m1", "ato_change_from_hosting", "account-takeover", ["c2", "c3", "c4"])
    r = evaluate([m], labels, TRAPS, META, detail=True)
    assert r["match_detail"][0]["instance"] == "atk-5"
    assert r["per_ttp"]["account-takeover"]["recall"] == 1.0


def test_only_benign_counts_every_match():
    matches = [_match("m1", "stuffing_single_source", "credential-stuffing", ["a1"])]
    r = evaluate(matches, [], TRAPS, META, only_benign=True)
    assert r["false_alarms"]["count"] == 1 and r["false_alarms"]["per_hour"] == 0.5
    assert r["recall"] is None and r["precision"] == 0.0


# ---------------------------------------------------------------- exact scoring, one case per situation
#
# Two attack instances and a trap over two hours. atk-s is stuffing (also: l3-rotation),
# visible in both renderings; atk-h is session rotation, which the access log cannot show
# (no session there); trap-n is a corporate NAT.

CASE_LABELS = [
    {"id": "atk-s", "ttp": "credential-stuffing", "also": ["l3-rotation"], "difficulty": "easy",
     "generator": "stuffing-burst", "start": "2026-11-27T08:00:00.000Z", "event_ids": ["a1", "a2", "a3"],
     "visible": {"events": True, "access_log": True}},
    {"id": "atk-h", "ttp": "session-rotation", "also": [], "difficulty": "easy", "generator": "session-churn",
     "start": "2026-11-27T08:30:00.000Z", "event_ids": ["h1", "h2"],
     "visible": {"events": True, "access_log": False}, "missing": {"access_log": ["session", "session-start"]}},
]
CASE_TRAPS = [{"id": "trap-n", "trap": "corporate-nat", "event_ids": ["n1", "n2"]}]


def _at(minute: float) -> str:
    whole = int(minute)
    return f"2026-11-27T08:{whole:02d}:{round((minute - whole) * 60):02d}.000Z"


def _m(mid, ttp, ids, minute=1.0, rule="r"):
    return _match(mid, rule, ttp, ids, emitted=_at(minute))


SCORING_CASES = {
    # the right technique on a visible instance: found, precise, time to detect from its first event
    "right-technique": dict(
        matches=[_m("m1", "credential-stuffing", ["a1", "a2"], minute=0.5)],
        want={"recall": 0.5, "macro_recall": 0.5, "precision": 1.0, "precision_any_ttp": 1.0,
              "matches": {"total": 1, "attributed": 1, "correct_ttp": 1, "false": 0, "on_hidden": 0},
              "per_ttp.credential-stuffing.ttd_median_s": 30.0, "false_alarms.count": 0,
              "missed": ["atk-h session-churn (session-rotation, easy)"]}),
    # another technique the label lists in `also`: precise, but recall needs the instance's own ttp
    "also-technique": dict(
        matches=[_m("m1", "l3-rotation", ["a1"])],
        want={"recall": 0.0, "precision": 1.0, "precision_any_ttp": 1.0,
              "per_ttp.credential-stuffing.detected": 1, "per_ttp.credential-stuffing.detected_right_ttp": 0,
              "false_alarms.count": 0}),
    # a wrong technique on attack traffic: not precise, not a false alarm, not recall
    "wrong-technique": dict(
        matches=[_m("m1", "scraping", ["a1", "a2", "a3"])],
        want={"recall": 0.0, "precision": 0.0, "precision_any_ttp": 1.0,
              "matches": {"total": 1, "attributed": 1, "correct_ttp": 0, "false": 0, "on_hidden": 0},
              "false_alarms.count": 0, "per_rule.r": {"matches": 1, "attributed": 1, "correct_ttp": 0, "false": 0}}),
    # the access log cannot show atk-h: it leaves recall's denominator, its alarm stays attack traffic
    "hidden-instance": dict(
        rendering="access_log",
        matches=[_m("m1", "session-rotation", ["h1", "h2"], minute=31)],
        want={"instances.instances": 1, "recall": 0.0, "macro_recall": 0.0, "precision": 1.0,
              "matches": {"total": 1, "attributed": 1, "correct_ttp": 1, "false": 0, "on_hidden": 1},
              "hidden": {"instances": 1, "detected": 1, "detected_right_ttp": 1,
                         "per_ttp": {"session-rotation": {"instances": 1, "detected_right_ttp": 1}}},
              "false_alarms.count": 0, "missed": ["atk-s stuffing-burst (credential-stuffing, easy)"]}),
    # the same alarm scored on the JSON events, which show the session: counted
    "visible-in-events": dict(
        rendering="events",
        matches=[_m("m1", "session-rotation", ["h1", "h2"], minute=31)],
        want={"instances.instances": 2, "recall": 0.5, "hidden.instances": 0,
              "per_ttp.session-rotation.ttd_median_s": 60.0,
              "matches": {"total": 1, "attributed": 1, "correct_ttp": 1, "false": 0, "on_hidden": 0}}),
    # every instance, whatever the rendering (labels of older simulator output have no `visible`)
    "rendering-none": dict(
        rendering=None,
        matches=[],
        want={"instances.instances": 2, "hidden.instances": 0, "recall": 0.0, "precision": None}),
    # a match on a benign trap: a false alarm, per hour of traffic, named after the trap
    "alarm-on-trap": dict(
        matches=[_m("m1", "credential-stuffing", ["n1", "n2", "x"])],
        want={"precision": 0.0, "precision_any_ttp": 0.0,
              "false_alarms": {"count": 1, "per_hour": 0.5, "by_trap": {"corporate-nat": 1},
                               "by_rule": {"r": 1}}}),
    # a match on traffic no label or trap holds
    "alarm-on-nothing": dict(
        matches=[_m("m1", "sustained-volume", ["z1", "z2"], rule="volume")],
        want={"false_alarms": {"count": 1, "per_hour": 0.5, "by_trap": {"none": 1}, "by_rule": {"volume": 1}}}),
    # evidence mostly on a trap with one attack event: attack traffic (attribution ignores traps)
    "mixed-evidence": dict(
        matches=[_m("m1", "credential-stuffing", ["n1", "n2", "a3"])],
        want={"false_alarms.count": 0, "recall": 0.5, "precision": 1.0}),
    # found 40 minutes after the instance began
    "late-detection": dict(
        matches=[_m("m1", "credential-stuffing", ["a3"], minute=40)],
        want={"per_ttp.credential-stuffing.ttd_median_s": 2400.0, "instances.ttd_p90_s": 2400.0}),
    # the earliest right-technique match sets the time to detect; a wrong one earlier does not
    "earliest-right-match": dict(
        matches=[_m("m1", "credential-stuffing", ["a1"], minute=5), _m("m2", "scraping", ["a1"], minute=0.5),
                 _m("m3", "credential-stuffing", ["a2"], minute=2)],
        want={"per_ttp.credential-stuffing.ttd_median_s": 120.0, "precision": round(2 / 3, 4)}),
    # median and p90 over instances (linear interpolation): 60 s and 1740 s -> 900 s and 1572 s
    "ttd-quantiles": dict(
        matches=[_m("m1", "credential-stuffing", ["a1"], minute=1),
                 _m("m2", "session-rotation", ["h1"], minute=59)],
        want={"instances.ttd_median_s": 900.0, "instances.ttd_p90_s": 1572.0, "recall": 1.0, "macro_recall": 1.0}),
    # a benign-only run: every match is a false alarm, whatever it overlaps
    "benign-only-run": dict(
        only_benign=True,
        matches=[_m("m1", "credential-stuffing", ["a1"]), _m("m2", "credential-stuffing", ["n1"])],
        want={"false_alarms": {"count": 2, "per_hour": 1.0, "by_trap": {"corporate-nat": 1, "none": 1},
                               "by_rule": {"r": 2}},
              "matches": {"total": 2, "attributed": 0, "correct_ttp": 0, "false": 2, "on_hidden": 0}}),
    # no match at all: nothing found, precision undefined, no false alarm
    "no-matches": dict(
        matches=[],
        want={"recall": 0.0, "macro_recall": 0.0, "precision": None, "false_alarms.per_hour": 0.0,
              "instances.ttd_median_s": None}),
}


def _get(result: dict, dotted: str):
    node = result
    head, _, rest = dotted.partition(".")
    while True:
        node = node[head]
        if not rest:
            return node
        # technique and rule names hold dots or dashes: match the longest known key first
        key = next((k for k in sorted(node, key=len, reverse=True) if rest == k or rest.startswith(k + ".")), None)
        if key is None:
            head, _, rest = rest.partition(".")
        else:
            head, rest = key, rest[len(key) + 1:]


@pytest.mark.parametrize("case", list(SCORING_CASES), ids=list(SCORING_CASES))
def test_scoring_case(case):
    c = SCORING_CASES[case]
    r = evaluate(c["matches"], CASE_LABELS, CASE_TRAPS, META, only_benign=c.get("only_benign", False),
                 rendering=c.get("rendering", "events"))
    got = {k: _get(r, k) for k in c["want"]}
    assert got == c["want"]


def test_macro_recall_weights_techniques_equally():
    labels = [dict(CASE_LABELS[0], id=f"atk-{i}", event_ids=[f"s{i}"]) for i in range(3)] + [
        {"id": "atk-9", "ttp": "scraping", "also": [], "difficulty": "hard", "generator": "scrape-prices",
         "start": "2026-11-27T08:00:00.000Z", "event_ids": ["p1"]}]
    r = evaluate([_m("m1", "credential-stuffing", ["s0"]), _m("m2", "scraping", ["p1"])], labels, [], META)
    assert r["recall"] == 0.5                                # 2 of 4 instances
    assert r["macro_recall"] == round((1 / 3 + 1) / 2, 4)   # stuffing 1/3, scraping 1/1
    assert macro_recall(r["per_ttp"]) == r["macro_recall"]


def test_rendering_must_be_known():
    with pytest.raises(ValueError, match="rendering"):
        evaluate([], CASE_LABELS, CASE_TRAPS, META, rendering="pcap")


# ---------------------------------------------------------------- seeded runs (the quality tier)


@pytest.fixture(scope="module")
def worlds_run():
    """`sleuth eval` with its defaults, spelled out (so a change of default does not move the floors);
    two processes, as CI has two cores (the result does not depend on it)."""
    return evaluate_worlds(None, worlds=WORLDS, hours=1.0, seeds=(7,), scale=0.3, jobs=2)


def _world(result: dict, name: str) -> dict:
    return next(w for w in result["worlds"] if w["world"] == name)


@pytest.fixture(scope="module")
def attack_hour(worlds_run):
    """The tuned world's attack run on its JSON events: one hour, seed 7, scale 0.3, every attack."""
    return _world(worlds_run, "tuning")["renderings"]["events"]["attack"]


@pytest.fixture(scope="module")
def benign_hour():
    return run_eval_sim(None, SimConfig(hours=1, seed=8, scale=0.3, only_benign=True))


@pytest.mark.quality
def test_attack_hour_recall(attack_hour):
    r = attack_hour
    print(render_table(r))
    assert r["instances"]["instances"] == 42
    # Measured (the pack on roles): 0.98 overall (41/42: sustained-route runs 08:22-08:37,
    # and the route's 30-minute baseline, defined from 08:30, has learned the surge by
    # then; no other rule sees it either), easy 1.00, medium 1.00, hard 0.95.
    assert r["recall"] >= 0.95
    assert r["per_difficulty"]["easy"]["recall"] >= 1.0
    assert r["per_difficulty"]["medium"]["recall"] >= 1.0
    assert r["per_difficulty"]["hard"]["recall"] >= 0.9
    assert r["instances"]["recall_any_ttp"] >= 0.97
    for ttp, row in r["per_ttp"].items():
        if ttp != "sustained-volume":
            assert row["recall"] == 1.0, ttp


@pytest.mark.quality
def test_attack_hour_precision_and_false_alarms(attack_hour):
    r = attack_hour
    # Measured: precision 0.84 (strict ttp: the rest are other techniques the same
    # attack really shows, see docs/detection.md), 1.00 attributed to some attack,
    # no false alarm.
    assert r["precision"] >= 0.80
    assert r["precision_any_ttp"] >= 0.98
    assert r["false_alarms"]["count"] == 0


@pytest.mark.quality
def test_attack_hour_time_to_detect(attack_hour):
    r = attack_hour
    # Measured: median 78 s, p90 9.9 min (trailing absences and 30-minute windows
    # of the low-and-slow rules dominate the tail).
    assert r["instances"]["ttd_median_s"] <= 100
    assert r["instances"]["ttd_p90_s"] <= 11 * 60


@pytest.mark.quality
def test_benign_hour_has_no_false_alarm(benign_hour):
    r = benign_hour
    assert r["only_benign"] and r["traffic"]["events"] > 30_000
    # Measured: 0 false alarms in the hour (and in 6 benign hours at scale 1, seed 7).
    assert r["false_alarms"]["count"] == 0
    assert r["engine"]["metrics"]["rule_errors"] == 0


# ---------------------------------------------------------------- every world (the quality tier)


@pytest.mark.quality
def test_every_world_is_scored_in_both_renderings(worlds_run):
    r = worlds_run
    print(render_worlds(r))
    assert [w["world"] for w in r["worlds"]] == ["tuning", "northwind", "relay", "harbor", "marquee"]
    assert [w["world"] for w in r["worlds"] if w["tuned"]] == ["tuning"]
    # Instances per world (every generator once in an hour), split by what each rendering can show.
    counted = {(row["world"], row["rendering"]): (row["instances"], row["hidden"]) for row in r["summary"]["rows"]}
    assert counted == {
        ("tuning", "events"): (42, 0), ("tuning", "access_log"): (29, 13),
        ("northwind", "events"): (47, 0), ("northwind", "access_log"): (34, 13),
        ("relay", "events"): (46, 1), ("relay", "access_log"): (30, 17),
        ("harbor", "events"): (46, 1), ("harbor", "access_log"): (36, 11),
        ("marquee", "events"): (46, 1), ("marquee", "access_log"): (34, 13),
    }
    for w in r["worlds"]:
        for rendering, block in w["renderings"].items():
            assert block["attack"]["engine"]["metrics"]["rule_errors"] == 0, (w["world"], rendering)
            assert block["benign"]["only_benign"] and block["benign"]["traffic"]["hours"] == 1.0
            if rendering == "access_log":
                assert block["attack"]["quarantined"] == {} == block["benign"]["quarantined"]
    assert r["summary"]["held_out"]["events"]["worlds"] == ["northwind", "relay", "harbor", "marquee"]


# The pack after its second tuning round (60 rules), measured with the run above (seed 7;
# docs/detection.md publishes seeds 7 and 11 pooled; marquee was sealed until this scoring):
#                       macro recall   precision any ttp   false alarms/h benign-only   (first round)
#   tuning    events        0.97           1.00                 0                    0.97, 0
#   tuning    access log    0.96           0.99                 1                    0.86, 1
#   northwind events        0.79           1.00                 0                    0.76, 0
#   northwind access log    0.66           1.00                 0                    0.63, 0
#   relay     events        0.93           1.00                 1                    0.66, 2
#   relay     access log    0.56           1.00                 1                    0.51, 1
#   harbor    events        0.80           1.00                 1                    0.61, 9
#   harbor    access log    0.84           1.00                 0                    0.70, 8
#   marquee   events        0.68           0.99                 5                    0.68, 5 (same)
#   marquee   access log    0.67           1.00                 0                    0.67, 0 (same)
# Floors sit a little under the measurements: a change that crosses one lost ground.
FLOORS = {
    # (world, rendering): (macro recall >=, precision any ttp >=, false alarms per hour <=)
    ("tuning", "access_log"): (0.92, 0.95, 3),
    ("northwind", "events"): (0.75, 0.95, 1),
    ("northwind", "access_log"): (0.62, 0.95, 1),
    ("relay", "events"): (0.88, 0.95, 2),
    ("relay", "access_log"): (0.52, 0.95, 2),
    ("harbor", "events"): (0.76, 0.95, 2),
    ("harbor", "access_log"): (0.80, 0.95, 1),
    ("marquee", "events"): (0.63, 0.95, 7),
    ("marquee", "access_log"): (0.63, 0.95, 1),
}


@pytest.mark.quality
@pytest.mark.parametrize("world, rendering", list(FLOORS), ids=[f"{w}-{r}" for w, r in FLOORS])
def test_world_floors(worlds_run, world, rendering):
    row = next(x for x in worlds_run["summary"]["rows"] if (x["world"], x["rendering"]) == (world, rendering))
    recall, any_ttp, fa = FLOORS[(world, rendering)]
    assert row["macro_recall"] >= recall
    assert row["precision_any_ttp"] >= any_ttp
    assert row["false_alarms_per_hour"] <= fa
