"""Engine options: the one way an engine's input stage is built, and what a snapshot records of it.

Runtime stage, beside `engine.py`. `Engine(pack, ...)` and `sleuth run` build the
normaliser and the enrichers here from plain data: a field mapping, the route
templater (the path heuristic by default, as `sleuth run` does; OpenAPI documents
when given, first match wins), role overrides, a prefix table for enrichment, the
string cut. Because they are data, a snapshot records them (`recorded`) with a
digest of each file they read, and `Engine.restore` rebuilds the same engine
(`restore_arguments`), refusing explicit options that contradict the snapshot.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import EngineError, SnapshotError

#: Options that shape state; the engine's defaults (`sleuth run`'s too).
DEFAULTS: dict[str, Any] = {
    "lateness": 5.0, "grace": 0.0, "max_keys": 1_000_000, "future_tolerance": 86400.0, "future_confirm": 2,
    "mapping": {}, "openapi": (), "templating": True, "roles": {}, "enrich_table": None, "max_string": 65536,
    "rules": None, "memory": None,
}
#: Of those, the ones that describe the input stage (ignored when a custom normaliser is given).
INGEST = frozenset({"mapping", "openapi", "templating", "roles", "max_string"})
#: Runtime collaborators: objects, not data; a snapshot notes only that custom ones were used.
COLLABORATORS = frozenset({"normalizer", "quarantine", "enrich", "source", "population"})
#: Every key a snapshot's options may hold.
RECORDED = frozenset(DEFAULTS) | {"openapi_digests", "enrich_digest", "normalizer", "enrich"}


def file_digest(path: str) -> str:
    """A short digest of a file's bytes (an OpenAPI document, a prefix table); '' when unreadable."""
    try:
        with open(path, "rb") as fh:
            return hashlib.blake2b(fh.read(), digest_size=8).hexdigest()
    except OSError:
        return ""


def canonical(name: str, value: Any) -> Any:
    """An option's value in the form it is compared and recorded in (raises `EngineError` when bad)."""
    if name in ("lateness", "grace", "future_tolerance"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise EngineError(f"{name} must be a number of seconds (got {value!r})")
        return float(value)
    if name in ("max_keys", "future_confirm", "max_string"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EngineError(f"{name} must be an integer (got {value!r})")
        return int(value)
    if name == "mapping":
        if not isinstance(value, Mapping):
            raise EngineError(f"mapping must be a mapping of canonical field -> source path (got {value!r})")
        return {str(k): str(v) for k, v in sorted(value.items())}
    if name == "openapi":
        if value is None:
            return ()
        if isinstance(value, (str, os.PathLike)):
            value = [value]
        return tuple(os.path.abspath(os.fspath(p)) for p in value)
    if name == "templating":
        return bool(value)
    if name == "roles":
        if not isinstance(value, Mapping):
            raise EngineError(f"roles must map 'METHOD /route' to a role (got {value!r})")
        return {_role_key(k): str(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if name == "enrich_table":
        return None if value is None else os.path.abspath(os.fspath(value))
    if name == "memory":    # a byte budget for rule state (docs/performance.md), None for none
        from .state import parse_bytes

        try:
            return parse_bytes(value)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
    if name == "rules":     # the rules this engine runs (one group of the partition plan), None for all
        if value is None:
            return None
        if isinstance(value, (str, bytes)):
            raise EngineError(f"rules must be a list of rule names (got {value!r})")
        return sorted({str(r) for r in value})
    return value


def _role_key(key: Any) -> str:
    """Role overrides as the profile writes them: 'METHOD /route' or '/route' (a tuple is accepted)."""
    if isinstance(key, tuple) and len(key) == 2:
        return key[1] if key[0] == "*" else f"{str(key[0]).upper()} {key[1]}"
    return str(key).strip()


class SpecChain:
    """Route templating over several OpenAPI documents: the first that knows the path wins.

    A path no document knows gets the first document's answer (`<unmatched>`).
    Same interface as `OpenAPI` (`route`, `role_table`); cost: one lookup per
    document until one matches, each cached by the document.
    """

    def __init__(self, apis: Sequence[Any]) -> None:
        self.apis = list(apis)

    def route(self, method: str, path: str, query: Any = None) -> tuple[str, Any]:
        from .ingest.openapi import UNMATCHED

        first = None
        for api in self.apis:
            r = api.route(method, path, query)
            if r[0] != UNMATCHED:
                return r
            if first is None:
                first = r
        return first if first is not None else (UNMATCHED, None)

    def role_table(self) -> Any:
        from .ingest.roles import RoleTable

        return RoleTable(self.apis)


def build_normalizer(pack: Any, *, mapping: Mapping[str, str], openapi: Sequence[str], templating: bool,
                     roles: Mapping[str, str], max_string: int) -> Any:
    """The normaliser these options describe, checking the types of the fields `pack` reads.

    Raises `EngineError` for an unreadable or malformed OpenAPI document or mapping.
    """
    from .ingest.normalize import Normalizer
    from .ingest.openapi import HeuristicTemplater, OpenAPI

    templater: Any = None
    apis = []
    for p in openapi:
        try:
            apis.append(OpenAPI.load(p))
        except (OSError, ValueError) as exc:
            raise EngineError(f"cannot load the OpenAPI document {p}: {exc}") from exc
    if apis:
        templater = apis[0] if len(apis) == 1 else SpecChain(apis)
    elif templating:
        templater = HeuristicTemplater()
    kwargs: dict[str, Any] = {"templater": templater, "max_string": max_string,
                              "watch": getattr(pack, "fields", None)}
    if roles:
        from .ingest.roles import RoleTable, parse_override_key

        try:
            overrides = {parse_override_key(k): v for k, v in roles.items()}
        except ValueError as exc:
            raise EngineError(f"role override: {exc}") from exc
        # The normaliser takes a role table where it derives `role` (docs/roles.md).
        if "roles" in inspect.signature(Normalizer).parameters:
            kwargs["roles"] = RoleTable(apis, overrides)
    try:
        return Normalizer(dict(mapping), **kwargs)
    except ValueError as exc:
        raise EngineError(str(exc)) from exc


def build_enrichers(enrich_table: str | None) -> list:
    """The enrichers of `enrich_table` (a prefix table CSV adding asn/country), or none."""
    if enrich_table is None:
        return []
    from .ingest.enrich import PrefixTable

    try:
        return [PrefixTable.from_csv(enrich_table)]
    except OSError as exc:
        raise EngineError(f"cannot read the enrich table {enrich_table}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise EngineError(f"cannot read the enrich table {enrich_table}: {exc}") from exc


def recorded(options: Mapping[str, Any], *, custom_normalizer: bool, custom_enrich: bool) -> dict:
    """What a snapshot stores of an engine's options (JSON-like data, with file digests)."""
    out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    out["openapi_digests"] = [file_digest(p) for p in options["openapi"]]
    out["enrich_digest"] = file_digest(options["enrich_table"]) if options["enrich_table"] else None
    out["normalizer"] = "custom" if custom_normalizer else None
    out["enrich"] = "custom" if custom_enrich else None
    return out


def restore_arguments(saved: Mapping[str, Any], given: Mapping[str, Any]) -> dict:
    """`Engine(...)` arguments that rebuild the engine a snapshot was taken with.

    `given` are the caller's: collaborators (a custom normaliser is honoured;
    `quarantine`, `enrich`, `source`) and options, which must agree with the
    snapshot. Raises `SnapshotError` on a conflict, on a custom normaliser or
    enricher the caller does not give again, and on a file that changed.
    """
    unknown = set(given) - set(DEFAULTS) - COLLABORATORS
    if unknown:
        raise SnapshotError(f"unknown restore argument(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {k: v for k, v in given.items() if k in COLLABORATORS}
    custom_normalizer = given.get("normalizer") is not None
    for name in DEFAULTS:
        if name not in saved:           # a snapshot older than this option: the caller's value, or the default
            if name in given:
                out[name] = given[name]
            continue
        value = saved[name]
        if name == "openapi":
            value = tuple(value)
        if name in given:
            mine = canonical(name, given[name])
            if mine != canonical(name, value):
                raise SnapshotError(f"the snapshot was taken with {name}={_show(value)}; restoring with "
                                    f"{name}={_show(mine)} would change its state (restore without it, or "
                                    f"with the same value)")
        if custom_normalizer and name in INGEST:
            continue                     # the caller's normaliser replaces the described one
        out[name] = value
    if saved.get("normalizer") == "custom" and not custom_normalizer:
        raise SnapshotError("the snapshot was taken with a custom normaliser; pass it again: "
                            "Engine.restore(pack, blob, normalizer=...)")
    # `enrich=[]` given explicitly says "none now" (an observer such as a coverage counter
    # left out); only leaving the argument out is refused.
    if saved.get("enrich") == "custom" and "enrich" not in given:
        raise SnapshotError("the snapshot was taken with custom enrichers; pass them again (or enrich=[] "
                            "for none): Engine.restore(pack, blob, enrich=[...])")
    if not custom_normalizer:
        for path, digest in zip(saved.get("openapi", ()), saved.get("openapi_digests", ())):
            if digest and file_digest(path) != digest:
                raise SnapshotError(f"the OpenAPI document {path} changed (or is gone) since the snapshot; "
                                    f"routes would differ")
    table, digest = saved.get("enrich_table"), saved.get("enrich_digest")
    if table and digest and not given.get("enrich") and file_digest(table) != digest:
        raise SnapshotError(f"the prefix table {table} changed (or is gone) since the snapshot")
    return out


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    return repr(value)


__all__ = ["DEFAULTS", "INGEST", "RECORDED", "SpecChain", "build_enrichers", "build_normalizer", "canonical",
           "file_digest", "recorded", "restore_arguments"]
