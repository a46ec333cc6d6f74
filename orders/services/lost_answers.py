"""A create-order answer lost on a supplier that cannot look an order up by transactionId.

CodeGames (``shared/reference/codegames-api.md``) has find-one, create-order, order-status by
``orderId`` only, and ``/offers/keys``: no order-status by transactionId, no transaction history,
no balance. What follows from that document:

- When create-order's answer is lost (a timeout, a reset, a 5xx, an unreadable body: the client's
  `OrderOutcomeUnknown`; or the worker stopped around the call), nothing the API offers can tell
  whether the order was created: the only look-up needs the ``orderId`` that was in the lost
  answer.
- Sending it again under a **new** transactionId would buy twice if the first call landed.
- Sending it again under the **same** transactionId is safe only where the supplier promises to
  refuse a repeated one (GamesDrop's TRANSACTION_DUPLICATE). The CodeGames document lists no error
  codes at all and makes no such promise, so a resend could buy twice as well.

So the back-office never sends such an order again by itself. It NEEDS_ATTENTION, is not polled
(there is nothing to poll it by), and says what staff must check at the supplier: an order with
its transactionId, offer and price, created around the time it was sent. Staff then record what
they found (`orders.services.actions`), each action audited, allowed only to roles that may
change orders, and refused once an outcome is recorded:

- **found, with its orderId**: checked with order-status by that orderId (a number the supplier
  does not know is refused, as is one already recorded on another order), then followed as usual:
  PROCESSING, COMPLETED, and the keys through ``/offers/keys`` for a key product;
- **not bought**: WITHDRAWN, final and not charged (finance counts a withdrawn order as never
  created at the supplier). A create-order answer that still arrives later proves otherwise and
  brings the order back to NEEDS_ATTENTION, followed by its orderId.

A create-order answer that arrives after the order was flagged (after its lease expired) is such
a finding too, and is recorded by itself (`orders.services.following.order_follow_found`).
"""

from __future__ import annotations

from datetime import datetime

from orders.models import Order, OrderStatus
from orders.services.moving import order_move


def lost_answer_note(order: Order) -> str:
    """What staff must check at the supplier, and how to record it (shown on the order)."""
    sent = order.last_sent_at or order.submitted_at
    when = f" around {sent:%Y-%m-%d %H:%M} UTC" if sent else ""
    price = f" at {order.price_sent} {order.currency}" if order.price_sent is not None else ""
    return (
        "create-order got no answer, and this supplier cannot look an order up by "
        "transactionId, so it is not sent again (that could buy it twice). Check at the "
        f"supplier (its dashboard or support) for an order with transactionId "
        f"{order.transaction_id} (offer {order.offer.offer_id}{price}) created{when}, then "
        "record what you found: “Found at the supplier” with its orderId, or “Not bought”."
    )


def order_flag_lost_answer(
    order: Order, *, cause: str, data: dict | None = None, now: datetime
) -> None:
    """Move a locked SUBMITTING (or UNKNOWN) order whose create-order answer was lost to
    NEEDS_ATTENTION, unpolled, with `lost_answer_note` as its problem."""
    order_move(
        order,
        OrderStatus.NEEDS_ATTENTION,
        reason=f"{cause}; whether it was bought is unknown and only a person can find out.",
        data={**(data or {}), "outcome": "lost answer", "transaction_id": order.transaction_id},
        changes={"last_error": lost_answer_note(order), "next_poll_at": None},
        now=now,
    )
