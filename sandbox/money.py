"""Money: USD balances in integer cents, offer prices as ``Decimal``, and the FX conversion.

The balance is always USD. The contract fixes the debit for one unit as
``round(price * fx_to_usd[currency], 2)`` (half up); an order of ``count`` units costs ``count``
times that. Balances and ledger amounts are kept as integer cents so that sums and
``balanceAfter`` chains are exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")

#: USD value of one unit of each price currency (contract: overridable per sandbox).
DEFAULT_FX = {"USD": "1", "EUR": "1.08", "RUB": "0.011", "KZT": "0.0021", "TRY": "0.031"}


def cents_to_decimal(cents: int) -> Decimal:
    """``12345`` → ``Decimal('123.45')`` (always two decimals, also for zero)."""
    return (Decimal(cents) / 100).quantize(CENT)


def to_cents(amount: Decimal | int | str) -> int:
    """A USD amount with at most two decimals → cents; more decimals are rounded half up."""
    try:
        value = Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    return int(value * 100)


def unit_cost_cents(price: Decimal, currency: str, fx: dict[str, str]) -> int:
    """USD cents debited for one unit priced ``price`` in ``currency``."""
    rate = Decimal(str(fx.get(currency, DEFAULT_FX.get(currency, "1"))))
    return int((price * rate).quantize(CENT, rounding=ROUND_HALF_UP) * 100)


def round_price(value: Decimal) -> Decimal:
    """A price with two decimals, never below one cent."""
    return max(value.quantize(CENT, rounding=ROUND_HALF_UP), CENT)
