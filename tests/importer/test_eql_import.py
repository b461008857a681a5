"""`sleuth import eql`: what each construct becomes, every difference stated, the command line.

The translation of a sample file is pinned by a golden file
(`golden/sample.eql` -> `golden/sample.ttp`); each diagnostic code is asserted
with its place; the command is run for exit codes, stdin, TOML input, field
mapping, JSON diagnostics and written files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.playground.importer import ImportOptions, import_eql, render, verify
from sleuth.playground.importer.eql import parse_query, split_queries

GOLDEN = Path(__file__).parent / "golden"


def _import(query: str, **options):
    return import_eql(query, "q.eql", ImportOptions(prefix="q", **options))


def _codes(result) -> list[tuple[str, str, int, int]]:
    return [(d.severity, d.code, d.span.line, d.span.col) for d in result.diagnostics]


def test_sample_file_golden(golden) -> None:
    text = (GOLDEN / "sample.eql").read_text(encoding="utf-8")
    result = import_eql(text, "sample.eql", ImportOptions())
    out = render(result, "Imported from EQL (test)")
    assert verify(out) == []
    golden.check(GOLDEN / "sample.ttp", out)


@pytest.mark.parametrize("query, code, line, col", [
    ("process where descendant of [process where true]", "eql-unsupported", 1, 15),
    ("process where args[0] == 1", "eql-unsupported", 1, 15),
    ("process where between(a, 'x', 'y') == 'z'", "eql-unknown-function", 1, 15),
    ("sequence [process where true] by pid [file where true]", "eql-join-width", 1, 1),
    ("sequence [process where true] by pid [file where true] by pid until [process where true]",
     "eql-join-width", 1, 69),
    ("process where true | unique_count x", "eql-unsupported", 1, 20),
    ("process where true | count x | head 1", "eql-unsupported", 1, 30),
    ("process where", "eql-syntax", 1, 14),
    ("sequence with maxspan=5 fortnights [a where true] [b where true]", "eql-syntax", 1, 1),
])
def test_untranslatable_queries_are_errors_with_their_place(query, code, line, col) -> None:
    result = _import(query)
    assert result.rules == []
    assert ("error", code, line, col) in _codes(result), _codes(result)


@pytest.mark.parametrize("query, code", [
    ("sequence with maxspan=40d [a where true] [b where true]", "eql-maxspan"),
    ("sequence by user [a where true] [b where true]", "eql-null-key"),
    ("process where true | tail 3", "eql-pipe-dropped"),
    ("process where true | sort x", "eql-pipe-dropped"),
    ("process where true | count user", "eql-count-window"),
    ("sequence [a where true] fork [b where true]", "eql-fork-first"),
    ("registry where arrayContains(values, 'x')", "eql-case"),
])
def test_differences_are_warnings_and_comments(query: str, code: str) -> None:
    result = _import(query)
    assert result.rules, _codes(result)
    assert code in [d.code for d in result.diagnostics if not d.is_error]
    assert f"# warning[{code}]" in render(result, "t")
    assert verify(render(result, "t")) == []


def test_maxspan_past_30_days_is_unbounded() -> None:
    result = _import("sequence with maxspan=40d [a where true] [b where true]")
    text = render(result, "t")
    assert "within" not in text.split("rule q", 1)[1]


def test_case_sensitive_option_keeps_values() -> None:
    sensitive = render(_import('process where name == "Cmd.exe"', case="sensitive"), "t")
    insensitive = render(_import('process where name == "Cmd.exe"'), "t")
    assert 'name == "Cmd.exe"' in sensitive
    assert 'lower(name) == "cmd.exe"' in insensitive


def test_event_type_field_and_field_mapping() -> None:
    text = render(_import('process where process_name == "a"', event_type_field="kind",
                          fields={"process_name": "ua"}), "t")
    assert 'kind == "process" and lower(ua) == "a"' in text


def test_wildcard_escapes_glob_characters() -> None:
    text = render(_import('any where path == "*/a?b[1]*"'), "t")
    assert 'lower(path) ~ "*/a[?]b[[]1]*"' in text


def test_count_becomes_a_window_rule_that_counts() -> None:
    result = _import("any where route == \"/login\" | count user")
    text = render(result, "t")
    pack = load_pack(sources={"i.ttp": text})
    eng = Engine(pack)
    for i, u in enumerate(["al", "bo", "al", "AL"]):
        eng.feed({"id": f"e{i}", "ts": i, "route": "/login", "user": u})
    counts = sorted((m.key["fields.user"], m.fields["count"]) for m in eng.close() if m.rule == "q_count")
    assert counts == [("al", 3), ("bo", 1)]


def test_split_queries_and_comments() -> None:
    text = "// first\nprocess where true\n---\n/* second */\nfile where true\n---\n// only a comment\n"
    assert [q.strip().splitlines()[-1] for _o, q in split_queries(text)] == ["process where true", "file where true"]


def test_parse_strings_and_paths() -> None:
    q = parse_query("any where a.b == ?'c\\d' and `x y` == 'it\\'s' or c == \"\"\"t\"q\"\"\"")
    assert q.base.event_type == "any"


# ---------------------------------------------------------------- the command


def sleuth(*args: str, stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=cwd)


SEQ = "sequence by user with maxspan=5m\n  [any where route == \"/a\"]\n  [any where route == \"/b\"]\n"


def test_cli_stdin_to_stdout() -> None:
    p = sleuth("import", "eql", "-", stdin=SEQ)
    assert p.returncode == 0, p.stderr
    assert "rule eql {" in p.stdout and "within 5m" in p.stdout
    assert "1 rule(s) written; 0 error(s) (left out), 1 difference(s) stated" in p.stderr
    load_pack(sources={"x.ttp": p.stdout})


def test_cli_errors_leave_the_query_out_and_exit_1(tmp_path: Path) -> None:
    src = tmp_path / "two.eql"
    src.write_text(SEQ + "---\nprocess where child of [process where true]\n")
    out = tmp_path / "out.ttp"
    p = sleuth("import", "eql", str(src), "-o", str(out))
    assert p.returncode == 1
    assert f"{src}:5:15: error[eql-unsupported]" in p.stderr
    assert out.read_text().count("\nrule ") == 1


def test_cli_toml_names_and_json_diagnostics(tmp_path: Path) -> None:
    src = tmp_path / "analytics.toml"
    src.write_text("[[analytics]]\nname = \"Two steps\"\nquery = '''\n" + SEQ + "'''\n")
    p = sleuth("import", "eql", str(src), "--format", "json", "--ttp", "scraping", "--goal", "scraping")
    assert p.returncode == 0, p.stderr
    assert "rule two_steps {" in p.stdout and 'ttp = "scraping"' in p.stdout
    diag = json.loads(p.stderr.splitlines()[0])
    assert diag["code"] == "eql-null-key" and diag["file"] == str(src) and diag["line"] == 4


def test_cli_usage_and_io_errors(tmp_path: Path) -> None:
    assert sleuth("import", "eql", str(tmp_path / "none.eql")).returncode == 3
    assert sleuth("import", "eql", "-", "--ttp", "nope", stdin=SEQ).returncode == 2
    assert sleuth("import", "eql", "-", "--map", "novalue", stdin=SEQ).returncode == 2
    assert sleuth("import").returncode == 2
    help_text = sleuth("import", "eql", "--help").stdout
    assert "--case" in help_text and "--event-type-field" in help_text


def test_cli_profile_field_mapping(tmp_path: Path) -> None:
    profile = tmp_path / "sleuth.toml"
    profile.write_text('[fields]\nuser = "account.name"\n')
    p = sleuth("import", "eql", "-", "--profile", str(profile), stdin='any where account.name == "x"\n')
    assert p.returncode == 0, p.stderr
    assert 'lower(user) == "x"' in p.stdout
