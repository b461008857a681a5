"""The operation catalogue every world renders: what a request does, independent of its route.

Part of ``sleuth simulate``. Benign scripts and attack programs name operations
(``"login"``, ``"order"``, ``"giftcard"``...) and the object they act on; each
world's route map turns that into its own method, path, parameters and
answers. ``ROLE`` is the ground truth of each operation's business role in the
vocabulary of endpoint roles (``null``: no sensitive role), written to every
world's ``roles.tsv``. ``EXTRA`` are operations only some worlds have: an
anonymous token grant, an OAuth refresh and a bulk catalogue feed.
"""

from __future__ import annotations

from .spec import ROUTES, Param, Route

ROLE: dict[str, str | None] = {
    "login": "login",
    "logout": "logout",
    "register": "register",
    "reset": "password-reset",
    "reset_confirm": "password-reset",
    "mfa": "mfa",
    "exists": "username-check",
    "products": "catalogue",
    "product": "catalogue",
    "price": "catalogue",
    "search": "search",
    "categories": "catalogue",
    "cart": "cart",
    "cart_add": "cart",
    "cart_remove": "cart",
    "checkout": "checkout",
    "orders": None,  # the caller's own list: no object id to walk
    "order": "object-read",
    "invoice": "object-read",
    "giftcard": "giftcard",
    "coupon": "coupon",
    "account": None,  # "who am I"
    "chg_password": "account-change",
    "chg_email": "account-change",
    "chg_phone": "account-change",
    "chg_mfa": "account-change",
    "chg_payout": "account-change",
    "balance": "object-read",
    "transfers": None,
    "transfer": "transfer",
    "transfer_confirm": "transfer",
    "export": "export",
    "health": "health",
    # operations of some held-out worlds only
    "token": None,  # an anonymous (guest) token: starts a session, no credentials
    "refresh": "token-refresh",
    "feed": "export",
}
"""Operation → endpoint role (issue vocabulary), or None."""

EXTRA: dict[str, Route] = {
    r.key: r
    for r in (
        Route("token", "POST", "/oauth/anonymous/token", "", "Issue a guest access token", 60, 420, 18.0,
              (Param("grant_type", "body", "string", True, enum=("client_credentials",)),), (200, 429)),
        Route("refresh", "POST", "/oauth/token", "", "Refresh an access token", 120, 460, 22.0,
              (Param("grant_type", "body", "string", True, enum=("refresh_token",)),
               Param("refresh_token", "body", "string", True, max_length=128)), (200, 400, 429)),
        Route("feed", "GET", "/feed", "", "One page of the full catalogue export (bulk clients)", 0, 180_000, 380.0,
              (Param("page", "query", "integer", True, minimum=1, maximum=100_000),
               Param("page_size", "query", "integer", minimum=1, maximum=1000)), (200, 429)),
    )
}
"""Operations outside the tuning world's API (their sizes and latencies; hosts come from the world)."""

CANON: dict[str, Route] = {**ROUTES, **EXTRA}
"""Every operation's canonical definition: parameters, typical sizes and latency."""

assert set(CANON) == set(ROLE), sorted(set(CANON) ^ set(ROLE))

OBJECT: dict[str, str] = {
    key: next(p.name for p in r.params if p.where == "path") for key, r in CANON.items()
    if any(p.where == "path" for p in r.params)
}
"""Operations that act on one object → the canonical name of its id (``order_id``...)."""
