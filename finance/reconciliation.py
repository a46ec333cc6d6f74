"""Reconcile the supplier's transaction ledger against our own orders: pure Python, no ORM.

The supplier's ledger rows carry no order id, so which row belongs to which order is inferred from
the amount and the time. Finance checks every number, so every rule is spelled out here, and every
input ends up somewhere in the result.

Inputs are plain frozen records: `LedgerEntry` (a ledger row as the supplier sent it),
`LocalOrder` (what we expect of one of our orders) and `Settings` (tolerances, window slack, the
period and the opening balance when it is known). `reconcile()` returns a `ReconciliationResult`.

The method
==========

1. **Chain check.** The ledger is sorted by (created_at, id). Each row must satisfy
   ``balance_after == previous balance_after + amount`` exactly (Decimal). The first row is
   checked against `Settings.opening_balance` when that is known; otherwise the opening balance is
   derived from the first row (``balance_after - amount``) and only the later rows are checked.
   A break becomes a `ChainBreak` (the two rows, the expected and actual balance, and the gap
   ``actual - expected``: the sum of the rows missing between them, or minus an extra row).
   **Chain breaks are listed in addition to the buckets:** a row involved in a break still lands
   in its own bucket (a purchase is still matched or unexpected), so the bucket counts sum to the
   inputs whether or not the chain breaks. The breaks explain why the totals do not tie: see 4.

2. **Matching, one to one.** PURCHASE rows are matched to orders with `charged_expected`, REFUND
   rows to orders with `refund_expected`; each row and each order is used at most once per side.

   * *Window:* the row's time must lie inside ``[submitted_at - slack, (final_at or period end) +
     slack]``. An order never submitted (`submitted_at` None) has no window and matches nothing.
   * *Amount, purchases:* with ``L = -amount`` (the USD the supplier took) and ``E =
     expected_usd`` rounded to the cent (half up: the ledger only knows cents), a pair is a candidate when ``|L - E| <= max(E * fx_tolerance,
     abs_tolerance)`` (relative OR absolute).
   * *Amount, refunds:* with ``L = amount`` and ``R = expected_refund_usd`` (or `expected_usd`
     when that is None), rounded to the cent: ``0 < L <= R + max(R * fx_tolerance, abs_tolerance)``. A refund may be
     smaller than expected (a partial delivery refunds only the missing units), so anything up
     to the tolerance above R is a candidate; the smaller ones rank last and are marked partial.
   * *Closest first:* candidate pairs are ranked by (amount class, time distance, amount
     difference) and taken greedily, skipping pairs whose row or order is already used. The amount
     class comes first (0: the amounts agree within `exact_tolerance`, i.e. to the cent; 1: within
     the tolerance; 2, refunds only: a partial refund), because an exact cent match is far stronger
     evidence than a few seconds: two orders of similar price submitted a second apart would
     otherwise swap their charges and both show a variance. The time distance is measured from
     `submitted_at` for a purchase (the supplier charges when it accepts the order) and from
     `final_at` for a refund (it refunds when the order fails). Ties are broken by ledger id, then
     by the order's (submitted_at, key), so the result does not depend on the order of the inputs.
   * *Augmenting swaps:* a greedy pass can leave a row and an order unmatched although a swap
     with an already matched pair would match all of them (order A's window covers rows 1 and 2,
     order B's only row 1, and the greedy pass gave row 1 to B). Each unmatched row then looks for
     a chain of at most `MAX_SWAPS` swaps that frees a compatible order; this never lowers the
     number of matches and keeps every pair inside the window and the tolerance.
   * *Cost:* O((n + m) log(n + m) + P log c): rows and orders are sorted by time and swept
     once; the orders whose window covers the current row are kept in a list sorted by amount, so
     only pairs that already fit the window and lie in the amount range are ever looked at (P of
     them, about the number of orders of a similar price in flight at the same time). Never all
     pairs. The candidate graph splits into small connected components (union-find), and the
     greedy pass and the swaps run per component (c: its size), which gives the same result as
     one global pass with far better memory locality. The cyclic garbage collector is paused
     during a run (see `_gc_paused`).

3. **Buckets.** Every ledger row lands in exactly one of MATCHED, MATCHED_WITH_VARIANCE,
   UNEXPECTED_CHARGE, REFUND_MATCHED, UNEXPECTED_REFUND, DEPOSIT, OTHER (a type we do not know).
   Every order lands in exactly one of MATCHED, MATCHED_WITH_VARIANCE, NOT_CHARGED,
   NO_CHARGE_EXPECTED (the charge side). An order that also owes a refund (a FAILED top-up was
   charged and refunded) has a second expectation, which lands in exactly one of REFUND_MATCHED
   and REFUND_MISSING (the refund side). A matched item holds the row and the order together, so
   it counts once for each. Hence::

       ledger rows  = MATCHED + MATCHED_WITH_VARIANCE + UNEXPECTED_CHARGE + REFUND_MATCHED
                      + UNEXPECTED_REFUND + DEPOSIT + OTHER
       orders       = MATCHED + MATCHED_WITH_VARIANCE + NOT_CHARGED + NO_CHARGE_EXPECTED
       refunds owed = REFUND_MATCHED + REFUND_MISSING

   A match is MATCHED when ``|L - E| <= exact_tolerance`` (default 0: the amounts agree to the
   cent), MATCHED_WITH_VARIANCE otherwise, with the variance ``L - E`` (positive: the
   supplier took more than we expected), the variance in percent, and the implied FX rate ``L /
   amount`` (USD per unit of the order's currency) when the order carries its currency amount.
   UNEXPECTED_CHARGE (a supplier charge with no order of ours: that is how a double purchase shows)
   is the most serious. Unmatched rows and orders get a *hint* when an order or row in the same
   window comes close: "possible double charge of order X (already matched to row N)", "fits order
   X, which was not expected to be charged", or "nearest order, 7.5 % off (outside the tolerance)".
   Hints are notes only; they never move anything between buckets.

4. **Totals that tie.** The tie finance sees is ``opening + deposits - purchases + refunds +
   other = closing`` over the rows we hold, *without* the chain gaps: a missing row, an extra row
   or a wrong opening balance makes it fail by exactly the amount involved (`Totals.ties`,
   `Totals.tie_difference`), and the chain breaks say where. As an arithmetic identity
   ``opening + amounts + chain gaps = closing`` always holds (the gaps telescope the balance
   chain), so the totals tie exactly when the gaps sum to zero, in particular when the chain has
   no break. Beside it the same from our orders (expected charges of the matched and
   not-charged orders, expected refunds of the refund-owed orders), the closing they lead to and
   the ledger's difference to it, which splits exactly into variance on matched pairs +
   unexpected rows - orders never charged (refunds likewise) + the chain gaps.

5. **Periods and their neighbours.** With `period_start` / `period_end` set, the period is
   ``[start, end)``; a row belongs to it by its time, an order's charge by its submission and a
   refund owed by the moment the order failed (`final_at`, else its submission). The caller may
   pass rows and orders of the neighbouring periods too, as matching candidates: an order
   submitted at 23:59:59.5 and charged at 00:00:00.4 is then matched on both days. A match
   across the edge is listed (with a note: "ledger row N of the next period", "order #K of the
   previous period") and counts on this period's side only; whatever of a neighbour stays
   unmatched is not listed at all, and the chain check and the ledger totals use the period's own
   rows. The counts above hold for the period's own rows, orders and refunds owed
   (`ledger_rows_by_bucket()` and the others count those only).

   *Refunds* come later than charges: a refund row may lie up to `refund_window` (default 24 h)
   after the order failed, and is ranked by its distance from that moment.

   *A ledger synced only up to `ledger_synced_until`* cannot show what came after: an order not
   charged, or a refund missing, that was due after it carries a note starting "UNSYNCED".

Item keys
=========

Each item has a stable `item_key`, so an explanation written on it is kept by a later run over
the same rows: ``L:<ledger id>`` for every item that holds a ledger row (matched or not),
``O:<order key>`` for a charge-side order item without a row (NOT_CHARGED, NO_CHARGE_EXPECTED),
``R:<order key>`` for a refund owed and not received, and ``B:<previous id>-<id>`` for a chain
break; a break at the period's first row is keyed with the last row before the period
(`opening_row_id`) when that is known, as a run over a longer period keys it, else
``B:opening-<id>``.
"""

from __future__ import annotations

import gc
import heapq
import math
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")

#: An unmatched row looks for a chain of at most this many swaps with matched pairs.
MAX_SWAPS = 3
#: How long after an order failed its refund may be booked (the supplier refunds in batches).
DEFAULT_REFUND_WINDOW = timedelta(hours=24)


class Bucket(StrEnum):
    """Where an item lands, most serious first."""

    UNEXPECTED_CHARGE = "UNEXPECTED_CHARGE"
    CHAIN_BREAK = "CHAIN_BREAK"
    UNEXPECTED_REFUND = "UNEXPECTED_REFUND"
    REFUND_MISSING = "REFUND_MISSING"
    NOT_CHARGED = "NOT_CHARGED"
    MATCHED_WITH_VARIANCE = "MATCHED_WITH_VARIANCE"
    REFUND_MATCHED = "REFUND_MATCHED"
    MATCHED = "MATCHED"
    DEPOSIT = "DEPOSIT"
    OTHER = "OTHER"
    NO_CHARGE_EXPECTED = "NO_CHARGE_EXPECTED"

    @property
    def label(self) -> str:
        return BUCKET_LABELS[self]


BUCKET_LABELS = {
    Bucket.UNEXPECTED_CHARGE: "Unexpected charges",
    Bucket.CHAIN_BREAK: "Chain breaks",
    Bucket.UNEXPECTED_REFUND: "Unexpected refunds",
    Bucket.REFUND_MISSING: "Refunds missing",
    Bucket.NOT_CHARGED: "Not charged",
    Bucket.MATCHED_WITH_VARIANCE: "Matched with variance",
    Bucket.REFUND_MATCHED: "Refunds matched",
    Bucket.MATCHED: "Matched",
    Bucket.DEPOSIT: "Deposits",
    Bucket.OTHER: "Other ledger rows",
    Bucket.NO_CHARGE_EXPECTED: "No charge expected",
}

#: Buckets that hold ledger rows (each row in exactly one of them).
LEDGER_BUCKETS = (
    Bucket.MATCHED,
    Bucket.MATCHED_WITH_VARIANCE,
    Bucket.UNEXPECTED_CHARGE,
    Bucket.REFUND_MATCHED,
    Bucket.UNEXPECTED_REFUND,
    Bucket.DEPOSIT,
    Bucket.OTHER,
)
#: Buckets that hold orders by what was expected of their charge (each order in exactly one).
ORDER_BUCKETS = (
    Bucket.MATCHED,
    Bucket.MATCHED_WITH_VARIANCE,
    Bucket.NOT_CHARGED,
    Bucket.NO_CHARGE_EXPECTED,
)
#: Buckets that hold the refunds owed (each order with `refund_expected` in exactly one).
REFUND_BUCKETS = (Bucket.REFUND_MATCHED, Bucket.REFUND_MISSING)

PURCHASE, REFUND, DEPOSIT = "PURCHASE", "REFUND", "DEPOSIT"


# -- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One supplier ledger row as it came: USD, negative for debits."""

    id: int
    amount: Decimal
    type: str
    description: str
    balance_after: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LocalOrder:
    """What we expect the supplier's ledger to show for one of our orders.

    `expected_usd` is our estimate of the USD charge (units x unit price x our FX estimate);
    `amount` / `currency` is the order's total in the offer's currency (for the implied FX rate);
    `expected_refund_usd` is the refund owed when it differs from `expected_usd` (a partial
    delivery refunds only the missing units).
    """

    key: str
    transaction_id: str
    status: str
    expected_usd: Decimal
    submitted_at: datetime | None
    final_at: datetime | None
    charged_expected: bool
    refund_expected: bool
    amount: Decimal | None = None
    currency: str | None = None
    expected_refund_usd: Decimal | None = None

    @property
    def charge_usd(self) -> Decimal:
        """The charge we expect, to the cent (half up), as the ledger shows money."""
        return self.expected_usd.quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def refund_usd(self) -> Decimal:
        """The refund we expect, to the cent."""
        refund = self.expected_usd if self.expected_refund_usd is None else self.expected_refund_usd
        return refund.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: Decimal | float | int | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class Settings:
    """How strict the matching is, and the period (kept with each run).

    `fx_tolerance` is relative (0.03 = 3 %), `abs_tolerance` absolute USD: a pair is a candidate
    within either. `exact_tolerance` separates MATCHED from MATCHED_WITH_VARIANCE (default 0: the ledger
    amount equals our estimate rounded to the cent). Orders still
    pending use `period_end` (default: the latest time in the inputs) as the end of their window.
    `hint_tolerance` only widens the search for the hints on unmatched items.
    """

    fx_tolerance: Decimal = Decimal("0.03")
    abs_tolerance: Decimal = Decimal("0.02")
    exact_tolerance: Decimal = Decimal("0.00")
    window_slack: timedelta = timedelta(minutes=2)
    opening_balance: Decimal | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    hint_tolerance: Decimal = Decimal("0.5")
    refund_window: timedelta = DEFAULT_REFUND_WINDOW
    opening_row_id: int | None = None
    ledger_synced_until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("fx_tolerance", "abs_tolerance", "exact_tolerance", "hint_tolerance"):
            value = _decimal(getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must not be negative")
            object.__setattr__(self, name, value)
        if self.fx_tolerance >= 1:
            raise ValueError("fx_tolerance is relative and must be below 1 (0.03 = 3 %)")
        if self.opening_balance is not None:
            object.__setattr__(self, "opening_balance", _decimal(self.opening_balance))
        for name in ("period_start", "period_end", "ledger_synced_until"):
            _require_aware(getattr(self, name), name)
        if self.refund_window < self.window_slack:
            raise ValueError("the refund window must not be shorter than the window slack")

    def contains(self, moment: datetime | None) -> bool:
        """Whether a moment lies in the period [period_start, period_end) (an open end is no
        bound; no moment at all counts as inside)."""
        if moment is None:
            return True
        if self.period_start is not None and moment < self.period_start:
            return False
        return self.period_end is None or moment < self.period_end

    def side_of(self, moment: datetime | None) -> str:
        """The neighbouring period a moment outside this one belongs to ("previous" or "next");
        "" when it is inside."""
        if self.contains(moment):
            return ""
        return (
            "previous" if self.period_start is not None and moment < self.period_start else "next"
        )

    def as_dict(self) -> dict[str, str | None]:
        """Plain strings, to store with a run and print in its report."""

        def text(value) -> str | None:
            if value is None:
                return None
            if isinstance(value, datetime):
                return value.astimezone(UTC).isoformat()
            if isinstance(value, timedelta):
                return str(value.total_seconds())
            return str(value)

        return {
            "fx_tolerance": text(self.fx_tolerance),
            "abs_tolerance": text(self.abs_tolerance),
            "exact_tolerance": text(self.exact_tolerance),
            "window_slack_seconds": text(self.window_slack),
            "opening_balance": text(self.opening_balance),
            "period_start": text(self.period_start),
            "period_end": text(self.period_end),
            "hint_tolerance": text(self.hint_tolerance),
            "refund_window_seconds": text(self.refund_window),
            "opening_row_id": text(self.opening_row_id),
            "ledger_synced_until": text(self.ledger_synced_until),
        }

    @classmethod
    def from_dict(cls, values: dict[str, str | None]) -> Settings:
        """The settings `as_dict()` stored with a run, to run it again the same way (a missing
        or None tolerance falls back to the default)."""
        defaults = cls()

        def tolerance(name: str) -> Decimal:
            text = values.get(name)
            return getattr(defaults, name) if text is None else Decimal(text)

        def moment(name: str) -> datetime | None:
            text = values.get(name)
            return None if text is None else datetime.fromisoformat(text)

        slack = values.get("window_slack_seconds")
        opening = values.get("opening_balance")
        refund_window = values.get("refund_window_seconds")
        opening_row = values.get("opening_row_id")
        return cls(
            fx_tolerance=tolerance("fx_tolerance"),
            abs_tolerance=tolerance("abs_tolerance"),
            exact_tolerance=tolerance("exact_tolerance"),
            window_slack=defaults.window_slack
            if slack is None
            else timedelta(seconds=float(slack)),
            opening_balance=None if opening is None else Decimal(opening),
            period_start=moment("period_start"),
            period_end=moment("period_end"),
            hint_tolerance=tolerance("hint_tolerance"),
            refund_window=_refund_window(refund_window, slack, defaults),
            opening_row_id=None if opening_row is None else int(opening_row),
            ledger_synced_until=moment("ledger_synced_until"),
        )


def _refund_window(stored: str | None, slack: str | None, defaults: Settings) -> timedelta:
    if stored is not None:
        return timedelta(seconds=float(stored))
    if slack is not None:
        # A run stored before the refund window existed matched refunds within the slack.
        return timedelta(seconds=float(slack))
    return defaults.refund_window


def _require_aware(value: datetime | None, what: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")


# -- outputs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReconItem:
    """One line of a bucket: a ledger row, an order, or both (a match).

    `expected_usd` is what the order led us to expect for this item (the charge, or the refund on
    the refund side), as a positive amount. `variance` is supplier minus expected, both as
    positive magnitudes (positive: the supplier took, or gave back, more than expected).
    """

    bucket: Bucket
    entry: LedgerEntry | None = None
    order: LocalOrder | None = None
    expected_usd: Decimal | None = None
    variance: Decimal | None = None
    variance_pct: Decimal | None = None
    implied_fx: Decimal | None = None
    note: str = ""

    @property
    def item_key(self) -> str:
        """``L:<ledger id>`` when the item holds a row; else ``O:<order key>`` on the charge side
        or ``R:<order key>`` for a refund owed (derived, so it is the same in every run)."""
        if self.entry is not None:
            return f"L:{self.entry.id}"
        prefix = "R" if self.bucket is Bucket.REFUND_MISSING else "O"
        return f"{prefix}:{self.order.key if self.order is not None else ''}"

    @property
    def ledger_id(self) -> int | None:
        return None if self.entry is None else self.entry.id

    @property
    def order_key(self) -> str | None:
        return None if self.order is None else self.order.key

    @property
    def ledger_amount(self) -> Decimal | None:
        return None if self.entry is None else self.entry.amount

    @property
    def at(self) -> datetime | None:
        """When it happened: the ledger time, else the order's submission (or finality)."""
        if self.entry is not None:
            return self.entry.created_at
        if self.order is not None:
            return self.order.submitted_at or self.order.final_at
        return None


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Two consecutive ledger rows whose balances do not follow from each other.

    `previous` is None when the first row does not follow from the known opening balance. `gap`
    is ``actual_balance - expected_balance``: the sum of the rows missing between the two (or
    minus the amount of an extra row).
    """

    item_key: str
    previous: LedgerEntry | None
    entry: LedgerEntry
    expected_balance: Decimal
    actual_balance: Decimal
    gap: Decimal

    bucket = Bucket.CHAIN_BREAK

    @property
    def note(self) -> str:
        after = "the opening balance" if self.previous is None else f"row {self.previous.id}"
        kind = "credits" if self.gap > 0 else "debits"
        return (
            f"balance after row {self.entry.id} is {self.actual_balance}, expected "
            f"{self.expected_balance} after {after}: {abs(self.gap)} USD of {kind} missing "
            f"between them (or an extra row)"
        )


@dataclass(frozen=True, slots=True)
class TotalsLine:
    label: str
    ledger: Decimal
    orders: Decimal | None
    difference: Decimal | None


@dataclass(frozen=True, slots=True)
class Totals:
    """The money, USD. Purchases and refunds are positive amounts (purchases are subtracted)."""

    opening: Decimal
    opening_known: bool
    deposits: Decimal
    purchases: Decimal
    refunds: Decimal
    other: Decimal
    chain_gaps: Decimal
    closing: Decimal
    # purchases: ledger side split into matched + unexpected, our side into matched + not charged
    matched_purchases: Decimal
    matched_purchases_expected: Decimal
    unexpected_charges: Decimal
    not_charged: Decimal
    # refunds likewise
    matched_refunds: Decimal
    matched_refunds_expected: Decimal
    unexpected_refunds: Decimal
    missing_refunds: Decimal

    @property
    def computed_closing(self) -> Decimal:
        """opening + deposits - purchases + refunds + other: the closing the rows we hold add
        up to. The chain gaps are not in it: they are what is missing."""
        return self.opening + self.deposits - self.purchases + self.refunds + self.other

    @property
    def tie_difference(self) -> Decimal:
        """closing - computed closing: what the rows we hold do not explain (0 when it ties).
        Always equal to the sum of the chain gaps (the balance chain telescopes)."""
        return self.closing - self.computed_closing

    @property
    def ties(self) -> bool:
        """Whether the rows we hold add up from the opening to the closing balance. A missing
        row, an extra row or a wrong opening balance makes it fail by the amount involved."""
        return self.tie_difference == 0

    @property
    def orders_difference(self) -> Decimal:
        """The ledger's closing minus the closing our orders lead us to expect."""
        return self.closing - self.orders_closing

    def tie_text(self) -> str:
        if self.ties:
            return "ties"
        return f"does not tie by {self.tie_difference} USD (explained by the chain breaks)"

    @property
    def expected_purchases(self) -> Decimal:
        return self.matched_purchases_expected + self.not_charged

    @property
    def expected_refunds(self) -> Decimal:
        return self.matched_refunds_expected + self.missing_refunds

    @property
    def purchase_variance(self) -> Decimal:
        return self.matched_purchases - self.matched_purchases_expected

    @property
    def refund_variance(self) -> Decimal:
        return self.matched_refunds - self.matched_refunds_expected

    @property
    def orders_closing(self) -> Decimal:
        """The closing balance if the ledger showed exactly what our orders expect."""
        return (
            self.opening
            + self.deposits
            - self.expected_purchases
            + self.expected_refunds
            + self.other
        )

    def lines(self) -> list[TotalsLine]:
        """The table: ledger, our orders, difference (ledger - orders)."""

        def line(label, ledger, orders):
            return TotalsLine(label, ledger, orders, None if orders is None else ledger - orders)

        return [
            line("Opening balance", self.opening, self.opening),
            line("Deposits (+)", self.deposits, self.deposits),
            line("Purchases (-)", self.purchases, self.expected_purchases),
            line("Refunds (+)", self.refunds, self.expected_refunds),
            line("Other ledger rows (+)", self.other, self.other),
            line("Closing computed (=)", self.computed_closing, self.orders_closing),
            line("Closing balance, last ledger row", self.closing, self.orders_closing),
            TotalsLine(
                "Unexplained: closing - computed (chain gaps)", self.tie_difference, None, None
            ),
        ]

    def purchase_lines(self) -> list[TotalsLine]:
        """Why purchases differ: variance on matched + unexpected charges - not charged."""
        return [
            TotalsLine("Matched purchases", self.matched_purchases, None, None),
            TotalsLine("Expected for them", self.matched_purchases_expected, None, None),
            TotalsLine("Variance on matched", self.purchase_variance, None, None),
            TotalsLine("Unexpected charges (+)", self.unexpected_charges, None, None),
            TotalsLine("Not charged (-)", self.not_charged, None, None),
            TotalsLine(
                "Purchases difference (=)", self.purchases - self.expected_purchases, None, None
            ),
        ]

    def refund_lines(self) -> list[TotalsLine]:
        return [
            TotalsLine("Matched refunds", self.matched_refunds, None, None),
            TotalsLine("Expected for them", self.matched_refunds_expected, None, None),
            TotalsLine("Variance on matched", self.refund_variance, None, None),
            TotalsLine("Unexpected refunds (+)", self.unexpected_refunds, None, None),
            TotalsLine("Refunds missing (-)", self.missing_refunds, None, None),
            TotalsLine("Refunds difference (=)", self.refunds - self.expected_refunds, None, None),
        ]


@dataclass(slots=True)
class ReconciliationResult:
    """What a run found: the items per bucket, the chain breaks, the totals, and the counts of
    what went in (`ledger_count`, `order_count`, `refund_owed_count`) for the checks that every
    input landed somewhere. `hint_count` is how many unmatched items carry a hint."""

    settings: Settings
    period_start: datetime | None
    period_end: datetime
    items: dict[Bucket, list[ReconItem]]
    chain_breaks: list[ChainBreak]
    totals: Totals
    ledger_count: int
    order_count: int
    refund_owed_count: int
    hint_count: int = field(default=0)
    #: What the caller knows of the inputs, for the reports: the FX rates used (currency -> USD
    #: per unit) and notices such as a ledger older than the period end.
    fx_rates: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[Bucket, int]:
        """Items per bucket, in `Bucket` order (chain breaks are listed in addition)."""
        return {
            bucket: len(self.chain_breaks)
            if bucket is Bucket.CHAIN_BREAK
            else len(self.items[bucket])
            for bucket in Bucket
        }

    def ledger_rows_by_bucket(self) -> dict[Bucket, int]:
        """The period's ledger rows per bucket (a row of a neighbouring period, matched to an
        order of this one, is that period's row)."""
        contains = self.settings.contains
        return {
            bucket: sum(1 for item in self.items[bucket] if contains(item.entry.created_at))
            for bucket in LEDGER_BUCKETS
        }

    def orders_by_bucket(self) -> dict[Bucket, int]:
        """The period's orders (submitted in it) per charge-side bucket."""
        contains = self.settings.contains
        return {
            bucket: sum(1 for item in self.items[bucket] if contains(item.order.submitted_at))
            if bucket in (Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE)
            else len(self.items[bucket])
            for bucket in ORDER_BUCKETS
        }

    def refunds_by_bucket(self) -> dict[Bucket, int]:
        """The period's refunds owed (the order failed in it) per refund-side bucket."""
        contains = self.settings.contains
        return {
            bucket: sum(1 for item in self.items[bucket] if contains(_refund_moment(item.order)))
            if bucket is Bucket.REFUND_MATCHED
            else len(self.items[bucket])
            for bucket in REFUND_BUCKETS
        }

    @property
    def neighbour_count(self) -> int:
        """Matches that pair one of the period's rows or orders with one of a neighbouring
        period (listed in the buckets, counted on this period's side only)."""
        contains = self.settings.contains
        count = 0
        for bucket in (Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE, Bucket.REFUND_MATCHED):
            refund = bucket is Bucket.REFUND_MATCHED
            for item in self.items[bucket]:
                moment = _refund_moment(item.order) if refund else item.order.submitted_at
                if not (contains(item.entry.created_at) and contains(moment)):
                    count += 1
        return count

    def iter_items(self) -> Iterator[ReconItem | ChainBreak]:
        """Every item, bucket by bucket in `Bucket` order (the chain breaks in their place)."""
        for bucket in Bucket:
            yield from self.chain_breaks if bucket is Bucket.CHAIN_BREAK else self.items[bucket]

    def summary(self) -> str:
        def part(counts: dict[Bucket, int]) -> str:
            return ", ".join(f"{bucket.label.lower()} {n}" for bucket, n in counts.items())

        period = (
            f"{_utc_text(self.period_start) or 'start of ledger'} to {_utc_text(self.period_end)}"
        )
        totals = self.totals
        lines = [
            f"Reconciliation {period} (UTC)",
            f"Ledger rows {self.ledger_count}: {part(self.ledger_rows_by_bucket())}",
            f"Orders {self.order_count}: {part(self.orders_by_bucket())}",
            f"Refunds owed {self.refund_owed_count}: {part(self.refunds_by_bucket())}",
            f"Chain breaks {len(self.chain_breaks)} (gaps {totals.chain_gaps} USD)",
            f"{'USD':<30}{'ledger':>16}{'our orders':>16}{'difference':>16}",
        ]
        for line in totals.lines():
            orders = "" if line.orders is None else str(line.orders)
            difference = "" if line.difference is None else str(line.difference)
            lines.append(f"{line.label:<30}{line.ledger!s:>16}{orders:>16}{difference:>16}")
        tie = (
            "ties"
            if totals.ties
            else "DOES NOT TIE" + totals.tie_text().removeprefix("does not tie")
        )
        lines.append(f"opening + deposits - purchases + refunds + other = closing: {tie}")
        return "\n".join(lines)


def _utc_text(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- the engine -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Side:
    """One matching problem: rows of one type against the orders expected on that side."""

    refund: bool
    rows: list[int]  # ledger positions of this side's type
    orders: list[int]  # positions of the orders expected on this side
    row_of: list[int]  # order position -> matched ledger position, or -1
    order_of: list[int]  # ledger position -> matched order position, or -1
    tier_of: list[int]  # ledger position -> amount class of its match


def reconcile(
    ledger: Iterable[LedgerEntry],
    orders: Iterable[LocalOrder],
    settings: Settings | None = None,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> ReconciliationResult:
    """Reconcile the period's ledger rows against our orders (see the module docstring)."""
    with _gc_paused():
        return _reconcile(list(ledger), list(orders), settings or Settings(), progress)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for the run, then restore it as it was.

    A run allocates a few long-lived objects per input row (the items of the result) and no
    reference cycles to speak of. Left on, the collector walks the whole heap each time the
    survivors reach a quarter of it: at 100,000 rows that is a pause of 0.1-0.2 s that grows with
    the heap, for nothing to collect. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _reconcile(
    entries: list[LedgerEntry],
    order_list: list[LocalOrder],
    settings: Settings,
    progress: Callable[[float, str], None] | None,
) -> ReconciliationResult:
    """`reconcile()` itself, with the garbage collector paused."""

    def step(fraction: float, label: str) -> None:
        if progress is not None:
            progress(fraction, label)

    for entry in entries:
        if entry.created_at.utcoffset() is None:
            _require_aware(entry.created_at, f"ledger row {entry.id} created_at")
    entries.sort(key=lambda entry: (entry.created_at, entry.id))
    if len({entry.id for entry in entries}) != len(entries):
        raise ValueError("ledger ids must be unique")
    for order in order_list:
        if order.submitted_at is not None or order.final_at is not None:
            _require_aware(order.submitted_at, f"order {order.key} submitted_at")
            _require_aware(order.final_at, f"order {order.key} final_at")
    if len({order.key for order in order_list}) != len(order_list):
        raise ValueError("order keys must be unique")
    # Canonical order (submission time, then key) so ties break the same way however the
    # caller listed them; never-submitted orders go last.
    order_list.sort(
        key=lambda order: (order.submitted_at is None, order.submitted_at or _EPOCH, order.key)
    )
    period_end = settings.period_end or _latest(entries, order_list)
    step(0.1, "sorted")

    # Rows and orders of the neighbouring periods are matching candidates only (see 5.).
    row_inside = [settings.contains(entry.created_at) for entry in entries]
    period_entries = [entry for entry, inside in zip(entries, row_inside, strict=True) if inside]
    charge_inside = [settings.contains(order.submitted_at) for order in order_list]
    refund_inside = [settings.contains(_refund_moment(order)) for order in order_list]
    chain_breaks, opening, gaps = _chain_check(
        period_entries, settings.opening_balance, settings.opening_row_id
    )
    step(0.2, "chain checked")

    times = [entry.created_at.timestamp() for entry in entries]
    kinds = [entry.type.upper() for entry in entries]
    spans = _order_spans(order_list, period_end, settings.window_slack, settings.refund_window)
    charges = [order.charge_usd for order in order_list]
    refunds_owed = [order.refund_usd if order.refund_expected else ZERO for order in order_list]

    purchases = _Side(
        refund=False,
        rows=[i for i, kind in enumerate(kinds) if kind == PURCHASE],
        orders=[i for i, order in enumerate(order_list) if order.charged_expected],
        row_of=[-1] * len(order_list),
        order_of=[-1] * len(entries),
        tier_of=[0] * len(entries),
    )
    _match_side(purchases, entries, times, charges, spans, settings)
    step(0.6, "purchases matched")
    refunds = _Side(
        refund=True,
        rows=[i for i, kind in enumerate(kinds) if kind == REFUND],
        orders=[i for i, order in enumerate(order_list) if order.refund_expected],
        row_of=[-1] * len(order_list),
        order_of=[-1] * len(entries),
        tier_of=[0] * len(entries),
    )
    _match_side(refunds, entries, times, refunds_owed, spans, settings)
    step(0.75, "refunds matched")

    notes = _hints(purchases, refunds, entries, times, order_list, spans, settings, charges)
    step(0.85, "hints")

    inside = _Inside(row_inside, charge_inside, refund_inside)
    items = _build_items(
        entries, kinds, order_list, charges, purchases, refunds, notes, settings, period_end, inside
    )
    totals = _totals(
        period_entries, items, opening, settings.opening_balance is not None, gaps, settings
    )
    step(1.0, "done")
    return ReconciliationResult(
        settings=settings,
        period_start=settings.period_start,
        period_end=period_end,
        items=items,
        chain_breaks=chain_breaks,
        totals=totals,
        ledger_count=len(period_entries),
        order_count=sum(charge_inside),
        refund_owed_count=sum(1 for order in refunds.orders if refund_inside[order]),
        hint_count=len(notes),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _latest(entries: list[LedgerEntry], orders: list[LocalOrder]) -> datetime:
    moments = [entries[-1].created_at] if entries else []
    moments += [order.submitted_at for order in orders if order.submitted_at is not None]
    moments += [order.final_at for order in orders if order.final_at is not None]
    return max(moments, default=_EPOCH)


def _refund_moment(order: LocalOrder) -> datetime | None:
    """When a refund falls due: when the order failed (or, pending, when it was submitted)."""
    return order.final_at or order.submitted_at


def _chain_check(
    entries: list[LedgerEntry], opening_balance: Decimal | None, opening_row_id: int | None = None
) -> tuple[list[ChainBreak], Decimal, Decimal]:
    """The breaks, the opening balance (given or derived), and the sum of the gaps.

    A break at the first row is keyed with the last row before the period when that row is
    known (`opening_row_id`), as a run over a longer period keys the same break."""
    if not entries:
        return [], opening_balance if opening_balance is not None else ZERO, ZERO
    if opening_balance is None:
        opening = entries[0].balance_after - entries[0].amount
    else:
        opening = opening_balance
    breaks: list[ChainBreak] = []
    gaps = ZERO
    previous: LedgerEntry | None = None
    balance = opening
    for entry in entries:
        expected = balance + entry.amount
        if entry.balance_after != expected:
            gap = entry.balance_after - expected
            gaps += gap
            if previous is not None:
                key = f"B:{previous.id}-{entry.id}"
            elif opening_row_id is not None:
                key = f"B:{opening_row_id}-{entry.id}"
            else:
                key = f"B:opening-{entry.id}"
            breaks.append(ChainBreak(key, previous, entry, expected, entry.balance_after, gap))
        balance = entry.balance_after
        previous = entry
    return breaks, opening, gaps


def _order_spans(
    orders: list[LocalOrder], period_end: datetime, slack: timedelta, refund_window: timedelta
) -> list[tuple[float, float, float, float, float] | None]:
    """Per order: (window start, window end, purchase anchor, refund anchor, refund window end)
    as timestamps. A refund may come up to `refund_window` after the order failed."""
    slack_s = slack.total_seconds()
    refund_s = refund_window.total_seconds()
    end_default = period_end.timestamp()
    spans: list[tuple[float, float, float, float] | None] = []
    for order in orders:
        if order.submitted_at is None:
            spans.append(None)
            continue
        submitted = order.submitted_at.timestamp()
        final = order.final_at.timestamp() if order.final_at is not None else None
        end = max(final if final is not None else end_default, submitted)
        spans.append(
            (
                submitted - slack_s,
                end + slack_s,
                submitted,
                final if final is not None else submitted,
                end + refund_s,
            )
        )
    return spans


def _sweep(
    rows: list[tuple[float, int, float, float]],
    windows: list[tuple[float, float, float, int]],
) -> Iterator[tuple[int, int]]:
    """Yield (row, order) pairs where the row time is inside the order window and the order
    amount (as a float, to be re-checked exactly) lies in the row's amount range.

    `rows` are (time, row, lowest amount, highest amount) sorted by time; `windows` are (start,
    end, amount, order) sorted by start. The orders whose window covers the current time are kept
    sorted by amount, so each row only looks at orders that already fit the window and the amount
    range.
    """
    active: list[tuple[float, int]] = []
    expiry: list[tuple[float, float, int]] = []
    next_window = 0
    total = len(windows)
    for time, row, low, high in rows:
        while next_window < total and windows[next_window][0] <= time:
            start, end, amount, order = windows[next_window]
            next_window += 1
            if end >= time:
                insort(active, (amount, order))
                heapq.heappush(expiry, (end, amount, order))
        while expiry and expiry[0][0] < time:
            _end, amount, order = heapq.heappop(expiry)
            del active[bisect_left(active, (amount, order))]
        if not active:
            continue
        position = bisect_left(active, (low, -1))
        while position < len(active):
            amount, order = active[position]
            if amount > high:
                break
            yield row, order
            position += 1


def _amount_range(
    value: float, relative: float, absolute: float, upper: bool
) -> tuple[float, float]:
    """The float range of expected amounts E with |L - E| <= max(E * relative, absolute) (or,
    without `upper`, with L <= E + that), widened a little so float rounding never drops a
    candidate: the exact Decimal test comes after."""
    margin = 1e-6 + value * 1e-9
    low = min(value / (1 + relative), value - absolute) - margin
    if not upper:
        return low, math.inf
    return low, max(value / (1 - relative), value + absolute) + margin


def _match_side(
    side: _Side,
    entries: list[LedgerEntry],
    times: list[float],
    expected: list[Decimal],
    spans: list,
    settings: Settings,
) -> None:
    """Greedy closest-first one-to-one matching, then short augmenting swaps.

    `expected` holds, per order position, the amount this side expects (charge or refund).
    """
    refund = side.refund
    exact = settings.exact_tolerance
    fx = settings.fx_tolerance
    absolute = settings.abs_tolerance
    fx_float, absolute_float = float(fx), float(absolute)
    magnitudes: dict[int, Decimal] = {}
    rows = []
    for row in side.rows:
        amount = entries[row].amount
        magnitude = amount if refund else -amount
        if magnitude > 0:
            magnitudes[row] = magnitude
            low, high = _amount_range(float(magnitude), fx_float, absolute_float, not refund)
            rows.append((times[row], row, low, high))
    rows.sort()
    end_index = 4 if refund else 1
    windows = sorted(
        (span[0], span[end_index], float(expected[order]), order)
        for order in side.orders
        if (span := spans[order]) is not None
    )
    anchor_index = 3 if refund else 2

    # Candidate pairs only link rows and orders close in time, so the candidate graph falls apart
    # into small connected components (found with a union-find over the orders, a row's
    # candidates being joined to its first one). Greedy and swaps never cross a component, so
    # each is solved on its own: small sorts over edges made together, instead of one sort over
    # everything that touches memory at random (that costs more than n log n in practice).
    parent = list(range(len(expected)))

    def find(order: int) -> int:
        while parent[order] != order:
            parent[order] = parent[parent[order]]
            order = parent[order]
        return order

    # An edge sorts by (amount class, time distance, amount difference, row, order); the first
    # two are packed in one float (class * 1e10 + seconds: no window is 300 years long), which
    # sorts twice as fast as a tuple led by the class. Rows and orders are positions in their
    # canonical order, so ties break the same way whatever the order of the inputs.
    components: dict[int, list[tuple[float, float, int, int, int]]] = {}
    last_row, first_root = -1, -1
    for row, order in _sweep(rows, windows):
        supplier = magnitudes[row]
        ours = expected[order]
        difference = abs(supplier - ours)
        if difference <= exact:
            rank = 0
        elif difference <= absolute or difference <= ours * fx:
            rank = 1
        elif refund and supplier < ours:
            rank = 2
        else:
            continue
        distance = abs(times[row] - spans[order][anchor_index])
        edge = (rank * 1e10 + distance, float(difference), row, order, rank)
        root = find(order)
        if row != last_row:
            last_row, first_root = row, root
        elif root != first_root:
            # Join the smaller component into the larger one's root.
            keep, drop = first_root, root
            if len(components.get(keep, ())) < len(components.get(drop, ())):
                keep, drop = drop, keep
            parent[drop] = keep
            merged = components.pop(drop, None)
            if merged:
                components.setdefault(keep, []).extend(merged)
            first_root = root = keep
        components.setdefault(root, []).append(edge)

    order_of = side.order_of
    row_of = side.row_of
    tier_of = side.tier_of
    for edges in components.values():
        if len(edges) == 1:
            _key, _difference, row, order, rank = edges[0]
            order_of[row], row_of[order], tier_of[row] = order, row, rank
            continue
        edges.sort()
        for _key, _difference, row, order, rank in edges:
            if order_of[row] >= 0 or row_of[order] >= 0:
                continue
            order_of[row], row_of[order], tier_of[row] = order, row, rank
        left = sorted({edge[2] for edge in edges if order_of[edge[2]] < 0})
        if left:
            neighbours: dict[int, list[tuple[int, int]]] = {}
            for _key, _difference, row, order, rank in edges:
                neighbours.setdefault(row, []).append((order, rank))
            for row in left:
                _augment(row, neighbours, order_of, row_of, tier_of)


def _augment(
    start: int,
    neighbours: dict[int, list[tuple[int, int]]],
    order_of: list[int],
    row_of: list[int],
    tier_of: list[int],
) -> bool:
    """Find a path start -> order -> its row -> another order ... ending at a free order within
    MAX_SWAPS swaps, and flip it (depth-limited Kuhn step: the match count grows by one)."""
    visited: set[int] = set()

    def search(row: int, depth: int) -> bool:
        for order, rank in neighbours.get(row, ()):
            if order in visited:
                continue
            visited.add(order)
            holder = row_of[order]
            if holder < 0 or (depth < MAX_SWAPS and search(holder, depth + 1)):
                order_of[row] = order
                row_of[order] = row
                tier_of[row] = rank
                return True
        return False

    return search(start, 0)


def _hints(
    purchases: _Side,
    refunds: _Side,
    entries: list[LedgerEntry],
    times: list[float],
    orders: list[LocalOrder],
    spans: list,
    settings: Settings,
    charges: list[Decimal],
) -> _Notes:
    """Notes for unmatched rows (and the orders they point at)."""
    notes = _Notes()
    for side in (purchases, refunds):
        leftover = [row for row in side.rows if side.order_of[row] < 0]
        if not leftover:
            continue
        refund = side.refund
        end_index = 4 if refund else 1
        windows = sorted(
            (span[0], span[end_index], 0.0, order)
            for order, span in enumerate(spans)
            if span is not None
        )
        best: dict[int, tuple] = {}
        # Every order in the window is looked at (the amount test is relative and wide).
        rows = sorted((times[row], row, -math.inf, math.inf) for row in leftover)
        anchor_index = 3 if refund else 2
        for row, order in _sweep(rows, windows):
            entry = entries[row]
            supplier = entry.amount if refund else -entry.amount
            candidate = orders[order]
            ours = candidate.refund_usd if refund else charges[order]
            difference = abs(supplier - ours)
            if ours <= 0 or difference > ours * settings.hint_tolerance:
                continue
            within = difference <= settings.abs_tolerance or difference <= ours * (
                settings.fx_tolerance
            )
            distance = abs(times[row] - spans[order][anchor_index])
            # Inside the tolerance the nearest in time wins (as in matching); outside it the
            # closest amount does, being the likelier explanation.
            off = 0.0 if within else float(difference / ours)
            rank = (not within, off, distance, candidate.key)
            if row not in best or rank < best[row][0]:
                best[row] = (rank, order, within, supplier, ours)
        for row, (_rank, order, within, supplier, ours) in best.items():
            candidate = orders[order]
            entry = entries[row]
            what = "refund" if refund else "charge"
            expects = candidate.refund_expected if refund else candidate.charged_expected
            holder = side.row_of[order]
            if holder >= 0 and within:
                note = (
                    f"possible double {what} of order {candidate.key} (already matched to "
                    f"ledger row {entries[holder].id})"
                )
            elif not expects and within:
                note = (
                    f"fits order {candidate.key} (status {candidate.status}), which was not "
                    f"expected to have a {what}"
                )
                if not refund:
                    notes.charge.setdefault(
                        order,
                        f"ledger row {entry.id} fits this order although no charge was expected",
                    )
            elif not within:
                pct = ((supplier - ours) / ours * HUNDRED).quantize(CENT)
                note = (
                    f"nearest order in the window: {candidate.key}, expected {ours} USD, "
                    f"{pct:+} % off (outside the tolerance)"
                )
                if expects and holder < 0:
                    (notes.refund if refund else notes.charge).setdefault(
                        order,
                        f"ledger row {entry.id} in the window: {supplier} USD, {pct:+} % off "
                        f"(outside the tolerance)",
                    )
            else:
                continue
            notes.row[row] = note
    return notes


@dataclass(slots=True)
class _Notes:
    """Hints by position: for ledger rows, and for orders on the charge and the refund side."""

    row: dict[int, str] = field(default_factory=dict)
    charge: dict[int, str] = field(default_factory=dict)
    refund: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row) + len(self.charge) + len(self.refund)


#: Implied FX rates keep six significant digits (the ledger's cents allow no more).
_FX_CONTEXT = Context(prec=6)


def _variance(
    supplier: Decimal, ours: Decimal, order: LocalOrder, with_fx: bool
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    variance = supplier - ours
    pct = (variance / ours * HUNDRED).quantize(CENT) if ours else None
    implied = _FX_CONTEXT.divide(supplier, order.amount) if with_fx and order.amount else None
    return variance, pct, implied


@dataclass(frozen=True, slots=True)
class _Inside:
    """Which rows, and which orders on each side, belong to the period (by position)."""

    row: list[bool]
    charge: list[bool]
    refund: list[bool]


def _build_items(
    entries: list[LedgerEntry],
    kinds: list[str],
    orders: list[LocalOrder],
    charges: list[Decimal],
    purchases: _Side,
    refunds: _Side,
    notes: _Notes,
    settings: Settings,
    period_end: datetime,
    inside: _Inside,
) -> dict[Bucket, list[ReconItem]]:
    items: dict[Bucket, list[ReconItem]] = {
        bucket: [] for bucket in Bucket if bucket is not Bucket.CHAIN_BREAK
    }
    matched, variances = items[Bucket.MATCHED], items[Bucket.MATCHED_WITH_VARIANCE]
    row_notes = notes.row

    def neighbour(position: int, order_position: int, order_inside: list[bool]) -> str | None:
        """The note of a match across the period's edge; None when neither side is in it."""
        if not inside.row[position]:
            if not order_inside[order_position]:
                return None
            side = settings.side_of(entries[position].created_at)
            return f"ledger row {entries[position].id} of the {side} period"
        if not order_inside[order_position]:
            order = orders[order_position]
            moment = order.submitted_at if order_inside is inside.charge else _refund_moment(order)
            return f"order #{order.key} of the {settings.side_of(moment)} period"
        return ""

    for position, entry in enumerate(entries):
        kind = kinds[position]
        note = row_notes.get(position, "")
        if not inside.row[position]:
            # A row of a neighbouring period shows only as the match of an order of this one.
            order_position = (
                purchases.order_of[position]
                if kind == PURCHASE
                else refunds.order_of[position]
                if kind == REFUND
                else -1
            )
            if order_position < 0:
                continue
            note = ""
        if kind == PURCHASE:
            order_position = purchases.order_of[position]
            if order_position < 0:
                if entry.amount >= 0:
                    note = note or "a PURCHASE row that does not debit the account"
                bucket = Bucket.UNEXPECTED_CHARGE
                items[bucket].append(ReconItem(bucket, entry, note=note))
                continue
            edge = neighbour(position, order_position, inside.charge)
            if edge is None:
                continue
            order = orders[order_position]
            ours = charges[order_position]
            variance, pct, implied = _variance(-entry.amount, ours, order, True)
            refund_row = refunds.row_of[order_position]
            if refund_row >= 0:
                note = f"refunded by ledger row {entries[refund_row].id}"
            note = _joined(edge, note)
            if purchases.tier_of[position] == 0:
                matched.append(
                    ReconItem(Bucket.MATCHED, entry, order, ours, variance, pct, implied, note)
                )
            else:
                variances.append(
                    ReconItem(
                        Bucket.MATCHED_WITH_VARIANCE,
                        entry,
                        order,
                        ours,
                        variance,
                        pct,
                        implied,
                        note,
                    )
                )
        elif kind == REFUND:
            order_position = refunds.order_of[position]
            if order_position < 0:
                if entry.amount <= 0:
                    note = note or "a REFUND row that does not credit the account"
                bucket = Bucket.UNEXPECTED_REFUND
                items[bucket].append(ReconItem(bucket, entry, note=note))
                continue
            edge = neighbour(position, order_position, inside.refund)
            if edge is None:
                continue
            order = orders[order_position]
            ours = order.refund_usd
            rank = refunds.tier_of[position]
            variance, pct, implied = _variance(entry.amount, ours, order, rank < 2)
            if rank == 2:
                note = f"partial refund: {entry.amount} of {ours} USD expected"
            if (
                order.charged_expected
                and purchases.row_of[order_position] < 0
                and inside.charge[order_position]
            ):
                note = _joined(note, "no charge was found for this order")
            note = _joined(edge, note)
            bucket = Bucket.REFUND_MATCHED
            items[bucket].append(
                ReconItem(bucket, entry, order, ours, variance, pct, implied, note)
            )
        else:
            bucket = Bucket.DEPOSIT if kind == DEPOSIT else Bucket.OTHER
            items[bucket].append(ReconItem(bucket, entry, note=note))

    period_start, explicit_end = settings.period_start, settings.period_end
    slack = settings.window_slack
    synced = settings.ledger_synced_until

    def unsynced(order: LocalOrder, refund: bool) -> str:
        """Say so when the ledger was last synced before the row could have come."""
        if synced is None or order.submitted_at is None:
            return ""
        due = (_refund_moment(order) if refund else order.submitted_at) - slack
        if due <= synced:
            return ""
        return (
            f"UNSYNCED: the ledger was last synced at {_utc_text(synced)} UTC, before this "
            f"{'refund' if refund else 'charge'} was due: sync the ledger and run again"
        )

    def boundary(order: LocalOrder) -> str:
        if order.submitted_at is None:
            return "never submitted"
        if period_start is not None and order.submitted_at - slack < period_start:
            return "its window starts before the period: the row may be in the previous period"
        end = order.final_at or period_end
        if explicit_end is not None and end + slack > explicit_end:
            return "its window ends after the period: the row may be in the next period"
        return ""

    for position, order in enumerate(orders):
        if not inside.charge[position]:
            pass
        elif not order.charged_expected:
            bucket = Bucket.NO_CHARGE_EXPECTED
            note = notes.charge.get(position, "")
            items[bucket].append(ReconItem(bucket, order=order, note=note))
        elif purchases.row_of[position] < 0:
            refund_row = refunds.row_of[position]
            refunded = f"refunded by ledger row {entries[refund_row].id}" if refund_row >= 0 else ""
            bucket = Bucket.NOT_CHARGED
            note = _joined(
                unsynced(order, False), notes.charge.get(position, ""), refunded, boundary(order)
            )
            items[bucket].append(
                ReconItem(bucket, order=order, expected_usd=charges[position], note=note)
            )
        if order.refund_expected and refunds.row_of[position] < 0 and inside.refund[position]:
            charge_row = purchases.row_of[position]
            if charge_row >= 0:
                charged = f"charged by ledger row {entries[charge_row].id}"
            else:
                charged = "no charge was found either" if order.charged_expected else ""
            bucket = Bucket.REFUND_MISSING
            note = _joined(
                unsynced(order, True), notes.refund.get(position, ""), charged, boundary(order)
            )
            items[bucket].append(
                ReconItem(bucket, order=order, expected_usd=order.refund_usd, note=note)
            )
    return items


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _totals(
    entries: list[LedgerEntry],
    items: dict[Bucket, list[ReconItem]],
    opening: Decimal,
    opening_known: bool,
    gaps: Decimal,
    settings: Settings,
) -> Totals:
    """The money of the period's own rows; a match with a row of a neighbouring period counts
    in that period's totals, not in these."""
    sums = {PURCHASE: ZERO, REFUND: ZERO, DEPOSIT: ZERO}
    other = ZERO
    for entry in entries:
        kind = entry.type.upper()
        if kind in sums:
            sums[kind] += entry.amount
        else:
            other += entry.amount
    contains = settings.contains

    def ours(item: ReconItem) -> bool:
        return item.entry is None or contains(item.entry.created_at)

    def ledger_sum(bucket: Bucket, sign: int) -> Decimal:
        return sum((item.entry.amount * sign for item in items[bucket] if ours(item)), ZERO)

    def expected_sum(*buckets: Bucket) -> Decimal:
        return sum(
            (item.expected_usd for bucket in buckets for item in items[bucket] if ours(item)),
            ZERO,
        )

    return Totals(
        opening=opening,
        opening_known=opening_known,
        deposits=sums[DEPOSIT],
        purchases=-sums[PURCHASE],
        refunds=sums[REFUND],
        other=other,
        chain_gaps=gaps,
        closing=entries[-1].balance_after if entries else opening,
        matched_purchases=ledger_sum(Bucket.MATCHED, -1)
        + ledger_sum(Bucket.MATCHED_WITH_VARIANCE, -1),
        matched_purchases_expected=expected_sum(Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE),
        unexpected_charges=ledger_sum(Bucket.UNEXPECTED_CHARGE, -1),
        not_charged=expected_sum(Bucket.NOT_CHARGED),
        matched_refunds=ledger_sum(Bucket.REFUND_MATCHED, 1),
        matched_refunds_expected=expected_sum(Bucket.REFUND_MATCHED),
        unexpected_refunds=ledger_sum(Bucket.UNEXPECTED_REFUND, 1),
        missing_refunds=expected_sum(Bucket.REFUND_MISSING),
    )
