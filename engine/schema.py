"""The canonical API event: field names and their types.

Rules are written against these names (see docs/input.md for the aliases
that readers map onto them). The rule checker uses the types to find type
errors before a rule runs; the normaliser guarantees them at run time, so a
compiled predicate can compare `status` with an int without a type check.
"""

from __future__ import annotations

# name -> type: str, int, float, time, map
FIELDS: dict[str, str] = {
    "ts": "time",
    "id": "str",
    "src_ip": "ip",
    "asn": "int",
    "country": "str",
    "method": "str",
    "host": "str",
    "path": "str",
    "route": "str",
    "query": "map",
    "params": "map",
    "status": "int",
    "user": "str",
    "session": "str",
    "ua": "str",
    "ja3": "str",
    "headers": "map",
    "req_bytes": "int",
    "resp_bytes": "int",
    "latency_ms": "float",
    # produced by readers and the OpenAPI router
    "protocol": "str",
    "request": "str",
    "spec": "map",
    "_invalid": "map",
}

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
