"""Render an AST back to canonical rule text (`sleuth fmt`).

A separate pass over `dsl/ast.py` nodes: two-space indentation, one clause a
line, clauses in written order, minimal parentheses from operator
precedence, durations in their largest exact unit, strings re-escaped. The
invariant, tested on every rule file and every example of
`docs/language.md`: `parse(unparse(parse(x))) == parse(x)`.
"""

from __future__ import annotations

import functools
import math
import re

from sleuth.engine.duration import format_duration as format_duration

from . import ast

WIDTH = 100   # a clause longer than this is broken at its top-level and/or (or list items)

# Binding strength, loosest first; an operand weaker than its slot is parenthesised.
P_OR, P_AND, P_NOT, P_CMP, P_SUM, P_PRODUCT, P_UNARY, P_ATOM = range(1, 9)
_SUM_OPS = {"+", "-"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def quote(value: str) -> str:
    """A string literal for `value`; long strings with newlines use triple quotes."""
    if "\n" in value and len(value) > 60:
        body = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"""{body}"""'
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class Unparser:
    """The canonical printer. Handlers are `unparse_<snake_class>`."""

    def __init__(self, indent: str = "  ", comments=()):
        self.ind = indent
        self.comments = sorted(comments)   # (line, col, text), consumed as printed
        self.dispatch = _build_dispatch(self, "unparse_")
        self._commas: set[int] = set()   # ids of entries printed with a trailing ','

    # -- comments: kept next to the element they were written at
    def _take(self, pred) -> list[str]:
        out = [c[2] for c in self.comments if pred(c)]
        if out:
            self.comments = [c for c in self.comments if not pred(c)]
        return out

    def _with_comments(self, node, depth: int, text: str, *, block: bool = False) -> str:
        if not self.comments or node.span.file == "<generated>":
            return text
        sp = node.span
        pad = self._pad(depth)
        if block:
            lead = self._take(lambda c: c[0] < sp.line)
        else:
            lead = self._take(lambda c: c[0] < sp.end_line or (c[0] == sp.line == sp.end_line and False))
        trail = self._take(lambda c: c[0] == sp.end_line)
        lines = [pad + c for c in lead]
        lines.append(text + ("  " + "  ".join(trail) if trail else ""))
        return "\n".join(lines)

    def _block(self, node, depth: int, header: str, items, *, empty: str | None = None) -> str:
        """`header {`, one child a line, `}`; comments stay inside the block."""
        pad = self._pad(depth)
        sp = node.span
        has_c = bool(self.comments) and sp.file != "<generated>"
        lead = self._take(lambda c: c[0] < sp.line) if has_c else []
        first_line = min((i.span.line for i in items), default=sp.end_line)
        head_c = self._take(lambda c: c[0] == sp.line and c[0] < first_line) if has_c else []
        if not items and not has_c and empty is not None:
            return pad + empty
        lines = [pad + c for c in lead]
        lines.append(f"{pad}{header} {{" + ("  " + "  ".join(head_c) if head_c else ""))
        for item in items:
            lines.append(self.node(item, depth + 1))
        if has_c:
            inner = self._take(lambda c: c[0] < sp.end_line)
            lines += [self._pad(depth + 1) + c for c in inner]
        tail_c = self._take(lambda c: c[0] == sp.end_line) if has_c else []
        lines.append(f"{pad}}}" + ("  " + "  ".join(tail_c) if tail_c else ""))
        return "\n".join(lines)

    # -- entry points
    def module(self, node: ast.Module) -> str:
        blocks = []
        prev = None
        for decl in node.decls:
            text = self.node(decl, 0)
            one_liner = isinstance(decl, (ast.Import, ast.ListDecl, ast.MacroDecl))
            if blocks and not (one_liner and type(prev) is type(decl)):
                blocks.append("")
            blocks.append(text)
            prev = decl
        if self.comments:
            if blocks:
                blocks.append("")
            blocks += [c[2] for c in self.comments]
            self.comments = []
        return "\n".join(blocks) + ("\n" if blocks else "")

    def node(self, node: ast.Node, depth: int = 0) -> str:
        text = self.dispatch[type(node)](node, depth)
        if isinstance(node, _LEAF_ELEMENTS):
            return self._with_comments(node, depth, text)
        return text

    def expr(self, node: ast.Expr, min_prec: int = 0) -> str:
        text, prec = self.dispatch[type(node)](node, 0)
        return f"({text})" if prec < min_prec else text

    def _pad(self, depth: int) -> str:
        return self.ind * depth

    # -- declarations
    def unparse_module(self, node, depth):
        return self.module(node)

    def unparse_import(self, node, depth):
        return f"{self._pad(depth)}import {quote(node.path)}"

    def unparse_list_decl(self, node, depth):
        if node.file is not None:
            return f"{self._pad(depth)}list {node.name} = file({quote(node.file)})"
        items = ", ".join(self.expr(i) for i in node.items or ())
        return f"{self._pad(depth)}list {node.name} = [{items}]"

    def unparse_macro_decl(self, node, depth):
        return f"{self._pad(depth)}macro {node.name} = {self.expr(node.body)}"

    def unparse_rule_decl(self, node, depth):
        return self._block(node, depth, f"rule {node.name}", node.clauses)

    def unparse_test_decl(self, node, depth):
        return self._block(node, depth, f"test {quote(node.name)} for {node.rule}", node.items)

    # -- clauses
    def unparse_meta(self, node, depth):
        self._mark_commas(node.entries)
        return self._block(node, depth, "meta", node.entries, empty="meta {}")

    def unparse_meta_entry(self, node, depth):
        one = f"{self._pad(depth)}{node.name} = {self.expr(node.value)}{self._comma(node)}"
        if len(one) <= WIDTH or not isinstance(node.value, ast.ListLit) or not node.value.items:
            return one
        # A long list (false positives, references): one item a line.
        inner = [f"{self._pad(depth + 1)}{self.expr(i)}," for i in node.value.items]
        return "\n".join([f"{self._pad(depth)}{node.name} = [", *inner, f"{self._pad(depth)}]{self._comma(node)}"])

    def _mark_commas(self, entries) -> None:
        # Entries need no separator, except before a name that is also a keyword:
        # after a value, LALR lookahead lets the lexer read `window` as the keyword.
        for entry, nxt in zip(entries, entries[1:]):
            if nxt.name in keywords():
                self._commas.add(id(entry))

    def _comma(self, node) -> str:
        return "," if id(node) in self._commas else ""

    def unparse_by_clause(self, node, depth):
        return f"{self._pad(depth)}by {', '.join(self.expr(k) for k in node.keys)}"

    def unparse_within_clause(self, node, depth):
        return f"{self._pad(depth)}within {self.expr(node.duration)}"

    def unparse_window_clause(self, node, depth):
        if node.kind == "session":
            return f"{self._pad(depth)}window session gap {self.expr(node.gap)}"
        return f"{self._pad(depth)}window {self.expr(node.size)} {node.kind}"

    def _cond(self, lead: str, cond: ast.Expr, depth: int, tail: str = "") -> str:
        """`lead cond tail`; past `WIDTH` columns a top-level and/or chain gets one operand a line."""
        one = f"{self._pad(depth)}{lead}{self.expr(cond)}{tail}"
        if len(one) <= WIDTH or not isinstance(cond, (ast.And, ast.Or)):
            return one
        word, prec = ("and", P_NOT) if isinstance(cond, ast.And) else ("or", P_AND)
        ops = [self.expr(o, prec) for o in cond.operands]
        cont = self._pad(depth) + self.ind + word + " "
        return "\n".join([f"{self._pad(depth)}{lead}{ops[0]}"] + [cont + o for o in ops[1:]]) + tail

    def unparse_where_clause(self, node, depth):
        return self._cond("where ", node.cond, depth)

    def unparse_when_clause(self, node, depth):
        return self._cond("when ", node.cond, depth)

    def unparse_having_clause(self, node, depth):
        tail = f" for {self.expr(node.sustain)}" if node.sustain is not None else ""
        return self._cond("having ", node.cond, depth, tail)

    def unparse_until_clause(self, node, depth):
        keys = f" by {', '.join(self.expr(k) for k in node.keys)}" if node.keys else ""
        return self._cond("until ", node.cond, depth, keys)

    def unparse_unless_between(self, node, depth):
        return self._cond(f"unless {node.name}: ", node.cond, depth, f" between {node.start} and {node.end}")

    def unparse_unless_after(self, node, depth):
        return self._cond(f"unless {node.name}: ", node.cond, depth,
                          f" after {node.after} within {self.expr(node.within)}")

    def unparse_emit(self, node, depth):
        self._mark_commas(node.entries)
        return self._block(node, depth, "emit", node.entries, empty="emit {}")

    def unparse_emit_entry(self, node, depth):
        return f"{self._pad(depth)}{node.name} = {self.expr(node.value)}{self._comma(node)}"

    def unparse_suppress(self, node, depth):
        keys = f" by {', '.join(self.expr(k) for k in node.keys)}" if node.keys else ""
        return f"{self._pad(depth)}suppress {self.expr(node.duration)}{keys}"

    def unparse_from_matches(self, node, depth):
        return f"{self._pad(depth)}from matches"

    def unparse_limit(self, node, depth):
        return f"{self._pad(depth)}limit {', '.join(self.node(e) for e in node.entries)}"

    def unparse_limit_entry(self, node, depth):
        return f"{node.name} {node.value}"

    def unparse_fingerprint(self, node, depth):
        return f"{self._pad(depth)}fingerprint {', '.join(self.expr(v) for v in node.values)}"

    def unparse_refire(self, node, depth):
        tail = f" {self.expr(node.duration)}" if node.duration is not None else ""
        return f"{self._pad(depth)}refire {node.policy}{tail}"

    def unparse_sequence(self, node, depth):
        return self._block(node, depth, "sequence", node.steps)

    def unparse_join(self, node, depth):
        return self._block(node, depth, "join", node.steps)

    def unparse_pipe(self, node, depth):
        args = f" {', '.join(self.expr(a) for a in node.args)}" if node.args else ""
        keys = f" by {', '.join(self.expr(k) for k in node.keys)}" if node.keys else ""
        return f"{self._pad(depth)}| {node.name}{args}{keys}"

    def unparse_step_fork(self, node, depth):
        return "fork"

    def unparse_seq_step(self, node, depth):
        mods = "".join(" " + self.node(m) for m in node.mods)
        return self._cond(f"{node.name}: ", node.cond, depth, mods)

    def unparse_step_by(self, node, depth):
        return f"by {', '.join(self.expr(k) for k in node.keys)}"

    def unparse_step_repeat(self, node, depth):
        if node.max is None:
            return f"repeat >= {node.min}"
        if node.max == node.min:
            return f"repeat {node.min}"
        return f"repeat {node.min}..{node.max}"

    def unparse_step_gap(self, node, depth):
        return f"within {self.expr(node.duration)}"

    def unparse_step_window(self, node, depth):
        return f"window {self.expr(node.size)} having {self.expr(node.cond)}"

    # -- tests
    def unparse_events_inline(self, node, depth):
        return self._block(node, depth, "events", node.gens, empty="events {}")

    def unparse_event_lit(self, node, depth):
        return f"{self._pad(depth)}{{ {self._assigns(node.assigns)} }}".replace("{  }", "{}")

    def unparse_event_repeat(self, node, depth):
        return f"{self._pad(depth)}repeat {node.count} {{ {self._assigns(node.assigns)} }}".replace("{  }", "{}")

    def _assigns(self, assigns) -> str:
        out = ""
        for i, a in enumerate(assigns):
            if i:
                out += ",  " if a.target.parts[0] in keywords() else "  "
            out += self.node(a)
        return out

    def unparse_assign(self, node, depth):
        return f"{self.expr(node.target)} = {self.expr(node.value)}"

    def unparse_events_file(self, node, depth):
        return f"{self._pad(depth)}events from {quote(node.path)}"

    def unparse_expect_match(self, node, depth):
        if not node.asserts:
            return f"{self._pad(depth)}expect match"
        if len(node.asserts) == 1:
            return f"{self._pad(depth)}expect match {{ {self.expr(node.asserts[0])} }}"
        inner = [f"{self._pad(depth + 1)}{self.expr(a)}," for a in node.asserts]
        return "\n".join([f"{self._pad(depth)}expect match {{", *inner, f"{self._pad(depth)}}}"])

    def unparse_expect_none(self, node, depth):
        return f"{self._pad(depth)}expect no match"

    def unparse_expect_count(self, node, depth):
        word = "match" if node.count == 1 else "matches"
        return f"{self._pad(depth)}expect {node.count} {word}"

    # -- expressions: handlers return (text, precedence)
    def unparse_string(self, node, depth):
        return quote(node.value), P_ATOM

    def unparse_int_lit(self, node, depth):
        return str(node.value), P_ATOM

    def unparse_float_lit(self, node, depth):
        if math.isinf(node.value):  # `1e999` parses to infinity; `inf` would read as a field
            return "1e999", P_ATOM
        return repr(float(node.value)), P_ATOM

    def unparse_bool_lit(self, node, depth):
        return ("true" if node.value else "false"), P_ATOM

    def unparse_duration(self, node, depth):
        return format_duration(node.seconds), P_ATOM

    def unparse_cidr(self, node, depth):
        return node.text, P_ATOM

    def unparse_regex(self, node, depth):
        return f"/{node.pattern.replace('/', chr(92) + '/')}/{node.flags}", P_ATOM

    def unparse_word(self, node, depth):
        return node.name, P_ATOM

    def unparse_field(self, node, depth):
        return ".".join(node.parts), P_ATOM

    def unparse_list_ref(self, node, depth):
        return f"@{node.name}", P_ATOM

    def unparse_call(self, node, depth):
        return f"{node.name}({', '.join(self.expr(a) for a in node.args)})", P_ATOM

    def unparse_tuple(self, node, depth):
        inner = ", ".join(self.expr(i) for i in node.items)
        return f"({inner})", P_ATOM

    def unparse_list_lit(self, node, depth):
        return f"[{', '.join(self.expr(i) for i in node.items)}]", P_ATOM

    def unparse_or(self, node, depth):
        return " or ".join(self.expr(o, P_AND) for o in node.operands), P_OR

    def unparse_and(self, node, depth):
        return " and ".join(self.expr(o, P_NOT) for o in node.operands), P_AND

    def unparse_not(self, node, depth):
        return f"not {self.expr(node.operand, P_NOT)}", P_NOT

    def unparse_compare(self, node, depth):
        return f"{self.expr(node.left, P_SUM)} {node.op} {self.expr(node.right, P_SUM)}", P_CMP

    def unparse_in(self, node, depth):
        op = "not in" if node.negated else "in"
        target = node.target
        if isinstance(target, (ast.Tuple, ast.ListLit, ast.ListRef, ast.Field, ast.Cidr)):
            t = self.expr(target)
        else:  # not producible by the parser; keep it valid text anyway
            t = f"({self.expr(target)},)"
        return f"{self.expr(node.item, P_SUM)} {op} {t}", P_CMP

    def unparse_glob(self, node, depth):
        return f"{self.expr(node.left, P_SUM)} ~ {self.expr(node.pattern, P_SUM)}", P_CMP

    def unparse_regex_match(self, node, depth):
        return f"{self.expr(node.left, P_SUM)} =~ {self.expr(node.pattern, P_SUM)}", P_CMP

    def unparse_bin_op(self, node, depth):
        prec = P_SUM if node.op in _SUM_OPS else P_PRODUCT
        left = self.expr(node.left, prec)
        right = self.expr(node.right, prec + 1)
        # A '-' right after a dotted path would be read as part of the name.
        return f"{left} {node.op} {right}", prec

    def unparse_neg(self, node, depth):
        inner = self.expr(node.operand, P_UNARY)
        if inner.startswith("-"):
            inner = f"({inner})"
        return f"-{inner}", P_UNARY


_LEAF_ELEMENTS = (
    ast.Import, ast.ListDecl, ast.MacroDecl, ast.MetaEntry, ast.ByClause, ast.WithinClause,
    ast.WindowClause, ast.WhereClause, ast.WhenClause, ast.HavingClause, ast.UntilClause,
    ast.UnlessBetween, ast.UnlessAfter, ast.EmitEntry, ast.Suppress, ast.FromMatches, ast.Limit,
    ast.Fingerprint, ast.Refire, ast.Pipe, ast.SeqStep, ast.EventLit, ast.EventRepeat, ast.EventsFile,
    ast.ExpectMatch, ast.ExpectNone, ast.ExpectCount,
)


@functools.cache
def keywords() -> frozenset[str]:
    """The grammar's keywords (`rule`, `window`, `by`, ...), from the parser itself."""
    from .parse import parser

    return frozenset(t.pattern.value for t in parser().terminals
                     if t.pattern.type == "str" and _IDENT.match(t.pattern.value))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _build_dispatch(obj, prefix: str) -> dict[type, object]:
    """Map every concrete node class to the pass's `<prefix><snake_class>` handler."""
    table = {}
    for cls in ast.concrete_classes():
        handler = getattr(obj, prefix + _snake(cls.__name__), None)
        if handler is not None:
            table[cls] = handler
    return table


def format_source(text: str, file: str = "<input>") -> str:
    """`sleuth fmt` of a whole file: canonical text, comments kept in place.

    Raises `RuleSyntaxError` when the text does not parse.
    """
    from .parse import comments, parse

    module = parse(text, file)
    return Unparser(comments=comments(text)).module(module)


def unparse(node: ast.Node) -> str:
    """Canonical text of a module, declaration, clause or expression."""
    u = Unparser()
    if isinstance(node, ast.Module):
        return u.module(node)
    if isinstance(node, ast.Expr):
        return u.expr(node)
    return u.node(node)
