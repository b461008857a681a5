"""Do the columns of a CSV/TSV input map to event fields?  Advice and a suggested ``--map``.

A reader-stage check over a CSV header and its first rows: which columns
name a canonical field or an alias (or a ``--map`` source), which do not, and
for the fields rules lean on most (client, method, path, status, user,
time), which column probably holds them: by name (``client_ip``, ``uri``,
``status_code``, W3C's ``c-ip``) and by the values (IP addresses, 3-digit
statuses, paths).  It also notices a canonical column holding another
field's values: Apache's ``%h`` is called ``host`` but is the client.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..schema import ALIAS_OF, CANONICAL

__all__ = ["ColumnAdvice", "advise"]

#: The fields checked, in the order advice names them.
KEY_FIELDS = ("ts", "src_ip", "method", "path", "status", "user")

_NAMES: dict[str, tuple[str, ...]] = {
    "src_ip": ("client", "client_ip", "clientip", "client_addr", "client_address", "remote_addr", "remote_ip",
               "remote_host", "remotehost", "remoteaddr", "c-ip", "cip", "ip", "ip_address", "addr", "source",
               "source_ip", "src", "srcip", "x_forwarded_for", "peer", "peer_ip"),
    "method": ("verb", "http_method", "request_method", "cs-method", "httpmethod", "req_method"),
    "path": ("uri", "url", "request_uri", "uri_stem", "cs-uri-stem", "endpoint", "request_path", "urlpath",
             "uripath", "resource", "target"),
    "status": ("status_code", "statuscode", "code", "response", "response_code", "sc-status", "http_status",
               "httpstatus", "resp_status", "response_status", "status-code"),
    "user": ("username", "user_name", "login", "account", "uid", "user_id", "userid", "cs-username", "remote_user",
             "authuser", "principal"),
    "ts": ("date", "datetime", "time_local", "timestamp_utc", "event_time", "when", "logged_at", "created_at",
           "request_time", "start_time"),
}
_BY_NAME = {name: field for field, names in _NAMES.items() for name in names}
#: Other fields suggested by a column's name only (never reported missing).
_NAMES_OTHER: dict[str, tuple[str, ...]] = {
    "ua": ("agent", "user_agent", "useragent", "user-agent", "http_user_agent", "cs(user-agent)"),
}
_OTHER_BY_NAME = {name: field for field, names in _NAMES_OTHER.items() for name in names}
_METHODS = frozenset(("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
                      "PROPFIND", "SEARCH"))
_STATUS = re.compile(r"[1-5]\d\d")
_REQUEST = re.compile(r"[A-Z]{3,10} \S+( HTTP/\d(\.\d)?)?")


@attrs.frozen
class ColumnAdvice:
    """What a CSV header means for the canonical event.

    ``mapped`` column -> field, ``unmapped`` the other columns (in order),
    ``suggest`` field -> the column that probably holds it (a ``--map``),
    ``notes`` one sentence per finding; ``missing`` the key fields no
    column gives.
    """

    mapped: dict[str, str]
    unmapped: tuple[str, ...]
    missing: tuple[str, ...]
    suggest: dict[str, str]
    notes: tuple[str, ...]

    @property
    def map_options(self) -> str:
        """The suggested mapping as command-line options (``--map src_ip=host ...``)."""
        return " ".join(f"--map {f}={c}" for f, c in self.suggest.items())

    @property
    def needed(self) -> bool:
        """Whether the input needs attention: key fields no column gives, or a suggestion."""
        return bool(self.missing or self.suggest)


def _field_of(column: str, mapping: Mapping[str, str]) -> str | None:
    for field, src in mapping.items():
        if src == column or src.split(".")[0] == column:
            return field
    if column in CANONICAL:
        return column
    return ALIAS_OF.get(column)


def _shape(values: list[str]) -> str | None:
    """The field a column's values look like, when nearly all of them do."""
    vals = [v.strip() for v in values if v and v.strip() and v.strip() != "-"]
    if len(vals) < 1:
        return None

    def most(test) -> bool:
        return sum(1 for v in vals if test(v)) >= 0.9 * len(vals)

    def is_ip(v: str) -> bool:
        try:
            ipaddress.ip_address(v.split("%")[0])
            return True
        except ValueError:
            return False
    if most(is_ip):
        return "src_ip"
    if most(lambda v: v.upper() in _METHODS):
        return "method"
    if most(lambda v: _STATUS.fullmatch(v) is not None):
        return "status"
    if most(lambda v: _REQUEST.fullmatch(v) is not None):
        return "request"
    if most(lambda v: v.startswith("/")):
        return "path"
    return None


def advise(header: Iterable[str], rows: Iterable[Mapping[str, Any]],
           mapping: Mapping[str, str] | None = None) -> ColumnAdvice:
    """Advice for a CSV input from its header and its first rows (dicts: column -> text)."""
    header = [h for h in header if h]
    mapping = dict(mapping or {})
    values: dict[str, list[str]] = {h: [] for h in header}
    for row in rows:
        for h in header:
            v = row.get(h)
            if type(v) is str and len(values[h]) < 200:
                values[h].append(v)
    mapped = {}
    unmapped = []
    for h in header:
        f = _field_of(h, mapping)
        if f is None:
            unmapped.append(h)
        else:
            mapped[h] = f
    given = set(mapped.values())
    suggest: dict[str, str] = {}
    notes: list[str] = []
    shapes = {h: _shape(values[h]) for h in header}
    # A canonical column that holds another key field (Apache's %h "host" is the client).
    for h, f in mapped.items():
        s = shapes[h]
        if s in KEY_FIELDS and s != f and s not in given and f not in mapping:
            suggest[s] = h
            notes.append(f"column '{h}' is read as {f}, but its values look like {s} "
                         f"(Apache calls the client %h, 'host')")
    for field in KEY_FIELDS:
        if field in given or field in suggest:
            continue
        by_name = [h for h in unmapped if _BY_NAME.get(h.lower().strip()) == field]
        by_value = [h for h in unmapped if shapes[h] == field]
        pick = (by_name + by_value)[:1]
        if pick:
            suggest[field] = pick[0]
    for h in unmapped:
        f = _OTHER_BY_NAME.get(h.lower().strip())
        if f is not None and f not in given and f not in suggest:
            suggest[f] = h
    for h in unmapped:
        if shapes[h] == "request" and "path" not in given and "path" not in suggest:
            notes.append(f"column '{h}' holds whole request lines (METHOD target HTTP/x): --map cannot split "
                         f"them; write method and path as columns of their own")
    missing = tuple(f for f in KEY_FIELDS if f not in given and f not in suggest)
    return ColumnAdvice(mapped, tuple(unmapped), missing, suggest, tuple(notes))


def advice_text(name: str, advice: ColumnAdvice) -> list[str]:
    """The advice as warning lines for a person."""
    out = []
    if advice.unmapped and (advice.missing or set(advice.suggest) & set(KEY_FIELDS)):
        lacking = [f for f in KEY_FIELDS if f in advice.missing or f in advice.suggest]
        out.append(f"{name}: columns {', '.join(advice.unmapped)} map to no event field, and no column gives "
                   f"{', '.join(lacking)}")
    elif advice.missing:
        out.append(f"{name}: no column gives {', '.join(advice.missing)}")
    out += [f"{name}: {n}" for n in advice.notes]
    if advice.suggest:
        out.append(f"{name}: suggested: {advice.map_options}")
    return out
