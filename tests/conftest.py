"""Shared fixtures and the golden-file helper.

Fixtures here are general (any test package may use them): `parse` and
`check` give the language front end, `rule_files` writes a small pack into a
temporary folder, and `golden` compares text with an expected file.
`pytest --update-golden` rewrites the expected files instead of comparing;
a reviewer then reads the diff (house-style section 6).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden (expected output) files instead of comparing with them")


# ---------------------------------------------------------------- golden files


class Golden:
    """Compare produced text with an expected file, or rewrite it (`--update-golden`)."""

    def __init__(self, update: bool):
        self.update = update

    def check(self, expected_path: str | os.PathLike, actual: str) -> None:
        path = Path(expected_path)
        if self.update:
            if not path.exists() or path.read_text(encoding="utf-8") != actual:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(actual, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"missing golden file {path}; run pytest --update-golden to create it",
                        pytrace=False)
        expected = path.read_text(encoding="utf-8")
        if expected != actual:
            diff = "".join(difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True),
                f"{path.name} (expected)", f"{path.name} (actual)"))
            pytest.fail(f"output differs from {path} (pytest --update-golden rewrites it):\n{diff}",
                        pytrace=False)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    """`golden.check(expected_path, actual_text)`."""
    return Golden(request.config.getoption("--update-golden"))


# ---------------------------------------------------------------- the language


@pytest.fixture
def parse() -> Callable:
    """`parse(text, file="<input>") -> ast.Module`; raises RuleSyntaxError."""
    from sleuth.dsl.parse import parse as _parse

    return _parse


@pytest.fixture
def check() -> Callable:
    """`check(text_or_sources) -> CheckedPack`, never raising on bad rules.

    A string is checked as one file named `<input>`; a mapping is path → text.
    """
    from sleuth.dsl.pack import check_sources

    def _check(sources: str | dict[str, str]):
        if isinstance(sources, str):
            sources = {"<input>": sources}
        return check_sources(sources)

    return _check


@pytest.fixture
def rule_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict], Path]:
    """Write files (relative path → str or bytes) under a temp dir and chdir there.

    Diagnostics then name files by their short relative paths, as
    `sleuth check` run inside the pack would.
    """
    monkeypatch.chdir(tmp_path)

    def _write(files: dict[str, str | bytes]) -> Path:
        for rel, content in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return tmp_path

    return _write
