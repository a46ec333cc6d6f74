"""The CodeGames dialect: same paths, the CodeGames document's shapes, keys fetched later."""

from __future__ import annotations

import time

from tests.sandbox.conftest import assert_error, decode


def test_find_one_shapes(make_partner, find_offer):
    partner = make_partner(kind="codegames")
    key = find_offer(kind="key", settlement="MIXED", currency="KZT")
    body = partner.find_one(key["offerId"])
    assert list(body) == [
        "offerId",
        "productName",
        "offerName",
        "price",
        "currency",
        "isReturnDataForCustomer",
    ]
    assert body["isReturnDataForCustomer"] is True
    top_up = find_offer(kind="topup", req_server="false", settlement="MIXED")
    body = partner.find_one(top_up["offerId"])
    assert body["isReturnDataForCustomer"] is False and body["required"] == ["gameUserId"]
    server = find_offer(kind="topup", req_server="true")
    assert partner.find_one(server["offerId"])["required"] == ["gameUserId", "gameServerId"]


def test_key_order_completes_with_key_and_short_status(make_partner, find_offer):
    partner = make_partner(kind="codegames")
    offer = find_offer(kind="key", settlement="MIXED")
    price = partner.find_one(offer["offerId"])["price"]
    response = partner.post(
        "/api/v1/offers/create-order",
        {"offerId": offer["offerId"], "price": price, "transactionId": "112321124214"},
    )
    body = decode(response)
    assert list(body) == [
        "orderId",
        "count",
        "price",
        "currency",
        "offerId",
        "productName",
        "offerName",
        "status",
        "key",
        "isReturnDataForCustomer",
    ]
    assert body["status"] == "COMPLETED"
    status = partner.status(orderId=body["orderId"])
    assert status == {
        "orderId": body["orderId"],
        "status": "COMPLETED",
        "isReturnDataForCustomer": True,
    }
    assert partner.call("/api/v1/offers/keys", {"orderId": body["orderId"]}) == {"key": body["key"]}


def test_keyless_completion_then_keys_endpoint(make_partner, find_offer, sandbox):
    sandbox.admin("POST", "/sandbox/settings", {"codegames_keyless_share": 1})
    partner = make_partner(kind="codegames")
    offer = find_offer(kind="key", settlement="MIXED")
    order = partner.buy(offer["offerId"], "keyless-1")
    assert order["status"] == "COMPLETED" and "key" not in order
    keys = partner.call("/api/v1/offers/keys", {"orderId": order["orderId"]})
    assert set(keys) == {"key"} and keys["key"]


def test_processing_key_order_then_keys(make_partner, find_offer, sandbox):
    sandbox.admin("POST", "/sandbox/settings", {"codegames_key_delay_seconds": 0.6})
    partner = make_partner(kind="codegames")
    offer = find_offer(kind="key", settlement="MIXED")
    start = time.time()
    order = partner.buy(offer["offerId"], "slow-key")
    assert order["status"] == "PROCESSING" and "key" not in order
    assert set(order) == {
        "orderId",
        "count",
        "price",
        "currency",
        "offerId",
        "productName",
        "offerName",
        "status",
        "isReturnDataForCustomer",
    }
    assert partner.status(orderId=order["orderId"])["status"] == "PROCESSING"
    assert_error(
        partner.post("/api/v1/offers/keys", {"orderId": order["orderId"]}),
        "ORDER_NOT_COMPLETED",
        409,
    )
    time.sleep(max(0, start + 0.65 - time.time()))
    assert partner.status(orderId=order["orderId"])["status"] == "COMPLETED"
    assert partner.call("/api/v1/offers/keys", {"orderId": order["orderId"]})["key"]


def test_top_ups(make_partner, find_offer, sandbox):
    sandbox.admin(
        "POST",
        "/sandbox/settings",
        {"topup_delay_seconds": 0.6, "cancel_share": 0, "fail_share": 1},
    )
    partner = make_partner(kind="codegames")
    offer = find_offer(kind="topup", req_server="false", settlement="MIXED")
    order = partner.buy(offer["offerId"], "cg-topup", {"gameUserId": "52357322414"})
    assert order["status"] == "PROCESSING"  # CodeGames has no SUBMITTED
    assert_error(
        partner.post("/api/v1/offers/keys", {"orderId": order["orderId"]}),
        "INVALID_REQUEST_BODY",
        400,
    )
    time.sleep(0.65)
    final = partner.status(orderId=order["orderId"])
    assert final["status"] == "REFUND" and final["message"]
    assert sandbox.admin("GET", f"/sandbox/accounts/{partner.token}")["balance"] == 1000
    sandbox.admin("POST", "/sandbox/settings", {"topup_delay_seconds": 0, "fail_share": 0})
    done = partner.buy(offer["offerId"], "cg-topup-2", {"gameUserId": "52357322414"})
    assert done["status"] == "COMPLETED" and done["isReturnDataForCustomer"] is False
    assert "key" in done  # as the document's "response without gift card" shows


def test_keys_refused_for_stars_and_unknown_orders(make_partner, find_offer, sandbox):
    partner = make_partner(kind="codegames")
    stars = find_offer(kind="stars", settlement="MIXED")
    order = partner.buy(stars["offerId"], "cg-stars", {"gameUserId": "1"})
    assert order["status"] == "CANCELED"
    assert_error(
        partner.post("/api/v1/offers/keys", {"orderId": order["orderId"]}),
        "INVALID_REQUEST_BODY",
        400,
    )
    assert_error(partner.post("/api/v1/offers/keys", {"orderId": 1}), "ORDER_NOT_FOUND", 404)


def test_orders_are_looked_up_by_order_id_only(make_partner, find_offer):
    """The CodeGames document has order-status (and keys) by orderId, nothing by transactionId."""
    partner = make_partner(kind="codegames")
    offer = find_offer(kind="key", settlement="MIXED")
    order = partner.buy(offer["offerId"], "cg-by-id")
    for path in ("/api/v1/offers/order-status", "/api/v1/offers/keys"):
        assert_error(partner.post(path, {"transactionId": "cg-by-id"}), "INVALID_REQUEST_BODY", 400)
    assert partner.status(orderId=order["orderId"])["status"] == "COMPLETED"


def test_endpoints_the_document_lacks_are_not_there(make_partner):
    partner = make_partner(kind="codegames")
    for path in (
        "/api/v1/offers/sync",
        "/api/v1/offers/servers",
        "/api/v1/offers/check-game-data",
        "/api/aggregator/a6/telegram/user-info",
    ):
        assert partner.post(path, {"offerId": 999}).status_code == 404, path
    balance = partner.session.get(
        partner.url + "/api/v1/offers/balance", headers={"Authorization": partner.token}
    )
    assert balance.status_code == 404
