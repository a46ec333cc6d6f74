"""One way to write money on every page: a stored amount (four places) as the supplier wrote it,
with cents when that loses nothing: 1.0000 → 1.00, 14.1800 → 14.18, 0.0125 stays 0.0125. Never
"1" beside "1.00"."""

from decimal import Decimal, InvalidOperation
from typing import overload

CENT = Decimal("0.01")


@overload
def money(amount: Decimal) -> Decimal: ...


@overload
def money(amount: None) -> None: ...


@overload
def money(amount: Decimal | None) -> Decimal | None: ...


def money(amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return None
    cents = amount.quantize(CENT)
    return cents if cents == amount else amount.normalize()


def money_text(value) -> str:
    """`money` for a template: any stored amount, "" for none."""
    if value is None or value == "":
        return ""
    try:
        return f"{money(Decimal(str(value))):f}"
    except InvalidOperation:
        return str(value)
