"""Shared fixtures, the test tiers, real data and the golden-file helper.

Fixtures here are general (any test package may use them): `parse` and
`check` give the language front end, `rule_files` writes a small pack into a
temporary folder, and `golden` compares text with an expected file.
`pytest --update-golden` rewrites the expected files instead of comparing;
a reviewer then reads the diff (house-style section 6).

Tiers (markers declared in pyproject.toml): `slow` tests are skipped unless
the `-m` expression asks for them (`-m slow`) or `SLEUTH_SLOW=1` is set;
`quality` tests (detection quality on simulated and real traffic) run by
default and are left out of the inner loop, `pytest -m "not slow and not
quality"`. Real public data stays outside the project: `shared_data(name)`
finds it and skips when it is absent.
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


# ---------------------------------------------------------------- tiers


def slow_requested(config: pytest.Config) -> bool:
    """Whether this run asked for `slow` tests: `-m` selects them, or SLEUTH_SLOW=1."""
    if os.environ.get("SLEUTH_SLOW") == "1":
        return True
    expr = config.getoption("-m") or ""
    return "slow" in expr and "not slow" not in expr


# Property tests that do not set `max_examples` themselves (the front end's,
# tests/dsl/test_fuzz.py) follow the tiers too: a small run by default, a
# long one when the slow tier is asked for.
HYPOTHESIS_EXAMPLES = {"default": 40, "slow": 400}


def pytest_configure(config: pytest.Config) -> None:
    try:
        from hypothesis import settings
    except ImportError:          # hypothesis is a test extra; its tests skip without it
        return
    if config.getoption("hypothesis_profile", None):
        return                   # an explicit --hypothesis-profile wins
    tier = "slow" if slow_requested(config) else "default"
    settings.register_profile(f"sleuth-{tier}", max_examples=HYPOTHESIS_EXAMPLES[tier])
    settings.load_profile(f"sleuth-{tier}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # One policy for the whole suite: a slow test never runs by accident (plain
    # `pytest`, `-k`, a file path), only when the run names the tier.
    if slow_requested(config):
        return
    skip = pytest.mark.skip(reason="slow test: run with -m slow or SLEUTH_SLOW=1")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


# ---------------------------------------------------------------- real data


from shared_data import SHARED_DATA_ENV, shared_data  # noqa: E402,F401  (one home: tests/shared_data.py)

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
