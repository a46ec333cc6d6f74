"""`make chaos` counts from the supplier's own records: its pieces against a real sandbox (the
multi-minute run itself is `make chaos`, not part of the suite)."""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest
import requests

from orders.batches.reading import read_rows
from tests.conftest import SANDBOX_ADMIN_KEY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def chaos():
    loader = importlib.machinery.SourceFileLoader("chaos", str(ROOT / "bin" / "chaos"))
    spec = importlib.util.spec_from_loader("chaos", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    yield module
    del sys.modules["chaos"]


@pytest.fixture
def shop(sandbox):
    """A sandbox account with money, and a way to buy a key offer under a transactionId."""
    account = sandbox.admin("POST", "/sandbox/accounts", {"balance": 100000})
    offer = sandbox.admin(
        "GET", "/sandbox/offers", params={"kind": "key", "settlement": "MIXED", "in_stock": "true"}
    )["offers"][0]

    def buy(transaction_id: str) -> None:
        answer = requests.post(
            f"{sandbox.url}/api/v1/offers/create-order",
            json={
                "offerId": offer["offerId"],
                "price": float(offer["price"]),
                "transactionId": transaction_id,
            },
            headers={"Authorization": account["token"]},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    return account["token"], buy


def order(reference, status, *tids):
    return {"reference": reference, "status": status, "transaction_ids": list(tids)}


def test_a_clean_run_counts_every_purchase_and_misses_no_target(chaos, sandbox, shop):
    token, buy = shop
    for n in (1, 2, 3):
        buy(f"clean-{n}")
    purchases = chaos.Supplier(sandbox.url, SANDBOX_ADMIN_KEY).purchases(token)
    local = [order(f"row-{n}", "COMPLETED", f"clean-{n}") for n in (1, 2, 3)]
    figures = chaos.tally(["row-1", "row-2", "row-3"], local, purchases)
    figures.settle_seconds = 12.0
    lines, missed = chaos.report("embedded", figures, settle_limit=300)
    assert (figures.orders, figures.purchases) == (3, 3)
    assert missed == [] and figures.details == []
    assert "duplicates: 0" in lines and "seconds to settle after the last fault: 12" in lines


def test_duplicates_lost_stuck_and_disagreements_are_found_at_the_supplier(chaos, sandbox, shop):
    token, buy = shop
    buy("one-order-a")  # one order bought under two of its transactionIds: a duplicate
    buy("one-order-b")
    buy("row-twice-1")  # one file row that became two orders, both bought: a duplicate
    buy("row-twice-2")
    buy("nobody")  # a purchase no order of ours knows: lost
    buy("refused-here")  # sold by the supplier, REJECTED here: disagreeing
    purchases = chaos.Supplier(sandbox.url, SANDBOX_ADMIN_KEY).purchases(token)
    local = [
        order("row-1", "COMPLETED", "one-order-a", "one-order-b"),
        order("row-2", "COMPLETED", "row-twice-1"),
        order("row-2", "COMPLETED", "row-twice-2"),
        order("row-3", "REJECTED", "refused-here"),
        order("row-4", "UNKNOWN", "never-arrived"),  # not final: stuck
        order("row-5", "COMPLETED", "never-sent"),  # completed here, never bought: disagreeing
    ]
    rows = ["row-1", "row-2", "row-3", "row-4", "row-5", "row-6"]  # row-6 has no order: lost
    figures = chaos.tally(rows, local, purchases, http_5xx=2)
    assert figures.purchases == 6
    assert (figures.duplicates, figures.lost, figures.stuck, figures.disagreeing) == (2, 2, 1, 2)
    lines, missed = chaos.report("postgres", figures, settle_limit=300)
    assert missed == ["duplicates", "lost", "stuck", "disagreeing", "HTTP 5xx", "settled in time"]
    assert "seconds to settle after the last fault: not settled" in lines


def test_the_batch_files_are_read_by_the_product_as_one_unit_rows(chaos):
    offers = [
        {"offerId": 11, "kind": "key", "price": "4.50"},
        {"offerId": 12, "kind": "topup", "price": "1.25"},
    ]
    files = chaos.batch_files(offers, "chaos-test-", orders=5, size=2)
    assert [len(references) for _, references in files] == [2, 2, 1]
    content, references = files[0]
    rows = list(read_rows(content.encode(), "chaos.csv"))
    assert [row.values["customer_reference"] for row in rows] == references
    assert [row.values["offer_id"] for row in rows] == ["11", "12"]
    assert rows[0].values["email"] and not rows[0].values["game_user_id"]
    assert rows[1].values["game_user_id"] and not rows[1].values["email"]
    assert {row.values["quantity"] for row in rows} == {"1"}
