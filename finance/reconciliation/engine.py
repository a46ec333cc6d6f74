"""`reconcile()`: the inputs checked and put in canonical order, then the steps of the method in
turn (see the package docstring)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from finance.reconciliation.buckets import Inside, build_items
from finance.reconciliation.chain import chain_check
from finance.reconciliation.hints import hints
from finance.reconciliation.matching import Side, match_side, order_spans
from finance.reconciliation.totals import totals_of
from finance.reconciliation.types import (
    PURCHASE,
    REFUND,
    ZERO,
    LedgerEntry,
    LocalOrder,
    ReconciliationResult,
    Settings,
    refund_moment,
    require_aware,
)


def reconcile(
    ledger: Iterable[LedgerEntry],
    orders: Iterable[LocalOrder],
    settings: Settings | None = None,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> ReconciliationResult:
    """Reconcile the period's ledger rows against our orders (see the package docstring)."""
    with _gc_paused():
        return _reconcile(list(ledger), list(orders), settings or Settings(), progress)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for the run, then restore it as it was.

    A run allocates a few long-lived objects per input row (the items of the result) and no
    reference cycles to speak of. Left on, the collector walks the whole heap each time the
    survivors reach a quarter of it: at 100,000 rows that is a pause of 0.1-0.2 s that grows with
    the heap, for nothing to collect. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _reconcile(
    entries: list[LedgerEntry],
    order_list: list[LocalOrder],
    settings: Settings,
    progress: Callable[[float, str], None] | None,
) -> ReconciliationResult:
    """`reconcile()` itself, with the garbage collector paused."""

    def step(fraction: float, label: str) -> None:
        if progress is not None:
            progress(fraction, label)

    for entry in entries:
        if entry.created_at.utcoffset() is None:
            require_aware(entry.created_at, f"ledger row {entry.id} created_at")
    entries.sort(key=lambda entry: (entry.created_at, entry.id))
    if len({entry.id for entry in entries}) != len(entries):
        raise ValueError("ledger ids must be unique")
    for order in order_list:
        if order.submitted_at is not None or order.final_at is not None:
            require_aware(order.submitted_at, f"order {order.key} submitted_at")
            require_aware(order.final_at, f"order {order.key} final_at")
    if len({order.key for order in order_list}) != len(order_list):
        raise ValueError("order keys must be unique")
    # Canonical order (submission time, then key) so ties break the same way however the
    # caller listed them; never-submitted orders go last.
    order_list.sort(
        key=lambda order: (order.submitted_at is None, order.submitted_at or _EPOCH, order.key)
    )
    period_end = settings.period_end or _latest(entries, order_list)
    step(0.1, "sorted")

    # Rows and orders of the neighbouring periods are matching candidates only (see 5.).
    row_inside = [settings.contains(entry.created_at) for entry in entries]
    period_entries = [entry for entry, inside in zip(entries, row_inside, strict=True) if inside]
    charge_inside = [settings.contains(order.submitted_at) for order in order_list]
    refund_inside = [settings.contains(refund_moment(order)) for order in order_list]
    chain_breaks, opening, gaps = chain_check(
        period_entries, settings.opening_balance, settings.opening_row_id
    )
    step(0.2, "chain checked")

    times = [entry.created_at.timestamp() for entry in entries]
    kinds = [entry.type.upper() for entry in entries]
    spans = order_spans(order_list, period_end, settings.window_slack, settings.refund_window)
    charges = [order.charge_usd for order in order_list]
    refunds_owed = [order.refund_usd if order.refund_expected else ZERO for order in order_list]

    purchases = Side(
        refund=False,
        rows=[i for i, kind in enumerate(kinds) if kind == PURCHASE],
        orders=[i for i, order in enumerate(order_list) if order.charged_expected],
        row_of=[-1] * len(order_list),
        order_of=[-1] * len(entries),
        tier_of=[0] * len(entries),
    )
    match_side(purchases, entries, times, charges, spans, settings)
    step(0.6, "purchases matched")
    refunds = Side(
        refund=True,
        rows=[i for i, kind in enumerate(kinds) if kind == REFUND],
        orders=[i for i, order in enumerate(order_list) if order.refund_expected],
        row_of=[-1] * len(order_list),
        order_of=[-1] * len(entries),
        tier_of=[0] * len(entries),
    )
    match_side(refunds, entries, times, refunds_owed, spans, settings)
    step(0.75, "refunds matched")

    notes = hints(purchases, refunds, entries, times, order_list, spans, settings, charges)
    step(0.85, "hints")

    inside = Inside(row_inside, charge_inside, refund_inside)
    items = build_items(
        entries, kinds, order_list, charges, purchases, refunds, notes, settings, period_end, inside
    )
    totals = totals_of(
        period_entries, items, opening, settings.opening_balance is not None, gaps, settings
    )
    step(1.0, "done")
    return ReconciliationResult(
        settings=settings,
        period_start=settings.period_start,
        period_end=period_end,
        items=items,
        chain_breaks=chain_breaks,
        totals=totals,
        ledger_count=len(period_entries),
        order_count=sum(charge_inside),
        refund_owed_count=sum(1 for order in refunds.orders if refund_inside[order]),
        hint_count=len(notes),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _latest(entries: list[LedgerEntry], orders: list[LocalOrder]) -> datetime:
    moments = [entries[-1].created_at] if entries else []
    moments += [order.submitted_at for order in orders if order.submitted_at is not None]
    moments += [order.final_at for order in orders if order.final_at is not None]
    return max(moments, default=_EPOCH)
