"""Reads for routing an order for a product: which accounts cannot take an order right now.

The choice itself is `catalog.routing.routes_ranked` (one pure function); this module adds what
only the orders app knows: accounts whose order queue is on hold (INSUFFICIENT_BALANCE or a
refused token) and accounts whose supplier is failing (several create-order answers lost in the
last minutes: sending more there only makes more orders to resolve).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from catalog.models import Product
from catalog.products import product_routes_ranked
from catalog.routing import RouteChoice
from orders.models import AccountQueue, OrderEvent, OrderStatus

#: A supplier is failing when this many of its create-order answers were lost ...
FAILING_LOST_ANSWERS = 3
#: ... within this window.
FAILING_WINDOW = timedelta(minutes=10)


def accounts_on_hold() -> frozenset[int]:
    return frozenset(AccountQueue.objects.filter(on_hold=True).values_list("account_id", flat=True))


def accounts_failing(now: datetime | None = None) -> frozenset[int]:
    """Accounts with FAILING_LOST_ANSWERS or more orders moved to UNKNOWN (or to
    NEEDS_ATTENTION straight from SUBMITTING: a lost answer without status by transactionId)
    within FAILING_WINDOW."""
    now = now or timezone.now()
    lost = (
        OrderEvent.objects.filter(
            at__gte=now - FAILING_WINDOW,
            from_status=OrderStatus.SUBMITTING,
            to_status__in=(OrderStatus.UNKNOWN, OrderStatus.NEEDS_ATTENTION),
        )
        .values("order__account_id")
        .annotate(lost=Count("id"))
        .filter(lost__gte=FAILING_LOST_ANSWERS)
    )
    return frozenset(row["order__account_id"] for row in lost)


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
