"""CSV and XLSX downloads that open safely and correctly in spreadsheet programs.

Text cells that start with `=`, `+`, `-`, `@`, a tab or a carriage return are neutralised with a
leading apostrophe (OWASP "CSV injection"), so a product name or a supplier description can never
run as a formula; numbers stay numbers. Files start with a UTF-8 byte-order mark, which is how
spreadsheet programs recognise UTF-8. XLSX keeps numbers as numbers and date-times as real
(naive UTC) dates, and neutralises text the same way (openpyxl would otherwise store a string
starting with `=` as a formula).
"""

import csv
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


class _Line:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text = text


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The file line by line (for StreamingHttpResponse): BOM, header, then each row."""
    line = _Line()
    writer = csv.writer(line, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    yield BOM + line.text
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        yield line.text


def download_name(text: str) -> str:
    """A file name safe in a Content-Disposition header: letters, digits, dot, dash and
    underscore only (an account name may hold quotes, spaces, line breaks or any script)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "download"


def csv_download(
    header: list[str], rows: Iterable[Iterable], *, name: str
) -> StreamingHttpResponse:
    """A CSV download streamed line by line, named `<name>-<YYYYmmdd-HHMM>.csv`."""
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{download_name(name)}-{stamp}.csv"'
    return response


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_cell(value):
    """A cell value: numbers as numbers, date-times as naive UTC, text neutralised and stripped
    of the control characters XML cannot hold."""
    if value is None or isinstance(value, (bool, int, float, Decimal, date)):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def xlsx_download(
    header: list[str], rows: Iterable[Iterable], *, name: str, sheet: str = "Export"
) -> FileResponse:
    """One sheet (header, then each row) as an XLSX download named `<name>-<YYYYmmdd-HHMM>.xlsx`.
    Written in write-only mode to a temporary file, so a long export does not sit in memory."""
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31])
    worksheet.append([xlsx_cell(h) for h in header])
    for row in rows:
        worksheet.append([xlsx_cell(value) for value in row])
    stream = tempfile.TemporaryFile()
    workbook.save(stream)
    stream.seek(0)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return FileResponse(
        stream,
        as_attachment=True,
        filename=f"{download_name(name)}-{stamp}.xlsx",
        content_type=XLSX_CONTENT_TYPE,
    )
