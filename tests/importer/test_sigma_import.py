"""`sleuth import sigma`: the specification's examples as cases, every translated rule run.

`sigma_cases.toml` holds Sigma YAML (detection rules, modifiers, condition
expressions, the 2.x correlation rules) with events and the matches Sigma's
semantics give, worked out by hand. Each case is translated and its rules run
through the engine; the differences the case names must be stated. pySigma
(the optional extra `import`) reads the YAML: without it these tests skip.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.playground.importer import ImportOptions, render, verify
from sleuth.playground.importer.sigma import pysigma_available

pytestmark = pytest.mark.skipif(not pysigma_available(),
                                reason="pySigma is not installed (pip install 'sleuth[import]')")

CASES = tomllib.loads((Path(__file__).parent / "sigma_cases.toml").read_text(encoding="utf-8"))["case"]


def _import(yaml: str, **options):
    from sleuth.playground.importer.sigma import import_sigma

    return import_sigma({"case.yml": yaml}, ImportOptions(**options))


def _run(text: str, events: list[dict]) -> list[dict]:
    pack = load_pack(sources={"imported.ttp": text})
    eng = Engine(pack)
    out = []
    for ev in sorted(events, key=lambda e: e["ts"]):
        out += eng.feed(dict(ev))
    out += eng.close()
    assert not eng.quarantine.counts, eng.quarantine.counts
    got = []
    for m in out:
        prov = m.provenance
        if prov["kind"] in ("sequence", "join"):
            ids = [e["id"] for s in prov["steps"] for e in s["events"]]
        else:
            ids = [e["id"] for e in prov["events"]]
        got.append({"rule": m.rule, "ids": ids})
    return got


@pytest.mark.parametrize("case", CASES, ids=[c["title"] for c in CASES])
def test_sigma_case(case: dict) -> None:
    result = _import(case["yaml"])
    assert not result.errors, [(d.code, d.message) for d in result.errors]
    text = render(result, "sigma case")
    assert verify(text) == []
    stated = {d.code for d in result.diagnostics}
    for code in case.get("warnings", []):
        assert code in stated, f"difference '{code}' not stated"
    assert _run(text, case["events"]) == case["expect"], text


def test_keyword_search_is_an_error_with_its_place() -> None:
    result = _import("""title: Keywords
name: kw
logsource: {category: webserver}
detection:
  keywords:
    - 'union select'
  condition: keywords
""")
    (err,) = result.errors
    assert (err.code, err.span.line) == ("sigma-keyword", 1)
    assert result.rules == []


def test_unmapped_field_with_a_dash_is_an_error_with_a_hint() -> None:
    result = _import("""title: Query
name: q
logsource: {category: webserver}
detection:
  s:
    cs-uri-query|contains: select
  condition: s
""")
    (err,) = result.errors
    assert err.code == "sigma-field" and err.span.line == 6
    assert "--map 'cs-uri-query=<field>'" in err.hints[0]


def test_field_mapping_from_options() -> None:
    result = _import("""title: Query
name: q
logsource: {category: webserver}
detection:
  s:
    cs-uri-query|contains: select
  condition: s
""", fields={"cs-uri-query": "headers.x-query"})
    assert not result.errors
    text = render(result, "t")
    assert 'lower(headers.x-query) ~ "*select*"' in text


def test_non_web_logsource_is_stated() -> None:
    result = _import("""title: Win
name: win
logsource: {product: windows, service: security}
detection:
  s: {EventID: 4625}
  condition: s
""")
    assert [d.code for d in result.diagnostics] == ["sigma-logsource"]
    assert "warning[sigma-logsource]" in render(result, "t")


def test_unknown_reference_is_an_error() -> None:
    result = _import("""title: Count
name: c
correlation:
  type: event_count
  rules: [nowhere]
  group-by: [c-ip]
  timespan: 1m
  condition: {gte: 2}
""")
    assert [d.code for d in result.errors] == ["sigma-reference"]


def test_windash_expands_to_alternatives() -> None:
    result = _import("""title: Dash
name: dash
logsource: {category: webserver}
detection:
  s:
    cs-uri-stem|windash|contains: -debug
  condition: s
""")
    assert not result.errors
    text = render(result, "t")
    events = [{"id": "e1", "ts": 0, "path": "/x/nodebug"}, {"id": "e2", "ts": 1, "path": "/x?-debug"},
              {"id": "e3", "ts": 2, "path": "/x?/debug"}]
    assert [m["ids"] for m in _run(text, events)] == [["e2"], ["e3"]]
