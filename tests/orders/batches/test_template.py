"""The downloadable template reads back as a clean batch, in both formats."""

import io

import openpyxl
from openpyxl.utils import get_column_letter

from orders.batches.parsing import parse_row
from orders.batches.reading import read_rows
from orders.batches.template import TEMPLATE_HEADER, batch_template_csv, batch_template_xlsx


def test_csv_template_has_the_header_and_three_examples():
    text = batch_template_csv()
    lines = text.split("\r\n")
    assert lines[0] == (
        "offer_id,quantity,player_id,server_id,email,telegram_username,customer_reference,"
        "max_unit_price,product"
    )
    assert len([line for line in lines if line]) == 4


def test_both_templates_read_back_without_problems():
    parsed = {}
    for name, data in (
        ("template.csv", batch_template_csv().encode()),
        ("template.xlsx", batch_template_xlsx()),
    ):
        reader = read_rows(data, name)
        assert reader.unknown_columns == [] and set(reader.columns) == {
            "offer_id",
            "quantity",
            "game_user_id",
            "game_server_id",
            "email",
            "telegram_username",
            "customer_reference",
            "max_unit_price",
            "product",
        }
        rows = [parse_row(raw) for raw in reader]
        assert [row.problems for row in rows] == [[], [], []]
        parsed[name] = [
            (
                row.row_number,
                row.offer_id,
                row.product_code,
                row.quantity,
                row.game_user_id,
                row.max_unit_price,
            )
            for row in rows
        ]
    assert parsed["template.csv"] == parsed["template.xlsx"]
    assert parsed["template.csv"][0][4] == "52357322414"
    # The third example orders a product by its code, not an offer id.
    assert parsed["template.csv"][2][1:3] == (None, "steam-us-20")


def test_xlsx_template_keeps_ids_as_text():
    workbook = openpyxl.load_workbook(io.BytesIO(batch_template_xlsx()))
    sheet = workbook.worksheets[0]
    assert [cell.value for cell in sheet[1]] == list(TEMPLATE_HEADER)
    player = sheet.cell(row=2, column=TEMPLATE_HEADER.index("player_id") + 1)
    assert player.value == "52357322414" and player.number_format == "@"
    assert sheet.cell(row=2, column=1).value == "1001"  # the offer id too
    assert sheet.cell(row=2, column=2).value == 1  # a quantity stays a number
    # The whole id columns are text: what is typed or pasted there later keeps every digit.
    letters = {name: get_column_letter(n) for n, name in enumerate(TEMPLATE_HEADER, start=1)}
    for name in ("offer_id", "player_id", "server_id", "customer_reference", "product"):
        assert sheet.column_dimensions[letters[name]].number_format == "@", name
    assert sheet.column_dimensions[letters["quantity"]].number_format == "General"
