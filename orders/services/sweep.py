"""The beat-driven sweep: rebuilds all pending work from the rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from orders import schedule
from orders.batches.states import batches_transition
from orders.dispatch import (
    enqueue_after_commit,
    enqueue_poll_after_commit,
    enqueue_submit_after_commit,
)
from orders.models import AccountQueue, Batch, Order, OrderStatus
from orders.services.account_queue import release_held_orders
from orders.services.limits import (
    SWEEP_LIMIT,
)
from orders.services.lost_answers import order_flag_lost_answer
from orders.services.moving import (
    order_move,
)
from orders.states import OPEN_STATUSES, POLLED_STATUSES
from suppliers.capabilities import capabilities_of

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    expired_leases: int = 0
    past_limit: int = 0
    released: int = 0
    polls: int = 0
    requeued: int = 0
    account_checks: int = 0
    confirmations: int = 0
    batches_done: int = 0


def orders_sweep(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> SweepReport:
    """The beat-driven sweep: rebuild all pending work from the rows.

    1. SUBMITTING orders whose lease expired → UNKNOWN (the worker died around the call), or
       NEEDS_ATTENTION on a supplier without order-status by transactionId (`lost_answers`);
    2. pending orders nobody polled past the 60-minute limit → NEEDS_ATTENTION;
    3. released ON_HOLD orders of a resumed account → QUEUED;
    4. due SUBMITTED / PROCESSING / UNKNOWN / NEEDS_ATTENTION orders → one poll task each;
    5. QUEUED orders no worker claimed in time (a lost message) → their submit task again;
    6. held accounts due for a balance check → one check task each;
    7. batches left CONFIRMING by a lost task or worker → their confirmation task again;
    8. running batches none of whose orders is open → DONE (a move to a final status closes
       its batch at once, but two last orders finishing at the same moment each still see the
       other open).

    Every order step is one indexed query with a LIMIT (plus one UPDATE, and one move per due
    order), so the cost follows the due orders, not the pending ones; the batch steps look at
    the few unfinished batches only. Rows are claimed with SKIP LOCKED and pushed ahead
    (`next_poll_at`) before their task is sent, so overlapping sweeps do not enqueue an order
    twice.
    """
    now = now or timezone.now()
    report = SweepReport()
    report.expired_leases = _sweep_expired_leases(now, limit)
    report.past_limit = _sweep_past_limit(now, limit)
    report.released = release_held_orders(now=now, limit=limit)
    report.polls = _sweep_enqueue(
        statuses=POLLED_STATUSES,
        enqueue=enqueue_poll_after_commit,
        now=now,
        limit=limit,
        push=schedule.ENQUEUED_GRACE,
    )
    report.requeued = _sweep_enqueue(
        statuses={OrderStatus.QUEUED},
        enqueue=enqueue_submit_after_commit,
        now=now,
        limit=limit,
        push=schedule.queued_rescue_after(),
    )
    report.account_checks = _sweep_held_accounts(now, limit)
    report.confirmations = _sweep_stalled_confirmations(now)
    report.batches_done = _sweep_finished_batches(now)
    if any(
        (
            report.expired_leases,
            report.past_limit,
            report.polls,
            report.requeued,
            report.confirmations,
            report.batches_done,
        )
    ):
        logger.info("orders sweep: %s", report)
    return report


def _sweep_stalled_confirmations(now: datetime) -> int:
    # No lock needed: two overlapping sweeps at worst send the task twice, and the task does
    # nothing for a batch no longer CONFIRMING (it locks the batch row to check).
    stalled = Batch.objects.filter(
        status=Batch.Status.CONFIRMING,
        confirm_requested_at__lte=now - schedule.CONFIRM_RESCUE_AFTER,
    )
    ids = list(stalled.values_list("pk", flat=True))
    if ids:
        stalled.filter(pk__in=ids).update(confirm_requested_at=now, updated_at=now)
        enqueue_after_commit("confirm_batch", ids)
    return len(ids)


def _sweep_finished_batches(now: datetime) -> int:
    open_orders = Order.objects.filter(batch=OuterRef("pk"), status__in=list(OPEN_STATUSES))
    return batches_transition(
        Batch.objects.exclude(Exists(open_orders)),
        Batch.Status.DONE,
        changes={"finished_at": now},
        now=now,
    )


def _sweep_expired_leases(now: datetime, limit: int) -> int:
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("account", "offer")
            .filter(status=OrderStatus.SUBMITTING, lease_expires_at__lte=now)
            .order_by("lease_expires_at")[:limit]
        )
        for order in orders:
            if not capabilities_of(order.account).status_by_transaction_id:
                order_flag_lost_answer(
                    order,
                    cause=(
                        "The claim's lease expired: the worker stopped between the claim and "
                        "the recording, so whether create-order was sent is unknown"
                    ),
                    now=now,
                )
                continue
            order_move(
                order,
                OrderStatus.UNKNOWN,
                reason=(
                    "The claim's lease expired: the worker stopped between the claim and the "
                    "recording, so whether create-order was sent is unknown; resolving by "
                    "transactionId."
                ),
                changes={
                    "last_error": "Lease expired while submitting; outcome unknown.",
                    "next_poll_at": now,
                },
                now=now,
            )
    return len(orders)


def _sweep_past_limit(now: datetime, limit: int) -> int:
    cutoff = now - schedule.PENDING_LIMIT - schedule.PENDING_LIMIT_GRACE
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=[OrderStatus.SUBMITTED, OrderStatus.PROCESSING, OrderStatus.UNKNOWN],
                last_sent_at__lte=cutoff,
            )
            .order_by("last_sent_at")[:limit]
        )
        for order in orders:
            reason = (
                f"Still {order.status} more than 60 minutes after it was sent, and no status "
                "check reached it; one more check follows."
            )
            order_move(
                order,
                OrderStatus.NEEDS_ATTENTION,
                reason=reason,
                changes={"last_error": reason, "next_poll_at": now},
                now=now,
            )
    return len(orders)


def _sweep_enqueue(*, statuses, enqueue, now: datetime, limit: int, push: timedelta) -> int:
    with transaction.atomic():
        due = [
            Order(pk=pk, batch_id=batch_id)  # what the queue choice needs, no more
            for pk, batch_id in Order.objects.select_for_update(skip_locked=True)
            .filter(status__in=list(statuses), next_poll_at__lte=now)
            .order_by("next_poll_at")
            .values_list("pk", "batch_id")[:limit]
        ]
        if due:
            Order.objects.filter(pk__in=[order.pk for order in due]).update(next_poll_at=now + push)
            enqueue(due)
    return len(due)


def _sweep_held_accounts(now: datetime, limit: int) -> int:
    from django.db.models import Q

    with transaction.atomic():
        ids = list(
            AccountQueue.objects.select_for_update(skip_locked=True)
            .filter(on_hold=True)
            .filter(Q(next_check_at__lte=now) | Q(next_check_at__isnull=True))
            .values_list("account_id", flat=True)[:limit]
        )
        if ids:
            AccountQueue.objects.filter(account_id__in=ids).update(
                next_check_at=now + schedule.HOLD_CHECK_EVERY
            )
            enqueue_after_commit("check_account_queue", ids)
    return len(ids)
