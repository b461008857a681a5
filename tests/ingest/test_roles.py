"""Endpoint-role inference (engine/ingest/roles.py): naming styles, sources, evidence, tables, caches.

The synthetic cases come from general API naming conventions (petstore-style
camelCase, Stripe-style method+path identifiers, OAuth/OIDC, RPC, snake and
kebab case), not from the labelled corpus (tests/ingest/test_roles_corpus.py).
"""

from __future__ import annotations

import ast
import pathlib
import re
import sys

import pytest

from sleuth.engine.ingest.openapi import OpenAPI
from sleuth.engine.ingest.roles import (
    ROLES,
    Decision,
    PathRoles,
    RoleTable,
    decide_operation,
    decide_path,
    parse_override_key,
    split_words,
)

REPO = pathlib.Path(__file__).resolve().parents[2]

REQUIRED = ("login logout register password-reset mfa username-check account-change token-refresh catalogue "
            "search object-read cart checkout payment giftcard coupon transfer export health").split()


def test_vocabulary_has_every_required_role_with_a_meaning():
    assert set(REQUIRED) <= set(ROLES)
    for role, meaning in ROLES.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", role)
        assert meaning and "\n" not in meaning and len(meaning) < 120


def test_engine_roles_imports_only_the_standard_library():
    tree = ast.parse((REPO / "engine" / "ingest" / "roles.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "engine/ingest/roles.py imports nothing from the package"
            names.add(node.module.split(".")[0])
    assert names <= set(sys.stdlib_module_names) | {"__future__"}


# ------------------------------------------------------------------ words

@pytest.mark.parametrize("text, words", [
    ("updateLoginFlow", ["update", "login", "flow"]),
    ("PostCartsIdComplete", ["post", "carts", "id", "complete"]),
    ("PostActor_typeAuth_provider", ["post", "actor", "type", "auth", "provider"]),
    ("password_reset_request", ["password", "reset", "request"]),
    ("post-api-v1-users.register", ["post", "api", "v1", "users", "register"]),
    ("/api/v1/users.forgotPassword", ["api", "v1", "users", "forgot", "password"]),
    ("/rpc/Auth.Login", ["rpc", "auth", "login"]),
    ("/store/carts/{id}/line-items/{line_id}", ["store", "carts", "{}", "line", "items", "{}"]),
    ("/users/:id/orders/<order>", ["users", "{}", "orders", "{}"]),
    ("JWTTokenRefresh", ["jwt", "token", "refresh"]),
    ("OAuth2Token", ["o", "auth", "2", "token"]),
    ("enable2FA", ["enable", "2fa"]),
    ("getSuggestionsV2", ["get", "suggestions", "v2"]),
    ("Reset a Customer's Password", ["reset", "a", "customer", "password"]),
    ("/api/v1/login - with Google", ["api", "v1", "login", "with", "google"]),
    ("", []),
])
def test_split_words(text, words):
    assert split_words(text) == words


def test_split_words_never_raises():
    assert split_words(None) == []
    assert split_words(12) == []
    assert len(split_words("a" * 10_000_000)) == 1  # read up to a bound


# ------------------------------------------------------------------ naming styles

SPEC = [
    ('POST', '/user/login', 'loginUser', 'Logs user into the system', 'login'),
    ('GET', '/user/logout', 'logoutUser', 'Logs out current logged in user session', 'logout'),
    ('GET', '/pet/{petId}', 'getPetById', 'Find pet by ID', None),
    ('GET', '/pet/findByStatus', 'findPetsByStatus', 'Finds Pets by status', None),
    ('POST', '/store/order', 'placeOrder', 'Place an order for a pet', 'checkout'),
    ('GET', '/store/order/{orderId}', 'getOrderById', 'Find purchase order by ID', 'object-read'),
    ('DELETE', '/store/order/{orderId}', 'deleteOrder', 'Delete purchase order by ID', None),
    ('GET', '/store/inventory', 'getInventory', 'Returns pet inventories by status', None),
    ('POST', '/auth/sign-in', 'signIn', None, 'login'),
    ('POST', '/auth/sign-out', 'signOut', None, 'logout'),
    ('POST', '/auth/sign-up', 'signUp', None, 'register'),
    ('POST', '/auth/refresh', 'refreshToken', None, 'token-refresh'),
    ('POST', '/auth/forgot', 'forgotPassword', None, 'password-reset'),
    ('POST', '/auth/reset', 'resetPassword', None, 'password-reset'),
    ('POST', '/auth/otp', 'verifyOtp', 'Verify a one-time password', 'mfa'),
    ('POST', '/users/two-factor', 'enableTwoFactor', None, 'account-change'),  # enrolling one's own factor
    ('GET', '/users/email-exists', 'checkEmailExists', None, 'username-check'),
    ('GET', '/users/username/{name}/available', 'isUsernameAvailable', None, 'username-check'),
    ('PUT', '/me/profile', 'updateProfile', None, 'account-change'),
    ('POST', '/me/password', 'changePassword', None, 'account-change'),
    ('PUT', '/me/notification-settings', 'updateNotificationSettings', None, None),
    ('GET', '/products', 'getProducts', None, 'catalogue'),
    ('GET', '/products/search', 'searchProducts', None, 'search'),
    ('POST', '/cart/items', 'addToCart', None, 'cart'),
    ('POST', '/cart/coupon', 'applyCoupon', None, 'coupon'),
    ('POST', '/gift-cards/{code}/redeem', 'redeemGiftCard', None, 'giftcard'),
    ('POST', '/payments', 'createPayment', None, 'payment'),
    ('POST', '/transfers', 'createTransfer', None, 'transfer'),
    ('GET', '/orders/export', 'exportOrders', None, 'export'),
    ('GET', '/healthz', 'healthCheck', None, 'health'),
    ('GET', '/orders/{id}', 'getOrder', None, 'object-read'),
    ('GET', '/orders', 'listOrders', None, None),
    ('POST', '/auth', 'loginOrRegister', None, 'AMBIGUOUS'),
    ('POST', '/api/login', 'user_login', None, 'login'),
    ('POST', '/api/password/reset-request', 'password_reset_request', None, 'password-reset'),
    ('GET', '/api/products', 'get_product_list', None, 'catalogue'),
    ('POST', '/api/basket/lines', 'add_basket_line', None, 'cart'),
    ('POST', '/v2/sessions', 'post-v2-sessions', 'Start a session with a username and password', 'login'),
    ('DELETE', '/v2/session', 'delete-v2-session', None, 'logout'),
    ('POST', '/v2/checkout', 'post-v2-checkout', None, 'checkout'),
    ('POST', '/v2/payment-intents/{id}/confirm', 'post-v2-payment-intents-id-confirm', None, 'payment'),
    ('GET', '/v2/invoices/{invoice}', 'get-v2-invoices-invoice', None, 'object-read'),
    ('POST', '/v1/checkout/sessions', 'PostCheckoutSessions', None, 'checkout'),
    ('POST', '/v1/payment_intents', 'PostPaymentIntents', None, 'payment'),
    ('GET', '/v1/customers/{customer}', 'GetCustomersCustomer', None, None),
    ('POST', '/v1/refunds', 'PostRefunds', None, None),
    ('POST', '/rpc/Auth.Login', None, None, 'login'),
    ('POST', '/rpc/Auth.Logout', None, None, 'logout'),
    ('POST', '/api/v2/accounts.resetPassword', 'post-api-v2-accounts.resetPassword', None, 'password-reset'),
    ('GET', '/api/v2/accounts.checkEmailAvailable', None, None, 'username-check'),
    ('POST', '/twirp/shop.Cart/AddItem', None, None, 'cart'),
    ('POST', '/oauth/token', None, 'Obtain a token', 'login'),
    ('POST', '/oauth/revoke', None, 'Revoke a token', 'logout'),
    ('GET', '/oauth/authorize', None, 'Authorize', None),
    ('POST', '/realms/{realm}/protocol/openid-connect/token', None, None, 'login'),
    ('POST', '/realms/{realm}/protocol/openid-connect/logout', None, None, 'logout'),
    ('POST', '/users/{id}/token', 'createUserToken', None, None),
    ('GET', '/.well-known/openid-configuration', None, None, None),
    ('GET', '/flows/login', 'createLoginFlow', None, None),
    ('POST', '/flows/login', 'submitLoginFlow', None, 'login'),
    ('POST', '/admin/users', 'createUser', 'Create a user', None),
    ('POST', '/admin/users/{id}/password', 'setUserPassword', None, None),
    ('POST', '/admin/login', 'adminLogin', None, 'login'),
    ('POST', '/register/confirm', 'confirmRegistration', None, None),
    ('POST', '/newsletter/subscribe', 'subscribe', None, None),
    ('POST', '/api/v1/account/mfa', None, None, 'account-change'),
    ('POST', '/api/v1/account/payout', None, None, 'account-change'),
    ('POST', '/api/v1/account/email', None, None, 'account-change'),
    ('PATCH', '/api/v1/account', None, None, 'account-change'),
    ('POST', '/api/v1/account/address', None, None, None),
    ('POST', '/payments/sessions', 'createPaymentSession', 'Create a payment session', 'payment'),
    ('POST', '/sessions', 'createSession', 'Create a payment session', 'payment'),
    ('POST', '/sessions', 'createSession', 'Create a session', 'login'),
    ('POST', '/payment-methods', 'post-payment-methods', 'List the payment methods', None),
    ('POST', '/payment-methods', 'post-payment-methods', 'Store a card', 'payment'),
    ('POST', '/reports', 'createReport', 'Report an abusive post', None),
    ('POST', '/reports/{id}/generate', None, None, 'export'),
]


@pytest.mark.parametrize("method, path, op_id, summary, expected", SPEC,
                         ids=[f"{m} {p} {o or ''}".strip() for m, p, o, _s, _e in SPEC])
def test_operation_role(method, path, op_id, summary, expected):
    d = decide_operation(method, path, operation_id=op_id, summary=summary)
    got = "AMBIGUOUS" if d.ambiguous else d.role
    assert got == expected, d.evidence
    if d.role is not None:
        assert d.evidence and d.source in ("operationId", "path", "summary")


PATHS = [
    ('POST', '/api/v1/auth/login', 'login'),
    ('POST', '/login', 'login'),
    ('GET', '/login', None),
    ('POST', '/api/v1/sessions', 'login'),
    ('POST', '/session', 'login'),
    ('DELETE', '/session', 'logout'),
    ('DELETE', '/api/v1/sessions/{id}', None),
    ('POST', '/oauth/token', 'login'),
    ('POST', '/api/token/refresh/', 'token-refresh'),
    ('POST', '/api/token/', 'login'),
    ('POST', '/api/v1/auth/refresh', 'token-refresh'),
    ('POST', '/rpc/Auth.Login', 'login'),
    ('POST', '/api/v1/auth/password-reset', 'password-reset'),
    ('POST', '/api/v1/auth/password-reset/confirm', 'password-reset'),
    ('POST', '/api/v1/auth/forgot-password', 'password-reset'),
    ('POST', '/api/v1/auth/mfa/verify', 'mfa'),
    ('GET', '/api/v1/users/exists', 'username-check'),
    ('POST', '/api/v1/auth/register', 'register'),
    ('GET', '/register', None),
    ('POST', '/signup', 'register'),
    ('POST', '/api/v1/users', 'register'),
    ('POST', '/api/v1/auth/verify-email', None),
    ('PATCH', '/api/v1/me', 'account-change'),
    ('PUT', '/api/v1/users/me/email', 'account-change'),
    ('PATCH', '/api/v1/users/{id}', None),
    ('POST', '/users/password', None),
    ('POST', '/api/v1/account/password', 'account-change'),
    ('POST', '/api/v1/account/phone', 'account-change'),
    ('GET', '/api/v1/products', 'catalogue'),
    ('GET', '/api/v1/products/{id}', 'catalogue'),
    ('GET', '/api/v1/categories', 'catalogue'),
    ('GET', '/api/v1/products/{id}/price', 'catalogue'),
    ('PUT', '/api/v1/products/{id}', None),
    ('GET', '/api/v1/search', 'search'),
    ('GET', '/api/v1/orders/{id}', 'object-read'),
    ('GET', '/api/v1/orders', None),
    ('GET', '/api/v1/orders/{id}/invoice', 'object-read'),
    ('GET', '/api/v1/accounts/{id}/balance', 'object-read'),
    ('GET', '/api/v1/users/{id}/orders', None),
    ('GET', '/api/v1/cart', 'cart'),
    ('POST', '/api/v1/cart/items', 'cart'),
    ('DELETE', '/api/v1/cart/items/{id}', 'cart'),
    ('POST', '/api/v1/checkout', 'checkout'),
    ('POST', '/api/v1/payments', 'payment'),
    ('GET', '/api/v1/payments/{id}', 'object-read'),
    ('POST', '/api/v1/giftcards/redeem', 'giftcard'),
    ('GET', '/api/v1/gift-cards/{id}/balance', 'giftcard'),
    ('POST', '/api/v1/coupons/validate', 'coupon'),
    ('POST', '/api/v1/transfers', 'transfer'),
    ('POST', '/api/v1/transfers/{id}/confirm', 'transfer'),
    ('GET', '/api/v1/reports/export', 'export'),
    ('GET', '/api/v1/export/all', 'export'),
    ('GET', '/health', 'health'),
    ('GET', '/healthz', 'health'),
    ('GET', '/livez', 'health'),
    ('GET', '/api/health', 'health'),
    ('GET', '/ping', 'health'),
    ('POST', '/health', None),
    ('GET', '/admin/users/{id}', None),
    ('POST', '/admin/login', 'login'),
    ('GET', '/api/v1/admin/users', None),
    ('POST', '/api/v1/admin/impersonate', None),
    ('GET', '/index.html', None),
    ('GET', '/', None),
    ('GET', '/static/app.js', None),
]


@pytest.mark.parametrize("method, template, expected", PATHS, ids=[f"{m} {p}" for m, p, _e in PATHS])
def test_path_role_without_spec(method, template, expected):
    d = decide_path(method, template)
    assert d.role == expected, d.evidence
    assert d.source == ("heuristic" if expected else "none")


# ------------------------------------------------------------------ evidence

def test_evidence_names_the_source_and_the_words():
    d = decide_operation("POST", "/self-service/login", operation_id="updateLoginFlow", summary="Submit a Login Flow")
    assert d == Decision("login", "operationId", (
        "operationId 'updateLoginFlow': words update+login+flow → login (the word 'login'); path and summary agree",),
        (), 3)


def test_an_identifier_that_repeats_the_path_defers_to_the_path():
    d = decide_operation("DELETE", "/v2/session", operation_id="delete-v2-session")
    assert d == Decision("logout", "path", (
        "operationId 'delete-v2-session' repeats the path",
        "path '/v2/session': words session → logout (deletes the caller's session)"), (), 2)


def test_two_roles_in_one_name_are_ambiguous():
    d = decide_operation("POST", "/auth", operation_id="loginOrRegister")
    assert (d.role, d.candidates, d.ambiguous) == (None, ("login", "register"), True)
    assert d.evidence == ("operationId 'loginOrRegister': words login+or+register → ambiguous "
                          "(login: the word 'login'; register: the word 'register')",)


def test_a_resource_reading_contradicted_by_an_explicit_one_is_ambiguous():
    d = decide_operation("POST", "/cart/items", operation_id="addToCart", summary="Checkout the cart")
    assert (d.role, d.candidates) == (None, ("cart", "checkout"))
    assert d.evidence[-1] == "ambiguous"


def test_an_explicit_reading_outranks_a_later_source():
    d = decide_operation("POST", "/account/login", operation_id="loginCustomer", summary="Register a customer")
    assert d.role == "login"
    assert d.evidence == ("operationId 'loginCustomer': words login+customer → login (the word 'login'); path "
                          "agree; summary says register (outranked)",)


def test_a_weak_reading_yields_to_a_summary_that_names_the_resource():
    d = decide_operation("POST", "/sessions", operation_id="createSession", summary="Create a payment session")
    assert (d.role, d.source, d.strength) == ("payment", "summary", 2)
    assert d.evidence[-1].endswith("which names the resource: it wins")


def test_a_weak_reading_yields_to_an_explicit_operation_elsewhere_in_the_api():
    alone = decide_operation("POST", "/auth/session", operation_id="PostSession")
    assert alone.role == "login" and alone.strength == 1
    d = decide_operation("POST", "/auth/session", operation_id="PostSession", explicit_elsewhere=frozenset({"login"}))
    assert (d.role, d.source) == (None, "none")
    assert d.evidence[-1] == ("path '/auth/session': words auth+session → weakly login (creates a session); no role: "
                              "the API has an explicit login operation elsewhere")


@pytest.mark.parametrize("method, path, op_id, veto", [
    ("POST", "/flows/login", "createLoginFlow", "operationId: 'create' of a flow only starts or reads it"),
    ("POST", "/admin/users/{id}/password", "setUserPassword",
     "operationId: under an admin path: acts on other users' data"),
    ("POST", "/register/confirm", "confirmRegistration",
     "operationId: register: 'confirm' confirms a registration, it is not the sign-up"),
    ("POST", "/ldap/search/test", "testLdapSearch", "path: a test or diagnostic call"),
    ("POST", "/ldap/search", "testLdapSearch", "operationId: a test or diagnostic call"),
    ("POST", "/me/logout-others", "logoutOtherSessions", "operationId: ends other sessions, not the caller's"),
])
def test_vetoes_are_reported(method, path, op_id, veto):
    d = decide_operation(method, path, operation_id=op_id)
    assert d.role is None
    assert veto in d.evidence


# ------------------------------------------------------------------ sources and priority

def test_override_then_extension_then_words():
    kw = {"operation_id": "loginUser"}
    assert decide_operation("POST", "/login", **kw).role == "login"
    d = decide_operation("POST", "/login", extension="mfa", **kw)
    assert (d.role, d.source, d.evidence) == ("mfa", "x-sleuth-role", ("x-sleuth-role 'mfa'",))
    d = decide_operation("POST", "/login", extension="mfa", override="register", **kw)
    assert (d.role, d.source, d.evidence) == ("register", "override", ("profile override 'register'",))
    assert decide_operation("POST", "/login", extension="none", **kw).role is None
    assert decide_operation("POST", "/login", override="none", extension="login", **kw).role is None


def test_a_bad_extension_is_ignored_with_evidence_and_a_bad_override_raises():
    d = decide_operation("POST", "/login", operation_id="loginUser", extension="sign-in")
    assert d.role == "login"
    assert d.evidence[0] == "x-sleuth-role 'sign-in' is not a role; ignored"
    assert decide_operation("POST", "/x", extension=["login"]).evidence[0] == \
        "x-sleuth-role \"['login']\" is not a role; ignored"
    with pytest.raises(ValueError, match="'signin' is not a role"):
        decide_operation("POST", "/x", override="signin")


@pytest.mark.parametrize("args", [(None, "/login"), ("POST", None), ("POST", "/" + "a" * 5000), (7, 8)])
def test_unreadable_inputs_have_no_role(args):
    assert decide_operation(*args).role is None
    assert decide_path(*args).role is None


def test_tags_are_context_not_a_source():
    # every operation of a tag 'Authentication' is not a login
    assert decide_operation("POST", "/things", operation_id="createThing", tags=["Login"]).role is None
    # context: a callback under an authentication tag completes a sign-in
    d = decide_operation("GET", "/providers/{p}/callback", operation_id="providerCallback", tags=["OAuth"])
    assert d.role == "login"


def test_parse_override_key():
    assert parse_override_key("post /login") == ("POST", "/login")
    assert parse_override_key(" /login ") == ("*", "/login")
    assert parse_override_key("* /x/{id}") == ("*", "/x/{id}")
    for bad in ("login", "POST login", "PO5T /x", "", 3):
        with pytest.raises(ValueError):
            parse_override_key(bad)


# ------------------------------------------------------------------ tables

SHOP = {
    "openapi": "3.0.3",
    "servers": [{"url": "https://api.example.com/v2"}],
    "paths": {
        "/auth/signin": {"post": {"operationId": "signIn"}},
        "/auth/session": {"post": {"operationId": "createSession"}, "delete": {"operationId": "endSession"}},
        "/products/{id}": {"get": {"operationId": "getProduct"}, "head": {"operationId": "productExists",
                                                                          "x-sleuth-role": "none"}},
        "/baskets/{id}/lines": {"post": {"operationId": "addBasketLine"}},
        "/giftcards/{code}": {"x-sleuth-role": "giftcard", "get": {"operationId": "lookupCard"}},
        "/orders/{id}": {"get": {"operationId": "getOrder"}},
        "/orders/{ref}": {"get": {"operationId": "shadowedOrder"}},
        "/ping": {"get": {}},
    },
}


def test_table_rows_lookup_and_head():
    t = RoleTable([OpenAPI(SHOP)])
    assert [(r.method, r.template, r.operation, r.role) for r in t.rows] == [
        ("POST", "/auth/signin", "signIn", "login"),
        ("POST", "/auth/session", "createSession", None),       # weak, the API signs in elsewhere
        ("DELETE", "/auth/session", "endSession", "logout"),
        ("GET", "/products/{id}", "getProduct", "catalogue"),
        ("HEAD", "/products/{id}", "productExists", None),     # x-sleuth-role: none
        ("POST", "/baskets/{id}/lines", "addBasketLine", "cart"),
        ("GET", "/giftcards/{code}", "lookupCard", "giftcard"),  # x-sleuth-role on the path item
        ("GET", "/orders/{id}", "getOrder", "object-read"),
        ("GET", "/orders/{ref}", "shadowedOrder", "object-read"),
        ("GET", "/ping", None, "health"),
    ]
    assert t.lookup("POST", "/v2/auth/signin") == ("login", "signIn")
    assert t.role("GET", "/v2/products/{id}") == "catalogue"
    assert t.lookup("HEAD", "/v2/products/{id}") == (None, "productExists")  # documented HEAD wins
    assert t.lookup("HEAD", "/v2/orders/{id}") == ("object-read", "getOrder")  # HEAD falls back to GET
    assert t.lookup("GET", "/v2/orders/{ref}") is None  # the router never returns a shadowed template
    assert t.lookup("GET", "/auth/signin") is None       # routes carry the base path
    assert t.lookup("GET", "<unmatched>") is None
    assert t.role("PUT", "/v2/orders/{id}") is None
    assert t.ambiguous == []
    assert t.mapping.get(("POST", "/v2/auth/signin")) == ("login", "signIn")
    # 8 routed operations (one documented HEAD, one shadowed GET) and a HEAD for each of the 4 GET routes
    assert len(t.mapping) == 12


def test_table_overrides_with_or_without_base_path():
    ov = {("POST", "/auth/session"): "login", ("*", "/v2/orders/{id}"): "none", ("GET", "/nowhere"): "search"}
    t = RoleTable([OpenAPI(SHOP)], ov)
    assert t.role("POST", "/v2/auth/session") == "login"
    assert t.role("GET", "/v2/orders/{id}") is None
    row = next(r for r in t.rows if r.template == "/auth/session" and r.method == "POST")
    assert row.decision.evidence == ("profile override 'login'",)
    assert t.unused_overrides() == [("GET", "/nowhere")]


def test_table_lists_ambiguous_operations():
    doc = {"openapi": "3.0.0", "paths": {"/auth": {"post": {"operationId": "loginOrRegister"}}}}
    t = RoleTable([OpenAPI(doc)])
    assert [(r.template, r.decision.candidates) for r in t.ambiguous] == [("/auth", ("login", "register"))]
    assert t.role("POST", "/auth") is None


def test_several_documents_share_one_table():
    a = {"openapi": "3.0.0", "paths": {"/login": {"post": {"operationId": "login"}}}}
    b = {"openapi": "3.0.0", "paths": {"/session": {"post": {"operationId": "createSession"}}}}
    t = RoleTable([OpenAPI(a), OpenAPI(b)])
    assert t.role("POST", "/login") == "login"
    assert t.role("POST", "/session") is None  # the weak session guess yields to the other document's login


# ------------------------------------------------------------------ without a spec

def test_path_roles_cache_is_bounded_and_overrides_win():
    pr = PathRoles({("*", "/x/{id}"): "object-read", ("POST", "/login"): "none"}, cache_size=4)
    assert pr.role("GET", "/x/{id}") == "object-read"
    assert pr.role("POST", "/login") is None
    assert pr.role("GET", "/login") is None
    assert pr.role("POST", "/api/login") == "login"
    for i in range(10):
        pr.role("GET", f"/p{i}")
    info = pr._cached.cache_info()
    assert info.currsize == 4 and info.maxsize == 4
    assert pr.decide(None, "/login").role is None
    long = pr.decide("POST", "/login/" + "a" * 1500)  # long templates: decided, not cached
    assert long.role == "login" and len(long.evidence[0]) < 300
    assert pr.decide("POST", "/login/" + "a" * 3000).role is None  # beyond reading
    assert pr._cached.cache_info().hits == 0


def test_path_roles_same_decision_as_decide_path():
    pr = PathRoles()
    for method, template, _e in PATHS:
        assert pr.decide(method, template) == decide_path(method, template)


# ------------------------------------------------------------------ the shipped pack's simulated API

LIST_ROLES = {
    "login_routes": {"login"}, "register_routes": {"register"}, "reset_routes": {"password-reset"},
    "username_check_routes": {"username-check"}, "mfa_routes": {"mfa"},
    "account_change_routes": {"account-change"}, "catalogue_routes": {"catalogue", "search"},
    "object_routes": {"object-read", "transfer"}, "giftcard_routes": {"giftcard"}, "coupon_routes": {"coupon"},
    "cart_add_routes": {"cart"}, "checkout_routes": {"checkout"}, "transfer_confirm_routes": {"transfer"},
    "expensive_routes": {"export"},
}


def test_roles_agree_with_the_route_lists_of_the_shipped_pack():
    from sleuth.playground.sim.spec import openapi

    text = (REPO / "rulepacks" / "api" / "common.ttp").read_text()
    table = RoleTable([OpenAPI(openapi())])
    by_route = {}
    for row in table.rows:
        by_route.setdefault(row.routes[0], set()).add(row.role)
    checked = 0
    for name, roles in LIST_ROLES.items():
        m = re.search(rf"^list {name} = \[(.*)\]", text, re.M)
        assert m, name
        for route in re.findall(r'"([^"]+)"', m.group(1)):
            got = by_route[route] - {None}
            assert got and got <= roles, (name, route, got)
            checked += 1
    assert checked >= 25


# ------------------------------------------------------------------ API-level context


def _doc(paths: dict) -> OpenAPI:
    return OpenAPI({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": paths})


def _form(props: dict) -> dict:
    return {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": props}}}}


@pytest.mark.parametrize("grants, expected", [
    (["refresh_token"], "token-refresh"),
    (["client_credentials"], None),
    (["refresh_token", "client_credentials"], "token-refresh"),
    (["password", "refresh_token"], "login"),
    (["urn:ietf:params:oauth:grant-type:device_code"], "login"),
    (None, "login"),  # no grant declared: a token endpoint is a sign-in
])
def test_a_token_endpoint_is_read_by_its_grant_types(grants, expected):
    body = _form({"grant_type": {"type": "string", "enum": grants}} if grants else {"code": {"type": "string"}})
    table = RoleTable([_doc({"/oauth/token": {"post": {"operationId": "token", "requestBody": body}}})])
    assert table.rows[0].role == expected, table.rows[0].decision.evidence


def _customers(extra: dict, props: dict) -> RoleTable:
    paths = {f"/v1/things{i}": {"get": {"operationId": f"listThings{i}"}} for i in range(9)}
    paths["/v1/customers"] = {"post": {"operationId": "createCustomer", "requestBody": {
        "content": {"application/json": {"schema": {"type": "object", "properties": props}}}}}}
    paths.update(extra)
    return RoleTable([_doc(paths)])


def test_creating_a_customer_is_a_sign_up_only_where_end_users_sign_in():
    email = {"email": {"type": "string"}}
    row = _customers({}, email).rows[-1]
    assert row.role is None
    assert row.decision.evidence[0] == \
        "operationId: register: the API signs no end user in; creating a 'customer' is the operator's"
    # a sign-in elsewhere in the API, or a password in the body, makes it a sign-up
    assert _customers({"/v1/login": {"post": {"operationId": "login"}}}, email).rows[9].role == "register"
    assert _customers({}, {**email, "password": {"type": "string"}}).rows[-1].role == "register"
    # a document of a few operations may be a fragment: absence proves nothing there
    small = RoleTable([_doc({"/customers": {"post": {"operationId": "createCustomer"}}})])
    assert small.rows[0].role == "register"


def test_an_account_read_by_id_is_private_only_in_an_api_that_moves_money():
    bank = RoleTable([_doc({"/accounts/{id}": {"get": {"operationId": "getAccount"}},
                            "/transfers": {"post": {"operationId": "createTransfer"}}})])
    social = RoleTable([_doc({"/accounts/{id}": {"get": {"operationId": "getAccount"}},
                              "/posts": {"post": {"operationId": "createPost"}}})])
    assert [r.role for r in bank.rows] == ["object-read", "transfer"]
    assert [r.role for r in social.rows] == [None, None]


def test_request_fields_are_bounded_and_survive_bad_schemas():
    props = {f"f{i}": {"type": "object", "properties": {f"g{i}": {"type": "string"}}} for i in range(300)}
    bad = {"content": {"application/json": {"schema": {"$ref": "#/nowhere"}}, "text/plain": "x"}}
    table = RoleTable([_doc({"/a": {"post": {"operationId": "createA", "requestBody": _form(props)}},
                             "/b": {"post": {"operationId": "createB", "requestBody": bad,
                                             "parameters": [7, {"name": 3}, {"in": "query"}]}}})])
    assert [r.role for r in table.rows] == [None, None]
    from sleuth.engine.ingest.roles import _request_fields
    names, grants = _request_fields(table.apis[0], next(table.apis[0].iter_operations()))
    assert len(names) == 200 and grants == ()


def test_request_fields_of_a_self_referencing_schema_stay_bounded():
    # every allOf entry points back at the schema itself: 1,000 schema objects are read, then it stops
    doc = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"},
           "components": {"schemas": {"S": {"allOf": [{"$ref": "#/components/schemas/S"}] * 1000}}},
           "paths": {"/users": {"post": {"operationId": "createUser", "requestBody": {
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}}}}}}}}
    table = RoleTable([OpenAPI(doc)])
    assert table.rows[0].role == "register"


# ------------------------------------------------------------------ hostile input

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(["/", "{id}", "{", "}", ":", "<", ">", ".", "-", "_", " ", "login", "Login", "me",
                           "cart", "v2", "2FA", "session", "token", "by", "for", "admin", "flow", "\x00", "é",
                           "%2F", "//", "payment", "export", "search"])
_TEXT = st.one_of(st.text(max_size=60), st.lists(_PIECES, max_size=14).map("".join))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "get", ""]), st.text(max_size=8)),
       _TEXT, st.one_of(st.none(), _TEXT), st.one_of(st.none(), _TEXT), st.lists(_TEXT, max_size=3))
def test_inference_never_raises_and_stays_in_the_vocabulary(method, path, op_id, summary, tags):
    for d in (decide_path(method, path),
              decide_operation(method, path, operation_id=op_id, summary=summary, tags=tags)):
        assert d.role is None or d.role in ROLES
        assert all(c in ROLES for c in d.candidates)
        assert d.role is None or not d.ambiguous
        assert all(isinstance(e, str) and len(e) < 1000 for e in d.evidence)
