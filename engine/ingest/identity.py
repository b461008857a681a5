"""Derived identities: ``client`` (the best fingerprint an event carries) and ``actor`` (who acts).

Part of normalisation: the Normalizer adds them to events that do not carry
them, when a rule reads them (docs/input.md#derived-fields). Rules keyed on
them run on full API events and on plain access logs alike: ``client`` is the
JA4 or JA3 hash when the log has one, else the user agent's family and major
version (plus the request's header names when the log keeps headers), else
the raw user agent; ``actor`` is the session, else the user, else the address
with its client. Measured choice: user agents are parsed once each (LRU of
65,536), so a derivation costs ~1 µs per event.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["actor_of", "client_of", "ua_family"]

#: Header names left out of a client's header set: they vary per request (referer, cookie,
#: authorization) or are added by proxies on the way (forwarded-for), not by the client software.
VOLATILE_HEADERS = frozenset({
    "referer", "cookie", "authorization", "x-forwarded-for", "x-real-ip", "forwarded", "via",
    "x-request-id", "traceparent", "content-length", "if-none-match", "if-modified-since",
})
_MAX_HEADERS = 16       # header names kept in a header set
_MAX_NAME = 40          # characters kept of a header name
_MAX_RAW = 200          # characters kept of a raw user agent
_MAX_UA = 1024          # longer user agents are not parsed (hostile input): they stay raw

# Browsers, most specific first: the token that names the browser, and the family it reports.
_BROWSERS = (
    ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("OPR/", "Opera"),
    ("SamsungBrowser/", "SamsungBrowser"), ("YaBrowser/", "Yandex"), ("Vivaldi/", "Vivaldi"),
    ("HeadlessChrome/", "HeadlessChrome"), ("CriOS/", "Chrome"), ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
)
_VERSION = re.compile(r"(\d+)")
# 'Name/1.2.3' at the start (scripts, apps, libraries): the product token.
_PRODUCT = re.compile(r"([A-Za-z][A-Za-z0-9._+-]{0,63})/v?(\d+)")
# Inside '(compatible; Googlebot/2.1; ...)' or '(compatible; MSIE 5.5; ...)'.
_COMPATIBLE = re.compile(r"\(compatible;\s*([A-Za-z][A-Za-z0-9._ +-]{0,63}?)[/ ]v?(\d+)")


@lru_cache(maxsize=65536)
def ua_family(ua: str) -> str | None:
    """``'Chrome/131'``, ``'Safari/18'``, ``'python-requests/2'``, ``'Googlebot/2'``; None when unknown.

    The family and major version of a user agent: the browser a browser user
    agent names (a ``compatible`` token first: crawlers, old IE; then Edge,
    Opera, Firefox, Chrome, Safari by ``Version/``), else the leading product token of a
    script or an app (``Name/1.2``, not ``Mozilla``). None for an empty user
    agent, one without a version, or one longer than 1,024 characters.
    """
    if not ua or len(ua) > _MAX_UA:
        return None
    if ua.startswith("Mozilla/"):
        # A crawler or an old browser that names itself: '(compatible; Googlebot/2.1', 'MSIE 5.5'.
        m = _COMPATIBLE.search(ua)
        if m:
            return f"{m.group(1).strip()}/{m.group(2)}"
        for token, family in _BROWSERS:
            i = ua.find(token)
            if i != -1:
                m = _VERSION.match(ua, i + len(token))
                if m:
                    return f"{family}/{m.group(1)}"
        i = ua.find("Version/")
        if i != -1 and "Safari/" in ua:
            m = _VERSION.match(ua, i + 8)
            if m:
                return f"Safari/{m.group(1)}"
        # A Mozilla-style agent that names no browser: the first other product token.
        for m in _PRODUCT.finditer(ua, 8):
            if m.group(1) not in ("AppleWebKit", "Gecko", "KHTML", "Mobile", "Safari", "Version", "Trident"):
                return f"{m.group(1)}/{m.group(2)}"
        return None
    m = _PRODUCT.match(ua)
    if m:
        return f"{m.group(1)}/{m.group(2)}"
    return None


@lru_cache(maxsize=65536)
def _ua_client(ua: str, names: tuple[str, ...]) -> str:
    fam = ua_family(ua)
    if fam is None:
        return "raw:" + ua[:_MAX_RAW]
    if names:
        return f"ua:{fam} +{','.join(names)}"
    return "ua:" + fam


def client_of(ev: dict) -> str | None:
    """The ``client`` of an event: ``tls:<hash>`` (a ``ja4`` field the input carries, else ``ja3``),
    ``ua:<family>/<major>[ +<headers>]`` or ``raw:<user agent>`` (first 200 characters); None when
    the event has none of them.

    The header set is the sorted names of the event's ``headers`` mapping (at
    most 16, left out: ``VOLATILE_HEADERS``), when the event carries headers.
    """
    v = ev.get("ja4")
    if type(v) is str and v:
        return "tls:" + v
    v = ev.get("ja3")
    if type(v) is str and v:
        return "tls:" + v
    ua = ev.get("ua")
    if type(ua) is not str or not ua or ua == "-":
        return None
    h = ev.get("headers")
    names: tuple[str, ...] = ()
    if type(h) is dict and h:
        names = tuple(sorted(k[:_MAX_NAME] for k in h if type(k) is str and k not in VOLATILE_HEADERS)[:_MAX_HEADERS])
    return _ua_client(ua, names)


def actor_of(ev: dict, client: str | None) -> str | None:
    """The ``actor`` of an event: ``s:<session>``, else ``u:<user>``, else ``a:<address> <client>``
    (``a:<address>`` without a client); None without any of them."""
    v = ev.get("session")
    if type(v) is str and v:
        return "s:" + v
    v = ev.get("user")
    if type(v) is str and v:
        return "u:" + v
    ip = ev.get("src_ip")
    if type(ip) is str and ip:
        return f"a:{ip} {client}" if client else "a:" + ip
    return None
