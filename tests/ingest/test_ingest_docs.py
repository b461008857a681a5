"""The examples of docs/input.md are real: run every >>> line from the repository root."""

from __future__ import annotations

import doctest
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def test_input_md_examples(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = doctest.testfile(str(ROOT / "docs" / "input.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS, verbose=False, report=True)
    assert result.attempted > 20
    assert result.failed == 0
