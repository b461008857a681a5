"""Semantic checks: AST → IR for a whole pack, collecting every diagnostic.

Stage 3 of the front end (`parse.py` → `ast.py` → here → `ir.py`), the
driver of the checker: it walks a whole pack at once (all files, their
imports and lists), resolves scopes, checks each rule's clauses, steps,
windows and emits and each test block, and builds the IR the compiler
needs. Expressions are checked by `expression.py` (which this builds on),
lists read by `lists.py`, regexes vetted by `regex_lint.py`, lints are
classes in `lint.py` and the names come from `vocabulary.py`. Whole-pack
checks (duplicate names, cycles between `from matches` rules, what nobody
uses) run at the end.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import attrs

from sleuth.engine.duration import format_duration
from sleuth.engine.schema import DERIVED_PRODUCERS

from . import ast, ir
from .diagnostic import Diagnostic, Related, closest
from .expression import Ctx, Err, ExprChecker, FileScope, ListDef, MacroDef
from .lint import PackView, decl_name_span
from .lists import read_list_file
from .span import NOWHERE, Span
from .unparse import unparse
from .vocabulary import (
    ALLOWED_CLAUSES,
    LIMITS,
    MAX_HEAD,
    MAX_REPEAT,
    META_LISTS,
    META_VOCABULARIES,
    NOT_STREAMING,
    PIPES,
    REFIRE,
    RESERVED_EMIT,
    RULE_KIND_WORDS,
    clause_hint,
    clause_word,
    modifier_word,
)


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


# ---------------------------------------------------------------- the checker


class Checker(ExprChecker):
    """Checks the modules of one pack and builds their IR.

    `modules` maps file path → parsed module; `sources` maps file path →
    text (for rendering); `parse_file` reads and parses an imported file
    and `read_list` a list file (tests inject a fake file system).
    `run()` returns the `CheckedPack`.
    """

    def __init__(self, modules: dict[str, ast.Module], sources: dict[str, str],
                 parse_file: Callable[[str], tuple[ast.Module | None, list[Diagnostic]]] | None = None,
                 read_list: Callable[[str], list[str]] = read_list_file):
        super().__init__(read_list)
        self.modules = dict(modules)
        self.sources = sources
        self.parse_file = parse_file
        self.rules: list[ir.Rule] = []
        self.tests: list[TestCase] = []

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
                self.lint("macro", decl)
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

    # -- rules
    def check_rule(self, decl: ast.RuleDecl, scope: FileScope) -> ir.Rule | None:
        before = len([d for d in self.diags if d.is_error])
        by_kind: dict[type, list[ast.Clause]] = {}
        for c in decl.clauses:
            by_kind.setdefault(type(c), []).append(c)
        for cls, items in by_kind.items():
            if cls not in (ast.UnlessBetween, ast.UnlessAfter, ast.Pipe) and len(items) > 1:
                self.error("duplicate-clause", f"'{clause_word(cls)}' appears twice in rule '{decl.name}'",
                           items[1].span, related=[Related("first here", items[0].span)])

        def one(cls):
            items = by_kind.get(cls)
            return items[0] if items else None

        when, seq, having = one(ast.WhenClause), one(ast.Sequence), one(ast.HavingClause)
        join_ = one(ast.Join)
        present = [c for c in (when, seq, join_, having) if c is not None]
        if len(present) > 1:
            self.error("conflicting-clauses",
                       f"a rule is one kind: 'when' (single event), 'sequence', 'join' or 'having' (window); "
                       f"this one has {' and '.join(repr(clause_word(type(c))) for c in present)}",
                       present[1].span, "split it into two rules")
            return None
        if not present:
            self.error("missing-condition", f"rule '{decl.name}' has no 'when', 'sequence', 'join' or 'having'",
                       decl_name_span(decl, "rule"), "add 'when <condition>' for a single-event rule")
            return None
        kind = "event" if when else "sequence" if seq else "join" if join_ else "window"
        source = "matches" if one(ast.FromMatches) else "events"
        base = Ctx(scope, matches=source == "matches")

        meta = self._check_meta(decl, one(ast.Meta))
        by = one(ast.ByClause)
        keys = self._keys(by.keys, base) if by is not None else ()
        key_paths = frozenset(k.path for k in keys if isinstance(k, ir.Load))
        allowed = ALLOWED_CLAUSES[kind]
        for c in decl.clauses:
            if type(c) not in allowed:
                what = RULE_KIND_WORDS[kind]
                self.error("clause-not-allowed", f"'{clause_word(type(c))}' is not allowed in {what}",
                           c.span, clause_hint(type(c)))

        limits = self._limits(one(ast.Limit))
        fields: set[tuple[str, ...]] = set().union(*(_paths(k) for k in keys))
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
        if kind in ("sequence", "join"):
            # Without `within` a sequence is unbounded in time (EQL without maxspan): its
            # state is bounded by `limit keys` and `limit partials` (docs/semantics.md).
            within = one(ast.WithinClause)
            if within is not None:
                rule_kw["within"] = self._duration(within.duration, "'within' span")
            steps = self._steps(seq or join_, base, keys, cond, rule_kw.get("within"), ordered=kind == "sequence")
            step_index = {s.name: s.index for s in steps}
            absences = self._absences(decl, by_kind, base, step_index, steps)
            until = one(ast.UntilClause)
            if until is not None:
                rule_kw["until"] = self.cond(until.cond, base.evolve(where="'until'"))
                if until.keys:
                    rule_kw["until_keys"] = self._until_keys(until, base, keys, steps, by)
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
            rule_kw["suppress_keys"] = self._keys(sup.keys, base) if sup.keys else ()
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
        pipes = self._pipes(by_kind.get(ast.Pipe, []), base, steps, kind, decl.name)
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
            pipes=pipes, **rule_kw)

    def _check_meta(self, decl: ast.RuleDecl, meta: ast.Meta | None) -> tuple:
        out: dict[str, object] = {}
        anchor = meta.span if meta is not None else decl_name_span(decl, "rule")
        seen: dict[str, ast.MetaEntry] = {}
        for e in meta.entries if meta is not None else ():
            if e.name in seen:
                self.error("duplicate-meta", f"meta entry '{e.name}' is given twice", e.span,
                           related=[Related("first here", seen[e.name].span)])
                continue
            seen[e.name] = e
            self.lint("meta_entry", e)
            v = e.value
            if e.name in ("ttp", "goal", "severity"):
                text = v.value if isinstance(v, ast.String) else v.name if isinstance(v, ast.Word) else None
                vocab = META_VOCABULARIES[e.name]
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
                vocab = META_VOCABULARIES[required]
                self.error("missing-meta", f"rule '{decl.name}' has no '{required}' in its meta", anchor,
                           f"add {required} = {'high' if required == 'severity' else repr(vocab[0]).replace(chr(39), chr(34))}")
        self.lint("meta", decl, meta, set(seen), anchor)
        return tuple(sorted(out.items()))

    def _keys(self, keys: tuple[ast.Expr, ...], ctx: Ctx) -> tuple[ir.Expr, ...]:
        """Key fields or key expressions (`by user, lower(host)`), checked; each must read a field."""
        out: list[ir.Expr] = []
        for k in keys:
            if isinstance(k, ast.Field) and len(k.parts) == 1 and k.parts[0] in ctx.scope.macros:
                self.error("bad-key", f"'{k.dotted}' is a macro; a key is a field or an expression of fields",
                           k.span)
                continue
            e = self.expr(k, ctx.evolve(where="a key"))
            if isinstance(e, Err):
                continue
            if not any(isinstance(n, (ir.Load, ir.StepRef)) for n in ir.walk(e)):
                self.error("bad-key", "a key reads at least one field (this is a constant)", k.span,
                           "e.g. 'by user' or 'by lower(host)'")
                continue
            if e in out:
                self.error("duplicate-key", f"key '{unparse(k)}' is listed twice", k.span)
                continue
            out.append(e)
        return tuple(out)

    def _until_keys(self, until: ast.UntilClause, base: Ctx, keys: tuple[ir.Expr, ...],
                    steps: tuple[ir.Step, ...], by: ast.ByClause | None) -> tuple[ir.Expr, ...]:
        """`until cond by k`: the until's own key (EQL), rule keys first, as wide as the steps' keys."""
        own = self._keys(until.keys, base)
        step_extra = max((len(s.keys) - len(keys) for s in steps), default=0)
        if len(own) != len(until.keys):
            return keys + own
        if len(own) != step_extra:
            written = ", ".join(unparse(k) for k in until.keys)
            span = Span(until.span.file, until.keys[0].span.line, until.keys[0].span.col, until.keys[-1].span.end_line,
                        until.keys[-1].span.end_col, until.keys[0].span.start, until.keys[-1].span.end)
            if step_extra == 0:
                hints = [f"a 'by' right after 'until <condition>' is the until's own key (EQL's "
                         f"'until [...] by f'); to key the whole rule write 'by {written}' before 'until'"]
                if by is None:
                    hints.append("or give the steps per-step keys ('a: ... by f') for the until's key to match")
                self.error("until-key-arity", f"'until ... by {written}' gives the until its own key, but the "
                           f"steps have no per-step key to compare it with", span, *hints)
            else:
                self.error("until-key-arity", f"'until ... by' gives {len(own)} field(s); the steps' per-step "
                           f"keys have {step_extra}", span,
                           "the until's key is compared with each step's key, field by field")
        return keys + own

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

    def _steps(self, seq: ast.Sequence | ast.Join, base: Ctx, keys: tuple[ir.Expr, ...], where: ir.Expr | None,
               within: float | None, *, ordered: bool = True) -> tuple[ir.Step, ...]:
        names: dict[str, int] = {}
        for i, s in enumerate(seq.steps):
            if s.name in names:
                self.error("duplicate-step", f"step '{s.name}' is defined twice", s.span,
                           related=[Related("first here", seq.steps[names[s.name]].span)])
            else:
                names[s.name] = i
            self.lint("step", s)
        steps = []
        arities: list[tuple[int, ast.SeqStep]] = []
        refs_to: dict[int, set[tuple[str, ...]]] = {}
        for i, s in enumerate(seq.steps):
            ctx = base.evolve(steps=names, max_step=i - 1 if ordered else -1,
                              where="step" if ordered else "join step")
            mods = {}
            for m in s.mods:
                if type(m) in mods:
                    self.error("duplicate-modifier", f"step '{s.name}' has two '{modifier_word(m)}' modifiers", m.span)
                if not ordered and not isinstance(m, ast.StepBy):
                    self.error("modifier-not-allowed", f"'{modifier_word(m)}' is not allowed on a join step",
                               m.span, "the steps of a join take only a per-step key ('by f'); "
                               "use a sequence for order, repeats, gaps, windows and fork")
                    continue
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
                extra = self._keys(sby.keys, base)
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
                else:
                    self.lint("step_gap", g, gap, within)
            window = having = None
            w = mods.get(ast.StepWindow)
            if w is not None:
                window = self._duration(w.size, "step window")
                hctx = ctx.evolve(allow_agg=True, where="a step window")
                errors_before = self.error_count()
                having = self.cond(w.cond, hctx)
                self.lint("step_having", w, having, self.error_count() == errors_before)
                if rep is not None:
                    self.error("conflicting-modifiers", "a step is either repeated or an aggregate window",
                               rep.span, "use count() >= N in the window's condition instead of repeat")
                self.lint("step_window", w, window, within)
            fields = set(_paths(cond)).union(*(_paths(k) for k in step_keys))
            if having is not None:
                for agg in _aggs(having):
                    for a in agg.args:
                        fields |= _paths(a)
            fork = mods.get(ast.StepFork)
            if fork is not None and i == 0:
                self.error("bad-fork", "the first step has no partial match to keep", fork.span,
                           "'fork' goes on a later step: advancing from the previous step then keeps "
                           "that partial, so it can match again")
            steps.append(ir.Step(s.name, i, event_part, join, step_keys, lo, hi, gap, window, having,
                                 tuple(sorted(fields)), (), s.span, fork=fork is not None and i > 0))
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

    def _pipes(self, clauses: list[ast.Pipe], base: Ctx, steps: tuple[ir.Step, ...], kind: str,
               rule: str) -> tuple[ir.Pipe, ...]:
        """The rule's pipes, in written order; the ones a stream cannot run are errors."""
        out = []
        ctx = base.evolve(steps={s.name: s.index for s in steps} or None, max_step=len(steps) - 1)
        for p in clauses:
            if kind == "window":
                continue          # `clause-not-allowed` said so
            name = p.name
            if name in NOT_STREAMING:
                self.error("pipe-not-streaming", f"'| {name}' needs every match before it can output one: "
                           f"a stream has no end", p.span, NOT_STREAMING[name].format(rule=rule))
                continue
            if name not in PIPES:
                guess = closest(name, list(PIPES) + list(NOT_STREAMING))
                hints = [f"did you mean '{guess}'?"] if guess else []
                hints.append(f"pipes: {', '.join(PIPES)}; '|' starts a pipe, conditions are joined with 'or'")
                self.error("unknown-pipe", f"no pipe named '{name}'", p.span, *hints)
                continue
            if p.keys and name != "head":
                self.error("bad-pipe", f"'| {name}' takes no 'by'", p.keys[0].span,
                           "only '| head N by f' counts per group; a rule key is written 'by f' before the pipes")
                continue
            where = f"'| {name}'"
            if name == "filter":
                if len(p.args) != 1:
                    self.error("bad-pipe", "'| filter' takes one condition", p.span, "e.g. '| filter a.user != b.user'")
                    continue
                out.append(ir.Pipe("filter", (self.cond(p.args[0], ctx.evolve(where=where)),), span=p.span))
            elif name == "unique":
                if not p.args:
                    self.error("bad-pipe", "'| unique' takes one or more values", p.span, "e.g. '| unique user, host'")
                    continue
                vals = tuple(self.expr(a, ctx.evolve(where=where)) for a in p.args)
                out.append(ir.Pipe("unique", vals, span=p.span))
            else:
                count = p.args[0] if len(p.args) == 1 else None
                if not (isinstance(count, ast.IntLit) and 1 <= count.value <= MAX_HEAD):
                    self.error("bad-pipe", f"'| head' takes a count from 1 to {MAX_HEAD:,}", p.span,
                               "e.g. '| head 5' (the rule's first 5 matches) or '| head 1 by user' (per user)")
                    continue
                keys = self._keys(p.keys, ctx.evolve(where=where)) if p.keys else ()
                out.append(ir.Pipe("head", (), count.value, keys, span=p.span))
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
        errors_before = self.error_count()
        cond = self.cond(having.cond, hctx)
        for e in ir.walk(cond):
            if isinstance(e, ir.Load) and e.path not in key_paths and not _inside_agg(cond, e):
                self.error("field-in-having", f"field '{e.dotted}' in 'having' is not a key of the rule",
                           e.span, "filter events with 'where', or use an aggregate such as "
                           f"distinct({e.dotted}) or sample({e.dotted}, 5)")
                break
        aggs = _aggs(cond)
        self.lint("having", having, cond, self.error_count() == errors_before)
        if having.sustain is not None:
            out["sustain"] = self._duration(having.sustain, "'for' duration")
            if wc.kind != "tumbling":
                self.error("sustain-needs-tumbling", "'for' counts consecutive windows: it needs a tumbling window",
                           having.sustain.span, f"write 'window {format_duration(wc.size.seconds)} tumbling'" if wc.size else
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
            self.lint("test_item", item)
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
        """Check what nothing used, so its mistakes are reported too; then the whole-pack lints."""
        for scope in self.scopes.values():
            for name, m in scope.macros.items():
                if m.file == scope.file and not m.used:
                    self.expr(m.decl.body, Ctx(scope, allow_agg=True, where="a macro", macro_stack=(name,)))
        for scope in self.scopes.values():
            for lst in scope.lists.values():
                if lst.file == scope.file and not lst.used:
                    self.list_value(lst)
        self.diags.extend(self.linter.finalize(PackView(self.scopes, self.modules)))


# ---------------------------------------------------------------- IR helpers


def _paths(e: ir.Expr | None) -> set[tuple[str, ...]]:
    if e is None:
        return set()
    out = set()
    for n in ir.walk(e):
        if isinstance(n, ir.Load) and not isinstance(n, Err):
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


__all__ = ["Checker", "CheckedPack", "TestCase", "NOWHERE"]
