"""Tests of the playground marked `slow` (the simulator's scale-1 and six-hour runs) are skipped
unless `-m slow` is given or `SLEUTH_SLOW=1` is set, as in the reliability suite."""

from __future__ import annotations

import os

import pytest


def _slow_enabled(config: pytest.Config) -> bool:
    if os.environ.get("SLEUTH_SLOW") == "1":
        return True
    expr = config.getoption("-m") or ""
    return "slow" in expr and "not slow" not in expr


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("slow") is not None and not _slow_enabled(item.config):
        pytest.skip("slow test: run with -m slow or SLEUTH_SLOW=1")
