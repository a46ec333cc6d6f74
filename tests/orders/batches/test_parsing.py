"""One file row → a typed BatchRow and the problems an operator can fix in the row itself."""

from decimal import Decimal

import pytest

from orders.batches.parsing import BatchRow, parse_number, parse_row
from orders.batches.reading import COLUMN_LABELS, RawRow


def row(**values):
    return parse_row(RawRow(7, {"offer_id": "101", "quantity": "1", **values}))


def test_a_complete_row():
    parsed = row(
        offer_id="101",
        quantity="3",
        game_user_id="52357322414",
        game_server_id="os_euro",
        email="buyer@example.com",
        telegram_username="@buyer_1",
        customer_reference="REF-1",
        max_unit_price="12,50",
    )
    assert parsed.problems == [] and parsed.ok
    assert (parsed.row_number, parsed.offer_id, parsed.quantity) == (7, 101, 3)
    assert parsed.game_user_id == "52357322414" and parsed.game_server_id == "os_euro"
    assert parsed.email == "buyer@example.com"
    assert parsed.telegram_username == "buyer_1"
    assert parsed.customer_reference == "REF-1"
    assert parsed.max_unit_price == Decimal("12.50")


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"offer_id": ""}, "offer_id is missing"),
        ({"offer_id": "abc"}, "offer_id 'abc' is not a whole number"),
        ({"offer_id": "12.5"}, "offer_id '12.5' is not a whole number"),
        ({"offer_id": "0"}, "offer_id '0' is not a valid offer id"),
        (
            {"offer_id": "99999999999999999999"},
            "offer_id '99999999999999999999' is not a valid offer id",
        ),
        ({"quantity": ""}, "quantity is missing"),
        ({"quantity": "abc"}, "quantity 'abc' is not a whole number"),
        ({"quantity": "1.5"}, "quantity '1.5' is not a whole number"),
        ({"quantity": "0"}, "quantity 0 must be at least 1"),
        ({"quantity": "-2"}, "quantity -2 must be at least 1"),
        ({"quantity": "101"}, "quantity 101 is more than 100 (split the row)"),
        ({"max_unit_price": "1,5.0"}, "max_unit_price '1,5.0' is not a number"),
        ({"max_unit_price": "abc"}, "max_unit_price 'abc' is not a number"),
        ({"max_unit_price": "$5"}, "max_unit_price '$5' is not a number"),
        ({"max_unit_price": "NaN"}, "max_unit_price 'NaN' is not a number"),
        ({"max_unit_price": "1e3"}, "max_unit_price '1e3' is not a number"),
        ({"max_unit_price": "1,500"}, "max_unit_price '1,500' is ambiguous: write 1500 or 1.5"),
        ({"max_unit_price": "0"}, "max_unit_price '0' must be above zero"),
        ({"max_unit_price": "-3"}, "max_unit_price '-3' must be above zero"),
        ({"max_unit_price": "1.23456"}, "max_unit_price '1.23456' has more than 4 decimal places"),
        ({"email": "not-an-email"}, "email 'not-an-email' is not an e-mail address"),
        (
            {"telegram_username": "@a b"},
            "telegram_username '@a b' is not a Telegram username (4-32 letters, digits or _, "
            "starting with a letter)",
        ),
        (
            {"telegram_username": "@1abc"},
            "telegram_username '@1abc' is not a Telegram username (4-32 letters, digits or _, "
            "starting with a letter)",
        ),
        (
            {"game_user_id": "5.23573E+10"},
            "player_id '5.23573E+10' was shortened by the spreadsheet: format the player_id "
            "column as text and type the ids again",
        ),
        ({"game_user_id": "x" * 65}, "player_id is longer than 64 characters"),
        ({"game_server_id": "x" * 65}, "server_id is longer than 64 characters"),
        ({"customer_reference": "r" * 101}, "customer_reference is longer than 100 characters"),
    ],
)
def test_each_bad_value_is_named_with_its_column(values, problem):
    parsed = row(**values)
    assert parsed.problems == [problem]
    assert not parsed.ok


def test_every_problem_of_a_row_is_listed():
    parsed = parse_row(RawRow(3, {"offer_id": "x", "quantity": "y", "email": "z"}))
    assert parsed.problems == [
        "offer_id 'x' is not a whole number",
        "quantity 'y' is not a whole number",
        "email 'z' is not an e-mail address",
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", "12"),
        ("12.50", "12.50"),
        ("12,50", "12.50"),
        (",5", "0.5"),
        (".5", "0.5"),
        ("0,125", "0.125"),
        ("1 234,50", "1234.50"),
        ("1\u00a0234,50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("+7", "7"),
        (" 3 ", "3"),
    ],
)
def test_numbers_as_spreadsheets_write_them(text, value):
    assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize("text", ["1,5.0", "1.2.3", "1,2,3", "12,50 RUB", "", "∞", "1_000"])
def test_not_numbers(text):
    with pytest.raises(ValueError, match="is not a number"):
        parse_number(text)


def test_whole_numbers_written_as_decimals_are_accepted():
    parsed = row(offer_id="101.0", quantity="2,0")
    assert (parsed.offer_id, parsed.quantity, parsed.problems) == (101, 2, [])


@pytest.mark.parametrize(
    "text", ["@durov_bot", "durov_bot", "https://t.me/durov_bot", "t.me/durov_bot", " @durov_bot "]
)
def test_telegram_username_forms(text):
    assert row(telegram_username=text.strip()).telegram_username == "durov_bot"


def test_optional_columns_may_be_absent_or_empty():
    parsed = parse_row(RawRow(2, {"offer_id": "5", "quantity": "1"}))
    assert parsed.problems == []
    assert parsed.email == parsed.telegram_username == parsed.customer_reference == ""
    assert parsed.max_unit_price is None


# --- ids that went through a spreadsheet ---------------------------------------------------------


def workbook_row(values: dict, numbers: tuple = ()) -> BatchRow:
    letters = {key: "ABCDEFGHI"[n] for n, key in enumerate(COLUMN_LABELS)}
    return parse_row(RawRow(5, values, numbers=numbers, letters=letters))


def test_a_player_id_held_as_a_number_in_a_workbook_names_its_cell_and_the_fix():
    parsed = workbook_row(
        {"offer_id": "10", "quantity": "1", "game_user_id": "123456"},
        numbers=("offer_id", "game_user_id"),
    )
    assert parsed.problems == [
        "player_id in cell C5 is a number in the workbook (123456), not text: a spreadsheet "
        "drops an id's leading zeros and rounds it past 15 digits, so it may not be the id that "
        "was typed; format the player_id column as text and type the ids again"
    ]
    assert parsed.offer_id == 10  # an offer id may be a number
    assert parsed.bad_values == {"game_user_id": "123456"}
    # The same id as text is the id.
    assert workbook_row({"offer_id": "10", "quantity": "1", "game_user_id": "000123456"}).ok


def test_ids_past_2_53_and_e_forms_get_the_same_hint_in_both_formats():
    past = str(2**53 + 1)
    hint = "format the {} column as text and type the ids again"
    csv_row = workbook_row({"offer_id": past, "quantity": "1", "game_server_id": "1.2E+16"})
    assert csv_row.problems == [
        f"offer_id '{past}' is longer than a spreadsheet keeps exactly (its last digits may "
        f"have been rounded): {hint.format('offer_id')}",
        f"server_id '1.2E+16' was shortened by the spreadsheet: {hint.format('server_id')}",
    ]
    assert csv_row.offer_id is None
    in_a_workbook = workbook_row({"offer_id": past, "quantity": "1"}, numbers=("offer_id",))
    assert in_a_workbook.problems[0].startswith(
        f"offer_id in cell A5 is a number in the workbook ({past})"
    )
    assert in_a_workbook.problems[0].endswith(hint.format("offer_id"))
    assert workbook_row({"offer_id": str(2**53), "quantity": "1"}).ok


def test_a_nul_character_names_its_row_and_cell():
    parsed = workbook_row({"offer_id": "10", "quantity": "1", "game_user_id": "12\x0034"})
    assert parsed.problems == [
        "player_id in cell C5 holds a NUL character (an invisible control character no one "
        "types): type the cell again"
    ]
    assert parsed.bad_values == {"game_user_id": "12\x0034"}


def test_bad_values_are_kept_for_their_columns():
    parsed = row(offer_id="abc", quantity="0", max_unit_price="1,500", email="not-mail")
    assert parsed.bad_values == {
        "offer_id": "abc",
        "quantity": "0",
        "email": "not-mail",
        "max_unit_price": "1,500",
    }
