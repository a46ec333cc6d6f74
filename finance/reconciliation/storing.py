"""Storing a run: a reconciliation result written as `ReconciliationItem` rows, and read back as
the engine's result for the reports (the CSV and XLSX downloads take one).

The item's columns are listed once, in `ItemRow`: the rows are written in its order (one COPY
on PostgreSQL, batched INSERTs elsewhere) and read back by its names
(`values_list(*ITEM_COLUMNS)`, see `selectors.run_result`). A column added to the model is added
there too, or `tests/finance/test_reconciliation_runs.py` says so.

What a run knew of an order is kept with the item as JSON (`order_snapshot`): the order's status
moves on after the run. The totals are kept on the run likewise (`totals_as_json`).

Unlike the rest of the package this module uses the database; nothing in the package imports it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from decimal import Decimal
from itertools import islice
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Field

from finance import reconciliation as engine
from finance.models import LedgerEntry, ReconciliationItem, ReconciliationRun
from finance.money import ZERO, cents

#: Rows per INSERT statement where COPY is not available (SQLite).
ITEM_BATCH = 5000


class ItemRow(NamedTuple):
    """One `ReconciliationItem` row, the columns in the order they are written; foreign keys
    as ids. `order_data` is JSON text when written and a dict when read."""

    run: int
    position: int
    bucket: str
    item_key: str
    ledger_entry: int | None
    previous_entry: int | None  # chain breaks only
    order: int | None
    order_key: str
    order_data: Any  # JSON text (str) when written, a dict when read
    expected_usd: Decimal | None
    variance: Decimal | None
    variance_pct: Decimal | None
    implied_fx: Decimal | None
    expected_balance: Decimal | None  # chain breaks only, like the next two
    actual_balance: Decimal | None
    gap: Decimal | None
    note: str


#: The item's columns (model field names), for writing and for reading.
ITEM_COLUMNS = ItemRow._fields


# -- writing --------------------------------------------------------------------------------------


def item_rows(
    run_id: int, result: engine.ReconciliationResult, ledger_pks: dict[int, int]
) -> Iterator[ItemRow]:
    """Each item of the result as a row, in bucket order (its position). `ledger_pks` maps the
    supplier's row ids to our `LedgerEntry` pks."""
    chain_break = engine.Bucket.CHAIN_BREAK.value
    for position, item in enumerate(result.iter_items()):
        if isinstance(item, engine.ChainBreak):
            previous = None if item.previous is None else ledger_pks[item.previous.id]
            yield ItemRow(
                run=run_id,
                position=position,
                bucket=chain_break,
                item_key=item.item_key,
                ledger_entry=ledger_pks[item.entry.id],
                previous_entry=previous,
                order=None,
                order_key="",
                order_data="{}",
                expected_usd=None,
                variance=None,
                variance_pct=None,
                implied_fx=None,
                expected_balance=item.expected_balance,
                actual_balance=item.actual_balance,
                gap=item.gap,
                note=item.note,
            )
            continue
        order = item.order
        yield ItemRow(
            run=run_id,
            position=position,
            bucket=item.bucket.value,
            item_key=item.item_key,
            ledger_entry=None if item.entry is None else ledger_pks[item.entry.id],
            previous_entry=None,
            order=None if order is None else int(order.key),
            order_key="" if order is None else order.key,
            order_data="{}" if order is None else json.dumps(order_snapshot(order)),
            expected_usd=item.expected_usd,
            variance=item.variance,
            variance_pct=item.variance_pct,
            implied_fx=item.implied_fx,
            expected_balance=None,
            actual_balance=None,
            gap=None,
            note=item.note,
        )


def items_write(rows: Iterable[ItemRow]) -> None:
    """Insert the item rows: one COPY on PostgreSQL, batched INSERTs elsewhere (SQLite).

    Model instances are skipped on purpose: at 100,000 items building them costs more than the
    writing itself.
    """
    rows = iter(rows)
    quote = connection.ops.quote_name
    table = quote(ReconciliationItem._meta.db_table)
    columns = ", ".join(quote(_column(name)) for name in ITEM_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(ITEM_COLUMNS))
        # Table and column names come from the model, quoted; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        while batch := list(islice(rows, ITEM_BATCH)):
            cursor.executemany(sql, batch)


def _column(name: str) -> str:
    """The database column of one of the item's model fields."""
    field = ReconciliationItem._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"ReconciliationItem.{name} is not a column")
    return field.column


def order_snapshot(order: engine.LocalOrder) -> dict:
    """What a run knew of an order (JSON), for `local_order_from_snapshot`."""

    def text(value):
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return str(value)

    return {
        "transaction_id": order.transaction_id,
        "status": order.status,
        "expected_usd": text(order.expected_usd),
        "submitted_at": text(order.submitted_at),
        "final_at": text(order.final_at),
        "charged_expected": order.charged_expected,
        "refund_expected": order.refund_expected,
        "amount": text(order.amount),
        "currency": order.currency,
        "expected_refund_usd": text(order.expected_refund_usd),
        "units": order.units,
        "label": order.label,
    }


def totals_as_json(totals: engine.Totals) -> dict:
    return {
        field.name: getattr(totals, field.name)
        if field.name == "opening_known"
        else str(getattr(totals, field.name))
        for field in fields(engine.Totals)
    }


# -- reading back ---------------------------------------------------------------------------------


def stored_result(
    run: ReconciliationRun,
    rows: Iterable[tuple],
    entries: dict[int, engine.LedgerEntry],
) -> engine.ReconciliationResult:
    """A stored run as the engine's result again, from its item rows (in `ITEM_COLUMNS` order,
    by position) and the ledger rows they point at (by pk)."""
    buckets: dict[engine.Bucket, list[engine.ReconItem]] = {
        bucket: [] for bucket in engine.Bucket if bucket is not engine.Bucket.CHAIN_BREAK
    }
    breaks: list[engine.ChainBreak] = []
    for values in rows:
        item = _item(ItemRow._make(values), entries)
        if isinstance(item, engine.ChainBreak):
            breaks.append(item)
        else:
            buckets[item.bucket].append(item)
    return engine.ReconciliationResult(
        settings=engine.Settings.from_dict(run.engine_settings),
        period_start=run.period_start,
        period_end=run.period_end,
        items=buckets,
        chain_breaks=breaks,
        totals=run_totals(run) or _empty_totals(),
        ledger_count=run.ledger_count,
        order_count=run.order_count,
        refund_owed_count=run.refund_owed_count,
        hint_count=run.hint_count,
        fx_rates=dict(run.fx_rates),
        notices=[run.ledger_warning] if run.ledger_warning else [],
        observed_rates=run.observed_rates,
    )


def _item(
    row: ItemRow, entries: dict[int, engine.LedgerEntry]
) -> engine.ReconItem | engine.ChainBreak:
    bucket = engine.Bucket(row.bucket)
    entry = None if row.ledger_entry is None else entries.get(row.ledger_entry)
    if bucket is engine.Bucket.CHAIN_BREAK:
        return _chain_break(row, entry, entries)
    return engine.ReconItem(
        bucket=bucket,
        entry=entry,
        order=local_order_from_snapshot(row.order_key, row.order_data) if row.order_key else None,
        expected_usd=cents(row.expected_usd),
        variance=cents(row.variance),
        variance_pct=row.variance_pct,
        implied_fx=row.implied_fx.normalize() if row.implied_fx is not None else None,
        note=row.note,
    )


def _chain_break(
    row: ItemRow, entry: engine.LedgerEntry | None, entries: dict[int, engine.LedgerEntry]
) -> engine.ChainBreak:
    """A stored chain break: its row (kept: PROTECT) and the balances were written with it."""
    expected, actual, gap = row.expected_balance, row.actual_balance, row.gap
    if entry is None or expected is None or actual is None or gap is None:
        raise ValueError(f"stored chain break {row.item_key} lacks its ledger row or balances")
    return engine.ChainBreak(
        item_key=row.item_key,
        previous=None if row.previous_entry is None else entries.get(row.previous_entry),
        entry=entry,
        expected_balance=cents(expected),
        actual_balance=cents(actual),
        gap=cents(gap),
    )


def engine_entry(row: LedgerEntry) -> engine.LedgerEntry:
    """A stored ledger row of a run as the engine's record (amounts as the ledger shows them).
    A run's rows have their time and balance: a period with a row without them is refused."""
    if row.created_at is None or row.balance_after is None:
        raise ValueError(f"ledger row {row.supplier_id} has no time or no balance: no run has it")
    return engine.LedgerEntry(
        id=row.supplier_id,
        amount=cents(row.amount),
        type=row.type,
        description=row.description,
        balance_after=cents(row.balance_after),
        created_at=row.created_at,
    )


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A stored ledger row as the supplier gave it, for the plain ledger export: unlike the
    engine's record it may lack its balance (or time)."""

    id: int
    amount: Decimal
    type: str
    description: str
    balance_after: Decimal | None
    created_at: dt.datetime | None


def ledger_line(row: LedgerEntry) -> LedgerLine:
    """A stored ledger row for the plain export (amounts as the ledger shows them)."""
    return LedgerLine(
        id=row.supplier_id,
        amount=cents(row.amount),
        type=row.type,
        description=row.description,
        balance_after=cents(row.balance_after),
        created_at=row.created_at,
    )


def local_order_from_snapshot(key: str, data: dict) -> engine.LocalOrder:
    return engine.LocalOrder(
        key=key,
        transaction_id=data.get("transaction_id", ""),
        status=data.get("status", ""),
        expected_usd=_decimal(data.get("expected_usd")) or ZERO,
        submitted_at=_moment(data.get("submitted_at")),
        final_at=_moment(data.get("final_at")),
        charged_expected=bool(data.get("charged_expected")),
        refund_expected=bool(data.get("refund_expected")),
        amount=_decimal(data.get("amount")),
        currency=data.get("currency"),
        expected_refund_usd=_decimal(data.get("expected_refund_usd")),
        units=int(data.get("units") or 1),
        label=str(data.get("label") or ""),
    )


def run_totals(run: ReconciliationRun) -> engine.Totals | None:
    """The totals kept on the run (`totals_as_json`); None before it finished."""
    if not run.totals:
        return None
    values: dict[str, Any] = {}
    for field in fields(engine.Totals):
        # A run stored before a figure existed (the FX variance) shows it as zero.
        raw = run.totals.get(field.name, "0")
        values[field.name] = raw if field.name == "opening_known" else Decimal(raw)
    return engine.Totals(**values)


def _empty_totals() -> engine.Totals:
    return engine.reconcile([], []).totals


def _moment(text: str | None) -> dt.datetime | None:
    return None if not text else dt.datetime.fromisoformat(text)


def _decimal(text: str | None) -> Decimal | None:
    return None if not text else Decimal(text)
