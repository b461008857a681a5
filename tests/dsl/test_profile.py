"""The deployment profile (dsl/profile.py): TOML positions, diagnostics, overrides applied to a pack."""

from __future__ import annotations

import os
import textwrap
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleuth.dsl import ast
from sleuth.dsl.diagnostic import render_all
from sleuth.dsl.pack import load_pack
from sleuth.dsl.parse import parse_recovering
from sleuth.dsl.profile import (
    Profile,
    ProfileError,
    _Locator,
    apply_overrides,
    check_profile,
    find_profile,
    load_pack_with_profile,
    load_profile,
    pack_arguments,
    pack_constants,
    parse_profile,
    profile_sources,
)
from sleuth.engine import Engine

# ------------------------------------------------------------------ positions


def _texts(text: str) -> tuple[dict, dict]:
    loc = _Locator(text)
    return ({k: text[a:b] for k, (a, b) in loc.keys.items()}, {k: text[a:b] for k, (a, b) in loc.values.items()})


TRICKY = textwrap.dedent('''\
    # comment with = and [brackets]
    a.b . c = 1   # dotted, spaces around dots
    "quoted.key" = 'lit # not a comment'
    'single' = """multi
    line = "x" ]
    """
    arr = [
      1, # one
      [2, "three]"],
      {x = 4},
    ]
    [t."u.v".w]
    k = "esc \\" quote" # tail
    inl = { p = { q = true }, r = 1979-05-27T07:32:00Z }
    [[aot]]
    n = 1
    [[aot]]
    n = 2
    ''')


def test_locator_finds_dotted_quoted_nested_keys():
    keys, values = _texts(TRICKY)
    assert keys[("a",)] == "a" and keys[("a", "b")] == "b" and keys[("a", "b", "c")] == "c"
    assert values[("a", "b", "c")] == "1"
    assert keys[("quoted.key",)] == '"quoted.key"'
    assert values[("quoted.key",)] == "'lit # not a comment'"
    assert values[("single",)] == '"""multi\nline = "x" ]\n"""'
    assert values[("arr", 0)] == "1"
    assert values[("arr", 1)] == '[2, "three]"]'
    assert values[("arr", 1, 1)] == '"three]"'
    assert values[("arr", 2, "x")] == "4"
    assert keys[("t", "u.v")] == '"u.v"' and keys[("t", "u.v", "w")] == "w"
    assert values[("t", "u.v", "w", "k")] == '"esc \\" quote"'
    assert values[("t", "u.v", "w", "inl", "p", "q")] == "true"
    assert values[("t", "u.v", "w", "inl", "r")] == "1979-05-27T07:32:00Z"
    assert keys[("aot",)] == "aot"
    assert values[("aot", 0, "n")] == "1" and values[("aot", 1, "n")] == "2"


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    else:
        yield path, obj


def _check_every_leaf(text: str) -> None:
    data = tomllib.loads(text)
    _keys, values = _texts(text)
    for path, value in _leaves(data):
        assert tomllib.loads(f"v = {values[path]}")["v"] == value, path


def test_every_leaf_value_span_reads_back_to_its_value():
    _check_every_leaf(TRICKY)


_KEY = st.one_of(st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True),
                 st.text(alphabet="ab. =#[]'\\\"", min_size=1, max_size=6))
_SCALAR = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.text(alphabet="ab#=[]{}'\\\" \n", max_size=8),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))


def _key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[\n  " + ",\n  ".join(_val(x) for x in v) + ",\n]" if v else "[]"
    return "{ " + ", ".join(f"{_key(k)} = {_val(x)}" for k, x in v.items()) + " }"


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEY, st.dictionaries(_KEY, st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3),
                                                             st.dictionaries(_KEY, _SCALAR, max_size=2)),
                                             max_size=4), max_size=4),
       st.booleans())
def test_locator_on_generated_documents(doc, as_tables):
    lines = []
    for name, table in doc.items():
        if as_tables:
            lines.append(f"[{_key(name)}]")
            lines += [f"{_key(k)} = {_val(v)}  # c" for k, v in table.items()]
        else:
            lines += [f"{_key(name)} . {_key(k)} = {_val(v)}" for k, v in table.items()] or \
                [f"{_key(name)} = {{}}"]
    text = "\n".join(lines) + "\n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # e.g. a dotted key redefining a table: not TOML, not ours to locate
    _check_every_leaf(text)


# ------------------------------------------------------------------ diagnostics

def _write(tmp_path, text: str, name: str = "sleuth.toml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def _brief(diags):
    return [(d.code, d.severity, d.message, d.span.line, d.span.col, d.hints) for d in diags]


def test_every_problem_at_once_with_line_and_column(tmp_path):
    (tmp_path / "spec.json").write_text('{"openapi": "3.0.0", "paths": {"/login": {"post": {"operationId": "login"}}}}')
    path = _write(tmp_path, '''\
        openapi = ["spec.json", "missing.yaml"]
        lateness = "10 s"
        latenes = 3

        [roles]
        "POST /login" = "login"
        "/export/{id}" = "exprt"
        "login" = "login"
        "GET /nowhere" = "none"

        [fields]
        user = "actor.login"
        usr = "x"

        [constants]
        x.y = 1
        bad = [1, 2]

        [lists]
        hosting_asns = "hosting.txt"

        [policy]
        block = { after = 3 }

        [extra.sub]
        x = 1
        ''')
    assert _brief(check_profile(path)) == [
        ("unreadable-file", "error", "no OpenAPI document at 'missing.yaml'", 1, 25,
         (f"looked for {tmp_path / 'missing.yaml'}",)),
        ("bad-duration", "error", "'lateness' must be a duration like '5s' or '500ms' (got '10 s')", 2, 12, ()),
        ("unknown-key", "error", "unknown key 'latenes' in the profile", 3, 1, ("did you mean 'lateness'?",)),
        ("unknown-role", "error", "'exprt' is not a role", 7, 18, ("did you mean 'export'?",)),
        ("bad-route-key", "error", "'login' is not 'METHOD /route' or '/route'", 8, 1,
         ('write e.g. "POST /api/v2/sessions" = "login"',)),
        ("unused-override", "warning", "'GET /nowhere' matches no documented operation", 9, 1,
         ("write the route as the document does, with or without the server base path",)),
        ("unknown-field", "error", "'usr' is not a canonical field", 13, 1, ("did you mean 'user'?",)),
        ("wrong-type", "error", "'constants.x' must be a number, a duration, a string or a boolean (got table)",
         16, 1, ()),
        ("wrong-type", "error", "'constants.bad' must be a number, a duration, a string or a boolean (got array)",
         17, 7, ()),
        ("unreadable-file", "error", "no list file at 'hosting.txt'", 20, 16,
         (f"looked for {tmp_path / 'hosting.txt'}",)),
        ("unknown-key", "error", "unknown key 'extra' in the profile", 25, 2,
         ("the keys are openapi, lateness, roles, fields, lists, constants, policy",)),
    ]


def test_rendered_diagnostic_points_at_the_key(tmp_path):
    path = _write(tmp_path, 'lateness = 5\n[roles]\n"POST /x" = "logn"\n')
    diags = check_profile(path)
    assert render_all(diags, {path: open(path).read()}) == (
        f"{path}:3:13: error[unknown-role]: 'logn' is not a role\n"
        "  |\n"
        '3 | "POST /x" = "logn"\n'
        "  |             ^^^^^^\n"
        "  = hint: did you mean 'login'?")


@pytest.mark.parametrize("text, line, col, message", [
    ("a = \n", 1, 5, "not valid TOML: invalid value"),
    ("[roles\n", 1, 7, "not valid TOML: expected ']' at the end of a table declaration"),
    ("x = 1\nx = 2\n", 2, 6, "not valid TOML: cannot overwrite a value"),
    ('s = "open', 1, 10, "not valid TOML: unterminated string"),
])
def test_syntax_errors_have_a_position(tmp_path, text, line, col, message):
    path = _write(tmp_path, text)
    (d,) = check_profile(path)
    assert (d.code, d.span.line, d.span.col, d.message) == ("profile-syntax", line, col, message)


def test_unreadable_and_undecodable_profiles(tmp_path):
    (d,) = check_profile(str(tmp_path / "nope.toml"))
    assert (d.code, d.message) == ("unreadable-file", "cannot read the profile: No such file or directory")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'a = 1\nb = "\xff"\n')
    (d,) = check_profile(str(bad))
    assert (d.code, d.span.line, d.span.col) == ("bad-encoding", 2, 6)


def test_load_profile_resolves_paths_and_raises_with_all_errors(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "a.yaml").write_text("openapi: 3.0.0\npaths: {}\n")
    (tmp_path / "l.txt").write_text("1\n")
    path = _write(tmp_path, '''\
        openapi = "api/a.yaml"
        lateness = "1.5m"
        [roles]
        "post /sessions" = "login"
        "/health/deep" = "none"
        [fields]
        user = " actor.login "
        [lists]
        hosting_asns = "l.txt"
        [constants]
        session_min_ips = 10
        window = "15m"
        [policy]
        anything = { goes = ["here"] }
        ''')
    p = load_profile(path)
    assert p == Profile(path, openapi=(str(tmp_path / "api" / "a.yaml"),),
                        roles={("POST", "/sessions"): "login", ("*", "/health/deep"): "none"},
                        fields={"user": "actor.login"}, lists={"hosting_asns": str(tmp_path / "l.txt")},
                        constants={"session_min_ips": 10, "window": "15m"}, lateness=90.0,
                        policy={"anything": {"goes": ["here"]}})
    assert p.span_of("constants", "window", value=True).line == 12
    bad = _write(tmp_path, 'lateness = -1\nopenapi = 3\n', "bad.toml")
    with pytest.raises(ProfileError) as e:
        load_profile(bad)
    assert [d.code for d in e.value.diagnostics] == ["bad-duration", "wrong-type"]
    assert "bad.toml:1:12: error[bad-duration]" in str(e.value)


def test_lateness_forms():
    for text, value in [("lateness = 5", 5.0), ("lateness = 0.5", 0.5), ('lateness = "500ms"', 0.5),
                        ('lateness = "2h"', 7200.0)]:
        p, diags = parse_profile(text, "p.toml", base_dir=".")
        assert diags == [] and p.lateness == value
    for text in ("lateness = true", "lateness = nan", 'lateness = "soon"', "lateness = -3"):
        p, diags = parse_profile(text, "p.toml", base_dir=".")
        assert len(diags) == 1 and p.lateness is None


def test_find_profile(tmp_path):
    assert find_profile(tmp_path) is None
    (tmp_path / "sleuth.toml").write_text("")
    assert find_profile(tmp_path) == str(tmp_path / "sleuth.toml")


# ------------------------------------------------------------------ a pack's constants and lists

PACK = '''\
# a small pack
list noisy = ["10.0.0.1"]
list big = [
  "a",
  "b",
]
macro min_fails = 3
macro slow = 2m
macro label = "x"
macro strict = false
macro floor = -2
macro ratio = 0.5
macro is_fail = status == 401

rule fails {
  meta {
    ttp = "credential-stuffing"
    goal = "account-takeover"
    severity = high
  }
  by src_ip
  window 1m
  where is_fail and not src_ip in @noisy
  having count() >= min_fails
}
'''


@pytest.fixture
def pack_dir(tmp_path):
    d = tmp_path / "pack"
    d.mkdir()
    (d / "rules.ttp").write_text(PACK)
    return d


def test_pack_constants_are_literal_macros(pack_dir):
    consts, macros, lists = pack_constants(str(pack_dir))
    assert {k: [kind for kind, _d in v] for k, v in consts.items()} == {
        "min_fails": ["integer"], "slow": ["duration"], "label": ["string"], "strict": ["boolean"],
        "floor": ["integer"], "ratio": ["number"]}
    assert set(macros) == set(consts) | {"is_fail"}
    assert lists == {"noisy", "big"}


def test_pack_checks(tmp_path, pack_dir):
    (tmp_path / "n.txt").write_text("10.0.0.2\n")
    path = _write(tmp_path, '''\
        [constants]
        min_fails = 2.5
        min_fail = 1
        is_fail = 1
        slow = "3 minutes"
        ratio = 1
        floor = -5
        strict = true
        label = "y"
        [lists]
        noisy = "n.txt"
        nosy = "n.txt"
        ''')
    assert _brief(check_profile(path, str(pack_dir))) == [
        ("constant-type", "error", "'min_fails' must be an integer (got float)", 2, 13,
         (f"declared at {pack_dir / 'rules.ttp'}:7:1",)),
        ("unknown-constant", "error", "the pack has no constant named 'min_fail'", 3, 1,
         ("did you mean 'min_fails'?",)),
        ("not-a-constant", "error", "macro 'is_fail' is an expression, not a constant bound to a literal", 4, 1,
         ("only macros like 'macro x = 6' can be overridden",)),
        ("constant-type", "error", "'slow' must be a duration like '10m' or a number of seconds (got string)", 5, 8,
         (f"declared at {pack_dir / 'rules.ttp'}:8:1",)),
        ("unknown-list", "error", "the pack has no list named 'nosy'", 12, 1, ("did you mean 'noisy'?",)),
    ]


def test_arguments_and_ast_pass(tmp_path, pack_dir):
    (tmp_path / "n.txt").write_text("10.0.0.2\n")
    path = _write(tmp_path, '[constants]\nmin_fails = 5\nslow = 90\nratio = 1\nfloor = -5\n[lists]\nnoisy = "n.txt"\n')
    args = pack_arguments(load_profile(path), str(pack_dir))
    assert args["constants"] == {"min_fails": ast.IntLit(5), "slow": ast.Duration(90.0), "ratio": ast.FloatLit(1.0),
                                 "floor": ast.Neg(ast.IntLit(5))}
    assert args["lists"] == {"noisy": str(tmp_path / "n.txt")}
    module = parse_recovering(PACK, "rules.ttp")[0]
    new = apply_overrides(module, **args)
    decls = {d.name: d for d in new.decls if isinstance(d, (ast.MacroDecl, ast.ListDecl))}
    assert decls["min_fails"].body == ast.IntLit(5)
    assert decls["noisy"] == ast.ListDecl("noisy", None, str(tmp_path / "n.txt"))
    assert decls["is_fail"] == next(d for d in module.decls if getattr(d, "name", None) == "is_fail")
    assert apply_overrides(module, {}, {}) is module
    with pytest.raises(ProfileError):
        pack_arguments(load_profile(_write(tmp_path, "[constants]\nnope = 1\n", "x.toml")), str(pack_dir))


def test_sources_keep_every_other_line_and_column(tmp_path, pack_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "n.txt").write_text("10.0.0.2\n")
    path = _write(tmp_path, '[constants]\nmin_fails = 12\nslow = "90s"\nlabel = "a\\"b"\n'
                            '[lists]\nbig = "n.txt"\n')
    src = profile_sources("pack", load_profile(path))
    new = src[os.path.join("pack", "rules.ttp")]
    old_lines, new_lines = PACK.split("\n"), new.split("\n")
    assert len(old_lines) == len(new_lines)
    changed = {i + 1: n for i, (o, n) in enumerate(zip(old_lines, new_lines)) if o != n}
    assert changed == {3: f'list big = file("{tmp_path / "n.txt"}")', 4: "", 5: "", 6: "",
                       7: "macro min_fails = 12", 8: "macro slow = 90s", 9: 'macro label = "a\\"b"'}


def _events(n_ips: int, fails_each: int) -> list[dict]:
    out = []
    t = 1_700_000_000.0
    for i in range(n_ips):
        for _ in range(fails_each):
            out.append({"ts": t, "src_ip": f"192.0.2.{i + 1}", "method": "POST", "path": "/login", "status": 401})
            t += 1.0
    return out


def _matches(pack) -> list[str]:
    eng = Engine(pack)
    out = []
    for ev in _events(3, 4):
        out += eng.feed(ev)
    out += eng.close()
    return sorted(m.key[0] if isinstance(m.key, tuple) else str(m.key) for m in out)


def test_a_threshold_and_a_list_override_change_what_a_rule_matches(tmp_path, pack_dir):
    assert len(_matches(load_pack(str(pack_dir)))) == 3           # 4 failures >= 3 from each address
    (tmp_path / "n.txt").write_text("192.0.2.1\n")
    raised = load_profile(_write(tmp_path, "[constants]\nmin_fails = 5\n", "a.toml"))
    assert _matches(load_pack_with_profile(str(pack_dir), raised)) == []   # 4 < 5
    quiet = load_profile(_write(tmp_path, '[lists]\nnoisy = "n.txt"\n', "b.toml"))
    assert len(_matches(load_pack_with_profile(str(pack_dir), quiet))) == 2  # 192.0.2.1 is now noisy


def test_shipped_pack_loads_with_a_profile(tmp_path):
    p = load_profile(_write(tmp_path, "[constants]\nsession_min_ips = 10\nmax_conversion = 0.1\n"))
    pack = load_pack_with_profile(None, p)
    assert len(pack.rules) == len(load_pack().rules)


def test_an_override_changes_the_pack_fingerprint(tmp_path, pack_dir):
    # snapshots are tied to the fingerprint: one taken with other thresholds must not restore
    same = load_profile(_write(tmp_path, "[constants]\nmin_fails = 3\n", "same.toml"))
    other = load_profile(_write(tmp_path, "[constants]\nmin_fails = 4\n", "other.toml"))
    base = load_pack(str(pack_dir)).fingerprint
    assert load_pack_with_profile(str(pack_dir), same).fingerprint == base
    assert load_pack_with_profile(str(pack_dir), other).fingerprint != base
