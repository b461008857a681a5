"""`sleuth import eql`: EQL queries to sleuth rules, every semantic difference stated.

Playground stage. `eql.lark` (sleuth's own LALR grammar of the EQL subset)
parses a query; `_Builder` makes small EQL nodes; `Translator` turns them
into sleuth AST (`sleuth.dsl.ast`), which `common.render` prints in `sleuth
fmt` form. EQL's semantics are kept where sleuth can say them exactly:

- strings compare case-insensitively (EQL's default; `--case sensitive`
  turns it off): a field against a string literal goes through `lower()`,
  fields and keys that may hold numbers through `casefold()`;
- `==` with `*` in a string is a wildcard match (sleuth `~`, the glob's
  other special characters escaped); `:`, `like`, `regex` and `~` functions;
- EQL's three-valued logic: a comparison with a missing (null) field is
  null, and `not null` is still null; `not` is translated with explicit
  `exists()` guards so that `not (x == 1)` stays false when `x` is missing;
- sequences: `by`, per-step `by`, `with maxspan` (sleuth `within`; none:
  unbounded), `until [...] by` (the until's own key), `fork`; `join`;
  pipes `filter`, `unique`, `head`; `count` becomes a window rule over the
  matches (stated); `tail` and `sort` are dropped (stated).

What cannot be said (lineage `child of`, array items, `between`, ...) is an
error for that query, which is then left out; a difference that remains is a
warning. Both are reported on the source with a caret, and the warnings are
also written above the rule as comments.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import attrs
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from sleuth.dsl import ast
from sleuth.dsl.unparse import keywords
from sleuth.engine.duration import parse_duration

from .common import (
    G,
    Imported,
    ImportOptions,
    ImportResult,
    Reporter,
    field_node,
    is_number_field,
    is_string_field,
    meta_clause,
    rule_name,
    string,
)

__all__ = ["import_eql", "parse_query", "split_queries", "toml_queries"]

MAX_WITHIN = 30 * 86400.0

# ---------------------------------------------------------------- EQL nodes


@attrs.frozen
class Node:
    start: int = attrs.field(default=0, kw_only=True, eq=False)
    end: int = attrs.field(default=0, kw_only=True, eq=False)


@attrs.frozen
class Lit(Node):
    value: object


@attrs.frozen
class Fld(Node):
    parts: tuple            # names and int indexes


@attrs.frozen
class Call(Node):
    name: str
    args: tuple
    insensitive: bool = False


@attrs.frozen
class Bool(Node):
    op: str                 # "and" | "or"
    terms: tuple


@attrs.frozen
class Not(Node):
    term: object


@attrs.frozen
class Cmp(Node):
    op: str
    left: object
    right: object


@attrs.frozen
class InSet(Node):
    item: object
    items: tuple
    negated: bool = False
    insensitive: bool = False


@attrs.frozen
class StrOp(Node):
    op: str                 # ":" like like~ regex regex~
    left: object
    values: tuple


@attrs.frozen
class Math(Node):
    op: str
    left: object
    right: object


@attrs.frozen
class Neg(Node):
    term: object


@attrs.frozen
class Lineage(Node):
    kind: str


@attrs.frozen
class EventQuery(Node):
    event_type: str
    cond: object


@attrs.frozen
class Subquery(Node):
    query: EventQuery
    fork: bool = False
    by: tuple = ()


@attrs.frozen
class Seq(Node):
    kind: str               # "sequence" | "join"
    by: tuple
    maxspan: float | None
    steps: tuple
    until: Subquery | None
    maxspan_at: tuple = attrs.field(default=(0, 0), eq=False)


@attrs.frozen
class Pipe(Node):
    name: str
    args: tuple


@attrs.frozen
class Query(Node):
    base: object
    pipes: tuple


# ---------------------------------------------------------------- parsing


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("sleuth.playground.importer").joinpath("eql.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, keep_all_tokens=True,
                maybe_placeholders=False)


_TIME_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
               "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def _vals(children) -> list:
    return [c for c in children if not isinstance(c, Token) or c.type in
            ("NAME", "PATH", "ESCAPED_NAME", "NUMBER", "CMP", "IN", "STRING_OP", "SIGN", "MULT", "EQUALS",
             "BOOL", "INSENSITIVE_NAME")]


class _Builder(Transformer):
    """Lark tree -> EQL nodes (positions are offsets in the query text)."""

    def _pos(self, meta) -> dict:
        if getattr(meta, "empty", True):
            return {}
        return {"start": meta.start_pos, "end": meta.end_pos}

    @v_args(meta=True)
    def start(self, meta, children):
        return _vals(children)[0]

    @v_args(meta=True)
    def piped_query(self, meta, children):
        base, *pipes = _vals(children)
        return Query(base, tuple(pipes), **self._pos(meta))

    @v_args(meta=True)
    def event_query(self, meta, children):
        name, cond = _vals(children)
        return EventQuery(str(name), cond, **self._pos(meta))

    def _seq(self, kind, meta, children):
        by, maxspan, steps, until, at = (), None, [], None, (0, 0)
        for c in _vals(children):
            if isinstance(c, tuple) and c and c[0] == "by":
                by = c[1]
            elif isinstance(c, tuple) and c and c[0] == "maxspan":
                maxspan, at = c[1], c[2]
            elif isinstance(c, Subquery):
                steps.append(c)
            elif isinstance(c, tuple) and c and c[0] == "until":
                until = c[1]
        return Seq(kind, by, maxspan, tuple(steps), until, at, **self._pos(meta))

    @v_args(meta=True)
    def sequence(self, meta, children):
        return self._seq("sequence", meta, children)

    @v_args(meta=True)
    def join(self, meta, children):
        return self._seq("join", meta, children)

    def seq_by(self, children):
        return ("by", tuple(c for c in _vals(children) if not isinstance(c, Token)))

    step_by = seq_by

    @v_args(meta=True)
    def maxspan(self, meta, children):
        (seconds,) = [c for c in _vals(children) if not isinstance(c, Token)]
        return ("maxspan", seconds, (meta.start_pos, meta.end_pos))

    def time_range(self, children):
        vals = _vals(children)
        number = float(vals[0])
        unit = str(vals[1]).lower() if len(vals) > 1 else "s"
        if unit not in _TIME_UNITS:
            raise ValueError(f"unknown time unit '{unit}'")
        return number * _TIME_UNITS[unit]

    @v_args(meta=True)
    def subquery(self, meta, children):
        vals = _vals(children)
        q = vals[0]
        fork = False
        by = ()
        for c in vals[1:]:
            if isinstance(c, tuple) and c[0] == "fork":
                fork = c[1]
            elif isinstance(c, tuple) and c[0] == "by":
                by = c[1]
        return Subquery(q, fork, by, **self._pos(meta))

    def fork(self, children):
        vals = [c for c in _vals(children) if isinstance(c, Token) and c.type == "BOOL"]
        return ("fork", not vals or str(vals[0]) == "true")

    def until(self, children):
        return ("until", _vals(children)[0])

    @v_args(meta=True)
    def pipe(self, meta, children):
        name, *args = _vals(children)
        return Pipe(str(name), tuple(args), **self._pos(meta))

    @v_args(meta=True)
    def or_expr(self, meta, children):
        return Bool("or", tuple(c for c in _vals(children) if not isinstance(c, Token)), **self._pos(meta))

    @v_args(meta=True)
    def and_expr(self, meta, children):
        return Bool("and", tuple(c for c in _vals(children) if not isinstance(c, Token)), **self._pos(meta))

    @v_args(meta=True)
    def not_(self, meta, children):
        return Not(_vals(children)[0], **self._pos(meta))

    @v_args(meta=True)
    def compare(self, meta, children):
        left, op, right = _vals(children)
        return Cmp(str(op), left, right, **self._pos(meta))

    @v_args(meta=True)
    def in_set(self, meta, children):
        item, op, *items = _vals(children)
        return InSet(item, tuple(items), False, str(op) == "in~", **self._pos(meta))

    @v_args(meta=True)
    def not_in_set(self, meta, children):
        item, op, *items = _vals(children)
        return InSet(item, tuple(items), True, str(op) == "in~", **self._pos(meta))

    @v_args(meta=True)
    def string_op(self, meta, children):
        left, op, *values = _vals(children)
        return StrOp(str(op), left, tuple(values), **self._pos(meta))

    @v_args(meta=True)
    def lineage(self, meta, children):
        return Lineage(str(_vals(children)[0]), **self._pos(meta))

    def subquery_bare(self, children):
        return None

    @v_args(meta=True)
    def math(self, meta, children):
        left, op, right = _vals(children)
        return Math(str(op), left, right, **self._pos(meta))

    @v_args(meta=True)
    def negate(self, meta, children):
        sign, term = _vals(children)
        if str(sign) == "+":
            return term
        if isinstance(term, Lit) and isinstance(term.value, (int, float)) and not isinstance(term.value, bool):
            return Lit(-term.value, **self._pos(meta))
        return Neg(term, **self._pos(meta))

    def atom(self, children):
        return [c for c in children if not isinstance(c, Token)][0]

    @v_args(meta=True)
    def call(self, meta, children):
        name, *args = _vals(children)
        text = str(name)
        return Call(text.rstrip("~"), tuple(args), text.endswith("~"), **self._pos(meta))

    @v_args(meta=True)
    def field(self, meta, children):
        (tok,) = _vals(children)
        text = str(tok)
        if tok.type == "ESCAPED_NAME":
            return Fld((text[1:-1],), **self._pos(meta))
        parts = []
        for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]", text):
            parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        return Fld(tuple(parts), **self._pos(meta))

    @v_args(meta=True)
    def string(self, meta, children):
        (tok,) = children
        raw = str(tok)
        if tok.type == "TQ_STRING":
            value = raw[3:-3]
        elif tok.type.startswith("RAW"):
            q = raw[1]
            value = raw[2:-1].replace("\\" + q, q)
        else:
            value = _unescape(raw[1:-1])
        return Lit(value, **self._pos(meta))

    @v_args(meta=True)
    def number(self, meta, children):
        text = str(children[0])
        value = float(text) if any(c in text for c in ".eE") else int(text)
        return Lit(value, **self._pos(meta))

    @v_args(meta=True)
    def boolean(self, meta, children):
        return Lit(str(children[0]) == "true", **self._pos(meta))

    @v_args(meta=True)
    def null(self, meta, children):
        return Lit(None, **self._pos(meta))


def parse_query(text: str) -> Query:
    """Parse one EQL query; raises `lark.exceptions.UnexpectedInput` or `ValueError`."""
    return _Builder().transform(_parser().parse(text))


_SEPARATOR = re.compile(r"(?m)^[ \t]*---[ \t]*$\n?")


def split_queries(text: str) -> list[tuple[int, str]]:
    """(offset, text) of each query of a file: queries are separated by lines holding only `---`."""
    out = []
    pos = 0
    for m in _SEPARATOR.finditer(text):
        out.append((pos, text[pos:m.start()]))
        pos = m.end()
    out.append((pos, text[pos:]))
    return [(o, t) for o, t in out if re.sub(r"//[^\n]*|/\*.*?\*/", "", t, flags=re.S).strip()]


def toml_queries(text: str, file: str) -> tuple[list[tuple[int, str]], list[str | None]]:
    """(offset, query) units and names of a TOML file: every table (in any array) with a `query` string.

    Raises `OSError` when the file is not TOML. The offset is where the query
    text appears in the file (0 when escapes make it differ), for positions.
    """
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OSError(f"{file} is not TOML: {exc}") from exc
    units: list[tuple[int, str]] = []
    names: list[str | None] = []

    def visit(v):
        if isinstance(v, dict):
            if isinstance(v.get("query"), str):
                q = v["query"]
                at = text.find(q)
                units.append((max(at, 0), q))
                names.append(v.get("name") if isinstance(v.get("name"), str) else None)
                return
            for x in v.values():
                visit(x)
        elif isinstance(v, list):
            for x in v:
                visit(x)

    visit(data)
    return units, names


# ---------------------------------------------------------------- translation

_FUNC_ARITH = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "modulo": "%"}
_CMP = {"=": "==", "==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_GLOB_SPECIAL = re.compile(r"([?\[])")


class _Skip(Exception):
    """The query cannot be translated (an error was reported)."""


def _glob(pattern: str, *, question: bool = False) -> str:
    """An EQL wildcard as a sleuth glob: `*` (and with `question`, `?`) are wildcards, `[` is literal."""
    special = re.compile(r"(\[)") if question else _GLOB_SPECIAL
    return special.sub(lambda m: f"[{m.group(1)}]", pattern)


def _and(*terms):
    flat = []
    for t in terms:
        if t is None:
            continue
        if isinstance(t, ast.BoolLit) and t.value:
            continue
        if isinstance(t, ast.And):
            flat.extend(t.operands)
        else:
            flat.append(t)
    if any(isinstance(t, ast.BoolLit) and not t.value for t in flat):
        return ast.BoolLit(False, span=G)
    if not flat:
        return ast.BoolLit(True, span=G)
    return flat[0] if len(flat) == 1 else ast.And(tuple(flat), span=G)


def _or(*terms):
    flat = []
    for t in terms:
        if isinstance(t, ast.BoolLit) and not t.value:
            continue
        if isinstance(t, ast.Or):
            flat.extend(t.operands)
        else:
            flat.append(t)
    if any(isinstance(t, ast.BoolLit) and t.value for t in flat):
        return ast.BoolLit(True, span=G)
    if not flat:
        return ast.BoolLit(False, span=G)
    return flat[0] if len(flat) == 1 else ast.Or(tuple(flat), span=G)


def _not(t):
    if isinstance(t, ast.BoolLit):
        return ast.BoolLit(not t.value, span=G)
    return ast.Not(t, span=G)


def _call(name, *args):
    return ast.Call(name, tuple(args), span=G)


def _exists_all(fields) -> ast.Expr:
    return _and(*(_call("exists", f) for f in fields))


def _lit(value) -> ast.Expr:
    if value is None:
        raise ValueError("null")
    if isinstance(value, bool):
        return ast.BoolLit(value, span=G)
    if isinstance(value, int):
        return ast.IntLit(value, span=G) if value >= 0 else ast.Neg(ast.IntLit(-value, span=G), span=G)
    if isinstance(value, float):
        return ast.FloatLit(value, span=G) if value >= 0 else ast.Neg(ast.FloatLit(-value, span=G), span=G)
    return string(value)


class Translator:
    """One EQL query -> sleuth rules (usually one; `| count` adds a companion rule)."""

    def __init__(self, options: ImportOptions, rep: Reporter, name: str):
        self.o = options
        self.rep = rep
        self.name = name
        self.insensitive = options.case == "insensitive"
        self.steps: list[str] = []      # step names of a sequence/join (pipes read them)
        self.in_pipe = False
        self.pipe_event_index = None    # event query: pipes read the event itself

    # -- reporting
    def _span(self, node: Node):
        return self.rep.span(node.start, max(node.end, node.start + 1))

    def fail(self, node: Node, code: str, message: str, *hints: str):
        self.rep.error(code, message, self._span(node), *hints)
        raise _Skip

    def differ(self, node: Node, code: str, message: str, *hints: str):
        self.rep.warn(code, message, self._span(node), *hints)

    # -- values
    def field(self, node: Fld) -> ast.Expr:
        parts = list(node.parts)
        if self.in_pipe and self.steps:
            # In a sequence's pipes `events[i].f` is step i's field, a bare field the first event's.
            if parts[0] == "events" and len(parts) > 2 and isinstance(parts[1], int):
                i = parts[1]
                if i >= len(self.steps):
                    self.fail(node, "eql-unsupported", f"events[{i}]: the query has {len(self.steps)} steps")
                inner = self._path(node, parts[2:])
                return ast.Field((self.steps[i], *inner.parts), span=G)
            inner = self._path(node, parts)
            return ast.Field((self.steps[0], *inner.parts), span=G)
        if self.in_pipe and parts[0] == "events" and len(parts) > 2 and parts[1] == 0:
            parts = parts[2:]
        return self._path(node, parts)

    def _path(self, node: Fld, parts: list) -> ast.Field:
        if any(isinstance(p, int) for p in parts):
            self.fail(node, "eql-unsupported", "array items (`field[0]`) have no sleuth equivalent",
                      "test membership with 'in', or map the item to its own field at ingest")
        if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) for p in parts):
            self.fail(node, "eql-unsupported", f"field name '{'.'.join(parts)}' is not a sleuth field name",
                      "map it to another name with --map")
        return field_node(".".join(parts), self.o)

    def value(self, node) -> ast.Expr:
        if isinstance(node, Lit):
            if node.value is None:
                self.fail(node, "eql-unsupported", "null as a value (only 'x == null' and 'x != null' are translated)")
            return _lit(node.value)
        if isinstance(node, Fld):
            return self.field(node)
        if isinstance(node, Math):
            op = {"*": "*", "/": "/", "%": "%", "+": "+", "-": "-"}[node.op]
            return ast.BinOp(op, self.value(node.left), self.value(node.right), span=G)
        if isinstance(node, Neg):
            return ast.Neg(self.value(node.term), span=G)
        if isinstance(node, Call):
            return self.call_value(node)
        if isinstance(node, (Bool, Not, Cmp, InSet, StrOp)):
            self.fail(node, "eql-unsupported", "a condition used as a value")
        self.fail(node, "eql-unsupported", f"{type(node).__name__} is not translated")

    def folded(self, node) -> ast.Expr:
        """A value compared case-insensitively with another value that may not be a string."""
        v = self.value(node)
        if not self.insensitive or isinstance(node, Lit) or is_number_field(v) or isinstance(v, (ast.BinOp, ast.Neg)):
            if isinstance(node, Lit) and isinstance(node.value, str) and self.insensitive:
                return string(node.value.lower())
            return v
        if isinstance(v, ast.Call) and v.name in ("length", "int", "float"):
            return v
        return _call("casefold", v)

    def lowered(self, node) -> ast.Expr:
        """A value compared with a string literal: `lower()` is exact (EQL: a non-string never equals one)."""
        v = self.value(node)
        if not self.insensitive:
            return v
        return _call("lower", v)

    def key(self, node) -> ast.Expr:
        """A join key (EQL keys compare strings case-insensitively)."""
        v = self.value(node)
        if not self.insensitive:
            return v
        if is_string_field(v):
            return _call("lower", v)
        if is_number_field(v) or isinstance(v, (ast.BinOp, ast.Neg)) or (
                isinstance(v, ast.Call) and v.name in ("length", "int", "float", "lower")):
            return v
        return _call("casefold", v)

    def call_value(self, node: Call) -> ast.Expr:
        name = node.name
        a = node.args
        if name == "length" and len(a) == 1:
            return _call("length", self.value(a[0]))
        if name == "string" and len(a) == 1:
            return _call("str", self.value(a[0]))
        if name == "number" and len(a) == 1:
            return _call("float", self.value(a[0]))
        if name == "safe" and len(a) == 1:
            return self.value(a[0])
        if name in _FUNC_ARITH and len(a) == 2:
            return ast.BinOp(_FUNC_ARITH[name], self.value(a[0]), self.value(a[1]), span=G)
        if name in ("startsWith", "endsWith", "stringContains", "wildcard", "cidrMatch", "match",
                    "matchLite", "arrayContains"):
            self.fail(node, "eql-unsupported", f"{name}() is a condition, not a value")
        self.fail(node, "eql-unknown-function", f"EQL function '{name}' has no sleuth equivalent",
                  "supported: length, string, number, add, subtract, multiply, divide, modulo, safe, "
                  "startsWith, endsWith, stringContains, wildcard, cidrMatch, match, matchLite, arrayContains")

    # -- conditions: truth (EQL true) and falsity (EQL false, not null)
    def truth(self, node) -> ast.Expr:
        return self._cond(node, want=True)

    def falsity(self, node) -> ast.Expr:
        return self._cond(node, want=False)

    def _cond(self, node, want: bool) -> ast.Expr:
        if isinstance(node, Bool):
            parts = [self._cond(t, want) for t in node.terms]
            if (node.op == "and") == want:
                return _and(*parts)
            return _or(*parts)
        if isinstance(node, Not):
            return self._cond(node.term, not want)
        if isinstance(node, Lit):
            if isinstance(node.value, bool):
                return ast.BoolLit(node.value == want, span=G)
            if node.value is None:
                return ast.BoolLit(False, span=G)        # null is neither true nor false
            self.fail(node, "eql-unsupported", "a constant that is not a condition")
        if isinstance(node, Fld):
            f = self.field(node)
            return ast.Compare("==", f, ast.BoolLit(want, span=G), span=G)
        if isinstance(node, Lineage):
            self.fail(node, "eql-unsupported", f"'{node.kind} of [...]' (process lineage) has no sleuth equivalent",
                      "sleuth events are API requests; there is no process tree to follow")
        if isinstance(node, Cmp) and any(isinstance(s, Lit) and s.value is None for s in (node.left, node.right)):
            other = node.right if isinstance(node.left, Lit) and node.left.value is None else node.left
            if node.op not in ("==", "=", "!="):
                return ast.BoolLit(False, span=G)      # ordering with null is null
            if not isinstance(other, Fld):
                self.fail(node, "eql-unsupported", "only a field is compared with null")
            present = _call("exists", self.field(other))
            is_null = node.op in ("==", "=")
            return _not(present) if is_null == want else present
        pred, reads = self._predicate(node)
        if want:
            return pred
        return _and(_exists_all(reads), _not(pred))

    def _reads(self, *nodes) -> list[ast.Expr]:
        out = []
        for n in nodes:
            for f in _fields(n):
                v = self.field(f)
                if v not in out:
                    out.append(v)
        return out

    def _predicate(self, node) -> tuple[ast.Expr, list]:
        """(sleuth condition true exactly when EQL's is true, the fields whose absence makes it null)."""
        if isinstance(node, Cmp):
            return self._compare(node), self._reads(node.left, node.right)
        if isinstance(node, InSet):
            return self._in(node), self._reads(node.item)
        if isinstance(node, StrOp):
            return self._strop(node), self._reads(node.left)
        if isinstance(node, Call):
            return self._call_cond(node), self._reads(*node.args)
        if isinstance(node, (Math, Neg)):
            self.fail(node, "eql-unsupported", "arithmetic used as a condition")
        self.fail(node, "eql-unsupported", f"{type(node).__name__} is not translated")

    def _compare(self, node: Cmp) -> ast.Expr:
        op = _CMP[node.op]
        left, right = node.left, node.right
        if isinstance(left, Lit) and not isinstance(right, Lit):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if isinstance(right, Lit) and isinstance(right.value, str):
            if op in ("==", "!=") and "*" in right.value:
                pat = right.value.lower() if self.insensitive else right.value
                m = ast.Glob(self.lowered(left), string(_glob(pat)), span=G)
                return m if op == "==" else _not(m)
            return ast.Compare(op, self.lowered(left), self.folded(right), span=G)
        if isinstance(right, Lit):
            return ast.Compare(op, self.value(left), self.value(right), span=G)
        return ast.Compare(op, self.folded(left), self.folded(right), span=G)

    def _in(self, node: InSet) -> ast.Expr:
        ins = self.insensitive or node.insensitive
        lits = [i for i in node.items if isinstance(i, Lit) and i.value is not None]
        others = [i for i in node.items if not (isinstance(i, Lit) and i.value is not None)]
        terms = []
        if lits:
            values = [string(i.value.lower()) if ins and isinstance(i.value, str) else _lit(i.value) for i in lits]
            has_str = any(isinstance(i.value, str) for i in lits)
            has_num = any(not isinstance(i.value, str) for i in lits)
            item = self.value(node.item)
            if ins and has_str:
                item = _call("casefold", item) if has_num else _call("lower", item)
            terms.append(ast.In(item, ast.Tuple(tuple(values), span=G), False, span=G))
        for o in others:
            if isinstance(o, Lit):       # null in a set: never equal
                continue
            terms.append(ast.Compare("==", self.folded(node.item) if ins else self.value(node.item),
                                     self.folded(o) if ins else self.value(o), span=G))
        cond = _or(*terms)
        return _not(cond) if node.negated else cond

    def _strop(self, node: StrOp) -> ast.Expr:
        """`:` (insensitive equality or wildcard), `like`/`like~` (wildcards `*` `?`), `regex`/`regex~` (whole value)."""
        op = node.op
        ins = op in (":", "like~", "regex~")
        terms = []
        for v in node.values:
            if not (isinstance(v, Lit) and isinstance(v.value, str)):
                self.fail(v, "eql-unsupported", f"'{op}' takes string literals")
            if op.startswith("regex"):
                terms.append(ast.RegexMatch(self.value(node.left),
                                            ast.Regex(f"^(?:{v.value})$", "i" if ins else "", span=G), span=G))
                continue
            left = _call("lower", self.value(node.left)) if ins else self.value(node.left)
            text = v.value.lower() if ins else v.value
            if op == ":" and "*" not in text and "?" not in text:
                terms.append(ast.Compare("==", left, string(text), span=G))
            else:
                terms.append(ast.Glob(left, string(_glob(text, question=True)), span=G))
        return _or(*terms)

    def _call_cond(self, node: Call) -> ast.Expr:
        name = node.name
        a = node.args
        ins = self.insensitive or node.insensitive
        if name in ("startsWith", "endsWith", "stringContains") and len(a) == 2:
            fn = {"startsWith": "startswith", "endsWith": "endswith", "stringContains": "contains"}[name]
            if ins:
                return _call(fn, *(string(x.value.lower()) if isinstance(x, Lit) and isinstance(x.value, str)
                                   else _call("lower", self.value(x)) for x in a))
            return _call(fn, self.value(a[0]), self.value(a[1]))
        if name == "wildcard" and len(a) >= 2:
            terms = []
            for p in a[1:]:
                if not (isinstance(p, Lit) and isinstance(p.value, str)):
                    self.fail(p, "eql-unsupported", "wildcard() takes string literal patterns")
                left = _call("lower", self.value(a[0])) if ins else self.value(a[0])
                terms.append(ast.Glob(left, string(_glob(p.value.lower() if ins else p.value)), span=G))
            return _or(*terms)
        if name == "cidrMatch" and len(a) >= 2:
            terms = []
            for p in a[1:]:
                if not (isinstance(p, Lit) and isinstance(p.value, str)):
                    self.fail(p, "eql-unsupported", "cidrMatch() takes network literals")
                terms.append(_call("cidr", self.value(a[0]), string(p.value)))
            return _or(*terms)
        if name in ("match", "matchLite") and len(a) >= 2:
            terms = []
            for p in a[1:]:
                if not (isinstance(p, Lit) and isinstance(p.value, str)):
                    self.fail(p, "eql-unsupported", f"{name}() takes regex literals")
                # EQL anchors the pattern at the start of the value (Python's re.match).
                terms.append(ast.RegexMatch(self.value(a[0]), ast.Regex(f"^(?:{p.value})", "i" if node.insensitive
                                                                         else "", span=G), span=G))
            return _or(*terms)
        if name == "arrayContains" and len(a) >= 2:
            terms = []
            for v in a[1:]:
                terms.append(ast.In(self.value(v), self.value(a[0]), False, span=G))
            if ins:
                self.differ(node, "eql-case", "arrayContains() compares case-insensitively in EQL; "
                            "sleuth's 'in' on a list field compares exactly")
            return _or(*terms)
        self.fail(node, "eql-unknown-function", f"EQL function '{name}' has no sleuth equivalent as a condition",
                  "supported: startsWith, endsWith, stringContains, wildcard, cidrMatch, match, matchLite, "
                  "arrayContains, and comparisons of length(), string(), number() and arithmetic")

    # -- queries
    def type_cond(self, q: EventQuery) -> ast.Expr | None:
        if q.event_type in ("any", "*"):
            return None
        return ast.Compare("==", field_node(self.o.event_type_field, self.o), string(q.event_type), span=G)

    def event_cond(self, q: EventQuery) -> ast.Expr:
        return _and(self.type_cond(q), self.truth(q.cond))

    def step_names(self, steps) -> list[str]:
        types = [s.query.event_type if s.query.event_type != "*" else "any" for s in steps]
        names = []
        kw = keywords()
        for i, t in enumerate(types):
            base = t if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t) else "step"
            if base in kw:
                base += "_step"
            names.append(base if types.count(t) == 1 and base != "step" else f"{base}{i + 1}")
        return names

    def translate(self, q: Query) -> list[ast.RuleDecl]:
        clauses: list[ast.Clause] = []
        base = q.base
        tail: list[ast.Clause] = []
        if isinstance(base, EventQuery):
            main = ast.WhenClause(self.event_cond(base), span=G)
        else:
            main, tail = self.sequence(base, clauses)
        pipes, companion = self.pipes(q)
        decl_clauses = [meta_clause(self.name, self.o)] + clauses + [main] + tail + pipes
        out = [ast.RuleDecl(self.name, tuple(decl_clauses), span=G)]
        if companion is not None:
            out.append(companion)
        return out

    def sequence(self, s: Seq, clauses: list) -> tuple[ast.Clause, list]:
        names = self.step_names(s.steps)
        self.steps = names
        if s.by:
            clauses.append(ast.ByClause(tuple(self.key(k) for k in s.by), span=G))
        if s.maxspan is not None:
            if s.kind == "join":
                self.fail(s, "eql-syntax", "a join has no maxspan")
            if s.maxspan > MAX_WITHIN:
                self.differ(s, "eql-maxspan", f"maxspan of {s.maxspan / 86400:g}d is longer than sleuth's 30d "
                            "'within': the rule is unbounded (no time limit) instead",
                            "bounded by 'limit keys' rather than time")
            elif s.maxspan < 0.001:
                self.fail(s, "eql-unsupported", "maxspan shorter than a millisecond")
            else:
                clauses.append(ast.WithinClause(ast.Duration(_duration(s.maxspan), span=G), span=G))
        keyed = list(s.by) + [k for st in s.steps for k in st.by]
        if keyed:
            self.differ(keyed[0], "eql-null-key", "an event whose key value is missing takes no part in sleuth; "
                        "EQL joins such events with each other on null")
        widths = {len(st.by) for st in s.steps}
        if len(widths) > 1:
            self.fail(s, "eql-join-width", "the steps join on different numbers of fields",
                      "EQL compares the keys field by field; give every step as many 'by' fields")
        steps = []
        for name, st in zip(names, s.steps):
            mods = []
            if st.by:
                mods.append(ast.StepBy(tuple(self.key(k) for k in st.by), span=G))
            if st.fork:
                if s.kind == "join":
                    self.fail(st, "eql-unsupported", "fork in a join")
                if st is s.steps[0]:
                    self.differ(st, "eql-fork-first", "fork on the first step has no effect in EQL; dropped")
                else:
                    mods.append(ast.StepFork(span=G))
            steps.append(ast.SeqStep(name, self.event_cond(st.query), tuple(mods), span=G))
        main = ast.Sequence(tuple(steps), span=G) if s.kind == "sequence" else ast.Join(tuple(steps), span=G)
        tail = []
        if s.until is not None:
            u = s.until
            step_width = max(widths) if widths else 0
            if u.by and len(u.by) != step_width:
                self.fail(u, "eql-join-width", f"the until joins on {len(u.by)} field(s), the steps on {step_width}")
            if not u.by and step_width:
                self.fail(u, "eql-join-width", "the until has no 'by' while the steps join on per-step fields",
                          "EQL would compare keys of different widths; add 'by' to the until")
            keys = tuple(self.key(k) for k in u.by)
            tail.append(ast.UntilClause(self.event_cond(u.query), keys, span=G))
        return main, tail

    def pipes(self, q: Query) -> tuple[list[ast.Clause], ast.RuleDecl | None]:
        out: list[ast.Clause] = []
        companion = None
        self.in_pipe = True
        try:
            for p in q.pipes:
                if companion is not None:
                    self.fail(p, "eql-unsupported", f"'| {p.name}' after '| count'",
                              "the counts come out of a window rule; filter them in its 'having'")
                if p.name == "head":
                    if len(p.args) != 1 or not (isinstance(p.args[0], Lit) and isinstance(p.args[0].value, int)):
                        self.fail(p, "eql-syntax", "'| head' takes a count")
                    out.append(ast.Pipe("head", (ast.IntLit(p.args[0].value, span=G),), span=G))
                elif p.name == "filter":
                    if len(p.args) != 1:
                        self.fail(p, "eql-syntax", "'| filter' takes one condition")
                    out.append(ast.Pipe("filter", (self.truth(p.args[0]),), span=G))
                elif p.name == "unique":
                    if not p.args:
                        self.fail(p, "eql-syntax", "'| unique' takes values")
                    out.append(ast.Pipe("unique", tuple(self._unique_value(a) for a in p.args), span=G))
                elif p.name == "count":
                    companion = self._count(p, q, out)
                elif p.name in ("tail", "sort"):
                    self.differ(p, "eql-pipe-dropped", f"'| {p.name}' needs the whole result set and a stream "
                                "has no end: it is left out, so the rule emits every match in time order",
                                "'| head N' is kept; sort or cut the output of 'sleuth run' afterwards")
                else:
                    self.fail(p, "eql-unsupported", f"'| {p.name}' has no streaming equivalent",
                              "pipes translated: head, filter, unique, count (as a window rule); tail and sort "
                              "are dropped with a warning")
        finally:
            self.in_pipe = False
        return out, companion

    def _unique_value(self, node) -> ast.Expr:
        if isinstance(node, (Bool, Not, Cmp, InSet, StrOp)):
            return self.truth(node)
        return self.key(node)

    def _count(self, p: Pipe, q: Query, pipes: list) -> ast.RuleDecl:
        """`| count [fields]` -> a window rule counting this rule's matches (EQL counts at the end)."""
        emits = []
        keys = []
        for i, a in enumerate(p.args):
            if not isinstance(a, Fld):
                self.fail(a, "eql-unsupported", "'| count' of an expression (only fields are translated)")
            label = "_".join(str(x) for x in a.parts if not isinstance(x, int)) or f"key{i}"
            label = re.sub(r"[^A-Za-z0-9_]", "_", label)
            emits.append(ast.EmitEntry(label, self.key(a), span=G))
            keys.append(ast.Field(("fields", label), span=G))
        self.differ(p, "eql-count-window", f"'| count' counts over the whole input in EQL; sleuth counts the "
                    f"matches of '{self.name}' per tumbling window of {self.o.count_window} in the rule "
                    f"'{self.name}_count', emitted when each window closes (at the end of a run for the last one); "
                    "no 'percent'")
        if emits:
            pipes.insert(0, ast.Emit(tuple(emits), span=G))
        clauses = [meta_clause(f"{self.name}: counts", self.o), ast.FromMatches(span=G),
                   ast.WhereClause(ast.Compare("==", ast.Field(("rule",), span=G), string(self.name), span=G),
                                   span=G)]
        if keys:
            clauses.append(ast.ByClause(tuple(keys), span=G))
        clauses += [ast.WindowClause("tumbling", size=ast.Duration(parse_duration(self.o.count_window), span=G),
                                     span=G),
                    ast.HavingClause(ast.Compare(">=", _call("count"), ast.IntLit(1, span=G), span=G), span=G),
                    ast.Emit((ast.EmitEntry("count", _call("count"), span=G),), span=G)]
        return ast.RuleDecl(f"{self.name}_count", tuple(clauses), span=G)


def _duration(seconds: float) -> float:
    return round(seconds * 1000) / 1000


def _fields(node) -> list[Fld]:
    """The fields an EQL expression reads."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Fld):
            out.append(n)
        elif isinstance(n, (Cmp, Math)):
            stack += [n.left, n.right]
        elif isinstance(n, InSet):
            stack += [n.item, *n.items]
        elif isinstance(n, StrOp):
            stack += [n.left, *n.values]
        elif isinstance(n, Call):
            stack += list(n.args)
        elif isinstance(n, (Neg, Not)):
            stack.append(n.term)
        elif isinstance(n, Bool):
            stack += list(n.terms)
    return list(reversed(out))


# ---------------------------------------------------------------- entry point


def import_eql(text: str, file: str, options: ImportOptions, *, names: list[str] | None = None,
               result: ImportResult | None = None, taken: set[str] | None = None,
               units: list[tuple[int, str]] | None = None) -> ImportResult:
    """Translate every query of `text` (queries separated by `---` lines, or the given `units`).

    Returns the rules that translate and every diagnostic (errors leave their
    query out). `names` gives rule names per query (else from `options.prefix`
    or the file name).
    """
    result = result if result is not None else ImportResult()
    result.sources[file] = text
    taken = taken if taken is not None else set()
    units = units if units is not None else split_queries(text)
    stem = options.prefix or ("eql" if file == "<stdin>" else re.sub(r"\.[^.]*$", "", file.rsplit("/", 1)[-1])) or "eql"
    for n, (offset, qtext) in enumerate(units, 1):
        rep = Reporter(file, text, offset)
        lead = len(qtext) - len(qtext.lstrip())
        want = names[n - 1] if names and n <= len(names) and names[n - 1] else (stem if len(units) == 1 else f"{stem}_{n}")
        name = rule_name(want, taken)
        try:
            query = parse_query(qtext)
        except UnexpectedInput as exc:
            tok = getattr(exc, "token", None)
            if tok is not None and tok.type == "$END":
                pos = len(qtext.rstrip())
                found = " (the query ends early)"
            else:
                pos = getattr(exc, "pos_in_stream", None) or 0
                found = f" (found '{tok}')" if tok is not None and str(tok) else ""
            rep.error("eql-syntax", f"not EQL this importer reads{found}", rep.span(pos, pos + 1),
                      "see docs/importing.md for the EQL subset")
            result.diagnostics += rep.diags
            continue
        except VisitError as exc:
            rep.error("eql-syntax", str(exc.orig_exc), rep.span(lead, lead + 1))
            result.diagnostics += rep.diags
            continue
        tr = Translator(options, rep, name)
        try:
            decls = tr.translate(query)
        except _Skip:
            decls = []
        result.diagnostics += rep.diags
        if rep.failed:
            continue
        line = text.count("\n", 0, offset + lead) + 1
        for decl in decls:
            result.rules.append(Imported(decl, f"{file}:{line}", qtext.strip("\n"),
                                         [d for d in rep.diags if not d.is_error]))
    return result
