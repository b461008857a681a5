"""The event schema: field names, types, aliases and bounds, defined once.

`EVENT_FIELDS` is the one table; everything else is derived from it. Rules
are written against these names (docs/input.md lists the aliases). The rule
checker reads the static types (`FIELDS`) and the aliases (`ALIAS_OF`) to
find errors before a rule runs; the normaliser (`engine/ingest/normalize.py`)
derives its Python types, alias walk and range checks from the same entries
and guarantees them at run time, so a compiled predicate can compare
`status` with an int without a type check. Also here: the match fields of
`from matches` rules, severities and the fixed technique and goal ids.
"""

from __future__ import annotations

import attrs

#: Latest accepted event time: 9999-12-31T23:59:59.999Z.
TS_MAX = 253402300799.999


@attrs.frozen
class Field:
    """One top-level event field.

    `type` is its static type (`str`, `int`, `float`, `time`, `ip`, `map`);
    `aliases` the ECS/OpenTelemetry paths mapped onto it, highest priority
    first; `bounds` the inclusive range of a number (outside it the value is
    `out-of-range`); `origin` who provides it: `event` (a canonical field
    input may carry, under its name or an alias), `reader` (produced by
    sleuth's readers and the OpenAPI router) or `normaliser` (its report);
    `alias_scale` converts an alias's unit to the field's.
    """

    name: str
    type: str
    aliases: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    origin: str = "event"
    doc: str = ""
    alias_scale: float = 1.0        # an alias's value times this is the field's value (unit change)


#: The event schema: every field rules can read, in the order of docs/input.md.
EVENT_FIELDS: tuple[Field, ...] = (
    Field("ts", "time", ("@timestamp", "timestamp", "time"), (0.0, TS_MAX), doc="event time, epoch seconds UTC"),
    Field("id", "str", ("event.id",), doc="event id (default `<source>:<position>`)"),
    Field("src_ip", "ip", ("source.ip", "client.ip", "client.address", "source.address", "network.peer.address",
                           "http.client_ip", "net.sock.peer.addr", "net.peer.ip"), doc="client address"),
    Field("asn", "int", ("source.as.number", "client.as.number"), (0, 4_294_967_295), doc="autonomous system of src_ip"),
    Field("country", "str", ("source.geo.country_iso_code", "client.geo.country_iso_code"),
          doc="ISO country code of src_ip"),
    Field("method", "str", ("http.request.method", "http.method"), doc="HTTP method"),
    Field("host", "str", ("url.domain", "server.address", "http.host", "net.host.name"), doc="requested host"),
    Field("path", "str", ("url.path",), doc="request path, without the query"),
    Field("route", "str", ("http.route",), doc="route template (`/api/users/{id}`)"),
    Field("query", "map", ("url.query",), doc="query parameters (a query string is parsed)"),
    Field("params", "map", doc="path parameters"),
    Field("status", "int", ("http.response.status_code", "http.status_code"), (0, 999), doc="response status"),
    Field("user", "str", ("user.name", "enduser.id", "user.id"), doc="authenticated or attempted user"),
    Field("session", "str", ("session.id",), doc="session id"),
    Field("ua", "str", ("user_agent.original", "http.user_agent"), doc="user agent"),
    Field("ja3", "str", ("tls.client.ja3", "tls.client.ja4"), doc="TLS client fingerprint"),
    Field("headers", "map", doc="request headers, lower-case names"),
    Field("req_bytes", "int", ("http.request.body.bytes", "http.request.body.size", "http.request_content_length"),
          (0, 2**63 - 1), doc="request body size"),
    Field("resp_bytes", "int", ("http.response.body.bytes", "http.response.body.size",
                                "http.response_content_length"), (0, 2**63 - 1), doc="response body size"),
    Field("latency_ms", "float", ("event.duration",), (0.0, 1e15),
          doc="response time in ms (`event.duration` is nanoseconds, converted)", alias_scale=1e-6),
    Field("protocol", "str", origin="reader", doc="HTTP version of an access-log request"),
    Field("request", "str", origin="reader", doc="an access-log request line that did not parse"),
    Field("spec", "map", origin="reader", doc="OpenAPI conformance facts (SPEC_FIELDS)"),
    Field("_invalid", "map", origin="normaliser", doc="field -> why its value was not used"),
)

#: Field name -> static type (every field of `EVENT_FIELDS`).
FIELDS: dict[str, str] = {f.name: f.type for f in EVENT_FIELDS}
#: The canonical fields: what input may carry and `--map` may target.
CANONICAL: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.origin == "event")
#: Canonical field -> alias paths, highest priority first (fields without aliases left out).
ALIASES: dict[str, tuple[str, ...]] = {f.name: f.aliases for f in EVENT_FIELDS if f.aliases}
#: Alias path -> canonical field (what a rule may write instead of the canonical name).
ALIAS_OF: dict[str, str] = {a: f.name for f in EVENT_FIELDS for a in f.aliases}
#: Number field -> inclusive (low, high) bounds.
BOUNDS: dict[str, tuple[float, float]] = {f.name: f.bounds for f in EVENT_FIELDS if f.bounds is not None}
#: Static type -> the Python type a value of it has after normalisation.
PYTHON_TYPES: dict[str, type] = {"str": str, "ip": str, "int": int, "float": float, "time": float,
                                 "map": dict}


def field(name: str) -> Field:
    """The schema entry of a top-level field; raises `KeyError` for an unknown name."""
    return _BY_NAME[name]


_BY_NAME = {f.name: f for f in EVENT_FIELDS}

# Known sub-fields of mapping fields (others are open: any name is allowed).
SPEC_FIELDS: dict[str, str] = {
    "documented": "bool",
    "operation": "str",
    "method_allowed": "bool",
    "unknown_params": "list",
    "invalid_params": "list",
}

# Fields of a match seen as an event by `from matches` rules.
MATCH_FIELDS: dict[str, str] = {
    "ts": "time",
    "id": "str",
    "rule": "str",
    "ttp": "str",
    "goal": "str",
    "severity": "str",
    "fingerprint": "str",
    "first_ts": "time",
    "last_ts": "time",
    "key": "map",
    "fields": "map",
}

# Producers of records that `from matches` rules may name beside rules (`where rule == "@decision"`):
# records fed by a runtime beside the engine through `Engine.feed_derived` (docs/mitigation.md).
DERIVED_PRODUCERS: dict[str, str] = {
    "@decision": "the policy's decisions (docs/mitigation.md)",
}

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITIES)}

# The fixed technique and goal ids (a stable public interface: add, never rename).
TTPS: tuple[str, ...] = (
    "credential-stuffing",
    "account-aggregation",
    "account-takeover",
    "scraping",
    "enumeration",
    "business-logic-abuse",
    "l3-rotation",
    "l3-reputation",
    "session-rotation",
    "fingerprint-rotation",
    "low-entropy-automation",
    "sustained-volume",
    "spec-anomaly",
    "resource-exhaustion",
    "campaign",
)
GOALS: tuple[str, ...] = ("account-takeover", "scraping", "fraud", "disruption")
