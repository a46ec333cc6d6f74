"""Step 1 of the method: the chain check (see the package docstring). Each row's balance must
follow from the previous one and its amount; a break is a missing or an extra row."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from finance.money import ZERO
from finance.reconciliation.types import ChainBreak, LedgerEntry


class ChainCheck(NamedTuple):
    breaks: list[ChainBreak]
    opening: Decimal  # the opening balance, given or derived from the first row
    gaps: Decimal  # the sum of the breaks' gaps


def chain_check(
    entries: list[LedgerEntry], opening_balance: Decimal | None, opening_row_id: int | None = None
) -> ChainCheck:
    """The breaks, the opening balance (given or derived), and the sum of the gaps.

    A break at the first row is keyed with the last row before the period when that row is
    known (`opening_row_id`), as a run over a longer period keys the same break."""
    if not entries:
        return ChainCheck([], opening_balance if opening_balance is not None else ZERO, ZERO)
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
    return ChainCheck(breaks, opening, gaps)
