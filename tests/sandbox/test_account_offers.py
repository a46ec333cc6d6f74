"""One account's own price and stock for an offer: find-one, sync and create-order follow them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.testing import SandboxAdminError
from tests.sandbox.conftest import assert_error


def _own(sandbox, partner, offer_id: int, **terms) -> dict:
    return sandbox.admin("POST", f"/sandbox/accounts/{partner.token}/offers/{offer_id}", terms)


def _sync_row(partner, offer_id: int) -> dict:
    rows = partner.sync(limit=5000)["rows"]
    return next(row for row in rows if row["offerGroupId"] == offer_id)


@pytest.fixture
def key_offer(find_offer) -> dict:
    return find_offer(kind="key", settlement="MIXED", currency="USD")


def test_two_accounts_see_and_pay_their_own_price(sandbox, make_partner, key_offer):
    offer_id, base = key_offer["offerId"], key_offer["price"]
    cheap, dear, plain = make_partner(), make_partner(), make_partner()
    _own(sandbox, cheap, offer_id, price=base - Decimal("1.50"))
    _own(sandbox, dear, offer_id, price=str(base + 2))

    assert cheap.find_one(offer_id)["price"] == base - Decimal("1.50")
    assert dear.find_one(offer_id)["price"] == base + 2
    assert plain.find_one(offer_id)["price"] == base
    assert _sync_row(cheap, offer_id)["price"] == base - Decimal("1.50")
    assert _sync_row(dear, offer_id)["price"] == base + 2
    assert _sync_row(plain, offer_id)["price"] == base

    assert_error(cheap.create(offer_id, base + 2, "own-1"), "WRONG_PRICE", 400)
    assert_error(dear.create(offer_id, base - Decimal("1.50"), "own-2"), "WRONG_PRICE", 400)
    assert_error(plain.create(offer_id, base - Decimal("1.50"), "own-3"), "WRONG_PRICE", 400)
    bought = cheap.create(offer_id, base - Decimal("1.50"), "own-4")
    assert bought.status_code == 200, bought.text
    purchase = cheap.ledger()["transactions"][0]
    assert purchase["type"] == "PURCHASE"
    assert purchase["amount"] == -(base - Decimal("1.50")) * key_offer["count"]


def test_out_of_stock_for_one_account_only(sandbox, make_partner, key_offer):
    offer_id, price = key_offer["offerId"], key_offer["price"]
    empty, stocked = make_partner(), make_partner()
    view = _own(sandbox, empty, offer_id, inStock=False)
    assert view["inStock"] is False and view["price"] == price
    assert view["own"] == {"price": None, "inStock": False}

    assert _sync_row(empty, offer_id)["inStock"] is False
    assert _sync_row(stocked, offer_id)["inStock"] is True
    assert_error(empty.create(offer_id, price, "oos-own-1"), "OUT_OF_STOCK", 409)
    assert stocked.create(offer_id, price, "oos-own-2").status_code == 200

    # An account can have stock where the catalog has none.
    sandbox.admin("POST", f"/sandbox/offers/{offer_id}", {"inStock": False})
    try:
        _own(sandbox, empty, offer_id, inStock=True)
        assert_error(stocked.create(offer_id, price, "oos-own-3"), "OUT_OF_STOCK", 409)
        assert empty.create(offer_id, price, "oos-own-4").status_code == 200
    finally:
        sandbox.admin("POST", f"/sandbox/offers/{offer_id}", {"inStock": True})


def test_own_terms_are_cleared_one_by_one_by_delete_and_by_reset(sandbox, partner, key_offer):
    offer_id, base = key_offer["offerId"], key_offer["price"]
    path = f"/sandbox/accounts/{partner.token}/offers/{offer_id}"
    _own(sandbox, partner, offer_id, price=base + 1, inStock=False)
    cleared = _own(sandbox, partner, offer_id, inStock=None)
    assert cleared["own"] == {"price": base + 1, "inStock": None} and cleared["inStock"] is True
    listed = sandbox.admin("GET", f"/sandbox/accounts/{partner.token}/offers")["offers"]
    assert [row["offerId"] for row in listed] == [offer_id]

    gone = sandbox.admin("DELETE", path)
    assert gone["own"] is None and gone["price"] == base
    assert partner.find_one(offer_id)["price"] == base

    _own(sandbox, partner, offer_id, price=base + 1)
    sandbox.admin("POST", "/sandbox/reset")
    assert sandbox.admin("GET", path)["own"] is None
    assert partner.find_one(offer_id)["price"] == base
    assert sandbox.admin("GET", f"/sandbox/accounts/{partner.token}/offers")["offers"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"in_stock": False}, 400),
        ({}, 400),
        ({"price": 0}, 400),
        ({"price": "cheap"}, 400),
        ({"inStock": "no"}, 400),
    ],
)
def test_bad_own_terms_are_refused_and_change_nothing(sandbox, partner, key_offer, body, status):
    offer_id = key_offer["offerId"]
    with pytest.raises(SandboxAdminError) as caught:
        _own(sandbox, partner, offer_id, **body)
    assert caught.value.status == status
    assert (
        sandbox.admin("GET", f"/sandbox/accounts/{partner.token}/offers/{offer_id}")["own"] is None
    )


def test_unknown_account_or_offer_is_404(sandbox, partner):
    for path in (
        "/sandbox/accounts/nobody/offers/999",
        f"/sandbox/accounts/{partner.token}/offers/1",
    ):
        with pytest.raises(SandboxAdminError) as caught:
            sandbox.admin("POST", path, {"price": 1})
        assert caught.value.status == 404
