"""Route templates and API-spec conformance, from an OpenAPI document or a heuristic.

Part of normalisation: ``Normalizer(templater=...)`` calls ``.route(method,
path, query)`` for events without a ``route`` and stores the template in
``route`` and, with a spec, the facts ``spec-anomaly`` rules read in ``spec``;
``role_table()`` gives the document's endpoint roles, built once.
Measured design choices: templates form a segment trie (literal children before
patterned ones before ``{param}`` wildcards), parameter schemas are compiled to
closures at load time, and (method, path) results sit in an LRU cache: ~3 µs
per new path, ~1.4 µs per repeated one, whatever the number of templates.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from .normalize import parse_query

__all__ = ["UNMATCHED", "HeuristicTemplater", "OpenAPI", "SpecOperation"]

#: The route of a request that matches no documented path template.
UNMATCHED = "<unmatched>"

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MAX_CACHED_PATH = 1024  # longer paths are matched but not cached (bounds memory)
_MAX_DEPTH = 32  # $ref chains and nested schemas


# ----------------------------------------------------------------- heuristic

_NUMERIC = re.compile(r"\d+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"(?=[a-fA-F]*\d)[0-9a-fA-F]{8,}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}={0,2}")
_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}")
_LONG_SEGMENT = 64


def _is_id(seg: str) -> bool:
    """The heuristic's test for one path segment (rules in docs/input.md)."""
    if not seg:
        return False
    if "%" in seg:
        seg = unquote(seg)
    if len(seg) > _LONG_SEGMENT:
        return True
    if _NUMERIC.fullmatch(seg) or _UUID.fullmatch(seg) or _HEX.fullmatch(seg):
        return True
    if _EMAIL.fullmatch(seg):
        return True
    if _TOKEN.fullmatch(seg):
        has_digit = any(c.isdigit() for c in seg)
        has_lower = any(c.islower() for c in seg)
        has_upper = any(c.isupper() for c in seg)
        if has_digit and has_lower and has_upper:
            return True
        if len(seg) >= 32 and has_digit and (has_lower or has_upper):
            return True
    return False


class HeuristicTemplater:
    """Route templates without a spec: id-like path segments become ``{id}``.

    A segment is an id when it is all digits, a UUID, hex of 8+ characters
    with a digit, an e-mail address, a token of 16+ ``[A-Za-z0-9_-]``
    characters (optional ``=`` padding) mixing digits, lower and upper case
    (or 32+ characters with a digit and a letter), or longer than 64
    characters.  Results are cached (LRU, ``cache_size`` paths).
    """

    def __init__(self, cache_size: int = 65536) -> None:
        self.cache_size = cache_size
        self._cached = lru_cache(maxsize=cache_size)(self._template)

    @staticmethod
    def _template(path: str) -> str:
        segs = path.split("/")
        changed = False
        for i, seg in enumerate(segs):
            if _is_id(seg):
                segs[i] = "{id}"
                changed = True
        return "/".join(segs) if changed else path

    def template(self, path: str) -> str:
        """The route template of ``path``."""
        if len(path) > _MAX_CACHED_PATH:
            return self._template(path)
        return self._cached(path)

    def route(self, method: str, path: str, query: Any = None) -> tuple[str, None]:
        """``(template, None)``: the heuristic knows nothing about operations."""
        return self.template(path), None


# ------------------------------------------------------------------ openapi

class SpecOperation(NamedTuple):
    """One documented operation, as ``OpenAPI.iter_operations`` lists it."""

    method: str                 # upper case
    template: str               # the path as the document writes it
    routes: tuple[str, ...]     # what ``route()`` returns for it (base path + template)
    operation_id: str | None
    operation: Mapping          # the operation object
    item: Mapping               # its path item


class _Node:
    __slots__ = ("leaf", "lit", "pat", "wild")

    def __init__(self) -> None:
        self.lit: dict[str, _Node] = {}
        self.pat: list[tuple[re.Pattern, _Node]] = []
        self.wild: _Node | None = None
        self.leaf: tuple[str, int, tuple[str, ...]] | None = None


class _Operation:
    __slots__ = ("id", "path_checks", "query_checks", "query_names")

    def __init__(self, op_id: str, query_checks: list, path_checks: list) -> None:
        self.id = op_id
        self.query_checks = query_checks  # [(name, check)], check(value) -> bool
        self.path_checks = path_checks
        self.query_names = frozenset(name for name, _ in query_checks)


def _segments(path: str) -> list[str] | None:
    if not path.startswith("/"):
        return None
    p = path.rstrip("/")
    return p[1:].split("/") if p else []


def _template_segment(seg: str) -> tuple[str, Any]:
    """'lit' / ('wild', name) / ('pat', compiled regex, names)."""
    if "{" not in seg:
        return "lit", seg
    m = re.fullmatch(r"\{([^{}]+)\}", seg)
    if m:
        return "wild", (m.group(1),)
    names: list[str] = []
    rx = ""
    pos = 0
    for pm in re.finditer(r"\{([^{}]+)\}", seg):
        rx += re.escape(seg[pos:pm.start()]) + "(.+?)"
        names.append(pm.group(1))
        pos = pm.end()
    rx += re.escape(seg[pos:])
    return "pat", (re.compile(rx), tuple(names))


def _pointer(doc: Any, ref: str) -> Any:
    node = doc
    for part in ref[2:].split("/") if ref != "#" else []:
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


class OpenAPI:
    """An OpenAPI 3.x (or Swagger 2.0) document compiled for routing.

    ``route(method, path, query)`` returns ``(route, spec)`` where ``route``
    is the server base path plus the matching template (``UNMATCHED`` if
    none) and ``spec`` holds ``documented``, ``operation`` (absent when
    unmatched), ``method_allowed``, ``unknown_params`` and ``invalid_params``
    (sorted lists).  Local ``$ref``s are resolved; anything that cannot be
    resolved or understood is ignored, never raised.  Parameter schemas are
    compiled into small validator closures when the document is loaded.
    """

    def __init__(self, doc: Mapping, *, source: str | None = None, cache_size: int = 65536) -> None:
        if not isinstance(doc, Mapping):
            raise ValueError("an OpenAPI document must be a mapping")
        self.doc = doc
        self.source = source
        self._root = _Node()
        self._items: list[dict[str, _Operation]] = []
        self.templates: list[str] = []
        self._bases = self._base_paths(doc)
        self._patterns: dict[str, re.Pattern | None] = {}
        paths = doc.get("paths")
        if isinstance(paths, Mapping):
            for template, item in paths.items():
                if isinstance(template, str) and template.startswith("/"):
                    self._add(template, self._deref(item))
        self.operations = sum(len(ops) for ops in self._items)
        self._cached = lru_cache(maxsize=cache_size)(self._match)
        self._cached_base = lru_cache(maxsize=cache_size)(self._base)
        self._roles: Any = None

    def role_table(self) -> Any:
        """The endpoint roles of this document's operations (a ``roles.RoleTable``, no overrides).

        Built on first use and kept: inference runs once per document, not
        per event or per normaliser (docs/roles.md).
        """
        if self._roles is None:
            from .roles import RoleTable

            self._roles = RoleTable([self])
        return self._roles

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, path_or_dict: str | os.PathLike | Mapping, **kw: Any) -> OpenAPI:
        """Read a JSON or YAML file (or take a parsed document).

        Raises ``OSError`` for an unreadable file and ``ValueError`` for one
        that is not JSON/YAML or not a mapping.
        """
        if isinstance(path_or_dict, Mapping):
            return cls(path_or_dict, **kw)
        p = os.fspath(path_or_dict)
        with open(p, "rb") as f:
            data = f.read()
        try:
            if data.lstrip()[:1] == b"{":
                import orjson

                doc = orjson.loads(data)
            else:
                import yaml

                doc = yaml.safe_load(data)
        except Exception as e:
            raise ValueError(f"{p}: not a JSON or YAML document: {e}") from None
        if not isinstance(doc, Mapping):
            raise ValueError(f"{p}: an OpenAPI document must be a mapping")
        return cls(doc, source=p, **kw)

    def _deref(self, node: Any) -> Any:
        for _ in range(_MAX_DEPTH):
            if not isinstance(node, Mapping) or "$ref" not in node:
                return node
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                return None  # remote references are not followed
            node = _pointer(self.doc, ref)
        return None

    @staticmethod
    def _base_paths(doc: Mapping) -> list[list[str]]:
        bases: list[str] = []
        servers = doc.get("servers")
        if isinstance(servers, list):
            for s in servers:
                if not isinstance(s, Mapping) or not isinstance(s.get("url"), str):
                    continue
                url = s["url"]
                variables = s.get("variables") if isinstance(s.get("variables"), Mapping) else {}
                for name, var in variables.items():
                    default = var.get("default") if isinstance(var, Mapping) else None
                    url = url.replace("{" + str(name) + "}", str(default or ""))
                try:
                    bases.append(urlsplit(url).path)
                except ValueError:
                    continue
        if isinstance(doc.get("basePath"), str):  # Swagger 2.0
            bases.append(doc["basePath"])
        out = []
        for b in bases or [""]:
            segs = _segments(b if b.startswith("/") else "/" + b)
            if segs is not None and segs not in out:
                out.append(segs)
        return sorted(out, key=len, reverse=True)  # the longest base first

    def _add(self, template: str, item: Any) -> None:
        if not isinstance(item, Mapping):
            return
        segs = _segments(template)
        node = self._root
        names: list[str] = []
        for seg in segs:
            kind, val = _template_segment(seg)
            if kind == "lit":
                node = node.lit.setdefault(seg, _Node())
            elif kind == "wild":
                if node.wild is None:
                    node.wild = _Node()
                node = node.wild
                names.extend(val)
            else:
                rx, pnames = val
                for prx, child in node.pat:
                    if prx.pattern == rx.pattern:
                        node = child
                        break
                else:
                    child = _Node()
                    node.pat.append((rx, child))
                    node = child
                names.extend(pnames)
        if node.leaf is not None:
            return  # an equivalent template came first
        shared = self._params(item.get("parameters"))
        ops: dict[str, _Operation] = {}
        for method in _METHODS:
            op = self._deref(item.get(method))
            if not isinstance(op, Mapping):
                continue
            params = dict(shared)
            params.update(self._params(op.get("parameters")))
            op_id = op.get("operationId")
            checks: dict[str, list] = {"query": [], "path": []}
            for name, loc, schema, explode in params.values():
                if loc in checks:
                    checks[loc].append((name, self._validator(schema, explode, 0)))
            ops[method] = _Operation(op_id if isinstance(op_id, str) and op_id else "",
                                     checks["query"], checks["path"])
        self._items.append(ops)
        node.leaf = (template, len(self._items) - 1, tuple(names))
        self.templates.append(template)

    def _params(self, params: Any) -> dict[tuple[str, str], tuple[str, str, Any, bool]]:
        out: dict[tuple[str, str], tuple[str, str, Any, bool]] = {}
        if not isinstance(params, list):
            return out
        for p in params:
            p = self._deref(p)
            if not isinstance(p, Mapping):
                continue
            name, loc = p.get("name"), p.get("in")
            if not isinstance(name, str) or loc not in ("query", "path", "header", "cookie"):
                continue
            # 3.x puts the schema under "schema"; 2.0 puts type/format/... on the parameter.
            schema = p.get("schema") if "schema" in p else p
            style = p.get("style", "form")
            explode = p.get("explode", style == "form")
            if loc == "query" and isinstance(schema, Mapping) and schema.get("collectionFormat") == "csv":
                explode = False
            out[(name, loc)] = (name, loc, schema, bool(explode))
        return out

    def iter_operations(self) -> Iterator[SpecOperation]:
        """Every documented operation, in document order (read-only view for tools).

        ``routes`` are the routes ``route()`` returns for it, one per server
        base path; they are empty when an equivalent template came first (the
        router never returns this one).  ``operation`` and ``item`` are the
        operation and path-item objects with local ``$ref``s resolved.
        """
        paths = self.doc.get("paths")
        if not isinstance(paths, Mapping):
            return
        live = set(self.templates)
        for template, item in paths.items():
            if not (isinstance(template, str) and template.startswith("/")):
                continue
            item = self._deref(item)
            if not isinstance(item, Mapping):
                continue
            routes: tuple[str, ...] = ()
            if template in live:
                routes = tuple(self._route_of(base, template) for base in self._bases)
            for method in _METHODS:
                op = self._deref(item.get(method))
                if isinstance(op, Mapping):
                    op_id = op.get("operationId")
                    yield SpecOperation(method.upper(), template, routes,
                                        op_id if isinstance(op_id, str) and op_id else None, op, item)

    @staticmethod
    def _route_of(base: list[str], template: str) -> str:
        route = ("/" + "/".join(base) if base else "") + template
        if route != "/" and template == "/" and base:
            route = "/" + "/".join(base)
        return route

    # ------------------------------------------------------------ matching

    def _walk(self, node: _Node, segs: list[str], i: int, vals: tuple) -> tuple | None:
        if i == len(segs):
            return (node.leaf, vals) if node.leaf is not None else None
        seg = segs[i]
        child = node.lit.get(seg)
        if child is not None:
            r = self._walk(child, segs, i + 1, vals)
            if r is not None:
                return r
        for rx, child in node.pat:
            m = rx.fullmatch(seg)
            if m is not None:
                r = self._walk(child, segs, i + 1, vals + m.groups())
                if r is not None:
                    return r
        if node.wild is not None and seg:
            return self._walk(node.wild, segs, i + 1, vals + (seg,))
        return None

    def _match(self, path: str) -> tuple[str, int, tuple[tuple[str, str], ...]] | None:
        segs = _segments(path)
        if segs is None:
            return None
        segs = [unquote(s) if "%" in s else s for s in segs]
        for base in self._bases:
            n = len(base)
            if segs[:n] != base:
                continue
            r = self._walk(self._root, segs, n, ())
            if r is not None:
                (template, item, names), vals = r
                return self._route_of(base, template), item, tuple(zip(names, vals))
        return None

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """``(route, path parameters)`` of the template matching ``path``, or None."""
        r = self._lookup(path)
        return None if r is None else (r[0], dict(r[2]))

    def _lookup(self, path: str) -> Any:
        if type(path) is not str:
            return None
        if len(path) > _MAX_CACHED_PATH:
            return self._match(path)
        return self._cached(path)

    def route(self, method: str, path: str, query: Any = None) -> tuple[str, dict[str, Any]]:
        """``(route, spec fields)`` for one request; never raises for any input.

        The part that depends on method and path only is cached (LRU), so a
        request without a query costs one cache hit and one small dict.
        """
        if type(method) is str and type(path) is str and len(path) <= _MAX_CACHED_PATH:
            route, op_name, op, path_invalid = self._cached_base(method, path)
        else:
            route, op_name, op, path_invalid = self._base(method, path)
        if op is None:
            if op_name is None:
                return route, {"documented": False, "method_allowed": False,
                               "unknown_params": [], "invalid_params": []}
            return route, {"documented": False, "operation": op_name, "method_allowed": False,
                           "unknown_params": [], "invalid_params": []}
        unknown: list[str] = []
        invalid = list(path_invalid)
        if query:
            if type(query) is str:
                query = parse_query(query)
            elif not isinstance(query, Mapping):
                query = {}
            names = op.query_names
            for k in query:
                if k not in names and not (type(k) is str and k.split("[", 1)[0] in names):
                    unknown.append(str(k))
            if len(unknown) > 1:
                unknown.sort()
            for name, check in op.query_checks:
                if name in query and not check(query[name]) and name not in invalid:
                    invalid.append(name)
            if len(invalid) > 1:
                invalid.sort()
        return route, {"documented": True, "operation": op_name, "method_allowed": True,
                       "unknown_params": unknown, "invalid_params": invalid}

    def _base(self, method: Any, path: Any) -> tuple[str, str | None, _Operation | None, tuple[str, ...]]:
        """(route, operation name, operation or None, invalid path parameters) of a request."""
        r = self._match(path) if type(path) is str else None
        if r is None:
            return UNMATCHED, None, None, ()
        route, item, pparams = r
        ops = self._items[item]
        m = method if type(method) is str else ""
        op = ops.get(m.lower()) if m.isupper() else None
        if op is None and m == "HEAD":
            op = ops.get("get")  # HEAD is served wherever GET is
        if op is None:
            return route, f"{m} {route}", None, ()
        invalid = []
        for name, check in op.path_checks:
            for pname, value in pparams:
                if pname == name and not check(value) and name not in invalid:
                    invalid.append(name)
        return route, op.id or f"{m} {route}", op, tuple(sorted(invalid))

    # ---------------------------------------------------------- validation

    def _validator(self, schema: Any, explode: bool, depth: int) -> Callable[[Any], bool]:
        """Compile a parameter schema into ``check(value) -> bool`` (value: text, or a
        list for a repeated parameter); what cannot be understood accepts."""
        schema = self._deref(schema)
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return _accept
        checks: list[Callable[[Any], bool]] = []
        for sub in _list(schema.get("allOf")):
            checks.append(self._validator(sub, explode, depth + 1))
        for key in ("anyOf", "oneOf"):
            subs = [self._validator(x, explode, depth + 1) for x in _list(schema.get(key))]
            if subs:
                checks.append(lambda v, subs=subs: any(f(v) for f in subs))
        t = schema.get("type")
        if t == "null":
            checks.append(lambda v: v is None)
        elif isinstance(t, list):  # 3.1: "type": ["integer", "null"]
            subs = [self._validator({**schema, "type": x}, explode, depth + 1) for x in t]
            checks.append(lambda v, subs=subs: any(f(v) for f in subs))
        elif t == "array":
            checks.append(self._array(schema, explode, depth))
        else:
            scalar = self._scalar(schema, t)
            if scalar is not None:
                def each(v: Any, scalar=scalar) -> bool:
                    if type(v) is list:  # a scalar parameter given several times
                        return all(each(x) for x in v)
                    text = _text(v)
                    return True if text is None else scalar(text)  # objects are not checked
                checks.append(each)
        checks = [c for c in checks if c is not _accept]
        if not checks:
            return _accept
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def _array(self, schema: Mapping, explode: bool, depth: int) -> Callable[[Any], bool]:
        lo = schema.get("minItems") if isinstance(schema.get("minItems"), int) else None
        hi = schema.get("maxItems") if isinstance(schema.get("maxItems"), int) else None
        item = self._validator(schema.get("items"), True, depth + 1)

        def check(v: Any) -> bool:
            if isinstance(v, list):
                items = v
            else:
                text = _text(v)
                if text is None:
                    return True
                items = [text] if explode else text.split(",")
            n = len(items)
            if (lo is not None and n < lo) or (hi is not None and n > hi):
                return False
            return all(item(x) for x in items)

        return check

    def _scalar(self, schema: Mapping, t: Any) -> Callable[[str], bool] | None:
        """The test of one text value against a scalar schema, or None when there is nothing to test."""
        enum = schema.get("enum") if isinstance(schema.get("enum"), list) else None
        if t in ("integer", "number"):
            integer = t == "integer"
            fmt = schema.get("format")
            lo, hi = schema.get("minimum"), schema.get("maximum")
            xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
            bounds = []
            if _num(lo):
                bounds.append((lo, xlo is True, True))
            if _num(hi):
                bounds.append((hi, xhi is True, False))
            if _num(xlo):  # 3.1 numeric form
                bounds.append((xlo, True, True))
            if _num(xhi):
                bounds.append((xhi, True, False))
            if integer and fmt == "int32":
                bounds += [(-(2**31), False, True), (2**31 - 1, False, False)]
            elif integer and fmt == "int64":
                bounds += [(-(2**63), False, True), (2**63 - 1, False, False)]
            nums = [e for e in enum if _num(e)] if enum is not None else None
            rx = _INTEGER if integer else _DECIMAL

            def number(text: str) -> bool:
                s = text.strip()
                if not rx.fullmatch(s):
                    return False
                num = int(s) if integer else float(s)
                if not integer and not math.isfinite(num):
                    return False
                if nums is not None and num not in nums:
                    return False
                for b, exclusive, is_min in bounds:
                    if is_min:
                        if num < b or (exclusive and num == b):
                            return False
                    elif num > b or (exclusive and num == b):
                        return False
                return True

            return number
        if t == "boolean":
            return lambda text: text in ("true", "false")
        if t not in (None, "string"):
            return None  # objects and unknown types are not checked
        texts = {_text(e) for e in enum} if enum is not None else None
        lo = schema.get("minLength") if isinstance(schema.get("minLength"), int) else None
        hi = schema.get("maxLength") if isinstance(schema.get("maxLength"), int) else None
        pattern = self._pattern(schema["pattern"]) if isinstance(schema.get("pattern"), str) else None
        fmt = schema.get("format") if isinstance(schema.get("format"), str) else None
        if texts is None and lo is None and hi is None and pattern is None and fmt is None:
            return None

        def string(text: str) -> bool:
            if texts is not None and text not in texts:
                return False
            n = len(text)
            if (lo is not None and n < lo) or (hi is not None and n > hi):
                return False
            if pattern is not None and pattern.search(text) is None:
                return False
            return fmt is None or _valid_format(fmt, text)

        return string

    def _pattern(self, pattern: str) -> re.Pattern | None:
        if pattern not in self._patterns:
            try:
                self._patterns[pattern] = re.compile(pattern)
            except (re.error, RecursionError, OverflowError):
                self._patterns[pattern] = None  # an invalid pattern is ignored
        return self._patterns[pattern]


def _accept(value: Any) -> bool:
    return True


_INTEGER = re.compile(r"[+-]?\d{1,400}")
_DECIMAL = re.compile(r"[+-]?(?:\d{1,400}(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")
_FORMAT_RX = {
    "uuid": _UUID,
    "email": re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    "date-time": re.compile(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"),
    "byte": re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"),
}


def _valid_format(fmt: str, text: str) -> bool:
    rx = _FORMAT_RX.get(fmt)
    if rx is not None:
        return rx.fullmatch(text) is not None
    if fmt == "date":
        try:
            date.fromisoformat(text)
            return len(text) == 10
        except ValueError:
            return False
    if fmt in ("ipv4", "ipv6"):
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return False
        return addr.version == (4 if fmt == "ipv4" else 6)
    return True  # unknown formats are not checked


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


def _text(v: Any) -> str | None:
    if type(v) is str:
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    return None
