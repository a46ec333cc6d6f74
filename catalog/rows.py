"""Which sync rows the catalog can store: each row checked against the columns it goes into.

The supplier client reads a row's types (`suppliers.clients.types.SyncPage`: a row it cannot read
is listed in the page's `rejected`); this module checks what only the catalog knows, its columns'
limits, read from `catalog.models.Offer` so the two cannot drift:

- the offer id (and product id) fit a bigint, and the offer id is positive;
- the price is positive, at least the smallest amount the column keeps (0.0001), and has no more
  whole digits than it holds (14);
- the currency fits its column (8 characters): a code cut short would be another currency.

Names and categories longer than their columns are cut to fit, as before: they are only shown.
A row that fails is left out of the sync and reported with its reason (`Rejection`); the rest of
the page is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import models

from catalog.models import COMPATIBLE_METHODS, Offer
from suppliers.clients import RejectedRow, SyncRow

MAX_BIGINT = models.BigIntegerField.MAX_BIGINT
MIN_BIGINT = -MAX_BIGINT - 1

_price_field = Offer._meta.get_field("price")
PRICE_PLACES: int = _price_field.decimal_places
PRICE_WHOLE_DIGITS: int = _price_field.max_digits - PRICE_PLACES
SMALLEST_PRICE = Decimal(1).scaleb(-PRICE_PLACES)
LARGEST_PRICE = Decimal(10) ** PRICE_WHOLE_DIGITS - SMALLEST_PRICE
CURRENCY_LENGTH: int = Offer._meta.get_field("currency").max_length  # type: ignore[assignment]

SETTLEMENT_METHODS = frozenset(COMPATIBLE_METHODS["MIXED"])
MAX_UNITS = 2**31 - 1  # a PositiveIntegerField on every database

# How many bad rows a sync keeps, with their reasons, for its page (all are counted).
KEPT_REJECTIONS = 50


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row left out of a sync: where it was (the pass's category, its page and row), its offer
    id when readable, and why."""

    page: int
    row: int
    offer_id: int | None
    reason: str
    category: str | None = None

    def as_json(self) -> dict:
        # An offer id past JavaScript's safe range is kept as text, so it reads back exactly.
        offer_id: int | str | None = self.offer_id
        if offer_id is not None and abs(int(offer_id)) > 2**53:
            offer_id = str(offer_id)
        return {
            "category": self.category or "",
            "page": self.page,
            "row": self.row,
            "offer_id": offer_id,
            "reason": self.reason,
        }


def row_problem(row: SyncRow) -> str | None:
    """Why the catalog cannot store `row`, or None when it can."""
    if not 0 < row.offer_id <= MAX_BIGINT:
        return f"offerGroupId {_short(row.offer_id)} is not an id the catalog can hold"
    if row.product_id is not None and not MIN_BIGINT <= row.product_id <= MAX_BIGINT:
        return f"productId {_short(row.product_id)} is not an id the catalog can hold"
    return price_problem(row.price) or currency_problem(row.currency)


def price_problem(price: Decimal) -> str | None:
    """Why the catalog cannot keep `price`, or None: it must be a finite positive amount that
    the price column holds."""
    if not price.is_finite():
        return "price is not a finite number"
    if price <= 0:
        return f"price {_short(price)} is not positive"
    if price < SMALLEST_PRICE:
        return f"price {_short(price)} is below the smallest price kept ({SMALLEST_PRICE})"
    if price > LARGEST_PRICE:
        return f"price {_short(price)} is larger than a price can be ({PRICE_WHOLE_DIGITS} digits)"
    return None


def currency_problem(currency: str | None) -> str | None:
    if currency is not None and len(currency) > CURRENCY_LENGTH:
        return f"currency is {len(currency)} characters long (at most {CURRENCY_LENGTH})"
    return None


def known_settlement_method(method: str | None) -> str:
    """An offer's settlement method as stored: FIAT, USDT or MIXED, anything else unknown ("")."""
    return method if method in SETTLEMENT_METHODS else ""


def known_units(count: int | None) -> int | None:
    """find-one's unit count as stored: None (unknown) unless the units column can hold it."""
    return count if count is not None and 0 <= count <= MAX_UNITS else None


def checked_rows(
    rows, unreadable: tuple[RejectedRow, ...] = (), *, page: int = 0, category: str | None = None
) -> tuple[list[SyncRow], list[Rejection]]:
    """The rows of a page the catalog can store, and the rejections: the client's unreadable rows
    and the rows that fail `row_problem`, in the order of the page."""
    good: list[SyncRow] = []
    rejected = [Rejection(page, bad.row, bad.offer_id, bad.reason, category) for bad in unreadable]
    # Row numbers count the unreadable rows too: the n-th good row is not always row n.
    skipped = sorted(bad.row for bad in unreadable)
    at = number = 0
    for row in rows:
        number += 1
        while at < len(skipped) and skipped[at] == number:
            at += 1
            number += 1
        problem = row_problem(row)
        if problem is None:
            good.append(row)
        else:
            rejected.append(Rejection(page, number, row.offer_id, problem, category))
    rejected.sort(key=lambda rejection: rejection.row)
    return good, rejected


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:21]}…"
