"""The api pack names no route: rules reach operations through `role`.

A rule that compares `route` or `path` with a literal, or a list of
routes, works on the one API it was written for; the pack must run
unchanged on any API given its OpenAPI document, and on plain access logs.
This walks every declaration of the pack's files (rules, macros, lists;
not the test blocks, whose events are one API's) and fails on any string
or regex literal that looks like a URL path. The one allowed literal is
`"<unmatched>"`, the route sleuth gives a request its OpenAPI document
does not describe.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from sleuth.dsl import ast
from sleuth.dsl.pack import check_paths

PACK = Path(__file__).resolve().parents[2] / "rulepacks" / "api"


def _literals(node):
    """Every String and Regex literal under `node` (attrs nodes, tuples, lists)."""
    if isinstance(node, (ast.String, ast.Regex)):
        yield node
    if attrs.has(type(node)):
        for f in attrs.fields(type(node)):
            yield from _literals(getattr(node, f.name))
    elif isinstance(node, (tuple, list)):
        for x in node:
            yield from _literals(x)


def _declarations():
    checked = check_paths([str(PACK)])
    assert not checked.errors
    for path, module in sorted(checked.modules.items()):
        for decl in module.decls:
            if isinstance(decl, (ast.TestDecl, ast.Import)):
                continue
            yield Path(path).name, decl


def _looks_like_route(lit) -> bool:
    text = lit.value if isinstance(lit, ast.String) else lit.pattern
    return text.startswith("/") or "/api" in text or "/v1" in text


DECLS = list(_declarations())


def test_the_pack_has_declarations():
    assert len([d for _, d in DECLS if isinstance(d, ast.RuleDecl)]) >= 50


@pytest.mark.parametrize("where, decl", DECLS, ids=[f"{f}:{getattr(d, 'name', '?')}" for f, d in DECLS])
def test_no_route_literal(where, decl):
    bad = [lit for lit in _literals(decl) if _looks_like_route(lit)]
    assert not bad, f"{where}: {decl.name} names routes: {bad}"


def test_the_kill_chain_reads_every_recon_and_access_rule():
    # A rule over rules reads another rule over rules only when it names it: the kill
    # chain names its inputs, and a new reconnaissance or credential-access rule must
    # be added to the list.
    from sleuth.dsl.pack import load_pack

    pack = load_pack(str(PACK))
    lists = {}
    for _f, decl in DECLS:
        if isinstance(decl, ast.ListDecl):
            lists[decl.name] = decl
    names = {lit.value for lit in _literals(lists["campaign_inputs"])}
    recon_access = {r.name for r in pack.rules if r.ttp in (
        "scraping", "enumeration", "spec-anomaly", "credential-stuffing", "account-aggregation")}
    assert recon_access | {"ato_takeover_monetised"} == names
