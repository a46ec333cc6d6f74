"""A way forward from a batch's failures.

- **Retry the failed rows**: the batch's orders that did not reach the customer (failed, refused,
  refunded) and were neither ordered again nor retried before, written as a batch file that a
  worker reads into the usual preview, as a new batch. Nothing is ordered until an operator confirms that
  preview, at the prices it shows. Each failed order records the batch that retried it, so it is
  retried once (a discarded preview frees it again).
- **The rows that need a fix**: the file's rows the preview refused, as a workbook in the
  template's columns (ids as text, so leading zeros survive), with a second sheet saying what to
  fix in each; corrected, it is uploaded as a new batch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction

from orders.batches.selectors import batch_failed_orders, batch_skipped_rows
from orders.batches.template import TEMPLATE_HEADER
from orders.batches.uploads import batch_upload_store
from orders.errors import OrderActionRefused
from orders.models import Batch, BatchPreviewRow, Order
from reseller.core.services import audit_record

#: The template's columns that hold text, written as text cells (a spreadsheet would turn the
#: player id 000123 into the number 123).
TEXT_COLUMNS = {
    "product",
    "player_id",
    "server_id",
    "email",
    "telegram_username",
    "customer_reference",
}


def _plain(number: Decimal | None) -> str:
    return "" if number is None else format(number.normalize(), "f")


def _retry_lines(orders: Iterable[Order]) -> list[list[str]]:
    """One file row per row of the original file: its failed orders, counted as the quantity
    (a row of 3 with 2 failed is retried as a row of 2), in the template's column order."""
    lines: dict[tuple, int] = {}
    for order in orders:
        # An order for a product is retried as the product (routed again when it is sent),
        # within the limit of the route it takes.
        product = order.product
        key = (
            order.row_number if order.row_number is not None else f"order-{order.pk}",
            "" if product is not None else str(order.offer.offer_id),
            order.game_user_id,
            order.game_server_id,
            order.email,
            order.telegram_username,
            order.customer_reference,
            "" if product is not None else _plain(order.max_unit_price),
            "" if product is None else product.code,
        )
        lines[key] = lines.get(key, 0) + 1
    return [
        [offer_id, str(quantity), player, server, email, telegram, reference, limit, code]
        for (_, offer_id, player, server, email, telegram, reference, limit, code), quantity in (
            lines.items()
        )
    ]


def _retry_file(lines: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerows(lines)
    return out.getvalue().encode("utf-8")


def batch_retry_failed(*, batch: Batch, by, request=None) -> Batch:
    """The failed rows of `batch` as a new batch, read by a worker into the usual preview.
    Raises OrderActionRefused when there is nothing to retry or the failed orders changed
    meanwhile (then nothing is stored)."""
    orders = list(batch_failed_orders(batch=batch).select_related("offer", "account", "product"))
    if not orders:
        raise OrderActionRefused("No order of this batch is waiting to be retried.")
    account = batch.account or orders[0].account
    ids = [order.pk for order in orders]
    content = _retry_file(_retry_lines(orders))
    with transaction.atomic():
        locked = batch_failed_orders(batch=batch).select_for_update(of=("self",))
        if len(locked.filter(pk__in=ids)) != len(ids):
            raise OrderActionRefused(
                "Some of these orders were retried or ordered again meanwhile: nothing was "
                "retried. Look at the batch again."
            )
        retry = batch_upload_store(
            account=account,
            uploaded_file=io.BytesIO(content),
            filename=f"batch-{batch.pk}-failed-rows.csv",
            name=f"Retry of {batch.name}"[:200],
            check_players=batch.check_players,
            by=by,
            request=request,
        )
        Order.objects.filter(pk__in=ids).update(retried_in=retry)
        audit_record(
            action="batch.failed_rows_retried",
            actor=by,
            request=request,
            target=batch,
            data={"retry_batch": retry.pk, "orders": len(ids)},
        )
    return retry


def batch_fix_rows_xlsx(*, batch: Batch) -> bytes:
    """The rows of the file that the preview refused, as a workbook to correct and upload."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    rows_sheet = workbook.create_sheet("Orders")
    notes_sheet = workbook.create_sheet("What to fix")
    bold = Font(bold=True)

    def header(sheet, names) -> None:
        cells = []
        for name in names:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            cells.append(cell)
        sheet.append(cells)

    for index, name in enumerate(TEMPLATE_HEADER, start=1):
        rows_sheet.column_dimensions[get_column_letter(index)].width = max(12, len(name) + 4)
    notes_sheet.column_dimensions["C"].width = 90
    header(rows_sheet, TEMPLATE_HEADER)
    header(notes_sheet, ["row in this file", "row in the uploaded file", "what to fix"])
    for line, row in enumerate(batch_skipped_rows(batch=batch).iterator(chunk_size=2000), 2):
        cells = []
        for name, value in zip(TEMPLATE_HEADER, _fix_values(row), strict=True):
            cell = WriteOnlyCell(rows_sheet, value=value)
            if name in TEXT_COLUMNS:
                cell.number_format = "@"
            cells.append(cell)
        rows_sheet.append(cells)
        notes_sheet.append([line, row.row_number, "; ".join(row.problems)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _fix_values(row: BatchPreviewRow) -> list:
    """A refused row as the preview read it; a value it could not read is left blank to fill in
    (the second sheet says which)."""
    return [
        row.offer_ref,
        row.quantity,
        row.game_user_id or None,
        row.game_server_id or None,
        row.email or None,
        row.telegram_username or None,
        row.customer_reference or None,
        row.max_unit_price,
        row.product_ref or None,
    ]
