"""The batch file reader: an operator's CSV or XLSX of orders, read as a stream, parsed into rows and
checked against the catalog in bulk, for the batch preview. Nothing here writes to the database.

Three steps, each usable on its own:

1. `read_rows(file, filename)` streams `RawRow`s (the row number as in the file and the text of each
   known column). It reads the header at once, so a file without the required columns is refused
   before any row is read; later refusals (the 50,001st row, an unreadable workbook row) surface
   while iterating. Every refusal is a `BatchFileRefused` whose message is written for the operator.
2. `parse_row(raw)` turns one `RawRow` into a `BatchRow` with typed values and the problems of that
   row alone (bad numbers, malformed e-mail or Telegram username, over-long text).
3. `validate_rows(rows, account=...)` checks the rows against the catalog, a chunk at a time with one
   offer query per chunk, and returns a `BatchPreview`: every row with its problems and warnings,
   the counts, and the estimated cost per currency and in USD.

`preview_batch_file()` does all three. Decisions worth knowing:

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
  openpyxl opens it).
- **Numbers** accept a decimal comma (`12,50`), grouped thousands (`1 234,50`, `1.234,50`,
  `1,234.50`) and refuse what is ambiguous (`1,500`: 1500 or 1.5?). `max_unit_price` is in the
  offer's currency, like the supplier's price it is compared with.
- **References** are compared exactly as written (after trimming): `A-1` and `a-1` differ.
- **Telegram**: `@name`, `name` and `t.me/name` all mean `name`. A row with a Telegram username
  satisfies an offer's "player id required": the order service resolves it to the numeric id.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from catalog.models import CurrencyRate, Offer
from reseller.core.errors import ApplicationError
from suppliers.clients.errors import SupplierError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_QUANTITY = 100
# Orders one file may create (rows × quantity): a confirmation creates them all in one transaction,
# which must finish well within its task's time limit (about 2,500 orders a second measured).
MAX_UNITS = 200_000
MAX_ID_LENGTH = 64  # player and server ids
MAX_REFERENCE_LENGTH = 100
MAX_EMAIL_LENGTH = 254
CHUNK_ROWS = 2_000  # rows validated per offer query

_SNIFF_BYTES = 64 * 1024
_SCAN_BYTES = 1024 * 1024
CENT = Decimal("0.01")

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
}
_ALIASES = {
    "offer_id": ("offerid", "offer", "offergroupid", "offerno", "offernumber"),
    "quantity": ("quantity", "qty"),
    "game_user_id": ("playerid", "gameuserid", "player", "userid"),
    "game_server_id": ("serverid", "gameserverid", "server"),
    "email": ("email", "emailaddress", "customeremail"),
    "telegram_username": ("telegram", "telegramusername", "tgusername", "telegramuser"),
    "customer_reference": ("customerreference", "reference", "ref", "customerref"),
    "max_unit_price": ("maxunitprice", "maxprice", "maximumunitprice", "maximumprice"),
}
_COLUMN_BY_ALIAS = {alias: key for key, aliases in _ALIASES.items() for alias in aliases}
REQUIRED_COLUMNS = ("offer_id", "quantity")
DELIMITERS = ("\t", ";", ",")  # the order breaks ties
_SEPARATOR_HINT = re.compile(r"sep=([,;\t|])", re.IGNORECASE)

TEMPLATE_HEADER = tuple(COLUMN_LABELS.values())
TEMPLATE_EXAMPLES = (
    ("1001", "1", "52357322414", "os_euro", "", "", "ORDER-1001", "5.00"),
    ("2002", "2", "", "", "customer@example.com", "", "ORDER-1002", "12.50"),
)


class BatchFileRefused(ApplicationError):
    """The uploaded file cannot be read as a batch; `message` tells the operator why."""


# --- reading ---------------------------------------------------------------------------------


@dataclass(slots=True)
class RawRow:
    row_number: int
    # Column key (see COLUMN_LABELS) → trimmed text, for the columns the header has; a row shorter
    # than the header reads "" for its missing cells.
    values: dict[str, str]


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
        self.warnings: list[str] = []
        self.rows_read = 0
        self._ragged_rows = 0
        self._first_ragged = 0
        self._rows = self._open(_binary(uploaded_file))

    def __iter__(self) -> BatchReader:
        return self

    def __next__(self) -> RawRow:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()

    @property
    def description(self) -> str:
        if self.format == "xlsx":
            return "XLSX workbook, first sheet"
        names = {"\t": "tab", ";": "semicolon", ",": "comma"}
        return f"CSV, {self.encoding}, {names.get(self.delimiter, self.delimiter)}-separated"

    # -- opening

    def _open(self, data: BinaryIO) -> Iterator[RawRow]:
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

    def _open_csv(self, data: BinaryIO, head: bytes) -> Iterator[RawRow]:
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
            self._read_header(cells)
        except BatchFileRefused:
            text.close()
            raise
        except (csv.Error, ValueError) as exc:
            text.close()
            raise BatchFileRefused(f"The header line could not be read: {exc}.") from exc
        return self._csv_rows(text, line_number)

    def _csv_rows(self, text: io.TextIOWrapper, header_line: int) -> Iterator[RawRow]:
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
                row = self._raw_row(row_number, cells)
                if row is not None:
                    yield row
            self._finish()
        finally:
            text.close()  # closes our adapter, never the uploaded file

    def _open_xlsx(self, data: BinaryIO) -> Iterator[RawRow]:
        self.format = "xlsx"
        not_a_workbook = (
            "This file is not a valid Excel workbook (.xlsx). Open it in Excel or LibreOffice "
            "and save it again as .xlsx or CSV."
        )
        try:
            with zipfile.ZipFile(data) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except Exception as exc:  # any damage to the archive is the same answer for the operator
            raise BatchFileRefused(not_a_workbook) from exc
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise BatchFileRefused(
                f"The workbook unpacks to more than {MAX_XLSX_UNPACKED_BYTES // 2**20} MB; "
                "upload the orders sheet alone, as CSV."
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

    def _xlsx_rows(self, workbook, rows, header_row: int) -> Iterator[RawRow]:
        row_number = header_row
        try:
            while True:
                cells = _next_xlsx_row(rows, row_number + 1)
                if cells is None:
                    break
                row_number += 1
                row = self._raw_row(row_number, [_cell_text(value) for value in cells])
                if row is not None:
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
        if missing:
            found = ", ".join(f"'{name}'" for name in self.header[:12] if name) or "nothing"
            raise BatchFileRefused(
                f"The header has no {' and no '.join(missing)} column (found {_clip(found, 200)}). "
                "The first line must name the columns, as in the template."
            )
        if self.unknown_columns:
            names = ", ".join(f"'{_clip(name, 40)}'" for name in self.unknown_columns[:10])
            more = len(self.unknown_columns) - 10
            self.warnings.append(
                f"Unknown columns ignored: {names}{f' and {more} more' if more > 0 else ''}."
            )

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
        return RawRow(row_number, values)

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


def _binary(uploaded) -> BinaryIO:
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


def _too_big() -> BatchFileRefused:
    return BatchFileRefused(
        f"The file is larger than {MAX_BYTES // 2**20} MB; split it into smaller files."
    )


def _detect_encoding(data: BinaryIO, head: bytes) -> str:
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
    if "\x00" in sample:
        raise BatchFileRefused("This is a binary file, not a CSV or XLSX table.")
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
            f"a table of columns (it reads '{_clip(header_line.strip(), 60)}'). "
            "Start from the template."
        )
    return best


def _normalise_header(name: str) -> str:
    return "".join(char for char in name.casefold() if char.isalnum())


def _unwrap(value: str) -> str:
    if value.startswith('="') and value.endswith('"') and len(value) >= 3:
        return value[2:-1]
    return value


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


# --- row parsing -----------------------------------------------------------------------------


@dataclass(slots=True)
class BatchRow:
    row_number: int
    offer_id: int | None = None
    quantity: int | None = None
    game_user_id: str = ""
    game_server_id: str = ""
    email: str = ""
    telegram_username: str = ""
    customer_reference: str = ""
    max_unit_price: Decimal | None = None
    # Blocking: the row will not be ordered. Warnings: it will, but the operator should know.
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Filled by validate_rows.
    offer: Offer | None = None
    player_login: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unit_price(self) -> Decimal | None:
        return None if self.offer is None else self.offer.price

    @property
    def currency(self) -> str:
        return "" if self.offer is None else self.offer.currency

    @property
    def estimated_cost(self) -> Decimal | None:
        if self.offer is None or self.quantity is None:
            return None
        # The supplier charges the price for each product unit an order carries (its `count`).
        return self.offer.price * (self.offer.units or 1) * self.quantity


_GROUPED = (
    # 1 234,50 / 1 234.50 (spaces, no-break spaces) · 1.234,50 · 1,234.50
    (re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?"), " \u00a0\u202f", ","),
    (re.compile(r"\d{1,3}(?:\.\d{3})+,\d+"), ".", ","),
    (re.compile(r"\d{1,3}(?:,\d{3})+\.\d+"), ",", "."),
)
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_COMMA_NUMBER = re.compile(r"(\d*),(\d+)")
_SHORTENED_NUMBER = re.compile(r"\d(?:[.,]\d+)?[eE]\+\d+")
TELEGRAM_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TELEGRAM_LINK = re.compile(r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me)/", re.IGNORECASE)
_validate_email = EmailValidator()


class _Bad(ValueError):
    pass


def parse_number(text: str) -> Decimal:
    """A non-negative decimal written the way spreadsheets write them; raises ValueError with the
    reason ("is not a number", "is ambiguous ...")."""
    value = text.strip()
    if len(value) > 40:
        raise _Bad("is not a number")
    sign = ""
    if value[:1] in "+-" and value[:1]:
        sign, value = ("-" if value[0] == "-" else ""), value[1:].lstrip()
    for pattern, group, point in _GROUPED:
        if pattern.fullmatch(value):
            for char in group:
                value = value.replace(char, "")
            value = value.replace(point, ".")
            break
    if not _PLAIN_NUMBER.fullmatch(value):
        match = _COMMA_NUMBER.fullmatch(value)
        if not match:
            raise _Bad("is not a number")
        whole, fraction = match.groups()
        if len(fraction) == 3 and whole not in ("", "0"):
            decimal = f"{whole}.{fraction.rstrip('0')}".rstrip(".")
            raise _Bad(f"is ambiguous: write {whole}{fraction} or {decimal}")
        value = f"{whole or '0'}.{fraction}"
    try:
        return Decimal(sign + value)
    except InvalidOperation as exc:  # pragma: no cover - the patterns admit only digits
        raise _Bad("is not a number") from exc


def _whole_number(text: str) -> int:
    if len(text) <= 19 and text.isascii() and text.isdigit():  # the common case, quickly
        return int(text)
    try:
        number = parse_number(text)
    except _Bad as exc:
        raise _Bad("is not a whole number") from exc
    if number != number.to_integral_value():
        raise _Bad("is not a whole number")
    return int(number)


def parse_row(raw: RawRow) -> BatchRow:
    """One file row → a BatchRow with the problems found in the row itself."""
    values = raw.values
    row = BatchRow(raw.row_number)
    problems = row.problems

    text = values.get("offer_id", "")
    if not text:
        problems.append("offer_id is missing")
    else:
        try:
            row.offer_id = _whole_number(text)
            if not 0 < row.offer_id < 2**63:
                row.offer_id = None
                problems.append(f"offer_id '{_clip(text, 30)}' is not a valid offer id")
        except _Bad as exc:
            problems.append(f"offer_id '{_clip(text, 30)}' {exc}")

    text = values.get("quantity", "")
    if not text:
        problems.append("quantity is missing")
    else:
        try:
            quantity = _whole_number(text)
        except _Bad as exc:
            problems.append(f"quantity '{_clip(text, 30)}' {exc}")
        else:
            if quantity < 1:
                problems.append(f"quantity {quantity} must be at least 1")
            elif quantity > MAX_QUANTITY:
                problems.append(f"quantity {quantity} is more than {MAX_QUANTITY} (split the row)")
            else:
                row.quantity = quantity

    row.game_user_id = _text(values, "game_user_id", MAX_ID_LENGTH, problems)
    if _SHORTENED_NUMBER.fullmatch(row.game_user_id):
        problems.append(
            f"player_id '{row.game_user_id}' was shortened by the spreadsheet: format the column "
            "as text and type the id again"
        )
    row.game_server_id = _text(values, "game_server_id", MAX_ID_LENGTH, problems)
    row.customer_reference = _text(values, "customer_reference", MAX_REFERENCE_LENGTH, problems)

    email = _text(values, "email", MAX_EMAIL_LENGTH, problems)
    if email:
        try:
            _validate_email(email)
            row.email = email
        except ValidationError:
            problems.append(f"email '{_clip(email, 60)}' is not an e-mail address")

    text = values.get("telegram_username", "")
    if text:
        username = _TELEGRAM_LINK.sub("", text, count=1).lstrip("@").strip()
        if TELEGRAM_USERNAME.fullmatch(username):
            row.telegram_username = username
        else:
            problems.append(
                f"telegram_username '{_clip(text, 40)}' is not a Telegram username "
                "(4-32 letters, digits or _, starting with a letter)"
            )

    text = values.get("max_unit_price", "")
    if text:
        try:
            price = parse_number(text)
        except _Bad as exc:
            problems.append(f"max_unit_price '{_clip(text, 30)}' {exc}")
        else:
            if price <= 0:
                problems.append(f"max_unit_price '{_clip(text, 30)}' must be above zero")
            elif price.as_tuple().exponent < -4:
                problems.append(f"max_unit_price '{text}' has more than 4 decimal places")
            elif price >= 10**13:
                problems.append(f"max_unit_price '{_clip(text, 30)}' is too large")
            else:
                row.max_unit_price = price
    return row


def _text(values: dict[str, str], key: str, limit: int, problems: list[str]) -> str:
    text = values.get(key, "")
    if len(text) > limit:
        problems.append(f"{COLUMN_LABELS[key]} is longer than {limit} characters")
        return ""
    return text


def parse_rows(raw_rows: Iterable[RawRow]) -> Iterator[BatchRow]:
    return (parse_row(raw) for raw in raw_rows)


# --- validation against the catalog ----------------------------------------------------------

# check_player(offer, game_user_id, game_server_id) -> (valid, the player's login or the reason)
PlayerCheck = Callable[[Offer, str, str], tuple[bool, str]]
# Either the references already used by orders, or a function given a chunk's references that
# returns those of them already used (so the caller can answer with one query per chunk).
OrderedReferences = Collection[str] | Callable[[set[str]], Iterable[str]]


@dataclass
class BatchPreview:
    rows: list[BatchRow]
    warnings: list[str]
    totals_by_currency: dict[str, Decimal]  # rows without problems: current price × quantity
    usd_total: Decimal  # of the currencies with a rate
    currencies_without_rate: list[str]
    balance_usd: Decimal | None = None
    file_description: str = ""
    rows_ok: int = 0
    rows_with_problems: int = 0
    rows_with_warnings: int = 0
    units_ok: int = 0

    @property
    def rows_total(self) -> int:
        return len(self.rows)

    @property
    def problem_rows(self) -> list[BatchRow]:
        return [row for row in self.rows if row.problems]

    @property
    def usd_total_is_complete(self) -> bool:
        return not self.currencies_without_rate

    @property
    def exceeds_balance(self) -> bool:
        return self.balance_usd is not None and self.usd_total > self.balance_usd


def validate_rows(
    rows: Iterable[BatchRow],
    *,
    account,
    check_player: PlayerCheck | None = None,
    ordered_references: OrderedReferences | None = None,
    balance_usd: Decimal | None = None,
    warnings: Iterable[str] = (),
) -> BatchPreview:
    """Check parsed rows against `account`'s catalog and price the batch.

    Problems and warnings are added to the rows given (so validate a row once). The estimate counts
    the rows without problems at the offers' current prices; currencies without a CurrencyRate are
    left out of the USD total and named (USD itself needs no rate row).

    All rows are taken first (a refused file stops here, before any query or player check), then
    checked CHUNK_ROWS at a time: one offer query per chunk for the offer ids not seen yet, one
    `ordered_references` call per chunk, one `check_player` call per distinct (offer, player,
    server), and one CurrencyRate query in all.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    preview_warnings = list(warnings)
    profile = getattr(account, "balance_profile", "") or ""
    offers: dict[int, Offer] = {}
    players: dict[tuple[int, str, str], tuple[bool, str] | str] = {}
    first_with_reference: dict[str, BatchRow] = {}
    repeats: dict[str, list[int]] = {}

    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        wanted = {row.offer_id for row in chunk if row.offer_id is not None} - offers.keys()
        if wanted:
            for offer in Offer.objects.filter(account=account, offer_id__in=wanted):
                offers[offer.offer_id] = offer
        used = _already_ordered(chunk, ordered_references)
        for row in chunk:
            reference = row.customer_reference
            if reference:
                first = first_with_reference.setdefault(reference, row)
                if first is not row:
                    row.problems.append(
                        f"customer_reference '{_clip(reference, 40)}' repeats row {first.row_number}"
                    )
                    repeats.setdefault(reference, []).append(row.row_number)
                elif reference in used:
                    row.problems.append(
                        f"customer_reference '{_clip(reference, 40)}' was already ordered"
                    )
            if row.offer_id is not None:
                _check_offer(row, offers.get(row.offer_id), profile, check_player, players)

    for reference, numbers in repeats.items():
        shown = ", ".join(str(number) for number in numbers[:5])
        more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
        first_with_reference[reference].problems.append(
            f"customer_reference '{_clip(reference, 40)}' is repeated on "
            f"row{'s' if len(numbers) > 1 else ''} {shown}{more}"
        )

    totals: dict[str, Decimal] = {}
    rows_ok = rows_with_warnings = units_ok = 0
    for row in rows:
        if row.warnings:
            rows_with_warnings += 1
        if row.problems:
            continue
        rows_ok += 1
        if row.offer is not None and row.quantity is not None:
            units_ok += row.quantity
            currency = row.offer.currency
            totals[currency] = totals.get(currency, Decimal(0)) + row.estimated_cost

    rates = dict(CurrencyRate.objects.values_list("currency", "usd_per_unit"))
    rates.setdefault("USD", Decimal(1))
    usd_total = Decimal(0)
    without_rate = []
    for currency, amount in sorted(totals.items()):
        rate = rates.get(currency)
        if rate is None:
            without_rate.append(currency or "(no currency)")
        else:
            usd_total += amount * rate
    usd_total = usd_total.quantize(CENT, ROUND_HALF_UP)
    if without_rate:
        preview_warnings.append(
            f"No USD rate for {', '.join(without_rate)}: the USD estimate leaves those amounts "
            "out. Add the rates on the currency rates page."
        )
    if balance_usd is not None and usd_total > balance_usd:
        preview_warnings.append(
            f"The estimated cost {usd_total} USD is more than the balance {balance_usd} USD: "
            "orders beyond the balance will wait on hold until it is topped up."
        )
    if rows and not rows_ok:
        preview_warnings.append("No row can be ordered as it is: every row has a problem.")
    if too_many := units_over_limit(units_ok):
        preview_warnings.append(too_many)
    return BatchPreview(
        rows=rows,
        warnings=preview_warnings,
        totals_by_currency=dict(sorted(totals.items())),
        usd_total=usd_total,
        currencies_without_rate=without_rate,
        balance_usd=balance_usd,
        rows_ok=rows_ok,
        rows_with_problems=len(rows) - rows_ok,
        rows_with_warnings=rows_with_warnings,
        units_ok=units_ok,
    )


def units_over_limit(units: int) -> str:
    """Why a file of that many orders cannot be confirmed, or "" when it can."""
    if units <= MAX_UNITS:
        return ""
    return (
        f"This file would create {units:,} orders; at most {MAX_UNITS:,} can be confirmed at "
        "once. Split it into smaller files."
    )


def _already_ordered(chunk: list[BatchRow], ordered: OrderedReferences | None) -> Collection[str]:
    if ordered is None:
        return ()
    if callable(ordered):
        references = {row.customer_reference for row in chunk if row.customer_reference}
        return set(ordered(references)) if references else ()
    return ordered


def _check_offer(row: BatchRow, offer: Offer | None, profile, check_player, players) -> None:
    problems = row.problems
    if offer is None:
        problems.append(f"offer {row.offer_id} is not in this account's catalog")
        return
    row.offer = offer
    if offer.delisted_at is not None:
        problems.append(f"offer {row.offer_id} is delisted (no longer sold)")
    if not offer.in_stock:
        problems.append(f"offer {row.offer_id} is out of stock")
    if offer.is_compatible_with(profile) is False:
        problems.append(
            f"offer {row.offer_id} is settled in {offer.settlement_method}, which this account's "
            f"{profile} balance cannot buy"
        )
    if offer.requires_user_id and not row.game_user_id and not row.telegram_username:
        problems.append(f"player_id is missing: offer {row.offer_id} requires one")
    if offer.requires_server_id and not row.game_server_id:
        problems.append(f"server_id is missing: offer {row.offer_id} requires one")
    if row.max_unit_price is not None and row.max_unit_price < offer.price:
        row.warnings.append(
            f"max_unit_price {row.max_unit_price} is below the current price {offer.price.normalize():f} "
            f"{offer.currency}: the order will be refused unless the price drops"
        )
    if (
        check_player is not None
        and offer.requires_user_id
        and row.game_user_id
        and offer.delisted_at is None
    ):
        key = (offer.pk, row.game_user_id, row.game_server_id)
        if key not in players:
            try:
                players[key] = tuple(check_player(offer, row.game_user_id, row.game_server_id))
            except (ApplicationError, SupplierError) as exc:
                players[key] = str(exc)
        answer = players[key]
        if isinstance(answer, str):
            row.warnings.append(f"player_id '{row.game_user_id}' could not be checked: {answer}")
        elif answer[0]:
            row.player_login = answer[1] or ""
        else:
            problems.append(
                f"player_id '{row.game_user_id}' was not accepted for offer {row.offer_id}"
                + (f": {answer[1]}" if answer[1] else "")
            )


def preview_batch_file(
    uploaded_file,
    filename: str | None = None,
    *,
    account,
    check_player: PlayerCheck | None = None,
    ordered_references: OrderedReferences | None = None,
    balance_usd: Decimal | None = None,
) -> BatchPreview:
    """Read, parse and validate an uploaded batch file. Raises BatchFileRefused."""
    reader = read_rows(uploaded_file, filename)
    rows = list(parse_rows(reader))
    preview = validate_rows(
        rows,
        account=account,
        check_player=check_player,
        ordered_references=ordered_references,
        balance_usd=balance_usd,
        warnings=reader.warnings,
    )
    preview.file_description = reader.description
    return preview


# --- template --------------------------------------------------------------------------------


def batch_template_csv() -> str:
    """The header and two example rows (a top-up with player and server, a key by e-mail)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerows(TEMPLATE_EXAMPLES)
    return out.getvalue()


def batch_template_xlsx() -> bytes:
    """The same as `batch_template_csv`, as a workbook whose id columns are formatted as text (so
    Excel keeps long player ids and leading zeros intact)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Orders")
    for index, name in enumerate(TEMPLATE_HEADER, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(name) + 4)
    bold = Font(bold=True)
    header = []
    for name in TEMPLATE_HEADER:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    text_columns = {"player_id", "server_id", "customer_reference", "email", "telegram_username"}
    for example in TEMPLATE_EXAMPLES:
        cells = []
        for name, value in zip(TEMPLATE_HEADER, example, strict=True):
            if name in text_columns:
                cell = WriteOnlyCell(sheet, value=value or None)
                cell.number_format = "@"
            elif name == "max_unit_price":
                cell = WriteOnlyCell(sheet, value=Decimal(value) if value else None)
            else:
                cell = WriteOnlyCell(sheet, value=int(value))
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
