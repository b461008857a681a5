"""`sleuth import sigma`: Sigma detection and correlation rules to sleuth rules.

Playground stage. Sigma YAML is read by pySigma (the optional extra
`import`: `pip install 'sleuth[import]'`), which resolves selections,
modifiers (`contains`, `startswith`, `endswith`, `all`, `re`, `cidr`,
`windash`, `exists`, `gt`..., `fieldref`, `cased`) and condition expressions
(`1 of selection*`, `all of them`, `not`, parentheses) into a tree of
field/value tests; this module translates that tree and the 2.x correlation
rules:

| Sigma | sleuth |
|---|---|
| detection rule | single-event rule (`when`) |
| `event_count` / `value_count` | window rule, `having count()` / `distinct(f)` |
| `temporal` | `join` within the timespan (fewer rules than all: a window rule) |
| `temporal_ordered` | `sequence` within the timespan; a counted rule is an aggregate step |

Strings match case-insensitively (`lower()`), unless `cased`; wildcards are
globs; fields go through the web-server taxonomy map below, the profile's
`[fields]` and `--map`. What sleuth cannot express (keyword searches, aliases
in counts, ...) is an error for that rule; a difference that remains is a
warning, also written above the rule.
"""

from __future__ import annotations

import re
from typing import Any

from sleuth.dsl import ast
from sleuth.engine.schema import ALIAS_OF, FIELDS

from .common import (
    G,
    Imported,
    ImportOptions,
    ImportResult,
    Reporter,
    meta_clause,
    rule_name,
    string,
)

__all__ = ["import_sigma", "pysigma_available", "WEB_FIELDS", "SigmaUnavailable"]

#: Sigma's web server and proxy taxonomy -> sleuth's canonical fields.
WEB_FIELDS: dict[str, str] = {
    "c-ip": "src_ip", "cs-method": "method", "cs-uri-stem": "path", "c-uri-stem": "path",
    "cs-uri": "path", "c-uri": "path", "sc-status": "status", "cs-user-agent": "ua", "c-useragent": "ua",
    "cs-host": "host", "cs-referer": "headers.referer", "cs-cookie": "headers.cookie", "cs-username": "user",
    "sc-bytes": "resp_bytes", "cs-bytes": "req_bytes", "time-taken": "latency_ms", "cs-version": "protocol",
    "src_ip": "src_ip",
}
_WEB_CATEGORIES = ("webserver", "proxy", "application")
_LEVELS = {"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*)*$")


class SigmaUnavailable(Exception):
    """pySigma is not installed."""


def pysigma_available() -> bool:
    try:
        import sigma.collection  # noqa: F401
    except ImportError:
        return False
    return True


class _Skip(Exception):
    pass


class _Doc:
    """Where one YAML document of a file is, for diagnostics."""

    def __init__(self, file: str, text: str, start: int, end: int):
        self.file, self.text, self.start, self.end = file, text, start, end

    def find(self, pattern: str) -> tuple[int, int] | None:
        m = re.compile(pattern, re.M).search(self.text, self.start, self.end)
        return (m.start(), m.end()) if m else None


def _documents(file: str, text: str) -> list[_Doc]:
    bounds = [0] + [m.end() for m in re.finditer(r"(?m)^---[ \t]*$\n?", text)] + [len(text)]
    docs = []
    for a, b in zip(bounds, bounds[1:]):
        body = text[a:b]
        if re.sub(r"(?m)^\s*#.*$", "", body).strip().strip("-").strip():
            docs.append(_Doc(file, text, a, b))
    return docs


class Translator:
    """Sigma rules of one import -> sleuth rules."""

    def __init__(self, options: ImportOptions, result: ImportResult):
        self.o = options
        self.result = result
        self.taken: set[str] = set()
        self.fields = {**WEB_FIELDS, **options.fields}

    # -- places
    def _rep(self, doc: _Doc) -> Reporter:
        return Reporter(doc.file, doc.text)

    def _at(self, rep: Reporter, doc: _Doc, pattern: str | None = None):
        hit = doc.find(pattern) if pattern else None
        if hit is None:
            hit = doc.find(r"^title:.*$") or (doc.start, doc.start + 1)
        return rep.span(hit[0], hit[1])

    def fail(self, rep, doc, code, message, *hints, pattern=None):
        rep.error(code, message, self._at(rep, doc, pattern), *hints)
        raise _Skip

    def differ(self, rep, doc, code, message, *hints, pattern=None):
        rep.warn(code, message, self._at(rep, doc, pattern), *hints)

    # -- fields and values
    def field(self, name: str, rep, doc) -> ast.Field:
        mapped = self.fields.get(name, name)
        mapped = ALIAS_OF.get(mapped, mapped)
        if not _NAME.match(mapped):
            self.fail(rep, doc, "sigma-field", f"field '{name}' is not a sleuth field name",
                      f"map it with --map '{name}=<field>' or in the profile's [fields]",
                      pattern=rf"^\s*{re.escape(name)}(\|[^:]*)?\s*:")
        return ast.Field(tuple(mapped.split(".")), span=G)

    def cond(self, node, rep, doc) -> ast.Expr:
        from sigma import conditions as C

        if isinstance(node, C.ConditionOR):
            return _or([self.cond(a, rep, doc) for a in node.args])
        if isinstance(node, C.ConditionAND):
            return _and([self.cond(a, rep, doc) for a in node.args])
        if isinstance(node, C.ConditionNOT):
            return ast.Not(self.cond(node.args[0], rep, doc), span=G)
        if isinstance(node, C.ConditionFieldEqualsValueExpression):
            return self.test(node.field, node.value, node, rep, doc)
        if isinstance(node, C.ConditionValueExpression):
            self.fail(rep, doc, "sigma-keyword", f"keyword search {str(node.value)!r} (no field) has no sleuth "
                      "equivalent: sleuth tests fields, it has no full-text search",
                      "name the field the keyword is in (e.g. 'cs-uri-query|contains')")
        self.fail(rep, doc, "sigma-unsupported", f"{type(node).__name__} is not translated")

    def test(self, fname: str, value, node, rep, doc) -> ast.Expr:
        from sigma import types as T

        f = self.field(fname, rep, doc)
        ftype = FIELDS.get(f.parts[0]) if len(f.parts) == 1 else None
        where = rf"^\s*{re.escape(fname)}(\|[^:]*)?\s*:"
        if isinstance(value, T.SigmaExpansion):
            return _or([self.test(fname, v, node, rep, doc) for v in value.values])
        if isinstance(value, T.SigmaNull):
            return ast.Not(ast.Call("exists", (f,), span=G), span=G)
        if isinstance(value, T.SigmaExists):
            e = ast.Call("exists", (f,), span=G)
            return e if value.exists else ast.Not(e, span=G)
        if isinstance(value, T.SigmaBool):
            return ast.Compare("==", f, ast.BoolLit(bool(value.boolean), span=G), span=G)
        if isinstance(value, T.SigmaNumber):
            return ast.Compare("==", f, _number(value.number), span=G)
        if isinstance(value, T.SigmaCompareExpression):
            op = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">=", "NEQ": "!="}[value.op.name]
            return ast.Compare(op, f, _number(value.number.number), span=G)
        if isinstance(value, T.SigmaCIDRExpression):
            return ast.Call("cidr", (f, string(str(value.network))), span=G)
        if isinstance(value, T.SigmaRegularExpression):
            flags = "".join(sorted({"IGNORECASE": "i", "MULTILINE": "m", "DOTALL": "s"}[fl.name] for fl in value.flags))
            return ast.RegexMatch(f, ast.Regex(str(value.regexp), flags, span=G), span=G)
        if isinstance(value, T.SigmaFieldReference):
            if value.starts_with or value.ends_with:
                self.fail(rep, doc, "sigma-unsupported", "'fieldref' with startswith/endswith is not translated",
                          pattern=where)
            other = self.field(value.field, rep, doc)
            return ast.Compare("==", ast.Call("casefold", (f,), span=G), ast.Call("casefold", (other,), span=G),
                               span=G)
        if isinstance(value, T.SigmaString):
            cased = isinstance(value, T.SigmaCasedString) or _has_modifier(node, "Cased")
            return self.string_test(f, ftype, value, cased)
        self.fail(rep, doc, "sigma-unsupported", f"a {type(value).__name__} value is not translated", pattern=where)

    def string_test(self, f: ast.Field, ftype: str | None, value, cased: bool) -> ast.Expr:
        from sigma.types import SpecialChars

        parts = value.s
        special = any(isinstance(p, SpecialChars) for p in parts)
        text = "".join(p for p in parts if isinstance(p, str))
        if ftype in ("int", "float") and not special and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
            return ast.Compare("==", f, _number(float(text) if "." in text else int(text)), span=G)
        subject: ast.Expr = f
        if ftype in ("int", "float"):
            subject = ast.Call("str", (f,), span=G)
        elif not cased:
            subject = ast.Call("lower", (f,), span=G)
        if not special:
            return ast.Compare("==", subject, string(text if cased else text.lower()), span=G)
        glob = []
        for p in parts:
            if p is SpecialChars.WILDCARD_MULTI:
                glob.append("*")
            elif p is SpecialChars.WILDCARD_SINGLE:
                glob.append("?")
            else:
                s = p if cased else p.lower()
                glob.append(re.sub(r"([*?\[])", r"[\1]", s))
        return ast.Glob(subject, string("".join(glob)), span=G)

    # -- rules
    def detection(self, rule, doc: _Doc, rep: Reporter) -> ast.Expr:
        return _or([self.cond(c.parsed, rep, doc) for c in rule.detection.parsed_condition])

    def logsource_note(self, rule, rep, doc) -> None:
        ls = rule.logsource
        cat = (ls.category or "").lower() if ls else ""
        if cat in _WEB_CATEGORIES:
            return
        what = ", ".join(f"{k}: {v}" for k, v in (("category", ls.category), ("product", ls.product),
                                                   ("service", ls.service)) if v) if ls else "none"
        self.differ(rep, doc, "sigma-logsource", f"logsource ({what}) is not web traffic: sleuth reads API "
                    "request events, so the rule's fields are read by name from them",
                    "map the fields with --map or the profile's [fields]", pattern=r"^logsource:.*$")

    def meta(self, rule, name: str) -> ast.Meta:
        level = rule.level.name.lower() if getattr(rule, "level", None) else None
        tags = tuple(str(t) for t in (rule.tags or ()))
        return meta_clause(rule.title or name, self.o, severity=_LEVELS.get(level or "", None),
                           description=rule.description, references=tuple(rule.references or ()), tags=tags,
                           author=rule.author)

    def event_rule(self, rule, doc: _Doc) -> None:
        rep = self._rep(doc)
        try:
            cond = self.detection(rule, doc, rep)
            self.logsource_note(rule, rep, doc)
            name = rule_name(rule.name or rule.title or "sigma", self.taken)
            decl = ast.RuleDecl(name, (self.meta(rule, name), ast.WhenClause(cond, span=G)), span=G)
        except _Skip:
            decl = None
        self._done(rep, doc, decl)

    def correlation(self, corr, doc: _Doc, docs: dict[int, _Doc]) -> None:
        rep = self._rep(doc)
        decl = None
        try:
            decl = self._correlation(corr, doc, docs, rep)
        except _Skip:
            pass
        self._done(rep, doc, decl)

    def _refs(self, corr, rep, doc):
        out = []
        for ref in corr.rules:
            r = getattr(ref, "rule", None)
            if r is None or not (hasattr(r, "detection") or _is_correlation(r)):
                self.fail(rep, doc, "sigma-reference", f"rule '{ref.reference}' is not among the imported files",
                          "import the referenced rules in the same command", pattern=rf"^\s*-\s*{re.escape(str(ref.reference))}")
            out.append(r)
        return out

    def _correlation(self, corr, doc, docs, rep) -> ast.RuleDecl:
        kind = corr.type.name.lower()
        if kind not in ("event_count", "value_count", "temporal", "temporal_ordered"):
            self.fail(rep, doc, "sigma-unsupported", f"correlation type '{kind}' is not translated",
                      "translated: event_count, value_count, temporal, temporal_ordered", pattern=r"^\s*type:.*$")
        refs = self._refs(corr, rep, doc)
        span_s = float(corr.timespan.seconds)
        name = rule_name(corr.name or corr.title or "correlation", self.taken)
        aliases = {a: {str(k.reference): v for k, v in al.mapping.items()} for a, al in corr.aliases.aliases.items()}
        group = list(corr.group_by or [])
        plain_keys = [self.field(g, rep, doc) for g in group if g not in aliases]
        cond = corr.condition
        clauses: list[ast.Clause] = [self.meta(corr, name)]
        if kind in ("event_count", "value_count"):
            if aliases:
                self.fail(rep, doc, "sigma-unsupported", "aliases in a count correlation: sleuth's window has one "
                          "key for every event", "use one field name for every rule, or map them to one with --map",
                          pattern=r"^\s*aliases:")
            where = _or([self._base_cond(r, rep, doc, docs) for r in refs])
            if plain_keys:
                clauses.append(ast.ByClause(tuple(plain_keys), span=G))
            op = cond.op.name
            tumbling = op in ("LT", "LTE", "EQ", "NEQ")
            if tumbling:
                self.differ(rep, doc, "sigma-static-window", f"'{op.lower()}' is decided when a window closes: "
                            "sleuth counts per tumbling window of the timespan (a burst across two windows is "
                            "split)", pattern=r"^\s*condition:")
            clauses.append(ast.WindowClause("tumbling" if tumbling else "sliding",
                                            size=ast.Duration(span_s, span=G), span=G))
            clauses.append(ast.WhereClause(where, span=G))
            if kind == "event_count":
                agg = ast.Call("count", (), span=G)
            else:
                if not cond.fieldref:
                    self.fail(rep, doc, "sigma-syntax", "a value_count condition names its 'field'")
                agg = ast.Call("distinct", (self.field(cond.fieldref, rep, doc),), span=G)
            clauses.append(ast.HavingClause(_count_cmp(agg, op, cond.count), span=G))
            return ast.RuleDecl(name, tuple(clauses), span=G)
        # temporal / temporal_ordered: all the rules (the default), or for temporal a minimum number of them
        n = len(refs)
        op, count = cond.op.name, cond.count
        all_rules = _default_condition(doc) or (op == "GTE" and count >= n) or (op == "EQ" and count == n) \
            or (op == "GT" and count >= n - 1)
        if not all_rules:
            if kind == "temporal" and op in ("GTE", "GT") and not aliases:
                return self._k_of_n(corr, refs, name, clauses, plain_keys, span_s, op, count, rep, doc, docs)
            self.fail(rep, doc, "sigma-unsupported", f"a {kind} correlation needing {op.lower()} {count} of "
                      f"{n} rules is not translated", "translated: all of the rules (the default), or for "
                      "'temporal' without aliases a minimum count", pattern=r"^\s*condition:")
        if plain_keys:
            clauses.append(ast.ByClause(tuple(plain_keys), span=G))
        clauses.append(ast.WithinClause(ast.Duration(span_s, span=G), span=G))
        steps = []
        step_names: set[str] = set()
        for r in refs:
            sname = rule_name(r.name or r.title or "step", step_names)
            mods: list[ast.StepMod] = []
            alias_keys = [self.field(aliases[g][str(r.name)], rep, doc) if str(r.name) in aliases[g] else None
                          for g in group if g in aliases]
            if any(k is None for k in alias_keys):
                self.fail(rep, doc, "sigma-unsupported", f"an alias does not name a field for rule '{r.name}'",
                          pattern=r"^\s*aliases:")
            if alias_keys:
                mods.append(ast.StepBy(tuple(alias_keys), span=G))
            if _is_correlation(r):
                if kind != "temporal_ordered":
                    self.fail(rep, doc, "sigma-unsupported", "a 'temporal' correlation of a count correlation: "
                              "join steps are single events", "use temporal_ordered (a sequence's aggregate step)")
                cond_e, mod = self._aggregate_step(r, corr, rep, doc, docs)
                mods.append(mod)
            else:
                cond_e = self._base_cond(r, rep, doc, docs)
            steps.append(ast.SeqStep(sname, cond_e, tuple(mods), span=G))
        if kind == "temporal":
            clauses.append(ast.Join(tuple(steps), span=G))
        else:
            clauses.append(ast.Sequence(tuple(steps), span=G))
        return ast.RuleDecl(name, tuple(clauses), span=G)

    def _k_of_n(self, corr, refs, name, clauses, keys, span_s, op, count, rep, doc, docs) -> ast.RuleDecl:
        """`temporal` with a minimum number of the rules: a window rule with one count() per rule."""
        from itertools import combinations

        need = count + 1 if op == "GT" else count
        conds = [self._base_cond(r, rep, doc, docs) for r in refs]
        if keys:
            clauses.append(ast.ByClause(tuple(keys), span=G))
        clauses.append(ast.WindowClause("sliding", size=ast.Duration(span_s, span=G), span=G))
        clauses.append(ast.WhereClause(_or(conds), span=G))
        seen = [ast.Compare(">=", ast.Call("count", (c,), span=G), ast.IntLit(1, span=G), span=G) for c in conds]
        having = _or([_and(list(combo)) for combo in combinations(seen, need)]) if need <= len(seen) \
            else ast.BoolLit(False, span=G)
        clauses.append(ast.HavingClause(having, span=G))
        return ast.RuleDecl(name, tuple(clauses), span=G)

    def _aggregate_step(self, inner, outer, rep, doc, docs):
        """A count correlation inside a temporal_ordered one: a sequence step over a window."""
        kind = inner.type.name.lower()
        if kind not in ("event_count", "value_count") or inner.aliases.aliases:
            self.fail(rep, doc, "sigma-unsupported", f"a chained '{kind}' correlation is not translated")
        if list(inner.group_by or []) != list(outer.group_by or []):
            self.differ(rep, doc, "sigma-chain-group", f"'{inner.name}' groups by {inner.group_by}, the "
                        f"correlation by {outer.group_by}: the step counts per the correlation's group")
        irefs = self._refs(inner, rep, doc)
        where = _or([self._base_cond(r, rep, doc, docs) for r in irefs])
        if kind == "event_count":
            agg = ast.Call("count", (), span=G)
        else:
            agg = ast.Call("distinct", (self.field(inner.condition.fieldref, rep, doc),), span=G)
        having = _count_cmp(agg, inner.condition.op.name, inner.condition.count)
        return where, ast.StepWindow(ast.Duration(float(inner.timespan.seconds), span=G), having, span=G)

    def _base_cond(self, r, rep, doc, docs) -> ast.Expr:
        if _is_correlation(r):
            self.fail(rep, doc, "sigma-unsupported", f"a correlation of the correlation '{r.name}' is not "
                      "translated here", "chains are translated in temporal_ordered (an aggregate step)")
        rdoc = docs.get(id(r), doc)
        cond = _or([self.cond(c.parsed, rep, rdoc) for c in r.detection.parsed_condition])
        self.logsource_note(r, rep, rdoc)
        return cond

    def _done(self, rep: Reporter, doc: _Doc, decl: ast.RuleDecl | None) -> None:
        self.result.diagnostics += rep.diags
        if decl is None or rep.failed:
            return
        line = doc.text.count("\n", 0, doc.start) + 1
        original = doc.text[doc.start:doc.end].strip("\n").removesuffix("---").rstrip()
        self.result.rules.append(Imported(decl, f"{doc.file}:{line}", original,
                                          [d for d in rep.diags if not d.is_error]))


def _has_modifier(node, name: str) -> bool:
    item = getattr(node, "parent", None)
    mods = getattr(item, "modifiers", None) or ()
    return any(name in m.__name__ for m in mods)


def _is_correlation(r) -> bool:
    return hasattr(r, "type") and hasattr(r, "timespan") and not hasattr(r, "detection")


def _default_condition(doc: _Doc) -> bool:
    """A temporal correlation written without a condition: all of its rules."""
    return doc.find(r"^\s+condition:") is None


def _number(v) -> ast.Expr:
    if isinstance(v, bool):
        return ast.BoolLit(v, span=G)
    if isinstance(v, int):
        return ast.IntLit(v, span=G) if v >= 0 else ast.Neg(ast.IntLit(-v, span=G), span=G)
    return ast.FloatLit(float(v), span=G) if v >= 0 else ast.Neg(ast.FloatLit(-float(v), span=G), span=G)


def _count_cmp(agg: ast.Expr, op: str, count: int) -> ast.Expr:
    sym = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">=", "EQ": "==", "NEQ": "!="}[op]
    return ast.Compare(sym, agg, ast.IntLit(int(count), span=G), span=G)


def _and(terms: list) -> ast.Expr:
    flat = []
    for t in terms:
        flat.extend(t.operands if isinstance(t, ast.And) else [t])
    return flat[0] if len(flat) == 1 else ast.And(tuple(flat), span=G)


def _or(terms: list) -> ast.Expr:
    flat = []
    for t in terms:
        flat.extend(t.operands if isinstance(t, ast.Or) else [t])
    return flat[0] if len(flat) == 1 else ast.Or(tuple(flat), span=G)


def import_sigma(texts: dict[str, str], options: ImportOptions) -> ImportResult:
    """Translate the Sigma rules of `texts` (path -> YAML text), resolving references across them.

    Raises `SigmaUnavailable` without pySigma. Rules that only build a
    correlation (Sigma's default `generate: false`) are not written on
    their own; every rule that cannot be translated is an error, left out.
    """
    try:
        from sigma.collection import SigmaCollection
    except ImportError as exc:
        raise SigmaUnavailable("sleuth import sigma reads Sigma with pySigma: pip install 'sleuth[import]'") from exc
    result = ImportResult()
    rules: list[Any] = []
    docs_of: dict[int, _Doc] = {}
    for file, text in texts.items():
        result.sources[file] = text
        docs = _documents(file, text)
        try:
            coll = SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)
        except Exception as exc:        # YAML that does not parse at all
            rep = Reporter(file, text)
            rep.error("sigma-syntax", f"not Sigma YAML: {str(exc).splitlines()[0][:200]}", rep.span(0, 1))
            result.diagnostics += rep.diags
            continue
        for i, r in enumerate(coll.rules):
            doc = _match_doc(r, docs, i)
            docs_of[id(r)] = doc
            if r.errors:
                rep = Reporter(file, text)
                for err in r.errors:
                    rep.error("sigma-syntax", str(err).splitlines()[0][:300],
                              rep.span(*(doc.find(r"^title:.*$") or (doc.start, doc.start + 1))))
                result.diagnostics += rep.diags
                continue
            rules.append(r)
    coll = SigmaCollection(rules, resolve_references=False)
    for r in rules:
        for ref in getattr(r, "rules", None) or () if _is_correlation(r) else ():
            try:
                ref.resolve(coll)
            except Exception:   # unknown: reported where the correlation is translated
                pass
    tr = Translator(options, result)
    referenced: dict[int, bool] = {}
    for r in rules:
        if _is_correlation(r):
            for ref in r.rules or ():
                target = getattr(ref, "rule", None)
                if target is not None:
                    referenced[id(target)] = referenced.get(id(target), False) or bool(r.generate)
    for r in rules:
        doc = docs_of[id(r)]
        if id(r) in referenced and not referenced[id(r)]:
            continue          # builds a correlation only (generate: false)
        if _is_correlation(r):
            tr.correlation(r, doc, docs_of)
        else:
            tr.event_rule(r, doc)
    return result


def _match_doc(rule, docs: list[_Doc], i: int) -> _Doc:
    title = getattr(rule, "title", None)
    if title:
        for d in docs:
            if d.find(rf"^title:\s*['\"]?{re.escape(title)}['\"]?\s*$"):
                return d
    return docs[min(i, len(docs) - 1)] if docs else _Doc("<sigma>", "", 0, 0)

