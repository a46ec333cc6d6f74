"""Work queues by who is waiting, so that no batch, sync or burst of email ever delays a manual
order (README, "Workers and queues").

- ``people``: a manual order and what follows it (its polls, its resend), the sweeps that rebuild
  pending work (orders, and the job rescue, which must not wait behind the syncs it looks after),
  a held account's balance check. A person is looking at the page.
- ``batches``: reading an uploaded batch file, confirming it, and sending and following its orders.
- ``background``: catalog and ledger syncs, balance snapshots, reconciliation runs.
- ``mail``: customers' key emails.

Each queue is consumed by its own worker in the Procfile and in docker-compose. A task's queue
comes from `ROUTES` by its name; an order task names its queue when it is sent, from the order
(`queue_for_order`), since the same task serves a manual order and a batch's.
"""

from __future__ import annotations

from django.conf import settings

PEOPLE, BATCHES, BACKGROUND, MAIL = "people", "batches", "background", "mail"
KINDS = (PEOPLE, BATCHES, BACKGROUND, MAIL)

ROUTES = {
    "orders.tasks.submit_order": PEOPLE,
    "orders.tasks.poll_order": PEOPLE,
    "orders.tasks.check_account_queue": PEOPLE,
    "orders.tasks.sweep_orders": PEOPLE,
    "orders.tasks.read_batch": BATCHES,
    "orders.tasks.confirm_batch": BATCHES,
    "orders.tasks.send_batch": BATCHES,
    "orders.tasks.submit_batch_orders": BATCHES,
    "orders.tasks.deliver_order": MAIL,
    "orders.tasks.notify_spend_approval": MAIL,
    # Telegram reports of completed sales: nobody waits on them (BACKGROUND is the default).
    "orders.tasks.send_gift_report": BACKGROUND,
    # A supplier's webhook moves an order on as a poll answer does: someone may be waiting.
    "orders.tasks.process_webhook_event": PEOPLE,
    "orders.tasks.sweep_webhook_events": PEOPLE,
    "orders.tasks.sweep_gift_reports": BACKGROUND,
    "reseller.core.tasks.rescue_jobs": PEOPLE,
}


def queue_name(kind: str) -> str:
    """The broker's name of a kind of queue (the test suite gives each process its own)."""
    return f"{settings.WORK_QUEUE_PREFIX}{kind}"


def all_queue_names() -> str:
    """Every queue, as a worker's ``--queues`` option takes them."""
    return ",".join(queue_name(kind) for kind in KINDS)


def queue_for_order(batch_id: int | None) -> str:
    """Where an order's own tasks go: a batch's orders never share the manual orders' queue."""
    return queue_name(BATCHES if batch_id else PEOPLE)


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery's router (`CELERY_TASK_ROUTES`). A queue given when the task is sent wins."""
    return {"queue": queue_name(ROUTES.get(name, BACKGROUND))}
