"""What every part of the order services shares: limits, money, transaction ids, moving an order
(and closing its batch when all are final). Sending tasks after commit is `orders.dispatch`."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import overload

from django.utils import timezone

from orders.batches.services import batch_refresh_done
from orders.models import Order
from orders.states import FINAL_STATUSES, order_transition
from suppliers.clients import SupplierError
from suppliers.ratelimit import RateLimitSaturated

TRANSACTION_ID_PREFIX = "rb-"


MAX_QUANTITY = 500


# create-order calls one submit task may make for one order (re-sends after WRONG_PRICE).
MAX_SENDS_PER_TASK = 3


# Beyond this many create-order calls an order whose price keeps moving is rejected.
MAX_SUBMIT_ATTEMPTS = 10


# A second poll of one order within this gap is skipped (a duplicated task), unless forced.
MIN_POLL_GAP = timedelta(seconds=2)


SWEEP_LIMIT = 500


RELEASE_CHUNK = 500


RATE_LIMITED_RETRY = timedelta(seconds=30)


REQUOTE_FAILED_RETRY = timedelta(seconds=60)


DELIVERY_CLAIM = timedelta(minutes=5)


ERROR_TEXT_LIMIT = 1000


@overload
def money(amount: Decimal) -> Decimal: ...


@overload
def money(amount: None) -> None: ...


@overload
def money(amount: Decimal | None) -> Decimal | None: ...


def money(amount: Decimal | None) -> Decimal | None:
    """A stored price (4 decimal places) as the supplier wrote it: 560.1000 → 560.10, but
    0.0125 stays 0.0125. Used for the price confirmed to create-order and in messages."""
    if amount is None:
        return None
    cents = amount.quantize(Decimal("0.01"))
    return cents if cents == amount else amount.normalize()


def new_transaction_id() -> str:
    return TRANSACTION_ID_PREFIX + uuid.uuid4().hex


def new_claim_token() -> str:
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"[:100]


def error_text(error: BaseException) -> str:
    """What staff may read about a failure: supplier errors are safe by construction (no token,
    keys masked); anything else is named by its type only."""
    if isinstance(error, SupplierError):
        text = str(error)
    elif isinstance(error, RateLimitSaturated | ValueError):
        text = f"{type(error).__name__}: {error}"
    else:
        text = f"Internal error ({type(error).__name__})"
    return text[:ERROR_TEXT_LIMIT]


def error_data(error: BaseException) -> dict:
    if isinstance(error, SupplierError):
        return {"error": type(error).__name__, "code": error.code, "http_status": error.http_status}
    return {"error": type(error).__name__}


def order_move(order: Order, to: str, **kwargs) -> Order:
    """`order_transition`, plus what follows a move: a batch whose orders are all final is DONE."""
    order_transition(order, to, **kwargs)
    if order.batch_id and order.status in FINAL_STATUSES:
        batch_refresh_done(order.batch_id, kwargs.get("now") or timezone.now())
    return order


def order_lock(order_id: int) -> Order:
    """Re-read an order that exists, locked (FOR UPDATE) until the caller's transaction ends.
    Orders are never deleted, so a missing one is a bug: it raises `Order.DoesNotExist`."""
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("offer", "account", "batch")
        .get(pk=order_id)
    )
