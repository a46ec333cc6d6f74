"""Reads of the orders app: lists, counts per status, what is in flight, due or needs a person.
The reads of batches are `orders.batches.selectors`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, QuerySet
from django.utils import timezone

from orders.batches.selectors import batches_running
from orders.models import (
    AccountQueue,
    GiftReport,
    Order,
    OrderEvent,
    OrderStatus,
    SpendApproval,
    SpendLimit,
    SpendUsage,
    WebhookEvent,
)
from orders.states import IN_FLIGHT_STATUSES, ORDER_AGAIN_STATUSES, POLLED_STATUSES
from reseller.core.ids import typed_id


def order_list() -> QuerySet[Order]:
    """Every order, newest first, with what a list row shows."""
    return Order.objects.select_related("offer", "account", "batch")


def order_get(*, pk: int) -> Order:
    return order_list().get(pk=pk)


def customer_references_ordered(*, references, account=None) -> set[str]:
    """Which of `references` already have an order that may reach the customer (any status but
    withdrawn, failed, refused or refunded), for the batch preview's "already ordered" check: a
    failed order's row may be ordered again. Compared exactly as written."""
    wanted = {reference for reference in references if reference}
    found: set[str] = set()
    orders = Order.objects.exclude(status__in=[OrderStatus.WITHDRAWN, *ORDER_AGAIN_STATUSES])
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


def order_ordered_again_as(*, order: Order) -> Order | None:
    """The order that ordered `order` again ("Order again"), if any."""
    return Order.objects.filter(reorder_of=order).only("pk", "status").first()


def order_events(*, order: Order) -> QuerySet[OrderEvent]:
    return order.events.select_related("actor").order_by("at", "id")


def order_keys_masked(*, order: Order) -> list[tuple[int, str]]:
    """(unit number, masked key) for display; the clear keys need `order_key_reveal`."""
    return [(key.unit_index + 1, key.masked) for key in order.keys.order_by("unit_index")]


def orders_in_flight() -> QuerySet[Order]:
    return order_list().filter(status__in=list(IN_FLIGHT_STATUSES))


def orders_needing_attention() -> QuerySet[Order]:
    return order_list().filter(status=OrderStatus.NEEDS_ATTENTION)


def orders_on_hold(*, account=None) -> QuerySet[Order]:
    orders = order_list().filter(status=OrderStatus.ON_HOLD)
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
    counts = dict.fromkeys(OrderStatus.values, 0)
    for row in orders.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def account_queues_on_hold() -> QuerySet[AccountQueue]:
    return AccountQueue.objects.filter(on_hold=True).select_related("account")


#: How far back the dashboard looks for customers still waiting after a failed order.
WAITING_DAYS = 7


def orders_not_served() -> QuerySet[Order]:
    """Orders that finished without reaching the customer (failed, refused, refunded)."""
    return Order.objects.filter(status__in=list(ORDER_AGAIN_STATUSES))


def _day_start(day: date) -> datetime:
    """The first moment of `day` in the back-office's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def orders_dashboard_counts(*, today: date | None = None) -> dict[str, object]:
    """The dashboard's figures: orders in flight, needing attention, on hold; batches running;
    orders that did not reach the customer today; customers still waiting (such an order of the
    last WAITING_DAYS days that was not ordered again), with the dates their lists filter on."""
    today = today or timezone.localdate()
    waiting_since = today - timedelta(days=WAITING_DAYS - 1)
    not_served = orders_not_served()
    return {
        "today": today,
        # Ranges of time rather than dates of a column: the (status, final_at) index serves them.
        "not_served_today": not_served.filter(final_at__gte=_day_start(today)).count(),
        "waiting_since": waiting_since,
        "customers_waiting": not_served.filter(
            final_at__gte=_day_start(waiting_since),
            ordered_again_as__isnull=True,
            retried_in__isnull=True,
        ).count(),
        "in_flight": Order.objects.filter(status__in=list(IN_FLIGHT_STATUSES)).count(),
        "needs_attention": Order.objects.filter(status=OrderStatus.NEEDS_ATTENTION).count(),
        "on_hold": Order.objects.filter(status=OrderStatus.ON_HOLD).count(),
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
        order.status == OrderStatus.QUEUED and order.next_poll_at is not None
    )


def order_actions_available(*, order: Order, has_keys: bool) -> list[str]:
    """Names of the operator actions (orders.services.ORDER_ACTIONS) that apply to the order as
    it is now, for showing buttons; the services themselves decide."""
    if order.awaits_supplier_outcome:
        return ["record_found", "record_not_bought"]
    names = []
    if order.status == OrderStatus.REJECTED:
        names.append("retry")
    if order.status in POLLED_STATUSES:  # not a final one: nothing can change it there
        names.append("recheck")
    if order.status in (OrderStatus.QUEUED, OrderStatus.ON_HOLD):
        names.append("withdraw")
    if order.status == OrderStatus.NEEDS_ATTENTION:
        names.append("mark_resolved")
    if order.email and (order.status == OrderStatus.COMPLETED or has_keys):
        names.append("resend")
    return names


def held_order_counts() -> dict[int, int]:
    """{account id: orders ON_HOLD} for the accounts that have any."""
    rows = Order.objects.filter(status=OrderStatus.ON_HOLD).order_by().values("account_id")
    return {row["account_id"]: row["n"] for row in rows.annotate(n=Count("pk"))}


# --- spend controls -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendAllowance:
    """What a person may still spend today on one supplier account (None: no such limit)."""

    per_request: Decimal | None
    person_day: Decimal | None
    person_used: Decimal
    account_day: Decimal | None
    account_used: Decimal
    approval_above: Decimal | None

    @property
    def person_left(self) -> Decimal | None:
        return None if self.person_day is None else max(self.person_day - self.person_used, ZERO)

    @property
    def account_left(self) -> Decimal | None:
        if self.account_day is None:
            return None
        return max(self.account_day - self.account_used, ZERO)

    @property
    def left(self) -> Decimal | None:
        """The most one order or batch may spend now: the smallest of the limits that hold."""
        found = [
            v for v in (self.per_request, self.person_left, self.account_left) if v is not None
        ]
        return min(found) if found else None


ZERO = Decimal(0)


def spend_limit_of(kind: str, *, user=None, account=None) -> Decimal | None:
    """The limit of `kind` that holds: the person's own, else everyone's; the account's own; the
    approval threshold. None: no limit."""
    rows = SpendLimit.objects.filter(kind=kind)
    if kind == SpendLimit.Kind.ACCOUNT_DAY:
        return rows.filter(account=account).values_list("amount_usd", flat=True).first()
    if kind == SpendLimit.Kind.APPROVAL_ABOVE:
        return rows.values_list("amount_usd", flat=True).first()
    everyone = rows.filter(user=None).values_list("amount_usd", flat=True)
    user_id = getattr(user, "pk", None)
    if user_id is None:
        return everyone.first()
    own = rows.filter(user_id=user_id).values_list("amount_usd", flat=True).first()
    return own if own is not None else everyone.first()


def used_today(scope: str, subject_id: int, day: date | None = None) -> Decimal:
    used = (
        SpendUsage.objects.filter(
            scope=scope, subject_id=subject_id, day=day or timezone.localdate()
        )
        .values_list("used_usd", flat=True)
        .first()
    )
    return used if used is not None else Decimal(0)


def spend_allowance(*, user, account) -> SpendAllowance:
    K = SpendLimit.Kind
    return SpendAllowance(
        per_request=spend_limit_of(K.PERSON_REQUEST, user=user),
        person_day=spend_limit_of(K.PERSON_DAY, user=user),
        person_used=used_today(SpendUsage.Scope.PERSON, user.pk),
        account_day=spend_limit_of(K.ACCOUNT_DAY, account=account),
        account_used=used_today(SpendUsage.Scope.ACCOUNT, account.pk),
        approval_above=spend_limit_of(K.APPROVAL_ABOVE),
    )


def spend_approvals_waiting() -> QuerySet[SpendApproval]:
    return SpendApproval.objects.filter(status=SpendApproval.Status.WAITING).select_related(
        "requested_by", "account", "batch"
    )


def spend_approval_list() -> QuerySet[SpendApproval]:
    return SpendApproval.objects.select_related("requested_by", "decided_by", "account", "batch")


def spend_limit_list() -> QuerySet[SpendLimit]:
    return SpendLimit.objects.select_related("user", "account", "updated_by")


@dataclass(frozen=True)
class SpendUsageRow:
    day: date
    scope: str
    who: str
    used_usd: Decimal
    daily_limit: Decimal | None


def spend_usage_report(*, start: date, end: date) -> list[SpendUsageRow]:
    """Each person's and each account's spending per day from `start` to `end` (both included),
    beside the daily limit that holds for them now."""
    from django.contrib.auth import get_user_model

    from suppliers.models import SupplierAccount

    usage = list(
        SpendUsage.objects.filter(day__gte=start, day__lte=end).order_by(
            "day", "scope", "subject_id"
        )
    )
    people = {
        user.pk: user
        for user in get_user_model().objects.filter(
            pk__in=[u.subject_id for u in usage if u.scope == SpendUsage.Scope.PERSON]
        )
    }
    accounts = {
        account.pk: account
        for account in SupplierAccount.objects.filter(
            pk__in=[u.subject_id for u in usage if u.scope == SpendUsage.Scope.ACCOUNT]
        )
    }
    limits: dict[tuple[str, int], Decimal | None] = {}
    rows = []
    for item in usage:
        key = (item.scope, item.subject_id)
        if item.scope == SpendUsage.Scope.PERSON:
            person = people.get(item.subject_id)
            who = person.get_username() if person else f"person #{item.subject_id}"
            if key not in limits:
                limits[key] = spend_limit_of(SpendLimit.Kind.PERSON_DAY, user=person)
        else:
            account = accounts.get(item.subject_id)
            who = account.name if account else f"account #{item.subject_id}"
            if key not in limits:
                limits[key] = spend_limit_of(SpendLimit.Kind.ACCOUNT_DAY, account=account)
        rows.append(
            SpendUsageRow(item.day, item.get_scope_display(), who, item.used_usd, limits[key])
        )
    return rows


def spend_approval_of_order(*, order: Order) -> SpendApproval | None:
    """The approval request a manual order was placed under, if it needed one (made in the same
    transaction as the order, just after it)."""
    if order.batch_id is not None or order.created_by_id is None:
        return None
    candidates = spend_approval_list().filter(
        batch=None,
        requested_by_id=order.created_by_id,
        account_id=order.account_id,
        requested_at__gte=order.created_at,
    )
    for approval in candidates.order_by("requested_at", "id")[:5]:
        if order.pk in approval.order_ids:
            return approval
    return None


def gift_report_list() -> QuerySet[GiftReport]:
    """Telegram reports, newest sale first, with what their rows show."""
    return GiftReport.objects.select_related("order", "order__offer", "marketplace")


def gift_report_counts() -> dict[str, int]:
    rows = GiftReport.objects.values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def webhook_event_list() -> QuerySet[WebhookEvent]:
    return WebhookEvent.objects.select_related("account", "order")
