"""The account's order queue: INSUFFICIENT_BALANCE holds it; a balance that covers the next
order (or an operator) resumes it and releases its held orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.pricing import usd_cost
from catalog.selectors import currency_rate_at
from orders import schedule
from orders.dispatch import enqueue_submit_after_commit
from orders.models import AccountQueue, Order, OrderStatus
from orders.services.limits import (
    RELEASE_CHUNK,
)
from orders.services.moving import (
    order_move,
)
from orders.services.records import (
    error_text,
)
from reseller.core.services import audit_record
from suppliers.capabilities import capabilities_of
from suppliers.clients import SupplierError
from suppliers.models import SupplierAccount
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_client


def release_held_orders(*, now: datetime, limit: int, account_id: int | None = None) -> int:
    """Move released ON_HOLD orders (their queue resumed: `next_poll_at` set) back to QUEUED."""
    with transaction.atomic():
        held = Order.objects.select_for_update(skip_locked=True).filter(
            status=OrderStatus.ON_HOLD, next_poll_at__lte=now
        )
        if account_id is not None:
            held = held.filter(account_id=account_id)
        orders = list(held.order_by("next_poll_at", "pk")[:limit])
        for order in orders:
            order_move(order, OrderStatus.QUEUED, reason="The account's queue resumed.", now=now)
        enqueue_submit_after_commit(orders)
    return len(orders)


def account_queue_hold(*, account_id: int, reason: str, now: datetime) -> AccountQueue:
    queue, _ = AccountQueue.objects.select_for_update().get_or_create(account_id=account_id)
    newly = not queue.on_hold
    queue.on_hold = True
    queue.hold_reason = reason[:500]
    queue.held_since = queue.held_since if not newly else now
    queue.next_check_at = now + schedule.HOLD_CHECK_EVERY
    queue.save()
    if newly:
        audit_record(
            action="order_queue.held",
            target_type="suppliers.supplieraccount",
            target_id=str(account_id),
            data={"reason": reason},
        )
    return queue


def account_queue_resume(
    *,
    account: SupplierAccount,
    by=None,
    request=None,
    reason: str = "Resumed by an operator.",
    now: datetime | None = None,
) -> int:
    """Take the account's queue off hold and send its held orders again, oldest first.
    Returns how many were moved back to QUEUED now (the sweep moves the rest)."""
    now = now or timezone.now()
    with transaction.atomic():
        queue, _ = AccountQueue.objects.select_for_update().get_or_create(account=account)
        was_held, hold_reason = queue.on_hold, queue.hold_reason
        queue.on_hold = False
        queue.hold_reason = ""
        queue.held_since = None
        queue.next_check_at = None
        queue.save()
        held = Order.objects.filter(account=account, status=OrderStatus.ON_HOLD).update(
            next_poll_at=now, updated_at=now
        )
        audit_record(
            action="order_queue.resumed",
            actor=by,
            request=request,
            target=account,
            data={"reason": reason, "was_held": was_held, "hold_reason": hold_reason, "held": held},
        )
    return release_held_orders(now=now, limit=RELEASE_CHUNK, account_id=account.pk)


def _usd_cost(order: Order) -> Decimal | None:
    """The order's USD cost: as recorded when it was sent, else at today's rate."""
    if order.usd_cost is not None:
        return order.usd_cost
    price = order.price_sent if order.price_sent is not None else order.quoted_price
    if price is None:
        return None
    rate = currency_rate_at(order.currency)
    return None if rate is None else usd_cost(price, order.units, rate)


def account_queue_check(*, account_id: int, now: datetime | None = None) -> bool:
    """A held account's check (the sweep's task): resume once the balance covers the next held
    order (postpaid accounts: at once). CodeGames has no balance endpoint: its queue is resumed
    on trial every few minutes; the next order either goes through or holds it again."""
    now = now or timezone.now()
    queue = (
        AccountQueue.objects.select_related("account")
        .filter(account_id=account_id, on_hold=True)
        .first()
    )
    if queue is None:
        return False
    account = queue.account
    if not capabilities_of(account).balance:
        if queue.held_since is None or now - queue.held_since >= schedule.HOLD_PROBE_EVERY:
            account_queue_resume(
                account=account,
                reason=(
                    f"Trial resume: {account.get_kind_display()} has no balance endpoint to check."
                ),
                now=now,
            )
            return True
        return False
    try:
        balance = supplier_client(account, max_retries=1).balance()
    except (SupplierError, RateLimitSaturated) as error:
        AccountQueue.objects.filter(pk=queue.pk).update(
            last_check_at=now,
            last_check_message=f"Balance check failed: {error_text(error)}"[:500],
        )
        return False
    next_held = (
        Order.objects.filter(account_id=account_id, status=OrderStatus.ON_HOLD)
        .order_by("created_at", "pk")
        .first()
    )
    needed = _usd_cost(next_held) if next_held is not None else Decimal(0)
    if balance.is_postpaid:
        funded, message = True, "The account is postpaid."
    elif needed is not None:
        funded = balance.balance >= needed
        message = f"Balance {balance.balance} USD; the next held order needs {needed} USD."
    else:
        # The held order's USD cost is unknown (no exchange rate): resume once money came in.
        funded = queue.last_seen_balance is not None and balance.balance > queue.last_seen_balance
        message = f"Balance {balance.balance} USD; the next order's USD cost is unknown."
    AccountQueue.objects.filter(pk=queue.pk).update(
        last_check_at=now, last_check_message=message[:500], last_seen_balance=balance.balance
    )
    if funded:
        account_queue_resume(account=account, reason=f"Funded. {message}", now=now)
    return funded
