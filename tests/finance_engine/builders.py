"""Small builders for ledgers and orders, and the invariants every reconciliation must keep."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from finance.reconciliation import (
    LEDGER_BUCKETS,
    ORDER_BUCKETS,
    REFUND_BUCKETS,
    Bucket,
    LedgerEntry,
    LocalOrder,
    ReconciliationResult,
    Settings,
)

T0 = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
D = Decimal
OPENING = Decimal("1000.00")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def chain(
    rows: Iterable[tuple[float, str | Decimal, str] | tuple[float, str | Decimal, str, str]],
    *,
    opening: Decimal = OPENING,
    first_id: int = 1,
) -> list[LedgerEntry]:
    """Ledger rows (seconds after T0, amount, type[, description]) with a consistent balance
    chain, ids in time order."""
    entries = []
    balance = opening
    for offset, row in enumerate(sorted(rows, key=lambda row: row[0])):
        amount = D(row[1])
        balance += amount
        description = row[3] if len(row) > 3 else f"{row[2].title()} row"
        entries.append(
            LedgerEntry(first_id + offset, amount, row[2], description, balance, at(row[0]))
        )
    return entries


def order(
    key: str,
    expected: str | Decimal,
    submitted: float | None = 0,
    final: float | None = 5,
    *,
    status: str = "COMPLETED",
    charged: bool = True,
    refund: bool = False,
    amount: str | Decimal | None = None,
    currency: str | None = None,
    expected_refund: str | Decimal | None = None,
    units: int = 1,
) -> LocalOrder:
    return LocalOrder(
        key=key,
        transaction_id=f"tx-{key}",
        status=status,
        expected_usd=D(expected),
        submitted_at=None if submitted is None else at(submitted),
        final_at=None if final is None else at(final),
        charged_expected=charged,
        refund_expected=refund,
        amount=None if amount is None else D(amount),
        currency=currency,
        expected_refund_usd=None if expected_refund is None else D(expected_refund),
        units=units,
    )


def within_tolerance(supplier: Decimal, ours: Decimal, settings: Settings) -> bool:
    difference = abs(supplier - ours)
    return difference <= settings.abs_tolerance or difference <= ours * settings.fx_tolerance


def in_window(
    entry: LedgerEntry, order: LocalOrder, result: ReconciliationResult, refund: bool = False
) -> bool:
    """Inside the order's window: [submitted - slack, final + slack] for a charge, up to
    final + refund window for a refund."""
    slack = result.settings.window_slack
    after = result.settings.refund_window if refund else slack
    if order.submitted_at is None:
        return False
    end = order.final_at or result.period_end
    return order.submitted_at - slack <= entry.created_at <= max(end, order.submitted_at) + after


def supplier_rate(order: LocalOrder, result: ReconciliationResult) -> Decimal | None:
    """The supplier's rate the run learned and applied for the order's currency, if any."""
    for rate in result.observed_rates:
        if rate.applied and rate.currency == order.currency:
            return rate.observed
    return None


def expected_charge(order: LocalOrder, result: ReconciliationResult) -> Decimal:
    """The charge the matching expects: at the supplier's learned rate, else our table's."""
    rate = supplier_rate(order, result)
    if rate is None or not order.amount or order.amount <= 0:
        return order.charge_usd
    unit = (order.amount / order.units * rate).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    return unit * order.units


def expected_refund(order: LocalOrder, result: ReconciliationResult) -> Decimal:
    table = order.charge_usd
    if not table or expected_charge(order, result) == table:
        return order.refund_usd
    ratio = expected_charge(order, result) / table
    return (order.refund_usd * ratio).quantize(D("0.01"), rounding=ROUND_HALF_UP)


def compatible_charge(entry: LedgerEntry, order: LocalOrder, result: ReconciliationResult):
    return (
        entry.type == "PURCHASE"
        and order.charged_expected
        and -entry.amount > 0
        and in_window(entry, order, result)
        and within_tolerance(-entry.amount, expected_charge(order, result), result.settings)
    )


def charge_row_time(order: LocalOrder, result: ReconciliationResult) -> datetime | None:
    for bucket in (Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE):
        for item in result.items[bucket]:
            if item.order is not None and item.order.key == order.key:
                return item.ledger_row.created_at
    return None


def compatible_refund(entry: LedgerEntry, order: LocalOrder, result: ReconciliationResult):
    """A refund row fits an order owed one in its window, by amount, and not before the row
    its charge was matched to (a refund follows its charge)."""
    settings = result.settings
    expected = expected_refund(order, result)
    charged = charge_row_time(order, result)
    return (
        entry.type == "REFUND"
        and order.refund_expected
        and entry.amount > 0
        and in_window(entry, order, result, refund=True)
        and (charged is None or entry.created_at >= charged)
        and (entry.amount <= expected or within_tolerance(entry.amount, expected, settings))
    )


def assert_invariants(
    result: ReconciliationResult,
    ledger: Sequence[LedgerEntry],
    orders: Sequence[LocalOrder],
) -> None:
    """Every row and order of the period in exactly one bucket, one-to-one matches that respect
    the window and the tolerance, no compatible pair left unmatched, and totals that add up.

    `ledger` and `orders` may hold rows and orders of the neighbouring periods (matching
    candidates): they show only as the match of a row or order of the period."""
    settings = result.settings
    all_orders = orders
    ledger = [entry for entry in ledger if settings.contains(entry.created_at)]
    orders = [order for order in orders if settings.contains(order.submitted_at)]
    refunds_owed = [
        order
        for order in all_orders
        if order.refund_expected and settings.contains(order.final_at or order.submitted_at)
    ]
    _assert_each_in_one_bucket(result, ledger, orders, refunds_owed)
    _assert_matches(result)
    _assert_totals(result, ledger)
    _assert_our_side(result, orders, refunds_owed)


def _assert_each_in_one_bucket(
    result: ReconciliationResult,
    ledger: Sequence[LedgerEntry],
    orders: Sequence[LocalOrder],
    refunds_owed: Sequence[LocalOrder],
) -> None:
    """The period's rows, orders and refunds owed each in exactly one bucket of their side."""
    settings = result.settings
    # Every ledger row in exactly one ledger bucket, and only there.
    ledger_ids = Counter(
        item.entry.id
        for bucket in LEDGER_BUCKETS
        for item in result.items[bucket]
        if settings.contains(item.entry.created_at)
    )
    assert ledger_ids == Counter(entry.id for entry in ledger)
    for bucket in set(Bucket) - set(LEDGER_BUCKETS) - {Bucket.CHAIN_BREAK}:
        assert all(item.entry is None for item in result.items[bucket]), bucket
    assert sum(result.ledger_rows_by_bucket().values()) == len(ledger) == result.ledger_count

    # Every order in exactly one charge-side bucket; every refund owed in one refund bucket.
    order_keys = Counter(
        item.order.key
        for bucket in ORDER_BUCKETS
        for item in result.items[bucket]
        if settings.contains(item.order.submitted_at)
    )
    assert order_keys == Counter(order.key for order in orders)
    assert sum(result.orders_by_bucket().values()) == len(orders) == result.order_count
    refund_keys = Counter(
        item.order.key
        for bucket in REFUND_BUCKETS
        for item in result.items[bucket]
        if settings.contains(item.order.final_at or item.order.submitted_at)
    )
    assert refund_keys == Counter(order.key for order in refunds_owed)
    assert sum(result.refunds_by_bucket().values()) == len(refunds_owed)
    assert result.refund_owed_count == len(refunds_owed)
    # Whatever of a neighbouring period shows is the match of a row or order of this one.
    for item in result.iter_items():
        if item.bucket is Bucket.CHAIN_BREAK or item.entry is None:
            continue
        assert settings.contains(item.entry.created_at) or (
            item.order is not None
            and settings.contains(
                item.order.submitted_at
                if item.bucket is not Bucket.REFUND_MATCHED
                else (item.order.final_at or item.order.submitted_at)
            )
        ), item
    for bucket in (Bucket.UNEXPECTED_CHARGE, Bucket.UNEXPECTED_REFUND, Bucket.DEPOSIT):
        assert all(item.order is None for item in result.items[bucket])

    # Item keys are unique within the run.
    keys = [item.item_key for item in result.iter_items()]
    assert len(keys) == len(set(keys))


def _assert_matches(result: ReconciliationResult) -> None:
    """One-to-one matches in the window and the tolerance, and none left that could be made."""
    settings = result.settings
    # Matches: one to one, inside the window and the tolerance, classified right.
    charges = result.items[Bucket.MATCHED] + result.items[Bucket.MATCHED_WITH_VARIANCE]
    for item in charges:
        assert compatible_charge(item.entry, item.order, result), item
        at_rate = expected_charge(item.order, result)
        exact = abs(-item.entry.amount - at_rate) <= settings.exact_tolerance
        assert exact == (item.bucket is Bucket.MATCHED), item
        assert item.variance == -item.entry.amount - item.expected_usd
        assert item.fx_variance == at_rate - item.expected_usd, item
    for item in result.items[Bucket.REFUND_MATCHED]:
        assert compatible_refund(item.entry, item.order, result), item
    # Maximal: no unmatched row and unmatched order that could have been paired.
    for rows, order_items, compatible in (
        (Bucket.UNEXPECTED_CHARGE, Bucket.NOT_CHARGED, compatible_charge),
        (Bucket.UNEXPECTED_REFUND, Bucket.REFUND_MISSING, compatible_refund),
    ):
        for row_item in result.items[rows]:
            for order_item in result.items[order_items]:
                assert not compatible(row_item.entry, order_item.order, result), (
                    row_item,
                    order_item,
                )


def _assert_totals(result: ReconciliationResult, ledger: Sequence[LedgerEntry]) -> None:
    """The totals add up, and what they miss is the chain gaps."""
    settings = result.settings
    # Totals: the rows add up to the closing balance exactly when the chain is whole; what they
    # miss is exactly the sum of the chain gaps (an identity: the balance chain telescopes).
    totals = result.totals
    closing = ledger and max(ledger, key=lambda e: (e.created_at, e.id)).balance_after
    assert (
        totals.opening
        + totals.deposits
        - totals.purchases
        + totals.refunds
        + totals.other
        + totals.chain_gaps
        == totals.closing
    )
    assert totals.tie_difference == totals.chain_gaps
    assert totals.ties == (totals.chain_gaps == 0)
    if not result.chain_breaks:
        assert totals.ties
    if settings.opening_balance is not None and ledger:
        # A wrong opening balance (or rows missing before the first) never ties.
        assert totals.ties == (
            settings.opening_balance + sum((e.amount for e in ledger), D(0)) == closing
            and totals.chain_gaps == 0
        )
    if ledger:
        assert totals.closing == closing
        assert totals.chain_gaps == totals.closing - totals.opening - sum(e.amount for e in ledger)
    assert totals.chain_gaps == sum((b.gap for b in result.chain_breaks), D(0))
    assert totals.purchases == -sum((e.amount for e in ledger if e.type == "PURCHASE"), D(0))
    assert totals.refunds == sum((e.amount for e in ledger if e.type == "REFUND"), D(0))
    fx = sum(
        (
            item.fx_variance
            for bucket in (Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE)
            for item in result.items[bucket]
            if settings.contains(item.ledger_row.created_at)
        ),
        D(0),
    )
    assert totals.purchase_fx_variance == fx
    assert sum((rate.fx_variance for rate in result.observed_rates), D(0)) == fx
    assert totals.purchases - totals.expected_purchases == (
        totals.purchase_variance + totals.unexpected_charges - totals.not_charged
    )
    assert totals.refunds - totals.expected_refunds == (
        totals.refund_variance + totals.unexpected_refunds - totals.missing_refunds
    )
    assert totals.closing - totals.orders_closing == (
        -(totals.purchases - totals.expected_purchases)
        + (totals.refunds - totals.expected_refunds)
        + totals.chain_gaps
    )


def _assert_our_side(
    result: ReconciliationResult, orders: Sequence[LocalOrder], refunds_owed: Sequence[LocalOrder]
) -> None:
    """What our orders lead us to expect, moved by the matches across the period's edges."""
    settings = result.settings
    totals = result.totals

    # Our side: the orders whose charge (refund) this period's ledger should show: the period's
    # own, less those matched to a row of a neighbouring period, plus the neighbours' orders
    # matched to a row of this one.
    def moved(buckets, refund: bool) -> tuple[Decimal, Decimal]:
        out = into = D(0)
        for bucket in buckets:
            for item in result.items[bucket]:
                order = item.order
                moment = (order.final_at or order.submitted_at) if refund else order.submitted_at
                row_in = settings.contains(item.entry.created_at)
                order_in = settings.contains(moment)
                if order_in and not row_in:
                    out += item.expected_usd
                elif row_in and not order_in:
                    into += item.expected_usd
        return out, into

    out, into = moved((Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE), False)
    assert (
        totals.expected_purchases
        == sum((o.charge_usd for o in orders if o.charged_expected), D(0)) - out + into
    )
    out, into = moved((Bucket.REFUND_MATCHED,), True)
    assert totals.expected_refunds == sum((o.refund_usd for o in refunds_owed), D(0)) - out + into


def pairs(result: ReconciliationResult) -> set[tuple[str, int, str | None]]:
    """Everything a run decided, comparable between runs."""
    return {
        (item.bucket.value, item.entry.id if item.entry else -1, item.order_key)
        for item in result.iter_items()
        if item.bucket is not Bucket.CHAIN_BREAK
    } | {(b.bucket.value, b.entry.id, b.item_key) for b in result.chain_breaks}
