"""The public API is typed: `py.typed` ships, and mypy finds no error in the public modules.

The modules are `[tool.mypy] modules` in pyproject.toml (the embedding surface:
`sleuth.engine`, `sleuth.dsl` and the modules they re-export). mypy cannot
follow the editable install's package-dir mapping, so the test lays the
folders out as `sleuth/engine` and `sleuth/dsl` with symbolic links.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_py_typed_ships_with_the_packages():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = conf["tool"]["setuptools"]["package-data"]
    for pkg, folder in (("sleuth.engine", "engine"), ("sleuth.dsl", "dsl")):
        assert "py.typed" in data[pkg]
        assert (ROOT / folder / "py.typed").is_file()


def test_mypy_finds_no_error_in_the_public_modules(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    modules = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["modules"]
    (tmp_path / "sleuth").mkdir()
    for folder in ("engine", "dsl"):
        os.symlink(ROOT / folder, tmp_path / "sleuth" / folder)
    args = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path / ".mypy_cache")]
    for m in modules:
        args += ["-m", m]
    r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout
