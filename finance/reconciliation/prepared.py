"""The inputs of a run checked, put in canonical order, and what every step reads of them by
position: each row's time and type, each order's windows and expected charge, and which rows and
orders belong to the period (the others are the neighbouring periods' candidates, see 5. in the
package docstring).

The steps work on positions in these lists, never on the caller's order of the inputs, so ties
break the same way however the caller listed them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from finance.reconciliation.types import (
    LedgerEntry,
    LocalOrder,
    Settings,
    refund_moment,
    require_aware,
)

#: An order's windows as timestamps; the positions of its moments in the tuple:
#: the charge window [START, END], the moments a purchase and a refund are measured from, and
#: the end of the refund window (a refund may come up to `Settings.refund_window` after failure).
Span = tuple[float, float, float, float, float]
START, END, PURCHASE_ANCHOR, REFUND_ANCHOR, REFUND_END = range(5)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One run's inputs by position (rows by (created_at, id), orders by (submitted_at, key),
    never-submitted orders last), with the period's settings and end."""

    settings: Settings
    #: The end of the period: the settings' `period_end`, else the latest moment in the inputs.
    period_end: datetime
    entries: list[LedgerEntry]
    orders: list[LocalOrder]
    kinds: list[str]  # row -> its type in upper case
    times: list[float]  # row -> its time as a timestamp
    spans: list[Span | None]  # order -> its windows (None: never submitted, matches nothing)
    charges: list[Decimal]  # order -> the charge expected, to the cent
    row_inside: list[bool]  # row -> whether it is the period's (else a neighbour's candidate)
    charge_inside: list[bool]  # order -> whether it was submitted in the period
    refund_inside: list[bool]  # order -> whether its refund falls due in the period
    period_entries: list[LedgerEntry]  # the period's own rows, in order


def prepare(entries: list[LedgerEntry], orders: list[LocalOrder], settings: Settings) -> Prepared:
    """Check the inputs (aware times, unique ids and keys), sort them in place into their
    canonical order, and derive what the steps read by position."""
    for entry in entries:
        if entry.created_at.utcoffset() is None:
            require_aware(entry.created_at, f"ledger row {entry.id} created_at")
    entries.sort(key=lambda entry: (entry.created_at, entry.id))
    if len({entry.id for entry in entries}) != len(entries):
        raise ValueError("ledger ids must be unique")
    for order in orders:
        if order.submitted_at is not None or order.final_at is not None:
            require_aware(order.submitted_at, f"order {order.key} submitted_at")
            require_aware(order.final_at, f"order {order.key} final_at")
    if len({order.key for order in orders}) != len(orders):
        raise ValueError("order keys must be unique")
    # Canonical order (submission time, then key) so ties break the same way however the
    # caller listed them; never-submitted orders go last.
    orders.sort(
        key=lambda order: (order.submitted_at is None, order.submitted_at or _EPOCH, order.key)
    )
    period_end = settings.period_end or _latest(entries, orders)
    # Rows and orders of the neighbouring periods are matching candidates only (see 5.).
    row_inside = [settings.contains(entry.created_at) for entry in entries]
    return Prepared(
        settings=settings,
        period_end=period_end,
        entries=entries,
        orders=orders,
        kinds=[entry.type.upper() for entry in entries],
        times=[entry.created_at.timestamp() for entry in entries],
        spans=_order_spans(orders, period_end, settings.window_slack, settings.refund_window),
        charges=[order.charge_usd for order in orders],
        row_inside=row_inside,
        charge_inside=[settings.contains(order.submitted_at) for order in orders],
        refund_inside=[settings.contains(refund_moment(order)) for order in orders],
        period_entries=[entry for entry, inside in zip(entries, row_inside, strict=True) if inside],
    )


def _latest(entries: list[LedgerEntry], orders: list[LocalOrder]) -> datetime:
    moments = [entries[-1].created_at] if entries else []
    moments += [order.submitted_at for order in orders if order.submitted_at is not None]
    moments += [order.final_at for order in orders if order.final_at is not None]
    return max(moments, default=_EPOCH)


def _order_spans(
    orders: list[LocalOrder], period_end: datetime, slack: timedelta, refund_window: timedelta
) -> list[Span | None]:
    """Per order: (window start, window end, purchase anchor, refund anchor, refund window end)
    as timestamps. A refund may come up to `refund_window` after the order failed."""
    slack_s = slack.total_seconds()
    refund_s = refund_window.total_seconds()
    end_default = period_end.timestamp()
    spans: list[Span | None] = []
    for order in orders:
        if order.submitted_at is None:
            spans.append(None)
            continue
        submitted = order.submitted_at.timestamp()
        final = order.final_at.timestamp() if order.final_at is not None else None
        end = max(final if final is not None else end_default, submitted)
        spans.append(
            (
                submitted - slack_s,
                end + slack_s,
                submitted,
                final if final is not None else submitted,
                end + refund_s,
            )
        )
    return spans
