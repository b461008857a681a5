"""The names a rule can use, and what the checker knows about each, defined once.

Stage 3 of the front end (the checker) reads its vocabulary here. The
event schema (fields, types, aliases) and the aggregates (arity, argument
kinds, result types) are the engine's own tables (`sleuth.engine.schema`,
`sleuth.engine.aggregate.REGISTRY`), re-read here, never copied; what only
the language has is defined here: the scalar functions, meta entries,
limits, refire policies, which clauses each rule kind takes and the words
messages use for them. The playground's completer and lexer read the same
tables.
"""

from __future__ import annotations

from sleuth.engine.aggregate import (
    AGGREGATE,
    ARGUMENTS,
    ARITY,
    DURATION,
    INTERARRIVAL,
    NUMBER,
    PREDICATE,
    REGISTRY,
    SIZE,
    VALUE,
)
from sleuth.engine.population import FUNCTIONS as _POPULATION
from sleuth.engine.schema import (
    ALIAS_OF,
    FIELDS,
    GOALS,
    MATCH_FIELDS,
    SEVERITIES,
    SPEC_FIELDS,
    TTPS,
)

from . import ast, ir

# ---------------------------------------------------------------- fields (the engine's schema)

#: Alias path -> canonical field: a rule may write either, the checker warns on the alias.
ALIASES: dict[str, str] = ALIAS_OF
#: Top-level fields whose values are mappings (`headers.x-api-key`, `spec.documented`).
MAP_FIELDS = frozenset(n for n, t in FIELDS.items() if t == "map")

# ---------------------------------------------------------------- functions and aggregates

#: Scalar functions: name -> (min args, max args, return type).
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "lower": (1, 1, ir.STR), "upper": (1, 1, ir.STR), "length": (1, 1, ir.INT),
    "startswith": (2, 2, ir.BOOL), "endswith": (2, 2, ir.BOOL), "contains": (2, 2, ir.BOOL),
    "exists": (1, 1, ir.BOOL), "int": (1, 1, ir.INT), "str": (1, 1, ir.STR),
    "float": (1, 1, ir.FLOAT), "cidr": (2, 2, ir.BOOL), "abs": (1, 1, ir.NUM),
    "hour": (1, 1, ir.INT), "weekday": (1, 1, ir.INT),
    "casefold": (1, 1, ir.ANY),
}
#: Population functions (`share`, `spread`): statistics of the whole event stream, from the
#: engine's table (`sleuth.engine.population.FUNCTIONS`); name -> argument kind per position.
POPULATION: dict[str, tuple[str, ...]] = {n: d.args for n, d in _POPULATION.items()}
FUNCTIONS.update({n: (d.arity[0], d.arity[1], d.result) for n, d in _POPULATION.items()})
#: Aggregates: name -> (min args, max args), from the engine's registry.
AGGREGATES: dict[str, tuple[int, int]] = ARITY
#: Aggregate name -> the kind of each argument position (engine registry).
AGGREGATE_ARGUMENTS: dict[str, tuple[str, ...]] = ARGUMENTS
#: Aggregates `baseline(...)` may follow.
FOLLOWABLE = frozenset(n for n, d in REGISTRY.items() if d.followable)
#: The pseudo-function only `cv()` and `jitter()` take.
INTERARRIVAL_CALL = "interarrival"
ARG_KINDS = (VALUE, NUMBER, PREDICATE, INTERARRIVAL, AGGREGATE, DURATION, SIZE)

# ---------------------------------------------------------------- rules

META_KNOWN = ("ttp", "goal", "severity", "title", "description", "references", "tags",
              "false_positives", "blind_spots", "author", "version")
META_LISTS = ("references", "tags", "false_positives", "blind_spots")
#: Meta entries whose value is an id of the taxonomy (all three are required).
META_VOCABULARIES: dict[str, tuple[str, ...]] = {"ttp": TTPS, "goal": GOALS, "severity": SEVERITIES}
#: `limit` entries: name -> (min, max) accepted at load time (the names are the engine's limits,
#: `sleuth.engine.spec.DEFAULT_LIMITS`; tests/dsl/test_vocabulary.py keeps them equal).
LIMITS: dict[str, tuple[int, int]] = {
    "keys": (1, 10_000_000), "partials": (1, 64), "events": (1, 10_000),
    "distinct": (1, 1_000_000), "values": (1, 100_000), "window": (1, 1_000_000),
    "unique": (1, 10_000_000),
}
MAX_DURATION = 30 * 86400.0
MAX_REPEAT = 1000
MAX_SAMPLE = 1000
REFIRE = ("reset", "keep", "cooldown")
#: Pipes a stream can run (EQL's); a match goes through a rule's pipes in written order.
PIPES = ("filter", "unique", "head")
MAX_HEAD = 1_000_000
#: EQL pipes that need every match before they output one: why not, and what to write instead.
NOT_STREAMING: dict[str, str] = {
    "tail": "'| tail N' keeps the last N matches of an input that never ends; use '| head N', "
            "or sort the run's output afterwards",
    "sort": "sorting waits for every match; matches come out in time order",
    "count": "counting is an aggregate: a window rule over this rule's matches counts them, e.g. "
             "rule counts {{ from matches  where rule == \"{rule}\"  by user  window 1h tumbling  having count() >= 1  "
             "emit {{ count = count() }} }}",
    "unique_count": "'| unique' keeps the first match per value; count them with a window rule over the matches",
}
#: Names every match has; `emit` may not reuse them.
RESERVED_EMIT = frozenset({"rule", "ttp", "goal", "severity", "title", "key", "provenance",
                           "match_id", "fingerprint", "first_ts", "last_ts", "emitted_at", "flags"})
#: Rule kind -> the clauses it takes (every ast.Clause class is in at least one;
#: tests/dsl/test_passes.py checks that).
ALLOWED_CLAUSES: dict[str, frozenset[type]] = {
    "event": frozenset({ast.WhenClause, ast.ByClause, ast.Meta, ast.Emit, ast.Suppress, ast.FromMatches,
                        ast.Limit, ast.Fingerprint, ast.Pipe}),
    "sequence": frozenset({ast.Sequence, ast.ByClause, ast.WithinClause, ast.WhereClause, ast.UntilClause,
                           ast.UnlessBetween, ast.UnlessAfter, ast.Meta, ast.Emit, ast.Suppress,
                           ast.FromMatches, ast.Limit, ast.Fingerprint, ast.Pipe}),
    "join": frozenset({ast.Join, ast.ByClause, ast.WithinClause, ast.WhereClause, ast.UntilClause, ast.Meta,
                       ast.Emit, ast.Suppress, ast.FromMatches, ast.Limit, ast.Fingerprint, ast.Pipe}),
    "window": frozenset({ast.HavingClause, ast.WindowClause, ast.ByClause, ast.WhereClause, ast.Meta,
                         ast.Emit, ast.Suppress, ast.FromMatches, ast.Limit, ast.Fingerprint, ast.Refire}),
}
RULE_KIND_WORDS = {"event": "a single-event ('when') rule", "sequence": "a sequence rule",
                   "join": "a join rule", "window": "a window ('having') rule"}

# ---------------------------------------------------------------- words of messages

_CLAUSE_WORDS = {
    ast.Meta: "meta", ast.ByClause: "by", ast.WithinClause: "within", ast.WindowClause: "window",
    ast.WhereClause: "where", ast.WhenClause: "when", ast.HavingClause: "having",
    ast.Sequence: "sequence", ast.UntilClause: "until", ast.UnlessBetween: "unless ... between",
    ast.UnlessAfter: "unless ... after", ast.Emit: "emit", ast.Suppress: "suppress",
    ast.FromMatches: "from matches", ast.Limit: "limit", ast.Fingerprint: "fingerprint",
    ast.Refire: "refire", ast.Join: "join", ast.Pipe: "|",
}
_CLAUSE_HINTS = {
    ast.WithinClause: "'within' bounds a sequence; a window rule uses 'window'",
    ast.WindowClause: "'window' belongs to rules with 'having'; a sequence uses 'within'",
    ast.WhereClause: "a single-event rule puts its whole condition in 'when'",
    ast.UntilClause: "'until' resets a sequence's partial matches",
    ast.UnlessBetween: "absences belong to sequences",
    ast.UnlessAfter: "absences belong to sequences",
    ast.Refire: "'refire' sets what a window does after a match",
    ast.Pipe: "pipes post-process the matches of event, sequence and join rules; "
              "a window rule filters with 'having'",
}
_MODIFIER_WORDS = {ast.StepBy: "by", ast.StepRepeat: "repeat", ast.StepGap: "within",
                   ast.StepWindow: "window", ast.StepFork: "fork"}
_TYPE_NAMES = {"int": "number", "float": "number", "num": "number", "duration": "duration",
               "str": "string", "bool": "boolean", "map": "mapping", "list": "list", "ip": "IP address",
               "time": "time"}
_LIST_KIND_NAMES = {"str": "strings", "int": "numbers", "num": "numbers", "ip": "networks", "mixed": "values"}


def clause_word(cls: type) -> str:
    """How messages name a clause class (`'unless ... after'`); the class name if it has none."""
    return _CLAUSE_WORDS.get(cls, cls.__name__)


def clause_hint(cls: type) -> str:
    """The hint given when a clause is not allowed in a rule of some kind."""
    return _CLAUSE_HINTS.get(cls, "see docs/language.md for which clauses each rule kind takes")


def modifier_word(mod: ast.StepMod) -> str:
    """The keyword of a step modifier (`repeat`, `within`, ...); KeyError for an unknown class."""
    return _MODIFIER_WORDS[type(mod)]


def type_name(t: str) -> str:
    """A static type as messages say it (`number`, `string`, `IP address`)."""
    return _TYPE_NAMES.get(t, t)


def list_kind_name(kind: str) -> str:
    """What a list of this kind holds, in messages (`strings`, `networks`)."""
    return _LIST_KIND_NAMES[kind]


__all__ = [
    "ALIASES", "FIELDS", "MAP_FIELDS", "MATCH_FIELDS", "SPEC_FIELDS", "TTPS", "GOALS", "SEVERITIES",
    "FUNCTIONS", "POPULATION", "AGGREGATES", "AGGREGATE_ARGUMENTS", "FOLLOWABLE", "INTERARRIVAL_CALL", "ARG_KINDS",
    "VALUE", "NUMBER", "PREDICATE", "INTERARRIVAL", "AGGREGATE", "DURATION", "SIZE",
    "META_KNOWN", "META_LISTS", "META_VOCABULARIES", "LIMITS", "MAX_DURATION", "MAX_REPEAT", "MAX_SAMPLE",
    "REFIRE", "PIPES", "MAX_HEAD", "NOT_STREAMING", "RESERVED_EMIT", "ALLOWED_CLAUSES", "RULE_KIND_WORDS",
    "clause_word", "clause_hint", "modifier_word", "type_name", "list_kind_name",
]
