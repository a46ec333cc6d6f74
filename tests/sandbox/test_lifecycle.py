"""Top-up life cycles, refunds exactly once, and money staying exact under concurrency."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests

from tests.sandbox.conftest import Partner, decode

CUSTOMER = {"gameUserId": "52357322414"}


def wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.time()))


def test_top_up_goes_submitted_processing_completed(partner, find_offer, sandbox):
    sandbox.admin(
        "POST",
        "/sandbox/settings",
        {"topup_delay_seconds": 1.5, "cancel_share": 0, "fail_share": 0},
    )
    offer = find_offer(kind="topup", req_server="false", settlement="MIXED")
    start = time.time()
    order = partner.buy(offer["offerId"], "life-1", CUSTOMER)
    assert order["status"] == "SUBMITTED"
    assert order["isReturnDataForCustomer"] is False and "key" not in order
    cost = -partner.ledger()["transactions"][0]["amount"]
    assert partner.balance()["draftBalance"] == cost
    wait_until(start + 0.75)
    assert partner.status(orderId=order["orderId"])["status"] == "PROCESSING"
    wait_until(start + 1.7)
    final = partner.status(orderId=order["orderId"])
    assert final["status"] == "COMPLETED" and "message" not in final
    balance = partner.balance()
    assert balance["draftBalance"] == 0
    assert balance["balance"] == Decimal(1000) - cost
    assert [row["type"] for row in partner.ledger()["transactions"]] == ["PURCHASE", "DEPOSIT"]


def _failing_order(partner, find_offer, sandbox, share: str, tx: str):
    sandbox.admin(
        "POST",
        "/sandbox/settings",
        {"topup_delay_seconds": 0.8, "cancel_share": 0, "fail_share": 0, share: 1},
    )
    offer = find_offer(kind="topup", req_server="false", settlement="MIXED")
    start = time.time()
    order = partner.buy(offer["offerId"], tx, CUSTOMER)
    return order, start


def test_canceled_top_up_is_refunded_exactly_once_under_concurrent_reads(
    make_partner, find_offer, sandbox
):
    partner = make_partner()
    order, start = _failing_order(partner, find_offer, sandbox, "cancel_share", "cancel-1")
    assert order["status"] == "SUBMITTED"
    wait_until(start + 0.85)
    barrier = threading.Barrier(12)

    def read(n: int):
        reader = Partner(sandbox, partner.account)
        barrier.wait()
        if n % 3 == 0:
            return reader.status(transactionId="cancel-1")["status"]
        if n % 3 == 1:
            return str(reader.balance()["balance"])
        return reader.ledger()["total"]

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(read, range(12)))
    final = partner.status(orderId=order["orderId"])
    assert final["status"] == "CANCELED" and final["message"]
    rows = partner.ledger()["transactions"]
    assert [row["type"] for row in rows] == ["REFUND", "PURCHASE", "DEPOSIT"]
    assert rows[0]["amount"] == -rows[1]["amount"]
    assert rows[0]["description"].startswith("Refund - ")
    assert partner.balance() == {**partner.balance(), "balance": 1000, "draftBalance": 0}
    assert partner.orders()[0]["refunded"] is True


def test_failed_top_up_is_refunded_even_when_only_the_ledger_is_read(partner, find_offer, sandbox):
    order, start = _failing_order(partner, find_offer, sandbox, "fail_share", "fail-1")
    wait_until(start + 0.9)
    rows = partner.ledger()["transactions"]  # the ledger is read before the order
    assert [row["type"] for row in rows] == ["REFUND", "PURCHASE", "DEPOSIT"]
    assert rows[0]["balanceAfter"] == 1000
    final = partner.status(transactionId="fail-1")
    assert final["status"] == "FAILED" and final["message"]
    assert partner.ledger()["total"] == 3


def test_settings_change_does_not_move_placed_orders(partner, find_offer, sandbox):
    sandbox.admin(
        "POST",
        "/sandbox/settings",
        {"topup_delay_seconds": 0.5, "cancel_share": 0, "fail_share": 0},
    )
    offer = find_offer(kind="topup", req_server="false", settlement="MIXED")
    order = partner.buy(offer["offerId"], "fixed-1", CUSTOMER)
    sandbox.admin("POST", "/sandbox/settings", {"topup_delay_seconds": 600})
    time.sleep(0.6)
    assert partner.status(orderId=order["orderId"])["status"] == "COMPLETED"


def test_parallel_orders_keep_the_balance_exact(make_partner, find_offer, sandbox):
    offer = find_offer(kind="key", settlement="MIXED", currency="USD")
    unit = offer["price"]
    partner = make_partner(balance=unit * 10)
    barrier = threading.Barrier(8)

    def attempt(n: int) -> int:
        session = requests.Session()
        if n < 8:
            barrier.wait()
        response = session.post(
            partner.url + "/api/v1/offers/create-order",
            data=(
                b'{"offerId": %d, "price": %s, "transactionId": "par-%d"}'
                % (offer["offerId"], str(unit).encode(), n)
            ),
            headers={"Authorization": partner.token},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(24)))
    assert codes.count(200) == 10
    assert codes.count(402) == 14
    assert partner.balance()["balance"] == 0
    ledger = partner.ledger()
    assert ledger["total"] == 11
    rows = list(reversed(ledger["transactions"]))
    for before, after in zip(rows, rows[1:], strict=False):
        assert after["balanceAfter"] == before["balanceAfter"] + after["amount"]
    assert len(partner.orders()) == 10


def test_parallel_retries_of_one_transaction_create_one_order(partner, find_offer):
    offer = find_offer(kind="key", settlement="MIXED")
    price = partner.find_one(offer["offerId"])["price"]

    def attempt(_: int) -> int:
        return (
            Partner(partner.sandbox, partner.account)
            .create(offer["offerId"], price, "same-tx")
            .status_code
        )

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(16)))
    assert sorted(codes) == [200] + [409] * 15
    assert len(partner.orders()) == 1
    purchases = partner.sandbox.admin(
        "GET", f"/sandbox/accounts/{partner.token}/purchases", params={"transactionId": "same-tx"}
    )
    assert purchases["count"] == 1 and purchases["charged"] == 1


def test_cancel_share_is_drawn_reproducibly(make_partner, find_offer, sandbox):
    sandbox.admin(
        "POST",
        "/sandbox/settings",
        {"topup_delay_seconds": 0, "cancel_share": 0.5, "fail_share": 0},
    )
    offer = find_offer(kind="topup", req_server="false", settlement="MIXED")
    partner = make_partner()
    statuses = [partner.buy(offer["offerId"], f"mix-{n}", CUSTOMER)["status"] for n in range(30)]
    assert set(statuses) == {"COMPLETED", "CANCELED"}
    canceled = statuses.count("CANCELED")
    rows = partner.ledger(limit=100)["transactions"]
    assert sum(1 for row in rows if row["type"] == "REFUND") == canceled
    assert (
        decode(partner.post("/api/v1/offers/order-status", {"transactionId": "mix-0"}))["status"]
        == statuses[0]
    )
