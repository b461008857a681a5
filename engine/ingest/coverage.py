"""Field coverage of a stream: how many events carry each field a rule pack reads (an enricher).

``FieldCoverage(paths)`` is called with every normalised event before the
rules see it (``Engine(enrich=[...])``, last in the chain, so that what
enrichers add counts) and counts, per dotted path, the events where it has a
value; it never changes an event.  ``sleuth run`` and ``sleuth inspect``
report the shares and, with ``sleuth.dsl.needs``, the rules that cannot fire
on the input.  Measured cost: ~0.05 µs per watched path and event (17 paths
of the shipped pack: under 1 µs, a few percent of an event's rule work).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FieldCoverage", "present"]

_MISSING = object()


def present(ev: Mapping, path: str) -> bool:
    """Whether ``ev`` has a value (not None) at a dotted path: nested mappings or a flat key."""
    v = ev.get(path, _MISSING)
    if v is not _MISSING:
        return v is not None
    node: Any = ev
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return False
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return False
    return node is not None


class FieldCoverage:
    """Counts of events carrying each watched path; call it with each event (an enricher).

    ``events`` is the number of events seen, ``counts[path]`` how many had a
    value there, ``share(path)`` the fraction.  ``state()``/``load()`` carry
    the counts across a resumed run.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = tuple(sorted(set(paths)))
        self._top = tuple(p for p in self.paths if "." not in p)
        self._nested = tuple(p for p in self.paths if "." in p)
        self.events = 0
        self.counts: dict[str, int] = dict.fromkeys(self.paths, 0)

    def __call__(self, ev: dict) -> None:
        self.events += 1
        counts = self.counts
        get = ev.get
        for p in self._top:
            if get(p) is not None:
                counts[p] += 1
        for p in self._nested:
            if present(ev, p):
                counts[p] += 1

    def share(self, path: str) -> float | None:
        """The fraction of events carrying ``path`` (None before any event)."""
        return self.counts.get(path, 0) / self.events if self.events else None

    def state(self) -> dict[str, Any]:
        """The counts as plain data (for a state file)."""
        return {"events": self.events, "counts": dict(self.counts)}

    def load(self, data: Any) -> None:
        """Add counts saved by ``state()`` (paths not watched now are ignored)."""
        if not isinstance(data, dict):
            return
        n = data.get("events")
        counts = data.get("counts")
        if type(n) is not int or not isinstance(counts, dict):
            return
        self.events += n
        for p, c in counts.items():
            if p in self.counts and type(c) is int:
                self.counts[p] += c


def percent(share: float) -> str:
    """A share as the summaries print it: ``100%``, ``78.3%``, ``<0.1%``, ``>99.9%``, ``0%``.

    Computed from exact counts (not a rounded share) so `sleuth run` and
    `sleuth inspect` print the same figure for the same input.
    """
    if share >= 1.0:
        return "100%"
    if share <= 0.0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    if share > 0.999:
        return ">99.9%"
    return f"{share * 100:.1f}%".replace(".0%", "%")
