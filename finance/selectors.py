"""Reads of the finance app: balances, spend and runway, the balance over time (drawn by
`finance.charts`), the ledger, the inputs of a reconciliation (built from LedgerEntry and Order
rows) and a stored run rebuilt for its reports.

What an order leads us to expect on the supplier's ledger
==========================================================

The ledger carries no order id, so the engine (`finance.reconciliation`) matches by amount and
time; what it is told about each order decides everything. `order_expectation` is that rule:

* **Expected USD** = the order's `usd_cost`, fixed when it was sent at the rate valid then
  (units x round(unit price x rate, 2): the supplier debits the unit price converted to USD and
  rounded to the cent, per unit, docs/supplier-contract.md). An order without it (never sent
  through the queue) is priced the same way at the rate valid when it was submitted. USD (or no
  currency) is 1:1. A currency without a rate is expected at 0 USD and the run says so in its
  warnings. The supplier's own rates are learned from its rows by the engine (`rates`), so a
  wrong table shows as FX variance.
* **Charged**: every order the supplier accepted or may have accepted: SUBMITTING (in flight),
  SUBMITTED, PROCESSING, UNKNOWN (a lost answer usually means the order landed), COMPLETED,
  NEEDS_ATTENTION, and CANCELED / FAILED / REFUNDED (charged, then refunded). A RESOLVED order
  counts as charged when the supplier ever reported it. QUEUED, ON_HOLD, REJECTED and WITHDRAWN
  orders were never created at the supplier. The documented test offer 999 moves no money.
* **Refund owed**: CANCELED, FAILED and REFUNDED orders (the whole charge), and a partial
  delivery (COMPLETED or NEEDS_ATTENTION): the units the order records as refunded
  (`Order.units_refunded`, set by the orders app when the supplier completed it without them).
  Keys the supplier delivered but we could not read yet are not among them: they are re-checked,
  not refunded.
* **Window**: from `submitted_at` (the first create-order call under the order's transactionId)
  to `final_at` (the end of the period while it is pending).

The period holds the ledger rows created in it and the orders submitted in it. The engine also
gets, as matching candidates only, the rows and orders of the neighbouring periods that could
pair with them: rows up to the window slack before the period and up to the refund window (plus
the slack) after it, and the orders whose window reaches into the period (submitted before its
end + slack, and final after its start - refund window - slack, or still pending). A charge at
00:00:00.4 for an order submitted at 23:59:59.5 is then matched on both days.

**FX rates**: `CurrencyRate` is a history and each order keeps the rate it was sent at, so a
rerun of an old period gives the same answer after any rate change. The table rates the period's
orders used are stored with the run (`fx_rates`), beside the supplier's observed rates. Spend and
runway are read from the ledger, in the USD the supplier actually debited: no rate enters them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.pricing import usd_cost
from catalog.selectors import RateTable
from finance import reconciliation as engine
from finance.errors import ReconciliationInputError
from finance.models import (
    BalanceAlert,
    BalanceAlertRule,
    BalanceSnapshot,
    ItemExplanation,
    JobStatus,
    LedgerEntry,
    LedgerSync,
    ReconciliationItem,
    ReconciliationRun,
)
from finance.money import CENT, ZERO, cents
from finance.reconciliation import storing
from orders.models import Order, OrderStatus
from orders.states import SUPPLIER_STATUSES
from reseller.core.ids import typed_id
from suppliers.capabilities import capabilities_of
from suppliers.models import SupplierAccount

TEST_OFFER_ID = 999
PURCHASE, REFUND, DEPOSIT = engine.PURCHASE, engine.REFUND, engine.DEPOSIT


def spend_window() -> dt.timedelta:
    """The recent spend rate is the average over this many days (runway = balance / rate)."""
    return dt.timedelta(days=getattr(settings, "FINANCE_SPEND_WINDOW_DAYS", 7))


# --- accounts, snapshots, alerts -----------------------------------------------------------------


def finance_accounts() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.filter(enabled=True).order_by("name")


def has_balance_api(account: SupplierAccount) -> bool:
    """Whether the account's supplier has a balance endpoint (suppliers/capabilities.py)."""
    return capabilities_of(account).balance


def has_ledger(account: SupplierAccount) -> bool:
    """Whether the account's supplier has a transaction history (its spend comes from it, and it
    can be synced and reconciled); without one, the spend is our own orders'."""
    return capabilities_of(account).ledger


def latest_snapshot(account: SupplierAccount) -> BalanceSnapshot | None:
    return BalanceSnapshot.objects.filter(account=account).order_by("-taken_at", "-id").first()


def snapshot_fresh_for() -> dt.timedelta:
    """A snapshot older than this is refreshed in the background when a page shows it."""
    return dt.timedelta(minutes=getattr(settings, "FINANCE_BALANCE_FRESH_MINUTES", 3))


def snapshot_is_stale(account: SupplierAccount, *, now: dt.datetime | None = None) -> bool:
    """No snapshot yet, or the latest older than `snapshot_fresh_for()`."""
    snapshot = latest_snapshot(account)
    now = now or timezone.now()
    return snapshot is None or now - snapshot.taken_at > snapshot_fresh_for()


def snapshot_asked_key(account: SupplierAccount) -> str:
    return f"finance:snapshot-asked:{account.pk}"


def snapshot_asked_at(account: SupplierAccount) -> dt.datetime | None:
    """When a worker was last asked for a fresh snapshot, within the last minute (None when the
    cache is out of reach: the page then simply does not wait for it)."""
    try:
        asked = cache.get(snapshot_asked_key(account))
    except Exception:
        return None
    return None if asked is None else dt.datetime.fromisoformat(asked)


def alert_rule(account: SupplierAccount) -> BalanceAlertRule | None:
    return BalanceAlertRule.objects.filter(account=account).first()


def open_alert(account: SupplierAccount) -> BalanceAlert | None:
    return BalanceAlert.objects.filter(account=account, cleared_at__isnull=True).first()


def open_alerts() -> QuerySet[BalanceAlert]:
    return BalanceAlert.objects.filter(cleared_at__isnull=True).select_related("account")


def alert_list(account: SupplierAccount, limit: int = 10) -> list[BalanceAlert]:
    return list(BalanceAlert.objects.filter(account=account)[:limit])


def recent_alert(account: SupplierAccount, since: dt.datetime) -> BalanceAlert | None:
    """The latest alert cleared after `since` (reopened rather than raised anew: once per period)."""
    return (
        BalanceAlert.objects.filter(account=account, cleared_at__gte=since)
        .order_by("-cleared_at", "-id")
        .first()
    )


def alert_recipients() -> list[str]:
    """The addresses of active finance and admin staff."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    users = users.filter(Q(groups__name__in=["finance", "admin"]) | Q(is_superuser=True))
    return sorted(set(users.values_list("email", flat=True)))


# --- spend and runway ----------------------------------------------------------------------------


def _type_q(kind: str) -> Q:
    return Q(type__iexact=kind)


def ledger_sync_interval() -> dt.timedelta:
    """How often the schedule syncs each ledger (LEDGER_SYNC_MINUTES)."""
    return dt.timedelta(minutes=getattr(settings, "FINANCE_LEDGER_SYNC_MINUTES", 15))


def ledger_stale_after() -> dt.timedelta:
    """A ledger synced longer ago than this makes the spend rate and the runway stale."""
    return dt.timedelta(hours=getattr(settings, "FINANCE_LEDGER_STALE_HOURS", 24))


@dataclass(frozen=True)
class Spend:
    """The recent spend rate (USD a day), measured over the spend window ending at `until`: the
    end of what the ledger holds (its last sync, or its last row), not now. `stale` when that is
    longer ago than `ledger_stale_after()`: the rate (and a runway from it) may be out of date."""

    rate: Decimal | None
    until: dt.datetime | None
    stale: bool
    #: The days the rate was really averaged over: the window, or less when the ledger is
    #: younger than it (at least one day).
    days: Decimal | None = None

    @property
    def days_text(self) -> str:
        """ "7 days", "1 day", "2.5 days": the days averaged, as the runway sentence says them."""
        if self.days is None:
            return ""
        days = self.days.quantize(Decimal("0.1"), ROUND_HALF_UP).normalize()
        return f"{days:f} day{'' if days == 1 else 's'}"


def spend_measure(account: SupplierAccount, *, now: dt.datetime | None = None) -> Spend:
    """Net USD spent per day (purchases - refunds) over the spend window, from the ledger.

    The window ends where the ledger does (see `Spend`): an old ledger is not read as days of no
    spending. No rate when the ledger of the account has never been synced (no rows). A ledger
    younger than the window is averaged over the days it covers (at least one).
    """
    now = now or timezone.now()
    rows = LedgerEntry.objects.filter(account=account, created_at__isnull=False)
    first, last = rows.aggregate(first=Min("created_at"), last=Max("created_at")).values()
    if first is None:
        return Spend(None, None, False)
    until = min(now, max(ledger_horizon(account) or last, last))
    window = spend_window()
    since = until - window
    sums = rows.filter(created_at__gte=since, created_at__lte=until).aggregate(
        purchases=Sum("amount", filter=_type_q(PURCHASE)),
        refunds=Sum("amount", filter=_type_q(REFUND)),
    )
    net = -(sums["purchases"] or ZERO) - (sums["refunds"] or ZERO)
    covered = min(window, max(until - first, dt.timedelta(days=1)))
    days = Decimal(str(covered.total_seconds() / 86400))
    rate = (net / days).quantize(CENT, ROUND_HALF_UP)
    return Spend(rate, until, now - until > ledger_stale_after(), days)


def spend_rate(account: SupplierAccount, *, now: dt.datetime | None = None) -> Decimal | None:
    """The rate of `spend_measure` alone."""
    return spend_measure(account, now=now).rate


def runway_days(balance: Decimal, rate: Decimal | None) -> Decimal | None:
    """Days the balance lasts at `rate` USD a day; None when nothing is being spent."""
    if rate is None or rate <= 0:
        return None
    return (max(balance, ZERO) / rate).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class AccountFinance:
    """One account's figures for the overview and the dashboard."""

    account: SupplierAccount
    snapshot: BalanceSnapshot | None
    rule: BalanceAlertRule | None
    alert: BalanceAlert | None
    spend_rate: Decimal | None
    runway_days: Decimal | None
    last_ledger_sync: LedgerSync | None
    supported: bool
    spend_until: dt.datetime | None = None  # the spend is measured up to here
    spend_stale: bool = False  # the ledger is old: the rate and the runway may be out of date
    spend_days: str = ""  # the days the spend rate was averaged over ("7 days", "1 day")
    refreshing: bool = False  # a fresh snapshot was asked for and has not arrived yet

    @property
    def snapshot_age(self) -> dt.timedelta | None:
        return None if self.snapshot is None else timezone.now() - self.snapshot.taken_at

    @property
    def snapshot_stale(self) -> bool:
        age = self.snapshot_age
        return age is None or age > snapshot_fresh_for()

    @property
    def is_postpaid(self) -> bool:
        return bool(self.snapshot and self.snapshot.is_postpaid)

    @property
    def owed(self) -> Decimal | None:
        return self.snapshot.owed if self.snapshot else None


def account_finance(account: SupplierAccount, *, now: dt.datetime | None = None) -> AccountFinance:
    snapshot = latest_snapshot(account)
    spend = spend_measure(account, now=now)
    rate = spend.rate
    runway = None
    if snapshot is not None and not snapshot.is_postpaid:
        runway = runway_days(snapshot.balance, rate)
    return AccountFinance(
        account=account,
        snapshot=snapshot,
        rule=alert_rule(account),
        alert=open_alert(account),
        spend_rate=rate,
        runway_days=runway,
        last_ledger_sync=last_ledger_sync(account),
        supported=has_balance_api(account),
        spend_until=spend.until,
        spend_stale=spend.stale,
        spend_days=spend.days_text,
        refreshing=(asked := snapshot_asked_at(account)) is not None
        and (snapshot is None or snapshot.taken_at < asked),
    )


def dashboard_finance() -> list[AccountFinance]:
    return [account_finance(account) for account in finance_accounts()]


@dataclass(frozen=True)
class DaySpend:
    day: dt.date
    purchases: Decimal
    refunds: Decimal
    deposits: Decimal

    @property
    def net(self) -> Decimal:
        return self.purchases - self.refunds


def spend_per_day(
    account: SupplierAccount, *, start: dt.datetime, end: dt.datetime
) -> list[DaySpend]:
    """Purchases, refunds and deposits per day (in the site's time zone) from the ledger, every
    day of [start, end) listed, newest first. Purchases and refunds are positive amounts."""
    zone = timezone.get_current_timezone()
    rows = (
        LedgerEntry.objects.filter(account=account, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day")
        .annotate(
            purchases=Sum("amount", filter=_type_q(PURCHASE)),
            refunds=Sum("amount", filter=_type_q(REFUND)),
            deposits=Sum("amount", filter=_type_q(DEPOSIT)),
        )
    )
    by_day = {row["day"]: row for row in rows}
    return _every_day(by_day, start, end, zone)


def spend_per_day_from_orders(
    account: SupplierAccount, *, start: dt.datetime, end: dt.datetime
) -> tuple[list[DaySpend], list[str]]:
    """What our own orders of the account spent per day, for a supplier without a ledger: each
    order's USD cost as kept when it was sent (else its price × units at the rate valid when it
    was submitted; see the module doc) on the day it was submitted, and what it is
    refunded (failed, canceled, units the supplier refunds) on the same day. No deposits: only a
    ledger knows them. Also the warnings (orders without a rate or a price)."""
    zone = timezone.get_current_timezone()
    orders, warnings, _rates = _local_orders(
        Order.objects.filter(account=account, submitted_at__gte=start, submitted_at__lt=end)
    )
    by_day: dict[dt.date, dict] = {}
    for order in orders:
        if not order.charged_expected or order.submitted_at is None:
            continue
        day = by_day.setdefault(
            timezone.localtime(order.submitted_at, zone).date(),
            {"purchases": ZERO, "refunds": ZERO},
        )
        # Negative like a ledger's purchase row, as _every_day expects.
        day["purchases"] -= order.expected_usd
        if order.refund_expected:
            day["refunds"] += order.refund_usd
    return _every_day(by_day, start, end, zone), warnings


def _every_day(by_day: dict, start: dt.datetime, end: dt.datetime, zone) -> list[DaySpend]:
    """Every day of [start, end), newest first, with the sums `by_day` holds for it."""
    days = []
    day, last = timezone.localtime(start, zone).date(), timezone.localtime(end, zone).date()
    if timezone.localtime(end, zone).time() == dt.time(0):
        last -= dt.timedelta(days=1)
    while day <= last:
        row = by_day.get(day, {})
        days.append(
            DaySpend(
                day=day,
                purchases=cents(-(row.get("purchases") or ZERO)),
                refunds=cents(row.get("refunds") or ZERO),
                deposits=cents(row.get("deposits") or ZERO),
            )
        )
        day += dt.timedelta(days=1)
    return days[::-1]


# --- the balance over time -----------------------------------------------------------------------


def balance_history(
    account: SupplierAccount, *, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, Decimal]]:
    """The snapshots' (taken_at, balance) over [start, end), oldest first (for the chart)."""
    return list(
        BalanceSnapshot.objects.filter(account=account, taken_at__gte=start, taken_at__lt=end)
        .order_by("taken_at", "id")
        .values_list("taken_at", "balance")
    )


# --- the ledger ----------------------------------------------------------------------------------


def last_ledger_sync(account: SupplierAccount) -> LedgerSync | None:
    return LedgerSync.objects.filter(account=account).first()


def last_finished_ledger_sync(account: SupplierAccount) -> LedgerSync | None:
    return (
        LedgerSync.objects.filter(
            account=account, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]
        )
        .order_by("-finished_at", "-id")
        .first()
    )


def last_successful_ledger_sync(account: SupplierAccount) -> LedgerSync | None:
    return (
        LedgerSync.objects.filter(account=account, status=JobStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def active_ledger_sync(account: SupplierAccount) -> LedgerSync | None:
    return LedgerSync.objects.filter(
        account=account, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).first()


def ledger_sync_list() -> QuerySet[LedgerSync]:
    return LedgerSync.objects.select_related("account", "started_by")


def known_supplier_ids(account: SupplierAccount, ids: list[int]) -> set[int]:
    return set(
        LedgerEntry.objects.filter(account=account, supplier_id__in=ids).values_list(
            "supplier_id", flat=True
        )
    )


def ledger_entry_list(
    *,
    account: SupplierAccount,
    kind: str = "",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    search: str = "",
) -> QuerySet[LedgerEntry]:
    rows = LedgerEntry.objects.filter(account=account)
    if kind:
        rows = rows.filter(_type_q(kind))
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    if end is not None:
        rows = rows.filter(created_at__lt=end)
    if search:
        term = search.strip()
        query = Q(description__icontains=term)
        if (supplier_id := typed_id(term)) is not None:
            query |= Q(supplier_id=supplier_id)
        rows = rows.filter(query)
    return rows.order_by("-created_at", "-supplier_id")


def ledger_entry_items(entry: LedgerEntry) -> QuerySet[ReconciliationItem]:
    """Where the runs placed this ledger row (newest run first)."""
    return (
        ReconciliationItem.objects.filter(Q(ledger_entry=entry) | Q(previous_entry=entry))
        .select_related("run")
        .order_by("-run__created_at", "-run_id")
    )


# --- reconciliation inputs -----------------------------------------------------------------------


CHARGED_STATUSES = frozenset(
    {
        OrderStatus.SUBMITTING,
        OrderStatus.SUBMITTED,
        OrderStatus.PROCESSING,
        OrderStatus.UNKNOWN,
        OrderStatus.COMPLETED,
        OrderStatus.NEEDS_ATTENTION,
        OrderStatus.CANCELED,
        OrderStatus.FAILED,
        OrderStatus.REFUNDED,
    }
)
REFUNDED_STATUSES = frozenset({OrderStatus.CANCELED, OrderStatus.FAILED, OrderStatus.REFUNDED})
#: The supplier's statuses that mean it refunded the order, read from the orders' vocabulary.
SUPPLIER_REFUNDED = frozenset(
    code for code, status in SUPPLIER_STATUSES.items() if status in REFUNDED_STATUSES
)


def order_expectation(
    *, status: str, supplier_status: str, units: int, units_refunded: int, offer_id: int | None
) -> tuple[bool, bool, int]:
    """(charge expected, refund expected, units refunded) for an order (see the module doc)."""
    if offer_id == TEST_OFFER_ID:
        return False, False, 0
    if status == OrderStatus.RESOLVED:
        charged = bool(supplier_status)
        refunded = supplier_status.upper() in SUPPLIER_REFUNDED
        return charged, refunded, units if refunded else 0
    if status not in CHARGED_STATUSES:
        return False, False, 0
    if status in REFUNDED_STATUSES:
        return True, True, units
    if status in (OrderStatus.COMPLETED, OrderStatus.NEEDS_ATTENTION) and units_refunded > 0:
        return True, True, min(units_refunded, units)
    return True, False, 0


@dataclass
class ReconciliationInputs:
    entries: list[engine.LedgerEntry]
    orders: list[engine.LocalOrder]
    opening_balance: Decimal | None
    warnings: list[str]
    ledger_pks: dict[int, int]  # the supplier's row id -> our LedgerEntry pk
    opening_row_id: int | None = None  # the supplier id of the last row before the period
    fx_rates: dict[str, str] | None = None  # currency -> the table's USD per unit, as used
    ledger_synced_until: dt.datetime | None = None  # set when that is before the period end
    ledger_warning: str = ""


def period_ledger_entries(
    account: SupplierAccount, *, start: dt.datetime, end: dt.datetime
) -> tuple[list[engine.LedgerEntry], dict[int, int]]:
    """The ledger rows created in [start, end), oldest first, and their pks by supplier id (the
    caller widens the range to take the neighbours' candidates too)."""
    entries = []
    pks = {}
    rows = (
        LedgerEntry.objects.filter(account=account, created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "supplier_id")
        .values_list(
            "pk", "supplier_id", "amount", "type", "description", "balance_after", "created_at"
        )
    )
    for pk, supplier_id, amount, kind, description, balance_after, created_at in rows.iterator(
        chunk_size=5000
    ):
        if created_at is None:  # never: the rows are picked by their time
            raise ValueError(f"ledger row {supplier_id} has no time")
        if balance_after is None:
            raise ReconciliationInputError(
                f"Ledger row {supplier_id} came without its balanceAfter: the balance chain "
                "cannot be checked. Ask the supplier for it before reconciling this period."
            )
        pks[supplier_id] = pk
        entries.append(
            engine.LedgerEntry(
                id=supplier_id,
                amount=cents(amount),
                type=kind,
                description=description,
                balance_after=cents(balance_after),
                created_at=created_at,
            )
        )
    return entries, pks


def opening_balance(account: SupplierAccount, *, start: dt.datetime) -> Decimal | None:
    """The balance after the last ledger row before the period, when we have it."""
    return opening_row(account, start=start)[0]


def opening_row(
    account: SupplierAccount, *, start: dt.datetime
) -> tuple[Decimal | None, int | None]:
    """The balance after the last ledger row before the period, and that row's supplier id."""
    row = (
        LedgerEntry.objects.filter(account=account, created_at__lt=start)
        .order_by("-created_at", "-supplier_id")
        .values_list("balance_after", "supplier_id")
        .first()
    )
    return (None, None) if row is None else (cents(row[0]), row[1])


def ledger_horizon(account: SupplierAccount) -> dt.datetime | None:
    """Up to when the stored ledger is complete: the start of the last successful sync (rows
    booked while it ran may be missing), else the last stored row; None when nothing is stored."""
    sync = last_successful_ledger_sync(account)
    if sync is not None and (sync.started_at or sync.finished_at):
        return sync.started_at or sync.finished_at
    return (
        LedgerEntry.objects.filter(account=account, created_at__isnull=False)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def ledger_staleness(
    account: SupplierAccount, *, end: dt.datetime, now: dt.datetime | None = None
) -> tuple[dt.datetime | None, str]:
    """(the horizon when it is before `end`, a warning when that matters), else (None, "").

    The horizon goes to the engine whenever it is before the period's end (what was due after
    it is marked UNSYNCED). The warning is only given when the ledger really ends before the
    period does by more than the sync interval: a run right after a sync, or over a period that
    ends now, is as fresh as the schedule keeps the ledger, and a banner there would teach
    finance to ignore it.
    """
    horizon = ledger_horizon(account)
    if horizon is None:
        return None, (
            "The ledger of this account has never been synced: every order shows as not charged. "
            "Sync the ledger, then run again."
        )
    if horizon >= end:
        return None, ""
    due = min(end, now or timezone.now())
    if due - horizon <= ledger_sync_interval():
        return horizon, ""
    when = horizon.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    return horizon, (
        f"The ledger is older than the end of the period: it was last synced up to {when} UTC. "
        "Rows booked after that are not here, so orders and refunds due after it are marked "
        "UNSYNCED instead of counting as problems, and the totals stop at the last synced row. "
        "Sync the ledger, then run again."
    )


ORDER_VALUES = (
    "pk",
    "transaction_id",
    "status",
    "supplier_status",
    "price_sent",
    "quoted_price",
    "currency",
    "units",
    "units_refunded",
    "submitted_at",
    "final_at",
    "offer__offer_id",
    "usd_rate",
    "usd_cost",
    "offer__product_name",
    "offer__offer_name",
)


def period_local_orders(
    account: SupplierAccount, *, start: dt.datetime, end: dt.datetime
) -> tuple[list[engine.LocalOrder], list[str]]:
    """Our orders submitted in [start, end) as the engine's `LocalOrder`s, and the warnings
    (currencies without a rate) that affect them."""
    orders, warnings, _rates = _local_orders(
        Order.objects.filter(account=account, submitted_at__gte=start, submitted_at__lt=end)
    )
    return orders, warnings


def candidate_local_orders(
    account: SupplierAccount,
    *,
    start: dt.datetime,
    end: dt.datetime,
    reach: dt.timedelta,
    slack: dt.timedelta,
) -> tuple[list[engine.LocalOrder], list[str], dict[str, str]]:
    """The period's orders and the neighbours' whose window reaches into it (see the module
    doc), the warnings, and the FX rates used (currency -> USD per unit, as text)."""
    reaching = (
        Q(submitted_at__gte=start) | Q(final_at__gte=start - reach) | Q(final_at__isnull=True)
    )
    return _local_orders(
        Order.objects.filter(account=account, submitted_at__lt=end + slack).filter(reaching)
    )


def _local_orders(
    queryset: QuerySet[Order],
) -> tuple[list[engine.LocalOrder], list[str], dict[str, str]]:
    rates = RateTable.load()
    used: dict[str, set[Decimal]] = {}
    missing_rate: dict[str, int] = {}
    no_price = 0
    orders = []
    rows = queryset.order_by("submitted_at", "pk").values_list(*ORDER_VALUES)
    for row in rows.iterator(chunk_size=5000):
        (
            pk,
            transaction_id,
            status,
            supplier_status,
            price_sent,
            quoted,
            currency,
            units,
            units_refunded,
            submitted_at,
            final_at,
            offer_id,
            usd_rate,
            cost,
            product_name,
            offer_name,
        ) = row
        units = units or 1
        price = price_sent if price_sent is not None else quoted
        rate = usd_rate
        if rate is None and submitted_at is not None:
            rate = rates.at(currency, submitted_at)
        if price is None:
            no_price += 1
            expected = ZERO
        elif cost is not None:
            expected = cost
        elif rate is None:
            missing_rate[currency] = missing_rate.get(currency, 0) + 1
            expected = ZERO
        else:
            expected = usd_cost(price, units, rate)
        if rate is not None and currency and currency != "USD":
            used.setdefault(currency, set()).add(rate)
        charged, refunded, refund_units = order_expectation(
            status=status,
            supplier_status=supplier_status or "",
            units=units,
            units_refunded=units_refunded or 0,
            offer_id=offer_id,
        )
        refund_usd = None
        if refunded and refund_units != units:
            refund_usd = (expected / units * refund_units).quantize(CENT, ROUND_HALF_UP)
        orders.append(
            engine.LocalOrder(
                key=str(pk),
                transaction_id=transaction_id,
                status=status,
                expected_usd=expected,
                submitted_at=submitted_at,
                final_at=final_at,
                charged_expected=charged,
                refund_expected=refunded,
                amount=None if price is None else cents(price * units),
                currency=currency or None,
                expected_refund_usd=refund_usd,
                units=units,
                label=f"{product_name} {offer_name}".strip(),
            )
        )
    warnings = [
        f"{count} order{'s' if count != 1 else ''} in {currency} had no exchange rate: "
        f"expected at 0 USD. Set the {currency} rate under Pricing and run again."
        for currency, count in sorted(missing_rate.items())
    ]
    if no_price:
        warnings.append(f"{no_price} order(s) had no price: expected at 0 USD.")
    return (
        orders,
        warnings,
        {currency: _rates_text(found) for currency, found in sorted(used.items())},
    )


def _rates_text(rates: set[Decimal]) -> str:
    """The table's rates the orders of one currency were sent at: one, or the lowest to the
    highest when the table changed during the period."""
    low, high = min(rates), max(rates)
    if low == high:
        return f"{low.normalize():f}"
    return f"{low.normalize():f} to {high.normalize():f}"


def reconciliation_inputs(
    account: SupplierAccount,
    *,
    start: dt.datetime,
    end: dt.datetime,
    slack: dt.timedelta | None = None,
    refund_window: dt.timedelta | None = None,
) -> ReconciliationInputs:
    """The period's rows and orders with the neighbours' candidates (see the module doc)."""
    defaults = engine.Settings()
    slack = defaults.window_slack if slack is None else slack
    refund_window = defaults.refund_window if refund_window is None else refund_window
    reach = refund_window + slack
    entries, ledger_pks = period_ledger_entries(account, start=start - slack, end=end + reach)
    orders, warnings, rates = candidate_local_orders(
        account, start=start, end=end, reach=reach, slack=slack
    )
    undated = LedgerEntry.objects.filter(account=account, created_at__isnull=True).count()
    if undated:
        warnings.append(f"{undated} ledger row(s) came without a time and are in no period.")
    balance, row_id = opening_row(account, start=start)
    synced_until, stale = ledger_staleness(account, end=end)
    return ReconciliationInputs(
        entries=entries,
        orders=orders,
        opening_balance=balance,
        warnings=warnings,
        ledger_pks=ledger_pks,
        opening_row_id=row_id,
        fx_rates=rates,
        ledger_synced_until=synced_until,
        ledger_warning=stale,
    )


# --- runs ----------------------------------------------------------------------------------------


def reconciliation_run_list(account: SupplierAccount | None = None) -> QuerySet[ReconciliationRun]:
    runs = ReconciliationRun.objects.select_related("account", "started_by")
    return runs.filter(account=account) if account else runs


def active_reconciliation(account: SupplierAccount) -> ReconciliationRun | None:
    return ReconciliationRun.objects.filter(
        account=account, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).first()


def run_items(run: ReconciliationRun, bucket: str) -> QuerySet[ReconciliationItem]:
    """The items of one bucket in their order. The ledger rows are fetched for the page being
    shown only (prefetched, not joined): joined, a deep page would join every row it skips."""
    return (
        ReconciliationItem.objects.filter(run=run, bucket=bucket)
        .prefetch_related("ledger_entry", "previous_entry")
        .order_by("position")
    )


def run_explanations(
    run: ReconciliationRun, keys: Iterable[str] | None = None
) -> dict[str, ItemExplanation]:
    """The account's explanations of the items of this run (or of the given item keys only,
    e.g. one page of it), by item key."""
    wanted = (
        ReconciliationItem.objects.filter(run=run).values("item_key")
        if keys is None
        else list(keys)
    )
    return {
        explanation.item_key: explanation
        for explanation in ItemExplanation.objects.filter(
            account_id=run.account_id, item_key__in=wanted
        ).select_related("explained_by")
    }


def run_explanation_texts(run: ReconciliationRun) -> dict[str, str]:
    """The explanation of each explained item of the run, by item key, for the exports; one
    written when the item was in another bucket or matched to another order reads "explained
    earlier as <bucket> / order #N: <text>"."""
    keys = ReconciliationItem.objects.filter(run=run).values("item_key")
    explanations = {
        explanation.item_key: explanation
        for explanation in ItemExplanation.objects.filter(
            account_id=run.account_id, item_key__in=keys
        )
    }
    if not explanations:
        return {}
    now = ReconciliationItem.objects.filter(run=run, item_key__in=list(explanations)).values_list(
        "item_key", "bucket", "order_key"
    )
    texts = {}
    for item_key, bucket, order_key in now:
        explanation = explanations[item_key]
        texts[item_key] = (
            explanation.comment
            if explanation.applies_to(bucket, order_key)
            else explanation.earlier_text
        )
    return texts


def explained_count(run: ReconciliationRun) -> int:
    """Items of the run explained as they are now (same bucket, same order): an explanation
    written before the item moved does not count."""
    same = ReconciliationItem.objects.filter(
        run=run,
        item_key=OuterRef("item_key"),
        bucket=OuterRef("bucket"),
        order_key=OuterRef("order_key"),
    )
    return ItemExplanation.objects.filter(account_id=run.account_id).filter(Exists(same)).count()


def run_result(run: ReconciliationRun) -> engine.ReconciliationResult:
    """A stored run as the engine's result again, for the exports (which take one): its items
    read by the column map of `storing`, with the ledger rows they point at."""
    items = ReconciliationItem.objects.filter(run=run)
    entries = {
        row.pk: storing.engine_entry(row)
        for row in LedgerEntry.objects.filter(
            Q(pk__in=items.values("ledger_entry_id")) | Q(pk__in=items.values("previous_entry_id"))
        )
    }
    rows = items.order_by("position").values_list(*storing.ITEM_COLUMNS)
    return storing.stored_result(run, rows.iterator(chunk_size=5000), entries)


def period_ledger_export(
    account: SupplierAccount, *, start: dt.datetime, end: dt.datetime
) -> Iterator[storing.LedgerLine]:
    """The ledger rows of a period, oldest first, for the plain CSV export (a generator)."""
    rows = LedgerEntry.objects.filter(
        account=account, created_at__gte=start, created_at__lt=end
    ).order_by("created_at", "supplier_id")
    return (storing.ledger_line(row) for row in rows.iterator(chunk_size=5000))
