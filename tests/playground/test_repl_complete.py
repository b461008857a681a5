"""Completion in the playground: commands, language words, and the session's own names."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from sleuth.playground.repl import COMMANDS, Shell
from sleuth.playground.repl_complete import SleuthCompleter, keywords
from sleuth.playground.repl_session import Session

RULES = '''
list bad_ips = ["192.0.2.1"]
macro login = method == "POST" and route ~ "/api/*/login"
rule account_takeover {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = high title = "t" }
  by user, src_ip within 30m
  sequence {
    fails:   login and status == 401 repeat >= 3
    success: login and status == 200 and src_ip in @bad_ips
  }
}
'''


@pytest.fixture(scope="module")
def completer() -> SleuthCompleter:
    session = Session()
    shell = Shell(session)
    out = shell.run(RULES)
    assert out.ok, out.text
    return SleuthCompleter(shell, COMMANDS)


def complete(completer: SleuthCompleter, text: str) -> dict[str, str]:
    doc = Document(text, len(text))
    return {c.text: c.display_meta_text for c in completer.get_completions(doc, CompleteEvent())}


def test_first_word_offers_commands_and_definitions(completer) -> None:
    got = complete(completer, "fe")
    assert got == {"feed": "command"}
    got = complete(completer, "ru")
    assert got == {"rules": "command", "rule": "definition"}
    assert "partials" in complete(completer, "")


def test_language_words_inside_a_block(completer) -> None:
    got = complete(completer, "rule x {\n  when sta")
    assert got["status"] == "field (int)"
    assert got["startswith"] == "function"
    got = complete(completer, "rule x {\n  having dist")
    assert got["distinct"] == "aggregate"
    got = complete(completer, "rule x {\n  wi")
    assert got["within"] == "keyword" and got["window"] == "keyword"
    assert {"sequence", "having", "unless", "suppress", "repeat"} <= set(keywords())


def test_session_names(completer) -> None:
    got = complete(completer, "rule x {\n  when log")
    assert got["login"] == "macro"
    assert complete(completer, "rule x {\n  when src_ip in @b") == {"@bad_ips": "list"}
    got = complete(completer, "rule x {\n  when fa")
    assert got["fails"] == "step of account_takeover"
    assert complete(completer, "rule y {\n  when accou")["account_takeover"] == "rule"


def test_command_arguments(completer) -> None:
    assert complete(completer, "explain acc") == {"account_takeover": "rule"}
    assert complete(completer, "partials account_takeover ") == {"user=": "key field", "src_ip=": "key field"}
    assert complete(completer, "step ") == {"on": "step mode", "off": "step mode"}
    assert complete(completer, "help par") == {"partials": "command"}
    assert complete(completer, "feed ") == {"repeat": "generated events", "sim": "simulated traffic"}
    assert complete(completer, "feed sim 10m ") == {"seed": "random seed"}
    assert complete(completer, "drop lo") == {"login": "macro"}


def test_paths_after_load_and_save(completer, tmp_path, monkeypatch) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ato.ttp").write_text("")
    monkeypatch.chdir(tmp_path)
    doc = Document("load rules/a", len("load rules/a"))
    got = [c.text for c in completer.get_completions(doc, CompleteEvent())]
    assert got == ["to.ttp"]
    doc = Document("save ru", len("save ru"))
    assert [c.text for c in completer.get_completions(doc, CompleteEvent())] == ["les"]
