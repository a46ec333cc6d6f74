"""Queues by who is waiting: a manual order never waits behind a batch or its emails."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import Batch, Order, OrderStatus
from orders.services import BATCH_SUBMIT_CHUNK, OrderLine, batch_orders_create, order_create
from reseller.core import queues
from tests.conftest import celery_worker, wait_until

S = OrderStatus


@pytest.mark.parametrize(
    ("task", "kind"),
    [
        ("orders.tasks.submit_order", queues.PEOPLE),
        ("orders.tasks.poll_order", queues.PEOPLE),
        ("orders.tasks.sweep_orders", queues.PEOPLE),
        ("orders.tasks.submit_batch_orders", queues.BATCHES),
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
