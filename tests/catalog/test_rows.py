"""Each hostile row of the issue, checked against the catalog's columns (catalog/rows.py)."""

import json
from decimal import Decimal

import pytest

from catalog import rows
from catalog.models import Offer
from suppliers.clients import SyncPage

GOOD = {"offerGroupId": 1, "price": "1.50", "currency": "USD", "offerGroupName": "ok"}


def parsed(text: str) -> SyncPage:
    """A page read as the transport reads it: JSON numbers as exact Decimals."""
    return SyncPage.from_json(json.loads(text, parse_float=Decimal), page=1, limit=5000)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('{"offerGroupId": 1, "price": 1e309}', "larger than a price can be"),
        ('{"offerGroupId": 1, "price": "1e309"}', "larger than a price can be"),
        ('{"offerGroupId": 1, "price": 1e30}', "larger than a price can be"),
        ('{"offerGroupId": 1, "price": -5}', "price -5 is not positive"),
        ('{"offerGroupId": 1, "price": -0.01}', "price -0.01 is not positive"),
        ('{"offerGroupId": 1, "price": 0}', "price 0 is not positive"),
        ('{"offerGroupId": 1, "price": 1e-30}', "below the smallest price kept (0.0001)"),
        ('{"offerGroupId": 1180591620717411303424, "price": 1}', "not an id the catalog can hold"),
        ('{"offerGroupId": -3, "price": 1}', "not an id the catalog can hold"),
        ('{"offerGroupId": 1, "price": 1, "productId": 1180591620717411303424}', "productId"),
        ('{"offerGroupId": 1, "price": 1, "currency": "' + "X" * 60 + '"}', "60 characters"),
    ],
)
def test_a_row_the_catalog_cannot_store_is_rejected_with_its_reason(row, reason):
    page = parsed('{"count": 2, "rows": [' + row + ", " + json.dumps(GOOD) + "]}")
    good, rejected = rows.checked_rows(page.rows, page.rejected, page=3)
    assert [r.offer_id for r in good] == [1] and len(rejected) == 1
    assert rejected[0].page == 3 and rejected[0].row == 1 and reason in rejected[0].reason


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('{"offerGroupId": 1, "price": 1, "offerGroupName": {"a": 1}}', "expected text, got dict"),
        ('{"offerGroupId": 1, "price": 1, "productName": [1]}', "expected text, got list"),
        ('{"offerGroupId": 1, "price": 1, "currency": 840}', "expected text, got int"),
        ('{"offerGroupId": 1, "price": NaN}', "expected a number"),
        ('{"offerGroupId": 1, "price": "Infinity"}', "expected a number"),
        ('{"offerGroupId": 1.5, "price": 1}', "expected an integer"),
        ('{"offerGroupId": 1}', "'price' is missing"),
    ],
)
def test_a_row_that_cannot_be_read_is_rejected_by_the_client_with_its_reason(row, reason):
    page = parsed('{"count": 2, "rows": [' + json.dumps(GOOD) + ", " + row + "]}")
    good, rejected = rows.checked_rows(page.rows, page.rejected, page=1)
    assert len(good) == 1 and len(rejected) == 1
    assert rejected[0].row == 2 and reason in rejected[0].reason


def test_rows_are_numbered_as_on_the_page_whichever_step_rejected_them():
    page = parsed(
        '{"rows": [{"price": 1}, {"offerGroupId": 2, "price": -1}, {"offerGroupId": 3, '
        '"price": 2}, {"offerGroupId": 4, "price": {}}, {"offerGroupId": 5, "price": 1e30}]}'
    )
    good, rejected = rows.checked_rows(page.rows, page.rejected, page=1)
    assert [r.offer_id for r in good] == [3]
    assert [(r.row, r.offer_id) for r in rejected] == [(1, None), (2, 2), (4, 4), (5, 5)]


def test_the_limits_are_the_offer_columns():
    price = Offer._meta.get_field("price")
    assert rows.SMALLEST_PRICE == Decimal("0.0001") == Decimal(1).scaleb(-price.decimal_places)
    assert rows.LARGEST_PRICE == Decimal("99999999999999.9999")
    assert rows.CURRENCY_LENGTH == Offer._meta.get_field("currency").max_length == 8
    assert rows.row_problem(parsed('{"rows": [' + json.dumps(GOOD) + "]}").rows[0]) is None


def test_a_huge_offer_id_is_kept_as_text_in_the_jobs_list():
    rejection = rows.Rejection(page=1, row=1, offer_id=2**70, reason="x")
    assert rejection.as_json()["offer_id"] == str(2**70)
    assert rows.Rejection(1, 2, 5, "y", "Top Up").as_json() == {
        "category": "Top Up",
        "page": 1,
        "row": 2,
        "offer_id": 5,
        "reason": "y",
    }
