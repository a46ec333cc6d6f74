"""Fixtures for the finance tests: sandbox accounts with their ledger credential, deposits,
sandbox offers as catalog rows, faults that are removed afterwards, and runs done in-process."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from django.utils import timezone

from catalog.models import Offer
from finance import services
from finance.models import LedgerSync, ReconciliationRun


@pytest.fixture
def deposit(sandbox):
    """`deposit(account, "25.00", description=...)`: a DEPOSIT row on the sandbox ledger."""

    def add(account, amount, description: str | None = None):
        body = {"amount": str(amount)}
        if description is not None:
            body["description"] = description
        return sandbox.admin("POST", f"/sandbox/accounts/{account.remote['token']}/deposit", body)

    return add


@pytest.fixture
def fault(sandbox):
    """Add a fault limited to one account's token; every fault added is removed afterwards."""
    added = []

    def add(account, **spec):
        rule = sandbox.admin(
            "POST", "/sandbox/faults", {"token": account.remote["token"], "count": 1, **spec}
        )
        added.append(rule["id"])
        return rule

    yield add
    for rule_id in added:
        with contextlib.suppress(Exception):
            sandbox.admin("DELETE", f"/sandbox/faults/{rule_id}")


@pytest.fixture
def sandbox_offer(sandbox):
    """A catalog Offer row for the first sandbox offer matching the filters, as a sync writes it."""

    def make(account, *, skip: int = 0, **filters) -> Offer:
        query = {"settlement": "MIXED", "in_stock": "true", "listed": "true", **filters}
        query["limit"] = skip + 1
        data = sandbox.admin("GET", "/sandbox/offers", params=query)["offers"][skip]
        now = timezone.now()
        offer, _ = Offer.objects.update_or_create(
            account=account,
            offer_id=data["offerId"],
            defaults={
                "product_id": data["productId"],
                "product_name": data["productName"],
                "offer_name": data["offerName"],
                "category": data["category"],
                "price": data["price"],
                "currency": data["currency"],
                "in_stock": data["inStock"],
                "requires_user_id": data["isRequiredGameUserId"],
                "requires_server_id": data["isRequiredGameServerId"],
                "returns_key": data["isReturnDataForCustomer"],
                "settlement_method": data["settlementMethod"],
                "units": data["count"],
                "first_seen_at": now,
                "synced_at": now,
            },
        )
        return offer

    return make


def sync_ledger(account, **kwargs) -> LedgerSync:
    """One ledger sync, run in this process as the worker would."""
    job = LedgerSync.objects.create(account=account)
    return services.ledger_sync_run(job.pk, **kwargs)


def reconcile_today(account, *, by=None, **settings) -> ReconciliationRun:
    """Queue a run over yesterday, today and tomorrow, then run it in this process."""
    today = timezone.localdate()
    start = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=1), dt.time.min))
    run = services.reconciliation_start(
        account=account,
        period_start=start,
        period_end=start + dt.timedelta(days=3),
        by=by,
        **settings,
    )
    return services.reconciliation_execute(run.pk)
