"""Generate docs/rulepack.md from the rule files: `python -m sleuth.playground.rulepack_doc > docs/rulepack.md`.

The page is derived, never edited by hand: every row comes from a rule's
metadata (`ttp`, `goal`, `severity`, `title`, `description`,
`false_positives`, `blind_spots`) and from what the checker compiled (kind,
key, window or `within`, the tunables it reads). A test compares the
committed page with `generate()`, so the documentation cannot drift from
the pack.

Tunables of a rule are the macros with a constant value (thresholds) and the
lists it names directly (`@route_set`), with their values.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

import attrs

from sleuth.dsl import ast
from sleuth.dsl.pack import builtin_pack_path, check_paths
from sleuth.dsl.unparse import format_duration
from sleuth.engine.schema import GOALS, TTPS

__all__ = ["generate", "main"]

_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _walk(node):
    """Every AST node under `node` (attrs instances and tuples of them)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (tuple, list)):
            stack.extend(reversed(n))
            continue
        if not attrs.has(type(n)):
            continue
        yield n
        for f in attrs.fields(type(n)):
            if f.name == "span":
                continue
            stack.append(getattr(n, f.name))


def _literal(expr) -> str | None:
    if isinstance(expr, ast.Duration):
        return format_duration(expr.seconds)
    if isinstance(expr, (ast.IntLit, ast.FloatLit)):
        return f"{expr.value:g}" if isinstance(expr.value, float) else str(expr.value)
    if isinstance(expr, ast.String):
        return f'"{expr.value}"'
    return None


def _list_text(decl: ast.ListDecl) -> str:
    if decl.file is not None:
        return f'file("{decl.file}")'
    items = [(_literal(i) or "?") for i in decl.items or ()]
    if len(items) > 4:
        return "[" + ", ".join(items[:3]) + f", … {len(items) - 3} more]"
    return "[" + ", ".join(items) + "]"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _window(rule) -> str:
    if rule.kind == "sequence":
        return f"within {format_duration(rule.within)}" if rule.within else "-"
    if rule.kind == "window":
        if rule.window_kind == "session":
            text = f"session gap {format_duration(rule.window_gap)}"
        else:
            text = f"{format_duration(rule.window_size)} {rule.window_kind}"
        if rule.sustain:
            text += f", for {format_duration(rule.sustain)}"
        return text
    return "-"


def _kind(rule) -> str:
    kind = {"event": "single event", "sequence": "sequence", "join": "join", "window": "window"}[rule.kind]
    if rule.kind in ("sequence", "join"):
        kind += f" ({len(rule.steps)} step{'s' if len(rule.steps) != 1 else ''})"
    if rule.source == "matches":
        kind += " over matches"
    return kind


def generate(pack_path: str | None = None) -> str:
    """The Markdown text of the pack's reference page."""
    path = pack_path or builtin_pack_path()
    checked = check_paths([path])
    errors = [d for d in checked.diagnostics if d.is_error]
    if errors:
        raise ValueError(f"the pack has {len(errors)} error(s); run sleuth check {path}")
    macros: dict[str, dict[str, ast.MacroDecl]] = {}
    lists: dict[str, dict[str, ast.ListDecl]] = {}
    decls: dict[str, ast.RuleDecl] = {}
    imports: dict[str, list[str]] = {}
    for file, module in checked.modules.items():
        macros[file] = {d.name: d for d in module.decls if isinstance(d, ast.MacroDecl)}
        lists[file] = {d.name: d for d in module.decls if isinstance(d, ast.ListDecl)}
        imports[file] = [os.path.normpath(os.path.join(os.path.dirname(file), d.path))
                         for d in module.decls if isinstance(d, ast.Import)]
        for d in module.decls:
            if isinstance(d, ast.RuleDecl):
                decls[d.name] = d

    def visible(file: str, table: dict) -> dict:
        out: dict = {}
        for imp in imports.get(file, ()):
            out.update(table.get(imp, {}))
        out.update(table.get(file, {}))
        return out

    def tunables(rule) -> list[str]:
        ms, ls = visible(rule.file, macros), visible(rule.file, lists)
        seen: list[str] = []
        out: list[str] = []
        for node in _walk(decls[rule.name].clauses):
            if isinstance(node, ast.Field) and len(node.parts) == 1 and node.parts[0] in ms:
                name = node.parts[0]
                value = _literal(ms[name].body)
                if value is not None and name not in seen:
                    seen.append(name)
                    out.append(f"`{name}` = {value}")
            elif isinstance(node, ast.ListRef) and node.name in ls and "@" + node.name not in seen:
                seen.append("@" + node.name)
                out.append(f"`@{node.name}` = {_list_text(ls[node.name])}")
        return out

    rules = sorted(checked.rules, key=lambda r: (TTPS.index(r.ttp) if r.ttp in TTPS else 99, r.name))
    files = sorted({os.path.basename(r.file) for r in rules})
    lines = [
        "# The `api` rule pack",
        "",
        "<!-- Generated by `python -m sleuth.playground.rulepack_doc > docs/rulepack.md`;",
        "     do not edit: tests/rulepacks/test_rulepack_doc.py compares this page with the rule files. -->",
        "",
        f"`rulepacks/api/` ships {len(rules)} rules in {len(files)} files (one file per technique family, "
        "shared route map, lists and request classes in `common.ttp`). Every rule declares one technique "
        "(`ttp`) and one end goal (`goal`) from `shared/taxonomy.md`, the benign look-alikes it is built "
        "to leave alone (`false_positives`) and what it cannot see (`blind_spots`). Thresholds are macros "
        "and route sets are lists at the top of each file; detection quality on the simulator is in "
        "[detection.md](detection.md).",
        "",
        "## Rules per technique",
        "",
        "| ttp | rules |",
        "|---|---|",
    ]
    per_ttp = Counter(r.ttp for r in rules)
    for t in TTPS:
        names = ", ".join(f"`{r.name}`" for r in rules if r.ttp == t)
        lines.append(f"| `{t}` | {per_ttp.get(t, 0)}: {names} |")
    per_goal = Counter(r.goal for r in rules)
    lines += ["", "Goals: " + ", ".join(f"`{g}` {per_goal.get(g, 0)}" for g in GOALS) + ".", "",
              "## Rules", "",
              "| rule | ttp | goal | severity | kind | key | window / within | title |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rules:
        key = ", ".join(".".join(k.path) for k in r.keys) or "(global)"
        lines.append(f"| [`{r.name}`](#{r.name}) | `{r.ttp}` | `{r.goal}` | {r.severity} | {_kind(r)} | "
                     f"{_cell(key)} | {_window(r)} | {_cell(r.meta_value('title', ''))} |")
    lines += ["", "## Rule details", ""]
    for r in rules:
        lines += [f"### {r.name}", "",
                  f"`{os.path.basename(r.file)}` · `{r.ttp}` · goal `{r.goal}` · severity **{r.severity}** · "
                  f"{_kind(r)} · key {', '.join('`' + '.'.join(k.path) + '`' for k in r.keys) or '(global)'}"
                  f" · {_window(r)}" + (f" · suppress {format_duration(r.suppress)}" if r.suppress else ""),
                  "",
                  f"**{_cell(r.meta_value('title', ''))}.** {_cell(r.meta_value('description', ''))}", ""]
        tun = tunables(r)
        if tun:
            lines += ["Tunables: " + "; ".join(tun) + ".", ""]
        fps = r.meta_value("false_positives", ()) or ()
        if fps:
            lines.append("False positives it is built to avoid:")
            lines += [f"- {_cell(x)}" for x in fps]
            lines.append("")
        bss = r.meta_value("blind_spots", ()) or ()
        if bss:
            lines.append("Blind spots:")
            lines += [f"- {_cell(x)}" for x in bss]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sleuth.playground.rulepack_doc",
                                description="Print the Markdown reference of a rule pack.")
    p.add_argument("--pack", default=None, help="pack folder (default: the shipped rulepacks/api)")
    args = p.parse_args(argv)
    sys.stdout.write(generate(args.pack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
