"""Step 3 of the method: every ledger row and every order in its bucket (see the package
docstring), with the notes of matches across the period's edge and of a ledger not synced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal

from finance.reconciliation.hints import Notes
from finance.reconciliation.matching import Side
from finance.reconciliation.types import (
    CENT,
    DEPOSIT,
    HUNDRED,
    PURCHASE,
    REFUND,
    Bucket,
    LedgerEntry,
    LocalOrder,
    ReconItem,
    Settings,
    refund_moment,
    utc_text,
)

#: Implied FX rates keep six significant digits (the ledger's cents allow no more).
_FX_CONTEXT = Context(prec=6)


def _variance(
    supplier: Decimal, ours: Decimal, order: LocalOrder, with_fx: bool
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    variance = supplier - ours
    pct = (variance / ours * HUNDRED).quantize(CENT) if ours else None
    implied = _FX_CONTEXT.divide(supplier, order.amount) if with_fx and order.amount else None
    return variance, pct, implied


@dataclass(frozen=True, slots=True)
class Inside:
    """Which rows, and which orders on each side, belong to the period (by position)."""

    row: list[bool]
    charge: list[bool]
    refund: list[bool]


def build_items(
    entries: list[LedgerEntry],
    kinds: list[str],
    orders: list[LocalOrder],
    charges: list[Decimal],
    purchases: Side,
    refunds: Side,
    notes: Notes,
    settings: Settings,
    period_end: datetime,
    inside: Inside,
) -> dict[Bucket, list[ReconItem]]:
    items: dict[Bucket, list[ReconItem]] = {
        bucket: [] for bucket in Bucket if bucket is not Bucket.CHAIN_BREAK
    }
    matched, variances = items[Bucket.MATCHED], items[Bucket.MATCHED_WITH_VARIANCE]
    row_notes = notes.row

    def neighbour(position: int, order_position: int, order_inside: list[bool]) -> str | None:
        """The note of a match across the period's edge; None when neither side is in it."""
        if not inside.row[position]:
            if not order_inside[order_position]:
                return None
            side = settings.side_of(entries[position].created_at)
            return f"ledger row {entries[position].id} of the {side} period"
        if not order_inside[order_position]:
            order = orders[order_position]
            moment = order.submitted_at if order_inside is inside.charge else refund_moment(order)
            return f"order #{order.key} of the {settings.side_of(moment)} period"
        return ""

    for position, entry in enumerate(entries):
        kind = kinds[position]
        note = row_notes.get(position, "")
        if not inside.row[position]:
            # A row of a neighbouring period shows only as the match of an order of this one.
            order_position = (
                purchases.order_of[position]
                if kind == PURCHASE
                else refunds.order_of[position]
                if kind == REFUND
                else -1
            )
            if order_position < 0:
                continue
            note = ""
        if kind == PURCHASE:
            order_position = purchases.order_of[position]
            if order_position < 0:
                if entry.amount >= 0:
                    note = note or "a PURCHASE row that does not debit the account"
                bucket = Bucket.UNEXPECTED_CHARGE
                items[bucket].append(ReconItem(bucket, entry, note=note))
                continue
            edge = neighbour(position, order_position, inside.charge)
            if edge is None:
                continue
            order = orders[order_position]
            ours = charges[order_position]
            variance, pct, implied = _variance(-entry.amount, ours, order, True)
            refund_row = refunds.row_of[order_position]
            if refund_row >= 0:
                note = f"refunded by ledger row {entries[refund_row].id}"
            note = _joined(edge, note)
            if purchases.tier_of[position] == 0:
                matched.append(
                    ReconItem(Bucket.MATCHED, entry, order, ours, variance, pct, implied, note)
                )
            else:
                variances.append(
                    ReconItem(
                        Bucket.MATCHED_WITH_VARIANCE,
                        entry,
                        order,
                        ours,
                        variance,
                        pct,
                        implied,
                        note,
                    )
                )
        elif kind == REFUND:
            order_position = refunds.order_of[position]
            if order_position < 0:
                if entry.amount <= 0:
                    note = note or "a REFUND row that does not credit the account"
                bucket = Bucket.UNEXPECTED_REFUND
                items[bucket].append(ReconItem(bucket, entry, note=note))
                continue
            edge = neighbour(position, order_position, inside.refund)
            if edge is None:
                continue
            order = orders[order_position]
            ours = order.refund_usd
            rank = refunds.tier_of[position]
            variance, pct, implied = _variance(entry.amount, ours, order, rank < 2)
            if rank == 2:
                note = f"partial refund: {entry.amount} of {ours} USD expected"
            if (
                order.charged_expected
                and purchases.row_of[order_position] < 0
                and inside.charge[order_position]
            ):
                note = _joined(note, "no charge was found for this order")
            note = _joined(edge, note)
            bucket = Bucket.REFUND_MATCHED
            items[bucket].append(
                ReconItem(bucket, entry, order, ours, variance, pct, implied, note)
            )
        else:
            bucket = Bucket.DEPOSIT if kind == DEPOSIT else Bucket.OTHER
            items[bucket].append(ReconItem(bucket, entry, note=note))

    period_start, explicit_end = settings.period_start, settings.period_end
    slack = settings.window_slack
    synced = settings.ledger_synced_until

    def unsynced(order: LocalOrder, refund: bool) -> str:
        """Say so when the ledger was last synced before the row could have come."""
        if synced is None or order.submitted_at is None:
            return ""
        due = (refund_moment(order) if refund else order.submitted_at) - slack
        if due <= synced:
            return ""
        return (
            f"UNSYNCED: the ledger was last synced at {utc_text(synced)} UTC, before this "
            f"{'refund' if refund else 'charge'} was due: sync the ledger and run again"
        )

    def boundary(order: LocalOrder) -> str:
        if order.submitted_at is None:
            return "never submitted"
        if period_start is not None and order.submitted_at - slack < period_start:
            return "its window starts before the period: the row may be in the previous period"
        end = order.final_at or period_end
        if explicit_end is not None and end + slack > explicit_end:
            return "its window ends after the period: the row may be in the next period"
        return ""

    for position, order in enumerate(orders):
        if not inside.charge[position]:
            pass
        elif not order.charged_expected:
            bucket = Bucket.NO_CHARGE_EXPECTED
            note = notes.charge.get(position, "")
            items[bucket].append(ReconItem(bucket, order=order, note=note))
        elif purchases.row_of[position] < 0:
            refund_row = refunds.row_of[position]
            refunded = f"refunded by ledger row {entries[refund_row].id}" if refund_row >= 0 else ""
            bucket = Bucket.NOT_CHARGED
            note = _joined(
                unsynced(order, False), notes.charge.get(position, ""), refunded, boundary(order)
            )
            items[bucket].append(
                ReconItem(bucket, order=order, expected_usd=charges[position], note=note)
            )
        if order.refund_expected and refunds.row_of[position] < 0 and inside.refund[position]:
            charge_row = purchases.row_of[position]
            if charge_row >= 0:
                charged = f"charged by ledger row {entries[charge_row].id}"
            else:
                charged = "no charge was found either" if order.charged_expected else ""
            bucket = Bucket.REFUND_MISSING
            note = _joined(
                unsynced(order, True), notes.refund.get(position, ""), charged, boundary(order)
            )
            items[bucket].append(
                ReconItem(bucket, order=order, expected_usd=order.refund_usd, note=note)
            )
    return items


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
