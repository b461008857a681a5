"""Field coverage, blind rules, `sleuth inspect` and `sleuth run --report`.

Issue 16's reproductions: the shipped pack lost rules without `--openapi`
and nothing said so; a real TSV log whose `host` column is the client was
read with no client, path or status and no warning. What `sleuth run`
prints and writes to `--metrics` about the fields the pack reads, what
`sleuth inspect` shows before a run (format, order, disorder and the
`--lateness` it recommends, coverage, samples, blind rules), and the HTML
page `--report` writes (the same as `sleuth report` on the run's files).
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from shared_data import shared_data

META = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'
TWO = (f"rule tls {{ {META} when exists(ja3) }}\n"
       f"rule ip {{ {META} when exists(src_ip) }}\n")
WEB = (f"rule web {{ {META} when exists(src_ip) and exists(path) and exists(status) }}\n")
T0 = 1_714_564_800


def sleuth(*args: str, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "sleuth.playground.cli", *args], input=stdin,
                          capture_output=True, timeout=600)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def traffic(tmp_path: Path) -> Path:
    """20 requests, a second apart, and one 12 s late (no ja3, one without a user)."""
    ev = [{"ts": T0 + i, "src_ip": f"203.0.113.{i % 3}", "method": "GET", "path": f"/api/v1/orders/{i}",
           "status": 200, "user": f"u{i % 2}"} for i in range(20)]
    ev.insert(15, {"ts": T0 + 2, "src_ip": "203.0.113.9", "method": "GET", "path": "/x", "status": 404})
    return write(tmp_path / "c.jsonl", b"".join(orjson.dumps(e) + b"\n" for e in ev))


# ---------------------------------------------------------------- sleuth run: coverage and blind rules


def test_the_run_summary_and_metrics_name_the_blind_rules(tmp_path: Path):
    pack = write(tmp_path / "two.ttp", TWO)
    r = sleuth("run", str(pack), str(traffic(tmp_path)), "--lateness", "20", "-o", str(tmp_path / "m.jsonl"),
               "--metrics", str(tmp_path / "met.json"))
    assert r.returncode == 0, r.stderr.decode()
    err = r.stderr.decode().splitlines()
    assert "fields the pack reads (share of events): ja3 0%, src_ip 100%" in err
    i = err.index("rules that cannot fire on this input (1 of 2):")
    assert err[i + 1] == "  tls: needs ja3: absent in 100% of events"
    met = orjson.loads((tmp_path / "met.json").read_bytes())
    assert met["coverage"] == {"events": 21, "fields": {"ja3": 0.0, "src_ip": 1.0}}
    assert met["blind_rules"] == [{"cannot_fire": True, "rule": "tls", "why": "needs ja3: absent in 100% of events"}]


def test_the_shipped_pack_without_openapi_names_the_rules_that_need_route_templates(tmp_path: Path):
    from sleuth.playground.sim.spec import openapi

    spec = write(tmp_path / "api.json", orjson.dumps(openapi()))
    ev = [{"ts": T0 + i, "src_ip": f"203.0.113.{i % 3}", "method": "POST", "path": f"/api/v1/transfers/{i}/confirm",
           "status": 401, "user": f"u{i % 2}"} for i in range(20)]
    events = write(tmp_path / "api.jsonl", b"".join(orjson.dumps(e) + b"\n" for e in ev))
    # The pack reaches endpoints by role (the heuristic templates give one); the rule that compares
    # routes with the documented ones needs the document.
    undocumented = ("  spec_undocumented_endpoint: needs route templates (<unmatched>): "
                    "pass --openapi or set it in the profile")
    allowed = ("  spec_method_not_allowed: needs spec.method_allowed from an OpenAPI document: "
               "pass --openapi or set it in the profile")
    r = sleuth("run", "builtin", str(events), "-o", str(tmp_path / "m.jsonl"), "--metrics", str(tmp_path / "a.json"))
    assert r.returncode in (0, 1), r.stderr.decode()
    err = r.stderr.decode().splitlines()
    assert undocumented in err and allowed in err
    blind = {b["rule"]: b for b in orjson.loads((tmp_path / "a.json").read_bytes())["blind_rules"]}
    assert blind["spec_undocumented_endpoint"]["cannot_fire"] is True
    assert "bla_otp_guessing" not in blind
    # With the API description the templates are there: those rules are no longer blind.
    r = sleuth("run", "builtin", str(events), "-o", str(tmp_path / "m.jsonl"), "--openapi", str(spec),
               "--metrics", str(tmp_path / "b.json"))
    assert r.returncode in (0, 1), r.stderr.decode()
    out = r.stderr.decode()
    assert "route templates" not in out and "OpenAPI" not in out
    blind = {b["rule"] for b in orjson.loads((tmp_path / "b.json").read_bytes())["blind_rules"]}
    assert not blind & {"spec_undocumented_endpoint", "spec_method_not_allowed", "bla_otp_guessing"}


TSV = ("ts\thost\turl\tcode\tagent\n"
       "2024-05-01T12:00:00Z\t203.0.113.5\t/api/v1/login\t401\tcurl/8\n"
       "2024-05-01T12:00:01Z\t203.0.113.5\t/api/v1/login\t401\tcurl/8\n"
       "2024-05-01T12:00:02Z\t203.0.113.6\t/api/v1/items\t200\tcurl/8\n")


def test_a_tsv_whose_columns_do_not_map_gets_a_warning_and_a_suggested_map(tmp_path: Path):
    pack = write(tmp_path / "web.ttp", WEB)
    tsv = write(tmp_path / "access.tsv", TSV)
    warnings = [
        f"warning: {tsv}: columns url, code, agent map to no event field, and no column gives src_ip, method, "
        "path, status, user",
        f"warning: {tsv}: column 'host' is read as host, but its values look like src_ip (Apache calls the "
        "client %h, 'host')",
        f"warning: {tsv}: suggested: --map src_ip=host --map path=url --map status=code --map ua=agent",
    ]
    r = sleuth("run", str(pack), str(tsv), "-o", str(tmp_path / "m.jsonl"), "--metrics", str(tmp_path / "a.json"))
    assert r.returncode == 0, r.stderr.decode()
    err = r.stderr.decode().splitlines()
    for w in warnings:
        assert w in err and "sleuth run: " + w in err          # at once, and again in the summary
    assert "  web: needs path, src_ip, status: absent in 100% of events" in err
    assert (tmp_path / "m.jsonl").read_bytes() == b""
    # The suggestion, applied, gives the events a client, a path and a status.
    r = sleuth("run", str(pack), str(tsv), "-o", str(tmp_path / "m.jsonl"), "--metrics", str(tmp_path / "b.json"),
               "--map", "src_ip=host", "--map", "path=url", "--map", "status=code", "--map", "ua=agent")
    assert r.returncode == 0, r.stderr.decode()
    assert [x for x in r.stderr.decode().splitlines() if "warning" in x] == [   # once at once, once in the summary
        f"sleuth run: warning: {tsv}: no column gives method, user", f"warning: {tsv}: no column gives method, user"]
    assert orjson.loads((tmp_path / "b.json").read_bytes())["coverage"]["fields"] == {
        "path": 1.0, "src_ip": 1.0, "status": 1.0}
    assert len((tmp_path / "m.jsonl").read_bytes().splitlines()) == 3
    r = sleuth("inspect", str(tsv), "--pack", str(pack))
    assert r.returncode == 0
    assert [x for x in r.stdout.decode().splitlines() if x.startswith("warning:")] == warnings


# ---------------------------------------------------------------- sleuth inspect


def test_inspect_shows_format_order_disorder_lateness_coverage_samples_and_blind_rules(tmp_path: Path):
    pack = write(tmp_path / "two.ttp", TWO)
    c = traffic(tmp_path)
    r = sleuth("inspect", str(c), "--pack", str(pack))
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode().splitlines()
    assert out[:9] == [
        str(c),
        "  format: jsonl (the first line is a whole JSON object)",
        "  records: 21: 21 events",
        "  time: 2024-05-01T12:00:00.000Z .. 2024-05-01T12:00:19.000Z",
        "  order: 1 event out of order, the largest 12 s behind a line before it",
        "events: 21, 2024-05-01T12:00:00.000Z .. 2024-05-01T12:00:19.000Z",
        "disorder: 1 event arrives after a later-stamped one; the largest lateness is 12 s",
        "lateness: recommended --lateness 15: it covers the largest lateness seen (the default for jsonl, 5 s, "
        "would set 1 event aside as late)",
        # Derived fields as a pack would get them: every event has an actor (its address at least),
        # the heuristic templates give most a role, no user agent gives no client.
        "fields (share of events): actor 100%, asn 0%, client 0%, country 0%, headers 0%, host 0%, id 100%, "
        "ja3 0%, latency_ms 0%, method 100%, operation 0%, outcome 0%, params 0%, path 100%, protocol 0%, "
        "query 0%, req_bytes 0%, request 0%, resp_bytes 0%, role 95.2%, route 100%, session 0%, spec 0%, "
        "src_ip 100%, status 100%, ts 100%, ua 0%, user 95.2%",
    ]
    assert out[9] == "sample events:" and len(out[10:13]) == 3
    assert orjson.loads(out[10])["id"] == f"{c}:1"
    assert out[13:] == [f"rules that cannot fire on this input (1 of 2 in {pack}):",
                        "  tls: needs ja3: absent in 100% of events"]
    # The recommendation, applied, sets nothing aside; the default sets aside exactly the event it said.
    for lateness, late in (("15", 0), ("5", 1)):
        r = sleuth("run", str(pack), str(c), "--lateness", lateness, "-o", str(tmp_path / "m.jsonl"),
                   "--metrics", str(tmp_path / "met.json"))
        assert orjson.loads((tmp_path / "met.json").read_bytes())["quarantined"].get("late", 0) == late


def test_inspect_json(tmp_path: Path):
    pack = write(tmp_path / "two.ttp", TWO)
    c = traffic(tmp_path)
    r = sleuth("inspect", str(c), "--pack", str(pack), "--json", "--samples", "1")
    assert r.returncode == 0, r.stderr.decode()
    d = orjson.loads(r.stdout)
    assert d["events"] == 21 and d["first"] == "2024-05-01T12:00:00.000Z"
    assert d["disorder"]["events_out_of_order"] == 1 and d["disorder"]["largest_lateness_s"] == 12
    assert d["lateness"] == {"default_s": 5, "recommended_s": 15, "formats": ["jsonl"]}
    assert d["fields"]["user"] == 0.9524 and d["field_counts"]["user"] == 20
    assert len(d["samples"]) == 1
    assert d["blind_rules"] == [{"rule": "tls", "cannot_fire": True, "why": "needs ja3: absent in 100% of events"}]
    assert d["inputs"][0]["format"] == "jsonl" and d["warnings"] == []


def test_inspect_an_unknown_format_and_a_truncated_gzip_exit_1_with_why(tmp_path: Path):
    weird = write(tmp_path / "weird.log", b"<<<record 1>>>\n<<<record 2>>>\n")
    cut = write(tmp_path / "cut.log.gz", gzip.compress(b'{"ts": 1714564800, "id": "a"}\n' * 2000)[:18])
    r = sleuth("inspect", str(weird), str(cut), "--pack", str(write(tmp_path / "two.ttp", TWO)))
    assert r.returncode == 1, r.stderr.decode()
    out = r.stdout.decode().splitlines()
    assert out[:4] == [str(weird), "  format: unknown: the first line is none of the known formats", "  first line: <<<record 1>>>",
                       str(cut)]
    assert out[4].startswith("  format: unknown: unreadable (EOFError: ")
    assert f"warning: {weird}: unknown format (the first line is none of the known formats): pass --format" in out
    assert any(x.startswith(f"warning: {cut}: unreadable (EOFError: ") and x.endswith(": a corrupt or truncated start")
               for x in out)


def test_inspect_against_a_pack_that_does_not_exist_exits_3_before_reading(tmp_path: Path):
    c = traffic(tmp_path)
    r = sleuth("inspect", str(c), "--pack", str(tmp_path / "nope"))
    assert r.returncode == 3
    assert r.stdout == b""
    assert r.stderr.decode() == f"sleuth inspect: no such pack: {tmp_path / 'nope'}\n"


@pytest.mark.slow
def test_inspect_and_run_agree_on_the_real_log(tmp_path: Path):
    """The honeynet log (23 rotated Apache files): inspect and run see the same events and fields."""
    logs = sorted(str(p) for p in shared_data("honeynet2004").glob("access_log*"))
    ins = sleuth("inspect", *logs, "--json")
    assert ins.returncode == 0, ins.stderr.decode()
    d = orjson.loads(ins.stdout)
    assert d["events"] == 38_487 and d["disorder"]["events_out_of_order"] == 0
    assert d["lateness"] == {"default_s": 60, "recommended_s": 60, "formats": ["apache"]}
    r = sleuth("run", "builtin", *logs, "-o", str(tmp_path / "m.jsonl"), "--metrics", str(tmp_path / "met.json"))
    assert r.returncode in (0, 1), r.stderr.decode()
    met = orjson.loads((tmp_path / "met.json").read_bytes())
    assert met["events_processed"] == 38_487 and met["quarantined"] == {}
    assert met["coverage"]["events"] == 38_487
    assert met["coverage"]["fields"] == {p: d["fields"][p] for p in met["coverage"]["fields"]}
    assert sorted((b["rule"], b["why"]) for b in met["blind_rules"]) == sorted(
        (b["rule"], b["why"]) for b in d["blind_rules"])
    assert sum(b["cannot_fire"] for b in met["blind_rules"]) == 25
    ins_text = sleuth("inspect", *logs).stdout.decode()
    assert "ua 78.3%" in ins_text and "ua 78.3%" in r.stderr.decode()


# ---------------------------------------------------------------- sleuth run --report


def test_run_report_is_the_page_sleuth_report_writes_from_the_runs_files(tmp_path: Path):
    pack = write(tmp_path / "two.ttp", TWO)
    c = traffic(tmp_path)
    m, q = tmp_path / "m.jsonl", tmp_path / "q.jsonl"
    r = sleuth("run", str(pack), str(c), "-o", str(m), "--quarantine", str(q), "--report", str(tmp_path / "r1.html"))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.decode().splitlines()[-1].startswith(f"sleuth run: wrote the report {tmp_path / 'r1.html'} (")
    r = sleuth("report", str(m), "--events", str(c), "--quarantine", str(q), "--pack", str(pack),
               "-o", str(tmp_path / "r2.html"))
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "r1.html").read_bytes() == (tmp_path / "r2.html").read_bytes()


def test_run_report_with_matches_on_standard_output(tmp_path: Path):
    pack = write(tmp_path / "two.ttp", TWO)
    c = traffic(tmp_path)
    r = sleuth("run", str(pack), str(c), "--report", str(tmp_path / "r.html"), "-q")
    assert r.returncode == 0, r.stderr.decode()
    assert len(r.stdout.splitlines()) == 20          # the 12 s late event is set aside with the default lateness
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "(standard output)" in page and ".tmp" not in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "r.html", "two.ttp"]   # no copy left behind
