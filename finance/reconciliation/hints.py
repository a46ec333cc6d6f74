"""Hints on the unmatched rows and orders: a near order or row, a possible double charge
(see step 3 of the package docstring). Notes only; they never move anything between buckets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from finance.reconciliation.matching import Side, sweep
from finance.reconciliation.types import CENT, HUNDRED, LedgerEntry, LocalOrder, Settings


def hints(
    purchases: Side,
    refunds: Side,
    entries: list[LedgerEntry],
    times: list[float],
    orders: list[LocalOrder],
    spans: list,
    settings: Settings,
    charges: list[Decimal],
) -> Notes:
    """Notes for unmatched rows (and the orders they point at)."""
    notes = Notes()
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
        for row, order in sweep(rows, windows):
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
class Notes:
    """Hints by position: for ledger rows, and for orders on the charge and the refund side."""

    row: dict[int, str] = field(default_factory=dict)
    charge: dict[int, str] = field(default_factory=dict)
    refund: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row) + len(self.charge) + len(self.refund)
