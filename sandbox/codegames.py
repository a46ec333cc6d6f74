"""The CodeGames dialect: the same paths as GamesDrop, answered in CodeGames's shapes.

An account of kind ``codegames`` gets:

* find-one without settlement fields: ``offerId, productName, offerName, price, currency,
  isReturnDataForCustomer`` (``count`` only when above 1), plus ``required: ["gameUserId"]``
  (and ``"gameServerId"``) for top-ups.
* create-order: ``orderId, count, price, currency, offerId, productName, offerName, status,
  isReturnDataForCustomer`` and ``key`` (``keys`` too for count > 1) when a key order is
  COMPLETED. Key orders may be PROCESSING first (``codegames_key_delay_seconds``) and a share
  (``codegames_keyless_share``) is COMPLETED without the key, which then comes from
  ``POST /api/v1/offers/keys``. A COMPLETED top-up carries a ``key`` too, exactly as the
  document's "response without gift card" example does: clients must ignore it.
* order-status: by ``orderId`` only (a ``transactionId`` alone is INVALID_REQUEST_BODY, as is
  the same for ``/offers/keys``); answers ``{"orderId", "status", "isReturnDataForCustomer"}``
  (+ ``message`` when canceled).
* No other endpoint: balance, transactions, sync, servers, check-game-data and user-info answer
  404 to a CodeGames account (the document has none of them).
* A repeated ``transactionId`` is answered TRANSACTION_DUPLICATE as for GamesDrop, but the
  document promises no such protection, so the back-office never relies on it (it never sends
  a create-order again after a lost answer).
* Statuses in CodeGames's vocabulary: PROCESSING (GamesDrop's SUBMITTED is folded into it),
  COMPLETED, CANCELED, and REFUND for what GamesDrop calls FAILED.

``POST /api/v1/offers/keys`` (served to both kinds of account): ``{"key"}`` (+ ``keys``) for a
completed key order; ORDER_NOT_COMPLETED while processing; ORDER_ALREADY_CANCELED /
ORDER_ALREADY_REFUNDED for a canceled / failed one; INVALID_REQUEST_BODY for a top-up.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from sandbox.catalog import Offer
from sandbox.errors import SupplierError
from sandbox.orders import fulfillment_of, keys_of, status_at

STATUS = {"SUBMITTED": "PROCESSING", "FAILED": "REFUND"}

#: The only endpoints the CodeGames document has; any other path answers 404 to its accounts
#: (no balance, ledger, sync, servers, player check or Telegram look-up).
ENDPOINTS = frozenset({"find-one", "create-order", "order-status", "keys"})


def status(order: sqlite3.Row, now: float) -> str:
    current = status_at(order, now)
    return STATUS.get(current, current)


def find_one(offer: Offer, price: Decimal) -> dict[str, Any]:
    body: dict[str, Any] = {
        "offerId": offer.id,
        "productName": offer.product_name,
        "offerName": offer.offer_name,
        "price": price,
        "currency": offer.currency,
        "isReturnDataForCustomer": offer.is_key,
    }
    if offer.count > 1:
        body["count"] = offer.count
    required = []
    if offer.req_user:
        required.append("gameUserId")
    if offer.req_server:
        required.append("gameServerId")
    if required and not offer.is_key:
        body["required"] = required
    return body


def created(order: sqlite3.Row, now: float) -> dict[str, Any]:
    current = status(order, now)
    body: dict[str, Any] = {
        "orderId": order["id"],
        "count": order["count"],
        "price": Decimal(order["price"]),
        "currency": order["currency"],
        "offerId": order["offer_id"],
        "productName": order["product_name"],
        "offerName": order["offer_name"],
        "status": current,
    }
    keys = keys_of(order)
    if current == "COMPLETED" and keys and (order["key_in_create"] or not order["is_key"]):
        body["key"] = keys[0]
        if order["is_key"] and order["count"] > 1:
            body["keys"] = keys
    if current in ("CANCELED", "REFUND") and order["message"]:
        body["message"] = order["message"]
    fulfillment = fulfillment_of(order)
    if fulfillment:
        body["fulfillmentData"] = fulfillment
    body["isReturnDataForCustomer"] = bool(order["is_key"])
    return body


def order_status(order: sqlite3.Row, now: float) -> dict[str, Any]:
    current = status(order, now)
    body: dict[str, Any] = {
        "orderId": order["id"],
        "status": current,
        "isReturnDataForCustomer": bool(order["is_key"]),
    }
    if current in ("CANCELED", "REFUND") and order["message"]:
        body["message"] = order["message"]
    return body


def keys(order: sqlite3.Row, now: float) -> dict[str, Any]:
    if not order["is_key"] or order["kind"] == "stars":
        raise SupplierError(
            "INVALID_REQUEST_BODY", "This order returns no keys (isReturnDataForCustomer is false)"
        )
    current = status_at(order, now)
    if current in ("SUBMITTED", "PROCESSING"):
        raise SupplierError("ORDER_NOT_COMPLETED")
    if current == "CANCELED":
        raise SupplierError("ORDER_ALREADY_CANCELED")
    if current == "FAILED":
        raise SupplierError("ORDER_ALREADY_REFUNDED")
    found = keys_of(order)
    body: dict[str, Any] = {"key": found[0]}
    if order["count"] > 1:
        body["keys"] = found
    return body
