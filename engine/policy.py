"""A policy of actions: what to do about matches, and the state that enforces it.

Stage: after the engine. `Policy` is the checked configuration (a TOML file or
a profile's `[policy]` table, via `policy_from_dict`): matches map to `log`,
`tag`, `challenge`, `throttle` or `block` by rule, technique, goal or severity,
first rule wins; allow-lists always win. `Enforcer` decides at the match's
event time, feeds decisions back as `@decision` records, and answers requests
from bounded state (earliest expiry evicted first). Event time throughout, so
the same input gives the same decisions. Standard library and engine only.
"""

from __future__ import annotations

import difflib
import heapq
import ipaddress
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import msgpack

from .duration import format_seconds
from .errors import SleuthError, SnapshotError
from .match import Match, format_ts, stable_hash
from .schema import GOALS, SEVERITIES, SEVERITY_RANK, TTPS

ACTIONS = ("log", "tag", "challenge", "throttle", "block")
# The strongest applicable action answers a request; `allow` is an allow-listed key.
STRENGTH = {"allow": 0, "log": 0, "tag": 1, "throttle": 2, "challenge": 3, "block": 4}
ENFORCED = ("tag", "challenge", "throttle", "block")
# Key kinds of a decision and the event fields they read; `match` is the match's whole key.
KEY_KINDS: dict[str, tuple[str, ...] | None] = {
    "address": ("src_ip",), "session": ("session",), "user": ("user",),
    "client": ("client",), "actor": ("actor",), "match": None,
}
DECISION_PRODUCER = "@decision"
SNAPSHOT_MAGIC = "sleuth-policy-state"
SNAPSHOT_VERSION = 1
# Fields an allow-list may test beside `address` (CIDRs); values are exact or globs (`*`).
ALLOW_FIELDS = ("user", "session", "ua", "client", "actor", "host", "asn", "country", "ja3")

_TOP_KEYS = ("rules", "allow", "default", "challenge", "block", "max_active", "on_error")
_RULE_KEYS = ("name", "rule", "ttp", "goal", "severity", "action", "key", "duration",
              "rate", "burst", "header", "value", "retry_after")
_RESPONSE_KEYS = ("status", "body", "headers", "retry_after")
_DEFAULT_KEYS = ("action", "duration")
_PLACEHOLDERS = ("rule", "ttp", "goal", "severity", "match_id", "decision_id")


# ---------------------------------------------------------------- diagnostics

@attrs.frozen
class PolicyDiagnostic:
    """One problem in a policy, as data: `file:line:col: severity[code]: message`."""

    code: str
    severity: str
    message: str
    file: str
    line: int
    col: int
    hints: tuple[str, ...] = ()
    source_line: str | None = None
    width: int = 1

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self) -> str:
        """Compiler-style text with the source line and a caret, like rule diagnostics."""
        out = [f"{self.file}:{self.line}:{self.col}: {self.severity}[{self.code}]: {self.message}"]
        gutter = len(str(self.line))
        if self.source_line is not None:
            pad = " " * gutter
            out += [f"{pad} |", f"{self.line} | {self.source_line}",
                    f"{pad} | {' ' * (self.col - 1)}{'^' * max(1, self.width)}"]
        out += [f"{' ' * gutter} = hint: {h}" for h in self.hints]
        return "\n".join(out)

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col, "severity": self.severity,
                "code": self.code, "message": self.message, "hints": list(self.hints)}


class PolicyError(SleuthError):
    """A policy with errors; `diagnostics` holds every one of them (warnings too)."""

    def __init__(self, diagnostics: list[PolicyDiagnostic]):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.is_error]
        super().__init__("\n\n".join(d.render() for d in errors) or "invalid policy")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEYPART = r'(?:[A-Za-z0-9_-]+|"[^"\n]*"|\'[^\'\n]*\')'
_KEY = re.compile(rf"^\s*({_KEYPART}(?:\s*\.\s*{_KEYPART})*)\s*=\s*")
_INLINE_KEY = re.compile(rf"({_KEYPART})\s*=\s*")


def _split_dotted(text: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in re.findall(rf"{_KEYPART}", text))


class _Locator:
    """Where a key or value of a TOML text is (tomllib gives no positions): a line scan.

    Paths are the dict paths of the parsed document (`("rules", 2, "action")`);
    an array-of-tables header counts its elements. A path not found falls
    back to its nearest located parent.
    """

    def __init__(self, text: str | None):
        self.lines = text.splitlines() if text else []
        self.keys: dict[tuple, tuple[int, int, int]] = {}
        self.values: dict[tuple, tuple[int, int, int]] = {}
        counts: dict[tuple, int] = {}
        table: tuple = ()
        in_string = None
        for n, line in enumerate(self.lines, 1):
            if in_string is not None:
                if line.count(in_string) % 2:
                    in_string = None
                continue
            m = _HEADER.match(line)
            if m:
                parts = _split_dotted(m.group(2))
                resolved: tuple = ()
                for p in parts[:-1]:
                    resolved += (p,)
                    if resolved in counts:
                        resolved += (counts[resolved] - 1,)
                resolved += (parts[-1],)
                if m.group(1) == "[[":
                    i = counts.get(resolved, 0)
                    counts[resolved] = i + 1
                    table = resolved + (i,)
                else:
                    table = resolved
                col = m.start(2) + 1
                self.keys.setdefault(table, (n, col, len(m.group(2))))
                continue
            m = _KEY.match(line)
            if not m:
                continue
            path = table + _split_dotted(m.group(1))
            self.keys.setdefault(path, (n, m.start(1) + 1, len(m.group(1))))
            rest = line[m.end():]
            self.values.setdefault(path, (n, m.end() + 1, _token_width(rest)))
            for q in ('"""', "'''"):
                if rest.count(q) % 2:
                    in_string = q
            if rest.startswith("{"):
                for im in _INLINE_KEY.finditer(rest):
                    sub = path + _split_dotted(im.group(1))
                    base = m.end()
                    self.keys.setdefault(sub, (n, base + im.start(1) + 1, len(im.group(1))))
                    self.values.setdefault(sub, (n, base + im.end() + 1, _token_width(rest[im.end():])))

    def find(self, path: tuple, value: bool) -> tuple[int, int, int]:
        p = tuple(path)
        while p:
            if value and p in self.values:
                return self.values[p]
            if p in self.keys:
                return self.keys[p]
            p = p[:-1]
        return (1, 1, 1)

    def line(self, n: int) -> str | None:
        return self.lines[n - 1] if 1 <= n <= len(self.lines) else None


def _token_width(text: str) -> int:
    m = re.match(r'"[^"\n]*"|\'[^\'\n]*\'|\[[^\]\n]*\]|\{[^}\n]*\}|[^\s,#}]+', text)
    return len(m.group(0)) if m else 1


class _Checker:
    def __init__(self, file: str, text: str | None, prefix: tuple):
        self.file = file
        self.loc = _Locator(text)
        self.prefix = prefix
        self.diags: list[PolicyDiagnostic] = []

    def report(self, severity: str, code: str, message: str, path: tuple, *hints: str,
               value: bool = True) -> None:
        line, col, width = self.loc.find(self.prefix + tuple(path), value)
        self.diags.append(PolicyDiagnostic(code, severity, message, self.file, line, col,
                                           tuple(h for h in hints if h), self.loc.line(line), width))

    def error(self, code: str, message: str, path: tuple, *hints: str, value: bool = True) -> None:
        self.report("error", code, message, path, *hints, value=value)

    def warn(self, code: str, message: str, path: tuple, *hints: str, value: bool = True) -> None:
        self.report("warning", code, message, path, *hints, value=value)

    def unknown_keys(self, table: Mapping, allowed: Iterable[str], path: tuple, what: str) -> None:
        allowed = tuple(allowed)
        for k in table:
            if k not in allowed:
                guess = difflib.get_close_matches(str(k), allowed, n=1)
                self.error("unknown-key", f"unknown key '{k}' in {what}", path + (k,),
                           f"did you mean '{guess[0]}'?" if guess else f"keys: {', '.join(allowed)}",
                           value=False)


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    guess = difflib.get_close_matches(value, list(choices), n=1)
    return f"did you mean '{guess[0]}'?" if guess else ""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")


def parse_duration(value: Any) -> float | None:
    """`"15m"`, `"30s"`, `"500ms"`, `"2h"`, `"1d"` or a number of seconds; None when not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) and value > 0 else None
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            v = float(m.group(1)) * _UNIT[m.group(2)]
            return v if v > 0 else None
    return None


# ---------------------------------------------------------------- the policy

@attrs.frozen
class Response:
    """What a denied request is answered with (status, extra headers, body)."""

    status: int
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    retry_after: float | None = None     # None: the time left of the decision


@attrs.frozen
class AllowList:
    """A named allow-list: a request is covered when every field it names matches.

    `address` takes CIDRs or addresses; other fields take exact values or
    globs (`*` for any run of characters). Lists are tried in file order.
    """

    name: str
    networks: tuple = ()
    values: tuple[tuple[str, frozenset, Any], ...] = ()   # (field, exact values, glob regex or None)

    def covers(self, event: Mapping) -> bool:
        if self.networks:
            addr = _address(event.get("src_ip"))
            if addr is None or not any(addr in net for net in self.networks):
                return False
        for field, exact, pattern in self.values:
            v = event.get(field)
            if v is None:
                return False
            v = str(v)
            if v not in exact and (pattern is None or pattern.fullmatch(v) is None):
                return False
        return bool(self.networks or self.values)

    def fields(self) -> frozenset:
        return frozenset((["src_ip"] if self.networks else []) + [f for f, _, _ in self.values])


@attrs.frozen
class PolicyRule:
    """One policy rule: conditions on a match, the action, its key and parameters."""

    name: str
    action: str
    key: str = "match"
    duration: float = 600.0
    rules: frozenset | None = None
    ttps: frozenset | None = None
    goals: frozenset | None = None
    severities: frozenset | None = None
    rate: float | None = None
    burst: int | None = None
    header: str = "X-Sleuth-Tag"
    value: str = "{ttp}"
    retry_after: float | None = None
    # Where the rule's `rule = ...` names are (line, col, source line): for `check_rules`.
    where: tuple = attrs.field(default=(1, 1, None), eq=False, repr=False)

    def applies(self, m: Match) -> bool:
        return ((self.rules is None or m.rule in self.rules)
                and (self.ttps is None or m.ttp in self.ttps)
                and (self.goals is None or m.goal in self.goals)
                and (self.severities is None or m.severity in self.severities))

    @property
    def catch_all(self) -> bool:
        return self.rules is None and self.ttps is None and self.goals is None and self.severities is None


@attrs.frozen
class Policy:
    """A checked policy; build it with `policy_from_dict`, `load_policy` or `Policy.default()`."""

    rules: tuple[PolicyRule, ...] = ()
    allow: tuple[AllowList, ...] = ()
    default_action: str = "log"
    default_duration: float = 600.0
    challenge: Response = Response(429, "Too Many Requests\n")
    block: Response = Response(403, "Forbidden\n")
    max_active: int = 100_000
    on_error: str = "allow"
    file: str = "<policy>"
    warnings: tuple[PolicyDiagnostic, ...] = ()

    @classmethod
    def default(cls) -> Policy:
        """Every match logged, nothing enforced."""
        return cls()

    def rule_for(self, m: Match) -> tuple[PolicyRule | None, dict | None]:
        """The first policy rule that applies to the match and can key it, with the decision key."""
        for r in self.rules:
            if r.applies(m):
                key = decision_key(m, r.key)
                if key:
                    return r, key
        return None, decision_key(m, "match") or None

    def allowlisted(self, event: Mapping) -> str | None:
        """The name of the first allow-list covering the event (a request or a decision key)."""
        for a in self.allow:
            if a.covers(event):
                return a.name
        return None

    def check_rules(self, names: Iterable[str]) -> list[PolicyDiagnostic]:
        """Warnings for policy rules naming rules the pack does not have."""
        known = set(names)
        out = []
        for r in self.rules:
            for name in sorted(r.rules or ()):
                if name not in known:
                    line, col, src = r.where
                    out.append(PolicyDiagnostic(
                        "unknown-rule", "warning",
                        f"policy rule '{r.name}' names rule '{name}', which the pack does not have",
                        self.file, line, col, tuple(h for h in [_did_you_mean(name, known)] if h), src))
        return out


def decision_key(m: Match, kind: str) -> dict | None:
    """The key a decision of this kind applies to, from the match's key and emitted fields."""
    fields = KEY_KINDS[kind]
    if fields is None:
        # A key with a null field (an event without it) is not a key to act on: acting on the
        # other fields alone would cover more than the rule saw.
        if not m.key or any(v is None or isinstance(v, (dict, list)) for v in m.key.values()):
            return None
        return dict(m.key)
    out = {}
    for f in fields:
        v = m.key.get(f)
        if v is None:
            v = m.fields.get(f)
        if v is None or isinstance(v, (dict, list)):
            return None
        out[f] = v
    return out


def load_policy(path: str) -> Policy:
    """Read and check a policy file (TOML). Raises `PolicyError` with every diagnostic, OSError."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyDiagnostic("bad-encoding", "error", f"the policy is not UTF-8 ({exc.reason})",
                                            str(path), 1, 1)]) from None
    return policy_from_toml(text, str(path))


def policy_from_toml(text: str, file: str = "<policy>") -> Policy:
    """Parse TOML text with the standard library and check it (`policy_from_dict`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        lines = text.splitlines()
        src = lines[line - 1] if 1 <= line <= len(lines) else None
        raise PolicyError([PolicyDiagnostic("toml-syntax", "error", re.sub(r"\s*\(at line.*\)$", "", msg),
                                            file, line, col, (), src)]) from None
    return policy_from_dict(data, text=text, file=file)


def policy_from_dict(data: Mapping, *, text: str | None = None, file: str = "<policy>",
                     prefix: tuple = ()) -> Policy:
    """Check a policy given as a plain dict (a parsed TOML document or a profile's `[policy]` table).

    `text` is the TOML source, used only to give diagnostics a line and
    column; `prefix` is where the table sits in it (`("policy",)` for a
    deployment profile). Raises `PolicyError` with every error; warnings are
    kept on `Policy.warnings`.
    """
    ck = _Checker(file, text, tuple(prefix))
    if not isinstance(data, Mapping):
        ck.error("bad-type", "the policy must be a table", ())
        raise PolicyError(ck.diags)
    ck.unknown_keys(data, _TOP_KEYS, (), "the policy")

    default_action, default_duration = "log", 600.0
    d = data.get("default", {})
    if not isinstance(d, Mapping):
        ck.error("bad-type", "'default' must be a table", ("default",))
    else:
        ck.unknown_keys(d, _DEFAULT_KEYS, ("default",), "[default]")
        if "action" in d:
            default_action = _action(ck, d["action"], ("default", "action")) or default_action
        if "duration" in d:
            default_duration = _duration(ck, d["duration"], ("default", "duration")) or default_duration

    max_active = data.get("max_active", 100_000)
    if isinstance(max_active, bool) or not isinstance(max_active, int) or max_active < 1:
        ck.error("bad-value", "'max_active' must be a whole number >= 1", ("max_active",))
        max_active = 100_000
    on_error = data.get("on_error", "allow")
    if on_error not in ("allow", "deny"):
        ck.error("bad-value", f"'on_error' is 'allow' (fail open) or 'deny' (fail closed), not {on_error!r}",
                 ("on_error",))
        on_error = "allow"

    challenge = _response(ck, data.get("challenge"), "challenge", Response(429, "Too Many Requests\n"))
    block = _response(ck, data.get("block"), "block", Response(403, "Forbidden\n"))

    rules: list[PolicyRule] = []
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        ck.error("bad-type", "'rules' must be an array of tables ([[rules]])", ("rules",))
        raw_rules = []
    names: set = set()
    for i, r in enumerate(raw_rules):
        pr = _rule(ck, r, i, default_duration)
        if pr is None:
            continue
        if pr.name in names:
            ck.error("duplicate-name", f"two policy rules are named '{pr.name}'", ("rules", i, "name"))
        names.add(pr.name)
        if rules and rules[-1].catch_all and rules[-1].key == "match":
            ck.warn("unreachable-rule", f"policy rule '{pr.name}' is never used: '{rules[-1].name}' before it "
                    "applies to every match", ("rules", i), "move the catch-all rule last", value=False)
        rules.append(pr)

    allow: list[AllowList] = []
    raw_allow = data.get("allow", {})
    if not isinstance(raw_allow, Mapping):
        ck.error("bad-type", "'allow' must be a table of named lists ([allow.partners])", ("allow",))
        raw_allow = {}
    for name, spec in raw_allow.items():
        al = _allowlist(ck, name, spec)
        if al is not None:
            allow.append(al)

    if any(x.is_error for x in ck.diags):
        raise PolicyError(ck.diags)
    return Policy(tuple(rules), tuple(allow), default_action, default_duration, challenge, block,
                  max_active, on_error, file, tuple(ck.diags))


def _action(ck: _Checker, v: Any, path: tuple) -> str | None:
    if v in ACTIONS:
        return v
    ck.error("unknown-action", f"unknown action {v!r}", path,
             _did_you_mean(str(v), ACTIONS) or f"actions: {', '.join(ACTIONS)}")
    return None


def _duration(ck: _Checker, v: Any, path: tuple) -> float | None:
    d = parse_duration(v)
    if d is None:
        ck.error("bad-duration", f"{v!r} is not a duration", path,
                 "write a positive number of seconds or e.g. \"500ms\", \"30s\", \"15m\", \"2h\", \"1d\"")
    return d


def _names(ck: _Checker, v: Any, path: tuple, vocabulary: Iterable[str] | None, what: str) -> frozenset | None:
    values = [v] if isinstance(v, str) else v
    if not isinstance(values, list) or not values or not all(isinstance(x, str) for x in values):
        ck.error("bad-type", f"'{path[-1]}' must be a {what} or an array of them", path)
        return None
    if vocabulary is not None:
        vocab = tuple(vocabulary)
        for x in values:
            if x not in vocab:
                ck.error(f"unknown-{path[-1]}", f"unknown {what} {x!r}", path,
                         _did_you_mean(x, vocab) or f"known: {', '.join(vocab)}")
    return frozenset(values)


def _severities(ck: _Checker, v: Any, path: tuple) -> frozenset | None:
    if isinstance(v, str) and v.startswith(">="):
        base = v[2:].strip()
        if base not in SEVERITY_RANK:
            ck.error("unknown-severity", f"unknown severity {base!r}", path,
                     _did_you_mean(base, SEVERITIES) or f"severities: {', '.join(SEVERITIES)}")
            return None
        return frozenset(s for s in SEVERITIES if SEVERITY_RANK[s] >= SEVERITY_RANK[base])
    return _names(ck, v, path, SEVERITIES, "severity")


def _rule(ck: _Checker, r: Any, i: int, default_duration: float) -> PolicyRule | None:
    path = ("rules", i)
    if not isinstance(r, Mapping):
        ck.error("bad-type", "each policy rule is a table ([[rules]])", path)
        return None
    ck.unknown_keys(r, _RULE_KEYS, path, "a policy rule")
    name = r.get("name", f"rules[{i + 1}]")
    if not isinstance(name, str) or not name:
        ck.error("bad-type", "'name' must be a non-empty string", path + ("name",))
        name = f"rules[{i + 1}]"
    if "action" not in r:
        ck.error("missing-action", f"policy rule '{name}' has no action", path, f"actions: {', '.join(ACTIONS)}",
                 value=False)
        return None
    action = _action(ck, r["action"], path + ("action",))
    kw: dict[str, Any] = {}
    if "rule" in r:
        kw["rules"] = _names(ck, r["rule"], path + ("rule",), None, "rule name")
    if "ttp" in r:
        kw["ttps"] = _names(ck, r["ttp"], path + ("ttp",), TTPS, "technique")
    if "goal" in r:
        kw["goals"] = _names(ck, r["goal"], path + ("goal",), GOALS, "goal")
    if "severity" in r:
        kw["severities"] = _severities(ck, r["severity"], path + ("severity",))
    key = r.get("key", "match")
    if key not in KEY_KINDS:
        ck.error("unknown-key-kind", f"unknown key {key!r}", path + ("key",),
                 _did_you_mean(str(key), KEY_KINDS) or f"keys: {', '.join(KEY_KINDS)}")
        key = "match"
    duration = default_duration
    if "duration" in r:
        duration = _duration(ck, r["duration"], path + ("duration",)) or default_duration
    if action == "throttle":
        rate = r.get("rate")
        per = _rate(rate)
        if per is None:
            ck.error("bad-rate", f"a throttle needs a rate, e.g. 2 (per second), \"30/m\"; got {rate!r}",
                     path + (("rate",) if "rate" in r else ()), value="rate" in r)
            per = 1.0
        kw["rate"] = per
        burst = r.get("burst", max(1, math.ceil(per)))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            ck.error("bad-value", "'burst' must be a whole number >= 1", path + ("burst",))
            burst = 1
        kw["burst"] = burst
    else:
        for k in ("rate", "burst"):
            if k in r:
                ck.error("bad-value", f"'{k}' belongs to a throttle, not to a {action}", path + (k,), value=False)
    if action == "tag":
        header = r.get("header", "X-Sleuth-Tag")
        if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]+", header):
            ck.error("bad-value", f"{header!r} is not a header name", path + ("header",))
            header = "X-Sleuth-Tag"
        value = r.get("value", "{ttp}")
        if not isinstance(value, str) or not _template_ok(value):
            ck.error("bad-value", f"{value!r} is not a tag value", path + ("value",),
                     "placeholders: " + ", ".join("{" + p + "}" for p in _PLACEHOLDERS))
            value = "{ttp}"
        kw["header"], kw["value"] = header, value
    else:
        for k in ("header", "value"):
            if k in r:
                ck.error("bad-value", f"'{k}' belongs to a tag, not to a {action}", path + (k,), value=False)
    if "retry_after" in r:
        if action != "challenge":
            ck.error("bad-value", f"'retry_after' belongs to a challenge, not to a {action}",
                     path + ("retry_after",), value=False)
        else:
            kw["retry_after"] = _duration(ck, r["retry_after"], path + ("retry_after",))
    if action is None:
        return None
    line, col, _w = ck.loc.find(ck.prefix + path + ("rule",), True)
    return PolicyRule(name=name, action=action, key=key, duration=duration, where=(line, col, ck.loc.line(line)),
                      **kw)


def _rate(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
        return float(v)
    if isinstance(v, str):
        m = _RATE.match(v)
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) / {"s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    return None


def _template_ok(value: str) -> bool:
    try:
        value.format_map({p: "" for p in _PLACEHOLDERS})
    except (KeyError, ValueError, IndexError, AttributeError):
        return False
    return len(value) <= 256 and "\n" not in value and "\r" not in value


def _response(ck: _Checker, spec: Any, name: str, default: Response) -> Response:
    if spec is None:
        return default
    if not isinstance(spec, Mapping):
        ck.error("bad-type", f"'{name}' must be a table ([{name}])", (name,))
        return default
    ck.unknown_keys(spec, _RESPONSE_KEYS, (name,), f"[{name}]")
    status = spec.get("status", default.status)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        ck.error("bad-value", f"'status' must be an HTTP error status (400-599), not {status!r}", (name, "status"))
        status = default.status
    body = spec.get("body", default.body)
    if not isinstance(body, str) or len(body) > 65536:
        ck.error("bad-value", "'body' must be a string of at most 64 KiB", (name, "body"))
        body = default.body
    headers = spec.get("headers", {})
    pairs: list[tuple[str, str]] = []
    if not isinstance(headers, Mapping):
        ck.error("bad-type", "'headers' must be a table of header names and values", (name, "headers"))
    else:
        for k, v in headers.items():
            if not re.fullmatch(r"[A-Za-z0-9-]+", str(k)) or not isinstance(v, str) or "\n" in v or "\r" in v:
                ck.error("bad-value", f"bad header {k!r} = {v!r}", (name, "headers", k))
            else:
                pairs.append((str(k), v))
    retry = default.retry_after
    if "retry_after" in spec:
        retry = _duration(ck, spec["retry_after"], (name, "retry_after"))
    return Response(status, body, tuple(pairs), retry)


def _allowlist(ck: _Checker, name: str, spec: Any) -> AllowList | None:
    path = ("allow", name)
    if not isinstance(spec, Mapping) or not spec:
        ck.error("bad-type", f"allow-list '{name}' must be a table of fields, e.g. address = [\"10.0.0.0/8\"]",
                 path)
        return None
    ck.unknown_keys(spec, ("address",) + ALLOW_FIELDS, path, f"allow-list '{name}'")
    networks = []
    values = []
    for field, v in spec.items():
        items = [v] if isinstance(v, (str, int)) and not isinstance(v, bool) else v
        if not isinstance(items, list) or not items or not all(
                isinstance(x, (str, int)) and not isinstance(x, bool) for x in items):
            ck.error("bad-type", f"'{field}' must be a value or an array of values", path + (field,))
            continue
        if field == "address":
            for x in items:
                try:
                    networks.append(ipaddress.ip_network(str(x).strip(), strict=False))
                except ValueError:
                    ck.error("bad-cidr", f"{x!r} is not an address or CIDR", path + (field,))
        elif field in ALLOW_FIELDS:
            exact = frozenset(str(x) for x in items if "*" not in str(x))
            globs = [str(x) for x in items if "*" in str(x)]
            pattern = re.compile("|".join("(?:" + ".*".join(re.escape(p) for p in g.split("*")) + ")"
                                          for g in globs)) if globs else None
            values.append((field, exact, pattern))
    return AllowList(str(name), tuple(networks), tuple(values))


_ADDR_CACHE: dict[str, Any] = {}


def _address(value: Any):
    """An ip_address from event text (memoised, bounded), or None."""
    if not isinstance(value, str):
        return None
    a = _ADDR_CACHE.get(value)
    if a is None:
        try:
            a = ipaddress.ip_address(value.strip().split("%")[0])
        except ValueError:
            a = False
        if len(_ADDR_CACHE) >= 65536:
            _ADDR_CACHE.clear()
        _ADDR_CACHE[value] = a
    return a or None


# ---------------------------------------------------------------- enforcement

class _Slot:
    """One active decision of one action on one key (mutable: expiry extends, buckets drain)."""

    __slots__ = ("action", "until", "seq", "decision_id", "match_id", "rule", "params", "tokens", "last")

    def __init__(self, action, until, seq, decision_id, match_id, rule, params, tokens=0.0, last=0.0):
        self.action = action
        self.until = until
        self.seq = seq
        self.decision_id = decision_id
        self.match_id = match_id
        self.rule = rule
        self.params = params
        self.tokens = tokens
        self.last = last

    def dump(self) -> list:
        return [self.action, self.until, self.seq, self.decision_id, self.match_id, self.rule,
                self.params, self.tokens, self.last]


class Verdict:
    """The answer for one request: `action`, HTTP `status`, headers for the client and the upstream.

    `action` is `allow` (nothing applies, or an allow-list covers the
    request: `allowlist` names it), `tag` (allowed, with `upstream_headers`),
    `throttle` (allowed by a token, or denied with `status` 429), `challenge`
    or `block`. `decision_id` and `match_id` say why.
    """

    __slots__ = ("action", "status", "headers", "upstream_headers", "body", "decision_id", "match_id",
                 "retry_after", "allowlist", "error")

    def __init__(self, action="allow", status=200, headers=(), upstream_headers=(), body="", decision_id=None,
                 match_id=None, retry_after=None, allowlist=None, error=None):
        self.action = action
        self.status = status
        self.headers = headers
        self.upstream_headers = upstream_headers
        self.body = body
        self.decision_id = decision_id
        self.match_id = match_id
        self.retry_after = retry_after
        self.allowlist = allowlist
        self.error = error

    @property
    def allowed(self) -> bool:
        return self.status < 400

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) not in (None, (), "")}


ALLOW = Verdict()
THROTTLED = Response(429, "Too Many Requests\n")


class Enforcer:
    """The policy's runtime: decisions from matches, and an answer for each request.

    `attach(engine)` makes every match the engine emits a decision at the
    match's event time (`decide`); the decision record goes to `on_decision`
    and back into the engine as an `@decision` record, unless the match came
    from a rule that reads decisions, directly or through other rules (no loops). `check(event)` answers a
    request from the active decisions on its keys: the strongest action
    wins; allow-lists always win. State is bounded by the policy's
    `max_active` (one slot per key and action; past it the slot expiring
    first is evicted and counted), expired slots are dropped as time passes,
    and `snapshot()`/`restore()` carry it across restarts.

    Not thread-safe, like the engine: one owner calls it (see docs/mitigation.md).
    """

    def __init__(self, policy: Policy | None = None, *, on_decision: Callable[[dict], None] | None = None):
        self.policy = policy if policy is not None else Policy.default()
        self.on_decision = on_decision
        self.now = -math.inf
        self._seq = 0
        self._tables: dict[tuple, dict[tuple, dict[str, _Slot]]] = {}
        self._heap: list = []
        self._nslots = 0
        self.counters: dict[str, Any] = {
            "decisions": {a: 0 for a in ("allow",) + ACTIONS},
            "enforced": {a: 0 for a in ("allow",) + ENFORCED},
            "throttle_passed": 0, "allowlisted": 0, "evictions": 0, "expired": 0, "unkeyed": 0,
            "errors": 0,
        }
        self.last_error: str | None = None

    # ------------------------------------------------------------ decisions
    def attach(self, engine, channel: str = "live") -> None:
        """Decide on each match `engine` emits, at its time, and feed decisions back to it."""
        # Rules that read decisions, directly or through other rules' matches: their matches'
        # decisions are not fed back, so no chain of rules and decisions can loop.
        readers = {DECISION_PRODUCER}
        grew = True
        while grew:
            grew = False
            for r in engine.pack.rules:
                if r.name not in readers and r.consumes and readers.intersection(r.consumes):
                    readers.add(r.name)
                    grew = True

        def listen(m: Match) -> None:
            try:
                rec = self.decide(m, channel)
            except Exception as exc:     # never let the policy break the engine's dispatch
                self.counters["errors"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                return
            if m.rule not in readers:
                engine.feed_derived(DECISION_PRODUCER, decision_event(rec, m.emitted_at))

        engine.listeners.append(listen)

    def decide(self, m: Match, channel: str = "live") -> dict:
        """The decision for one match (a record; see docs/mitigation.md), applied to the state."""
        pol = self.policy
        at = m.emitted_at
        if at > self.now:
            self.now = at
        rule, key = pol.rule_for(m)
        action = rule.action if rule is not None else pol.default_action
        duration = rule.duration if rule is not None else pol.default_duration
        self._seq += 1
        seq = self._seq
        allowlist = None
        if key:
            allowlist = pol.allowlisted(key)
        reason = None
        if allowlist is not None:
            reason = f"allow-list '{allowlist}' covers the key"
            action = "allow"
        elif not key:
            if action in ENFORCED:
                reason = "the match has no key to act on"
                self.counters["unkeyed"] += 1
            action = "log"
        did = stable_hash("decision", seq, m.match_id, action, sorted((key or {}).items()))
        rec: dict[str, Any] = {
            "decision_id": did, "action": action, "key": key or {}, "at": format_ts(at),
            "until": format_ts(at + duration) if action in ENFORCED else None,
            "duration": format_seconds(duration) if action in ENFORCED else None,
            "policy_rule": rule.name if rule is not None else None,
            "match_id": m.match_id, "rule": m.rule, "ttp": m.ttp, "goal": m.goal, "severity": m.severity,
            "channel": channel,
        }
        if reason:
            rec["reason"] = reason
        if allowlist is not None:
            rec["allowlist"] = allowlist
        params: Any = None
        if action == "throttle":
            params = [rule.rate, rule.burst]
            rec["rate"], rec["burst"] = rule.rate, rule.burst
        elif action == "tag":
            value = rule.value.format_map({"rule": m.rule, "ttp": m.ttp, "goal": m.goal, "severity": m.severity,
                                           "match_id": m.match_id, "decision_id": did})
            params = [rule.header, value]
            rec["header"], rec["value"] = rule.header, value
        elif action == "challenge":
            ra = rule.retry_after if rule.retry_after is not None else pol.challenge.retry_after
            params = [ra]
        if action in ENFORCED:
            self._apply(key, action, at + duration, seq, did, m.match_id, m.rule, params)
        self.counters["decisions"][action] += 1
        if self.on_decision is not None:
            self.on_decision(rec)
        return rec

    def _apply(self, key: dict, action: str, until: float, seq: int, did: str, mid: str, rule: str,
               params) -> None:
        shape = tuple(sorted(key))
        values = tuple(key[f] for f in shape)
        table = self._tables.get(shape)
        if table is None:
            table = self._tables[shape] = {}
        slots = table.get(values)
        if slots is None:
            slots = table[values] = {}
        old = slots.get(action)
        if old is not None and old.until > self.now:
            if until > old.until:   # a later decision extends it and becomes the reason
                old.until, old.seq, old.decision_id, old.match_id, old.rule = until, seq, did, mid, rule
                old.params = params
                heapq.heappush(self._heap, (until, seq, shape, values, action))
            return
        if old is None:
            self._nslots += 1
        tokens = float(params[1]) if action == "throttle" else 0.0
        slots[action] = _Slot(action, until, seq, did, mid, rule, params, tokens, self.now)
        heapq.heappush(self._heap, (until, seq, shape, values, action))
        while self._nslots > self.policy.max_active:
            self._evict_one()

    def _drop(self, item, counter: str) -> bool:
        until, seq, shape, values, action = item
        slots = self._tables.get(shape, {}).get(values)
        s = slots.get(action) if slots else None
        if s is None or s.seq != seq:
            return False          # superseded heap entry (extended or replaced)
        del slots[action]
        if not slots:
            del self._tables[shape][values]
            if not self._tables[shape]:
                del self._tables[shape]
        self._nslots -= 1
        self.counters[counter] += 1
        return True

    def _evict_one(self) -> None:
        while self._heap:
            if self._drop(heapq.heappop(self._heap), "evictions"):
                return

    def expire(self, now: float) -> None:
        """Drop slots whose time is over (called by `check`; amortised O(log n) per slot)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            self._drop(heapq.heappop(heap), "expired")
        if len(heap) > 2 * self._nslots + 64:      # superseded entries: rebuild (amortised)
            self._heap = [(s.until, s.seq, shape, values, a) for shape, t in self._tables.items()
                          for values, slots in t.items() for a, s in slots.items()]
            heapq.heapify(self._heap)

    # ------------------------------------------------------------ requests
    def check(self, event: Mapping, now: float | None = None) -> Verdict:
        """The answer for one request event (canonical fields), at `now` (default: its `ts`)."""
        if now is None:
            now = event.get("ts")
            if not isinstance(now, (int, float)):
                now = self.now
        if now > self.now:
            self.now = now
        now = self.now
        if self._heap and self._heap[0][0] <= now:
            self.expire(now)
        pol = self.policy
        if pol.allow:
            name = pol.allowlisted(event)
            if name is not None:
                self.counters["allowlisted"] += 1
                if self._tables:
                    self.counters["enforced"]["allow"] += 1
                return Verdict(allowlist=name)
        if not self._tables:
            return ALLOW
        best: _Slot | None = None
        best_strength = 0
        tags: list = []
        retry = None
        throttle_passed = False
        for shape, table in self._tables.items():
            if len(shape) == 1:
                v = event.get(shape[0])
                if v is None:
                    continue
                try:
                    slots = table.get((v,))
                except TypeError:
                    continue
            else:
                values = tuple(event.get(f) for f in shape)
                if None in values:
                    continue
                try:
                    slots = table.get(values)
                except TypeError:
                    continue
            if not slots:
                continue
            for action, s in slots.items():
                if s.until <= now:
                    continue
                if action == "tag":
                    tags.append((s.params[0], s.params[1], s))
                    if best is None:
                        best, best_strength = s, 1
                    continue
                if action == "throttle":
                    rate, burst = s.params
                    s.tokens = min(float(burst), s.tokens + (now - s.last) * rate)
                    s.last = now
                    if s.tokens >= 1.0:
                        s.tokens -= 1.0
                        throttle_passed = True
                        continue
                    wait = (1.0 - s.tokens) / rate
                    if STRENGTH["throttle"] > best_strength or (
                            STRENGTH["throttle"] == best_strength and (retry is None or wait > retry)):
                        best, best_strength, retry = s, STRENGTH["throttle"], wait
                    continue
                st = STRENGTH[action]
                if st > best_strength:
                    best, best_strength = s, st
                    if action == "challenge":
                        ra = s.params[0] if s.params and s.params[0] is not None else s.until - now
                        retry = ra
        if throttle_passed:
            self.counters["throttle_passed"] += 1
        if best is None:
            return ALLOW
        upstream = ()
        if tags:
            merged: dict[str, list[str]] = {}
            for h, v, _s in sorted(tags, key=lambda t: t[2].seq):
                vals = merged.setdefault(h, [])
                if v not in vals:
                    vals.append(v)
            upstream = tuple((h, ", ".join(vs)) for h, vs in merged.items())
        action = best.action
        self.counters["enforced"][action] += 1
        if action == "tag":
            return Verdict("tag", 200, (), upstream, "", best.decision_id, best.match_id)
        # A throttle answers as rate limiters do (429); block and challenge answer as configured.
        resp = pol.block if action == "block" else pol.challenge if action == "challenge" else THROTTLED
        headers = [("X-Sleuth-Action", action), ("X-Sleuth-Decision", best.decision_id)]
        if action != "block":
            secs = max(1, math.ceil(retry if retry is not None else 1.0))
            headers.insert(0, ("Retry-After", str(secs)))
            retry = secs
        else:
            retry = None
        headers.extend(resp.headers)
        return Verdict(action, resp.status, tuple(headers), upstream, resp.body, best.decision_id,
                       best.match_id, retry)

    # ------------------------------------------------------------ introspection and state
    def active(self) -> list[dict]:
        """The active decisions, oldest first: key, action, until and why."""
        out = []
        for shape, table in self._tables.items():
            for values, slots in table.items():
                for a, s in slots.items():
                    if s.until > self.now:
                        out.append({"key": dict(zip(shape, values)), "action": a, "until": format_ts(s.until),
                                    "decision_id": s.decision_id, "match_id": s.match_id, "rule": s.rule,
                                    "_seq": s.seq})
        out.sort(key=lambda d: d.pop("_seq"))
        return out

    def stats(self) -> dict:
        return {"active": self._nslots, **{k: (dict(v) if isinstance(v, dict) else v)
                                           for k, v in self.counters.items()}}

    def snapshot(self) -> bytes:
        """The enforcement state as bytes (msgpack, versioned): slots, counters, the clock."""
        slots = sorted(([list(shape), list(values), s.dump()] for shape, t in self._tables.items()
                        for values, ss in t.items() for s in ss.values()), key=lambda x: x[2][2])
        body = {"magic": SNAPSHOT_MAGIC, "version": SNAPSHOT_VERSION, "now": self.now, "seq": self._seq,
                "slots": slots, "counters": self.counters}
        return msgpack.packb(body, use_bin_type=True)

    def restore(self, blob: bytes) -> None:
        """Load `snapshot()` bytes into this (fresh) enforcer; raises `SnapshotError` on bad input.

        The current policy applies from now on (allow-lists at once); slots
        past its `max_active` are evicted, earliest expiry first.
        """
        try:
            body = msgpack.unpackb(blob, raw=False, strict_map_key=False)
            if not isinstance(body, dict) or body.get("magic") != SNAPSHOT_MAGIC:
                raise SnapshotError("not a sleuth policy state (bad magic)")
            if body.get("version") != SNAPSHOT_VERSION:
                raise SnapshotError(f"policy state version {body.get('version')} is not supported")
            now, seq = float(body["now"]), int(body["seq"])
            rows = []
            for shape, values, d in body["slots"]:
                action, until, sseq, did, mid, rule, params, tokens, last = d
                if action not in ENFORCED or not isinstance(shape, list) or len(shape) != len(values):
                    raise ValueError("slot")
                rows.append((tuple(shape), tuple(values), _Slot(action, float(until), int(sseq), str(did),
                                                                str(mid), str(rule), params, float(tokens),
                                                                float(last))))
            counters = body["counters"]
        except SnapshotError:
            raise
        except Exception as exc:
            raise SnapshotError(f"corrupt policy state: {type(exc).__name__}: {exc}") from exc
        self.now, self._seq = now, seq
        for k, v in counters.items():
            if k in self.counters:
                if isinstance(self.counters[k], dict):
                    self.counters[k].update({a: int(n) for a, n in v.items() if a in self.counters[k]})
                else:
                    self.counters[k] = int(v)
        for shape, values, s in rows:
            self._tables.setdefault(shape, {}).setdefault(values, {})[s.action] = s
            heapq.heappush(self._heap, (s.until, s.seq, shape, values, s.action))
            self._nslots += 1
        self.expire(self.now)
        while self._nslots > self.policy.max_active:
            self._evict_one()


def decision_event(rec: dict, at: float) -> dict:
    """A decision record (made at event time `at`) as the `@decision` record rules over rules read."""
    fields = {k: rec[k] for k in ("action", "match_id", "policy_rule", "channel", "until", "duration",
                                  "allowlist") if rec.get(k) is not None}
    fields["match_rule"] = rec["rule"]
    ev = {"id": rec["decision_id"], "ts": at, "rule": DECISION_PRODUCER, "ttp": rec["ttp"], "goal": rec["goal"],
          "severity": rec["severity"], "fingerprint": rec["decision_id"], "first_ts": at, "last_ts": at,
          "key": dict(rec["key"]), "fields": fields}
    for k, v in rec["key"].items():
        ev.setdefault(k, v)
    for k, v in fields.items():
        ev.setdefault(k, v)
    return ev
