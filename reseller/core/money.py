"""One way to write money on every page: a stored amount (four places) as the supplier wrote it,
with cents when that loses nothing: 1.0000 → 1.00, 14.1800 → 14.18, 0.0125 stays 0.0125. Never
"1" beside "1.00". A USD figure (a balance, a total, a reconciliation amount) is written to the
cent with thousands separated: 1,234.50 (`usd_text`)."""

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


def usd_text(value, places: int = 2) -> str:
    """A USD figure to the cent, thousands separated: 1234.5 → "1,234.50"; none → "—". A
    negative amount keeps its sign."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{number:,.{int(places)}f}"
