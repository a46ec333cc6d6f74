"""What every part of the order services shares: limits, money, transaction ids, sending tasks
after commit, moving an order (and closing its batch when all are final)."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from orders.models import Batch, Order, OrderStatus
from orders.states import FINAL_STATUSES, OPEN_STATUSES, order_transition
from reseller.core.queues import queue_for_order
from suppliers.clients import SupplierError
from suppliers.ratelimit import RateLimitSaturated

logger = logging.getLogger(__name__)


S = OrderStatus


TRANSACTION_ID_PREFIX = "rb-"


MAX_QUANTITY = 500


# create-order calls one submit task may make for one order (re-sends after WRONG_PRICE).
MAX_SENDS_PER_TASK = 3


# Beyond this many create-order calls an order whose price keeps moving is rejected.
MAX_SUBMIT_ATTEMPTS = 10


# A second poll of one order within this gap is skipped (a duplicated task), unless forced.
MIN_POLL_GAP = timedelta(seconds=2)


SWEEP_LIMIT = 500


# A batch's orders are handed to the workers this many to a task: a 50,000-row file is 5,000
# broker messages, not 50,000, and one task still sends each order on its own claim.
BATCH_SUBMIT_CHUNK = 10


RELEASE_CHUNK = 500


RATE_LIMITED_RETRY = timedelta(seconds=30)


REQUOTE_FAILED_RETRY = timedelta(seconds=60)


DELIVERY_CLAIM = timedelta(minutes=5)


ERROR_TEXT_LIMIT = 1000


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


def enqueue_after_commit(
    task_name: str, ids, *, queue: str | None = None, countdown: float | None = None
) -> None:
    """Send one task per id once the current transaction commits (to `queue`, or the task's own
    queue by `reseller.core.queues.ROUTES`)."""
    ids = list(ids)
    if ids:
        transaction.on_commit(lambda: send_tasks(task_name, ids, queue=queue, countdown=countdown))


def enqueue_submit_after_commit(orders, *, countdown: float | None = None) -> None:
    """Once the transaction commits, hand `orders` (QUEUED) to the workers: a manual order's
    submit task to the people's queue, a batch's orders in chunks to the batches' queue."""
    manual = [order.pk for order in orders if not order.batch_id]
    in_batches = [order.pk for order in orders if order.batch_id]
    enqueue_after_commit("submit_order", manual, countdown=countdown)
    if in_batches:
        transaction.on_commit(lambda: send_batch_orders(in_batches, countdown=countdown))


def enqueue_poll_after_commit(orders, *, countdown: float | None = None) -> None:
    """Once the transaction commits, one poll task per order, to the order's queue."""
    by_queue: dict[str, list[int]] = {}
    for order in orders:
        by_queue.setdefault(queue_for_order(order.batch_id), []).append(order.pk)
    for queue, ids in by_queue.items():
        enqueue_after_commit("poll_order", ids, queue=queue, countdown=countdown)


def send_tasks(
    task_name: str, ids, *, queue: str | None = None, countdown: float | None = None
) -> int:
    """Send one task per id now; returns how many were sent. A broker failure is logged, not
    raised: the rows are the work list and the sweep will find them."""
    from orders import tasks

    task = getattr(tasks, task_name)
    options = {"queue": queue} if queue else {}
    sent = 0
    for pk in ids:
        try:
            task.apply_async((pk,), countdown=countdown, **options)
        except Exception:
            logger.warning(
                "could not enqueue %s after %d sent; the sweep will pick up the rest",
                task_name,
                sent,
                exc_info=True,
            )
            break
        sent += 1
    return sent


def send_batch_orders(ids, *, countdown: float | None = None) -> int:
    """Send the submit tasks of a batch's orders, `BATCH_SUBMIT_CHUNK` orders to a task (fewer
    broker messages; each order is still claimed and sent on its own). Returns how many orders
    were handed over. A broker failure stops here: the sweep finds the rest."""
    from orders import tasks

    sent = 0
    ids = iter(ids)
    while chunk := list(itertools.islice(ids, BATCH_SUBMIT_CHUNK)):
        try:
            tasks.submit_batch_orders.apply_async((chunk,), countdown=countdown)
        except Exception:
            logger.warning(
                "could not enqueue a batch's orders after %d sent; the sweep will pick up the rest",
                sent,
                exc_info=True,
            )
            break
        sent += len(chunk)
    return sent


def order_move(order: Order, to: str, **kwargs) -> Order:
    """`order_transition`, plus what follows a move: a batch whose orders are all final is DONE."""
    order_transition(order, to, **kwargs)
    if order.batch_id and order.status in FINAL_STATUSES:
        batch_refresh_done(order.batch_id, kwargs.get("now") or timezone.now())
    return order


def order_lock(order_id: int, *, skip_locked: bool = False) -> Order | None:
    return (
        Order.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("offer", "account", "batch")
        .filter(pk=order_id)
        .first()
    )


def batch_reopen(batch_id: int) -> None:
    """A DONE batch that has an open order again (a retry, a late purchase) is RUNNING."""
    Batch.objects.filter(pk=batch_id, status=Batch.Status.DONE).update(
        status=Batch.Status.RUNNING, finished_at=None
    )


def batch_refresh_done(batch_id: int, now: datetime) -> None:
    if not Order.objects.filter(batch_id=batch_id, status__in=list(OPEN_STATUSES)).exists():
        Batch.objects.filter(
            pk=batch_id, status__in=[Batch.Status.CONFIRMED, Batch.Status.RUNNING]
        ).update(status=Batch.Status.DONE, finished_at=now)
