"""Enrichment hooks, the last step of ingest: add fields to an event before rules see it.

An enricher is any callable ``(event: dict) -> None`` that adds fields to a
normalised event in place (``asn`` and ``country`` from ``src_ip``, a tenant
from a header, ...).  It runs after ``Normalizer`` and before dispatch
(``Engine(pack, enrich=[...])``), should not raise (the engine quarantines
the event's error as ``enrich-error`` and goes on) and should only add
fields, never overwrite ones the input carried.  ``PrefixTable`` is the
stock enricher: longest-prefix CIDR lookup on the same ``bisect`` intervals
as ``reflist`` (O(log n), ~1-2 µs per event).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ..reflist import IntervalMap, parse_cidr, parse_ip

__all__ = ["DEFAULT_PREFIXES", "Enricher", "Prefix", "PrefixTable", "chain"]

#: The signature of an enrichment hook.
Enricher = Callable[[dict], None]

#: The bundled synthetic table (documentation and private ranges only).
DEFAULT_PREFIXES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "prefixes.csv")


@attrs.frozen
class Prefix:
    """One row of a prefix table."""

    cidr: str
    asn: int | None
    country: str | None
    org: str = ""
    kind: str = ""


class PrefixTable:
    """CIDR -> ``Prefix`` with longest-prefix matching; also an enricher.

    Calling the table on an event sets ``asn`` and ``country`` from its
    string ``src_ip`` when they are missing (existing values are kept).
    """

    def __init__(self, rows: Iterable[Prefix]) -> None:
        v4, v6 = [], []
        self.rows: list[Prefix] = []
        for row in rows:
            c = parse_cidr(row.cidr)
            if c is None:
                raise ValueError(f"not a CIDR block: {row.cidr!r}")
            self.rows.append(row)
            (v4 if c[0] == 4 else v6).append((c[1], c[2], row))
        self._v4 = IntervalMap(v4)
        self._v6 = IntervalMap(v6)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> PrefixTable:
        """Read ``cidr,asn,country[,org,kind]`` with a header row; ``#`` lines are comments.

        Raises ``OSError`` and ``ValueError`` (with the line number) on a bad file.
        """
        rows = []
        with open(path, encoding="utf-8-sig", newline="") as f:
            lines = (line for line in f if line.strip() and not line.lstrip().startswith("#"))
            for n, rec in enumerate(csv.DictReader(lines), 2):
                try:
                    asn_text = (rec.get("asn") or "").strip()
                    rows.append(Prefix(
                        cidr=(rec.get("cidr") or "").strip(),
                        asn=int(asn_text.removeprefix("AS")) if asn_text else None,
                        country=(rec.get("country") or "").strip() or None,
                        org=(rec.get("org") or "").strip(),
                        kind=(rec.get("kind") or "").strip(),
                    ))
                except ValueError as e:
                    raise ValueError(f"{os.fspath(path)}: row {n}: {e}") from None
        return cls(rows)

    @classmethod
    def default(cls) -> PrefixTable:
        """The bundled synthetic table (``engine/data/prefixes.csv``); test data only."""
        return cls.from_csv(DEFAULT_PREFIXES)

    def lookup(self, ip: Any) -> Prefix | None:
        """The most specific row containing ``ip``, or None (also for non-IP values)."""
        p = parse_ip(ip)
        if p is None:
            return None
        return (self._v4 if p[0] == 4 else self._v6).find(p[1])

    def __call__(self, event: dict) -> None:
        ip = event.get("src_ip")
        if type(ip) is not str or ("asn" in event and "country" in event):
            return
        row = self.lookup(ip)
        if row is None:
            return
        if row.asn is not None and "asn" not in event:
            event["asn"] = row.asn
        if row.country is not None and "country" not in event:
            event["country"] = row.country

    def __len__(self) -> int:
        return len(self.rows)


def chain(*enrichers: Enricher) -> Enricher:
    """One enricher running several in order."""
    hooks = tuple(enrichers)

    def run(event: dict) -> None:
        for hook in hooks:
            hook(event)

    return run
