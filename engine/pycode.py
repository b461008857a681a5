"""Generated Python code: one writer, one constant pool, one way to compile and register it.

Every generator of sleuth builds on this module: the language's code
generator (`sleuth.dsl.codegen`: predicates, keys, projections, dispatch),
the normaliser's fast-path checkers and the fused window updates. Values
never enter the source text: literals, tuples, sets, regexes and helper
functions are bound as `k<n>` constants (parameters of a factory function),
so a hostile string cannot become code; only names, operators and small
structural integers (slot and bit numbers) are written, and every line must
be printable ASCII. Source is compiled under a unique fake filename and
registered in `linecache` (attrs' `_linecache_and_compile`), so tracebacks,
pdb and `inspect.getsource` show it, and `Consts.listing()` shows the
constants beside it (`sleuth explain`).
"""

from __future__ import annotations

import itertools
import linecache
import re
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["Consts", "LineInfo", "Writer", "compile_factory", "compile_source", "describe", "unique_filename"]

_SAFE_LINE = re.compile(r"[ -~]*")
_counter = itertools.count(1)


@attrs.frozen(eq=False)
class LineInfo:
    """Where a generated line comes from: rule and rule-file position."""

    rule: str
    file: str
    line: int
    text: str = ""


class Writer:
    """Source text with indentation and a generated-line -> `LineInfo` map.

    Every line must be printable ASCII without line breaks (`ValueError`
    otherwise): values are `k<n>` constants, names are identifiers. A line
    written without a `LineInfo` inherits the previous line's.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.map: dict[int, LineInfo] = {}
        self.depth = 0

    def line(self, text: str, info: LineInfo | None = None) -> None:
        """Append one line at the current indentation."""
        if not _SAFE_LINE.fullmatch(text):
            raise ValueError(f"refusing to generate a line with unsafe characters: {text[:60]!r}")
        self.lines.append("    " * self.depth + text)
        n = len(self.lines)
        if info is not None:
            self.map[n] = info
        elif n - 1 in self.map:
            self.map[n] = self.map[n - 1]

    def indent(self) -> None:
        self.depth += 1

    def dedent(self) -> None:
        self.depth -= 1

    @property
    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


class Consts:
    """The `k<n>` constant pool of one generated factory (equal values share a name)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[Any, int] = {}
        self.reloadable: list = []        # file lists bound here (reloaded under --follow)

    def add(self, value: Any, key: Any = None) -> str:
        """The name bound to `value` (`key` identifies it when equality is not enough)."""
        key = (type(value), value) if key is None else key
        try:
            if key in self.index:
                return f"k{self.index[key]}"
        except TypeError:
            key = ("id", id(value))
        self.index[key] = len(self.values)
        self.values.append(value)
        return f"k{len(self.values) - 1}"

    @property
    def names(self) -> list[str]:
        return [f"k{i}" for i in range(len(self.values))]

    def listing(self) -> list[str]:
        """`k0 = 'user'` per constant, deterministic and bounded (for explain)."""
        return [f"k{i} = {describe(v)}" for i, v in enumerate(self.values)]


def describe(value: Any, limit: int = 120) -> str:
    """A constant as a person reads it: `repr` for plain values, sets sorted, regexes and
    functions by name, cut at `limit` characters; the same text in every process."""
    t = type(value)
    if t in (str, int, float, bool, bytes) or value is None:
        text = repr(value)
    elif t is tuple:
        inner = ", ".join(describe(v, limit) for v in value)
        text = f"({inner},)" if len(value) == 1 else f"({inner})"
    elif t in (frozenset, set):
        text = "{" + ", ".join(sorted(describe(v, limit) for v in value)) + "}" if value else f"{t.__name__}()"
    elif isinstance(getattr(value, "__self__", None), re.Pattern):    # a compiled regex's search
        text = describe(value.__self__, limit)
    elif isinstance(value, re.Pattern):
        flags = value.flags & ~re.UNICODE
        text = f"re.compile({value.pattern!r}{f', {re.RegexFlag(flags)!r}' if flags else ''})"
    elif callable(value) and hasattr(value, "__qualname__"):
        text = f"<{getattr(value, '__module__', '') or ''}.{value.__qualname__}>".replace("<.", "<")
    else:
        text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unique_filename(kind: str, label: str) -> str:
    """A fake filename for generated code, unique per process (attrs' scheme)."""
    safe = re.sub(r"[^A-Za-z0-9_./:=-]", "_", label)[:80]
    return f"<sleuth {kind} {safe} #{next(_counter)}>"


def compile_source(source: str, filename: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Compile `source`, register it in `linecache` under `filename`, run it in `namespace` (returned)."""
    code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(code, namespace)
    return namespace


def compile_factory(w: Writer, consts: Consts, name: str, returns: str, filename: str,
                    namespace: dict[str, Any], params: tuple[str, ...] = ()) -> tuple[Callable, str, dict]:
    """Wrap `w`'s functions in `def name(k0, k1, ..., *params): ...; return <returns>` and compile it.

    Returns the factory (call it with `*consts.values, *params`), the full
    source, and the line map shifted by the header line.
    """
    header = f"def {name}({', '.join([*consts.names, *params])}):"
    lines = [header] + ["    " + ln if ln else ln for ln in w.source.splitlines()]
    lines.append(f"    return {returns}")
    source = "\n".join(lines) + "\n"
    factory = compile_source(source, filename, namespace)[name]
    return factory, source, {k + 1: v for k, v in w.map.items()}
