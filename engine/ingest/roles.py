"""Endpoint roles: what an API operation does for the business (login, cart, payment...).

Part of ingest: rules are written against ``role`` instead of route literals,
so one pack runs on APIs with different route names.  A role is decided once
per operation (``RoleTable``, built from OpenAPI documents) or once per route
template (``PathRoles``, heuristic, bounded LRU); per event it is one dict
lookup on the route the router already resolved.  Inference reads words
(operationId, path, summary; tags only as context) with general API naming
rules, in the context of the request's field names and grant types and of the
API (sells things, moves money, signs end users in); precision first: unknown
or ambiguous stays ``None``.  Measured on a synthetic development set, six
hand-labelled real APIs and the simulator's held-out worlds (docs/roles.md).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = [
    "ROLES", "Decision", "OperationRole", "PathRoles", "RoleTable", "decide_operation",
    "decide_path", "split_words", "parse_override_key",
]

#: The role vocabulary: name -> one-line meaning (docs/roles.md shows this table).
ROLES: dict[str, str] = {
    "login": "submits credentials (password, one-time link, token grant, third-party callback) to open a session",
    "logout": "ends the caller's own session or revokes its token",
    "register": "creates a new end-user account (sign-up)",
    "password-reset": "a step of the forgotten-password flow: ask for a reset, check or use the reset token",
    "mfa": "submits a second factor (one-time code, TOTP, authenticator) outside the caller's account settings",
    "username-check": "tells whether a username, e-mail or handle exists or is free",
    "account-change": "changes the caller's own credentials or identity data (password, e-mail, phone, profile, "
                      "second factor, payout details)",
    "token-refresh": "exchanges a refresh token for a new access token",
    "catalogue": "reads products, categories, collections, variants or prices",
    "search": "free-text search, search suggestions, autocomplete",
    "object-read": "reads one private object by its id (order, invoice, document, address, transaction)",
    "cart": "reads or changes a shopping cart or its line items",
    "checkout": "turns a cart into an order (complete the cart, place the order, choose shipping)",
    "payment": "creates, submits or changes a payment",
    "giftcard": "checks, redeems or applies a gift card",
    "coupon": "checks, applies or removes a coupon, promotion or voucher code",
    "transfer": "moves money or value to another account",
    "export": "bulk export of data",
    "health": "liveness, readiness or health probe",
}

#: How strong a reading's evidence is: an explicit action word, a resource noun, a guess from shape.
STRONG, NOUN, WEAK = 3, 2, 1
_MAX_TEXT = 2048  # longer paths, identifiers and summaries are not read (hostile input)

# ------------------------------------------------------------------ words

# 'updateLoginFlow', 'JWTToken', 'enable2FA', 'OAuth2': words, acronyms, digits glued to what follows
_CAMEL = re.compile(r"[vV][0-9]+(?![a-z])|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+(?![a-z])"
                    r"|[0-9]+(?:[a-z]+|[A-Z]+(?![a-z]))?")
_PARAM_RX = re.compile(r"\{[^{}]*\}|:[A-Za-z_][A-Za-z0-9_]*|<[^<>]*>")
_VERSION = re.compile(r"v\d+[a-z]?|\d+[a-z]?")
# a format suffix at the end of a path segment ('/products.json', '/receipts/{id}.pdf') names no resource
_FORMAT_SUFFIX = re.compile(r"\.(?:json|js|xml|pdf|csv|html?|txt|xlsx?|ya?ml|png|jpe?g|zip)(?=/|$)", re.I)
_KEEP_DIGITS = frozenset({"2fa", "3ds", "3d"})
PARAM = "{}"

# Words that end in s but are not plurals.
_NOT_PLURAL = frozenset("""
news status alias canvas always previous analysis series species https access process business address
wireless various bonus plus minus campus virus radius focus census its this has is was does yes us as bus
gas chaos atlas ios macos sms dns tls cors aws gps os kubernetes success progress express less unless
across class pass glass loss boss cross miss kiss mass
""".split())


def _singular(w: str) -> tuple[str, bool]:
    if len(w) <= 2 or w in _NOT_PLURAL or not w.endswith("s"):
        return w, False
    if w == "ids":
        return "id", True
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y", True
    if w.endswith(("sses", "shes", "ches", "xes", "zes", "uses")):
        return w[:-2], True
    if w.endswith(("ss", "us", "is")):
        return w, False
    return w[:-1], True


_COMPOUNDS: dict[tuple[str, ...], str] = {
    ("log", "in"): "login", ("sign", "in"): "login", ("log", "on"): "login", ("logon",): "login",
    ("signin",): "login", ("log", "out"): "logout", ("sign", "out"): "logout", ("log", "off"): "logout",
    ("sign", "off"): "logout", ("signout",): "logout", ("logoff",): "logout",
    ("sign", "up"): "signup", ("check", "out"): "checkout",
    ("two", "factor"): "2fa", ("multi", "factor"): "mfa", ("second", "factor"): "2fa", ("tfa",): "2fa",
    ("one", "time", "password"): "otp", ("one", "time", "passcode"): "otp", ("one", "time", "code"): "otp",
    ("gift", "card"): "giftcard", ("gift", "certificate"): "giftcard", ("gift", "voucher"): "giftcard",
    ("promo", "code"): "coupon", ("promotion", "code"): "coupon", ("discount", "code"): "coupon",
    ("coupon", "code"): "coupon", ("voucher", "code"): "coupon", ("promocode",): "coupon",
    ("line", "item"): "lineitem", ("user", "name"): "username", ("e", "mail"): "email",
    ("pass", "word"): "password", ("pass", "code"): "passcode", ("who", "am", "i"): "whoami",
    ("health", "check"): "health", ("healthcheck",): "health", ("healthz",): "health",
    ("cross", "selling"): "crosssell", ("cross", "sell"): "crosssell", ("up", "sell"): "crosssell",
    ("o", "auth"): "oauth", ("web", "authn"): "webauthn", ("open", "id"): "openid",
    ("auto", "complete"): "autocomplete", ("type", "ahead"): "typeahead", ("auto", "suggest"): "autosuggest",
    ("well", "known"): "wellknown", ("pay", "out"): "payout", ("sign", "on"): "sso",
    ("apple", "pay"): "applepay", ("google", "pay"): "googlepay", ("samsung", "pay"): "samsungpay",
    ("amazon", "pay"): "amazonpay", ("pay", "pal"): "paypal", ("data", "download"): "datadownload",
    ("download", "data"): "datadownload", ("download", "my", "data"): "datadownload",
    ("re", "set"): "reset", ("lost", "password"): "forgot", ("forgotten",): "forgot",
    ("forget",): "forgot", ("time", "based"): "",
    # generated CRUD suffixes (drf-spectacular '_partial_update'), the caller under other names
    ("partial", "update"): "update", ("authenticated", "user"): "me", ("current", "user"): "me",
    ("logged", "in", "user"): "me", ("signed", "in", "user"): "me", ("enrol",): "enroll",
    ("enrolment",): "enrollment", ("set", "up"): "setup", ("peer", "to", "peer"): "p2p",
    ("block", "list"): "blacklist", ("deny", "list"): "blacklist", ("blocklist",): "blacklist",
    ("denylist",): "blacklist",
}
_MAX_COMPOUND = max(len(k) for k in _COMPOUNDS)

#: Verbs, by what they do to the resource.
_VERBS: dict[str, str] = {}
for _cls, _words in {
    "read": "get read list fetch find retrieve show view load query browse lookup download is has count "
            "describe exist search peek info",
    "create": "create add post new make generate insert submit send request initiate init start begin open "
              "issue upload",
    "update": "update set change edit modify patch put replace save upsert rename merge assign move mark",
    "delete": "delete remove destroy clear cancel revoke disable deactivate unsubscribe unlink drop purge erase "
              "end terminate close kill invalidate expire blacklist",
    "act": "handle process perform execute complete confirm finish finalize finalise validate verify redeem pay donate "
           "capture authorize authorise refund transfer exchange convert imitate impersonate subscribe accept "
           "apply check place login logout register signup checkout reset recover refresh export authenticate "
           "forgot resend activate renew extend enroll associate enable setup test send",
}.items():
    for _w in _words.split():
        _VERBS[_w] = _cls
# Verbs that are also the nouns of resources ('/checkout/sessions', '/exports').
_NOUN_VERBS = frozenset({"checkout", "export", "transfer", "download", "register", "login", "logout"})
_HTTP = {"get": "read", "head": "read", "options": "other", "trace": "other", "post": "create",
         "put": "update", "patch": "update", "delete": "delete"}
_WRITES = frozenset({"POST", "PUT", "PATCH"})
# method names that only restate the method ('getUsers'); 'delete' in a POST's name still deletes
_HTTP_ONLY = frozenset(_HTTP) - {"delete"}
_READS = frozenset({"GET", "HEAD"})

_PREPOSITIONS = frozenset("by for of on from with to into at via per within about".split())
_STOP = frozenset("a an the and or as your my their its this that s all api rest rpc json xml html www "
                  "deprecated endpoint route call v".split())
_NOISE = frozenset("api rest rpc public private store storefront shop service services json xml www "
                   "selfservice wellknown graphql gql twirp controller _".split())
# Nouns that name a shape, not a thing: skipped when looking for the head noun.
_GENERIC = frozenset("detail list info information data page listing id collection session method option "
                     "intent request item entry record result summary overview flow form setting file basic personal "
                     "provider type config configuration available availability all current my new "
                     "default native browser api app mobile web".split())

_HEALTH = frozenset("health livez readyz liveness readiness alive heartbeat ping".split())
# a path that is only one of these words is a probe ('GET /up', 'GET /api/status')
_HEALTH_ALONE = frozenset({"up", "status", "ok"})
# what a 'test' call tests when it tests the API itself ('api.test', '/test-connection')
_HEALTH_TESTED = frozenset({"api", "connection", "connectivity", "server", "service", "app"})
_LOGIN = frozenset({"login", "authenticate", "sso"})
# nouns of signing in: a login only as the last word of a write ('POST /api/v1/authn')
_LOGIN_NOUNS = frozenset({"authn", "authentication"})
_LOGOUT = frozenset({"logout"})
_REGISTER = frozenset({"register", "registration", "signup"})
_REGISTER_NOT = frozenset("confirm confirmation verify verification activate activation resend".split())
_MFA = frozenset({"mfa", "2fa", "totp", "otp", "authenticator"})
# enrolling, changing or removing one's own factor is an account change; submitting one is mfa
_MFA_SETUP = frozenset("enroll enrollment associate enable disable setup set add create register activate "
                       "delete remove deactivate update change".split())
_MFA_SUBMIT = frozenset("verify verification challenge validate confirm submit check authenticate login".split())
# sending or requesting a code is not submitting it
_CODE_SEND = frozenset("send resend request start deliver issue".split())
_RESET_TRIGGER = frozenset({"forgot", "recover", "recovery"})
_RESET_WITH_PASSWORD = frozenset({"reset", "recover", "recovery", "forgot", "lost"})
_IDENTITY = frozenset("username email login handle nickname user account phone".split())
_EXISTS = frozenset("exist check available availability taken unique lookup".split())
_CHANGE = frozenset("change update set edit modify patch replace save".split())
_ATTRS = frozenset("password email phone mobile profile credential username me account setting".split())
_SELF = frozenset("me self current myself own authenticated".split())
_SETTING_OWNERS = frozenset("account user profile customer security me personal".split())
_OWNERS = frozenset("account profile me self myself setting".split())
_OWNED_SETTINGS = frozenset("mfa 2fa totp otp authenticator payout bank iban key passkey factor".split())
_VERIFY = frozenset("verify verification challenge confirm validate".split())
_AUTH_CTX = frozenset("auth oauth authentication authorization sso oidc openid saml login session identity "
                      "signin token authn".split())
# qualifiers of a token that make it a sign-in token ('customer access token', 'auth token')
_SIGNIN_TOKEN = frozenset("access auth session bearer jwt id oauth customer user login member".split())
_TOKEN_MAKE = frozenset("create issue get obtain generate request fetch new".split())
_REVOKE = frozenset({"revoke", "blacklist", "invalidate"})
# OAuth 2 grant types (RFC 6749 and extensions) that carry a user's credentials
_USER_GRANTS = ("password", "authorization_code", "password-realm", "device_code", "otp", "mfa-otp",
                "passwordless", "jwt-bearer", "saml2-bearer", "token-exchange")
_SEARCH = frozenset("search autocomplete typeahead autosuggest".split())
_SUGGEST = frozenset({"suggest", "suggestion"})  # search only next to 'search' ('suggestions' recommend)
_CHECKOUT_VERBS = frozenset("complete place submit confirm finalize finalise".split())
_ORDERISH = frozenset({"cart", "basket", "order", "checkout"})
_CART = frozenset({"cart", "basket"})
_CART_ITEMS = frozenset({"lineitem", "item", "line"})
_COUPON = frozenset({"coupon", "promotion", "promo", "voucher", "discount"})
_PAYMENT = frozenset({"payment", "charge", "donation"})
# a 'payment session' or 'payment details' are payment; a 'payment link' is not
_PAYMENT_PARTS = frozenset({"session", "collection", "intent", "attempt", "detail", "method"})
_PAY_VERBS = frozenset("pay donate handle process initiate authorize authorise make submit".split())
# what the merchant does to a payment, not the payer
_MERCHANT_VERBS = frozenset("refund capture void reverse cancel dispute".split())
_TRANSFER = frozenset({"transfer", "payout", "withdrawal", "withdraw", "remittance", "wire", "p2p"})
# 'send money', 'send from a wallet': value sent to someone
_VALUE = frozenset("money fund cash coin crypto wallet".split())
_CATALOGUE = frozenset({"product", "catalog", "catalogue", "category", "sku", "variant", "crosssell", "brand",
                        "merchandise"})
_CATALOGUE_IN_SHOP = frozenset({"collection", "listing", "price", "pricing", "department", "aisle",
                                "assortment"})
# resources that are other things than the catalogue when they sit under one ('/orders/{id}/items')
_NOT_CATALOGUE_OWNERS = frozenset("cart basket order wishlist checkout invoice receipt list user me account "
                                  "customer".split())
_SHOP = frozenset({"cart", "basket", "checkout", "product", "sku", "catalog", "catalogue"})
_OBJECTS = frozenset("order invoice document receipt statement transaction booking reservation shipment address "
                     "download attachment bill payment transfer balance report session charge".split())
# objects that are private only in an API that moves money (a bank account, not a social profile)
_MONEY_OBJECTS = frozenset({"account"})
# words of an API that moves money
_MONEY = frozenset("transfer payout wallet balance ledger transaction withdrawal deposit remittance iban "
                   "beneficiary".split())
# an RPC getter of one object ('invoices.info', 'GetOrder')
_READ_ONE = frozenset("info get retrieve fetch show read detail describe".split())
_EXPORT_OBJECTS = frozenset("report archive takeout dump datadownload".split())
_REGISTER_COLLECTIONS = frozenset({"user", "customer", "account", "member"})
_ADMIN = frozenset({"admin", "internal", "backoffice", "management"})
_ADMIN_KEEPS = frozenset({"login", "logout", "token-refresh", "health", "export"})
_FLOW_START = frozenset("create init initialize start begin get read list fetch delete".split())
_FLOW_ROLES = frozenset({"login", "logout", "register", "password-reset", "mfa", "account-change"})

# When two roles come out of one reading, the first suppresses the second.
_SUPPRESS: dict[str, frozenset[str]] = {
    "username-check": frozenset({"register", "login", "account-change"}),
    "mfa": frozenset({"login", "account-change", "password-reset"}),
    "token-refresh": frozenset({"login", "logout"}),
    "password-reset": frozenset({"login", "account-change"}),
    "logout": frozenset({"login"}),
    "giftcard": frozenset({"coupon", "payment", "cart", "checkout"}),
    "coupon": frozenset({"cart", "checkout", "payment"}),
    "export": frozenset({"catalogue", "object-read"}),
    "checkout": frozenset({"cart"}),
}


# Words that lower-case identifiers glue together ('refreshtoken', 'forgotpassword', 'accesstoken'):
# a word made of two of these is read as both.
_GLUE = frozenset("""
refresh token access forgot reset change password pass user name sign log check email account cart gift card
auth verify otp order product login logout signup signin register session recover update create delete
""".split())


def _unglue(w: str) -> tuple[str, ...]:
    if len(w) < 8 or w in _GLUE:
        return (w,)
    for i in range(3, len(w) - 2):
        if w[:i] in _GLUE and w[i:] in _GLUE:
            return (w[:i], w[i:])
    return (w,)


def split_words(text: str) -> list[str]:
    """Lower-case words of an identifier, path or sentence.

    Splits camelCase, PascalCase, snake_case, kebab-case, dotted and spaced
    text (``'/api/v1/users.forgotPassword'`` → ``api v1 users forgot password``);
    path parameters (``{id}``, ``:id``, ``<id>``) become ``'{}'``.
    """
    out: list[str] = []
    if not isinstance(text, str):
        return out
    text = text[:_MAX_TEXT].replace("'s ", " ").replace("’s ", " ")
    if text.startswith("/"):
        text = _FORMAT_SUFFIX.sub("", text)
    pos = 0
    for m in _PARAM_RX.finditer(text):
        out.extend(_plain_words(text[pos:m.start()]))
        out.append(PARAM)
        pos = m.end()
    out.extend(_plain_words(text[pos:]))
    return out


def _plain_words(text: str) -> list[str]:
    out = []
    for chunk in re.split(r"[^A-Za-z0-9]+", text):
        for w in _CAMEL.findall(chunk):
            out.extend(_unglue(w.lower()))
    return out


@lru_cache(maxsize=8192)
def _normalise(words: tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
    """Singular words with compounds joined; (word, was_plural); params kept as '{}'."""
    toks: list[tuple[str, bool]] = []
    for w in words:
        if w == PARAM:
            toks.append((w, False))
            continue
        if w not in _KEEP_DIGITS and _VERSION.fullmatch(w):
            continue  # versions and numbers name nothing
        toks.append(_singular(w))
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(toks):
        for n in range(min(_MAX_COMPOUND, len(toks) - i), 0, -1):
            key = tuple(t[0] for t in toks[i:i + n])
            if key in _COMPOUNDS:
                if _COMPOUNDS[key]:
                    out.append((_COMPOUNDS[key], toks[i + n - 1][1]))
                i += n
                break
        else:
            out.append(toks[i])
            i += 1
    return tuple(out)


@lru_cache(maxsize=8192)
def _words_of(text: str) -> tuple[tuple[str, bool], ...]:
    """``_normalise(split_words(text))``, cached: a document repeats its words."""
    return _normalise(tuple(split_words(text)))


_GRPC_ID = re.compile(r"([A-Z][A-Za-z0-9]*)_([A-Z][A-Za-z0-9]*)")


def _front_verb(words: tuple[tuple[str, bool], ...]) -> tuple[tuple[str, bool], ...]:
    """Words with the verb first: names written noun-first ('customerAccessTokenCreate',
    'orders_retrieve', 'users.list', 'cartSubmitForCompletion') become verb-first.

    Only when the first word is not a verb: the last verb before any preposition moves.
    """
    plain = [w for w, _ in words]
    if not plain or plain[0] in _VERBS:
        return words
    # the verb of the first phrase only ('continueLoginOrSignup' keeps its order)
    end = next((i for i, w in enumerate(plain) if (w in _PREPOSITIONS or w in ("or", "and")) and i > 0),
               len(plain))
    for i in range(end - 1, 0, -1):
        if plain[i] in _VERBS and plain[i] not in _NOUN_VERBS:
            return (words[i], *words[:i], *words[i + 1:])
    return words


@lru_cache(maxsize=8192)
def _ident_words(operation_id: str, method: str) -> tuple[tuple[tuple[str, bool], ...], frozenset[str]]:
    """(words, namespace words) of an operationId, read verb-first.

    A gateway's ``Service_Method`` (``CartService_AddItem``) is read as its
    method, the service as context; a trailing HTTP method (``readProductGet``,
    the GET twin of ``readProduct``) is dropped.
    """
    ns: frozenset[str] = frozenset()
    m = _GRPC_ID.fullmatch(operation_id)
    if m:
        ns = frozenset(w for w, _ in _words_of(m.group(1)))
        operation_id = m.group(2)
    ow = _words_of(operation_id)
    if len(ow) > 1 and ow[-1][0] == method.lower():
        ow = ow[:-1]
    return _front_verb(ow), ns


def _segments(path: str) -> list[str]:
    """Literal path segments, parameters as '{}' (a '{name=orders/*}' parameter is one segment)."""
    return [seg for seg in _PARAM_RX.sub("{}", path).split("/") if seg]


@lru_cache(maxsize=8192)
def _method_part(path: str) -> tuple[str | None, bool, bool]:
    """(verb, rpc, noun_only) of a path's last literal segment.

    The segment's method is what follows its last ':' or '.' (``/v1/auth:login``,
    ``/users.info``: ``rpc``), else the whole segment. Its verb is its first word,
    or its last one (``customerAccessTokenCreate``); ``noun_only`` when an RPC
    method is named by a noun only (``catalog.item``: a getter).
    """
    segs = _segments(_FORMAT_SUFFIX.sub("", path))
    while segs and segs[-1] == "{}":
        segs.pop()
    if not segs:
        return None, False, False
    seg = segs[-1]
    rpc = False
    for sep in (":", "."):
        if sep in seg.strip(sep):
            seg = seg.rstrip(sep).rsplit(sep, 1)[1]
            rpc = True
            break
    if not rpc and len(segs) >= 2 and "." in segs[-2].strip("."):
        rpc = True  # '/twirp/shop.Cart/AddItem'
    words = [w for w, _ in _words_of(seg) if w not in _STOP and w not in _NOISE]
    if not words:
        return None, rpc, False
    if words[0] in _VERBS:
        return words[0], rpc, False
    # a name written noun-first: its last verb before any preposition ('customerAccessTokenCreateWithMultipass')
    end = next((i for i, w in enumerate(words) if w in _PREPOSITIONS and i > 0), len(words))
    for w in reversed(words[1:end]):
        if w in _VERBS and w not in _NOUN_VERBS:
            return w, rpc, False
    return None, rpc, rpc


# ------------------------------------------------------------------ readings

@dataclass(slots=True)
class _Facts:
    """What is known about one operation, shared by its readings."""

    method: str
    path: tuple[tuple[str, bool], ...]      # normalised path words with '{}' params
    path_text: str
    action: str                             # read / create / update / delete / act / other
    action_from: str
    context: frozenset[str]                 # words of the path, operationId and tags
    verb: str | None = None                 # the operationId's verb (moved to the front when it ends the name)
    test: bool = False                      # the name says it is a test call
    owned: bool = False                     # the path puts it under the caller's account
    shop: bool = False                      # the API sells things (API-level context)
    admin: bool = False
    path_verb: str | None = None            # the verb of the path's last segment or RPC method ('/cart/add')
    rpc: bool = False                       # the path names a method ('/users.info', '/v1/auth:login')
    params: frozenset[str] = frozenset()    # words of the path parameters' names
    fields: frozenset[str] = frozenset()    # words of the request body's and query's field names
    grants: tuple[str, ...] = ()            # OAuth 2 grant types the request body declares
    money: bool = False                     # the API moves money (API-level context)
    user_auth: bool | None = None           # the API signs end users in (None: not known)


@dataclass(slots=True)
class _Cand:
    role: str
    strength: int
    why: str


@dataclass(slots=True)
class _Reading:
    source: str
    text: str
    words: tuple[tuple[str, bool], ...]
    cands: list[_Cand] = field(default_factory=list)
    vetoes: list[str] = field(default_factory=list)

    @property
    def plain(self) -> list[str]:
        return [w for w, _ in self.words]


def _main_phrase(words: list[str]) -> list[str]:
    """Words before the first preposition (the head phrase of 'readShippingCostByCart')."""
    out = []
    for i, w in enumerate(words):
        if w in _PREPOSITIONS and i > 0:
            break
        out.append(w)
    return out


def _content(words: list[str], leading_verb: bool = True) -> list[str]:
    """Nouns of a phrase: no params, stop words, noise or verbs (an identifier's first word
    is its verb when ``leading_verb``; a path's first word is a namespace)."""
    out = []
    for i, w in enumerate(words):
        if w == PARAM or w in _STOP or w in _NOISE or w in _PREPOSITIONS:
            continue
        if w in _VERBS and ((i == 0 and leading_verb) or w in _HTTP or w in _CHECKOUT_VERBS or w in _CHANGE):
            continue
        out.append(w)
    return out


def _head(nouns: list[str]) -> str | None:
    """The last noun that is not generic (a 'payment session' is about payment)."""
    for w in reversed(nouns):
        if w not in _GENERIC and (w not in _VERBS or w in _NOUN_VERBS):
            return w
    for w in reversed(nouns):
        if w not in _VERBS:
            return w
    return None


def _evaluate(r: _Reading, f: _Facts) -> None:
    """Fill ``r.cands`` and ``r.vetoes`` from the reading's words and the operation's facts."""
    words = r.plain
    main = _main_phrase(words)
    W = set(main)
    every = set(words)
    is_path = r.source in ("path", "heuristic")
    nouns = _content(main, not is_path)
    head = _head(nouns)
    if head is None:  # 'addToCart': the noun comes after the preposition
        nouns = _content(words, not is_path)
        head = _head(nouns)
    head_plural = next((pl for w, pl in reversed(r.words) if w == head), False)
    first = main[0] if main else None
    # a path's first word is a namespace ('/checkout/cart'): its verb is its last segment's ('/cart/add');
    # an identifier's first word is its verb (names written noun-first were turned verb-first)
    if is_path:
        verb = f.path_verb if f.path_verb not in _HTTP_ONLY else None
    else:
        verb = first if first in _VERBS and first not in _HTTP_ONLY else None
    tail = [w for w in main if w != PARAM and w not in _STOP and w not in _NOISE and w not in _PREPOSITIONS
            and w not in _CHECKOUT_VERBS]
    last = tail[-1] if tail else None
    before_head = set(nouns[:len(nouns) - 1 - nouns[::-1].index(head)]) if head in nouns else set()
    if f.owned:
        before_head.add("account")
    m = f.method
    reads = m in _READS or (m == "POST" and f.rpc)  # every call of an RPC API is a POST
    no_param = not any(w == PARAM for w, _ in f.path)
    add = r.cands.append

    def say(role: str, strength: int, why: str) -> None:
        add(_Cand(role, strength, why))

    # -- probes
    if W & _HEALTH or ("ready" in W and W & {"instance", "service", "server", "app"}):
        if reads:
            say("health", STRONG, "a health/liveness word")
    elif is_path and m in _READS and no_param and \
            [(w, pl) for w, pl in f.path if w not in _STOP and w not in _NOISE] in ([(h, False)] for h in _HEALTH_ALONE):
        # singular only: '/statuses' is a collection, '/status' a probe
        say("health", STRONG, f"'{f.path_text}' alone is a probe")
    tested = {w for w in main if w not in ("test", PARAM, "v")}
    health_test = "test" in W and bool(tested) and tested <= _HEALTH_TESTED and reads
    if health_test:  # 'api.test', '/test-connection': a call that tests the API itself
        say("health", STRONG, f"tests the '{sorted(tested)[0]}' itself")
    # -- signing in and out
    if W & _LOGIN and m in _WRITES:
        strength = STRONG
        if is_path:
            segs = [s for s in _segments(f.path_text) if s != "{}"]
            tail_words = {w for w, _ in _words_of(segs[-1])} if segs else set()
            if not tail_words & _LOGIN and tail_words - _AUTH_CTX - _GENERIC - _STOP - _NOISE - _PREPOSITIONS:
                strength = NOUN  # '/login/device/code': 'login' names a namespace, the route does something else
        say("login", strength, f"the word '{sorted(W & _LOGIN)[0]}'"
            + (", a namespace" if strength == NOUN else ""))
    if last in _LOGIN_NOUNS and m in _WRITES and not _ends_with_param(f.path):
        say("login", NOUN, f"'{last}' of a user")
    if W & _LOGOUT and m not in ("HEAD", "OPTIONS"):
        say("logout", STRONG, "the word 'logout'")
    if W & _REGISTER and m in _WRITES:
        if W & _REGISTER_NOT:
            r.vetoes.append(f"register: '{sorted(W & _REGISTER_NOT)[0]}' confirms a registration, it is not the sign-up")
        else:
            say("register", STRONG, f"the word '{sorted(W & _REGISTER)[0]}'")
    mfa_words = W & _MFA
    if "factor" in W and (f.context & (_AUTH_CTX | _SELF | {"user", "mfa"})):
        mfa_words = mfa_words | {"factor"}
    if mfa_words and m in _WRITES | {"DELETE"}:
        act = W & (_MFA_SETUP | _MFA_SUBMIT | _CODE_SEND)
        if verb:
            act = act | {verb}
        if act & _CODE_SEND and not act & _MFA_SUBMIT:
            r.vetoes.append(f"mfa: '{sorted(act & _CODE_SEND)[0]}' of a code is not its submission")
        elif (act & _MFA_SETUP or m == "DELETE") and not act & _MFA_SUBMIT:
            # enrolling, enabling or removing one's own second factor
            say("account-change", STRONG, f"'{sorted(act & _MFA_SETUP)[0] if act & _MFA_SETUP else m}' of the "
                f"caller's second factor ('{sorted(mfa_words)[0]}')")
        elif not (before_head & _OWNERS and not W & _VERIFY):
            say("mfa", STRONG, f"the word '{sorted(mfa_words)[0]}'")
    if m in _WRITES and (W & _RESET_TRIGGER or ("password" in W and (
            every & _RESET_WITH_PASSWORD or W & {"send", "resend", "instruction", "mail"}
            or (verb == "send" and "email" in W)))):
        say("password-reset", STRONG, "forgot/reset/recover password" if "password" in W and every &
            _RESET_WITH_PASSWORD else "sends a password e-mail" if "password" in W
            else f"the word '{sorted(W & _RESET_TRIGGER)[0]}'")
    identity = W & _IDENTITY or f.fields & {"email", "username", "handle", "login", "nickname"}
    if W & _EXISTS and identity and m in _READS | {"POST"}:
        others = [w for w in nouns if w not in _IDENTITY and w not in _EXISTS and w not in _GENERIC
                  and w not in _REGISTER]
        if not others:
            say("username-check", STRONG, f"'{sorted(W & _EXISTS)[0]}' of a '{sorted(identity)[0]}'")
    revokes = bool(W & _REVOKE) or (verb is not None and _VERBS.get(verb) == "delete") or m == "DELETE"
    if "refresh" in W and (W & _AUTH_CTX or W & {"jwt", "access"} or f.context & _AUTH_CTX) and not revokes:
        say("token-refresh", STRONG, "refresh of a token/session")
    elif W & {"renew", "extend"} and W & {"token", "session", "jwt"} and m in _WRITES:
        say("token-refresh", NOUN, "renews a token/session")
    # -- login by token endpoint, sign-in token, callback, session; logout by session/revoke
    if "refresh" not in W and m in _WRITES and is_path and _token_endpoint(f) and \
            _word_before_last(f.path) != PARAM:
        # '/oauth/token', '/login/oauth/access_token', '/oauth.v2.access'; not '/users/{id}/token'
        _grant_candidates(f, say, r)
    qualifiers = {w for w in main if w not in ("token", PARAM) and w != verb and w not in _STOP}
    # a sign-in token is named so ('access token', '/oauth/...'); a bare 'token' may be a card's
    signin_token = head == "token" and not _param_before_last(f.path) and not _ends_with_param(f.path) and \
        bool((qualifiers | f.context) & (_SIGNIN_TOKEN | _AUTH_CTX) - {"token"}) and \
        qualifiers <= _SIGNIN_TOKEN | _AUTH_CTX | (_NOISE - {"api", "public", "private", "service", "services"})
    if signin_token and verb in _TOKEN_MAKE and m in _WRITES and "refresh" not in W:
        say("login", STRONG, f"'{verb}' a sign-in token")
    if signin_token and revokes and m in _WRITES | {"DELETE"}:
        say("logout", NOUN, "deletes a sign-in token")
    if "callback" in W and (W & _AUTH_CTX or f.context & _AUTH_CTX) and m in _WRITES | _READS:
        say("login", NOUN, "the callback of a sign-in")
    if f.path and f.path[-1][0] == "session" and is_path and \
            _word_before_last(f.path) in (None, *_AUTH_CTX, *_SELF, "user"):
        # a bare or auth session; a 'checkout session' or 'payment session' is not a sign-in
        singular = not f.path[-1][1]
        if m == "POST" and f.action == "create":
            say("login", WEAK, "creates a session")
        elif m == "DELETE" and singular:
            say("logout", NOUN, "deletes the caller's session")
    if m == "DELETE" and head in _SELF and "session" in W:
        say("logout", NOUN, "deletes the current session")
    if W & _REVOKE and (W & _AUTH_CTX or f.context & {"oauth", "token"}) and m in _WRITES | {"DELETE"}:
        say("logout", NOUN, f"{'revokes' if 'revoke' in W else sorted(W & _REVOKE)[0] + 's'} a token")
    # -- account change
    if m in _WRITES and f.action != "read" and head is not None:
        setting_ok = head != "setting" or _owner_ok(nouns)
        # the caller's own account owns this word: '/account/email', '/me/mfa'
        owned = bool(before_head & _OWNERS) and not _param_before_last(f.path)
        if head in _ATTRS and setting_ok and W & _CHANGE and head != "account" or (
                head == "account" and W & _CHANGE and not _ends_with_param(f.path)):
            say("account-change", STRONG, f"changes '{head}'")
        elif head in _SELF:
            say("account-change", NOUN, "writes the caller's own record")
        elif W & _CHANGE and W & _SELF and (head in _REGISTER_COLLECTIONS or head in _ATTRS):
            say("account-change", STRONG, f"changes the caller's own '{head}'")
        elif owned and (head in _ATTRS or head in _OWNED_SETTINGS) and not _ends_with_param(f.path) and \
                not W & _VERIFY:
            say("account-change", STRONG, f"writes the '{head}' of the caller's account")
        elif m in ("PUT", "PATCH") and setting_ok and head in (_ATTRS - {"me", "password"}) \
                and not _ends_with_param(f.path):
            say("account-change", NOUN, f"{m} of '{head}'")
        elif m in ("PUT", "PATCH") and head in ("user", "customer") and not head_plural and no_param and \
                not f.admin:
            # 'PATCH /user', 'PATCH /auth/user': the user without an id is the caller
            say("account-change", NOUN, f"{m} of the caller's '{head}'")
    # -- commerce and data
    if (W & _SEARCH or (W & _SUGGEST and W & {"search", "query"})) and m in _READS | {"POST"}:
        # 'Search for a variant' names its object after the preposition
        scoped = _param_before_last(f.path)
        objs = [w for w in _content(words, not is_path) if w not in _SEARCH and w not in _GENERIC and w not in _VERBS]
        if not (scoped and objs):
            say("search", STRONG, f"the word '{sorted(W & _SEARCH)[0]}'")
    if "giftcard" in words:  # 'the balance of a gift card'
        say("giftcard", STRONG, "gift card")
    if head in _COUPON or "coupon" in W:
        explicit = W & {"redeem", "apply", "validate", "check"}
        if not explicit and f.action == "create" and verb in (None, "create", "add", "new") and \
                _last_word(f.path) in _COUPON and not f.context & (_ORDERISH | {"session"}):
            r.vetoes.append("coupon: creating a coupon outside a cart is the merchant's")
        else:
            say("coupon", STRONG if explicit else NOUN, f"'{head if head in _COUPON else 'coupon'}'")
    if m in _WRITES and f.action != "read":
        if "checkout" in (head, verb) or (is_path and _last_word(f.path) == "checkout"):
            say("checkout", STRONG, "checkout")
        elif W & _CHECKOUT_VERBS and head in _ORDERISH:
            say("checkout", STRONG, f"'{sorted(W & _CHECKOUT_VERBS)[0]}' a {head}")
        elif head == "order" and f.action == "create" and f.shop and not _ends_with_param(f.path):
            say("checkout", NOUN, "creates an order")
        elif "purchase" in (head, verb):
            say("checkout", NOUN, "purchase")
        elif "shipping" in W and (f.context & _CART) and head in ("shipping", "method", "address", "option"):
            say("checkout", NOUN, "chooses shipping for a cart")
    if head in _CART or (head in _CART_ITEMS and (W & _CART or f.context & _CART)):
        say("cart", NOUN, f"'{head}'" + (" of a cart" if head in _CART_ITEMS else ""))
    elif head == "lineitem" and f.shop and not f.context & (_NOT_CATALOGUE_OWNERS - _CART):
        say("cart", NOUN, "a line item of a shop's cart")
    if (W & _PAYMENT or W & {"pay", "donate"}) and verb in _MERCHANT_VERBS:
        r.vetoes.append(f"payment: '{verb}' of a payment is the merchant's")
    elif W & _PAYMENT or W & {"pay", "donate"}:
        # the last noun decides: a 'payment session' is payment, a 'payment link' or a capture is not
        paid = last in _PAYMENT or (last in _PAYMENT_PARTS and W & _PAYMENT)
        if verb in _PAY_VERBS and (W & _PAYMENT or verb in ("pay", "donate")):
            say("payment", STRONG, f"'{verb}' a payment")
        elif verb is None and W & {"pay", "donate"} and m in _WRITES:
            say("payment", STRONG, f"'{sorted(W & {'pay', 'donate'})[0]}'")
        elif paid and f.action not in ("read", "delete") and m in _WRITES:
            say("payment", NOUN, f"writes a '{last}'")
        elif paid and f.action == "act":
            say("payment", NOUN, f"acts on a '{last}'")
    sends_value = verb in ("send", "move") and head in _VALUE
    if (W & _TRANSFER or verb == "transfer" or sends_value) and m in _WRITES and f.action != "read" and \
            not before_head & _OWNERS:
        say("transfer", STRONG, f"'{sorted(W & _TRANSFER)[0]}'" if W & _TRANSFER else
            f"'{verb}' of '{head}'" if sends_value else f"'{verb}'")
    if m in _READS | {"POST"} and "import" not in W:
        if "export" in W:
            say("export", STRONG, "the word 'export'")
        elif "datadownload" in W:
            say("export", STRONG, "a download of the account's data")
        elif W & _EXPORT_OBJECTS and W & {"generate", "request", "build", "prepare"}:
            say("export", STRONG, f"generates a '{sorted(W & _EXPORT_OBJECTS)[0]}'")
    if f.action == "read" and head is not None and m in _READS | {"POST"}:
        owner_words = {w for w, _ in f.path if w != PARAM} | set(nouns)
        in_catalog = bool(before_head & {"catalog", "catalogue"}) and head not in _OBJECTS
        if head in _CATALOGUE or (head in _CATALOGUE_IN_SHOP and f.shop and _price_ok(head, before_head)) or \
                in_catalog:
            say("catalogue", NOUN, f"reads '{head}'" + (" of the catalogue" if in_catalog else ""))
        elif head == "item" and f.shop and not owner_words & _NOT_CATALOGUE_OWNERS and \
                (f.params & {"sku", "product"} or is_path and len(owner_words - _STOP - _NOISE) == 1):
            # a shop's top-level items ('GET /items', '/items/{sku}') are its products
            say("catalogue", NOUN, "reads a shop's items" + (" by SKU" if "sku" in f.params else ""))
        else:
            last_noun = next((w for w in reversed(nouns) if w not in _VERBS), None)  # 'info' of 'orders.info'
            for w in reversed(nouns):  # '/orders/{id}', '/paymentLinks/{id}' (a payment's link)
                private = w in _OBJECTS or (w in _MONEY_OBJECTS and f.money)
                if private and _object_by_id(w, r, f):
                    say("object-read", NOUN, f"reads one '{w}' by id")
                    break
                if private and no_param and w == last_noun and _reads_one(w, verb, r, f):
                    # the last noun only: a 'payment method' or 'payment provider' is not a payment
                    say("object-read", NOUN, f"reads one '{w}' (its id in the request)")
                    break
                if w not in _GENERIC and w not in _TAILS:
                    break
    creates_user = m == "POST" and f.action == "create" and head in _REGISTER_COLLECTIONS
    if creates_user and is_path and not _ends_with_param(f.path) and _last_word(f.path) == head:
        say("register", WEAK, f"creates a '{head}'")
    elif verb == "create" and head in ("account", "user", "customer", "member") and m == "POST":
        say("register", WEAK, f"creates a '{head}'")
    if creates_user and "password" in f.fields and any(c.role == "register" and c.strength == WEAK
                                                       for c in r.cands):
        r.cands[:] = [c for c in r.cands if c.role != "register"]
        say("register", WEAK, f"creates a '{head}' with a password")
    elif f.user_auth is False and any(c.role == "register" and c.strength == WEAK for c in r.cands):
        r.vetoes.append(f"register: the API signs no end user in; creating a '{head}' is the operator's")
        r.cands[:] = [c for c in r.cands if not (c.role == "register" and c.strength == WEAK)]
    # -- vetoes
    if f.test and r.cands and not health_test:
        r.vetoes.append("a test or diagnostic call")
        r.cands.clear()
    if "other" in W and any(c.role == "logout" for c in r.cands):
        r.vetoes.append("ends other sessions, not the caller's")
        r.cands[:] = [c for c in r.cands if c.role != "logout"]
    if ("flow" in W or "flow" in f.context) and any(c.role in _FLOW_ROLES for c in r.cands):
        v = f.verb or verb
        if (v in _FLOW_START) if v else m in _READS:
            r.vetoes.append(f"'{v or m}' of a flow only starts or reads it")
            r.cands[:] = [c for c in r.cands if c.role not in _FLOW_ROLES]
    if f.admin and r.cands:
        # an admin's own sign-in stays; actions on other users' objects do not
        keeps = _ADMIN_KEEPS if not any(w == PARAM for w, _ in f.path) else _ADMIN_KEEPS - _FLOW_ROLES - {
            "token-refresh"}
        if any(c.role not in keeps for c in r.cands):
            r.vetoes.append("under an admin path: acts on other users' data")
            r.cands[:] = [c for c in r.cands if c.role in keeps]


def _price_ok(head: str, before_head: set[str]) -> bool:
    """A shop's prices are catalogue unless they are another thing's ('shipping prices')."""
    if head not in ("price", "pricing"):
        return True
    return not (before_head - _CATALOGUE - _GENERIC - {"account"})


def _token_endpoint(f: _Facts) -> bool:
    """An OAuth 2 token endpoint: '/token', '/access_token', an 'oauth ... access' RPC method."""
    seg = (_last_literal_segment(f.path_text) or "").lower()
    if re.fullmatch(r"(?:access[-_]?)?token", seg):
        return True
    return f.rpc and f.path_verb is None and seg.rsplit(".", 1)[-1] == "access" and \
        "oauth" in {w for w, _ in f.path}


def _grant_candidates(f: _Facts, say: Any, r: _Reading) -> None:
    """A token endpoint's role from the grant types its body declares (none declared: login)."""
    kinds = set()
    for g in f.grants:
        name = re.split(r"[/:]", g.strip().lower())[-1]
        if name == "refresh_token":
            kinds.add("refresh")
        elif name == "client_credentials":
            kinds.add("client")
        elif name in _USER_GRANTS:
            kinds.add("user")
        else:
            kinds.add("other")
    if not kinds or "user" in kinds:
        say("login", STRONG, "POST to a token endpoint" + (" (a user's grant)" if kinds else ""))
    elif kinds <= {"refresh", "client"} and "refresh" in kinds:
        say("token-refresh", STRONG, "a token endpoint for refresh grants")
    else:
        r.vetoes.append(f"a token endpoint without a user's grant ({', '.join(sorted(f.grants))[:80]})")


def _reads_one(noun: str, verb: str | None, r: _Reading, f: _Facts) -> bool:
    """An RPC read of one object whose id travels in the request ('invoices.info', a GraphQL
    'order' query with an 'id' variable)."""
    singular = next((not pl for w, pl in r.words if w == noun), False)
    if verb in _READ_ONE and (f.rpc or "id" in f.fields):
        return verb != "get" or singular
    return verb is None and singular and (f.rpc or "id" in f.fields) and f.action == "read"


def _owner_ok(nouns: list[str]) -> bool:
    """'settings' count only when they are the account's ('notification settings' do not)."""
    i = len(nouns) - 1 - nouns[::-1].index("setting")
    before = [w for w in nouns[:i] if w not in _GENERIC]
    return not before or before[-1] in _SETTING_OWNERS


def _last_literal_segment(path: str) -> str | None:
    for seg in reversed(path.rstrip("/").split("/")):
        if seg and not _PARAM_RX.fullmatch(seg):
            return seg
        if seg:
            return None
    return None


def _last_word(path: tuple[tuple[str, bool], ...]) -> str | None:
    for w, _ in reversed(path):
        if w != PARAM and w not in _STOP:
            return w
    return None


def _word_before_last(path: tuple[tuple[str, bool], ...]) -> str | None:
    """The token before the last literal word ('{}' for a parameter), None at the root."""
    toks = [w for w, _ in path if w not in _STOP and w not in _NOISE]
    while toks and toks[-1] == PARAM:
        toks.pop()
    return toks[-2] if len(toks) >= 2 else None


def _ends_with_param(path: tuple[tuple[str, bool], ...]) -> bool:
    return bool(path) and path[-1][0] == PARAM


def _param_before_last(path: tuple[tuple[str, bool], ...]) -> bool:
    """A parameter before the last literal word (the route is scoped to one object)."""
    seen_literal = False
    for w, _ in reversed(path):
        if w == PARAM:
            if seen_literal:
                return True
        else:
            seen_literal = True
    return False


_TAILS = frozenset({"link", "detail", "status", "result", "info"})


def _object_by_id(head: str, r: _Reading, f: _Facts) -> bool:
    """The route addresses one object named ``head``: a parameter follows the noun, or a
    singular noun comes after a parameter (``/accounts/{id}/balance``)."""
    p = f.path
    for i, (w, plural) in enumerate(p):
        if w != head:
            continue
        rest = [x for x, _ in p[i + 1:] if x not in _STOP and x not in _VERBS and x not in _TAILS]
        if rest and rest[0] == PARAM:
            return True
        if not plural and any(x == PARAM for x, _ in p[:i]) and not rest:
            return True
    if r.source != "path" and head not in {w for w, _ in p} and _ends_with_param(p):
        return True
    return False


# ------------------------------------------------------------------ decisions

@dataclass(frozen=True, slots=True)
class Decision:
    """The role of one operation, where it came from, and why.

    ``source`` is ``override``, ``x-sleuth-role``, ``operationId``, ``path``,
    ``summary`` or ``heuristic`` (``none`` when no role).  ``candidates`` holds
    the competing roles when the evidence is ambiguous (``role`` is then None).
    """

    role: str | None
    source: str
    evidence: tuple[str, ...]
    candidates: tuple[str, ...] = ()
    strength: int = 0

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def _pick(r: _Reading) -> tuple[str | None, int, tuple[str, ...], str]:
    """(role, strength, candidates when ambiguous, why) of one reading."""
    if not r.cands:
        return None, 0, (), ""
    top = max(c.strength for c in r.cands)
    best = [c for c in r.cands if c.strength == top]
    roles = []
    for c in best:
        if c.role not in roles:
            roles.append(c.role)
    if len(roles) > 1:
        roles = [x for x in roles if not any(x in _SUPPRESS.get(y, ()) for y in roles if y != x)]
    if len(roles) > 1:
        return None, top, tuple(sorted(roles)), "; ".join(f"{c.role}: {c.why}" for c in best)
    why = next(c.why for c in best if c.role == roles[0])
    # a weaker role the winner does not suppress, from the same words, makes it less sure
    return roles[0], top, (), why


def _describe(r: _Reading) -> str:
    words = "+".join(w for w, _ in r.words if w != PARAM)
    # bounded: evidence of a hostile path stays short
    text = r.text if len(r.text) <= 100 else r.text[:97] + "..."
    if len(words) > 100:
        words = words[:97] + "..."
    return f"{r.source} '{text}': words {words or '(none)'}"


def _facts(method: str, path: str, *, operation_id: str | None, tags: Iterable[str] = (),
           summary: str | None = None, shop: bool = False, fields: Iterable[str] = (),
           grants: Iterable[str] = (), money: bool = False, user_auth: bool | None = None) -> _Facts:
    m = method.upper() if isinstance(method, str) else ""
    pwords = _words_of(path)
    ctx = {w for w, _ in pwords}
    ow: list[str] = []
    if operation_id:
        iw, ns = _ident_words(operation_id, m)
        ow = [w for w, _ in iw]
        ctx |= set(ow) | ns
    tag_words: set[str] = set()
    for t in tags:
        tag_words |= {w for w, _ in _words_of(t)}
    ctx |= tag_words
    action, action_from = _HTTP.get(m.lower(), "other"), f"method {m}"
    verb = None
    if ow and ow[0] in _VERBS and ow[0] not in _HTTP_ONLY:
        verb = ow[0]
        action, action_from = _VERBS[verb], f"operationId verb '{verb}'"
    if action_from.startswith("method") and summary:
        sw = [w for w, _ in _words_of(summary)]
        if sw and sw[0] in _VERBS and _VERBS[sw[0]] == "read" and m == "POST":
            action, action_from = "read", f"summary verb '{sw[0]}'"
    path_verb, rpc, noun_only = _method_part(path)
    if action_from.startswith("method") and m == "POST":
        if path_verb is not None and path_verb not in _HTTP_ONLY:
            action, action_from = _VERBS[path_verb], f"path verb '{path_verb}'"
        elif noun_only or "query" in tag_words and "mutation" not in tag_words:
            # an RPC method named by a noun ('catalog.item') or a GraphQL query returns it
            action, action_from = "read", "a getter" if noun_only else "a query"
    admin = any(w in _ADMIN for w, _ in pwords)
    named = {w for w, _ in pwords} | set(ow)
    lit = [(w, pl) for w, pl in pwords if w != PARAM and w not in _STOP and w not in _NOISE]
    # '/account/email', '/me/mfa', GitHub's '/user/emails' (the singular 'user' is the caller)
    owners = {w for w, pl in lit[:-1] if w in _OWNERS or (w == "user" and not pl)}
    owned = bool(owners) and not _param_before_last(pwords)
    params = set()
    for name in re.findall(r"\{([^{}]*)\}", path):
        params |= {w for w, _ in _words_of(name.split("=")[0])}
    field_words = set()
    for name in fields:
        if isinstance(name, str):
            field_words |= {w for w, _ in _words_of(name)}
    return _Facts(m, pwords, path, action, action_from, frozenset(ctx), verb=verb, test="test" in named, shop=shop,
                  admin=admin, owned=owned, path_verb=path_verb, rpc=rpc, params=frozenset(params),
                  fields=frozenset(field_words), grants=tuple(g for g in grants if isinstance(g, str)),
                  money=money, user_auth=user_auth)


def _mirrors_path(op_words: list[str], path_words: set[str], param_names: set[str]) -> bool:
    """An operationId made of the method and path words (``post-api-v1-users.register``,
    ``PostCartsIdComplete``) says nothing the path does not."""
    ws = [w for w in op_words if w not in _STOP and w not in _NOISE]
    if ws and ws[0] in _HTTP:
        ws = ws[1:]
    return bool(ws) and all(w in path_words or w in param_names or w in ("id", "by") for w in ws)


def _descriptive(op_words: list[str]) -> bool:
    """An operationId with at least one noun that is not generic."""
    return any(w not in _VERBS and w not in _GENERIC and w not in _STOP and w not in _NOISE
               and w not in _PREPOSITIONS and w not in _HTTP for w in op_words)


def decide_operation(method: str, path: str, *, operation_id: str | None = None,
                     tags: Iterable[str] = (), summary: str | None = None,
                     extension: Any = None, override: str | None = None,
                     shop: bool = False, explicit_elsewhere: frozenset[str] = frozenset(),
                     fields: Iterable[str] = (), grants: Iterable[str] = (), money: bool = False,
                     user_auth: bool | None = None) -> Decision:
    """The role of one documented operation.

    Sources, first wins: ``override`` (a profile's role, ``'none'`` for no
    role), ``extension`` (the ``x-sleuth-role`` value), then the operation's
    words: the operationId (unless it only repeats the method and path, then
    the path), then the path, then the summary; tags are context only.  A
    later source can only add an explicit role when the first says nothing,
    or make the first ambiguous when it contradicts a resource-level reading.
    ``shop``: the API sells things (collections and listings are catalogue);
    ``explicit_elsewhere``: roles the API gives explicitly to other
    operations (a weak reading of the same role here then yields to them);
    ``fields``: names of the request body's and query's fields (a ``password``
    makes creating a user a sign-up); ``grants``: the OAuth 2 grant types of
    a token endpoint's body (only ``refresh_token``: token-refresh; only
    ``client_credentials``: no role; a user's grant: login); ``money``: the
    API moves money (an account read by id is a private object);
    ``user_auth``: whether the API signs end users in at all (False: creating
    a customer or an account is the operator's, not a sign-up).
    """
    if override is not None:
        if override != "none" and override not in ROLES:
            raise ValueError(f"'{override}' is not a role")
        return Decision(None if override == "none" else override, "override", (f"profile override '{override}'",),
                        (), STRONG + 1)
    bad = None
    if extension is not None:
        if isinstance(extension, str) and (extension in ROLES or extension == "none"):
            role = None if extension == "none" else extension
            return Decision(role, "x-sleuth-role", (f"x-sleuth-role '{extension}'",), (), STRONG + 1)
        bad = f"x-sleuth-role {str(extension)[:80]!r} is not a role; ignored"
    if not isinstance(path, str) or not isinstance(method, str) or len(path) > _MAX_TEXT:
        return Decision(None, "none", ((bad,) if bad else ()) + ("not a method and path that can be read",))
    if not isinstance(operation_id, str):
        operation_id = None
    d = _decide_words(method, path, operation_id=operation_id, tags=tags, summary=summary, shop=shop,
                      explicit_elsewhere=explicit_elsewhere, fields=fields, grants=grants, money=money,
                      user_auth=user_auth)
    if bad:
        return Decision(d.role, d.source, (bad, *d.evidence), d.candidates, d.strength)
    return d


def _decide_words(method: str, path: str, *, operation_id: str | None, tags: Iterable[str],
                  summary: str | None, shop: bool, explicit_elsewhere: frozenset[str], fields: Iterable[str],
                  grants: Iterable[str], money: bool, user_auth: bool | None) -> Decision:
    tags = [t for t in tags if isinstance(t, str)]
    f = _facts(method, path, operation_id=operation_id, tags=tags, summary=summary, shop=shop, fields=fields,
               grants=grants, money=money, user_auth=user_auth)
    path_r = _Reading("path", path, f.path)
    readings: list[_Reading] = []
    note = None
    vetoed: list[str] = []
    if operation_id:
        ow, _ns = _ident_words(operation_id, f.method)
        plain = [w for w, _ in ow]
        if _mirrors_path(plain, {w for w, _ in f.path}, set(f.params)):
            note = f"operationId '{operation_id}' repeats the path"
        else:
            op_r = _Reading("operationId", operation_id, ow)
            _evaluate(op_r, f)
            if _descriptive(plain) or op_r.cands:
                readings.append(op_r)
            else:  # 'download', 'disableMySession': only verbs; the path says more
                note = f"operationId '{operation_id}' names no resource"
                vetoed = [f"operationId: {v}" for v in op_r.vetoes]
    readings.append(path_r)
    if isinstance(summary, str) and summary.strip():
        readings.append(_Reading("summary", summary.strip(), _words_of(summary)))
    for r in readings:
        if r.source != "operationId":
            _evaluate(r, f)
    primary, rest = readings[0], readings[1:]
    evidence: list[str] = ([note] if note else []) + vetoed
    role, strength, cands, why = _pick(primary)
    for r in readings:
        evidence.extend(f"{r.source}: {v}" for v in r.vetoes)
    if cands:
        return Decision(None, primary.source, (*evidence, f"{_describe(primary)} → ambiguous ({why})"), cands,
                        strength)
    others = [(r, *_pick(r)) for r in rest]
    if role is not None and strength >= NOUN:
        contra = [(r, ro) for r, ro, st, _c, _w in others if ro not in (None, role) and st == STRONG]
        agree = [r.source for r, ro, *_ in others if ro == role]
        ev = f"{_describe(primary)} → {role} ({why})"
        if agree:
            ev += f"; {' and '.join(agree)} agree"
        if strength == STRONG or not contra:
            if contra:
                ev += "; " + ", ".join(f"{r.source} says {ro}" for r, ro in contra) + " (outranked)"
            return Decision(role, primary.source, (*evidence, ev), (), strength)
        roles = tuple(sorted({role, *(ro for _r, ro in contra)}))
        ev += "; but " + ", ".join(f"{_describe(r)} → {ro}" for r, ro in contra)
        return Decision(None, primary.source, (*evidence, ev, "ambiguous"), roles, strength)
    # the first source is silent or weak: only explicit readings of later sources count
    strong = [(r, ro, w) for r, ro, st, _c, w in others if ro is not None and st == STRONG]
    amb = [(r, c) for r, ro, st, c, _w in others if c and st == STRONG]
    distinct = {ro for _r, ro, _w in strong}
    if len(distinct) == 1:
        r, ro, w = strong[0]
        ev = f"{_describe(r)} → {ro} ({w})"
        if primary.cands:
            ev += f"; {primary.source} read it weakly as {role}" if role and role != ro else ""
        return Decision(ro, r.source, (*evidence, ev), (), STRONG)
    if len(distinct) > 1:
        ev = "; ".join(f"{_describe(r)} → {ro}" for r, ro, _w in strong)
        return Decision(None, strong[0][0].source, (*evidence, ev, "ambiguous"), tuple(sorted(distinct)), STRONG)
    if amb:
        r, c = amb[0]
        return Decision(None, r.source, (*evidence, f"{_describe(r)} → ambiguous"), c, STRONG)
    if role is not None:  # weak
        contra = [(r, ro) for r, ro, st, _c, _w in others if ro not in (None, role)]
        if len({ro for _r, ro in contra}) == 1 and not any(ro == role for _r, ro, *_ in others):
            r, ro = contra[0]
            ev = (f"{_describe(primary)} → weakly {role} ({why}); {_describe(r)} → {ro}, which names the "
                  "resource: it wins")
            return Decision(ro, r.source, (*evidence, ev), (), NOUN)
        if contra:
            ev = (f"{_describe(primary)} → weakly {role} ({why}); but "
                  + ", ".join(f"{_describe(r)} → {ro}" for r, ro in contra))
            return Decision(None, primary.source, (*evidence, ev, "ambiguous"),
                            tuple(sorted({role, *(ro for _r, ro in contra)})), WEAK)
        if role in explicit_elsewhere:
            ev = (f"{_describe(primary)} → weakly {role} ({why}); no role: the API has an explicit "
                  f"{role} operation elsewhere")
            return Decision(None, "none", (*evidence, ev), (), 0)
        return Decision(role, primary.source, (*evidence, f"{_describe(primary)} → {role} ({why}, weak)"), (),
                        WEAK)
    ev = f"{_describe(primary)} → no role"
    return Decision(None, "none", (*evidence, ev), (), 0)


def decide_path(method: str, route: str) -> Decision:
    """The role of a route template seen in traffic, without a spec (path words and method).

    Weak readings count here (``POST /sessions`` is login) since there is no
    other evidence to weigh them against; ambiguity gives None.
    """
    if not isinstance(route, str) or not isinstance(method, str) or len(route) > _MAX_TEXT:
        return Decision(None, "none", ("not a method and path that can be read",))
    f = _facts(method, route, operation_id=None, shop=bool({w for w, _ in _normalise(
        tuple(split_words(route)))} & _SHOP))
    r = _Reading("heuristic", route, f.path)
    _evaluate(r, f)
    role, strength, cands, why = _pick(r)
    vetoes = tuple(f"{v}" for v in r.vetoes)
    if cands:
        return Decision(None, "heuristic", (*vetoes, f"{_describe(r)} → ambiguous ({why})"), cands, strength)
    if role is None:
        return Decision(None, "none", (*vetoes, f"{_describe(r)} → no role"), (), 0)
    return Decision(role, "heuristic", (*vetoes, f"{_describe(r)} → {role} ({why})"), (), strength)


# ------------------------------------------------------------------ tables

# roles and words that show an API signs its end users in (else creating a customer is the operator's)
_SIGN_IN_ROLES = frozenset({"login", "logout", "password-reset", "mfa", "token-refresh"})
_SIGN_IN_WORDS = frozenset("login logout signin signup register registration password oauth auth authn "
                           "authentication mfa 2fa otp totp me".split())
_MIN_OPS_FOR_ABSENCE = 10
_MAX_FIELDS = 200
_MAX_SCHEMAS = 1000  # schema objects read per operation: a document's allOf/oneOf nesting cannot blow up


def _request_fields(api: Any, o: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(field names, OAuth 2 grant types) of an operation's query, form and body.

    Body schemas are read two objects deep (a GraphQL ``input`` object, a
    ``variables`` wrapper), local ``$ref``s resolved, at most 200 names from at
    most 1,000 schema objects.
    """
    deref = getattr(api, "_deref", lambda n: n)
    names: list[str] = []
    grants: list[str] = []
    schemas: list[Any] = []
    for params in (o.item.get("parameters"), o.operation.get("parameters")):
        if not isinstance(params, list):
            continue
        for p in params:
            p = deref(p)
            if not isinstance(p, Mapping) or not isinstance(p.get("name"), str):
                continue
            if p.get("in") in ("query", "formData"):
                names.append(p["name"])
                if p["name"] == "grant_type" and isinstance(p.get("enum"), list):
                    grants.extend(g for g in p["enum"][:_MAX_FIELDS] if isinstance(g, str))
            elif p.get("in") == "body":
                schemas.append(p.get("schema"))
    body = deref(o.operation.get("requestBody"))
    if isinstance(body, Mapping) and isinstance(body.get("content"), Mapping):
        for media in body["content"].values():
            media = deref(media)
            if isinstance(media, Mapping):
                schemas.append(media.get("schema"))
    todo = deque((s, 0) for s in schemas)
    visited = 0
    while todo and len(names) < _MAX_FIELDS and visited < _MAX_SCHEMAS:
        schema, depth = todo.popleft()
        visited += 1
        schema = deref(schema)
        if not isinstance(schema, Mapping):
            continue
        room = _MAX_SCHEMAS - visited - len(todo)  # the queue never holds more than what will be read
        for part in ("allOf", "oneOf", "anyOf"):
            if isinstance(schema.get(part), list) and depth < 3 and room > 0:
                todo.extend((s, depth + 1) for s in schema[part][:room])
                room = _MAX_SCHEMAS - visited - len(todo)
        props = schema.get("properties")
        if not isinstance(props, Mapping):
            continue
        for name, sub in props.items():
            if len(names) >= _MAX_FIELDS:
                break
            if not isinstance(name, str):
                continue
            names.append(name)
            sub = deref(sub)
            if name == "grant_type" and isinstance(sub, Mapping) and isinstance(sub.get("enum"), list):
                grants.extend(g for g in sub["enum"][:_MAX_FIELDS] if isinstance(g, str))
            if depth < 2 and visited + len(todo) < _MAX_SCHEMAS:
                todo.append((sub, depth + 1))
    return tuple(names), tuple(grants[:_MAX_FIELDS])


@dataclass(frozen=True, slots=True)
class OperationRole:
    """One row of a role table: a documented operation and its decision."""

    method: str
    template: str               # the path as the document writes it
    routes: tuple[str, ...]     # what the router returns for it
    operation: str | None       # operationId
    decision: Decision
    spec: str | None = None     # the document it came from

    @property
    def role(self) -> str | None:
        return self.decision.role


def parse_override_key(key: str) -> tuple[str, str]:
    """``'POST /login'`` → ``('POST', '/login')``; ``'/login'`` → ``('*', '/login')``.

    Raises ValueError for anything else.
    """
    if not isinstance(key, str):
        raise ValueError("an override key is 'METHOD /route' or '/route'")
    parts = key.strip().split(None, 1)
    if len(parts) == 2 and parts[1].startswith("/") and re.fullmatch(r"[A-Za-z]+|\*", parts[0]):
        return parts[0].upper(), parts[1].strip()
    if len(parts) == 1 and parts[0].startswith("/"):
        return "*", parts[0]
    raise ValueError(f"'{key}' is not 'METHOD /route' or '/route'")


class RoleTable:
    """Roles of every documented operation of one or more OpenAPI documents.

    Built once; ``lookup(method, route)`` is one dict lookup on the route the
    router returns (``HEAD`` falls back to ``GET`` at build time, as the
    router does).  ``rows`` lists every operation in document order, also
    those the router shadows.  ``overrides`` maps ``(METHOD or '*', route)``
    to a role or ``'none'``; a route may be written with or without the
    server base path.
    """

    def __init__(self, apis: Iterable[Any], overrides: Mapping[tuple[str, str], str] | None = None) -> None:
        self.apis = list(apis)
        self.overrides = dict(overrides or {})
        self.rows: list[OperationRole] = []
        self._table: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self.used_overrides: set[tuple[str, str]] = set()
        ops = [(api, o) for api in self.apis for o in api.iter_operations()]
        shop = any(w in _SHOP for _api, o in ops for w, _ in _words_of(o.template))
        # API-level context: the words of every operation's path and operationId
        api_words: set[str] = set()
        for _api, o in ops:
            api_words |= {w for w, _ in _words_of(o.template)}
            if o.operation_id:
                api_words |= {w for w, _ in _ident_words(o.operation_id, o.method)[0]}
        money = bool(api_words & _MONEY)
        bodies = {id(o): _request_fields(api, o) for api, o in ops}
        # first pass: which roles the API names explicitly somewhere
        first: list[Decision] = []
        explicit: set[str] = set()
        for _api, o in ops:
            d = self._decide(o, shop, frozenset(), bodies[id(o)], money, None)
            first.append(d)
            if d.role and d.strength >= STRONG:
                explicit.add(d.role)
        # an API that signs end users in says so somewhere; a document of a few operations may be a fragment
        user_auth: bool | None = True
        if not explicit & _SIGN_IN_ROLES and not api_words & _SIGN_IN_WORDS and len(ops) >= _MIN_OPS_FOR_ABSENCE:
            user_auth = False
        for (api, o), d in zip(ops, first):
            if d.strength == WEAK:  # only a weak reading yields to explicit ones elsewhere
                d = self._decide(o, shop, frozenset(explicit), bodies[id(o)], money, user_auth)
            row = OperationRole(o.method, o.template, o.routes, o.operation_id, d, getattr(api, "source", None))
            self.rows.append(row)
            for route in o.routes:
                key = (o.method, route)
                if key not in self._table:
                    self._table[key] = (d.role, o.operation_id)
                if o.method == "GET" and ("HEAD", route) not in self._table:
                    self._table[("HEAD", route)] = (d.role, o.operation_id)
        for _api, o in ops:  # a documented HEAD wins over the GET fallback
            if o.method == "HEAD":
                for route in o.routes:
                    row = next(r for r in self.rows if r.method == "HEAD" and r.template == o.template)
                    self._table[("HEAD", route)] = (row.role, o.operation_id)

    def _override(self, o: Any) -> str | None:
        for route in (o.template, *o.routes):
            for key in ((o.method, route), ("*", route)):
                if key in self.overrides:
                    self.used_overrides.add(key)
                    return self.overrides[key]
        return None

    def _decide(self, o: Any, shop: bool, explicit: frozenset[str],
                body: tuple[tuple[str, ...], tuple[str, ...]], money: bool, user_auth: bool | None) -> Decision:
        op = o.operation
        ext = op.get("x-sleuth-role", o.item.get("x-sleuth-role"))
        tags = op.get("tags") if isinstance(op.get("tags"), list) else ()
        summary = op.get("summary") if isinstance(op.get("summary"), str) else None
        return decide_operation(o.method, o.template, operation_id=o.operation_id, tags=tags, summary=summary,
                                extension=ext, override=self._override(o), shop=shop,
                                explicit_elsewhere=explicit, fields=body[0], grants=body[1], money=money,
                                user_auth=user_auth)

    @property
    def mapping(self) -> Mapping[tuple[str, str], tuple[str | None, str | None]]:
        """``(METHOD, route) -> (role, operationId)``: what a hot path holds and calls ``.get`` on."""
        return self._table

    def lookup(self, method: str, route: str) -> tuple[str | None, str | None] | None:
        """``(role, operationId)`` of a routed request, or None when the route is not documented."""
        return self._table.get((method, route))

    def role(self, method: str, route: str) -> str | None:
        """The role of a routed request (None when unknown)."""
        hit = self._table.get((method, route))
        return hit[0] if hit is not None else None

    @property
    def ambiguous(self) -> list[OperationRole]:
        return [r for r in self.rows if r.decision.ambiguous]

    def unused_overrides(self) -> list[tuple[str, str]]:
        """Override keys that matched no documented operation."""
        return [k for k in self.overrides if k not in self.used_overrides]


class PathRoles:
    """Roles of route templates seen in traffic, without a spec (``decide_path``).

    Decisions are cached per (method, template) in an LRU of ``cache_size``
    entries (same bound as the heuristic templater's); ``overrides`` (as in
    ``RoleTable``) win.  Templates longer than 1,024 characters are decided
    without caching.
    """

    def __init__(self, overrides: Mapping[tuple[str, str], str] | None = None, cache_size: int = 65536) -> None:
        self.overrides = dict(overrides or {})
        self.cache_size = cache_size
        self._cached = lru_cache(maxsize=cache_size)(self._decide)

    def _decide(self, method: str, template: str) -> Decision:
        for key in ((method, template), ("*", template)):
            if key in self.overrides:
                ov = self.overrides[key]
                return Decision(None if ov == "none" else ov, "override", ("profile override",), (), STRONG + 1)
        return decide_path(method, template)

    def decide(self, method: str, template: str) -> Decision:
        """The decision for one (method, template)."""
        if type(method) is not str or type(template) is not str:
            return Decision(None, "none", ("not a method and path",))
        if len(template) > 1024:
            return self._decide(method, template)
        return self._cached(method, template)

    def role(self, method: str, template: str) -> str | None:
        return self.decide(method, template).role
