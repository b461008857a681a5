"""The checker's vocabulary is the engine's where the engine has one; lints are wired; checks repeat.

`dsl/vocabulary.py` re-reads the event schema and the aggregate registry
instead of copying them; these tests pin that, and that the language's own
tables agree with the engine (limit names) and with the checker (every
argument kind of the registry is handled, every lint hook is called).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sleuth.dsl import check, expression, lint, vocabulary
from sleuth.engine import aggregate, schema
from sleuth.engine.spec import DEFAULT_LIMITS


def test_aggregates_are_the_engine_registry() -> None:
    assert vocabulary.AGGREGATES == {name: d.arity for name, d in aggregate.REGISTRY.items()}
    assert vocabulary.AGGREGATE_ARGUMENTS == {name: d.args for name, d in aggregate.REGISTRY.items()}
    assert vocabulary.FOLLOWABLE == {name for name, d in aggregate.REGISTRY.items() if d.followable}


def test_every_argument_kind_is_checked() -> None:
    kinds = {k for args in vocabulary.AGGREGATE_ARGUMENTS.values() for k in args}
    assert kinds <= set(vocabulary.ARG_KINDS)
    assert set(vocabulary.ARG_KINDS) == set(aggregate.ARG_KINDS)


def test_fields_and_aliases_are_the_engine_schema() -> None:
    assert vocabulary.FIELDS is schema.FIELDS
    assert vocabulary.ALIASES == schema.ALIAS_OF
    assert vocabulary.MAP_FIELDS == {n for n, t in schema.FIELDS.items() if t == "map"}


def test_limit_names_are_the_engine_limits() -> None:
    assert set(vocabulary.LIMITS) == set(DEFAULT_LIMITS)
    for name, (lo, hi) in vocabulary.LIMITS.items():
        assert lo <= DEFAULT_LIMITS[name] <= hi, name


def test_functions_and_aggregates_do_not_share_names() -> None:
    assert not set(vocabulary.FUNCTIONS) & set(vocabulary.AGGREGATES)
    assert vocabulary.INTERARRIVAL_CALL not in vocabulary.FUNCTIONS


@pytest.mark.parametrize("cls", lint.LINTS, ids=lambda c: c.__name__)
def test_every_lint_has_a_code_a_severity_and_a_docstring(cls: type[lint.Lint]) -> None:
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", cls.code)
    assert cls.severity == "warning"
    assert cls.__doc__ and cls.__doc__.strip()


def test_lint_codes_are_unique() -> None:
    codes = [cls.code for cls in lint.LINTS]
    assert len(codes) == len(set(codes))


def _called_hooks() -> set[str]:
    src = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in (check, expression))
    return set(re.findall(r'self\.lint\(\s*"([a-z_]+)"', src))


def test_every_lint_hook_is_called_by_the_checker() -> None:
    # A hook nobody calls would be a lint that can never fire.
    assert lint.Linter().hooks == _called_hooks()


# ---------------------------------------------------------------- the same text, the same diagnostics


def test_checking_twice_gives_the_same_diagnostics(check) -> None:
    # Python warns about an ambiguous regex only when it parses it, and `re` caches
    # what it compiled: a second check in one process used to lose `regex-ambiguous`.
    src = ('rule r { meta { ttp = "scraping" goal = "scraping" severity = low title = "t" } '
           'when ua =~ /[[a]/ or ua =~ /[a&&b]/ }')
    first = [(d.code, d.message, d.span.col) for d in check(src).diagnostics]
    assert [c for c, _m, _col in first] == ["regex-ambiguous", "regex-ambiguous"]
    assert [(d.code, d.message, d.span.col) for d in check(src).diagnostics] == first
