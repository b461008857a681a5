"""The deployment profile: one TOML file that adapts a rule pack to a site.

Language stage, beside pack loading. ``sleuth.toml`` (or ``--profile F``) names
the OpenAPI documents, role overrides, field mapping, list files, threshold
overrides for a pack's named constants (macros bound to a literal), lateness,
and a ``[policy]`` table kept raw for mitigation. It is parsed with the standard
library's ``tomllib``; since tomllib gives no positions, a small scanner finds
each key and value in the text so every problem is a ``Diagnostic`` with file,
line and column, all reported at once. Overrides reach a pack as arguments
(``pack_arguments``) or as rule text with the literals replaced in place
(``profile_sources``), so every other line and column stays where it was.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from sleuth.engine.ingest.normalize import CANONICAL_FIELDS
from sleuth.engine.ingest.roles import ROLES, parse_override_key

from . import ast
from .diagnostic import ERROR, WARNING, Diagnostic, closest
from .errors import _WithDiagnostics
from .parse import duration_seconds, parse_recovering
from .span import Span
from .unparse import format_duration, quote

__all__ = [
    "PROFILE_NAME", "Profile", "ProfileError", "apply_overrides", "check_profile", "engine_options", "find_profile",
    "load_pack_with_profile", "load_profile", "pack_arguments", "pack_constants", "parse_profile",
    "profile_sources",
]

#: The file looked for in the working directory.
PROFILE_NAME = "sleuth.toml"

_TOP_KEYS = ("openapi", "lateness", "roles", "fields", "lists", "constants", "policy")
_DURATION = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w)")
_LIST_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ProfileError(_WithDiagnostics):
    """A profile that cannot be used: all its diagnostics, sorted by location."""


# ------------------------------------------------------------------ positions

class _Locator:
    """Offsets of every key and value of a TOML text that ``tomllib`` accepted.

    ``keys[path]`` is the span of the key naming ``path`` (for ``a.b = 1`` both
    ``('a',)`` and ``('a', 'b')``; for ``[a.b]`` the header's parts), first
    occurrence; ``values[path]`` the span of its value.  Array elements are
    ``path + (index,)``, arrays of tables ``(name, index)``.  The scanner relies
    on tomllib having validated the text, so it only tracks structure.
    """

    def __init__(self, text: str) -> None:
        self.t = text
        self.i = 0
        self.keys: dict[tuple, tuple[int, int]] = {}
        self.values: dict[tuple, tuple[int, int]] = {}
        self._aot: dict[tuple, int] = {}
        self._run()

    # -- low level
    def _peek(self, s: str) -> bool:
        return self.t.startswith(s, self.i)

    def _ws(self, newlines: bool = False) -> None:
        t = self.t
        while self.i < len(t):
            c = t[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#" and newlines:
                while self.i < len(t) and t[self.i] != "\n":
                    self.i += 1
            else:
                return

    def _string(self) -> None:
        t = self.t
        for q in ('"""', "'''"):
            if self._peek(q):
                end = t.find(q, self.i + 3)
                while q == '"""' and end > 0 and _escaped(t, end):
                    end = t.find(q, end + 1)
                end = len(t) if end < 0 else end + 3
                while end < len(t) and t[end] == q[0]:  # up to two quotes may close the string
                    end += 1
                self.i = end
                return
        q = t[self.i]
        j = self.i + 1
        while j < len(t) and t[j] != q:
            j += 2 if q == '"' and t[j] == "\\" else 1
        self.i = j + 1

    def _key(self) -> list[tuple[str, int, int]]:
        parts = []
        t = self.t
        while True:
            self._ws()
            start = self.i
            if self.i < len(t) and t[self.i] in "\"'":
                self._string()
                raw = t[start:self.i]
                name = tomllib.loads(f"k = {raw}")["k"]
            else:
                while self.i < len(t) and (t[self.i].isalnum() or t[self.i] in "_-"):
                    self.i += 1
                name = t[start:self.i]
            parts.append((name, start, self.i))
            self._ws()
            if self._peek("."):
                self.i += 1
                continue
            return parts

    def _record_key(self, prefix: tuple, parts: list[tuple[str, int, int]]) -> tuple:
        path = prefix
        for name, a, b in parts:
            path = path + (name,)
            self.keys.setdefault(path, (a, b))
        return path

    # -- structure
    def _run(self) -> None:
        table: tuple = ()
        t = self.t
        while True:
            self._ws(newlines=True)
            if self.i >= len(t):
                return
            if self._peek("[["):
                self.i += 2
                parts = self._key()
                self.i += 2  # ]]
                name = tuple(p[0] for p in parts)
                n = self._aot.get(name, 0)
                self._aot[name] = n + 1
                self._record_key((), parts)
                table = name + (n,)
                self.keys.setdefault(table, (parts[-1][1], parts[-1][2]))
            elif self._peek("["):
                self.i += 1
                parts = self._key()
                self.i += 1  # ]
                table = self._record_key((), parts)
            else:
                self._pair(table)

    def _pair(self, prefix: tuple) -> None:
        parts = self._key()
        path = self._record_key(prefix, parts)
        self._ws()
        self.i += 1  # '='
        self._ws()
        self._value(path)

    def _value(self, path: tuple) -> None:
        t = self.t
        start = self.i
        c = t[self.i] if self.i < len(t) else ""
        if c in "\"'":
            self._string()
        elif c == "[":
            self.i += 1
            n = 0
            while True:
                self._ws(newlines=True)
                if self._peek("]"):
                    self.i += 1
                    break
                self._value(path + (n,))
                n += 1
                self._ws(newlines=True)
                if self._peek(","):
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self._ws(newlines=True)
                if self._peek("}"):
                    self.i += 1
                    break
                self._pair(path)
                self._ws(newlines=True)
                if self._peek(","):
                    self.i += 1
        else:
            while self.i < len(t) and t[self.i] not in ",]}#\r\n":
                self.i += 1
            end = self.i
            while end > start and t[end - 1] in " \t":
                end -= 1
            self.values.setdefault(path, (start, end))
            return
        self.values.setdefault(path, (start, self.i))


def _escaped(text: str, pos: int) -> bool:
    n = 0
    while pos - 1 - n >= 0 and text[pos - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


class _Positions:
    """Offsets to 1-based line and column spans."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def span(self, start: int, end: int) -> Span:
        line = bisect_right(self.starts, start)
        end_line = bisect_right(self.starts, max(start, end - 1)) if end > start else line
        col = start - self.starts[line - 1] + 1
        end_col = end - self.starts[end_line - 1] + 1 if end > start else col + 1
        return Span(self.file, line, col, end_line, end_col, start, max(end, start + 1))


# ------------------------------------------------------------------ the profile

@attrs.frozen
class Profile:
    """A parsed deployment profile; paths are resolved against the profile's folder."""

    path: str
    openapi: tuple[str, ...] = ()
    roles: Mapping[tuple[str, str], str] = attrs.field(factory=dict)      # (METHOD or '*', route) -> role/'none'
    fields: Mapping[str, str] = attrs.field(factory=dict)                 # canonical -> source path
    lists: Mapping[str, str] = attrs.field(factory=dict)                  # list name -> file
    constants: Mapping[str, Any] = attrs.field(factory=dict)              # macro name -> TOML value
    lateness: float | None = None
    policy: Mapping[str, Any] = attrs.field(factory=dict)                 # raw, validated by mitigation
    text: str = attrs.field(default="", eq=False, repr=False)
    spans: Mapping[tuple, Span] = attrs.field(factory=dict, eq=False, repr=False)  # ('key'|'value', *path)

    def span_of(self, *path: Any, value: bool = False) -> Span:
        """Where a key (or its value) is written; the nearest written parent otherwise."""
        kinds = ("value", "key") if value else ("key",)
        p = tuple(path)
        while p:
            for k in kinds:
                if (k, *p) in self.spans:
                    return self.spans[(k, *p)]
            p = p[:-1]
        return Span(self.path, 1, 1, 1, 2, 0, 1)


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "table"
    return "date-time"


class _Reader:
    """Checks the parsed TOML against the profile's schema, collecting diagnostics."""

    def __init__(self, file: str, text: str, base_dir: str) -> None:
        self.file = file
        self.text = text
        self.base = base_dir
        self.diags: list[Diagnostic] = []
        self.spans: dict[tuple, Span] = {}

    def error(self, code: str, message: str, span: Span, *hints: str, severity: str = ERROR) -> None:
        self.diags.append(Diagnostic(code, severity, message, span, hints))

    def at(self, path: tuple, value: bool = False) -> Span:
        kinds = ("value", "key") if value else ("key", "value")
        p = path
        while p:
            for k in kinds:
                if (k, *p) in self.spans:
                    return self.spans[(k, *p)]
            p = p[:-1]
        return Span(self.file, 1, 1, 1, 2, 0, 1)

    def _resolve(self, p: str) -> str:
        return os.path.normpath(os.path.join(self.base, os.path.expanduser(p)))

    def read(self) -> Profile | None:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            self._syntax(exc)
            return None
        pos = _Positions(self.file, self.text)
        loc = _Locator(self.text)
        for path, (a, b) in loc.keys.items():
            self.spans[("key", *path)] = pos.span(a, b)
        for path, (a, b) in loc.values.items():
            self.spans[("value", *path)] = pos.span(a, b)
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key not in _TOP_KEYS:
                guess = closest(key, _TOP_KEYS)
                self.error("unknown-key", f"unknown key '{key}' in the profile", self.at((key,)),
                           *([f"did you mean '{guess}'?"] if guess else [f"the keys are {', '.join(_TOP_KEYS)}"]))
                continue
            out[key] = getattr(self, "_" + key)(value)
        return Profile(
            self.file,
            openapi=out.get("openapi") or (),
            roles=out.get("roles") or {},
            fields=out.get("fields") or {},
            lists=out.get("lists") or {},
            constants=out.get("constants") or {},
            lateness=out.get("lateness"),
            policy=out.get("policy") or {},
            text=self.text,
            spans=dict(self.spans),
        )

    def _syntax(self, exc: tomllib.TOMLDecodeError) -> None:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        if m:
            line, col = int(m.group(1)), int(m.group(2))
            msg = msg[:m.start()].strip()
        else:
            m = re.search(r"\(at end of document\)$", msg)
            lines = self.text.split("\n")
            line, col = len(lines), len(lines[-1]) + 1
            msg = msg[:m.start()].strip() if m else msg
        starts = [0] + [mm.end() for mm in re.finditer("\n", self.text)]
        off = starts[min(line, len(starts)) - 1] + col - 1
        self.error("profile-syntax", f"not valid TOML: {msg[:1].lower() + msg[1:]}",
                   Span(self.file, line, col, line, col + 1, off, off + 1))

    def _want(self, path: tuple, value: Any, kinds: tuple[type, ...], expected: str) -> bool:
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            self.error("wrong-type", f"'{'.'.join(map(str, path))}' must be {expected} (got {_type_name(value)})",
                       self.at(path, value=True))
        return ok

    # -- sections
    def _openapi(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            items = [(("openapi",), value)]
        elif isinstance(value, list):
            items = [(("openapi", i), v) for i, v in enumerate(value)]
        else:
            self._want(("openapi",), value, (str, list), "a file name or an array of file names")
            return ()
        out = []
        for path, v in items:
            if not self._want(path, v, (str,), "a file name"):
                continue
            out.append(self._resolve(v))
            if not os.path.isfile(out[-1]):
                self.error("unreadable-file", f"no OpenAPI document at '{v}'", self.at(path, value=True),
                           f"looked for {out[-1]}")
        return tuple(out)

    def _lateness(self, value: Any) -> float | None:
        if isinstance(value, str):
            if not _DURATION.fullmatch(value):
                self.error("bad-duration", f"'lateness' must be a duration like '5s' or '500ms' (got '{value}')",
                           self.at(("lateness",), value=True))
                return None
            return duration_seconds(value)
        if not self._want(("lateness",), value, (int, float), "seconds or a duration string"):
            return None
        if not math.isfinite(value) or value < 0:
            self.error("bad-duration", f"'lateness' must be zero or more seconds (got {value})",
                       self.at(("lateness",), value=True))
            return None
        return float(value)

    def _table(self, name: str, value: Any) -> dict | None:
        return value if self._want((name,), value, (dict,), "a table") else None

    def _roles(self, value: Any) -> dict:
        table = self._table("roles", value)
        out: dict[tuple[str, str], str] = {}
        for key, role in (table or {}).items():
            path = ("roles", key)
            try:
                k = parse_override_key(key)
            except ValueError:
                self.error("bad-route-key", f"'{key}' is not 'METHOD /route' or '/route'", self.at(path),
                           'write e.g. "POST /api/v2/sessions" = "login"')
                continue
            if not self._want(path, role, (str,), "a role name"):
                continue
            if role != "none" and role not in ROLES:
                guess = closest(role, [*ROLES, "none"])
                self.error("unknown-role", f"'{role}' is not a role", self.at(path, value=True),
                           f"did you mean '{guess}'?" if guess else "see docs/roles.md for the vocabulary, "
                           "or 'none' for no role")
                continue
            if k in out:
                self.error("duplicate-override", f"'{key}' overrides the same route as an earlier key",
                           self.at(path))
                continue
            out[k] = role
        return out

    def _fields(self, value: Any) -> dict:
        table = self._table("fields", value)
        out = {}
        for name, src in (table or {}).items():
            path = ("fields", name)
            if name not in CANONICAL_FIELDS:
                guess = closest(name, CANONICAL_FIELDS)
                self.error("unknown-field", f"'{name}' is not a canonical field", self.at(path),
                           f"did you mean '{guess}'?" if guess else "see docs/input.md for the canonical fields")
                continue
            if self._want(path, src, (str,), "a source field path like 'actor.login'"):
                if not src.strip():
                    self.error("wrong-type", f"'fields.{name}' must name a source field", self.at(path, True))
                    continue
                out[name] = src.strip()
        return out

    def _lists(self, value: Any) -> dict:
        table = self._table("lists", value)
        out = {}
        for name, file in (table or {}).items():
            path = ("lists", name)
            if not self._want(path, file, (str,), "a file name"):
                continue
            out[name] = self._resolve(file)
            if not os.path.isfile(out[name]):
                self.error("unreadable-file", f"no list file at '{file}'", self.at(path, value=True),
                           f"looked for {out[name]}")
        return out

    def _constants(self, value: Any) -> dict:
        table = self._table("constants", value)
        out = {}
        for name, v in (table or {}).items():
            path = ("constants", name)
            if self._want(path, v, (int, float, str, bool), "a number, a duration, a string or a boolean"):
                if isinstance(v, float) and not math.isfinite(v):
                    self.error("wrong-type", f"'constants.{name}' must be a finite number", self.at(path, True))
                    continue
                out[name] = v
        return out

    def _policy(self, value: Any) -> dict:
        return self._table("policy", value) or {}


def parse_profile(text: str, file: str = PROFILE_NAME, *, base_dir: str | None = None
                  ) -> tuple[Profile | None, list[Diagnostic]]:
    """Parse profile text; returns the profile (None when it is not TOML) and every diagnostic."""
    r = _Reader(file, text, base_dir if base_dir is not None else os.path.dirname(os.path.abspath(file)))
    profile = r.read()
    return profile, r.diags


def _read_text(path: str) -> tuple[str | None, Diagnostic | None]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, Diagnostic("unreadable-file", ERROR, f"cannot read the profile: {reason}",
                                Span(path, 1, 1, 1, 2, 0, 1))
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Diagnostic("bad-encoding", ERROR, "a profile is UTF-8; this byte is not",
                                Span(path, line, col, line, col + 1, exc.start, exc.start + 1))


def load_profile(path: str | os.PathLike) -> Profile:
    """Read and check a profile; raises ``ProfileError`` with every error diagnostic."""
    path = os.fspath(path)
    text, err = _read_text(path)
    if text is None:
        raise ProfileError([err])
    profile, diags = parse_profile(text, path)
    if profile is None or any(d.is_error for d in diags):
        raise ProfileError(diags, {path: text})
    return profile


def engine_options(profile: Profile) -> dict[str, Any]:
    """The profile's ``Engine(...)`` options: ``openapi``, ``roles``, ``mapping`` (``[fields]``), ``lateness``.

    ``Engine(pack, **engine_options(profile))`` with ``pack`` from
    ``load_pack_with_profile`` is what ``sleuth run`` builds from the same
    profile (docs/embedding.md); only options the profile sets are given.
    """
    out: dict[str, Any] = {}
    if profile.openapi:
        out["openapi"] = list(profile.openapi)
    if profile.roles:
        out["roles"] = {(k[1] if k[0] == "*" else f"{k[0]} {k[1]}"): v for k, v in profile.roles.items()}
    if profile.fields:
        out["mapping"] = dict(profile.fields)
    if profile.lateness is not None:
        out["lateness"] = profile.lateness
    return out


def find_profile(directory: str | os.PathLike = ".") -> str | None:
    """``sleuth.toml`` in ``directory`` when there is one."""
    p = os.path.normpath(os.path.join(os.fspath(directory), PROFILE_NAME))
    return p if os.path.isfile(p) else None


# ------------------------------------------------------------------ the pack's constants

def _literal_kind(body: ast.Expr) -> str | None:
    if isinstance(body, ast.Neg):
        body = body.operand
        return {ast.IntLit: "integer", ast.FloatLit: "number"}.get(type(body))
    return {ast.IntLit: "integer", ast.FloatLit: "number", ast.Duration: "duration", ast.String: "string",
            ast.BoolLit: "boolean"}.get(type(body))


def _pack_modules(pack: Any) -> dict[str, ast.Module]:
    """Parsed modules of a pack given as path(s), a ``CheckedPack`` or a mapping path -> module."""
    if isinstance(pack, Mapping):
        return dict(pack)
    modules = getattr(pack, "modules", None)
    if modules is not None:
        return dict(modules)
    from .pack import find_rule_files

    paths = [pack] if isinstance(pack, (str, os.PathLike)) else list(pack)
    out = {}
    for p in paths:
        for f in find_rule_files(p):
            text, err = _read_text(f)
            if text is not None:
                out[f] = parse_recovering(text, f)[0]
    return out


def pack_constants(pack: Any) -> tuple[dict[str, list[tuple[str, ast.MacroDecl]]], dict[str, list[str]],
                                       set[str]]:
    """``(constants, macros, lists)`` of a pack: constant name -> [(kind, declaration)] for every
    macro bound to a literal; every macro name -> files; declared list names."""
    consts: dict[str, list[tuple[str, ast.MacroDecl]]] = {}
    macros: dict[str, list[str]] = {}
    lists: set[str] = set()
    for file, module in _pack_modules(pack).items():
        for decl in module.decls:
            if isinstance(decl, ast.MacroDecl):
                macros.setdefault(decl.name, []).append(file)
                kind = _literal_kind(decl.body)
                if kind is not None:
                    consts.setdefault(decl.name, []).append((kind, decl))
            elif isinstance(decl, ast.ListDecl):
                lists.add(decl.name)
    return consts, macros, lists


def _constant_node(kind: str, value: Any, span: Span) -> ast.Expr | str:
    """The literal node for a profile value given the constant's kind, or a reason it does not fit."""
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return ast.IntLit(value, span=span) if value >= 0 else ast.Neg(ast.IntLit(-value, span=span), span=span)
        return "an integer"
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            node = ast.FloatLit(float(abs(value)), span=span)
            return node if value >= 0 else ast.Neg(node, span=span)
        return "a number"
    if kind == "duration":
        if isinstance(value, str) and _DURATION.fullmatch(value):
            return ast.Duration(duration_seconds(value), span=span)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return ast.Duration(float(value), span=span)
        return "a duration like '10m' or a number of seconds"
    if kind == "string":
        return ast.String(value, span=span) if isinstance(value, str) else "a string"
    if kind == "boolean":
        return ast.BoolLit(value, span=span) if isinstance(value, bool) else "a boolean"
    return "a literal"


def _pack_diagnostics(profile: Profile, pack: Any) -> list[Diagnostic]:
    consts, macros, lists = pack_constants(pack)
    diags = []
    for name, value in profile.constants.items():
        span = profile.span_of("constants", name)
        if name not in consts:
            if name in macros:
                diags.append(Diagnostic("not-a-constant", ERROR,
                                        f"macro '{name}' is an expression, not a constant bound to a literal",
                                        span, ("only macros like 'macro x = 6' can be overridden",)))
            else:
                guess = closest(name, consts)
                diags.append(Diagnostic("unknown-constant", ERROR, f"the pack has no constant named '{name}'",
                                        span, (f"did you mean '{guess}'?",) if guess else ()))
            continue
        for kind, decl in consts[name]:
            node = _constant_node(kind, value, decl.body.span)
            if isinstance(node, str):
                diags.append(Diagnostic("constant-type", ERROR,
                                        f"'{name}' must be {node} (got {_type_name(value)})",
                                        profile.span_of("constants", name, value=True),
                                        (f"declared at {decl.span.file}:{decl.span.line}:{decl.span.col}",)))
                break
    for name in profile.lists:
        if name not in lists:
            guess = closest(name, lists)
            diags.append(Diagnostic("unknown-list", ERROR, f"the pack has no list named '{name}'",
                                    profile.span_of("lists", name), (f"did you mean '{guess}'?",) if guess else ()))
    return diags


def _spec_diagnostics(profile: Profile) -> list[Diagnostic]:
    """OpenAPI documents that do not load; role overrides that match no documented operation."""
    from sleuth.engine.ingest.openapi import OpenAPI
    from sleuth.engine.ingest.roles import RoleTable

    diags = []
    apis = []
    for i, path in enumerate(profile.openapi):
        if not os.path.isfile(path):
            continue  # reported by the reader
        try:
            apis.append(OpenAPI.load(path))
        except (OSError, ValueError) as exc:
            where = ("openapi", i) if len(profile.openapi) > 1 or ("value", "openapi", 0) in profile.spans \
                else ("openapi",)
            diags.append(Diagnostic("bad-openapi", ERROR, f"cannot read the OpenAPI document: {exc}",
                                    profile.span_of(*where, value=True)))
    if apis and profile.roles:
        table = RoleTable(apis, profile.roles)
        for key in table.unused_overrides():
            text = f"{key[0]} {key[1]}" if key[0] != "*" else key[1]
            diags.append(Diagnostic("unused-override", WARNING, f"'{text}' matches no documented operation",
                                    _override_span(profile, key),
                                    ("write the route as the document does, with or without the server base path",)))
    return diags


def _override_span(profile: Profile, key: tuple[str, str]) -> Span:
    for written in profile.spans:
        if written[:2] == ("key", "roles") and len(written) == 3:
            try:
                if parse_override_key(written[2]) == key:
                    return profile.spans[written]
            except ValueError:
                continue
    return profile.span_of("roles")


def check_profile(path: str | os.PathLike, pack: Any = None) -> list[Diagnostic]:
    """Every diagnostic of a profile: syntax, unknown keys, wrong types, missing files, documents
    that do not load, unused role overrides, and (given ``pack``: path(s) or a ``CheckedPack``)
    unknown constants or lists and values of the wrong type.  Never raises."""
    path = os.fspath(path)
    text, err = _read_text(path)
    if text is None:
        return [err]
    profile, diags = parse_profile(text, path)
    if profile is None:
        return diags
    diags = list(diags) + _spec_diagnostics(profile)
    if pack is not None:
        diags += _pack_diagnostics(profile, pack)
    from .diagnostic import sort_diagnostics

    return sort_diagnostics(diags)


# ------------------------------------------------------------------ applying to a pack

def pack_arguments(profile: Profile, pack: Any) -> dict[str, dict]:
    """``{'constants': {name: literal node}, 'lists': {name: file}}`` for a pack.

    These are the arguments ``load_pack(paths, constants=..., lists=...)`` would
    take (docs/deploying.md): each named macro's literal body is replaced by the
    node, each named list reads the file.  Raises ``ProfileError`` when a name or
    a type does not fit the pack.
    """
    diags = _pack_diagnostics(profile, pack)
    if diags:
        raise ProfileError(diags, {profile.path: profile.text})
    consts, _macros, _lists = pack_constants(pack)
    out = {}
    for name, value in profile.constants.items():
        kind, decl = consts[name][0]
        out[name] = _constant_node(kind, value, decl.body.span)
    return {"constants": out, "lists": dict(profile.lists)}


def apply_overrides(module: ast.Module, constants: Mapping[str, ast.Expr],
                    lists: Mapping[str, str]) -> ast.Module:
    """The module with the named constants' literals and lists' sources replaced (an AST pass
    ``load_pack`` can run on every parsed file, imports included)."""
    decls = []
    changed = False
    for d in module.decls:
        if isinstance(d, ast.MacroDecl) and d.name in constants and _literal_kind(d.body) is not None:
            d = ast.MacroDecl(d.name, constants[d.name], span=d.span)
            changed = True
        elif isinstance(d, ast.ListDecl) and d.name in lists:
            d = ast.ListDecl(d.name, None, os.path.abspath(lists[d.name]), span=d.span)
            changed = True
        decls.append(d)
    return ast.Module(tuple(decls), span=module.span) if changed else module


def _literal_text(node: ast.Expr) -> str:
    if isinstance(node, ast.Neg):
        return "-" + _literal_text(node.operand)
    if isinstance(node, ast.IntLit):
        return str(node.value)
    if isinstance(node, ast.FloatLit):
        return repr(node.value)
    if isinstance(node, ast.Duration):
        return format_duration(node.seconds)
    if isinstance(node, ast.String):
        return quote(node.value)
    if isinstance(node, ast.BoolLit):
        return "true" if node.value else "false"
    raise ValueError(f"not a literal: {node!r}")


def _display(path: str) -> str:
    rel = os.path.relpath(path)
    return os.path.normpath(rel if not rel.startswith("..") else path)


def profile_sources(paths: Sequence[str | os.PathLike] | str | os.PathLike, profile: Profile) -> dict[str, str]:
    """The pack's rule files (path -> text) with the profile's constants and lists written in.

    Each overridden literal (or list value) is replaced where it stands and padded
    with the newlines it covered, so every other line and column is unchanged and
    diagnostics and provenance still point into the real files.  Give the result
    to ``load_pack(sources=...)``.  Raises ``ProfileError`` when the overrides do
    not fit the pack.  Only the pack's own files are rewritten (a constant in a
    file imported from outside the pack keeps its value).
    """
    from .pack import find_rule_files

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = [f for p in paths for f in find_rule_files(p)]
    texts: dict[str, str] = {}
    modules: dict[str, ast.Module] = {}
    for f in files:
        text, err = _read_text(f)
        if text is None:
            raise ProfileError([err])
        key = _display(f)
        texts[key] = text
        modules[key] = parse_recovering(text, key)[0]
    args = pack_arguments(profile, modules)
    for key, module in modules.items():
        edits = []
        for d in module.decls:
            if isinstance(d, ast.MacroDecl) and d.name in args["constants"] and _literal_kind(d.body) is not None:
                edits.append((d.body.span.start, d.body.span.end, _literal_text(args["constants"][d.name])))
            elif isinstance(d, ast.ListDecl) and d.name in args["lists"]:
                eq = texts[key].index("=", d.span.start)
                target = os.path.abspath(args["lists"][d.name])
                edits.append((eq + 1, d.span.end, f" file({quote(target)})"))
        text = texts[key]
        for a, b, new in sorted(edits, reverse=True):
            text = text[:a] + new + "\n" * text[a:b].count("\n") + text[b:]
        texts[key] = text
    return texts


def load_pack_with_profile(paths: Sequence[str | os.PathLike] | str | os.PathLike | None, profile: Profile,
                           *, name: str | None = None):
    """``load_pack`` with the profile's constants and lists (see ``profile_sources``)."""
    from .pack import builtin_pack_path, load_pack

    if paths is None:
        paths = [builtin_pack_path()]
    label = name or ",".join(os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths))
    return load_pack(sources=profile_sources(paths, profile), name=label)
