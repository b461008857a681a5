"""Every concrete AST node class is handled by every pass over the AST.

The unparser dispatches every class through its `unparse_<snake>` table.
The checker dispatches expressions through `check_<snake>`, takes clauses
by the per-kind tables `vocabulary.ALLOWED_CLAUSES`, and step modifiers through
`vocabulary.modifier_word`; everything else (declarations, test items, entries) is walked
structurally, which the corpus test below pins: a file holding every class
must check cleanly and round-trip. Adding a node class without handling it
in a pass fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from sleuth.dsl import ast as A
from sleuth.dsl import vocabulary
from sleuth.dsl.expression import ExprChecker
from sleuth.dsl.pack import check_paths
from sleuth.dsl.parse import parse
from sleuth.dsl.unparse import Unparser, unparse

CLASSES = sorted(A.concrete_classes(), key=lambda c: c.__name__)
CORPUS = Path(__file__).parent / "golden" / "parse" / "every_node.ttp"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _ids(classes):
    return [c.__name__ for c in classes]


def test_concrete_classes_are_closed() -> None:
    abstract = {A.Node, A.Expr, A.Decl, A.Clause, A.StepMod, A.TestItem}
    every = {v for v in vars(A).values() if isinstance(v, type) and issubclass(v, A.Node)}
    assert set(CLASSES) == every - abstract


@pytest.mark.parametrize("cls", CLASSES, ids=_ids(CLASSES))
def test_unparser_handles(cls: type) -> None:
    assert cls in Unparser().dispatch, f"add Unparser.unparse_{_snake(cls.__name__)}"


EXPRS = [c for c in CLASSES if issubclass(c, A.Expr)]
CLAUSES = [c for c in CLASSES if issubclass(c, A.Clause)]
MODS = [c for c in CLASSES if issubclass(c, A.StepMod)]


@pytest.mark.parametrize("cls", EXPRS, ids=_ids(EXPRS))
def test_checker_handles_expression(cls: type) -> None:
    checker = ExprChecker()
    assert cls in checker.dispatch, f"add ExprChecker.check_{_snake(cls.__name__)}"


@pytest.mark.parametrize("cls", CLAUSES, ids=_ids(CLAUSES))
def test_checker_handles_clause(cls: type) -> None:
    kinds = [k for k, allowed in vocabulary.ALLOWED_CLAUSES.items() if cls in allowed]
    assert kinds, f"add {cls.__name__} to vocabulary.ALLOWED_CLAUSES (and handle it in Checker.check_rule)"
    # and it has a word for messages ("'x' is not allowed in ...")
    assert vocabulary.clause_word(cls) != cls.__name__


@pytest.mark.parametrize("cls", MODS, ids=_ids(MODS))
def test_checker_handles_step_modifier(cls: type) -> None:
    assert vocabulary.modifier_word(object.__new__(cls))


def _walk(node):
    yield node
    for f in attrs.fields(type(node)):
        value = getattr(node, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, A.Node):
                yield from _walk(v)


@pytest.fixture(scope="module")
def corpus() -> A.Module:
    return parse(CORPUS.read_text(encoding="utf-8"), str(CORPUS))


@pytest.mark.parametrize("cls", CLASSES, ids=_ids(CLASSES))
def test_corpus_has(cls: type, corpus: A.Module) -> None:
    assert any(type(n) is cls for n in _walk(corpus)), f"add a {cls.__name__} to {CORPUS.name}"


def test_corpus_checks_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS.parent)
    checked = check_paths([CORPUS.name])
    assert [(d.code, d.span.line, d.message) for d in checked.diagnostics] == []
    assert len(checked.rules) == 9
    assert len(checked.tests) == 3


def test_corpus_round_trips(corpus: A.Module) -> None:
    assert parse(unparse(corpus)) == corpus
