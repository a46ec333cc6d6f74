"""Reading an operator's batch file: a CSV or XLSX read as a stream into `RawRow`s, the row number
as in the file and the text of each known column. Nothing here knows what a value means (that is
`orders.batches.parsing`) or writes to the database.

`read_rows(file, filename)` reads the header at once, so a file without the required columns is
refused before any row is read; later refusals (the 50,001st row, an unreadable workbook row)
surface while iterating. Every refusal is a `BatchFileRefused` whose message is written for the
operator. Decisions worth knowing:

- **Format** is decided by content first: a ZIP archive is read as an XLSX workbook whatever its name,
  a name ending in .xlsx/.xlsm must be one; PDF, legacy .xls, HTML/XML and binary data are refused by
  their first bytes. Anything else is text.
- **Encoding**: a UTF-8 BOM means UTF-8 and a UTF-16 BOM (Excel's "Unicode text") UTF-16. Otherwise
  the whole file (it is at most `MAX_BYTES`, and decoding is fast C code) is tried as strict UTF-8; if
  any byte sequence is invalid the file is read as Windows-1251, which is what Russian-language Excel
  writes for "CSV". A whole-file check rather than a sample, because a Cyrillic reference on row
  30,000 of an otherwise ASCII file would slip past a sample and turn into mojibake.
- **Delimiter**: the first non-blank line is the header; whichever of `,` `;` tab occurs most often
  in it (outside quotes) is the delimiter (ties: tab, then `;`, then `,`). A header with none of
  them is a single column and is refused. Quoted fields may hold delimiters, quotes and newlines.
- **Rows**: blank rows (every cell empty, wherever they are) are skipped and do not count; cells are
  trimmed; a cell written as `="00123"` (the spreadsheet trick to keep leading zeros) reads as
  `00123`. Row numbers are the file's own line numbers (the header is line 1 when it is the first
  line), so an operator can find the row; for a record with an embedded newline, its first line.
- **Limits**: `MAX_BYTES` (20 MB) for the upload, `MAX_ROWS` (50,000) data rows (reading stops at the
  50,001st), `MAX_XLSX_UNPACKED_BYTES` for what a workbook unpacks to (a zip bomb is refused before
  openpyxl opens it) and `MAX_XLSX_PART_BYTES` for the parts openpyxl loads whole (shared text,
  styles). What a file costs to read is its cells, not its bytes: a workbook of 790 KB can unpack
  to 235 MB of sheet XML. So every file is held to `MAX_CELLS_PER_ROW` cells in a row,
  `MAX_CELLS` cells in all and `MAX_FILE_ROWS` rows, blank ones included, counted as the file
  streams: a CSV as its records are read, a workbook's first sheet by a scan of its XML (expat,
  64 KB at a time) before openpyxl reads a row. The first cap passed refuses the file at once, with
  the cap in the message; nothing is ever held in memory whole but the parts capped by size.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO
from xml.parsers import expat

from openpyxl.utils import get_column_letter

from reseller.core.errors import ApplicationError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_XLSX_PART_BYTES = 32 * 1024 * 1024
# The template has 8 columns; a sheet with notes beside them stays far below these.
MAX_CELLS_PER_ROW = 100
MAX_CELLS = 1_000_000
MAX_FILE_ROWS = 2 * MAX_ROWS
# The workbook parts openpyxl reads whole when it opens a workbook.
_XLSX_WHOLE_PARTS = {"xl/sharedStrings.xml": "shared text", "xl/styles.xml": "styles"}

_SNIFF_BYTES = 64 * 1024
_SCAN_BYTES = 1024 * 1024

# The template's column names (the names used in messages), then the other names a header may use.
# A header cell matches when it equals one of these once lower-cased and stripped of everything but
# letters and digits ("Offer ID", "offer-id" and "offerId" are all "offerid").
COLUMN_LABELS = {
    "offer_id": "offer_id",
    "quantity": "quantity",
    "game_user_id": "player_id",
    "game_server_id": "server_id",
    "email": "email",
    "telegram_username": "telegram_username",
    "customer_reference": "customer_reference",
    "max_unit_price": "max_unit_price",
    "product": "product",  # a product's code, instead of an offer id
}
_ALIASES = {
    "offer_id": ("offerid", "offer", "offergroupid", "offerno", "offernumber"),
    "product": ("product", "productcode"),
    "quantity": ("quantity", "qty"),
    "game_user_id": ("playerid", "gameuserid", "player", "userid"),
    "game_server_id": ("serverid", "gameserverid", "server"),
    "email": ("email", "emailaddress", "customeremail"),
    "telegram_username": ("telegram", "telegramusername", "tgusername", "telegramuser"),
    "customer_reference": ("customerreference", "reference", "ref", "customerref"),
    "max_unit_price": ("maxunitprice", "maxprice", "maximumunitprice", "maximumprice"),
}
_COLUMN_BY_ALIAS = {alias: key for key, aliases in _ALIASES.items() for alias in aliases}
EXPECTED_COLUMNS = (
    f"The columns are {', '.join(COLUMN_LABELS.values())} (only quantity and offer_id or product "
    "are required; also accepted: offer, product_code, qty, player, server, reference, telegram, "
    "max_price)."
)
REQUIRED_COLUMNS = ("quantity",)
# A row names what to order by one of these (an offer of the account, or a product's code).
WHAT_COLUMNS = ("offer_id", "product")
DELIMITERS = ("\t", ";", ",")  # the order breaks ties
_SEPARATOR_HINT = re.compile(r"sep=([,;\t|])", re.IGNORECASE)


class BatchFileRefused(ApplicationError):
    """The uploaded file cannot be read as a batch; `message` tells the operator why."""


@dataclass(slots=True)
class RawRow:
    row_number: int
    # Column key (see COLUMN_LABELS) → trimmed text, for the columns the header has; a row shorter
    # than the header reads "" for its missing cells.
    values: dict[str, str]
    # The keys whose cell held a number in a workbook (not text): an id there may have lost its
    # leading zeros or its last digits.
    numbers: tuple[str, ...] = ()
    # Column key → the file's column letter (one dict shared by every row of a file).
    letters: dict[str, str] = field(default_factory=dict)

    def cell(self, key: str) -> str:
        """Where the operator finds a value: "C5" (a CSV's line 5, its third column)."""
        letter = self.letters.get(key)
        return f"{letter}{self.row_number}" if letter else f"row {self.row_number}"


class _Caps:
    """What a file costs to read, counted as it streams, blank rows and cells included: refuses
    the file at the first of `MAX_FILE_ROWS`, `MAX_CELLS_PER_ROW` and `MAX_CELLS` passed."""

    def __init__(self) -> None:
        self.rows = 0
        self.cells = 0

    def row(self, row_number: int, cells: int = 0) -> None:
        self.rows += 1
        if self.rows > MAX_FILE_ROWS:
            raise BatchFileRefused(
                f"The file has more than {MAX_FILE_ROWS:,} rows, blank ones included; at most "
                f"{MAX_FILE_ROWS:,} are read. Delete what is below your last order, or split "
                "the file."
            )
        if cells:
            self.width(row_number, cells)
            self.add(cells)

    def width(self, row_number: int, cells: int) -> None:
        if cells > MAX_CELLS_PER_ROW:
            raise BatchFileRefused(
                f"Row {row_number} has more than {MAX_CELLS_PER_ROW} cells (blank ones included); "
                f"a row may have at most {MAX_CELLS_PER_ROW} (the template has "
                f"{len(COLUMN_LABELS)} columns). Delete the columns to the right of your last "
                "one, or save the orders alone as CSV."
            )

    def add(self, cells: int) -> None:
        self.cells += cells
        if self.cells > MAX_CELLS:
            raise BatchFileRefused(
                f"The file has more than {MAX_CELLS:,} cells, blank ones included; at most "
                f"{MAX_CELLS:,} are read. Delete the rows and columns around your orders, or "
                "split the file."
            )


class BatchReader:
    """An iterator of `RawRow`s over one uploaded file, with what was learned about the file.

    Built by `read_rows`; the header has been read (and the file possibly refused) by then.
    """

    def __init__(self, uploaded_file, filename: str | None = None):
        self.filename = filename or getattr(uploaded_file, "name", "") or ""
        self.format = ""  # "csv" | "xlsx"
        self.encoding = ""
        self.delimiter = ""
        self.header: list[str] = []
        self.columns: dict[str, int] = {}
        self.unknown_columns: list[str] = []
        self.column_letters: dict[str, str] = {}
        self.warnings: list[str] = []
        self.rows_read = 0
        self._ragged_rows = 0
        self._first_ragged = 0
        self._caps = _Caps()
        self._rows = self._open(_binary(uploaded_file))

    def __iter__(self) -> BatchReader:
        return self

    def __next__(self) -> RawRow:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()

    @property
    def column_mapping(self) -> list[tuple[str, str]]:
        """How the header was read: (the file's column name, the template's), in file order."""
        keys = sorted(self.columns, key=self.columns.__getitem__)
        return [(self.header[self.columns[key]], COLUMN_LABELS[key]) for key in keys]

    @property
    def description(self) -> str:
        if self.format == "xlsx":
            return "XLSX workbook, first sheet"
        names = {"\t": "tab", ";": "semicolon", ",": "comma"}
        return f"CSV, {self.encoding}, {names.get(self.delimiter, self.delimiter)}-separated"

    # -- opening

    def _open(self, data: IO[bytes]) -> Generator[RawRow, None, None]:
        head = data.read(_SNIFF_BYTES)
        data.seek(0)
        if not head:
            raise BatchFileRefused("The file is empty.")
        name = self.filename.lower()
        if head.startswith(b"PK\x03\x04") or name.endswith((".xlsx", ".xlsm")):
            return self._open_xlsx(data)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise BatchFileRefused(
                "This is an old Excel .xls file (or another Office binary file). "
                "Save it as .xlsx or CSV and upload that."
            )
        if head.startswith(b"%PDF"):
            raise BatchFileRefused("This is a PDF document, not a table. Upload a CSV or XLSX.")
        return self._open_csv(data, head)

    def _open_csv(self, data: IO[bytes], head: bytes) -> Generator[RawRow, None, None]:
        self.format = "csv"
        self.encoding = _detect_encoding(data, head)
        sample = head.decode(self.encoding, errors="replace")
        _refuse_non_text(sample)
        text = io.TextIOWrapper(
            io.BufferedReader(_Borrowed(data)), encoding=self.encoding, errors="replace", newline=""
        )
        try:
            line_number = 0
            header_line = ""
            while not header_line.strip():
                header_line = text.readline()
                if not header_line:
                    raise BatchFileRefused("The file has no header line: it is blank.")
                line_number += 1
            hint = _SEPARATOR_HINT.fullmatch(header_line.rstrip("\r\n").strip(" "))
            if hint:  # Excel's "sep=;" first line names the delimiter; the header follows it
                self.delimiter = hint.group(1)
                header_line = ""
                while not header_line.strip():
                    header_line = text.readline()
                    if not header_line:
                        raise BatchFileRefused("The file has no header line after 'sep='.")
                    line_number += 1
            else:
                self.delimiter = _sniff_delimiter(header_line)
            cells = next(csv.reader([header_line], delimiter=self.delimiter, strict=False))
            self._caps.row(line_number, len(cells))
            self._read_header(cells)
        except BatchFileRefused:
            text.close()
            raise
        except (csv.Error, ValueError) as exc:
            text.close()
            raise BatchFileRefused(f"The header line could not be read: {exc}.") from exc
        return self._csv_rows(text, line_number)

    def _csv_rows(self, text: io.TextIOWrapper, header_line: int) -> Generator[RawRow, None, None]:
        reader = csv.reader(text, delimiter=self.delimiter, skipinitialspace=True, strict=False)
        previous = 0
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except (csv.Error, ValueError) as exc:
                    raise BatchFileRefused(
                        f"Line {header_line + previous + 1} could not be read ({exc}). "
                        "Is a quote left open?"
                    ) from exc
                row_number = header_line + previous + 1
                previous = reader.line_num
                self._caps.row(row_number, len(cells))
                row = self._raw_row(row_number, cells)
                if row is not None:
                    yield row
            self._finish()
        finally:
            text.close()  # closes our adapter, never the uploaded file

    def _open_xlsx(self, data: IO[bytes]) -> Generator[RawRow, None, None]:
        self.format = "xlsx"
        not_a_workbook = (
            "This file is not a valid Excel workbook (.xlsx). Open it in Excel or LibreOffice "
            "and save it again as .xlsx or CSV."
        )
        try:
            with zipfile.ZipFile(data) as archive:
                parts = archive.infolist()
        except Exception as exc:  # any damage to the archive is the same answer for the operator
            raise BatchFileRefused(not_a_workbook) from exc
        if sum(part.file_size for part in parts) > MAX_XLSX_UNPACKED_BYTES:
            raise BatchFileRefused(
                f"The workbook unpacks to more than {MAX_XLSX_UNPACKED_BYTES // 2**20} MB; "
                "upload the orders sheet alone, as CSV."
            )
        for part in parts:
            what = _XLSX_WHOLE_PARTS.get(part.filename)
            if what and part.file_size > MAX_XLSX_PART_BYTES:
                raise BatchFileRefused(
                    f"The workbook's {what} unpack to more than {MAX_XLSX_PART_BYTES // 2**20} "
                    "MB; upload the orders sheet alone, as CSV."
                )
        data.seek(0)
        import openpyxl  # only needed for workbooks

        try:
            workbook = openpyxl.load_workbook(data, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a broken workbook
            raise BatchFileRefused(not_a_workbook) from exc
        try:
            if not workbook.worksheets:
                raise BatchFileRefused("The workbook has no worksheet.")
            sheet = workbook.worksheets[0]
            # openpyxl's name for the part that holds the sheet (it has no public one).
            self._scan_sheet(data, sheet._worksheet_path, not_a_workbook)  # type: ignore[attr-defined]
            # The stored dimensions can be wrong (a million-row "used range"): read what is there.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            row_number = 0
            while True:
                cells = _next_xlsx_row(rows, row_number + 1)
                if cells is None:
                    raise BatchFileRefused("The first sheet of the workbook is empty.")
                row_number += 1
                texts = [_cell_text(value) for value in cells]
                if any(texts):
                    break
            self._read_header(texts)
        except BaseException:
            workbook.close()
            raise
        return self._xlsx_rows(workbook, rows, row_number)

    def _scan_sheet(self, data: IO[bytes], path: str, not_a_workbook: str) -> None:
        """Hold the sheet to the caps before openpyxl reads it: openpyxl builds each row whole,
        so one row of millions of cells would be in memory before it could be refused."""
        try:
            with zipfile.ZipFile(data) as archive, archive.open(path) as part:
                _scan_sheet_xml(part, self._caps)
        except BatchFileRefused:
            raise
        except Exception as exc:  # damaged XML or archive: the same answer for the operator
            raise BatchFileRefused(not_a_workbook) from exc
        finally:
            data.seek(0)

    def _xlsx_rows(self, workbook, rows, header_row: int) -> Generator[RawRow, None, None]:
        row_number = header_row
        try:
            while True:
                cells = _next_xlsx_row(rows, row_number + 1)
                if cells is None:
                    break
                row_number += 1
                row = self._raw_row(row_number, [_cell_text(value) for value in cells])
                if row is not None:
                    row.numbers = tuple(
                        key
                        for key, index in self.columns.items()
                        if index < len(cells) and _is_number(cells[index])
                    )
                    yield row
            self._finish()
        finally:
            workbook.close()

    # -- header and rows

    def _read_header(self, cells: list[str]) -> None:
        self.header = [cell.strip() for cell in cells]
        for index, name in enumerate(self.header):
            if not name:
                continue
            key = _COLUMN_BY_ALIAS.get(_normalise_header(name))
            if key is None:
                self.unknown_columns.append(name)
            elif key in self.columns:
                first = self.header[self.columns[key]]
                raise BatchFileRefused(
                    f"The columns '{first}' and '{name}' both mean {COLUMN_LABELS[key]}; "
                    "keep one of them."
                )
            else:
                self.columns[key] = index
        missing = [COLUMN_LABELS[key] for key in REQUIRED_COLUMNS if key not in self.columns]
        if not any(key in self.columns for key in WHAT_COLUMNS):
            missing.insert(0, " or ".join(COLUMN_LABELS[key] for key in WHAT_COLUMNS))
        if missing:
            found = ", ".join(f"'{name}'" for name in self.header[:12] if name) or "nothing"
            raise BatchFileRefused(
                f"The header has no {' and no '.join(missing)} column (found {clip(found, 200)}). "
                "The first line must name the columns, as in the template."
            )
        if self.unknown_columns:
            names = ", ".join(f"'{clip(name, 40)}'" for name in self.unknown_columns[:10])
            more = len(self.unknown_columns) - 10
            raise BatchFileRefused(
                f"The header has columns this back-office does not read: {names}"
                f"{f' and {more} more' if more > 0 else ''}. {EXPECTED_COLUMNS} Delete the "
                "other columns, or rename them as in the template."
            )
        self.column_letters = {
            key: get_column_letter(index + 1) for key, index in self.columns.items()
        }

    def _raw_row(self, row_number: int, cells: list[str]) -> RawRow | None:
        if not any(cell.strip() for cell in cells):
            return None
        self.rows_read += 1
        if self.rows_read > MAX_ROWS:
            raise BatchFileRefused(
                f"The file has more than {MAX_ROWS:,} rows; split it into files of at most "
                f"{MAX_ROWS:,} rows each."
            )
        if len(cells) > len(self.header) and any(c.strip() for c in cells[len(self.header) :]):
            self._ragged_rows += 1
            if self._ragged_rows == 1:
                self._first_ragged = row_number
        values = {}
        for key, index in self.columns.items():
            values[key] = _unwrap(cells[index].strip()) if index < len(cells) else ""
        return RawRow(row_number, values, letters=self.column_letters)

    def _finish(self) -> None:
        if self._ragged_rows:
            self.warnings.append(
                f"{self._ragged_rows} row(s) have more cells than the header (first on row "
                f"{self._first_ragged}); the cells without a column name were ignored."
            )
        if not self.rows_read:
            raise BatchFileRefused("The file has a header but no order rows under it.")


def read_rows(uploaded_file, filename: str | None = None) -> BatchReader:
    """Open an uploaded CSV or XLSX (a Django UploadedFile, any binary file object, or bytes) and
    return an iterator of its `RawRow`s. Raises `BatchFileRefused`, and nothing else, for any
    content: at once for the header, while iterating for later rows."""
    return BatchReader(uploaded_file, filename)


def upload_bytes(uploaded) -> bytes:
    """The whole of an upload (a Django UploadedFile, a binary file object or bytes), to be
    stored until a worker reads it. Refused (BatchFileRefused) when empty or over `MAX_BYTES`:
    never more than that is read."""
    data = _binary(uploaded).read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _too_big()
    if not data:
        raise BatchFileRefused("The file is empty.")
    return data


class _Borrowed(io.RawIOBase):
    """Reads another file object without ever closing it (TextIOWrapper closes what it wraps)."""

    def __init__(self, source):
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _binary(uploaded) -> IO[bytes]:
    """A seekable binary file at offset 0, checked against the size limit."""
    if isinstance(uploaded, bytes | bytearray | memoryview):
        uploaded = io.BytesIO(bytes(uploaded))
    size = getattr(uploaded, "size", None)
    if isinstance(size, int) and size > MAX_BYTES:
        raise _too_big()
    try:
        seekable = uploaded.seekable()
    except (AttributeError, ValueError, OSError):
        seekable = False
    if seekable:
        uploaded.seek(0, io.SEEK_END)
        if uploaded.tell() > MAX_BYTES:
            raise _too_big()
        uploaded.seek(0)
        return uploaded
    spooled = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
    total = 0
    while chunk := uploaded.read(_SCAN_BYTES):
        total += len(chunk)
        if total > MAX_BYTES:
            spooled.close()
            raise _too_big()
        spooled.write(chunk)
    spooled.seek(0)
    return spooled


def too_big_message() -> str:
    return f"The file is larger than {MAX_BYTES // 2**20} MB; split it into smaller files."


def _too_big() -> BatchFileRefused:
    return BatchFileRefused(too_big_message())


def _detect_encoding(data: IO[bytes], head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        while chunk := data.read(_SCAN_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1251"
    finally:
        data.seek(0)
    return "utf-8"


def _refuse_non_text(sample: str) -> None:
    # A stray NUL in a cell is that row's problem (orders.batches.parsing names the cell); many
    # of them, like other control characters, make a binary file.
    controls = sum(1 for char in sample if char < " " and char not in "\t\r\n")
    if controls > 2 + len(sample) // 100:
        raise BatchFileRefused("This is a binary file, not a CSV or XLSX table.")
    start = sample.lstrip("\ufeff \t\r\n")[:20].lower()
    if start.startswith("<"):
        raise BatchFileRefused(
            "This looks like a web page or XML (it starts with '<'), not a CSV. "
            "Save the spreadsheet as CSV or XLSX."
        )
    if start.startswith("{\\rtf"):
        raise BatchFileRefused("This is an RTF document, not a table. Upload a CSV or XLSX.")


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _sniff_delimiter(header_line: str) -> str:
    counts = {delimiter: _count_outside_quotes(header_line, delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])  # max keeps the first on ties
    if not counts[best]:
        raise BatchFileRefused(
            "The first line has no comma, semicolon or tab between column names, so this is not "
            f"a table of columns (it reads '{clip(header_line.strip(), 60)}'). "
            "Start from the template."
        )
    return best


def _normalise_header(name: str) -> str:
    return "".join(char for char in name.casefold() if char.isalnum())


def _unwrap(value: str) -> str:
    if value.startswith('="') and value.endswith('"') and len(value) >= 3:
        return value[2:-1]
    return value


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis (for quoting a cell in a message)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _SheetScan:
    """Counts a worksheet's rows and cells from its XML start tags (see `_scan_sheet_xml`), and
    notes the cells holding a formula without its value (`<f>` but no `<v>`): a program that
    does not compute formulas saved the file, and openpyxl would read those cells as blanks."""

    def __init__(self, caps: _Caps) -> None:
        self.caps = caps
        self.row_number = 0
        self.row_cells = 0
        self.column = 0
        self.formula = self.value = self.in_value = False
        self.formulas_without_values = 0
        self.first_formula_cell = ""

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        self.in_value = local == "v"  # its text follows, before any other element starts
        if local == "c":
            self.end_cell()
            self.row_cells += 1
            # A cell's reference (its `r`, as "XFD7") says how wide openpyxl will make the row.
            self.column = _column_number(attributes.get("r", "")) or self.column + 1
            self.caps.width(self.row_number, max(self.row_cells, self.column))
            self.caps.add(1)
        elif local == "f":
            self.formula = True
        elif local == "is":
            self.value = True
        elif local == "row":
            self.end_cell()
            number = attributes.get("r", "")
            self.row_number = (
                int(number) if number.isdigit() and len(number) < 10 else self.row_number + 1
            )
            self.row_cells = self.column = 0
            self.caps.row(self.row_number)

    def text(self, data: str) -> None:
        if self.in_value and not data.isspace():
            self.value = True  # openpyxl, for one, writes an empty <v/> for a formula

    def end_cell(self) -> None:
        if self.formula and not self.value:
            self.formulas_without_values += 1
            if not self.first_formula_cell:
                self.first_formula_cell = f"{get_column_letter(self.column)}{self.row_number}"
        self.formula = self.value = False

    def finish(self) -> None:
        self.end_cell()
        if self.formulas_without_values:
            count = self.formulas_without_values
            raise BatchFileRefused(
                f"{count:,} cell{'s' if count != 1 else ''} of the sheet "
                f"{'hold' if count != 1 else 'holds'} a formula without its value (the first is {self.first_formula_cell}): the orders need values, "
                "not formulas. Open the file in Excel or LibreOffice and save it again (that "
                "stores the values), or paste the cells as values only."
            )


def _refuse_doctype(*args) -> None:
    raise BatchFileRefused("The workbook's sheet declares a DTD, which no spreadsheet writes.")


def _scan_sheet_xml(part: IO[bytes], caps: _Caps) -> None:
    """Stream a worksheet's XML through expat 64 KB at a time, counting rows and cells against
    the caps; nothing of it is kept."""
    scan = _SheetScan(caps)
    parser = expat.ParserCreate()
    parser.StartElementHandler = scan.start
    parser.CharacterDataHandler = scan.text
    parser.StartDoctypeDeclHandler = _refuse_doctype
    while chunk := part.read(_SNIFF_BYTES):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    scan.finish()


def _column_number(reference: str) -> int:
    """The column of a cell reference ("B7" → 2); more than 7 letters is past any sheet."""
    column = 0
    for char in reference[:8]:
        if not "A" <= char <= "Z":
            break
        column = column * 26 + ord(char) - 64
    return column


def _next_xlsx_row(rows, row_number: int):
    try:
        return next(rows)
    except StopIteration:
        return None
    except BatchFileRefused:
        raise
    except Exception as exc:  # a damaged sheet raises whatever its XML parser meets
        raise BatchFileRefused(
            f"Row {row_number} of the workbook could not be read; save the file again as .xlsx "
            "or CSV."
        ) from exc


def _is_number(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()
