"""Route templates and API-spec conformance, from an OpenAPI document or a heuristic.

Part of normalisation: ``Normalizer(templater=...)`` calls ``.route(method,
path, query)`` for events without a ``route`` and stores the template in
``route`` and, with a spec, the conformance facts in ``spec`` (documented
operation? method allowed? unknown or invalid parameters?), which is what
``spec-anomaly`` rules read.

Measured design choices: templates are compiled into a segment trie (literal
children before patterned ones before ``{param}`` wildcards) and whole-path
results are kept in an LRU cache, because API paths repeat: a cached route
costs ~1-2 µs, an uncached one a few µs whatever the number of templates.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from .normalize import parse_query

__all__ = ["UNMATCHED", "HeuristicTemplater", "OpenAPI"]

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

class _Node:
    __slots__ = ("leaf", "lit", "pat", "wild")

    def __init__(self) -> None:
        self.lit: dict[str, _Node] = {}
        self.pat: list[tuple[re.Pattern, _Node]] = []
        self.wild: _Node | None = None
        self.leaf: tuple[str, int, tuple[str, ...]] | None = None


class _Operation:
    __slots__ = ("id", "params", "query_names")

    def __init__(self, op_id: str, params: list[tuple[str, str, Any, bool]]) -> None:
        self.id = op_id
        self.params = params  # (name, location, schema, explode)
        self.query_names = frozenset(p[0] for p in params if p[1] == "query")


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
    resolved or understood is ignored, never raised.
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
            ops[method] = _Operation(op_id if isinstance(op_id, str) and op_id else "",
                                     list(params.values()))
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
                route = ("/" + "/".join(base) if base else "") + template
                if route != "/" and template == "/" and base:
                    route = "/" + "/".join(base)
                return route, item, tuple(zip(names, vals))
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
        """``(route, spec fields)`` for one request; never raises for any input."""
        r = self._lookup(path)
        if r is None:
            return UNMATCHED, {"documented": False, "method_allowed": False,
                               "unknown_params": [], "invalid_params": []}
        route, item, pparams = r
        ops = self._items[item]
        m = method if type(method) is str else ""
        op = ops.get(m.lower()) if m.isupper() else None
        if op is None and m == "HEAD":
            op = ops.get("get")  # HEAD is served wherever GET is
        if op is None:
            return route, {"documented": False, "operation": f"{m} {route}", "method_allowed": False,
                           "unknown_params": [], "invalid_params": []}
        if type(query) is str:
            query = parse_query(query)
        elif not isinstance(query, Mapping):
            query = None
        unknown: list[str] = []
        invalid: set[str] = set()
        if query:
            names = op.query_names
            for k in query:
                if k not in names and not (type(k) is str and k.split("[", 1)[0] in names):
                    unknown.append(str(k))
            unknown.sort()
        for name, loc, schema, explode in op.params:
            if loc == "query":
                if query and name in query:
                    if not self._valid(schema, query[name], explode, 0):
                        invalid.add(name)
            elif loc == "path":
                for pname, value in pparams:
                    if pname == name and not self._valid(schema, value, explode, 0):
                        invalid.add(name)
        return route, {"documented": True, "operation": op.id or f"{m} {route}", "method_allowed": True,
                       "unknown_params": unknown, "invalid_params": sorted(invalid)}

    # ---------------------------------------------------------- validation

    def _valid(self, schema: Any, value: Any, explode: bool, depth: int) -> bool:
        """Whether ``value`` (text, or a list for repeated parameters) satisfies ``schema``."""
        schema = self._deref(schema)
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return True
        for sub in _list(schema.get("allOf")):
            if not self._valid(sub, value, explode, depth + 1):
                return False
        for key in ("anyOf", "oneOf"):
            subs = _list(schema.get(key))
            if subs and not any(self._valid(s, value, explode, depth + 1) for s in subs):
                return False
        t = schema.get("type")
        if t == "null":
            return value is None
        if isinstance(t, list):  # 3.1: "type": ["integer", "null"]
            return any(self._valid({**schema, "type": x}, value, explode, depth + 1) for x in t)
        if t == "array":
            if isinstance(value, list):
                items = value
            else:
                text = _text(value)
                if text is None:
                    return True
                items = [text] if explode else text.split(",")
            n = len(items)
            if isinstance(schema.get("minItems"), int) and n < schema["minItems"]:
                return False
            if isinstance(schema.get("maxItems"), int) and n > schema["maxItems"]:
                return False
            sub = schema.get("items")
            return all(self._valid(sub, v, True, depth + 1) for v in items)
        if isinstance(value, list):  # a scalar parameter given several times
            return all(self._valid(schema, v, explode, depth + 1) for v in value)
        text = _text(value)
        if text is None:
            return True  # objects are not validated
        if t in ("integer", "number"):
            return self._valid_number(schema, t, text)
        if t == "boolean":
            return text in ("true", "false")
        enum = schema.get("enum")
        if isinstance(enum, list) and text not in {_text(e) for e in enum}:
            return False
        if t not in (None, "string"):
            return True
        n = len(text)
        if isinstance(schema.get("minLength"), int) and n < schema["minLength"]:
            return False
        if isinstance(schema.get("maxLength"), int) and n > schema["maxLength"]:
            return False
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            rx = self._pattern(pattern)
            if rx is not None and rx.search(text) is None:
                return False
        fmt = schema.get("format")
        return _valid_format(fmt, text) if isinstance(fmt, str) else True

    def _valid_number(self, schema: Mapping, t: str, text: str) -> bool:
        s = text.strip()
        if t == "integer":
            if not _INTEGER.fullmatch(s):
                return False
            num: float = int(s)
            fmt = schema.get("format")
            if fmt == "int32" and not -(2**31) <= num < 2**31:
                return False
            if fmt == "int64" and not -(2**63) <= num < 2**63:
                return False
        else:
            if not _DECIMAL.fullmatch(s):
                return False
            num = float(s)
            if not math.isfinite(num):
                return False
        enum = schema.get("enum")
        if isinstance(enum, list) and num not in [e for e in enum if isinstance(e, (int, float))]:
            return False
        lo, hi = schema.get("minimum"), schema.get("maximum")
        xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if _num(lo) and (num < lo or (xlo is True and num == lo)):
            return False
        if _num(hi) and (num > hi or (xhi is True and num == hi)):
            return False
        if _num(xlo) and num <= xlo:  # 3.1 numeric form
            return False
        if _num(xhi) and num >= xhi:
            return False
        return True

    def _pattern(self, pattern: str) -> re.Pattern | None:
        if pattern not in self._patterns:
            try:
                self._patterns[pattern] = re.compile(pattern)
            except (re.error, RecursionError, OverflowError):
                self._patterns[pattern] = None  # an invalid pattern is ignored
        return self._patterns[pattern]


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
