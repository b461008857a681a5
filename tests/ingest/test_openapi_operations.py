"""`OpenAPI.iter_operations`: the read-only list of documented operations tools use."""

from __future__ import annotations

import pathlib

from sleuth.engine.ingest.openapi import OpenAPI, SpecOperation

DATA = pathlib.Path(__file__).resolve().parent / "data"


def test_operations_in_document_order_with_router_routes():
    api = OpenAPI.load(DATA / "shop.yaml")
    ops = [(o.method, o.template, o.routes, o.operation_id) for o in api.iter_operations()]
    assert ops == [
        ("POST", "/login", ("/api/v1/login",), "login"),
        ("GET", "/users/me", ("/api/v1/users/me",), "getMe"),
        ("GET", "/users/{id}", ("/api/v1/users/{id}",), "getUser"),
        ("DELETE", "/users/{id}", ("/api/v1/users/{id}",), "deleteUser"),
        ("GET", "/orders", ("/api/v1/orders",), "listOrders"),
        ("GET", "/orders/{orderId}", ("/api/v1/orders/{orderId}",), "getOrder"),
        ("POST", "/coupons/{code}/redeem", ("/api/v1/coupons/{code}/redeem",), None),
        ("GET", "/files/{name}.{ext}", ("/api/v1/files/{name}.{ext}",), "getFile"),
        ("GET", "/broken", ("/api/v1/broken",), "broken"),
    ]
    # every listed route is what the router returns for that operation
    for op in api.iter_operations():
        path = op.routes[0].replace("{id}", "7").replace("{orderId}", "8").replace("{code}", "X")
        path = path.replace("{name}.{ext}", "a.txt")
        assert api.route(op.method, path)[0] == op.routes[0]


def test_refs_resolved_several_bases_and_shadowed_templates():
    doc = {
        "openapi": "3.0.0",
        "servers": [{"url": "https://a.example/v1"}, {"url": "/"}],
        "paths": {
            "/items/{id}": {"$ref": "#/components/pathItems/Item"},
            "/items/{name}": {"get": {"operationId": "shadowed"}},
            "bad": {"get": {}},
            "/none": "not a mapping",
        },
        "components": {"pathItems": {"Item": {"get": {"operationId": "getItem", "x-sleuth-role": "object-read"},
                                              "summary": "an item"}}},
    }
    api = OpenAPI(doc)
    ops = list(api.iter_operations())
    assert [(o.template, o.routes, o.operation_id) for o in ops] == [
        ("/items/{id}", ("/v1/items/{id}", "/items/{id}"), "getItem"),
        ("/items/{name}", (), "shadowed"),
    ]
    assert isinstance(ops[0], SpecOperation)
    assert ops[0].operation["x-sleuth-role"] == "object-read"
    assert ops[0].item["summary"] == "an item"


def test_no_paths():
    assert list(OpenAPI({"openapi": "3.0.0"}).iter_operations()) == []
