"""Supplier errors and the envelopes that carry them.

The documents list the GamesDrop error codes but not how they travel. The contract
(``docs/supplier-contract.md``) fixes the sandbox's default::

    HTTP <status>
    {"statusCode": <status>, "code": "<CODE>", "message": "<human text>"}

with the statuses in ``STATUS`` below. Clients must recognise a code wherever it appears, so the
setting ``error_envelope`` switches the shape to carry the code in ``error``, ``errorCode``,
``status`` or only as a word inside ``message``; ``error_http_status`` can force one HTTP status
(e.g. 200) for every error to prove a client does not rely on the status either.
"""

from __future__ import annotations

STATUS = {
    "INVALID_TOKEN": 401,
    "OFFER_NOT_FOUND": 404,
    "ORDER_NOT_FOUND": 404,
    "TRANSACTION_DUPLICATE": 409,
    "ORDER_ALREADY_CANCELED": 409,
    "ORDER_ALREADY_REFUNDED": 409,
    "ORDER_NOT_PROCESSING": 409,
    "ORDER_NOT_COMPLETED": 409,
    "WRONG_PRICE": 400,
    "INVALID_REQUEST_BODY": 400,
    "INSUFFICIENT_BALANCE": 402,
    "OUT_OF_STOCK": 409,
    "SERVICE_UNAVAILABLE": 503,
    "BALANCE_UNAVAILABLE": 503,
}

MESSAGES = {
    "INVALID_TOKEN": "Invalid authorization token",
    "OFFER_NOT_FOUND": "Product not found or no access",
    "ORDER_NOT_FOUND": "Order not found",
    "TRANSACTION_DUPLICATE": "Duplicate transaction",
    "ORDER_ALREADY_CANCELED": "Order is already canceled",
    "ORDER_ALREADY_REFUNDED": "Order is already refunded",
    "ORDER_NOT_PROCESSING": "Order is not yet processing",
    "ORDER_NOT_COMPLETED": "Order is not yet completed",
    "WRONG_PRICE": "Incorrect product price",
    "INVALID_REQUEST_BODY": "Invalid request format",
    "INSUFFICIENT_BALANCE": "Insufficient account balance",
    "OUT_OF_STOCK": "Product is out of stock",
    "SERVICE_UNAVAILABLE": "Service temporarily unavailable",
    "BALANCE_UNAVAILABLE": "Balance temporarily unavailable",
}

ENVELOPES = ("standard", "error", "errorCode", "status", "message")


class SupplierError(Exception):
    """A documented supplier error: raised by handlers, rendered by ``envelope``."""

    def __init__(self, code: str, detail: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.detail = detail or MESSAGES.get(code, code)
        self.status = status or STATUS.get(code, 400)
        super().__init__(f"{code}: {self.detail}")


def invalid(detail: str) -> SupplierError:
    """Shorthand for the most common refusal."""
    return SupplierError("INVALID_REQUEST_BODY", detail)


def envelope(error: SupplierError, style: str = "standard", forced_status=None) -> tuple[int, dict]:
    """``(http_status, body)`` for ``error`` in the configured envelope style."""
    status = int(forced_status) if forced_status else error.status
    if style == "error":
        body = {"statusCode": status, "error": error.code, "message": error.detail}
    elif style == "errorCode":
        body = {"errorCode": error.code, "message": error.detail}
    elif style == "status":
        body = {"status": error.code, "message": error.detail}
    elif style == "message":
        body = {"statusCode": status, "message": f"{error.code}: {error.detail}"}
    else:
        body = {"statusCode": status, "code": error.code, "message": error.detail}
    return status, body
