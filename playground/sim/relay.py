"""The ``relay`` world: an RPC-style API (``POST /api/users.forgotPassword``), mobile first.

Part of ``sleuth simulate`` (held out). Every call is a POST to
``/api/<group>.<method>`` with a JSON body, so object ids, codes and search terms
travel in the body (``params``) and never in the URL. Application errors answer
HTTP 200 with ``{"ok":false,"error":"invalid_auth"}`` (the Slack Web API's
convention): the event's ``outcome`` field carries the error code and the
response is a few dozen bytes; only the gateway's rate limiter (429) and
timeouts (503/504) are HTTP errors. No TLS fingerprint reaches the logs, the
session is a bearer-token hash, and more than half of the customers are on
phones behind small carrier CGNAT pools; an active delivery is tracked by the
app every 30 s.
"""

from __future__ import annotations

from .attack import Shadow
from .clients import Bulk, Monitor, Partner, Poller, Refresh, Site
from .world import GCP, HOSTING, Network
from .worlds import Conventions, Identity, Op, Populace, WorldSpec


def _op(key: str, method_name: str, summary: str, obj: str | None = None) -> Op:
    group = method_name.split(".")[0]
    return Op(key, "POST", f"/{method_name}", method_name, summary, group, obj=obj)


def _ops() -> dict:
    ops = (
        _op("login", "auth.signIn", "Sign in with a username and a password; returns a token"),
        _op("logout", "auth.signOut", "Revoke the calling token"),
        _op("mfa", "auth.verifyCode", "Verify the one-time code sent after sign-in"),
        _op("register", "users.register", "Create an account"),
        _op("exists", "users.checkUsername", "Whether a username is available"),
        _op("reset", "users.forgotPassword", "Send a password reset code"),
        _op("reset_confirm", "users.resetPassword", "Set a new password with a reset code"),
        _op("account", "users.me", "The calling user"),
        _op("chg_password", "users.setPassword", "Change the password"),
        _op("chg_email", "users.setEmail", "Change the e-mail address"),
        _op("chg_phone", "users.setPhone", "Change the phone number"),
        _op("chg_mfa", "users.setTwoFactor", "Configure two-factor sign-in"),
        _op("products", "catalog.list", "List items of a section"),
        _op("product", "catalog.item", "One item", "item_id"),
        _op("price", "catalog.price", "Price and availability of an item", "item_id"),
        _op("search", "catalog.search", "Search the catalogue"),
        _op("categories", "catalog.sections", "Catalogue sections"),
        _op("feed", "catalog.export", "One page of the catalogue export (API key)"),
        _op("cart", "cart.view", "The calling user's cart"),
        _op("cart_add", "cart.add", "Add an item to the cart"),
        _op("cart_remove", "cart.remove", "Remove an item from the cart", "item_id"),
        _op("coupon", "promos.check", "Check a promo code"),
        _op("checkout", "checkout.pay", "Pay for the cart"),
        _op("orders", "orders.list", "The calling user's orders"),
        _op("order", "orders.info", "One order and its delivery status", "order_id"),
        _op("invoice", "orders.receipt", "The receipt of an order", "order_id"),
        _op("giftcard", "giftcards.redeem", "Redeem a gift code onto the wallet"),
        _op("chg_payout", "payouts.setBankAccount", "Set the bank account payouts go to"),
        _op("balance", "wallet.balance", "Balance of a wallet account", "account_id"),
        _op("transfers", "wallet.history", "Wallet history"),
        _op("transfer", "wallet.send", "Send money to another user (needs a code)"),
        _op("transfer_confirm", "wallet.confirm", "Confirm a transfer with the texted code", "transfer_id"),
        _op("export", "reports.export", "Export the user's order and wallet history"),
        _op("health", "api.test", "Checks calling the API"),
    )
    return {op.key: op for op in ops}


SHADOW = (
    Shadow("POST", "/api/debug.info", 200),
    Shadow("POST", "/api/internal.metrics", 200),
    Shadow("POST", "/api/users.list", 200),
    Shadow("POST", "/api/admin.users.list", 403),
    Shadow("POST", "/api/admin.config.get", 403),
    Shadow("POST", "/api/admin.users.impersonate", 403),
    Shadow("POST", "/api/users.lookupByEmail", 404),
    Shadow("POST", "/api/auth.test", 404),
    Shadow("POST", "/api/orders.all", 404),
    Shadow("POST", "/api/catalog.bulkUpdate", 404),
    Shadow("GET", "/api/catalog.list", 405),
    Shadow("GET", "/api/users.me", 405),
    Shadow("GET", "/api/swagger.json", 404),
    Shadow("GET", "/.env", 404),
    Shadow("GET", "/actuator/env", 404),
    Shadow("POST", "/graphql", 404),
    Shadow("GET", "/api/v2/users", 404),
    Shadow("GET", "/server-status", 404),
    Shadow("POST", "/api/orders.delete", 404),
    Shadow("POST", "/api/users.info", 200),
)

RELAY = WorldSpec(
    name="relay",
    title="Relay Web API",
    summary="Relay's marketplace and delivery API. Every method is called with POST /api/<method> and a JSON "
            "body; the response is {\"ok\": true, ...} or {\"ok\": false, \"error\": \"<code>\"} with HTTP 200. "
            "HTTP 429 means the caller is rate limited.",
    site="https://app.relay.example",
    host="api.relay.example",
    base="/api",
    style="rpc",
    ops=_ops(),
    names={"q": "query", "page_size": "limit", "category": "section_id", "product_id": "item_id",
           "quantity": "count", "card": "payment_method", "coupon": "promo_code", "code": "gift_code",
           "otp": "code", "iban_hash": "bank_account", "to": "recipient_id", "token": "reset_code"},
    identity=Identity(None, "token", first_without_session=0.5, app_launch=3, session_prefix="tk_"),
    conventions=Conventions(
        envelope=True,
        codes={("login", 401): "invalid_auth", ("mfa", 401): "invalid_code", ("transfer_confirm", 401): "invalid_code",
               ("*", 400): "invalid_arguments", ("*", 402): "payment_declined", ("*", 403): "not_allowed",
               ("*", 404): "not_found", ("giftcard", 409): "already_redeemed", ("cart_add", 409): "sold_out",
               ("checkout", 409): "sold_out", ("register", 409): "username_taken", ("*", 409): "conflict",
               ("*", 429): "ratelimited", ("*", 503): "service_unavailable", ("*", 504): "request_timeout",
               ("", 403): "not_allowed", ("", 404): "unknown_method", ("", 405): "method_not_allowed"},
        limits={"login": (40, 60_000), "code": (30, 60_000)},
        summary="HTTP 200 with {\"ok\":false,\"error\":\"invalid_auth\"} for a wrong password (and every other "
                "application error; the event's outcome field and a ~40-byte response say so); 429 from the "
                "gateway's rate limiter; 503/504 when a backend times out."),
    populace=Populace(
        peak_eps=14.0, mobile_share=0.55, app_weight=6.0, pool_factor=0.5,
        scripts=(0.30, 0.38, 0.12, 0.10, 0.04, 0.02, 0.04), flash_sale=False,
        corporate=(Site("Vandelay Industries", Network("Vandelay egress", 1136, "NL", "corporate", ("145.53.64.0/24",)),
                        120, (7, 16), "NL"),
                   Site("Umbrella Logistics", Network("Umbrella egress", 3215, "FR", "corporate", ("90.83.12.0/24",)),
                        90, (7, 16), "FR", xff="172.16")),
        monitors=(Monitor("Datadog Synthetics", "Datadog/Synthetics", HOSTING[0], 300, locations=6),),
        partners=(Partner("MerchantHub catalogue sync", "MerchantHub-Connector/4.2 (+https://merchanthub.example/relay)",
                          GCP, "pk_merchanthub_9d02", 120, items=30, op="product"),),
        bulk=(Bulk("BI team export", "relay-export/1.3 (+https://developers.relay.example/export)", HOSTING[0],
                   "pk_bi_team_51aa", 2.0, 30),),
        pollers=(Poller("Metabase dashboard refresh", "Metabase/0.50.12", HOSTING[0], 15, op="feed", calls=2,
                        key="pk_bi_team_51aa"),
                 Poller("Zapier trigger", "Zapier", HOSTING[0], 15, op="products", key="pk_zapier_77ab")),
        refresh=Refresh("tracking", 120, 0.5),
        stated={"sessionless_share": (0.06, 0.12), "customer_sessionless_share": (0.045, 0.09),
                "carrier_request_share": (0.45, 0.62), "users_per_carrier_address": (10, 10**6),
                "users_per_office_address": (50, 10**6)},
    ),
    shadow=SHADOW,
    legacy=("POST", "/api/users.info", "user_id"),
    referers=(("https://shop.example/", "https://app.relay.example/"),
              ("https://bank.example/app", "https://app.relay.example/wallet"),
              ("https://admin.shop.example/", "https://support.relay.example/")),
    apps=(("ShopApp/7.4.2 (iPhone; iOS 18.1; Scale/3.00)", "Relay/24.11.2 (com.relay.app; build:24112; iOS 18.1.0) "
           "Alamofire/5.9.1"),
          ("ShopApp/7.4.1", "Relay/24.11.2"), ("ShopApp/7.3.9", "Relay/24.10.0"), ("BankApp/3.9.0", "Relay/24.11.2")),
    key_header="x-relay-app-key",
    hidden=frozenset({"fingerprint"}),
    log_extra=frozenset(),
    tags=tuple((g, f"{g}.* methods") for g in ("auth", "users", "catalog", "cart", "promos", "checkout", "orders",
                                               "giftcards", "payouts", "wallet", "reports", "api")),
    api_version="2024.11",
    security=(("token", {"type": "http", "scheme": "bearer"}),),
)
