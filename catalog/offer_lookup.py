"""The catalog of a supplier without a catalog feed (CodeGames), built offer by offer with find-one.

Its API has find-one and nothing that lists offers, so:

- An admin adds offers by id: one, a pasted list, or a CSV file (`offer_ids_read`). The ids go into
  an `OfferLookupJob` row, which a background worker runs (`offer_lookup_run`): find-one of each id,
  within the account's rate limit (the client's shared throttle) and using at most half of it
  (`RATE_SHARE`, so an order placed meanwhile is not kept waiting), and each answer stored at once
  (`offer_store_found`): name, price and currency, its `required` fields, whether it returns a key,
  its unit count. A first price, and every price change, writes a price-history row, as the sync does.
- The scheduled refresh (`offer_refresh_all`, from beat) runs the same job over every offer the
  account has, so prices stay current. An offer find-one no longer knows (OFFER_NOT_FOUND) is
  marked delisted (never deleted: orders point at it); one found again is listed again.
- find-one gives no category: an offer that returns a key is filed under "Gift Cards", any other
  under "Top Up", the feed's two categories, so the browser's filters read the same for both
  suppliers.

A look-up still running after `RUN_BUDGET_SECONDS` stops and hands the rest of its ids to a new job,
so a large catalog at a low rate limit never meets the task's time limit half done.

A supplier error other than OFFER_NOT_FOUND leaves the offer as it was and lists it on the job's
page; a refused token (INVALID_TOKEN) stops the job, since every other call would be refused too.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog import rows as checks
from catalog.models import Offer, OfferLookupJob, PriceHistory
from catalog.products import product_routes_check
from catalog.selectors import filter_choices_cache_key
from catalog.services import offer_apply_live
from reseller.core import jobs
from reseller.core.errors import ApplicationError
from reseller.core.ids import typed_id
from suppliers.capabilities import capabilities_of
from suppliers.clients import InvalidToken, OfferNotFound, SupplierError
from suppliers.clients import Offer as LiveOffer
from suppliers.models import SupplierAccount
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_client

logger = logging.getLogger(__name__)

#: At most this many ids are added at once (a paste or a file); a longer list is refused whole.
MAX_IDS = 5000
#: Column names a CSV file's offer-id column may have (compared without case, spaces or "_").
ID_COLUMNS = {"offerid", "offer", "id"}
CATEGORY_KEYS, CATEGORY_TOP_UPS = "Gift Cards", "Top Up"
#: The share of the account's rate limit a look-up uses, leaving the rest to orders.
RATE_SHARE = 0.5
#: A look-up stops after this long and hands the rest to a new job, well inside its task's
#: time limit (catalog.tasks.run_offer_lookup_job).
RUN_BUDGET_SECONDS = 1500


class OfferLookupRefused(ApplicationError):
    """The look-up cannot start: the reason is for the admin."""


class OfferLookupAlreadyRunning(jobs.JobAlreadyActive):
    pass


# --- reading the ids -----------------------------------------------------------------------------


@dataclass
class OfferIds:
    """The ids an admin gave, in the order given without repeats, and what could not be read."""

    ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, text: str, where: str) -> None:
        text = text.strip()
        if not text:
            return
        offer_id = typed_id(text)
        if offer_id is None or offer_id == 0:
            self.problems.append(f"{where}: {text[:30]!r} is not an offer id (a whole number)")
        elif offer_id not in self.ids:
            self.ids.append(offer_id)


def offer_ids_read(*, text: str = "", csv_file=None) -> OfferIds:
    """The offer ids of a paste (separated by spaces, commas, semicolons or lines) and of a CSV
    file (the column named offer_id, offerId or id, else the first; a header line is skipped)."""
    found = OfferIds()
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[\s,;]+", line):
            found.add(token, f"line {number}")
    if csv_file is not None:
        _read_csv(csv_file, found)
    if len(found.ids) > MAX_IDS:
        found.problems.insert(
            0, f"{len(found.ids)} offers at once is more than {MAX_IDS}: split the list"
        )
    return found


def _read_csv(csv_file, found: OfferIds) -> None:
    raw = csv_file.read()
    try:
        content = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        found.problems.append("the file is not UTF-8 text (save it as CSV UTF-8)")
        return
    try:
        dialect = csv.Sniffer().sniff(content[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(content), dialect))
    column = 0
    if rows and rows[0] and typed_id(rows[0][0]) is None:
        header = [re.sub(r"[\s_]", "", cell).lower() for cell in rows[0]]
        column = next((n for n, name in enumerate(header) if name in ID_COLUMNS), 0)
        rows = rows[1:]
        start = 2
    else:
        start = 1
    for number, row in enumerate(rows, start=start):
        if len(row) > column:
            found.add(row[column], f"file line {number}")


# --- starting and running a look-up --------------------------------------------------------------


def offer_lookup_start(
    *,
    account: SupplierAccount,
    offer_ids: list[int],
    purpose: str = OfferLookupJob.Purpose.ADD,
    by=None,
    trigger: str = "manual",
) -> OfferLookupJob:
    """Queue a look-up of `offer_ids` for the account and hand it to a background worker."""
    if capabilities_of(account).catalog_feed:
        raise OfferLookupRefused(
            f"{account} has a catalog feed: its offers come from the catalog sync."
        )
    if not offer_ids:
        raise OfferLookupRefused("No offer ids to look up.")
    if len(offer_ids) > MAX_IDS and purpose == OfferLookupJob.Purpose.ADD:
        raise OfferLookupRefused(f"At most {MAX_IDS} offers can be added at once.")
    started_by = by if getattr(by, "is_authenticated", False) else None
    try:
        return jobs.job_start(
            OfferLookupJob,
            account=account,
            purpose=purpose,
            offer_ids=list(offer_ids),
            started_by=started_by,
            trigger=trigger,
        )
    except jobs.JobAlreadyActive as error:
        raise OfferLookupAlreadyRunning(
            f"{error.message} Wait for it to finish (it is on the catalog's look-up page), then "
            "start this one."
        ) from None


def offer_refresh_all(*, account: SupplierAccount, by=None, trigger: str = "schedule"):
    """Look up every offer the account has again (the scheduled refresh). None when it has none."""
    offer_ids = list(
        Offer.objects.filter(account=account)
        .order_by("offer_id")
        .values_list("offer_id", flat=True)
    )
    if not offer_ids:
        return None
    return offer_lookup_start(
        account=account,
        offer_ids=offer_ids,
        purpose=OfferLookupJob.Purpose.REFRESH,
        by=by,
        trigger=trigger,
    )


@dataclass
class _Counts:
    added: int = 0
    updated: int = 0
    price_changes: int = 0
    gone: int = 0
    failed: int = 0


def offer_lookup_run(job_id: int) -> OfferLookupJob | None:
    """Run a queued look-up to the end (the worker's task). A job already claimed (a second
    delivery of its message) or no longer queued is left alone: None."""
    job = jobs.job_claim(OfferLookupJob, job_id)
    if job is None:
        return None
    account = job.account
    client = supplier_client(account)
    # At most RATE_SHARE of the account's rate: orders placed meanwhile find free slots.
    spacing = 1 / (float(account.rate_limit_per_second) * RATE_SHARE)
    started = time.monotonic()
    remaining: list[int] = []
    try:
        for number, offer_id in enumerate(job.offer_ids, start=1):
            call_started = time.monotonic()
            counts, problem = _look_up(client, account, offer_id)
            _note(job, offer_id, counts, problem)
            if time.monotonic() - started > RUN_BUDGET_SECONDS:
                remaining = job.offer_ids[number:]
                break
            time.sleep(max(0.0, spacing - (time.monotonic() - call_started)))
    except InvalidToken as error:
        return _finish(
            job,
            OfferLookupJob.Status.FAILED,
            f"The supplier refused the account's token ({error}): nothing more was looked up. "
            f"{OfferLookupJob.after_failure}",
        )
    except Exception as error:  # noqa: BLE001 (recorded on the job, then re-raised for the log)
        _finish(job, OfferLookupJob.Status.FAILED, f"Unexpected error: {type(error).__name__}.")
        raise
    job.refresh_from_db()
    _keep_a_check_offer(account)
    cache.delete(filter_choices_cache_key(account))
    if not remaining:
        return _finish(job, OfferLookupJob.Status.SUCCEEDED, _summary(job))
    # Stopped to stay within a worker's time limit: the rest goes on in a job of its own, which
    # can start only once this one has finished (one look-up of an account at a time).
    summary = (
        f"{_summary(job)} Stopped after {RUN_BUDGET_SECONDS // 60} minutes to stay within a "
        "worker's time limit:"
    )
    _finish(job, OfferLookupJob.Status.SUCCEEDED, summary)
    try:
        follow = offer_lookup_start(
            account=account,
            offer_ids=remaining,
            purpose=job.purpose,
            by=job.started_by,
            trigger=job.trigger,
        )
    except OfferLookupAlreadyRunning:
        rest = (
            f" the other {len(remaining)} offers were not looked up, as another look-up began "
            "meanwhile: "
            + ", ".join(map(str, remaining[:50]))
            + ("…" if len(remaining) > 50 else "")
            + "."
        )
    else:
        rest = f" the other {len(remaining)} offers go on in look-up #{follow.pk}."
    OfferLookupJob.objects.filter(pk=job.pk).update(message=(summary + rest)[:4000])
    return OfferLookupJob.objects.get(pk=job.pk)


def _keep_a_check_offer(account: SupplierAccount) -> None:
    """Test connection asks find-one for the account's `check_offer_id`: give it one of the
    account's listed offers when it has none, or when find-one no longer knows its offer."""
    listed = Offer.objects.filter(account=account, delisted_at__isnull=True)
    current = account.check_offer_id
    if current is not None and listed.filter(offer_id=current).exists():
        return
    if current is not None and not Offer.objects.filter(account=account, offer_id=current).exists():
        return  # an offer the admin chose to test with, outside the catalog: theirs to change
    first = listed.order_by("offer_id").first()
    if first is not None:
        SupplierAccount.objects.filter(pk=account.pk, check_offer_id=current).update(
            check_offer_id=first.offer_id
        )


def _look_up(client, account: SupplierAccount, offer_id: int) -> tuple[_Counts, str]:
    counts = _Counts()
    try:
        live = client.find_one(offer_id)
    except OfferNotFound:
        if offer_mark_gone(account=account, offer_id=offer_id):
            counts.gone = 1
            return counts, "find-one no longer knows it (OFFER_NOT_FOUND): marked delisted"
        counts.failed = 1
        return counts, "the supplier does not know this offer (OFFER_NOT_FOUND): not added"
    except InvalidToken:
        raise
    except (SupplierError, RateLimitSaturated, ValueError) as error:
        counts.failed = 1
        return counts, f"not looked up: {type(error).__name__}: {error}"
    try:
        created, price_changed = offer_store_found(account=account, live=live)
    except OfferLookupRefused as error:
        counts.failed = 1
        return counts, error.message
    counts.added, counts.updated = int(created), int(not created)
    counts.price_changes = int(price_changed and not created)
    return counts, ""


def _note(job: OfferLookupJob, offer_id: int, counts: _Counts, problem: str) -> None:
    progress: dict = {
        "offers_done": F("offers_done") + 1,
        "offers_added": F("offers_added") + counts.added,
        "offers_updated": F("offers_updated") + counts.updated,
        "price_changes": F("price_changes") + counts.price_changes,
        "offers_gone": F("offers_gone") + counts.gone,
        "offers_failed": F("offers_failed") + counts.failed,
    }
    if problem:
        with transaction.atomic():
            kept = (
                OfferLookupJob.objects.select_for_update()
                .filter(pk=job.pk)
                .values_list("problems", flat=True)
                .get()
            )
            if len(kept) < OfferLookupJob.KEPT_PROBLEMS:
                progress["problems"] = [*kept, {"offer_id": offer_id, "reason": problem}]
            jobs.job_heartbeat(job, **progress)
        return
    jobs.job_heartbeat(job, **progress)


def _summary(job: OfferLookupJob) -> str:
    parts = [f"{job.offers_done} of {job.offers_total} offers looked up"]
    if job.offers_added:
        parts.append(f"{job.offers_added} added")
    if job.offers_updated:
        parts.append(f"{job.offers_updated} refreshed ({job.price_changes} price changes)")
    if job.offers_gone:
        parts.append(f"{job.offers_gone} no longer known to the supplier, marked delisted")
    if job.offers_failed:
        parts.append(f"{job.offers_failed} not stored (listed below)")
    return ", ".join(parts) + "."


def _finish(job: OfferLookupJob, status: str, message: str) -> OfferLookupJob:
    jobs.job_finish(job, status=status, message=message)
    product_routes_check(account_id=job.account_id)
    if status == OfferLookupJob.Status.FAILED:
        logger.warning("offer look-up %s of account %s failed: %s", job.pk, job.account_id, message)
    return OfferLookupJob.objects.get(pk=job.pk)


# --- storing one answer --------------------------------------------------------------------------


def offer_store_found(
    *, account: SupplierAccount, live: LiveOffer, source: str = "find-one"
) -> tuple[bool, bool]:
    """Store what find-one answered for one offer of a supplier without a feed: created or updated,
    listed again if it was delisted. Returns (created, price changed)."""
    problem = checks.price_problem(live.price) or checks.currency_problem(live.currency)
    if problem:
        raise OfferLookupRefused(
            f"the supplier answered a price the catalog cannot keep: {problem}"
        )
    now = timezone.now()
    with transaction.atomic():
        offer = (
            Offer.objects.select_for_update()
            .filter(account=account, offer_id=live.offer_id)
            .first()
        )
        created = offer is None
        if offer is None:
            offer = Offer(
                account=account,
                offer_id=live.offer_id,
                price=live.price,
                currency=live.currency,
                first_seen_at=now,
            )
        price_changed = offer_apply_live(offer, live, now=now, source=source, new=created)
        offer.product_name = (live.product_name or "")[:200]
        offer.offer_name = (live.offer_name or "")[:200]
        offer.search_text = f"{offer.product_name} {offer.offer_name}".lower()
        offer.category = CATEGORY_KEYS if live.returns_key else CATEGORY_TOP_UPS
        offer.in_stock = True
        offer.delisted_at = None
        offer.synced_at = now
        offer.save()
        if created:
            PriceHistory.objects.create(
                offer=offer,
                price=offer.price,
                currency=offer.currency,
                recorded_at=now,
                source=source,
            )
    return created, price_changed


def offer_mark_gone(*, account: SupplierAccount, offer_id: int) -> bool:
    """find-one no longer knows the offer: mark it delisted (kept, since orders point at it).
    False when the account has no such offer."""
    offer = Offer.objects.filter(account=account, offer_id=offer_id).first()
    if offer is None:
        return False
    Offer.objects.filter(pk=offer.pk, delisted_at__isnull=True).update(
        delisted_at=timezone.now(), in_stock=False
    )
    return True
