"""docs/roles.md and docs/deploying.md say what the code does: vocabulary, example output, examples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sleuth.dsl.profile import check_profile
from sleuth.engine.ingest.roles import ROLES

ROOT = Path(__file__).resolve().parents[2]
ROLES_MD = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
DEPLOYING_MD = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")


def _blocks(text: str, lang: str) -> list[str]:
    """The fenced blocks of one language ('' for plain ones), in order."""
    out, current, kind = [], None, None
    for line in text.split("\n"):
        if line.startswith("```"):
            if current is None:
                current, kind = [], line[3:].strip()
            else:
                if kind == lang:
                    out.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return out


def test_vocabulary_table_is_the_code_table():
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+) \|$", ROLES_MD, re.M)
    assert dict(rows) == ROLES
    assert [r for r, _m in rows] == list(ROLES)


def test_the_example_output_is_what_the_command_prints(tmp_path):
    (spec,) = _blocks(ROLES_MD, "yaml")
    (tmp_path / "shop.yaml").write_text(spec)
    expected = next(b for b in _blocks(ROLES_MD, "") if b.startswith("9 operations in 1 document"))
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "roles", "--no-profile", "--openapi",
                        "shop.yaml"], cwd=tmp_path, capture_output=True, timeout=60)
    assert r.returncode == 1
    assert r.stdout.decode() == expected


def test_the_python_example_runs(tmp_path, monkeypatch):
    (spec,) = _blocks(ROLES_MD, "yaml")
    (tmp_path / "shop.yaml").write_text(spec)
    monkeypatch.chdir(tmp_path)
    (code,) = _blocks(ROLES_MD, "python")
    exec(compile(code, "docs/roles.md", "exec"), {"print": lambda *a, **k: None})
    from sleuth.engine.ingest.openapi import OpenAPI
    from sleuth.engine.ingest.roles import PathRoles, RoleTable, decide_path

    table = RoleTable([OpenAPI.load("shop.yaml")], overrides={("POST", "/auth/continue"): "login"})
    assert table.lookup("POST", "/api/v2/auth/sign-in") == ("login", "signIn")
    assert table.ambiguous == []
    assert decide_path("POST", "/rpc/Auth.Login").role == "login"
    assert PathRoles().role("DELETE", "/session") == "logout"


def test_the_deploying_profile_example_is_clean(tmp_path):
    (profile,) = [b for b in _blocks(DEPLOYING_MD, "toml") if "[constants]" in b]
    (tmp_path / "sleuth.toml").write_text(profile)
    for rel in re.findall(r'"([\w./-]+\.(?:yaml|json|txt))"', profile):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('{"openapi": "3.0.0", "paths": {}}' if rel.endswith((".yaml", ".json"))
                                    else "64512\n")
    diags = check_profile(tmp_path / "sleuth.toml", ROOT / "rulepacks" / "api")
    assert [d.code for d in diags if d.code != "unused-override"] == []
