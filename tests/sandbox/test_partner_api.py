"""The GamesDrop Partner API as the document shows it: shapes, field names, offer 999, errors."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.sandbox.conftest import assert_error, decode

ORDER_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+00$")
LEDGER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FX = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "RUB": Decimal("0.011"),
    "KZT": Decimal("0.0021"),
    "TRY": Decimal("0.031"),
}


def usd_cost(price: Decimal, currency: str, count: int = 1) -> Decimal:
    return (price * FX[currency]).quantize(Decimal("0.01")) * count


# -- balance and ledger ---------------------------------------------------------------------


def test_balance_has_the_documented_fields(make_partner):
    partner = make_partner(balance_profile="USDT", balance=500.25)
    body = partner.balance()
    assert set(body) == {
        "balance",
        "draftBalance",
        "isPostpaid",
        "balanceProfile",
        "currency",
        "partnerId",
    }
    assert body["balance"] == Decimal("500.25")
    assert body["draftBalance"] == 0
    assert body["isPostpaid"] is False
    assert body["balanceProfile"] == "USDT"
    assert body["currency"] == {"id": 3, "code": "USD"}
    assert isinstance(body["partnerId"], int)
    assert body["partnerId"] == partner.account["partnerId"]


def test_transactions_use_the_management_credential(partner):
    url = partner.url + "/api/v1/balance/transactions"
    bare = partner.session.get(url, headers={"Authorization": partner.management})
    assert bare.status_code == 200
    bearer = partner.session.get(url, headers={"Authorization": f"Bearer {partner.management}"})
    assert bearer.json() == bare.json()
    assert_error(
        partner.session.get(url, headers={"Authorization": partner.token}), "INVALID_TOKEN", 401
    )
    body = decode(bare)
    assert set(body) == {"transactions", "total"}
    row = body["transactions"][0]
    assert set(row) == {"id", "amount", "type", "description", "balanceAfter", "createdAt"}
    assert row["type"] == "DEPOSIT" and row["amount"] == Decimal("1000.00")
    assert LEDGER_TIME.match(row["createdAt"])


def test_web_balance_path_wants_the_management_credential(partner):
    url = partner.url + "/api/v1/balance"
    assert_error(
        partner.session.get(url, headers={"Authorization": partner.token}), "INVALID_TOKEN", 401
    )
    web = partner.session.get(url, headers={"Authorization": f"Bearer {partner.management}"})
    assert web.json()["balance"] == 1000


def test_ledger_is_newest_first_paged_and_chained(partner, find_offer):
    offer = find_offer(kind="key", settlement="MIXED")
    for n in range(4):
        partner.buy(offer["offerId"], f"chain-{n}")
    partner.sandbox.admin("POST", f"/sandbox/accounts/{partner.token}/deposit", {"amount": 12.5})
    full = partner.ledger()
    assert full["total"] == 6
    rows = full["transactions"]
    assert [row["id"] for row in rows] == sorted((row["id"] for row in rows), reverse=True)
    assert [row["type"] for row in rows] == ["DEPOSIT"] + ["PURCHASE"] * 4 + ["DEPOSIT"]
    chronological = list(reversed(rows))
    for before, after in zip(chronological, chronological[1:], strict=False):
        assert after["balanceAfter"] == before["balanceAfter"] + after["amount"]
    assert rows[0]["balanceAfter"] == partner.balance()["balance"]
    page2 = partner.ledger(page=2, limit=2)["transactions"]
    assert [row["id"] for row in page2] == [row["id"] for row in rows[2:4]]
    purchase = rows[1]
    assert purchase["amount"] < 0
    assert purchase["description"] == (
        f"API Purchase - {offer['productName']} {offer['offerName']}"
    )


# -- find-one and sync ----------------------------------------------------------------------


def test_find_one_has_the_documented_fields(make_partner, find_offer):
    partner = make_partner(balance_profile="USDT")
    offer = find_offer(kind="key", settlement="USDT")
    body = partner.find_one(offer["offerId"])
    assert list(body) == [
        "offerId",
        "productName",
        "offerName",
        "count",
        "price",
        "currency",
        "settlementMethod",
        "balanceProfile",
        "isSettlementCompatible",
        "isReturnDataForCustomer",
    ]
    assert body["offerId"] == offer["offerId"]
    assert body["settlementMethod"] == "USDT"
    assert body["balanceProfile"] == "USDT"
    assert body["isSettlementCompatible"] is True
    assert body["isReturnDataForCustomer"] is True
    assert body["price"] == offer["price"]


def test_sync_rows_paging_and_order(partner, sandbox):
    first = partner.sync(limit=100, page=1)
    second = partner.sync(limit=100, page=2)
    assert first["count"] == second["count"] == 500  # a MIXED partner sees every offer
    row = first["rows"][0]
    assert set(row) == {
        "productId",
        "productName",
        "offerGroupId",
        "offerGroupName",
        "price",
        "currency",
        "inStock",
        "isRequiredGameUserId",
        "isRequiredGameServerId",
    }
    ids = [r["offerGroupId"] for r in first["rows"] + second["rows"]]
    assert ids == sorted(ids) and len(set(ids)) == 200
    everything = partner.sync()  # default limit 1000, page 1
    assert len(everything["rows"]) == 500
    assert [r["offerGroupId"] for r in everything["rows"][:200]] == ids
    assert partner.sync(limit=100, page=6)["rows"] == []
    assert partner.sync(limit=5000)["count"] == 500
    assert_error(partner.post("/api/v1/offers/sync", {"limit": 5001}), "INVALID_REQUEST_BODY", 400)
    assert_error(partner.post("/api/v1/offers/sync", {"page": 0}), "INVALID_REQUEST_BODY", 400)
    assert partner.post("/api/v1/offers/sync").json()["count"] == 500  # empty body: defaults


def test_sync_search_and_category_filters(partner):
    found = partner.sync(search="GENSHIN", limit=5000)
    assert found["count"] > 0
    assert all("genshin" in row["productName"].lower() for row in found["rows"])
    top_up = partner.sync(category="Top Up", limit=5000)
    assert partner.sync(category="TOP_UP", limit=5000) == top_up
    gift = partner.sync(category="Gift Cards", limit=5000)
    assert partner.sync(category="GIFT_CARD", limit=5000) == gift
    assert top_up["count"] + gift["count"] == 500
    assert all(row["isRequiredGameUserId"] for row in top_up["rows"])
    assert partner.sync(category="Vouchers")["count"] == 0
    stars = partner.sync(search="Telegram Stars")["rows"]
    assert [row["offerGroupName"] for row in stars] == [
        "50 Stars",
        "100 Stars",
        "500 Stars",
        "1000 Stars",
    ]
    combined = partner.sync(search="genshin", category="Top Up", limit=5000)
    assert combined["count"] == found["count"]  # Genshin is only sold as a top-up


@pytest.mark.parametrize("profile, hidden", [("FIAT", "USDT"), ("USDT", "FIAT")])
def test_profiles_hide_incompatible_offers(make_partner, find_offer, sandbox, profile, hidden):
    partner = make_partner(balance_profile=profile)
    rows = partner.sync(limit=5000)["rows"]
    methods = {
        o["offerId"]: o["settlementMethod"]
        for o in sandbox.admin("GET", "/sandbox/offers", params={"limit": 1000})["offers"]
    }
    seen = {methods[row["offerGroupId"]] for row in rows}
    assert seen == {profile, "MIXED"}
    assert len(rows) == sum(1 for m in methods.values() if m != hidden)
    assert 999 in {row["offerGroupId"] for row in rows}
    incompatible = find_offer(kind="key", settlement=hidden)
    assert_error(
        partner.post("/api/v1/offers/find-one", {"offerId": incompatible["offerId"]}),
        "OFFER_NOT_FOUND",
        404,
    )
    assert_error(
        partner.create(incompatible["offerId"], incompatible["price"], "x-1"),
        "OFFER_NOT_FOUND",
        404,
    )
    assert partner.orders() == []


# -- create-order and order-status ----------------------------------------------------------


def test_create_order_for_a_key_matches_the_document(partner, find_offer):
    offer = find_offer(kind="key", settlement="MIXED", currency="RUB")
    price = partner.find_one(offer["offerId"])["price"]
    response = partner.create(
        offer["offerId"],
        price,
        "test112321124214",
        {"email": "user@gmail.com", "gameUserId": "52357322414"},
    )
    assert response.status_code == 200, response.text
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
        "isReturnDataForCustomer",
        "isRequiredGameUserId",
        "isRequiredGameServerId",
        "key",
        "createdAt",
    ]
    assert body["status"] == "COMPLETED" and body["key"]
    assert body["price"] == price and body["currency"] == "RUB"
    assert ORDER_TIME.match(body["createdAt"])
    assert isinstance(body["orderId"], int)
    by_id = partner.status(orderId=body["orderId"])
    by_tx = partner.status(transactionId="test112321124214")
    assert by_id == by_tx == body
    cost = usd_cost(price, "RUB")
    assert partner.balance()["balance"] == Decimal("1000") - cost
    assert partner.ledger()["transactions"][0]["amount"] == -cost


def test_offer_999_is_the_documented_test_offer(partner):
    body = partner.find_one(999)
    assert body == {
        "offerId": 999,
        "productName": "Steam US",
        "offerName": "TEST OFFER GROUP",
        "count": 1,
        "price": Decimal("23.09"),
        "currency": "KZT",
        "settlementMethod": "MIXED",
        "balanceProfile": "MIXED",
        "isSettlementCompatible": True,
        "isReturnDataForCustomer": True,
    }
    response = partner.post(
        "/api/v1/offers/create-order",
        raw=(
            b'{"offerId": 999, "price": 23.09, "transactionId": "test_123456", '
            b'"customer": {"email": "test@example.com", "gameUserId": "123456789"}}'
        ),
    )
    order = decode(response)
    assert response.status_code == 200
    assert order["status"] == "COMPLETED" and order["key"]
    assert order["productName"] == "Steam US" and order["offerName"] == "TEST OFFER GROUP"
    assert partner.balance()["balance"] == 1000
    assert partner.ledger()["total"] == 1  # only the opening deposit
    for user_id in ("x", "1", "not a player"):
        check = partner.call(
            "/api/v1/offers/check-game-data", {"offerId": 999, "gameUserId": user_id}
        )
        assert check["status"] == "VALID"
    assert_error(partner.create(999, Decimal("23.1"), "test_wrong"), "WRONG_PRICE", 400)
    assert_error(partner.create(999, Decimal("23.09"), "test_123456"), "TRANSACTION_DUPLICATE", 409)
    for profile in ("FIAT", "USDT"):
        partner.sandbox.admin(
            "POST", f"/sandbox/accounts/{partner.token}", {"balance_profile": profile}
        )
        assert partner.find_one(999)["offerId"] == 999


def test_price_is_a_confirmation_compared_as_decimal(partner, find_offer, sandbox):
    offer = find_offer(kind="key", settlement="MIXED", currency="RUB")
    sandbox.admin("POST", f"/sandbox/offers/{offer['offerId']}", {"price": "560.10"})
    raw = partner.post("/api/v1/offers/find-one", {"offerId": offer["offerId"]}).text
    assert '"price":560.10' in raw
    response = partner.post(
        "/api/v1/offers/create-order",
        raw=(b'{"offerId": %d, "price": 560.1, "transactionId": "dec-1"}' % offer["offerId"]),
    )
    assert response.status_code == 200, response.text
    assert '"price":560.10' in response.text
    assert_error(partner.create(offer["offerId"], Decimal("560.11"), "dec-2"), "WRONG_PRICE", 400)
    assert_error(partner.create(offer["offerId"], Decimal("560.09"), "dec-3"), "WRONG_PRICE", 400)


def test_bundle_offers_return_count_keys_and_cost_count_units(partner, find_offer):
    offer = find_offer(kind="key", min_count=3)
    partner.sandbox.admin(
        "POST", f"/sandbox/accounts/{partner.token}", {"balance_profile": "MIXED"}
    )
    found = partner.find_one(offer["offerId"])
    assert found["count"] == offer["count"]
    order = partner.buy(offer["offerId"], "bundle-1")
    assert order["count"] == offer["count"]
    assert len(order["keys"]) == offer["count"] and order["key"] == order["keys"][0]
    assert len(set(order["keys"])) == offer["count"]
    cost = usd_cost(found["price"], found["currency"], offer["count"])
    ledger = partner.ledger()
    assert ledger["total"] == 2
    assert ledger["transactions"][0]["amount"] == -cost


def test_partial_share_completes_with_fewer_keys_and_refunds_the_rest(partner, find_offer, sandbox):
    sandbox.admin("POST", "/sandbox/settings", {"partial_share": 1})
    offer = find_offer(kind="key", min_count=3)
    found = partner.find_one(offer["offerId"])
    order = partner.buy(offer["offerId"], "partial-1")
    assert order["status"] == "COMPLETED"
    assert 1 <= len(order["keys"]) < offer["count"]
    unit = usd_cost(found["price"], found["currency"])
    rows = partner.ledger()["transactions"]
    assert [row["type"] for row in rows[:2]] == ["REFUND", "PURCHASE"]
    assert rows[0]["amount"] == unit * (offer["count"] - len(order["keys"]))
    assert rows[0]["description"].startswith("Partial refund - ")


def test_keys_are_fresh_codes(partner, find_offer):
    offer = find_offer(kind="key", settlement="MIXED")
    keys = {partner.buy(offer["offerId"], f"fresh-{n}")["key"] for n in range(5)}
    assert len(keys) == 5


# -- errors ---------------------------------------------------------------------------------


def test_invalid_token(partner):
    for token in ("nope", "", f"Bearer {partner.token}"):
        assert_error(
            partner.post("/api/v1/offers/find-one", {"offerId": 999}, token=token),
            "INVALID_TOKEN",
            401,
        )
    response = partner.session.get(partner.url + "/api/v1/offers/balance")
    assert_error(response, "INVALID_TOKEN", 401)


@pytest.mark.parametrize(
    "body",
    [
        {"offerId": "999", "price": 23.09, "transactionId": "s-1"},
        {"offerId": 999.5, "price": 23.09, "transactionId": "s-2"},
        {"price": 23.09, "transactionId": "s-3"},
        {"offerId": 999, "transactionId": "s-4"},
        {"offerId": 999, "price": "23.09", "transactionId": "s-5"},
        {"offerId": 999, "price": 23.09},
        {"offerId": 999, "price": 23.09, "transactionId": 17},
        {"offerId": 999, "price": 23.09, "transactionId": ""},
        {"offerId": 999, "price": 23.09, "transactionId": "s-9", "customer": "me"},
        {"offerId": 999, "price": 23.09, "transactionId": "s-10", "customer": {"gameUserId": 1}},
        [999],
    ],
)
def test_create_order_refuses_malformed_bodies(partner, body):
    assert_error(partner.post("/api/v1/offers/create-order", body), "INVALID_REQUEST_BODY", 400)
    assert partner.orders() == []


def test_unparseable_body_is_invalid_request_body(partner):
    response = partner.post("/api/v1/offers/find-one", raw=b"{offerId: 999")
    assert_error(response, "INVALID_REQUEST_BODY", 400)
    assert_error(
        partner.post("/api/v1/offers/find-one", {"offerId": "999"}), "INVALID_REQUEST_BODY", 400
    )


def test_offer_and_order_not_found(partner):
    assert_error(
        partner.post("/api/v1/offers/find-one", {"offerId": 424242}), "OFFER_NOT_FOUND", 404
    )
    assert_error(partner.create(424242, Decimal("1.00"), "nf-1"), "OFFER_NOT_FOUND", 404)
    assert_error(
        partner.post("/api/v1/offers/order-status", {"orderId": 1}), "ORDER_NOT_FOUND", 404
    )
    assert_error(
        partner.post("/api/v1/offers/order-status", {"transactionId": "nope"}),
        "ORDER_NOT_FOUND",
        404,
    )
    assert_error(partner.post("/api/v1/offers/order-status", {}), "INVALID_REQUEST_BODY", 400)


def test_orders_of_another_account_are_not_found(make_partner):
    alice, bob = make_partner(), make_partner()
    order = alice.buy(999, "mine")
    assert_error(
        bob.post("/api/v1/offers/order-status", {"orderId": order["orderId"]}),
        "ORDER_NOT_FOUND",
        404,
    )
    assert bob.buy(999, "mine")["status"] == "COMPLETED"  # transactionIds are per account


def test_transaction_duplicate_proves_the_first_landed(partner, find_offer):
    offer = find_offer(kind="key", settlement="MIXED")
    first = partner.buy(offer["offerId"], "dup-1")
    assert_error(
        partner.create(offer["offerId"], first["price"], "dup-1"), "TRANSACTION_DUPLICATE", 409
    )
    assert_error(partner.create(999, Decimal("23.09"), "dup-1"), "TRANSACTION_DUPLICATE", 409)
    assert len(partner.orders()) == 1
    assert partner.ledger()["total"] == 2


def test_wrong_price_changes_nothing(partner, find_offer):
    offer = find_offer(kind="key", settlement="MIXED")
    price = partner.find_one(offer["offerId"])["price"]
    assert_error(
        partner.create(offer["offerId"], price + Decimal("0.01"), "wp-1"), "WRONG_PRICE", 400
    )
    assert_error(partner.create(offer["offerId"], price - 1, "wp-2"), "WRONG_PRICE", 400)
    assert partner.orders() == [] and partner.balance()["balance"] == 1000


def test_out_of_stock(partner, find_offer, sandbox):
    offer = find_offer(kind="key", settlement="MIXED")
    sandbox.admin("POST", f"/sandbox/offers/{offer['offerId']}", {"inStock": False})
    try:
        row = next(
            r for r in partner.sync(limit=5000)["rows"] if r["offerGroupId"] == offer["offerId"]
        )
        assert row["inStock"] is False
        assert_error(partner.create(offer["offerId"], offer["price"], "oos-1"), "OUT_OF_STOCK", 409)
    finally:
        sandbox.admin("POST", f"/sandbox/offers/{offer['offerId']}", {"inStock": True})
    assert partner.create(offer["offerId"], offer["price"], "oos-1").status_code == 200


def test_insufficient_balance_for_prepaid_but_not_postpaid(make_partner, find_offer):
    offer = find_offer(kind="key", settlement="MIXED", currency="USD")
    prepaid = make_partner(balance=1)
    assert_error(
        prepaid.create(offer["offerId"], offer["price"], "ib-1"), "INSUFFICIENT_BALANCE", 402
    )
    assert prepaid.orders() == [] and prepaid.balance()["balance"] == 1
    postpaid = make_partner(balance=0, postpaid=True)
    assert postpaid.balance()["isPostpaid"] is True
    order = decode(postpaid.create(offer["offerId"], offer["price"], "ib-2"))
    assert order["status"] == "COMPLETED"
    assert postpaid.balance()["balance"] == -usd_cost(offer["price"], "USD")
    assert postpaid.ledger()["transactions"][0]["balanceAfter"] < 0


def test_top_up_requires_player_fields(partner, find_offer):
    plain = find_offer(kind="topup", req_server="false", settlement="MIXED")
    assert_error(
        partner.create(plain["offerId"], plain["price"], "tu-1"), "INVALID_REQUEST_BODY", 400
    )
    assert_error(
        partner.create(plain["offerId"], plain["price"], "tu-2", {"gameUserId": ""}),
        "INVALID_REQUEST_BODY",
        400,
    )
    server = find_offer(kind="topup", req_server="true")
    customer = {"gameUserId": "52357322414"}
    assert_error(
        partner.create(server["offerId"], server["price"], "tu-3", customer),
        "INVALID_REQUEST_BODY",
        400,
    )
    assert_error(
        partner.create(
            server["offerId"], server["price"], "tu-4", {**customer, "gameServerId": "mars"}
        ),
        "INVALID_REQUEST_BODY",
        400,
    )
    assert partner.orders() == []
    server_id = next(iter(server["servers"].values()))
    order = decode(
        partner.create(
            server["offerId"], server["price"], "tu-5", {**customer, "gameServerId": server_id}
        )
    )
    assert order["status"] == "SUBMITTED"
    assert order["isRequiredGameServerId"] is True and "key" not in order
    top_level = partner.post(
        "/api/v1/offers/create-order",
        {
            "offerId": server["offerId"],
            "price": server["price"],
            "transactionId": "tu-6",
            "gameServerId": server_id,
            "customer": customer,
        },
    )
    assert top_level.status_code == 200


@pytest.mark.parametrize(
    "style, field",
    [
        ("error", "error"),
        ("errorCode", "errorCode"),
        ("status", "status"),
        ("message", "message"),
    ],
)
def test_error_envelope_can_be_switched(partner, sandbox, style, field):
    sandbox.admin("POST", "/sandbox/settings", {"error_envelope": style})
    response = partner.post("/api/v1/offers/find-one", {"offerId": 424242})
    assert response.status_code == 404
    assert "OFFER_NOT_FOUND" in response.json()[field]
    assert "code" not in response.json()


def test_error_status_can_be_forced(partner, sandbox):
    sandbox.admin("POST", "/sandbox/settings", {"error_http_status": 200})
    response = partner.post("/api/v1/offers/find-one", {"offerId": 424242})
    assert response.status_code == 200 and response.json()["code"] == "OFFER_NOT_FOUND"


# -- servers, player validation, Telegram ---------------------------------------------------


def test_server_list_on_both_paths(partner, find_offer):
    offer = find_offer(kind="topup", req_server="true")
    long = partner.call("/api/v1/partner/product-offer/servers", {"offerId": offer["offerId"]})
    short = partner.call("/api/v1/offers/servers", {"offerId": offer["offerId"]})
    assert long == short == offer["servers"]
    assert all(isinstance(v, str) for v in long.values())
    plain = find_offer(kind="key", settlement="MIXED")
    assert partner.call("/api/v1/offers/servers", {"offerId": plain["offerId"]}) == {}
    assert_error(
        partner.post("/api/v1/offers/servers", {"offerId": 424242}), "OFFER_NOT_FOUND", 404
    )
    assert_error(
        partner.post("/api/v1/offers/servers", {"offerId": "1"}), "INVALID_REQUEST_BODY", 400
    )


def test_check_game_data(partner, find_offer):
    offer = find_offer(kind="topup", req_server="false", settlement="MIXED")
    path = "/api/v1/offers/check-game-data"
    valid = partner.call(path, {"offerId": offer["offerId"], "gameUserId": "52357322414"})
    assert set(valid) == {"status", "gameUserLogin"} and valid["status"] == "VALID"
    assert partner.call(path, {"offerId": offer["offerId"], "gameUserId": "52357322414"}) == valid
    for bad in ("abc", "1234", "1234567890123", "12 34"):
        assert partner.call(path, {"offerId": offer["offerId"], "gameUserId": bad}) == {
            "status": "INVALID"
        }
    server = find_offer(kind="topup", req_server="true")
    server_id = next(iter(server["servers"].values()))
    assert (
        partner.call(
            path,
            {"offerId": server["offerId"], "gameUserId": "52357322414", "gameServerId": server_id},
        )["status"]
        == "VALID"
    )
    assert (
        partner.call(path, {"offerId": server["offerId"], "gameUserId": "52357322414"})["status"]
        == "INVALID"
    )
    assert_error(partner.post(path, {"offerId": offer["offerId"]}), "INVALID_REQUEST_BODY", 400)


def test_telegram_user_info(partner, sandbox):
    path = "/api/aggregator/a6/telegram/user-info"
    known = partner.call(path, {"username": "@igoryan34"})
    assert known["valid"] is True and known["username"] == "igoryan34"
    assert known["userInfo"]["id"] == 143594291
    assert set(known["userInfo"]) == {"id", "first_name", "username", "photo_url"}
    assert known["message"] == "User account verified successfully"
    assert partner.call(path, {"username": "igoryan34"}) == known
    assert partner.call(path, {"username": "143594291"})["userInfo"]["id"] == 143594291
    unknown = partner.call(path, {"username": "@somebody_else"})
    assert unknown == {
        "valid": True,
        "username": "somebody_else",
        "userInfo": {"username": "somebody_else", "first_name": "somebody_else"},
        "message": "Username format is valid, but user details are not publicly available. "
        "Full verification requires user interaction with the bot.",
    }
    sandbox.admin(
        "POST",
        "/sandbox/telegram/users",
        {"username": "somebody_else", "id": 777000111, "first_name": "Some"},
    )
    registered = partner.call(path, {"username": "@Somebody_Else"})
    assert registered["userInfo"]["id"] == 777000111
    assert registered["userInfo"]["first_name"] == "Some"
    assert_error(partner.post(path, {}), "INVALID_REQUEST_BODY", 400)
    assert_error(partner.post(path, {"username": "x"}, token="bad"), "INVALID_TOKEN", 401)


def test_telegram_stars_delivery(partner, sandbox):
    rows = partner.sync(search="Telegram Stars")["rows"]
    hundred = next(row for row in rows if row["offerGroupName"] == "100 Stars")
    offer = partner.find_one(hundred["offerGroupId"])
    assert offer["productName"] == "Telegram Stars" and offer["offerName"] == "100 Stars"
    assert offer["currency"] == "USD"
    order = partner.buy(offer["offerId"], "tg_stars_12345", {"gameUserId": "143594291"})
    assert order["status"] == "COMPLETED"
    assert "key" not in order
    data = order["fulfillmentData"]
    assert data["telegram_user_id"] == 143594291 and data["stars_amount"] == 100
    assert data["delivery_status"] == "completed" and data["transaction_id"].startswith("tg_tx_")
    assert LEDGER_TIME.match(order["createdAt"])
    before = partner.balance()["balance"]
    failed = partner.buy(offer["offerId"], "tg_stars_404", {"gameUserId": "123456789"})
    assert set(failed) == {"orderId", "status", "message", "fulfillmentData", "createdAt"}
    assert failed["status"] == "CANCELED"
    assert failed["message"] == "Failed to deliver Stars: user not found"
    assert failed["fulfillmentData"] == {
        "telegram_user_id": 123456789,
        "stars_amount": 100,
        "delivery_status": "failed",
        "error_message": "user not found",
    }
    assert partner.balance()["balance"] == before
    assert [row["type"] for row in partner.ledger()["transactions"][:2]] == ["REFUND", "PURCHASE"]
    assert partner.status(transactionId="tg_stars_404")["message"] == failed["message"]
    assert_error(
        partner.create(offer["offerId"], offer["price"], "tg_name", {"gameUserId": "@igoryan34"}),
        "INVALID_REQUEST_BODY",
        400,
    )
    assert_error(
        partner.create(offer["offerId"], offer["price"], "tg_none"), "INVALID_REQUEST_BODY", 400
    )


def test_unknown_paths_answer_404(partner):
    response = partner.post("/api/v1/offers/nothing", {})
    assert response.status_code == 404
    response = partner.session.get(partner.url + "/api/v1/offers/sync")
    assert response.status_code == 404
