"""GamesDropClient against a scripted server (`responses`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
import responses

from suppliers.clients import (
    AMBIGUOUS,
    ERRORS_BY_CODE,
    REFUSAL,
    TRANSIENT,
    Balance,
    GamesDropClient,
    MissingCredential,
    OfferNotFound,
    OrderOutcomeUnknown,
    ServiceUnavailable,
    SupplierBadResponse,
    SupplierUnreachable,
    TransactionDuplicate,
    UnknownSupplierError,
    WrongPrice,
)
from suppliers.clients.gamesdrop import PRODUCTION_USER_INFO_URL

FIND_ONE = {
    "offerId": 1001,
    "productName": "PUBG MOBILE GIFT",
    "offerName": "60 UC",
    "count": 1,
    "price": 560.10,
    "currency": "RUB",
    "settlementMethod": "USDT",
    "balanceProfile": "USDT",
    "isSettlementCompatible": True,
    "isReturnDataForCustomer": True,
}
FIND_ONE_TEXT = json.dumps(FIND_ONE).replace("560.1,", "560.10,")
ORDER_TEXT = (
    '{"orderId": 10222502, "count": 1, "price": 560.10, "currency": "RUB", "offerId": 1001,'
    ' "productName": "PUBG MOBILE GIFT", "offerName": "60 UC", "status": "COMPLETED",'
    ' "isReturnDataForCustomer": true, "key": "001434249936",'
    ' "createdAt": "2024-05-28 10:08:04.296+00"}'
)


def url(env, path):
    return env.BASE + path


def add(rsps, env, path, *, method="POST", status=200, body=None, **kwargs):
    if body is not None and not isinstance(body, str | Exception):
        body = json.dumps(body)
    rsps.add(method, url(env, path), status=status, body=body, **kwargs)


# --- money and numbers ----------------------------------------------------------------------------


def test_find_one_then_create_order_sends_the_price_back_digit_for_digit(gd, rsps, env):
    add(rsps, env, "/api/v1/offers/find-one", body=FIND_ONE_TEXT)
    add(rsps, env, "/api/v1/offers/create-order", body=ORDER_TEXT)

    offer = gd.find_one(1001)
    assert offer.price == Decimal("560.10") and str(offer.price) == "560.10"
    assert offer.settlement_method == "USDT" and offer.is_settlement_compatible is True
    assert offer.returns_key is True and offer.count == 1

    order = gd.create_order(1001, offer.price, "tx-0001", email="user@gmail.com")
    sent = rsps.calls[1].request.body
    assert b'"price":560.10' in sent
    assert b'"offerId":1001' in sent
    assert json.loads(sent) == {
        "offerId": 1001,
        "price": 560.1,
        "transactionId": "tx-0001",
        "customer": {"email": "user@gmail.com"},
    }
    assert order.order_id == 10222502 and order.status == "COMPLETED"
    assert order.keys == ("001434249936",) and order.key == "001434249936"
    assert order.price == Decimal("560.10")
    assert order.created_at == datetime(2024, 5, 28, 10, 8, 4, 296000, tzinfo=UTC)
    assert order.transaction_id == "tx-0001"


@pytest.mark.parametrize("bad", ["1001", True, 10.5, Decimal("1.5"), 0, -3, None])
def test_offer_id_must_be_an_integer_and_nothing_is_sent(gd, rsps, bad):
    with pytest.raises(ValueError):
        gd.find_one(bad)
    with pytest.raises(ValueError):
        gd.create_order(bad, Decimal("1.00"), "tx-1")
    assert len(rsps.calls) == 0


def test_integral_numbers_are_sent_as_json_integers(gd, rsps, env):
    add(rsps, env, "/api/v1/offers/find-one", body=FIND_ONE_TEXT)
    gd.find_one(Decimal("1001"))
    assert rsps.calls[0].request.body == b'{"offerId":1001}'


@pytest.mark.parametrize("bad", [560.1, "abc", Decimal("NaN"), Decimal("-1"), None])
def test_price_must_be_exact(gd, rsps, bad):
    with pytest.raises(ValueError):
        gd.create_order(1001, bad, "tx-1")
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("bad", ["", "  ", " tx", 5, None])
def test_transaction_id_must_be_a_string(gd, rsps, bad):
    with pytest.raises(ValueError):
        gd.create_order(1001, Decimal("1"), bad)
    assert len(rsps.calls) == 0


def test_customer_fields_only_when_given(gd, rsps, env):
    add(rsps, env, "/api/v1/offers/create-order", body=ORDER_TEXT)
    add(rsps, env, "/api/v1/offers/create-order", body=ORDER_TEXT)
    gd.create_order(1001, Decimal("560.10"), "tx-a")
    gd.create_order(1001, Decimal("560.10"), "tx-b", game_user_id=52357322414, game_server_id="eu")
    assert "customer" not in json.loads(rsps.calls[0].request.body)
    assert json.loads(rsps.calls[1].request.body)["customer"] == {
        "gameUserId": "52357322414",
        "gameServerId": "eu",
    }


# --- every endpoint --------------------------------------------------------------------------------


def test_balance(gd, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/balance",
        method="GET",
        body='{"balance": 500.25, "draftBalance": 0.00, "isPostpaid": false, '
        '"balanceProfile": "USDT", "currency": {"id": 3, "code": "USD"}, "partnerId": 123}',
    )
    balance = gd.balance()
    assert balance == Balance(Decimal("500.25"), Decimal("0.00"), False, "USDT", "USD", 123)
    assert rsps.calls[0].request.headers["Authorization"] == env.TOKEN


def test_transactions_use_the_management_credential_as_bearer(gd, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/balance/transactions",
        method="GET",
        body='{"transactions": [{"id": 12, "amount": -75.00, "type": "PURCHASE",'
        ' "description": "API Purchase", "balanceAfter": 425.00,'
        ' "createdAt": "2025-07-28T05:21:46.121Z"}], "total": 25}',
    )
    page = gd.transactions(page=2, limit=20)
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {env.MGMT}"
    assert "page=2" in request.url and "limit=20" in request.url
    row = page.transactions[0]
    assert page.total == 25 and row.id == 12 and row.type == "PURCHASE"
    assert row.amount == Decimal("-75.00") and row.balance_after == Decimal("425.00")
    assert row.created_at == datetime(2025, 7, 28, 5, 21, 46, 121000, tzinfo=UTC)
    assert row.created_at.tzinfo is not None


def test_transactions_without_management_credential(rsps, env):
    client = GamesDropClient(env.BASE, env.TOKEN)
    with pytest.raises(MissingCredential) as caught:
        client.transactions()
    assert "management credential" in str(caught.value)
    assert caught.value.kind == REFUSAL
    assert len(rsps.calls) == 0


def test_iter_transactions_pages_and_skips_shifted_duplicates(gd, rsps, env):
    def rows(*ids):
        return [
            {"id": i, "amount": -1, "type": "PURCHASE", "balanceAfter": 1, "createdAt": None}
            for i in ids
        ]

    path = "/api/v1/balance/transactions"
    add(rsps, env, path, method="GET", body={"transactions": rows(5, 4), "total": 5})
    add(rsps, env, path, method="GET", body={"transactions": rows(4, 3), "total": 6})
    add(rsps, env, path, method="GET", body={"transactions": rows(2, 1), "total": 6})
    ids = [row.id for row in gd.iter_transactions(limit=2)]
    assert ids == [5, 4, 3, 2, 1]


def test_sync_page_and_iter_sync(gd, rsps, env):
    def page(start, n, count):
        return {
            "count": count,
            "rows": [
                {
                    "productId": 5,
                    "productName": "PUBG Mobile",
                    "offerGroupId": start + i,
                    "offerGroupName": "60 UC",
                    "price": 0.99,
                    "currency": "USD",
                    "inStock": True,
                    "isRequiredGameUserId": True,
                }
                for i in range(n)
            ],
        }

    add(rsps, env, "/api/v1/offers/sync", body=page(0, 3, 7))
    add(rsps, env, "/api/v1/offers/sync", body=page(3, 3, 7))
    add(rsps, env, "/api/v1/offers/sync", body=page(6, 1, 7))
    pages = list(gd.iter_sync(limit=3, search="pubg"))
    assert [len(p.rows) for p in pages] == [3, 3, 1]
    assert [json.loads(c.request.body)["page"] for c in rsps.calls] == [1, 2, 3]
    assert json.loads(rsps.calls[0].request.body) == {"limit": 3, "page": 1, "search": "pubg"}
    row = pages[0].rows[0]
    assert row.offer_id == 0 and row.price == Decimal("0.99") and row.in_stock is True
    assert row.requires_game_user_id is True and row.requires_game_server_id is None
    with pytest.raises(ValueError):
        gd.sync_page(limit=5001)


def test_a_sync_row_that_cannot_be_read_is_set_aside_and_the_rest_of_the_page_is_read(
    gd, rsps, env
):
    good = {"offerGroupId": 7, "price": "1.50", "currency": "USD", "offerGroupName": "ok"}
    rows = [
        {"offerGroupId": 1},  # no price
        {"price": 3},  # no id
        {**good, "offerGroupId": 2, "price": "abc"},
        {**good, "offerGroupId": 3, "offerGroupName": {"en": "object"}},
        {**good, "offerGroupId": 4, "inStock": "maybe"},
        {**good, "offerGroupId": 5, "productId": "x1"},
        "not an object",
        good,
    ]
    add(rsps, env, "/api/v1/offers/sync", body={"count": 8, "rows": rows})
    page = gd.sync_page()
    assert [row.offer_id for row in page.rows] == [7]
    assert [(bad.row, bad.offer_id) for bad in page.rejected] == [
        (1, 1),
        (2, None),
        (3, 2),
        (4, 3),
        (5, 4),
        (6, 5),
        (7, None),
    ]
    reasons = [bad.reason for bad in page.rejected]
    assert "'price' is missing" in reasons[0] and "'offerGroupId' is missing" in reasons[1]
    assert "price: 'abc' is not a number" in reasons[2]
    assert reasons[3] == "offerGroupName: expected text, got dict"
    assert page.count == 8 and page.count_stated


def test_sync_rows_out_of_the_catalogs_range_are_still_read_for_the_catalog_to_judge(gd, rsps, env):
    """1e309 as a JSON number is read exactly (Decimal), not as infinity; the range is the
    catalog's to check (tests/catalog/test_rows.py)."""
    body = (
        '{"rows": [{"offerGroupId": 1, "price": 1e309}, {"offerGroupId": 2, "price": "1e309"},'
        ' {"offerGroupId": 1180591620717411303424, "price": 1}]}'
    )
    rsps.add(
        responses.POST,
        env.BASE + "/api/v1/offers/sync",
        body=body,
        content_type="application/json",
    )
    page = gd.sync_page()
    assert [row.price for row in page.rows] == [Decimal("1e309"), Decimal("1e309"), 1]
    assert page.rows[2].offer_id == 2**70 and not page.count_stated


def test_order_status_by_either_id(gd, rsps, env):
    add(rsps, env, "/api/v1/offers/order-status", body=ORDER_TEXT)
    add(
        rsps,
        env,
        "/api/v1/offers/order-status",
        body={
            "orderId": 10228902,
            "status": "CANCELED",
            "message": "Failed to deliver Stars",
            "fulfillmentData": {"delivery_status": "failed"},
            "createdAt": "2025-08-26T12:30:15.234Z",
        },
    )
    first = gd.order_status(order_id=10222502)
    second = gd.order_status(transaction_id="tx-9")
    assert json.loads(rsps.calls[0].request.body) == {"orderId": 10222502}
    assert json.loads(rsps.calls[1].request.body) == {"transactionId": "tx-9"}
    assert first.is_final and first.keys == ("001434249936",)
    assert second.status == "CANCELED" and second.message == "Failed to deliver Stars"
    assert (
        second.transaction_id == "tx-9" and second.fulfillment_data["delivery_status"] == "failed"
    )
    with pytest.raises(ValueError):
        gd.order_status()
    with pytest.raises(ValueError):
        gd.order_status(order_id=1, transaction_id="x")


def test_multi_key_order_and_partial_result(gd, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/order-status",
        body={
            "orderId": 1,
            "status": "COMPLETED",
            "count": 3,
            "isReturnDataForCustomer": True,
            "keys": ["K1", "K2"],
            "key": "K1",
        },
    )
    order = gd.order_status(order_id=1)
    assert order.keys == ("K1", "K2") and order.missing_key_count == 1
    assert "K1" not in repr(order) and "K2" not in str(order)


@pytest.mark.parametrize(
    "which,path",
    [("offers", "/api/v1/offers/servers"), ("partner", "/api/v1/partner/product-offer/servers")],
)
def test_servers_on_both_documented_paths(gd, rsps, env, which, path):
    add(rsps, env, path, body={"Europe": "os_euro", "America": "os_usa"})
    servers = gd.servers(1001, path=which)
    assert servers == (("Europe", "os_euro"), ("America", "os_usa"))
    assert servers[0].label == "Europe" and servers[0].value == "os_euro"
    assert rsps.calls[0].request.body == b'{"offerId":1001}'


def test_servers_rejects_unknown_path(gd):
    with pytest.raises(ValueError):
        gd.servers(1001, path="other")


@pytest.mark.parametrize("status", [200, 400, 404])
def test_check_game_data_valid_and_invalid(gd, rsps, env, status):
    path = "/api/v1/offers/check-game-data"
    add(rsps, env, path, body={"status": "VALID", "gameUserLogin": "JJJ"})
    add(rsps, env, path, status=status, body={"status": "INVALID"})
    valid = gd.check_game_data(1001, "52357322414", "1234")
    invalid = gd.check_game_data(1001, "nobody")
    assert valid.valid and valid.login == "JJJ"
    assert not invalid.valid and invalid.login is None
    assert json.loads(rsps.calls[0].request.body) == {
        "offerId": 1001,
        "gameUserId": "52357322414",
        "gameServerId": "1234",
    }


def test_check_game_data_error_code_still_raises(gd, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/check-game-data",
        status=404,
        body={"status": "INVALID", "code": "OFFER_NOT_FOUND"},
    )
    with pytest.raises(OfferNotFound):
        gd.check_game_data(1001, "x")


def test_telegram_user_info(gd, rsps, env):
    add(
        rsps,
        env,
        "/api/aggregator/a6/telegram/user-info",
        body={
            "valid": True,
            "username": "igoryan34",
            "message": "ok",
            "userInfo": {"id": 143594291, "first_name": "Igor", "username": "igoryan34"},
        },
    )
    add(
        rsps,
        env,
        "/api/aggregator/a6/telegram/user-info",
        body={
            "valid": True,
            "username": "igoryan34",
            "message": "not public",
            "userInfo": {"username": "igoryan34", "first_name": "igoryan34"},
        },
    )
    known = gd.telegram_user_info("@igoryan34")
    unknown = gd.telegram_user_info("igoryan34")
    assert known.user_id == 143594291 and known.first_name == "Igor"
    assert unknown.user_id is None and unknown.valid
    assert json.loads(rsps.calls[0].request.body) == {"username": "@igoryan34"}
    assert rsps.calls[0].request.headers["Authorization"] == env.TOKEN


def test_user_info_url_defaults():
    prod = GamesDropClient("https://partner.gamesdrop.io/", "t" * 32)
    assert prod.user_info_url == PRODUCTION_USER_INFO_URL
    sandbox = GamesDropClient("http://127.0.0.1:8001", "t" * 32)
    assert sandbox.user_info_url == "http://127.0.0.1:8001/api/aggregator/a6/telegram/user-info"
    custom = GamesDropClient("http://x", "t" * 32, user_info_url="http://y/u")
    assert custom.user_info_url == "http://y/u"


# --- errors through the client -------------------------------------------------------------------

CONTRACT_STATUS = {
    "INVALID_TOKEN": 401, "OFFER_NOT_FOUND": 404, "ORDER_NOT_FOUND": 404,
    "TRANSACTION_DUPLICATE": 409, "ORDER_ALREADY_CANCELED": 409, "ORDER_ALREADY_REFUNDED": 409,
    "ORDER_NOT_PROCESSING": 409, "ORDER_NOT_COMPLETED": 409, "WRONG_PRICE": 400,
    "INVALID_REQUEST_BODY": 400, "INSUFFICIENT_BALANCE": 402, "OUT_OF_STOCK": 409,
    "SERVICE_UNAVAILABLE": 503, "BALANCE_UNAVAILABLE": 503,
}  # fmt: skip


@pytest.mark.parametrize("envelope", ["contract", "error-200", "message-500"])
@pytest.mark.parametrize("code", sorted(CONTRACT_STATUS))
def test_every_code_reaches_its_error_on_a_read(gd, rsps, env, rec, code, envelope):
    status, body = {
        "contract": (CONTRACT_STATUS[code], {"statusCode": 0, "code": code, "message": "m"}),
        "error-200": (200, {"error": {"code": code}}),
        "message-500": (500, {"message": f"upstream said {code}"}),
    }[envelope]
    add(rsps, env, "/api/v1/offers/order-status", status=status, body=body)
    with pytest.raises(ERRORS_BY_CODE[code]) as caught:
        gd.order_status(order_id=1)
    error = caught.value
    assert error.code == code and error.http_status == status
    assert error.endpoint == "/api/v1/offers/order-status" and error.method == "POST"
    retried = code in ("SERVICE_UNAVAILABLE", "BALANCE_UNAVAILABLE")
    assert len(rsps.calls) == (4 if retried else 1)
    assert len(rec.sleeps) == (3 if retried else 0)
    assert rec.throttles == len(rsps.calls)


@pytest.mark.parametrize("code", sorted(CONTRACT_STATUS))
def test_every_code_on_create_order(gd, rsps, env, rec, code):
    add(
        rsps,
        env,
        "/api/v1/offers/create-order",
        status=CONTRACT_STATUS[code],
        body={"statusCode": CONTRACT_STATUS[code], "code": code, "message": "m"},
    )
    cls = ERRORS_BY_CODE[code]
    expected = cls if cls.default_kind == REFUSAL else OrderOutcomeUnknown
    with pytest.raises(expected) as caught:
        gd.create_order(1001, Decimal("560.10"), "tx-77")
    assert len(rsps.calls) == 1 and rec.sleeps == []
    if expected is OrderOutcomeUnknown:
        assert caught.value.kind == AMBIGUOUS and caught.value.transaction_id == "tx-77"
        assert type(caught.value.cause) is cls
    else:
        assert caught.value.kind == REFUSAL


FAILURES = {
    "timeout": dict(body=requests.exceptions.ReadTimeout("read timed out")),
    "connect-timeout": dict(body=requests.exceptions.ConnectTimeout("connect timed out")),
    "refused": dict(body=requests.exceptions.ConnectionError("Connection refused")),
    "reset": dict(body=requests.exceptions.ConnectionError("Connection reset by peer")),
    "dropped": dict(body=requests.exceptions.ChunkedEncodingError("Connection broken")),
    "html-502": dict(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "html-200": dict(status=200, body="<!DOCTYPE html><html><body>Login</body></html>"),
    "truncated": dict(status=200, body='{"orderId": 10222502, "status": "COMPLE'),
    "empty-500": dict(status=500, body=""),
    "unknown-code": dict(status=500, body='{"statusCode": 500, "code": "KERNEL_PANIC"}'),
}
CAUSES = {
    "timeout": SupplierUnreachable, "connect-timeout": SupplierUnreachable,
    "refused": SupplierUnreachable, "reset": SupplierUnreachable, "dropped": SupplierUnreachable,
    "html-502": SupplierBadResponse, "html-200": SupplierBadResponse,
    "truncated": SupplierBadResponse, "empty-500": SupplierBadResponse,
    "unknown-code": UnknownSupplierError,
}  # fmt: skip


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_read_failures_are_transient_and_retried(gd, rsps, env, rec, failure):
    add(rsps, env, "/api/v1/offers/balance", method="GET", **FAILURES[failure])
    with pytest.raises(CAUSES[failure]) as caught:
        gd.balance()
    assert caught.value.kind == TRANSIENT
    assert len(rsps.calls) == 4 and len(rec.sleeps) == 3
    assert rec.throttles == 4 and len(rec.requests) == 4
    assert rec.sleeps[0] <= rec.sleeps[1] <= rec.sleeps[2] <= 8.0
    assert caught.value.__context__ is None or not isinstance(
        caught.value.__context__, requests.RequestException
    )


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_create_order_failures_are_ambiguous_and_never_retried(gd, rsps, env, rec, failure):
    add(rsps, env, "/api/v1/offers/create-order", **FAILURES[failure])
    with pytest.raises(OrderOutcomeUnknown) as caught:
        gd.create_order(1001, Decimal("560.10"), "tx-amb")
    error = caught.value
    assert len(rsps.calls) == 1 and rec.sleeps == [] and rec.throttles == 1
    assert error.kind == AMBIGUOUS and error.transaction_id == "tx-amb"
    assert type(error.cause) is CAUSES[failure]
    assert "tx-amb" in str(error)


def test_create_order_2xx_without_order_id_is_ambiguous(gd, rsps, env):
    add(rsps, env, "/api/v1/offers/create-order", body={"status": "COMPLETED"})
    with pytest.raises(OrderOutcomeUnknown) as caught:
        gd.create_order(1001, Decimal("1"), "tx-x")
    assert isinstance(caught.value.cause, SupplierBadResponse)
    assert "orderId" in str(caught.value.cause)


def test_create_order_unknown_4xx_is_ambiguous_but_duplicate_is_not(gd, rsps, env):
    add(rsps, env, "/api/v1/offers/create-order", status=422, body={"message": "odd"})
    add(
        rsps,
        env,
        "/api/v1/offers/create-order",
        status=409,
        body={"statusCode": 409, "code": "TRANSACTION_DUPLICATE"},
    )
    with pytest.raises(OrderOutcomeUnknown):
        gd.create_order(1001, Decimal("1"), "tx-y")
    with pytest.raises(TransactionDuplicate):
        gd.create_order(1001, Decimal("1"), "tx-y")


def test_read_recovers_after_transient_failures(gd, rsps, env, rec):
    path = "/api/v1/offers/find-one"
    add(rsps, env, path, body=requests.exceptions.ConnectionError("reset"))
    add(rsps, env, path, status=503, body={"code": "SERVICE_UNAVAILABLE"})
    add(rsps, env, path, body=FIND_ONE_TEXT)
    offer = gd.find_one(1001)
    assert offer.offer_id == 1001
    assert len(rsps.calls) == 3 and len(rec.sleeps) == 2 and rec.throttles == 3
    assert [r[2] for r in rec.requests] == [None, 503, 200]
    assert all(r[1] == path and r[0] == "POST" for r in rec.requests)


def test_refusals_and_state_codes_on_reads_are_not_retried(gd, rsps, env, rec):
    add(rsps, env, "/api/v1/offers/find-one", status=400, body={"code": "WRONG_PRICE"})
    with pytest.raises(WrongPrice):
        gd.find_one(1001)
    assert len(rsps.calls) == 1 and rec.sleeps == []


def test_retry_after_longer_than_the_cap_stops_retrying(gd, rsps, env, rec):
    add(
        rsps,
        env,
        "/api/v1/offers/balance",
        method="GET",
        status=503,
        body={"code": "SERVICE_UNAVAILABLE"},
        headers={"Retry-After": "120"},
    )
    with pytest.raises(ServiceUnavailable) as caught:
        gd.balance()
    assert caught.value.retry_after == 120 and len(rsps.calls) == 1


def test_short_retry_after_is_honoured(gd, rsps, env, rec):
    add(
        rsps,
        env,
        "/api/v1/offers/balance",
        method="GET",
        status=429,
        body={"message": "slow down"},
        headers={"Retry-After": "5"},
    )
    add(rsps, env, "/api/v1/offers/balance", method="GET", body={"balance": 1})
    assert gd.balance().balance == Decimal(1)
    assert rec.sleeps == [5.0]


def test_max_retries_zero_sends_once(rsps, env, rec):
    client = GamesDropClient(env.BASE, env.TOKEN, max_retries=0, sleep=rec.sleep)
    add(rsps, env, "/api/v1/offers/balance", method="GET", status=502, body="<html></html>")
    with pytest.raises(SupplierBadResponse):
        client.balance()
    assert len(rsps.calls) == 1


def test_redirects_are_not_followed(gd, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/create-order",
        status=302,
        body="",
        headers={"Location": "https://elsewhere.test/login"},
    )
    with pytest.raises(OrderOutcomeUnknown) as caught:
        gd.create_order(1001, Decimal("1"), "tx-r")
    assert "redirect" in str(caught.value.cause)
    assert len(rsps.calls) == 1


def test_timeout_is_passed_on_every_call(rsps, env):
    seen = []

    class Spy(requests.Session):
        def request(self, *args, **kwargs):
            seen.append(kwargs["timeout"])
            return super().request(*args, **kwargs)

    client = GamesDropClient(env.BASE, env.TOKEN, timeout=(1.5, 9), session=Spy())
    add(rsps, env, "/api/v1/offers/balance", method="GET", body={"balance": 1})
    add(rsps, env, "/api/v1/offers/find-one", body=FIND_ONE_TEXT)
    client.balance()
    client.find_one(1001)
    assert seen == [(1.5, 9), (1.5, 9)]


def test_one_session_per_client(gd, rsps, env):
    add(rsps, env, "/api/v1/offers/balance", method="GET", body={"balance": 1})
    session = gd.transport.session
    gd.balance()
    gd.balance()
    assert gd.transport.session is session
    with gd:
        pass


@responses.activate
def test_a_failing_metrics_hook_does_not_break_the_call(env):
    def boom(*args):
        raise RuntimeError("metrics down")

    client = GamesDropClient(env.BASE, env.TOKEN, on_request=boom)
    responses.add("GET", env.BASE + "/api/v1/offers/balance", json={"balance": 2})
    assert client.balance().balance == 2
