"""The ingest stage imports only the standard library, the engine's allowed dependencies,
and the engine modules below the rules (schema, quarantine, errors, reference lists, the code writer):
never the machines, the dispatch or the engine itself."""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

ENGINE = pathlib.Path(__file__).resolve().parent.parent.parent / "engine"
MODULES = sorted(str(p.relative_to(ENGINE).with_suffix("")) for p in (ENGINE / "ingest").glob("*.py")) + [
    "quarantine", "reflist", "schema"]
ALLOWED = {"attrs", "sortedcontainers", "msgpack", "orjson", "yaml"}
# engine modules (relative to the engine package) an ingest module may import
ENGINE_BELOW_RULES = {"quarantine", "schema", "errors", "reflist", "pycode"}


def test_every_ingest_module_is_checked():
    assert {"ingest/source", "ingest/normalize", "ingest/openapi", "ingest/enrich", "ingest/timestamp",
            "ingest/mapping", "ingest/accesslog"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_imports(module):
    tree = ast.parse((ENGINE / f"{module}.py").read_text(encoding="utf-8"))
    in_ingest = module.startswith("ingest/")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside sleuth.engine
                targets = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
                for target in targets:
                    inside_ingest = in_ingest and node.level == 1 or not in_ingest and target == "ingest"
                    assert inside_ingest or target in ENGINE_BELOW_RULES, (module, node.level, target)
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in ALLOWED or top == "__future__", (module, name)
