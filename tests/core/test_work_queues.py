"""Queues by who is waiting: a manual order never waits behind a batch or its emails."""

import contextlib
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import SyncJob
from catalog.sync import catalog_sync_start
from orders.dispatch import send_tasks
from orders.models import Batch, Order, OrderStatus
from orders.services import (
    BATCH_SUBMIT_CHUNK,
    OrderLine,
    batch_orders_create,
    new_transaction_id,
    order_create,
)
from reseller.core import queues
from reseller.core.jobs import JobStatus
from suppliers.models import SupplierAccount
from suppliers.services import supplier_account_save
from tests.conftest import celery_worker, wait_until
from tests.suppliers.clients.test_deadline import HostileServer

S = OrderStatus


@pytest.mark.parametrize(
    ("task", "kind"),
    [
        ("orders.tasks.submit_order", queues.PEOPLE),
        ("orders.tasks.poll_order", queues.PEOPLE),
        ("orders.tasks.sweep_orders", queues.PEOPLE),
        ("orders.tasks.submit_batch_orders", queues.BATCHES),
        ("orders.tasks.read_batch", queues.BATCHES),
        ("orders.tasks.confirm_batch", queues.BATCHES),
        ("orders.tasks.send_batch", queues.BATCHES),
        ("orders.tasks.deliver_order", queues.MAIL),
        ("catalog.tasks.run_sync_job", queues.BACKGROUND),
        ("finance.tasks.run_reconciliation", queues.BACKGROUND),
        ("reseller.core.tasks.record_heartbeat", queues.BACKGROUND),
    ],
)
def test_each_task_has_the_queue_of_who_waits_for_it(task, kind):
    from reseller.celery import app

    app.loader.import_default_modules()
    assert task in app.tasks
    assert app.amqp.router.route({}, task)["queue"].name == settings.WORK_QUEUE_PREFIX + kind


def test_an_order_of_a_batch_is_followed_on_the_batches_queue():
    assert queues.queue_for_order(None) == queues.queue_name(queues.PEOPLE)
    assert queues.queue_for_order(7) == queues.queue_name(queues.BATCHES)


@pytest.mark.django_db(transaction=True)
def test_a_manual_order_completes_while_a_batch_waits(sandbox_account, sandbox_offer):
    """A worker on the people's queue only: the batch's orders (sent to the batches' queue, a few
    to a message) stay QUEUED behind no one, the manual order placed after them completes."""
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    batch = Batch.objects.create(
        name="waiting", status=Batch.Status.CONFIRMED, confirmed_at=timezone.now()
    )
    lines = [
        OrderLine(offer=offer, max_unit_price=offer.price, row_number=n)
        for n in range(1, 4 * BATCH_SUBMIT_CHUNK + 1)
    ]
    with transaction.atomic():
        batch_orders_create(batch=batch, lines=lines)
    with celery_worker(queues.queue_name(queues.PEOPLE)) as worker:
        (manual,) = order_create(offer=offer, max_unit_price=Decimal(offer.price))
        wait_until(
            lambda: Order.objects.get(pk=manual.pk).status == S.COMPLETED,
            timeout=30,
            message="the manual order to complete",
        )
        assert worker.poll() is None
    assert set(Order.objects.filter(batch=batch).values_list("status", flat=True)) == {S.QUEUED}


# The workers as the Procfile starts them: one per group of queues.
PROCFILE_WORKERS = (
    (queues.PEOPLE,),
    (queues.BATCHES, queues.MAIL),
    (queues.BACKGROUND,),
)


def _completed_orders_to_email(offer, count: int) -> list[int]:
    now = timezone.now()
    rows = Order.objects.bulk_create(
        Order(
            account=offer.account,
            offer=offer,
            transaction_id=new_transaction_id(),
            status=S.COMPLETED,
            max_unit_price=offer.price,
            quoted_price=offer.price,
            price_sent=offer.price,
            currency=offer.currency,
            units_delivered=1,
            submit_attempts=1,
            submitted_at=now,
            last_sent_at=now,
            final_at=now,
            email=f"customer{n}@example.com",
        )
        for n in range(count)
    )
    return [row.pk for row in rows]


@pytest.mark.django_db(transaction=True)
def test_a_manual_order_completes_within_10_s_behind_stalled_syncs_and_200_emails(
    sandbox_account, sandbox_offer
):
    """The Procfile's workers. The background worker's two threads are each stuck in a catalog
    sync of a supplier that trickles its answer a byte at a time (until its 15 s deadline); 200
    key emails are queued; then a person places an order: it completes within 10 s. On one merged
    queue the order would wait behind the syncs (both threads of whichever worker took them) or
    the emails."""
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    trickling = HostileServer("trickle-headers", gap=0.5)
    stalled = [
        supplier_account_save(
            account=SupplierAccount(
                name=f"trickling-{n}",
                base_url=trickling.url,
                rate_limit_per_second=1000,
                call_deadline_seconds=15,
            ),
            shop_token=f"trickling-token-{n}-0000",
        )
        for n in (1, 2)
    ]
    emails = _completed_orders_to_email(offer, 200)
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(celery_worker(",".join(map(queues.queue_name, group))))
            for group in PROCFILE_WORKERS
        ]
        stack.callback(trickling.close)  # first out: the stalled calls end, the workers stop
        # Every worker is up: a first order completes (people), ...
        (first,) = order_create(offer=offer, max_unit_price=Decimal(offer.price))
        wait_until(
            lambda: Order.objects.get(pk=first.pk).status == S.COMPLETED,
            timeout=30,
            message="the first manual order to complete",
        )
        # ... both syncs are running and stuck on the trickling supplier (background), ...
        jobs = [catalog_sync_start(account=account) for account in stalled]
        wait_until(
            lambda: (
                SyncJob.objects.filter(
                    pk__in=[job.pk for job in jobs], status=JobStatus.RUNNING
                ).count()
                == 2
            ),
            timeout=30,
            message="both syncs to be running",
        )
        # ... and the emails are queued (mail).
        assert send_tasks("deliver_order", emails) == 200

        started = time.monotonic()
        (manual,) = order_create(offer=offer, max_unit_price=Decimal(offer.price))
        wait_until(
            lambda: Order.objects.get(pk=manual.pk).status == S.COMPLETED,
            timeout=10,
            interval=0.05,
            message="the manual order to complete within 10 s",
        )
        took = time.monotonic() - started
        # It waited behind neither: the syncs are still stuck and emails are still unsent.
        still_stalled = SyncJob.objects.filter(
            pk__in=[job.pk for job in jobs], status=JobStatus.RUNNING
        ).count()
        unsent = Order.objects.filter(pk__in=emails, delivered_at=None).count()
        # Nothing is left in the queues for the next test.
        wait_until(
            lambda: not Order.objects.filter(pk__in=emails, delivered_at=None).exists(),
            timeout=30,
            message="the 200 emails to be sent",
        )
        trickling.close()
        wait_until(
            lambda: (
                not SyncJob.objects.filter(
                    pk__in=[job.pk for job in jobs], status=JobStatus.RUNNING
                ).exists()
            ),
            timeout=30,
            message="the stalled syncs to end",
        )
        assert all(worker.poll() is None for worker in workers)
    assert took < 10 and still_stalled == 2 and unsent > 0, (took, still_stalled, unsent)
