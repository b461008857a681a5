"""The import rule of house-style section 1, one test id per module.

`sleuth.engine` never imports `sleuth.dsl`, `sleuth.playground` or `lark`;
`sleuth.dsl` never imports `sleuth.playground`; `dsl/ast.py` imports nothing
from the package but `span.py`. Imports are read with `ast` (relative ones
resolved, imports inside functions included), so nothing is executed.
"""

from __future__ import annotations

import ast
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
