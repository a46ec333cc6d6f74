"""The sweep: the database is the work list; its cost follows the due orders only."""

import time
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import schedule
from orders.models import Batch, Order, OrderStatus
from orders.services import (
    batch_create,
    order_create,
    order_poll,
    order_submit,
    orders_sweep,
)
from tests.orders.conftest import place

S = OrderStatus


def pending_rows(offer, n: int, *, status=S.SUBMITTED, next_poll_at=None, last_sent_at=None):
    now = timezone.now()
    Order.objects.bulk_create(
        [
            Order(
                account=offer.account,
                offer=offer,
                transaction_id=f"rb-{uuid.uuid4().hex}",
                status=status,
                max_unit_price=Decimal("10"),
                quoted_price=Decimal("10"),
                currency="USD",
                next_poll_at=next_poll_at or now + timedelta(minutes=3),
                last_sent_at=last_sent_at or now,
                submitted_at=last_sent_at or now,
            )
            for _ in range(n)
        ]
    )


def test_the_broker_emptied_while_orders_are_pending_is_rebuilt_from_the_rows(
    sandbox_account, sandbox_offer, broker, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    # Orders were created and committed, but their messages never reached a worker.
    queued = [place(offer) for _ in range(3)]
    assert broker.ids("submit_order") == []
    # One was sent and its status poll was lost too; one died mid-submit.
    sent = order_submit(order_id=place(offer).pk)
    topup = sandbox_offer(account, kind="topup", req_server="false")
    polled = order_submit(order_id=place(topup).pk)
    assert polled.status == S.SUBMITTED
    paused = batch_create(name="paused")
    Batch.objects.filter(pk=paused.pk).update(status=Batch.Status.PAUSED)
    held_back = order_create(offer=offer, max_unit_price=offer.price, batch=paused)[0]

    future = timezone.now() + schedule.queued_rescue_after() + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        report = orders_sweep(now=future)
    assert sorted(broker.ids("submit_order")) == sorted(order.pk for order in queued)
    assert broker.ids("poll_order") == [polled.pk]
    assert held_back.pk not in broker.ids("submit_order") and sent.status == S.COMPLETED
    assert (report.requeued, report.polls) == (3, 1)

    # A second sweep right after enqueues nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        again = orders_sweep(now=future + timedelta(seconds=5))
    assert (again.requeued, again.polls) == (0, 0) and len(broker.ids("submit_order")) == 3

    broker.run("submit_order")  # the workers are back
    assert {o.status for o in Order.objects.filter(pk__in=[q.pk for q in queued])} == {S.COMPLETED}


def test_the_sweep_costs_the_same_queries_for_10_or_500_pending_orders(offline_offer):
    now = timezone.now()
    pending_rows(offline_offer, 10)
    pending_rows(offline_offer, 2, status=S.QUEUED, next_poll_at=now + timedelta(minutes=4))
    with CaptureQueriesContext(connection) as few:
        report = orders_sweep(now=now)
    assert report.polls == report.requeued == 0
    pending_rows(offline_offer, 490)
    pending_rows(offline_offer, 100, status=S.UNKNOWN)
    pending_rows(offline_offer, 100, status=S.QUEUED, next_poll_at=now + timedelta(minutes=4))
    with CaptureQueriesContext(connection) as many:
        orders_sweep(now=now)
    assert len(many) == len(few) <= 21, [q["sql"] for q in many.captured_queries]

    # Due orders cost one UPDATE per step, not one query each.
    pending_rows(offline_offer, 30, next_poll_at=now - timedelta(seconds=1))
    with CaptureQueriesContext(connection) as due:
        report = orders_sweep(now=now)
    assert report.polls == 30 and len(due) == len(few) + 1


def test_a_top_up_pending_past_60_minutes_needs_attention_and_is_still_followed(
    sandbox_account, sandbox_offer, sandbox_settings
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="topup", req_server="false")
    with sandbox_settings(topup_delay_seconds=1.0, cancel_share=0, fail_share=0):
        order = order_submit(order_id=place(offer).pk)
        hour_later = order.last_sent_at + timedelta(minutes=61)
        order = order_poll(order_id=order.pk, now=hour_later)
        assert order.status == S.NEEDS_ATTENTION
        assert "minutes after it was sent" in order.events.latest("id").reason
        # Not dropped: followed every 15 minutes.
        assert order.next_poll_at == hour_later + schedule.ATTENTION_FOLLOW_EVERY
        time.sleep(1.1)
        order = order_poll(order_id=order.pk, now=hour_later + timedelta(minutes=15))
    assert order.status == S.COMPLETED
    assert order.events.latest("id").from_status == S.NEEDS_ATTENTION


def test_the_sweep_flags_orders_nobody_polled_at_the_limit(offline_offer, broker):
    now = timezone.now()
    pending_rows(offline_offer, 2, status=S.PROCESSING, last_sent_at=now - timedelta(minutes=75))
    pending_rows(offline_offer, 1, status=S.UNKNOWN, last_sent_at=now - timedelta(minutes=75))
    pending_rows(offline_offer, 3, last_sent_at=now - timedelta(minutes=50))
    report = orders_sweep(now=now)
    assert report.past_limit == 3
    flagged = Order.objects.filter(status=S.NEEDS_ATTENTION)
    assert flagged.count() == 3
    # One more status check follows at once (it may still find the order finished).
    assert all(order.next_poll_at >= now for order in flagged)
    assert Order.objects.filter(status=S.SUBMITTED).count() == 3
