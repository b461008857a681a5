"""The policy of actions (`sleuth.engine.policy`): schema, diagnostics, decisions, enforcement, state.

Decisions are exact records; enforcement answers are exact statuses,
headers and reasons; state is bounded (earliest expiry evicted first) and a
snapshot restores it exactly. With an engine attached, decisions are
`@decision` records that rules over rules read, without loops.
"""

from __future__ import annotations

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine, Match
from sleuth.engine.policy import (
    Enforcer,
    Policy,
    PolicyError,
    decision_event,
    parse_duration,
    policy_from_dict,
    policy_from_toml,
)

POLICY = '''\
# what to do about matches
on_error = "allow"
max_active = 1000

[default]
action = "log"
duration = "10m"

[challenge]
status = 429
body = "slow down"
headers = { "Cache-Control" = "no-store" }

[[rules]]
name = "stuffers"
ttp = "credential-stuffing"
severity = ">=high"
action = "block"
key = "address"
duration = "15m"

[[rules]]
name = "scrapers"
goal = "scraping"
action = "throttle"
rate = "2/s"
burst = 3
key = "address"

[[rules]]
name = "suspicious-sessions"
rule = ["odd_session"]
action = "challenge"
key = "session"
duration = "5m"

[[rules]]
name = "tag-the-rest"
severity = ["low", "medium"]
action = "tag"
header = "X-Sleuth-Tag"
value = "{ttp}/{rule}"

[allow.partners]
address = ["198.51.100.0/24", "2001:db8::/32"]

[allow.crawlers]
ua = ["*Googlebot*"]
address = ["66.249.64.0/19"]
'''


def match(rule="stuff", ttp="credential-stuffing", goal="account-takeover", severity="high", key=None,
          at=1000.0, fields=None, mid=None) -> Match:
    key = {"src_ip": "203.0.113.7"} if key is None else key
    return Match(rule, ttp, goal, severity, "t", key, at - 10, at, at, fields or {}, {"kind": "event", "events": []},
                 "fp", mid or f"m-{rule}-{at}")


# ---------------------------------------------------------------- schema


def test_policy_file_parses_to_rules_in_order():
    pol = policy_from_toml(POLICY, "policy.toml")
    assert [(r.name, r.action, r.key, r.duration) for r in pol.rules] == [
        ("stuffers", "block", "address", 900.0), ("scrapers", "throttle", "address", 600.0),
        ("suspicious-sessions", "challenge", "session", 300.0), ("tag-the-rest", "tag", "match", 600.0)]
    assert pol.rules[0].severities == frozenset({"high", "critical"})
    assert (pol.rules[1].rate, pol.rules[1].burst) == (2 / 1, 3)
    assert pol.challenge.status == 429 and pol.challenge.body == "slow down"
    assert pol.challenge.headers == (("Cache-Control", "no-store"),)
    assert [a.name for a in pol.allow] == ["partners", "crawlers"]
    assert pol.warnings == ()


def test_rate_units():
    pol = policy_from_toml('[[rules]]\naction = "throttle"\nrate = "30/m"\n')
    assert pol.rules[0].rate == 0.5 and pol.rules[0].burst == 1


@pytest.mark.parametrize("value,seconds", [("500ms", 0.5), ("30s", 30.0), ("15m", 900.0), ("2h", 7200.0),
                                           ("1d", 86400.0), (45, 45.0), (0.25, 0.25), ("0s", None), (-1, None),
                                           ("15 minutes", None), (True, None)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


BAD = [
    ("unknown-action", '[[rules]]\nttp = "scraping"\naction = "blok"\n',
     'policy.toml:3:10: error[unknown-action]: unknown action \'blok\'\n'
     '  |\n3 | action = "blok"\n  |          ^^^^^^\n  = hint: did you mean \'block\'?'),
    ("unknown-key", '[[rules]]\naction = "block"\ndurration = "5m"\n',
     'policy.toml:3:1: error[unknown-key]: unknown key \'durration\' in a policy rule\n'
     '  |\n3 | durration = "5m"\n  | ^^^^^^^^^\n  = hint: did you mean \'duration\'?'),
    ("bad-duration", '[[rules]]\naction = "block"\n\n[[rules]]\naction = "tag"\nduration = "5 min"\n',
     'policy.toml:6:12: error[bad-duration]: \'5 min\' is not a duration\n'
     '  |\n6 | duration = "5 min"\n  |            ^^^^^^^\n'
     '  = hint: write a positive number of seconds or e.g. "500ms", "30s", "15m", "2h", "1d"'),
    ("unknown-ttp", '[[rules]]\nttp = ["scraping", "credential-stuffin"]\naction = "block"\n',
     'policy.toml:2:7: error[unknown-ttp]: unknown technique \'credential-stuffin\'\n'
     '  |\n2 | ttp = ["scraping", "credential-stuffin"]\n  |       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     '  = hint: did you mean \'credential-stuffing\'?'),
    ("toml-syntax", '[[rules]]\naction = block\n',
     'policy.toml:2:10: error[toml-syntax]: Invalid value\n  |\n2 | action = block\n  |          ^'),
    ("missing-action", '[[rules]]\nname = "x"\nttp = "scraping"\n',
     'policy.toml:1:3: error[missing-action]: policy rule \'x\' has no action\n'
     '  |\n1 | [[rules]]\n  |   ^^^^^\n  = hint: actions: log, tag, challenge, throttle, block'),
    ("bad-cidr", '[allow.partners]\naddress = ["10.0.0.0/33"]\n',
     'policy.toml:2:11: error[bad-cidr]: \'10.0.0.0/33\' is not an address or CIDR\n'
     '  |\n2 | address = ["10.0.0.0/33"]\n  |           ^^^^^^^^^^^^^^^'),
    ("inline-table", '[challenge]\nstatus = 200\nheaders = { "X-A" = "1", bad = 2 }\n',
     'policy.toml:2:10: error[bad-value]: \'status\' must be an HTTP error status (400-599), not 200\n'
     '  |\n2 | status = 200\n  |          ^^^\n\n'
     'policy.toml:3:32: error[bad-value]: bad header \'bad\' = 2\n'
     '  |\n3 | headers = { "X-A" = "1", bad = 2 }\n  |                                ^'),
    ("throttle-needs-rate", '[[rules]]\naction = "throttle"\n',
     'policy.toml:1:3: error[bad-rate]: a throttle needs a rate, e.g. 2 (per second), "30/m"; got None\n'
     '  |\n1 | [[rules]]\n  |   ^^^^^'),
]


@pytest.mark.parametrize("text,expected", [pytest.param(t, e, id=i) for i, t, e in BAD])
def test_diagnostics_have_line_column_and_hint(text, expected):
    with pytest.raises(PolicyError) as exc:
        policy_from_toml(text, "policy.toml")
    assert str(exc.value) == expected


def test_profile_policy_table_is_located_under_its_prefix():
    text = ('[run]\nlateness = 5\n\n[policy]\non_error = "allow"\n\n[[policy.rules]]\naction = "block"\n\n'
            '[[policy.rules]]\naction = "chalenge"\n')
    import tomllib

    with pytest.raises(PolicyError) as exc:
        policy_from_dict(tomllib.loads(text)["policy"], text=text, file="sleuth.toml", prefix=("policy",))
    (d,) = exc.value.diagnostics
    assert (d.code, d.line, d.col, d.hints) == ("unknown-action", 11, 10, ("did you mean 'challenge'?",))


def test_warnings_unreachable_and_unknown_rule():
    pol = policy_from_toml('[[rules]]\naction = "log"\n\n[[rules]]\nname = "late"\nrule = "stufing"\n'
                           'action = "block"\n', "p.toml")
    assert [(w.code, w.line, w.col) for w in pol.warnings] == [("unreachable-rule", 4, 3)]
    (w,) = pol.check_rules(["stuffing", "scrape"])
    assert w.render() == ("p.toml:6:8: warning[unknown-rule]: policy rule 'late' names rule 'stufing', which "
                          "the pack does not have\n  |\n6 | rule = \"stufing\"\n  |        ^\n"
                          "  = hint: did you mean 'stuffing'?")


def test_every_error_is_reported_at_once():
    with pytest.raises(PolicyError) as exc:
        policy_from_toml('max_active = 0\non_error = "open"\nfoo = 1\n', "p.toml")
    assert [(d.code, d.line) for d in exc.value.diagnostics] == [
        ("unknown-key", 3), ("bad-value", 1), ("bad-value", 2)]


# ---------------------------------------------------------------- decisions


def test_first_applicable_rule_decides_with_its_key():
    recs = []
    enf = Enforcer(policy_from_toml(POLICY), on_decision=recs.append)
    enf.decide(match(key={"user": "alice"}, fields={"src_ip": "203.0.113.7"}, mid="m1"))
    enf.decide(match(severity="low", key={"user": "bob"}, mid="m2"))             # not >= high: tag
    enf.decide(match(rule="scrape", ttp="scraping", goal="scraping", severity="medium", key={"user": "carol"},
                     mid="m3"))                                                    # no address: falls to tag
    enf.decide(match(rule="odd_session", ttp="session-rotation", goal="fraud", severity="high",
                     key={"session": "s9"}, mid="m4"))
    assert [(r["policy_rule"], r["action"], r["key"], r["match_id"]) for r in recs] == [
        ("stuffers", "block", {"src_ip": "203.0.113.7"}, "m1"),
        ("tag-the-rest", "tag", {"user": "bob"}, "m2"),
        ("tag-the-rest", "tag", {"user": "carol"}, "m3"),
        ("suspicious-sessions", "challenge", {"session": "s9"}, "m4"),
    ]
    first = recs[0]
    assert first == {
        "decision_id": first["decision_id"], "action": "block", "key": {"src_ip": "203.0.113.7"},
        "at": "1970-01-01T00:16:40.000Z", "until": "1970-01-01T00:31:40.000Z", "duration": "15m",
        "policy_rule": "stuffers", "match_id": "m1", "rule": "stuff", "ttp": "credential-stuffing",
        "goal": "account-takeover", "severity": "high", "channel": "live"}
    assert recs[1]["value"] == "credential-stuffing/stuff"
    assert enf.stats()["decisions"] == {"allow": 0, "log": 0, "tag": 2, "challenge": 1, "throttle": 0, "block": 1}


def test_allowlisted_key_gets_an_allow_decision_and_no_state():
    recs = []
    enf = Enforcer(policy_from_toml(POLICY), on_decision=recs.append)
    enf.decide(match(key={"src_ip": "198.51.100.20"}))
    assert (recs[0]["action"], recs[0]["allowlist"], recs[0]["until"]) == ("allow", "partners", None)
    assert enf.active() == []


def test_keyless_match_cannot_be_enforced():
    recs = []
    enf = Enforcer(policy_from_toml('default = { action = "block" }\n'), on_decision=recs.append)
    enf.decide(match(key={}))
    enf.decide(match(key={"src_ip": None, "user": "alice"}))        # an event without src_ip
    assert [(r["action"], r["reason"]) for r in recs] == [("log", "the match has no key to act on")] * 2
    assert enf.stats()["unkeyed"] == 2 and enf.active() == []


# ---------------------------------------------------------------- enforcement


def req(ip="203.0.113.7", ts=1001.0, **kw) -> dict:
    return {"ts": ts, "src_ip": ip, **kw}


def test_block_answers_403_with_why_until_it_expires():
    enf = Enforcer(policy_from_toml(POLICY))
    rec = enf.decide(match(mid="m1"))
    v = enf.check(req())
    assert (v.action, v.status, v.body, v.decision_id, v.match_id) == ("block", 403, "Forbidden\n",
                                                                       rec["decision_id"], "m1")
    assert v.headers == (("X-Sleuth-Action", "block"), ("X-Sleuth-Decision", rec["decision_id"]))
    assert enf.check(req(ip="203.0.113.8")).status == 200
    assert enf.check(req(ts=1000.0 + 899.999)).status == 403
    assert enf.check(req(ts=1000.0 + 900.0)).status == 200          # until is exclusive
    assert enf.active() == [] and enf.stats()["expired"] == 1


def test_challenge_retry_after_is_the_time_left_and_response_is_configured():
    enf = Enforcer(policy_from_toml(POLICY))
    enf.decide(match(rule="odd_session", severity="high", ttp="session-rotation", key={"session": "s9"}))
    v = enf.check(req(ts=1100.5, session="s9"))
    assert (v.status, v.body) == (429, "slow down")
    assert v.headers[0] == ("Retry-After", "200")           # 1300 - 1100.5 = 199.5, rounded up
    assert v.headers[-1] == ("Cache-Control", "no-store")


def test_throttle_is_a_token_bucket_per_key():
    enf = Enforcer(policy_from_toml(POLICY))
    enf.decide(match(rule="scrape", ttp="scraping", goal="scraping", severity="medium"))   # 2/s, burst 3
    got = [enf.check(req(ts=1000.0 + dt)).status for dt in (0, 0, 0, 0, 0.25, 0.5, 0.5, 0.5)]
    assert got == [200, 200, 200, 429, 429, 200, 429, 429]
    v = enf.check(req(ts=1000.75))
    assert (v.status, v.retry_after) == (429, 1)          # half a token short: 0.25 s, rounded up to 1
    assert enf.stats()["throttle_passed"] == 4


def test_strongest_action_wins_and_tags_reach_the_upstream():
    enf = Enforcer(policy_from_toml(POLICY))
    enf.decide(match(severity="low", key={"user": "bob"}, mid="t1"))
    v = enf.check(req(user="bob"))
    assert (v.action, v.status, v.upstream_headers) == ("tag", 200, (("X-Sleuth-Tag", "credential-stuffing/stuff"),))
    enf.decide(match(mid="b1"))
    v = enf.check(req(user="bob"))
    assert (v.action, v.status, v.match_id) == ("block", 403, "b1")


def test_allow_lists_always_win():
    enf = Enforcer(policy_from_toml(POLICY))
    enf.decide(match(rule="odd_session", ttp="session-rotation", key={"session": "s1"}))
    assert enf.check(req(ip="198.51.100.4", session="s1")).allowlist == "partners"
    crawler = {"ua": "Mozilla/5.0 (compatible; Googlebot/2.1)", "session": "s1"}
    assert enf.check(req(ip="66.249.66.1", **crawler)).allowlist == "crawlers"
    assert enf.check(req(ip="203.0.113.50", **crawler)).status == 429      # a crawler's UA from elsewhere
    assert enf.check(req(ip="2001:db8::7", session="s1")).allowlist == "partners"


def test_state_is_bounded_earliest_expiry_evicted_first():
    pol = policy_from_toml('max_active = 3\n[[rules]]\naction = "block"\nkey = "address"\nduration = "1h"\n')
    enf = Enforcer(pol)
    for i, at in enumerate([1000.0, 1001.0, 1002.0, 1003.0]):
        enf.decide(match(key={"src_ip": f"192.0.2.{i}"}, at=at))
    assert [d["key"]["src_ip"] for d in enf.active()] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert enf.stats()["evictions"] == 1
    # Re-deciding a key extends its slot (no new slot, no eviction).
    enf.decide(match(key={"src_ip": "192.0.2.1"}, at=1010.0, mid="again"))
    assert enf.stats()["active"] == 3 and enf.stats()["evictions"] == 1
    assert enf.active()[-1]["match_id"] == "again"


def test_snapshot_restore_continues_exactly():
    pol = policy_from_toml(POLICY)
    a = Enforcer(pol)
    a.decide(match(mid="m1"))
    a.decide(match(rule="scrape", ttp="scraping", goal="scraping", severity="medium", key={"src_ip": "192.0.2.9"}))
    a.check(req(ip="192.0.2.9"))
    blob = a.snapshot()
    b = Enforcer(pol)
    b.restore(blob)
    assert b.snapshot() == blob
    for t in (1001.1, 1001.2, 1001.3, 1200.0, 1950.0):
        for ip in ("203.0.113.7", "192.0.2.9"):
            va, vb = a.check(req(ip=ip, ts=t)), b.check(req(ip=ip, ts=t))
            assert va.to_dict() == vb.to_dict()
    assert a.snapshot() == b.snapshot()


def test_restore_refuses_garbage():
    from sleuth.engine import SnapshotError

    with pytest.raises(SnapshotError, match="bad magic"):
        Enforcer().restore(b"\x80")
    with pytest.raises(SnapshotError, match="corrupt policy state"):
        Enforcer().restore(b"\xc1")


# ---------------------------------------------------------------- with an engine

PACK = '''
rule stuffing {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = high title = "login burst" }
  by src_ip
  window 1m
  where route == "/login"
  having count() >= 3
}

rule repeat_offender {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = critical title = "blocked twice" }
  from matches
  where rule == "@decision" and action == "block"
  by src_ip
  window 1h
  having count() >= 2
}
'''

OFFENDER_POLICY = '''
[[rules]]
name = "burst"
rule = "stuffing"
action = "block"
key = "address"
duration = "2s"

[[rules]]
name = "offender"
rule = "repeat_offender"
action = "block"
key = "address"
duration = "1h"
'''


def _logins(ip, start, n):
    return [{"id": f"{ip}-{start + i}", "ts": start + i * 0.1, "src_ip": ip, "route": "/login"} for i in range(n)]


def test_rules_over_rules_read_decisions_and_escalate():
    pack = load_pack(sources={"p.ttp": PACK})
    eng = Engine(pack, lateness=0.0)
    recs: list = []
    enf = Enforcer(policy_from_toml(OFFENDER_POLICY), on_decision=recs.append)
    enf.attach(eng)
    events = _logins("203.0.113.7", 100.0, 3) + _logins("203.0.113.7", 110.0, 3)
    out = eng.feed_many(events) + eng.close()
    assert [m.rule for m in out] == ["stuffing", "stuffing", "repeat_offender"]
    assert [(r["policy_rule"], r["match_id"]) for r in recs] == [
        ("burst", out[0].match_id), ("burst", out[1].match_id), ("offender", out[2].match_id)]
    # The escalation's provenance cites the two block decisions (why was I blocked for an hour?).
    assert [e["id"] for e in out[2].provenance["events"]] == [recs[0]["decision_id"], recs[1]["decision_id"]]
    # The offender's own decision was not fed back (its rule reads decisions): no loop, one match.
    assert enf.check({"ts": 1000.0, "src_ip": "203.0.113.7"}).match_id == out[2].match_id


def test_decision_event_shape():
    rec = Enforcer(policy_from_toml(POLICY)).decide(match(mid="m1"))
    ev = decision_event(rec, 1000.0)
    assert ev == {"id": rec["decision_id"], "ts": 1000.0, "rule": "@decision", "ttp": "credential-stuffing",
                  "goal": "account-takeover", "severity": "high", "fingerprint": rec["decision_id"],
                  "first_ts": 1000.0, "last_ts": 1000.0, "key": {"src_ip": "203.0.113.7"},
                  "fields": {"action": "block", "match_id": "m1", "policy_rule": "stuffers", "channel": "live",
                             "until": "1970-01-01T00:31:40.000Z", "duration": "15m", "match_rule": "stuff"},
                  "src_ip": "203.0.113.7", "action": "block", "match_id": "m1", "policy_rule": "stuffers",
                  "channel": "live", "until": "1970-01-01T00:31:40.000Z", "duration": "15m",
                  "match_rule": "stuff"}


def test_same_input_same_decisions():
    pack = load_pack(sources={"p.ttp": PACK})

    def run():
        eng = Engine(pack, lateness=0.0)
        recs: list = []
        enf = Enforcer(policy_from_toml(OFFENDER_POLICY), on_decision=recs.append)
        enf.attach(eng)
        eng.feed_many(_logins("203.0.113.7", 100.0, 7) + _logins("192.0.2.1", 100.05, 4))
        eng.close()
        return recs, enf.snapshot(), eng.snapshot()

    assert run() == run()


def test_default_policy_logs_everything():
    enf = Enforcer(Policy.default())
    assert enf.decide(match())["action"] == "log"
    assert enf.check(req()).status == 200


def test_no_loop_through_a_chain_of_rules_over_rules():
    rules = PACK + '''
rule on_offender {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = critical title = "an offender's match" }
  from matches
  when rule == "repeat_offender"
}

rule every_decision {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = low title = "each decision" }
  from matches
  when rule == "@decision"
}
'''
    pack = load_pack(sources={"p.ttp": rules})
    eng = Engine(pack, lateness=0.0)
    recs: list = []
    enf = Enforcer(policy_from_toml(OFFENDER_POLICY + '\n[[rules]]\nrule = "on_offender"\naction = "block"\n'
                                    'key = "address"\n'), on_decision=recs.append)
    enf.attach(eng)
    out = eng.feed_many(_logins("203.0.113.7", 100.0, 3) + _logins("203.0.113.7", 110.0, 3)) + eng.close()
    # every_decision reads the two stuffing decisions only: the decisions about repeat_offender,
    # on_offender and every_decision (all downstream of @decision) are not fed back.
    assert sorted(m.rule for m in out) == ["every_decision", "every_decision", "on_offender", "repeat_offender",
                                           "stuffing", "stuffing"]
    assert len(recs) == 6
