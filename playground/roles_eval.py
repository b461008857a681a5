"""Scoring endpoint-role inference against labelled OpenAPI documents.

Evaluation stage, shared by the tests and ``benchmarks/bench_roles.py``. Three
sources, each a set of folders holding the documents and ``roles.tsv``
(``METHOD<TAB>path<TAB>operationId<TAB>role``, role or ``null``): the synthetic
development set (``tests/ingest/data/roles``), the real labelled corpus (outside
the project: ``<repo>/../shared/data/openapi-corpus`` or
``$SLEUTH_SHARED_DATA/openapi-corpus``) and the simulator's API worlds (written by
``sleuth simulate``). Precision and recall are micro-averaged over the non-null
labels: a predicted role that differs from the label (also on a ``null`` label) is
a false positive, a labelled role not predicted exactly is a false negative.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sleuth.engine.ingest.openapi import OpenAPI
from sleuth.engine.ingest.roles import OperationRole, RoleTable

#: The corpus APIs the first rules were developed on, and the ones first measured held out.
DEVELOPMENT = ("ory-kratos", "medusa-store", "shopware-store")
HELD_OUT = ("mastodon", "rocketchat", "adyen-checkout")
#: The simulator's held-out API worlds (``tuning`` is the one the shipped pack was written on).
SIM_HELD_OUT = ("northwind", "relay", "harbor")
_DOC_SUFFIXES = (".json", ".yaml", ".yml")


def corpus_root() -> Path:
    """Where the labelled corpus should be (it may be absent)."""
    base = os.environ.get("SLEUTH_SHARED_DATA")
    if base:
        return Path(base) / "openapi-corpus"
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "openapi-corpus"


def dev_root() -> Path:
    """The synthetic development set (part of the project's tests)."""
    return Path(__file__).resolve().parents[1] / "tests" / "ingest" / "data" / "roles"


def corpus_apis(root: Path | None = None) -> list[str]:
    """Names of the labelled API folders under ``root`` (sorted; empty when absent)."""
    root = root or corpus_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "roles.tsv").is_file())


def simulate_worlds(out: Path, worlds: tuple[str, ...] = SIM_HELD_OUT) -> list[str]:
    """Run the simulator for each world into ``out/<world>`` (its document and labels); the world names.

    A world's ``openapi.json`` and ``roles.tsv`` do not depend on the run's
    length, volume or attacks: a 36-second benign run (~0.2 s) writes the same
    bytes as ``sleuth simulate --world all --hours 0.1 --scale 0.1``.
    """
    from sleuth.playground.simulate import SimConfig, generate, write

    for name in worlds:
        write(generate(SimConfig(hours=0.01, scale=0.01, only_benign=True, world=name)), out / name)
    return list(worlds)


@dataclass
class Labelled:
    """One labelled operation with the inferred row."""

    api: str
    method: str
    path: str
    operation_id: str
    label: str | None
    row: OperationRole

    @property
    def predicted(self) -> str | None:
        return self.row.role


@dataclass
class Score:
    """Counts and figures of one API or of a set of APIs."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    operations: int = 0
    labelled: int = 0
    confusion: Counter = field(default_factory=Counter)  # (label, predicted) of every wrong answer

    def add(self, item: Labelled) -> None:
        self.operations += 1
        pred, label = item.predicted, item.label
        if label is not None:
            self.labelled += 1
        if pred is not None and pred == label:
            self.tp += 1
        if pred is not None and pred != label:
            self.fp += 1
        if label is not None and pred != label:
            self.fn += 1
        if pred != label:
            self.confusion[(label, pred)] += 1

    def merge(self, other: Score) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.operations += other.operations
        self.labelled += other.labelled
        self.confusion.update(other.confusion)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_api(name: str, root: Path | None = None) -> tuple[RoleTable, list[Labelled]]:
    """The role table of one labelled API folder (``root/name``; the corpus by default) and
    its labelled operations, in label order.

    A simulator world's folder is read as its ``openapi.json``; any other folder as
    every JSON or YAML document in it.  Raises ValueError when the labels and the
    documents do not list the same operations.
    """
    folder = (root or corpus_root()) / name
    if (folder / "manifest.json").is_file() and (folder / "events.jsonl").is_file():
        docs = [folder / "openapi.json"]  # a simulator run: the other JSON files are not documents
    else:
        docs = sorted(p for p in folder.iterdir() if p.suffix in _DOC_SUFFIXES)
    table = RoleTable([OpenAPI.load(p) for p in docs])
    rows: dict[tuple[str, str], OperationRole] = {}
    for row in table.rows:
        rows.setdefault((row.method, row.template), row)
    items = []
    with open(folder / "roles.tsv", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                raise ValueError(f"{folder / 'roles.tsv'}:{n}: expected 4 tab-separated fields")
            method, path, op_id, role = parts
            key = (method, path)
            if key not in rows:
                raise ValueError(f"{folder / 'roles.tsv'}:{n}: {method} {path} is not in the documents")
            items.append(Labelled(name, method, path, op_id, None if role == "null" else role, rows[key]))
    missing = set(rows) - {(i.method, i.path) for i in items}
    if missing:
        raise ValueError(f"{name}: operations without a label: {sorted(missing)[:5]}")
    return table, items


def score(items: list[Labelled]) -> Score:
    """The figures of a list of labelled operations."""
    s = Score()
    for item in items:
        s.add(item)
    return s


def per_role(items: list[Labelled]) -> dict[str, Score]:
    """Figures of each role: a right answer counts for its role, a wrong one as a false
    positive of the role given and a false negative of the role labelled."""
    out: dict[str, Score] = {}
    for item in items:
        pred, label = item.predicted, item.label
        if pred is not None and pred == label:
            out.setdefault(pred, Score()).tp += 1
            continue
        if pred is not None:
            out.setdefault(pred, Score()).fp += 1
        if label is not None:
            out.setdefault(label, Score()).fn += 1
    return dict(sorted(out.items()))


def evaluation_sets(sim_root: Path, corpus: Path | None = None) -> dict[str, list[Labelled]]:
    """The labelled operations of the three sets: ``development set``, ``corpus`` (empty
    when absent) and ``simulator worlds`` (written into ``sim_root``)."""
    out = {}
    for name, root in (("development set", dev_root()), ("corpus", corpus or corpus_root())):
        out[name] = [i for api in corpus_apis(root) for i in load_api(api, root)[1]]
    simulate_worlds(sim_root)
    out["simulator worlds"] = [i for w in SIM_HELD_OUT for i in load_api(w, sim_root)[1]]
    return out

