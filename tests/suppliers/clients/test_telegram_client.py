"""TelegramBotClient.report_gift_purchase: validation table, amounts, answers, no retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests

from suppliers.clients import (
    AMBIGUOUS,
    REFUSAL,
    TRANSIENT,
    GiftReportOutcomeUnknown,
    InvalidGiftReport,
    TelegramApiError,
    build_gift_report,
    to_smallest_units,
    ton_to_nanotons,
    usd_to_cents,
)

GOOD = dict(
    transaction_id="9f3c2d4a-6e5b-4c7a-9f1d-2b8e3a6c4f10",
    transaction_date=1770373392,
    amount=5000000000000,
    currency="TON",
    sale_type="offer",
    gift_name="plushpepe-1",
    buyer_id=123456789,
    recipient_id=987654321,
    seller_id=555444333,
)


def endpoint(env):
    return f"https://api.telegram.org/bot{env.BOT_TOKEN}/sendCustomRequest"


def test_single_gift_report_matches_the_document(tg, rsps, env):
    rsps.add("POST", endpoint(env), json={"ok": True, "result": True})
    assert tg.report_gift_purchase(**GOOD) is True
    sent = json.loads(rsps.calls[0].request.body)
    assert sent == {"method": "reportGiftPurchase", "parameters": GOOD}


def test_multiple_gifts_and_default_sale_type(tg, rsps, env):
    rsps.add("POST", endpoint(env), json={"ok": True, "result": True})
    tg.report_gift_purchase(
        transaction_id="c1a7b9e2",
        transaction_date=datetime(2026, 2, 6, 10, 23, 23, tzinfo=UTC),
        amount=usd_to_cents(Decimal("50000.00")),
        currency="USD",
        gift_names=["plushpepe-1", "plushpepe-27", "durovscap-1010"],
        buyer_id=123456789,
    )
    params = json.loads(rsps.calls[0].request.body)["parameters"]
    assert params == {
        "transaction_id": "c1a7b9e2",
        "transaction_date": 1770373403,
        "amount": 5000000,
        "currency": "USD",
        "sale_type": "listing",
        "gift_names": ["plushpepe-1", "plushpepe-27", "durovscap-1010"],
        "buyer_id": 123456789,
    }


def test_amount_conversions_are_exact():
    assert usd_to_cents(Decimal("1.45")) == 145
    assert usd_to_cents("19.9") == 1990
    assert ton_to_nanotons(Decimal("1.23")) == 1230000000
    assert ton_to_nanotons(Decimal("5000")) == 5000000000000
    assert ton_to_nanotons(Decimal("0.000000001")) == 1
    assert to_smallest_units(Decimal("123456789.123456789"), "ton") == 123456789123456789
    for bad, currency in [
        (Decimal("1.455"), "USD"),
        (Decimal("0.0000000001"), "TON"),
        (1.45, "USD"),
        (Decimal("0"), "USD"),
        (Decimal("-1"), "USD"),
        ("abc", "USD"),
        (Decimal("1"), "EUR"),
    ]:
        with pytest.raises(InvalidGiftReport):
            to_smallest_units(bad, currency)


INVALID = [
    ("transaction_id", "", "transaction_id"),
    ("transaction_id", "x" * 65, "transaction_id"),
    ("transaction_id", 42, "transaction_id"),
    ("transaction_date", datetime(2026, 1, 1), "timezone-aware"),
    ("transaction_date", 1770373392000, "milliseconds"),
    ("transaction_date", 1770373392.5, "transaction_date"),
    ("transaction_date", "1770373392", "transaction_date"),
    ("transaction_date", -5, "transaction_date"),
    ("amount", Decimal("50.00"), "smallest unit"),
    ("amount", 12.5, "smallest unit"),
    ("amount", 0, "positive"),
    ("amount", -100, "positive"),
    ("amount", True, "smallest unit"),
    ("currency", "EUR", "currency"),
    ("currency", None, "currency"),
    ("sale_type", "gift", "sale_type"),
    ("sale_type", None, "sale_type"),
    ("buyer_id", None, "buyer_id"),
    ("buyer_id", "123", "buyer_id"),
    ("buyer_id", 0, "buyer_id"),
    ("buyer_id", True, "buyer_id"),
    ("seller_id", "555", "seller_id"),
    ("recipient_id", 1.0, "recipient_id"),
    ("gift_name", "", "gift_name"),
    ("gift_name", None, "exactly one"),
]


@pytest.mark.parametrize("field,value,message", INVALID)
def test_invalid_reports_are_refused_before_sending(tg, rsps, field, value, message):
    fields = dict(GOOD, **{field: value})
    with pytest.raises(InvalidGiftReport, match=message):
        tg.report_gift_purchase(**fields)
    assert isinstance(InvalidGiftReport("x"), ValueError)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "names,message",
    [
        (["a", "b"], "exactly one"),  # together with gift_name
    ],
)
def test_both_gift_fields_refused(names, message):
    with pytest.raises(InvalidGiftReport, match=message):
        build_gift_report(**dict(GOOD, gift_names=names))


@pytest.mark.parametrize(
    "names,message",
    [
        (["only-one"], "gift_name for one"),
        ([], "gift_name for one"),
        ("plushpepe-1", "list"),
        (["a", ""], "non-empty"),
        (["a", "a"], "twice"),
        (["a", 3], "non-empty"),
    ],
)
def test_gift_names_validation(names, message):
    fields = dict(GOOD, gift_name=None, gift_names=names)
    with pytest.raises(InvalidGiftReport, match=message):
        build_gift_report(**fields)


def test_aware_datetime_in_any_zone_is_converted():
    moment = datetime(2026, 2, 6, 13, 23, 12, tzinfo=timezone(timedelta(hours=3)))
    params = build_gift_report(**dict(GOOD, transaction_date=moment))
    assert params["transaction_date"] == 1770373392


def test_ok_false_is_a_refusal(tg, rsps, env, rec):
    rsps.add(
        "POST",
        endpoint(env),
        status=400,
        json={"ok": False, "error_code": 400, "description": "Bad Request: duplicate"},
    )
    with pytest.raises(TelegramApiError) as caught:
        tg.report_gift_purchase(**GOOD)
    assert caught.value.kind == REFUSAL and caught.value.error_code == 400
    assert "duplicate" in str(caught.value)


def test_429_is_transient_with_retry_after_and_not_retried(tg, rsps, env, rec):
    rsps.add(
        "POST",
        endpoint(env),
        status=429,
        json={
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    with pytest.raises(TelegramApiError) as caught:
        tg.report_gift_purchase(**GOOD)
    assert caught.value.kind == TRANSIENT and caught.value.retry_after == 7
    assert len(rsps.calls) == 1 and rec.throttles == 1


def test_5xx_ok_false_is_transient(tg, rsps, env):
    rsps.add(
        "POST",
        endpoint(env),
        status=502,
        json={"ok": False, "error_code": 502, "description": "Bad Gateway"},
    )
    with pytest.raises(TelegramApiError) as caught:
        tg.report_gift_purchase(**GOOD)
    assert caught.value.kind == TRANSIENT


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(body=requests.exceptions.ReadTimeout("timed out")),
        dict(body=requests.exceptions.ConnectionError("reset")),
        dict(status=502, body="<html><body>bad gateway</body></html>"),
        dict(status=200, body='{"ok": tr'),
    ],
)
def test_transport_failures_are_ambiguous_and_not_retried(tg, rsps, env, kwargs):
    rsps.add("POST", endpoint(env), **kwargs)
    with pytest.raises(GiftReportOutcomeUnknown) as caught:
        tg.report_gift_purchase(**GOOD)
    assert caught.value.kind == AMBIGUOUS
    assert caught.value.transaction_id == GOOD["transaction_id"]
    assert len(rsps.calls) == 1
