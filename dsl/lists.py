"""Lists of values: `list name = [...]`, `list name = file("...")`, and `x in (a, b)`.

Part of stage 3 (the checker). A list declaration becomes one
`ir.SetConst`: its values read from a list file (one a line, `#` comments)
or from literal items, classified as ints, numbers, IPs/networks or strings
(the compiler picks a membership test per kind: a frozenset, or the
engine's interval map for networks). Reading a list never raises: what goes
wrong comes back as diagnostics.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable

from . import ast, ir
from .diagnostic import ERROR, Diagnostic

_LIST_COMMENT = re.compile(r"(?:^|(?<=\s))#")

#: What `literal_value` returns for an expression that is not a literal.
NOT_CONST = object()


def read_list_file(path: str) -> list[str]:
    """Values of a list file: one a line, `#` comments and blank lines skipped.

    A comment starts a line or follows whitespace (`C#` is a value), as for
    the engine's `RefList` (docs/input.md). Raises OSError, UnicodeDecodeError
    or ValueError (a NUL in the path).
    """
    with open(path, encoding="utf-8") as fh:
        out = []
        for line in fh:
            line = _LIST_COMMENT.split(line, maxsplit=1)[0].strip()
            if line:
                out.append(line)
        return out


def is_ip_or_net(text: str) -> bool:
    """Whether `text` is an IPv4/IPv6 address or network (`10.0.0.0/8`)."""
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


def classify_values(values: list, *, from_text: bool = False) -> tuple[frozenset, str]:
    """(values, kind) for list items: all ints → int, all IP/CIDR → ip, else str/mixed.

    `from_text`: the values were read from a list file, where everything is
    text, so digit strings are numbers. A quoted literal stays a string.
    """
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return frozenset(values), "int"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return frozenset(values), "num"
    strs = [v for v in values if isinstance(v, str)]
    if values and len(strs) == len(values):
        if all(is_ip_or_net(v) for v in strs):
            return frozenset(strs), "ip"
        if from_text and all(re.fullmatch(r"-?[0-9]+", v) for v in strs):
            return frozenset(int(v) for v in strs), "int"
        return frozenset(strs), "str"
    return frozenset(values), "mixed" if values else "str"


def literal_value(node: ast.Expr):
    """The constant value of a literal (`"a"`, `3`, `-2.5`, `10.0.0.0/8`, `5m`), else `NOT_CONST`."""
    if isinstance(node, (ast.String, ast.IntLit, ast.FloatLit, ast.BoolLit)):
        return node.value
    if isinstance(node, ast.Cidr):
        return node.text
    if isinstance(node, ast.Duration):
        return node.seconds
    if isinstance(node, ast.Neg) and isinstance(node.operand, (ast.IntLit, ast.FloatLit)):
        return -node.operand.value
    return NOT_CONST


def load_list(decl: ast.ListDecl, file: str,
              read_list: Callable[[str], list[str]] = read_list_file) -> tuple[ir.SetConst, list[Diagnostic]]:
    """The value of a list declared in `file`, and the errors met reading it.

    A list file's path is relative to the declaring file. An unreadable
    file or a non-literal item is an error; the list then holds what could
    be read (possibly nothing), so checking goes on.
    """
    diags: list[Diagnostic] = []
    values: list = []
    if decl.file is not None:
        path = os.path.normpath(os.path.join(os.path.dirname(file), decl.file))
        try:
            values = read_list(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            diags.append(Diagnostic(
                "unreadable-list", ERROR, f"cannot read list file '{decl.file}'", decl.span,
                (f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError)
                 else "the file is not valid UTF-8" if isinstance(exc, UnicodeDecodeError)
                 else "the path is not a valid file name",)))
        source = path
    else:
        source = None
        for item in decl.items or ():
            v = literal_value(item)
            if v is NOT_CONST:
                diags.append(Diagnostic("non-constant-list", ERROR, "list items must be literals", item.span,
                                        ('write strings, numbers or CIDRs: ["a", 1, 10.0.0.0/8]',)))
            else:
                values.append(v)
    vals, kind = classify_values(values, from_text=decl.file is not None)
    return ir.SetConst(vals, kind, decl.name, source, span=decl.span), diags


__all__ = ["read_list_file", "is_ip_or_net", "classify_values", "literal_value", "NOT_CONST", "load_list"]
