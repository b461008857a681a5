"""Every example of docs/language.md is a complete file that does what it says.

A ```ttp block parses, checks without errors and round-trips through
`unparse`; a ```ttp-error block produces the code named on its first line
(`# error: code`). A block whose first line is `# file: path` (or whose fence
says `file=path`, for data such as list files) is also written under that
path next to every example, so examples can import it. One pytest id per
block: `language.md:<line>`. The doc's tables are checked against the
checker too: every function, aggregate and diagnostic code is documented.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from sleuth.dsl import vocabulary
from sleuth.dsl.pack import check_paths
from sleuth.dsl.parse import parse
from sleuth.dsl.unparse import format_source, unparse

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"
FENCE = re.compile(r"^```([\w-]*)(?:[ \t]+file=(\S+))?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _blocks() -> list[tuple[int, str, str | None, str]]:
    """(line, kind, file name or None, text) of every fenced block."""
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        kind, name, body = m.group(1), m.group(2), m.group(3)
        if name is None:
            first = re.match(r"#\s*file:\s*(\S+)", body)
            name = first.group(1) if first else None
        out.append((text.count("\n", 0, m.start()) + 1, kind, name, body))
    return out


BLOCKS = _blocks()
EXAMPLES = [b for b in BLOCKS if b[1] in ("ttp", "ttp-error")]


def _param(block):
    line, kind, _name, _body = block
    return pytest.param(block, id=f"language.md:{line}" + (" error" if kind == "ttp-error" else ""))


@pytest.fixture
def doc_pack(rule_files):
    """A folder holding every `file` block of the doc."""
    return rule_files({name: body for _line, _kind, name, body in BLOCKS if name})


def _check(block, doc_pack: Path):
    _line, _kind, name, body = block
    name = name or "example.ttp"
    (doc_pack / name).write_text(body, encoding="utf-8")
    return check_paths([name])


def _describe(diags) -> str:
    return "\n".join(f"  {d.span.file}:{d.span.line}:{d.span.col} {d.severity}[{d.code}] {d.message}"
                     for d in diags)


@pytest.mark.parametrize("block", [_param(b) for b in EXAMPLES if b[1] == "ttp"])
def test_example_checks_cleanly(block, doc_pack: Path) -> None:
    checked = _check(block, doc_pack)
    assert checked.errors == [], "\n" + block[3] + "\n" + _describe(checked.errors)


@pytest.mark.parametrize("block", [_param(b) for b in EXAMPLES if b[1] == "ttp"])
def test_example_round_trips(block) -> None:
    body = block[3]
    module = parse(body)
    assert parse(unparse(module)) == module
    assert parse(format_source(body)) == module


@pytest.mark.parametrize("block", [_param(b) for b in EXAMPLES if b[1] == "ttp-error"])
def test_error_example_gives_its_code(block, doc_pack: Path) -> None:
    body = block[3]
    stated = re.match(r"#\s*error:\s*([a-z-]+)", body)
    assert stated, "a ttp-error block starts with '# error: <code>'"
    checked = _check(block, doc_pack)
    assert stated.group(1) in {d.code for d in checked.errors}, "\n" + body + "\n" + _describe(checked.diagnostics)


def test_doc_has_examples() -> None:
    assert len([b for b in EXAMPLES if b[1] == "ttp"]) >= 10
    assert any(b[1] == "ttp-error" for b in EXAMPLES)


def _documented(name: str) -> bool:
    return f"`{name}" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(vocabulary.FUNCTIONS) + sorted(vocabulary.AGGREGATES)
                         + [vocabulary.INTERARRIVAL_CALL])
def test_every_function_is_documented(name: str) -> None:
    assert _documented(name + "(")


@pytest.mark.parametrize("name", sorted(vocabulary.LIMITS))
def test_every_limit_is_documented(name: str) -> None:
    assert _documented(name + "`")


def _codes() -> list[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from test_diagnostics import _emitted_codes
    finally:
        sys.path.pop(0)
    return sorted(_emitted_codes())


@pytest.mark.parametrize("code", _codes())
def test_every_code_is_in_the_codes_table(code: str) -> None:
    assert re.search(rf"^\| `{re.escape(code)}` \|", DOC.read_text(encoding="utf-8"), re.M) or \
        f"`{code}`" in DOC.read_text(encoding="utf-8").split("### Codes", 1)[1]
