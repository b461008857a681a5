"""ECS and OpenTelemetry HTTP field names for the canonical event (the normalisation stage).

``ALIASES`` is the alias table as it should be (canonical field -> paths,
highest priority first): ECS 8.x, OpenTelemetry HTTP semantic conventions
(1.21+, stable since 1.23) and the older OpenTelemetry HTTP names many
pipelines still emit.  ``DERIVED`` lists names a direct alias cannot
express (a full URL splits into path, query and host; per-header
attributes fill ``headers``); ``derive`` applies them.  ``missing_from``
compares with a table in use (``sleuth.engine.ingest.normalize.ALIASES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ALIASES", "DERIVED", "SOURCES", "derive", "missing_from"]

#: Canonical field -> alias paths, highest priority first (a superset of normalize.ALIASES,
#: whose order it keeps: the new names come after the names already supported).
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("@timestamp", "timestamp", "time"),
    "id": ("event.id",),
    "src_ip": ("source.ip", "client.ip", "client.address", "source.address", "network.peer.address",
               "http.client_ip", "net.sock.peer.addr", "net.peer.ip"),
    "asn": ("source.as.number", "client.as.number"),
    "country": ("source.geo.country_iso_code", "client.geo.country_iso_code"),
    "method": ("http.request.method", "http.method"),
    "host": ("url.domain", "server.address", "http.host", "net.host.name"),
    "path": ("url.path",),
    "route": ("http.route",),
    "query": ("url.query",),
    "status": ("http.response.status_code", "http.status_code"),
    "user": ("user.name", "enduser.id", "user.id"),
    "session": ("session.id",),
    "ua": ("user_agent.original", "http.user_agent"),
    "ja3": ("tls.client.ja3", "tls.client.ja4"),
    "req_bytes": ("http.request.body.bytes", "http.request.body.size", "http.request_content_length"),
    "resp_bytes": ("http.response.body.bytes", "http.response.body.size", "http.response_content_length"),
    "latency_ms": ("event.duration",),
}

#: Where each alias is defined (for the docs table): ECS, OTel (current), OTel<1.21 (deprecated
#: HTTP names), or de-facto (in neither specification, emitted by common pipelines).
SOURCES: dict[str, str] = {
    "@timestamp": "ECS", "timestamp": "common", "time": "common", "event.id": "ECS",
    "source.ip": "ECS", "client.ip": "ECS", "client.address": "ECS, OTel", "source.address": "ECS",
    "network.peer.address": "OTel", "http.client_ip": "OTel<1.21", "net.sock.peer.addr": "OTel<1.21",
    "net.peer.ip": "OTel<1.21", "source.as.number": "ECS", "client.as.number": "ECS",
    "source.geo.country_iso_code": "ECS", "client.geo.country_iso_code": "ECS",
    "http.request.method": "ECS, OTel", "http.method": "OTel<1.21", "url.domain": "ECS",
    "server.address": "ECS, OTel", "http.host": "OTel<1.21", "net.host.name": "OTel<1.21",
    "url.path": "ECS, OTel", "http.route": "OTel", "url.query": "ECS, OTel",
    "http.response.status_code": "ECS, OTel", "http.status_code": "OTel<1.21", "user.name": "ECS, OTel",
    "enduser.id": "OTel (deprecated for user.id)", "user.id": "ECS, OTel", "session.id": "OTel",
    "user_agent.original": "ECS, OTel", "http.user_agent": "OTel<1.21", "tls.client.ja3": "ECS, OTel",
    "tls.client.ja4": "de-facto (GCP Armor, AWS WAF exporters)",
    "http.request.body.bytes": "ECS", "http.request.body.size": "OTel",
    "http.request_content_length": "OTel<1.21", "http.response.body.bytes": "ECS",
    "http.response.body.size": "OTel", "http.response_content_length": "OTel<1.21",
    "event.duration": "ECS (nanoseconds)",
}

#: Names that fill canonical fields by splitting or by prefix, lowest priority (only where the
#: canonical field and its direct aliases are all absent): name -> the fields it fills.
DERIVED: dict[str, tuple[str, ...]] = {
    "url.full": ("path", "query", "host"),           # ECS, OTel: scheme://host/path?query
    "url.original": ("path", "query", "host"),       # ECS, OTel: as the request line had it
    "http.url": ("path", "query", "host"),           # OTel<1.21
    "http.target": ("path", "query"),                # OTel<1.21: /path?query
    "http.request.referrer": ("headers.referer",),   # ECS
    "http.request.header.": ("headers.*",),           # OTel: http.request.header.<name> = [values]
}

_MISSING = object()


def _get(rec: Mapping, path: str) -> Any:
    """A flat dotted key or nested mappings (the two forms the Normalizer reads)."""
    v = rec.get(path, _MISSING)
    if v is not _MISSING:
        return v
    node: Any = rec
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return _MISSING
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


def _present(rec: Mapping, field: str) -> bool:
    if rec.get(field) is not None:
        return True
    return any(_get(rec, a) not in (_MISSING, None) for a in ALIASES.get(field, ()))


def derive(record: Mapping) -> dict:
    """A copy of ``record`` with ``path``/``query``/``host``/``headers`` filled from ``DERIVED`` names.

    Only fields absent from the record (canonical name and direct aliases)
    are filled; ``query`` stays the raw query string (the Normalizer parses
    it).  Never raises: values of the wrong type are ignored.
    """
    out = dict(record)
    for name in ("url.full", "url.original", "http.url", "http.target"):
        v = _get(record, name)
        if type(v) is not str or not v:
            continue
        try:
            parts = urlsplit(v) if "://" in v else None
        except ValueError:
            continue
        if parts is not None:
            path, query, host = parts.path or "/", parts.query, parts.hostname
        else:
            path, _, query = v.partition("?")
            host = None
        if not _present(out, "path"):
            out["path"] = path
        if query and not _present(out, "query"):
            out["query"] = query
        if host and name != "http.target" and not _present(out, "host"):
            out["host"] = host
    headers = out.get("headers")
    new: dict[str, Any] = {}
    ref = _get(record, "http.request.referrer")
    if type(ref) is str:
        new["referer"] = ref
    prefix = "http.request.header."
    for k, v in record.items():
        if type(k) is str and k.startswith(prefix) and len(k) > len(prefix):
            if type(v) is list and all(type(x) is str for x in v):
                v = ", ".join(v)
            if type(v) is str:
                new[k[len(prefix):].lower()] = v
    if new:
        merged = dict(headers) if isinstance(headers, Mapping) else {}
        for k, v in new.items():
            merged.setdefault(k, v)
        out["headers"] = merged
    return out


def missing_from(table: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The aliases of ``ALIASES`` that ``table`` (canonical -> aliases) lacks, per field."""
    out = {}
    for field, names in ALIASES.items():
        have = set(table.get(field, ()))
        lack = tuple(n for n in names if n not in have)
        if lack:
            out[field] = lack
    return out
