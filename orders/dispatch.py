"""Handing work to the workers: tasks sent once the current transaction commits, each to its
queue (`reseller.core.queues`), and a batch's orders a few to a task. A broker that cannot be
reached is logged, never raised: the rows are the work list, and the sweep finds what was not sent.
"""

from __future__ import annotations

import itertools
import logging

from django.db import transaction

from reseller.core.queues import queue_for_order

logger = logging.getLogger(__name__)

# A batch's orders are handed to the workers this many to a task: a 50,000-row file is 5,000
# broker messages, not 50,000, and one task still sends each order on its own claim.
BATCH_SUBMIT_CHUNK = 10


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
            # Celery takes countdown=None (no delay); celery-types' stub asks for a float.
            tasks.submit_batch_orders.apply_async((chunk,), countdown=countdown)  # type: ignore[arg-type]
        except Exception:
            logger.warning(
                "could not enqueue a batch's orders after %d sent; the sweep will pick up the rest",
                sent,
                exc_info=True,
            )
            break
        sent += len(chunk)
    return sent
