"""CSV that opens safely and correctly in spreadsheet programs.

Text cells that start with `=`, `+`, `-`, `@`, a tab or a carriage return are neutralised with a
leading apostrophe (OWASP "CSV injection"), so a product name or a supplier description can never
run as a formula; numbers stay numbers. Files start with a UTF-8 byte-order mark, which is how
spreadsheet programs recognise UTF-8.
"""

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

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
