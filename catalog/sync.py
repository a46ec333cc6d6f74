"""Catalog sync: an account's whole offer feed, paged through `offers/sync`, upserted in bulk.

How a sync runs (`sync_job_run`):

1. The balance endpoint gives the account's balance profile (a change is recorded: offers will
   appear or vanish, and the catalog page says so).
2. Small probes (`limit=1`) learn how many offers each category holds. Pages are then fetched per
   category, 5,000 rows a page, so every offer gets its category (sync rows do not carry one). If
   the categories do not add up to the whole feed, one uncategorised pass is made instead.
3. Each page is written in one transaction with a handful of queries whatever its size: one read
   of the rows already known, one INSERT ... ON CONFLICT DO UPDATE for new and changed offers only
   (unchanged rows are not rewritten), one insert of price-history rows, one update of the job's
   counters. HTTP happens between transactions, never inside one.
4. Only after every page has been written is an offer missing from the feed marked delisted; a
   delisted offer that reappears is relisted. A sync that fails midway keeps the pages written so
   far (each is consistent on its own), rolls back the failing page, records why, and delists
   nothing; the next sync repairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import Offer, PriceHistory, ProfileChange, SyncJob
from reseller.core.errors import ApplicationError
from suppliers.clients import SupplierError
from suppliers.models import SupplierAccount
from suppliers.services import supplier_client

logger = logging.getLogger(__name__)

PAGE_SIZE = 5000
CATEGORIES = ("Top Up", "Gift Cards")
# A running job whose worker has not reported for this long is taken to have died.
STALE_AFTER = timedelta(minutes=10)
# Fields a sync owns; a row is rewritten only when one of them differs.
SYNCED_FIELDS = (
    "product_id",
    "product_name",
    "offer_name",
    "category",
    "search_text",
    "price",
    "currency",
    "in_stock",
    "requires_user_id",
    "requires_server_id",
)


class SyncAlreadyRunning(ApplicationError):
    pass


@dataclass
class PageResult:
    written: int = 0
    new: int = 0
    changed: int = 0
    price_changes: int = 0
    relisted: int = 0


def sync_job_start(*, account: SupplierAccount, by=None, trigger: str = "manual") -> SyncJob:
    """Queue a sync of the account and hand it to a worker. One sync per account at a time."""
    from catalog.tasks import run_sync_job

    _fail_stale_jobs(account)
    try:
        with transaction.atomic():
            job = SyncJob.objects.create(account=account, started_by=by, trigger=trigger)
    except IntegrityError:
        raise SyncAlreadyRunning(f"A sync of {account} is already queued or running.") from None
    transaction.on_commit(lambda: run_sync_job.delay(job.pk))
    return job


def _fail_stale_jobs(account: SupplierAccount) -> None:
    stale = SyncJob.objects.filter(
        account=account,
        status__in=[SyncJob.Status.QUEUED, SyncJob.Status.RUNNING],
        heartbeat_at__lt=timezone.now() - STALE_AFTER,
    )
    stale.update(
        status=SyncJob.Status.FAILED,
        finished_at=timezone.now(),
        message="Stopped: the worker running this sync went away. The catalog keeps every page written.",
    )


def _claim(job_id: int) -> SyncJob | None:
    with transaction.atomic():
        job = (
            SyncJob.objects.select_for_update().select_related("account").filter(pk=job_id).first()
        )
        if job is None or job.status != SyncJob.Status.QUEUED:
            return None  # already done, or taken by another delivery of the same task
        job.status = SyncJob.Status.RUNNING
        job.started_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "started_at", "heartbeat_at"])
        return job


def sync_job_run(job_id: int) -> SyncJob | None:
    """Run a queued sync to the end (called by the worker's task)."""
    job = _claim(job_id)
    if job is None:
        return None
    account = job.account
    client = supplier_client(account)
    seen: set[int] = set()
    try:
        profile = _refresh_profile(account, client)
        SyncJob.objects.filter(pk=job.pk).update(balance_profile=profile)
        passes, expected = _plan_passes(client)
        SyncJob.objects.filter(pk=job.pk).update(rows_expected=expected)
        for category in passes:
            page_number = 1
            while True:
                page = client.sync_page(page=page_number, limit=PAGE_SIZE, category=category)
                if not page.rows:
                    break
                _write_page(job, account, page.rows, category, seen)
                page_number += 1
                if len(page.rows) < PAGE_SIZE:
                    break
        delisted = _delist_missing(account, seen)
    except SupplierError as error:
        return _finish_failed(job, f"{type(error).__name__}: {error}")
    except Exception as error:  # noqa: BLE001 (recorded on the job, then re-raised for the log)
        _finish_failed(job, f"Unexpected error: {type(error).__name__}: {error}")
        raise
    job.refresh_from_db()
    job.status = SyncJob.Status.SUCCEEDED
    job.rows_delisted = delisted
    job.finished_at = timezone.now()
    job.message = (
        f"{job.rows_fetched} offers fetched: {job.rows_new} new, {job.rows_changed} changed "
        f"({job.price_changes} price changes), {job.rows_relisted} back in the feed, "
        f"{delisted} delisted."
    )
    job.save(update_fields=["status", "rows_delisted", "finished_at", "message"])
    ProfileChange.objects.filter(account=account, synced_job__isnull=True).update(synced_job=job)
    return job


def _finish_failed(job: SyncJob, reason: str) -> SyncJob:
    job.refresh_from_db()
    where = (
        f"Stopped at page {job.pages_done + 1}"
        if job.pages_done
        else "Stopped before the first page"
    )
    job.status = SyncJob.Status.FAILED
    job.finished_at = timezone.now()
    job.message = (
        f"{where}: {reason}. Pages written before it are kept; nothing was delisted. "
        "The next sync repairs the rest."
    )[:2000]
    job.save(update_fields=["status", "finished_at", "message"])
    logger.warning("catalog sync %s of account %s failed: %s", job.pk, job.account_id, reason)
    return job


def _refresh_profile(account: SupplierAccount, client) -> str:
    balance = client.balance()
    new_profile = balance.balance_profile or ""
    if account.balance_profile and new_profile and new_profile != account.balance_profile:
        ProfileChange.objects.create(
            account=account, old_profile=account.balance_profile, new_profile=new_profile
        )
    SupplierAccount.objects.filter(pk=account.pk).update(
        balance_profile=new_profile, is_postpaid=balance.is_postpaid
    )
    account.balance_profile, account.is_postpaid = new_profile, balance.is_postpaid
    return new_profile


def _plan_passes(client) -> tuple[list[str | None], int]:
    total = client.sync_page(page=1, limit=1).count
    counts = {
        category: client.sync_page(page=1, limit=1, category=category).count
        for category in CATEGORIES
    }
    if sum(counts.values()) == total:
        return [category for category, count in counts.items() if count], total
    return [None], total


def _row_values(row, category: str | None) -> dict:
    product_name = row.product_name or ""
    offer_name = row.offer_name or ""
    return {
        "product_id": row.product_id,
        "product_name": product_name[:200],
        "offer_name": offer_name[:200],
        "category": (category or row.category or "")[:60],
        "search_text": f"{product_name} {offer_name}".lower(),
        "price": row.price,
        "currency": row.currency or "",
        "in_stock": bool(row.in_stock),
        "requires_user_id": bool(row.requires_game_user_id),
        "requires_server_id": bool(row.requires_game_server_id),
    }


def _write_page(
    job: SyncJob, account: SupplierAccount, rows, category: str | None, seen: set[int]
) -> None:
    now = timezone.now()
    with transaction.atomic():
        result = upsert_offers(account=account, rows=rows, category=category, now=now, seen=seen)
        SyncJob.objects.filter(pk=job.pk).update(
            pages_done=F("pages_done") + 1,
            rows_fetched=F("rows_fetched") + len(rows),
            rows_written=F("rows_written") + result.written,
            rows_new=F("rows_new") + result.new,
            rows_changed=F("rows_changed") + result.changed,
            price_changes=F("price_changes") + result.price_changes,
            rows_relisted=F("rows_relisted") + result.relisted,
            heartbeat_at=now,
        )


def upsert_offers(
    *, account: SupplierAccount, rows, category: str | None, now, seen: set[int]
) -> PageResult:
    """Write one page of sync rows: new and changed offers only, plus their price history."""
    result = PageResult()
    incoming: dict[int, dict] = {}
    for row in rows:
        incoming[row.offer_id] = _row_values(row, category)
    seen.update(incoming)
    known = {
        values[0]: values
        for values in Offer.objects.filter(
            account=account, offer_id__in=list(incoming)
        ).values_list("offer_id", "pk", "delisted_at", "first_seen_at", *SYNCED_FIELDS)
    }
    to_write: list[Offer] = []
    price_moves: list[tuple[int, dict]] = []  # (offer_id, values) needing a history row
    for offer_id, values in incoming.items():
        current = known.get(offer_id)
        if current is None:
            result.new += 1
            to_write.append(
                Offer(
                    account=account, offer_id=offer_id, first_seen_at=now, synced_at=now, **values
                )
            )
            price_moves.append((offer_id, values))
            continue
        _, pk, delisted_at, first_seen_at, *old = current
        old_values = dict(zip(SYNCED_FIELDS, old, strict=True))
        if old_values == values and delisted_at is None:
            continue  # unchanged: not rewritten
        offer = Offer(
            pk=pk,
            account=account,
            offer_id=offer_id,
            first_seen_at=first_seen_at,
            synced_at=now,
            delisted_at=None,
            **values,
        )
        if delisted_at is not None:
            result.relisted += 1
        if old_values != values:
            result.changed += 1
        if old_values["price"] != values["price"] or old_values["currency"] != values["currency"]:
            result.price_changes += 1
            offer.previous_price = old_values["price"]
            offer.price_changed_at = now
            price_moves.append((offer_id, values))
        to_write.append(offer)
    if not to_write:
        return result
    moved_prices = {offer_id for offer_id, _ in price_moves}
    with_price_change = [o for o in to_write if o.offer_id in moved_prices and o.pk is not None]
    without_price_change = [o for o in to_write if o not in with_price_change]
    base_fields = [*SYNCED_FIELDS, "synced_at", "delisted_at"]
    for batch, fields in (
        (without_price_change, base_fields),
        (with_price_change, [*base_fields, "previous_price", "price_changed_at"]),
    ):
        if batch:
            Offer.objects.bulk_create(
                batch,
                update_conflicts=True,
                unique_fields=["account", "offer_id"],
                update_fields=fields,
            )
    result.written = len(to_write)
    if price_moves:
        pks = dict(
            Offer.objects.filter(account=account, offer_id__in=list(moved_prices)).values_list(
                "offer_id", "pk"
            )
        )
        PriceHistory.objects.bulk_create(
            PriceHistory(
                offer_id=pks[offer_id],
                price=values["price"],
                currency=values["currency"],
                recorded_at=now,
            )
            for offer_id, values in price_moves
        )
    return result


def _delist_missing(account: SupplierAccount, seen: set[int]) -> int:
    listed = Offer.objects.filter(account=account, delisted_at__isnull=True)
    missing = [
        offer_id
        for offer_id in listed.values_list("offer_id", flat=True).iterator()
        if offer_id not in seen
    ]
    now = timezone.now()
    for start in range(0, len(missing), 5000):
        listed.filter(offer_id__in=missing[start : start + 5000]).update(delisted_at=now)
    return len(missing)
