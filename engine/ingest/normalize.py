"""Normalisation, the ingest stage of ``Engine.feed``: decoded record -> canonical API event.

``Normalizer`` maps aliases (ECS, OpenTelemetry) and user mappings to the
canonical fields, parses the time, coerces types and records what it could not
use in ``ev["_invalid"]``; a record without a usable time raises ``BadInput``.
Derived fields (``role``, ``operation``, ``client``, ``actor``) are added to a
copy when rules read them. Measured design choice: a dict that is already
canonical is checked by a small function generated per key set and returned
without copying, for about the cost of ``orjson.loads`` of the event; fixing
a copy costs 2-3x that, the general path (ECS documents) 10-30x
(``benchmarks/bench_ingest.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any
from urllib.parse import unquote_plus

from .. import pycode
from ..quarantine import Bad, BadInput
from ..schema import ALIASES, BOUNDS, CANONICAL, DERIVED, EVENT_FIELDS, FIELDS, PYTHON_TYPES, TS_MAX
from .identity import actor_of, client_of
from .timestamp import INT_TEXT, NUMBER_TEXT, parse_time

__all__ = ["CANONICAL_FIELDS", "EXTRA_FIELDS", "ID_ONLY", "Normalizer", "default_id", "parse_query", "with_id"]


#: Canonical field -> Python type it has after normalisation (from the schema table).
CANONICAL_FIELDS: dict[str, type] = {name: PYTHON_TYPES[FIELDS[name]] for name in CANONICAL}

#: Fields that are not canonical but that sleuth's own readers and templaters
#: produce; they are typed like canonical fields so that events from
#: ``source.py`` qualify for the fast path.
EXTRA_FIELDS: dict[str, type] = {f.name: PYTHON_TYPES[f.type] for f in EVENT_FIELDS if f.origin == "reader"}

# Inclusive bounds of the integer and float fields; outside them a value is
# "out-of-range" (a snapshot must also be able to store it as msgpack int64).
_INT_BOUNDS = {name: b for name, b in BOUNDS.items() if CANONICAL_FIELDS[name] is int}
_LATENCY_MAX = BOUNDS["latency_ms"][1]  # ms; ~31,700 years: anything above is garbage
# Field -> factor from its aliases' unit to the field's own.
_ALIAS_SCALE = {f.name: f.alias_scale for f in EVENT_FIELDS if f.alias_scale != 1.0}

_ID_MAX = 256  # characters kept of a non-string id
_QUERY_MAX_FIELDS = 1000

_TYPED = {**CANONICAL_FIELDS, **EXTRA_FIELDS}
#: What a fast-path checker returns for an event that is canonical but for its missing id.
ID_ONLY = _ID_ONLY = ("id",)
_CANON_GET = CANONICAL_FIELDS.get
_EXTRA_STR = frozenset(k for k, t in EXTRA_FIELDS.items() if t is str)
_FAST_KEYS = frozenset(_TYPED)
_DERIVED = frozenset(DERIVED)


class _DeriveOnly(tuple):
    """What a checker returns for an event that is canonical but lacks its id or derived fields only."""

    __slots__ = ()

_MISSING = object()
_BUILTINS = {"type": type, "len": len, "float": float, "int": int, "dict": dict, "str": str,
             "TypeError": TypeError}


# ------------------------------------------------------------------ query

def parse_query(text: str, max_fields: int = _QUERY_MAX_FIELDS) -> dict[str, Any]:
    """``a=1&b=x%20y&a=2`` -> ``{"a": ["1", "2"], "b": "x y"}``.

    A leading ``?`` is ignored; ``+`` is a space; a name without ``=`` gets
    ``""``; a repeated name gets a list of its values in order.  At most
    ``max_fields`` pairs are read (the rest is ignored).  Never raises.
    """
    if text.startswith("?"):
        text = text[1:]
    out: dict[str, Any] = {}
    if not text:
        return out
    for n, pair in enumerate(text.split("&")):
        if n >= max_fields:
            break
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        old = out.get(name, _MISSING)
        if old is _MISSING:
            out[name] = value
        elif type(old) is list:
            old.append(value)
        else:
            out[name] = [old, value]
    return out


def _lookup(m: Mapping, path: str) -> Any:
    """Value at a dotted path: a flat key (``"source.ip"``), nested mappings
    (``{"source": {"ip": ...}}``) or a mix of both; ``_MISSING`` if absent.

    The pure forms are tried first; the general search over every split
    point runs only where a mapping on the way has dotted keys itself.
    """
    v = m.get(path, _MISSING)
    if v is not _MISSING or "." not in path:
        return v
    node: Any = m
    for part in path.split("."):
        if type(node) is not dict and not isinstance(node, Mapping):
            return _MISSING
        nxt = node.get(part, _MISSING)
        if nxt is _MISSING:
            if any(type(k) is str and "." in k for k in node):
                return _lookup_mixed(m, path)
            return _MISSING
        node = nxt
    return node


def _lookup_mixed(m: Mapping, path: str) -> Any:
    v = m.get(path, _MISSING)
    if v is not _MISSING:
        return v
    i = path.find(".")
    while i != -1:
        head = m.get(path[:i], _MISSING)
        if isinstance(head, Mapping):
            v = _lookup_mixed(head, path[i + 1:])
            if v is not _MISSING:
                return v
        i = path.find(".", i + 1)
    return _MISSING


# ------------------------------------------------------------ coercion

def _text(v: Any) -> str | None:
    """A scalar as text, or None when it is not one (lists, mappings, bools)."""
    t = type(v)
    if t is str:
        return v
    if t is bool or isinstance(v, bool):
        return None
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else None
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "backslashreplace")
    return None


def _coerce_int(name: str, v: Any) -> int | str:
    """-> int, or a reason id string when it cannot be one."""
    if isinstance(v, bool):
        return "wrong-type"
    if isinstance(v, int):
        n = int(v)
    elif isinstance(v, float):
        if not math.isfinite(v):
            return "not-finite"
        if not v.is_integer():
            return "not-integer"
        n = int(v)
    elif isinstance(v, (str, bytes, bytearray)):
        s = v.strip() if isinstance(v, str) else bytes(v[:64]).decode("ascii", "replace").strip()
        if INT_TEXT.fullmatch(s):
            n = int(s)
        elif len(s) <= 64 and NUMBER_TEXT.fullmatch(s):
            f = float(s)
            if not math.isfinite(f) or not f.is_integer():
                return "not-integer"
            n = int(f)
        else:
            return "unparsable"
    else:
        return "wrong-type"
    lo, hi = _INT_BOUNDS[name]
    if not lo <= n <= hi:
        return "out-of-range"
    return n


def _coerce_float(v: Any, scale: float = 1.0) -> float | str:
    if isinstance(v, bool):
        return "wrong-type"
    if isinstance(v, (int, float)):
        try:
            f = float(v)
        except OverflowError:
            return "out-of-range"
    elif isinstance(v, (str, bytes, bytearray)):
        s = v.strip() if isinstance(v, str) else bytes(v[:64]).decode("ascii", "replace").strip()
        if len(s) > 64 or not NUMBER_TEXT.fullmatch(s):
            return "unparsable"
        f = float(s)
    else:
        return "wrong-type"
    if not math.isfinite(f):
        return "not-finite"
    f = f * scale
    if not 0.0 <= f <= _LATENCY_MAX:
        return "out-of-range"
    return f


# -------------------------------------------------------------- normalizer

def default_id(source: str, position: int) -> str:
    """The id of an event that carries none: ``<source>:<position>`` (stable across runs)."""
    return f"{source}:{position}"


def with_id(ev: dict, source: str, position: int) -> dict:
    """A copy of a canonical event given its default id (the fast path's ``ID_ONLY`` case)."""
    ev = ev.copy()
    ev["id"] = f"{source}:{position}"   # default_id, inlined: this runs per event of id-less files
    return ev


class Normalizer:
    """Turns a decoded record into the canonical event (a new dict, or the same one).

    ``mapping`` maps canonical names to source paths and wins over the field
    itself and the built-in aliases; ``templater`` (``OpenAPI`` or
    ``HeuristicTemplater``) derives ``route`` (and ``spec``) from ``path``;
    strings longer than ``max_string`` characters are cut.  Calling it raises
    ``BadInput`` for a non-mapping or an event without a usable time.

    Cost per call on the reference machine: ~0.5 µs for an already canonical
    dict (returned as is), ~1-1.5 µs when a copy needs its id or a few fields
    fixed, ~5-15 µs for the general path; see ``benchmarks/bench_ingest.py``.

    The fast path is public for callers that inline it in their own loop
    (the engine's ``feed_many``): ``fast_path()`` returns ``lookup(size)``,
    the checker compiled for dicts of that many keys (or None). A checker
    ``check(ev)`` returns an empty tuple when ``ev`` is canonical as it is,
    ``ID_ONLY`` when only its id is missing (``with_id`` adds it), another
    tuple of fields to repair, or raises ``KeyError``/``TypeError`` (another
    key set, a non-string among the strings); in every case but the first
    two, ``normalize`` gives the answer. A reader's ``Bad`` passed in is
    raised as ``BadInput`` with the reader's reason, so one quarantine takes
    both.
    """

    #: Compiled fast-path checkers are bounded; past this, new key sets take the slow path.
    MAX_SHAPES = 512

    def __init__(
        self,
        mapping: Mapping[str, str] | None = None,
        *,
        templater: Any = None,
        max_string: int = 65536,
        watch: Iterable[str] | None = None,
        roles: Any = None,
        derive: Iterable[str] | None = None,
    ) -> None:
        self.mapping = dict(mapping or {})
        # `watch`: the fields a rule pack reads. The fast path then checks the types of
        # those only (others pass through as they are: no rule compares them); the
        # engine builds its default normaliser this way. None checks every field.
        # Time and id are always checked (ordering, provenance); route and path too when a
        # templater derives one from the other.
        always = {"ts", "id", "route", "path"} if templater is not None else {"ts", "id"}
        self._always = frozenset(always)
        self.watch = None if watch is None else frozenset(watch) | always
        for name in self.mapping:
            if name not in CANONICAL_FIELDS:
                raise ValueError(f"unknown canonical field {name!r} in mapping")
        # Derived fields: an explicit set, or automatic (None): those `watch` names, plus
        # those of the packs of the engines that use this normaliser (`want`).
        self._auto = derive is None
        wanted = frozenset(watch or ()) if derive is None else frozenset(derive)
        unknown = sorted(wanted - _DERIVED) if derive is not None else []
        if unknown:
            raise ValueError(f"not a derived field: {', '.join(unknown)} (expected some of {', '.join(DERIVED)})")
        self.templater = templater
        self.roles = roles
        self._role_get: Any = None
        self.max_string = int(max_string)
        self._mapped = list(self.mapping.items())
        # A fast-path event must not hold a key a user mapping reads from.
        self._blocked = frozenset(k for k in _FAST_KEYS if any(
            k in _prefixes(src) for src in self.mapping.values()))
        self._shapes: dict[frozenset, Any] = {}
        self._memo: dict[int, Any] = {}
        self.derive: frozenset = frozenset()
        self._set_derive(wanted & _DERIVED)

    def _set_derive(self, fields: frozenset) -> None:
        self.derive = fields
        if fields and self.watch is not None:
            self.watch = self.watch | fields
        self._shapes.clear()  # the checkers name the derived fields a key set lacks
        self._memo.clear()

    def want(self, fields: Iterable[str]) -> None:
        """Also derive the derived fields among ``fields`` (an engine passes its pack's fields).

        Only a normaliser on automatic derivation (``derive=None``) listens:
        an explicit ``derive`` is kept as given.
        """
        if not self._auto:
            return
        more = self.derive | (frozenset(fields) & _DERIVED)
        if more != self.derive:
            self._set_derive(more)

    # The hot entry point: keep it small, everything else is out of line.
    def normalize(self, raw: Any, source: str = "", position: int = 0) -> dict:
        """Normalise one record; see the class docstring.  Raises ``BadInput``.

        ``normalizer.normalize`` is the same as calling the normalizer, ~70 ns
        cheaper per call on CPython 3.11 when hoisted into a local.
        """
        if type(raw) is dict:
            check = self._memo.get(len(raw))
            if check is not None:
                try:
                    bad = check(raw)
                except KeyError:  # another key set of the same size
                    return self._learn(raw, source, position)
                except TypeError:  # a non-string where strings belong
                    return self._slow(raw, source, position)
                if not bad:
                    return raw
                if bad is _ID_ONLY:  # canonical but for the id (files rarely carry one)
                    return with_id(raw, source, position)
                if type(bad) is _DeriveOnly:  # canonical; a copy gets its derived fields
                    ev = raw.copy()
                    if "id" not in raw:
                        ev["id"] = f"{source}:{position}"   # default_id, inlined
                    self._derive(ev)
                    return ev
                return self._repair(raw, bad, source, position)
            return self._learn(raw, source, position)
        return self._slow(raw, source, position)

    __call__ = normalize

    def fast_path(self):
        """``lookup(size)`` -> the fast-path checker for dicts of that size, or None (class docstring).

        None for a subclass: its own ``normalize`` then decides every event.
        """
        return self._memo.get if type(self) is Normalizer else None

    def _learn(self, raw: dict, source: str, position: int) -> dict:
        """Find or compile the checker of this key set, remember it by size, use it."""
        keys = raw.keys()
        if keys <= _FAST_KEYS and "ts" in raw and self._blocked.isdisjoint(keys):
            shape = frozenset(keys)
            check = self._shapes.get(shape)
            if check is None and len(self._shapes) < self.MAX_SHAPES:
                check = self._shapes[shape] = self._compile(shape)
            if check is not None:
                self._memo[len(shape)] = check
                try:
                    bad = check(raw)
                except (KeyError, TypeError):
                    return self._slow(raw, source, position)
                if not bad:
                    return raw
                return self._repair(raw, bad, source, position)
        return self._slow(raw, source, position)

    def _repair(self, raw: dict, bad: tuple, source: str, position: int) -> dict:
        """Copy a canonically keyed dict and fix just the fields its checker named."""
        out = dict(raw)
        invalid: dict[str, str] = {}
        route = False
        for k in bad:
            if k == "id" and "id" not in raw:
                out["id"] = default_id(source, position)
                continue
            if k == "route" and "route" not in raw:
                route = True
                continue
            if k in _DERIVED and k not in raw:
                continue  # derived below, once the route is known
            v = out.pop(k)
            if v is None:  # null is the same as missing
                continue
            if k not in CANONICAL_FIELDS or _namespace(k, v):
                return self._slow(raw, source, position)
            self._set(out, invalid, k, v, False)
        if "ts" not in out:
            raise BadInput("no-time", "'ts' is null")
        if route and "path" in out:
            self._apply_templater(out, invalid)
        if self.derive:
            self._derive(out)
        if invalid:
            out["_invalid"] = invalid
        return out

    def _compile(self, shape: frozenset) -> Any:
        """Generate the straight-line checker of one key set (the engine's code writer, `pycode`).

        It returns the fields to repair (empty: the event is canonical as
        is; ``id``/``route`` are named when they must be added), and raises
        KeyError when the event has other keys, TypeError when a non-string
        sits where strings belong.  One ``"".join`` over all string fields
        checks their types in C, and its length bounds each of them.  Field
        names, bounds and limits are ``k<n>`` constants, bound as default
        arguments: locals are the cheapest loads (measured below a closure's).
        """
        keys = sorted(shape)
        unwatched = []
        if self.watch is not None:
            unwatched = [k for k in keys if k not in self.watch]
            keys = [k for k in keys if k in self.watch]
        strs = [k for k in keys if _TYPED[k] is str]
        start = []
        if "id" not in shape:
            start.append("id")
        if self.templater is not None and "route" not in shape and "path" in shape:
            start.append("route")
        start += sorted(d for d in self.derive if d not in shape)
        w, k = pycode.Writer(), pycode.Consts()
        w.indent()
        if start == ["id"]:
            first: tuple = _ID_ONLY
        elif start and set(start) <= _DERIVED | {"id"}:
            first = _DeriveOnly(start)   # `bad += (...)` of a field to repair makes a plain tuple
        else:
            first = tuple(start)
        w.line(f"bad = {k.add(first, key='start')}")
        if unwatched:
            # Same size and every key present: the same key set (KeyError otherwise).
            w.line(f"{k.add(itemgetter(*unwatched), key='others')}(ev)")
        if len(strs) == 1:
            w.line(f"v = ev[{k.add(strs[0])}]")
            w.line(f"if type(v) is not str or len(v) > {k.add(self.max_string)}: bad += ({k.add(strs[0])},)")
        elif strs:
            w.line(f"if len({k.add(''.join)}({k.add(itemgetter(*strs), key='strs')}(ev))) > "
                   f"{k.add(self.max_string)}: raise TypeError")
        for name in keys:
            t = _TYPED[name]
            if t is dict:
                w.line(f"v = ev[{k.add(name)}]")
                w.line(f"if type(v) is not dict: bad += ({k.add(name)},)")
                if name in ("headers", "query", "params"):
                    w.line("elif v:")
                    w.line(f"    n = {k.add(''.join)}(v)  # TypeError unless all names are str")
                    if name == "headers":
                        w.line(f"    if n != n.lower() or len({k.add(''.join)}(v.values())) > {k.add(self.max_string)}:")
                        w.line(f"        bad += ({k.add(name)},)")
                continue
            bounds = BOUNDS.get(name)
            if bounds is None:
                continue
            lo, hi = bounds
            w.line(f"v = ev[{k.add(name)}]")
            w.line(f"if type(v) is not {t.__name__} or not {k.add(lo)} <= v <= {k.add(hi)}: bad += ({k.add(name)},)")
        w.line("return bad")
        w.dedent()
        # Builtins and constants are bound as defaults (type=type, k0=k0, ...): a local load is
        # the cheapest; each default costs a copy per call, so only the builtins used are bound.
        # Measured on the bench's filter shape: ~290 ns a call with literals in the source,
        # ~305 ns so (closure cells or module globals instead: 310-330 ns).
        body = "\n".join(w.lines)
        used = [b for b in ("type", "len", "float", "int", "dict") if re.search(rf"\b{b}\b", body)]
        w.lines.insert(0, f"def check({', '.join(['ev', *(f'{n}={n}' for n in [*used, *k.names])])}):")
        factory, src, _lines = pycode.compile_factory(
            w, k, "make_check", "check", pycode.unique_filename("normalize check", f"{len(keys)} keys"),
            {"__builtins__": _BUILTINS})
        check = factory(*k.values)
        check.source = src  # for debugging, tests and `describe`
        check.constants = k.listing()
        return check

    # -------------------------------------------------------------- slow path

    def _slow(self, raw: Any, source: str, position: int) -> dict:
        if not isinstance(raw, Mapping):
            if type(raw) is Bad:  # a reader's undecodable record: quarantined under its reason
                raise BadInput(raw.reason, raw.detail, raw.excerpt)
            raise BadInput("not-mapping", f"expected a mapping (JSON object), got {type(raw).__name__}")
        out: dict[str, Any] = {}
        invalid: dict[str, str] = {}
        namespaces: set = set()  # canonical keys holding an ECS object, not a value
        consumed: set = set()  # flat alias keys whose value moved to a canonical field
        maxs = self.max_string
        set_ = self._set
        # Priority per field: user mapping, then the canonical key, then the
        # aliases in table order.  The first present non-null value decides.
        for name, path in self._mapped:
            v = _lookup(raw, path)
            if v is not _MISSING and v is not None and not _namespace(name, v):
                if path in raw:
                    consumed.add(path)
                set_(out, invalid, name, v, False)
        for k, v in raw.items():
            t = _CANON_GET(k)
            if t is None or v is None or k in out or k in invalid:
                continue
            tv = type(v)
            # Inline the common "already the right type" cases; _set does the rest.
            if tv is t:
                if t is str:
                    if len(v) > maxs:
                        v = v[:maxs]
                        invalid[k] = "truncated"
                    out[k] = v
                    continue
                if t is int:
                    lo, hi = _INT_BOUNDS[k]
                    if lo <= v <= hi:
                        out[k] = v
                    else:
                        invalid[k] = "out-of-range"
                    continue
                if t is float and k == "ts" and 0.0 <= v <= TS_MAX:
                    out[k] = v
                    continue
            elif tv not in _PLAIN and _namespace(k, v):
                namespaces.add(k)
                continue
            set_(out, invalid, k, v, False)
        if not _ALIAS_ROOTS.isdisjoint(raw):
            # One walk collects every alias present, flat ("source.ip"),
            # nested ({"source": {"ip": ...}}) or mixed; the best rank wins.
            found: list[tuple[str, Any]] = []
            _collect_aliases(raw, "", found, 0)
            # A field an earlier normalisation judged invalid stays decided,
            # so that normalising an event twice changes nothing more.
            upstream = raw.get("_invalid")
            decided = upstream if isinstance(upstream, Mapping) else ()
            best: dict[str, tuple[int, str, Any]] = {}
            for path, v in found:
                name, rank = _ALIAS_INDEX[path]
                if (v is None or name in out or (name in invalid and name not in namespaces)
                        or name in decided or _namespace(name, v)):
                    continue
                if name not in best or rank < best[name][0]:
                    best[name] = (rank, path, v)
            for name, (_, path, v) in best.items():
                if path in raw:
                    consumed.add(path)  # a flat alias key such as "@timestamp"
                namespaces.discard(name)
                set_(out, invalid, name, v, True)
        for name in namespaces:
            # An ECS object under a derived field's name (`client: {ip: ...}`) is a namespace read
            # through its aliases, not a wrong value: it gives way to the derived field.
            if name not in _DERIVED:
                invalid[name] = "wrong-type"
        if "ts" not in out:
            if "ts" in invalid:
                raise BadInput("bad-time", "the time field is an object")
            raise BadInput("no-time", "no 'ts' field (nor @timestamp, timestamp, time)")
        if "id" not in out:
            out["id"] = default_id(source, position)
        # Everything else passes through unchanged.
        for k, v in raw.items():
            if k in CANONICAL_FIELDS or k in consumed:
                continue
            if k in _EXTRA_STR:
                if v is None:  # null is the same as missing
                    continue
                s = _text(v)
                if s is None:
                    invalid[k] = "wrong-type"
                else:
                    self._cut(out, invalid, k, s)
                continue
            if k == "spec" and not isinstance(v, Mapping):
                invalid[k] = "wrong-type"
                continue
            out[k] = v
        if self.templater is not None and "route" not in out and "path" in out:
            self._apply_templater(out, invalid)
        if self.derive:
            self._derive(out)
        if invalid:
            old = raw.get("_invalid")
            if isinstance(old, Mapping):
                invalid = {**old, **invalid}
            out["_invalid"] = invalid
        return out

    def _cut(self, out: dict, invalid: dict, name: str, s: str) -> str:
        if len(s) > self.max_string:
            s = s[: self.max_string]
            invalid[name] = "truncated"
        out[name] = s
        return s

    def _set(self, out: dict, invalid: dict, name: str, v: Any, from_alias: bool) -> None:
        t = CANONICAL_FIELDS[name]
        if name == "ts":
            try:
                out["ts"] = parse_time(v)
            except BadInput:
                raise
            except Exception as e:  # hostile objects (a datetime subclass, ...)
                raise BadInput("bad-time", f"unparsable time ({type(e).__name__})") from None
            return
        if name == "id":
            s = v if type(v) is str else None
            if s is None:
                try:
                    s = str(v)[:_ID_MAX]
                except Exception:
                    s = f"<{type(v).__name__}>"
            self._cut(out, invalid, "id", s)
            return
        if t is str:
            s = _text(v)
            if s is None:
                invalid[name] = "not-finite" if isinstance(v, float) else "wrong-type"
            else:
                self._cut(out, invalid, name, s)
            return
        if t is int:
            r = _coerce_int(name, v)
            if type(r) is str:
                invalid[name] = r
            else:
                out[name] = r
            return
        if t is float:
            # An alias may carry another unit: event.duration is in nanoseconds (ECS, OpenTelemetry).
            r = _coerce_float(v, _ALIAS_SCALE.get(name, 1.0) if from_alias else 1.0)
            if type(r) is str:
                invalid[name] = r
            else:
                out[name] = r
            return
        # mapping fields: query, params, headers
        if isinstance(v, (str, bytes, bytearray)) and name == "query":
            text = v if isinstance(v, str) else bytes(v).decode("utf-8", "replace")
            if len(text) > self.max_string:
                text = text[: self.max_string]
                invalid["query"] = "truncated"
            out["query"] = parse_query(text)
            return
        if not isinstance(v, Mapping):
            invalid[name] = "wrong-type"
            return
        m: dict[str, Any] = {}
        lower = name == "headers"
        for k, x in v.items():
            k = k if type(k) is str else _text(k)
            if k is None:
                invalid[name] = "wrong-type"
                continue
            if lower:
                k = k.lower()
                if type(x) is str and len(x) > self.max_string:
                    x = x[: self.max_string]
                    invalid[f"headers.{k}"] = "truncated"
            m[k] = x
        out[name] = m

    def _apply_templater(self, ev: dict, invalid: dict | None) -> None:
        method = ev.get("method")
        try:
            route, spec = self.templater.route(method if type(method) is str else "",
                                               ev["path"], ev.get("query"))
        except Exception:  # a user templater must not stop the stream
            if invalid is None:
                invalid = ev.setdefault("_invalid", {})
            invalid["route"] = "templater-error"
            return
        ev["route"] = route
        if spec:
            ev["spec"] = spec


    # ------------------------------------------------------------ derived fields

    _ROLE_CACHE = 65536  # (method, route) decisions kept without a document (cleared when full)

    def _roles_lookup(self) -> Any:
        """``get((method, route))`` -> ``(role, operationId)`` or None, decided once per route template."""
        if self._role_get is None:
            table = self.roles
            if table is None:
                role_table = getattr(self.templater, "role_table", None)
                table = role_table() if callable(role_table) else None
            if table is None:
                from .roles import PathRoles

                table = PathRoles()
            mapping = getattr(table, "mapping", None)
            if mapping is not None:            # a RoleTable: one dict lookup per event
                self._role_get = mapping.get
            else:                              # PathRoles: decided once per (method, template), then a dict
                cache: dict = {}
                decide = table.decide

                def get(key: tuple) -> tuple | None:
                    hit = cache.get(key, _MISSING)
                    if hit is _MISSING:
                        if len(cache) >= self._ROLE_CACHE:
                            cache.clear()
                        role = decide(key[0], key[1]).role
                        hit = cache[key] = (role, None) if role is not None else None
                    return hit
                self._role_get = get
        return self._role_get

    def _derive(self, ev: dict) -> None:
        """Add the derived fields this normaliser derives and ``ev`` lacks (a value it carries is kept)."""
        d = self.derive
        get = ev.get
        want_role = "role" in d and "role" not in ev
        want_op = "operation" in d and "operation" not in ev
        if want_role or want_op:
            method, route = get("method"), get("route")
            if type(route) is str and type(method) is str:
                hit = (self._role_get or self._roles_lookup())((method, route))
                if hit is not None:
                    role, op = hit
                    if want_role and role is not None:
                        ev["role"] = role
                    if want_op and op is not None:
                        ev["operation"] = op
        if "actor" in d or "client" in d:
            client = get("client")
            if client is None:
                client = client_of(ev)
                if client is not None and "client" in d:
                    ev["client"] = client
            if "actor" in d and "actor" not in ev:
                actor = actor_of(ev, client)
                if actor is not None:
                    ev["actor"] = actor


def _prefixes(path: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b", "a.b.c"]``: the top-level keys that may hold it."""
    out = []
    i = path.find(".")
    while i != -1:
        out.append(path[:i])
        i = path.find(".", i + 1)
    out.append(path)
    return out


_PLAIN = frozenset({str, int, float, bool, list, tuple, bytes, type(None)})

# alias path -> (canonical field, rank among that field's aliases)
_ALIAS_INDEX = {a: (name, i) for name, paths in ALIASES.items() for i, a in enumerate(paths)}
# every proper prefix of an alias path: where the alias walk descends
_ALIAS_PREFIXES = frozenset(p for a in _ALIAS_INDEX for p in _prefixes(a)[:-1])
_ALIAS_ROOTS = frozenset(p for a in _ALIAS_INDEX for p in _prefixes(a))


def _collect_aliases(node: Mapping, prefix: str, found: list, depth: int) -> None:
    """Append (alias path, value) for every alias under ``node``; bounded by the alias paths."""
    roots = _ALIAS_ROOTS if depth == 0 else None
    for k, v in node.items():
        if type(k) is not str or (roots is not None and k not in roots):
            continue
        p = prefix + k
        if p in _ALIAS_INDEX:
            found.append((p, v))
        if p in _ALIAS_PREFIXES and (type(v) is dict or isinstance(v, Mapping)) and depth < 8:
            _collect_aliases(v, p + ".", found, depth + 1)


def _namespace(name: str, v: Any) -> bool:
    """True when a mapping sits where a scalar canonical field belongs."""
    t = type(v)
    if t in _PLAIN:
        return False
    return CANONICAL_FIELDS[name] is not dict and (t is dict or isinstance(v, Mapping))


