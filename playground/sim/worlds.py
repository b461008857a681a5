"""The simulator's API worlds: one operation catalogue rendered into several real-looking APIs.

Part of ``sleuth simulate``. A ``WorldSpec`` says how one API names its routes
(``Op``: method, path, operationId, tag, where object ids go), which identity
fields its logs carry (``Identity``), how it answers (``Conventions``: a wrong
password as 401, 403, 400, 422 or 200 with an error envelope; 429 or 503 from a
rate limiter), who uses it (``Populace``, the drivers in ``clients.py``) and
any older generation of routes it still serves. The ``tuning`` world is the
original simulator, untouched (rules are tuned on it); ``northwind``, ``relay``,
``harbor`` and the sealed ``marquee`` are held out. ``openapi_of`` writes each
world's OpenAPI document in its own style, without any sleuth extension.
"""

from __future__ import annotations

from typing import Any

import attrs

from .clients import Bulk, Monitor, Partner, Poller, Refresh
from .ops import CANON, OBJECT, ROLE
from .spec import ROUTES, Param
from .spec import openapi as tuning_openapi
from .world import AZURE, GCP, HOSTING

# ------------------------------------------------------------------ features
# What a detection can be computed from. Each attack generator names the
# features its defining signal needs (alternatives); a world says which of them
# its JSON events and its plain access log carry. Labels say the result.

FEATURES = (
    "address", "ua", "route", "outcome", "time", "network", "object", "query", "params",
    "username", "user", "session", "session-start", "fingerprint", "headers",
)
"""Signal features: client address, user agent, route, success or failure, timing,
network (ASN/country; in an access log via the world's ``prefixes.csv``), object ids,
query parameters, other body parameters, the username attempted on login/reset, the
authenticated account, the session id, when a session starts, the TLS fingerprint and
other request headers."""

ACCESS_LOG_BASE = frozenset({"address", "ua", "route", "outcome", "time", "network"})
"""What every plain access-log rendering carries (failure via the status or, for
200-with-error-envelope APIs, the response size)."""


@attrs.frozen
class Op:
    """One operation as a world exposes it."""

    key: str  # the catalogue operation (ops.ROLE)
    method: str
    path: str  # as the OpenAPI document writes it (relative to the server's base path)
    op_id: str
    summary: str
    tag: str
    host: str = ""  # "" = the world's API host
    obj: str | None = None  # the world's name of the object id (path parameter or body field)
    obj_fmt: str = "{}"  # how an integer id is written ("NW{}")
    obj_schema: dict | None = None  # JSON schema of the id (default: the catalogue's)
    names: dict = attrs.field(factory=dict)  # parameter renames for this operation only
    fixed: dict = attrs.field(factory=dict)  # body fields every client sends (grant_type)
    obj_param: str | None = None  # a catalogue body parameter this world puts in the path instead
    query_params: tuple[str, ...] = ()  # catalogue body parameters this world sends in the query
    user_logged: bool = True  # does the log name the user on this operation?
    description: str = ""
    user_on_failure: bool = True  # False: the user is logged only when the operation succeeds
    obj_in: str = "path"  # where the object id goes: "path" or "query" (an older generation's ``?eventId=``)


@attrs.frozen
class Identity:
    """Which identity fields the world's events carry, and how sessions begin."""

    fingerprint: str | None  # "ja3" (md5), "ja4" (JA4-shaped) or None (not logged)
    session: str  # "cookie", "token" (hash of a bearer token) or "none" (not logged)
    user: str = "all"  # "all": attempted usernames too; "authenticated": only the token's owner;
    # "success": the account once a request succeeds (a failed sign-in names nobody)
    first_without_session: float = 0.0  # share of web visits whose first request has no cookie yet
    app_launch: int = 0  # sessionless calls a native app makes when it starts cold
    cold_start: float = 0.35  # share of app sessions that start cold (the others resume)
    grants: bool = False  # a new session starts with a guest-token request (OAuth)
    session_prefix: str = "s_"
    fingerprint_field: str = "ja3"  # the event field the fingerprint is logged in ("ja4": its own field)


@attrs.frozen
class Conventions:
    """How the API answers, in its own terms (statuses of the catalogue are 401/403/400...)."""

    wrong_password: int = 401  # login with a wrong password or unknown user
    wrong_code: int = 401  # a wrong one-time code (MFA, transfer confirmation)
    not_owner: int = 403  # someone else's order, invoice or account
    invalid: int = 400  # a request body the API rejects
    envelope: bool = False  # application errors answer HTTP 200 with {"ok":false,"error":...}
    codes: dict = attrs.field(factory=dict)  # (op or "*", catalogue status) -> error code (envelope)
    limits: dict = attrs.field(factory=dict)  # limiter name -> (requests, window ms)
    summary: str = ""
    limited: int = 429  # what the rate limiter answers (nginx's limit_req answers 503 unless told otherwise)


@attrs.frozen
class Populace:
    """Who uses the API: volume, devices, networks and the automated clients (``clients.py``)."""

    peak_eps: float = 20.0  # benign events/s at the daily peak, scale 1
    mobile_share: float = 0.22  # customers who only use a phone on a carrier's CGNAT
    app_weight: float = 1.0  # multiplier on the native apps' share of devices
    pool_factor: float = 1.0  # multiplier on carriers' CGNAT pool sizes
    scripts: tuple[float, ...] | None = None  # session-script weights (benign.SCRIPTS order)
    flash_sale: bool = True
    support: bool = True
    traveller: bool = True
    corporate: tuple = ()
    monitors: tuple = ()
    crawlers: tuple = ()
    partners: tuple = ()
    bulk: tuple = ()
    pollers: tuple = ()
    refresh: Any = None  # app background activity (clients.Refresh)
    more_refresh: tuple = ()  # further app background activities (clients.Refresh), each on its own stream
    stated: dict = attrs.field(factory=dict)  # figures.population_figures key -> (low, high), 1 h at scale 1


@attrs.frozen
class WorldSpec:
    """One API world: routes, identity fields, answers, population and documentation."""

    name: str
    title: str
    summary: str
    site: str  # the web shop's origin (referers)
    host: str  # the API host
    base: str  # server base path ("" or "/v2")
    style: str  # "rest" or "rpc"
    ops: dict  # catalogue key -> Op
    names: dict = attrs.field(factory=dict)  # catalogue parameter -> the world's name
    identity: Identity = Identity("ja3", "cookie")
    conventions: Conventions = Conventions()
    populace: Populace = Populace()
    shadow: tuple = ()  # undocumented endpoints it really answers (attack.Shadow)
    legacy: tuple = ("GET", "/api/v0/users/{}", None)  # an old, unscoped user read: method, path, body field
    referers: tuple = ()  # (tuning prefix, this world's prefix)
    apps: tuple = ()  # (tuning app UA prefix, this world's)
    key_header: str = "x-api-key-id"  # the header partners' API keys are logged in
    hidden: frozenset = frozenset()  # features its events lack
    log_extra: frozenset = frozenset()  # features its access log has beyond ACCESS_LOG_BASE
    tags: tuple = ()  # (tag, description) for the OpenAPI document
    api_version: str = "1.0.0"
    openapi_version: str = "3.0.3"
    security: tuple = ()  # (scheme name, OpenAPI security scheme)
    held_out: bool = True
    # An older generation of routes that still serves some clients (documented as deprecated):
    # catalogue key -> Op, how it answers, which clients still call it (user-agent prefixes, as
    # the tuning world writes them, or the client's own) and the fields its logs lack.
    older: dict = attrs.field(factory=dict)
    older_conventions: Conventions | None = None
    older_clients: tuple = ()
    older_unlogged: frozenset = frozenset()
    search_terms: tuple = ()  # what its users search for (replaces the tuning world's terms, one for one)

    def generations(self) -> list[tuple[dict, Conventions, bool]]:
        """(operations, conventions, deprecated) of the current routes, then of the older ones."""
        out = [(self.ops, self.conventions, False)]
        if self.older:
            out.append((self.older, self.older_conventions or self.conventions, True))
        return out

    def features(self, rendering: str) -> frozenset:
        """Signal features the ``"events"`` or ``"access_log"`` rendering carries."""
        if rendering == "events":
            return frozenset(FEATURES) - self.hidden
        return ACCESS_LOG_BASE | self.log_extra

    def role_table(self) -> list[tuple[str, str, str, str | None]]:
        """(method, path as the document writes it, operationId, role) per documented operation."""
        if not self.held_out:
            return [(r.method, r.template, r.key, ROLE[r.key]) for r in ROUTES.values()]
        seen = {}
        for ops, _, _ in self.generations():
            for op in ops.values():
                k = (op.method, op.path)
                if k not in seen:
                    seen[k] = (op.method, op.path, op.op_id, ROLE[op.key])
        return list(seen.values())

    def openapi(self) -> dict:
        """This world's OpenAPI document (the tuning world's is the original one)."""
        return tuning_openapi() if not self.held_out else openapi_of(self)


def visibility(spec: WorldSpec, needs: tuple[tuple[str, ...], ...]) -> tuple[dict, dict]:
    """``({"events": bool, "access_log": bool}, {rendering: missing features})`` for a signal.

    ``needs`` lists alternatives; a rendering shows the instance when it carries every
    feature of one alternative. ``missing`` names the features of the closest alternative
    (fewest missing) when none is complete.
    """
    vis, missing = {}, {}
    for rendering in ("events", "access_log"):
        have = spec.features(rendering)
        best: list[str] | None = None
        for alt in needs:
            lack = sorted(set(alt) - have)
            if best is None or len(lack) < len(best):
                best = lack
        vis[rendering] = best == [] if needs else True
        missing[rendering] = best or []
    return vis, missing


# -------------------------------------------------------------- OpenAPI writer

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def answer(conv: Conventions, key: str, status: int) -> tuple[int, str | None]:
    """A catalogue status of operation ``key`` -> (the world's HTTP status, envelope error or None)."""
    s = status
    if status == 429:
        s = conv.limited
    elif status == 401:
        s = conv.wrong_password if key in ("login", "refresh") else conv.wrong_code
    elif status == 403 and key in ("order", "invoice", "balance"):
        s = conv.not_owner
    elif status == 400:
        s = conv.invalid
    if not conv.envelope or s in (429, 503, 504):
        return s, (conv.codes.get(("*", s)) if conv.envelope else None)
    if s < 300:
        return 200, "ok"
    code = conv.codes.get((key, status)) or conv.codes.get(("*", status)) or "internal_error"
    return 200, code


def _schema(p: Param, override: dict | None = None) -> dict:
    out = p.schema()
    if override:
        out.update(override)
    return out


def openapi_of(spec: WorldSpec) -> dict:
    """The OpenAPI document of a held-out world: its own names, tags, ids and answers."""
    rpc = spec.style == "rpc"
    paths: dict[str, dict] = {}
    for ops, conv, deprecated in spec.generations():
        _document(spec, ops, conv, deprecated, rpc, paths)
    servers = [{"url": f"https://{spec.host}{spec.base}", "description": "Production"}]
    extra_hosts = sorted({op.host for op in spec.ops.values() if op.host and op.host != spec.host})
    servers += [{"url": f"https://{h}", "description": "Authorization server"} for h in extra_hosts]
    older_hosts = sorted({op.host for op in spec.older.values() if op.host and op.host != spec.host} - set(extra_hosts))
    servers += [{"url": f"https://{h}", "description": "Older generation of the API (deprecated operations)"}
                for h in older_hosts]
    schemas: dict = {"Error": {"type": "object", "properties": {"error": {"type": "string"},
                                                                   "detail": {"type": "string"}}}}
    if any(c.envelope for _, c, _ in spec.generations()):
        schemas["Envelope"] = {"type": "object", "required": ["ok"],
                               "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}}}
    return {
        "openapi": spec.openapi_version,
        "info": {"title": spec.title, "version": spec.api_version, "description": spec.summary},
        "servers": servers,
        "tags": [{"name": t, "description": d} for t, d in spec.tags],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {name: scheme for name, scheme in spec.security}},
    }


def _document(spec: WorldSpec, ops: dict, conv: Conventions, deprecated: bool, rpc: bool, paths: dict) -> None:
    """Add one generation of operations to the document's ``paths``."""
    for op in ops.values():
        r = CANON[op.key]
        names = {**spec.names, **op.names}
        params: list[dict] = []
        body: dict[str, dict] = {}
        required: list[str] = []
        if op.obj is not None:
            id_schema = op.obj_schema or {"type": "integer", "minimum": 1}
            if rpc:
                body[op.obj] = dict(id_schema)
                required.append(op.obj)
            else:
                params.append({"name": op.obj, "in": op.obj_in, "required": True, "schema": dict(id_schema)})
        for p in r.params:
            if p.where == "path" or p.name == op.obj_param:
                continue
            name = names.get(p.name, p.name)
            if (p.where == "query" or p.name in op.query_params) and not rpc:
                params.append({"name": name, "in": "query", "required": p.required, "schema": _schema(p)})
            else:
                body[name] = _schema(p)
                if p.required:
                    required.append(name)
        for name, value in op.fixed.items():
            body.setdefault(name, {"type": "string", "enum": [value]})
            if name not in required:
                required.append(name)
        item = paths.setdefault(op.path, {})
        if op.method.lower() in item:  # a second catalogue operation served by the same route
            _merge(item[op.method.lower()], body, required)
            continue
        entry: dict = {"operationId": op.op_id, "summary": op.summary, "tags": [op.tag]}
        if op.description:
            entry["description"] = op.description
        if params:
            entry["parameters"] = params
        if body or rpc:
            schema = {"type": "object", "properties": body}
            if required:
                schema["required"] = required
            media = "application/x-www-form-urlencoded" if op.fixed and not rpc else "application/json"
            entry["requestBody"] = {"required": bool(required), "content": {media: {"schema": schema}}}
        statuses = sorted({answer(conv, op.key, s)[0] for s in r.statuses}
                          | ({conv.limited} if _limited(op.key) else set()))
        responses = {}
        for s in statuses:
            resp: dict = {"description": _REASONS.get(s, "Response")}
            if s >= 400:
                resp["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            elif conv.envelope:
                resp["description"] = "OK: `ok` is true, or false with `error` naming what went wrong"
                resp["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}
            responses[str(s)] = resp
        entry["responses"] = responses
        if r.auth and spec.security:
            entry["security"] = [{spec.security[0][0]: []}]
        if deprecated:
            entry["deprecated"] = True
        item[op.method.lower()] = entry


def _merge(entry: dict, body: dict, required: list[str]) -> None:
    """Fold another operation's body fields into a shared route's request body (OAuth's one
    token endpoint for several grants; one profile update for password, e-mail and phone)."""
    content = entry.get("requestBody", {}).get("content", {})
    for media in content.values():
        props = media["schema"].setdefault("properties", {})
        for name, schema in body.items():
            old = props.get(name)
            if old is None:
                props[name] = schema
            elif "enum" in old and "enum" in schema:
                old["enum"] = old["enum"] + [v for v in schema["enum"] if v not in old["enum"]]
        req = media["schema"].get("required")
        if req is not None:  # a field only some grants need is not required of all
            media["schema"]["required"] = [n for n in req if n in required]


def _limited(key: str) -> bool:
    return key in ("login", "register", "reset", "mfa", "exists", "giftcard", "coupon", "transfer_confirm",
                   "export", "token", "refresh", "feed")


def tuning_ops() -> dict:
    """The tuning world's operations (for its role table and the renderers' fallbacks)."""
    return {r.key: Op(r.key, r.method, r.template, r.key, r.summary, "bank" if "bank" in r.host else "shop",
                      obj=OBJECT.get(r.key)) for r in ROUTES.values()}


TUNING = WorldSpec(
    name="tuning",
    title="Shop and Bank API (sleuth simulator)",
    summary="The original simulated retail and banking API: versioned REST under /api/v1 on two hosts, "
            "JA3, session cookies and attempted usernames in every event, 401 for a wrong password.",
    site="https://shop.example",
    host="api.shop.example",
    base="",
    style="rest",
    ops=tuning_ops(),
    identity=Identity("ja3", "cookie", first_without_session=0.4, app_launch=2, cold_start=0.3),
    populace=Populace(
        monitors=(Monitor("Pingdom", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", HOSTING[5], 60,
                          locations=4),
                  Monitor("Site24x7", "Site24x7", HOSTING[1], 120, locations=2, jitter_ms=300)),
        bulk=(Bulk("Catalogue sync", "shop-catalog-sync/1.4 (+https://shop.example/developers/sync)", GCP,
                   "pk_catalogsync_9e12", 2.0, 30, op="products"),
              Bulk("A customer's ETL job", "python-requests/2.31.0", HOSTING[0], "pk_etl_3f0a", 3.5, 25,
                   op="products")),
        pollers=(Poller("Feedbin", "Feedbin/2.0 (+https://feedbin.com/; 6 subscribers)", HOSTING[2], 20),
                 Poller("Inventory ERP sync", "ShopERP-Connector/4.2 (+https://erp.example/connector)", AZURE, 60,
                        calls=3, key="pk_erp_5d21")),
        refresh=Refresh("orders", 400, 15),
        # Added for the second tuning round (the original content above is unchanged): the benign
        # machine traffic real APIs carry that the pack must not alarm on: a partner pulling a
        # large price list every 10 minutes with its key, and apps tracking a delivery every 4 s.
        partners=(Partner("Price comparison, full list", "PriceCompare-Feed/1.8 (+https://pricecompare.example/partners)",
                          HOSTING[0], "pk_pricecompare_bulk_2b8e", 600, items=60, op="price"),),
        more_refresh=(Refresh("tracking", 10, 4 / 60),),
        stated={"top10_fingerprint_share": (0.99, 1.0), "top10_customer_fingerprint_share": (0.99, 1.0),
                "customer_sessionless_share": (0.02, 0.08), "users_per_office_address": (100, 10**6)}),
    log_extra=frozenset({"object", "query"}),
    held_out=False,
)
