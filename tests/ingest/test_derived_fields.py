"""Derived fields: `role` and `operation` from the route, `client` and `actor` from the identities.

The normaliser adds them to events that lack them (a value the input carries
is kept), to a copy (the caller's dict is never changed), and only the ones
asked for: explicitly (`derive=`) or by the pack an engine runs (`want`).
"""

from __future__ import annotations

import pytest

from sleuth.dsl.pack import load_pack
from sleuth.engine import Engine
from sleuth.engine.ingest import Normalizer, OpenAPI
from sleuth.engine.ingest.identity import actor_of, client_of, ua_family

ALL = ("role", "operation", "client", "actor")
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "servers": [{"url": "https://api.example/v2"}],
    "paths": {
        "/sessions": {"post": {"operationId": "createSession", "summary": "Sign in with e-mail and password"}},
        "/baskets/{id}/complete": {"post": {"operationId": "completeBasket"}},
        "/me": {"patch": {"operationId": "updateMe", "summary": "Update my profile"}},
        "/catalog/items/{sku}": {"get": {}},
    },
}
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.mark.parametrize(("method", "path", "role", "operation"), [
    ("POST", "/v2/sessions", "login", "createSession"),
    ("POST", "/v2/baskets/77/complete", "checkout", "completeBasket"),
    ("PATCH", "/v2/me", "account-change", "updateMe"),
    ("GET", "/v2/catalog/items/SK1", "catalogue", None),     # no operationId: no operation
    ("GET", "/v2/sessions", None, None),                     # undocumented method
    ("GET", "/v2/admin/debug", None, None),                  # <unmatched>
])
def test_role_and_operation_from_the_document(method, path, role, operation):
    n = Normalizer(templater=OpenAPI(SPEC), derive=ALL)
    ev = n({"ts": 1.0, "id": "e", "method": method, "path": path})
    assert ev.get("role") == role and ev.get("operation") == operation


def test_the_document_role_table_is_built_once():
    api = OpenAPI(SPEC)
    assert api.role_table() is api.role_table()
    a = Normalizer(templater=api, derive=("role",))
    b = Normalizer(templater=api, derive=("role",))
    a({"ts": 1.0, "method": "POST", "path": "/v2/sessions"})
    b({"ts": 1.0, "method": "POST", "path": "/v2/sessions"})
    assert a._roles_lookup().__self__ is b._roles_lookup().__self__ is api.role_table().mapping


@pytest.mark.parametrize(("method", "route", "role"), [
    ("POST", "/rpc/Auth.Login", "login"),
    ("POST", "/api/v1/auth/login", "login"),
    ("DELETE", "/session", "logout"),
    ("GET", "/api/v1/products/{id}", "catalogue"),
    ("GET", "/wp-login.php.bak", None),
])
def test_role_without_a_document_from_the_route_words(method, route, role):
    ev = Normalizer(derive=ALL)({"ts": 1.0, "method": method, "route": route})
    assert ev.get("role") == role and "operation" not in ev


def test_a_profile_role_table_wins():
    from sleuth.engine.ingest.roles import RoleTable

    api = OpenAPI(SPEC)
    table = RoleTable([api], overrides={("PATCH", "/me"): "none"})
    ev = Normalizer(templater=api, roles=table, derive=ALL)({"ts": 1.0, "method": "PATCH", "path": "/v2/me"})
    assert "role" not in ev and ev["operation"] == "updateMe"


def test_values_the_input_carries_are_kept_and_the_callers_dict_is_not_changed():
    raw = {"ts": 1.0, "id": "e1", "method": "POST", "route": "/rpc/Auth.Login", "role": "cart",
           "client": "mine", "src_ip": "192.0.2.1", "ua": "curl/8.5.0"}
    before = dict(raw)
    ev = Normalizer(derive=ALL)(raw)
    assert raw == before
    assert ev["role"] == "cart" and ev["client"] == "mine"
    assert ev["actor"] == "a:192.0.2.1 mine"   # the carried client takes part in the actor
    # Nothing to derive: the fast path returns the caller's dict itself.
    full = {**raw, "operation": "x", "actor": "y"}
    n = Normalizer(derive=ALL)
    assert n(full) is full and n(full) is full


def test_the_fast_path_adds_derived_fields_to_a_copy():
    n = Normalizer(derive=("actor",))
    raw = {"ts": 1.0, "id": "e1", "src_ip": "192.0.2.1", "session": "s1"}
    for _ in range(3):   # learn the shape, then the compiled checker's path
        ev = n(raw)
        assert ev == {**raw, "actor": "s:s1"} and ev is not raw
        assert "actor" not in raw


def test_nothing_is_derived_unless_asked():
    raw = {"ts": 1.0, "id": "e1", "method": "POST", "route": "/login", "src_ip": "192.0.2.1", "ua": "curl/8.5.0"}
    assert Normalizer()(raw) is raw
    with pytest.raises(ValueError, match="not a derived field: src_ip"):
        Normalizer(derive=("src_ip",))


def test_an_engine_derives_what_its_pack_reads():
    pack = load_pack(sources={"r.ttp": '''rule r {
  meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = low  title = "t" }
  when role == "login"
  emit { who = actor }
}
'''})
    n = Normalizer()                                # automatic: the engine's pack decides
    eng = Engine(pack, normalizer=n)
    assert n.derive == frozenset({"role", "actor"})
    out = eng.feed({"ts": 1.0, "method": "POST", "route": "/api/v1/auth/login", "src_ip": "192.0.2.1",
                    "ua": "curl/8.5.0"})
    [m] = out + eng.close()
    assert m.fields == {"who": "a:192.0.2.1 ua:curl/8"}
    fixed = Normalizer(derive=("client",))          # explicit: kept as given
    Engine(pack, normalizer=fixed)
    assert fixed.derive == frozenset({"client"})
    # The engine's own default normaliser derives for its pack too.
    assert Engine(pack).normalizer.derive == frozenset({"role", "actor"})


@pytest.mark.parametrize(("ev", "client"), [
    ({"ja4": "t13d1516h2_8daaf6152771_e5627efa2ab1", "ja3": "abc", "ua": CHROME}, "tls:t13d1516h2_8daaf6152771_e5627efa2ab1"),
    ({"ja3": "abc", "ua": CHROME}, "tls:abc"),
    ({"ua": CHROME}, "ua:Chrome/131"),
    ({"ua": CHROME, "headers": {"accept-language": "de", "referer": "https://x/", "x-forwarded-for": "10.0.0.1"}},
     "ua:Chrome/131 +accept-language"),
    ({"ua": "okhttp/4.12.0", "headers": {"x-api-key-id": "k1", "accept-language": "en"}},
     "ua:okhttp/4 +accept-language,x-api-key-id"),
    ({"ua": "Hello, world"}, "raw:Hello, world"),
    ({"ua": "-"}, None),
    ({"ja3": "", "ua": ""}, None),
    ({}, None),
])
def test_client(ev, client):
    assert client_of(ev) == client


@pytest.mark.parametrize(("ua", "family"), [
    (CHROME, "Chrome/131"),
    (CHROME + " Edg/131.0.0.0", "Edge/131"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", "Safari/18"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox/133"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot/2"),
    ("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", "MSIE/5"),
    ("Mozilla/4.75 (Nikto/1.32 )", "Nikto/1"),
    ("python-requests/2.31.0", "python-requests/2"),
    ("Relay/24.11.2 (com.relay.app; build:24112; iOS 18.1.0) Alamofire/5.9.1", "Relay/24"),
    ("Hello, world", None),
    ("Mozilla/5.0", None),
    ("x" * 2000, None),
])
def test_user_agent_family(ua, family):
    assert ua_family(ua) == family


@pytest.mark.parametrize(("ev", "actor"), [
    ({"session": "s1", "user": "alice", "src_ip": "192.0.2.1"}, "s:s1"),
    ({"user": "alice", "src_ip": "192.0.2.1"}, "u:alice"),
    ({"src_ip": "192.0.2.1", "ua": "curl/8.5.0"}, "a:192.0.2.1 ua:curl/8"),
    ({"src_ip": "192.0.2.1"}, "a:192.0.2.1"),
    ({"ua": "curl/8.5.0"}, None),
])
def test_actor(ev, actor):
    assert actor_of(ev, client_of(ev)) == actor


def test_an_ecs_client_object_gives_way_to_the_derived_client():
    n = Normalizer(derive=ALL)
    ev = n({"@timestamp": "2024-05-01T12:00:00Z", "client": {"ip": "203.0.113.7", "port": 5000},
            "user_agent": {"original": "curl/8.5.0"}})
    assert ev["src_ip"] == "203.0.113.7" and ev["client"] == "ua:curl/8"
    assert ev["actor"] == "a:203.0.113.7 ua:curl/8" and "_invalid" not in ev
