"""Fixtures and helpers of the reliability suite (docs/reliability.md).

Tests marked `slow` (the 1M-key explosion, the big kill-and-resume input)
follow the suite's one policy (tests/conftest.py): skipped unless `-m slow`
is given or `SLEUTH_SLOW=1` is set, so the default `pytest tests/reliability`
stays around a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def multi_pack():
    """The compiled multi-rule pack of `packs.MULTI`."""
    from packs import MULTI

    from sleuth.dsl import load_pack

    return load_pack(sources={"multi.ttp": MULTI})
