"""What a rule needs from its input (dsl/needs.py), and the rules an input leaves blind.

Each case is one rule condition and the fields or route templates without
which it cannot match; `blind_rules` turns needs and a run's field counts
into the lines of the run summary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sleuth.dsl.needs import Needs, blind_rules, pack_needs
from sleuth.dsl.pack import check_paths

META = 'meta { ttp = "scraping" goal = "scraping" severity = low title = "t" }'

CASES = {
    "exists": ("exists(ja3)", ("ja3",), ()),
    "and-needs-either-side": ('ja3 == "x" and status >= 400', ("ja3", "status"), ()),
    "or-needs-what-both-need": ('(ja3 == "x" and status >= 400) or (ua == "y" and status == 404)', ("status",), ()),
    "not-needs-nothing": ('not (ja3 == "x")', (), ()),
    "in-a-set": ('method in ["POST", "PUT"]', ("method",), ()),
    "route-template-with-a-named-parameter": ('route == "/api/v1/orders/{order_id}"', ("route",),
                                              (("/api/v1/orders/{order_id}",),)),
    "route-template-the-heuristic-writes": ('route == "/api/v1/orders/{id}"', ("route",), ()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rule_needs(tmp_path: Path, case):
    cond, fields, templates = CASES[case]
    p = tmp_path / "r.ttp"
    p.write_text(f"rule r {{ {META} when {cond} }}\n", encoding="utf-8")
    checked = check_paths([str(p)])
    assert not checked.errors, checked.errors
    (n,) = pack_needs(checked.rules)
    assert (n.rule, n.fields, n.templates) == ("r", fields, templates)


NEEDS = [
    Needs("tls", "events", ("ja3",)),
    Needs("ip", "events", ("src_ip",)),
    Needs("otp", "events", ("route",), (("/t/{transfer_id}/confirm",),)),
    Needs("walk", "events", ("route",), template_routes=("/p/{product_id}",)),
    Needs("kill_chain", "matches", consumes=("tls", "ip")),
    Needs("all_tls", "matches", consumes=("tls",)),
]


def test_blind_rules_without_openapi():
    got = [(b.rule, b.cannot, b.why) for b in blind_rules(NEEDS, 10, {"src_ip": 10, "route": 10}, openapi=False)]
    assert got == [
        ("tls", True, "needs ja3: absent in 100% of events"),
        ("otp", True, "needs route templates (/t/{transfer_id}/confirm): pass --openapi or set it in the profile"),
        ("walk", False, "may miss events: compares route with templates only an OpenAPI document gives "
                        "(/p/{product_id}): pass --openapi or set it in the profile"),
        ("kill_chain", False, "may miss events: reads matches of tls, which cannot see all of this input"),
        ("all_tls", True, "needs matches of tls, which cannot fire on this input"),
    ]


def test_blind_rules_with_openapi_or_routes_in_the_input_and_before_any_event():
    with_spec = [(b.rule, b.cannot) for b in blind_rules(NEEDS, 10, {"src_ip": 10, "route": 10, "ja3": 1},
                                                         openapi=True)]
    assert with_spec == []
    own_routes = [b.rule for b in blind_rules(NEEDS, 10, {"src_ip": 10, "route": 10}, openapi=False,
                                              route_in_input=10)]
    assert own_routes == ["tls", "kill_chain", "all_tls"]
    assert blind_rules(NEEDS, 0, {}, openapi=False) == []
