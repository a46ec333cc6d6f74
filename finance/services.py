"""Writes of the finance app: balance snapshots and low-balance alerts, the ledger sync, and
reconciliation runs with finance's explanations.

Low-balance alerts (`balance_alert_evaluate`, after every snapshot)
===================================================================

An account is low when its balance is below the rule's USD threshold, or when it lasts fewer than
the rule's days at the recent spend rate (`selectors.spend_measure`: purchases - refunds per day,
from the ledger, over the 7 days up to where the ledger ends, its last sync; an older ledger is
named in the alert as out of date). A postpaid account has no balance to run out (it may go
negative; the page shows what it owes), so it raises no low-balance alert.

At most one alert per account is open (a database constraint). It is raised and emailed to the
active finance and admin staff once; while it stays open a later snapshot only updates it, and a
reminder goes out at most once per alert period (`FINANCE_ALERT_PERIOD_HOURS`, default 24).
When the balance recovers the alert is cleared. An alert cleared less than a period ago is
reopened rather than raised anew, so a balance hovering around the threshold does not flood the
mailbox: raised once per period, not on every snapshot; a rise from warning to danger is emailed
at once ("Now critical"), whatever the period. The email is claimed in the same
transaction that decides to send it, so two workers never send it twice.

The ledger sync (`ledger_sync_run`)
===================================

Pages come newest first (`GET /api/v1/balance/transactions`, the management credential) and are
stored as they came, idempotent by (account, supplier id): a unique constraint, inserts that
ignore conflicts. The first sync (and any sync after a failed one) reads every page; later ones
are incremental: they stop at the first page holding only known ids. A row booked while paging
pushes older rows down a page, so a page may repeat rows (ignored), never skip one. A row can
still be missed for good (an earlier pass stopped by a page of known rows while an older row was
missing below it, or a row deleted here): after an incremental pass the rows stored for the
account are compared with the supplier's total, and when fewer are stored every page is read
again in the same sync, which its record says.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from finance import reconciliation as engine
from finance import selectors
from finance.errors import (
    BalanceUnavailableForAccount,
    FinanceError,
    JobAlreadyRunning,
    LedgerCredentialMissing,
)
from finance.models import (
    BalanceAlert,
    BalanceAlertRule,
    BalanceSnapshot,
    ItemExplanation,
    JobStatus,
    LedgerEntry,
    LedgerSync,
    ReconciliationItem,
    ReconciliationRun,
)
from finance.reconciliation import storing
from reseller.core import jobs
from reseller.core.errors import ApplicationError
from reseller.core.services import audit_record
from suppliers.capabilities import capabilities_of
from suppliers.clients import LedgerTransaction, MissingCredential, SupplierError
from suppliers.models import SupplierAccount
from suppliers.services import supplier_client

logger = logging.getLogger(__name__)

LEDGER_PAGE_SIZE = 500

NO_MANAGEMENT_CREDENTIAL = (
    "The supplier's ledger needs the account's management credential (the supplier's separate "
    "login for the transaction history; the shop token is refused there). An admin sets it on "
    "the supplier account's page under Suppliers."
)


def alert_period() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "FINANCE_ALERT_PERIOD_HOURS", 24))


# --- balance snapshots ---------------------------------------------------------------------------


def balance_snapshot_take(
    *,
    account: SupplierAccount,
    by=None,
    trigger: str = "manual",
    now: dt.datetime | None = None,
) -> BalanceSnapshot:
    """Ask the supplier for the balance, store it, and raise or clear the low-balance alert."""
    if not selectors.has_balance_api(account):
        raise BalanceUnavailableForAccount(
            f"{account} is a {account.get_kind_display()} account: that supplier has no balance "
            "endpoint."
        )
    try:
        # A person waiting on the button gets one quick retry at most.
        manual = trigger == "manual"
        client = supplier_client(account, max_retries=1 if manual else 3, waiting=manual)
        balance = client.balance()
    except SupplierError as error:
        raise BalanceUnavailableForAccount(
            f"The supplier did not give the balance of {account}: {error}"
        ) from error
    return _snapshot_store(account, balance, by=by, trigger=trigger, now=now)


def balance_snapshot_seen(sender, account: SupplierAccount, balance, **kwargs) -> None:
    """`orders.signals.balance_seen`: a balance another page read from the supplier (the batch
    preview) is kept as a snapshot, so the overview and the dashboard show the same. Never
    raises into the page that read it."""
    try:
        with transaction.atomic():
            _snapshot_store(account, balance, by=None, trigger="batch preview", now=None)
    except Exception:
        logger.warning("could not keep the balance seen for %s", account.pk, exc_info=True)


def _snapshot_store(
    account: SupplierAccount, balance, *, by, trigger: str, now: dt.datetime | None
) -> BalanceSnapshot:
    snapshot = BalanceSnapshot.objects.create(
        account=account,
        taken_at=now or timezone.now(),
        balance=balance.balance,
        draft_balance=balance.draft_balance,
        is_postpaid=balance.is_postpaid,
        balance_profile=(balance.balance_profile or "")[:10],
        currency=(balance.currency or "USD")[:8],
        trigger=trigger,
        taken_by=by if getattr(by, "is_authenticated", False) else None,
    )
    balance_alert_evaluate(account=account, snapshot=snapshot, now=now)
    return snapshot


def balance_entry_record(
    *,
    account: SupplierAccount,
    balance: Decimal,
    note: str = "",
    by=None,
    request=None,
    now: dt.datetime | None = None,
) -> BalanceSnapshot:
    """Record a balance finance read elsewhere (the supplier's own site), for an account whose
    supplier has no balance endpoint, so its low-balance alert has something to judge. Audited;
    the snapshot says who entered it and when, and so does any alert it raises."""
    if capabilities_of(account).balance:
        raise FinanceError(
            f"{account}'s balance comes from its supplier: take a snapshot instead of entering it."
        )
    if not balance.is_finite() or abs(balance) >= Decimal(10) ** 14:
        raise FinanceError("The balance must be an amount in USD.")
    with transaction.atomic():
        snapshot = BalanceSnapshot.objects.create(
            account=account,
            taken_at=now or timezone.now(),
            balance=balance,
            currency="USD",
            trigger=BalanceSnapshot.ENTERED,
            taken_by=by if getattr(by, "is_authenticated", False) else None,
            note=note[:200],
        )
        audit_record(
            action="finance.balance_entered",
            actor=by,
            request=request,
            target=snapshot,
            data={"account": account.pk, "balance": str(balance), "note": note[:200]},
        )
    balance_alert_evaluate(account=account, snapshot=snapshot, now=now)
    return snapshot


def balance_snapshot_request(
    *, account: SupplierAccount, after_batch: bool = False, now: dt.datetime | None = None
) -> bool:
    """Ask a worker for a fresh snapshot of `account`, on the background queue (the supplier
    call keeps the background deadlines): when its latest is older than
    `selectors.snapshot_fresh_for()`, or at once `after_batch` (a batch just spent from it).
    The page that asks never waits for the supplier. Asked at most once a minute per account; a
    cache or broker out of reach means no early snapshot, never an error (the schedule takes
    the next). Returns whether it asked."""
    if not selectors.has_balance_api(account):
        return False
    now = now or timezone.now()
    if not after_batch and not selectors.snapshot_is_stale(account, now=now):
        return False
    try:
        if not cache.add(selectors.snapshot_asked_key(account), now.isoformat(), timeout=60):
            return False  # asked moments ago (another page, or the batch's end)
    except Exception:
        logger.warning("the cache is out of reach: a fresh snapshot is asked for anyway")
    from finance.tasks import take_balance_snapshot

    try:
        take_balance_snapshot.apply_async(
            (account.pk,), {"trigger": "batch end" if after_batch else "page"}
        )
    except Exception:
        logger.warning("could not ask a worker for a snapshot of %s", account.pk, exc_info=True)
        try:
            cache.delete(selectors.snapshot_asked_key(account))  # nothing is on its way
        except Exception:
            logger.warning("the cache is out of reach", exc_info=True)
        return False
    return True


def balance_snapshots_after_batches(sender, account_ids: Iterable[int], **kwargs) -> None:
    """`orders.signals.batch_finished`: a fresh snapshot of each account the batches spent from,
    so the overview, the dashboard and the next batch preview show what is left."""
    for account in selectors.finance_accounts().filter(pk__in=list(account_ids)):
        balance_snapshot_request(account=account, after_batch=True)


def _low_balance(
    account: SupplierAccount,
    snapshot: BalanceSnapshot,
    rule: BalanceAlertRule | None,
    now: dt.datetime,
) -> tuple[str, str, Decimal | None] | None:
    """(level, message, runway) when the balance is low by the rule, else None."""
    if snapshot.is_postpaid or rule is None:
        return None
    if rule.threshold_usd is None and rule.runway_days is None:
        return None
    balance = snapshot.balance
    spend = selectors.spend_measure(account, now=now)
    rate = spend.rate
    runway = selectors.runway_days(balance, rate)
    reasons = []
    if rule.threshold_usd is not None and balance < rule.threshold_usd:
        reasons.append(f"{balance:.2f} USD is below the threshold of {rule.threshold_usd:.2f} USD")
    if rule.runway_days is not None and runway is not None and runway < rule.runway_days:
        reasons.append(
            f"enough for {runway} days at the recent spend of {rate} USD a day "
            f"(the rule asks for {rule.runway_days})"
        )
        if spend.stale:
            reasons.append(
                f"the spend is measured up to {spend.until:%Y-%m-%d %H:%M %Z}: the ledger is out "
                "of date, sync it"
            )
    if not reasons:
        return None
    danger = balance <= 0 or (runway is not None and runway < 1)
    level = BalanceAlert.Level.DANGER if danger else BalanceAlert.Level.WARNING
    source = f" (the balance was {snapshot.source_text})" if snapshot.is_entered else ""
    return level, f"Low balance on {account.name}: " + "; ".join(reasons) + source + ".", runway


def balance_alert_evaluate(
    *, account: SupplierAccount, snapshot: BalanceSnapshot, now: dt.datetime | None = None
) -> BalanceAlert | None:
    """Raise, keep, or clear the account's alert after a snapshot (see the module doc).
    Returns the open alert, or None when the balance is fine."""
    now = now or timezone.now()
    low = _low_balance(account, snapshot, selectors.alert_rule(account), now)
    period = alert_period()
    try:
        with transaction.atomic():
            alert = (
                BalanceAlert.objects.select_for_update()
                .filter(account=account, cleared_at__isnull=True)
                .first()
            )
            if low is None:
                if alert is not None:
                    alert.cleared_at = now
                    alert.cleared_balance = snapshot.balance
                    alert.save(update_fields=["cleared_at", "cleared_balance"])
                return None
            level, message, runway = low
            escalated = (
                alert is not None
                and alert.level == BalanceAlert.Level.WARNING
                and level == BalanceAlert.Level.DANGER
            )
            if alert is None:
                alert = selectors.recent_alert(account, since=now - period)
                if alert is not None:  # cleared within the period: the same alert again
                    alert.cleared_at = alert.cleared_balance = None
                else:
                    alert = BalanceAlert(account=account, raised_at=now)
            alert.level, alert.message = level, message[:500]
            alert.balance, alert.runway_days, alert.last_seen_at = snapshot.balance, runway, now
            previous_notice = alert.notified_at
            # A rise from warning to danger is news: it is emailed whenever it happens.
            notify = escalated or previous_notice is None or previous_notice <= now - period
            if notify:  # claimed here, under the row lock: one email per period
                alert.notified_at = now
            alert.save()
    except IntegrityError:
        # Another worker opened the alert at the same moment; it sends the email.
        return selectors.open_alert(account)
    if notify:
        _alert_email(alert, previous_notice=previous_notice)
    return alert


def _alert_email(alert: BalanceAlert, *, previous_notice: dt.datetime | None) -> None:
    recipients = selectors.alert_recipients()
    if not recipients:
        logger.warning("low-balance alert %s: no finance or admin address to send it to", alert.pk)
        return
    reminder = previous_notice is not None
    if alert.level == BalanceAlert.Level.DANGER and reminder:
        subject = f"Now critical: {alert.account.name}"
    else:
        subject = f"{'Still low' if reminder else 'Low balance'}: {alert.account.name}"
    body = (
        f"{alert.message}\n\n"
        f"Balance {alert.balance:.2f} USD at {alert.last_seen_at:%Y-%m-%d %H:%M %Z}. "
        f"Raised {alert.raised_at:%Y-%m-%d %H:%M %Z}.\n"
        "The alert clears by itself when the balance recovers; see Finance in the back-office.\n"
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # noqa: BLE001 (give the claim back: the next snapshot tries again)
        logger.warning("could not email low-balance alert %s", alert.pk, exc_info=True)
        BalanceAlert.objects.filter(pk=alert.pk).update(notified_at=previous_notice)
        return
    BalanceAlert.objects.filter(pk=alert.pk).update(notify_count=F("notify_count") + 1)


def balance_alert_rule_save(
    *,
    account: SupplierAccount,
    threshold_usd: Decimal | None,
    runway_days: Decimal | None,
    by=None,
    request=None,
) -> BalanceAlertRule:
    """Set the account's low-balance rule (blank both to switch alerts off); the latest snapshot
    is judged by it at once."""
    for value, what in ((threshold_usd, "threshold"), (runway_days, "number of days")):
        if value is not None and value < 0:
            raise FinanceError(f"The {what} cannot be negative.")
    if runway_days is not None and not capabilities_of(account).ledger:
        raise FinanceError(
            f"{account} has no supplier ledger, so there is no spend rate to measure a runway by: "
            "set a threshold in USD instead."
        )
    with transaction.atomic():
        rule = _alert_rule_write(
            account=account,
            threshold_usd=threshold_usd,
            runway_days=runway_days,
            by=by,
            request=request,
        )
    snapshot = selectors.latest_snapshot(account)
    if snapshot is not None:
        balance_alert_evaluate(account=account, snapshot=snapshot)
    return rule


def _alert_rule_write(*, account, threshold_usd, runway_days, by, request) -> BalanceAlertRule:
    rule, _ = BalanceAlertRule.objects.select_for_update().get_or_create(account=account)
    before = {
        "threshold_usd": None if rule.threshold_usd is None else str(rule.threshold_usd),
        "runway_days": None if rule.runway_days is None else str(rule.runway_days),
    }
    rule.threshold_usd, rule.runway_days = threshold_usd, runway_days
    rule.updated_by = by if getattr(by, "is_authenticated", False) else None
    rule.save()
    audit_record(
        action="finance.alert_rule_saved",
        actor=by,
        request=request,
        target=rule,
        data={
            "account": account.pk,
            "before": before,
            "after": {
                "threshold_usd": None if threshold_usd is None else str(threshold_usd),
                "runway_days": None if runway_days is None else str(runway_days),
            },
        },
    )
    return rule


# --- the ledger ----------------------------------------------------------------------------------


def ledger_sync_start(*, account: SupplierAccount, by=None, trigger: str = "manual") -> LedgerSync:
    """Queue a sync of the account's ledger and hand it to a worker (one at a time per account;
    a stale one, whose worker died or whose message was lost, is failed or re-sent first)."""
    if not capabilities_of(account).ledger:
        raise FinanceError(
            f"{account} is a {account.get_kind_display()} account: that supplier has no ledger "
            "endpoint."
        )
    if not account.management_token:
        raise LedgerCredentialMissing(NO_MANAGEMENT_CREDENTIAL)
    try:
        return jobs.job_start(
            LedgerSync,
            account=account,
            trigger=trigger,
            started_by=by if getattr(by, "is_authenticated", False) else None,
        )
    except jobs.JobAlreadyActive as error:
        raise JobAlreadyRunning(error.message) from None


def _store_ledger_page(
    account: SupplierAccount, job: LedgerSync, rows: Iterable[LedgerTransaction]
) -> int:
    """Insert the rows not stored yet; returns how many were new."""
    unique: dict[int, LedgerTransaction] = {}
    for row in rows:
        unique.setdefault(row.id, row)
    known = selectors.known_supplier_ids(account, list(unique))
    now = timezone.now()
    new = [
        LedgerEntry(
            account=account,
            supplier_id=row.id,
            amount=row.amount,
            type=(row.type or "")[:20],
            description=row.description or "",
            balance_after=row.balance_after,
            created_at=row.created_at,
            fetched_at=now,
            sync=job,
        )
        for supplier_id, row in unique.items()
        if supplier_id not in known
    ]
    # The unique constraint makes a concurrent insert of the same row harmless.
    LedgerEntry.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def ledger_sync_run(job_id: int, *, page_size: int = LEDGER_PAGE_SIZE) -> LedgerSync | None:
    """Run a queued ledger sync to the end (called by the worker's task). A job already claimed
    (a second delivery of its message) or no longer queued is left alone: None."""
    job = jobs.job_claim(LedgerSync, job_id)
    if job is None:
        return None
    account = job.account
    previous = selectors.last_finished_ledger_sync(account)
    incremental = previous is not None and previous.status == JobStatus.SUCCEEDED
    LedgerSync.objects.filter(pk=job.pk).update(incremental=incremental)
    stopped_early = False
    repaired = ""
    if not capabilities_of(account).ledger:
        # A row queued before the account's kind changed: nothing to call.
        jobs.job_finish(
            job,
            status=JobStatus.FAILED,
            message=f"{account.get_kind_display()} has no ledger endpoint: nothing was read.",
        )
        return LedgerSync.objects.get(pk=job.pk)
    try:
        if not account.management_token:
            raise LedgerCredentialMissing(NO_MANAGEMENT_CREDENTIAL)
        client = supplier_client(account)
        stopped_early, total = _read_ledger_pages(
            client, account, job, page_size, stop_at_known=incremental
        )
        if stopped_early:
            held = LedgerEntry.objects.filter(account=account).count()
            if held < total:
                before = LedgerSync.objects.values_list("rows_new", flat=True).get(pk=job.pk)
                _read_ledger_pages(client, account, job, page_size, stop_at_known=False)
                after = LedgerSync.objects.values_list("rows_new", flat=True).get(pk=job.pk)
                repaired = (
                    f" Only {held} of the supplier's {total} rows were stored after the "
                    f"incremental pass, so every page was read again (full pass): "
                    f"{after - before} missing row{'s' if after - before != 1 else ''} stored."
                )
    except (LedgerCredentialMissing, MissingCredential):
        jobs.job_finish(job, status=JobStatus.FAILED, message=NO_MANAGEMENT_CREDENTIAL)
        return LedgerSync.objects.get(pk=job.pk)
    except SupplierError as error:
        jobs.job_finish(
            job,
            status=JobStatus.FAILED,
            message=f"The supplier did not give the ledger: {type(error).__name__}: {error}. "
            "Rows stored before it are kept; the next sync reads the whole ledger again.",
        )
        return LedgerSync.objects.get(pk=job.pk)
    except Exception as error:  # noqa: BLE001 (recorded on the job, then re-raised for the log)
        jobs.job_finish(
            job,
            status=JobStatus.FAILED,
            message=f"Unexpected error: {type(error).__name__}: {error}",
        )
        raise
    job.refresh_from_db()
    how = (
        f"incremental: stopped at page {job.pages_done}, the first holding only known rows"
        if stopped_early
        else ("incremental" if incremental else "full pass")
    )
    jobs.job_finish(
        job,
        status=JobStatus.SUCCEEDED,
        message=f"{job.rows_fetched} ledger rows read, {job.rows_new} new ({how}). "
        f"The supplier reports {job.rows_total} rows in all.{repaired}",
    )
    return LedgerSync.objects.get(pk=job.pk)


def _read_ledger_pages(
    client, account: SupplierAccount, job: LedgerSync, page_size: int, *, stop_at_known: bool
) -> tuple[bool, int]:
    """Read pages from the newest and store them; with `stop_at_known`, stop at the first page
    holding only known rows. Returns (stopped there, the supplier's total)."""
    page = 1
    while True:
        result = client.transactions(page=page, limit=page_size)
        rows = result.transactions
        with transaction.atomic():
            new = _store_ledger_page(account, job, rows)
            jobs.job_heartbeat(
                job,
                pages_done=F("pages_done") + 1,
                rows_fetched=F("rows_fetched") + len(rows),
                rows_new=F("rows_new") + new,
                rows_total=result.total,
            )
        if not rows or len(rows) < page_size or page * page_size >= result.total:
            return False, result.total
        if stop_at_known and new == 0:
            return True, result.total
        page += 1


# --- reconciliation ------------------------------------------------------------------------------


def reconciliation_start(
    *,
    account: SupplierAccount,
    period_start: dt.datetime,
    period_end: dt.datetime,
    fx_tolerance: Decimal | None = None,
    abs_tolerance: Decimal | None = None,
    window_slack: dt.timedelta | None = None,
    refund_window: dt.timedelta | None = None,
    by=None,
    request=None,
) -> ReconciliationRun:
    """Queue a reconciliation of the account's ledger against our orders for [start, end)."""
    if not capabilities_of(account).ledger:
        raise FinanceError(
            f"{account} is a {account.get_kind_display()} account: that supplier has no ledger, "
            "so there is nothing to reconcile our orders against."
        )
    if period_end <= period_start:
        raise FinanceError("The period must end after it starts.")
    defaults = engine.Settings()
    try:
        engine_settings = engine.Settings(
            fx_tolerance=defaults.fx_tolerance if fx_tolerance is None else fx_tolerance,
            abs_tolerance=defaults.abs_tolerance if abs_tolerance is None else abs_tolerance,
            window_slack=defaults.window_slack if window_slack is None else window_slack,
            refund_window=defaults.refund_window if refund_window is None else refund_window,
            period_start=period_start,
            period_end=period_end,
        )
    except ValueError as error:
        raise FinanceError(str(error)) from None
    last_sync = selectors.last_successful_ledger_sync(account)
    try:
        with transaction.atomic():
            run = jobs.job_start(
                ReconciliationRun,
                account=account,
                period_start=period_start,
                period_end=period_end,
                engine_settings=engine_settings.as_dict(),
                started_by=by if getattr(by, "is_authenticated", False) else None,
                ledger_synced_at=last_sync.finished_at if last_sync else None,
            )
            audit_record(
                action="reconciliation.started",
                actor=by,
                request=request,
                target=run,
                data={"account": account.pk, "settings": run.engine_settings},
            )
    except jobs.JobAlreadyActive as error:
        raise JobAlreadyRunning(error.message) from None
    return run


def _progress(run: ReconciliationRun, percent: int, label: str) -> None:
    jobs.job_heartbeat(run, progress=max(0, min(99, percent)), progress_label=label[:80])


def _summary(result: engine.ReconciliationResult) -> str:
    counts = result.counts
    parts = [
        f"{bucket.label.lower()} {count}"
        for bucket, count in counts.items()
        if count and bucket not in (engine.Bucket.DEPOSIT, engine.Bucket.OTHER)
    ]
    totals = result.totals
    tie = (
        "totals tie"
        if totals.ties
        else f"TOTALS DO NOT TIE by {totals.tie_difference} USD (see the chain breaks)"
    )
    return (
        f"{result.ledger_count} ledger rows, {result.order_count} orders: "
        + (", ".join(parts) or "nothing to match")
        + f"; {tie}."
    )


def reconciliation_run(run_id: int) -> ReconciliationRun | None:
    """Run a queued reconciliation to the end and store its result (the worker's task).

    The items and the finished state are written in one transaction: a run that fails (or whose
    worker dies) on the way leaves no items behind, and a finished run always shows all of them.
    """
    run = jobs.job_claim(ReconciliationRun, run_id)
    if run is None:
        return None
    try:
        began = time.perf_counter()
        _progress(run, 2, "reading the ledger and our orders")
        stored = engine.Settings.from_dict(run.engine_settings)
        inputs = selectors.reconciliation_inputs(
            run.account,
            start=run.period_start,
            end=run.period_end,
            slack=stored.window_slack,
            refund_window=stored.refund_window,
        )
        read = time.perf_counter()
        run_settings = dataclasses.replace(
            stored,
            opening_balance=inputs.opening_balance,
            opening_row_id=inputs.opening_row_id,
            ledger_synced_until=inputs.ledger_synced_until,
        )
        _progress(run, 10, "reconciling")
        result = engine.reconcile(
            inputs.entries,
            inputs.orders,
            run_settings,
            progress=lambda fraction, label: _progress(run, 10 + int(fraction * 60), label),
        )
        matched = time.perf_counter()
        counts = {bucket.value: count for bucket, count in result.counts.items()}
        total = sum(counts.values())
        _progress(run, 70, f"storing {total:,} items")
        with transaction.atomic():
            storing.items_write(storing.item_rows(run.pk, result, inputs.ledger_pks))
            jobs.job_finish(
                run,
                status=JobStatus.SUCCEEDED,
                message=_summary(result),
                heartbeat_at=timezone.now(),
                progress=100,
                progress_label="done",
                # The table's rates the orders were sent at, and the supplier's rates the run
                # observed against them, kept with the run for its page and its downloads.
                engine_settings={
                    **run_settings.as_dict(),
                    "fx_rates": inputs.fx_rates or {},
                    "observed_rates": [rate.as_dict() for rate in result.observed_rates],
                },
                warnings=inputs.warnings,
                ledger_warning=inputs.ledger_warning,
                ledger_count=result.ledger_count,
                order_count=result.order_count,
                refund_owed_count=result.refund_owed_count,
                hint_count=result.hint_count,
                counts=counts,
                totals=storing.totals_as_json(result.totals),
                ties=result.totals.ties,
            )
        logger.info(
            "reconciliation %s: %s ledger rows, %s orders, %s items; read %.1f s, "
            "matched %.1f s, stored %.1f s",
            run.pk,
            result.ledger_count,
            result.order_count,
            total,
            read - began,
            matched - read,
            time.perf_counter() - matched,
        )
    except (ApplicationError, ValueError) as error:
        text = error.message if isinstance(error, ApplicationError) else str(error)
        jobs.job_finish(
            run, status=JobStatus.FAILED, message=f"The reconciliation could not run: {text}"
        )
    except Exception as error:  # noqa: BLE001 (recorded on the run, then re-raised for the log)
        jobs.job_finish(
            run,
            status=JobStatus.FAILED,
            message=f"Unexpected error: {type(error).__name__}: {error}",
        )
        raise
    return ReconciliationRun.objects.get(pk=run.pk)


@transaction.atomic
def item_explain(*, item: ReconciliationItem, comment: str, by, request=None) -> ItemExplanation:
    """Mark an item explained (or change its explanation). Kept by the item's stable key, so
    every later run over the same row or order shows it. Audited with the text before and after."""
    comment = (comment or "").strip()
    if not comment:
        raise FinanceError("Say what explains this item.")
    run = item.run
    explanation = (
        ItemExplanation.objects.select_for_update()
        .filter(account_id=run.account_id, item_key=item.item_key)
        .first()
    )
    before = explanation.comment if explanation else ""
    if explanation is None:
        explanation = ItemExplanation(account_id=run.account_id, item_key=item.item_key)
    explanation.comment = comment
    explanation.bucket = item.bucket
    explanation.order_key = item.order_key
    explanation.run = run
    explanation.explained_by = by if getattr(by, "is_authenticated", False) else None
    explanation.explained_at = timezone.now()
    explanation.save()
    audit_record(
        action="reconciliation.item_explained",
        actor=by,
        request=request,
        target=explanation,
        data={
            "run": run.pk,
            "item_key": item.item_key,
            "bucket": item.bucket,
            "order_key": item.order_key,
            "comment": comment,
            "previous_comment": before,
        },
    )
    return explanation
