"""A plain access-log rendering of any world: the Apache/nginx combined log format.

Part of ``sleuth simulate --access-log``. One line per event, in the order of
``events.jsonl`` (line n is event n, so labels' event ids map to lines):
``address - - [time] "METHOD target HTTP/1.1" status bytes "referer" "user agent"``.
Everything else is gone: no JA3/JA4, session, user, body parameters, headers
or latency, and time is whole seconds. ``prefixes.csv`` lists the simulated
networks (``cidr,asn,country,org,kind``) so that ``PrefixTable`` can put ASN
and country back, as a GeoIP/ASN database would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from urllib.parse import quote, urlencode

from .world import (
    AZURE,
    BAD,
    BINGBOT,
    CORPORATE,
    FIXED,
    GCP,
    GOOGLEBOT,
    HOSTING,
    HOTEL,
    IOT,
    M247,
    MOBILE,
    SUPPORT_OFFICE,
    TOR,
    Network,
    parse_ts,
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _clf_time(ms: int) -> str:
    t = time.gmtime(ms // 1000)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def _quoted(text: str) -> str:
    """A header value as Apache logs it inside double quotes (``"`` and ``\\`` escaped)."""
    if '"' in text or "\\" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return text


def access_log_line(ev: dict, when: str | None = None) -> str:
    """One event as a combined-log line (no trailing newline)."""
    target = quote(ev["path"], safe="/;:@&=+$,-_.!~*'()%")
    query = ev.get("query")
    if query:
        target += "?" + urlencode(query, doseq=True)
    size = ev.get("resp_bytes") or 0
    referer = (ev.get("headers") or {}).get("referer") or "-"
    ua = ev.get("ua")
    ua = "-" if ua is None else _quoted(ua)
    if when is None:
        when = _clf_time(parse_ts(ev["ts"]) if isinstance(ev["ts"], str) else int(ev["ts"] * 1000))
    return (f'{ev["src_ip"]} - - [{when}] "{ev["method"]} {target} HTTP/1.1" {ev["status"]} '
            f'{size if size else "-"} "{_quoted(referer)}" "{ua}"')


def access_log_lines(events: Iterable[dict]) -> Iterator[str]:
    """Combined-log lines of ``events`` (RFC 3339 ``ts``), in order; caches the per-second time."""
    last_ts, last = None, ""
    for ev in events:
        ts = ev["ts"]
        sec = ts[:19]
        if sec != last_ts:
            last_ts, last = sec, _clf_time(parse_ts(ts))
        yield access_log_line(ev, last)


def write_access_log(events: list[dict], path: str | os.PathLike) -> None:
    """Write ``events`` as ``path`` (combined log format, one line per event, same order)."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        buf: list[str] = []
        for line in access_log_lines(events):
            buf.append(line)
            if len(buf) >= 20_000:
                fh.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            fh.write("\n".join(buf) + "\n")


NETWORKS: tuple[Network, ...] = (*FIXED, *MOBILE, *HOSTING, M247, TOR, *BAD, GOOGLEBOT, BINGBOT, CORPORATE,
                                 SUPPORT_OFFICE, HOTEL, GCP, AZURE, *IOT)
"""Every network the simulator draws addresses from (offices of held-out worlds aside)."""


def write_prefixes(path: str | os.PathLike, extra: Iterable[Network] = ()) -> None:
    """``cidr,asn,country,org,kind`` for every simulated network and ``extra`` ones (a world's
    offices), for ``engine.enrich.PrefixTable``."""
    rows = ["cidr,asn,country,org,kind"]
    for n in (*NETWORKS, *extra):
        for p in n.prefixes:
            rows.append(f"{p},{n.asn},{n.country},{n.name.replace(',', ' ')},{n.kind}")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(rows) + "\n")
