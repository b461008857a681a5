"""Role inference on real, hand-labelled OpenAPI documents (the held-out world of roles).

The corpus stays outside the project: ``<repo>/../shared/data/openapi-corpus``
(``$SLEUTH_SHARED_DATA`` replaces ``<repo>/../shared/data``); without it these
tests skip. Each labelled operation is one test id asserting the precision-first
rule (a role, when given, is the labelled one); the figures that matter are the
aggregate floors (micro precision >= 0.95, recall >= 0.85 over non-null labels).
The measured figures are in docs/roles.md (``benchmarks/bench_roles.py``).
"""

from __future__ import annotations

import pytest

from sleuth.playground.roles_eval import (
    DEVELOPMENT,
    HELD_OUT,
    corpus_apis,
    corpus_root,
    load_api,
    score,
)

ROOT = corpus_root()
APIS = corpus_apis(ROOT)
ABSENT = f"labelled OpenAPI corpus not found at {ROOT} (set SLEUTH_SHARED_DATA to the shared data folder)"

_LOADED: dict[str, list] = {}


def _items(api: str) -> list:
    if api not in _LOADED:
        _LOADED[api] = load_api(api, ROOT)[1]
    return _LOADED[api]


def _cases() -> list:
    if not APIS:
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=ABSENT), id="corpus-absent")]
    out = []
    for api in APIS:
        for n, item in enumerate(_items(api)):
            out.append(pytest.param(api, n, item.label, id=f"{api}::{item.method} {item.path}"))
    return out


@pytest.mark.parametrize("api, index, label", _cases())
def test_never_a_wrong_role(api, index, label):
    item = _items(api)[index]
    assert item.predicted in (None, label), item.row.decision.evidence


def _need_corpus() -> None:
    if not APIS:
        pytest.skip(ABSENT)


def test_the_corpus_holds_the_six_documented_apis():
    _need_corpus()
    assert set(DEVELOPMENT) | set(HELD_OUT) <= set(APIS)


def test_aggregate_precision_and_recall_floor():
    _need_corpus()
    total = score([i for api in APIS for i in _items(api)])
    assert total.labelled >= 100
    assert total.precision >= 0.95, (total.tp, total.fp, total.confusion)
    assert total.recall >= 0.85, (total.tp, total.fn, total.confusion)


@pytest.mark.parametrize("group", [DEVELOPMENT, HELD_OUT], ids=["development", "held-out"])
def test_floor_holds_for_each_group(group):
    _need_corpus()
    s = score([i for api in group if api in APIS for i in _items(api)])
    assert s.precision >= 0.95 and s.recall >= 0.85, (s.precision, s.recall, s.confusion)


def test_no_labelled_spec_operation_is_ambiguous():
    # `sleuth roles` exits 1 on ambiguity; none of these documents needs an override
    _need_corpus()
    for api in APIS:
        table = load_api(api, ROOT)[0]
        assert table.ambiguous == [], [(r.method, r.template, r.decision.candidates) for r in table.ambiguous]
