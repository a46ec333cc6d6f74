"""Celery tasks of the finance app: thin. Each takes ids, re-fetches, returns when there is
nothing left to do, and calls one service. The job rows (ledger sync, reconciliation) are claimed
QUEUED → RUNNING under a row lock, so a second delivery of the same task returns at once."""

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from finance import selectors, services
from finance.errors import FinanceError
from finance.models import BalanceSnapshot, JobStatus, LedgerSync, ReconciliationRun

logger = logging.getLogger(__name__)


def _snapshot_interval() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "FINANCE_BALANCE_SNAPSHOT_MINUTES", 5))


@shared_task(ignore_result=True, acks_late=True)
def take_balance_snapshot(account_id: int, trigger: str = "schedule") -> None:
    """A snapshot of one account: scheduled, asked for by a page showing an old one, or after
    a batch (skipped when one was taken moments ago: a duplicate delivery, the button)."""
    account = selectors.finance_accounts().filter(pk=account_id).first()
    if account is None or not selectors.has_balance_api(account):
        return
    moments = _snapshot_interval() / 2 if trigger == "schedule" else dt.timedelta(seconds=15)
    if BalanceSnapshot.objects.filter(
        account=account, taken_at__gte=timezone.now() - moments
    ).exists():
        return
    try:
        services.balance_snapshot_take(account=account, trigger=trigger)
    except FinanceError as error:
        logger.warning("balance snapshot of account %s failed: %s", account_id, error.message)


@shared_task(ignore_result=True)
def snapshot_all_balances() -> None:
    """Scheduled by beat: one snapshot task per enabled account with a balance endpoint."""
    for account in selectors.finance_accounts():
        if selectors.has_balance_api(account):
            take_balance_snapshot.delay(account.pk)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def run_ledger_sync(job_id: int) -> None:
    if not LedgerSync.objects.filter(pk=job_id, status=JobStatus.QUEUED).exists():
        return
    services.ledger_sync_run(job_id)


@shared_task(ignore_result=True)
def sync_all_ledgers() -> None:
    """Scheduled by beat: queue a ledger sync of every account that has the credential for it."""
    for account in selectors.finance_accounts():
        if not selectors.has_ledger(account) or not account.management_token:
            continue
        try:
            services.ledger_sync_start(account=account, trigger="schedule")
        except FinanceError:
            continue  # already running


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def run_reconciliation(run_id: int) -> None:
    if not ReconciliationRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).exists():
        return
    services.reconciliation_run(run_id)
