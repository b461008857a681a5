"""The ``marquee`` world: live-event ticketing, kebab-case REST under ``/v3`` beside an older ``.do`` API.

Part of ``sleuth simulate`` (held out; sealed until its first scoring, which
docs/detection.md publishes). A ticketing platform's API in the style of a Laravel
application: kebab-case nested resources (``/v3/events/{eventId}/ticket-offers``),
PascalCase operationIds, a wrong password or code answered 422, someone else's
order 404, 429 from the application's throttle. The Android app was never moved
off the older mobile API (``m.marquee.example``, Struts-era ``eventDetail.do?eventId=``
routes, documented as deprecated) which answers errors as HTTP 200
``{"ok":false,...}`` and is rate limited by nginx (503). The CDN in front of
``/v3`` logs a JA4 fingerprint in its own ``ja4`` field; the older origin logs
none. The application logs the fan once a request succeeds: a failed sign-in
names nobody. An on-sale (the flash sale) multiplies event, hold and purchase
traffic; a campus NAT, AWS Route 53 health checks, an event aggregator on the
old API, promoters' feed downloads and calendar pollers are its machine and
shared-address traffic.
"""

from __future__ import annotations

from .attack import Shadow
from .clients import Bulk, Crawler, Monitor, Partner, Poller, Refresh, Site
from .world import AZURE, GCP, GOOGLEBOT, HOSTING, Network
from .worlds import Conventions, Identity, Op, Populace, WorldSpec

V = "/v3"
MOBILE = "m.marquee.example"
_ORDER = {"type": "string", "pattern": "^MQ-[0-9]{6,7}$"}
_EVENT = {"type": "integer", "minimum": 1}


def _ops() -> dict:
    ops = (
        Op("login", "POST", f"{V}/auth/sign-in", "SignIn", "Sign in with an e-mail address and a password", "Auth",
           user_on_failure=False),
        Op("logout", "POST", f"{V}/auth/sign-out", "SignOut", "Sign out and end the session", "Auth"),
        Op("mfa", "POST", f"{V}/auth/two-factor-challenge", "AnswerTwoFactorChallenge",
           "Finish signing in with the code from the authenticator app or text message", "Auth",
           user_on_failure=False),
        Op("reset", "POST", f"{V}/auth/forgot-password", "SendPasswordResetLink", "E-mail a password reset link",
           "Auth", user_logged=False),
        Op("reset_confirm", "POST", f"{V}/auth/reset-password", "ResetPassword",
           "Choose a new password with the e-mailed token", "Auth", user_logged=False),
        Op("register", "POST", f"{V}/fan-accounts", "CreateFanAccount", "Create a fan account", "FanAccounts",
           user_logged=False),
        Op("exists", "GET", f"{V}/fan-accounts/email-availability", "CheckEmailAvailability",
           "Is an e-mail address already registered? (sign-up form)", "FanAccounts", user_logged=False),
        Op("account", "GET", f"{V}/fan-accounts/me", "GetMyFanAccount", "The signed-in fan's account", "FanAccounts"),
        Op("chg_password", "PUT", f"{V}/fan-accounts/me/password", "UpdatePassword", "Change the password",
           "FanAccounts"),
        Op("chg_email", "PUT", f"{V}/fan-accounts/me/email-address", "UpdateEmailAddress",
           "Change the e-mail address", "FanAccounts"),
        Op("chg_phone", "PUT", f"{V}/fan-accounts/me/phone-number", "UpdatePhoneNumber",
           "Change the mobile number used for codes and ticket delivery", "FanAccounts"),
        Op("chg_mfa", "POST", f"{V}/fan-accounts/me/two-factor-authentication", "EnableTwoFactorAuthentication",
           "Enable or replace two-factor authentication", "FanAccounts"),
        Op("chg_payout", "PUT", f"{V}/fan-accounts/me/resale-payout-method", "UpdateResalePayoutMethod",
           "The bank account resale proceeds and wallet withdrawals are paid to", "FanAccounts"),
        Op("orders", "GET", f"{V}/fan-accounts/me/orders", "ListMyOrders", "The signed-in fan's orders", "Orders"),
        Op("export", "GET", f"{V}/fan-accounts/me/purchase-history/export", "ExportPurchaseHistory",
           "Download the fan's purchase and wallet history", "FanAccounts"),
        Op("products", "GET", f"{V}/events", "ListEvents", "Upcoming events of a genre", "Events"),
        Op("product", "GET", f"{V}/events/{{eventId}}", "GetEvent", "One event: line-up, venue, dates", "Events",
           obj="eventId", obj_schema=_EVENT),
        Op("price", "GET", f"{V}/events/{{eventId}}/ticket-offers", "ListTicketOffers",
           "Ticket types of an event with their prices and availability", "Events", obj="eventId",
           obj_schema=_EVENT),
        Op("search", "GET", f"{V}/event-search", "SearchEvents", "Search events by artist, team, venue or city",
           "Events"),
        Op("categories", "GET", f"{V}/genres", "ListGenres", "Genres and sub-genres", "Events"),
        Op("cart", "GET", f"{V}/ticket-holds/current", "GetCurrentHold",
           "The tickets held for the fan (released after 10 minutes)", "TicketHolds"),
        Op("cart_add", "POST", f"{V}/ticket-holds/current/items", "HoldTickets", "Hold tickets of an event",
           "TicketHolds"),
        Op("cart_remove", "DELETE", f"{V}/ticket-holds/current/items/{{eventId}}", "ReleaseTickets",
           "Release the held tickets of an event", "TicketHolds", obj="eventId", obj_schema=_EVENT),
        Op("coupon", "POST", f"{V}/ticket-holds/current/promo-code", "ApplyPromoCode",
           "Apply a promoter's presale or discount code to the hold", "TicketHolds"),
        Op("checkout", "POST", f"{V}/purchases", "PurchaseHeldTickets", "Pay for the held tickets", "Purchases"),
        Op("order", "GET", f"{V}/orders/{{orderNumber}}", "GetOrder", "One of the fan's orders", "Orders",
           obj="orderNumber", obj_fmt="MQ-{}", obj_schema=_ORDER),
        Op("invoice", "GET", f"{V}/orders/{{orderNumber}}/mobile-tickets", "GetMobileTickets",
           "The tickets of an order (barcodes, wallet passes)", "Orders", obj="orderNumber", obj_fmt="MQ-{}",
           obj_schema=_ORDER),
        Op("giftcard", "POST", f"{V}/fan-wallet/gift-card-redemptions", "RedeemGiftCard",
           "Add a gift card's value to the fan wallet", "FanWallet"),
        Op("balance", "GET", f"{V}/fan-wallets/{{walletId}}/balance", "GetFanWalletBalance",
           "Balance of a fan wallet (resale proceeds, gift cards)", "FanWallet", obj="walletId", obj_fmt="FW{}",
           obj_schema={"type": "string", "pattern": "^FW[0-9]{7}$"}),
        Op("transfers", "GET", f"{V}/wallet-transfers", "ListWalletTransfers", "Wallet transfers", "FanWallet"),
        Op("transfer", "POST", f"{V}/wallet-transfers", "SendWalletMoney",
           "Send wallet money to another fan (confirmed with a texted code)", "FanWallet"),
        Op("transfer_confirm", "POST", f"{V}/wallet-transfers/{{transferId}}/confirmation", "ConfirmWalletTransfer",
           "Confirm a transfer with the texted code", "FanWallet", obj="transferId"),
        Op("feed", "GET", f"{V}/partner-feeds/event-inventory", "GetEventInventoryFeed",
           "One page of the event and inventory feed (partner key required)", "PartnerFeeds"),
        Op("health", "GET", "/up", "HealthCheck", "Application health check", "Meta"),
    )
    return {op.key: op for op in ops}


def _older() -> dict:
    """The older mobile API the Android app and an aggregator still call (documented, deprecated)."""
    def op(key: str, method: str, name: str, op_id: str, summary: str, obj: str | None = None) -> Op:
        return Op(key, method, f"/mobile/{name}.do", op_id, summary, "MobileLegacy", host=MOBILE, obj=obj,
                  obj_in="query")

    ops = (
        op("login", "POST", "login", "MobileLogin", "Sign in (older mobile API)"),
        op("logout", "POST", "logout", "MobileLogout", "Sign out (older mobile API)"),
        op("mfa", "POST", "verifyPin", "MobileVerifyPin", "Verify the texted sign-in code (older mobile API)"),
        op("account", "GET", "myAccount", "MobileMyAccount", "The signed-in fan (older mobile API)"),
        op("products", "GET", "eventList", "MobileEventList", "Events of a genre (older mobile API)"),
        op("product", "GET", "eventDetail", "MobileEventDetail", "One event (older mobile API)", "eventId"),
        op("price", "GET", "eventPrices", "MobileEventPrices", "Prices and availability of an event (older mobile API)",
           "eventId"),
        op("search", "GET", "search", "MobileSearch", "Search events (older mobile API)"),
        op("categories", "GET", "genreList", "MobileGenreList", "Genres (older mobile API)"),
        op("orders", "GET", "myOrders", "MobileMyOrders", "The fan's orders (older mobile API)"),
        op("order", "GET", "orderDetail", "MobileOrderDetail", "One of the fan's orders (older mobile API)", "orderId"),
        op("invoice", "GET", "ticketPdf", "MobileTicketPdf", "The tickets of an order as PDF (older mobile API)",
           "orderId"),
    )
    return {o.key: o for o in ops}


SHADOW = (
    Shadow("GET", "/telescope/api/requests", 200),
    Shadow("GET", "/horizon/api/stats", 200),
    Shadow("GET", "/v2/fan-accounts", 200),
    Shadow("GET", "/v3/admin/fan-accounts", 403),
    Shadow("GET", "/v3/admin/settings", 403),
    Shadow("POST", "/v3/admin/impersonations", 403),
    Shadow("GET", "/v4/events", 404),
    Shadow("GET", "/v3/openapi.json", 404),
    Shadow("GET", "/_ignition/health-check", 404),
    Shadow("GET", "/.env", 404),
    Shadow("POST", "/graphql", 404),
    Shadow("GET", "/storage/logs/laravel.log", 404),
    Shadow("GET", "/v3/fan-accounts/export", 404),
    Shadow("GET", "/struts/webconsole.html", 404),
    Shadow("PUT", "/v3/events/{product}", 405),
    Shadow("DELETE", "/v3/orders/MQ-{order}", 405),
    Shadow("PATCH", "/v3/fan-accounts/me", 405),
    Shadow("DELETE", "/v3/fan-accounts/me", 405),
    Shadow("GET", "/v3/purchases", 405),
    Shadow("GET", "/v2/fan-accounts/{user}", 200),
)

MARQUEE = WorldSpec(
    name="marquee",
    title="Marquee Tickets API",
    summary="Events, ticket holds, purchases, mobile tickets and the fan wallet of the Marquee ticketing "
            "platform. Session cookie authentication (the web app and the iOS app); the Android app still uses "
            "the older mobile API on m.marquee.example, documented here as deprecated.",
    site="https://www.marquee.example",
    host="api.marquee.example",
    base="",
    style="rest",
    ops=_ops(),
    names={"username": "email", "q": "keyword", "page_size": "per_page", "category": "genre",
           "product_id": "event_id", "quantity": "tickets", "amount": "total_amount", "card": "payment_method_id",
           "coupon": "promo_code", "code": "gift_card_code", "otp": "verification_code", "iban_hash": "iban",
           "to": "recipient_fan_id", "token": "reset_token", "method": "channel"},
    identity=Identity("ja4", "cookie", user="success", first_without_session=0.45, app_launch=2, cold_start=0.4,
                      session_prefix="ls_", fingerprint_field="ja4"),
    conventions=Conventions(wrong_password=422, wrong_code=422, not_owner=404, invalid=422,
                            limits={"login": (12, 60_000), "code": (10, 60_000)},
                            summary="A wrong password or code is 422 (a validation error: 'These credentials do "
                                    "not match our records.'); someone else's order, tickets or wallet is 404; "
                                    "the application's throttle answers 429. The older mobile API answers HTTP 200 "
                                    "with {\"ok\":false,\"error\":...} and nginx's limiter answers 503 there."),
    populace=Populace(
        peak_eps=13.0, mobile_share=0.3, app_weight=2.5,
        scripts=(0.38, 0.30, 0.14, 0.07, 0.04, 0.03, 0.04),
        corporate=(Site("Westmoor University campus", Network("Westmoor University (JANET)", 786, "GB", "corporate",
                                                             ("128.232.110.0/24",)),
                        160, (9, 23), "GB", xff="10.128"),
                   Site("Hooli offices", Network("Hooli egress", 701, "US", "corporate", ("65.196.80.0/24",)),
                        90, (14, 23), "US", xff="10.4")),
        monitors=(Monitor("AWS Route 53 health checks", "Amazon-Route53-Health-Check-Service "
                          "(ref 4d2b7a1e-90c3-4f4e-9a51-6d1c2b3e8f70; report http://amzn.to/1vsZADi)",
                          HOSTING[0], 30, locations=8, jitter_ms=700),
                  Monitor("Checkly", "Checkly/2.0 (https://www.checklyhq.com)", HOSTING[3], 120, locations=2)),
        crawlers=(Crawler("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                          GOOGLEBOT, 4.5, sender="googlebot(at)googlebot.com"),
                  Crawler("Applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, "
                          "like Gecko) Version/17.4 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
                          Network("Applebot", 714, "US", "crawler", ("17.241.208.0/20",)), 9.0, ips=3, share=0.4)),
        partners=(Partner("GigPulse listings sync (older mobile API)", "GigPulse-Sync/2.3 (+https://gigpulse.example/"
                          "partners)", HOSTING[0], "mk_gigpulse_1b7d", 300, items=50),
                  Partner("SeatSwap resale price check", "SeatSwap-Pricing/5.0", GCP, "mk_seatswap_60ae", 90,
                          items=12)),
        bulk=(Bulk("Promoter inventory sync", "marquee-promoter-sync/1.8 (+https://developers.marquee.example/"
                   "promoters)", GCP, "mk_promoter_2c4f", 1.5, 40),
              Bulk("A venue's ticketing ERP", "Java-http-client/17.0.9", AZURE, "mk_venue_erp_7d13", 2.2, 30)),
        pollers=(Poller("Venue digital signage", "SignageCMS/5.1 (+https://signagecms.example)", AZURE, 10,
                        calls=2),
                 Poller("Calendar subscription", "Google-Calendar-Importer", GCP, 120),
                 Poller("Tour-date newsletter sync", "Mailchimp (+http://mailchimp.com/)", HOSTING[0], 60,
                        op="feed", calls=2, key="mk_newsletter_93b0")),
        refresh=Refresh("orders", 800, 20),
        # A sixth of the requests reach the older mobile API, which logs no JA4: the top ten
        # fingerprints carry ~85 % of all requests, not ~100 % as where every request has one.
        stated={"top10_customer_fingerprint_share": (0.8, 0.92), "fingerprinted_share": (0.78, 0.92),
                "top_fingerprint_addresses": (1500, 10**6), "sessionless_share": (0.04, 0.1),
                "customer_sessionless_share": (0.04, 0.08), "carrier_request_share": (0.22, 0.37),
                "users_per_carrier_address": (5, 10**6), "users_per_office_address": (50, 10**6)},
    ),
    shadow=SHADOW,
    legacy=("GET", "/v2/fan-accounts/{}", None),
    referers=(("https://shop.example/", "https://www.marquee.example/"),
              ("https://bank.example/app", "https://www.marquee.example/wallet"),
              ("https://admin.shop.example/", "https://fan-support.marquee.example/")),
    apps=(("ShopApp/7.4.2", "Marquee/12.3.0"), ("ShopApp/7.4.1", "MarqueeAndroid/8.14.2"),
          ("ShopApp/7.3.9", "MarqueeAndroid/8.9.0"), ("BankApp/3.9.0 (iPhone", "Marquee/12.3.0 (iPhone"),
          ("BankApp/3.9.0 (Android", "MarqueeAndroid/8.14.2 (Android")),
    key_header="x-marquee-partner-key",
    hidden=frozenset({"username"}),
    log_extra=frozenset({"object", "query"}),
    tags=(("Auth", "Signing in and out, passwords, two-factor"), ("FanAccounts", "Fan accounts and settings"),
          ("Events", "Events, ticket offers, genres and search"), ("TicketHolds", "Held tickets and promo codes"),
          ("Purchases", "Paying for held tickets"), ("Orders", "Orders and mobile tickets"),
          ("FanWallet", "Gift cards, wallet balance and transfers"),
          ("PartnerFeeds", "Event and inventory feed for partners (partner key)"), ("Meta", "Health"),
          ("MobileLegacy", "The older mobile API (deprecated; the Android app still calls it)")),
    api_version="3.14.0",
    openapi_version="3.1.0",
    security=(("sessionCookie", {"type": "apiKey", "in": "cookie", "name": "marquee_session"}),),
    older=_older(),
    older_conventions=Conventions(
        wrong_password=401, wrong_code=401, not_owner=403, invalid=400, envelope=True, limited=503,
        codes={("login", 401): "AUTH_FAILED", ("mfa", 401): "PIN_INVALID", ("*", 400): "BAD_REQUEST",
               ("*", 403): "ACCESS_DENIED", ("*", 404): "NOT_FOUND", ("*", 409): "CONFLICT"},
        summary="HTTP 200 with {\"ok\":false,\"error\":\"AUTH_FAILED\"} for a wrong password and every other "
                "application error; nginx's rate limiter answers 503."),
    older_clients=("ShopApp/7.4.1", "ShopApp/7.3.9", "BankApp/3.9.0 (Android", "GigPulse-Sync/"),
    older_unlogged=frozenset({"ja4"}),
    search_terms=(
        "taylor swift", "coldplay", "hamilton", "lion king", "champions league", "nba", "nfl london",
        "premier league", "comedy", "stand up comedy", "jazz festival", "glastonbury", "festival 2027",
        "rammstein", "ed sheeran", "the weeknd", "billie eilish", "metallica", "opera", "ballet",
        "nutcracker", "christmas panto", "christmas concert", "new years eve", "nye party", "o2 arena",
        "wembley", "madison square garden", "msg", "red rocks", "fa cup", "boxing", "ufc", "wrestling",
        "wwe", "formula 1", "f1 silverstone", "tennis", "wimbledon", "theatre", "musicals", "kids shows",
        "disney on ice", "cirque du soleil", "magic show", "techno", "rave", "k-pop", "bts"),
)
