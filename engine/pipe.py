"""Pipes: what a rule's matches go through before they are emitted (EQL's pipes).

Runtime of the `| filter`, `| unique` and `| head` clauses. The rule's
generated `pipe_values(ev, binds)` computes, when a match is decided, one
value per pipe (the filter's condition, the unique values, the head's group
key); `Pipeline.admit` then runs the pipes in written order on those values,
so state changes only for the matches that reach a pipe (EQL: `| unique x |
head 2` is the first two unique values, `| head 2 | unique x` the unique
among the first two). State is bounded: `| unique` remembers at most `limit
unique` values and `| head N by f` at most `limit keys` groups, the least
recently seen forgotten first (counted; a match admitted after a forgotten
`unique` value carries the flag `unique-evicted`). Pipes that need the whole
input (`tail`, `sort`, `count`) are refused by the checker.
"""

from __future__ import annotations

from collections import OrderedDict

from .match import jsonable
from .spec import RuleSpec
from .state import thaw_key


def _hashable(v):
    """A dict key for any event value (lists and mappings by their JSON text)."""
    if isinstance(v, (str, int, float, bool, type(None))):
        return v
    if isinstance(v, tuple):
        return tuple(_hashable(x) for x in v)
    return repr(jsonable(v))


class Pipeline:
    """The pipes of one rule and their state (seen values, head counters)."""

    __slots__ = ("spec", "kinds", "counts", "seen", "heads", "total", "ucap", "gcap", "forgotten")

    def __init__(self, spec: RuleSpec):
        self.spec = spec
        self.kinds = tuple(p.kind for p in spec.pipes)
        self.counts = tuple(p.count for p in spec.pipes)
        n = len(spec.pipes)
        self.seen: list[OrderedDict | None] = [OrderedDict() if k == "unique" else None for k in self.kinds]
        self.heads: list[OrderedDict | None] = [OrderedDict() if k == "head" else None for k in self.kinds]
        self.total = [0] * n          # matches a `head` without groups let through
        self.ucap = spec.limit("unique")
        self.gcap = spec.limit("keys")
        self.forgotten = 0            # unique values and head groups forgotten at the caps

    def values(self, ev, binds) -> tuple:
        """The per-pipe values of a match decided on event `ev` with step bindings `binds`."""
        return self.spec.pipe_values(ev, binds)

    def admit(self, values: tuple) -> tuple[bool, list[str]]:
        """Run the pipes in order on one match's values: (emitted?, flags to add)."""
        flags: list[str] = []
        for i, kind in enumerate(self.kinds):
            v = values[i]
            if kind == "filter":
                if not v:
                    return False, flags
            elif kind == "unique":
                seen = self.seen[i]
                k = _hashable(v)
                if k in seen:
                    seen.move_to_end(k)   # recently seen values stay longest
                    return False, flags
                seen[k] = None
                if len(seen) > self.ucap:
                    seen.popitem(last=False)
                    self.forgotten += 1
                if self.forgotten:
                    flags.append("unique-evicted")
            else:
                limit = self.counts[i]
                heads = self.heads[i]
                if not v:                 # no `by`: the rule's first N matches
                    if self.total[i] >= limit:
                        return False, flags
                    self.total[i] += 1
                    continue
                k = _hashable(v)
                n = heads.get(k, 0)
                if n >= limit:
                    heads.move_to_end(k)
                    return False, flags
                heads[k] = n + 1
                heads.move_to_end(k)
                if len(heads) > self.gcap:
                    heads.popitem(last=False)
                    self.forgotten += 1
        return True, flags

    def dump(self) -> list:
        return [[None if s is None else list(s) for s in self.seen],
                [None if h is None else [[k, n] for k, n in h.items()] for h in self.heads],
                list(self.total), self.forgotten]

    def load(self, data) -> None:
        seen, heads, total, forgotten = data
        self.seen = [None if s is None else OrderedDict((thaw_key(k), None) for k in s) for s in seen]
        self.heads = [None if h is None else OrderedDict((thaw_key(k), n) for k, n in h) for h in heads]
        self.total = list(total)
        self.forgotten = forgotten


__all__ = ["Pipeline"]
