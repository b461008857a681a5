"""OpenAPI routing and conformance, and the heuristic templater."""

from __future__ import annotations

import json
import pathlib

import pytest

from sleuth.engine.ingest import UNMATCHED, HeuristicTemplater, Normalizer, OpenAPI

SPEC = pathlib.Path(__file__).resolve().parent / "data" / "shop.yaml"


@pytest.fixture(scope="module")
def api():
    return OpenAPI.load(SPEC)


def ok(operation, unknown=(), invalid=()):
    return {"documented": True, "operation": operation, "method_allowed": True,
            "unknown_params": list(unknown), "invalid_params": list(invalid)}


NOT_ALLOWED = {"documented": False, "method_allowed": False, "unknown_params": [], "invalid_params": []}
UNDOCUMENTED = {"documented": False, "method_allowed": False, "unknown_params": [], "invalid_params": []}

CASES = [
    ("literal", "POST", "/api/v1/login", None, "/api/v1/login", ok("login")),
    ("literal-beats-template", "GET", "/api/v1/users/me", None, "/api/v1/users/me", ok("getMe")),
    ("template", "GET", "/api/v1/users/42", None, "/api/v1/users/{id}", ok("getUser")),
    ("path-param-ref-type-violation", "GET", "/api/v1/users/abc", None, "/api/v1/users/{id}",
     ok("getUser", invalid=["id"])),
    ("path-param-minimum", "DELETE", "/api/v1/users/0", None, "/api/v1/users/{id}",
     ok("deleteUser", invalid=["id"])),
    ("percent-encoded-segment", "GET", "/api/v1/users/%34%32", None, "/api/v1/users/{id}", ok("getUser")),
    ("trailing-slash", "GET", "/api/v1/orders/", None, "/api/v1/orders", ok("listOrders")),
    ("method-not-allowed", "PUT", "/api/v1/users/42", None, "/api/v1/users/{id}",
     dict(NOT_ALLOWED, operation="PUT /api/v1/users/{id}")),
    ("lower-case-method", "get", "/api/v1/users/me", None, "/api/v1/users/me",
     dict(NOT_ALLOWED, operation="get /api/v1/users/me")),
    ("head-follows-get", "HEAD", "/api/v1/users/me", None, "/api/v1/users/me", ok("getMe")),
    ("unknown-operation", "GET", "/api/v1/admin/export", None, UNMATCHED, UNDOCUMENTED),
    ("outside-base-path", "POST", "/login", None, UNMATCHED, UNDOCUMENTED),
    ("relative-path", "GET", "api/v1/login", None, UNMATCHED, UNDOCUMENTED),
    ("empty-segment", "GET", "/api/v1//users/1", None, UNMATCHED, UNDOCUMENTED),
    ("unknown-param", "GET", "/api/v1/orders", {"page": "2", "debug": "1", "admin": "true"},
     "/api/v1/orders", ok("listOrders", unknown=["admin", "debug"])),
    ("query-string-form", "GET", "/api/v1/orders", "page=2&x=1", "/api/v1/orders",
     ok("listOrders", unknown=["x"])),
    ("deep-object-param", "GET", "/api/v1/orders", {"filter[status]": "open"}, "/api/v1/orders",
     ok("listOrders")),
    ("type-violation", "GET", "/api/v1/orders", {"page": "two"}, "/api/v1/orders",
     ok("listOrders", invalid=["page"])),
    ("minimum", "GET", "/api/v1/orders", {"page": "0"}, "/api/v1/orders", ok("listOrders", invalid=["page"])),
    ("maximum", "GET", "/api/v1/orders", {"page": 1001}, "/api/v1/orders", ok("listOrders", invalid=["page"])),
    ("int32-range", "GET", "/api/v1/orders", {"size": "99999999999"}, "/api/v1/orders",
     ok("listOrders", invalid=["size"])),
    ("enum", "GET", "/api/v1/orders", {"sort": "random"}, "/api/v1/orders", ok("listOrders", invalid=["sort"])),
    ("enum-via-ref", "GET", "/api/v1/orders", {"status": "lost"}, "/api/v1/orders",
     ok("listOrders", invalid=["status"])),
    ("format-date", "GET", "/api/v1/orders", {"since": "2024-02-30"}, "/api/v1/orders",
     ok("listOrders", invalid=["since"])),
    ("array-max-items", "GET", "/api/v1/orders", {"ids": "1,2,3,4"}, "/api/v1/orders",
     ok("listOrders", invalid=["ids"])),
    ("array-item-type", "GET", "/api/v1/orders", {"ids": "1,x"}, "/api/v1/orders",
     ok("listOrders", invalid=["ids"])),
    ("repeated-scalar", "GET", "/api/v1/orders", {"page": ["1", "x"]}, "/api/v1/orders",
     ok("listOrders", invalid=["page"])),
    ("all-valid", "GET", "/api/v1/orders",
     {"page": "3", "size": "20", "sort": "asc", "since": "2024-02-29", "status": "open", "ids": "1,2"},
     "/api/v1/orders", ok("listOrders")),
    ("uuid-path", "GET", "/api/v1/orders/6f1c2a40-1111-2222-3333-444455556666", None,
     "/api/v1/orders/{orderId}", ok("getOrder")),
    ("uuid-path-invalid", "GET", "/api/v1/orders/12", None, "/api/v1/orders/{orderId}",
     ok("getOrder", invalid=["orderId"])),
    ("no-operation-id", "POST", "/api/v1/coupons/ABCD1234/redeem", None, "/api/v1/coupons/{code}/redeem",
     ok("POST /api/v1/coupons/{code}/redeem")),
    ("pattern", "POST", "/api/v1/coupons/abcd1234/redeem", None, "/api/v1/coupons/{code}/redeem",
     ok("POST /api/v1/coupons/{code}/redeem", invalid=["code"])),
    ("partial-segment-template", "GET", "/api/v1/files/report.pdf", None, "/api/v1/files/{name}.{ext}",
     ok("getFile")),
    ("partial-segment-enum", "GET", "/api/v1/files/report.exe", None, "/api/v1/files/{name}.{ext}",
     ok("getFile", invalid=["ext"])),
    ("unresolvable-refs-ignored", "GET", "/api/v1/broken", {"q": "x", "rx": "y"}, "/api/v1/broken",
     ok("broken")),
    ("hostile-path", "GET", "/api/v1/users/" + "\x00" * 5000, None, "/api/v1/users/{id}",
     ok("getUser", invalid=["id"])),
    ("non-str-path", "GET", None, None, UNMATCHED, UNDOCUMENTED),
    ("non-str-method", None, "/api/v1/users/me", None, "/api/v1/users/me",
     dict(NOT_ALLOWED, operation=" /api/v1/users/me")),
]


@pytest.mark.parametrize("method, path, query, route, spec", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_route(api, method, path, query, route, spec):
    assert api.route(method, path, query) == (route, spec)


def test_templates_and_operations(api):
    assert api.templates == ["/login", "/users/me", "/users/{id}", "/orders", "/orders/{orderId}",
                             "/coupons/{code}/redeem", "/files/{name}.{ext}", "/broken"]
    assert api.operations == 9
    assert api.match("/api/v1/users/7") == ("/api/v1/users/{id}", {"id": "7"})
    assert api.match("/nope") is None


def test_json_document_and_dict(tmp_path):
    doc = {"openapi": "3.1.0", "paths": {"/a/{x}": {"get": {"parameters": [
        {"name": "x", "in": "path", "schema": {"type": ["integer", "null"], "exclusiveMinimum": 5}}]}}}}
    p = tmp_path / "spec.json"
    p.write_text(json.dumps(doc))
    for api in (OpenAPI.load(p), OpenAPI.load(doc)):
        assert api.route("GET", "/a/6", None)[1]["invalid_params"] == []
        assert api.route("GET", "/a/5", None)[1]["invalid_params"] == ["x"]
        assert api.route("GET", "/a/6", None)[0] == "/a/{x}"  # no servers: no base path


def test_swagger2_base_path():
    doc = {"swagger": "2.0", "basePath": "/v2", "paths": {"/pets/{id}": {"get": {"parameters": [
        {"name": "id", "in": "path", "type": "integer"}, {"name": "limit", "in": "query", "type": "integer"}]}}}}
    api = OpenAPI.load(doc)
    assert api.route("GET", "/v2/pets/1", {"limit": "x"}) == ("/v2/pets/{id}", ok("GET /v2/pets/{id}", invalid=["limit"]))


def test_server_variables_and_several_servers():
    doc = {"openapi": "3.0.0",
           "servers": [{"url": "https://{host}/api/{version}", "variables": {"host": {"default": "x"},
                                                                         "version": {"default": "v2"}}},
                       {"url": "/"}],
           "paths": {"/ping": {"get": {}}}}
    api = OpenAPI.load(doc)
    assert api.route("GET", "/api/v2/ping", None)[0] == "/api/v2/ping"
    assert api.route("GET", "/ping", None)[0] == "/ping"


@pytest.mark.parametrize("doc", [
    {"openapi": "3.0.0"},
    {"openapi": "3.0.0", "paths": []},
    {"openapi": "3.0.0", "paths": {"/a": "not a path item", "b": {}, 5: {}}},
    {"openapi": "3.0.0", "paths": {"/a": {"$ref": "#/x/y"}}},
    {"openapi": "3.0.0", "paths": {"/a": {"$ref": "#/paths/~1a"}}},  # a reference cycle
    {"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "other.yaml#/p"}, 5, {"in": "query"}]}}}},
    {"openapi": "3.0.0", "servers": "x", "paths": {"/a": {"get": "nope"}}},
], ids=["no-paths", "paths-list", "junk-items", "dangling-ref", "ref-cycle", "junk-params", "junk-servers"])
def test_broken_documents_never_crash(doc):
    api = OpenAPI.load(doc)
    route, spec = api.route("GET", "/a", {"q": "1"})
    assert route in ("/a", UNMATCHED)
    assert isinstance(spec["documented"], bool)


def test_load_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="not a JSON or YAML document"):
        OpenAPI.load(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        OpenAPI.load(tmp_path / "list.yaml")
    with pytest.raises(OSError):
        OpenAPI.load(tmp_path / "missing.yaml")


def test_normalizer_with_openapi(api):
    n = Normalizer(templater=api)
    ev = n({"ts": 1.0, "id": "a", "method": "GET", "path": "/api/v1/orders", "query": {"page": "0", "x": "1"}})
    assert ev["route"] == "/api/v1/orders"
    assert ev["spec"] == ok("listOrders", unknown=["x"], invalid=["page"])
    ev = n({"ts": 1.0, "method": "GET", "url.path": "/api/v1/admin"})
    assert ev["route"] == UNMATCHED and ev["spec"]["documented"] is False


HEURISTIC = [
    ("numeric", "/api/users/123", "/api/users/{id}"),
    ("uuid", "/api/orders/6F1C2A40-1111-2222-3333-444455556666/items", "/api/orders/{id}/items"),
    ("hex-with-digit", "/blobs/deadbeef1", "/blobs/{id}"),
    ("hex-word-stays", "/x/deadbeef", "/x/deadbeef"),
    ("short-hex-stays", "/x/abc123", "/x/abc123"),
    ("email", "/users/alice@example.com/profile", "/users/{id}/profile"),
    ("email-escaped", "/users/alice%40example.com", "/users/{id}"),
    ("token-mixed", "/reset/aZ3kP9qR2mX7vB1n", "/reset/{id}"),
    ("token-padding", "/t/eyJhbGciOiJIUzI1NiJ9==", "/t/{id}"),
    ("long-token-one-case", "/k/abcdef0123456789abcdef0123456789zz", "/k/{id}"),
    ("slug-stays", "/blog/my-first-blog-post-about-apis", "/blog/my-first-blog-post-about-apis"),
    ("slug-with-year-stays", "/blog/my-blog-post-2024-recap", "/blog/my-blog-post-2024-recap"),
    ("camel-word-stays", "/api/ProductCategoryList", "/api/ProductCategoryList"),
    ("version-stays", "/api/v1/login", "/api/v1/login"),
    ("very-long-segment", "/a/" + "x" * 65, "/a/{id}"),
    ("several", "/shops/12/items/34", "/shops/{id}/items/{id}"),
    ("root", "/", "/"),
    ("empty", "", ""),
    ("not-a-path", "found /cfdocs/x.cfm", "found /cfdocs/x.cfm"),
]


@pytest.mark.parametrize("path, template", [pytest.param(p, t, id=i) for i, p, t in HEURISTIC])
def test_heuristic(path, template):
    h = HeuristicTemplater()
    assert h.route("GET", path, None) == (template, None)
    assert h.template(path) == template  # and again from the cache


def test_heuristic_cache_is_bounded():
    h = HeuristicTemplater(cache_size=8)
    for i in range(100):
        h.template(f"/a/{i}/b{i}")
    assert h._cached.cache_info().currsize == 8
    h.template("/z/" + "y" * 5000)  # long paths are not cached
    assert h._cached.cache_info().currsize == 8
