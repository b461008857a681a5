"""Parse rule text into the AST (`dsl/ast.py`).

Stage 1 of the front end: `grammar.lark` → Lark LALR parse tree → `ast.Module`.
The Lark parser is built once per process (`grammar.py`) and reused. The
transformer only builds nodes and raises nothing (Lark would wrap it in
`VisitError`); all validation lives in `check.py`.

Syntax errors are collected, not stopped at: when a file does not parse,
each top-level declaration is parsed on its own (the text around it blanked
or cut, so every position stays right), giving at most one error per
declaration and up to `MAX_SYNTAX_ERRORS`; the declarations that parse make
the module. Each error is labelled from the example table in
`syntax_errors.py`.
"""

from __future__ import annotations

import re

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedInput

from sleuth.engine.duration import parse_duration as duration_seconds

from . import ast
from .diagnostic import ERROR, Diagnostic
from .errors import RuleSyntaxError
from .grammar import comments as comments  # re-exported: `unparse.format_source` reads it here
from .grammar import parser
from .span import Span
from .syntax_errors import syntax_diagnostic

MAX_SYNTAX_ERRORS = 10
# Deepest parse tree a declaration may have. The passes over the tree
# (transformer, checker, unparser) recurse, so a hostile `((((...` must be
# refused before them; real rules stay far below (a 20-clause `and` is 3).
MAX_DEPTH = 100

# Terminals that carry data; every other token is a keyword or punctuation.
DATA_TERMINALS = frozenset({
    "NAME", "SEGMENT", "DURATION", "CIDR", "FLOAT", "INT", "LONG_STRING", "STRING",
    "REGEX", "CMP_OP", "PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "WINDOW_KIND",
})

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", '"': '"', "\\": "\\", "/": "/"}
TOP_KEYWORDS = ("rule", "macro", "list", "import", "test")


def decode_string(raw: str) -> str:
    """Decode a STRING/LONG_STRING token's text (quotes included)."""
    body = raw[3:-3] if raw.startswith('"""') else raw[1:-1]
    if "\\" not in body:
        return body
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6] or ""):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            # Unknown escapes are kept literally (check.py warns about them).
            out.append(ch + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _data(children: list) -> list:
    return [c for c in children if not (isinstance(c, Token) and c.type not in DATA_TERMINALS)]


class _Builder(Transformer):
    """Parse tree → AST nodes. Builds only; never raises."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    # -- positions
    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1, 0, 0)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column,
                    meta.start_pos, meta.end_pos)

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column,
                    tok.start_pos, tok.end_pos)

    # -- file level
    @v_args(meta=True)
    def start(self, meta, children):
        return ast.Module(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def import_decl(self, meta, children):
        (s,) = _data(children)
        return ast.Import(decode_string(str(s)), span=self._span(meta))

    @v_args(meta=True)
    def list_decl(self, meta, children):
        name, value = _data(children)
        if isinstance(value, ast.ListLit):
            return ast.ListDecl(str(name), items=value.items, span=self._span(meta))
        return ast.ListDecl(str(name), file=value, span=self._span(meta))

    def list_file(self, children):
        (s,) = _data(children)
        return decode_string(str(s))

    @v_args(meta=True)
    def macro_decl(self, meta, children):
        name, body = _data(children)
        return ast.MacroDecl(str(name), body, span=self._span(meta))

    @v_args(meta=True)
    def rule_decl(self, meta, children):
        name, *clauses = _data(children)
        return ast.RuleDecl(str(name), clauses, span=self._span(meta))

    # -- clauses
    @v_args(meta=True)
    def meta(self, meta, children):
        return ast.Meta(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def meta_entry(self, meta, children):
        name, value = _data(children)
        return ast.MetaEntry(str(name), value, span=self._span(meta))

    @v_args(meta=True)
    def word(self, meta, children):
        (name,) = _data(children)
        return ast.Word(str(name), span=self._span(meta))

    @v_args(meta=True)
    def by_clause(self, meta, children):
        return ast.ByClause(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def within_clause(self, meta, children):
        (d,) = _data(children)
        return ast.WithinClause(self._duration(d), span=self._span(meta))

    @v_args(meta=True)
    def window_clause(self, meta, children):
        items = _data(children)
        size = self._duration(items[0])
        kind = str(items[1]) if len(items) > 1 else "sliding"
        return ast.WindowClause(kind, size=size, span=self._span(meta))

    @v_args(meta=True)
    def session_window(self, meta, children):
        (d,) = _data(children)
        return ast.WindowClause("session", gap=self._duration(d), span=self._span(meta))

    @v_args(meta=True)
    def where_clause(self, meta, children):
        (e,) = _data(children)
        return ast.WhereClause(e, span=self._span(meta))

    @v_args(meta=True)
    def when_clause(self, meta, children):
        (e,) = _data(children)
        return ast.WhenClause(e, span=self._span(meta))

    @v_args(meta=True)
    def having_clause(self, meta, children):
        items = _data(children)
        sustain = self._duration(items[1]) if len(items) > 1 else None
        return ast.HavingClause(items[0], sustain, span=self._span(meta))

    @v_args(meta=True)
    def until_clause(self, meta, children):
        e, *keys = _data(children)
        return ast.UntilClause(e, keys, span=self._span(meta))

    @v_args(meta=True)
    def unless_between(self, meta, children):
        name, cond, a, b = _data(children)
        return ast.UnlessBetween(str(name), cond, str(a), str(b), span=self._span(meta))

    @v_args(meta=True)
    def unless_after(self, meta, children):
        name, cond, after, d = _data(children)
        return ast.UnlessAfter(str(name), cond, str(after), self._duration(d), span=self._span(meta))

    @v_args(meta=True)
    def emit(self, meta, children):
        return ast.Emit(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def emit_entry(self, meta, children):
        name, value = _data(children)
        return ast.EmitEntry(str(name), value, span=self._span(meta))

    @v_args(meta=True)
    def suppress(self, meta, children):
        d, *keys = _data(children)
        return ast.Suppress(self._duration(d), keys, span=self._span(meta))

    @v_args(meta=True)
    def from_matches(self, meta, children):
        return ast.FromMatches(span=self._span(meta))

    @v_args(meta=True)
    def limit(self, meta, children):
        return ast.Limit(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def limit_entry(self, meta, children):
        name, value = _data(children)
        return ast.LimitEntry(str(name), int(value), span=self._span(meta))

    @v_args(meta=True)
    def fingerprint(self, meta, children):
        return ast.Fingerprint(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def refire(self, meta, children):
        items = _data(children)
        d = self._duration(items[1]) if len(items) > 1 else None
        return ast.Refire(str(items[0]), d, span=self._span(meta))

    @v_args(meta=True)
    def sequence(self, meta, children):
        return ast.Sequence(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def join(self, meta, children):
        return ast.Join(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def pipe(self, meta, children):
        # "|" NAME args* ["by" keys]: the `by` token (kept) splits arguments from keys.
        name, *rest = children[1:]
        args: list = []
        keys: list = []
        target = args
        for c in rest:
            if isinstance(c, Token):
                if c.type not in DATA_TERMINALS and str(c) == "by":
                    target = keys
                continue
            target.append(c)
        return ast.Pipe(str(name), args, keys, span=self._span(meta))

    @v_args(meta=True)
    def step_fork(self, meta, children):
        return ast.StepFork(span=self._span(meta))

    @v_args(meta=True)
    def seq_step(self, meta, children):
        name, cond, *mods = _data(children)
        return ast.SeqStep(str(name), cond, mods, span=self._span(meta))

    @v_args(meta=True)
    def step_by(self, meta, children):
        return ast.StepBy(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def repeat_exact(self, meta, children):
        (n,) = _data(children)
        return ast.StepRepeat(int(n), int(n), span=self._span(meta))

    @v_args(meta=True)
    def repeat_at_least(self, meta, children):
        (n,) = _data(children)
        return ast.StepRepeat(int(n), None, span=self._span(meta))

    @v_args(meta=True)
    def repeat_range(self, meta, children):
        lo, hi = _data(children)
        return ast.StepRepeat(int(lo), int(hi), span=self._span(meta))

    @v_args(meta=True)
    def step_gap(self, meta, children):
        (d,) = _data(children)
        return ast.StepGap(self._duration(d), span=self._span(meta))

    @v_args(meta=True)
    def step_window(self, meta, children):
        d, cond = _data(children)
        return ast.StepWindow(self._duration(d), cond, span=self._span(meta))

    # -- tests
    @v_args(meta=True)
    def test_decl(self, meta, children):
        name, rule, *items = _data(children)
        return ast.TestDecl(decode_string(str(name)), str(rule), items, span=self._span(meta))

    @v_args(meta=True)
    def events_inline(self, meta, children):
        return ast.EventsInline(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def event_lit(self, meta, children):
        return ast.EventLit(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def event_repeat(self, meta, children):
        n, *assigns = _data(children)
        return ast.EventRepeat(int(n), assigns, span=self._span(meta))

    @v_args(meta=True)
    def assign(self, meta, children):
        target, value = _data(children)
        return ast.Assign(target, value, span=self._span(meta))

    @v_args(meta=True)
    def events_file(self, meta, children):
        (s,) = _data(children)
        return ast.EventsFile(decode_string(str(s)), span=self._span(meta))

    @v_args(meta=True)
    def expect_match(self, meta, children):
        return ast.ExpectMatch(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def expect_none(self, meta, children):
        return ast.ExpectNone(span=self._span(meta))

    @v_args(meta=True)
    def expect_count(self, meta, children):
        (n,) = _data(children)
        return ast.ExpectCount(int(n), span=self._span(meta))

    # -- expressions
    def atom(self, children):
        # Only a parenthesised expression reaches here (keep_all_tokens).
        (e,) = _data(children)
        return e

    @v_args(meta=True)
    def or_expr(self, meta, children):
        return ast.Or(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def and_expr(self, meta, children):
        return ast.And(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def not_(self, meta, children):
        (e,) = _data(children)
        return ast.Not(e, span=self._span(meta))

    @v_args(meta=True)
    def compare(self, meta, children):
        left, op, right = _data(children)
        return ast.Compare(str(op), left, right, span=self._span(meta))

    @v_args(meta=True)
    def in_(self, meta, children):
        item, target = _data(children)
        return ast.In(item, target, False, span=self._span(meta))

    @v_args(meta=True)
    def not_in(self, meta, children):
        item, target = _data(children)
        return ast.In(item, target, True, span=self._span(meta))

    @v_args(meta=True)
    def glob(self, meta, children):
        left, pat = _data(children)
        return ast.Glob(left, pat, span=self._span(meta))

    @v_args(meta=True)
    def regex_match(self, meta, children):
        left, pat = _data(children)
        return ast.RegexMatch(left, pat, span=self._span(meta))

    @v_args(meta=True)
    def bin_op(self, meta, children):
        left, op, right = _data(children)
        return ast.BinOp(str(op), left, right, span=self._span(meta))

    @v_args(meta=True)
    def neg(self, meta, children):
        (_minus, e) = _data(children)
        return ast.Neg(e, span=self._span(meta))

    @v_args(meta=True)
    def tuple(self, meta, children):
        return ast.Tuple(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def list_lit(self, meta, children):
        return ast.ListLit(_data(children), span=self._span(meta))

    @v_args(meta=True)
    def list_ref(self, meta, children):
        (name,) = _data(children)
        return ast.ListRef(str(name), span=self._span(meta))

    @v_args(meta=True)
    def call(self, meta, children):
        name, *args = _data(children)
        return ast.Call(str(name), args, span=self._span(meta))

    @v_args(meta=True)
    def field(self, meta, children):
        return ast.Field([str(t) for t in _data(children)], span=self._span(meta))

    @v_args(meta=True)
    def string(self, meta, children):
        (tok,) = _data(children)
        return ast.String(decode_string(str(tok)), span=self._span(meta))

    @v_args(meta=True)
    def int_lit(self, meta, children):
        (tok,) = _data(children)
        return ast.IntLit(int(tok), span=self._span(meta))

    @v_args(meta=True)
    def float_lit(self, meta, children):
        (tok,) = _data(children)
        return ast.FloatLit(float(tok), span=self._span(meta))

    @v_args(meta=True)
    def bool_lit(self, meta, children):
        (tok,) = children
        return ast.BoolLit(str(tok) == "true", span=self._span(meta))

    def duration(self, children):
        (tok,) = _data(children)
        return self._duration(tok)

    @v_args(meta=True)
    def cidr(self, meta, children):
        (tok,) = _data(children)
        return ast.Cidr(str(tok), span=self._span(meta))

    @v_args(meta=True)
    def regex(self, meta, children):
        (tok,) = _data(children)
        text = str(tok)
        end = text.rindex("/")
        return ast.Regex(text[1:end].replace("\\/", "/"), text[end + 1 :], span=self._span(meta))

    def _duration(self, tok) -> ast.Duration:
        if isinstance(tok, ast.Duration):
            return tok
        return ast.Duration(duration_seconds(str(tok)), span=self._tspan(tok))


def parse(text: str, file: str = "<input>") -> ast.Module:
    """Parse a whole rule file.

    Raises `RuleSyntaxError` holding every syntax error found (up to
    `MAX_SYNTAX_ERRORS`), each with a span inside `text`.
    """
    module, diags = parse_recovering(text, file)
    if diags:
        raise RuleSyntaxError(diags, {file: text})
    return module


def parse_recovering(text: str, file: str = "<input>") -> tuple[ast.Module, list[Diagnostic]]:
    """Parse, skipping broken declarations; returns what parsed and the errors.

    When the file does not parse, each top-level declaration (a chunk from
    one line-start `rule`/`macro`/`list`/`import`/`test` to the next) is
    parsed on its own, with the text before it blanked so positions stay
    right and the text after it cut, so an error is reported inside the
    declaration that holds it (an unfinished `macro c = z ==` ends at its
    own end, not at the next declaration, which would read `macro` as a
    field). The declarations that parse make the module.
    """
    try:
        tree = parser().parse(text)
    except UnexpectedInput as first:
        first_error = first
    else:
        return _build(tree, file, [])
    diags: list[Diagnostic] = []
    work = text
    for a, b in _declaration_chunks(text):
        try:
            parser().parse(_blank(text[:a]) + text[a:b])
        except UnexpectedInput as exc:
            diags.append(syntax_diagnostic(exc, _blank(text[:a]) + text[a:b], file))
            if len(diags) >= MAX_SYNTAX_ERRORS:
                return ast.Module(()), diags
            work = work[:a] + _blank(work[a:b]) + work[b:]
    if not diags:  # no declaration fails alone: report the whole file's error
        return ast.Module(()), [syntax_diagnostic(first_error, text, file)]
    try:
        tree = parser().parse(work)
    except UnexpectedInput:
        return ast.Module(()), diags
    return _build(tree, file, diags)


def _build(tree: Tree, file: str, diags: list[Diagnostic]) -> tuple[ast.Module, list[Diagnostic]]:
    """The module of a parse tree, leaving out (and reporting) declarations nested too deeply."""
    kept = []
    for decl in tree.children:
        deep = _too_deep(decl) if isinstance(decl, Tree) else None
        if deep is None:
            kept.append(decl)
            continue
        meta = deep.meta
        span = Span(file, meta.line, meta.column, meta.line, meta.column + 1, meta.start_pos, meta.start_pos + 1)
        diags.append(Diagnostic("nesting-too-deep", ERROR,
                                f"this declaration nests more than {MAX_DEPTH} levels deep", span,
                                ("split the expression into macros",)))
    if len(kept) != len(tree.children):
        tree = Tree(tree.data, kept, tree._meta)
    return _Builder(file).transform(tree), diags


def _too_deep(tree: Tree) -> Tree | None:
    """The first subtree deeper than MAX_DEPTH below `tree` (iterative), else None."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    return None


def _blank(text: str) -> str:
    """The same text with every character but newlines made a space."""
    return re.sub(r"[^\n]", " ", text)


def _declaration_chunks(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the top-level declarations, by line-start keyword."""
    starts = [m.start() for m in re.finditer(rf"(?m)^(?:{'|'.join(TOP_KEYWORDS)})\b", text)]
    if not starts or text[: starts[0]].strip():
        # Text before the first declaration (not only comments) is a chunk too.
        if not starts or re.sub(r"#[^\n]*", "", text[: starts[0]]).strip():
            starts.insert(0, 0)
    bounds = starts + [len(text)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(starts))]


def parse_expr(text: str, file: str = "<expr>") -> ast.Expr:
    """Parse a single expression (for the REPL and tests)."""
    module = parse(f"macro __expr__ = {text}", file)
    (decl,) = module.decls
    assert isinstance(decl, ast.MacroDecl)
    return decl.body
