"""W3C extended log files (IIS, CloudFront standard logs, others) -> canonical events.

The reader stage for logs driven by a ``#Fields:`` directive: ``W3CReader``
keeps the directives seen so far (``#Fields`` may change mid-file, as IIS
does when it restarts) and turns each data line into an event with
``parse_w3c_line``, a pure function of the field list and the line.
Flavours differ where the writers do: IIS logs ``time-taken`` in ms and
spaces as ``+``; CloudFront percent-encodes values and logs ``cs(Host)`` as
the distribution; both stamp the end of the response, so ``ts`` is that
minus ``time-taken``.  A field list is compiled once into (index, setter) steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ._common import Bad, bad, decode_line, parse_query, time_of, to_int, to_seconds, unquote_field

__all__ = ["CLOUDFRONT_FIELDS", "W3CReader", "parse_w3c_line"]

#: The 33 fields of a CloudFront standard log, in order (used when a file has no #Fields).
CLOUDFRONT_FIELDS: tuple[str, ...] = (
    "date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)", "cs-uri-stem",
    "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)", "x-edge-result-type",
    "x-edge-request-id", "x-host-header", "cs-protocol", "cs-bytes", "time-taken", "x-forwarded-for",
    "ssl-protocol", "ssl-cipher", "x-edge-response-result-type", "cs-protocol-version", "fle-status",
    "fle-encrypted-fields", "c-port", "time-to-first-byte", "x-edge-detailed-result-type",
    "sc-content-type", "sc-content-len", "sc-range-start", "sc-range-end",
)

FLAVOURS = ("w3c", "iis", "cloudfront")
_IIS_ONLY = frozenset(("s-sitename", "s-computername", "sc-substatus", "sc-win32-status"))
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_TIME = re.compile(r"\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_.()-]{1,128}")
_MAX_FIELDS = 256

Setter = Callable[[dict, dict, str], "str | None"]  # (event, namespace, value) -> error detail or None


class _Plan:
    """One #Fields list compiled for a flavour: the steps and where the time is."""

    __slots__ = ("date", "fields", "flavour", "namespace", "status", "steps", "taken", "taken_ms", "time")

    def __init__(self, fields: tuple[str, ...], flavour: str) -> None:
        self.fields = fields
        self.flavour = flavour
        self.namespace = "cloudfront" if flavour == "cloudfront" else "w3c"
        lower = [f.lower() for f in fields]
        self.date = lower.index("date") if "date" in lower else None
        self.time = lower.index("time") if "time" in lower else None
        self.taken = lower.index("time-taken") if "time-taken" in lower else None
        self.status = lower.index("sc-status") if "sc-status" in lower else None
        # IIS logs time-taken in milliseconds; the W3C draft and CloudFront in seconds.
        self.taken_ms = flavour == "iis"
        steps = []
        for i, name in enumerate(lower):
            if i in (self.date, self.time):
                continue
            step = _step(name, fields[i], flavour)
            if step is not None:
                steps.append((i, step))
        self.steps = tuple(steps)


def _ns(key: str, conv: Callable[[str], Any] | None = None) -> Setter:
    def put(ev: dict, ns: dict, v: str) -> None:
        if conv is None:
            ns[key] = v
            return
        x = conv(v)
        if x is not None:
            ns[key] = x
    return put


def _plus_to_space(v: str) -> str:
    return v.replace("+", " ")


def _step(name: str, original: str, flavour: str) -> Setter | None:
    """The setter of one field (by its lower-case W3C name)."""
    cf = flavour == "cloudfront"
    iis = flavour == "iis"
    # CloudFront percent-encodes spaces, controls, non-ASCII and %; IIS writes spaces as '+'.
    text: Callable[[str], str] = unquote_field if cf else (lambda v: v)
    free: Callable[[str], str] = unquote_field if cf else (_plus_to_space if iis else (lambda v: v))

    if name in ("c-ip", "c-dns"):
        def src(ev, ns, v):
            if name == "c-ip" or "src_ip" not in ev:
                ev["src_ip"] = v
        return src
    if name == "cs-method":
        def method(ev, ns, v):
            ev["method"] = v
        return method
    if name == "cs-uri-stem":
        def stem(ev, ns, v):
            ev["path"] = text(v)
        return stem
    if name == "cs-uri-query":
        def query(ev, ns, v):
            ev["query"] = parse_query(text(v))
        return query
    if name == "cs-uri":
        def uri(ev, ns, v):
            path, q, query = text(v).partition("?")
            ev["path"] = path
            if q:
                ev["query"] = parse_query(query)
        return uri
    if name == "sc-status":
        def status(ev, ns, v):
            n = to_int(v, 999)
            if n is None:
                return f"sc-status is not a status code: {v[:40]!r}"
            ev["status"] = n
            return None
        return status
    if name == "cs-username":
        def user(ev, ns, v):
            ev["user"] = text(v)
        return user
    if name == "cs-version" or name == "cs-protocol-version":
        def protocol(ev, ns, v):
            ev["protocol"] = v
        return protocol
    if name in ("cs-host", "x-host-header") or (name == "cs(host)" and not cf):
        def host(ev, ns, v):
            ev["host"] = text(v)
        return host
    if name == "cs(host)":  # CloudFront: the distribution's domain, not the API host
        return _ns("distribution")
    if name == "cs(user-agent)":
        def ua(ev, ns, v):
            ev["ua"] = free(v)
        return ua
    if name == "x-forwarded-for":
        def xff(ev, ns, v):
            ev.setdefault("headers", {})["x-forwarded-for"] = text(v)
        return xff
    if name.startswith("cs(") and name.endswith(")") and len(name) > 4:
        header = name[3:-1]
        conv = free if header in ("cookie",) else text

        def hdr(ev, ns, v):
            ev.setdefault("headers", {})[header] = conv(v)
        return hdr
    if name == "time-taken":
        return None  # read with the time
    if name == "sc-content-len" and cf:
        def clen(ev, ns, v):
            n = to_int(v)
            if n is not None:
                ev["resp_bytes"] = n
        return clen
    if name in ("sc-bytes", "cs-bytes", "s-port", "c-port", "sc-substatus", "sc-win32-status",
                "fle-encrypted-fields", "sc-range-start", "sc-range-end"):
        return _ns(name.replace("-", "_"), to_int)
    if name == "time-to-first-byte":
        return _ns("time_to_first_byte", to_seconds)
    key = re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "field"
    return _ns(key, text if cf else None)


def _split(text: str, n: int) -> list[str] | None:
    """Field values of a data line: tab-separated when that gives the count
    (CloudFront), else space-separated with W3C ``"quoted strings"``."""
    if "\t" in text:
        values = text.split("\t")
        while len(values) > n and values[-1] == "":
            values.pop()  # a trailing tab (CloudFront writes one on some lines)
        if len(values) == n:
            return values
    if '"' not in text:
        # Space or tab only: str.split() would also cut at other Unicode spaces (U+00A0).
        return [v for v in text.replace("\t", " ").split(" ") if v]
    out: list[str] = []
    i, size = 0, len(text)
    while i < size:
        c = text[i]
        if c in " \t":
            i += 1
            continue
        if c == '"':
            j = i + 1
            buf = []
            while True:
                k = text.find('"', j)
                if k < 0:
                    return None
                buf.append(text[j:k])
                if text[k + 1:k + 2] == '"':  # "" is a quote inside a string
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            out.append("".join(buf))
        else:
            j = i
            while j < size and text[j] not in " \t":
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _parse_values(plan: _Plan, text: str) -> dict | Bad:
    """One data line under a compiled #Fields list -> a canonical event, or a ``Bad``."""
    fields = plan.fields
    values = _split(text, len(fields))
    if values is None:
        return bad("unparsable-line", f"{plan.flavour}: unclosed quoted string", text)
    if len(values) != len(fields):
        return bad("field-count", f"{plan.flavour}: {len(values)} fields, the #Fields header declares "
                                  f"{len(fields)}", text)
    if plan.date is None or plan.time is None:
        return bad("bad-time", f"{plan.flavour}: the #Fields header has no date and time fields", text)
    d, t = values[plan.date], values[plan.time]
    if _DATE.fullmatch(d) is None or _TIME.fullmatch(t) is None:
        return bad("bad-time", f"{plan.flavour}: not a W3C date and time (UTC): {d[:20]!r} {t[:20]!r}", text)
    ts = time_of(f"{d}T{t}Z")
    if type(ts) is not float:
        return bad("bad-time", f"{plan.flavour}: {ts}", text)
    ev: dict[str, Any] = {"ts": ts}
    if plan.taken is not None:
        v = values[plan.taken]
        taken = to_int(v) if plan.taken_ms else to_seconds(v)
        if taken is not None:
            ms = float(taken) if plan.taken_ms else round(taken * 1000.0, 3)
            ev["latency_ms"] = ms
            upgraded = plan.status is not None and values[plan.status] == "101"
            if plan.flavour != "w3c" and not upgraded:
                # IIS and CloudFront stamp the end of the response: the request began time-taken
                # earlier.  An upgraded connection (101, WebSocket) stays an event at its close.
                ev["ts"] = max(0.0, round(ts - ms / 1000.0, 6))
        elif v != "-":
            return bad("unparsable-line", f"{plan.flavour}: time-taken is not a duration: {v[:40]!r}", text)
    ns: dict[str, Any] = {}
    for i, step in plan.steps:
        v = values[i]
        if v == "-" or v == "":
            continue
        err = step(ev, ns, v)
        if err is not None:
            return bad("unparsable-line", f"{plan.flavour}: {err}", text)
    if ns:
        ev[plan.namespace] = ns
    return ev


@lru_cache(maxsize=64)
def _plan(fields: tuple[str, ...], flavour: str) -> _Plan:
    return _Plan(fields, flavour)


def parse_w3c_line(fields: tuple[str, ...], line: bytes | str, flavour: str = "w3c") -> dict | Bad:
    """One data line read with the field names of a ``#Fields`` directive -> an event or a ``Bad``.

    ``flavour`` is ``w3c``, ``iis`` or ``cloudfront`` (see ``W3CReader``);
    compiled field lists are cached (64).
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown W3C flavour {flavour!r} (expected one of {', '.join(FLAVOURS)})")
    return _parse_values(_plan(tuple(fields), flavour), decode_line(line))


class W3CReader:
    """A W3C extended log, line by line: ``feed_line(line) -> event | Bad | None``.

    ``flavour`` is ``w3c`` (decided from the directives: ``#Software``
    naming IIS, or IIS-only fields, make it ``iis``), ``iis`` or
    ``cloudfront`` (whose default 33 fields apply until a ``#Fields``
    directive says otherwise).  Directive and blank lines give None; a data
    line before any ``#Fields`` is ``Bad("no-fields-header")``.
    ``directives`` holds the last value of each directive seen.
    """

    def __init__(self, flavour: str = "w3c") -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown W3C flavour {flavour!r} (expected one of {', '.join(FLAVOURS)})")
        self.flavour = flavour
        self.directives: dict[str, str] = {}
        self._plan: _Plan | None = _Plan(CLOUDFRONT_FIELDS, "cloudfront") if flavour == "cloudfront" else None

    @property
    def fields(self) -> tuple[str, ...] | None:
        """The field names data lines are read with (None before a #Fields directive)."""
        return None if self._plan is None else self._plan.fields

    def context(self) -> dict[str, Any]:
        """What the reader knows from the lines before (directives, #Fields), as plain data.

        A reader restored from it (``restore``) reads the next lines as this one
        would: what a resumed run needs to start mid-file.
        """
        plan = self._plan
        return {"directives": dict(self.directives), "fields": None if plan is None else list(plan.fields),
                "plan_flavour": None if plan is None else plan.flavour}

    def restore(self, context: Any) -> None:
        """Take back a ``context()``; anything malformed in it is ignored (the header lines decide)."""
        if not isinstance(context, dict):
            return
        d = context.get("directives")
        if isinstance(d, dict):
            self.directives = {str(k): str(v)[:1024] for k, v in d.items()}
        fields, flavour = context.get("fields"), context.get("plan_flavour")
        if (isinstance(fields, list) and 0 < len(fields) <= _MAX_FIELDS and flavour in FLAVOURS
                and all(type(f) is str and _FIELD_NAME.fullmatch(f) for f in fields)):
            self._plan = _Plan(tuple(fields), flavour)

    def feed_line(self, line: bytes | str) -> dict | Bad | None:
        """One physical line: an event, a ``Bad``, or None for a directive or a blank line."""
        text = decode_line(line)
        if text.startswith("\ufeff"):
            text = text[1:]
        if text[:1] == "#":
            return self._directive(text)
        if not text.strip():
            return None
        if self._plan is None:
            return bad("no-fields-header", "w3c: a data line before any #Fields directive", text)
        return _parse_values(self._plan, text)

    def _directive(self, text: str) -> Bad | None:
        name, sep, value = text[1:].partition(":")
        name = name.strip()
        value = value.strip()
        if not sep or not name:
            return None  # a comment line
        self.directives[name] = value[:1024]
        if name.lower() != "fields":
            return None
        fields = tuple(value.split())
        if not fields or len(fields) > _MAX_FIELDS or not all(_FIELD_NAME.fullmatch(f) for f in fields):
            self._plan = None
            return bad("unparsable-line", f"w3c: not a #Fields directive of at most {_MAX_FIELDS} field "
                                          "names", text)
        self._plan = _Plan(fields, self._flavour_for(fields))
        return None

    def _flavour_for(self, fields: tuple[str, ...]) -> str:
        if self.flavour != "w3c":
            return self.flavour
        lower = {f.lower() for f in fields}
        if "x-edge-location" in lower or "x-edge-request-id" in lower:
            return "cloudfront"
        software = self.directives.get("Software", "")
        if "Internet Information Services" in software or lower & _IIS_ONLY:
            return "iis"
        return "w3c"
