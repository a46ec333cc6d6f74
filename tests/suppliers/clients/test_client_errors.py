"""classify_error_body: documented codes under every envelope and status, kinds, unknown errors."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suppliers.clients import (
    AMBIGUOUS,
    DOCUMENTED_CODES,
    ERRORS_BY_CODE,
    REFUSAL,
    TRANSIENT,
    BalanceUnavailable,
    InsufficientBalance,
    InvalidRequestBody,
    InvalidToken,
    OfferNotFound,
    OrderAlreadyCanceled,
    OrderAlreadyRefunded,
    OrderNotCompleted,
    OrderNotFound,
    OrderNotProcessing,
    OrderOutcomeUnknown,
    OutOfStock,
    ServiceUnavailable,
    SupplierBadResponse,
    SupplierError,
    TransactionDuplicate,
    UnknownSupplierError,
    WrongPrice,
    classify_error_body,
)

EXPECTED = {
    "INVALID_TOKEN": (InvalidToken, REFUSAL),
    "OFFER_NOT_FOUND": (OfferNotFound, REFUSAL),
    "TRANSACTION_DUPLICATE": (TransactionDuplicate, REFUSAL),
    "WRONG_PRICE": (WrongPrice, REFUSAL),
    "ORDER_NOT_FOUND": (OrderNotFound, REFUSAL),
    "ORDER_NOT_PROCESSING": (OrderNotProcessing, TRANSIENT),
    "ORDER_NOT_COMPLETED": (OrderNotCompleted, TRANSIENT),
    "ORDER_ALREADY_CANCELED": (OrderAlreadyCanceled, REFUSAL),
    "ORDER_ALREADY_REFUNDED": (OrderAlreadyRefunded, REFUSAL),
    "SERVICE_UNAVAILABLE": (ServiceUnavailable, TRANSIENT),
    "INVALID_REQUEST_BODY": (InvalidRequestBody, REFUSAL),
    "INSUFFICIENT_BALANCE": (InsufficientBalance, REFUSAL),
    "BALANCE_UNAVAILABLE": (BalanceUnavailable, TRANSIENT),
    "OUT_OF_STOCK": (OutOfStock, REFUSAL),
}

ENVELOPES = {
    "contract": lambda c, s: {"statusCode": s, "code": c, "message": "human text"},
    "error": lambda c, s: {"error": c},
    "errorCode": lambda c, s: {"errorCode": c, "message": "x"},
    "status": lambda c, s: {"status": c},
    "nested": lambda c, s: {"error": {"code": c, "message": "x"}},
    "nested-data": lambda c, s: {"data": {"error": {"errorCode": c}}},
    "message": lambda c, s: {"statusCode": s, "message": f"Request failed: {c} (see docs)"},
    "message-list": lambda c, s: {"message": ["first problem", f"{c}: second"]},
    "nest-error-string": lambda c, s: {"error": "Conflict", "message": f"{c}"},
    "bare-string": lambda c, s: c,
}


def test_the_documented_codes_are_exactly_the_fourteen():
    assert set(EXPECTED) == DOCUMENTED_CODES == set(ERRORS_BY_CODE)


@pytest.mark.parametrize("status", [200, 400, 402, 409, 500, 503])
@pytest.mark.parametrize("envelope", sorted(ENVELOPES))
@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_documented_code_found_under_every_envelope_and_status(code, envelope, status):
    body = json.dumps(ENVELOPES[envelope](code, status))
    error = classify_error_body(status, body)
    cls, kind = EXPECTED[code]
    assert type(error) is cls
    assert error.code == code
    assert error.kind == kind
    assert error.http_status == status
    assert error.raw_body == body
    assert code in str(error)


def test_order_and_player_statuses_are_not_errors():
    for status_value in ("SUBMITTED", "PROCESSING", "COMPLETED", "CANCELED", "FAILED", "REFUND"):
        body = {"orderId": 1, "status": status_value, "message": "Failed: SERVICE_UNAVAILABLE"}
        assert classify_error_body(200, json.dumps(body)) is None
    assert classify_error_body(200, '{"status": "VALID", "gameUserLogin": "JJJ"}') is None
    assert classify_error_body(200, '{"status": "INVALID"}') is None


def test_a_cancelled_order_message_is_not_an_error_but_a_code_member_is():
    body = {"orderId": 7, "status": "CANCELED", "code": "OUT_OF_STOCK"}
    assert isinstance(classify_error_body(200, json.dumps(body)), OutOfStock)


def test_sync_rows_are_not_walked_on_a_good_answer():
    rows = [{"offerGroupId": i, "price": 1, "status": "OUT_OF_STOCK"} for i in range(50)]
    assert classify_error_body(200, json.dumps({"count": 50, "rows": rows})) is None


def test_code_must_be_a_whole_word():
    for text in ("XOUT_OF_STOCK", "OUT_OF_STOCK_2", "out of stock", "OUT_OF_STOCKS"):
        error = classify_error_body(409, json.dumps({"message": text}))
        assert isinstance(error, UnknownSupplierError), text


def test_unknown_error_keeps_raw_body_and_kind_follows_status():
    body = json.dumps({"statusCode": 418, "code": "TEAPOT", "message": "short and stout"})
    error = classify_error_body(418, body)
    assert type(error) is UnknownSupplierError
    assert error.code is None and error.supplier_code == "TEAPOT"
    assert error.kind == REFUSAL and error.raw_body == body
    assert classify_error_body(502, body).kind == TRANSIENT
    assert classify_error_body(429, body).kind == TRANSIENT


def test_error_envelope_under_200_without_documented_code_is_unknown():
    error = classify_error_body(200, '{"error": "SOMETHING_NEW", "success": false}')
    assert type(error) is UnknownSupplierError


def test_good_answers_are_not_errors():
    assert classify_error_body(200, '{"balance": 1.5, "currency": {"code": "USD"}}') is None
    assert classify_error_body(200, '{"Europe": "os_euro", "Asia": "os_asia"}') is None
    assert classify_error_body(200, '{"offerId": 999, "price": 23.09, "currency": "KZT"}') is None


@pytest.mark.parametrize(
    "status,body,what",
    [
        (502, "<!DOCTYPE html><html><body>Bad Gateway</body></html>", "HTML"),
        (200, "<html><body>maintenance</body></html>", "HTML"),
        (200, '{"orderId": 1, "status": "COMPL', "truncated"),
        (200, "", "empty"),
        (500, "Internal Server Error", "unreadable"),
    ],
)
def test_unreadable_bodies(status, body, what):
    error = classify_error_body(status, body)
    assert isinstance(error, SupplierBadResponse)
    assert error.kind == TRANSIENT
    assert what.lower() in str(error).lower()


def test_raw_body_is_truncated_and_keys_masked():
    body = json.dumps({"code": "WRONG_PRICE", "key": "001434249936", "pad": "x" * 5000})
    error = classify_error_body(400, body)
    assert len(error.raw_body) <= 2000
    assert "001434249936" not in error.raw_body


def test_errors_pickle_and_keep_their_fields():
    error = classify_error_body(409, '{"code": "OUT_OF_STOCK", "message": "gone"}')
    error.endpoint = "/api/v1/offers/create-order"
    wrapped = OrderOutcomeUnknown("maybe", cause=error, transaction_id="tx-1")
    for original in (error, wrapped):
        copy = pickle.loads(pickle.dumps(original))  # noqa: S301 (our own bytes)
        assert type(copy) is type(original)
        assert str(copy) == str(original)
        assert copy.kind == original.kind
    assert wrapped.kind == AMBIGUOUS and wrapped.cause is error and wrapped.transaction_id == "tx-1"


# --- property tests ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
statuses = st.integers(min_value=100, max_value=599)


@settings(max_examples=200, deadline=None)
@given(status=statuses, body=json_values)
def test_random_json_bodies_never_crash(status, body):
    result = classify_error_body(status, json.dumps(body))
    assert result is None or isinstance(result, SupplierError)
    if not 200 <= status < 300:
        assert result is not None


@settings(max_examples=200, deadline=None)
@given(status=statuses, text=st.text(max_size=200) | st.binary(max_size=200))
def test_random_text_never_crashes(status, text):
    result = classify_error_body(status, text)
    assert result is None or isinstance(result, SupplierError)


_MARKERS = {"orderId", "offerId", "balance", "rows", "transactions", "valid", "key", "keys"}
_MARKERS |= {"userInfo", "status"}
plain_dicts = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in _MARKERS), json_values, max_size=4
)
placements = st.sampled_from(
    [
        lambda c: {"code": c},
        lambda c: {"error": c},
        lambda c: {"errorCode": c},
        lambda c: {"status": c},
        lambda c: {"error": {"code": c}},
        lambda c: {"message": f"failed with {c}."},
    ]
)


@st.composite
def bodies_with_a_code(draw):
    code = draw(st.sampled_from(sorted(DOCUMENTED_CODES)))
    body = draw(plain_dicts)
    leaf = draw(placements)(code)
    path = draw(
        st.lists(st.text(min_size=1, max_size=6).filter(lambda k: k not in _MARKERS), max_size=3)
    )
    container = body
    for step in path:
        child = container.get(step)
        if not isinstance(child, dict):
            child = {}
            container[step] = child
        container = child
    container.update(leaf)
    return code, body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, placed=bodies_with_a_code())
def test_a_documented_code_placed_anywhere_is_found(status, placed):
    code, body = placed
    error = classify_error_body(status, json.dumps(body))
    assert error is not None and error.code == code


@settings(max_examples=200, deadline=None)
@given(
    message=st.text(max_size=60),
    code=st.sampled_from(sorted(DOCUMENTED_CODES)),
    status_value=st.sampled_from(["SUBMITTED", "PROCESSING", "COMPLETED", "CANCELED", "FAILED"]),
)
def test_an_order_answer_is_never_an_error_whatever_its_message(message, code, status_value):
    body = {"orderId": 1, "status": status_value, "message": f"{message} {code}"}
    assert classify_error_body(200, json.dumps(body)) is None
