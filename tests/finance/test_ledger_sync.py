"""The ledger sync against the sandbox: everything the first time, only what is new after that,
idempotent, incremental, and a clear refusal without the management credential."""

from decimal import Decimal

import pytest

from finance import services
from finance.errors import LedgerCredentialMissing
from finance.models import LedgerEntry, LedgerSync
from suppliers.services import supplier_client
from tests.finance.conftest import sync_ledger

pytestmark = pytest.mark.django_db


def stored(account) -> list[tuple]:
    return list(
        LedgerEntry.objects.filter(account=account)
        .order_by("supplier_id")
        .values_list("supplier_id", "type", "amount", "balance_after", "description")
    )


def test_first_run_stores_every_row_as_it_came(sandbox_account, deposit, sandbox_offer):
    account = sandbox_account()
    for amount in ("10.00", "20.50", "3.25"):
        deposit(account, amount)
    offer = sandbox_offer(account, kind="key")
    supplier_client(account).create_order(offer.offer_id, offer.price, "fin-first-1")

    job = sync_ledger(account, page_size=2)

    assert job.status == "succeeded" and not job.incremental
    remote = list(supplier_client(account).iter_transactions(limit=100))
    assert job.rows_new == len(remote) == 5  # the opening deposit, three deposits, a purchase
    assert job.pages_done == 3 and job.rows_total == 5
    assert stored(account) == sorted(
        (row.id, row.type, row.amount, row.balance_after, row.description or "") for row in remote
    )
    first = LedgerEntry.objects.get(account=account, type="PURCHASE")
    assert first.amount < 0 and first.created_at is not None and first.sync_id == job.pk


def test_second_run_stores_only_new_rows_and_stops_at_the_first_known_page(
    sandbox_account, deposit
):
    account = sandbox_account()
    for index in range(8):
        deposit(account, f"{index + 1}.00")
    first = sync_ledger(account, page_size=3)
    assert first.rows_new == 9 and first.pages_done == 3

    deposit(account, "100.00")
    deposit(account, "200.00")
    second = sync_ledger(account, page_size=3)

    assert second.status == "succeeded" and second.incremental
    assert second.rows_new == 2
    # Page 1 held the two new rows and one known; page 2 held only known rows: stop there.
    assert second.pages_done == 2 and second.rows_fetched == 6
    assert "first holding only known rows" in second.message
    assert LedgerEntry.objects.filter(account=account).count() == 11
    assert LedgerEntry.objects.get(account=account, amount=Decimal("200.00")).balance_after == (
        Decimal("1336.00")
    )


def test_a_rerun_with_nothing_new_changes_nothing(sandbox_account, deposit):
    account = sandbox_account()
    deposit(account, "7.00")
    sync_ledger(account)
    before = stored(account)

    again = sync_ledger(account)
    assert again.status == "succeeded" and again.rows_new == 0 and again.pages_done == 1
    assert stored(account) == before


def test_storing_the_same_page_twice_is_harmless(sandbox_account, deposit):
    """Idempotent by (account, supplier id): a duplicated delivery of a page inserts nothing."""
    account = sandbox_account()
    deposit(account, "1.00")
    page = supplier_client(account).transactions(page=1, limit=50).transactions
    job = LedgerSync.objects.create(account=account)
    assert services._store_ledger_page(account, job, page) == 2
    assert services._store_ledger_page(account, job, page + page) == 0
    assert LedgerEntry.objects.filter(account=account).count() == 2


def test_a_failed_sync_makes_the_next_one_read_the_whole_ledger(
    sandbox_account, deposit, fault, sandbox
):
    account = sandbox_account()
    for amount in ("1.00", "2.00", "3.00", "4.00"):
        deposit(account, amount)
    sync_ledger(account, page_size=2)
    for amount in ("5.00", "6.00", "7.00"):
        deposit(account, amount)
    rule = fault(
        account,
        endpoint="transactions",
        kind="http_503",
        after=1,
        count=20,
        token=account.remote["management_token"],
    )
    failed = sync_ledger(account, page_size=2)
    assert failed.status == "failed" and "next sync reads the whole ledger" in failed.message
    assert failed.rows_new == 2  # page 1 was stored before the failure
    sandbox.admin("DELETE", f"/sandbox/faults/{rule['id']}")

    # Page 2 now holds only known rows, yet the rows behind it were never read: a full pass.
    repaired = sync_ledger(account, page_size=2)
    assert repaired.status == "succeeded" and not repaired.incremental
    assert repaired.rows_new == 1 and repaired.pages_done == 4
    assert LedgerEntry.objects.filter(account=account).count() == 8


def test_without_the_management_credential_the_sync_is_refused_clearly(sandbox_account):
    account = sandbox_account()
    account.management_token = ""
    account.save()
    with pytest.raises(LedgerCredentialMissing, match="management credential"):
        services.ledger_sync_start(account=account)
    job = sync_ledger(account)  # a queued job whose credential was removed meanwhile
    assert job.status == "failed" and "management credential" in job.message
    assert not LedgerEntry.objects.filter(account=account).exists()


def test_the_schedule_queues_a_sync_of_every_account_with_the_credential(
    sandbox_account, monkeypatch
):
    from finance import tasks

    monkeypatch.setattr(tasks.run_ledger_sync, "delay", lambda job_id: None)  # no broker here
    with_credential, without = sandbox_account(), sandbox_account()
    without.management_token = ""
    without.save()
    tasks.sync_all_ledgers.run()
    jobs = LedgerSync.objects.filter(trigger="schedule")
    assert [job.account_id for job in jobs] == [with_credential.pk]
    tasks.sync_all_ledgers.run()  # one is already queued: not a second one
    assert jobs.count() == 1
    # A second delivery of the task finds the job claimed and returns at once.
    tasks.run_ledger_sync.run(jobs[0].pk)
    tasks.run_ledger_sync.run(jobs[0].pk)
    assert LedgerSync.objects.get(pk=jobs[0].pk).status == "succeeded"


def test_an_incremental_sync_that_leaves_rows_missing_reads_every_page_again(
    sandbox_account, deposit
):
    account = sandbox_account()
    for index in range(8):
        deposit(account, f"{index + 1}.00")
    sync_ledger(account, page_size=3)
    # A row in the middle of the history went missing here (deleted, or never stored).
    lost = LedgerEntry.objects.filter(account=account).order_by("supplier_id")[3]
    lost_id = lost.supplier_id
    lost.delete()
    deposit(account, "100.00")

    again = sync_ledger(account, page_size=3)

    assert again.status == "succeeded" and again.incremental
    assert LedgerEntry.objects.filter(account=account, supplier_id=lost_id).exists()
    assert LedgerEntry.objects.filter(account=account).count() == again.rows_total == 10
    assert again.rows_new == 2
    assert "Only 9 of the supplier's 10 rows were stored" in again.message
    assert "every page was read again (full pass): 1 missing row stored" in again.message
