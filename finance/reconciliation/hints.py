"""Hints on the unmatched rows and orders (see 3. in the package docstring): for each ledger row
left unmatched, the order in its window that comes closest, and what that suggests ("possible
double charge of order X", "fits order X, which was not expected to be charged", "nearest order,
7.5 % off"). Notes only; they never move anything between buckets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from finance.money import CENT
from finance.reconciliation.matching import Side, sweep
from finance.reconciliation.prepared import (
    END,
    PURCHASE_ANCHOR,
    REFUND_ANCHOR,
    REFUND_END,
    START,
    Prepared,
)
from finance.reconciliation.types import HUNDRED


@dataclass(slots=True)
class Notes:
    """Hints by position: for ledger rows, and for orders on the charge and the refund side."""

    row: dict[int, str] = field(default_factory=dict)
    charge: dict[int, str] = field(default_factory=dict)
    refund: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row) + len(self.charge) + len(self.refund)


@dataclass(frozen=True, slots=True)
class _Nearest:
    """The order that comes closest to an unmatched row, and how close."""

    order: int
    within: bool  # inside the matching tolerance
    supplier: Decimal  # the row's amount as a positive magnitude
    ours: Decimal  # what the order led us to expect on this side


def hints(prepared: Prepared, purchases: Side, refunds: Side) -> Notes:
    """Notes for unmatched rows (and the orders they point at)."""
    notes = Notes()
    for side in (purchases, refunds):
        leftover = [row for row in side.rows if side.order_of[row] < 0]
        if not leftover:
            continue
        for row, nearest in _nearest_orders(prepared, side, leftover).items():
            _note(notes, prepared, side, row, nearest)
    return notes


def _nearest_orders(prepared: Prepared, side: Side, leftover: list[int]) -> dict[int, _Nearest]:
    """Per unmatched row, the order in its window that comes closest within the hint tolerance.

    Inside the matching tolerance the nearest in time wins (as in matching); outside it the
    closest amount does, being the likelier explanation."""
    refund = side.refund
    settings = prepared.settings
    entries, times, spans = prepared.entries, prepared.times, prepared.spans
    orders, charges = prepared.orders, prepared.charges
    end_index = REFUND_END if refund else END
    windows = sorted(
        (span[START], span[end_index], 0.0, order)
        for order, span in enumerate(spans)
        if span is not None
    )
    best: dict[int, tuple] = {}
    # Every order in the window is looked at (the amount test is relative and wide).
    rows = sorted((times[row], row, -math.inf, math.inf) for row in leftover)
    anchor_index = REFUND_ANCHOR if refund else PURCHASE_ANCHOR
    # Each order's anchor moment; the sweep pairs rows only with orders that have windows.
    anchors = [math.nan if span is None else span[anchor_index] for span in spans]
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
        distance = abs(times[row] - anchors[order])
        off = 0.0 if within else float(difference / ours)
        rank = (not within, off, distance, candidate.key)
        if row not in best or rank < best[row][0]:
            best[row] = (rank, _Nearest(order, within, supplier, ours))
    return {row: nearest for row, (_rank, nearest) in best.items()}


def _note(notes: Notes, prepared: Prepared, side: Side, row: int, nearest: _Nearest) -> None:
    """The hint on an unmatched row, and on the order it points at when that helps."""
    refund = side.refund
    entries = prepared.entries
    order, within, supplier, ours = nearest.order, nearest.within, nearest.supplier, nearest.ours
    candidate = prepared.orders[order]
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
        return
    notes.row[row] = note
