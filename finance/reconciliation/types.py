"""The records the reconciliation takes and gives: the buckets, the inputs (`LedgerEntry`,
`LocalOrder`, `Settings`) and the outputs (`ReconItem`, `ChainBreak`, `Totals`,
`ReconciliationResult`). Pure Python, as the whole method is (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from finance.money import CENT

HUNDRED = Decimal("100")

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


#: By bucket (a stored item's bucket is its plain text, which finds the same label).
BUCKET_LABELS: dict[str, str] = {
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


def on_ledger(bucket: str, expected: Decimal | None) -> Decimal | None:
    """What an item expects, signed as the ledger shows money: a refund (the refund buckets) is
    a credit, positive; a charge is a debit, negative. Items hold it as a positive size."""
    if expected is None:
        return None
    return expected if bucket in REFUND_BUCKETS else -expected


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
    #: Units bought (the supplier converts the unit price and rounds it per unit).
    units: int = 1
    #: What the supplier's rows name the purchase by (its product and offer), "" when unknown.
    label: str = ""

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
    `hint_tolerance` only widens the search for the hints on unmatched items. `rate_band` is
    how far (relative) the supplier's own rate may lie from the table's for a pair to teach it
    (see `rates`): a table up to that far off shows as FX variance, not as unmatched rows.
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
    rate_band: Decimal = Decimal("0.15")

    def __post_init__(self) -> None:
        for name in (
            "fx_tolerance",
            "abs_tolerance",
            "exact_tolerance",
            "hint_tolerance",
            "rate_band",
        ):
            value = _decimal(getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must not be negative")
            object.__setattr__(self, name, value)
        if self.fx_tolerance >= 1 or self.rate_band >= 1:
            raise ValueError("fx_tolerance and rate_band are relative: below 1 (0.03 = 3 %)")
        if self.opening_balance is not None:
            object.__setattr__(self, "opening_balance", _decimal(self.opening_balance))
        for name in ("period_start", "period_end", "ledger_synced_until"):
            require_aware(getattr(self, name), name)
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
        if moment is None or self.contains(moment):
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
            "rate_band": text(self.rate_band),
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
            rate_band=tolerance("rate_band"),
        )


def _refund_window(stored: str | None, slack: str | None, defaults: Settings) -> timedelta:
    if stored is not None:
        return timedelta(seconds=float(stored))
    if slack is not None:
        # A run stored before the refund window existed matched refunds within the slack.
        return timedelta(seconds=float(slack))
    return defaults.refund_window


def require_aware(value: datetime | None, what: str) -> None:
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
    #: The part of `variance` the supplier's rate explains (its rate against the table's).
    fx_variance: Decimal | None = None

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
    def expected_on_ledger(self) -> Decimal | None:
        """`expected_usd` signed as the ledger shows it (a charge negative, a refund positive)."""
        return on_ledger(self.bucket, self.expected_usd)

    @property
    def ledger_row(self) -> LedgerEntry:
        """The ledger row of an item that holds one (every item of a ledger bucket)."""
        if self.entry is None:
            raise ValueError(f"{self.bucket} item {self.item_key} holds no ledger row")
        return self.entry

    @property
    def local_order(self) -> LocalOrder:
        """The order of an item that holds one (a match, or an item of an order bucket)."""
        if self.order is None:
            raise ValueError(f"{self.bucket} item {self.item_key} holds no order")
        return self.order

    @property
    def expected(self) -> Decimal:
        """`expected_usd` of an item that has it (a match, not charged, a refund missing)."""
        if self.expected_usd is None:
            raise ValueError(f"{self.bucket} item {self.item_key} has no expected amount")
        return self.expected_usd

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
class ObservedRate:
    """One currency's rate as the supplier's rows show it, against the table's.

    `pairs` purchases of the currency were paired by time to teach it, `agreeing` of them agree
    to the cent with `observed` (USD per unit); `table` is the table's rate over the same
    purchases (their expected USD over their amount). `applied` when the observed rate explains
    more of them than the table does: the matching then expects the supplier's rate, and
    `fx_variance` is what that changes in USD (supplier's rate minus ours) over the period's
    matched purchases, `refund_fx_variance` over its matched refunds.
    """

    currency: str
    pairs: int
    agreeing: int
    table: Decimal | None
    observed: Decimal | None
    applied: bool
    fx_variance: Decimal = Decimal(0)
    refund_fx_variance: Decimal = Decimal(0)

    @property
    def difference_pct(self) -> Decimal | None:
        """How far the observed rate lies from the table's, in percent (observed / table - 1)."""
        if not self.table or self.observed is None:
            return None
        return ((self.observed / self.table - 1) * HUNDRED).quantize(CENT)

    def as_dict(self) -> dict[str, str | int | bool | None]:
        return {
            "currency": self.currency,
            "pairs": self.pairs,
            "agreeing": self.agreeing,
            "table": None if self.table is None else str(self.table),
            "observed": None if self.observed is None else str(self.observed),
            "applied": self.applied,
            "fx_variance": str(self.fx_variance),
            "refund_fx_variance": str(self.refund_fx_variance),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ObservedRate:
        def number(name: str) -> Decimal | None:
            value = data.get(name)
            return None if value is None else Decimal(str(value))

        return cls(
            currency=str(data.get("currency", "")),
            pairs=int(data.get("pairs") or 0),
            agreeing=int(data.get("agreeing") or 0),
            table=number("table"),
            observed=number("observed"),
            applied=bool(data.get("applied")),
            fx_variance=number("fx_variance") or Decimal(0),
            refund_fx_variance=number("refund_fx_variance") or Decimal(0),
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
    # the part of the variance on matched pairs that the supplier's rates explain (see `rates`)
    purchase_fx_variance: Decimal = Decimal(0)
    refund_fx_variance: Decimal = Decimal(0)

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
            TotalsLine(
                "  of which FX: supplier's rate vs ours", self.purchase_fx_variance, None, None
            ),
            TotalsLine(
                "  of which amounts",
                self.purchase_variance - self.purchase_fx_variance,
                None,
                None,
            ),
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
            TotalsLine(
                "  of which FX: supplier's rate vs ours", self.refund_fx_variance, None, None
            ),
            TotalsLine(
                "  of which amounts", self.refund_variance - self.refund_fx_variance, None, None
            ),
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
    #: Per currency: the rate the supplier's rows show against our table's (see `rates`).
    observed_rates: list[ObservedRate] = field(default_factory=list)

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
            bucket: sum(1 for item in self.items[bucket] if contains(item.ledger_row.created_at))
            for bucket in LEDGER_BUCKETS
        }

    def orders_by_bucket(self) -> dict[Bucket, int]:
        """The period's orders (submitted in it) per charge-side bucket."""
        contains = self.settings.contains
        return {
            bucket: sum(1 for item in self.items[bucket] if contains(item.local_order.submitted_at))
            if bucket in (Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE)
            else len(self.items[bucket])
            for bucket in ORDER_BUCKETS
        }

    def refunds_by_bucket(self) -> dict[Bucket, int]:
        """The period's refunds owed (the order failed in it) per refund-side bucket."""
        contains = self.settings.contains
        return {
            bucket: sum(
                1 for item in self.items[bucket] if contains(refund_moment(item.local_order))
            )
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
                order = item.local_order
                moment = refund_moment(order) if refund else order.submitted_at
                if not (contains(item.ledger_row.created_at) and contains(moment)):
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
            f"{utc_text(self.period_start) or 'start of ledger'} to {utc_text(self.period_end)}"
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


def utc_text(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def refund_moment(order: LocalOrder) -> datetime | None:
    """When a refund falls due: when the order failed (or, pending, when it was submitted)."""
    return order.final_at or order.submitted_at
