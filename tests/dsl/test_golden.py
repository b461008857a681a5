"""Golden files: the AST of `golden/parse/*.ttp`, the rendered diagnostics of
`golden/diagnostics/*.ttp`. `pytest --update-golden` rewrites the expected
files; review the diff.

`*.ast.txt` is the repr of the parsed module (spans are not in the repr),
laid out one field a line so that it diffs well; it evaluates back to the
same tree. `*.err.txt` is exactly what `sleuth check <file>` prints on
stdout, without colour, run inside the golden folder (helper files that
are imported live in `lib/`, which is not globbed).
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from sleuth.dsl import ast as A
from sleuth.dsl.parse import parse
from sleuth.playground.cli import main

GOLDEN = Path(__file__).parent / "golden"
PARSE = sorted((GOLDEN / "parse").glob("*.ttp"))
DIAGNOSTICS = sorted((GOLDEN / "diagnostics").glob("*.ttp"))
WIDTH = 100


def pretty(value, depth: int = 0) -> str:
    """`repr(value)`, broken over lines (two-space indent) when longer than WIDTH."""
    flat = repr(value)
    if len(flat) + 2 * depth <= WIDTH or not isinstance(value, (A.Node, tuple)) or not value:
        return flat
    if isinstance(value, A.Node):
        items = [f"{f.name}={pretty(getattr(value, f.name), depth + 1)}"
                 for f in attrs.fields(type(value)) if f.repr]
        head = f"{type(value).__name__}("
    else:
        items = [pretty(v, depth + 1) for v in value]
        head = "("
    pad = "  " * (depth + 1)
    return head + "".join(f"\n{pad}{item}," for item in items) + "\n" + "  " * depth + ")"


def _id(path: Path) -> str:
    return path.name


def test_enough_goldens() -> None:
    assert len(PARSE) >= 8
    assert len(DIAGNOSTICS) >= 10


@pytest.mark.parametrize("path", PARSE, ids=_id)
def test_parse_golden(path: Path, golden) -> None:
    module = parse(path.read_text(encoding="utf-8"), path.name)
    text = pretty(module) + "\n"
    golden.check(path.with_suffix(".ast.txt"), text)
    # The layout is only whitespace: the golden reads back as the same tree.
    assert eval(text, {name: getattr(A, name) for name in dir(A)}) == module


@pytest.mark.parametrize("path", DIAGNOSTICS, ids=_id)
def test_diagnostics_golden(path: Path, golden, capsys: pytest.CaptureFixture,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parent)
    monkeypatch.setenv("NO_COLOR", "1")
    code = main(["check", path.name])
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    assert code == 1, "every diagnostics golden holds at least one error"
    golden.check(path.with_suffix(".err.txt"), out)


def test_pretty_round_trips_small_values() -> None:
    node = parse("macro m = a == 1").decls[0]
    assert pretty(node) == repr(node)
    assert pretty(()) == "()"
