"""The state machine as data: every allowed move applies and is recorded; every other is refused."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import schedule
from orders.errors import InvalidTransition
from orders.models import Order, OrderEvent, OrderStatus, OrderTransactionId
from orders.services import order_create
from orders.states import FINAL_STATUSES, TRANSITIONS, order_transition

S = OrderStatus


def test_the_table_names_every_status_and_only_known_ones():
    assert set(TRANSITIONS) == set(S.values)
    for targets in TRANSITIONS.values():
        assert targets <= set(S.values)
    # Final answers have no way out but the documented ones.
    for status in (S.CANCELED, S.FAILED, S.REFUNDED, S.RESOLVED):
        assert TRANSITIONS[status] == frozenset()
    # A withdrawn or refused order the supplier turns out to have after all needs attention.
    assert TRANSITIONS[S.WITHDRAWN] == frozenset({S.NEEDS_ATTENTION})
    assert TRANSITIONS[S.REJECTED] == frozenset({S.QUEUED, S.NEEDS_ATTENTION})


@pytest.mark.parametrize("from_status", S.values)
def test_every_move_from_a_status_is_applied_or_refused_by_the_table(
    offline_offer, operator, from_status
):
    order = order_create(offer=offline_offer, max_unit_price=Decimal("10"), by=operator)[0]
    for to_status in S.values:
        Order.objects.filter(pk=order.pk).update(status=from_status)
        order.refresh_from_db()
        before = OrderEvent.objects.filter(order=order).count()
        if to_status in TRANSITIONS[from_status]:
            order_transition(order, to_status, actor=operator, reason="test", data={"n": 1})
            assert Order.objects.get(pk=order.pk).status == to_status == order.status
            event = OrderEvent.objects.filter(order=order).latest("id")
            assert (event.from_status, event.to_status) == (from_status, to_status)
            assert event.actor == operator and event.reason == "test" and event.data == {"n": 1}
        else:
            with pytest.raises(InvalidTransition):
                order_transition(order, to_status, actor=operator)
            assert Order.objects.get(pk=order.pk).status == from_status
            assert OrderEvent.objects.filter(order=order).count() == before


def test_a_few_refused_moves_by_name(offline_offer):
    order = order_create(offer=offline_offer, max_unit_price=Decimal("10"))[0]
    for from_status, to_status in [
        (S.QUEUED, S.COMPLETED),  # never without a supplier answer
        (S.UNKNOWN, S.REJECTED),  # UNKNOWN is never a refusal
        (S.SUBMITTING, S.WITHDRAWN),  # may have been sent
        (S.COMPLETED, S.QUEUED),  # bought once, never again
        (S.REJECTED, S.COMPLETED),
        (S.ON_HOLD, S.SUBMITTING),  # a held order is released to QUEUED first
    ]:
        Order.objects.filter(pk=order.pk).update(status=from_status)
        with pytest.raises(InvalidTransition) as refused:
            order_transition(order, to_status)
        assert refused.value.extra == {"order": order.pk, "from": from_status, "to": to_status}


def test_moves_keep_the_bookkeeping_columns_consistent(offline_offer):
    order = order_create(offer=offline_offer, max_unit_price=Decimal("10"))[0]
    now = timezone.now()
    order_transition(
        order,
        S.SUBMITTING,
        changes={"claimed_by": "w1", "lease_expires_at": now + timedelta(seconds=90)},
        now=now,
    )
    assert order.next_poll_at is None and order.claimed_by == "w1"
    order_transition(order, S.SUBMITTED, now=now)
    order.refresh_from_db()
    # The lease is released and the first status call is due in 5 seconds.
    assert order.claimed_by == "" and order.lease_expires_at is None
    assert order.next_poll_at == now + timedelta(seconds=5)
    order_transition(order, S.COMPLETED, now=now)
    order.refresh_from_db()
    assert order.final_at == now and order.next_poll_at is None


def test_creation_commits_the_transaction_id_and_its_history(offline_offer, operator, broker):
    orders = order_create(
        offer=offline_offer, quantity=3, max_unit_price=Decimal("12"), by=operator
    )
    ids = [order.transaction_id for order in orders]
    assert len(set(ids)) == 3 and all(i.startswith("rb-") and len(i) <= 64 for i in ids)
    assert set(OrderTransactionId.objects.values_list("transaction_id", flat=True)) == set(ids)
    created = OrderEvent.objects.filter(order__in=orders, from_status="", to_status=S.QUEUED)
    assert created.count() == 3
    assert all(
        order.next_poll_at is not None
        for order in Order.objects.filter(pk__in=[o.pk for o in orders])
    )


def test_transaction_ids_are_unique_in_the_database(offline_offer):
    from django.db import IntegrityError, transaction

    first, second = order_create(offer=offline_offer, quantity=2, max_unit_price=Decimal("10"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=second.pk).update(transaction_id=first.transaction_id)


def test_final_statuses_are_the_ones_without_work():
    assert S.NEEDS_ATTENTION not in FINAL_STATUSES and S.ON_HOLD not in FINAL_STATUSES
    assert S.REJECTED in FINAL_STATUSES


def test_polling_backs_off_and_costs_few_status_calls_per_hour():
    now = timezone.now()
    delays = [schedule.poll_delay(n).total_seconds() for n in range(10)]
    assert delays == [5, 10, 20, 30, 60, 120, 180, 300, 300, 300]
    assert schedule.status_calls_within() == 18
    # The last call is made exactly at the 60-minute limit, not after it.
    sent = now - timedelta(minutes=58)
    assert schedule.next_pending_poll(
        pending_polls=12, last_sent_at=sent, now=now
    ) == sent + timedelta(minutes=60)


def test_a_move_decided_on_an_old_reading_of_the_row_is_refused(offline_offer, operator):
    """Compare and set: another writer moved the order since it was read, so a move that the
    table would allow from the new status is still refused, and nothing is written."""
    order = order_create(offer=offline_offer, max_unit_price=Decimal("10"), by=operator)[0]
    stale = Order.objects.get(pk=order.pk)  # read as QUEUED
    order_transition(order, S.SUBMITTING, reason="another worker claimed it")
    events = OrderEvent.objects.filter(order=order).count()
    with pytest.raises(InvalidTransition, match="from Submitting"):
        order_transition(stale, S.ON_HOLD, reason="decided on the QUEUED reading")
    order.refresh_from_db()
    assert order.status == S.SUBMITTING
    assert OrderEvent.objects.filter(order=order).count() == events


def test_the_rescue_and_the_back_off_are_read_from_the_settings(settings):
    settings.ORDERS_QUEUED_RESCUE_AFTER = timedelta(seconds=45)
    settings.ORDERS_POLL_DELAYS = (2, 4)
    settings.ORDERS_POLL_DELAY_CAP = 8
    assert schedule.queued_rescue_after() == timedelta(seconds=45)
    assert [schedule.poll_delay(n).total_seconds() for n in range(4)] == [2, 4, 8, 8]
