"""Fixtures for the sandbox tests: one shared sandbox process, accounts, and a small client.

These tests need no Django: the sandbox is started as a subprocess and spoken to over HTTP.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests

from sandbox import wire
from sandbox.testing import running_sandbox

ADMIN_KEY = "test-admin-key"
DEFAULT_SETTINGS = {
    "topup_delay_seconds": 20,
    "cancel_share": 0.05,
    "fail_share": 0.05,
    "partial_share": 0,
    "codegames_key_delay_seconds": 0,
    "codegames_keyless_share": 0,
    "price_drift": {"share": 0, "pct": 5},
    "price_drift_seconds": 60,
    "error_envelope": "standard",
    "error_http_status": None,
}


def decode(response: requests.Response) -> Any:
    """Response JSON with numbers as ``Decimal``, as a careful client reads it."""
    return json.loads(response.text, parse_float=Decimal)


class Partner:
    """A partner account and a keep-alive HTTP session speaking to the sandbox."""

    def __init__(self, sandbox, account: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.url = sandbox.url
        self.token = account["token"]
        self.management = account["management_token"]
        self.account = account
        self.session = requests.Session()

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        timeout: float = 10,
        raw: bytes | None = None,
    ) -> requests.Response:
        data = raw if raw is not None else (b"" if body is None else wire.encode(body))
        return self.session.post(
            self.url + path,
            data=data,
            timeout=timeout,
            headers={
                "Authorization": self.token if token is None else token,
                "Content-Type": "application/json",
            },
        )

    def call(self, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.post(path, body)
        assert response.status_code == expect, response.text
        return decode(response)

    def find_one(self, offer_id: int) -> dict[str, Any]:
        return self.call("/api/v1/offers/find-one", {"offerId": offer_id})

    def sync(self, **body: Any) -> dict[str, Any]:
        return self.call("/api/v1/offers/sync", body)

    def create(
        self,
        offer_id: int,
        price: Decimal,
        transaction_id: str,
        customer: dict[str, str] | None = None,
    ) -> requests.Response:
        body: dict[str, Any] = {
            "offerId": offer_id,
            "price": price,
            "transactionId": transaction_id,
        }
        if customer is not None:
            body["customer"] = customer
        return self.post("/api/v1/offers/create-order", body)

    def buy(self, offer_id: int, transaction_id: str, customer=None) -> dict[str, Any]:
        price = self.find_one(offer_id)["price"]
        response = self.create(offer_id, price, transaction_id, customer)
        assert response.status_code == 200, response.text
        return decode(response)

    def status(self, **body: Any) -> dict[str, Any]:
        return self.call("/api/v1/offers/order-status", body)

    def balance(self) -> dict[str, Any]:
        response = self.session.get(
            self.url + "/api/v1/offers/balance", headers={"Authorization": self.token}, timeout=10
        )
        assert response.status_code == 200, response.text
        return decode(response)

    def ledger(self, page: int = 1, limit: int = 1000) -> dict[str, Any]:
        response = self.session.get(
            self.url + "/api/v1/balance/transactions",
            params={"page": page, "limit": limit},
            headers={"Authorization": f"Bearer {self.management}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return decode(response)

    def orders(self) -> list[dict[str, Any]]:
        return self.sandbox.admin("GET", f"/sandbox/accounts/{self.token}/orders")["orders"]


def assert_error(response: requests.Response, code: str, status: int) -> dict[str, Any]:
    """The contract's standard envelope: {"statusCode", "code", "message"} under ``status``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert body["statusCode"] == status
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with running_sandbox(
        tmp_path_factory.mktemp("sandbox"), offers=500, seed=42, admin_key=ADMIN_KEY
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_sandbox(request):
    """Faults and settings never leak from one test into the next."""
    yield
    if "sandbox" in request.fixturenames:
        sandbox = request.getfixturevalue("sandbox")
        sandbox.admin("DELETE", "/sandbox/faults")
        sandbox.admin("POST", "/sandbox/settings", DEFAULT_SETTINGS)


@pytest.fixture
def make_partner(sandbox):
    def make(**fields: Any) -> Partner:
        fields.setdefault("balance", 1000)
        return Partner(sandbox, sandbox.create_account(**fields))

    return make


@pytest.fixture
def partner(make_partner) -> Partner:
    return make_partner()


@pytest.fixture
def find_offer(sandbox):
    """The first offer with the given hidden traits (admin listing), e.g. kind="topup"."""

    def find(**filters: Any) -> dict[str, Any]:
        filters.setdefault("in_stock", "true")
        filters.setdefault("listed", "true")
        offers = sandbox.admin("GET", "/sandbox/offers", params={**filters, "limit": 1})["offers"]
        assert offers, f"no offer with {filters}"
        return offers[0]

    return find
