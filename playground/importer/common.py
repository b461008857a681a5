"""What the EQL and Sigma importers share: options, results, naming, rendering, checking.

Playground stage (`sleuth import`). A translator builds sleuth AST nodes
(`sleuth.dsl.ast`) and reports every semantic difference as a `Diagnostic`
against the source text (never a silent change); `render` turns the rules
into `sleuth fmt` text, each preceded by comments citing its source and the
differences; `verify` loads the result as a pack so an import never writes
a rule that does not compile.
"""

from __future__ import annotations

import re

import attrs

from sleuth.dsl import ast
from sleuth.dsl.diagnostic import ERROR, WARNING, Diagnostic
from sleuth.dsl.span import Span
from sleuth.dsl.unparse import keywords, quote, unparse
from sleuth.engine.schema import FIELDS, GOALS, SEVERITIES, TTPS

__all__ = ["ImportOptions", "Imported", "ImportResult", "Reporter", "rule_name", "render", "verify", "drop_unloadable",
           "field_node", "meta_clause", "GOALS", "TTPS", "SEVERITIES"]

G = Span("<generated>", 1, 1, 1, 1, 0, 0)   # the span of generated nodes (unparse keeps no comments for them)


@attrs.define
class ImportOptions:
    """Choices every importer takes from the command line."""

    ttp: str = "spec-anomaly"
    goal: str = "fraud"
    severity: str | None = None           # None: the source's level (Sigma) or "medium"
    prefix: str | None = None             # rule names: <prefix>_<n>
    fields: dict[str, str] = attrs.Factory(dict)   # source field -> sleuth field (profile, --map)
    case: str = "insensitive"             # EQL: how ==, in and keys compare strings
    event_type_field: str = "event_type"  # EQL: the field holding an event's type
    count_window: str = "30d"             # EQL `| count`: the tumbling window that counts


@attrs.define
class Imported:
    """One translated rule (or companion rule) with where it came from."""

    decl: ast.RuleDecl
    source: str                    # "file:line" of the query or rule
    original: str                  # the source text, for the comment
    notes: list[Diagnostic] = attrs.Factory(list)


@attrs.define
class ImportResult:
    """Everything an import produced: rules, diagnostics, the source texts (for rendering)."""

    rules: list[Imported] = attrs.Factory(list)
    diagnostics: list[Diagnostic] = attrs.Factory(list)
    sources: dict[str, str] = attrs.Factory(dict)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


class Reporter:
    """Collects diagnostics for one source unit; `failed` once an error was reported."""

    def __init__(self, file: str, text: str, base: int = 0):
        self.file = file
        self.text = text
        self.base = base              # offset of the unit inside the file
        self.diags: list[Diagnostic] = []

    def span(self, start: int = 0, end: int | None = None) -> Span:
        """The span of [start, end) of the unit, in file coordinates."""
        start += self.base
        end = start + 1 if end is None else end + self.base
        text = self.text
        line = text.count("\n", 0, start) + 1
        col = start - (text.rfind("\n", 0, start) + 1) + 1
        end_line = text.count("\n", 0, end) + 1
        end_col = end - (text.rfind("\n", 0, end) + 1) + 1
        return Span(self.file, line, col, end_line, end_col, start, end)

    def error(self, code: str, message: str, span: Span, *hints: str) -> None:
        self.diags.append(Diagnostic(code, ERROR, message, span, hints))

    def warn(self, code: str, message: str, span: Span, *hints: str) -> None:
        self.diags.append(Diagnostic(code, WARNING, message, span, hints))

    @property
    def failed(self) -> bool:
        return any(d.is_error for d in self.diags)


_IDENT = re.compile(r"[^A-Za-z0-9_]+")


def rule_name(text: str, taken: set[str]) -> str:
    """A rule name from any text (`Suspicious Login!` -> `suspicious_login`), unique in `taken`."""
    base = _IDENT.sub("_", text).strip("_").lower() or "imported"
    if base[0].isdigit():
        base = "r_" + base
    if base in keywords():
        base += "_rule"
    name = base
    n = 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


def field_node(path: str, options: ImportOptions) -> ast.Field:
    """A sleuth field for a source field name, through the field mapping."""
    mapped = options.fields.get(path, path)
    return ast.Field(tuple(mapped.split(".")), span=G)


def is_string_field(node: ast.Expr) -> bool:
    """A field the event schema types as a string (`lower()` is exact on it)."""
    return isinstance(node, ast.Field) and len(node.parts) == 1 and FIELDS.get(node.parts[0]) in ("str", "ip")


def is_number_field(node: ast.Expr) -> bool:
    return isinstance(node, ast.Field) and len(node.parts) == 1 and FIELDS.get(node.parts[0]) in ("int", "float", "time")


def meta_clause(title: str, options: ImportOptions, *, severity: str | None = None, description: str | None = None,
                references: tuple[str, ...] = (), tags: tuple[str, ...] = (), author: str | None = None
                ) -> ast.Meta:
    """`meta { ttp goal severity title ... }` for an imported rule."""
    sev = options.severity or severity or "medium"
    entries = [ast.MetaEntry("ttp", ast.String(options.ttp, span=G), span=G),
               ast.MetaEntry("goal", ast.String(options.goal, span=G), span=G),
               ast.MetaEntry("severity", ast.Word(sev, span=G), span=G),
               ast.MetaEntry("title", ast.String(title[:200], span=G), span=G)]
    if description:
        entries.append(ast.MetaEntry("description", ast.String(description[:2000], span=G), span=G))
    if author:
        entries.append(ast.MetaEntry("author", ast.String(author[:200], span=G), span=G))
    if references:
        entries.append(ast.MetaEntry("references", ast.ListLit(tuple(ast.String(r, span=G) for r in references),
                                                                span=G), span=G))
    if tags:
        entries.append(ast.MetaEntry("tags", ast.ListLit(tuple(ast.String(t, span=G) for t in tags), span=G),
                                     span=G))
    return ast.Meta(tuple(entries), span=G)


def render(result: ImportResult, header: str, lines: list | None = None) -> str:
    """The rule file: a header, then each rule after comments citing its source and its differences.

    `lines`, when given, receives (first line, last line) of each rule's block.
    """
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    for item in result.rules:
        out.append("")
        first = sum(x.count("\n") + 1 for x in out) + 1
        out.append(f"# from {item.source}:")
        for line in item.original.strip("\n").splitlines():
            out.append(f"#   {line.rstrip()}" if line.strip() else "#")
        for d in item.notes:
            out.append(f"# {d.severity}[{d.code}]: {d.message}")
        out.append(unparse(item.decl))
        if lines is not None:
            lines.append((first, sum(x.count("\n") + 1 for x in out)))
    return "\n".join(out) + "\n"


def drop_unloadable(result: ImportResult, file: str = "imported.ttp") -> None:
    """Leave out (as errors on their source) the translated rules sleuth's checker refuses.

    A translation can be refused for what only the checker knows (a regex
    shape that could backtrack, a duration out of range): that rule is an
    `import-check` error and is dropped, with the rules reading its matches.
    """
    from sleuth.dsl.pack import check_sources

    for _ in range(len(result.rules) + 1):
        lines: list[tuple[int, int]] = []
        text = render(result, "check", lines)
        errors = [d for d in check_sources({file: text}).diagnostics if d.is_error]
        if not errors:
            return
        bad: dict[int, Diagnostic] = {}
        for d in errors:
            for i, (a, b) in enumerate(lines):
                if a <= d.span.line <= b:
                    bad.setdefault(i, d)
        if not bad:
            return
        names = {result.rules[i].decl.name for i in bad}
        for i, d in sorted(bad.items()):
            item = result.rules[i]
            src_file, _, line = item.source.rpartition(":")
            span = Span(src_file, int(line or 1), 1, int(line or 1), 2, 0, 1)
            result.diagnostics.append(Diagnostic("import-check", ERROR, f"the translation of this rule does not "
                                                 f"load in sleuth: {d.message}", span,
                                                 (f"sleuth says {d.code}",)))
        result.rules = [r for i, r in enumerate(result.rules) if i not in bad and not _reads(r.decl, names)]


def _reads(decl: ast.RuleDecl, names: set[str]) -> bool:
    """A `from matches` rule reading one of `names`."""
    text = unparse(decl)
    return "from matches" in text and any(f'rule == "{n}"' in text for n in names)


def verify(text: str, file: str = "imported.ttp") -> list[Diagnostic]:
    """The errors of the rendered rules as a pack (an import must never write a rule that does not load)."""
    from sleuth.dsl.pack import check_sources

    checked = check_sources({file: text})
    return [d for d in checked.diagnostics if d.is_error]


def string(value: str) -> ast.String:
    return ast.String(value, span=G)


__all__ += ["G", "is_string_field", "is_number_field", "string", "quote"]
