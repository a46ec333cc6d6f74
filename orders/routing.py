"""Reads for routing an order for a product: which accounts cannot take an order right now.

The choice itself is `catalog.routing.routes_ranked` (one pure function); this module adds what
only the orders app knows: accounts whose order queue is on hold (INSUFFICIENT_BALANCE or a
refused token) and accounts whose supplier is failing (most of its create-order answers lost in the last
minutes: sending more there only makes more orders to resolve).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from catalog.models import Product
from catalog.products import product_routes_ranked
from catalog.routing import RouteChoice
from orders.models import AccountQueue, OrderEvent, OrderStatus

#: A supplier is failing when this many of its create-order answers (and most of them) were lost
FAILING_LOST_ANSWERS = 3
#: ... within this window.
FAILING_WINDOW = timedelta(minutes=10)


def accounts_on_hold() -> frozenset[int]:
    return frozenset(AccountQueue.objects.filter(on_hold=True).values_list("account_id", flat=True))


def accounts_failing(now: datetime | None = None) -> frozenset[int]:
    """Accounts that lost most of their recent create-order answers: within FAILING_WINDOW, at
    least FAILING_LOST_ANSWERS answers lost (moved from SUBMITTING to UNKNOWN, or to
    NEEDS_ATTENTION for a supplier without status by transactionId) and more than half of all
    their answers. A few lost answers among many good ones are the supplier's normal noise."""
    now = now or timezone.now()
    lost = Q(to_status__in=(OrderStatus.UNKNOWN, OrderStatus.NEEDS_ATTENTION))
    rows = (
        OrderEvent.objects.filter(at__gte=now - FAILING_WINDOW, from_status=OrderStatus.SUBMITTING)
        .values("order__account_id")
        .annotate(answers=Count("id"), lost=Count("id", filter=lost))
        .filter(lost__gte=FAILING_LOST_ANSWERS)
    )
    return frozenset(row["order__account_id"] for row in rows if row["lost"] * 2 > row["answers"])


def product_routes_now(
    product: Product,
    *,
    offers_tried: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> list[RouteChoice]:
    """The product's routes as an order sent now would try them, each skipped one with why."""
    now = now or timezone.now()
    return product_routes_ranked(
        product,
        now=now,
        accounts_on_hold=accounts_on_hold(),
        accounts_failing=accounts_failing(now),
        offers_tried=offers_tried,
    )
