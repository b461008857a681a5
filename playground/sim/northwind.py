"""The ``northwind`` world: versioned REST with its own words (sign-in, members, items, basket).

Part of ``sleuth simulate`` (held out: rules are never tuned on it). An outdoor
retailer's API under ``/v2`` with camelCase operationIds; order numbers like
``NW183245`` and SKUs like ``SK20431``; a voucher code in the path; JA4-shaped
fingerprints in ``ja3``; a session cookie that the first request of most web
visits does not carry yet; a wrong password answered 403 (Django REST
framework's default) and someone else's order 404. Its automated clients:
UptimeRobot and Better Stack, Googlebot and Bingbot, a price partner, an
affiliate feed sync, Feedly and Google Merchant Center, apps refreshing orders.
"""

from __future__ import annotations

from .attack import Shadow
from .clients import Bulk, Crawler, Monitor, Partner, Poller, Refresh, Site
from .world import AZURE, BINGBOT, GCP, GOOGLEBOT, HOSTING, Network
from .worlds import Conventions, Identity, Op, Populace, WorldSpec

_SKU = {"type": "string", "pattern": "^SK[0-9]{5}$"}
_ORDER = {"type": "string", "pattern": "^NW[0-9]{6,7}$"}


def _ops() -> dict:
    ops = (
        Op("login", "POST", "/sign-in", "signIn", "Sign in with a handle or e-mail address and a password", "Session"),
        Op("logout", "POST", "/sign-out", "signOut", "Sign out and drop the session cookie", "Session"),
        Op("mfa", "POST", "/sign-in/challenge", "answerSignInChallenge", "Answer the one-time code challenge", "Session"),
        Op("register", "POST", "/members", "createMember", "Join Northwind: create a member profile", "Members"),
        Op("exists", "GET", "/members/availability", "checkHandleAvailability", "Is a handle still free?", "Members"),
        Op("reset", "POST", "/password-resets", "requestPasswordReset", "E-mail a password reset link", "Members"),
        Op("reset_confirm", "POST", "/password-resets/confirmation", "confirmPasswordReset",
           "Choose a new password with the e-mailed token", "Members"),
        Op("account", "GET", "/members/me", "getMyProfile", "The signed-in member's profile", "Members"),
        Op("chg_password", "PUT", "/members/me/password", "changePassword", "Change the password", "Members"),
        Op("chg_email", "PUT", "/members/me/email", "changeEmail", "Change the e-mail address", "Members"),
        Op("chg_phone", "PUT", "/members/me/phone", "changePhone", "Change the mobile number", "Members"),
        Op("chg_mfa", "PUT", "/members/me/two-factor", "configureTwoFactor", "Set up or replace two-factor sign-in",
           "Members"),
        Op("export", "GET", "/members/me/data-export", "exportMyData", "Download the member's data (orders, wallet)",
           "Members"),
        Op("products", "GET", "/items", "listItems", "Browse items of a department", "Catalogue"),
        Op("product", "GET", "/items/{sku}", "getItem", "One item", "Catalogue", obj="sku", obj_fmt="SK{}",
           obj_schema=_SKU),
        Op("price", "GET", "/items/{sku}/availability", "getItemAvailability", "Price and stock of an item",
           "Catalogue", obj="sku", obj_fmt="SK{}", obj_schema=_SKU),
        Op("search", "GET", "/search", "searchItems", "Full-text item search", "Catalogue"),
        Op("categories", "GET", "/departments", "listDepartments", "The department tree", "Catalogue"),
        Op("cart", "GET", "/basket", "getBasket", "The basket", "Basket"),
        Op("cart_add", "POST", "/basket/lines", "addBasketLine", "Put an item in the basket", "Basket"),
        Op("cart_remove", "DELETE", "/basket/lines/{sku}", "removeBasketLine", "Take an item out of the basket",
           "Basket", obj="sku", obj_fmt="SK{}", obj_schema=_SKU),
        Op("coupon", "GET", "/vouchers/{voucherCode}", "lookupVoucher", "Check a voucher before checkout", "Basket",
           obj="voucherCode", obj_param="coupon", obj_schema={"type": "string", "maxLength": 32}),
        Op("checkout", "POST", "/orders", "placeOrder", "Pay for the basket and place the order", "Orders"),
        Op("orders", "GET", "/orders", "listMyOrders", "The member's orders", "Orders"),
        Op("order", "GET", "/orders/{orderNo}", "getOrder", "One of the member's orders", "Orders", obj="orderNo",
           obj_fmt="NW{}", obj_schema=_ORDER),
        Op("invoice", "GET", "/orders/{orderNo}/receipt", "getOrderReceipt", "The receipt of an order (PDF)",
           "Orders", obj="orderNo", obj_fmt="NW{}", obj_schema=_ORDER),
        Op("giftcard", "POST", "/gift-cards/redemptions", "redeemGiftCard", "Add a gift card's value to the wallet",
           "Wallet"),
        Op("chg_payout", "PUT", "/members/me/payout-account", "setPayoutAccount",
           "Where wallet withdrawals are paid", "Wallet"),
        Op("balance", "GET", "/wallet/accounts/{accountNo}/balance", "getWalletBalance", "Balance of a wallet account",
           "Wallet", obj="accountNo", obj_fmt="W{}", obj_schema={"type": "string", "pattern": "^W[0-9]{7}$"}),
        Op("transfers", "GET", "/wallet/transfers", "listWalletTransfers", "Wallet transfers", "Wallet"),
        Op("transfer", "POST", "/wallet/transfers", "sendMoney", "Send wallet money to another member (needs a code)",
           "Wallet"),
        Op("transfer_confirm", "POST", "/wallet/transfers/{transferNo}/confirmation", "confirmTransfer",
           "Confirm a transfer with the texted code", "Wallet", obj="transferNo", obj_fmt="T{}",
           obj_schema={"type": "string", "pattern": "^T[0-9]{7}$"}),
        Op("feed", "GET", "/feeds/items", "getItemFeed", "One page of the item feed for affiliates", "Feeds"),
        Op("health", "GET", "/status", "getStatus", "Service status", "Meta"),
    )
    return {op.key: op for op in ops}


SHADOW = (
    Shadow("GET", "/v2/internal/metrics", 200),
    Shadow("GET", "/v2/internal/debug/vars", 200),
    Shadow("GET", "/v1/members", 200),
    Shadow("GET", "/v2/admin/members", 403),
    Shadow("GET", "/v2/admin/settings", 403),
    Shadow("POST", "/v2/admin/impersonation", 403),
    Shadow("GET", "/v3/items", 404),
    Shadow("GET", "/v2/openapi.json", 404),
    Shadow("GET", "/v2/debug", 404),
    Shadow("GET", "/actuator/health", 404),
    Shadow("GET", "/.env", 404),
    Shadow("POST", "/graphql", 404),
    Shadow("GET", "/v2/settings", 404),
    Shadow("GET", "/v2/feeds/all", 404),
    Shadow("PUT", "/v2/items/SK{product}", 405),
    Shadow("DELETE", "/v2/orders/NW{order}", 405),
    Shadow("PATCH", "/v2/members/me", 405),
    Shadow("DELETE", "/v2/members/me", 405),
    Shadow("GET", "/v2/members", 405),
    Shadow("GET", "/v1/members/{user}", 200),
)

NORTHWIND = WorldSpec(
    name="northwind",
    title="Northwind Outfitters API",
    summary="Members, items, baskets and orders of the Northwind Outfitters shop, plus the member wallet. "
            "Sessions are cookies set by the first response; apps send the same cookie.",
    site="https://www.northwind.example",
    host="api.northwind.example",
    base="/v2",
    style="rest",
    ops=_ops(),
    names={"username": "handle", "q": "text", "page_size": "limit", "category": "department",
           "product_id": "sku", "quantity": "qty", "amount": "total", "card": "paymentToken", "coupon": "voucher",
           "code": "cardNumber", "otp": "code", "iban_hash": "iban", "to": "recipient", "token": "resetToken"},
    identity=Identity("ja4", "cookie", first_without_session=0.5, app_launch=2),
    conventions=Conventions(wrong_password=403, wrong_code=403, not_owner=404,
                            limits={"login": (20, 60_000), "code": (15, 60_000)},
                            summary="A wrong password or code is 403 (Django REST framework's default); someone "
                                    "else's order, receipt or wallet is 404; the gateway answers 429 past its limits."),
    populace=Populace(
        peak_eps=16.0, mobile_share=0.25, app_weight=1.5,
        scripts=(0.40, 0.33, 0.09, 0.08, 0.04, 0.025, 0.035),
        corporate=(Site("Initech offices", Network("Initech egress", 7018, "US", "corporate", ("12.155.32.0/24",)),
                        180, (13, 22), "US"),),
        monitors=(Monitor("UptimeRobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
                          HOSTING[4], 60, locations=3),
                  Monitor("Better Stack", "Better Stack Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
                          "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36",
                          HOSTING[0], 180, locations=2, jitter_ms=400)),
        crawlers=(Crawler("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                          GOOGLEBOT, 4.0, sender="googlebot(at)googlebot.com"),
                  Crawler("Bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
                          BINGBOT, 7.0, ips=3, share=0.5)),
        partners=(Partner("PriceRunner price feed", "PriceRunner-Bot/2.0 (+https://www.pricerunner.example/partners)",
                          GCP, "pk_pricerunner_41c9", 300, items=40),),
        bulk=(Bulk("Affiliate feed sync", "NorthwindFeedSync/2.1 (+https://developer.northwind.example/feeds)",
                   AZURE, "pk_affiliate_0b77", 1.5, 35),),
        pollers=(Poller("Feedly", "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 14 subscribers; like "
                        "FeedFetcher-Google)", HOSTING[0], 30),
                 Poller("Google Merchant Center", "Google-Merchant-Center/1.0 (+https://support.google.com/merchants)",
                        GCP, 60, op="feed", calls=3, key="pk_google_merchant_c3")),
        refresh=Refresh("orders", 500, 15),
        stated={"top10_fingerprint_share": (0.99, 1.0), "top10_customer_fingerprint_share": (0.99, 1.0),
                "top_fingerprint_addresses": (2000, 10**6), "sessionless_share": (0.03, 0.08),
                "customer_sessionless_share": (0.03, 0.07), "carrier_request_share": (0.2, 0.32),
                "users_per_carrier_address": (4, 10**6), "users_per_office_address": (80, 10**6)},
    ),
    shadow=SHADOW,
    legacy=("GET", "/v1/members/{}", None),
    referers=(("https://shop.example/", "https://www.northwind.example/"),
              ("https://bank.example/app", "https://www.northwind.example/wallet"),
              ("https://admin.shop.example/", "https://support.northwind.example/")),
    apps=(("ShopApp/7.4.2", "Northwind/5.12.0"), ("ShopApp/7.4.1", "Northwind/5.12.0"),
          ("ShopApp/7.3.9", "Northwind/5.11.3"), ("BankApp/3.9.0", "Northwind/5.12.0")),
    key_header="x-partner-key",
    log_extra=frozenset({"object", "query"}),
    tags=(("Session", "Signing in and out"), ("Members", "Member profiles and settings"),
          ("Catalogue", "Items, departments and search"), ("Basket", "The basket and vouchers"),
          ("Orders", "Placing and reading orders"), ("Wallet", "Gift cards, wallet balance and transfers"),
          ("Feeds", "Bulk item feed for affiliates (API key)"), ("Meta", "Service status")),
    api_version="2.31.4",
    security=(("sessionCookie", {"type": "apiKey", "in": "cookie", "name": "nw_session"}),),
)
