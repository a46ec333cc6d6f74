"""Spend controls: limits per person and per supplier account, and a second pair of eyes above
the approval threshold.

Amounts are USD at the rate valid now (`catalog.selectors.currency_rate_at`), from the prices the
order page or the batch preview ordered at. A daily limit is checked and moved in one
conditional UPDATE of its counter (`SpendUsage`: "add this amount if the total stays within the
limit"), in the transaction that creates the orders or confirms the batch: the UPDATE holds the
counter's row until commit, so two confirmations at the same moment run one after the other and
the second sees the first's amount (on SQLite every write transaction runs alone already). The
account's counter is always moved before the person's, so two requests never wait on each other
in opposite orders. What was ordered stays counted for the day, whatever became of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.pricing import usd_cost
from catalog.selectors import currency_rate_at
from orders.dispatch import enqueue_after_commit
from orders.errors import OrderActionRefused, OrderError, SpendRefused
from orders.models import SpendApproval, SpendLimit, SpendUsage
from orders.selectors import spend_limit_of, used_today
from reseller.core.services import audit_record

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
K = SpendLimit.Kind
S = SpendUsage.Scope


def usd(amount: Decimal) -> str:
    return f"{amount.quantize(CENT, ROUND_HALF_UP):,.2f} USD"


def spend_day() -> date:
    return timezone.localdate()


def order_cost_usd(
    *, unit_price: Decimal, units: int, quantity: int, currency: str
) -> Decimal | None:
    """What `quantity` orders at `unit_price` cost in USD at the rate valid now. Without a rate
    for the currency: None while no limit is set at all (nothing to check), otherwise refused
    (a limit cannot be checked against an amount nobody can convert)."""
    rate = currency_rate_at(currency)
    if rate is not None:
        return usd_cost(unit_price, units or 1, rate) * quantity
    if not SpendLimit.objects.exists():
        return None
    raise SpendRefused(
        f"There is no USD rate for {currency} yet, so the spending limits cannot be checked: "
        "nothing was ordered. An admin sets the rate on the pricing page."
    )


# --- the limits ---------------------------------------------------------------------------------


@transaction.atomic
def spend_limit_set(
    *, kind: str, amount_usd: Decimal | None, user=None, account=None, by, request=None
) -> SpendLimit | None:
    """Set (or with no amount, remove) one limit, recording the value before and after."""
    kind = K(kind)
    if kind == K.ACCOUNT_DAY and account is None:
        raise OrderError("An account's daily limit needs the account.")
    if kind != K.ACCOUNT_DAY:
        account = None
    if kind == K.APPROVAL_ABOVE:
        user = None
    if amount_usd is not None and (not amount_usd.is_finite() or amount_usd < 0):
        raise OrderError("A limit is an amount of USD, zero or more.")
    if amount_usd is not None:
        amount_usd = amount_usd.quantize(CENT, ROUND_HALF_UP)
    row = (
        SpendLimit.objects.select_for_update().filter(kind=kind, user=user, account=account).first()
    )
    before = None if row is None else str(row.amount_usd)
    if amount_usd is None:
        if row is not None:
            row.delete()
            row = None
    elif row is None:
        row = SpendLimit.objects.create(
            kind=kind, user=user, account=account, amount_usd=amount_usd, updated_by=by
        )
    else:
        row.amount_usd = amount_usd
        row.updated_by = by
        row.save(update_fields=["amount_usd", "updated_by", "updated_at"])
    after = None if row is None else str(row.amount_usd)
    if before != after:
        audit_record(
            action="spend_limit.changed",
            actor=by,
            request=request,
            target_type="spend_limit",
            target_id=kind,
            data={
                "kind": kind,
                "user": getattr(user, "username", None),
                "account": getattr(account, "pk", None),
                "before": before,
                "after": after,
            },
        )
    return row


# --- checking and counting ----------------------------------------------------------------------


@dataclass(frozen=True)
class DailyCounter:
    scope: str
    subject_id: int
    kind: str
    who: str  # "your" / "the account X's"


def _counters(*, user, account) -> list[tuple[DailyCounter, Decimal | None]]:
    """The daily counters a request moves, account first (the order locks are taken in)."""
    counters = [
        (
            DailyCounter(S.ACCOUNT, account.pk, K.ACCOUNT_DAY, f"the account {account.name}'s"),
            spend_limit_of(K.ACCOUNT_DAY, account=account),
        )
    ]
    if getattr(user, "pk", None) is not None:
        counters.append(
            (
                DailyCounter(S.PERSON, user.pk, K.PERSON_DAY, f"{user.get_username()}'s"),
                spend_limit_of(K.PERSON_DAY, user=user),
            )
        )
    return counters


def _refusal(counter: DailyCounter, limit: Decimal, used: Decimal, needs: Decimal) -> SpendRefused:
    left = max(limit - used, Decimal(0))
    return SpendRefused(
        f"Over {counter.who} daily limit of {usd(limit)}: {usd(used)} is used today "
        f"({usd(left)} left) and this needs {usd(needs)}. Nothing was ordered.",
        extra={"limit": str(limit), "used": str(used), "needs": str(needs)},
    )


def _check_request(*, user, amount_usd: Decimal) -> None:
    limit = spend_limit_of(K.PERSON_REQUEST, user=user) if user is not None else None
    if limit is not None and amount_usd > limit:
        raise SpendRefused(
            f"Over the limit of {usd(limit)} for one order or batch: this needs "
            f"{usd(amount_usd)}. Nothing was ordered.",
            extra={"limit": str(limit), "used": "0", "needs": str(amount_usd)},
        )


def spend_check(*, user, account, amount_usd: Decimal) -> None:
    """Refuse a request that would pass a limit as things are now (counts nothing)."""
    _check_request(user=user, amount_usd=amount_usd)
    for counter, limit in _counters(user=user, account=account):
        used = used_today(counter.scope, counter.subject_id)
        if limit is not None and used + amount_usd > limit:
            raise _refusal(counter, limit, used, amount_usd)


def _counter_row(counter: DailyCounter, day: date) -> int:
    try:
        with transaction.atomic():
            row, _ = SpendUsage.objects.get_or_create(
                scope=counter.scope, subject_id=counter.subject_id, day=day
            )
    except IntegrityError:  # created at the same moment by another request
        row = SpendUsage.objects.get(scope=counter.scope, subject_id=counter.subject_id, day=day)
    return row.pk


def spend_count(*, user, account, amount_usd: Decimal) -> dict:
    """Count `amount_usd` against the day's limits of `user` and `account`, or raise
    SpendRefused with the numbers. Runs in the caller's transaction (the orders are created in
    it): a refusal rolls back every counter moved. Returns what to give back with
    `spend_uncount` if the request is undone later."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("spend_count runs inside the transaction that orders")
    _check_request(user=user, amount_usd=amount_usd)
    day = spend_day()
    for counter, limit in _counters(user=user, account=account):
        pk = _counter_row(counter, day)
        rows = SpendUsage.objects.filter(pk=pk)
        if limit is not None:
            # The conditional UPDATE is the check: it holds the row until commit.
            rows = rows.filter(used_usd__lte=limit - amount_usd)
        if not rows.update(used_usd=F("used_usd") + amount_usd):
            used = SpendUsage.objects.filter(pk=pk).values_list("used_usd", flat=True).get()
            raise _refusal(counter, limit or Decimal(0), used, amount_usd)
    return {
        "usd": str(amount_usd),
        "day": day.isoformat(),
        "user": getattr(user, "pk", None),
        "account": account.pk,
    }


def spend_uncount(counted: dict | None) -> None:
    """Give back what `spend_count` counted (a confirmation that ordered nothing after all)."""
    if not counted:
        return
    amount = Decimal(counted["usd"])
    scopes = [(S.ACCOUNT, counted["account"]), (S.PERSON, counted.get("user"))]
    for scope, subject_id in scopes:
        if subject_id is not None:
            SpendUsage.objects.filter(
                scope=scope, subject_id=subject_id, day=counted["day"]
            ).update(used_usd=F("used_usd") - amount)


# --- approvals ----------------------------------------------------------------------------------


def approval_needed(amount_usd: Decimal) -> bool:
    threshold = spend_limit_of(K.APPROVAL_ABOVE)
    return threshold is not None and amount_usd > threshold


def spend_approval_request(
    *, account, amount_usd: Decimal, by, batch=None, order_ids=(), request=None
) -> SpendApproval:
    """Record a request waiting for a second person; the approvers are emailed once it commits."""
    approval = SpendApproval.objects.create(
        batch=batch,
        order_ids=list(order_ids),
        account=account,
        amount_usd=amount_usd,
        requested_by=by,
    )
    audit_record(
        action="spend.approval_requested",
        actor=by,
        request=request,
        target_type="spend_approval",
        target_id=str(approval.pk),
        data={"amount_usd": str(amount_usd), "batch": getattr(batch, "pk", None)},
    )
    enqueue_after_commit("notify_spend_approval", [approval.pk])
    return approval


def approvers():
    """Active staff who may approve (holding the permission directly, by group, or as
    superusers)."""
    perm = Q(user_permissions__codename="approve_spend") | Q(
        groups__permissions__codename="approve_spend"
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(perm | Q(is_superuser=True))
        .distinct()
    )


def spend_approval_notify(*, approval_id: int) -> bool:
    """Email the approvers about one waiting request, once: the claim (`notified_at`) is taken in
    one conditional UPDATE, so a message delivered twice sends one email. Returns whether it sent."""
    now = timezone.now()
    claimed = SpendApproval.objects.filter(
        pk=approval_id, status=SpendApproval.Status.WAITING, notified_at=None
    ).update(notified_at=now)
    if not claimed:
        return False
    approval = SpendApproval.objects.select_related("requested_by", "account").get(pk=approval_id)
    recipients = sorted(
        {user.email for user in approvers().exclude(pk=approval.requested_by_id) if user.email}
    )
    if not recipients:
        logger.warning("approval %s: no approver has an email address", approval_id)
        return False
    what = f"Batch #{approval.batch_id}" if approval.batch_id else "An order"
    subject = f"Approval needed: {what}, {usd(approval.amount_usd)}"
    body = (
        f"{what} for {usd(approval.amount_usd)} on {approval.account.name}, asked by "
        f"{approval.requested_by.get_username()}, waits for approval. Nothing is sent before it.\n"
        "Approve or reject it from the dashboard of the back-office.\n"
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # noqa: BLE001 (give the claim back so a retry sends it)
        SpendApproval.objects.filter(pk=approval_id).update(notified_at=None)
        raise
    return True


def approval_for_decision(approval_id: int, *, by) -> SpendApproval:
    """The waiting approval, locked, once `by` may decide it."""
    approval = SpendApproval.objects.select_for_update().filter(pk=approval_id).first()
    if approval is None:
        raise OrderActionRefused("This approval request does not exist.")
    if approval.requested_by_id == by.pk:
        raise OrderActionRefused("A second person approves: you cannot approve your own request.")
    if not by.has_perm("orders.approve_spend"):
        raise OrderActionRefused("You may not approve spending.")
    if approval.status != SpendApproval.Status.WAITING:
        raise OrderActionRefused(
            f"This request was {approval.get_status_display().lower()} already."
        )
    return approval


def approval_close(
    approval: SpendApproval, *, approved: bool, by, comment: str, request=None
) -> None:
    approval.status = SpendApproval.Status.APPROVED if approved else SpendApproval.Status.REJECTED
    approval.decided_by = by
    approval.decided_at = timezone.now()
    approval.comment = comment
    approval.save(update_fields=["status", "decided_by", "decided_at", "comment"])
    audit_record(
        action="spend.approved" if approved else "spend.rejected",
        actor=by,
        request=request,
        target_type="spend_approval",
        target_id=str(approval.pk),
        data={
            "amount_usd": str(approval.amount_usd),
            "batch": approval.batch_id,
            "orders": approval.order_ids,
            "comment": comment[:500],
        },
    )
