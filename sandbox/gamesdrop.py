"""The GamesDrop Partner API endpoints (and the dispatch to the CodeGames dialect).

Authentication: the shop token is the whole ``Authorization`` header, no scheme (a
``Bearer``-prefixed shop token is refused with INVALID_TOKEN). The ledger
(``GET /api/v1/balance/transactions``) and the web balance (``GET /api/v1/balance``) take the
separate management credential, as ``Bearer <credential>`` or bare; the shop token is refused
there.

Every request of an account first settles that account's orders whose time has come (see
``sandbox.orders``), so balances, the ledger and order statuses always agree.

Decisions where the document is silent (also in ``sandbox/README.md``):

* ``offerId`` must be a JSON integer; ``price`` a JSON number; ``transactionId`` a non-empty
  string of at most 255 characters; ``customer.*`` strings. Anything else: INVALID_REQUEST_BODY.
* ``gameServerId`` is read from ``customer.gameServerId`` or from the top level, and must be one
  of the offer's server ids.
* sync: ``limit`` 1..5000 (default 1000), ``page`` >= 1 (default 1); out-of-range values are
  INVALID_REQUEST_BODY; an unknown ``category`` matches nothing (``count`` 0).
* transactions: ``limit`` 1..1000 (default 20), newest first.
* servers: ``{}`` for an offer without a server list; OFFER_NOT_FOUND for an unknown offer.
* check-game-data: VALID with a deterministic ``gameUserLogin`` for an all-digit id of 5 to 12
  digits (and, when the offer needs one, a known ``gameServerId``); Telegram Stars offers are
  VALID only for known Telegram users; offer 999 is always VALID.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from sandbox import codegames, orders, wire
from sandbox.catalog import TEST_OFFER_ID, normalise_category
from sandbox.errors import SupplierError, envelope, invalid
from sandbox.money import cents_to_decimal
from sandbox.state import Account
from sandbox.telegram import user_info

LOGIN_WORDS = (
    "Shadow",
    "Nova",
    "Blaze",
    "Viper",
    "Ghost",
    "Raven",
    "Titan",
    "Storm",
    "Frost",
    "Ember",
    "Lynx",
    "Onyx",
)


# -- authentication and parsing ---------------------------------------------------------


def _shop_account(app, auth: str | None) -> Account:
    account = app.state.account_by_token(auth.strip()) if auth and auth.strip() else None
    if account is None:
        raise SupplierError("INVALID_TOKEN")
    return account


def _management_account(app, auth: str | None) -> Account:
    credential = (auth or "").strip()
    if credential[:7].lower() == "bearer ":
        credential = credential[7:].strip()
    account = app.state.account_by_management(credential) if credential else None
    if account is None:
        raise SupplierError("INVALID_TOKEN")
    return account


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = wire.decode(raw)
    except ValueError as exc:
        raise invalid("Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


def _int_field(body: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"{name} must be a number")
    return value


def _str_field(
    body: dict[str, Any], name: str, required: bool = True, max_length: int = 255
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, str) or len(value) > max_length or (required and not value):
        raise invalid(f"{name} must be a non-empty string")
    return value


def _query_int(
    query: dict[str, list[str]], name: str, default: int, low: int, high: int | None
) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError as exc:
        raise invalid(f"{name} must be a number") from exc
    if value < low or (high is not None and value > high):
        raise invalid(f"{name} must be between {low} and {high}")
    return value


def _offer(app, account: Account, body: dict[str, Any]):
    offer_id = _int_field(body, "offerId")
    offer = app.catalog.visible(offer_id, account.balance_profile)
    if offer is None:
        raise SupplierError("OFFER_NOT_FOUND")
    return offer


# -- endpoints ----------------------------------------------------------------------------


def balance(app, account, body, query, settings, now):
    account = app.state.account_by_token(account.token)
    return 200, {
        "balance": cents_to_decimal(account.balance_cents),
        "draftBalance": cents_to_decimal(orders.draft_cents(app.state, account.id, now)),
        "isPostpaid": account.postpaid,
        "balanceProfile": account.balance_profile,
        "currency": {"id": 3, "code": "USD"},
        "partnerId": account.partner_id,
    }


def transactions(app, account, body, query, settings, now):
    page = _query_int(query, "page", 1, 1, None)
    limit = _query_int(query, "limit", 20, 1, 1000)
    with app.state.read() as db:
        total = db.execute(
            "SELECT COUNT(*) AS n FROM ledger WHERE account_id = ?", (account.id,)
        ).fetchone()["n"]
        rows = db.execute(
            "SELECT * FROM ledger WHERE account_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (account.id, limit, (page - 1) * limit),
        ).fetchall()
    return 200, {
        "transactions": [
            {
                "id": row["id"],
                "amount": cents_to_decimal(row["amount_cents"]),
                "type": row["type"],
                "description": row["description"],
                "balanceAfter": cents_to_decimal(row["balance_after_cents"]),
                "createdAt": wire.iso_time(row["created_at"]),
            }
            for row in rows
        ],
        "total": total,
    }


def find_one(app, account, body, query, settings, now):
    offer = _offer(app, account, body)
    price = app.catalog.price(offer, settings, now, app.catalog.terms_for(account.id, offer.id))
    if account.kind == "codegames":
        return 200, codegames.find_one(offer, price)
    return 200, {
        "offerId": offer.id,
        "productName": offer.product_name,
        "offerName": offer.offer_name,
        "count": offer.count,
        "price": price,
        "currency": offer.currency,
        "settlementMethod": offer.settlement,
        "balanceProfile": account.balance_profile,
        "isSettlementCompatible": True,
        "isReturnDataForCustomer": offer.is_key,
    }


def sync(app, account, body, query, settings, now):
    limit = body.get("limit", 1000)
    page = body.get("page", 1)
    for name, value, high in (("limit", limit, 5000), ("page", page, None)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(f"{name} must be a number")
        if value < 1 or (high is not None and value > high):
            raise invalid(
                f"{name} must be between 1 and {high}" if high else f"{name} must be at least 1"
            )
    search = body.get("search")
    category = body.get("category")
    if search is not None and not isinstance(search, str):
        raise invalid("search must be a string")
    if category is not None and not isinstance(category, str):
        raise invalid("category must be a string")
    wanted = normalise_category(category) if category else None
    payload = app.catalog.sync_page(
        account.balance_profile,
        wanted,
        search.strip() or None if search else None,
        page,
        limit,
        settings,
        now,
        nothing=bool(category) and wanted is None,
        terms=app.catalog.account_terms(account.id),
    )
    return 200, payload


def _customer(body: dict[str, Any]) -> dict[str, str]:
    customer = body.get("customer")
    if customer is None:
        customer = {}
    if not isinstance(customer, dict):
        raise invalid("customer must be an object")
    cleaned: dict[str, str] = {}
    for name in ("email", "gameUserId", "gameServerId"):
        value = customer.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise invalid(f"customer.{name} must be a string")
            cleaned[name] = value.strip()
    top_server = body.get("gameServerId")
    if top_server is not None:
        if not isinstance(top_server, str):
            raise invalid("gameServerId must be a string")
        cleaned.setdefault("gameServerId", top_server.strip())
    return cleaned


def _gamesdrop_order(order, now: float, created: bool = False) -> dict[str, Any]:
    status = orders.status_at(order, now)
    fulfillment = orders.fulfillment_of(order)
    stars = order["kind"] == "stars"
    stamp = wire.iso_time if stars else wire.order_time
    if created and stars and status == "CANCELED":
        return {
            "orderId": order["id"],
            "status": status,
            "message": order["message"],
            "fulfillmentData": fulfillment,
            "createdAt": stamp(order["created_at"]),
        }
    body: dict[str, Any] = {
        "orderId": order["id"],
        "count": order["count"],
        "price": Decimal(order["price"]),
        "currency": order["currency"],
        "offerId": order["offer_id"],
        "productName": order["product_name"],
        "offerName": order["offer_name"],
        "status": status,
    }
    if status in ("CANCELED", "FAILED") and order["message"]:
        body["message"] = order["message"]
    body["isReturnDataForCustomer"] = bool(order["is_key"])
    body["isRequiredGameUserId"] = bool(order["req_user"])
    body["isRequiredGameServerId"] = bool(order["req_server"])
    keys = orders.keys_of(order)
    if status == "COMPLETED" and order["is_key"] and keys:
        body["key"] = keys[0]
        if order["count"] > 1:
            body["keys"] = keys
    if fulfillment:
        body["fulfillmentData"] = fulfillment
    body["createdAt"] = stamp(order["created_at"])
    return body


def create_order(app, account, body, query, settings, now):
    offer_id = _int_field(body, "offerId")
    price = body.get("price")
    if price is None:
        raise invalid("price is required")
    if not isinstance(price, int | Decimal) or isinstance(price, bool) or price < 0:
        raise invalid("price must be a number")
    transaction_id = _str_field(body, "transactionId")
    customer = _customer(body)
    order = orders.place(
        app, account, offer_id, Decimal(price), transaction_id, customer, settings, now
    )
    app.webhooks.order_placed(account.id, order, now)
    if account.kind == "codegames":
        return 200, codegames.created(order, now)
    return 200, _gamesdrop_order(order, now, created=True)


def _find_order(app, account, body):
    if account.kind == "codegames":
        # The CodeGames document looks orders up by orderId only.
        return _found(orders.find(app.state, account.id, _int_field(body, "orderId"), None))
    order_id = _int_field(body, "orderId", required=False)
    transaction_id = _str_field(body, "transactionId", required=False)
    if order_id is None and transaction_id is None:
        raise invalid("orderId or transactionId is required")
    return _found(orders.find(app.state, account.id, order_id, transaction_id))


def _found(order):
    if order is None:
        raise SupplierError("ORDER_NOT_FOUND")
    return order


def order_status(app, account, body, query, settings, now):
    order = _find_order(app, account, body)
    if account.kind == "codegames":
        return 200, codegames.order_status(order, now)
    return 200, _gamesdrop_order(order, now)


def keys(app, account, body, query, settings, now):
    return 200, codegames.keys(_find_order(app, account, body), now)


def servers(app, account, body, query, settings, now):
    offer = _offer(app, account, body)
    return 200, dict(offer.servers or {})


def _login(game_user_id: str) -> str:
    digest = zlib.crc32(game_user_id.encode())
    return f"{LOGIN_WORDS[digest % len(LOGIN_WORDS)]}{digest // 97 % 10000}"


def check_game_data(app, account, body, query, settings, now):
    offer = _offer(app, account, body)
    game_user_id = _str_field(body, "gameUserId")
    game_server_id = _str_field(body, "gameServerId", required=False)
    if offer.id == TEST_OFFER_ID:
        return 200, {"status": "VALID", "gameUserLogin": "TestPlayer"}
    if offer.kind == "stars":
        known = app.telegram.user_by_id(int(game_user_id)) if game_user_id.isdigit() else None
        if known is None:
            return 200, {"status": "INVALID"}
        return 200, {"status": "VALID", "gameUserLogin": known[2]}
    plausible = game_user_id.isdigit() and 5 <= len(game_user_id) <= 12
    if offer.req_server and offer.servers:
        plausible = plausible and game_server_id in offer.servers.values()
    if not plausible:
        return 200, {"status": "INVALID"}
    return 200, {"status": "VALID", "gameUserLogin": _login(game_user_id)}


def telegram_user_info(app, account, body, query, settings, now):
    return 200, user_info(app, body)


#: endpoint name → (handler, credential kind)
ENDPOINTS = {
    "balance": (balance, "shop"),
    "balance-web": (balance, "management"),
    "transactions": (transactions, "management"),
    "find-one": (find_one, "shop"),
    "sync": (sync, "shop"),
    "create-order": (create_order, "shop"),
    "order-status": (order_status, "shop"),
    "keys": (keys, "shop"),
    "servers": (servers, "shop"),
    "check-game-data": (check_game_data, "shop"),
    "user-info": (telegram_user_info, "shop"),
}


def handle(
    app, name: str, auth: str | None, raw: bytes, query_string: str, now: float
) -> tuple[int, Any]:
    """Run one partner-API request; returns ``(status, payload)`` (payload may be bytes)."""
    settings = app.state.settings()
    handler, credential = ENDPOINTS[name]
    try:
        if credential == "management":
            account = _management_account(app, auth)
        else:
            account = _shop_account(app, auth)
        if account.kind == "codegames" and name not in codegames.ENDPOINTS:
            return 404, {"statusCode": 404, "message": "Not Found", "error": "Not Found"}
        orders.settle_due(app.state, account.id, now)
        app.catalog.refresh()
        body = _body(raw)
        query = parse_qs(query_string)
        return handler(app, account, body, query, settings, now)
    except SupplierError as error:
        return envelope(error, settings["error_envelope"], settings["error_http_status"])


def error_reply(app, code: str, status: int | None = None) -> tuple[int, dict[str, Any]]:
    """A documented error in the configured envelope (used by ``error_code`` faults)."""
    settings = app.state.settings()
    return envelope(
        SupplierError(code, status=status),
        settings["error_envelope"],
        settings["error_http_status"],
    )
