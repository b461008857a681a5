"""Fixtures and helpers of the reliability suite (docs/reliability.md).

Tests marked `slow` (the 1M-key explosion, the long fuzz, the big
kill-and-resume input) are skipped unless `-m slow` is given or
`SLEUTH_SLOW=1` is set, so the default `pytest tests/reliability` stays
around a minute.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def _slow_enabled(config: pytest.Config) -> bool:
    if os.environ.get("SLEUTH_SLOW") == "1":
        return True
    expr = config.getoption("-m") or ""
    return "slow" in expr and "not slow" not in expr


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slow") is not None and not _slow_enabled(item.config):
        pytest.skip("slow test: run with -m slow or SLEUTH_SLOW=1")


@pytest.fixture(scope="session")
def multi_pack():
    """The compiled multi-rule pack of `packs.MULTI`."""
    from packs import MULTI

    from sleuth.dsl import load_pack

    return load_pack(sources={"multi.ttp": MULTI})
