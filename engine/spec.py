"""Engine specs: what a compiled rule pack is, as the engine runs it.

The third tree (AST → IR → spec). The language compiler (`sleuth.dsl.lower`)
builds these frozen descriptions; the engine only reads them, so the engine
never needs the parser. A spec holds generated functions (predicates, keys,
projections) plus the constants that configure the machines: steps and
their repeat bounds, windows, aggregates, limits. One `PackSpec` can back
any number of `Engine` instances (dispatch functions are made per engine by
calling the group factories with that engine's handlers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .pycode import LineInfo

# Default limits (a rule may lower or raise them with `limit`).
DEFAULT_LIMITS = {
    "keys": 100_000,        # live keys per rule (LRU eviction beyond)
    "partials": 1,          # pending partial matches per sequence state and key (EQL: 1)
    "events": 20,           # provenance events kept per step / per window match
    "distinct": 10_000,     # exact distinct values per aggregate and key
    "values": 1_000,        # remembered values per key for first_seen()
    "window": 10_000,       # events held per key in a sliding window
    "unique": 100_000,      # values remembered by a `| unique` pipe (oldest forgotten beyond)
}


@attrs.frozen(eq=False)
class GroupSpec:
    """One generated dispatch function for one index bucket.

    `factory(*handlers)` returns `fn(ev)`; `slots[i]` says which rule and
    role the i-th handler serves ("fire", "seq" or "win").
    """

    name: str
    filename: str
    source: str
    factory: Callable[..., Callable[[dict], None]]
    slots: tuple[tuple[int, str], ...]
    lines: dict[int, LineInfo]
    lists: tuple = ()              # file-backed reference lists bound in this function
    constants: tuple[str, ...] = ()  # its k<n> constants as text (`k0 = 'user'`), for explain
    queries: tuple = ()            # population queries (`QuerySpec`) it calls: factory(*handlers, *queries)


@attrs.frozen(eq=False)
class Dispatch:
    """Index field → {value → group}, plus the group every event visits."""

    index: tuple[tuple[str, dict[Any, GroupSpec]], ...]
    always: GroupSpec | None

    def groups(self) -> list[GroupSpec]:
        out = [] if self.always is None else [self.always]
        for _f, table in self.index:
            out.extend(table.values())
        seen: set[int] = set()
        uniq = []
        for g in out:
            if id(g) not in seen:
                seen.add(id(g))
                uniq.append(g)
        return uniq


@attrs.frozen(eq=False)
class AggSpec:
    """An aggregate of a window (or of a step window)."""

    kind: str
    label: str
    arg: int | None = None          # index into the extracted value tuple
    param: Any = None
    inner: int | None = None        # baseline: index of the aggregate it follows


@attrs.frozen(eq=False)
class StepSpec:
    """One compiled sequence step: bounds, key, join, provenance projection, aggregate window."""
    name: str
    index: int
    min: int
    max: int | None
    gap: float | None
    key: Callable[[dict], Any] | None       # per-step key (None: the rule key)
    join: Callable[[dict, tuple], bool] | None
    bind: Callable[[dict], tuple] | None     # values later steps reference
    record: Callable[[dict], tuple]          # provenance values of `fields`
    fields: tuple[str, ...]
    window: float | None = None              # aggregate step
    key_names: tuple[str, ...] = ()          # dotted names of the step's key fields (rule key first)
    aggs: tuple[AggSpec, ...] = ()
    extract: Callable[[dict], tuple] | None = None
    having: Callable[[list], bool] | None = None
    fork: bool = False                       # advancing keeps the previous step's partial (EQL fork)


@attrs.frozen(eq=False)
class PipeSpec:
    """One pipe of a rule, run on each match in written order (`engine/pipe.py`).

    `kind` is "filter", "unique" or "head"; its per-match value is the
    pipe's item in the tuple the rule's `pipe_values(ev, binds)` returns
    (the condition, the unique values, the head's group key).
    """

    kind: str
    label: str
    count: int | None = None


@attrs.frozen(eq=False)
class AbsenceSpec:
    """An absence: between steps `start` and `end`, or after the last step `within` seconds."""
    name: str
    start: int
    end: int | None
    within: float | None
    join: Callable[[dict, tuple], bool] | None


@attrs.frozen(eq=False)
class RuleSpec:
    """One compiled rule."""

    index: int
    name: str
    kind: str                     # event | sequence | join | window
    source: str                   # events | matches
    ttp: str
    goal: str
    severity: str
    title: str
    meta: dict
    file: str
    line: int
    key_names: tuple[str, ...]
    key: Callable[[dict], Any] | None       # None: one global key
    record: Callable[[dict], tuple]
    record_fields: tuple[str, ...]
    emit: Callable[..., dict] | None
    fingerprint: Callable[..., tuple] | None
    suppress: float | None
    suppress_key: Callable[[dict], Any] | None
    limits: dict
    within: float | None = None
    steps: tuple[StepSpec, ...] = ()
    absences: tuple[AbsenceSpec, ...] = ()
    has_until: bool = False
    until_key: Callable[[dict], Any] | None = None   # `until ... by`: the key an until event resets
    window_kind: str | None = None
    window_size: float | None = None
    window_gap: float | None = None
    aggs: tuple[AggSpec, ...] = ()
    extract: Callable[[dict], tuple] | None = None
    having: Callable[[list], bool] | None = None
    sustain: float | None = None
    refire: str = "reset"
    refire_after: float | None = None
    consumes: tuple[str, ...] | None = None
    view: Callable[[dict], dict] | None = None   # window rules: the fields emit/having read
    prep: Callable[[dict], tuple | None] | None = None  # window rules: (key, aggregate args, record) or None
    window_guard: int = 0                        # window rules: events a window needs before `having` can hold
    filename: str = ""                           # fake filename of the generated module
    lines: dict = attrs.Factory(dict)            # generated line -> LineInfo
    lists: tuple = ()                            # file-backed reference lists bound in its code
    pipes: tuple[PipeSpec, ...] = ()
    pipe_values: Callable[[dict, tuple | None], tuple] | None = None
    source_text: str = ""
    explain_text: str = ""
    constants: tuple[str, ...] = ()              # k<n> constants of `source_text` as text, for explain
    queries: tuple = ()                          # population queries (`QuerySpec`) its code calls
    requery: Callable[..., dict] | None = None   # its functions again, around other query functions

    def limit(self, name: str) -> int:
        return self.limits.get(name, DEFAULT_LIMITS[name])

    @property
    def horizon(self) -> float:
        """How long an idle key's state can still matter (seconds)."""
        if self.kind in ("sequence", "join"):
            if self.within is None:
                return float("inf")    # unbounded: bounded by `limit keys` and `limit partials`
            extra = max((a.within or 0.0) for a in self.absences) if self.absences else 0.0
            return self.within + extra
        if self.kind == "window":
            if self.window_kind == "session":
                return self.window_gap or 0.0
            return self.window_size or 0.0
        return 0.0


@attrs.frozen(eq=False)
class PackSpec:
    """A compiled rule pack: rules, dispatch, and a fingerprint of its text."""

    name: str
    fingerprint: str
    rules: tuple[RuleSpec, ...]
    events: Dispatch
    matches: Dispatch
    tests: tuple = ()
    lists: tuple = ()              # file-backed reference lists (RefList), for reloads
    fields: frozenset = frozenset()  # top-level event fields the rules read
    sharing: tuple = ()            # window rules that could share a per-key store (dsl.lower.window_sharing)
    population: tuple = ()         # stream-wide sketches (`SketchSpec`) the rules read

    def reload_lists(self) -> list[str]:
        """Reload every list file that changed on disk; the names of those that did.

        Membership tests read the lists live, so a reload takes effect for the
        next event. Used by `sleuth run --follow`.
        """
        changed = []
        seen: set[int] = set()
        for lst in self.lists:
            if id(lst) in seen:
                continue
            seen.add(id(lst))
            if lst.maybe_reload():
                changed.append(lst.name)
        return changed

    def rule(self, name: str) -> RuleSpec:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def partition_plan(self) -> list[dict]:
        """Which rules share which key: the unit a distributed runner partitions by.

        Rules with the same key field list (`by src_ip`) form one partition
        group; a keyed stream processor keys the stream by those fields and
        runs one engine per group with that group's rules.
        """
        groups: dict[tuple[str, ...], list[str]] = {}
        for r in self.rules:
            groups.setdefault(r.key_names, []).append(r.name)
        return [{"key": list(k), "rules": v} for k, v in sorted(groups.items())]
