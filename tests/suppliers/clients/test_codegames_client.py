"""CodeGamesClient: the shared offers shape plus `required` and `/offers/keys`."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from suppliers.clients import (
    OrderNotCompleted,
    OrderOutcomeUnknown,
    SupplierBadResponse,
    UnknownSupplierError,
)
from suppliers.clients.gamesdrop import GamesDropClient
from suppliers.clients.offers_api import OffersApiClient


def add(rsps, env, path, *, status=200, body=None):
    rsps.add("POST", env.CG_BASE + path, status=status, body=json.dumps(body))


def test_shares_the_offers_base_with_gamesdrop(cg):
    assert isinstance(cg, OffersApiClient) and issubclass(GamesDropClient, OffersApiClient)
    assert type(cg).create_order is OffersApiClient.create_order


def test_find_one_with_required_fields(cg, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/find-one",
        body={
            "offerId": 2061,
            "productName": "PUBG",
            "offerName": "60 UC",
            "price": 674.47,
            "currency": "KZT",
            "isReturnDataForCustomer": False,
            "required": ["gameUserId"],
        },
    )
    offer = cg.find_one(2061)
    assert offer.required_fields == ("gameUserId",)
    assert offer.requires_game_user_id is True and offer.requires_game_server_id is False
    assert offer.price == Decimal("674.47") and offer.count == 1 and offer.returns_key is False


def test_find_one_gift_card_has_no_requirements(cg, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/find-one",
        body={"offerId": 2061, "price": 674.47, "currency": "KZT", "isReturnDataForCustomer": True},
    )
    offer = cg.find_one(2061)
    assert offer.required_fields == () and offer.requires_game_user_id is None


def test_create_order_sends_customer_only_when_given(cg, rsps, env):
    order = {
        "orderId": 10502,
        "price": 674.47,
        "currency": "KZT",
        "offerId": 2061,
        "status": "PROCESSING",
        "isReturnDataForCustomer": True,
    }
    add(rsps, env, "/api/v1/offers/create-order", body=order)
    add(rsps, env, "/api/v1/offers/create-order", body=order)
    first = cg.create_order(2061, Decimal("674.47"), "112321124214")
    cg.create_order(2061, Decimal("674.47"), "112321124215", game_user_id="52357322414")
    assert rsps.calls[0].request.body == (
        b'{"offerId":2061,"price":674.47,"transactionId":"112321124214"}'
    )
    assert json.loads(rsps.calls[1].request.body)["customer"] == {"gameUserId": "52357322414"}
    assert first.status == "PROCESSING" and first.keys == () and first.is_pending


def test_minimal_order_status_takes_ids_from_the_request(cg, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/order-status",
        body={"status": "COMPLETED", "isReturnDataForCustomer": True},
    )
    order = cg.order_status(order_id=10502)
    assert order.order_id == 10502 and order.status == "COMPLETED"
    assert order.keys == () and order.missing_key_count == 1


def test_order_status_by_transaction_id_is_refused_before_anything_is_sent(cg, rsps):
    """The CodeGames document looks orders up by orderId only."""
    with pytest.raises(ValueError, match="orderId only"):
        cg.order_status(transaction_id="112321124214")
    with pytest.raises(ValueError, match="orderId only"):
        cg.order_status()
    assert len(rsps.calls) == 0


def test_keys(cg, rsps, env):
    add(rsps, env, "/api/v1/offers/keys", body={"key": "001434249936"})
    add(rsps, env, "/api/v1/offers/keys", body={"keys": ["A", "B"]})
    assert cg.keys(10502) == ("001434249936",)
    assert cg.keys(10503) == ("A", "B")
    assert json.loads(rsps.calls[0].request.body) == {"orderId": 10502}


def test_keys_not_ready_is_transient_but_not_retried_at_once(cg, rsps, env, rec):
    add(rsps, env, "/api/v1/offers/keys", status=409, body={"code": "ORDER_NOT_COMPLETED"})
    with pytest.raises(OrderNotCompleted) as caught:
        cg.keys(1)
    assert caught.value.kind == "transient" and len(rsps.calls) == 1 and rec.sleeps == []


def test_keys_for_a_top_up_is_an_error(cg, rsps, env):
    add(rsps, env, "/api/v1/offers/keys", status=400, body={"message": "not a key product"})
    with pytest.raises(UnknownSupplierError):
        cg.keys(1)


def test_keys_answer_without_key_is_a_bad_response(cg, rsps, env, rec):
    add(rsps, env, "/api/v1/offers/keys", body={"orderId": 1})
    with pytest.raises(SupplierBadResponse):
        cg.keys(1)
    assert len(rsps.calls) == 3  # a read: retried (max_retries=2)


def test_create_order_timeout_is_ambiguous(cg, rsps, env):
    import requests

    rsps.add(
        "POST",
        env.CG_BASE + "/api/v1/offers/create-order",
        body=requests.exceptions.ReadTimeout("timed out"),
    )
    with pytest.raises(OrderOutcomeUnknown):
        cg.create_order(2061, Decimal("674.47"), "t-1")
    assert len(rsps.calls) == 1


def test_a_top_up_key_is_not_a_customer_key(cg, rsps, env):
    add(
        rsps,
        env,
        "/api/v1/offers/create-order",
        body={
            "orderId": 10502,
            "status": "COMPLETED",
            "key": "001434249936",
            "isReturnDataForCustomer": False,
        },
    )
    order = cg.create_order(2061, Decimal("674.47"), "t-2", game_user_id="52357322414")
    assert order.keys == () and order.missing_key_count == 0
    assert order.raw["key"] == "001434249936"
