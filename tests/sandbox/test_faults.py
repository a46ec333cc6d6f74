"""Every fault kind, as a client meets it, and what really happened behind it."""

from __future__ import annotations

import json
import time

import pytest
import requests

from sandbox.testing import SandboxAdminError
from tests.sandbox.conftest import assert_error


@pytest.fixture
def key_offer(find_offer):
    return find_offer(kind="key", settlement="MIXED")


def add_fault(sandbox, **spec):
    return sandbox.admin("POST", "/sandbox/faults", spec)


def purchases(partner, transaction_id):
    return partner.sandbox.admin(
        "GET",
        f"/sandbox/accounts/{partner.token}/purchases",
        params={"transactionId": transaction_id},
    )


def test_http_503_then_recovers(partner, sandbox):
    add_fault(sandbox, endpoint="sync", kind="http_503", count=1, token=partner.token)
    response = partner.post("/api/v1/offers/sync", {"limit": 1})
    assert_error(response, "SERVICE_UNAVAILABLE", 503)
    assert partner.post("/api/v1/offers/sync", {"limit": 1}).status_code == 200
    fault = sandbox.admin("GET", "/sandbox/faults")["faults"][0]
    assert fault["fired"] == 1 and fault["count"] == 0


def test_after_lets_the_first_requests_through(partner, sandbox):
    add_fault(sandbox, endpoint="sync", kind="http_503", after=2, count=1, token=partner.token)
    statuses = [partner.post("/api/v1/offers/sync", {"limit": 1}).status_code for _ in range(4)]
    assert statuses == [200, 200, 503, 200]
    assert sandbox.admin("GET", "/sandbox/faults")["faults"][0]["after"] == 2


def test_slow_answers_late_but_normally(partner, sandbox):
    add_fault(sandbox, endpoint="balance", kind="slow", delay_seconds=0.4)
    start = time.monotonic()
    assert partner.balance()["balance"] == 1000
    assert time.monotonic() - start >= 0.4


def test_timeout_on_create_order_still_creates_the_order(partner, sandbox, key_offer):
    add_fault(sandbox, endpoint="create-order", kind="timeout", delay_seconds=1.5, count=1)
    price = partner.find_one(key_offer["offerId"])["price"]
    with pytest.raises(requests.Timeout):
        partner.post(
            "/api/v1/offers/create-order",
            {"offerId": key_offer["offerId"], "price": price, "transactionId": "to-1"},
            timeout=0.5,
        )
    assert purchases(partner, "to-1")["count"] == 1
    status = partner.status(transactionId="to-1")
    assert status["status"] == "COMPLETED" and status["key"]


def test_trickle_sends_the_headers_at_once_and_the_body_a_byte_at_a_time(partner, sandbox):
    add_fault(sandbox, endpoint="balance", kind="trickle", delay_seconds=0.2, count=1)
    start = time.monotonic()
    response = partner.session.get(
        partner.url + "/api/v1/offers/balance",
        headers={"Authorization": partner.token},
        stream=True,
        timeout=5,
    )
    assert response.status_code == 200 and time.monotonic() - start < 0.2
    body = b""
    for chunk in response.iter_content(chunk_size=1):
        body += chunk
        if len(body) == 3:
            # Each read gets a byte well inside a short per-read timeout, so only a deadline on
            # the whole call ends it.
            assert time.monotonic() - start >= 0.6
            break
    response.close()
    assert partner.balance()["balance"] == 1000  # count=1: the next call answers at once


def test_drop_closes_the_connection_and_nothing_happens(partner, sandbox, key_offer):
    add_fault(sandbox, endpoint="create-order", kind="drop", count=1)
    price = partner.find_one(key_offer["offerId"])["price"]
    with pytest.raises(requests.ConnectionError):
        partner.create(key_offer["offerId"], price, "drop-1")
    assert purchases(partner, "drop-1")["count"] == 0
    assert_error(
        partner.post("/api/v1/offers/order-status", {"transactionId": "drop-1"}),
        "ORDER_NOT_FOUND",
        404,
    )
    assert partner.balance()["balance"] == 1000


def test_lost_response_order_exists_and_is_found_by_transaction_id(partner, sandbox, key_offer):
    add_fault(sandbox, endpoint="create-order", kind="lost_response", count=1)
    price = partner.find_one(key_offer["offerId"])["price"]
    with pytest.raises(requests.ConnectionError):
        partner.create(key_offer["offerId"], price, "lost-1")
    found = partner.status(transactionId="lost-1")
    assert found["status"] == "COMPLETED" and found["key"]
    assert purchases(partner, "lost-1") | {"orders": None} == {
        "transactionId": "lost-1",
        "count": 1,
        "charged": 1,
        "orders": None,
    }
    assert partner.balance()["balance"] < 1000
    assert_error(
        partner.create(key_offer["offerId"], price, "lost-1"), "TRANSACTION_DUPLICATE", 409
    )


def test_html_proxy_page(partner, sandbox, key_offer):
    add_fault(sandbox, endpoint="create-order", kind="html", count=1)
    price = partner.find_one(key_offer["offerId"])["price"]
    response = partner.create(key_offer["offerId"], price, "html-1")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text
    assert purchases(partner, "html-1")["count"] == 0


def test_html_after_processing_when_asked(partner, sandbox, key_offer):
    add_fault(sandbox, endpoint="create-order", kind="html", count=1, processed=True)
    price = partner.find_one(key_offer["offerId"])["price"]
    assert partner.create(key_offer["offerId"], price, "html-2").status_code == 502
    assert purchases(partner, "html-2")["count"] == 1


def test_truncated_json(partner, sandbox, key_offer):
    add_fault(sandbox, endpoint="create-order", kind="truncated", count=1)
    price = partner.find_one(key_offer["offerId"])["price"]
    response = partner.create(key_offer["offerId"], price, "trunc-1")
    assert response.status_code == 200
    assert response.text.startswith('{"orderId":')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert purchases(partner, "trunc-1")["count"] == 1


@pytest.mark.parametrize(
    "code, status",
    [
        ("SERVICE_UNAVAILABLE", 503),
        ("BALANCE_UNAVAILABLE", 503),
        ("ORDER_NOT_PROCESSING", 409),
        ("ORDER_ALREADY_CANCELED", 409),
        ("ORDER_ALREADY_REFUNDED", 409),
        ("INSUFFICIENT_BALANCE", 402),
        ("WRONG_PRICE", 400),
    ],
)
def test_error_code_answers_the_documented_code(partner, sandbox, key_offer, code, status):
    add_fault(sandbox, endpoint="create-order", kind="error_code", code=code, count=1)
    price = partner.find_one(key_offer["offerId"])["price"]
    assert_error(partner.create(key_offer["offerId"], price, "ec-1"), code, status)
    assert purchases(partner, "ec-1")["count"] == 0


def test_error_code_follows_the_envelope_setting(partner, sandbox):
    sandbox.admin("POST", "/sandbox/settings", {"error_envelope": "errorCode"})
    add_fault(sandbox, endpoint="balance", kind="error_code", code="BALANCE_UNAVAILABLE")
    response = partner.session.get(
        partner.url + "/api/v1/offers/balance", headers={"Authorization": partner.token}
    )
    assert response.status_code == 503
    assert response.json()["errorCode"] == "BALANCE_UNAVAILABLE"


def test_fault_scoped_to_one_token(make_partner, sandbox):
    victim, bystander = make_partner(), make_partner()
    add_fault(sandbox, endpoint="*", kind="http_503", token=victim.token)
    assert victim.post("/api/v1/offers/find-one", {"offerId": 999}).status_code == 503
    assert bystander.find_one(999)["offerId"] == 999


def test_probability_is_reproducible_with_a_seed(partner, sandbox):
    def run() -> list[int]:
        sandbox.admin("DELETE", "/sandbox/faults")
        add_fault(sandbox, endpoint="find-one", kind="http_503", probability=0.5, seed=7)
        return [
            partner.post("/api/v1/offers/find-one", {"offerId": 999}).status_code for _ in range(30)
        ]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 503}


def test_faults_are_listed_and_removed(sandbox):
    fault = add_fault(sandbox, endpoint="sync", kind="slow", delay_seconds=0.1)
    listed = sandbox.admin("GET", "/sandbox/faults")["faults"]
    assert [f["id"] for f in listed] == [fault["id"]]
    assert listed[0]["kind"] == "slow" and listed[0]["probability"] == 1
    sandbox.admin("DELETE", f"/sandbox/faults/{fault['id']}")
    assert sandbox.admin("GET", "/sandbox/faults")["faults"] == []
    with pytest.raises(SandboxAdminError) as caught:
        add_fault(sandbox, endpoint="nowhere", kind="slow")
    assert caught.value.status == 400
    with pytest.raises(SandboxAdminError):
        add_fault(sandbox, endpoint="sync", kind="error_code")


def test_telegram_faults(sandbox):
    token = "77:AAHfaults"
    sandbox.admin("POST", "/sandbox/telegram/bots", {"token": token})
    add_fault(sandbox, endpoint="telegram", kind="error_code", code="429", delay_seconds=3, count=1)
    url = f"{sandbox.url}/bot{token}/sendCustomRequest"
    body = {
        "method": "reportGiftPurchase",
        "parameters": {
            "transaction_id": "tf-1",
            "transaction_date": 1770373392,
            "amount": 145,
            "currency": "USD",
            "gift_name": "plushpepe-1",
            "buyer_id": 1,
        },
    }
    limited = requests.post(url, json=body, timeout=10)
    assert limited.status_code == 429
    assert limited.json()["parameters"]["retry_after"] == 3
    add_fault(sandbox, endpoint="telegram", kind="lost_response", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=body, timeout=10)
    again = requests.post(url, json=body, timeout=10)  # the lost report did land
    assert again.json()["description"] == "Bad Request: TRANSACTION_ID_DUPLICATE"
    requests_seen = sandbox.admin("GET", "/sandbox/requests", params={"endpoint": "telegram"})
    assert all(token not in r["path"] for r in requests_seen["requests"])


def test_faults_never_touch_the_admin_api(sandbox, partner):
    add_fault(sandbox, endpoint="*", kind="drop")
    assert sandbox.admin("GET", "/sandbox/settings")["topup_delay_seconds"] == 20
    with pytest.raises(requests.ConnectionError):
        partner.balance()
    assert sandbox.admin("GET", f"/sandbox/accounts/{partner.token}")["balance"] == 1000
