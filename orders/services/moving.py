"""Moving an order: the locked re-read, and `order_transition` plus what follows a move (a batch
whose orders are all final is DONE). Sending tasks after commit is `orders.dispatch`."""

from __future__ import annotations

from django.utils import timezone

from orders.batches.services import batch_refresh_done
from orders.models import Order
from orders.states import FINAL_STATUSES, order_transition


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
