"""Reads of the orders app: lists, counts per status, what is in flight, due or needs a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from orders.models import AccountQueue, Batch, Order, OrderEvent, OrderStatus
from orders.states import FINAL_STATUSES, IN_FLIGHT_STATUSES, POLLED_STATUSES
from reseller.core.querystrings import typed_id

S = OrderStatus


def order_list() -> QuerySet[Order]:
    """Every order, newest first, with what a list row shows."""
    return Order.objects.select_related("offer", "account", "batch")


def order_get(*, pk: int) -> Order:
    return order_list().get(pk=pk)


def customer_references_ordered(*, references, account=None) -> set[str]:
    """Which of `references` already have an order (any status but WITHDRAWN), for the batch
    preview's "already ordered" check. Compared exactly as written."""
    wanted = {reference for reference in references if reference}
    found: set[str] = set()
    orders = Order.objects.exclude(status=S.WITHDRAWN)
    if account is not None:
        orders = orders.filter(account=account)
    wanted_list = sorted(wanted)
    for start in range(0, len(wanted_list), 500):
        chunk = wanted_list[start : start + 500]
        found.update(
            orders.filter(customer_reference__in=chunk)
            .values_list("customer_reference", flat=True)
            .distinct()
        )
    return found


def order_events(*, order: Order) -> QuerySet[OrderEvent]:
    return order.events.select_related("actor").order_by("at", "id")


def order_keys_masked(*, order: Order) -> list[tuple[int, str]]:
    """(unit number, masked key) for display; the clear keys need `order_key_reveal`."""
    return [(key.unit_index + 1, key.masked) for key in order.keys.order_by("unit_index")]


def orders_in_flight() -> QuerySet[Order]:
    return order_list().filter(status__in=list(IN_FLIGHT_STATUSES))


def orders_needing_attention() -> QuerySet[Order]:
    return order_list().filter(status=S.NEEDS_ATTENTION)


def orders_on_hold(*, account=None) -> QuerySet[Order]:
    orders = order_list().filter(status=S.ON_HOLD)
    return orders.filter(account=account) if account is not None else orders


def orders_due(*, now: datetime | None = None, limit: int = 500) -> QuerySet[Order]:
    """Pending orders whose next status call is due (what the sweep enqueues next)."""
    now = now or timezone.now()
    return Order.objects.filter(status__in=list(POLLED_STATUSES), next_poll_at__lte=now).order_by(
        "next_poll_at"
    )[:limit]


def order_status_counts(orders: QuerySet[Order] | None = None) -> dict[str, int]:
    """{status: count} over `orders` (all orders by default), every status present (0 if none)."""
    orders = Order.objects.all() if orders is None else orders
    counts = dict.fromkeys(S.values, 0)
    for row in orders.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def batch_status_counts(*, batch: Batch) -> dict[str, int]:
    return order_status_counts(Order.objects.filter(batch=batch))


@dataclass(frozen=True)
class BatchProgress:
    total: int
    finished: int
    counts: dict[str, int]

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(self.finished * 100 / self.total)

    @property
    def needs_attention(self) -> int:
        return self.counts.get(S.NEEDS_ATTENTION, 0)


def batch_progress(*, batch: Batch) -> BatchProgress:
    """Counts per status and the share of orders in a final status (the progress bar)."""
    counts = batch_status_counts(batch=batch)
    finished = sum(n for status, n in counts.items() if status in FINAL_STATUSES)
    return BatchProgress(total=sum(counts.values()), finished=finished, counts=counts)


#: How far back the batch page looks to measure how fast a batch's orders finish.
BATCH_RATE_WINDOW = timedelta(seconds=60)
#: The shortest span a rate is measured over (a batch confirmed a moment ago).
BATCH_RATE_MIN_SPAN = timedelta(seconds=5)


@dataclass(frozen=True)
class BatchRate:
    """How fast a batch being sent finishes its orders, and when it will be done at that pace.

    `finished_recently` orders reached a final status over the last `span_seconds` (the window,
    or less when the batch was confirmed more recently). `remaining` are the open orders the
    workers are still to finish: orders needing attention are left out, they wait for a person.
    `per_second` and `finish_at` are None when no order finished over the span."""

    measured_at: datetime
    span_seconds: float
    finished_recently: int
    finished_ever: int
    remaining: int
    needs_attention: int

    @property
    def per_second(self) -> float | None:
        return self.finished_recently / self.span_seconds if self.finished_recently else None

    @property
    def per_minute(self) -> int | None:
        rate = self.per_second
        return None if rate is None else round(rate * 60)

    @property
    def seconds_left(self) -> float | None:
        rate = self.per_second
        return None if rate is None or not self.remaining else self.remaining / rate

    @property
    def finish_at(self) -> datetime | None:
        left = self.seconds_left
        return None if left is None else self.measured_at + timedelta(seconds=left)

    @property
    def minutes_left(self) -> int | None:
        """Whole minutes to go, rounded (0: less than a minute)."""
        left = self.seconds_left
        return None if left is None else int(left // 60 + (left % 60 >= 30))

    @property
    def hours_left(self) -> int | None:
        minutes = self.minutes_left
        return None if minutes is None else round(minutes / 60)

    @property
    def waiting_for_first(self) -> bool:
        """No order of the batch has finished yet (it has just started, or none can be sent)."""
        return not self.finished_ever


def batch_rate(
    *,
    batch: Batch,
    progress: BatchProgress | None = None,
    now: datetime | None = None,
    window: timedelta = BATCH_RATE_WINDOW,
) -> BatchRate | None:
    """The sending rate and the estimated finish of a batch being sent (CONFIRMED or RUNNING with
    open orders); None otherwise. Pass the `batch_progress` already read to spare its query.

    The rate counts the batch's orders that reached a final status within `window`, by
    `final_at` (set on entering a final status, cleared when an order is queued again; an order
    moved on to NEEDS_ATTENTION keeps it, hence the status filter too): one COUNT on the
    (batch, status) index, only over the batch's final orders, never a loop over them."""
    if batch.status not in (Batch.Status.CONFIRMED, Batch.Status.RUNNING):
        return None
    progress = progress or batch_progress(batch=batch)
    if progress.finished >= progress.total:
        return None
    now = now or timezone.now()
    since = now - window
    if batch.confirmed_at is not None and batch.confirmed_at > since:
        since = min(batch.confirmed_at, now - BATCH_RATE_MIN_SPAN)
    finished_recently = (
        Order.objects.filter(batch=batch, status__in=list(FINAL_STATUSES), final_at__gte=since)
        .order_by()
        .count()
    )
    open_orders = progress.total - progress.finished
    return BatchRate(
        measured_at=now,
        span_seconds=(now - since).total_seconds(),
        finished_recently=finished_recently,
        finished_ever=progress.finished,
        remaining=open_orders - progress.needs_attention,
        needs_attention=progress.needs_attention,
    )


def batch_list() -> QuerySet[Batch]:
    return Batch.objects.select_related("created_by").annotate(order_count=Count("orders"))


def batches_running() -> QuerySet[Batch]:
    """Batches with work under way: orders being created, sent or followed."""
    return Batch.objects.filter(
        status__in=[Batch.Status.CONFIRMING, Batch.Status.CONFIRMED, Batch.Status.RUNNING]
    )


def account_queues_on_hold() -> QuerySet[AccountQueue]:
    return AccountQueue.objects.filter(on_hold=True).select_related("account")


def orders_dashboard_counts() -> dict[str, int]:
    """The dashboard's three figures (and held orders)."""
    return {
        "in_flight": Order.objects.filter(status__in=list(IN_FLIGHT_STATUSES)).count(),
        "needs_attention": Order.objects.filter(status=S.NEEDS_ATTENTION).count(),
        "on_hold": Order.objects.filter(status=S.ON_HOLD).count(),
        "batches_running": batches_running().count(),
    }


# --- reads of the order pages -------------------------------------------------------------------

OFFER_SEARCH_LIMIT = 25


def offers_for_ordering(*, account, search: str, limit: int = OFFER_SEARCH_LIMIT):
    """Listed offers of `account` for the manual order's picker: every word of `search` in the
    product or offer name, or the supplier's offer id when `search` is a number."""
    from catalog.models import Offer  # the catalog does not import orders; keep it one-way

    offers = Offer.objects.filter(account=account, delisted_at__isnull=True)
    search = (search or "").strip()
    if not search:
        return offers.none()
    if search.isascii() and search.isdigit():  # an offer id (one too large matches none)
        offer_id = typed_id(search)
        if offer_id is None:
            return offers.none()
        return offers.filter(offer_id=offer_id)[:limit]
    for word in search.lower().split()[:8]:
        offers = offers.filter(search_text__contains=word[:100])
    return offers.order_by("-in_stock", "product_name", "offer_name", "offer_id")[:limit]


def order_is_moving(order: Order) -> bool:
    """Whether the order will change by itself soon (a page showing it should refresh): in
    flight, or queued and scheduled to be sent (not waiting for a batch's confirmation)."""
    return order.status in IN_FLIGHT_STATUSES or (
        order.status == S.QUEUED and order.next_poll_at is not None
    )


def order_actions_available(*, order: Order, has_keys: bool) -> list[str]:
    """Names of the operator actions (orders.services.ORDER_ACTIONS) that apply to the order as
    it is now, for showing buttons; the services themselves decide."""
    names = []
    if order.status == S.REJECTED:
        names.append("retry")
    if order.status in POLLED_STATUSES | {S.COMPLETED}:
        names.append("recheck")
    if order.status in (S.QUEUED, S.ON_HOLD):
        names.append("withdraw")
    if order.status == S.NEEDS_ATTENTION:
        names.append("mark_resolved")
    if order.email and (order.status == S.COMPLETED or has_keys):
        names.append("resend")
    return names


def held_order_counts() -> dict[int, int]:
    """{account id: orders ON_HOLD} for the accounts that have any."""
    rows = Order.objects.filter(status=S.ON_HOLD).order_by().values("account_id")
    return {row["account_id"]: row["n"] for row in rows.annotate(n=Count("pk"))}
