"""Explain goldens: the compiled machine and generated source of every rule.

`golden/<name>.ttp` is compiled as a pack holding that one file; the explain
text of its rules (in pack order) is pinned in `golden/<name>.explain.txt`.
`pytest --update-golden` rewrites the expected files, and a reviewer reads
the diff. Explain output must also be deterministic: compiling twice, and
compiling in interpreters with different hash seeds, gives the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.dsl import load_pack

GOLDEN = Path(__file__).parent / "golden"
SOURCES = sorted(GOLDEN.glob("*.ttp"))


def explain(path: Path) -> str:
    pack = load_pack(sources={path.name: path.read_text(encoding="utf-8")})
    return "".join(f"{'=' * 100}\n{r.explain_text}" for r in pack.rules)


def test_goldens_cover_every_rule_kind():
    kinds = set()
    windows = set()
    for path in SOURCES:
        pack = load_pack(sources={path.name: path.read_text(encoding="utf-8")})
        for r in pack.rules:
            kinds.add(r.kind)
            if r.window_kind:
                windows.add(r.window_kind)
    assert kinds == {"event", "sequence", "join", "window"}
    assert windows == {"sliding", "tumbling", "session"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_explain_golden(path: Path, golden) -> None:
    golden.check(path.with_suffix(".explain.txt"), explain(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_explain_is_deterministic_in_process(path: Path) -> None:
    assert explain(path) == explain(path)


_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {here!r})
from test_explain import explain, SOURCES
sys.stdout.write("".join(explain(p) for p in SOURCES))
"""


def test_explain_is_deterministic_across_hash_seeds() -> None:
    outs = []
    for seed in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", _SCRIPT.format(here=str(Path(__file__).parent))],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
    assert outs[0] == "".join(explain(p) for p in SOURCES)
