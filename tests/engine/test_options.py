"""One way to build an engine (engine/options.py): `Engine(pack, ...)` equals `sleuth run`; restore keeps the options.

Reproductions of what embedding got wrong: no route templater by default (0
matches embedded where `sleuth run` found 3), and a restored engine that lost
its custom normaliser or field mapping (every later event quarantined as
`no-time`). Then the refusals: conflicting options, a changed OpenAPI document,
custom collaborators not given again, unknown arguments, bad values.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine, EngineError, SnapshotError
from sleuth.engine.ingest.normalize import Normalizer

RULES = '''macro bad = status >= 400
rule order_probe {
  meta { ttp = "enumeration"  goal = "scraping"  severity = low  title = "orders of another user" }
  by src_ip
  when method == "GET" and route == "/api/v1/users/{id}/orders" and bad
}
rule profile_probe {
  meta { ttp = "enumeration"  goal = "scraping"  severity = low  title = "profiles probed" }
  by src_ip
  when method == "GET" and route == "/api/v1/users/{id}" and bad
}
rule order_read {
  meta { ttp = "enumeration"  goal = "scraping"  severity = low  title = "an order read" }
  by src_ip
  when method == "GET" and route == "/api/v1/orders/{id}"
}
'''
PATHS = ["/api/v1/users/101/orders", "/api/v1/users/102", "/api/v1/orders/8f14e45f-ceea-467f-a0e6-0a2b3c4d5e6f"]
SPEC = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {
    "/api/v1/users/{user}/orders": {"get": {"operationId": "listOrders"}},
    "/api/v1/users/{user}": {"get": {"operationId": "getUser"}},
    "/api/v1/orders/{order}": {"get": {"operationId": "getOrder"}}}}


def events(n: int = 3, start: int = 0) -> list[dict]:
    return [{"ts": f"2026-01-01T00:{(start + i) // 60:02d}:{(start + i) % 60:02d}Z", "id": f"e{start + i}",
             "method": "GET", "path": PATHS[i % 3], "status": 403, "src_ip": "203.0.113.7"} for i in range(n)]


def run_all(engine: Engine, evs: list[dict]) -> list:
    out = [m for ev in evs for m in engine.feed(ev)]
    return out + engine.close()


@pytest.fixture(scope="module")
def pack():
    return load_pack(sources={"probe.ttp": RULES})


def test_the_default_engine_templates_routes_as_sleuth_run(pack, tmp_path):
    (tmp_path / "probe.ttp").write_text(RULES)
    (tmp_path / "ev.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events()))
    cli = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "run", "probe.ttp", "ev.jsonl", "-q",
                          "--no-profile"], cwd=tmp_path, capture_output=True, check=True).stdout
    embedded = run_all(Engine(pack), events())
    assert sorted(m.rule for m in embedded) == ["order_probe", "order_read", "profile_probe"]
    assert [json.loads(x)["rule"] for x in cli.splitlines()] == [m.rule for m in embedded]
    assert run_all(Engine(pack, templating=False), events()) == []       # --no-templating: raw paths only


def test_openapi_routes_and_a_chain_of_documents(pack, tmp_path):
    spec = tmp_path / "api.json"
    spec.write_text(json.dumps(SPEC))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"openapi": "3.0.0", "info": {"title": "o", "version": "1"},
                                 "paths": {"/health": {"get": {}}}}))
    # routes come from the document as it writes them: the pack's {id} routes match none of them
    assert run_all(Engine(pack, openapi=str(spec)), events()) == []
    eng = Engine(pack, openapi=[str(other), str(spec)])                  # the first document that knows a path
    assert eng.normalizer.templater.route("GET", "/api/v1/users/7")[0] == "/api/v1/users/{user}"
    with pytest.raises(EngineError, match="cannot load the OpenAPI document"):
        Engine(pack, openapi=str(tmp_path / "missing.json"))


def test_restore_keeps_a_custom_normaliser_and_refuses_to_drop_it(pack):
    mine = Normalizer({"ts": "when", "src_ip": "client.ip"}, templater=Engine(pack).normalizer.templater)

    def site(evs):
        return [{"when": e["ts"], "client": {"ip": e["src_ip"]}, **{k: e[k] for k in ("id", "method", "path",
                                                                                      "status")}} for e in evs]

    first = Engine(pack, normalizer=mine)
    out = [m for ev in site(events(30)) for m in first.feed(ev)]
    blob = first.snapshot()
    with pytest.raises(SnapshotError, match="taken with a custom normaliser; pass it again"):
        Engine.restore(pack, blob)
    resumed = Engine.restore(pack, blob, normalizer=mine)
    out += [m for ev in site(events(30, start=30)) for m in resumed.feed(ev)] + resumed.close()
    assert resumed.quarantine.total == 0
    whole = Engine(pack, normalizer=mine)
    assert [m.to_json() for m in out] == [m.to_json() for m in run_all(whole, site(events(60)))]
    assert len(out) == 60


def test_restore_keeps_the_field_mapping_without_being_told(pack):
    evs = [{"when": e["ts"], **{k: v for k, v in e.items() if k != "ts"}} for e in events(20)]
    first = Engine(pack, mapping={"ts": "when"})
    out = [m for ev in evs[:10] for m in first.feed(ev)]
    resumed = Engine.restore(pack, first.snapshot())
    out += [m for ev in evs[10:] for m in resumed.feed(ev)] + resumed.close()
    assert resumed.quarantine.total == 0 and len(out) == 20
    assert resumed.options()["mapping"] == {"ts": "when"}


def test_restore_refuses_conflicting_options_and_accepts_equal_ones(pack):
    blob = Engine(pack, lateness=5, mapping={"ts": "when"}).snapshot()
    with pytest.raises(SnapshotError, match=r"taken with lateness=5\.0; restoring with lateness=60\.0"):
        Engine.restore(pack, blob, lateness=60)
    with pytest.raises(SnapshotError, match=r"taken with templating=True; restoring with templating=False"):
        Engine.restore(pack, blob, templating=False)
    with pytest.raises(SnapshotError, match="taken with mapping="):
        Engine.restore(pack, blob, mapping={"ts": "time"})
    with pytest.raises(SnapshotError, match="unknown restore argument.*: latenes"):
        Engine.restore(pack, blob, latenes=5)
    same = Engine.restore(pack, blob, lateness=5.0, mapping={"ts": "when"}, templating=True)
    assert same.lateness == 5.0 and same.options()["mapping"] == {"ts": "when"}


def test_restore_refuses_a_changed_document_and_custom_enrichers_not_given(pack, tmp_path):
    spec = tmp_path / "api.json"
    spec.write_text(json.dumps(SPEC))
    blob = Engine(pack, openapi=str(spec)).snapshot()
    assert Engine.restore(pack, blob).options()["openapi"] == [str(spec)]
    spec.write_text(json.dumps({**SPEC, "paths": {}}))
    with pytest.raises(SnapshotError, match=f"the OpenAPI document {spec} changed"):
        Engine.restore(pack, blob)

    def tag(ev):
        ev["tag"] = "x"

    blob = Engine(pack, enrich=[tag]).snapshot()
    with pytest.raises(SnapshotError, match="custom enrichers; pass them again"):
        Engine.restore(pack, blob)
    assert Engine.restore(pack, blob, enrich=[tag]).options()["enrich"] == "custom"


@pytest.mark.parametrize("kwargs, message", [
    ({"lateness": "5s"}, "lateness must be a number of seconds"),
    ({"max_keys": 1.5}, "max_keys must be an integer"),
    ({"mapping": ["ts"]}, "mapping must be a mapping"),
    ({"roles": "login"}, "roles must map"),
    ({"mapping": {"ts": "when"}, "normalizer": Normalizer({})}, "give either a custom normalizer or"),
    ({"lateness": -1}, "lateness and grace must be >= 0"),
], ids=["lateness", "max_keys", "mapping", "roles", "normalizer-and-mapping", "negative"])
def test_bad_options_raise_engine_error(pack, kwargs, message):
    with pytest.raises(EngineError, match=message):
        Engine(pack, **kwargs)


def test_engine_needs_a_compiled_pack():
    with pytest.raises(EngineError, match="Engine needs a compiled pack"):
        Engine(Path("rulepacks/api"))          # type: ignore[arg-type]
