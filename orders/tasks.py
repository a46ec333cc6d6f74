"""Celery tasks of the orders app: thin. Each takes an id, re-fetches, returns if there is
nothing left to do, and calls one service. Every one of them is safe to run twice, at once
included (claims with SKIP LOCKED and leases decide who calls the supplier), so all are
`acks_late`: a task lost with its worker is delivered again, and the sweep re-creates any task
the broker lost."""

import smtplib

from celery import shared_task

from orders import gift_reports, services, webhooks
from orders.batches import preview
from orders.models import AccountQueue, Batch, Order
from orders.states import POLLED_STATUSES


@shared_task(ignore_result=True, acks_late=True)
def submit_order(order_id: int) -> None:
    # No "already done?" query first: the claim itself takes only a QUEUED order.
    services.order_submit(order_id=order_id, reload=False)


@shared_task(ignore_result=True, acks_late=True)
def submit_batch_orders(order_ids: list[int]) -> None:
    """A batch's orders, a few to a task (`BATCH_SUBMIT_CHUNK`): each is claimed and sent on its
    own, exactly as by `submit_order`; one already taken or sent is passed over by its claim."""
    for order_id in order_ids:
        services.order_submit(order_id=order_id, reload=False)


@shared_task(ignore_result=True, acks_late=True)
def poll_order(order_id: int) -> None:
    if not Order.objects.filter(pk=order_id, status__in=list(POLLED_STATUSES)).exists():
        return
    services.order_poll(order_id=order_id)


@shared_task(ignore_result=True, acks_late=True)
def check_account_queue(account_id: int) -> None:
    if not AccountQueue.objects.filter(account_id=account_id, on_hold=True).exists():
        return
    services.account_queue_check(account_id=account_id)


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def deliver_order(order_id: int) -> None:
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.delivered_at is not None or not order.email:
        return
    services.order_deliver(order=order)


# Its own time limits: a file of MAX_UNITS orders takes a minute or two (the default limits are
# for single orders). CONFIRM_RESCUE_AFTER is longer than the hard limit.
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=900, time_limit=960)
def confirm_batch(batch_id: int) -> None:
    if not Batch.objects.filter(pk=batch_id, status=Batch.Status.CONFIRMING).exists():
        return
    preview.batch_preview_create_orders(batch_id=batch_id)


# Reading a file of 50,000 rows takes seconds; checking its players with the supplier may take
# many minutes. A reading that dies is read again by the sweep (orders.batches.uploads).
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=900, time_limit=960)
def read_batch(batch_id: int) -> None:
    if not Batch.objects.filter(pk=batch_id, status=Batch.Status.READING).exists():
        return
    preview.batch_preview_read(batch_id=batch_id)


@shared_task(ignore_result=True, acks_late=True)
def send_batch(batch_id: int) -> None:
    services.batch_send(batch_id=batch_id)


@shared_task(ignore_result=True)
def sweep_orders() -> None:
    """Scheduled by beat (exactly one beat): rebuild the pending work from the rows."""
    services.orders_sweep()


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def notify_spend_approval(approval_id: int) -> None:
    from orders.services.spending import spend_approval_notify

    spend_approval_notify(approval_id=approval_id)


@shared_task(ignore_result=True, acks_late=True)
def send_gift_report(report_id: int) -> None:
    """Report one completed sale to Telegram (a claim makes a duplicate message harmless)."""
    gift_reports.gift_report_send(report_id=report_id)


@shared_task(ignore_result=True)
def sweep_gift_reports() -> None:
    gift_reports.gift_reports_sweep()


@shared_task(ignore_result=True, acks_late=True)
def process_webhook_event(event_id: int) -> None:
    """Apply one verified supplier webhook to its order (a locked row makes a repeat harmless)."""
    webhooks.webhook_process(event_id=event_id)


@shared_task(ignore_result=True)
def sweep_webhook_events() -> None:
    webhooks.webhook_events_sweep()
