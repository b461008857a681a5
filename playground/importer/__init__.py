"""Importers of existing detections: EQL queries and Sigma rules to sleuth rules.

Playground stage, behind `sleuth import eql|sigma` (`playground/cmd_import.py`).
Each importer builds sleuth AST nodes and reports every semantic difference
as a diagnostic on the source (`common.py`); `eql.py` parses EQL with its own
grammar (`eql.lark`), `sigma.py` reads Sigma YAML with pySigma when the
optional extra `import` is installed and with a small reader of its own
otherwise. The table of constructs is docs/importing.md.
"""

from .common import ImportOptions as ImportOptions
from .common import ImportResult as ImportResult
from .common import render as render
from .common import verify as verify
from .eql import import_eql as import_eql

__all__ = ["ImportOptions", "ImportResult", "import_eql", "render", "verify"]
