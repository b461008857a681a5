"""Every `sleuth run` example of the docs, run by the CLI and embedded: the same matches.

docs/embedding.md, "Build an engine". Each example found in a shell block of
README.md or docs/*.md gets its inputs built here (a simulated API: events and
its OpenAPI document, reshaped as the example needs), runs through `sleuth run`,
and again through `Engine(pack, ...)` with the keyword arguments the flags name
(translated here, independently of the command's own code). The matches must be
byte-identical. A new example without a builder fails the coverage test.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import orjson
import pytest
import yaml

from sleuth.dsl import load_pack
from sleuth.engine import Engine
from sleuth.engine.ingest import Bad, open_source
from sleuth.playground.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHELL = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def doc_examples() -> list[str]:
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in SHELL.findall(doc.read_text(encoding="utf-8")):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("sleuth run ") and "PACK" not in line:
                    out.append(line)
    return out


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("docs-run")
    assert main(["simulate", "--hours", "0.1", "--seed", "3", "--scale", "0.05", "-o", str(base / "sim")]) == 0
    return base


def build_report(base: Path) -> bool:
    """docs/report.md: `sim/` as `sleuth simulate` writes it."""
    return False


def build_deploying(base: Path) -> bool:
    """docs/deploying.md: the user under `actor.login`, the document as YAML under openapi/."""
    (base / "openapi").mkdir(exist_ok=True)
    doc = orjson.loads((base / "sim" / "openapi.json").read_bytes())
    (base / "openapi" / "store.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with open(base / "sim" / "events.jsonl", "rb") as src, open(base / "events.jsonl", "wb") as dst:
        for line in src:
            ev = orjson.loads(line)
            user = ev.pop("user", None)
            if user is not None:
                ev["actor"] = {"login": user}
            dst.write(orjson.dumps(ev) + b"\n")
    return False


def build_profile(base: Path) -> bool:
    """docs/deploying.md step 5: the same settings in ./sleuth.toml, and a threshold of the pack."""
    build_deploying(base)
    (base / "sleuth.toml").write_text('openapi = "openapi/store.yaml"\nlateness = "10s"\n'
                                      '[fields]\nuser = "actor.login"\n[constants]\nsession_min_ips = 3\n',
                                      encoding="utf-8")
    return True


BUILDERS = {
    "sleuth run builtin events.jsonl": build_profile,
    "sleuth run builtin events.jsonl --openapi openapi/store.yaml --map user=actor.login --lateness 10":
        build_deploying,
    "sleuth run builtin sim/events.jsonl --openapi sim/openapi.json -o matches.jsonl --quarantine quarantine.jsonl":
        build_report,
}


def test_every_example_has_a_builder():
    assert sorted(set(doc_examples())) == sorted(BUILDERS)


def embedded_arguments(argv: list[str]) -> tuple[list[str], dict]:
    """(input files, Engine keyword arguments) of a `sleuth run` command line, as docs/embedding.md's table says."""
    files, kw = [], {}
    it = iter(argv[3:])
    for a in it:
        if a == "--openapi":
            kw.setdefault("openapi", []).append(next(it))
        elif a == "--map":
            canon, src = next(it).split("=", 1)
            kw.setdefault("mapping", {})[canon] = src
        elif a == "--lateness":
            kw["lateness"] = float(next(it))
        elif a == "--no-templating":
            kw["templating"] = False
        elif a in ("-o", "--out", "--quarantine"):
            next(it)
        else:
            assert not a.startswith("-"), f"no Engine argument for {a}: add it here and to docs/embedding.md"
            files.append(a)
    return files, kw


@pytest.mark.parametrize("example", sorted(BUILDERS))
def test_the_example_embedded_equals_the_cli(example, sim, monkeypatch, capsysbinary):
    monkeypatch.chdir(sim)
    profile = BUILDERS[example](sim)
    argv = shlex.split(example)
    cli_argv = argv[1:] + ["-q"] + ([] if profile else ["--no-profile"])
    if "-o" not in cli_argv:
        cli_argv += ["-o", "cli.jsonl"]
    assert main(cli_argv) == 0
    out_file = cli_argv[cli_argv.index("-o") + 1]
    cli = (sim / out_file).read_bytes()

    files, kw = embedded_arguments(argv)
    pack = load_pack()
    if profile:
        from sleuth.dsl.profile import engine_options, load_pack_with_profile, load_profile

        p = load_profile("sleuth.toml")
        pack = load_pack_with_profile(None, p)
        kw = {**engine_options(p), **kw}
    else:
        (sim / "sleuth.toml").unlink(missing_ok=True)
    engine = Engine(pack, **kw)
    matches = []
    for path in files:
        reader = open_source(path)
        batch, positions = [], []
        for pos, item in reader:
            if type(item) is Bad:
                continue
            batch.append(item)
            positions.append(pos)
        matches += engine.feed_many(batch, reader.name, positions)
    matches += engine.close()
    embedded = b"".join(m.to_json() + b"\n" for m in matches)
    assert matches, "the simulated traffic should give matches"
    assert embedded == cli
