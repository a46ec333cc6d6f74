"""Catalog sync speed against the fetch+parse floor, and the cost of a 1 % re-sync.

Run on PostgreSQL for the figures that count: DATABASE_URL=postgres://... make bench.
"""

import time

import pytest
from django.db import connection

from catalog.models import Offer, PriceHistory, SyncJob
from catalog.sync import sync_job_run
from suppliers.models import SupplierAccount
from suppliers.services import supplier_account_save
from tests.benchmarks.bench_supplier_sync_fetch import fetch_and_parse_all
from tests.benchmarks.conftest import report


def _account(big_sandbox, name):
    remote = big_sandbox.create_account(balance="100", balance_profile="MIXED")
    account = supplier_account_save(
        account=SupplierAccount(name=name, base_url=big_sandbox.url, rate_limit_per_second=1000),
        shop_token=remote["token"],
    )
    return account, remote["token"]


def _timed_sync(account):
    job = SyncJob.objects.create(account=account)
    start = time.perf_counter()
    sync_job_run(job.pk)
    seconds = time.perf_counter() - start
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    return job, seconds


@pytest.mark.django_db(transaction=True)
def test_full_sync_and_one_percent_resync(big_sandbox):
    account, token = _account(big_sandbox, "bench-sync")
    fetch_and_parse_all(big_sandbox.url, token)  # warm the sandbox
    fetch = min(
        (fetch_and_parse_all(big_sandbox.url, token) for _ in range(3)), key=lambda r: r["seconds"]
    )

    full, full_seconds = _timed_sync(account)
    assert full.rows_new == Offer.objects.filter(account=account).count() >= 49_000

    unchanged, unchanged_seconds = _timed_sync(account)
    assert unchanged.rows_written == 0

    moved = big_sandbox.admin("POST", "/sandbox/offers/reprice", {"share": 0.01, "pct": 5})
    history_before = PriceHistory.objects.count()
    resync, resync_seconds = _timed_sync(account)
    assert resync.rows_written == resync.price_changes == moved["changed"]
    assert PriceHistory.objects.count() - history_before == moved["changed"]

    report(
        f"catalog sync of {full.rows_fetched:,} offers ({connection.vendor})",
        {
            "fetch+parse alone (s, best of 3)": f"{fetch['seconds']:.3f}",
            "full sync, empty catalog (s)": f"{full_seconds:.3f}",
            "full sync / fetch+parse": f"{full_seconds / fetch['seconds']:.2f}  (target <= 1.50)",
            "re-sync, nothing changed (s)": f"{unchanged_seconds:.3f}",
            "re-sync, 1 % prices changed (s)": f"{resync_seconds:.3f}",
            "rows written by the 1 % re-sync": f"{resync.rows_written} of {resync.rows_fetched:,}",
            "1 % re-sync / full sync": f"{resync_seconds / full_seconds:.2f}  (target < 0.50)",
        },
    )
