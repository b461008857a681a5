"""The README's rule example compiles and its embedded test passes."""

from __future__ import annotations

import re
from pathlib import Path

from sleuth.dsl import load_pack
from sleuth.dsl.testing import run_tests

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_rule_example_passes_its_tests():
    blocks = re.findall(r"```ttp\n(.*?)```", README, re.S)
    assert blocks, "README has a ```ttp example"
    pack = load_pack(sources={"README.ttp": blocks[0]})
    results = run_tests(pack)
    assert results and all(r.passed for r in results), [r.message for r in results if not r.passed]
    assert any(r.mutation for r in results)


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert first_block[0].startswith("pip install -e . && sleuth demo")
    assert first_block[1].startswith("pip install -e '.[test]' && pytest")
