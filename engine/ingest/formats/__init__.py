"""Log formats of load balancers, CDNs and proxies: one table, one sniffer, one reader interface.

The reader stage for AWS ALB, CloudFront standard logs, W3C extended / IIS,
Envoy's default format, and Caddy and Traefik JSON access logs.  Each format
is a ``FormatSpec`` in ``FORMATS``: ``spec.reader()`` makes an object whose
``feed_line(line) -> event | Bad | None`` reads one physical line (None: a
directive, comment or blank line), and ``sniff_extra(head)`` names the format
from the first bytes, precise enough never to claim sleuth's JSON lines or an
Apache/nginx log.  ``iter_records`` is the loop a reader runs over lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import attrs
import orjson

from ._common import REASONS, Bad, decode_line
from .alb import ALB_FIELDS, parse_alb_line
from .envoy import parse_envoy_line
from .jsonlog import _json_kind, parse_caddy, parse_caddy_line, parse_traefik, parse_traefik_line
from .w3c import _IIS_ONLY, CLOUDFRONT_FIELDS, W3CReader, parse_w3c_line

__all__ = [
    "ALB_FIELDS", "CLOUDFRONT_FIELDS", "FORMATS", "REASONS", "FormatSpec", "LineReader", "W3CReader",
    "iter_records", "parse_alb_line", "parse_caddy", "parse_caddy_line", "parse_envoy_line",
    "parse_traefik", "parse_traefik_line", "parse_w3c_line", "sniff_extra",
]


class LineReader(Protocol):
    """What a format's reader is: one physical line in, an event, a ``Bad`` or None out."""

    def feed_line(self, line: bytes | str) -> dict | Bad | None: ...


class _Stateless:
    """A reader for formats where each line stands alone: blank lines give None."""

    __slots__ = ("_parse",)

    def __init__(self, parse: Callable[[bytes | str], dict | Bad]) -> None:
        self._parse = parse

    def feed_line(self, line: bytes | str) -> dict | Bad | None:
        if not line.strip():
            return None
        return self._parse(line)


@attrs.frozen
class FormatSpec:
    """One format: its ``--format`` name, a reader factory, and its proposed default lateness.

    ``lateness`` (seconds) is the disorder the format's writer produces (see
    ``docs/input.md``, "Disorder in access logs"); ``stamped`` says which
    moment the logged time is (``start``, or ``end`` when the reader
    subtracts the logged duration to get the start).
    """

    name: str
    title: str
    reader: Callable[..., LineReader]
    lateness: float
    stamped: str
    json: bool = False


def _alb_reader() -> LineReader:
    return _Stateless(parse_alb_line)


def _envoy_reader(xff_trusted_hops: int = 0) -> LineReader:
    if xff_trusted_hops < 0:
        raise ValueError("xff_trusted_hops must be >= 0")
    if xff_trusted_hops == 0:
        return _Stateless(parse_envoy_line)
    return _Stateless(lambda line: parse_envoy_line(line, xff_trusted_hops))


def _caddy_reader() -> LineReader:
    return _Stateless(parse_caddy_line)


def _traefik_reader() -> LineReader:
    return _Stateless(parse_traefik_line)


#: The formats, in sniffing order.  ``iis`` is the W3C reader told the writer is IIS.
FORMATS: dict[str, FormatSpec] = {
    spec.name: spec for spec in (
        FormatSpec("alb", "AWS Application Load Balancer access log", _alb_reader, 60.0, "start"),
        FormatSpec("cloudfront", "Amazon CloudFront standard log (W3C, tab-separated)",
                   lambda: W3CReader("cloudfront"), 60.0, "end"),
        FormatSpec("w3c", "W3C extended log (#Fields); IIS recognised by its directives",
                   lambda: W3CReader("w3c"), 60.0, "end"),
        FormatSpec("iis", "Microsoft IIS W3C extended log", lambda: W3CReader("iis"), 120.0, "end"),
        FormatSpec("envoy", "Envoy default access log format", _envoy_reader, 60.0, "start"),
        FormatSpec("caddy", "Caddy JSON access log", _caddy_reader, 60.0, "end", json=True),
        FormatSpec("traefik", "Traefik JSON access log", _traefik_reader, 60.0, "start", json=True),
    )
}


def iter_records(fmt: str, lines: Iterable[bytes | str], name: str = "<stream>",
                 **options: Any) -> Iterator[tuple[int, dict | Bad]]:
    """``(line number, event or Bad)`` for each line that is not a directive or blank.

    Events get ``id = "<name>:<line>"`` as the other readers give them; line
    numbers are 1-based physical lines.  ``options`` go to the format's
    reader factory (``xff_trusted_hops`` for ``envoy``).
    """
    reader = FORMATS[fmt].reader(**options)
    feed = reader.feed_line
    for pos, line in enumerate(lines, 1):
        item = feed(line)
        if item is None:
            continue
        if type(item) is dict:
            item["id"] = f"{name}:{pos}"
        yield pos, item


# ------------------------------------------------------------------ sniffing

_ALB_TYPES = (b"http ", b"https ", b"h2 ", b"grpcs ", b"ws ", b"wss ")
_SNIFF_JSON_LINES = 16


def sniff_extra(head: bytes) -> str | None:
    """The name of one of these formats from the first bytes of an input, or None.

    ``head`` is what the reader sniffs (gzip unwrapped; a UTF-8 byte-order
    mark is skipped here).  Rules, in order:

    * ``#`` directives at the top including ``#Fields:`` and ``#Version:`` or
      ``#Software:`` -> ``cloudfront`` when the fields include ``x-edge-*``,
      ``iis`` when ``#Software`` names IIS or IIS-only fields are listed
      (``s-sitename``, ``sc-substatus``, ...), else ``w3c``;
    * ``{``: of the first complete lines (up to 16), at least one is a Caddy
      access record (a ``request`` object with ``method`` and ``uri`` and a
      ``logger`` under ``http.log.access``) and all the others are Caddy log
      records -> ``caddy``; the same with Traefik's ``RequestMethod`` plus
      ``StartUTC``/``StartLocal``/``DownstreamStatus`` records -> ``traefik``;
    * ``[`` and the first line parses as Envoy's default format -> ``envoy``;
    * the first line starts with an ALB request type and parses as an ALB
      line -> ``alb``.

    Call it before the JSON, access-log and CSV rules of ``sniff_format``
    (after its msgpack rule or before it: no format here starts with a
    msgpack map byte).
    """
    if head[:3] == b"\xef\xbb\xbf":
        head = head[3:]
    text = head.lstrip()
    if not text:
        return None
    c = text[:1]
    if c == b"#":
        return _sniff_w3c(text)
    if c == b"{":
        return _sniff_json(text)
    first = text.split(b"\n", 1)[0].rstrip(b"\r")
    if c == b"[":
        return "envoy" if type(parse_envoy_line(first)) is dict else None
    if first.startswith(_ALB_TYPES):
        return "alb" if type(parse_alb_line(first)) is dict else None
    return None


def _sniff_w3c(text: bytes) -> str | None:
    seen: set[str] = set()
    fields = software = ""
    for raw in text.split(b"\n")[:32]:
        line = decode_line(raw)
        if not line.startswith("#"):
            break
        name, sep, value = line[1:].partition(":")
        if sep:
            seen.add(name.strip().lower())
            if name.strip().lower() == "fields":
                fields = value
            elif name.strip().lower() == "software":
                software = value
    if "fields" not in seen or not seen & {"version", "software"}:
        return None
    lower = fields.lower()
    if "x-edge-" in lower:
        return "cloudfront"
    if "Internet Information Services" in software or set(lower.split()) & _IIS_ONLY:
        return "iis"
    return "w3c"


def _sniff_json(text: bytes) -> str | None:
    lines = text.split(b"\n")
    if len(lines) > 1:
        lines = lines[:-1]  # the last piece may be cut by the sniff window
    kinds = set()
    for line in lines[:_SNIFF_JSON_LINES]:
        line = line.strip()
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a broken line decides nothing
        kind = _json_kind(obj)
        if kind == "caddy" and "logger" not in obj:
            kind = "other"  # without zap's logger name, a nested request object is not evidence
        kinds.add(kind)
    if "caddy" in kinds and kinds <= {"caddy", "caddy-log"}:
        return "caddy"
    if "traefik" in kinds and kinds <= {"traefik", "traefik-log"}:
        return "traefik"
    return None
