"""Operator actions on one order: retry, re-check, withdraw, mark resolved."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders.batches.services import batch_reopen
from orders.dispatch import enqueue_submit_after_commit
from orders.errors import OrderActionRefused, PriceAboveLimit
from orders.models import Order, OrderStatus, OrderTransactionId
from orders.services.following import (
    order_flag_found,
    order_found_by_transaction_id,
    poll_claim,
    poll_fetch,
    poll_record,
)
from orders.services.moving import (
    order_lock,
    order_move,
)
from orders.services.records import (
    error_text,
    money,
    new_transaction_id,
)
from orders.states import POLLED_STATUSES
from reseller.core.services import audit_record
from suppliers.clients import OfferNotFound, SupplierError
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_client


def order_retry(*, order: Order, by, request=None, now: datetime | None = None) -> Order:
    """Retry a REJECTED order: make sure with order-status that no order exists under its
    transactionId (the refusal proved that only of the refused call), check the price with
    find-one, then QUEUED under a new transactionId (the old one kept in history). If the
    supplier does have an order under the old one, nothing is retried: the order needs
    attention and is followed."""
    if order.status != OrderStatus.REJECTED:
        raise OrderActionRefused("Only a rejected order can be retried.")
    found = order_found_by_transaction_id(order)
    if found is not None:
        _flag_instead_of_action(order, found, action="retried", by=by, request=request, now=now)
    client = supplier_client(order.account, max_retries=1, waiting=True)
    try:
        quote = client.find_one(order.offer.offer_id)
    except OfferNotFound:
        raise OrderActionRefused("The supplier no longer offers this product.") from None
    except (SupplierError, RateLimitSaturated) as error:
        raise OrderActionRefused(f"Could not check the price: {error_text(error)}") from None
    if order.currency and quote.currency and quote.currency != order.currency:
        raise OrderActionRefused(
            f"The offer is now priced in {quote.currency}, not {order.currency}; place a new order."
        )
    if quote.price > order.max_unit_price:
        audit_record(
            action="order.retry_refused",
            actor=by,
            request=request,
            target=order,
            data={"price": str(quote.price), "limit": str(order.max_unit_price)},
        )
        raise PriceAboveLimit(
            f"The unit price is now {quote.price} {order.currency}, above the limit of "
            f"{money(order.max_unit_price)} {order.currency}."
        )
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(order.pk)
        if order.status != OrderStatus.REJECTED:
            raise OrderActionRefused("Only a rejected order can be retried.")
        old, new = order.transaction_id, new_transaction_id()
        history, _ = OrderTransactionId.objects.get_or_create(
            transaction_id=old, defaults={"order": order, "created_at": order.created_at}
        )
        history.retired_at = now
        history.retired_reason = "Refused by the supplier (nothing created); replaced by a retry."
        history.save(update_fields=["retired_at", "retired_reason"])
        OrderTransactionId.objects.create(order=order, transaction_id=new, created_at=now)
        order_move(
            order,
            OrderStatus.QUEUED,
            actor=by,
            reason=f"Retried: new transactionId, price checked at {quote.price} {order.currency}.",
            data={"old_transaction_id": old, "new_transaction_id": new},
            changes={
                "transaction_id": new,
                "quoted_price": quote.price,
                "price_sent": None,
                "usd_rate": None,
                "usd_cost": None,
                "submitted_at": None,
                "last_sent_at": None,
                "supplier_order_id": None,
                "supplier_status": "",
                "supplier_message": "",
                "last_error": "",
                "poll_count": 0,
                "pending_polls": 0,
            },
            now=now,
        )
        if order.batch_id:
            batch_reopen(order.batch_id)
        audit_record(
            action="order.retried",
            actor=by,
            request=request,
            target=order,
            data={"old_transaction_id": old, "new_transaction_id": new, "price": str(quote.price)},
        )
        enqueue_submit_after_commit([order])
    return order


def _flag_instead_of_action(order: Order, found, *, action: str, by, request, now) -> None:
    """The supplier has an order under the transactionId an operator was about to give up:
    flag it (NEEDS_ATTENTION, followed from now on) and refuse the action."""
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(order.pk)
        if order.status in (OrderStatus.REJECTED, OrderStatus.WITHDRAWN):
            order_flag_found(
                order,
                found,
                keys=found.keys,
                actor=by,
                reason=(
                    f"Not {action}: order-status found supplier order {found.order_id} "
                    f"({found.status}) under its transactionId."
                ),
                now=now,
            )
        audit_record(
            action="order.found_at_supplier",
            actor=by,
            request=request,
            target=order,
            data={"supplier_order_id": found.order_id, "supplier_status": found.status},
        )
    raise OrderActionRefused(
        f"Not {action}: the supplier has order {found.order_id} ({found.status}) under this "
        "order's transactionId after all. The order needs attention and is followed."
    )


def order_recheck(*, order: Order, by, request=None, now: datetime | None = None) -> Order:
    """Ask the supplier for the order's status now."""
    if order.status not in POLLED_STATUSES | {OrderStatus.COMPLETED}:
        raise OrderActionRefused(
            f"A {OrderStatus(order.status).label.lower()} order has no supplier status to check."
        )
    audit_record(action="order.rechecked", actor=by, request=request, target=order)
    claim = poll_claim(
        order_id=order.pk, statuses=POLLED_STATUSES | {OrderStatus.COMPLETED}, now=now, force=True
    )
    if claim is None:
        raise OrderActionRefused("A status check of this order is running already.")
    poll_record(claim, poll_fetch(claim), now=now)
    return Order.objects.get(pk=order.pk)


def order_withdraw(*, order: Order, by, reason: str = "", request=None) -> Order:
    """Cancel a QUEUED or ON_HOLD order. One that was sent before (and came back to the queue)
    is withdrawn only once order-status confirms that the supplier has no order under its
    transactionId."""
    if order.status in (OrderStatus.QUEUED, OrderStatus.ON_HOLD) and order_found_by_transaction_id(
        order
    ):
        raise OrderActionRefused(
            "The supplier has an order under this order's transactionId (an earlier send "
            "landed), so it cannot be withdrawn: it is sent again with the same transactionId, "
            "which the supplier recognises, and then followed."
        )
    with transaction.atomic():
        order = order_lock(order.pk)
        if order.status not in (OrderStatus.QUEUED, OrderStatus.ON_HOLD):
            raise OrderActionRefused(
                f"Only a queued or held order can be withdrawn; this one is "
                f"{OrderStatus(order.status).label.lower()}."
            )
        order_move(
            order,
            OrderStatus.WITHDRAWN,
            actor=by,
            reason=reason.strip() or "Withdrawn by an operator.",
        )
        audit_record(
            action="order.withdrawn",
            actor=by,
            request=request,
            target=order,
            data={"reason": reason},
        )
    return order


def order_mark_resolved(*, order: Order, by, comment: str, request=None) -> Order:
    """Close a NEEDS_ATTENTION order with the operator's comment (required)."""
    comment = (comment or "").strip()
    if not comment:
        raise OrderActionRefused("Say how it was resolved.")
    with transaction.atomic():
        order = order_lock(order.pk)
        if order.status != OrderStatus.NEEDS_ATTENTION:
            raise OrderActionRefused("Only an order that needs attention can be marked resolved.")
        order_move(
            order, OrderStatus.RESOLVED, actor=by, reason=comment, changes={"next_poll_at": None}
        )
        audit_record(
            action="order.resolved",
            actor=by,
            request=request,
            target=order,
            data={"comment": comment},
        )
    return order
