"""Reading uploaded batch files: what real spreadsheets produce is accepted, anything else is refused
with a message for the operator, and no bytes at all make the reader fail in another way."""

import io
import zipfile

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders.batches import reading
from orders.batches.parsing import parse_row
from orders.batches.reading import BatchFileRefused, read_rows
from orders.batches.template import batch_template_xlsx

HEADER = "offer_id,quantity,player_id,server_id,email,telegram_username,customer_reference,max_unit_price"


def read(data: bytes | str, filename: str = "orders.csv"):
    if isinstance(data, str):
        data = data.encode()
    reader = read_rows(data, filename)
    return reader, list(reader)


def refusal(data: bytes | str, filename: str = "orders.csv") -> str:
    with pytest.raises(BatchFileRefused) as caught:
        read(data, filename)
    return caught.value.message


def xlsx(rows, *, sheet_title="Orders") -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- encodings ---------------------------------------------------------------------------------


def test_plain_utf8():
    reader, rows = read(f"{HEADER}\n101,2,P1,S1,a@example.com,@buyer,REF-1,12.50\n")
    assert reader.encoding == "utf-8" and reader.delimiter == ","
    assert [row.row_number for row in rows] == [2]
    assert rows[0].values == {
        "offer_id": "101",
        "quantity": "2",
        "game_user_id": "P1",
        "game_server_id": "S1",
        "email": "a@example.com",
        "telegram_username": "@buyer",
        "customer_reference": "REF-1",
        "max_unit_price": "12.50",
    }


def test_utf8_with_bom_does_not_spoil_the_first_column_name():
    reader, rows = read(("\ufeffoffer_id,quantity,reference\n7,1,Заказ №1\n").encode())
    assert reader.encoding == "utf-8-sig"
    assert rows[0].values == {"offer_id": "7", "quantity": "1", "customer_reference": "Заказ №1"}


def test_windows_1251_cyrillic_references():
    text = "offer_id;quantity;customer_reference\r\n7;1;Иванов Пётр\r\n8;2;Заказ №2 «срочно»\r\n"
    reader, rows = read(text.encode("cp1251"))
    assert reader.encoding == "cp1251"
    assert [row.values["customer_reference"] for row in rows] == [
        "Иванов Пётр",
        "Заказ №2 «срочно»",
    ]


def test_windows_1251_detected_even_when_the_first_cyrillic_is_far_down_the_file():
    # Past any sniffing sample: the whole file is checked, so row 5,000 is not mojibake.
    lines = ["offer_id,quantity,customer_reference"] + [f"1,1,R{n}" for n in range(5_000)]
    lines.append("1,1,Последний")
    reader, rows = read(("\n".join(lines) + "\n").encode("cp1251"))
    assert reader.encoding == "cp1251"
    assert rows[-1].values["customer_reference"] == "Последний"


def test_utf16_unicode_text_from_excel():
    text = "offer_id\tquantity\treference\r\n7\t1\tКлюч\r\n"
    reader, rows = read(text.encode("utf-16"), "orders.txt")
    assert reader.encoding == "utf-16" and reader.delimiter == "\t"
    assert rows[0].values["customer_reference"] == "Ключ"


# --- delimiters, line endings, quoting ---------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), (",", "comma")])
def test_delimiter_sniffed_from_the_header(delimiter, name):
    text = delimiter.join(["offer_id", "quantity", "max_unit_price"]) + "\n"
    text += delimiter.join(["5", "3", "12,50" if delimiter != "," else "12.50"]) + "\n"
    reader, rows = read(text)
    assert reader.delimiter == delimiter and name in reader.description
    assert rows[0].values["quantity"] == "3"


def test_semicolon_file_with_decimal_commas_is_not_mistaken_for_commas():
    reader, rows = read("offer_id;quantity;max price\n5;3;12,50\n")
    assert reader.delimiter == ";"
    assert rows[0].values["max_unit_price"] == "12,50"


def test_excel_sep_hint_line():
    reader, rows = read("sep=;\r\noffer_id;quantity\r\n5;3\r\n")
    assert reader.delimiter == ";"
    assert rows[0].row_number == 3 and rows[0].values["offer_id"] == "5"


def test_crlf_and_lone_cr_line_endings():
    for ending in ("\r\n", "\n", "\r"):
        _, rows = read(ending.join(["offer_id,quantity", "1,1", "2,2", ""]))
        assert [(row.row_number, row.values["offer_id"]) for row in rows] == [(2, "1"), (3, "2")]


def test_quoted_fields_with_delimiters_quotes_and_newlines():
    text = (
        "offer_id,quantity,customer_reference,player_id\r\n"
        '1,1,"Smith, John",P1\r\n'
        '2,1,"He said ""now""",P2\r\n'
        '3,1,"two\r\nlines",P3\r\n'
        "4,1,plain,P4\r\n"
    )
    _, rows = read(text)
    assert [row.values["customer_reference"] for row in rows] == [
        "Smith, John",
        'He said "now"',
        "two\r\nlines",
        "plain",
    ]
    # Row numbers are file lines: the quoted newline makes row 4 two lines long.
    assert [row.row_number for row in rows] == [2, 3, 4, 6]
    assert rows[3].values["game_user_id"] == "P4"


def test_trailing_and_inner_empty_rows_are_ignored_and_whitespace_trimmed():
    text = "\n\n offer_id , Quantity \n 1 ,  2 \n , \n,,\n\n3,4\n,,\n\n\n,\n"
    reader, rows = read(text)
    assert [(row.row_number, row.values) for row in rows] == [
        (4, {"offer_id": "1", "quantity": "2"}),
        (8, {"offer_id": "3", "quantity": "4"}),
    ]
    assert reader.rows_read == 2


def test_short_rows_read_as_empty_cells_and_long_rows_are_warned_about():
    reader, rows = read("offer_id,quantity,reference\n1\n2,1,R,extra\n")
    assert rows[0].values == {"offer_id": "1", "quantity": "", "customer_reference": ""}
    assert reader.warnings == [
        "1 row(s) have more cells than the header (first on row 3); the cells without a column "
        "name were ignored."
    ]


def test_spreadsheet_text_trick_keeps_leading_zeros():
    _, rows = read('offer_id,quantity,player_id\n1,1,="000123"\n')
    assert rows[0].values["game_user_id"] == "000123"


# --- header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("offerId", "offer_id"),
        ("Offer ID", "offer_id"),
        ("OFFER_ID", "offer_id"),
        ("qty", "quantity"),
        ("Quantity", "quantity"),
        ("game_user_id", "game_user_id"),
        ("Player ID", "game_user_id"),
        ("game_server_id", "game_server_id"),
        ("server id", "game_server_id"),
        ("E-mail", "email"),
        ("telegram", "telegram_username"),
        ("Telegram Username", "telegram_username"),
        ("ref", "customer_reference"),
        ("Reference", "customer_reference"),
        ("Max price", "max_unit_price"),
        ("max_unit_price", "max_unit_price"),
    ],
)
def test_header_aliases(name, key):
    other = "qty" if key != "quantity" else "offer_id"
    if key in ("offer_id", "quantity"):
        header = f"{name},{other}"
    else:
        header = f"offer_id,qty,{name}"
    reader, _ = read(f"{header}\n1,1,x\n")
    assert key in reader.columns


def test_unknown_columns_are_refused_with_the_columns_expected():
    message = refusal("offer_id,quantity,Notes,colour\n1,1,hello,red\n")
    assert message == (
        "The header has columns this back-office does not read: 'Notes', 'colour'. The columns "
        "are offer_id, quantity, player_id, server_id, email, telegram_username, "
        "customer_reference, max_unit_price, product (only quantity and offer_id or product are "
        "required; also accepted: offer, product_code, qty, player, server, reference, telegram, "
        "max_price). Delete the other columns, or rename them as in the template."
    )
    assert "'Notes', 'colour'" in refusal(xlsx([["offer_id", "qty", "Notes", "colour"], [1, 1]]))


def test_how_the_columns_were_read_is_told():
    reader, rows = read("Offer,Qty,Player\n10,2,00123\n")
    assert reader.column_mapping == [
        ("Offer", "offer_id"),
        ("Qty", "quantity"),
        ("Player", "player_id"),
    ]
    assert rows[0].values == {"offer_id": "10", "quantity": "2", "game_user_id": "00123"}
    assert rows[0].cell("game_user_id") == "C2" and rows[0].numbers == ()


def test_a_workbook_tells_which_cells_held_numbers():
    _, rows = read(xlsx([["offer_id", "quantity", "player_id"], [10, "2", 123], ["11", 1, "0042"]]))
    assert [row.numbers for row in rows] == [("offer_id", "game_user_id"), ("quantity",)]


def test_formulas_without_their_values_are_refused_naming_the_first_cell():
    data = xlsx([["offer_id", "quantity"], [10, "=1+1"], [11, "=A2*2"]])  # openpyxl keeps no values
    assert refusal(data, "formulas.xlsx") == (
        "2 cells of the sheet hold a formula without its value (the first is B2): the orders "
        "need values, not formulas. Open the file in Excel or LibreOffice and save it again "
        "(that stores the values), or paste the cells as values only."
    )
    # A formula saved with its value (as Excel and LibreOffice do) reads as the value.
    computed = with_sheet_xml(
        data, lambda sheet: sheet.replace(b"<f>1+1</f><v />", b"<f>1+1</f><v>2</v>")
    )
    assert computed != data
    assert refusal(computed, "formulas.xlsx").startswith(
        "1 cell of the sheet holds a formula without its value (the first is B3)"
    )


def test_a_nul_character_in_a_cell_is_read_not_taken_for_a_binary_file():
    reader, rows = read("offer_id,quantity,player_id\n10,1,12\x0034\n")
    assert rows[0].values["game_user_id"] == "12\x0034"


def test_missing_required_columns_are_named():
    assert refusal("offer_id,player_id\n1,P\n") == (
        "The header has no quantity column (found 'offer_id', 'player_id'). "
        "The first line must name the columns, as in the template."
    )
    assert refusal("sku,amount\n1,1\n").startswith(
        "The header has no offer_id or product and no quantity column (found 'sku', 'amount')."
    )


def test_missing_header_is_refused_with_what_was_found():
    # A file of numbers alone: the first row is taken as the header and names no column.
    assert refusal("1,2\n3,4\n").startswith(
        "The header has no offer_id or product and no quantity column"
    )


def test_two_columns_meaning_the_same_are_refused():
    assert refusal("offer_id,qty,quantity\n1,1,1\n") == (
        "The columns 'qty' and 'quantity' both mean quantity; keep one of them."
    )


def test_header_without_rows_is_refused():
    assert refusal("offer_id,quantity\r\n\r\n,\r\n") == (
        "The file has a header but no order rows under it."
    )


# --- XLSX --------------------------------------------------------------------------------------


def test_xlsx_first_sheet_with_numbers_and_empty_rows():
    data = xlsx(
        [
            ["Offer ID", "Qty", "Player ID", "Max price", "Reference"],
            [101, 2, 52357322414, 12.5, "Заказ 1"],
            [None, None, None, None, None],
            [102, 1.0, "000123", 3, None],
            [],
            [],
        ]
    )
    reader, rows = read(data, "orders.xlsx")
    assert reader.format == "xlsx" and reader.description == "XLSX workbook, first sheet"
    assert [(row.row_number, row.values) for row in rows] == [
        (
            2,
            {
                "offer_id": "101",
                "quantity": "2",
                "game_user_id": "52357322414",
                "max_unit_price": "12.5",
                "customer_reference": "Заказ 1",
            },
        ),
        (
            4,
            {
                "offer_id": "102",
                "quantity": "1",
                "game_user_id": "000123",
                "max_unit_price": "3",
                "customer_reference": "",
            },
        ),
    ]


def test_xlsx_only_the_first_sheet_is_read():
    workbook = openpyxl.Workbook()
    workbook.active.append(["offer_id", "quantity"])
    workbook.active.append([1, 1])
    other = workbook.create_sheet("Other")
    other.append(["offer_id", "quantity"])
    other.append([2, 2])
    out = io.BytesIO()
    workbook.save(out)
    _, rows = read(out.getvalue(), "orders.xlsx")
    assert [row.values["offer_id"] for row in rows] == ["1"]


def test_xlsx_renamed_to_csv_is_still_read_as_a_workbook():
    reader, rows = read(xlsx([["offer_id", "quantity"], [1, 1]]), "orders.csv")
    assert reader.format == "xlsx" and len(rows) == 1


def test_xlsx_that_is_not_a_workbook_is_refused():
    message = (
        "This file is not a valid Excel workbook (.xlsx). Open it in Excel or LibreOffice and "
        "save it again as .xlsx or CSV."
    )
    assert refusal("offer_id,quantity\n1,1\n", "orders.xlsx") == message
    assert refusal(b"PK\x03\x04" + b"\x00" * 100, "orders.xlsx") == message
    # A zip that is not a workbook (an .ods or any archive).
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hello")
    assert refusal(out.getvalue(), "orders.xlsx") == message


def test_xlsx_truncated_is_refused():
    data = xlsx([["offer_id", "quantity"]] + [[n, 1] for n in range(2000)])
    assert "not a valid Excel workbook" in refusal(data[: len(data) // 2], "orders.xlsx")


def test_xlsx_that_unpacks_too_large_is_refused(monkeypatch):
    monkeypatch.setattr(reading, "MAX_XLSX_UNPACKED_BYTES", 4096)
    data = xlsx([["offer_id", "quantity"]] + [[n, 1] for n in range(500)])
    assert refusal(data, "orders.xlsx").startswith("The workbook unpacks to more than")


def test_xlsx_empty_sheet_and_missing_columns():
    assert refusal(xlsx([]), "orders.xlsx") == "The first sheet of the workbook is empty."
    assert refusal(xlsx([["Orders for June"], ["offer_id", "quantity"]]), "o.xlsx").startswith(
        "The header has no offer_id or product and no quantity column (found 'Orders for June')"
    )


def test_legacy_xls_is_refused():
    assert refusal(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "orders.xls") == (
        "This is an old Excel .xls file (or another Office binary file). "
        "Save it as .xlsx or CSV and upload that."
    )


# --- limits and refusals -----------------------------------------------------------------------


def test_more_than_50000_rows_is_refused_without_reading_the_rest():
    body = "".join(f"{n},1\n" for n in range(1, reading.MAX_ROWS + 2))
    # Whatever follows row 50,001 is never parsed: an unclosed quote there would be another error.
    data = f"offer_id,quantity\n{body}" + '1,"' + "x" * 200_000 + "\n"
    reader = read_rows(data.encode(), "big.csv")
    seen = 0
    with pytest.raises(BatchFileRefused) as caught:
        for _ in reader:
            seen += 1
    assert seen == 50_000
    assert caught.value.message == (
        "The file has more than 50,000 rows; split it into files of at most 50,000 rows each."
    )


def test_exactly_50000_rows_is_accepted():
    body = "".join(f"{n},1\n" for n in range(1, reading.MAX_ROWS + 1))
    reader, rows = read(f"offer_id,quantity\n{body}\n\n")
    assert len(rows) == 50_000 and rows[-1].row_number == 50_001


def test_oversized_file_is_refused_before_reading():
    message = "The file is larger than 20 MB; split it into smaller files."
    big = SimpleUploadedFile("big.csv", b"offer_id,quantity\n" + b"1,1\n" * (5 * 2**20 + 1))
    assert big.size > reading.MAX_BYTES
    with pytest.raises(BatchFileRefused) as caught:
        read_rows(big, big.name)
    assert caught.value.message == message


def test_oversized_stream_without_a_size_is_refused(monkeypatch):
    monkeypatch.setattr(reading, "MAX_BYTES", 1000)

    class Unseekable(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, buffer):
            return self._data.readinto(buffer)

    with pytest.raises(BatchFileRefused, match="larger than"):
        read_rows(Unseekable(b"offer_id,quantity\n" + b"1,1\n" * 500), "x.csv")
    _, rows = read(b"offer_id,quantity\n1,1\n")  # small enough
    reader = read_rows(Unseekable(b"offer_id,quantity\n1,1\n"), "x.csv")
    assert len(list(reader)) == 1 == len(rows)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\r\n  \r\n", "The file has no header line: it is blank."),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n",
            "This is a PDF document, not a table. Upload a CSV or XLSX.",
        ),
        (
            b"<!DOCTYPE html>\n<html><body><table><tr><td>1</td></tr></table></body></html>",
            "This looks like a web page or XML (it starts with '<'), not a CSV. "
            "Save the spreadsheet as CSV or XLSX.",
        ),
        (
            b'<?xml version="1.0"?><Workbook></Workbook>',
            "This looks like a web page or XML (it starts with '<'), not a CSV. "
            "Save the spreadsheet as CSV or XLSX.",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
            "This is a binary file, not a CSV or XLSX table.",
        ),
        (bytes(range(1, 32)) * 50, "This is a binary file, not a CSV or XLSX table."),
        (
            b"offer_id quantity\n1 1\n",
            "The first line has no comma, semicolon or tab between column names, so this is not "
            "a table of columns (it reads 'offer_id quantity'). Start from the template.",
        ),
        (b"{\\rtf1\\ansi offer_id,quantity}", "This is an RTF document, not a table."),
    ],
)
def test_non_tabular_files_are_refused(data, message):
    assert refusal(data).startswith(message)


def test_unclosed_quote_swallowing_a_huge_field_is_refused():
    data = 'offer_id,quantity,reference\n1,1,"never closed\n' + "x" * 200_000 + "\n"
    assert "Is a quote left open?" in refusal(data)


def test_django_uploaded_files_are_read_and_left_open():
    content = f"{HEADER}\n1,1,,,,,R,\n".encode()
    upload = SimpleUploadedFile("orders.csv", content)
    assert len(list(read_rows(upload))) == 1
    assert not upload.closed
    upload.seek(0)
    assert upload.read() == content

    temporary = TemporaryUploadedFile("orders.csv", "text/csv", len(content), None)
    temporary.write(content)
    temporary.flush()
    try:
        assert len(list(read_rows(temporary))) == 1
        assert not temporary.closed
    finally:
        temporary.close()


# --- fuzzing: any bytes, only BatchFileRefused -------------------------------------------------

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def read_everything(data: bytes, filename: str) -> None:
    try:
        for raw in read_rows(data, filename):
            parse_row(raw)  # parsing never raises either
    except BatchFileRefused as refused:
        assert refused.message


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from(["a.csv", "a.xlsx", "a.txt", "a", "A.XLSX"]))
def test_fuzz_any_bytes(data, filename):
    read_everything(data, filename)


cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1", "12,50", "1,500", '"', '""', "\r\n", ";", "\t", "@x", '="1"', " "]),
)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["offer_id", "qty", "player", "ref", "max price", "email", "x", '"', ""]),
        max_size=6,
    ),
    rows=st.lists(st.lists(cell, max_size=8), max_size=20),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251", "utf-16"]),
)
def test_fuzz_tabular_text(header, rows, delimiter, encoding):
    text = "\r\n".join(delimiter.join(line) for line in [header, *rows])
    read_everything(text.encode(encoding, errors="replace"), "a.csv")


@FUZZ
@given(st.data())
def test_fuzz_damaged_workbooks(data):
    original = bytearray(TEMPLATE_XLSX)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(original) // 2, len(original)))
    read_everything(bytes(original[:cut]), "a.xlsx")


TEMPLATE_XLSX = batch_template_xlsx()


# --- what a file costs to read: cells and rows, counted as it streams ---------------------------


def test_a_workbook_of_wide_junk_rows_is_refused_at_its_first_row_in_little_memory():
    """790 KB-class workbook, ~190 MB of sheet XML: rows of 16,384 cells without references.
    openpyxl would build each row whole; the scan refuses it at the 101st cell of row 2."""
    import tracemalloc

    from tests.orders.batches.heavy_xlsx import wide_rows_xlsx

    data = wide_rows_xlsx()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size > 150 * 2**20
    assert len(data) < 1 * 2**20
    tracemalloc.start()
    try:
        message = refusal(data, "heavy.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message.startswith(
        f"Row 2 has more than {reading.MAX_CELLS_PER_ROW} cells (blank ones included)"
    )
    assert peak < 40 * 2**20, f"{peak / 2**20:.1f} MB held while refusing"


def test_a_sheet_declaring_the_whole_grid_with_a_million_blank_rows_is_refused():
    from tests.orders.batches.heavy_xlsx import tall_sheet_xlsx

    message = refusal(tall_sheet_xlsx(rows=reading.MAX_FILE_ROWS + 10), "tall.xlsx")
    assert message.startswith(
        f"The file has more than {reading.MAX_FILE_ROWS:,} rows, blank ones included"
    )
    # Below the cap the same blank rows are skipped, the declared dimension ignored.
    with pytest.raises(BatchFileRefused, match="has a header but no order rows"):
        read(tall_sheet_xlsx(rows=1000), "tall.xlsx")


def test_a_cell_far_to_the_right_makes_its_row_as_wide_as_its_column():
    data = with_sheet_xml(
        xlsx([["offer_id", "quantity"], [1, 2]]),
        lambda sheet: sheet.replace(
            b"</row></sheetData>", b'<c r="XFD2"><v>1</v></c></row></sheetData>'
        ),
    )
    assert refusal(data, "far.xlsx").startswith("Row 2 has more than 100 cells")


def with_sheet_xml(data: bytes, change) -> bytes:
    """The workbook `data` with its first sheet's XML passed through `change`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = change(parts["xl/worksheets/sheet1.xml"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def test_a_csv_row_of_too_many_cells_is_refused_naming_its_line():
    text = "offer_id,quantity\n1,2\n3,4" + "," * reading.MAX_CELLS_PER_ROW + "\n"
    assert refusal(text).startswith(
        f"Row 3 has more than {reading.MAX_CELLS_PER_ROW} cells (blank ones included); "
        f"a row may have at most {reading.MAX_CELLS_PER_ROW} (the template has 9 columns)."
    )
    # A row as wide as the cap is read (the extra cells are warned about, not refused).
    reader, rows = read("offer_id,quantity\n1,2" + "," * (reading.MAX_CELLS_PER_ROW - 2) + "\n")
    assert len(rows) == 1


def test_total_cells_are_capped_blank_ones_included(monkeypatch):
    monkeypatch.setattr(reading, "MAX_CELLS", 50)
    text = "offer_id,quantity,reference\n" + ",,\n" * 10 + "1,2,R\n" * 7
    assert refusal(text) == (
        "The file has more than 50 cells, blank ones included; at most 50 are read. "
        "Delete the rows and columns around your orders, or split the file."
    )
    body = [["offer_id", "quantity", "reference"]] + [[1, 2, "R"]] * 20
    assert refusal(xlsx(body), "many.xlsx").startswith("The file has more than 50 cells")


def test_a_sheet_with_a_dtd_is_refused():
    data = with_sheet_xml(
        xlsx([["offer_id", "quantity"], [1, 2]]),
        lambda sheet: sheet.replace(
            b"<worksheet", b'<!DOCTYPE worksheet [<!ENTITY a "aaaa">]><worksheet', 1
        ),
    )
    assert refusal(data, "dtd.xlsx") == (
        "The workbook's sheet declares a DTD, which no spreadsheet writes."
    )
