"""docs/rulepack.md is generated from the rule files and must not drift from them."""

from __future__ import annotations

from pathlib import Path

from sleuth.playground.rulepack_doc import generate

REPO = Path(__file__).resolve().parents[2]


def test_rulepack_doc_is_up_to_date():
    expected = generate(str(REPO / "rulepacks" / "api"))
    actual = (REPO / "docs" / "rulepack.md").read_text(encoding="utf-8")
    assert actual == expected, (
        "docs/rulepack.md differs from the rule files; regenerate it with\n"
        "    python -m sleuth.playground.rulepack_doc > docs/rulepack.md")


def test_rulepack_doc_lists_every_rule():
    from sleuth.dsl.pack import load_pack

    text = generate(str(REPO / "rulepacks" / "api"))
    for rule in load_pack(str(REPO / "rulepacks" / "api")).rules:
        assert f"### {rule.name}\n" in text
