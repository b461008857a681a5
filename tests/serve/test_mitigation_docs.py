"""docs/mitigation.md says what runs: its nginx configuration is valid for nginx, its Envoy
configuration is valid for the Envoy v3 API (structure), its examples parse and match real output.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess

import pytest
import serve_helpers as H
import yaml

from sleuth.dsl import load_pack
from sleuth.engine.policy import Enforcer, PolicyError, policy_from_toml

TEXT = H.DOC.read_text(encoding="utf-8")


def block_after(heading_text: str, lang: str) -> str:
    i = TEXT.index(heading_text)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(TEXT, i)
    return m.group(1)


# ---------------------------------------------------------------- nginx


def test_nginx_config_is_the_one_the_test_runs():
    conf = H.nginx_config(18080, 18787, 18000)
    assert "listen 127.0.0.1:18080;" in conf and "server 127.0.0.1:18787;" in conf
    for directive in ("auth_request /_sleuth;", "proxy_pass http://sleuth/auth;", "error_page 401 = @sleuth_challenge;",
                      "proxy_set_header X-Original-URI $request_uri;", "proxy_set_header X-Request-ID $request_id;",
                      "error_page 500 502 503 504 = @sleuth_unavailable;", "return 429"):
        assert directive in conf, directive


def test_nginx_accepts_the_config(tmp_path):
    binary = H.nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light; .ci/run installs it)")
    conf = H.nginx_main_config(tmp_path, H.nginx_config(H.free_port(), 18787, 18000))
    out = subprocess.run(H.nginx_cmd(binary, conf, tmp_path, "-t"), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "syntax is ok" in out.stderr


# ---------------------------------------------------------------- Envoy

ENVOY = yaml.safe_load(H.doc_block("validated-envoy-config", "yaml"))


def _ext_authz(cfg: dict) -> tuple[dict, dict]:
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    filters = hcm["http_filters"]
    (authz,) = [f["typed_config"] for f in filters if f["name"] == "envoy.filters.http.ext_authz"]
    return hcm, authz


def test_envoy_config_points_at_sleuth_as_serve_expects():
    hcm, authz = _ext_authz(ENVOY)
    assert hcm["@type"].endswith("http_connection_manager.v3.HttpConnectionManager")
    assert hcm["use_remote_address"] is True                     # Envoy appends the client to XFF
    assert [f["name"] for f in hcm["http_filters"]][-1] == "envoy.filters.http.router"
    assert authz["@type"] == "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
    assert authz["failure_mode_allow"] is True
    svc = authz["http_service"]
    assert svc["path_prefix"] == "/ext_authz"                    # sleuth serve --envoy-prefix default
    clusters = {c["name"]: c for c in ENVOY["static_resources"]["clusters"]}
    sleuth = clusters[svc["server_uri"]["cluster"]]
    addr = sleuth["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (addr["address"], addr["port_value"]) == ("127.0.0.1", 8787)     # sleuth serve's default port
    assert svc["server_uri"]["uri"] == "http://127.0.0.1:8787"
    forwarded = {p["exact"] for p in authz["allowed_headers"]["patterns"]}
    assert {"user-agent", "cookie", "x-forwarded-for", "x-envoy-external-address", "x-request-id"} <= forwarded
    up = authz["http_service"]["authorization_response"]
    assert up["allowed_upstream_headers"]["patterns"] == [{"prefix": "x-sleuth-"}]
    assert {"exact": "retry-after"} in up["allowed_client_headers"]["patterns"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")     # the generated types' pydantic validators
def test_envoy_config_against_the_v3_api():
    pytest.importorskip("envoy_data_plane", reason="envoy-data-plane (the Envoy v3 API as Python types) is not "
                                                    "installed; .ci/run installs it")
    import envoy_data_plane.envoy.extensions.filters.http.ext_authz.v3  # noqa: F401  (registers the @types)
    import envoy_data_plane.envoy.extensions.filters.http.router.v3  # noqa: F401
    import envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3  # noqa: F401
    from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap

    boot = Bootstrap.from_dict(ENVOY)          # unknown fields raise, typed configs are packed by their @type
    assert [c.name for c in boot.static_resources.clusters] == ["sleuth", "app"]
    bad = json.loads(json.dumps(ENVOY).replace('"path_prefix"', '"path_prefx"'))
    with pytest.raises(KeyError, match="path_prefx"):
        Bootstrap.from_dict(bad)


# ---------------------------------------------------------------- policy and decisions


def test_policy_example_parses():
    pol = policy_from_toml(block_after("## The policy of actions", "toml"), "policy.toml")
    assert [r.name for r in pol.rules] == ["stuffers", "scrapers", "odd-sessions", "watch"]
    assert [a.name for a in pol.allow] == ["partners", "monitors", "crawlers"]
    assert pol.warnings == ()


def test_diagnostic_example_is_real():
    shown = block_after("Diagnostics are data", "").strip()
    with pytest.raises(PolicyError) as exc:
        policy_from_toml('[[rules]]\nttp = "scraping"\naction = "blok"\n', "policy.toml")
    assert str(exc.value) == shown


def test_decision_example_has_the_fields_of_a_real_decision():
    shown = json.loads(block_after("Every match gets a decision record", "json"))
    from sleuth.engine import Match

    m = Match("login_burst", "credential-stuffing", "account-takeover", "high", "t", {"src_ip": "203.0.113.7"},
              0.0, 1.0, 1.0, {}, {}, "fp", "83ce1a98348dde6c")
    rec = Enforcer(policy_from_toml('[[rules]]\nname = "block-stuffers"\naction = "block"\nkey = "address"\n'
                                    'duration = "10m"\n')).decide(m)
    assert sorted(shown) == sorted(rec)
    assert {k: rec[k] for k in ("action", "duration", "policy_rule", "key", "channel")} == {
        k: shown[k] for k in ("action", "duration", "policy_rule", "key", "channel")}


def test_rule_over_decisions_example_compiles():
    rule = block_after("### Rules over decisions", "ttp")
    pack = load_pack(sources={"doc.ttp": H.PACK + "\n" + rule})
    spec = {r.name: r for r in pack.rules}["repeat_offender"]
    assert spec.consumes == ("@decision",)


def test_fastapi_example_names_exist():
    code = block_after("## FastAPI and Starlette", "python")
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.startswith("sleuth"):
            mod = __import__(node.module, fromlist=[a.name for a in node.names])
            for a in node.names:
                assert hasattr(mod, a.name), f"{node.module}.{a.name}"


def test_documented_metrics_exist():
    pytest.importorskip("prometheus_client", reason="metrics need the 'serve' extra (prometheus-client)")
    from sleuth.playground.serve.guard import Guard
    from sleuth.playground.serve.metrics import Metrics
    from sleuth.playground.serve.output import Writer

    writer = Writer({"matches": None, "decisions": None, "quarantine": None})
    guard = Guard(load_pack(sources={"p.ttp": H.PACK}), policy_from_toml(H.POLICY), writer=writer)
    list(guard.ingest(b'{"ts": 1, "path": "/"}\nnot json\n'))
    metrics = Metrics()
    for name in ("auth", "ext_authz"):
        metrics.latency.labels(name)
    metrics.answers.labels("allow")
    metrics.failures.labels("timeout", "open")
    text = metrics.render(guard.stats())
    writer.close()
    section = TEXT[TEXT.index("### Metrics"):TEXT.index("## nginx")]
    documented = set(re.findall(r"`(sleuth_[a-z_]+)", section))
    exposed = set(re.findall(r"^(sleuth_[a-z_]+?)(?:_bucket|_count|_sum|_created)?[{ ]", text.decode(), re.M))
    assert documented and documented <= exposed, documented - exposed


def test_bench_runs_the_documented_nginx_config():
    from sleuth.playground.serve import bench

    assert bench.NGINX_SITE == H.doc_block("tested-nginx-config", "nginx")
