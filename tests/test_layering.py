"""The import rule of house-style section 1, one test id per module, and the map of modules.

`sleuth.engine` never imports `sleuth.dsl`, `sleuth.playground` or `lark`;
`sleuth.dsl` never imports `sleuth.playground`; `dsl/ast.py` imports nothing
from the package but `span.py`; no modules import each other in a cycle.
Imports are read with `ast` (relative ones resolved, imports inside
functions included), so nothing is executed. docs/modules.md lists every
module with what it holds: exactly the modules there are.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"engine": "sleuth.engine", "dsl": "sleuth.dsl", "playground": "sleuth.playground"}

# importer prefix -> forbidden import prefixes
FORBIDDEN = {
    "sleuth.engine": ("sleuth.dsl", "sleuth.playground", "lark"),
    "sleuth.dsl": ("sleuth.playground",),
}
# modules that may import only these package modules
ONLY = {"sleuth.dsl.ast": ("sleuth.dsl.span",)}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO)
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:]]
    parts[-1] = parts[-1][: -len(".py")]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, is_package: bool = False) -> list[str]:
    """Absolute names of everything `source` imports (relative imports resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if node.module is None:
                # `from . import x`: x is a module of the package (or a name in it).
                out.extend(f"{prefix}.{alias.name}" for alias in node.names)
            else:
                out.append(prefix)
    return out


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(module: str, names: list[str]) -> list[str]:
    out = []
    for importer, banned in FORBIDDEN.items():
        if _within(module, importer):
            out += [f"{module} imports {n}" for n in names if any(_within(n, b) for b in banned)]
    if module in ONLY:
        out += [f"{module} imports {n} (allowed: {', '.join(ONLY[module])})" for n in names
                if _within(n, "sleuth") and n not in ONLY[module]]
    return out


def _modules() -> list[Path]:
    return sorted(p for folder in PACKAGES for p in (REPO / folder).rglob("*.py")
                  if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports(path: Path) -> None:
    module = module_name(path)
    names = imported_names(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert violations(module, names) == []


# The walker itself: a forbidden edge written each way is caught.
@pytest.mark.parametrize("module, source, expected", [
    ("sleuth.engine.x", "import lark", ["sleuth.engine.x imports lark"]),
    ("sleuth.engine.x", "from lark.exceptions import UnexpectedInput",
     ["sleuth.engine.x imports lark.exceptions"]),
    ("sleuth.engine.x", "from ..dsl import parse", ["sleuth.engine.x imports sleuth.dsl"]),
    ("sleuth.engine.x", "def f():\n    from ..playground import cli\n",
     ["sleuth.engine.x imports sleuth.playground"]),
    ("sleuth.engine.x", "import larkspur\nfrom . import prims", []),
    ("sleuth.dsl.check", "from sleuth.playground.cli import main",
     ["sleuth.dsl.check imports sleuth.playground.cli"]),
    ("sleuth.dsl.ast", "from . import check",
     ["sleuth.dsl.ast imports sleuth.dsl.check (allowed: sleuth.dsl.span)"]),
    ("sleuth.dsl.ast", "from .span import Span\nimport attrs", []),
], ids=["engine-lark", "engine-lark-from", "engine-relative-dsl", "engine-in-function",
        "engine-ok", "dsl-playground", "ast-check", "ast-ok"])
def test_walker_finds_forbidden_edges(module: str, source: str, expected: list[str]) -> None:
    assert violations(module, imported_names(source, module)) == expected


def test_module_names() -> None:
    assert module_name(REPO / "dsl" / "ast.py") == "sleuth.dsl.ast"
    assert module_name(REPO / "engine" / "__init__.py") == "sleuth.engine"
    assert imported_names("from . import x", "sleuth.engine", is_package=True) == ["sleuth.engine.x"]


# ---------------------------------------------------------------- cycles and the map


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (a name resolves to its longest module prefix)."""
    paths = {module_name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        deps = set()
        for name in imported_names(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            parts = name.split(".")
            for k in range(len(parts), 0, -1):
                target = ".".join(parts[:k])
                if target in paths:
                    if target != module:
                        deps.add(target)
                    break
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


MAP = REPO / "docs" / "modules.md"
_MAP_LINE = re.compile(r"^- `((?:engine|dsl|playground)/[A-Za-z0-9_/]+\.py)`: \S", re.M)


def test_the_map_lists_exactly_the_modules() -> None:
    listed = _MAP_LINE.findall(MAP.read_text(encoding="utf-8"))
    assert len(listed) == len(set(listed)), "a module is listed twice in docs/modules.md"
    actual = {str(p.relative_to(REPO)) for p in _modules()}
    assert sorted(actual - set(listed)) == [], "add these modules to docs/modules.md"
    assert sorted(set(listed) - actual) == [], "docs/modules.md lists modules that do not exist"
