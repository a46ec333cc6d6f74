"""Fixtures for the finance tests: sandbox accounts with their ledger credential, deposits,
sandbox offers as catalog rows, faults that are removed afterwards, and runs done in-process."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

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
    return services.reconciliation_run(run.pk)
