"""Money as finance shows it: amounts are stored with four places, the supplier's ledger and
its balances show cents."""

from decimal import Decimal
from typing import overload

from reseller.core.money import money

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@overload
def cents(value: Decimal) -> Decimal: ...


@overload
def cents(value: None) -> None: ...


@overload
def cents(value: Decimal | None) -> Decimal | None: ...


def cents(value: Decimal | None) -> Decimal | None:
    """A stored amount (4 places) as the ledger shows money, when that loses nothing (the one
    money format of every page, reseller.core.money)."""
    return money(value)
