"""Events from forwarded request metadata: client address behind trusted proxies, fields, secrets left out."""

from __future__ import annotations

import pytest

from sleuth.playground.serve.request import RequestMapper, cookie_value

NGINX = "127.0.0.1"


def h(**headers) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]


ADDRESS_CASES = [
    # (peer, X-Forwarded-For, X-Real-IP, expected)
    ("203.0.113.9", None, None, "203.0.113.9"),                        # no proxy
    ("203.0.113.9", "1.2.3.4", "5.6.7.8", "203.0.113.9"),              # an untrusted peer's headers are ignored
    (NGINX, "198.51.100.7", NGINX, "198.51.100.7"),
    (NGINX, "6.6.6.6, 198.51.100.7", None, "198.51.100.7"),            # a client-written entry on the left
    (NGINX, "6.6.6.6, 198.51.100.7, 10.0.0.2", None, "198.51.100.7"),  # a trusted load balancer in between
    (NGINX, "10.0.0.3, 10.0.0.2", None, "10.0.0.3"),                   # all trusted: the leftmost
    (NGINX, "not-an-ip, 10.0.0.2", None, "10.0.0.2"),                  # garbage: the last trusted hop
    (NGINX, "198.51.100.7:5123", None, "198.51.100.7"),                # v4 with a port
    (NGINX, "[2001:db8::5]:443", None, "2001:db8::5"),
    (NGINX, "2001:db8::5", None, "2001:db8::5"),
    (NGINX, None, "198.51.100.8", "198.51.100.8"),                     # X-Real-IP when no XFF
    (NGINX, None, "junk", NGINX),
    (None, "1.2.3.4", None, None),
]


@pytest.mark.parametrize("peer,xff,real,expected", ADDRESS_CASES,
                         ids=[f"{i}-{c[3]}" for i, c in enumerate(ADDRESS_CASES)])
def test_client_address(peer, xff, real, expected):
    m = RequestMapper(trusted_proxies=["127.0.0.1/32", "10.0.0.0/8"])
    assert m.client_address(peer, xff, real) == expected


def test_nginx_auth_request_event():
    m = RequestMapper(trusted_proxies=["127.0.0.1/32"], session_cookie="sid", fields={"user": "X-User"})
    ev = m.event(h(host="shop.example", x_original_uri="/api/login?next=%2Fcart&x=1", x_original_method="post",
                   x_real_ip="198.51.100.7", x_forwarded_for="198.51.100.7", user_agent="curl/8.4.0",
                   cookie="theme=dark; sid=\"abc123\"", authorization="Bearer t", x_user="alice",
                   x_request_id="9f2c", referer="https://shop.example/"),
                 peer=NGINX, method="GET", target="/auth", original=True)
    assert ev == {
        "method": "POST", "path": "/api/login", "query": {"next": "/cart", "x": "1"}, "src_ip": "198.51.100.7",
        "host": "shop.example", "ua": "curl/8.4.0", "id": "9f2c", "session": "abc123", "user": "alice",
        "headers": {"host": "shop.example", "x-real-ip": "198.51.100.7", "x-forwarded-for": "198.51.100.7",
                    "user-agent": "curl/8.4.0", "x-user": "alice", "x-request-id": "9f2c",
                    "referer": "https://shop.example/"}}


def test_envoy_event_keeps_the_request_line():
    m = RequestMapper(trusted_proxies=["127.0.0.1/32"])
    ev = m.event(h(host="api.example", x_forwarded_for="6.6.6.6,198.51.100.7", x_request_id="a" * 200),
                 peer=NGINX, method="DELETE", target="/v1/orders/7?force=1", original=False)
    assert (ev["method"], ev["path"], ev["query"], ev["src_ip"]) == ("DELETE", "/v1/orders/7", {"force": "1"},
                                                                     "198.51.100.7")
    assert "id" not in ev                       # an over-long request id is not used


def test_headers_are_bounded_and_repeated_ones_joined():
    m = RequestMapper()
    many = [(f"x-h{i}".encode(), b"v") for i in range(100)] + [(b"x-h1", b"w")]
    ev = m.event(many, peer="203.0.113.1", method="GET", target="/", original=False)
    assert len(ev["headers"]) == 64 and ev["headers"]["x-h1"] == "v, w"


@pytest.mark.parametrize("header,value", [("a=1; sid=xyz; b=2", "xyz"), ("sid=", None), ("sidx=1", None),
                                          ("sid=\"q\"", "q"), ("", None), ("a=1;sid=z", "z")])
def test_cookie_value(header, value):
    assert cookie_value(header, "sid") == value


def test_from_scope():
    m = RequestMapper(session_cookie="sid")
    scope = {"type": "http", "method": "GET", "path": "/a b", "raw_path": b"/a%20b", "query_string": b"q=1",
             "headers": [(b"cookie", b"sid=s1"), (b"user-agent", b"ua")], "client": ("203.0.113.4", 5000)}
    assert m.from_scope(scope) == {"method": "GET", "path": "/a%20b", "query": {"q": "1"}, "src_ip": "203.0.113.4",
                                   "ua": "ua", "session": "s1", "headers": {"user-agent": "ua"}}


def test_envoy_external_address_from_a_trusted_peer_only():
    m = RequestMapper(trusted_proxies=["127.0.0.1/32"])
    hs = h(x_envoy_external_address="198.51.100.9", x_forwarded_for="6.6.6.6, 198.51.100.9")
    assert m.event(hs, peer=NGINX, method="GET", target="/", original=False)["src_ip"] == "198.51.100.9"
    assert m.event(hs, peer="203.0.113.1", method="GET", target="/", original=False)["src_ip"] == "203.0.113.1"
    bad = h(x_envoy_external_address="junk", x_forwarded_for="198.51.100.9")
    assert m.event(bad, peer=NGINX, method="GET", target="/", original=False)["src_ip"] == "198.51.100.9"
