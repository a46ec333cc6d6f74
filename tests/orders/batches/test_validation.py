"""Rows checked against the catalog in bulk, and the batch priced in its currencies and in USD."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import CurrencyRate
from orders.batches.parsing import parse_row
from orders.batches.reading import BatchFileRefused, RawRow
from orders.batches.validation import preview_batch_file, validate_rows
from suppliers.clients.errors import SupplierUnreachable

pytestmark = pytest.mark.django_db


def set_rate(currency: str, usd_per_unit: str) -> None:
    # The catalog's migration seeds starting rates for the common currencies.
    CurrencyRate.objects.update_or_create(
        currency=currency, defaults={"usd_per_unit": Decimal(usd_per_unit)}
    )


def rows(*specs):
    """Each spec: (offer_id, quantity, extra column values); row numbers from 2."""
    parsed = []
    for number, (offer_id, quantity, *extra) in enumerate(specs, start=2):
        values = {
            "offer_id": str(offer_id),
            "quantity": str(quantity),
            **(extra[0] if extra else {}),
        }
        parsed.append(parse_row(RawRow(number, values)))
    return parsed


def test_an_offer_of_several_units_costs_its_price_for_each_unit(account, make_offer):
    """The supplier charges an order the offer's price for each product unit it carries
    (find-one's `count`), as the sandbox does and the account queue reckons."""
    from orders.models import BatchPreviewRow

    offer = make_offer(1, price=Decimal("2.5"), currency="USD", units=4)
    preview = validate_rows(rows((1, 3)), account=account)
    assert preview.rows[0].estimated_cost == Decimal("30.0")  # 3 orders × 4 units × 2.50
    assert preview.usd_total == Decimal("30.00")
    stored = BatchPreviewRow(row_number=2, offer=offer, unit_price=offer.price, quantity=3)
    assert stored.estimated_cost == Decimal("30.0")  # the preview page shows the same


def test_a_clean_batch(account, make_offer):
    make_offer(1, price=Decimal("100"), currency="RUB")
    make_offer(2, price=Decimal("2.5"), currency="USD")
    set_rate("RUB", "0.011")
    preview = validate_rows(rows((1, 3), (2, 2)), account=account)
    assert [row.problems for row in preview.rows] == [[], []]
    assert (preview.rows_total, preview.rows_ok, preview.rows_with_problems) == (2, 2, 0)
    assert preview.units_ok == 5
    assert preview.totals_by_currency == {"RUB": Decimal("300"), "USD": Decimal("5.0")}
    # 300 RUB × 0.011 + 5 USD (USD needs no rate row)
    assert preview.usd_total == Decimal("8.30")
    assert preview.currencies_without_rate == [] and preview.usd_total_is_complete
    assert preview.warnings == []
    first = preview.rows[0]
    assert first.offer.offer_id == 1 and first.unit_price == Decimal("100")
    assert first.currency == "RUB" and first.estimated_cost == Decimal("300")


def test_unknown_delisted_and_out_of_stock_offers(account, make_offer):
    make_offer(2, delisted_at=timezone.now())
    make_offer(3, in_stock=False)
    preview = validate_rows(rows((1, 1), (2, 1), (3, 1)), account=account)
    assert [row.problems for row in preview.rows] == [
        ["offer 1 is not in this account's catalog"],
        ["offer 2 is delisted (no longer sold)"],
        ["offer 3 is out of stock"],
    ]
    assert preview.rows_ok == 0 and preview.rows_with_problems == 3
    assert preview.warnings == ["No row can be ordered as it is: every row has a problem."]


def test_offers_of_another_account_are_unknown(account, make_offer):
    from suppliers.models import SupplierAccount

    other = SupplierAccount.objects.create(
        name="other", base_url="http://127.0.0.1:9", shop_token="u" * 32, balance_profile="FIAT"
    )
    make_offer(1)
    preview = validate_rows(rows((1, 1)), account=other)
    assert preview.rows[0].problems == ["offer 1 is not in this account's catalog"]


def test_settlement_compatibility(account, make_offer):
    make_offer(1, settlement_method="USDT")
    make_offer(2, settlement_method="MIXED")
    make_offer(3, settlement_method="FIAT")
    make_offer(4, settlement_method="")  # not known yet: not a problem
    preview = validate_rows(rows((1, 1), (2, 1), (3, 1), (4, 1)), account=account)
    assert [row.problems for row in preview.rows] == [
        ["offer 1 is settled in USDT, which this account's FIAT balance cannot buy"],
        [],
        [],
        [],
    ]
    account.balance_profile = ""  # the account's profile is not known yet
    preview = validate_rows(rows((1, 1)), account=account)
    assert preview.rows[0].problems == []


def test_missing_required_player_and_server_ids(account, make_offer):
    make_offer(1, requires_user_id=True)
    make_offer(2, requires_user_id=True, requires_server_id=True)
    preview = validate_rows(
        rows(
            (1, 1),
            (1, 1, {"game_user_id": "P1"}),
            (1, 1, {"telegram_username": "@buyer_one"}),  # resolved to an id when ordering
            (2, 1, {"game_user_id": "P1"}),
            (2, 1),
            (2, 1, {"game_user_id": "P1", "game_server_id": "eu"}),
        ),
        account=account,
    )
    assert [row.problems for row in preview.rows] == [
        ["player_id is missing: offer 1 requires one"],
        [],
        [],
        ["server_id is missing: offer 2 requires one"],
        [
            "player_id is missing: offer 2 requires one",
            "server_id is missing: offer 2 requires one",
        ],
        [],
    ]


def test_player_check_once_per_distinct_player(account, make_offer):
    make_offer(1, requires_user_id=True)
    make_offer(2, requires_user_id=True, requires_server_id=True)
    make_offer(3)  # needs no player: never checked
    calls = []

    def check_player(offer, game_user_id, game_server_id):
        calls.append((offer.offer_id, game_user_id, game_server_id))
        if game_user_id == "bad":
            return False, "Player not found"
        if game_user_id == "down":
            raise SupplierUnreachable("connection refused")
        return True, f"login-{game_user_id}"

    preview = validate_rows(
        rows(
            (1, 1, {"game_user_id": "good"}),
            (1, 1, {"game_user_id": "good"}),
            (1, 1, {"game_user_id": "bad"}),
            (1, 1, {"game_user_id": "bad"}),
            (2, 1, {"game_user_id": "good", "game_server_id": "eu"}),
            (2, 1, {"game_user_id": "good", "game_server_id": "us"}),
            (1, 1, {"game_user_id": "down"}),
            (3, 1, {"game_user_id": "good"}),
        ),
        account=account,
        check_player=check_player,
    )
    assert calls == [
        (1, "good", ""),
        (1, "bad", ""),
        (2, "good", "eu"),
        (2, "good", "us"),
        (1, "down", ""),
    ]
    assert [row.player_login for row in preview.rows] == [
        "login-good",
        "login-good",
        "",
        "",
        "login-good",
        "login-good",
        "",
        "",
    ]
    assert preview.rows[2].problems == [
        "player_id 'bad' was not accepted for offer 1: Player not found"
    ]
    assert preview.rows[3].problems == preview.rows[2].problems
    assert preview.rows[6].problems == []
    assert preview.rows[6].warnings == [
        "player_id 'down' could not be checked: SupplierUnreachable: connection refused"
    ]
    assert preview.rows_with_warnings == 1


def test_duplicate_references_in_the_file_name_both_rows(account, make_offer):
    make_offer(1)
    preview = validate_rows(
        rows(
            (1, 1, {"customer_reference": "A"}),
            (1, 1, {"customer_reference": "B"}),
            (1, 1, {"customer_reference": "A"}),
            (1, 1, {"customer_reference": "A"}),
            (1, 1),
            (1, 1),  # no reference: never a duplicate
        ),
        account=account,
    )
    assert [row.problems for row in preview.rows] == [
        ["customer_reference 'A' is repeated on rows 4, 5"],
        [],
        ["customer_reference 'A' repeats row 2"],
        ["customer_reference 'A' repeats row 2"],
        [],
        [],
    ]


def test_references_already_ordered_as_a_set_or_a_bulk_lookup(account, make_offer):
    make_offer(1)
    batch = [(1, 1, {"customer_reference": ref}) for ref in ("OLD-1", "NEW-1", "OLD-2")]
    preview = validate_rows(rows(*batch), account=account, ordered_references={"OLD-1", "OLD-2"})
    assert [row.problems for row in preview.rows] == [
        ["customer_reference 'OLD-1' was already ordered"],
        [],
        ["customer_reference 'OLD-2' was already ordered"],
    ]

    asked = []

    def lookup(references):
        asked.append(set(references))
        return {"OLD-1", "OLD-2"} & references

    preview = validate_rows(rows(*batch), account=account, ordered_references=lookup)
    assert asked == [{"OLD-1", "NEW-1", "OLD-2"}]  # one call per chunk
    assert preview.rows_with_problems == 2


def test_bad_numbers_skip_the_catalog_checks(account, make_offer):
    make_offer(1)
    preview = validate_rows(
        rows(("abc", 1), (1, "x"), (1, 1, {"max_unit_price": "1,5.0"})), account=account
    )
    assert [row.problems for row in preview.rows] == [
        ["offer_id 'abc' is not a whole number"],
        ["quantity 'x' is not a whole number"],
        ["max_unit_price '1,5.0' is not a number"],
    ]
    assert preview.rows[1].offer is not None  # the offer is known; the row still is not ordered
    assert preview.totals_by_currency == {}


def test_max_unit_price_below_the_current_price_is_a_warning(account, make_offer):
    make_offer(1, price=Decimal("12.5000"), currency="RUB")
    preview = validate_rows(
        rows((1, 2, {"max_unit_price": "10"}), (1, 1, {"max_unit_price": "12,50"})),
        account=account,
    )
    assert preview.rows[0].problems == []
    assert preview.rows[0].warnings == [
        "max_unit_price 10 is below the current price 12.5 RUB: the order will be refused unless "
        "the price drops"
    ]
    assert preview.rows[1].warnings == []
    assert (preview.rows_ok, preview.rows_with_warnings) == (2, 1)
    assert preview.totals_by_currency == {"RUB": Decimal("37.5")}


def test_currencies_without_a_rate_are_named(account, make_offer):
    make_offer(1, price=Decimal("1000"), currency="UAH")
    make_offer(2, price=Decimal("3"), currency="EUR")
    set_rate("EUR", "1.08")
    preview = validate_rows(rows((1, 1), (2, 1)), account=account)
    assert preview.usd_total == Decimal("3.24")
    assert preview.currencies_without_rate == ["UAH"] and not preview.usd_total_is_complete
    assert preview.warnings == [
        "No USD rate for UAH: the USD estimate leaves those amounts out. Add the rates on the "
        "currency rates page."
    ]


def test_estimate_against_the_balance(account, make_offer):
    make_offer(1, price=Decimal("30"), currency="USD")
    preview = validate_rows(rows((1, 2)), account=account, balance_usd=Decimal("50"))
    assert preview.exceeds_balance
    assert preview.warnings == [
        "The estimated cost 60.00 USD is more than the balance 50 USD: orders beyond the balance "
        "will wait on hold until it is topped up."
    ]
    assert not validate_rows(rows((1, 1)), account=account, balance_usd=Decimal("50")).warnings


def test_query_count_is_bounded_for_2000_rows(account, make_offer):
    from catalog.models import Offer

    now = timezone.now()
    Offer.objects.bulk_create(
        Offer(
            account=account,
            offer_id=n,
            price=Decimal("1"),
            currency="RUB",
            first_seen_at=now,
            synced_at=now,
        )
        for n in range(1, 301)
    )
    batch = rows(*[((n % 400) + 1, 1, {"customer_reference": f"R{n}"}) for n in range(2000)])
    with CaptureQueriesContext(connection) as queries:
        preview = validate_rows(batch, account=account, ordered_references=lambda refs: ())
    # One offer query for the chunk, one for the currency rates.
    assert len(queries) == 2, [q["sql"][:80] for q in queries]
    assert preview.rows_total == 2000
    assert preview.rows_with_problems == 500  # offer ids 301..400 are unknown

    batch = rows(*[((n % 400) + 1, 1) for n in range(5000)])
    with CaptureQueriesContext(connection) as queries:
        validate_rows(batch, account=account)
    # Three chunks; offers already loaded are not asked for again, but each chunk may ask once.
    assert len(queries) <= 4


def test_preview_of_an_uploaded_file(account, make_offer):
    make_offer(101, price=Decimal("50"), currency="RUB", requires_user_id=True)
    set_rate("RUB", "0.01")
    content = (
        "\ufeffOffer ID;Qty;Player ID;Reference;Max price\r\n"
        "101;2;P-1;Заказ 1;60,00\r\n"
        "101;1;;Заказ 2;\r\n"
        "999;1;P-2;Заказ 1;\r\n"
        ";;;;\r\n"
    ).encode()
    preview = preview_batch_file(content, "orders.csv", account=account)
    assert preview.file_description == "CSV, utf-8-sig, semicolon-separated"
    assert [(row.row_number, row.problems) for row in preview.rows] == [
        (2, ["customer_reference 'Заказ 1' is repeated on row 4"]),
        (3, ["player_id is missing: offer 101 requires one"]),
        (
            4,
            [
                "customer_reference 'Заказ 1' repeats row 2",
                "offer 999 is not in this account's catalog",
            ],
        ),
    ]
    assert preview.warnings == ["No row can be ordered as it is: every row has a problem."]


def test_a_refused_file_makes_no_query_and_no_player_check(account):
    body = "".join(f"{n},1,P\n" for n in range(50_001))
    calls = []
    with CaptureQueriesContext(connection) as queries, pytest.raises(BatchFileRefused):
        preview_batch_file(
            f"offer_id,quantity,player_id\n{body}".encode(),
            "big.csv",
            account=account,
            check_player=lambda *args: calls.append(args) or (True, ""),
        )
    assert len(queries) == 0 and calls == []
