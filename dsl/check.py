"""Semantic checks: AST → IR, collecting every diagnostic.

Stage 3 of the front end (`parse.py` → `ast.py` → here → `ir.py`). The
checker walks a whole pack at once (all files, their imports and lists),
resolves names (macros, lists, steps, fields), infers static types, and
builds the IR the compiler needs. It never stops at the first problem:
each check appends a `Diagnostic` and returns a placeholder so the walk
goes on. Whole-pack checks (duplicate names, cycles between `from matches`
rules, unused macros and lists) run at the end.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import warnings
from collections.abc import Callable
from re import _parser as sre_parse  # the `sre_parse` alias is deprecated since 3.11

import attrs

from sleuth.engine.schema import (
    DERIVED_PRODUCERS,
    FIELDS,
    GOALS,
    MATCH_FIELDS,
    SEVERITIES,
    SPEC_FIELDS,
    TTPS,
)

from . import ast, ir
from .diagnostic import ERROR, WARNING, Diagnostic, Related, closest
from .span import NOWHERE, Span

# ---------------------------------------------------------------- vocabulary

ALIASES: dict[str, str] = {
    "@timestamp": "ts", "timestamp": "ts", "time": "ts", "event.id": "id",
    "source.ip": "src_ip", "client.ip": "src_ip", "client.address": "src_ip",
    "source.as.number": "asn", "source.geo.country_iso_code": "country",
    "http.request.method": "method", "url.domain": "host", "server.address": "host",
    "url.path": "path", "http.route": "route", "url.query": "query",
    "http.response.status_code": "status", "user.name": "user", "enduser.id": "user",
    "session.id": "session", "user_agent.original": "ua", "tls.client.ja3": "ja3",
    "http.request.body.bytes": "req_bytes", "http.response.body.bytes": "resp_bytes",
    "event.duration": "latency_ms",
}

# name -> (min args, max args, return type)
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "lower": (1, 1, ir.STR), "upper": (1, 1, ir.STR), "length": (1, 1, ir.INT),
    "startswith": (2, 2, ir.BOOL), "endswith": (2, 2, ir.BOOL), "contains": (2, 2, ir.BOOL),
    "exists": (1, 1, ir.BOOL), "int": (1, 1, ir.INT), "str": (1, 1, ir.STR),
    "float": (1, 1, ir.FLOAT), "cidr": (2, 2, ir.BOOL), "abs": (1, 1, ir.NUM),
    "hour": (1, 1, ir.INT), "weekday": (1, 1, ir.INT),
}
AGGREGATES: dict[str, tuple[int, int]] = {
    "count": (0, 1), "distinct": (1, 1), "sum": (1, 1), "min": (1, 1), "max": (1, 1),
    "avg": (1, 1), "ratio": (1, 1), "entropy": (1, 1), "cv": (1, 1), "jitter": (1, 1),
    "changes": (1, 1), "sample": (2, 2), "rate": (0, 0), "baseline": (2, 2),
    "first_seen": (2, 2),
}
META_KNOWN = ("ttp", "goal", "severity", "title", "description", "references", "tags",
              "false_positives", "blind_spots", "author", "version")
META_LISTS = ("references", "tags", "false_positives", "blind_spots")
LIMITS: dict[str, tuple[int, int]] = {
    # name -> (min, max) accepted at load time
    "keys": (1, 10_000_000), "partials": (1, 64), "events": (1, 10_000),
    "distinct": (1, 1_000_000), "values": (1, 100_000), "window": (1, 1_000_000),
}
MAX_DURATION = 30 * 86400.0
MAX_REPEAT = 1000
MAX_SAMPLE = 1000
REFIRE = ("reset", "keep", "cooldown")
RESERVED_EMIT = frozenset({"rule", "ttp", "goal", "severity", "title", "key", "provenance",
                           "match_id", "fingerprint", "first_ts", "last_ts", "emitted_at", "flags"})
MAP_FIELDS = frozenset(n for n, t in FIELDS.items() if t == "map")
# rule kind -> the clauses it takes (every ast.Clause class is in at least one;
# tests/dsl/test_passes.py checks that)
ALLOWED_CLAUSES: dict[str, frozenset[type]] = {
    "event": frozenset({ast.WhenClause, ast.ByClause, ast.Meta, ast.Emit, ast.Suppress, ast.FromMatches,
                        ast.Limit, ast.Fingerprint}),
    "sequence": frozenset({ast.Sequence, ast.ByClause, ast.WithinClause, ast.WhereClause, ast.UntilClause,
                           ast.UnlessBetween, ast.UnlessAfter, ast.Meta, ast.Emit, ast.Suppress,
                           ast.FromMatches, ast.Limit, ast.Fingerprint}),
    "window": frozenset({ast.HavingClause, ast.WindowClause, ast.ByClause, ast.WhereClause, ast.Meta,
                         ast.Emit, ast.Suppress, ast.FromMatches, ast.Limit, ast.Fingerprint, ast.Refire}),
}


# ---------------------------------------------------------------- scopes


@attrs.define
class MacroDef:
    """A macro as declared, where, and whether anything used it."""
    decl: ast.MacroDecl
    file: str
    used: bool = False


@attrs.define
class ListDef:
    """A list as declared, its loaded value, and whether anything used it."""
    decl: ast.ListDecl
    file: str
    value: ir.SetConst | None = None
    used: bool = False


@attrs.define
class FileScope:
    """What one file can see: its own macros and lists plus its imports'."""

    file: str
    macros: dict[str, MacroDef] = attrs.Factory(dict)
    lists: dict[str, ListDef] = attrs.Factory(dict)


@attrs.define
class Ctx:
    """Where an expression is being checked."""

    scope: FileScope
    allow_agg: bool = False
    agg_arg: bool = False             # inside an aggregate's argument
    steps: dict[str, int] | None = None
    max_step: int = -1               # step references allowed up to this index
    matches: bool = False             # `from matches` rule: match fields
    test_assert: bool = False         # assertion over a match record
    generator: bool = False           # test event value: `i` is defined
    key_paths: frozenset = frozenset()
    macro_stack: tuple[str, ...] = ()
    where: str = "condition"

    def evolve(self, **kw) -> Ctx:
        return attrs.evolve(self, **kw)


@attrs.frozen(eq=False)
class TestCase:
    """A checked `test` block (evaluated by `dsl.testing`)."""

    __test__ = False

    name: str
    rule: str
    file: str
    span: Span
    decl: ast.TestDecl
    scope: FileScope


@attrs.frozen(eq=False)
class CheckedPack:
    """Everything the checker produced for a pack."""

    rules: tuple[ir.Rule, ...]
    tests: tuple[TestCase, ...]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    modules: dict[str, ast.Module]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


# ---------------------------------------------------------------- list files


_LIST_COMMENT = re.compile(r"(?:^|(?<=\s))#")


def read_list_file(path: str) -> list[str]:
    """Values of a list file: one a line, `#` comments and blank lines skipped.

    A comment starts a line or follows whitespace (`C#` is a value), as for
    the engine's `RefList` (docs/input.md).
    """
    with open(path, encoding="utf-8") as fh:
        out = []
        for line in fh:
            line = _LIST_COMMENT.split(line, maxsplit=1)[0].strip()
            if line:
                out.append(line)
        return out


def classify_values(values: list, *, from_text: bool = False) -> tuple[frozenset, str]:
    """(values, kind) for list items: all ints → int, all IP/CIDR → ip, else str/mixed.

    `from_text`: the values were read from a list file, where everything is
    text, so digit strings are numbers. A quoted literal stays a string.
    """
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return frozenset(values), "int"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return frozenset(values), "num"
    strs = [v for v in values if isinstance(v, str)]
    if values and len(strs) == len(values):
        if all(_is_ip_or_net(v) for v in strs):
            return frozenset(strs), "ip"
        if from_text and all(re.fullmatch(r"-?[0-9]+", v) for v in strs):
            return frozenset(int(v) for v in strs), "int"
        return frozenset(strs), "str"
    return frozenset(values), "mixed" if values else "str"


def _is_ip_or_net(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


_NESTED_QUANT = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def regex_hazard(pattern: str) -> str | None:
    r"""Why a regex risks super-linear backtracking, or None.

    Refused shapes (rule text is untrusted, and so are the values a regex
    scans): a repeated sub-pattern that itself contains a repeat, at any
    depth (`(a+)+`, `((a)+)+`, `(?:\w*x)*`): exponential; a large bounded
    repeat of something that can match empty (`(a?){25}`); a repeated
    alternation whose branches can match the same text (`(a|ab)+`); two or
    more unbounded repeats in one pattern (`.*.*x`, `\w+=\w+`): polynomial.
    What is accepted also only ever scans the first `REGEX_WINDOW` (1024)
    characters of a value, so one search is bounded.
    """
    if _NESTED_QUANT.search(pattern):
        return "a repeated group contains a repeat (nested quantifier)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # reported once, by the checker
            tree = sre_parse.parse(pattern)
    except re.error:
        return None
    why = _nested_repeat(tree, inside=False)
    if why:
        return why
    if _overlapping_alternation(tree):
        return "a repeated alternation has branches that can match the same text"
    if _adjacent_overlapping_repeats(tree):
        return "two unbounded repeats that can match the same characters follow each other (polynomial backtracking)"
    return None


_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None))


def _children(op, av):
    if op in _REPEATS and op is not None:
        return [av[2]]
    if op is sre_parse.SUBPATTERN:
        return [av[-1]]
    if op is sre_parse.BRANCH:
        return list(av[1])
    if op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
        return [av[1]]
    return []


def _nested_repeat(tree, inside: bool) -> str | None:
    for op, av in tree:
        if op in _REPEATS and op is not None:
            lo, hi, sub = av
            many = hi is sre_parse.MAXREPEAT or hi > 1
            if many and inside:
                return "a repeated group contains a repeat (nested quantifier)"
            if many and (hi is sre_parse.MAXREPEAT or hi >= 10) and _can_be_empty(sub):
                return "a large repeat of something that can match nothing"
            why = _nested_repeat(sub, inside or many)
            if why:
                return why
            continue
        for child in _children(op, av):
            why = _nested_repeat(child, inside)
            if why:
                return why
    return None


def _can_be_empty(sub) -> bool:
    for op, av in sub:
        if op in _REPEATS and op is not None:
            if av[0] == 0:
                continue
            if not _can_be_empty(av[2]):
                return False
        elif op is sre_parse.SUBPATTERN:
            if not _can_be_empty(av[-1]):
                return False
        elif op is sre_parse.BRANCH:
            if not any(_can_be_empty(b) for b in av[1]):
                return False
        elif op in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            continue
        else:
            return False
    return True


_PROBE = [chr(c) for c in range(32, 127)] + ["\t", "\n", "é", "ж", "中", "\u00a0"]
_CATEGORY = {
    sre_parse.CATEGORY_DIGIT: r"\d", sre_parse.CATEGORY_NOT_DIGIT: r"\D",
    sre_parse.CATEGORY_WORD: r"\w", sre_parse.CATEGORY_NOT_WORD: r"\W",
    sre_parse.CATEGORY_SPACE: r"\s", sre_parse.CATEGORY_NOT_SPACE: r"\S",
}


def _item_chars(sub) -> frozenset | None:
    """The probe characters a one-character repeat body can match; None = not a single item."""
    if len(sub) != 1:
        return None
    op, av = sub[0]
    if op is sre_parse.ANY:
        return frozenset(_PROBE)
    if op is sre_parse.LITERAL:
        return frozenset({chr(av)})
    if op is sre_parse.NOT_LITERAL:
        return frozenset(c for c in _PROBE if c != chr(av))
    if op is sre_parse.IN:
        parts, neg = [], False
        for iop, iav in av:
            if iop is sre_parse.NEGATE:
                neg = True
            elif iop is sre_parse.LITERAL:
                parts.append(re.escape(chr(iav)))
            elif iop is sre_parse.RANGE:
                parts.append(f"{re.escape(chr(iav[0]))}-{re.escape(chr(iav[1]))}")
            elif iop is sre_parse.CATEGORY and iav in _CATEGORY:
                parts.append(_CATEGORY[iav])
            else:
                return None
        cls = re.compile(f"[{'^' if neg else ''}{''.join(parts)}]")
        return frozenset(c for c in _PROBE if cls.fullmatch(c))
    return None


def _adjacent_overlapping_repeats(tree) -> bool:
    """Two unbounded repeats separated only by what can match nothing, sharing characters."""
    prev = None          # characters of the last unbounded repeat still "open"
    for op, av in tree:
        if op in _REPEATS and op is not None:
            unbounded = av[1] is sre_parse.MAXREPEAT
            if _adjacent_overlapping_repeats(av[2]):
                return True
            if unbounded:
                chars = _item_chars(av[2])
                if prev is not None and (chars is None or prev is _ANYSET or prev & chars):
                    return True
                prev = chars if chars is not None else _ANYSET
                continue
            if av[0] == 0:
                continue            # an optional item keeps the previous repeat open
            prev = None
            continue
        for child in _children(op, av):
            if _adjacent_overlapping_repeats(child):
                return True
        if op in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            continue
        prev = None
    return False


_ANYSET = frozenset(_PROBE)


def _overlapping_alternation(tree) -> bool:
    for op, av in tree:
        if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
            lo, hi, sub = av
            if hi is sre_parse.MAXREPEAT or hi > 1:
                for sop, sav in sub:
                    if sop is sre_parse.SUBPATTERN:
                        sub = sav[-1]
                for sop, sav in sub:
                    if sop is sre_parse.BRANCH:
                        firsts = []
                        for branch in sav[1]:
                            firsts.append(_first_chars(branch))
                        for i in range(len(firsts)):
                            for j in range(i + 1, len(firsts)):
                                if firsts[i] is None or firsts[j] is None or firsts[i] & firsts[j]:
                                    return True
            if _overlapping_alternation(sub):
                return True
        elif op is sre_parse.SUBPATTERN:
            if _overlapping_alternation(av[-1]):
                return True
        elif op is sre_parse.BRANCH:
            for branch in av[1]:
                if _overlapping_alternation(branch):
                    return True
    return False


def _first_chars(sub) -> set | None:
    """The literal first characters a sub-pattern can start with; None = any."""
    for op, av in sub:
        if op is sre_parse.LITERAL:
            return {av}
        if op is sre_parse.SUBPATTERN:
            return _first_chars(av[-1])
        return None
    return None


# ---------------------------------------------------------------- the checker


class Checker:
    """Checks the modules of one pack and builds their IR.

    `modules` maps file path → parsed module; `sources` maps file path →
    text (for rendering); `read_file` is how imports and list files are
    read (tests inject a fake file system).
    """

    def __init__(self, modules: dict[str, ast.Module], sources: dict[str, str],
                 parse_file: Callable[[str], tuple[ast.Module | None, list[Diagnostic]]] | None = None,
                 read_list: Callable[[str], list[str]] = read_list_file):
        self.modules = dict(modules)
        self.sources = sources
        self.parse_file = parse_file
        self.read_list = read_list
        self.diags: list[Diagnostic] = []
        self.scopes: dict[str, FileScope] = {}
        self.rules: list[ir.Rule] = []
        self.tests: list[TestCase] = []
        self.dispatch = {}
        for cls in ast.concrete_classes():
            name = "check_" + re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
            handler = getattr(self, name, None)
            if handler is not None:
                self.dispatch[cls] = handler

    # -- reporting
    def error(self, code: str, message: str, span: Span, *hints: str, related=()) -> None:
        self.diags.append(Diagnostic(code, ERROR, message, span, hints, related))

    def warn(self, code: str, message: str, span: Span, *hints: str, related=()) -> None:
        self.diags.append(Diagnostic(code, WARNING, message, span, hints, related))

    def _error_count(self) -> int:
        return sum(1 for d in self.diags if d.is_error)

    # -- driver
    def run(self) -> CheckedPack:
        for path in list(self.modules):
            self._scope_for(path, ())
        rule_decls: dict[str, tuple[ast.RuleDecl, str]] = {}
        test_seen: dict[tuple[str, str], ast.TestDecl] = {}
        for path, module in self.modules.items():
            for decl in module.decls:
                if isinstance(decl, ast.RuleDecl):
                    if decl.name in rule_decls:
                        first = rule_decls[decl.name][0]
                        self.error("duplicate-rule", f"rule '{decl.name}' is defined twice",
                                   decl.span, "rule names are unique in a pack",
                                   related=[Related("first defined here", first.span)])
                        continue
                    rule_decls[decl.name] = (decl, path)
        for decl, path in rule_decls.values():
            rule = self.check_rule(decl, self.scopes[path])
            if rule is not None:
                self.rules.append(rule)
        known_rules = {r.name: r for r in self.rules}
        for path, module in self.modules.items():
            for decl in module.decls:
                if isinstance(decl, ast.TestDecl):
                    key = (decl.rule, decl.name)
                    if key in test_seen:
                        self.error("duplicate-test",
                                   f"test '{decl.name}' for rule '{decl.rule}' is defined twice",
                                   decl.span, related=[Related("first defined here", test_seen[key].span)])
                        continue
                    test_seen[key] = decl
                    self.check_test(decl, self.scopes[path], known_rules, set(rule_decls))
        self._check_match_graph()
        self._check_unused()
        return CheckedPack(tuple(self.rules), tuple(self.tests), tuple(self.diags), self.sources,
                           self.modules)

    # -- scopes, imports, lists, macros
    def _scope_for(self, path: str, stack: tuple[str, ...]) -> FileScope:
        if path in self.scopes:
            return self.scopes[path]
        scope = FileScope(path)
        self.scopes[path] = scope
        module = self.modules[path]
        own_macros: dict[str, MacroDef] = {}
        own_lists: dict[str, ListDef] = {}
        for decl in module.decls:
            if isinstance(decl, ast.MacroDecl):
                if decl.name in own_macros:
                    self.error("duplicate-macro", f"macro '{decl.name}' is defined twice in this file",
                               decl.span, related=[Related("first defined here", own_macros[decl.name].decl.span)])
                    continue
                if decl.name in FIELDS:
                    self.warn("macro-shadows-field",
                              f"macro '{decl.name}' has the name of an event field; the macro wins",
                              decl.span, f"rename the macro, e.g. 'is_{decl.name}'")
                if decl.name in FUNCTIONS or decl.name in AGGREGATES:
                    self.warn("macro-shadows-function",
                              f"macro '{decl.name}' has the name of a function", decl.span)
                own_macros[decl.name] = MacroDef(decl, path)
            elif isinstance(decl, ast.ListDecl):
                if decl.name in own_lists:
                    self.error("duplicate-list", f"list '{decl.name}' is defined twice in this file",
                               decl.span, related=[Related("first defined here", own_lists[decl.name].decl.span)])
                    continue
                own_lists[decl.name] = ListDef(decl, path)
        for decl in module.decls:
            if isinstance(decl, ast.Import):
                target = os.path.normpath(os.path.join(os.path.dirname(path), decl.path))
                if target in stack or target == path:
                    chain = " -> ".join(os.path.basename(p) for p in (*stack, path, target))
                    self.error("import-cycle", f"import cycle: {chain}", decl.span,
                               "move the shared macros and lists into a file both import")
                    continue
                if target not in self.modules:
                    module2, diags = self._load_import(target)
                    if module2 is None:
                        self.error("unreadable-import", f"cannot read imported file '{decl.path}'",
                                   decl.span, f"looked for {target}")
                        continue
                    self.diags.extend(diags)
                    self.modules[target] = module2
                if target in self.scopes and target not in stack:
                    sub = self.scopes[target]
                else:
                    sub = self._scope_for(target, (*stack, path))
                for name, m in sub.macros.items():
                    scope.macros.setdefault(name, m)
                for name, lst in sub.lists.items():
                    scope.lists.setdefault(name, lst)
        scope.macros.update(own_macros)
        scope.lists.update(own_lists)
        return scope

    def _load_import(self, target: str):
        if self.parse_file is None:
            return None, []
        return self.parse_file(target)

    def list_value(self, ld: ListDef) -> ir.SetConst:
        if ld.value is not None:
            return ld.value
        decl = ld.decl
        values: list = []
        if decl.file is not None:
            path = os.path.normpath(os.path.join(os.path.dirname(ld.file), decl.file))
            try:
                values = self.read_list(path)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                self.error("unreadable-list", f"cannot read list file '{decl.file}'", decl.span,
                           f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError)
                           else "the file is not valid UTF-8" if isinstance(exc, UnicodeDecodeError)
                           else "the path is not a valid file name")
            source = path
        else:
            source = None
            for item in decl.items or ():
                v = self._literal_value(item)
                if v is _NOT_CONST:
                    self.error("non-constant-list", "list items must be literals", item.span,
                               'write strings, numbers or CIDRs: ["a", 1, 10.0.0.0/8]')
                else:
                    values.append(v)
        vals, kind = classify_values(values, from_text=decl.file is not None)
        if kind == "mixed":
            self.warn("mixed-list", f"list '{decl.name}' mixes strings and numbers", decl.span,
                      "membership compares values exactly; keep one type per list")
        ld.value = ir.SetConst(vals, kind, decl.name, source, span=decl.span)
        return ld.value

    def _literal_value(self, node: ast.Expr):
        if isinstance(node, (ast.String, ast.IntLit, ast.FloatLit, ast.BoolLit)):
            return node.value
        if isinstance(node, ast.Cidr):
            return node.text
        if isinstance(node, ast.Duration):
            return node.seconds
        if isinstance(node, ast.Neg) and isinstance(node.operand, (ast.IntLit, ast.FloatLit)):
            return -node.operand.value
        return _NOT_CONST

    # -- expressions
    def expr(self, node: ast.Expr, ctx: Ctx) -> ir.Expr:
        handler = self.dispatch.get(type(node))
        if handler is None:
            self.error("unexpected-expression", f"{type(node).__name__} is not allowed here", node.span)
            return _err(node)
        return handler(node, ctx)

    def cond(self, node: ast.Expr, ctx: Ctx) -> ir.Expr:
        """An expression that must be a condition (boolean)."""
        if isinstance(node, ast.Field) and len(node.parts) == 1:
            name = node.parts[0]
            if name not in ctx.scope.macros and not (ctx.steps and name in ctx.steps):
                self._unknown_name_as_condition(node, ctx)
                return _err(node)
        e = self.expr(node, ctx)
        if e.type not in (ir.BOOL, ir.ANY):
            if isinstance(node, ast.Field):
                self.error("not-a-condition",
                           f"'{node.dotted}' is a field of type {e.type}, not a condition", node.span,
                           f"compare it (e.g. '{node.dotted} == ...') or test presence with exists({node.dotted})")
            else:
                self.error("not-a-condition", f"expected a condition, found a value of type {e.type}",
                           node.span, "conditions are comparisons, 'in', '~', '=~', macros or boolean functions")
            return _err(node)
        return e

    def _unknown_name_as_condition(self, node: ast.Field, ctx: Ctx) -> None:
        name = node.parts[0]
        if name in FIELDS or (ctx.matches and name in MATCH_FIELDS):
            self.error("not-a-condition", f"'{name}' is a field, not a condition", node.span,
                       f"compare it (e.g. '{name} == ...') or test presence with exists({name})")
            return
        candidates = list(ctx.scope.macros)
        guess = closest(name, candidates)
        hints = []
        related = []
        if guess is not None:
            m = ctx.scope.macros[guess]
            hints.append(f"did you mean '{guess}'? (defined at {m.decl.span.file}:{m.decl.span.line}:{m.decl.span.col + 6})")
        else:
            hints.append("define it with 'macro " + name + " = <condition>' or import the file that does")
        self.error("unknown-macro", f"no macro named '{name}'", node.span, *hints, related=related)

    def check_bool_lit(self, node, ctx):
        return ir.Const(node.value, ir.BOOL, span=node.span)

    def check_string(self, node, ctx):
        return ir.Const(node.value, ir.STR, span=node.span)

    def check_int_lit(self, node, ctx):
        return ir.Const(node.value, ir.INT, span=node.span)

    def check_float_lit(self, node, ctx):
        if not math.isfinite(node.value):
            self.error("bad-number", "this number is too large", node.span)
            return _err(node)
        return ir.Const(node.value, ir.FLOAT, span=node.span)

    def check_duration(self, node, ctx):
        return ir.Const(node.seconds, ir.DURATION, span=node.span)

    def check_cidr(self, node, ctx):
        if not _is_ip_or_net(node.text):
            self.error("bad-cidr", f"'{node.text}' is not a valid IP address or network", node.span,
                       "write a.b.c.d or a.b.c.d/n with n from 0 to 32")
            return _err(node)
        return ir.SetConst(frozenset({node.text}), "ip", span=node.span)

    def check_regex(self, node, ctx):
        self.error("regex-without-subject", "a regex literal only appears right of '=~'", node.span,
                   "write 'field =~ /pattern/'")
        return _err(node)

    def check_word(self, node, ctx):
        self.error("unexpected-word", f"'{node.name}' is not a value here", node.span)
        return _err(node)

    def check_list_lit(self, node, ctx):
        if ctx.generator:
            # A test event's field may hold a list (spec.unknown_params = ["x"]).
            for item in node.items:
                self.expr(item, ctx)
            return ir.Const(None, ir.LIST, span=node.span)
        self.error("list-not-allowed", "a list literal only appears right of 'in'", node.span,
                   "write 'x in [a, b]' or declare it with 'list name = [...]'")
        return _err(node)

    def check_tuple(self, node, ctx):
        self.error("list-not-allowed", "a tuple only appears right of 'in'", node.span)
        return _err(node)

    def check_list_ref(self, node, ctx):
        ld = ctx.scope.lists.get(node.name)
        if ld is None:
            self._unknown_list(node, ctx)
            return _err(node)
        ld.used = True
        value = self.list_value(ld)
        return attrs.evolve(value, span=node.span)

    def _unknown_list(self, node: ast.ListRef, ctx: Ctx) -> None:
        guess = closest(node.name, ctx.scope.lists)
        hints = [f"did you mean '@{guess}'?"] if guess else []
        elsewhere = [s.file for s in self.scopes.values() if node.name in s.lists and s.file != ctx.scope.file]
        if elsewhere:
            hints.append(f"it is declared in {elsewhere[0]}; import that file")
        self.error("unknown-list", f"no list named '{node.name}'", node.span, *hints)

    def check_field(self, node: ast.Field, ctx: Ctx) -> ir.Expr:
        parts = node.parts
        head = parts[0]
        if ctx.steps is not None and head in ctx.steps:
            idx = ctx.steps[head]
            if len(parts) == 1:
                self.error("step-as-value", f"'{head}' is a step; reference one of its fields",
                           node.span, f"e.g. '{head}.src_ip'")
                return _err(node)
            if idx > ctx.max_step:
                if idx == ctx.max_step + 1 and ctx.where == "step":
                    msg = f"step '{head}' cannot reference its own fields"
                    hint = "a step's condition reads the current event directly: drop the prefix"
                else:
                    msg = f"step '{head}' is not before this point of the sequence"
                    hint = "a step may only reference steps that come before it"
                self.error("forward-step-reference", msg, node.span, hint)
                return _err(node)
            return ir.StepRef(idx, head, tuple(parts[1:]), self._field_type(tuple(parts[1:]), ctx),
                              span=node.span)
        if len(parts) == 1 and head in ctx.scope.macros:
            return self._expand_macro(node, ctx)
        if ctx.generator and parts == ("i",):
            return ir.Load(("i",), ir.INT, span=node.span)
        path = tuple(parts)
        if ctx.test_assert:
            return ir.Load(path, ir.ANY, span=node.span)
        if ctx.matches:
            return ir.Load(path, MATCH_FIELDS.get(head, ir.ANY) if len(path) == 1 else ir.ANY, span=node.span)
        dotted = ".".join(path)
        if dotted in ALIASES or head in ALIASES:
            canon = ALIASES.get(dotted) or ALIASES[head]
            self.warn("alias-field", f"'{dotted}' is an alias; rules see the canonical name '{canon}'",
                      node.span, f"write '{canon}'")
            path = (canon,)
            head = canon
        if head not in FIELDS:
            guess = closest(head, list(FIELDS) + list(ctx.scope.macros))
            hints = [f"did you mean '{guess}'?"] if guess else [
                "fields outside the event schema are read as written; see docs/input.md"]
            self.warn("unknown-field", f"'{dotted}' is not a field of the event schema", node.span, *hints)
            return ir.Load(path, ir.ANY, span=node.span)
        if len(path) > 1 and head not in MAP_FIELDS:
            self.error("not-a-mapping", f"field '{head}' is a {FIELDS[head]}, it has no sub-fields",
                       node.span, f"write '{head}'")
            return _err(node)
        if head == "spec" and len(path) == 2 and path[1] not in SPEC_FIELDS:
            guess = closest(path[1], SPEC_FIELDS)
            self.warn("unknown-field", f"'{dotted}' is not a field set by the OpenAPI router", node.span,
                      *([f"did you mean 'spec.{guess}'?"] if guess else [f"spec fields: {', '.join(SPEC_FIELDS)}"]))
        return ir.Load(path, self._field_type(path, ctx), span=node.span)

    def _field_type(self, path: tuple[str, ...], ctx: Ctx) -> str:
        if ctx.matches:
            return MATCH_FIELDS.get(path[0], ir.ANY) if len(path) == 1 else ir.ANY
        if len(path) == 1:
            t = FIELDS.get(path[0], ir.ANY)
            return {"time": ir.NUM, "ip": ir.STR}.get(t, t)
        if path[0] == "spec" and len(path) == 2:
            return SPEC_FIELDS.get(path[1], ir.ANY)
        return ir.ANY

    def _expand_macro(self, node: ast.Field, ctx: Ctx) -> ir.Expr:
        name = node.parts[0]
        m = ctx.scope.macros[name]
        m.used = True
        if name in ctx.macro_stack:
            chain = " -> ".join((*ctx.macro_stack, name))
            self.error("macro-cycle", f"macro '{name}' refers to itself: {chain}", m.decl.span,
                       "break the cycle: a macro cannot use itself, directly or through others")
            return _err(node)
        scope = self.scopes.get(m.file, ctx.scope)
        inner = ctx.evolve(scope=scope, macro_stack=(*ctx.macro_stack, name))
        body = self.expr(m.decl.body, inner)
        return body

    def check_call(self, node: ast.Call, ctx: Ctx) -> ir.Expr:
        name = node.name
        if name in AGGREGATES:
            return self._aggregate(node, ctx)
        if name == "interarrival":
            self.error("bad-argument", "interarrival() is only an argument of cv() or jitter()",
                       node.span, "write cv(interarrival()) in 'having'")
            return _err(node)
        if name not in FUNCTIONS:
            guess = closest(name, list(FUNCTIONS) + list(AGGREGATES))
            self.error("unknown-function", f"no function named '{name}'", node.span,
                       *([f"did you mean '{guess}'?"] if guess else
                         [f"functions: {', '.join(sorted(FUNCTIONS))}"]))
            return _err(node)
        lo, hi, rtype = FUNCTIONS[name]
        if not lo <= len(node.args) <= hi:
            self._arity(node, lo, hi)
            return _err(node)
        if name == "exists":
            (arg,) = node.args
            if not isinstance(arg, ast.Field):
                self.error("bad-argument", "exists() takes a field", arg.span, "e.g. exists(headers.referer)")
                return _err(node)
            if len(arg.parts) == 1 and arg.parts[0] in ctx.scope.macros:
                self.error("bad-argument", f"'{arg.parts[0]}' is a macro; exists() takes a field", arg.span)
                return _err(node)
        args = tuple(self.expr(a, ctx) for a in node.args)
        if name == "cidr":
            net = args[1]
            if not (isinstance(net, ir.Const) and net.type == ir.STR) and not isinstance(net, ir.SetConst):
                self.error("bad-argument", "the second argument of cidr() is a network literal",
                           node.args[1].span, 'write cidr(src_ip, "10.0.0.0/8")')
                return _err(node)
            text = net.value if isinstance(net, ir.Const) else next(iter(net.values))
            if not _is_ip_or_net(text):
                self.error("bad-cidr", f"'{text}' is not a valid IP network", node.args[1].span,
                           'write e.g. "10.0.0.0/8" or "2001:db8::/32"')
                return _err(node)
            return ir.In(args[0], ir.SetConst(frozenset({text}), "ip", span=node.args[1].span), span=node.span)
        if name in ("startswith", "endswith") and args[1].type not in (ir.STR, ir.ANY):
            self.error("type-mismatch", f"{name}() takes a string prefix (got {args[1].type})", node.args[1].span)
        if name in ("lower", "upper", "startswith", "endswith") and args[0].type not in (ir.STR, ir.ANY):
            self.error("type-mismatch", f"{name}() takes a string (got {args[0].type})", node.args[0].span)
        if name in ("hour", "weekday") and args[0].type not in ir.NUMERIC and args[0].type != ir.ANY:
            self.error("type-mismatch", f"{name}() takes a time (got {args[0].type})", node.args[0].span)
        return ir.Call(name, args, rtype, span=node.span)

    def _arity(self, node: ast.Call, lo: int, hi: int) -> None:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        noun = "argument" if lo == hi == 1 else "arguments"
        self.error("bad-arity", f"{node.name}() takes {want} {noun} (got {len(node.args)})", node.span)

    def _aggregate(self, node: ast.Call, ctx: Ctx) -> ir.Expr:
        name = node.name
        if ctx.agg_arg:
            self.error("nested-aggregate", f"aggregate '{name}()' inside another aggregate", node.span,
                       "an aggregate's argument is evaluated per event")
            return _err(node)
        if not ctx.allow_agg:
            self.error("aggregate-not-allowed", f"aggregate '{name}()' is not allowed in {ctx.where}",
                       node.span, "aggregates belong in 'having' (window rules), in a step's "
                       "'window ... having', or in 'emit' of a window rule")
            return _err(node)
        lo, hi = AGGREGATES[name]
        if not lo <= len(node.args) <= hi:
            self._arity(node, lo, hi)
            return _err(node)
        arg_ctx = ctx.evolve(agg_arg=True, allow_agg=False, where=f"the argument of {name}()")
        if name in ("cv", "jitter"):
            (arg,) = node.args
            if not (isinstance(arg, ast.Call) and arg.name == "interarrival" and not arg.args):
                self.error("bad-argument", f"{name}() takes interarrival()", arg.span,
                           f"write {name}(interarrival()): the gaps between the key's events")
                return _err(node)
            return ir.Agg(name, span=node.span)
        if name == "baseline":
            inner_node, horizon = node.args
            if not (isinstance(inner_node, ast.Call) and inner_node.name in AGGREGATES
                    and inner_node.name not in ("baseline", "first_seen", "sample")):
                self.error("bad-argument", "the first argument of baseline() is an aggregate",
                           inner_node.span, "e.g. baseline(count(), 1h)")
                return _err(node)
            h = self._const_duration(horizon, "baseline() horizon")
            inner = self._aggregate(inner_node, ctx)
            if h is None or not isinstance(inner, ir.Agg):
                return _err(node)
            return ir.Agg("baseline", (), h, inner, span=node.span)
        if name == "first_seen":
            value, horizon = node.args
            h = self._const_duration(horizon, "first_seen() horizon")
            v = self.expr(value, arg_ctx)
            if h is None:
                return _err(node)
            return ir.Agg("first_seen", (v,), h, span=node.span)
        if name == "sample":
            value, n = node.args
            if not isinstance(n, ast.IntLit) or not 1 <= n.value <= MAX_SAMPLE:
                self.error("bad-argument", f"the sample size is an integer from 1 to {MAX_SAMPLE}", n.span)
                return _err(node)
            return ir.Agg("sample", (self.expr(value, arg_ctx),), n.value, span=node.span)
        if name in ("ratio",) or (name == "count" and node.args):
            (pred,) = node.args
            return ir.Agg(name, (self.cond(pred, arg_ctx),), span=node.span)
        args = tuple(self.expr(a, arg_ctx) for a in node.args)
        if name in ("sum", "avg") and args and args[0].type not in ir.NUMERIC and args[0].type != ir.ANY:
            self.error("type-mismatch", f"{name}() takes a number (got {args[0].type})", node.args[0].span)
        return ir.Agg(name, args, span=node.span)

    def _const_duration(self, node: ast.Expr, what: str) -> float | None:
        if not isinstance(node, ast.Duration):
            self.error("bad-argument", f"the {what} is a duration literal", node.span, "e.g. 1h or 30d")
            return None
        return self._duration(node, what)

    def _duration(self, node: ast.Duration, what: str, *, max_s: float = MAX_DURATION) -> float | None:
        if node.seconds <= 0:
            self.error("bad-duration", f"the {what} must be longer than zero", node.span)
            return None
        if node.seconds > max_s:
            self.error("bad-duration", f"the {what} is {node.seconds / 86400:g}d; the limit is {max_s / 86400:g}d",
                       node.span, "state must stay bounded; use a shorter span or a baseline")
            return None
        if node.seconds < 0.001:
            self.error("bad-duration", f"the {what} is shorter than a millisecond", node.span)
            return None
        return node.seconds

    def check_or(self, node, ctx):
        return ir.Or(tuple(self.cond(o, ctx) for o in node.operands), span=node.span)

    def check_and(self, node, ctx):
        return ir.And(tuple(self.cond(o, ctx) for o in node.operands), span=node.span)

    def check_not(self, node, ctx):
        return ir.Not(self.cond(node.operand, ctx), span=node.span)

    def check_compare(self, node: ast.Compare, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        right = self.expr(node.right, ctx)
        if isinstance(left, _Err) or isinstance(right, _Err):
            return _err(node)
        lt, rt = left.type, right.type
        if isinstance(right, ir.SetConst) or isinstance(left, ir.SetConst):
            self.error("type-mismatch", f"'{node.op}' compares single values, not a network or list",
                       node.span, "test membership with 'in', e.g. 'src_ip in 10.0.0.0/8'")
            return _err(node)
        if node.op in ("<", "<=", ">", ">="):
            for side, t in ((node.left, lt), (node.right, rt)):
                if t in (ir.BOOL, ir.MAP, ir.LIST):
                    self.error("type-mismatch", f"'{node.op}' cannot order a {t}", side.span)
                    return _err(node)
            if (lt == ir.STR and rt in ir.NUMERIC) or (rt == ir.STR and lt in ir.NUMERIC):
                str_side = node.left if lt == ir.STR else node.right
                self.error("type-mismatch", f"'{node.op}' between a string and a number is never true",
                           node.span, *self._mismatch_hint(str_side))
                return _err(node)
        elif not _compatible(lt, rt):
            self.error("type-mismatch", f"'{node.op}' between a {_tname(lt)} and a {_tname(rt)} is "
                       f"{'never' if node.op == '==' else 'always'} true", node.span,
                       *self._mismatch_hint(node.right if isinstance(right, ir.Const) else node.left))
            return _err(node)
        return ir.Compare(node.op, left, right, span=node.span)

    def _mismatch_hint(self, side: ast.Expr) -> list[str]:
        if isinstance(side, ast.String) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", side.value):
            return [f"write the number without quotes: {side.value}"]
        if isinstance(side, (ast.IntLit, ast.FloatLit)):
            return [f'write the string in quotes: "{side.value}"']
        return []

    def check_in(self, node: ast.In, ctx: Ctx) -> ir.Expr:
        item = self.expr(node.item, ctx)
        target = node.target
        if isinstance(target, (ast.Tuple, ast.ListLit)):
            values = []
            for it in target.items:
                v = self._literal_value(it)
                if v is _NOT_CONST:
                    self.error("non-constant-in", "items of an 'in' list must be literals", it.span,
                               "compare with '==' and join with 'or' to test fields")
                    return _err(node)
                values.append(v)
            vals, kind = classify_values(values)
            if any(isinstance(it, ast.Cidr) for it in target.items):
                kind = "ip"
            container = ir.SetConst(vals, kind, span=target.span)
        elif isinstance(target, ast.Cidr):
            container = self.check_cidr(target, ctx)
        else:
            container = self.expr(target, ctx)
        if isinstance(item, _Err) or isinstance(container, _Err):
            return _err(node)
        if isinstance(container, ir.SetConst) and container.values:
            # (an empty list, e.g. one whose file could not be read, has no type)
            it = item.type
            k = container.kind
            bad = ((it in ir.NUMERIC and k in ("str", "ip")) or (it == ir.STR and k in ("int", "num"))
                   or it in (ir.BOOL, ir.MAP, ir.LIST))
            if bad:
                self.error("type-mismatch", f"a {_tname(it)} is never in a list of {_kname(k)}",
                           node.span, *self._set_hint(node, k))
                return _err(node)
        elif container.type not in (ir.ANY, ir.LIST, ir.MAP, ir.STR):
            self.error("type-mismatch", f"'in' needs a list, a network or a mapping (got {container.type})",
                       node.target.span, "write 'x in (a, b)', 'x in @list' or 'x in 10.0.0.0/8'")
            return _err(node)
        return ir.In(item, container, node.negated, span=node.span)

    def _set_hint(self, node: ast.In, kind: str) -> list[str]:
        if kind in ("str",) and isinstance(node.target, (ast.Tuple, ast.ListLit)):
            if all(isinstance(i, ast.String) and re.fullmatch(r"-?[0-9]+", i.value) for i in node.target.items):
                return ["write the numbers without quotes"]
        return []

    def check_glob(self, node: ast.Glob, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        if not isinstance(node.pattern, ast.String):
            self.error("bad-pattern", "the right side of '~' is a string pattern", node.pattern.span,
                       'e.g. route ~ "/api/*/login"')
            return _err(node)
        if left.type not in (ir.STR, ir.ANY, ir.IP) and not isinstance(left, _Err):
            self.error("type-mismatch", f"'~' matches strings (got {left.type})", node.left.span)
            return _err(node)
        if isinstance(left, _Err):
            return _err(node)
        return ir.Glob(left, node.pattern.value, span=node.span)

    def check_regex_match(self, node: ast.RegexMatch, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        pat = node.pattern
        if isinstance(pat, ast.Regex):
            text, flags = pat.pattern, pat.flags
        elif isinstance(pat, ast.String):
            text, flags = pat.value, ""
        else:
            self.error("bad-pattern", "the right side of '=~' is a regex literal", pat.span, "e.g. ua =~ /bot/i")
            return _err(node)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                re.compile(text, _re_flags(flags))
            for w in caught:
                # e.g. "possible nested set": valid today, may change meaning in a later Python.
                self.warn("regex-ambiguous", f"regex: {str(w.message).lower()}", pat.span,
                          r"escape the character ('\[', '\-', '\&', '\~', '\|') to keep its meaning")
        except re.error as exc:
            pos = exc.pos if exc.pos is not None else 0
            span = pat.span
            if isinstance(pat, ast.Regex) and span.line == span.end_line:
                col = span.col + 1 + pos
                span = Span(span.file, span.line, col, span.line, col + 1, span.start + 1 + pos, span.start + 2 + pos)
            self.error("bad-regex", f"invalid regex: {exc.msg}", span)
            return _err(node)
        hazard = regex_hazard(text)
        if hazard:
            self.error("unsafe-regex", f"regex refused: {hazard}", pat.span,
                       "this shape can take exponential time on hostile input; rewrite without the nesting")
            return _err(node)
        if left.type not in (ir.STR, ir.ANY, ir.IP) and not isinstance(left, _Err):
            self.error("type-mismatch", f"'=~' matches strings (got {left.type})", node.left.span)
            return _err(node)
        if isinstance(left, _Err):
            return _err(node)
        return ir.Regex(left, text, flags, span=node.span)

    def check_bin_op(self, node: ast.BinOp, ctx: Ctx) -> ir.Expr:
        left = self.expr(node.left, ctx)
        right = self.expr(node.right, ctx)
        if ctx.generator and node.op == "+" and ir.STR in (left.type, right.type):
            # Test events build values: "10.0." + str(i % 30) + ".1" is text concatenation.
            return ir.Arith(node.op, left, right, span=node.span)
        for side, e in ((node.left, left), (node.right, right)):
            if e.type in (ir.STR, ir.BOOL, ir.MAP, ir.LIST) and not isinstance(e, _Err):
                self.error("type-mismatch", f"'{node.op}' takes numbers (got a {_tname(e.type)})", side.span)
                return _err(node)
        if isinstance(left, _Err) or isinstance(right, _Err):
            return _err(node)
        if node.op in ("/", "%") and isinstance(right, ir.Const) and right.value == 0:
            self.error("division-by-zero", "division by zero", node.right.span)
            return _err(node)
        return ir.Arith(node.op, left, right, span=node.span)

    def check_neg(self, node: ast.Neg, ctx: Ctx) -> ir.Expr:
        e = self.expr(node.operand, ctx)
        if e.type in (ir.STR, ir.BOOL, ir.MAP, ir.LIST):
            self.error("type-mismatch", f"'-' takes a number (got a {_tname(e.type)})", node.span)
            return _err(node)
        if isinstance(e, ir.Const) and isinstance(e.value, (int, float)):
            return ir.Const(-e.value, e.vtype, span=node.span)
        return ir.Neg(e, span=node.span)

    # -- rules
    def check_rule(self, decl: ast.RuleDecl, scope: FileScope) -> ir.Rule | None:
        before = len([d for d in self.diags if d.is_error])
        by_kind: dict[type, list[ast.Clause]] = {}
        for c in decl.clauses:
            by_kind.setdefault(type(c), []).append(c)
        for cls, items in by_kind.items():
            if cls not in (ast.UnlessBetween, ast.UnlessAfter) and len(items) > 1:
                self.error("duplicate-clause", f"'{_clause_word(cls)}' appears twice in rule '{decl.name}'",
                           items[1].span, related=[Related("first here", items[0].span)])

        def one(cls):
            items = by_kind.get(cls)
            return items[0] if items else None

        when, seq, having = one(ast.WhenClause), one(ast.Sequence), one(ast.HavingClause)
        present = [c for c in (when, seq, having) if c is not None]
        if len(present) > 1:
            self.error("conflicting-clauses",
                       f"a rule is one kind: 'when' (single event), 'sequence' or 'having' (window); "
                       f"this one has {' and '.join(repr(_clause_word(type(c))) for c in present)}",
                       present[1].span, "split it into two rules")
            return None
        if not present:
            self.error("missing-condition", f"rule '{decl.name}' has no 'when', 'sequence' or 'having'",
                       _name_span(decl), "add 'when <condition>' for a single-event rule")
            return None
        kind = "event" if when else "sequence" if seq else "window"
        source = "matches" if one(ast.FromMatches) else "events"
        base = Ctx(scope, matches=source == "matches")

        meta = self._check_meta(decl, one(ast.Meta))
        keys = self._keys(one(ast.ByClause), base)
        key_paths = frozenset(k.path for k in keys)
        allowed = ALLOWED_CLAUSES[kind]
        for c in decl.clauses:
            if type(c) not in allowed:
                what = {"event": "a single-event ('when') rule", "sequence": "a sequence rule",
                        "window": "a window ('having') rule"}[kind]
                self.error("clause-not-allowed", f"'{_clause_word(type(c))}' is not allowed in {what}",
                           c.span, _clause_hint(type(c)))

        limits = self._limits(one(ast.Limit))
        fields: set[tuple[str, ...]] = set(key_paths)
        rule_kw: dict = {}
        cond = None
        where = one(ast.WhereClause)
        if kind == "event":
            cond = self.cond(when.cond, base.evolve(where="'when'"))
        elif where is not None:
            cond = self.cond(where.cond, base.evolve(where="'where'"))
        if cond is not None:
            fields |= _paths(cond)

        steps: tuple[ir.Step, ...] = ()
        absences: tuple[ir.Absence, ...] = ()
        if kind == "sequence":
            within = one(ast.WithinClause)
            if within is None:
                self.error("missing-within", f"sequence rule '{decl.name}' has no 'within'", seq.span,
                           "bound the time from first to last step, e.g. 'within 30m'")
            else:
                rule_kw["within"] = self._duration(within.duration, "'within' span")
            steps = self._steps(seq, base, keys, cond, rule_kw.get("within"))
            step_index = {s.name: s.index for s in steps}
            absences = self._absences(decl, by_kind, base, step_index, steps)
            until = one(ast.UntilClause)
            if until is not None:
                rule_kw["until"] = self.cond(until.cond, base.evolve(where="'until'"))
            for s in steps:
                fields |= set(s.fields)
        elif kind == "window":
            rule_kw.update(self._window(decl, one(ast.WindowClause), having, base, key_paths))
            for agg in _aggs(rule_kw.get("having")):
                for a in agg.args:
                    fields |= _paths(a)
        emits = self._emits(one(ast.Emit), base, kind, steps, key_paths)
        sup = one(ast.Suppress)
        if sup is not None:
            rule_kw["suppress"] = self._duration(sup.duration, "suppression")
            rule_kw["suppress_keys"] = self._keys(ast.ByClause(sup.keys, span=sup.span), base) if sup.keys else ()
        fp = one(ast.Fingerprint)
        if fp is not None:
            fctx = base.evolve(where="'fingerprint'", steps={s.name: s.index for s in steps} or None,
                               max_step=len(steps) - 1)
            rule_kw["fingerprint"] = tuple(self.expr(v, fctx) for v in fp.values)
        ref = one(ast.Refire)
        if ref is not None:
            if ref.policy not in REFIRE:
                guess = closest(ref.policy, REFIRE)
                self.error("bad-refire", f"unknown refire policy '{ref.policy}'", ref.span,
                           *([f"did you mean '{guess}'?"] if guess else []), f"policies: {', '.join(REFIRE)}")
            elif (ref.policy == "cooldown") != (ref.duration is not None):
                self.error("bad-refire", "'refire cooldown' takes a duration; 'reset' and 'keep' do not",
                           ref.span, "e.g. 'refire cooldown 10m'")
            else:
                rule_kw["refire"] = ref.policy
                if ref.duration is not None:
                    rule_kw["refire_after"] = self._duration(ref.duration, "cooldown")
        consumes = None
        if source == "matches":
            consumes = _consumed_rules(cond)
        errors_now = len([d for d in self.diags if d.is_error])
        if errors_now > before:
            return None
        return ir.Rule(
            name=decl.name, file=scope.file, span=decl.span, kind=kind, source=source,
            meta=meta, keys=keys, cond=cond, steps=steps, absences=absences, emits=emits,
            limits=tuple(sorted(limits.items())), fields=tuple(sorted(fields)), consumes=consumes,
            **rule_kw)

    def _check_meta(self, decl: ast.RuleDecl, meta: ast.Meta | None) -> tuple:
        out: dict[str, object] = {}
        anchor = meta.span if meta is not None else _name_span(decl)
        seen: dict[str, ast.MetaEntry] = {}
        for e in meta.entries if meta is not None else ():
            if e.name in seen:
                self.error("duplicate-meta", f"meta entry '{e.name}' is given twice", e.span,
                           related=[Related("first here", seen[e.name].span)])
                continue
            seen[e.name] = e
            if e.name not in META_KNOWN:
                guess = closest(e.name, META_KNOWN)
                self.warn("unknown-meta", f"unknown meta entry '{e.name}'", e.span,
                          *([f"did you mean '{guess}'?"] if guess else [f"known entries: {', '.join(META_KNOWN)}"]))
            v = e.value
            if e.name in ("ttp", "goal", "severity"):
                text = v.value if isinstance(v, ast.String) else v.name if isinstance(v, ast.Word) else None
                vocab = {"ttp": TTPS, "goal": GOALS, "severity": SEVERITIES}[e.name]
                if text is None:
                    self.error("bad-meta-value", f"'{e.name}' is a name from the taxonomy", v.span,
                               f"one of: {', '.join(vocab)}")
                    continue
                if text not in vocab:
                    guess = closest(text, vocab, max_distance=4)
                    hints = [f"did you mean '{guess}'?"] if guess else []
                    hints.append(f"{e.name} ids: {', '.join(vocab)}")
                    self.error(f"unknown-{e.name}", f"unknown {e.name} '{text}'", v.span, *hints)
                    continue
                out[e.name] = text
            elif e.name in META_LISTS:
                if isinstance(v, ast.ListLit) and all(isinstance(i, ast.String) for i in v.items):
                    out[e.name] = tuple(i.value for i in v.items)
                elif isinstance(v, ast.String):
                    out[e.name] = (v.value,)
                else:
                    self.error("bad-meta-value", f"'{e.name}' is a list of strings", v.span,
                               f'e.g. {e.name} = ["..."]')
            elif isinstance(v, ast.String):
                out[e.name] = v.value
            elif isinstance(v, ast.IntLit):
                out[e.name] = v.value
            elif isinstance(v, ast.Word):
                out[e.name] = v.name
            else:
                self.error("bad-meta-value", f"'{e.name}' takes a string", v.span)
        for required in ("ttp", "goal", "severity"):
            if required not in seen:
                vocab = {"ttp": TTPS, "goal": GOALS, "severity": SEVERITIES}[required]
                self.error("missing-meta", f"rule '{decl.name}' has no '{required}' in its meta", anchor,
                           f"add {required} = {'high' if required == 'severity' else repr(vocab[0]).replace(chr(39), chr(34))}")
        if "title" not in seen and meta is not None:
            self.warn("missing-title", f"rule '{decl.name}' has no title", anchor,
                      'add title = "..." (shown in matches and reports)')
        return tuple(sorted(out.items()))

    def _keys(self, clause: ast.ByClause | None, ctx: Ctx) -> tuple[ir.Load, ...]:
        if clause is None:
            return ()
        out = []
        seen = set()
        for k in clause.keys:
            if len(k.parts) == 1 and k.parts[0] in ctx.scope.macros:
                self.error("bad-key", f"'{k.dotted}' is a macro; a key is a field", k.span)
                continue
            e = self.expr(k, ctx.evolve(where="a key"))
            if isinstance(e, _Err):
                continue
            if not isinstance(e, ir.Load):
                self.error("bad-key", "a key is a field", k.span)
                continue
            if e.path in seen:
                self.error("duplicate-key", f"key field '{k.dotted}' is listed twice", k.span)
                continue
            seen.add(e.path)
            out.append(e)
        return tuple(out)

    def _limits(self, clause: ast.Limit | None) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in clause.entries if clause is not None else ():
            if e.name not in LIMITS:
                guess = closest(e.name, LIMITS)
                self.error("unknown-limit", f"unknown limit '{e.name}'", e.span,
                           *([f"did you mean '{guess}'?"] if guess else []), f"limits: {', '.join(LIMITS)}")
                continue
            lo, hi = LIMITS[e.name]
            if not lo <= e.value <= hi:
                self.error("bad-limit", f"limit {e.name} must be from {lo} to {hi:,} (got {e.value:,})", e.span)
                continue
            out[e.name] = e.value
        return out

    def _steps(self, seq: ast.Sequence, base: Ctx, keys: tuple[ir.Load, ...], where: ir.Expr | None,
               within: float | None) -> tuple[ir.Step, ...]:
        names: dict[str, int] = {}
        for i, s in enumerate(seq.steps):
            if s.name in names:
                self.error("duplicate-step", f"step '{s.name}' is defined twice", s.span,
                           related=[Related("first here", seq.steps[names[s.name]].span)])
            else:
                names[s.name] = i
            if s.name in FIELDS:
                self.warn("step-shadows-field", f"step '{s.name}' has the name of an event field", s.span,
                          f"'{s.name}.x' will mean the step's field, not the event's; rename the step")
        steps = []
        arities: list[tuple[int, ast.SeqStep]] = []
        refs_to: dict[int, set[tuple[str, ...]]] = {}
        for i, s in enumerate(seq.steps):
            ctx = base.evolve(steps=names, max_step=i - 1, where="step")
            mods = {}
            for m in s.mods:
                if type(m) in mods:
                    self.error("duplicate-modifier", f"step '{s.name}' has two '{_mod_word(m)}' modifiers", m.span)
                mods[type(m)] = m
            rep = mods.get(ast.StepRepeat)
            lo, hi = 1, 1
            if rep is not None:
                lo, hi = rep.min, rep.max
                if lo < 1 or (hi is not None and hi < lo) or lo > MAX_REPEAT or (hi or 0) > MAX_REPEAT:
                    self.error("bad-repeat", f"repeat counts go from 1 to {MAX_REPEAT} with N <= M", rep.span,
                               "write 'repeat 3', 'repeat >= 3' or 'repeat 3..5'")
                    lo, hi = 1, 1
            cond = self.cond(s.cond, ctx)
            if where is not None:
                cond = ir.And((where, cond), span=cond.span)
            event_part, join = _split_join(cond)
            for e in ir.walk(cond):
                if isinstance(e, ir.StepRef):
                    refs_to.setdefault(e.step, set()).add(e.path)
            step_keys = keys
            sby = mods.get(ast.StepBy)
            if sby is not None:
                extra = self._keys(ast.ByClause(sby.keys, span=sby.span), base)
                step_keys = keys + extra
                arities.append((len(extra), s))
            else:
                arities.append((0, s))
            gap = None
            g = mods.get(ast.StepGap)
            if g is not None:
                gap = self._duration(g.duration, "step gap")
                if i == 0:
                    self.error("bad-gap", "the first step has no previous step to be 'within' of", g.span,
                               "put 'within' on the rule to bound the whole sequence")
                elif gap and within and gap > within:
                    self.warn("gap-exceeds-within", f"the step gap ({g.duration.seconds:g}s) is longer than "
                              f"the sequence's 'within' ({within:g}s)", g.span)
            window = having = None
            w = mods.get(ast.StepWindow)
            if w is not None:
                window = self._duration(w.size, "step window")
                hctx = ctx.evolve(allow_agg=True, where="a step window")
                errors_before = self._error_count()
                having = self.cond(w.cond, hctx)
                if not _aggs(having) and self._error_count() == errors_before:
                    self.warn("no-aggregate", "this step window's condition uses no aggregate", w.cond.span,
                              "e.g. 'window 5m having distinct(user) >= 20'")
                if rep is not None:
                    self.error("conflicting-modifiers", "a step is either repeated or an aggregate window",
                               rep.span, "use count() >= N in the window's condition instead of repeat")
                if window and within and window > within:
                    self.warn("gap-exceeds-within", "the step window is longer than the sequence's 'within'", w.span)
            fields = set(_paths(cond)) | {k.path for k in step_keys}
            if having is not None:
                for agg in _aggs(having):
                    for a in agg.args:
                        fields |= _paths(a)
            steps.append(ir.Step(s.name, i, event_part, join, step_keys, lo, hi, gap, window, having,
                                 tuple(sorted(fields)), (), s.span))
        if any(n for n, _ in arities):
            first_n, first_s = next((n, st) for n, st in arities if n)
            for n, st in arities:
                if n != first_n:
                    self.error("step-key-arity",
                               f"step '{st.name}' joins on {n} per-step field(s); step '{first_s.name}' on {first_n}",
                               st.span, "per-step keys need the same number of fields in every step")
        out = []
        for st in steps:
            binds = tuple(sorted(refs_to.get(st.index, ())))
            out.append(attrs.evolve(st, binds=binds) if binds else st)
        return tuple(out)

    def _absences(self, decl, by_kind, base, step_index, steps) -> tuple[ir.Absence, ...]:
        out = []
        names: set[str] = set()
        for clause in by_kind.get(ast.UnlessBetween, []) + by_kind.get(ast.UnlessAfter, []):
            if clause.name in names or clause.name in step_index:
                self.error("duplicate-absence", f"'{clause.name}' names another step or absence", clause.span)
                continue
            names.add(clause.name)
            if isinstance(clause, ast.UnlessBetween):
                bad = False
                for nm in (clause.start, clause.end):
                    if nm not in step_index:
                        self._unknown_step(nm, self._word_after(clause.span, "between", nm), step_index)
                        bad = True
                if bad:
                    continue
                a, b = step_index[clause.start], step_index[clause.end]
                if a >= b:
                    self.error("absence-order", f"'between {clause.start} and {clause.end}': "
                               f"'{clause.start}' must come before '{clause.end}'", clause.span,
                               f"write 'between {clause.end} and {clause.start}'" if a > b else "name two different steps")
                    continue
                ctx = base.evolve(steps=step_index, max_step=a, where="'unless'")
                cond = self.cond(clause.cond, ctx)
                ev, join = _split_join(cond)
                out.append(ir.Absence(clause.name, ev, join, a, b, None, clause.span))
            else:
                if clause.after not in step_index:
                    self._unknown_step(clause.after, self._word_after(clause.span, "after", clause.after),
                                       step_index)
                    continue
                a = step_index[clause.after]
                if a != len(steps) - 1:
                    self.error("trailing-absence-step", f"'after {clause.after}': a trailing absence follows "
                               f"the last step ('{steps[-1].name}')", clause.span,
                               f"write 'after {steps[-1].name}', or use 'between' for an absence inside the sequence")
                    continue
                within = self._duration(clause.within, "absence deadline")
                ctx = base.evolve(steps=step_index, max_step=a, where="'unless'")
                cond = self.cond(clause.cond, ctx)
                ev, join = _split_join(cond)
                out.append(ir.Absence(clause.name, ev, join, a, None, within, clause.span))
        return tuple(out)

    def _word_after(self, span: Span, keyword: str, word: str) -> Span:
        """The span of `word` after the last `keyword` inside `span` (a step name in
        an `unless` clause; the AST keeps names as strings), else `span` itself."""
        text = self.sources.get(span.file)
        if text is None or span.end > len(text):
            return span
        segment = text[span.start:span.end]
        kw = max(segment.rfind(f" {keyword} "), segment.rfind(f"\n{keyword} "), segment.rfind(f"\t{keyword} "))
        m = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])").search(segment, max(kw, 0))
        if kw < 0 or m is None:
            return span
        start = span.start + m.start()
        line = text.count("\n", 0, start) + 1
        col = start - (text.rfind("\n", 0, start) + 1) + 1
        return Span(span.file, line, col, line, col + len(word), start, start + len(word))

    def _unknown_step(self, name: str, span: Span, step_index: dict[str, int]) -> None:
        guess = closest(name, step_index)
        self.error("unknown-step", f"no step named '{name}'", span,
                   *([f"did you mean '{guess}'?"] if guess else [f"steps: {', '.join(step_index)}"]))

    def _window(self, decl, wc: ast.WindowClause | None, having: ast.HavingClause, base: Ctx,
                key_paths: frozenset) -> dict:
        out: dict = {}
        if wc is None:
            self.error("missing-window", f"window rule '{decl.name}' has no 'window'", having.span,
                       "add e.g. 'window 10m' (sliding), 'window 1m tumbling' or 'window session gap 5m'")
            return out
        out["window_kind"] = wc.kind
        if wc.kind == "session":
            out["window_gap"] = self._duration(wc.gap, "session gap")
        else:
            out["window_size"] = self._duration(wc.size, "window")
        hctx = base.evolve(allow_agg=True, where="'having'", key_paths=key_paths)
        errors_before = self._error_count()
        cond = self.cond(having.cond, hctx)
        for e in ir.walk(cond):
            if isinstance(e, ir.Load) and e.path not in key_paths and not _inside_agg(cond, e):
                self.error("field-in-having", f"field '{e.dotted}' in 'having' is not a key of the rule",
                           e.span, "filter events with 'where', or use an aggregate such as "
                           f"distinct({e.dotted}) or sample({e.dotted}, 5)")
                break
        aggs = _aggs(cond)
        if not aggs and self._error_count() == errors_before:
            self.warn("no-aggregate", "'having' uses no aggregate", having.cond.span,
                      "window rules test aggregates, e.g. 'having count() >= 100'")
        if having.sustain is not None:
            out["sustain"] = self._duration(having.sustain, "'for' duration")
            if wc.kind != "tumbling":
                self.error("sustain-needs-tumbling", "'for' counts consecutive windows: it needs a tumbling window",
                           having.sustain.span, f"write 'window {_fmt(wc.size)} tumbling'" if wc.size else
                           "write e.g. 'window 1m tumbling'")
            elif out.get("window_size") and out["sustain"] and out["sustain"] < out["window_size"]:
                self.error("bad-duration", "'for' is shorter than one window", having.sustain.span,
                           "'for' must cover at least one window")
        for agg in aggs:
            if agg.kind == "baseline" and wc.kind != "tumbling":
                self.error("baseline-needs-tumbling", "baseline() learns from closed windows: it needs a tumbling window",
                           agg.span, "write e.g. 'window 1m tumbling'")
            if agg.kind == "baseline" and out.get("window_size") and agg.param < 3 * out["window_size"]:
                self.error("bad-duration", "the baseline horizon must span at least 3 windows", agg.span)
        out["having"] = cond
        return out

    def _emits(self, emit: ast.Emit | None, base: Ctx, kind: str, steps, key_paths) -> tuple:
        if emit is None:
            return ()
        out = []
        seen: dict[str, ast.EmitEntry] = {}
        ctx = base.evolve(allow_agg=(kind == "window"), where="'emit' of this rule kind",
                          steps={s.name: s.index for s in steps} or None, max_step=len(steps) - 1,
                          key_paths=key_paths)
        for e in emit.entries:
            if e.name in seen:
                self.error("duplicate-emit", f"emitted field '{e.name}' is given twice", e.span,
                           related=[Related("first here", seen[e.name].span)])
                continue
            seen[e.name] = e
            if e.name in RESERVED_EMIT:
                self.error("reserved-emit-name", f"'{e.name}' is a field of every match", e.span,
                           f"choose another name, e.g. '{e.name}_value'")
                continue
            out.append((e.name, self.expr(e.value, ctx)))
        return tuple(out)

    # -- tests
    def check_test(self, decl: ast.TestDecl, scope: FileScope, rules: dict[str, ir.Rule],
                   declared: set[str]) -> None:
        if decl.rule not in declared:
            guess = closest(decl.rule, declared)
            self.error("unknown-rule", f"test '{decl.name}' is for rule '{decl.rule}', which does not exist",
                       decl.span, *([f"did you mean '{guess}'?"] if guess else []))
            return
        has_events = any(isinstance(i, (ast.EventsInline, ast.EventsFile)) for i in decl.items)
        has_expect = any(isinstance(i, (ast.ExpectMatch, ast.ExpectNone, ast.ExpectCount)) for i in decl.items)
        if not has_events:
            self.error("test-without-events", f"test '{decl.name}' has no events", decl.span,
                       "add 'events { ... }' or 'events from \"fixtures/...\"'")
        if not has_expect:
            self.error("test-without-expect", f"test '{decl.name}' expects nothing", decl.span,
                       "add 'expect match', 'expect no match' or 'expect N matches'")
        gctx = Ctx(scope, generator=True, where="a test event")
        actx = Ctx(scope, test_assert=True, where="an assertion")
        for item in decl.items:
            if isinstance(item, ast.EventsInline):
                for gen in item.gens:
                    if isinstance(gen, ast.EventRepeat) and not 1 <= gen.count <= 100_000:
                        self.error("bad-repeat", "a test generator repeats from 1 to 100,000 times", gen.span)
                    seen = {}
                    for a in gen.assigns:
                        if a.target.dotted in seen:
                            self.error("duplicate-field", f"field '{a.target.dotted}' is set twice in one event",
                                       a.span)
                        seen[a.target.dotted] = a
                        self.expr(a.value, gctx)
            elif isinstance(item, ast.EventsFile):
                path = os.path.normpath(os.path.join(os.path.dirname(scope.file), item.path))
                if not os.path.isfile(path):
                    self.error("unreadable-fixture", f"cannot read events file '{item.path}'", item.span,
                               f"looked for {path}")
            elif isinstance(item, ast.ExpectMatch):
                for a in item.asserts:
                    self.cond(a, actx) if not isinstance(a, ast.Field) else self.expr(a, actx)
            elif isinstance(item, ast.ExpectCount) and item.count == 0:
                self.warn("expect-zero", "'expect 0 matches' is written 'expect no match'", item.span)
        if decl.rule in rules:
            self.tests.append(TestCase(decl.name, decl.rule, scope.file, decl.span, decl, scope))

    # -- whole pack
    def _check_match_graph(self) -> None:
        by_name = {r.name: r for r in self.rules}
        deps: dict[str, list[str]] = {}
        for r in self.rules:
            if r.source != "matches":
                continue
            if r.consumes is None:
                deps[r.name] = []
                continue
            for name in r.consumes:
                if name not in by_name and name not in DERIVED_PRODUCERS:
                    guess = closest(name, by_name)
                    self.error("unknown-rule", f"rule '{r.name}' reads matches of '{name}', which does not exist",
                               r.span, *([f"did you mean '{guess}'?"] if guess else []))
            deps[r.name] = [n for n in r.consumes if n in by_name and by_name[n].source == "matches"]
        state: dict[str, int] = {}

        def visit(n: str, path: list[str]) -> None:
            state[n] = 1
            for m in deps.get(n, ()):
                if state.get(m) == 1:
                    cyc = path[path.index(m):] + [m] if m in path else [n, m]
                    self.error("rule-cycle", f"rules read each other's matches: {' -> '.join(cyc)}",
                               by_name[m].span, "a rule cannot consume its own matches, directly or through others")
                elif state.get(m) is None:
                    visit(m, path + [m])
            state[n] = 2

        for n in deps:
            if state.get(n) is None:
                visit(n, [n])

    def _check_unused(self) -> None:
        for scope in self.scopes.values():
            for name, m in scope.macros.items():
                if m.file == scope.file and not m.used:
                    # Check the body anyway so its mistakes are reported.
                    self.expr(m.decl.body, Ctx(scope, allow_agg=True, where="a macro",
                                               macro_stack=(name,)))
        used_macros = {id(m) for s in self.scopes.values() for m in s.macros.values() if m.used}
        used_lists = {id(lst) for s in self.scopes.values() for lst in s.lists.values() if lst.used}
        for scope in self.scopes.values():
            for name, m in scope.macros.items():
                if m.file == scope.file and id(m) not in used_macros and not _is_library(scope, self.modules):
                    self.warn("unused-macro", f"macro '{name}' is never used", _decl_name_span(m.decl, "macro"))
            for name, lst in scope.lists.items():
                if lst.file == scope.file and id(lst) not in used_lists:
                    self.list_value(lst)
                    if not _is_library(scope, self.modules):
                        self.warn("unused-list", f"list '{name}' is never used", _decl_name_span(lst.decl, "list"))


# ---------------------------------------------------------------- helpers

_NOT_CONST = object()


@attrs.frozen
class _Err(ir.Expr):
    """Placeholder for an expression that failed its checks."""


def _err(node: ast.Node) -> ir.Expr:
    return _Err(span=node.span)


def _compatible(a: str, b: str) -> bool:
    if ir.ANY in (a, b) or a == b:
        return True
    if a in ir.NUMERIC and b in ir.NUMERIC:
        return True
    if {a, b} <= {ir.STR, ir.IP}:
        return True
    if {a, b} == {ir.BOOL, ir.INT}:
        return False
    return False


def _tname(t: str) -> str:
    return {"int": "number", "float": "number", "num": "number", "duration": "duration",
            "str": "string", "bool": "boolean", "map": "mapping", "list": "list", "ip": "IP address",
            "time": "time"}.get(t, t)


def _kname(k: str) -> str:
    return {"str": "strings", "int": "numbers", "num": "numbers", "ip": "networks", "mixed": "values"}[k]


def _fmt(d: ast.Duration | None) -> str:
    from .unparse import format_duration
    return format_duration(d.seconds) if d is not None else "1m"


def _re_flags(flags: str) -> int:
    out = 0
    for f in flags:
        out |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}[f]
    return out


def _paths(e: ir.Expr | None) -> set[tuple[str, ...]]:
    if e is None:
        return set()
    out = set()
    for n in ir.walk(e):
        if isinstance(n, ir.Load) and not isinstance(n, _Err):
            out.add(n.path)
        if isinstance(n, ir.Agg):
            break
    return out


def _aggs(e: ir.Expr | None) -> list[ir.Agg]:
    if e is None:
        return []
    return [n for n in ir.walk(e) if isinstance(n, ir.Agg)]


def _inside_agg(root: ir.Expr, target: ir.Expr) -> bool:
    for n in ir.walk(root):
        if isinstance(n, ir.Agg) and any(x is target for x in ir.walk(n)):
            return True
    return False


def _has_stepref(e: ir.Expr) -> bool:
    return any(isinstance(n, ir.StepRef) for n in ir.walk(e))


def _split_join(cond: ir.Expr) -> tuple[ir.Expr, ir.Expr | None]:
    """Split a step condition into its event-only part and its join part."""
    if not _has_stepref(cond):
        return cond, None
    parts = list(cond.operands) if isinstance(cond, ir.And) else [cond]
    flat = []
    for p in parts:
        if isinstance(p, ir.And):
            flat.extend(p.operands)
        else:
            flat.append(p)
    event = [p for p in flat if not _has_stepref(p)]
    join = [p for p in flat if _has_stepref(p)]
    ev = ir.TRUE if not event else event[0] if len(event) == 1 else ir.And(tuple(event), span=cond.span)
    jn = join[0] if len(join) == 1 else ir.And(tuple(join), span=cond.span)
    return ev, jn


def _consumed_rules(cond: ir.Expr | None) -> tuple[str, ...] | None:
    """Rules a `from matches` rule reads, from `rule == "x"` / `rule in (...)` conjuncts."""
    if cond is None:
        return None
    parts = cond.operands if isinstance(cond, ir.And) else (cond,)
    for p in parts:
        if isinstance(p, ir.Compare) and p.op == "==" and isinstance(p.left, ir.Load) \
                and p.left.path == ("rule",) and isinstance(p.right, ir.Const):
            return (p.right.value,)
        if isinstance(p, ir.In) and not p.negated and isinstance(p.item, ir.Load) \
                and p.item.path == ("rule",) and isinstance(p.container, ir.SetConst):
            return tuple(sorted(p.container.values))
    return None


def _clause_word(cls: type) -> str:
    return {
        ast.Meta: "meta", ast.ByClause: "by", ast.WithinClause: "within", ast.WindowClause: "window",
        ast.WhereClause: "where", ast.WhenClause: "when", ast.HavingClause: "having",
        ast.Sequence: "sequence", ast.UntilClause: "until", ast.UnlessBetween: "unless ... between",
        ast.UnlessAfter: "unless ... after", ast.Emit: "emit", ast.Suppress: "suppress",
        ast.FromMatches: "from matches", ast.Limit: "limit", ast.Fingerprint: "fingerprint",
        ast.Refire: "refire",
    }.get(cls, cls.__name__)


def _clause_hint(cls: type) -> str:
    return {
        ast.WithinClause: "'within' bounds a sequence; a window rule uses 'window'",
        ast.WindowClause: "'window' belongs to rules with 'having'; a sequence uses 'within'",
        ast.WhereClause: "a single-event rule puts its whole condition in 'when'",
        ast.UntilClause: "'until' resets a sequence's partial matches",
        ast.UnlessBetween: "absences belong to sequences",
        ast.UnlessAfter: "absences belong to sequences",
        ast.Refire: "'refire' sets what a window does after a match",
    }.get(cls, "see docs/language.md for which clauses each rule kind takes")


def _mod_word(m: ast.StepMod) -> str:
    return {ast.StepBy: "by", ast.StepRepeat: "repeat", ast.StepGap: "within",
            ast.StepWindow: "window"}[type(m)]


def _name_span(decl: ast.RuleDecl) -> Span:
    sp = decl.span
    col = sp.col + len("rule ")
    return Span(sp.file, sp.line, col, sp.line, col + len(decl.name), sp.start + 5, sp.start + 5 + len(decl.name))


def _decl_name_span(decl, keyword: str) -> Span:
    sp = decl.span
    off = len(keyword) + 1
    return Span(sp.file, sp.line, sp.col + off, sp.line, sp.col + off + len(decl.name), sp.start + off,
                sp.start + off + len(decl.name))


def _is_library(scope: FileScope, modules: dict[str, ast.Module]) -> bool:
    """A file without rules or tests is a library of macros and lists (no unused warnings)."""
    module = modules.get(scope.file)
    if module is None:
        return True
    return not any(isinstance(d, (ast.RuleDecl, ast.TestDecl)) for d in module.decls)


__all__ = ["Checker", "CheckedPack", "TestCase", "ALIASES", "FUNCTIONS", "AGGREGATES", "NOWHERE"]
