"""`sleuth report` on the command line: a simulated run's report, exit codes, determinism.

The report of `sim_run` (conftest) is checked against figures recomputed
from its inputs: timeline counts from the matches file, evaluation from
`playground/evaluate.py` called directly, quarantine counts from the
quarantine file. Bad options and unreadable inputs give one line on stderr
and exit 2 or 3, never a traceback, and no output file.
"""

from __future__ import annotations

import html
import re

import orjson
import pytest
from reportkit import expected_timeline, read_matches, sleuth

from sleuth.playground.evaluate import evaluate
from sleuth.playground.report import render_report


def test_the_command_writes_the_page_and_says_so(sim_run):
    assert sim_run["stdout"] == f"{sim_run['report']}\n"
    n = len(read_matches(sim_run["matches"]))
    assert re.fullmatch(rf"sleuth report: wrote {re.escape(str(sim_run['report']))} \(\d[\d,]* KiB\): "
                        rf"{n} matches \(all with provenance\), \d+ rules, \d+ unique TTPs\n", sim_run["stderr"])
    page = sim_run["report"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)       # nothing from the network


def test_timeline_table_equals_counts_from_the_matches_file(sim_run):
    matches = read_matches(sim_run["matches"])
    page = sim_run["report"].read_text(encoding="utf-8")
    for kind in ("ttp", "goal"):
        table = re.search(rf'<table id="table-timeline-{kind}">.*?</table>', page, re.S).group(0)
        series = [html.unescape(s) for s in re.findall(r'<th scope="col" class="n">([^<]+)</th>', table)][2:]
        got = {}
        for b, cells in re.findall(r'<tr data-bin="([^"]+)">(.*?)</tr>', table, re.S):
            values = [int(v) for v in re.findall(r'<td class="n">(\d+)</td>', cells)][2:]
            got[b] = {s: v for s, v in zip(series, values) if v}
        want = expected_timeline(matches, by=kind)
        assert {b: row for b, row in got.items() if row} == want


def test_evaluation_equals_evaluate_called_directly(sim_run):
    sim = sim_run["sim"]
    labels = [orjson.loads(x) for x in (sim / "labels.jsonl").read_bytes().splitlines() if x.strip()]
    traps = [orjson.loads(x) for x in (sim / "traps.jsonl").read_bytes().splitlines() if x.strip()]
    manifest = orjson.loads((sim / "manifest.json").read_bytes())
    span = manifest["span"]
    want = evaluate(read_matches(sim_run["matches"]), labels, traps,
                    {"start": span["start"], "end": span["end"], "hours": span["hours"],
                     "events": manifest["events"]["count"]})
    _page, r = render_report([str(sim_run["matches"])], labels=str(sim))
    got = r["evaluation"]
    for k in ("recall", "precision", "precision_any_ttp", "matches", "false_alarms", "per_ttp", "per_rule",
              "missed", "instances"):
        assert got[k] == want[k], k
    page = sim_run["report"].read_text(encoding="utf-8")
    assert f'<span class="big">{want["recall"]:.2f}</span>recall' in page
    assert len(got["verdicts"]) == want["matches"]["total"]


def test_quarantine_and_coverage_of_the_run(sim_run):
    q = [orjson.loads(x) for x in sim_run["quarantine"].read_bytes().splitlines() if x.strip()]
    assert sorted(r["reason"] for r in q) == ["no-time", "not-json"]
    page = sim_run["report"].read_text(encoding="utf-8")
    section = re.search(r'<table id="table-quarantine">.*?</table>', page, re.S).group(0)
    assert re.findall(r'<th scope="row" class="mono">([^<]+)</th><td class="n">(\d+)</td>', section) == [
        ("no-time", "1"), ("not-json", "1")]
    cov = re.search(r'<table id="table-coverage">.*?</table>', page, re.S).group(0)
    events = sum(1 for _ in sim_run["events"].read_bytes().splitlines()) - 2
    assert f'<th scope="row" class="mono">ts</th><td class="n">{events:,}</td>' in cov


def test_same_inputs_same_bytes(sim_run, tmp_path):
    out = tmp_path / "again.html"
    sleuth("report", str(sim_run["matches"]), "--events", str(sim_run["events"]), "--quarantine",
           str(sim_run["quarantine"]), "--labels", str(sim_run["sim"]), "--pack", "builtin", "--interval", "5m",
           "-o", str(out))
    assert out.read_bytes() == sim_run["report"].read_bytes()


def test_registered_with_help():
    proc = sleuth("--help", check=False)
    assert re.search(r"^   report\s+write an offline HTML report", proc.stdout, re.M)
    proc = sleuth("report", "--help")
    assert "--detail-bytes N" in proc.stdout and "--labels DIR" in proc.stdout


@pytest.mark.parametrize("args, code, message", [
    (["nope.jsonl", "-o", "{out}"], 3, "sleuth report: no such file: nope.jsonl"),
    (["{matches}"], 2, "the following arguments are required: -o/--out"),
    (["{matches}", "-o", "{out}", "--interval", "5 minutes"], 2,
     "sleuth report: bad interval '5 minutes': write a duration such as 30s, 5m, 1h or 1d"),
    (["{matches}", "-o", "{out}", "--interval", "1s"], 2, "gives 1,"),
    (["{matches}", "-o", "{out}", "--detail-bytes", "-1"], 2, "sleuth report: --detail-bytes must be 0 or more"),
    (["{matches}", "-o", "{out}", "--labels", "{tmp}/none"], 3, "sleuth report: no such folder: "),
    (["{matches}", "-o", "{out}", "--events", "{tmp}/none.jsonl"], 3, "sleuth report: no such file: "),
    (["{matches}", "-o", "{tmp}/no/such/dir/r.html"], 3, "sleuth report: cannot write "),
    (["{bad}", "-o", "{out}", "--strict"], 3, ":2: not a match record (not-json: "),
], ids=["missing-matches", "no-out", "bad-interval", "too-many-intervals", "negative-budget", "missing-labels",
        "missing-events", "unwritable-out", "strict-bad-line"])
def test_exit_codes(sim_run, tmp_path, args, code, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(sim_run["matches"].read_bytes().splitlines()[0] + b"\n{oops\n")
    out = tmp_path / "r.html"
    subst = {"out": str(out), "matches": str(sim_run["matches"]), "tmp": str(tmp_path), "bad": str(bad)}
    proc = sleuth("report", *[a.format(**subst) for a in args], check=False)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1]            # one line says what is wrong
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_bad_line_is_skipped_with_a_count(sim_run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(sim_run["matches"].read_bytes().splitlines()[0] + b"\n{oops\n")
    out = tmp_path / "r.html"
    proc = sleuth("report", str(bad), "-o", str(out))
    assert proc.stderr.splitlines()[0] == (f"sleuth report: skipped 1 line(s) that are not match records "
                                           f"(first: {bad}:2: not-json: {_detail(bad)})")
    page = out.read_text(encoding="utf-8")
    assert "1 line(s) of the matches input are not match records and were skipped" in page


def _detail(path) -> str:
    from sleuth.engine.ingest.source import Bad, open_source

    return next(item.detail for _p, item in open_source(str(path), "jsonl") if type(item) is Bad)


def test_a_pack_with_errors_is_an_input_error(sim_run, tmp_path):
    broken = tmp_path / "broken.ttp"
    broken.write_text("rule x { this is not a rule }\n")
    proc = sleuth("report", str(sim_run["matches"]), "-o", str(tmp_path / "r.html"), "--pack", str(broken),
                  check=False)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "error" in proc.stderr
