"""Money as finance shows it: amounts are stored with four places, the supplier's ledger and
its balances show cents."""

from decimal import Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal | None) -> Decimal | None:
    """A stored amount (4 places) as the ledger shows money, when that loses nothing."""
    if value is None:
        return None
    rounded = value.quantize(CENT)
    return rounded if rounded == value else value.normalize()
