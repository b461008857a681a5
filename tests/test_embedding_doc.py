"""docs/embedding.md runs: every Python block, in order, in one namespace.

The folder holds what the page says: `sim/` from `sleuth simulate --hours 0.1
--seed 3 --scale 0.05 -o sim`; the blocks write `sleuth.toml` themselves and
assert their own results (the embedded engine equals `sleuth run`, a restored
snapshot equals the uninterrupted run, threads through `SharedEngine` give no
rule error, a sharded run by the partition plan finds the same matches).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sleuth.playground.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "embedding.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_page_has_its_examples():
    assert len(blocks()) >= 8


def test_every_python_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--hours", "0.1", "--seed", "3", "--scale", "0.05", "-o", "sim"]) == 0
    capsys.readouterr()
    namespace: dict = {"__name__": "embedding_doc"}
    for n, code in enumerate(blocks(), 1):
        try:
            exec(compile(code, f"docs/embedding.md block {n}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - report which block failed
            pytest.fail(f"block {n} failed: {type(exc).__name__}: {exc}\n{code}")
    printed = capsys.readouterr().out
    assert "the snapshot was taken with lateness=5.0; restoring with lateness=60.0" in printed
    assert namespace["embedded"], "the simulated hour should give matches"
