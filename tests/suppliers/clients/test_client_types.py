"""Typed results: timestamps, exact amounts, masked keys, dumps_exact, and sync parsing speed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suppliers.clients import (
    OrderResult,
    SupplierBadResponse,
    SyncPage,
    dumps_exact,
    parse_timestamp,
)
from suppliers.clients.errors import loads


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-05-28 10:08:04.296+00", datetime(2024, 5, 28, 10, 8, 4, 296000, tzinfo=UTC)),
        ("2025-07-28T05:21:46.121Z", datetime(2025, 7, 28, 5, 21, 46, 121000, tzinfo=UTC)),
        ("2025-07-28T05:21:46Z", datetime(2025, 7, 28, 5, 21, 46, tzinfo=UTC)),
        ("2025-07-28 05:21:46", datetime(2025, 7, 28, 5, 21, 46, tzinfo=UTC)),
        (
            "2025-07-28T08:21:46+03:00",
            datetime(2025, 7, 28, 8, 21, 46, tzinfo=timezone(timedelta(hours=3))),
        ),
    ],
)
def test_timestamps_parse_aware(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is not None and parsed.utcoffset() is not None


def test_bad_timestamp_is_a_bad_response():
    with pytest.raises(SupplierBadResponse):
        parse_timestamp("yesterday")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_dumps_exact_round_trips_decimals(value):
    text = dumps_exact({"price": value})
    assert loads(text)["price"] == value
    assert str(value) in text


def test_dumps_exact_keeps_trailing_zeros_and_refuses_nan():
    assert dumps_exact({"price": Decimal("560.10")}) == '{"price":560.10}'
    assert dumps_exact([Decimal("23.09"), 1, "ü", None, True]) == '[23.09,1,"\\u00fc",null,true]'
    for bad in (Decimal("NaN"), Decimal("Infinity"), float("nan")):
        with pytest.raises(ValueError):
            dumps_exact({"x": bad})
    with pytest.raises(TypeError):
        dumps_exact({"x": object()})


def test_order_repr_masks_keys_and_raw():
    order = OrderResult.from_json(
        loads('{"orderId": 1, "status": "COMPLETED", "key": "PIN-0001-SECRET", "price": 1.10}')
    )
    assert order.key == "PIN-0001-SECRET"
    assert "PIN-0001-SECRET" not in repr(order) and "PIN-0001-SECRET" not in str(order)
    assert "<1 masked>" in repr(order)


def test_a_full_sync_page_of_5000_rows_parses_every_row():
    # How fast: tests/benchmarks/bench_supplier_sync_fetch.py (make bench), not a timed assertion.
    rows = [
        {
            "productId": i // 10,
            "productName": f"Product {i // 10}",
            "offerGroupId": 100000 + i,
            "offerGroupName": f"{i} UC",
            "price": 0.99 + i / 100,
            "currency": "USD",
            "inStock": i % 7 != 0,
            "isRequiredGameUserId": True,
            "isRequiredGameServerId": False,
        }
        for i in range(5000)
    ]
    data = loads(json.dumps({"count": 12000, "rows": rows}))
    page = SyncPage.from_json(data, page=1, limit=5000)
    assert len(page.rows) == 5000 and page.count == 12000
    assert all(isinstance(row.price, Decimal) for row in page.rows)
    assert page.rows[7].in_stock is False and page.rows[1].in_stock is True


def test_a_sync_row_count_is_read_when_the_feed_carries_one():
    """The documented sync row has no unit count; find-one's `count` name is read if it comes."""
    rows = [
        {"offerGroupId": 1, "price": 1, "count": 5},
        {"offerGroupId": 2, "price": 1},
        {"offerGroupId": 3, "price": 1, "count": "3"},
        {"offerGroupId": 4, "price": 1, "count": "many"},
    ]
    page = SyncPage.from_json(loads(json.dumps({"count": 4, "rows": rows})), page=1, limit=10)
    assert [row.count for row in page.rows] == [5, None, 3]
    assert [(bad.offer_id, "count" in bad.reason) for bad in page.rejected] == [(4, True)]
