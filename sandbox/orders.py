"""Orders: placing them, their life cycle, and settling them (refunds exactly once).

Life cycle, all decided when the order is placed and evaluated lazily whenever it is read (no
background threads): every order stores ``submitted_until``, ``final_at`` and its ``outcome``.

* Key products (and the test offer 999) are final at once: COMPLETED with their keys. A CodeGames
  account's key orders stay PROCESSING for ``codegames_key_delay_seconds`` first.
* Top-ups are SUBMITTED for the first third of ``topup_delay_seconds``, PROCESSING until the
  delay has passed, then final. ``cancel_share`` / ``fail_share`` of them end CANCELED / FAILED
  (drawn from a RNG seeded by the sandbox seed and the order id).
* Telegram Stars are delivered at once: COMPLETED with ``fulfillmentData`` when the numeric
  ``gameUserId`` is a known Telegram user, otherwise CANCELED "Failed to deliver Stars: user not
  found".
* ``partial_share`` of multi-unit key orders complete with fewer keys than ``count``; the
  undelivered units are refunded (a REFUND row, "Partial refund - ...").

Money: placing an order debits ``count * unit cost`` USD at once (one PURCHASE row). An order that
ends CANCELED or FAILED is refunded in full by one REFUND row the moment it is final. "The moment"
is the first request of that account after ``final_at``: ``settle_due`` runs at the start of
every request of an account, inside the state lock, and flips ``settled`` 0 → 1 in the same
transaction as the refund, so a refund is applied exactly once however many readers race.
"""

from __future__ import annotations

import json
import random
import sqlite3
import string
from decimal import Decimal
from typing import Any

from sandbox.catalog import Offer
from sandbox.errors import SupplierError
from sandbox.money import cents_to_decimal, unit_cost_cents
from sandbox.state import FIRST_ORDER_ID, Account

FINAL = frozenset({"COMPLETED", "CANCELED", "FAILED"})

CANCEL_MESSAGES = (
    "Top-up rejected by provider: player account not found",
    "Top-up rejected by provider: region restriction",
    "Order canceled by provider",
)
FAIL_MESSAGES = (
    "Internal provider error, funds returned",
    "Provider timeout, funds returned",
)
STARS_NOT_FOUND = "Failed to deliver Stars: user not found"


def status_at(order: sqlite3.Row, now: float) -> str:
    """The status an order has at ``now`` (GamesDrop vocabulary)."""
    if order["settled"] or now >= order["final_at"]:
        return order["outcome"]
    if now < order["submitted_until"]:
        return "SUBMITTED"
    return "PROCESSING"


def keys_of(order: sqlite3.Row) -> list[str]:
    return json.loads(order["keys"]) if order["keys"] else []


def fulfillment_of(order: sqlite3.Row) -> dict[str, Any] | None:
    return json.loads(order["fulfillment"]) if order["fulfillment"] else None


def _key(rng: random.Random, product_name: str) -> str:
    """A fresh activation code shaped like the platform's."""
    upper = string.ascii_uppercase + string.digits
    if product_name.startswith("Steam"):
        return "-".join("".join(rng.choices(upper, k=5)) for _ in range(3))
    if product_name.startswith(("PlayStation", "Xbox", "Nintendo")):
        return "-".join("".join(rng.choices(upper, k=4)) for _ in range(3))
    if product_name.startswith(("Google Play", "App Store", "Spotify", "Valorant", "Roblox")):
        return "".join(rng.choices(upper, k=16))
    return "".join(rng.choices(string.digits, k=12))


# -- settlement -----------------------------------------------------------------------------


def settle_due(state, account_id: int, now: float) -> None:
    """Finalise (and refund) every order of the account whose ``final_at`` has passed."""
    with state.read() as db:
        due = db.execute(
            "SELECT 1 FROM orders WHERE account_id = ? AND settled = 0 AND final_at <= ? LIMIT 1",
            (account_id, now),
        ).fetchone()
    if due:
        with state.tx() as db:
            _settle(state, db, account_id, now)


def _settle(state, db: sqlite3.Connection, account_id: int, now: float) -> None:
    rows = db.execute(
        "SELECT * FROM orders WHERE account_id = ? AND settled = 0 AND final_at <= ? "
        "ORDER BY final_at, id",
        (account_id, now),
    ).fetchall()
    for order in rows:
        flipped = db.execute(
            "UPDATE orders SET settled = 1, status = outcome WHERE id = ? AND settled = 0",
            (order["id"],),
        ).rowcount
        if flipped and order["refund_cents"]:
            what = f"{order['product_name']} {order['offer_name']}"
            label = "Partial refund" if order["outcome"] == "COMPLETED" else "Refund"
            state.post_ledger(
                db,
                account_id,
                order["refund_cents"],
                "REFUND",
                f"{label} - {what}",
                order["final_at"],
                order["id"],
            )


def draft_cents(state, account_id: int, now: float) -> int:
    """USD cents of the account's orders still SUBMITTED or PROCESSING at ``now``."""
    with state.read() as db:
        row = db.execute(
            "SELECT COALESCE(SUM(cost_cents), 0) AS total FROM orders "
            "WHERE account_id = ? AND settled = 0 AND final_at > ?",
            (account_id, now),
        ).fetchone()
    return row["total"]


# -- placing an order -----------------------------------------------------------------------


def find(state, account_id: int, order_id=None, transaction_id=None) -> sqlite3.Row | None:
    with state.read() as db:
        if order_id is not None:
            return db.execute(
                "SELECT * FROM orders WHERE account_id = ? AND id = ?", (account_id, order_id)
            ).fetchone()
        return db.execute(
            "SELECT * FROM orders WHERE account_id = ? AND transaction_id = ?",
            (account_id, transaction_id),
        ).fetchone()


def place(
    app,
    account: Account,
    offer_id: int,
    price: Decimal,
    transaction_id: str,
    customer: dict[str, str],
    settings: dict[str, Any],
    now: float,
) -> sqlite3.Row:
    """Check and place one order, in one transaction; raises ``SupplierError`` on refusal.

    The checks run in this order: duplicate transactionId, offer visible, required player
    fields, stock, price, balance. The duplicate check comes first so that a retried
    create-order always learns that its first attempt landed.
    """
    state = app.state
    with state.tx() as db:
        _settle(state, db, account.id, now)
        account = state.load_account(db, account.id)
        duplicate = db.execute(
            "SELECT id FROM orders WHERE account_id = ? AND transaction_id = ?",
            (account.id, transaction_id),
        ).fetchone()
        if duplicate:
            raise SupplierError(
                "TRANSACTION_DUPLICATE", f"Transaction {transaction_id} already exists"
            )
        offer = app.catalog.visible(offer_id, account.balance_profile)
        if offer is None:
            raise SupplierError("OFFER_NOT_FOUND")
        game_user_id = customer.get("gameUserId") or None
        game_server_id = customer.get("gameServerId") or None
        if offer.req_user and not game_user_id:
            raise SupplierError("INVALID_REQUEST_BODY", "customer.gameUserId is required")
        if offer.req_server:
            if not game_server_id:
                raise SupplierError("INVALID_REQUEST_BODY", "gameServerId is required")
            if offer.servers and game_server_id not in offer.servers.values():
                raise SupplierError("INVALID_REQUEST_BODY", "gameServerId is not a known server")
        if offer.kind == "stars" and not (game_user_id and game_user_id.isdigit()):
            raise SupplierError(
                "INVALID_REQUEST_BODY", "gameUserId must be a numeric Telegram user id"
            )
        terms = app.catalog.terms_for(account.id, offer.id)
        if not app.catalog.in_stock(offer, terms):
            raise SupplierError("OUT_OF_STOCK")
        current = app.catalog.price(offer, settings, now, terms)
        if price != current:
            raise SupplierError("WRONG_PRICE", f"Price changed: current price is {current}")
        unit = (
            0 if offer.kind == "test" else unit_cost_cents(current, offer.currency, settings["fx"])
        )
        cost = unit * offer.count
        if not account.postpaid and account.balance_cents < cost:
            raise SupplierError(
                "INSUFFICIENT_BALANCE",
                f"Insufficient balance: {cents_to_decimal(account.balance_cents)} USD available, "
                f"{cents_to_decimal(cost)} USD required",
            )
        row = db.execute("SELECT MAX(id) AS top FROM orders").fetchone()
        order_id = max(row["top"] or 0, FIRST_ORDER_ID - 1) + 1
        plan = _plan(app, account, offer, order_id, game_user_id, unit, cost, settings, now)
        db.execute(
            "INSERT INTO orders(id, account_id, transaction_id, offer_id, kind, product_name, "
            "offer_name, count, price, currency, unit_cost_cents, cost_cents, is_key, req_user, "
            "req_server, game_user_id, game_server_id, email, created_at, submitted_until, "
            "final_at, outcome, message, keys, key_in_create, fulfillment, refund_cents, "
            "settled, status, is_test) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?)",
            (
                order_id,
                account.id,
                transaction_id,
                offer.id,
                offer.kind,
                offer.product_name,
                offer.offer_name,
                offer.count,
                format(current, "f"),
                offer.currency,
                unit,
                cost,
                int(offer.is_key),
                int(offer.req_user),
                int(offer.req_server),
                game_user_id,
                game_server_id,
                customer.get("email"),
                now,
                plan["submitted_until"],
                plan["final_at"],
                plan["outcome"],
                plan["message"],
                json.dumps(plan["keys"]) if plan["keys"] else None,
                int(plan["key_in_create"]),
                json.dumps(plan["fulfillment"]) if plan["fulfillment"] else None,
                plan["refund"],
                plan["initial_status"],
                int(offer.kind == "test"),
            ),
        )
        if cost:
            state.post_ledger(
                db,
                account.id,
                -cost,
                "PURCHASE",
                f"API Purchase - {offer.product_name} {offer.offer_name}",
                now,
                order_id,
            )
        if plan["final_at"] <= now:
            _settle(state, db, account.id, now)
        return db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()


def _plan(
    app,
    account: Account,
    offer: Offer,
    order_id: int,
    game_user_id: str | None,
    unit: int,
    cost: int,
    settings: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    """Decide the order's whole future from a RNG seeded by (sandbox seed, order id)."""
    rng = random.Random(f"sandbox-order:{app.seed}:{order_id}")
    plan: dict[str, Any] = {
        "submitted_until": now,
        "final_at": now,
        "outcome": "COMPLETED",
        "message": None,
        "keys": None,
        "key_in_create": True,
        "fulfillment": None,
        "refund": 0,
        "initial_status": "COMPLETED",
    }
    codegames = account.kind == "codegames"
    if offer.kind == "test":
        plan["keys"] = [
            "TEST-"
            + "-".join(
                "".join(rng.choices(string.ascii_uppercase + string.digits, k=4)) for _ in range(3)
            )
        ]
    elif offer.kind == "key":
        delivered = offer.count
        if offer.count > 1 and rng.random() < float(settings["partial_share"]):
            delivered = rng.randint(1, offer.count - 1)
            plan["refund"] = (offer.count - delivered) * unit
        plan["keys"] = [_key(rng, offer.product_name) for _ in range(delivered)]
        if codegames:
            delay = float(settings["codegames_key_delay_seconds"])
            plan["final_at"] = plan["submitted_until"] = now + delay
            plan["key_in_create"] = rng.random() >= float(settings["codegames_keyless_share"])
    elif offer.kind == "topup":
        delay = float(settings["topup_delay_seconds"])
        plan["submitted_until"] = now + delay / 3
        plan["final_at"] = now + delay
        draw = rng.random()
        cancel = float(settings["cancel_share"])
        if draw < cancel:
            plan["outcome"], plan["message"] = "CANCELED", rng.choice(CANCEL_MESSAGES)
            plan["refund"] = cost
        elif draw < cancel + float(settings["fail_share"]):
            plan["outcome"], plan["message"] = "FAILED", rng.choice(FAIL_MESSAGES)
            plan["refund"] = cost
        if codegames:
            plan["keys"] = ["".join(rng.choices(string.digits, k=12))]
    elif offer.kind == "stars":
        user_id = int(game_user_id or 0)
        stars = offer.stars * offer.count
        if app.telegram.user_by_id(user_id) is not None:
            plan["fulfillment"] = {
                "telegram_user_id": user_id,
                "stars_amount": stars,
                "transaction_id": "tg_tx_"
                + "".join(rng.choices(string.ascii_lowercase + string.digits, k=12)),
                "delivery_status": "completed",
            }
        else:
            plan["outcome"], plan["message"] = "CANCELED", STARS_NOT_FOUND
            plan["refund"] = cost
            plan["fulfillment"] = {
                "telegram_user_id": user_id,
                "stars_amount": stars,
                "delivery_status": "failed",
                "error_message": "user not found",
            }
    if plan["final_at"] > now:
        plan["initial_status"] = "SUBMITTED" if plan["submitted_until"] > now else "PROCESSING"
    else:
        plan["initial_status"] = plan["outcome"]
    return plan


def describe(order: sqlite3.Row, now: float) -> dict[str, Any]:
    """The admin view of an order (everything, including cost and refund)."""
    return {
        "orderId": order["id"],
        "transactionId": order["transaction_id"],
        "offerId": order["offer_id"],
        "productName": order["product_name"],
        "offerName": order["offer_name"],
        "count": order["count"],
        "price": Decimal(order["price"]),
        "currency": order["currency"],
        "status": status_at(order, now),
        "message": order["message"],
        "cost": cents_to_decimal(order["cost_cents"]),
        "refund": cents_to_decimal(order["refund_cents"]),
        "refunded": bool(order["settled"] and order["refund_cents"]),
        "keys": keys_of(order),
        "gameUserId": order["game_user_id"],
        "gameServerId": order["game_server_id"],
        "email": order["email"],
        "test": bool(order["is_test"]),
        "createdAt": order["created_at"],
        "finalAt": order["final_at"],
    }
