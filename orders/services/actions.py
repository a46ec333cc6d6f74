"""Operator actions on one order: retry, re-check, withdraw, mark resolved, and recording what
staff found at the supplier after a lost create-order answer (see `lost_answers`)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders.batches.services import batch_reopen
from orders.dispatch import enqueue_submit_after_commit
from orders.errors import OrderActionRefused, PriceAboveLimit
from orders.models import Order, OrderStatus, OrderTransactionId
from orders.services.following import (
    SupplierAnswer,
    complete_keys,
    order_flag_found,
    order_follow_found,
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
from suppliers.clients import OfferNotFound, OrderNotFound, SupplierError
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
    _refuse_if_ordered_again(order)
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
        _refuse_if_ordered_again(order)
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


def _refuse_if_ordered_again(order: Order) -> None:
    """A rejected order that was replaced (ordered again, or its batch row retried) is not sent
    too: the customer would be served twice."""
    again = Order.objects.filter(reorder_of=order).values_list("pk", flat=True).first()
    if again is not None:
        raise OrderActionRefused(
            f"Not retried: this order was ordered again as order #{again}; retrying it too "
            "would serve the customer twice."
        )
    if order.retried_in_id is not None:
        raise OrderActionRefused(
            f"Not retried: its row was retried in batch #{order.retried_in_id}; retrying it "
            "too would serve the customer twice."
        )


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
    """Ask the supplier for the order's status now: only while it may still change there
    (a final order, a completed one included, has nothing left to ask)."""
    if order.status not in POLLED_STATUSES:
        raise OrderActionRefused(
            f"A {OrderStatus(order.status).label.lower()} order has no supplier status to check."
        )
    if order.awaits_supplier_outcome:
        raise OrderActionRefused(NO_LOOKUP)
    audit_record(action="order.rechecked", actor=by, request=request, target=order)
    claim = poll_claim(order_id=order.pk, statuses=POLLED_STATUSES, now=now, force=True)
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
        if order.awaits_supplier_outcome:
            raise OrderActionRefused(
                "Record whether it was bought (found, with its orderId, or not bought): finance "
                "counts on it."
            )
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


NO_LOOKUP = (
    "This supplier cannot look an order up by transactionId, and its create-order answer was "
    "lost: check at the supplier and record what you found."
)
#: The largest orderId the order's column holds.
MAX_SUPPLIER_ORDER_ID = 2**63 - 1


def _supplier_order_number(text) -> int:
    value = str(text or "").strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_SUPPLIER_ORDER_ID:
        raise OrderActionRefused(
            "Give the supplier's orderId as it shows it: a whole number, such as 10502."
        )
    return int(value)


def _refuse_unless_awaiting(order: Order) -> None:
    if not order.awaits_supplier_outcome:
        raise OrderActionRefused(
            "This order does not wait for a recorded outcome (it was recorded already, or its "
            "supplier answered)."
        )


def _refuse_recorded_elsewhere(order: Order, number: int) -> None:
    other = (
        Order.objects.filter(account_id=order.account_id, supplier_order_id=number)
        .exclude(pk=order.pk)
        .values_list("pk", flat=True)
        .first()
    )
    if other is not None:
        raise OrderActionRefused(
            f"Supplier order {number} is already recorded on order #{other}: one purchase "
            "cannot be two orders. Nothing was recorded."
        )


def order_record_found(
    *, order: Order, by, supplier_order_id, request=None, now: datetime | None = None
) -> Order:
    """Staff found the order whose create-order answer was lost at the supplier: check that
    orderId with order-status (the only look-up the API has), record it, and follow the order
    from then on like any other (keys fetched when it completes). Audited."""
    number = _supplier_order_number(supplier_order_id)
    _refuse_unless_awaiting(order)
    _refuse_recorded_elsewhere(order, number)
    client = supplier_client(order.account, max_retries=1, waiting=True)
    try:
        result = client.order_status(order_id=number)
    except OrderNotFound:
        raise OrderActionRefused(
            f"The supplier has no order {number} on this account. Nothing was recorded."
        ) from None
    except (SupplierError, RateLimitSaturated, ValueError) as error:
        raise OrderActionRefused(
            f"Could not check order {number} with the supplier ({error_text(error)}). Nothing "
            "was recorded; try again."
        ) from None
    keys, keys_error = complete_keys(
        client, result, order.offer.returns_key, order.units, account=order.account
    )
    answer = SupplierAnswer(result=result, keys=keys, keys_error=keys_error)
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(order.pk)
        _refuse_unless_awaiting(order)
        _refuse_recorded_elsewhere(order, number)
        order_follow_found(
            order,
            answer,
            supplier_order_id=number,
            reason=f"Found at the supplier: order {number} ({result.status}), recorded by staff.",
            actor=by,
            now=now,
        )
        audit_record(
            action="order.outcome_found",
            actor=by,
            request=request,
            target=order,
            data={"supplier_order_id": number, "supplier_status": result.status},
        )
    return order


def order_record_not_bought(
    *, order: Order, by, comment: str, request=None, now: datetime | None = None
) -> Order:
    """Staff checked at the supplier that the order whose create-order answer was lost was not
    bought: WITHDRAWN, final and not charged, with where they checked. Audited."""
    comment = (comment or "").strip()
    if not comment:
        raise OrderActionRefused(
            "Say where you checked (the supplier's order list, its support …)."
        )
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(order.pk)
        _refuse_unless_awaiting(order)
        order_move(
            order,
            OrderStatus.WITHDRAWN,
            actor=by,
            reason=f"Not bought at the supplier, recorded by staff: {comment}",
            data={"outcome": "not bought"},
            changes={"last_error": "", "next_poll_at": None},
            now=now,
        )
        audit_record(
            action="order.outcome_not_bought",
            actor=by,
            request=request,
            target=order,
            data={"comment": comment},
        )
    return order
