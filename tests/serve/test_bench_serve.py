"""`sleuth bench --serve` runs (small sizes; its figures are in docs/performance.md, not asserted)."""

from __future__ import annotations

import pytest

from sleuth.playground.serve import bench


def test_plan_is_deterministic_and_mixed():
    a, b = bench.plan(2000), bench.plan(2000)
    assert a == b
    attackers = [r for r in a if r[0].startswith("192.0.2.")]
    assert 60 <= len(attackers) <= 140 and all(r[1:3] == ("POST", "/api/login") for r in attackers)


def test_in_process_case_blocks_the_stuffers():
    # 5% of 4,000 requests from 20 stuffing addresses: about ten logins each, login_burst fires.
    res = bench.bench_in_process(requests=4000, rate=20000.0, closed=300)
    assert res["requests"] == 4000 and sum(res["statuses"].values()) == 4000
    assert res["statuses"].get("403", 0) > 0 and res["decisions"] >= 1
    assert set(res["added_ms"]) == {"p50", "p90", "p99", "p999", "max", "mean"}
    assert res["decisions_per_s"] > 0


def test_percentiles():
    assert bench.percentiles([0.001 * i for i in range(1, 1001)]) == {
        "p50": 501.0, "p90": 901.0, "p99": 991.0, "p999": 1000.0, "max": 1000.0, "mean": 500.5}
    assert bench.percentiles([]) == {}


def test_render_without_nginx():
    pytest.importorskip("uvicorn", reason="the serve extra")
    res = {"python": "3", "cpus": 2, "machine": "x", "in_process": bench.bench_in_process(200, 5000.0, 100),
           "auth_request": {"skipped": "nginx is not installed"}}
    text = bench.render_serve(res)
    assert "in process (ASGI middleware), 200 requests" in text
    assert "nginx auth_request: skipped (nginx is not installed)" in text
