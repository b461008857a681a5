"""The grammar: LALR without conflicts, built once, rule names = AST classes."""

from __future__ import annotations

import logging
from importlib import resources

import pytest
from lark import Lark

from sleuth.dsl import ast
from sleuth.dsl.grammar import parser
from sleuth.dsl.parse import _Builder


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _build_logged(grammar: str) -> list[str]:
    """Build an LALR parser with Lark's debug log on; return what it logged."""
    logger = logging.getLogger("lark")
    handler = _Capture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        Lark(grammar, parser="lalr", lexer="contextual", debug=True, propagate_positions=True,
             keep_all_tokens=True, maybe_placeholders=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return handler.messages


def _grammar_text() -> str:
    return resources.files("sleuth.dsl").joinpath("grammar.lark").read_text(encoding="utf-8")


def test_grammar_builds_lalr_without_conflicts() -> None:
    messages = _build_logged(_grammar_text())
    conflicts = [m for m in messages if "Shift/Reduce" in m or "Reduce/Reduce" in m]
    assert conflicts == []


def test_conflict_capture_works() -> None:
    # The capture above must see a conflict when there is one (no false pass).
    messages = _build_logged('start: e\ne: e "-" e | "x"\n')
    assert any("Shift/Reduce" in m for m in messages)


def test_parser_is_lalr_and_cached() -> None:
    p = parser()
    assert p is parser()
    assert p.options.parser == "lalr"
    assert p.options.propagate_positions


def test_grammar_rule_names_match_builder() -> None:
    # Grammar rule = AST class: every named rule (not inlined, not a one-child
    # `?rule`) has a builder method of the same name.
    missing = set()
    for rule in parser().rules:
        name = rule.alias or rule.origin.name
        name = getattr(name, "name", name)
        if name.startswith("_") or name.startswith("$"):
            continue
        if rule.options.expand1 and len(rule.expansion) == 1 and not rule.alias:
            continue
        if not hasattr(_Builder, name):
            missing.add(name)
    assert missing == set()


@pytest.mark.parametrize("rule, cls", [
    ("seq_step", ast.SeqStep), ("unless_between", ast.UnlessBetween), ("macro_decl", ast.MacroDecl),
    ("step_window", ast.StepWindow), ("expect_match", ast.ExpectMatch),
])
def test_rule_builds_class_of_same_words(rule: str, cls: type) -> None:
    camel = "".join(part.capitalize() for part in rule.split("_"))
    assert camel == cls.__name__
