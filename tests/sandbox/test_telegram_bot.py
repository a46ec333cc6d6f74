"""Telegram Bot API ``sendCustomRequest`` / ``reportGiftPurchase`` validation and storage."""

from __future__ import annotations

import uuid

import pytest
import requests

SINGLE = {
    "transaction_id": "9f3c2d4a-6e5b-4c7a-9f1d-2b8e3a6c4f10",
    "transaction_date": 1770373392,
    "amount": 5000000000000,
    "currency": "TON",
    "sale_type": "offer",
    "gift_name": "plushpepe-1",
    "buyer_id": 123456789,
    "recipient_id": 987654321,
    "seller_id": 555444333,
}
MULTIPLE = {
    "transaction_id": "c1a7b9e2-3d44-4f6a-bc21-8d7e5f9a2c33",
    "transaction_date": 1770373403,
    "amount": 5000000,
    "currency": "USD",
    "sale_type": "listing",
    "gift_names": ["plushpepe-1", "plushpepe-27", "durovscap-1010"],
    "buyer_id": 123456789,
}


@pytest.fixture
def bot(sandbox):
    token = f"{uuid.uuid4().int % 10**9}:AAH{uuid.uuid4().hex}"
    sandbox.admin("POST", "/sandbox/telegram/bots", {"token": token})

    def send(body, token_override=None):
        return requests.post(
            f"{sandbox.url}/bot{token_override or token}/sendCustomRequest", json=body, timeout=10
        )

    send.token = token
    return send


def report(params):
    return {"method": "reportGiftPurchase", "parameters": params}


def test_document_examples_are_accepted_and_stored(bot, sandbox):
    for params in (SINGLE, MULTIPLE):
        response = bot(report(params))
        assert response.status_code == 200
        assert response.json() == {"ok": True, "result": True}
    stored = sandbox.admin("GET", "/sandbox/telegram/reports", params={"bot": bot.token})
    assert [r["transaction_id"] for r in stored["reports"]] == [
        SINGLE["transaction_id"],
        MULTIPLE["transaction_id"],
    ]
    assert stored["reports"][0]["parameters"] == SINGLE


def test_transaction_id_is_unique_per_bot(bot, sandbox):
    assert bot(report(SINGLE)).json()["ok"] is True
    again = bot(report(SINGLE))
    assert again.status_code == 400
    assert again.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: TRANSACTION_ID_DUPLICATE",
    }
    other = "42:AAHother" + uuid.uuid4().hex
    sandbox.admin("POST", "/sandbox/telegram/bots", {"token": other})
    assert bot(report(SINGLE), token_override=other).json()["ok"] is True


def test_unknown_bot_token_is_unauthorized(bot):
    response = bot(report(SINGLE), token_override="1:unknown")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


@pytest.mark.parametrize(
    "change",
    [
        {"transaction_id": ""},
        {"transaction_id": "x" * 65},
        {"transaction_id": 12345},
        {"transaction_date": "1770373392"},
        {"transaction_date": 1770373392.5},
        {"amount": 0},
        {"amount": -5},
        {"amount": 1.45},
        {"amount": "145"},
        {"currency": "EUR"},
        {"currency": "usd"},
        {"sale_type": "gift"},
        {"gift_names": ["a"]},  # both gift_name and gift_names
        {"gift_name": None},  # neither
        {"gift_name": ""},
        {"buyer_id": "123"},
        {"buyer_id": None},
        {"seller_id": 1.5},
        {"recipient_id": "987654321"},
        {"buyer_id": True},
    ],
)
def test_each_field_is_validated(bot, change):
    params = {**SINGLE, "transaction_id": uuid.uuid4().hex, **change}
    response = bot(report(params))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ")


def test_boundaries_that_are_valid(bot):
    params = {**MULTIPLE, "transaction_id": "x" * 64, "amount": 1}
    del params["sale_type"]
    assert bot(report(params)).json()["ok"] is True
    assert bot(report({**SINGLE, "transaction_id": "y"})).json()["ok"] is True


def test_method_and_parameters_are_required(bot):
    for body in (
        {"method": "reportGiftSale", "parameters": SINGLE},
        {"parameters": SINGLE},
        {"method": "reportGiftPurchase"},
        {"method": "reportGiftPurchase", "parameters": [1]},
    ):
        response = bot(body)
        assert response.status_code == 400
        assert response.json()["ok"] is False
