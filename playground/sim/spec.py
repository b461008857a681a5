"""The simulated API's documented routes and their OpenAPI 3.0 document.

Part of ``sleuth simulate``. ``ROUTES`` drives both the generators (method, host,
typical sizes and latency per route) and ``openapi()``; the shadow endpoints that
attackers find are deliberately *not* here (see ``attack.SHADOW``), so any event
the engine cannot match to this document is a spec anomaly by construction.
"""

from __future__ import annotations

import attrs

from .world import BANK, SHOP


@attrs.frozen
class Param:
    """One typed parameter of an operation (path, query or JSON body)."""

    name: str
    where: str  # path | query | body
    type: str = "string"  # integer | number | string | boolean
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] = ()
    max_length: int | None = None

    def schema(self) -> dict:
        out: dict = {"type": self.type}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.enum:
            out["enum"] = list(self.enum)
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        return out


@attrs.frozen
class Route:
    """A documented operation plus what the simulator needs to fake its traffic."""

    key: str
    method: str
    template: str
    host: str
    summary: str
    req: int = 0  # typical request body bytes
    resp: int = 400  # typical 2xx response body bytes
    lat: float = 40.0  # median server latency, ms
    params: tuple[Param, ...] = ()
    statuses: tuple[int, ...] = (200,)
    auth: bool = False
    _pre: str = attrs.field(init=False, eq=False, repr=False)
    _post: str = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        pre, _, rest = self.template.partition("{")
        object.__setattr__(self, "_pre", pre)
        object.__setattr__(self, "_post", rest.partition("}")[2] if rest else "")

    def fill(self, obj: object) -> str:
        """The request path for one object: the template with its (single) parameter set to ``obj``."""
        return f"{self._pre}{obj}{self._post}"


def _id(name: str) -> Param:
    return Param(name, "path", "integer", True, minimum=1)


_PAGE = (Param("page", "query", "integer", minimum=1, maximum=1000), Param("page_size", "query", "integer", minimum=1, maximum=100))
_USERNAME = Param("username", "body", "string", True, max_length=254)
_OTP = Param("otp", "body", "string", True, max_length=8)

ROUTES: dict[str, Route] = {
    r.key: r
    for r in (
        Route("login", "POST", "/api/v1/auth/login", SHOP, "Log in with username and password",
              180, 350, 95.0, (_USERNAME, Param("password", "body", "string", True, max_length=128)), (200, 401, 429)),
        Route("logout", "POST", "/api/v1/auth/logout", SHOP, "End the session", 0, 20, 12.0, (), (204,), True),
        Route("register", "POST", "/api/v1/auth/register", SHOP, "Create an account", 260, 300, 140.0,
              (_USERNAME, Param("email", "body", "string", True, max_length=254),
               Param("password", "body", "string", True, max_length=128)), (201, 409, 429)),
        Route("reset", "POST", "/api/v1/auth/password-reset", SHOP, "Request a password-reset e-mail",
              90, 60, 70.0, (_USERNAME,), (202, 429)),
        Route("reset_confirm", "POST", "/api/v1/auth/password-reset/confirm", SHOP, "Set a new password with the e-mailed token",
              220, 80, 110.0, (Param("token", "body", "string", True, max_length=64),
                               Param("password", "body", "string", True, max_length=128)), (200, 400)),
        Route("mfa", "POST", "/api/v1/auth/mfa/verify", SHOP, "Verify the second factor (one-time code)",
              60, 120, 45.0, (_OTP,), (200, 401, 429), True),
        Route("exists", "GET", "/api/v1/users/exists", SHOP, "Is a username taken? (sign-up form)", 0, 30, 18.0,
              (Param("username", "query", "string", True, max_length=254),), (200, 429)),
        Route("products", "GET", "/api/v1/products", SHOP, "List products", 0, 9200, 60.0,
              (Param("category", "query", "integer", minimum=1, maximum=500),
               Param("sort", "query", "string", enum=("relevance", "price_asc", "price_desc", "newest")), *_PAGE),
              (200, 400)),
        Route("product", "GET", "/api/v1/products/{product_id}", SHOP, "Product detail", 0, 3100, 28.0,
              (_id("product_id"),), (200, 404)),
        Route("price", "GET", "/api/v1/products/{product_id}/price", SHOP, "Current price and stock", 0, 160, 14.0,
              (_id("product_id"),), (200, 404)),
        Route("search", "GET", "/api/v1/search", SHOP, "Full-text product search", 0, 7800, 120.0,
              (Param("q", "query", "string", True, max_length=200), *_PAGE), (200, 400)),
        Route("categories", "GET", "/api/v1/categories", SHOP, "Category tree", 0, 2400, 9.0),
        Route("cart", "GET", "/api/v1/cart", SHOP, "View the cart", 0, 900, 22.0),
        Route("cart_add", "POST", "/api/v1/cart/items", SHOP, "Add a product to the cart", 48, 900, 35.0,
              (Param("product_id", "body", "integer", True, minimum=1),
               Param("quantity", "body", "integer", True, minimum=1, maximum=10)), (200, 400, 404, 409)),
        Route("cart_remove", "DELETE", "/api/v1/cart/items/{product_id}", SHOP, "Remove a product from the cart",
              0, 700, 25.0, (_id("product_id"),), (200, 404)),
        Route("checkout", "POST", "/api/v1/checkout", SHOP, "Pay for the cart", 320, 600, 480.0,
              (Param("amount", "body", "number", True, minimum=0.01, maximum=20000),
               Param("card", "body", "string", True, max_length=64),
               Param("coupon", "body", "string", max_length=32)), (201, 400, 402, 409), True),
        Route("orders", "GET", "/api/v1/orders", SHOP, "The caller's orders", 0, 2600, 55.0, _PAGE, (200,), True),
        Route("order", "GET", "/api/v1/orders/{order_id}", SHOP, "One order (owner only)", 0, 1500, 30.0,
              (_id("order_id"),), (200, 403, 404), True),
        Route("invoice", "GET", "/api/v1/orders/{order_id}/invoice", SHOP, "Invoice of an order", 0, 5200, 140.0,
              (_id("order_id"),), (200, 403, 404), True),
        Route("giftcard", "POST", "/api/v1/giftcards/redeem", SHOP, "Redeem a gift card onto the account", 40, 140, 60.0,
              (Param("code", "body", "string", True, max_length=19),), (200, 404, 409, 429), True),
        Route("coupon", "POST", "/api/v1/coupons/validate", SHOP, "Check a coupon code", 30, 120, 25.0,
              (Param("coupon", "body", "string", True, max_length=32),), (200, 404, 429)),
        Route("account", "GET", "/api/v1/account", SHOP, "Profile of the caller", 0, 700, 20.0, (), (200,), True),
        Route("chg_password", "POST", "/api/v1/account/password", SHOP, "Change password", 150, 40, 160.0,
              (Param("password", "body", "string", True, max_length=128),), (200, 400), True),
        Route("chg_email", "POST", "/api/v1/account/email", SHOP, "Change e-mail address", 70, 60, 70.0,
              (Param("email", "body", "string", True, max_length=254),), (200, 400), True),
        Route("chg_phone", "POST", "/api/v1/account/phone", SHOP, "Change phone number", 50, 60, 65.0,
              (Param("phone", "body", "string", True, max_length=20),), (200, 400), True),
        Route("chg_mfa", "POST", "/api/v1/account/mfa", SHOP, "Enrol or replace the MFA device", 80, 200, 80.0,
              (Param("method", "body", "string", True, enum=("totp", "sms")),), (200, 400), True),
        Route("chg_payout", "POST", "/api/v1/account/payout", BANK, "Change the payout bank account", 120, 80, 90.0,
              (Param("iban_hash", "body", "string", True, max_length=64),), (200, 400), True),
        Route("balance", "GET", "/api/v1/accounts/{account_id}/balance", BANK, "Balance of an account (owner only)",
              0, 220, 35.0, (_id("account_id"),), (200, 403, 404), True),
        Route("transfers", "GET", "/api/v1/transfers", BANK, "The caller's transfers", 0, 1800, 60.0, _PAGE, (200,), True),
        Route("transfer", "POST", "/api/v1/transfers", BANK, "Create a transfer (needs OTP confirmation)", 140, 180, 90.0,
              (Param("amount", "body", "number", True, minimum=0.01, maximum=10000),
               Param("to", "body", "string", True, max_length=64)), (201, 400), True),
        Route("transfer_confirm", "POST", "/api/v1/transfers/{transfer_id}/confirm", BANK, "Confirm a transfer with the OTP",
              40, 120, 55.0, (_id("transfer_id"), _OTP), (200, 401, 404, 429), True),
        Route("export", "GET", "/api/v1/reports/export", BANK, "Export statements or order history (expensive)",
              0, 48000, 900.0, (Param("page_size", "query", "integer", minimum=1, maximum=100),
                                Param("format", "query", "string", enum=("csv", "json"))), (200, 429, 503, 504), True),
        Route("health", "GET", "/health", SHOP, "Liveness probe", 0, 15, 2.0),
    )
}

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No content", 400: "Invalid request",
    401: "Unauthenticated or wrong credentials", 402: "Payment declined", 403: "Not the owner",
    404: "Not found", 409: "Conflict (sold out, already redeemed, taken)", 429: "Rate limited",
    503: "Overloaded", 504: "Timed out",
}


def openapi() -> dict:
    """The OpenAPI 3.0.3 document of the documented routes (no shadow endpoints)."""
    paths: dict[str, dict] = {}
    for r in ROUTES.values():
        op: dict = {"operationId": r.key, "summary": r.summary, "tags": ["bank" if r.host == BANK else "shop"]}
        plist = [
            {"name": p.name, "in": p.where, "required": p.required or p.where == "path", "schema": p.schema()}
            for p in r.params
            if p.where != "body"
        ]
        if plist:
            op["parameters"] = plist
        body = [p for p in r.params if p.where == "body"]
        if body:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": [p.name for p in body if p.required],
                            "properties": {p.name: p.schema() for p in body},
                        }
                    }
                },
            }
        op["responses"] = {str(s): {"description": _REASONS[s]} for s in r.statuses}
        if r.auth:
            op["security"] = [{"session": []}]
        paths.setdefault(r.template, {})[r.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Shop and Bank API (sleuth simulator)",
            "version": "1.14.0",
            "description": "Documented routes of the simulated retail and banking API. "
            "Shadow and legacy endpoints are intentionally absent.",
        },
        "servers": [{"url": f"https://{SHOP}"}, {"url": f"https://{BANK}"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "sid"},
                "partnerKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            }
        },
    }
