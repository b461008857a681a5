"""Where the tests find the real public data kept outside the project (`../shared/data`).

A module of its own, not a conftest fixture: tests import it by name
(`from shared_data import shared_data`), which stays unambiguous when
several folders hold a conftest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "SLEUTH_SHARED_DATA"


def shared_data(name: str) -> Path:
    """The folder `name` of the real public data kept outside the project.

    It is looked up as `<repo root>/../shared/data/<name>`, or under
    `$SLEUTH_SHARED_DATA` when that is set. When the folder is absent the
    calling test (or, at module level, the whole module) is skipped with
    the path that was looked at.
    """
    override = os.environ.get(SHARED_DATA_ENV)
    root = Path(override) if override else REPO.parent / "shared" / "data"
    path = root / name
    if not path.is_dir():
        pytest.skip(f"real data '{name}' not found at {path} (it is kept outside the project; "
                    f"set {SHARED_DATA_ENV} to the folder that holds it)", allow_module_level=True)
    return path
