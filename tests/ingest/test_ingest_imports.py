"""The ingest modules import only the standard library and the engine's allowed dependencies."""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

ENGINE = pathlib.Path(__file__).resolve().parent.parent.parent / "engine"
MODULES = ["normalize", "source", "quarantine", "openapi", "reflist", "enrich"]
ALLOWED = {"attrs", "sortedcontainers", "msgpack", "orjson", "yaml"}


@pytest.mark.parametrize("module", MODULES)
def test_imports(module):
    tree = ast.parse((ENGINE / f"{module}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside sleuth.engine
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in ALLOWED or top == "__future__", (module, name)
