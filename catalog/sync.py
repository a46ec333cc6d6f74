"""Catalog sync: an account's whole offer feed, paged through `offers/sync`, upserted in bulk.

How a sync runs (`catalog_sync_run`):

1. The balance endpoint gives the account's balance profile (a change is recorded: offers will
   appear or vanish, and the catalog page says so).
2. Small probes (`limit=1`) learn how many offers each category holds. Pages are then fetched per
   category, 5,000 rows a page, so every offer gets its category (sync rows do not carry one). If
   the categories do not add up to the whole feed, one uncategorised pass is made instead.
3. Each page is written in one transaction with a handful of queries whatever its size: one read
   of the rows already known, a bulk insert of the new offers and a bulk update of the changed
   ones only (unchanged rows are not rewritten), one insert of price-history rows, one update of
   the job's counters (see catalog/upsert.py). The next page is fetched by another thread meanwhile,
   and on PostgreSQL two pages are written at once (`_write_pages`); HTTP never happens inside a
   transaction.
4. Only after every page has been written is an offer missing from the feed marked delisted; a
   delisted offer that reappears is relisted. A sync that fails midway keeps the pages written so
   far (each is consistent on its own), rolls back the failing page, records why, and delists
   nothing; the next sync repairs.

What the supplier sends is not trusted:

- A row that cannot be read or stored (a price that is not a finite positive amount the catalog
  holds, an id past a bigint, an over-long currency, an object where text belongs) is left out,
  counted and listed with its reason on the sync's page (catalog/rows.py); the rest is written.
- Paging stops at the supplier's count plus one page. A page still full there, a page holding the
  same offers as the one before, or a feed past MAX_PAGES fails the sync with a plain reason
  (`FeedRefused`), nothing delisted.
- A failure's message never carries the database's error text (it is in the server log).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from functools import partial

from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from catalog import rows as checks
from catalog import upsert
from catalog.models import SUPPLIER_STARS_PRODUCT, Offer, ProfileChange, SyncJob, TelegramKind
from catalog.products import product_routes_check
from reseller.core import jobs
from reseller.core.errors import ApplicationError
from suppliers.capabilities import capabilities_of
from suppliers.clients import SupplierError
from suppliers.models import SupplierAccount
from suppliers.services import known_balance_profile, supplier_client

logger = logging.getLogger(__name__)

PAGE_SIZE = 5000
# Pages written at once on PostgreSQL, each through its own connection (see _write_pages).
WRITERS = 2
CATEGORIES = ("Top Up", "Gift Cards")
# No feed is read past this many pages (5,000,000 offers at PAGE_SIZE): a supplier whose pages
# never end fails the sync instead of running it for hours.
MAX_PAGES = 1000


class FeedRefused(Exception):
    """The supplier's paging cannot be trusted; the message says why, in plain words."""


class SyncAlreadyRunning(jobs.JobAlreadyActive):
    pass


class NoCatalogFeed(ApplicationError):
    """The account's supplier has no catalog feed: its offers are added by id (offer_lookup)."""


@dataclass
class PageResult:
    written: int = 0
    new: int = 0
    changed: int = 0
    price_changes: int = 0
    relisted: int = 0


def catalog_sync_start(*, account: SupplierAccount, by=None, trigger: str = "manual") -> SyncJob:
    """Queue a sync of the account and hand it to a worker. One sync per account at a time (a
    stale one, whose worker died or whose message was lost, is failed or re-sent first)."""
    if not capabilities_of(account).catalog_feed:
        raise NoCatalogFeed(_no_feed(account))
    started_by = by if getattr(by, "is_authenticated", False) else None
    try:
        return jobs.job_start(SyncJob, account=account, started_by=started_by, trigger=trigger)
    except jobs.JobAlreadyActive as error:
        raise SyncAlreadyRunning(error.message) from None


def catalog_sync_run(job_id: int) -> SyncJob | None:
    """Run a queued sync to the end (called by the worker's task). A job already claimed (a
    second delivery of its message) or no longer queued is left alone: None."""
    job = jobs.job_claim(SyncJob, job_id)
    if job is None:
        return None
    account = job.account
    if not capabilities_of(account).catalog_feed:
        return _finish_failed(job, _no_feed(account))
    client = supplier_client(account)
    seen: set[int] = set()
    # Only a sync creates offers and one sync of an account runs at a time: when the account has
    # none yet, every offer this sync has not met before is new, and none can be missing at the end.
    first = not Offer.objects.filter(account=account).exists()
    try:
        profile = _refresh_profile(account, client)
        SyncJob.objects.filter(pk=job.pk).update(balance_profile=profile)
        passes, expected = _plan_passes(client)
        SyncJob.objects.filter(pk=job.pk).update(rows_expected=expected)
        _write_pages(job, account, _pages_fetched_ahead(client, passes), seen, first=first)
        delisted = 0 if first else _delist_missing(account, seen)
    except SupplierError as error:
        return _finish_failed(job, f"{type(error).__name__}: {error}")
    except FeedRefused as error:
        return _finish_failed(job, str(error))
    except DatabaseError:
        # The database's own words can hold SQL and the supplier's data: they go to the log only.
        _finish_failed(
            job, "the database could not store a page (the details are in the server log)"
        )
        raise
    except Exception as error:  # noqa: BLE001 (recorded on the job, then re-raised for the log)
        _finish_failed(job, f"Unexpected error: {type(error).__name__}: {error}")
        raise
    job.refresh_from_db()
    jobs.job_finish(
        job,
        status=SyncJob.Status.SUCCEEDED,
        message=(
            f"{job.rows_fetched} offers fetched: {job.rows_new} new, {job.rows_changed} changed "
            f"({job.price_changes} price changes), {job.rows_relisted} back in the feed, "
            f"{delisted} delisted."
            + (
                f" {job.rows_rejected} row{'s' if job.rows_rejected != 1 else ''} skipped: the "
                "supplier's data could not be stored (listed below)."
                if job.rows_rejected
                else ""
            )
        ),
        rows_delisted=delisted,
    )
    job.refresh_from_db()
    ProfileChange.objects.filter(account=account, synced_job__isnull=True).update(synced_job=job)
    # A delisted or renamed offer leaves the products it delivered (noted on their pages).
    product_routes_check(account_id=account.pk)
    return job


def _no_feed(account: SupplierAccount) -> str:
    return (
        f"{account.get_kind_display()} has no catalog feed to sync: add its offers by id "
        "(Catalog, Add offers); a scheduled refresh keeps their prices current"
    )


def _pages(client, passes):
    """(category, rows the catalog can store, rejections) for each page of each pass."""
    fetched = 0
    for category in passes:
        page_number, last_page, previous = 1, MAX_PAGES, None
        while True:
            if fetched >= MAX_PAGES:
                raise FeedRefused(
                    f"the supplier's feed went on past {MAX_PAGES:,} pages "
                    f"({MAX_PAGES * PAGE_SIZE:,} offers); it was not read further"
                )
            page = client.sync_page(page=page_number, limit=PAGE_SIZE, category=category)
            fetched += 1
            size = len(page.rows) + len(page.rejected)
            if not size:
                break
            offers = (tuple(row.offer_id for row in page.rows), page.rejected)
            if offers == previous:
                raise FeedRefused(
                    f"the supplier sent page {page_number} with the same offers as page "
                    f"{page_number - 1}{_of(category)}: its paging is broken"
                )
            previous = offers
            if page_number == 1 and page.count_stated:
                last_page = -(-max(page.count, 0) // PAGE_SIZE) + 1
            rows, rejected = checks.checked_rows(
                page.rows, page.rejected, page=page_number, category=category
            )
            yield category, rows, rejected
            if size < PAGE_SIZE:
                break
            if page_number >= last_page:
                raise FeedRefused(
                    f"the supplier's feed went on past its own count of {page.count:,} offers"
                    f"{_of(category)} (page {page_number} was still full)"
                )
            page_number += 1


def _of(category: str | None) -> str:
    return f" of {category}" if category else ""


def _pages_fetched_ahead(client, passes):
    """The pages in order, the next one fetched while the current one is written.

    Fetching (the network) and writing (the database) then overlap, so a sync takes about as
    long as the slower of the two rather than their sum. At most two pages wait in memory.
    A failure in the fetching thread is raised here, at the page it happened on.

    Inside a transaction someone else opened, pages are fetched in turn instead: the thread has a
    database connection of its own (the shared rate limit lives in the cache), which can neither
    see that transaction's rows nor wait for them without deadlocking.
    """
    if connection.in_atomic_block:
        yield from _pages(client, passes)
        return
    pages: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for item in _pages(client, passes):
                while not stop.is_set():
                    try:
                        pages.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            pages.put(_DONE)
        except BaseException as error:  # noqa: BLE001 (handed to the writing thread)
            pages.put(error)
        finally:
            connections.close_all()  # the rate limiter may have used this thread's connection

    fetcher = threading.Thread(target=fetch, name="catalog-sync-fetch", daemon=True)
    fetcher.start()
    try:
        while True:
            item = pages.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        fetcher.join(timeout=30)


_DONE = object()


def _write_pages(job: SyncJob, account: SupplierAccount, pages, seen: set[int], *, first) -> None:
    """Write the pages as they arrive, each in its own transaction.

    On PostgreSQL, WRITERS threads write pages at once, each through a connection of its own: the
    database's work on a page (indexes, constraint checks) is most of a sync's time, and one
    connection keeps it on one processor. Pages hold different offers, so their transactions do not
    wait for one another, except briefly for the job's counters. A page that holds an offer a page
    still being written also holds (a feed that shifts while it is paged can repeat one) waits for
    that page, so the offer is inserted once and then updated, as when pages are written in turn.

    A failure stops the sync once the pages already being written are done, so every page before
    the one that failed is kept and the job's page count says where it stopped.
    """
    if WRITERS < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        # SQLite writes one transaction at a time anyway; inside a transaction someone else
        # opened, other connections could not see its rows.
        for category, rows, rejected in pages:
            _write_page(job, account, rows, category, seen, first=first, rejected=rejected)
        return

    todo: queue.Queue = queue.Queue(maxsize=1)
    changed = threading.Condition()
    in_flight: dict[int, set[int]] = {}  # page number -> its offer ids, while being written
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while (item := todo.get()) is not None:
                number, category, rows, rejected = item
                try:
                    if not failures:
                        _write_page(
                            job, account, rows, category, seen, first=first, rejected=rejected
                        )
                except BaseException as error:  # noqa: BLE001 (raised by the dispatching thread)
                    failures.append(error)
                finally:
                    with changed:
                        del in_flight[number]
                        changed.notify_all()
        finally:
            connections.close_all()

    def may_write(ids: set[int]) -> bool:
        """A writer failed (stop), or no page being written holds one of the offers `ids`."""
        return bool(failures) or not any(ids & other for other in in_flight.values())

    writers = [
        threading.Thread(target=write, name=f"catalog-sync-write-{n}", daemon=True)
        for n in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    try:
        for number, (category, rows, rejected) in enumerate(pages, start=1):
            ids = {row.offer_id for row in rows}
            with changed:
                changed.wait_for(partial(may_write, ids))
                if failures:
                    break
                in_flight[number] = ids
            todo.put((number, category, rows, rejected))
    finally:
        for _ in writers:
            todo.put(None)
        for writer in writers:
            writer.join()
    if failures:
        raise failures[0]


def _finish_failed(job: SyncJob, reason: str) -> SyncJob:
    job.refresh_from_db()
    where = (
        f"Stopped at page {job.pages_done + 1}"
        if job.pages_done
        else "Stopped before the first page"
    )
    jobs.job_finish(
        job,
        status=SyncJob.Status.FAILED,
        message=(
            f"{where}: {reason}. Pages written before it are kept; nothing was delisted. "
            "The next sync repairs the rest."
        )[:2000],
    )
    job.refresh_from_db()
    logger.warning("catalog sync %s of account %s failed: %s", job.pk, job.account_id, reason)
    return job


def _refresh_profile(account: SupplierAccount, client) -> str:
    balance = client.balance()
    new_profile, _problem = known_balance_profile(balance.balance_profile)
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


def compared_values(row, category: str | None) -> tuple:
    """A sync row as the values of upsert.COMPARED, in that order."""
    return (
        row.product_id,
        (row.product_name or "")[:200],
        (row.offer_name or "")[:200],
        (category or row.category or "")[:60],
        row.price,
        row.currency or "",
        bool(row.in_stock),
        bool(row.requires_game_user_id),
        bool(row.requires_game_server_id),
        checks.known_units(row.count),
    )


def search_text(row) -> str:
    return f"{row.product_name or ''} {row.offer_name or ''}".lower()


def _write_page(
    job: SyncJob,
    account: SupplierAccount,
    rows,
    category: str | None,
    seen: set[int],
    *,
    first: bool = False,
    rejected: list[checks.Rejection] | tuple = (),
) -> None:
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The page's commit need not wait for the WAL to reach the disk. A crash of the database
            # server can lose only the pages committed in its last moments, whole, never half a
            # page; the job's end is an ordinary commit, which makes every page before it durable,
            # so a sync that lost pages never reads as finished, and the next sync writes them.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        result = upsert_offers(
            account=account, rows=rows, category=category, now=now, seen=seen, first=first
        )
        jobs.job_heartbeat(
            job,
            now=now,
            **_rejections_noted(job, rejected),
            pages_done=F("pages_done") + 1,
            rows_fetched=F("rows_fetched") + len(rows) + len(rejected),
            rows_written=F("rows_written") + result.written,
            rows_new=F("rows_new") + result.new,
            rows_changed=F("rows_changed") + result.changed,
            price_changes=F("price_changes") + result.price_changes,
            rows_relisted=F("rows_relisted") + result.relisted,
        )


def _rejections_noted(job: SyncJob, rejected) -> dict:
    """The job's fields that note a page's rejected rows: all are counted, and the first
    KEPT_REJECTIONS of the sync are listed. The job's row is locked first (inside the page's
    transaction), so two pages written at once do not overwrite each other's list."""
    if not rejected:
        return {}
    kept = (
        SyncJob.objects.select_for_update()
        .filter(pk=job.pk)
        .values_list("rejected_rows", flat=True)
        .get()
    )
    room = checks.KEPT_REJECTIONS - len(kept)
    fields: dict = {"rows_rejected": F("rows_rejected") + len(rejected)}
    if room > 0:
        fields["rejected_rows"] = [*kept, *(r.as_json() for r in rejected[:room])]
    return fields


def upsert_offers(
    *,
    account: SupplierAccount,
    rows,
    category: str | None,
    now,
    seen: set[int],
    first: bool = False,
) -> PageResult:
    """Write one page of sync rows: new and changed offers only, plus their price history.

    `seen` holds the offers of the sync's earlier pages; `first` says the account had no offers
    when the sync began, so only those can be stored already.
    """
    result = PageResult()
    incoming = {row.offer_id: row for row in rows}
    # A feed that shifts while it is paged can repeat an offer on a later page.
    maybe_known = [offer_id for offer_id in incoming if offer_id in seen] if first else incoming
    seen.update(incoming)
    known = upsert.known_offers(account.pk, list(maybe_known)) if maybe_known else {}
    fresh: dict[int, tuple] = {}
    changed: dict[int, tuple] = {}
    changed_pks: list[int] = []
    moves: list[tuple[int | None, int, tuple]] = []  # (pk if known, offer_id, values): price moved
    price_at, currency_at = upsert.PRICE_AT, upsert.CURRENCY_AT
    for offer_id, row in incoming.items():
        values = compared_values(row, category)
        current = known.get(offer_id)
        if current is None:
            fresh[offer_id] = (*values, search_text(row))
            moves.append((None, offer_id, values))
            continue
        old = current[3:]  # after offer_id, pk and is_delisted
        if values[upsert.UNITS_AT] is None:
            # A feed row without a count keeps the count find-one (or an earlier row) gave.
            values = (
                *values[: upsert.UNITS_AT],
                old[upsert.UNITS_AT],
                *values[upsert.UNITS_AT + 1 :],
            )
        if values == old:
            if current[2]:
                result.relisted += 1
                changed[offer_id] = (*values, search_text(row))
                changed_pks.append(current[1])
            continue  # unchanged: not rewritten
        result.relisted += bool(current[2])
        result.changed += 1
        changed[offer_id] = (*values, search_text(row))
        changed_pks.append(current[1])
        if old[price_at] != values[price_at] or old[currency_at] != values[currency_at]:
            result.price_changes += 1
            moves.append((current[1], offer_id, values))
    new_ids = upsert.upsert_offers(account.pk, fresh, changed, now, changed_pks=changed_pks)
    upsert.insert_price_history(
        [
            (pk or new_ids[offer_id], values[price_at], values[currency_at])
            for pk, offer_id, values in moves
        ],
        now,
    )
    stars = [new_ids[i] for i in fresh if incoming[i].product_name == SUPPLIER_STARS_PRODUCT]
    if stars:
        # The supplier says these are Stars; an admin's later change is never overwritten.
        Offer.objects.filter(pk__in=stars).update(telegram_kind=TelegramKind.STARS)
    result.new = len(fresh)
    result.written = len(fresh) + len(changed)
    return result


def _delist_missing(account: SupplierAccount, seen: set[int]) -> int:
    missing = [offer_id for offer_id in upsert.listed_offer_ids(account.pk) if offer_id not in seen]
    listed = Offer.objects.filter(account=account, delisted_at__isnull=True)
    now = timezone.now()
    for start in range(0, len(missing), 5000):
        listed.filter(offer_id__in=missing[start : start + 5000]).update(delisted_at=now)
    return len(missing)
