"""A second person's decision on an order or batch above the approval threshold (the requests
themselves are made by the order page and the batch confirmation, `services.spending`)."""

from __future__ import annotations

from django.db import transaction

from catalog.models import Offer
from orders.batches.preview import batch_approval_decide
from orders.dispatch import enqueue_submit_after_commit
from orders.errors import OrderActionRefused, PriceAboveLimit
from orders.models import Batch, Order, OrderStatus, SpendApproval
from orders.services import spending
from orders.services.records import money
from orders.states import order_transition


def spend_approval_decide(
    *, approval: SpendApproval, approved: bool, by, comment: str = "", request=None
) -> SpendApproval:
    """Approve (the orders are sent, or the batch's orders created) or reject (nothing is sent)
    a waiting request. Only a person with the approve permission, not the one who asked."""
    comment = (comment or "").strip()[:2000]
    if not approved and not comment:
        raise OrderActionRefused("Say why it is rejected: the comment is shown to the requester.")
    if approval.batch_id is not None:
        batch = Batch.objects.get(pk=approval.batch_id)
        batch_approval_decide(
            batch=batch, approved=approved, by=by, comment=comment, request=request
        )
    else:
        _orders_decide(approval, approved=approved, by=by, comment=comment, request=request)
    approval.refresh_from_db()
    return approval


@transaction.atomic
def _orders_decide(approval: SpendApproval, *, approved: bool, by, comment: str, request) -> None:
    approval = spending.approval_for_decision(approval.pk, by=by)
    orders = list(
        Order.objects.select_for_update()
        .filter(pk__in=approval.order_ids, status=OrderStatus.AWAITING_APPROVAL)
        .order_by("pk")
    )
    if not orders:
        raise OrderActionRefused("These orders are no longer awaiting approval.")
    if not approved:
        for order in orders:
            order_transition(
                order,
                OrderStatus.WITHDRAWN,
                actor=by,
                reason="approval rejected",
                data={"comment": comment[:500]},
            )
        spending.approval_close(approval, approved=False, by=by, comment=comment, request=request)
        return
    # The prices as they are now: the synced price, within the requester's highest price.
    offer = Offer.objects.select_related("account").get(pk=orders[0].offer_id)
    if offer.delisted_at is not None:
        raise OrderActionRefused("The offer is no longer listed: reject the request.")
    if offer.price > orders[0].max_unit_price:
        raise PriceAboveLimit(
            f"The unit price is now {money(offer.price)} {offer.currency}, above the highest "
            f"price the requester accepts ({money(orders[0].max_unit_price)} "
            f"{orders[0].currency}): reject the request."
        )
    cost = spending.order_cost_usd(
        unit_price=offer.price,
        units=offer.units or 1,
        quantity=len(orders),
        currency=offer.currency,
    )
    if cost is None:  # the limits were all removed while it waited, and a rate is missing
        cost = approval.amount_usd
    spending.spend_count(user=approval.requested_by, account=approval.account, amount_usd=cost)
    for order in orders:
        order_transition(
            order,
            OrderStatus.QUEUED,
            actor=by,
            reason="approved",
            data={"comment": comment[:500]},
            changes={"quoted_price": offer.price},
        )
    spending.approval_close(approval, approved=True, by=by, comment=comment, request=request)
    enqueue_submit_after_commit(orders)
