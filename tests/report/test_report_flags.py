"""Every flag the engine can put on a match has its meaning on the report page."""

from __future__ import annotations

from sleuth.engine.state import CAP_FLAGS
from sleuth.playground.report.aggregate import KNOWN_FLAGS
from sleuth.playground.report.html import FLAG_MEANING


def test_every_engine_flag_is_explained_and_ordered():
    engine_flags = {f for f in CAP_FLAGS.values() if isinstance(f, str)} | {"window-sliced", "window-capped"}
    assert engine_flags <= set(FLAG_MEANING), engine_flags - set(FLAG_MEANING)
    assert set(KNOWN_FLAGS) == set(FLAG_MEANING)
