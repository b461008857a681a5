"""The ``harbor`` world: dated-version REST (``/api/2025-01/orders/{id}.json``) behind OAuth 2.

Part of ``sleuth simulate`` (held out). A B2B/B2C supply marketplace in the style
of commerce platforms: resource paths end in ``.json``, logins are password
grants on an authorization server's ``POST /oauth/token`` (a wrong password is
``400 invalid_grant``), every anonymous visit starts with a guest-token request
and apps refresh their tokens about once an hour on the same token endpoint.
The gateway logs JA3 and the customer behind a bearer token, but no session id
and no username on a failed login. Bulk clients download the catalogue
export all day, from scripts that name themselves (and one that does not).
"""

from __future__ import annotations

from .attack import Shadow
from .clients import Bulk, Crawler, Monitor, Partner, Poller, Refresh, Site
from .world import AZURE, GCP, GOOGLEBOT, HOSTING, Network
from .worlds import Conventions, Identity, Op, Populace, WorldSpec

AUTH = "auth.harbor.example"
V = "/api/2025-01"


def _ops() -> dict:
    ops = (
        Op("login", "POST", "/oauth/token", "issueToken", "Issue an access token (password or refresh grant)",
           "OAuth", host=AUTH, fixed={"grant_type": "password"}, user_logged=False),
        Op("refresh", "POST", "/oauth/token", "issueToken", "Issue an access token (password or refresh grant)",
           "OAuth", host=AUTH, fixed={"grant_type": "refresh_token"}, user_logged=False),
        Op("token", "POST", "/oauth/anonymous/token", "issueAnonymousToken",
           "Issue a guest token for browsing and a guest cart", "OAuth", host=AUTH, user_logged=False),
        Op("logout", "POST", "/oauth/revoke", "revokeToken", "Revoke a token", "OAuth", host=AUTH),
        Op("mfa", "POST", "/mfa/verify", "verifyMfaCode", "Verify a one-time code for a pending sign-in", "MFA",
           host=AUTH),
        Op("chg_mfa", "POST", "/mfa/enrollments", "enrollMfaFactor", "Enrol or replace an MFA factor", "MFA",
           host=AUTH),
        Op("register", "POST", f"{V}/customers.json", "createCustomer", "Create a customer account", "Customers",
           user_logged=False),
        Op("exists", "GET", f"{V}/customers/exists.json", "checkCustomerEmail",
           "Whether an account exists for an e-mail address", "Customers", names={"username": "email"},
           user_logged=False),
        Op("reset", "POST", f"{V}/customers/recover.json", "recoverCustomer", "Send a password recovery e-mail",
           "Customers", user_logged=False),
        Op("reset_confirm", "POST", f"{V}/customers/reset.json", "resetCustomerPassword",
           "Reset a password with the recovery token", "Customers", user_logged=False),
        Op("account", "GET", f"{V}/customers/me.json", "getCurrentCustomer", "The signed-in customer", "Customers"),
        Op("chg_password", "PUT", f"{V}/customers/me.json", "updateCurrentCustomer",
           "Update the signed-in customer's password, e-mail address or phone", "Customers"),
        Op("chg_email", "PUT", f"{V}/customers/me.json", "updateCurrentCustomer",
           "Update the signed-in customer's password, e-mail address or phone", "Customers"),
        Op("chg_phone", "PUT", f"{V}/customers/me.json", "updateCurrentCustomer",
           "Update the signed-in customer's password, e-mail address or phone", "Customers"),
        Op("export", "GET", f"{V}/customers/me/orders/export.csv", "exportOrderHistory",
           "The customer's order history as CSV", "Customers"),
        Op("products", "GET", f"{V}/products.json", "listProducts", "List products", "Products"),
        Op("feed", "GET", f"{V}/products/export.jsonl", "exportCatalogue",
           "One page of the full catalogue export (bulk API, client key required)", "Bulk"),
        Op("product", "GET", f"{V}/products/{{product_id}}.json", "getProduct", "One product", "Products",
           obj="product_id"),
        Op("price", "GET", f"{V}/products/{{product_id}}/variants.json", "listProductVariants",
           "Variants of a product with price and inventory", "Products", obj="product_id"),
        Op("search", "GET", f"{V}/search.json", "searchProducts", "Search products", "Products"),
        Op("categories", "GET", f"{V}/collections.json", "listCollections", "Product collections", "Products"),
        Op("cart", "GET", f"{V}/carts/current.json", "getCurrentCart", "The current cart", "Carts"),
        Op("cart_add", "POST", f"{V}/carts/current/line_items.json", "addLineItem", "Add a line item", "Carts"),
        Op("cart_remove", "DELETE", f"{V}/carts/current/line_items/{{variant_id}}.json", "removeLineItem",
           "Remove a line item", "Carts", obj="variant_id"),
        Op("coupon", "GET", f"{V}/discount_codes/lookup.json", "lookupDiscountCode", "Look a discount code up",
           "Discounts", names={"coupon": "code"}, query_params=("coupon",)),
        Op("checkout", "POST", f"{V}/checkouts.json", "createCheckout", "Pay for the cart", "Checkouts"),
        Op("orders", "GET", f"{V}/orders.json", "listOrders", "The customer's orders", "Orders"),
        Op("order", "GET", f"{V}/orders/{{order_id}}.json", "getOrder", "One order", "Orders", obj="order_id"),
        Op("invoice", "GET", f"{V}/orders/{{order_id}}/invoice.pdf", "getOrderInvoice", "The invoice of an order",
           "Orders", obj="order_id"),
        Op("giftcard", "POST", f"{V}/gift_cards/redeem.json", "redeemGiftCard", "Redeem a gift card as store credit",
           "GiftCards"),
        Op("chg_payout", "PUT", f"{V}/payouts/bank_account.json", "updatePayoutBankAccount",
           "The bank account store-credit payouts go to", "StoreCredit"),
        Op("balance", "GET", f"{V}/store_credit_accounts/{{account_id}}.json", "getStoreCreditAccount",
           "A store-credit account and its balance", "StoreCredit", obj="account_id"),
        Op("transfers", "GET", f"{V}/store_credit_transfers.json", "listStoreCreditTransfers",
           "Store-credit transfers", "StoreCredit"),
        Op("transfer", "POST", f"{V}/store_credit_transfers.json", "createStoreCreditTransfer",
           "Transfer store credit to another customer (needs a code)", "StoreCredit"),
        Op("transfer_confirm", "POST", f"{V}/store_credit_transfers/{{transfer_id}}/confirm.json",
           "confirmStoreCreditTransfer", "Confirm a transfer with the texted code", "StoreCredit", obj="transfer_id"),
        Op("health", "GET", "/healthz", "healthz", "Liveness", "Meta"),
    )
    return {op.key: op for op in ops}


SHADOW = (
    Shadow("GET", "/api/2023-04/customers.json", 200),
    Shadow("GET", "/api/unstable/orders.json", 200),
    Shadow("GET", "/internal/metrics", 200),
    Shadow("GET", "/internal/pprof/heap", 200),
    Shadow("GET", "/admin/api/2025-01/customers.json", 403),
    Shadow("GET", "/admin/api/2025-01/shop.json", 403),
    Shadow("POST", "/admin/api/2025-01/customers/{user}/account_activation_url.json", 403),
    Shadow("GET", "/api/2026-01/products.json", 404),
    Shadow("GET", "/swagger.json", 404),
    Shadow("GET", "/.git/config", 404),
    Shadow("GET", "/.env", 404),
    Shadow("POST", "/graphql.json", 404),
    Shadow("GET", "/api/2025-01/config.json", 404),
    Shadow("GET", "/api/2025-01/customers/search.json", 404),
    Shadow("PUT", "/api/2025-01/products/{product}.json", 405),
    Shadow("DELETE", "/api/2025-01/orders/{order}.json", 405),
    Shadow("DELETE", "/api/2025-01/customers/me.json", 405),
    Shadow("GET", "/api/2025-01/customers.json", 405),
    Shadow("PATCH", "/api/2025-01/customers/me.json", 405),
    Shadow("GET", "/api/2023-04/customers/{user}.json", 200),
)

HARBOR = WorldSpec(
    name="harbor",
    title="Harbor Supply Storefront API",
    summary="Products, carts, checkouts, orders and store credit of the Harbor Supply marketplace. Versioned by "
            "release date; authenticate with OAuth 2 (password grant for customers, guest tokens for visitors, "
            "client keys for the bulk export).",
    site="https://shop.harbor.example",
    host="api.harbor.example",
    base="",
    style="rest",
    ops=_ops(),
    names={"page_size": "limit", "category": "collection_id", "product_id": "variant_id", "amount": "total_price",
           "card": "payment_token", "coupon": "discount_code", "iban_hash": "bank_account_token",
           "to": "recipient_customer_id", "token": "reset_token", "method": "factor_type"},
    identity=Identity("ja3", "none", user="authenticated", app_launch=2, grants=True),
    conventions=Conventions(wrong_password=400, wrong_code=422, not_owner=403, invalid=422,
                            limits={"login": (10, 60_000), "code": (20, 60_000)},
                            summary="A wrong password is 400 invalid_grant on the token endpoint (RFC 6749); a "
                                    "wrong one-time code and a rejected body are 422; someone else's order is 403; "
                                    "429 from the gateway's rate limiter."),
    populace=Populace(
        peak_eps=12.0, mobile_share=0.15, app_weight=0.6,
        scripts=(0.34, 0.36, 0.12, 0.06, 0.05, 0.03, 0.04), flash_sale=False,
        corporate=(Site("Acme Logistics", Network("Acme egress", 7922, "US", "corporate", ("50.201.14.0/24",)),
                        110, (13, 22), "US"),
                   Site("Stark Fabrication", Network("Stark egress", 174, "US", "corporate", ("38.104.22.0/24",)),
                        80, (14, 23), "US", xff="10.8"),
                   Site("Wayne Retail", Network("Wayne egress", 6461, "GB", "corporate", ("64.125.188.0/24",)),
                        70, (8, 17), "GB", xff="192.168")),
        monitors=(Monitor("Pingdom", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", HOSTING[1], 60,
                          locations=4),),
        crawlers=(Crawler("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                          GOOGLEBOT, 5.0, sender="googlebot(at)googlebot.com"),),
        partners=(Partner("ChannelBridge marketplace sync", "ChannelBridge/3.4 (+https://channelbridge.example)",
                          HOSTING[0], "ck_channelbridge_7e21", 600, items=60),),
        bulk=(Bulk("Acme bulk client", "harbor-bulk-client/3.2.1 (python 3.12; +https://developers.harbor.example/bulk)",
                   HOSTING[0], "ck_acme_bulk_1f0c", 1.2, 45, runs=2),
              Bulk("Stark sync", "HarborSync-CLI/1.0.4 (+https://developers.harbor.example/cli)", GCP,
                   "ck_stark_sync_88d1", 2.5, 60),
              Bulk("Wayne nightly ETL", "python-requests/2.31.0", HOSTING[2], "ck_wayne_etl_3c5e", 3.0, 40)),
        pollers=(Poller("ERP inventory sync", "SAP-Connector/2.8 (+https://connectors.example/harbor)", AZURE, 60,
                        op="feed", calls=4, key="ck_wayne_erp_51d2"),
                 Poller("Klaviyo catalogue sync", "Klaviyo/1.0 (+https://www.klaviyo.com)", HOSTING[0], 15)),
        refresh=Refresh("token", 1200, 55),
        stated={"top10_fingerprint_share": (0.95, 1.0), "top10_customer_fingerprint_share": (0.99, 1.0),
                "top_fingerprint_addresses": (800, 10**6), "sessionless_share": (1.0, 1.0),
                "carrier_request_share": (0.06, 0.2), "users_per_office_address": (50, 10**6)},
    ),
    shadow=SHADOW,
    legacy=("GET", "/api/2023-04/customers/{}.json", None),
    referers=(("https://shop.example/", "https://shop.harbor.example/"),
              ("https://bank.example/app", "https://shop.harbor.example/account/credit"),
              ("https://admin.shop.example/", "https://support.harbor.example/")),
    apps=(("ShopApp/7.4.2", "HarborShop/3.8.0"), ("ShopApp/7.4.1", "HarborShop/3.8.0"),
          ("ShopApp/7.3.9", "HarborShop/3.7.2"), ("BankApp/3.9.0", "HarborShop/3.8.0")),
    key_header="x-harbor-client-id",
    hidden=frozenset({"session", "username"}),
    log_extra=frozenset({"object", "query", "session-start"}),
    tags=(("OAuth", "Tokens (authorization server)"), ("MFA", "One-time codes"), ("Customers", "Customer accounts"),
          ("Products", "Catalogue"), ("Bulk", "Bulk export for client keys"), ("Carts", "Carts"),
          ("Discounts", "Discount codes"), ("Checkouts", "Checkout"), ("Orders", "Orders"),
          ("GiftCards", "Gift cards"), ("StoreCredit", "Store credit"), ("Meta", "Health")),
    api_version="2025-01",
    openapi_version="3.1.0",
    security=(("oauth2", {"type": "oauth2", "flows": {"password": {
        "tokenUrl": f"https://{AUTH}/oauth/token",
        "scopes": {"customer": "Act as the signed-in customer"}}}}),),
)
