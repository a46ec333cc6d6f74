"""Workbooks that are small on disk and huge to read, written straight into a ZIP (openpyxl would
take minutes to write them): a few hundred KB compressed, hundreds of MB of sheet XML.

- `wide_rows_xlsx`: rows of thousands of junk cells, each without a cell reference (a sheet may
  leave `r` out), so a reader that builds a row whole holds millions of cells at once;
- `tall_sheet_xlsx`: a declared dimension of the whole sheet (A1:XFD1048576) and a million rows of
  one empty styled cell each, below a valid header: blank rows that cost as much as data to read.

Both stream their XML into the archive a row at a time, so writing them needs little memory.
"""

from __future__ import annotations

import io
import zipfile

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}">'
        '<sheets><sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ),
}

HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>offer_id</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>quantity</t></is></c></row>'
)


def _workbook(sheet_rows, *, dimension: str = "A1") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in _PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}">'
                f'<dimension ref="{dimension}"/><sheetData>'.encode()
            )
            for chunk in sheet_rows:
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def wide_rows_xlsx(*, rows: int = 800, cells_per_row: int = 16_384) -> bytes:
    """About 14 bytes of XML a cell: the defaults make about 180 MB of sheet XML."""
    junk = b"<c><v>1</v></c>" * cells_per_row

    def sheet_rows():
        yield HEADER_ROW.encode()
        for number in range(2, rows + 2):
            yield b'<row r="%d">' % number + junk + b"</row>"

    return _workbook(sheet_rows())


def tall_sheet_xlsx(*, rows: int = 1_000_000) -> bytes:
    def sheet_rows():
        yield HEADER_ROW.encode()
        block = []
        for number in range(2, rows + 2):
            block.append(b'<row r="%d"><c r="A%d" s="0"/></row>' % (number, number))
            if len(block) == 10_000:
                yield b"".join(block)
                block = []
        yield b"".join(block)

    return _workbook(sheet_rows(), dimension="A1:XFD1048576")
