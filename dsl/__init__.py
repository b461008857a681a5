"""sleuth.dsl: the rule language: grammar, AST, checks, compiler, pack loading.

`load_pack(path)` parses, checks and compiles a pack (a folder of `.ttp`
files) into a `sleuth.engine.PackSpec`, raising `PackError` with every
diagnostic at once when something is wrong.
"""

from .diagnostic import Diagnostic as Diagnostic
from .errors import PackError as PackError
from .errors import RuleCheckError as RuleCheckError
from .errors import RuleSyntaxError as RuleSyntaxError
from .pack import check_paths as check_paths
from .pack import load_pack as load_pack
from .parse import parse as parse

__all__ = ["Diagnostic", "PackError", "RuleCheckError", "RuleSyntaxError", "check_paths", "load_pack", "parse"]
