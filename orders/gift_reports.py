"""Telegram gift sales, reported exactly once from our side (``reportGiftPurchase``).

An outbox: when an order of an offer that sells Stars or a gift on Telegram (`Offer.telegram_kind`)
reaches COMPLETED, a `GiftReport` row is written in the same transaction (`gift_report_on_move`,
called by `orders.states.order_transition`); nothing is called inside it. A task sends the row
once the transaction commits; the sweep finds every row whose message was lost.

Exactly once from our side:

- The report's `transaction_id` is the order's own, Telegram's idempotency key: every resend
  uses it, and an answer saying it is already reported counts as reported.
- A worker claims the row (a conditional UPDATE to SENDING with a lease) and commits before the
  call. A worker killed after the call leaves the lease to expire; the next claim resends under
  the same `transaction_id`, and Telegram's duplicate answer settles it.
- A transient error (429, 5xx) is retried with back-off (Telegram's ``retry_after`` when it gives
  one); a lost or unreadable answer is retried the same way with the same `transaction_id`.
- A refusal (bad parameters, a refused bot token) stops: the row needs attention with the reason
  and is retried from the Telegram reports page once the cause is fixed.
- A sale refunded before any attempt is never reported (WITHHELD). Refunded after it was
  reported, the row is flagged for finance (`refunded_at`). Refunded while an attempt's answer
  was lost, it needs a person: whether Telegram has it is unknown.

Amounts: what the delivered units cost, in the order's currency, converted at the rates valid
when the sale completed (`catalog.selectors.currency_rate_at`) to the marketplace's report
currency, and rounded half-up to the smallest unit (cents, nanotons) in `Decimal` arithmetic,
never through a float.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.selectors import currency_rate_at
from orders.dispatch import enqueue_after_commit, send_tasks
from orders.models import GiftReport, GiftReportStatus, Order, OrderStatus
from reseller.core.ids import typed_id
from reseller.core.services import audit_record
from suppliers.clients import SupplierError, TelegramApiError
from suppliers.clients.telegram import (
    CURRENCY_DECIMALS,
    InvalidGiftReport,
    build_gift_report,
    to_smallest_units,
)
from suppliers.models import TelegramMarketplace

#: How long a claim holds a report: longer than one call may take (services.BOT_CALL_DEADLINE).
LEASE = timedelta(seconds=60)
#: Transient failures in a row after which a person is asked to look.
MAX_TRANSIENT_ATTEMPTS = 10
FIRST_RETRY_SECONDS = 5
MAX_RETRY_SECONDS = 600
#: How Telegram says a transaction_id is already reported (the answer to a resend).
ALREADY_REPORTED = ("TRANSACTION_ID_DUPLICATE", "ALREADY_REPORTED")
SWEEP_LIMIT = 500


class GiftReportProblem(Exception):
    """Why a sale's report cannot be built (a person fixes the cause, then retries)."""


# --- The outbox row, written with the order's move --------------------------------------------


def gift_report_on_move(order: Order, from_status: str, to: str, now: datetime) -> None:
    """Called by `order_transition` inside the transaction of every move: write the report row
    of a completed sale, withhold or flag it when the order is refunded."""
    if to == OrderStatus.COMPLETED:
        if order.offer.is_reported_to_telegram:
            _record_sale(order, now)
    elif to == OrderStatus.REFUNDED:
        _note_refund(order, now)


def _record_sale(order: Order, now: datetime) -> None:
    if GiftReport.objects.filter(order=order).exists():
        return  # completed again (after a partial delivery was made whole): one sale, one report
    report = GiftReport(order=order, transaction_id=order.transaction_id, transaction_at=now)
    _fill(report)
    report.save()
    if report.status == GiftReportStatus.PENDING:
        enqueue_after_commit("send_gift_report", [report.pk])


def _fill(report: GiftReport) -> None:
    """Build the report's parameters from its order (PENDING), or say why not (NEEDS_ATTENTION)."""
    marketplace = report.marketplace or reporting_marketplace()
    report.marketplace = marketplace
    try:
        if marketplace is None:
            raise GiftReportProblem(
                "No Telegram marketplace is set up: add one with its bot token, then retry."
            )
        if report.order is None:
            raise GiftReportProblem("The report has no order to build its parameters from.")
        report.parameters = sale_parameters(
            report.order, currency=marketplace.report_currency, at=report.transaction_at
        )
    except (GiftReportProblem, InvalidGiftReport) as problem:
        report.parameters = {}
        report.status = GiftReportStatus.NEEDS_ATTENTION
        report.last_error = str(problem)
        report.next_attempt_at = None
    else:
        report.status = GiftReportStatus.PENDING
        report.last_error = ""
        report.next_attempt_at = timezone.now()


def reporting_marketplace() -> TelegramMarketplace | None:
    return TelegramMarketplace.objects.filter(enabled=True).order_by("pk").first()


def sale_parameters(order: Order, *, currency: str, at: datetime) -> dict:
    """The validated reportGiftPurchase parameters of a completed order."""
    offer = order.offer
    names = offer.telegram_gift_list
    if not names:
        raise GiftReportProblem(
            f"The offer {offer} has no Telegram gift identifier: an admin sets it on the offer."
        )
    buyer_id = typed_id(order.game_user_id)
    if buyer_id is None:
        raise GiftReportProblem(
            "The order has no numeric Telegram user id of the buyer (resolve the @username)."
        )
    return build_gift_report(
        transaction_id=order.transaction_id,
        transaction_date=at,
        amount=sale_amount(order, currency=currency, at=at),
        currency=currency,
        buyer_id=buyer_id,
        gift_name=names[0] if len(names) == 1 else None,
        gift_names=names if len(names) > 1 else None,
    )


def sale_amount(order: Order, *, currency: str, at: datetime) -> int:
    """What the delivered units cost, in the smallest unit of `currency` (USD or TON)."""
    price = order.delivered_price
    if not price:
        raise GiftReportProblem("The order has no price of delivered units to report.")
    usd_per_unit = currency_rate_at(order.currency, at)
    if usd_per_unit is None:
        raise GiftReportProblem(
            f"No USD rate of {order.currency} was valid at {at:%Y-%m-%d %H:%M}."
        )
    usd_per_target = currency_rate_at(currency, at)
    if usd_per_target is None:
        raise GiftReportProblem(f"No USD rate of {currency} was valid at {at:%Y-%m-%d %H:%M}.")
    return to_units(price * usd_per_unit / usd_per_target, currency)


def to_units(amount: Decimal, currency: str) -> int:
    """`amount` of `currency` in its smallest unit, rounded half-up."""
    with localcontext() as context:
        context.prec = 60
        scaled = (amount * unit_scale(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(scaled)


def unit_scale(currency: str) -> int:
    return 10 ** CURRENCY_DECIMALS[currency]


def _note_refund(order: Order, now: datetime) -> None:
    report = GiftReport.objects.select_for_update().filter(order=order).first()
    if report is None or report.refunded_at is not None:
        return
    report.refunded_at = now
    fields = ["refunded_at", "updated_at"]
    never_sent = report.attempts == 0
    if never_sent and report.status in (GiftReportStatus.PENDING, GiftReportStatus.NEEDS_ATTENTION):
        report.status = GiftReportStatus.WITHHELD
        report.next_attempt_at = None
        report.last_error = "The order was refunded before the sale was reported."
        fields += ["status", "next_attempt_at", "last_error"]
    elif report.status == GiftReportStatus.PENDING:
        report.status = GiftReportStatus.NEEDS_ATTENTION
        report.next_attempt_at = None
        report.last_error = (
            "The order was refunded while an earlier report's answer was lost: whether Telegram "
            "has the sale is unknown. Finance decides; a retry resends it under the same id."
        )
        fields += ["status", "next_attempt_at", "last_error"]
    report.save(update_fields=fields)


# --- Sending -----------------------------------------------------------------------------------


def gift_report_claim(report_id: int, *, token: str, now: datetime | None = None):
    """Claim a report that is due (or whose earlier claim expired: its worker died, maybe after
    the call); None when another worker has it or nothing is due. Commits before any call."""
    now = now or timezone.now()
    due = Q(status=GiftReportStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    expired = Q(status=GiftReportStatus.SENDING, lease_expires_at__lt=now)
    with transaction.atomic():
        report = (
            GiftReport.objects.select_for_update(skip_locked=True)
            .filter(due | expired, pk=report_id)
            .first()
        )
        if report is None:
            return None
        # Compare and set on what was read (status, holder, attempts): where the database has
        # no row locks (SQLite), two workers reading the same row cannot both claim it.
        unchanged = GiftReport.objects.filter(
            pk=report.pk,
            status=report.status,
            claimed_by=report.claimed_by,
            attempts=report.attempts,
        )
        if report.refunded_at is not None and report.attempts == 0:
            unchanged.update(
                status=GiftReportStatus.WITHHELD,
                last_error="The order was refunded before the sale was reported.",
                updated_at=now,
            )
            return None
        # An expired claim: the worker holding it stopped, perhaps after Telegram got the call.
        report.outcome_unknown = report.outcome_unknown or report.status == GiftReportStatus.SENDING
        report.status = GiftReportStatus.SENDING
        report.claimed_by = token
        report.lease_expires_at = now + LEASE
        report.attempts += 1
        claimed = unchanged.update(
            status=report.status,
            claimed_by=token,
            lease_expires_at=report.lease_expires_at,
            attempts=report.attempts,
            outcome_unknown=report.outcome_unknown,
            updated_at=now,
        )
    return report if claimed else None


def gift_report_send(*, report_id: int, token: str | None = None) -> str | None:
    """Claim one report, call Telegram outside any transaction, record what it answered.
    Returns the report's status afterwards, or None when it was not claimed."""
    from suppliers.services import telegram_bot_client

    token = token or uuid.uuid4().hex
    report = gift_report_claim(report_id, token=token)
    if report is None:
        return None
    try:
        with telegram_bot_client(report.marketplace) as client:
            client.report_gift_purchase(**report.parameters)
    except TelegramApiError as error:
        return _finish_refused_or_busy(report, token, error)
    except InvalidGiftReport as error:
        return _finish(report, token, GiftReportStatus.NEEDS_ATTENTION, error=str(error))
    except SupplierError as error:
        # Lost or unreadable: Telegram may have it. Resent under the same transaction_id.
        return _retry_later(report, token, f"The answer was lost: {error}", unknown=True)
    return _finish(report, token, GiftReportStatus.SENT)


def _finish_refused_or_busy(report: GiftReport, token: str, error: TelegramApiError) -> str | None:
    described = error.supplier_message or str(error)
    if any(marker in described.upper() for marker in ALREADY_REPORTED):
        return _finish(report, token, GiftReportStatus.SENT, note="Telegram had it already.")
    if error.is_transient:
        return _retry_later(
            report, token, f"Telegram is busy: {described}", retry_after=error.retry_after
        )
    return _finish(
        report,
        token,
        GiftReportStatus.NEEDS_ATTENTION,
        error=f"Telegram refused the report: {described}",
    )


def _retry_later(
    report: GiftReport,
    token: str,
    error: str,
    *,
    unknown: bool = False,
    retry_after: float | None = None,
) -> str | None:
    if report.attempts >= MAX_TRANSIENT_ATTEMPTS:
        return _finish(
            report,
            token,
            GiftReportStatus.NEEDS_ATTENTION,
            error=f"{error} ({report.attempts} attempts). A retry resends it under the same id.",
            unknown=unknown,
        )
    delay = retry_after or min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (report.attempts - 1))
    delay *= random.uniform(1.0, 1.25)  # jitter: reports failing together do not retry together
    status = _finish(
        report,
        token,
        GiftReportStatus.PENDING,
        error=error,
        unknown=unknown,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    if status == GiftReportStatus.PENDING:
        send_tasks("send_gift_report", [report.pk], countdown=delay)
    return status


def _finish(
    report: GiftReport,
    token: str,
    status: str,
    *,
    error: str = "",
    note: str = "",
    unknown: bool | None = None,
    next_attempt_at: datetime | None = None,
) -> str | None:
    """Record an attempt's outcome, only while this worker's claim still holds."""
    now = timezone.now()
    fields: dict = {
        "status": status,
        "claimed_by": "",
        "lease_expires_at": None,
        "last_error": (error or note)[:2000],
        "next_attempt_at": next_attempt_at,
        "updated_at": now,
    }
    if status == GiftReportStatus.SENT:
        fields["sent_at"] = now
        fields["outcome_unknown"] = False
    elif unknown is not None:
        fields["outcome_unknown"] = unknown or report.outcome_unknown
    with transaction.atomic():
        moved = GiftReport.objects.filter(
            pk=report.pk, status=GiftReportStatus.SENDING, claimed_by=token
        ).update(**fields)
        if moved and status == GiftReportStatus.PENDING:
            refunded = GiftReport.objects.filter(pk=report.pk, refunded_at__isnull=False)
            # Refunded while this attempt was out: whether Telegram has it is unknown.
            refunded.update(
                status=GiftReportStatus.NEEDS_ATTENTION,
                next_attempt_at=None,
                last_error="The order was refunded while its report was being sent, and the "
                f"answer was not read ({error}). Finance decides; a retry resends it.",
            )
    if not moved:
        return None
    return GiftReport.objects.values_list("status", flat=True).get(pk=report.pk)


def gift_reports_sweep(*, now: datetime | None = None) -> int:
    """Send every report that is due, and every one whose claim expired (its worker died): the
    rows are the work list, whatever the broker lost."""
    now = now or timezone.now()
    due = GiftReport.objects.filter(
        Q(status=GiftReportStatus.PENDING, next_attempt_at__lte=now)
        | Q(status=GiftReportStatus.SENDING, lease_expires_at__lt=now)
    ).values_list("pk", flat=True)[:SWEEP_LIMIT]
    return send_tasks("send_gift_report", list(due))


# --- People's actions ------------------------------------------------------------------------


class GiftSaleRefused(Exception):
    """A sale recorded by hand that cannot be reported as given (nothing was written)."""


@transaction.atomic
def gift_sale_record(
    *,
    transaction_id: str,
    sold_at: datetime,
    amount: Decimal,
    currency: str,
    gift_names: list[str],
    buyer_id: int,
    sale_type: str = "listing",
    recipient_id: int | None = None,
    seller_id: int | None = None,
    by=None,
    request=None,
) -> GiftReport:
    """A gift sale that did not come through an order, recorded by finance or an admin: it goes
    through the same outbox (sent by the task, exactly once, under its own transaction_id)."""
    marketplace = reporting_marketplace()
    if marketplace is None:
        raise GiftSaleRefused("No Telegram marketplace is set up: add one under Suppliers first.")
    if GiftReport.objects.filter(transaction_id=transaction_id).exists():
        raise GiftSaleRefused(f"A sale with the transaction id {transaction_id!r} is recorded.")
    try:
        parameters = build_gift_report(
            transaction_id=transaction_id,
            transaction_date=sold_at,
            amount=to_smallest_units(amount, currency),
            currency=currency,
            buyer_id=buyer_id,
            gift_name=gift_names[0] if len(gift_names) == 1 else None,
            gift_names=gift_names if len(gift_names) > 1 else None,
            sale_type=sale_type,
            seller_id=seller_id,
            recipient_id=recipient_id,
        )
    except InvalidGiftReport as error:
        raise GiftSaleRefused(str(error)) from None
    report = GiftReport.objects.create(
        marketplace=marketplace,
        transaction_id=transaction_id,
        transaction_at=sold_at,
        parameters=parameters,
        status=GiftReportStatus.PENDING,
        next_attempt_at=timezone.now(),
    )
    audit_record(
        action="gift_report.sale_recorded",
        actor=by,
        request=request,
        target=report,
        data={"transaction_id": transaction_id, "amount": str(amount), "currency": currency},
    )
    enqueue_after_commit("send_gift_report", [report.pk])
    return report


class GiftReportNotRetryable(Exception):
    pass


@transaction.atomic
def gift_report_retry(*, report: GiftReport, by=None, request=None) -> GiftReport:
    """Send a report that needs attention again (same transaction_id), its parameters rebuilt
    from the order as it is now (an offer's gift identifier set since, a marketplace added)."""
    report = GiftReport.objects.select_for_update().get(pk=report.pk)
    if report.status != GiftReportStatus.NEEDS_ATTENTION:
        raise GiftReportNotRetryable(
            f"The report is {report.get_status_display().lower()}; only one that needs "
            "attention is retried."
        )
    if report.refunded_at is not None and report.attempts == 0:
        raise GiftReportNotRetryable("The order was refunded before the sale was reported.")
    if report.order is not None:
        _fill(report)
    else:
        report.status, report.next_attempt_at = GiftReportStatus.PENDING, timezone.now()
    report.save()
    audit_record(
        action="gift_report.retried",
        actor=by,
        request=request,
        target=report,
        data={"transaction_id": report.transaction_id, "status": report.status},
    )
    if report.status == GiftReportStatus.PENDING:
        enqueue_after_commit("send_gift_report", [report.pk])
    return report
