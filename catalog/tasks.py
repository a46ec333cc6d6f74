from celery import shared_task

from catalog import offer_lookup, sync
from suppliers.capabilities import capabilities_of
from suppliers.selectors import supplier_accounts_enabled


# A sync of 200,000 offers is 40 pages; it gets far longer than the default task limits.
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def run_sync_job(job_id: int) -> None:
    """Run one queued sync. A second delivery of the same job finds it claimed and returns."""
    sync.catalog_sync_run(job_id)


@shared_task(ignore_result=True)
def sync_all_catalogs() -> None:
    """Scheduled by beat: queue a sync of every enabled account with a catalog feed not already
    syncing, and a find-one refresh of the offers of every account without one."""
    for account in supplier_accounts_enabled():
        if not capabilities_of(account).catalog_feed:
            try:
                offer_lookup.offer_refresh_all(account=account, trigger="schedule")
            except offer_lookup.OfferLookupAlreadyRunning:
                pass
            continue
        try:
            sync.catalog_sync_start(account=account, trigger="schedule")
        except sync.SyncAlreadyRunning:
            continue


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def run_offer_lookup_job(job_id: int) -> None:
    """Run one queued offer look-up. A second delivery of the same job finds it claimed."""
    offer_lookup.offer_lookup_run(job_id)
