"""Finance exports: CSV (UTF-8 with BOM, streamed) and XLSX (openpyxl write-only, streamed).

Both follow one rule set, because finance opens them in spreadsheet programs:

* Text cells starting with ``= + - @``, a tab or a carriage return are neutralised with a leading
  apostrophe (OWASP "CSV injection"; the rule lives in `reseller.core.spreadsheets.neutralise`),
  so a supplier description or an order key can never run as a formula. In XLSX this also
  matters for openpyxl itself, which would otherwise store a string starting with ``=`` as a
  formula.
* Numbers stay numbers: Decimal, int and float are written as numbers (a negative amount is a
  number, not text, and is not touched). CSV writes Decimals in plain notation (``-12.50``, never
  ``-1.25E+1``).
* Times are UTC. Spreadsheet cells have no timezone, so they are written as naive UTC date-times
  (real dates in XLSX, ``YYYY-MM-DD HH:MM:SS[.fff]`` in CSV) and every header says "(UTC)".

The reconciliation report has one column layout per bucket (`BUCKET_COLUMNS`) shared by the XLSX
sheets and the per-bucket CSV files, and a layout for the whole run in one CSV (`RUN_COLUMNS`,
with the bucket as the first column). Explanations written by finance can be passed in as a
mapping of item key to text.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, Protocol

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from finance.money import ZERO
from finance.reconciliation import (
    Bucket,
    ChainBreak,
    LocalOrder,
    ReconciliationResult,
    ReconItem,
)
from reseller.core.spreadsheets import BOM, FORMULA_STARTS, neutralise, xlsx_cell

__all__ = [
    "BOM",
    "BUCKET_COLUMNS",
    "FORMULA_STARTS",
    "LEDGER_HEADER",
    "ORDER_HEADER",
    "RUN_COLUMNS",
    "SUMMARY_SHEET",
    "iter_csv",
    "iter_reconciliation_csv",
    "ledger_rows",
    "neutralise",
    "order_rows",
    "reconciliation_rows",
    "write_csv",
    "write_reconciliation_csv",
    "write_reconciliation_xlsx",
]

SUMMARY_SHEET = "Summary"
SIGN_NOTE = (
    "Amounts are signed as the ledger shows them: a charge is negative, a refund or a deposit "
    "positive; the expected amount of an order is signed the same way. A variance compares "
    "sizes: + when the supplier took (or gave back) more than we expected."
)
UTC_NOTE = "All times are UTC, written without a timezone (spreadsheet cells have none)."
AMOUNT_FORMAT = "#,##0.00"
RATE_FORMAT = "0.000000"


def utc_naive(value: datetime) -> datetime:
    """An aware datetime as naive UTC (a naive one is taken to be UTC already)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


# -- CSV ------------------------------------------------------------------------------------------


def csv_value(value: object) -> str:
    """One CSV field: numbers in plain notation, times as naive UTC, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        moment = utc_naive(value)
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{moment.microsecond // 1000:03d}" if moment.microsecond else text
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


class _Line:
    """A write target that keeps only the last line the csv writer produced."""

    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text = text


def iter_csv(rows: Iterable[Sequence[object]], header: Sequence[str]) -> Iterator[str]:
    """The file line by line (for StreamingHttpResponse): the BOM and the header, then each row.

    Streaming: nothing is held but the current line.
    """
    line = _Line()
    writer = csv.writer(line, lineterminator="\r\n")
    writer.writerow([csv_value(name) for name in header])
    yield BOM + line.text
    for row in rows:
        writer.writerow([csv_value(value) for value in row])
        yield line.text


def write_csv(rows: Iterable[Sequence[object]], header: Sequence[str], stream: IO[Any]) -> None:
    """Write the CSV to a stream: text streams get str, anything else UTF-8 bytes."""
    text = isinstance(stream, io.TextIOBase)
    for line in iter_csv(rows, header):
        stream.write(line if text else line.encode("utf-8"))


# -- column layouts -------------------------------------------------------------------------------

Item = ReconItem | ChainBreak
Explanations = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Column:
    """A report column: its header, how to read it from an item, how to show it in XLSX."""

    header: str
    get: Callable[[Item, Explanations], object]
    kind: str = "text"  # text | amount | rate | number | datetime
    width: float = 14


def _entry(attribute: str) -> Callable[[Item, Explanations], object]:
    def get(item: Item, _explanations: Explanations) -> object:
        entry = item.entry
        return None if entry is None else getattr(entry, attribute)

    return get


def _order(attribute: str) -> Callable[[Item, Explanations], object]:
    def get(item: Item, _explanations: Explanations) -> object:
        order = getattr(item, "order", None)
        return None if order is None else getattr(order, attribute)

    return get


def _field(attribute: str) -> Callable[[Item, Explanations], object]:
    def get(item: Item, _explanations: Explanations) -> object:
        return getattr(item, attribute, None)

    return get


def _previous_id(item: Item, _explanations: Explanations) -> object:
    previous = getattr(item, "previous", None)
    return None if previous is None else previous.id


def _note(item: Item, _explanations: Explanations) -> object:
    return item.note or None


def _explanation(item: Item, explanations: Explanations) -> object:
    return explanations.get(item.item_key) or None


def _delay(item: Item, _explanations: Explanations) -> object:
    order = getattr(item, "order", None)
    if item.entry is None or order is None or order.submitted_at is None:
        return None
    return round((item.entry.created_at - order.submitted_at).total_seconds(), 1)


def _bucket(item: Item, _explanations: Explanations) -> object:
    return item.bucket.label


def _order_number(item: Item, _explanations: Explanations) -> object:
    """Our order's number, as a number (a key that is not one stays text)."""
    order = getattr(item, "order", None)
    if order is None:
        return None
    return int(order.key) if order.key.isdigit() else order.key


def _expected_on_ledger(item: Item, _explanations: Explanations) -> object:
    return item.expected_on_ledger if isinstance(item, ReconItem) else None


KEY = Column("Item key", _field("item_key"), width=18)
LEDGER_ID = Column("Ledger id", _entry("id"), "number", 11)
LEDGER_TYPE = Column("Ledger type", _entry("type"), width=11)
LEDGER_TIME = Column("Ledger time (UTC)", _entry("created_at"), "datetime", 20)
LEDGER_AMOUNT = Column("Ledger amount (USD)", _entry("amount"), "amount")
BALANCE_AFTER = Column("Balance after (USD)", _entry("balance_after"), "amount", 16)
DESCRIPTION = Column("Ledger description", _entry("description"), width=36)
ORDER = Column("Order", _order_number, "number", 10)
TRANSACTION = Column("Transaction id", _order("transaction_id"), width=20)
STATUS = Column("Order status", _order("status"), width=14)
SUBMITTED = Column("Submitted (UTC)", _order("submitted_at"), "datetime", 20)
DELAY = Column("Seconds after submission", _delay, "number", 12)
FINAL = Column("Final (UTC)", _order("final_at"), "datetime", 20)
# Signed as the ledger shows money (a charge negative, a refund positive), so it stands beside
# the ledger amount as the same kind of number.
EXPECTED = Column("Expected on the ledger (USD)", _expected_on_ledger, "amount", 16)
# Sizes compared: the supplier's amount minus ours, + when it took (or gave back) more.
VARIANCE = Column("Variance (USD, + = supplier moved more)", _field("variance"), "amount", 16)
VARIANCE_PCT = Column("Variance %", _field("variance_pct"), "number", 11)
# In the offer's currency, so not shown as money (and one styled cell fewer per row).
ORDER_AMOUNT = Column("Order amount", _order("amount"), "number")
CURRENCY = Column("Currency", _order("currency"), width=9)
IMPLIED_FX = Column("Implied FX (USD per unit)", _field("implied_fx"), "rate", 16)
PREVIOUS_ID = Column("Previous ledger id", _previous_id, "number", 12)
EXPECTED_BALANCE = Column("Expected balance (USD)", _field("expected_balance"), "amount", 18)
GAP = Column("Gap (USD)", _field("gap"), "amount")
NOTE = Column("Note", _note, width=50)
EXPLANATION = Column("Explanation", _explanation, width=40)
BUCKET = Column("Bucket", _bucket, width=22)

_LEDGER_ONLY = [
    KEY,
    LEDGER_ID,
    LEDGER_TYPE,
    LEDGER_TIME,
    LEDGER_AMOUNT,
    BALANCE_AFTER,
    DESCRIPTION,
    NOTE,
    EXPLANATION,
]
# Exact matches are most of a run, so their sheet is lean: XLSX cells are what costs time
# (openpyxl writes some 50,000 cells a second). The item key of a ledger row is "L:<ledger id>";
# the order's currency amount, the delay and the rest are in the whole-run CSV.
_MATCHED = [LEDGER_ID, LEDGER_TIME, LEDGER_AMOUNT, ORDER, EXPECTED, NOTE, EXPLANATION]
_VARIANCE = [
    KEY,
    LEDGER_ID,
    LEDGER_TIME,
    LEDGER_AMOUNT,
    ORDER,
    TRANSACTION,
    STATUS,
    SUBMITTED,
    DELAY,
    EXPECTED,
    VARIANCE,
    VARIANCE_PCT,
    ORDER_AMOUNT,
    CURRENCY,
    IMPLIED_FX,
    DESCRIPTION,
    NOTE,
    EXPLANATION,
]
_REFUND_MATCHED = [
    KEY,
    LEDGER_ID,
    LEDGER_TIME,
    LEDGER_AMOUNT,
    ORDER,
    TRANSACTION,
    STATUS,
    SUBMITTED,
    FINAL,
    EXPECTED,
    VARIANCE,
    VARIANCE_PCT,
    DESCRIPTION,
    NOTE,
    EXPLANATION,
]
_ORDER_ONLY = [
    KEY,
    ORDER,
    TRANSACTION,
    STATUS,
    SUBMITTED,
    FINAL,
    EXPECTED,
    ORDER_AMOUNT,
    CURRENCY,
    NOTE,
    EXPLANATION,
]
_CHAIN = [
    KEY,
    PREVIOUS_ID,
    LEDGER_ID,
    LEDGER_TYPE,
    LEDGER_TIME,
    LEDGER_AMOUNT,
    EXPECTED_BALANCE,
    BALANCE_AFTER,
    GAP,
    NOTE,
    EXPLANATION,
]

#: The columns of each bucket's sheet (and per-bucket CSV).
BUCKET_COLUMNS: dict[Bucket, list[Column]] = {
    Bucket.UNEXPECTED_CHARGE: _LEDGER_ONLY,
    Bucket.CHAIN_BREAK: _CHAIN,
    Bucket.UNEXPECTED_REFUND: _LEDGER_ONLY,
    Bucket.REFUND_MISSING: _ORDER_ONLY,
    Bucket.NOT_CHARGED: _ORDER_ONLY,
    Bucket.MATCHED_WITH_VARIANCE: _VARIANCE,
    Bucket.REFUND_MATCHED: _REFUND_MATCHED,
    Bucket.MATCHED: _MATCHED,
    Bucket.DEPOSIT: _LEDGER_ONLY,
    Bucket.OTHER: _LEDGER_ONLY,
    Bucket.NO_CHARGE_EXPECTED: _ORDER_ONLY,
}

#: The columns of the whole run in one CSV: every field any bucket has, the bucket first.
RUN_COLUMNS = [
    BUCKET,
    KEY,
    LEDGER_ID,
    LEDGER_TYPE,
    LEDGER_TIME,
    LEDGER_AMOUNT,
    BALANCE_AFTER,
    DESCRIPTION,
    ORDER,
    TRANSACTION,
    STATUS,
    SUBMITTED,
    FINAL,
    DELAY,
    EXPECTED,
    VARIANCE,
    VARIANCE_PCT,
    ORDER_AMOUNT,
    CURRENCY,
    IMPLIED_FX,
    PREVIOUS_ID,
    EXPECTED_BALANCE,
    GAP,
    NOTE,
    EXPLANATION,
]


def _items(result: ReconciliationResult, bucket: Bucket | None) -> Iterator[Item]:
    if bucket is None:
        return result.iter_items()
    if bucket is Bucket.CHAIN_BREAK:
        return iter(result.chain_breaks)
    return iter(result.items[bucket])


def _columns(bucket: Bucket | None) -> list[Column]:
    return RUN_COLUMNS if bucket is None else BUCKET_COLUMNS[bucket]


def reconciliation_rows(
    result: ReconciliationResult,
    bucket: Bucket | None = None,
    *,
    explanations: Explanations | None = None,
) -> Iterator[list[object]]:
    """Plain values (Decimal, datetime, str ...) of one bucket, or of the whole run."""
    explanations = explanations or {}
    getters = [column.get for column in _columns(bucket)]
    for item in _items(result, bucket):
        yield [get(item, explanations) for get in getters]


def iter_reconciliation_csv(
    result: ReconciliationResult,
    bucket: Bucket | None = None,
    *,
    explanations: Explanations | None = None,
) -> Iterator[str]:
    """One bucket (its sheet's columns) or the whole run (`RUN_COLUMNS`, then the totals and
    FX blocks of `summary_rows` below a blank line) as CSV lines."""
    header = [column.header for column in _columns(bucket)]
    rows = reconciliation_rows(result, bucket, explanations=explanations)
    if bucket is None:
        rows = itertools.chain(rows, summary_rows(result))
    return iter_csv(rows, header)


FX_HEADER = [
    "FX: the supplier's rates against ours",
    "Our rate (USD per unit)",
    "Supplier's rate (USD per unit)",
    "Difference (%)",
    "Pairs",
    "Pairs agreeing to the cent",
    "FX variance, purchases (USD)",
    "FX variance, refunds (USD)",
    "Matched at",
]


def fx_rows(result: ReconciliationResult) -> Iterator[list[object]]:
    """Per currency: the supplier's observed rate against our table's and its FX variance."""
    for rate in result.observed_rates:
        yield [
            rate.currency,
            rate.table,
            rate.observed,
            rate.difference_pct,
            rate.pairs,
            rate.agreeing,
            rate.fx_variance,
            rate.refund_fx_variance,
            "the supplier's rate" if rate.applied else "our rate",
        ]
    totals = result.totals
    yield [
        "All currencies",
        None,
        None,
        None,
        None,
        None,
        totals.purchase_fx_variance,
        totals.refund_fx_variance,
    ]


def summary_rows(result: ReconciliationResult) -> Iterator[list[object]]:
    """The totals that tie and the FX figures, as the blocks under a whole run's CSV."""
    totals = result.totals
    yield []
    yield ["Totals (USD)", "Ledger", "Our orders", "Difference (ledger - ours)"]
    for line in totals.lines():
        yield [line.label, line.ledger, line.orders, line.difference]
    yield ["opening + deposits - purchases + refunds + other = closing", totals.tie_text()]
    yield []
    yield ["Purchases: ledger - our orders (USD)", "Amount"]
    for line in totals.purchase_lines():
        yield [line.label, line.ledger]
    yield []
    yield ["Refunds: ledger - our orders (USD)", "Amount"]
    for line in totals.refund_lines():
        yield [line.label, line.ledger]
    yield []
    yield list(FX_HEADER)
    yield from fx_rows(result)


def write_reconciliation_csv(
    result: ReconciliationResult,
    stream: IO[Any],
    bucket: Bucket | None = None,
    *,
    explanations: Explanations | None = None,
) -> None:
    header = [column.header for column in _columns(bucket)]
    write_csv(reconciliation_rows(result, bucket, explanations=explanations), header, stream)


# -- plain exports of the inputs ------------------------------------------------------------------

LEDGER_HEADER = [
    "Ledger id",
    "Time (UTC)",
    "Type",
    "Amount (USD; a charge is negative)",
    "Balance after (USD)",
    "Description",
]
#: How each column of the ledger sheet is shown (XLSX).
LEDGER_KINDS = ["number", "datetime", "text", "amount", "amount", "text"]
LEDGER_WIDTHS = [11, 20, 11, 16, 16, 50]
ORDER_HEADER = [
    "Order",
    "Transaction id",
    "Status",
    "Submitted (UTC)",
    "Final (UTC)",
    "Expected (USD)",
    "Amount",
    "Currency",
    "Charge expected",
    "Refund expected",
    "Expected refund (USD)",
]


class LedgerLine(Protocol):
    """What the plain ledger export shows of a row: the engine's `LedgerEntry`, or a stored row
    as it came (which may lack its balance)."""

    @property
    def id(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def type(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def balance_after(self) -> Decimal | None: ...
    @property
    def description(self) -> str: ...


def ledger_rows(entries: Iterable[LedgerLine]) -> Iterator[list[object]]:
    """Rows for `LEDGER_HEADER` (for `iter_csv`)."""
    for entry in entries:
        yield [
            entry.id,
            entry.created_at,
            entry.type,
            entry.amount,
            entry.balance_after,
            entry.description,
        ]


def order_rows(orders: Iterable[LocalOrder]) -> Iterator[list[object]]:
    """Rows for `ORDER_HEADER` (for `iter_csv`)."""
    for order in orders:
        yield [
            order.key,
            order.transaction_id,
            order.status,
            order.submitted_at,
            order.final_at,
            order.expected_usd,
            order.amount,
            order.currency,
            order.charged_expected,
            order.refund_expected,
            order.expected_refund_usd,
        ]


# -- XLSX -----------------------------------------------------------------------------------------


#: What a cell holds; openpyxl writes each as its own type (a Decimal as a number).
CellValue = bool | int | float | Decimal | datetime | date | str | None


def xlsx_value(value: object) -> CellValue:
    """A cell value: numbers as numbers, naive UTC date-times, text neutralised and stripped of
    the control characters XML cannot hold (the rule of every XLSX download)."""
    return xlsx_cell(value)


def _write_only_cell(sheet: Any, value: CellValue) -> Cell:
    # types-openpyxl's WriteOnlyCell takes str | float | datetime | None; the Cell it builds
    # takes a Decimal and a date as well.
    return WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]


#: Column widths (characters) a fitted column stays between.
NARROWEST, WIDEST = 8, 70


class _Sheet:
    """A write-only sheet with a bold header and styled number cells, printed one page wide.

    A bucket sheet's columns are as wide as their header or their usual content (`Column.width`);
    a `fitted` sheet (the summary) holds its rows until `finish()`, which sets each column as
    wide as its longest cell (write-only sheets take widths before their first row only)."""

    def __init__(
        self,
        workbook: Workbook,
        title: str,
        columns: Sequence[Column] = (),
        *,
        fitted: bool = False,
    ) -> None:
        self.sheet = workbook.create_sheet(title)
        self.bold = Font(bold=True)
        self.pending: list[Sequence[object]] | None = [] if fitted else None
        self.widths: dict[int, float] = {}
        setup = self.sheet.page_setup
        setup.orientation = "landscape"
        setup.fitToWidth = 1
        setup.fitToHeight = 0  # as many pages down as it takes
        self.sheet.sheet_properties.pageSetUpPr.fitToPage = True
        if columns:
            for index, column in enumerate(columns):
                width = min(max(column.width, len(column.header) + 2), WIDEST)
                self.sheet.column_dimensions[get_column_letter(index + 1)].width = width
            self.sheet.freeze_panes = "A2"
            self.sheet.print_title_rows = "1:1"

    def append_cells(self, cells: Sequence[object], values: Sequence[object]) -> None:
        if self.pending is None:
            self.sheet.append(cells)
            return
        for index, value in enumerate(values):
            size = len(value) if isinstance(value, str) else 14 if value is not None else 0
            self.widths[index] = max(self.widths.get(index, 0), size + 2)
        self.pending.append(cells)

    def finish(self) -> None:
        """Write the held rows of a fitted sheet, its columns as wide as their content."""
        if self.pending is None:
            return
        for index, width in self.widths.items():
            letter = get_column_letter(index + 1)
            self.sheet.column_dimensions[letter].width = min(max(width, NARROWEST), WIDEST)
        for cells in self.pending:
            self.sheet.append(cells)
        self.pending = None

    def header(self, names: Iterable[str]) -> None:
        cells = []
        values = []
        for name in names:
            value = xlsx_value(name)
            cell = _write_only_cell(self.sheet, value)
            cell.font = self.bold
            cells.append(cell)
            values.append(value)
        self.append_cells(cells, values)

    def cell(self, value: object, kind: str = "text") -> object:
        value = xlsx_value(value)
        if kind not in ("amount", "rate") or not isinstance(value, int | float | Decimal):
            return value
        cell = _write_only_cell(self.sheet, value)
        cell.number_format = AMOUNT_FORMAT if kind == "amount" else RATE_FORMAT
        return cell

    def row(self, *values: object, kind: str = "text") -> None:
        self.append_cells(
            [self.cell(value, kind) for value in values], [xlsx_value(v) for v in values]
        )


def write_reconciliation_xlsx(
    result: ReconciliationResult,
    path_or_stream: str | IO[bytes] | Any,
    *,
    meta: Mapping[str, object],
    explanations: Explanations | None = None,
) -> None:
    """The report as XLSX: a "Summary" sheet, then one sheet per bucket that has items (most
    serious first), each printed one page wide.

    `meta` is shown at the top of the summary (account, period, run by, run at ...). Written with
    openpyxl in write-only mode: rows stream to a temporary file as they are appended, so memory
    does not grow with the number of rows.
    """
    explanations = explanations or {}
    workbook = Workbook(write_only=True)
    _write_summary(workbook, result, meta)
    counts = result.counts
    for bucket in Bucket:
        if not counts[bucket]:
            continue  # the summary lists it as "none": an empty sheet only lengthens a print
        columns = BUCKET_COLUMNS[bucket]
        sheet = _Sheet(workbook, bucket.label, columns)
        if bucket is Bucket.UNEXPECTED_CHARGE:
            sheet.sheet.sheet_properties.tabColor = "C00000"  # the most serious
        elif bucket is Bucket.CHAIN_BREAK:
            sheet.sheet.sheet_properties.tabColor = "ED7D31"
        sheet.header(column.header for column in columns)
        getters = [(column.get, column.kind) for column in columns]
        append = sheet.sheet.append
        cell = sheet.cell
        for item in _items(result, bucket):
            append([cell(get(item, explanations), kind) for get, kind in getters])
    workbook.save(path_or_stream)


def _rate_value(text: str) -> Decimal | str:
    """A stored rate as a number, or as its text when the table changed in the period
    ("0.0105 to 0.011")."""
    try:
        return Decimal(text)
    except ArithmeticError:
        return text


def _write_summary(
    workbook: Workbook, result: ReconciliationResult, meta: Mapping[str, object]
) -> None:
    sheet = _Sheet(workbook, SUMMARY_SHEET, fitted=True)
    sheet.header(["Reconciliation report"])
    for label, value in meta.items():
        sheet.row(label, value)
    sheet.row("Period start (UTC)", result.period_start or "start of the ledger")
    sheet.row("Period end (UTC)", result.period_end)
    sheet.row(UTC_NOTE)
    sheet.row(SIGN_NOTE)
    for notice in result.notices:
        sheet.row("LEDGER OUT OF DATE", notice)
    sheet.row()

    settings = result.settings
    sheet.header(["Settings"])
    sheet.row("FX tolerance (relative)", settings.fx_tolerance)
    sheet.row("Absolute tolerance (USD)", settings.abs_tolerance)
    sheet.row("Exact-match tolerance (USD)", settings.exact_tolerance)
    sheet.row("Window slack (seconds)", settings.window_slack.total_seconds())
    sheet.row("Refund window after failure (hours)", settings.refund_window.total_seconds() / 3600)
    sheet.row(
        "Opening balance (USD)",
        settings.opening_balance if settings.opening_balance is not None else "from the ledger",
    )
    sheet.row(
        "FX rates used (USD per unit)",
        "the rates valid when the orders were sent (each order keeps its own)",
    )
    for currency, rate in sorted(result.fx_rates.items()):
        sheet.row(f"FX rate {currency}", _rate_value(rate), kind="rate")
    sheet.row()

    sheet.header(["Bucket", "Items", "Ledger rows", "Orders", "Refunds owed", "Sheet"])
    ledger = result.ledger_rows_by_bucket()
    orders = result.orders_by_bucket()
    refunds = result.refunds_by_bucket()
    for bucket, count in result.counts.items():
        sheet.row(
            bucket.label,
            count,
            ledger.get(bucket),
            orders.get(bucket),
            refunds.get(bucket),
            bucket.label if count else "none",
        )
    sheet.row(
        "Total (chain breaks are listed in addition)",
        None,
        sum(ledger.values()),
        sum(orders.values()),
        sum(refunds.values()),
    )
    sheet.row("Inputs", None, result.ledger_count, result.order_count, result.refund_owed_count)
    sheet.row()

    totals = result.totals
    sheet.header(["Totals that tie (USD)", "Ledger", "Our orders", "Difference"])
    for line in totals.lines():
        sheet.row(line.label, line.ledger, line.orders, line.difference, kind="amount")
    sheet.row("opening + deposits - purchases + refunds + other = closing", totals.tie_text())
    sheet.row(
        "Does not tie by (USD; the chain breaks explain it)", totals.tie_difference, kind="amount"
    )
    sheet.row(
        "Closing from our orders, and the ledger's difference to it (USD)",
        totals.orders_closing,
        totals.orders_difference,
        kind="amount",
    )
    sheet.row()
    sheet.header(["Purchases: ledger - our orders (USD)", "Amount"])
    for line in totals.purchase_lines():
        sheet.row(line.label, line.ledger, kind="amount")
    sheet.row()
    sheet.header(["Refunds: ledger - our orders (USD)", "Amount"])
    for line in totals.refund_lines():
        sheet.row(line.label, line.ledger, kind="amount")
    sheet.row()
    sheet.header(FX_HEADER)
    for values in fx_rows(result):
        _fx_row(sheet, values)
    sheet.finish()


def _fx_row(sheet: _Sheet, values: list[object]) -> None:
    """One currency's FX line: the rates with six decimals, the variances as money."""
    kinds = ["text", "rate", "rate", "text", "text", "text", "amount", "amount", "text"]
    sheet.append_cells(
        [sheet.cell(value, kind) for value, kind in zip(values, kinds, strict=False)],
        [xlsx_value(value) for value in values],
    )


def write_ledger_xlsx(
    entries: Iterable[LedgerLine], path_or_stream: str | IO[bytes] | Any, *, title: str
) -> None:
    """The ledger rows of a period as one sheet: ids and amounts as numbers, times as naive UTC,
    widths fitted to the columns, printed one page wide, the signs explained in its last row
    but one (a charge is negative, as the supplier's ledger shows it)."""
    workbook = Workbook(write_only=True)
    columns = [
        Column(header, _unused, kind, width)
        for header, kind, width in zip(LEDGER_HEADER, LEDGER_KINDS, LEDGER_WIDTHS, strict=True)
    ]
    sheet = _Sheet(workbook, title[:31] or "Ledger", columns)
    sheet.header(LEDGER_HEADER)
    total = ZERO
    count = 0
    for row in ledger_rows(entries):
        sheet.sheet.append(
            [sheet.cell(value, kind) for value, kind in zip(row, LEDGER_KINDS, strict=True)]
        )
        amount = row[3]  # every ledger row has its amount
        total += amount if isinstance(amount, Decimal) else ZERO
        count += 1
    sheet.row()
    sheet.row(SIGN_NOTE)
    sheet.sheet.append(
        [
            sheet.cell(value, kind)
            for value, kind in zip(
                ["Rows", count, "Net movement", total],
                ["text", "number", "text", "amount"],
                strict=True,
            )
        ]
    )
    workbook.save(path_or_stream)


def _unused(_item: Item, _explanations: Explanations) -> object:
    return None
