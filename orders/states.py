"""The order state machine: the table of allowed moves and the one function that applies them.

```
QUEUED ──claim──> SUBMITTING ──answer──> SUBMITTED / PROCESSING ──poll──> COMPLETED / CANCELED /
   │                 │                        │                           FAILED / REFUNDED
   │                 │ timeout/reset/5xx,      │ 60+ min
   │                 │ lease expired           v
   │                 v                    NEEDS_ATTENTION ──operator──> RESOLVED
   │              UNKNOWN ──status by transactionId──> (follow the supplier)
   │                 └── ORDER_NOT_FOUND ──> QUEUED (same transactionId)
   │              (a supplier without status by transactionId, e.g. CodeGames: instead of
   │               UNKNOWN) NEEDS_ATTENTION ──staff: found, with its orderId──> PROCESSING
   │                                        └──staff: not bought──> WITHDRAWN
   ├── refusal (WRONG_PRICE beyond the limit, OUT_OF_STOCK, ...) ──> REJECTED ──retry──> QUEUED
   ├── INSUFFICIENT_BALANCE ──> ON_HOLD ──funded / operator──> QUEUED
   └── operator, before it was ever sent ──> WITHDRAWN
AWAITING_APPROVAL (above the approval threshold) ──approved──> QUEUED
                                                 └──rejected──> WITHDRAWN
```

A refusal proves only that the refused call created nothing. When an earlier call under the same
`transactionId` turns out to have landed after all (its answer arrives late, or order-status
finds it when an operator retries), a REJECTED or WITHDRAWN order moves to NEEDS_ATTENTION and
is followed like any other.

`order_transition` is the only writer of `Order.status` once an order exists, and of
`OrderEvent` (`order_events_created` records the creations in bulk, the only other writer).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NoReturn

from django.db import models, transaction
from django.utils import timezone

from orders import schedule
from orders.errors import InvalidTransition, OrderError
from orders.gift_reports import gift_report_on_move
from orders.models import Order, OrderEvent, OrderStatus

#: What the supplier said, in our vocabulary (GamesDrop and CodeGames).
SUPPLIER_STATUSES = {
    "SUBMITTED": OrderStatus.SUBMITTED,
    "PROCESSING": OrderStatus.PROCESSING,
    "COMPLETED": OrderStatus.COMPLETED,
    "CANCELED": OrderStatus.CANCELED,
    "CANCELLED": OrderStatus.CANCELED,
    "FAILED": OrderStatus.FAILED,
    "REFUND": OrderStatus.REFUNDED,
    "REFUNDED": OrderStatus.REFUNDED,
}
SUPPLIER_FINAL = frozenset(
    {OrderStatus.COMPLETED, OrderStatus.CANCELED, OrderStatus.FAILED, OrderStatus.REFUNDED}
)
SUPPLIER_PENDING = frozenset({OrderStatus.SUBMITTED, OrderStatus.PROCESSING})

#: The allowed moves. Anything else raises InvalidTransition.
TRANSITIONS: dict[str, frozenset[str]] = {
    # Claimed by a worker; the account's queue is on hold; an operator withdrew it.
    OrderStatus.QUEUED: frozenset(
        {OrderStatus.SUBMITTING, OrderStatus.ON_HOLD, OrderStatus.WITHDRAWN}
    ),
    OrderStatus.SUBMITTING: frozenset(
        {
            # The supplier answered create-order.
            OrderStatus.SUBMITTED,
            OrderStatus.PROCESSING,
            OrderStatus.COMPLETED,
            OrderStatus.CANCELED,
            OrderStatus.FAILED,
            OrderStatus.REFUNDED,
            # Timeout / reset / 5xx / unreadable answer / TRANSACTION_DUPLICATE / lease expired.
            OrderStatus.UNKNOWN,
            # A refusal: nothing was created.
            OrderStatus.REJECTED,
            # INSUFFICIENT_BALANCE (or a refused token): the account's queue pauses.
            OrderStatus.ON_HOLD,
            # A lost answer from a supplier that cannot look an order up by transactionId:
            # a person finds out at the supplier (orders.services.lost_answers).
            OrderStatus.NEEDS_ATTENTION,
            # Nothing was sent (the rate limit was saturated) or WRONG_PRICE re-quoted within
            # the operator's limit: send again with the same transactionId.
            OrderStatus.QUEUED,
        }
    ),
    OrderStatus.SUBMITTED: frozenset(
        {
            OrderStatus.PROCESSING,
            OrderStatus.COMPLETED,
            OrderStatus.CANCELED,
            OrderStatus.FAILED,
            OrderStatus.REFUNDED,
            OrderStatus.NEEDS_ATTENTION,
        }
    ),
    OrderStatus.PROCESSING: frozenset(
        {
            OrderStatus.COMPLETED,
            OrderStatus.CANCELED,
            OrderStatus.FAILED,
            OrderStatus.REFUNDED,
            OrderStatus.NEEDS_ATTENTION,
        }
    ),
    OrderStatus.UNKNOWN: frozenset(
        {
            # order-status by transactionId found it: follow the supplier.
            OrderStatus.SUBMITTED,
            OrderStatus.PROCESSING,
            OrderStatus.COMPLETED,
            OrderStatus.CANCELED,
            OrderStatus.FAILED,
            OrderStatus.REFUNDED,
            # ORDER_NOT_FOUND: safe to send again with the same transactionId.
            OrderStatus.QUEUED,
            # Unresolved after 60 minutes.
            OrderStatus.NEEDS_ATTENTION,
        }
    ),
    # A partial delivery is flagged; the supplier may refund a completed order later.
    OrderStatus.COMPLETED: frozenset({OrderStatus.NEEDS_ATTENTION, OrderStatus.REFUNDED}),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.FAILED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
    # An operator's retry, with a new transactionId, once order-status confirmed that no order
    # exists under the old one. NEEDS_ATTENTION: the supplier has one after all (an earlier send
    # landed late, or its answer came after the order had been refused or withdrawn).
    OrderStatus.REJECTED: frozenset({OrderStatus.QUEUED, OrderStatus.NEEDS_ATTENTION}),
    OrderStatus.ON_HOLD: frozenset({OrderStatus.QUEUED, OrderStatus.WITHDRAWN}),
    OrderStatus.NEEDS_ATTENTION: frozenset(
        {
            # An operator closed it with a comment.
            OrderStatus.RESOLVED,
            # Still followed: the supplier finished it late (or the missing keys arrived).
            OrderStatus.COMPLETED,
            OrderStatus.CANCELED,
            OrderStatus.FAILED,
            OrderStatus.REFUNDED,
            # It was UNKNOWN and the supplier finally confirmed no order under its transactionId.
            OrderStatus.QUEUED,
            # A lost create-order answer (no status by transactionId): staff recorded the
            # supplier's orderId (followed from then on), or that nothing was bought.
            OrderStatus.PROCESSING,
            OrderStatus.WITHDRAWN,
        }
    ),
    OrderStatus.WITHDRAWN: frozenset({OrderStatus.NEEDS_ATTENTION}),
    OrderStatus.RESOLVED: frozenset(),
    # A second person approved it (to be sent) or rejected it (never sent).
    OrderStatus.AWAITING_APPROVAL: frozenset({OrderStatus.QUEUED, OrderStatus.WITHDRAWN}),
}

#: No further work: neither the sweep nor a worker touches these again by itself.
FINAL_STATUSES = frozenset(
    {
        OrderStatus.COMPLETED,
        OrderStatus.CANCELED,
        OrderStatus.FAILED,
        OrderStatus.REFUNDED,
        OrderStatus.REJECTED,
        OrderStatus.WITHDRAWN,
        OrderStatus.RESOLVED,
    }
)
#: Finished without the customer served and with the money back (or never spent): such an order
#: may be ordered again, as a new order.
ORDER_AGAIN_STATUSES = frozenset(
    {OrderStatus.FAILED, OrderStatus.REFUNDED, OrderStatus.REJECTED, OrderStatus.CANCELED}
)
#: A batch is done when none of its orders is in one of these.
OPEN_STATUSES = frozenset(set(OrderStatus.values) - FINAL_STATUSES)
#: Orders whose supplier side is (or may be) pending: status calls follow them.
POLLED_STATUSES = frozenset(
    {
        OrderStatus.SUBMITTED,
        OrderStatus.PROCESSING,
        OrderStatus.UNKNOWN,
        OrderStatus.NEEDS_ATTENTION,
    }
)
IN_FLIGHT_STATUSES = frozenset(
    {OrderStatus.SUBMITTING, OrderStatus.SUBMITTED, OrderStatus.PROCESSING, OrderStatus.UNKNOWN}
)
#: Statuses in which nothing is scheduled (`next_poll_at` is cleared on entry).
UNSCHEDULED_STATUSES = FINAL_STATUSES | {
    OrderStatus.SUBMITTING,
    OrderStatus.ON_HOLD,
    OrderStatus.AWAITING_APPROVAL,
}


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def _default_schedule(order: Order, to: str, now: datetime) -> datetime | None:
    if to in UNSCHEDULED_STATUSES:
        return None
    if to == OrderStatus.QUEUED:
        return now + schedule.queued_rescue_after()
    if to == OrderStatus.UNKNOWN:
        return now + schedule.UNKNOWN_FIRST_CHECK
    if to in SUPPLIER_PENDING:
        return schedule.next_pending_poll(
            pending_polls=order.pending_polls,
            last_sent_at=order.last_sent_at,
            now=now,
            webhooks_healthy=schedule.webhooks_healthy(order.account_id),
        )
    # NEEDS_ATTENTION: the caller says whether it is still followed (see orders/schedule.py).
    return None


def order_transition(
    order: Order,
    to: str,
    *,
    actor=None,
    reason: str = "",
    data: dict | None = None,
    changes: dict | None = None,
    now: datetime | None = None,
) -> Order:
    """Move `order` from the status it has (`order.status`, as the caller read it, normally
    under the row lock) to `to` and record the move; raise InvalidTransition if the table does
    not allow it, or if the row's status is no longer the one the caller read.

    `changes` are other columns written in the same UPDATE. Unless given there: entering a final
    status sets `final_at`, entering QUEUED clears it; leaving SUBMITTING (or a poll) releases the
    lease; `next_poll_at` follows the status (see `_default_schedule`). `data` must never hold a
    secret. Updates `order` in place and returns it.
    """
    to = OrderStatus(to)
    now = now or timezone.now()
    current = order.status
    fields: dict = {}
    moved = 0
    if can_move(current, to):
        fields = dict(changes or {})
        fields["status"] = to
        fields["updated_at"] = now
        if to in FINAL_STATUSES:
            fields.setdefault("final_at", now)
        elif to == OrderStatus.QUEUED:
            fields.setdefault("final_at", None)
        if to != OrderStatus.SUBMITTING:
            fields.setdefault("claimed_by", "")
            fields.setdefault("lease_expires_at", None)
        if "next_poll_at" not in fields:
            fields["next_poll_at"] = _default_schedule(order, to, now)
        # Compare and set: the row is written only if its status is still the one this move
        # starts from, so a move decided on an old reading of the row never overwrites another
        # (the UPDATE takes the row lock; a concurrent writer waits and then finds the status
        # changed). No savepoint: nothing inside the block raises but the database itself.
        with transaction.atomic(savepoint=False):
            moved = Order.objects.filter(pk=order.pk, status=current).update(**fields)
            if moved:
                OrderEvent.objects.create(
                    order_id=order.pk,
                    from_status=current,
                    to_status=to,
                    at=now,
                    actor=actor if getattr(actor, "is_authenticated", False) else None,
                    reason=reason,
                    data=data or {},
                )
                for name, value in fields.items():
                    setattr(order, name, value)
                # The Telegram report of a completed sale is written with the move (an outbox
                # row, sent by a task once this commits); a refund withholds or flags it.
                gift_report_on_move(order, current, to, now)
    if not moved:
        refuse_move(Order, order.pk, to, OrderStatus)
    for name, value in fields.items():
        setattr(order, name, value)
    return order


def refuse_move(
    model: type[models.Model], pk: int, to, statuses: type[models.TextChoices]
) -> NoReturn:
    """Raise for a status move that did not happen (an order's or a batch's): the row is gone, or
    the status it has now, read here, does not allow the move."""
    noun = str(model._meta.verbose_name)
    now_status = model._default_manager.filter(pk=pk).values_list("status", flat=True).first()
    if now_status is None:
        raise OrderError(f"{noun.capitalize()} {pk} does not exist.")
    raise InvalidTransition(
        f"{noun.capitalize()} #{pk} cannot move from {statuses(now_status).label} to {to.label}.",
        extra={noun: pk, "from": now_status, "to": str(to)},
    )


def order_events_created(orders: Iterable[Order], *, actor=None, reason: str = "") -> None:
    """Record the creation (no status → QUEUED) of freshly inserted orders, in one query."""
    actor = actor if getattr(actor, "is_authenticated", False) else None
    OrderEvent.objects.bulk_create(
        [
            OrderEvent(
                order_id=order.pk,
                from_status="",
                to_status=order.status,
                at=order.created_at,
                actor=actor,
                reason=reason,
                data={"transaction_id": order.transaction_id},
            )
            for order in orders
        ]
    )
