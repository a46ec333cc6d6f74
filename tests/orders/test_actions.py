"""Operator actions: each a whitelisted service, each audited."""

from decimal import Decimal

import pytest

from orders import tasks
from orders.batches.selectors import batch_progress
from orders.errors import OrderActionRefused, OrderError, PriceAboveLimit
from orders.models import AccountQueue, Batch, Order, OrderStatus
from orders.selectors import orders_dashboard_counts, orders_needing_attention
from orders.services import (
    ORDER_ACTIONS,
    account_queue_resume,
    batch_confirm,
    batch_create,
    batch_pause,
    batch_resume,
    order_create,
    order_mark_resolved,
    order_recheck,
    order_retry,
    order_submit,
    order_withdraw,
)
from reseller.core.models import AuditEvent
from tests.orders.conftest import place

S = OrderStatus


def audited(action, target) -> bool:
    return AuditEvent.objects.filter(action=action, target_id=str(target.pk)).exists()


@pytest.fixture
def out_of_stock(sandbox):
    changed = []

    def mark(offer, in_stock=False):
        sandbox.admin("POST", f"/sandbox/offers/{offer.offer_id}", {"inStock": in_stock})
        changed.append(offer.offer_id)

    yield mark
    for offer_id in changed:
        sandbox.admin("POST", f"/sandbox/offers/{offer_id}", {"inStock": True})


def test_retry_of_a_rejected_order_uses_a_new_transaction_id_and_keeps_the_old(
    sandbox_account, sandbox_offer, out_of_stock, supplier, operator, broker
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", skip=3)
    out_of_stock(offer)
    order = order_submit(order_id=place(offer).pk)
    assert order.status == S.REJECTED
    old = order.transaction_id

    out_of_stock(offer, in_stock=True)
    order = order_retry(order=order, by=operator)
    assert order.status == S.QUEUED and order.transaction_id != old
    history = {row.transaction_id: row for row in order.transaction_ids.all()}
    assert history[old].retired_at is not None and history[order.transaction_id].retired_at is None
    assert audited("order.retried", order)
    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED
    assert supplier.purchases(account, old) == 0
    assert supplier.purchases(account, order.transaction_id) == 1


def test_retry_refuses_a_price_above_the_limit_and_anything_not_rejected(
    sandbox_account, sandbox_offer, reprice, out_of_stock, operator
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="USD", skip=4)
    out_of_stock(offer)
    order = order_submit(order_id=place(offer).pk)
    out_of_stock(offer, in_stock=True)
    reprice(offer, offer.price * 2)
    with pytest.raises(PriceAboveLimit):
        order_retry(order=order, by=operator)
    order.refresh_from_db()
    assert order.status == S.REJECTED and audited("order.retry_refused", order)
    queued = place(offer, limit=offer.price * 3)
    with pytest.raises(OrderActionRefused):
        order_retry(order=queued, by=operator)


def test_withdraw_only_what_was_never_sent(offline_offer, operator):
    queued, held, sent = order_create(offer=offline_offer, quantity=3, max_unit_price=Decimal(10))
    Order.objects.filter(pk=held.pk).update(status=S.ON_HOLD)
    Order.objects.filter(pk=sent.pk).update(status=S.SUBMITTED)
    for order in (queued, held):
        order = order_withdraw(order=order, by=operator, reason="customer changed their mind")
        assert order.status == S.WITHDRAWN and audited("order.withdrawn", order)
        assert order.events.latest("id").reason == "customer changed their mind"
    with pytest.raises(OrderActionRefused):
        order_withdraw(order=sent, by=operator)


def test_retry_of_an_order_the_supplier_has_after_all_flags_it_instead(
    sandbox_account, sandbox_offer, supplier, operator
):
    """A refusal proves only that the refused call created nothing: before a new transactionId,
    order-status is asked about the old one."""
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = order_submit(order_id=place(offer).pk)
    assert order.status == S.COMPLETED
    Order.objects.filter(pk=order.pk).update(status=S.REJECTED)  # an earlier send landed late
    order.refresh_from_db()
    old = order.transaction_id

    with pytest.raises(OrderActionRefused, match="has order .* after all"):
        order_retry(order=order, by=operator)
    order.refresh_from_db()
    assert order.status == S.NEEDS_ATTENTION and order.transaction_id == old
    assert order.transaction_ids.count() <= 1 and audited("order.found_at_supplier", order)
    assert supplier.purchases(account, old) == 1
    assert order.next_poll_at is not None  # followed from now on


def test_withdraw_of_a_resent_order_asks_the_supplier_first(
    sandbox_account, sandbox_offer, supplier, operator
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    bought = order_submit(order_id=place(offer).pk)
    Order.objects.filter(pk=bought.pk).update(status=S.QUEUED)  # as if it came back to the queue
    bought.refresh_from_db()
    with pytest.raises(OrderActionRefused, match="cannot be withdrawn"):
        order_withdraw(order=bought, by=operator)
    assert Order.objects.get(pk=bought.pk).status == S.QUEUED

    # Sent before, but the supplier has nothing under its transactionId: withdrawn.
    never_landed = place(offer)
    Order.objects.filter(pk=never_landed.pk).update(submit_attempts=1)
    never_landed.refresh_from_db()
    assert order_withdraw(order=never_landed, by=operator).status == S.WITHDRAWN


def test_mark_resolved_needs_a_comment(offline_offer, operator):
    order = order_create(offer=offline_offer, max_unit_price=Decimal(10))[0]
    Order.objects.filter(pk=order.pk).update(status=S.NEEDS_ATTENTION)
    assert list(orders_needing_attention()) == [order]
    with pytest.raises(OrderActionRefused):
        order_mark_resolved(order=order, by=operator, comment="  ")
    order = order_mark_resolved(order=order, by=operator, comment="Refunded to the customer.")
    assert order.status == S.RESOLVED and audited("order.resolved", order)
    event = order.events.latest("id")
    assert event.actor == operator and event.reason == "Refunded to the customer."


def test_recheck_asks_the_supplier_now(sandbox_account, sandbox_offer, operator, sandbox_settings):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="topup", req_server="false")
    with sandbox_settings(topup_delay_seconds=30):
        order = order_submit(order_id=place(offer).pk)
        assert order.status == S.SUBMITTED
        order = order_recheck(order=order, by=operator)
    assert order.status == S.SUBMITTED and order.poll_count == 1
    assert audited("order.rechecked", order)
    queued = place(offer)
    with pytest.raises(OrderActionRefused):
        order_recheck(order=queued, by=operator)


def test_a_final_order_has_no_status_left_to_check(sandbox_account, sandbox_offer, operator):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = order_submit(order_id=place(offer).pk)
    assert order.status == S.COMPLETED
    with pytest.raises(OrderActionRefused, match="completed order has no supplier status"):
        order_recheck(order=order, by=operator)
    order.refresh_from_db()
    assert order.poll_count == 0 and not audited("order.rechecked", order)


def test_a_paused_batch_is_not_sent_until_resumed(
    sandbox_account, sandbox_offer, supplier, operator, broker, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    batch = batch_create(name="march", source_filename="march.csv", by=operator)
    orders = [
        order_create(offer=offer, max_unit_price=offer.price, batch=batch, row_number=n)[0]
        for n in (1, 2, 3)
    ]
    assert all(order.next_poll_at is None for order in orders)  # preview: nothing is sent
    with django_capture_on_commit_callbacks(execute=True):
        batch_confirm(batch=batch, by=operator)
    # One task sends the batch's orders (a page never sends 200,000 messages itself).
    assert broker.ids("send_batch") == [batch.pk] and broker.ids("submit_batch_orders") == []
    broker.run("send_batch")
    assert sorted(broker.ids("submit_batch_orders")) == sorted(o.pk for o in orders)
    order_submit(order_id=orders[0].pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.RUNNING

    batch_pause(batch=batch, by=operator)
    tasks.send_batch.run(batch.pk)  # a send task still in the broker sends nothing now
    broker.run("submit_batch_orders")  # the tasks already in the broker find the batch paused
    assert supplier.requests(account, "create-order") == 1
    assert batch_progress(batch=batch).counts[S.QUEUED] == 2

    broker.clear()
    with django_capture_on_commit_callbacks(execute=True):
        batch = batch_resume(batch=batch, by=operator)
    assert batch.status == Batch.Status.RUNNING
    broker.run("send_batch")
    assert sorted(broker.ids("submit_batch_orders")) == sorted(o.pk for o in orders[1:])
    broker.run("submit_batch_orders")
    batch.refresh_from_db()
    progress = batch_progress(batch=batch)
    assert batch.status == Batch.Status.DONE and batch.finished_at is not None
    assert progress.percent == 100 and progress.counts[S.COMPLETED] == 3
    assert audited("batch.paused", batch) and audited("batch.resumed", batch)


def test_an_operator_resumes_a_held_queue(
    sandbox_account, sandbox_offer, operator, broker, django_capture_on_commit_callbacks
):
    account = sandbox_account(balance="0.01")
    offer = sandbox_offer(account, kind="key", currency="USD")
    order = order_submit(order_id=place(offer).pk)
    assert order.status == S.ON_HOLD and orders_dashboard_counts()["on_hold"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert account_queue_resume(account=account, by=operator) == 1
    order.refresh_from_db()
    assert order.status == S.QUEUED and broker.ids("submit_order") == [order.pk]
    assert not AccountQueue.objects.get(account=account).on_hold
    assert audited("order_queue.resumed", account)


def test_order_creation_checks_what_the_offer_needs(sandbox_account, sandbox_offer, operator):
    account = sandbox_account()
    topup = sandbox_offer(account, kind="topup", req_server="false")
    with pytest.raises(OrderError, match="player id"):
        order_create(offer=topup, max_unit_price=topup.price, by=operator)
    with pytest.raises(PriceAboveLimit):
        order_create(
            offer=topup, max_unit_price=topup.price / 2, game_user_id="123456", by=operator
        )
    stars = sandbox_offer(account, kind="stars")
    with pytest.raises(OrderError, match="numeric Telegram user id"):
        order_create(offer=stars, max_unit_price=stars.price, game_user_id="@someone")
    orders = order_create(
        offer=topup, quantity=2, max_unit_price=topup.price, game_user_id="123456", by=operator
    )
    assert len({o.transaction_id for o in orders}) == 2
    assert audited("order.created", orders[0])


def test_the_action_whitelist_names_a_permission_for_each_action():
    assert set(ORDER_ACTIONS) == {
        "retry",
        "recheck",
        "withdraw",
        "mark_resolved",
        "resend",
        "record_found",
        "record_not_bought",
    }
    assert all(action.permission.startswith("orders.") for action in ORDER_ACTIONS.values())


def test_a_batch_of_thousands_of_lines_is_created_in_bulk(offline_offer, operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders.models import OrderEvent, OrderTransactionId
    from orders.selectors import customer_references_ordered
    from orders.services import OrderLine, batch_orders_create

    batch = batch_create(name="big", source_filename="big.csv", by=operator)
    lines = [
        OrderLine(
            offer=offline_offer,
            max_unit_price=Decimal("11"),
            quantity=2 if n % 10 == 0 else 1,
            customer_reference=f"REF-{n}",
            row_number=n + 2,
        )
        for n in range(1200)
    ]
    with CaptureQueriesContext(connection) as queries:
        created = batch_orders_create(batch=batch, lines=lines, by=operator)
    assert created == 1320 == Order.objects.filter(batch=batch).count()
    assert len(queries) < created // 10  # bulk inserts, not queries per order
    assert OrderTransactionId.objects.filter(order__batch=batch).count() == created
    assert OrderEvent.objects.filter(order__batch=batch, to_status=S.QUEUED).count() == created
    # Preview: nothing is scheduled until the batch is confirmed.
    assert not Order.objects.filter(batch=batch, next_poll_at__isnull=False).exists()
    assert customer_references_ordered(references=["REF-1", "REF-9999", ""]) == {"REF-1"}

    bad = [*lines[:3], OrderLine(offer=offline_offer, max_unit_price=Decimal("1"), row_number=77)]
    with pytest.raises(PriceAboveLimit, match="^Row 77: "):
        batch_orders_create(batch=batch_create(name="bad"), lines=bad)


def test_the_sweep_closes_a_batch_whose_last_orders_finished_together(offline_offer, operator):
    """Two last orders finishing in concurrent transactions each see the other still open, so
    neither closes the batch; the sweep does."""
    from orders.services import orders_sweep

    batch = batch_create(name="together", by=operator)
    orders = order_create(offer=offline_offer, quantity=2, max_unit_price=Decimal(10), batch=batch)
    batch_confirm(batch=batch, by=operator)
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RUNNING)
    Order.objects.filter(pk=orders[0].pk).update(status=S.COMPLETED)
    assert orders_sweep().batches_done == 0  # one order is still open
    Order.objects.filter(pk=orders[1].pk).update(status=S.COMPLETED)
    assert orders_sweep().batches_done == 1
    batch.refresh_from_db()
    assert batch.status == Batch.Status.DONE and batch.finished_at is not None


def test_a_batch_confirmed_without_orders_is_done_at_once(operator):
    batch = batch_confirm(batch=batch_create(name="empty", by=operator), by=operator)
    assert batch.status == Batch.Status.DONE


def test_an_action_on_an_order_that_is_not_there_raises_rather_than_acting_on_none(db, operator):
    # The locked re-read of the order (order_lock) finds nothing: it says so, Order.DoesNotExist.
    with pytest.raises(Order.DoesNotExist):
        order_mark_resolved(order=Order(pk=987_654), by=operator, comment="Checked by hand.")
