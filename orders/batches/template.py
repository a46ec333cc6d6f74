"""The downloadable batch template: the header an uploaded file must have (orders.batches.reading)
and example rows (two naming an offer id, one a product's code), as CSV and as a workbook."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from orders.batches.reading import COLUMN_LABELS

TEMPLATE_HEADER = tuple(COLUMN_LABELS.values())
# Formatted as text in the workbook: the ids, and what is text anyway.
TEXT_COLUMNS = frozenset(
    {
        "offer_id",
        "product",
        "player_id",
        "server_id",
        "customer_reference",
        "email",
        "telegram_username",
    }
)
TEMPLATE_EXAMPLES = (
    ("1001", "1", "52357322414", "os_euro", "", "", "ORDER-1001", "5.00", ""),
    ("2002", "2", "", "", "customer@example.com", "", "ORDER-1002", "12.50", ""),
    ("", "1", "", "", "customer@example.com", "", "ORDER-1003", "", "steam-us-20"),
)


def batch_template_csv() -> str:
    """The header and the example rows (a top-up with player and server, a key by e-mail, and a
    product routed to whichever supplier account has it best when it is sent)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerows(TEMPLATE_EXAMPLES)
    return out.getvalue()


def batch_template_xlsx() -> bytes:
    """The same as `batch_template_csv`, as a workbook whose id and text columns are formatted as
    text, the whole column (so what is typed or pasted there later keeps its leading zeros and
    every digit: the reader refuses a player id held as a number)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Orders")
    for index, name in enumerate(TEMPLATE_HEADER, start=1):
        column = sheet.column_dimensions[get_column_letter(index)]
        column.width = max(12, len(name) + 4)
        if name in TEXT_COLUMNS:
            column.number_format = "@"
    bold = Font(bold=True)
    header = []
    for name in TEMPLATE_HEADER:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for example in TEMPLATE_EXAMPLES:
        cells = []
        for name, value in zip(TEMPLATE_HEADER, example, strict=True):
            if name in TEXT_COLUMNS:
                cell = WriteOnlyCell(sheet, value=value or None)
                cell.number_format = "@"
            elif name == "max_unit_price":
                # types-openpyxl's WriteOnlyCell leaves out the Decimal that openpyxl writes.
                cell = WriteOnlyCell(sheet, value=Decimal(value) if value else None)  # type: ignore[arg-type]
            else:
                cell = WriteOnlyCell(sheet, value=int(value) if value else None)
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
