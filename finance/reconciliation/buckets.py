"""Step 3 of the method: every ledger row and every order in its bucket (see the package
docstring), with the notes finance reads beside them: a match across the period's edge, a
refund of a charged order, a window that reaches into a neighbouring period, a ledger not
synced far enough.

Rows are placed first (a matched row places its order with it), then the orders no row was
matched to, on the charge side and on the refund side. A row or order of a neighbouring period
is listed only as the match of one of the period's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal

from finance.money import CENT
from finance.reconciliation.hints import Notes
from finance.reconciliation.matching import Side
from finance.reconciliation.prepared import Prepared
from finance.reconciliation.rates import Learned
from finance.reconciliation.types import (
    DEPOSIT,
    HUNDRED,
    PURCHASE,
    REFUND,
    Bucket,
    LedgerEntry,
    LocalOrder,
    ReconItem,
    refund_moment,
    utc_text,
)

#: Implied FX rates keep six significant digits (the ledger's cents allow no more).
_FX_CONTEXT = Context(prec=6)


@dataclass(frozen=True, slots=True)
class _Placing:
    """What placing reads (the prepared inputs, the matches of both sides, the hints) and the
    buckets it fills."""

    prepared: Prepared
    purchases: Side
    refunds: Side
    notes: Notes
    learned: Learned
    items: dict[Bucket, list[ReconItem]]


def build_items(
    prepared: Prepared, purchases: Side, refunds: Side, notes: Notes, learned: Learned
) -> dict[Bucket, list[ReconItem]]:
    """The items of every bucket but the chain breaks (those are listed in addition). A
    matched item's variance is against our table; its `fx_variance` the part the supplier's
    learned rate explains, and its bucket says whether the amount agrees at that rate."""
    items: dict[Bucket, list[ReconItem]] = {
        bucket: [] for bucket in Bucket if bucket is not Bucket.CHAIN_BREAK
    }
    placing = _Placing(prepared, purchases, refunds, notes, learned, items)
    _place_rows(placing)
    _place_orders(placing)
    return items


# -- ledger rows ----------------------------------------------------------------------------------


def _place_rows(placing: _Placing) -> None:
    prepared = placing.prepared
    kinds, inside = prepared.kinds, prepared.row_inside
    items, row_notes = placing.items, placing.notes.row
    for position, entry in enumerate(prepared.entries):
        kind = kinds[position]
        if kind == PURCHASE:
            _place_purchase(placing, position, entry)
        elif kind == REFUND:
            _place_refund(placing, position, entry)
        elif inside[position]:
            bucket = Bucket.DEPOSIT if kind == DEPOSIT else Bucket.OTHER
            items[bucket].append(ReconItem(bucket, entry, note=row_notes.get(position, "")))


def _place_purchase(placing: _Placing, position: int, entry: LedgerEntry) -> None:
    """A matched PURCHASE row with its order; else an unexpected charge."""
    prepared = placing.prepared
    order_position = placing.purchases.order_of[position]
    if order_position < 0:
        if prepared.row_inside[position]:
            note = placing.notes.row.get(position, "")
            if entry.amount >= 0:
                note = note or "a PURCHASE row that does not debit the account"
            bucket = Bucket.UNEXPECTED_CHARGE
            placing.items[bucket].append(ReconItem(bucket, entry, note=note))
        return
    edge = _edge_note(placing, position, order_position, refund=False)
    if edge is None:
        return
    order = prepared.orders[order_position]
    ours = prepared.charges[order_position]
    variance, pct, implied = _variance(-entry.amount, ours, order, True)
    refund_row = placing.refunds.row_of[order_position]
    refunded = (
        f"refunded by ledger row {prepared.entries[refund_row].id}" if refund_row >= 0 else ""
    )
    exact = placing.purchases.tier_of[position] == 0
    bucket = Bucket.MATCHED if exact else Bucket.MATCHED_WITH_VARIANCE
    at_rate = placing.learned.charges[order_position]
    fx = at_rate - ours
    placing.items[bucket].append(
        ReconItem(
            bucket,
            entry,
            order,
            ours,
            variance,
            pct,
            implied,
            _joined(edge, _fx_note(order, at_rate, fx), refunded),
            fx,
        )
    )


def _place_refund(placing: _Placing, position: int, entry: LedgerEntry) -> None:
    """A matched REFUND row with its order (partial when smaller than owed); else an
    unexpected refund."""
    prepared = placing.prepared
    order_position = placing.refunds.order_of[position]
    if order_position < 0:
        if prepared.row_inside[position]:
            note = placing.notes.row.get(position, "")
            if entry.amount <= 0:
                note = note or "a REFUND row that does not credit the account"
            bucket = Bucket.UNEXPECTED_REFUND
            placing.items[bucket].append(ReconItem(bucket, entry, note=note))
        return
    edge = _edge_note(placing, position, order_position, refund=True)
    if edge is None:
        return
    order = prepared.orders[order_position]
    ours = order.refund_usd
    rank = placing.refunds.tier_of[position]
    variance, pct, implied = _variance(entry.amount, ours, order, rank < 2)
    note = f"partial refund: {entry.amount} of {ours} USD expected" if rank == 2 else ""
    if (
        order.charged_expected
        and placing.purchases.row_of[order_position] < 0
        and prepared.charge_inside[order_position]
    ):
        note = _joined(note, "no charge was found for this order")
    at_rate = placing.learned.owed[order_position]
    fx = at_rate - ours
    bucket = Bucket.REFUND_MATCHED
    placing.items[bucket].append(
        ReconItem(
            bucket,
            entry,
            order,
            ours,
            variance,
            pct,
            implied,
            _joined(edge, _fx_note(order, at_rate, fx), note),
            fx,
        )
    )


def _fx_note(order: LocalOrder, at_rate: Decimal, fx: Decimal) -> str:
    """Say what the supplier's rate makes of the order, when it differs from our table."""
    if not fx:
        return ""
    return f"{at_rate} USD at the supplier's {order.currency} rate (FX variance {fx:+})"


def _edge_note(
    placing: _Placing, position: int, order_position: int, *, refund: bool
) -> str | None:
    """The note of a match across the period's edge ("" inside it); None when neither the row
    nor the order is the period's (the match belongs to a neighbouring period)."""
    prepared = placing.prepared
    settings = prepared.settings
    order_inside = (prepared.refund_inside if refund else prepared.charge_inside)[order_position]
    if not prepared.row_inside[position]:
        if not order_inside:
            return None
        entry = prepared.entries[position]
        return f"ledger row {entry.id} of the {settings.side_of(entry.created_at)} period"
    if not order_inside:
        order = prepared.orders[order_position]
        moment = refund_moment(order) if refund else order.submitted_at
        return f"order #{order.key} of the {settings.side_of(moment)} period"
    return ""


def _variance(
    supplier: Decimal, ours: Decimal, order: LocalOrder, with_fx: bool
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    variance = supplier - ours
    pct = (variance / ours * HUNDRED).quantize(CENT) if ours else None
    implied = _FX_CONTEXT.divide(supplier, order.amount) if with_fx and order.amount else None
    return variance, pct, implied


# -- orders without a row -------------------------------------------------------------------------


def _place_orders(placing: _Placing) -> None:
    prepared = placing.prepared
    refund_row_of = placing.refunds.row_of
    for position, order in enumerate(prepared.orders):
        if prepared.charge_inside[position]:
            _place_charge(placing, position, order)
        if (
            order.refund_expected
            and refund_row_of[position] < 0
            and prepared.refund_inside[position]
        ):
            _place_missing_refund(placing, position, order)


def _place_charge(placing: _Placing, position: int, order: LocalOrder) -> None:
    """The charge side of an order no PURCHASE row was matched to: not expected to be
    charged, or not charged (a matched one went in with its row)."""
    prepared = placing.prepared
    if not order.charged_expected:
        bucket = Bucket.NO_CHARGE_EXPECTED
        note = placing.notes.charge.get(position, "")
        placing.items[bucket].append(ReconItem(bucket, order=order, note=note))
    elif placing.purchases.row_of[position] < 0:
        refund_row = placing.refunds.row_of[position]
        refunded = (
            f"refunded by ledger row {prepared.entries[refund_row].id}" if refund_row >= 0 else ""
        )
        note = _joined(
            _unsynced(prepared, order, refund=False),
            placing.notes.charge.get(position, ""),
            refunded,
            _boundary(prepared, order),
        )
        bucket = Bucket.NOT_CHARGED
        placing.items[bucket].append(
            ReconItem(bucket, order=order, expected_usd=prepared.charges[position], note=note)
        )


def _place_missing_refund(placing: _Placing, position: int, order: LocalOrder) -> None:
    """A refund owed that no REFUND row was matched to."""
    prepared = placing.prepared
    charge_row = placing.purchases.row_of[position]
    if charge_row >= 0:
        charged = f"charged by ledger row {prepared.entries[charge_row].id}"
    else:
        charged = "no charge was found either" if order.charged_expected else ""
    note = _joined(
        _unsynced(prepared, order, refund=True),
        placing.notes.refund.get(position, ""),
        charged,
        _boundary(prepared, order),
    )
    bucket = Bucket.REFUND_MISSING
    placing.items[bucket].append(
        ReconItem(bucket, order=order, expected_usd=order.refund_usd, note=note)
    )


def _unsynced(prepared: Prepared, order: LocalOrder, *, refund: bool) -> str:
    """Say so when the ledger was last synced before the row could have come."""
    settings = prepared.settings
    synced = settings.ledger_synced_until
    moment = refund_moment(order) if refund else order.submitted_at  # None only if not submitted
    if synced is None or order.submitted_at is None or moment is None:
        return ""
    due = moment - settings.window_slack
    if due <= synced:
        return ""
    return (
        f"UNSYNCED: the ledger was last synced at {utc_text(synced)} UTC, before this "
        f"{'refund' if refund else 'charge'} was due: sync the ledger and run again"
    )


def _boundary(prepared: Prepared, order: LocalOrder) -> str:
    """Why the row may be missing: the order's window reaches into a neighbouring period."""
    settings = prepared.settings
    slack = settings.window_slack
    if order.submitted_at is None:
        return "never submitted"
    if settings.period_start is not None and order.submitted_at - slack < settings.period_start:
        return "its window starts before the period: the row may be in the previous period"
    end = order.final_at or prepared.period_end
    if settings.period_end is not None and end + slack > settings.period_end:
        return "its window ends after the period: the row may be in the next period"
    return ""


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
