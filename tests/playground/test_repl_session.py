"""The playground session without a terminal: define, feed, watch, explain, save."""

from __future__ import annotations

import json
import os

import pytest

from sleuth.dsl.pack import check_paths
from sleuth.playground.repl import Shell
from sleuth.playground.repl_session import SESSION_FILE, Session

LOGIN = 'macro login = method == "POST" and route ~ "/api/*/login"'
STUFFING = '''rule credential_stuffing {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high  title = "stuffing" }
  by src_ip
  window 10m sliding
  where login
  having distinct(user) >= 20 and ratio(status == 200) < 0.05
}'''
ATO = '''rule ato {
  meta { ttp = "account-takeover"  goal = "account-takeover"  severity = high  title = "ato" }
  by user within 30m
  sequence {
    fails:   login and status == 401 repeat >= 3
    success: login and status == 200
    change:  route == "/api/v1/account/email" and src_ip != fails.src_ip
  }
}'''
FAILS = ('feed repeat {n} {{ ts = 2s * i  src_ip = "203.0.113.7"  method = "POST"  path = "/api/v1/login"'
         '  status = 401  user = "{u}" }}')


@pytest.fixture
def shell() -> Shell:
    sh = Shell(Session())
    for block in (LOGIN, STUFFING, ATO):
        out = sh.run(block)
        assert out.ok, out.text
    return sh


def run(sh: Shell, block: str, ok: bool = True) -> str:
    out = sh.run(block)
    assert out.ok is ok, out.text
    return out.text


# ---------------------------------------------------------------- defining


def test_define_replace_and_replay(shell: Shell) -> None:
    run(shell, FAILS.format(n=17, u="user{i}"))
    assert "distinct(user)=17 of 20" in run(shell, "partials credential_stuffing")
    text = run(shell, STUFFING.replace(">= 20", ">= 10"))
    assert text == ("rule 'credential_stuffing' replaced\n"
                    "replayed 17 events into a fresh engine: 1 match (credential_stuffing 1)")
    assert [m.rule for m in shell.session.matches] == ["credential_stuffing"]
    # the session file keeps one text per name, in first-definition order
    assert shell.session.session_text().count("rule credential_stuffing") == 1
    assert ">= 10" in shell.session.session_text()


def test_check_errors_show_carets_on_the_typed_lines_and_change_nothing(shell: Shell) -> None:
    before = shell.session.session_text()
    text = run(shell, '''rule broken {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = high title = "b" }
  when login_fial and status == 401
}''', ok=False)
    assert text == ('''<input>:3:8: error[unknown-macro]: no macro named 'login_fial'
  |
3 |   when login_fial and status == 401
  |        ^^^^^^^^^^
  = hint: define it with 'macro login_fial = <condition>' or import the file that does
nothing changed''')
    assert shell.session.session_text() == before
    assert "broken" not in shell.session.rule_names()


def test_syntax_errors_show_carets(shell: Shell) -> None:
    text = run(shell, "rule broken2 {\n  when x ==\n}", ok=False)
    assert text.splitlines()[0] == ("<input>:3:1: error[missing-operand]: this operator is missing its "
                                    "right-hand side (found '}')")
    assert "3 | }" in text and text.endswith("nothing changed")


def test_a_macro_change_that_breaks_a_rule_is_refused(shell: Shell) -> None:
    text = run(shell, 'macro login = status', ok=False)
    assert "nothing changed" in text
    assert LOGIN in shell.session.session_text()


def test_warnings_of_the_new_block_are_shown(shell: Shell) -> None:
    text = run(shell, "macro unused = status == 500")
    assert "warning[unused-macro]" in text and "<input>:1:7" in text


def test_drop_and_show(shell: Shell) -> None:
    assert run(shell, "show ato") == ATO
    assert run(shell, "drop ato") == "rule 'ato' dropped"
    assert "ato" not in shell.session.rule_names()
    assert run(shell, "drop ato", ok=False) == "the session defines nothing named 'ato'"


# ---------------------------------------------------------------- feeding and time


def test_feed_variants(shell: Shell, tmp_path) -> None:
    text = run(shell, 'feed {"ts": "2026-01-01T00:00:00Z", "src_ip": "1.2.3.4", "method": "POST", '
                      '"path": "/api/v1/login", "status": 401, "user": "a"}')
    assert text == "fed 1 event (e1); time is now 2026-01-01T00:00:00.000Z"
    run(shell, 'feed [{"src_ip": "1.2.3.4", "user": "b"}, {"src_ip": "1.2.3.4", "user": "c"}]')
    run(shell, '{"src_ip": "1.2.3.4", "user": "d"}\n{"src_ip": "1.2.3.4", "user": "e"}')
    text = run(shell, 'feed { src_ip = "1.2.3.4" user = "f" } { ts = 10s user = "g" }')
    # durations count from the session's current time (then 00:00:04)
    assert text == "fed 2 events (e6..e7); time is now 2026-01-01T00:00:14.000Z"
    events = [ev for entry in shell.session.log for ev in entry.events]
    assert [ev["id"] for ev in events] == [f"e{i}" for i in range(1, 8)]
    # an event without ts comes 1s after the one before
    assert [ev["ts"] - events[0]["ts"] for ev in events] == [0, 1, 2, 3, 4, 5, 14]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps({"ts": "2026-01-01T00:01:00Z", "user": f"u{i}"}) for i in range(3)))
    assert run(shell, f"feed {path}").startswith("fed 3 events (e8..e10)")
    log = tmp_path / "access.log"       # any format the readers know
    log.write_text('203.0.113.9 - - [01/Jan/2026:00:02:00 +0000] "POST /api/v1/login HTTP/1.1" 401 12 "-" "curl/8"\n')
    assert run(shell, f"feed {log}") == f"fed 1 event ({log}:1); time is now 2026-01-01T00:02:00.000Z"


def test_bad_events_are_quarantined_and_fail_the_command(shell: Shell) -> None:
    text = run(shell, 'feed [{"ts": "2026-11-27T10:00:00Z", "user": "x"}, {"ts": "bad"}, 5]', ok=False)
    assert text.splitlines() == [
        "2 events quarantined:",
        "  e2: bad-time: unparsable time 'bad'",
        "  event 3 of the batch: not-mapping: expected a mapping (JSON object), got int",
        "fed 1 event (e1); time is now 2026-11-27T10:00:00.000Z",
    ]
    assert run(shell, "feed {not json", ok=False).startswith("not JSON")
    assert run(shell, "feed nothere.jsonl", ok=False) == "no such file: nothere.jsonl"


def test_relative_times_continue_from_the_current_time(shell: Shell) -> None:
    run(shell, FAILS.format(n=2, u="a"))
    run(shell, "time +1m")
    run(shell, FAILS.format(n=2, u="b"))
    times = [ev["ts"] for entry in shell.session.log if hasattr(entry, "events") for ev in entry.events]
    assert [t - times[0] for t in times] == [0, 2, 62, 64]


def test_time_fires_absences_and_only_moves_forward(shell: Shell) -> None:
    run(shell, '''rule reset_abandoned {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = medium title = "r" }
  by user within 1h
  sequence { requested: route == "/api/v1/reset" and status == 202 }
  unless done: route == "/api/v1/reset/confirm" and status == 200 after requested within 10m
}''')
    run(shell, 'feed { path = "/api/v1/reset" status = 202 user = "bob" }')
    assert run(shell, "partials reset_abandoned") == (
        "reset_abandoned, user=bob: all steps done; matches at 2026-01-01T00:10:00.000Z unless 'done' happens first")
    assert run(shell, "time +10m") == "time is now 2026-01-01T00:10:00.000Z\nnothing fired"
    text = run(shell, "time 2026-01-01T00:10:01Z")
    assert text.splitlines() == [
        "time is now 2026-01-01T00:10:01.000Z", "1 match fired:",
        "MATCH #1 reset_abandoned  user=bob  (medium)  at 2026-01-01T00:10:00.000Z",
        "live partial matches: 1 -> 0"]
    assert run(shell, "time 2026-01-01T00:00:00Z", ok=False).startswith("time only moves forward")
    assert run(shell, "time +5x", ok=False).startswith("not a duration")
    assert run(shell, "time") == "time is 2026-01-01T00:10:01.000Z (the watermark)"


def test_parse_duration() -> None:
    # `time +DURATION` and `feed sim DURATION` read durations with the engine's parser.
    from sleuth.engine.duration import parse_compound as parse_duration

    assert parse_duration("5m") == 300 and parse_duration("1h30m") == 5400 and parse_duration("500ms") == 0.5
    assert parse_duration("5x") is None and parse_duration("") is None


# ---------------------------------------------------------------- partials, step mode, matches


def test_near_misses(shell: Shell) -> None:
    run(shell, FAILS.format(n=17, u="user{i}"))
    assert run(shell, "partials credential_stuffing") == (
        "credential_stuffing, src_ip=203.0.113.7: distinct(user)=17 of 20, ratio(status == 200)=0 (< 0.05), "
        "window slides in 9m28s")
    assert run(shell, "partials ato user=user3") == (
        "ato, user=user3: stuck at step 1 ('fails'): needs >= 3 repeats of 'fails', has 1; expires in 29m34s")
    assert run(shell, "partials ato user=nobody") == "no live partial match for ato with user=nobody"
    assert run(shell, "partials atoo", ok=False) == "no rule named 'atoo'; did you mean 'ato'?"
    # nearest first: the window at 17/20 before the sequences at step 1
    assert run(shell, "partials").splitlines()[0].startswith("credential_stuffing")
    # after the watermark moves on, sequences count down from it and the slid-out window is gone
    run(shell, "time +20m")
    assert run(shell, "partials ato user=user3").endswith("expires in 9m34s")
    assert run(shell, "partials credential_stuffing") == (
        "no live partial match for credential_stuffing (no event has reached its first step or window, "
        "or what did has expired)")


def test_step_mode_shows_transitions_and_why_not(shell: Shell) -> None:
    assert run(shell, "step on") == "step mode on"
    text = run(shell, FAILS.format(n=3, u="alice"))
    assert text.splitlines()[:3] == [
        "e1  2026-01-01T00:00:00.000Z  POST  /api/v1/login  src_ip=203.0.113.7 status=401 user=alice",
        "  ato, user=alice: new partial at step 1 'fails' 1 of 3",
        "  credential_stuffing, src_ip=203.0.113.7: window opened: distinct(user)=1 of 20, "
        "ratio(status == 200)=0 (< 0.05), window slides in 10m",
    ]
    assert "  ato, user=alice: step 1 'fails' 2 of 3 -> step 1 'fails' done (3 events)" in text
    text = run(shell, 'feed { src_ip = "203.0.113.7" method = "POST" path = "/api/v1/login" status = 200 '
                      'user = "alice" }')
    assert "  ato, user=alice: step 1 'fails' done (3 events) -> step 2 'success' done" in text
    text = run(shell, 'feed { src_ip = "203.0.113.7" path = "/api/v1/account/email" user = "alice" }')
    assert text.splitlines()[1] == ("  ato, user=alice: the event satisfies step 3 'change' but not its "
                                    "reference to earlier steps: src_ip != fails.src_ip")
    text = run(shell, 'feed { src_ip = "192.0.2.1" path = "/api/v1/account/email" user = "alice" }')
    assert text.splitlines()[1] == ("  ato, user=alice: step 2 'success' done -> completed; the most advanced "
                                    "partial left is step 1 'fails' 2 of 3 (started 2026-01-01T00:00:02.000Z)")
    assert "  MATCH #1 ato  user=alice  (high)  at 2026-01-01T00:00:07.000Z" in text
    text = run(shell, 'feed { src_ip = "192.0.2.1" path = "/api/v1/account/email" user = "carol" }')
    assert text.splitlines()[1] == ("  ato, user=carol: the event satisfies step 3 'change', but no partial "
                                    "of this key has reached step 2")
    text = run(shell, 'feed { path = "/nothing" }')
    assert text.splitlines()[1] == "  no rule touched"
    assert run(shell, "step") == "step mode off"


def test_match_provenance_tree(shell: Shell) -> None:
    run(shell, FAILS.format(n=3, u="alice"))
    run(shell, 'feed { src_ip = "203.0.113.7" method = "POST" path = "/api/v1/login" status = 200 user = "alice" }')
    text = run(shell, 'feed { src_ip = "192.0.2.1" method = "POST" path = "/api/v1/account/email" user = "alice" }')
    assert text.splitlines()[-1] == "MATCH #1 ato  user=alice  (high)  at 2026-01-01T00:00:06.000Z"
    tree = run(shell, "matches ato").splitlines()
    assert tree[0] == "MATCH #1 ato  user=alice  (high)  at 2026-01-01T00:00:06.000Z"
    assert tree[3:] == [
        "  sequence within 30m",
        "    step fails: 3 events",
        "      e1  2026-01-01T00:00:00.000Z  method=POST route=/api/v1/login status=401 user=alice",
        "      e2  2026-01-01T00:00:02.000Z  method=POST route=/api/v1/login status=401 user=alice",
        "      e3  2026-01-01T00:00:04.000Z  method=POST route=/api/v1/login status=401 user=alice",
        "    step success: 1 event",
        "      e4  2026-01-01T00:00:05.000Z  method=POST route=/api/v1/login status=200 user=alice",
        "    step change: 1 event",
        "      e5  2026-01-01T00:00:06.000Z  route=/api/v1/account/email src_ip=192.0.2.1 user=alice",
    ]
    assert run(shell, "matches credential_stuffing") == "no match yet for credential_stuffing"


def test_window_tree_marks_events_not_kept(shell: Shell) -> None:
    run(shell, STUFFING.replace("window 10m sliding", "window 10m sliding\n  limit events 3"))
    run(shell, FAILS.format(n=20, u="user{i}"))
    tree = run(shell, "matches credential_stuffing").splitlines()
    assert "  window sliding 10m: 2025-12-31T23:50:38.000Z .. 2026-01-01T00:00:38.000Z" in tree
    assert "    distinct(user) = 20" in tree and "    events: 20" in tree
    assert tree[-4:] == [
        "      e1  2026-01-01T00:00:00.000Z  method=POST route=/api/v1/login src_ip=203.0.113.7 status=401 user=user0",
        "      e2  2026-01-01T00:00:02.000Z  method=POST route=/api/v1/login src_ip=203.0.113.7 status=401 user=user1",
        "      ... 17 more not kept",
        "      e20  2026-01-01T00:00:38.000Z  method=POST route=/api/v1/login src_ip=203.0.113.7 status=401 user=user19",
    ]


def test_feed_sim(shell: Shell) -> None:
    text = run(shell, "feed sim 10s seed 3")
    assert text.startswith("fed ") and " simulated events (ev-00000001..ev-" in text
    assert "; time is now 2026-11-27T08:00:" in text   # the simulator's start, as no event came before
    assert run(shell, "feed sim 10x", ok=False).startswith("usage: feed sim")


# ---------------------------------------------------------------- tests, explain, stats, reset


def test_embedded_tests(shell: Shell) -> None:
    assert run(shell, "test ato").startswith("no tests for ato")
    run(shell, '''test "one IP, many users" for credential_stuffing {
  events {
    repeat 30 { ts = 2s * i  src_ip = "203.0.113.7"  method = "POST"  route = "/api/v1/login"  status = 401  user = "user{i}" }
  }
  expect match { src_ip == "203.0.113.7" }
}''')
    text = run(shell, "test")
    assert text.splitlines() == [f"ok  {SESSION_FILE}:21 one IP, many users",
                                 "1 test, 0 mutations: 1 passed, 0 failed"]
    run(shell, '''test "quiet" for credential_stuffing {
  events { repeat 30 { ts = 2s * i  src_ip = "203.0.113.7"  method = "POST"  route = "/api/v1/login"  status = 401  user = "user{i}" } }
  expect no match
}''')
    text = run(shell, "test credential_stuffing", ok=False)
    assert "FAIL  <session>.ttp:28 quiet" in text and text.endswith("1 passed, 1 failed")


def test_explain_stats_reset_rules(shell: Shell) -> None:
    assert run(shell, "explain ato").startswith("rule ato  sequence  (<session>.ttp:")
    run(shell, FAILS.format(n=20, u="user{i}"))
    stats = run(shell, "stats")
    assert "events: 20 fed, 20 processed, 0 quarantined as bad input, 0 late" in stats
    assert "  by rule: credential_stuffing 1" in stats
    assert run(shell, "rules").splitlines() == [
        "credential_stuffing  window 10m sliding        by src_ip  session  1 match",
        "ato                  sequence of 3 within 30m  by user    session  0 matches",
    ]
    assert run(shell, "reset") == "cleared 20 events and 1 match; rules kept"
    assert shell.session.clock is None and not shell.session.matches
    assert run(shell, "nonsense", ok=False) == "unknown command 'nonsense' (help lists the commands)"
    assert run(shell, "partial", ok=False) == ("unknown command 'partial'; did you mean 'partials'? "
                                               "(help lists the commands)")
    assert "partials [RULE] [FIELD=VALUE ...]" in run(shell, "help")
    assert run(shell, "help time").startswith("time [+DURATION | TIME]")


# ---------------------------------------------------------------- packs and saving


@pytest.fixture
def pack(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pk").mkdir()
    (tmp_path / "pk" / "common.ttp").write_text(f'''{LOGIN}
list bad_ips = ["192.0.2.1"]
rule r1 {{
  meta {{ ttp = "credential-stuffing" goal = "account-takeover" severity = low title = "r1" }}
  when login and src_ip in @bad_ips
}}
''')
    return tmp_path


def test_load_use_pack_names_override_and_reload(pack) -> None:
    sh = Shell(Session())
    assert run(sh, "load pk") == "loaded pk: 1 file, 1 rule (r1)"
    # the pack's macros and lists are usable in the session
    run(sh, '''rule mine {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = low title = "m" }
  when login and src_ip in @bad_ips
}''')
    text = run(sh, '''rule r1 {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = low title = "mine now" }
  when login
}''')
    assert text == "rule 'r1' defined (overrides the rule of pk/common.ttp:3)"
    assert run(sh, "rules").splitlines() == ["mine  event    session  0 matches",
                                             "r1    event    session  0 matches"]
    assert run(sh, "reload") == "reloaded: 1 file, 0 rules; overridden by the session: r1"
    run(sh, "drop r1")
    assert "pk/common.ttp:3" in run(sh, "rules")
    assert run(sh, "load nothere", ok=False) == "no such file or folder: nothere"
    (pack / "pk" / "common.ttp").write_text("rule {")
    assert run(sh, "reload", ok=False).endswith("nothing changed")
    assert "r1" in sh.session.rule_names()


def test_save_writes_canonical_checked_files(pack) -> None:
    sh = Shell(Session())
    run(sh, "load pk")
    run(sh, '''rule mine {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = low title = "m" }
  when login and src_ip in @bad_ips   # uses the pack's names
}''')
    assert run(sh, "save out/a.ttp") == "saved 1 rule to out/a.ttp\nsleuth check out/a.ttp: 0 errors, 0 warnings"
    text = (pack / "out" / "a.ttp").read_text()
    assert text.startswith('import "../pk/common.ttp"\n\nrule mine {\n  meta {\n')
    assert "# uses the pack's names" in text
    assert not check_paths([str(pack / "out" / "a.ttp")]).errors
    # overriding a pack rule: importing its file would define it twice, so its names are copied
    run(sh, '''rule r1 {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = low title = "mine now" }
  when login
}''')
    run(sh, "save out/b.ttp")
    text = (pack / "out" / "b.ttp").read_text()
    assert "import" not in text and "# copied from pk/common.ttp\nmacro login = " in text
    assert not check_paths([str(pack / "out" / "b.ttp")]).errors
    assert run(Shell(Session()), "save x.ttp", ok=False).startswith("the session defines nothing yet")
    assert not os.path.exists("x.ttp")
