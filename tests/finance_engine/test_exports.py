"""Exports: formula injection neutralised, numbers numeric, UTF-8 BOM, the XLSX reads back."""

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from finance.exports import (
    BOM,
    BUCKET_COLUMNS,
    LEDGER_HEADER,
    ORDER_HEADER,
    RUN_COLUMNS,
    SUMMARY_SHEET,
    csv_value,
    iter_csv,
    iter_reconciliation_csv,
    ledger_rows,
    neutralise,
    order_rows,
    write_csv,
    write_reconciliation_csv,
    write_reconciliation_xlsx,
)
from finance.reconciliation import Bucket, LedgerEntry, Settings, reconcile
from tests.finance_engine.builders import D, at, chain, order

CALC = "=cmd|' /C calc'!A0"
HOSTILE = [CALC, "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_starting_with_a_formula_character_is_neutralised(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "a=b", "", " =1", "O:ord-1", "L:17"])
def test_other_text_is_left_alone(value):
    assert neutralise(value) == value


@pytest.mark.parametrize("value", [Decimal("-12.50"), -5, -5.5, 0, None, True])
def test_numbers_stay_numbers(value):
    assert neutralise(value) is value


def test_csv_values_are_plain_numbers_utc_times_and_safe_text():
    assert csv_value(Decimal("-12.50")) == "-12.50"  # a negative number is not text
    assert csv_value(Decimal("0E-8")) == "0.00000000"  # never scientific notation
    assert csv_value(Decimal("1.2E+3")) == "1200"
    assert csv_value(-3) == "-3" and csv_value(0.25) == "0.25"
    plus3 = timezone(timedelta(hours=3))
    assert csv_value(datetime(2025, 7, 1, 15, 0, 1, 121000, tzinfo=plus3)) == (
        "2025-07-01 12:00:01.121"
    )
    assert csv_value(datetime(2025, 7, 1, 12, tzinfo=UTC)) == "2025-07-01 12:00:00"
    assert csv_value(CALC) == "'" + CALC
    assert csv_value(None) == "" and csv_value(True) == "yes"


def test_csv_streams_lines_with_a_bom_first():
    rows = [[1, Decimal("-1.50"), CALC], [2, Decimal("3"), 'ok, "quoted"']]
    lines = list(iter_csv(iter(rows), ["Id", "Amount", "Text"]))
    assert len(lines) == 3
    assert lines[0] == BOM + "Id,Amount,Text\r\n"
    assert lines[1] == "1,-1.50,'=cmd|' /C calc'!A0\r\n"
    body = "".join(lines).encode("utf-8")
    assert body.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert parsed[2] == ["2", "3", 'ok, "quoted"']


def test_write_csv_takes_text_and_binary_streams():
    text, binary = io.StringIO(), io.BytesIO()
    write_csv([["é", Decimal("1.00")]], ["Name", "Amount"], text)
    write_csv([["é", Decimal("1.00")]], ["Name", "Amount"], binary)
    assert text.getvalue() == BOM + "Name,Amount\r\né,1.00\r\n"
    assert binary.getvalue() == text.getvalue().encode("utf-8")


def test_plain_exports_of_ledger_rows_and_orders():
    ledger = chain([(0, "-5.00", "PURCHASE", CALC)])
    lines = list(iter_csv(ledger_rows(ledger), LEDGER_HEADER))
    assert lines[1] == f"1,2025-07-01 12:00:00,PURCHASE,-5.00,995.00,'{CALC}\r\n"
    lines = list(iter_csv(order_rows([order("@A", "1.5")]), ORDER_HEADER))
    assert lines[1].startswith("'@A,tx-@A,COMPLETED,2025-07-01 12:00:00,2025-07-01 12:00:05,1.5,")


def hostile_result():
    """A run with a row or an order in nearly every bucket, full of hostile text."""
    ledger = chain(
        [
            (0, "100.00", "DEPOSIT", "+deposit"),
            (10, "-5.00", "PURCHASE", CALC),  # matched
            (20, "-10.25", "PURCHASE", "@variance"),  # matched with variance
            (30, "-7.77", "PURCHASE", "-double\x01"),  # unexpected (with a control character)
            (900, "4.00", "REFUND", "\tRefund"),  # matched refund
            (100_000, "1.00", "REFUND", "=stray"),  # unexpected refund (a day later)
            (5001, "-0.10", "FEE", "=fee"),
        ]
    )
    del ledger[2]  # a gap: the variance row is lost, so its order is not charged
    orders = [
        order("=A", "5.00", submitted=5, final=899, status="FAILED", refund=True),
        order("+B", "10.00", submitted=15, amount="1000", currency="RUB"),
        order("-C", "3.00", submitted=40, refund=True, status="CANCELED"),
        order("@D", "2.00", charged=False, status="REJECTED"),
    ]
    return reconcile(ledger, orders, Settings(opening_balance=D("1000.00")))


def test_the_hostile_run_covers_the_buckets():
    result = hostile_result()
    counts = result.counts
    for bucket in (
        Bucket.MATCHED,
        Bucket.UNEXPECTED_CHARGE,
        Bucket.REFUND_MATCHED,
        Bucket.UNEXPECTED_REFUND,
        Bucket.NOT_CHARGED,
        Bucket.REFUND_MISSING,
        Bucket.NO_CHARGE_EXPECTED,
        Bucket.DEPOSIT,
        Bucket.OTHER,
        Bucket.CHAIN_BREAK,
    ):
        assert counts[bucket] >= 1, bucket


def test_reconciliation_csv_neutralises_text_and_keeps_amounts_numeric():
    result = hostile_result()
    explanations = {"L:4": "=explained by the supplier"}
    body = "".join(iter_reconciliation_csv(result, explanations=explanations))
    assert body.startswith(BOM)
    # The items, a blank line, then the totals and FX blocks (read on their own).
    items_part, blocks_part = body[1:].split("\r\n\r\n", 1)
    rows = list(csv.DictReader(io.StringIO(items_part)))
    assert list(rows[0]) == [column.header for column in RUN_COLUMNS]
    assert len(rows) == sum(result.counts.values())
    blocks = list(csv.reader(io.StringIO(blocks_part)))
    assert ["Closing balance, last ledger row", format(result.totals.closing, "f")] == blocks[7][:2]
    for row in rows:
        for header, value in row.items():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), (header, value)
            if value.startswith("-"):  # only numbers may start with a minus
                Decimal(value)
    unexpected = next(row for row in rows if row["Bucket"] == "Unexpected charges")
    assert unexpected["Ledger amount (USD)"] == "-7.77"
    assert unexpected["Ledger description"] == "'-double\x01"
    assert unexpected["Explanation"] == "'=explained by the supplier"
    matched = next(row for row in rows if row["Bucket"] == "Matched")
    assert matched["Ledger description"] == "'" + CALC and matched["Order"] == "'=A"
    assert matched["Ledger time (UTC)"] == "2025-07-01 12:00:10"


def test_a_bucket_csv_has_its_sheet_columns():
    result = hostile_result()
    stream = io.BytesIO()
    write_reconciliation_csv(result, stream, Bucket.CHAIN_BREAK)
    lines = stream.getvalue().decode("utf-8-sig").splitlines()
    assert lines[0].split(",") == [c.header for c in BUCKET_COLUMNS[Bucket.CHAIN_BREAK]]
    assert lines[1].startswith("B:2-4,2,4,PURCHASE,2025-07-01 12:00:30,-7.77,")


def test_the_csv_streams_through_django():
    response = StreamingHttpResponse(
        iter_reconciliation_csv(hostile_result()), content_type="text/csv; charset=utf-8"
    )
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbfBucket,Item key,")


def test_the_xlsx_reads_back_with_its_sheets_numbers_dates_and_no_formulas():
    result = hostile_result()
    stream = io.BytesIO()
    run_at = datetime(2025, 8, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    write_reconciliation_xlsx(
        result,
        stream,
        meta={"Account": CALC, "Run by": "@finance", "Run at": run_at, "Run": 12},
        explanations={"L:4": "+explained"},
    )
    stream.seek(0)
    book = load_workbook(stream)
    filled = [bucket for bucket, count in result.counts.items() if count]
    assert book.sheetnames == [SUMMARY_SHEET] + [bucket.label for bucket in filled]

    # Nothing anywhere is a formula, and no text cell starts with a formula character.
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r"))

    summary = {row[0]: row[1:] for row in book[SUMMARY_SHEET].iter_rows(values_only=True)}
    assert summary["Account"][0] == "'" + CALC
    assert summary["Run by"][0] == "'@finance"
    assert summary["Run at"][0] == datetime(2025, 8, 1, 7, 30)  # naive UTC
    assert summary["Run"][0] == 12
    closing = summary["Closing balance, last ledger row"]
    assert closing[0] == float(result.totals.closing)
    assert closing[1] == float(result.totals.orders_closing)
    assert closing[2] == float(result.totals.orders_difference)
    assert summary["Purchases (-)"][0] == float(result.totals.purchases)
    tie = summary["opening + deposits - purchases + refunds + other = closing"][0]
    assert tie == result.totals.tie_text()
    assert summary["Does not tie by (USD; the chain breaks explain it)"][0] == float(
        result.totals.tie_difference
    )
    assert summary["Unexpected charges"][:2] == (1, 1)
    assert summary["Inputs"][1:4] == (result.ledger_count, result.order_count, 2)

    sheet = book["Unexpected charges"]
    header, *rows = list(sheet.iter_rows())
    assert [c.value for c in header] == [c.header for c in BUCKET_COLUMNS[Bucket.UNEXPECTED_CHARGE]]
    (row,) = rows
    cells = {h.value: c for h, c in zip(header, row, strict=False)}
    assert cells["Ledger amount (USD)"].data_type == "n"
    assert cells["Ledger amount (USD)"].value == -7.77
    assert cells["Ledger amount (USD)"].number_format == "#,##0.00"
    assert cells["Ledger time (UTC)"].is_date
    assert cells["Ledger time (UTC)"].value == datetime(2025, 7, 1, 12, 0, 30)
    assert cells["Ledger description"].value == "'-double"  # the control character is gone
    assert cells["Explanation"].value == "'+explained"

    matched = list(book["Matched"].iter_rows(values_only=True))
    assert matched[0][:4] == ("Ledger id", "Ledger time (UTC)", "Ledger amount (USD)", "Order")
    assert matched[1][:4] == (2, datetime(2025, 7, 1, 12, 0, 10), -5, "'=A")

    breaks = list(book["Chain breaks"].iter_rows(values_only=True))
    assert breaks[1][:3] == ("B:2-4", 2, 4)


def test_the_xlsx_of_an_empty_run_is_its_summary_listing_every_bucket_as_none(tmp_path):
    path = tmp_path / "empty.xlsx"
    write_reconciliation_xlsx(reconcile([], []), str(path), meta={})
    book = load_workbook(path)
    assert book.sheetnames == [SUMMARY_SHEET]
    rows = {row[0]: row for row in book[SUMMARY_SHEET].iter_rows(values_only=True)}
    assert all(rows[bucket.label][1] == 0 and rows[bucket.label][5] == "none" for bucket in Bucket)


def test_xlsx_handles_every_kind_of_hostile_description():
    entries = [
        LedgerEntry(i, D("-1.00"), "PURCHASE", text, D(-i), at(i))
        for i, text in enumerate(HOSTILE + ["\x00nul", "ok"], start=1)
    ]
    stream = io.BytesIO()
    write_reconciliation_xlsx(reconcile(entries, []), stream, meta={})
    stream.seek(0)
    rows = list(load_workbook(stream)["Unexpected charges"].iter_rows(values_only=True))[1:]
    descriptions = [row[6] for row in rows]
    # (XML reads a carriage return back as a line feed.)
    assert descriptions == ["'" + t.replace("\r", "\n") for t in HOSTILE] + ["nul", "ok"]
