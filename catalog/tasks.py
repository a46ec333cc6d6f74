from celery import shared_task

from catalog import sync
from suppliers.selectors import supplier_accounts_enabled


# A sync of 200,000 offers is 40 pages; it gets far longer than the default task limits.
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def run_sync_job(job_id: int) -> None:
    """Run one queued sync. A second delivery of the same job finds it claimed and returns."""
    sync.catalog_sync_run(job_id)


@shared_task(ignore_result=True)
def sync_all_catalogs() -> None:
    """Scheduled by beat: queue a sync of every enabled account not already syncing."""
    for account in supplier_accounts_enabled():
        try:
            sync.catalog_sync_start(account=account, trigger="schedule")
        except sync.SyncAlreadyRunning:
            continue
