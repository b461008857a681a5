"""Real matches of every kind validate against docs/match.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "match.schema.json").read_text())

RULES = '''
macro login = method == "POST" and route == "/api/v1/login"
rule one {
  meta { ttp = "spec-anomaly" goal = "scraping" severity = low title = "shadow" }
  by src_ip
  when route == "<unmatched>"
}
rule seq {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = high title = "takeover" }
  by user within 30m
  sequence {
    fails: login and status == 401 repeat >= 2
    ok: login and status == 200
  }
  unless reset: route == "/api/v1/logout" after ok within 1m
}
rule win {
  meta { ttp = "credential-stuffing" goal = "account-takeover" severity = high title = "stuffing" }
  by src_ip
  window 10m
  where login
  having distinct(user) >= 3
  emit { users = sample(user, 2) }
}
rule tum {
  meta { ttp = "sustained-volume" goal = "disruption" severity = medium title = "volume" }
  by route
  window 1m tumbling
  having count() >= 2
}
'''


def _events():
    evs = [{"ts": 100 + i, "method": "POST", "route": "/api/v1/login", "status": 401, "user": f"u{i}",
            "src_ip": "203.0.113.7"} for i in range(3)]
    evs += [{"ts": 110, "method": "POST", "route": "/api/v1/login", "status": 401, "user": "u0", "src_ip": "1.1.1.1"},
            {"ts": 111, "method": "POST", "route": "/api/v1/login", "status": 200, "user": "u0", "src_ip": "1.1.1.1"},
            {"ts": 120, "route": "<unmatched>", "src_ip": "198.51.100.1"}]
    return evs


def test_every_kind_validates():
    pack = load_pack(sources={"s.ttp": RULES})
    eng = Engine(pack)
    out = eng.feed_many(_events()) + eng.close()
    kinds = {m.provenance["kind"] for m in out}
    assert kinds == {"event", "sequence", "window"}
    assert {m.rule for m in out} == {"one", "seq", "win", "tum"}
    for m in out:
        jsonschema.validate(json.loads(m.to_json()), SCHEMA)
