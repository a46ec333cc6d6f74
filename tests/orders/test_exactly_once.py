"""Exactly one purchase per order whatever breaks: lost answers, timeouts, dead workers, races."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orders.models import Order, OrderStatus
from orders.services import (
    order_poll,
    order_resolve_unknown,
    order_submit,
    orders_sweep,
    submitting,
)
from tests.orders.conftest import place

S = OrderStatus


def test_a_lost_create_order_answer_is_resolved_to_exactly_one_purchase(
    sandbox_account, sandbox_offer, fault, supplier, broker
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    fault(account, endpoint="create-order", kind="lost_response")
    order = order_submit(order_id=order.pk)
    assert order.status == S.UNKNOWN  # never FAILED
    assert "OrderOutcomeUnknown" in order.last_error and order.next_poll_at is not None
    assert supplier.purchases(account, order.transaction_id) == 1
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.COMPLETED and order.keys.count() == 1
    assert supplier.purchases(account, order.transaction_id) == 1
    assert supplier.requests(account, "create-order") == 1


def test_a_timeout_on_create_order_is_resolved_to_exactly_one_purchase(
    sandbox_account, sandbox_offer, fault, supplier
):
    account = sandbox_account()
    account.call_deadline_seconds = 1
    account.save()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    fault(account, endpoint="create-order", kind="timeout", delay_seconds=1.6)
    order = order_submit(order_id=order.pk)
    assert order.status == S.UNKNOWN
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.COMPLETED
    assert supplier.purchases(account, order.transaction_id) == 1


def test_a_502_that_created_nothing_is_sent_again_with_the_same_transaction_id(
    sandbox_account, sandbox_offer, fault, supplier, broker
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    transaction_id = order.transaction_id
    fault(account, endpoint="create-order", kind="html")
    assert order_submit(order_id=order.pk).status == S.UNKNOWN
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.QUEUED and order.transaction_id == transaction_id
    assert "ORDER_NOT_FOUND" in order.events.latest("id").reason
    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED and order.transaction_id == transaction_id
    assert supplier.purchases(account, transaction_id) == 1
    assert order.transaction_ids.count() == 1  # no new id was needed


def test_a_worker_killed_between_claim_and_call(
    sandbox_account, sandbox_offer, supplier, broker, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    claim = submitting._submit_claim(order_id=order.pk)  # ... and the worker dies here
    order.refresh_from_db()
    assert order.status == S.SUBMITTING and order.lease_expires_at is not None
    assert orders_sweep().expired_leases == 0  # the lease still runs

    after_lease = order.lease_expires_at + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        report = orders_sweep(now=after_lease)
    assert report.expired_leases == 1 and order.pk in broker.ids("poll_order")
    order.refresh_from_db()
    assert order.status == S.UNKNOWN
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.QUEUED  # ORDER_NOT_FOUND: the call never happened
    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED and order.transaction_id == claim.transaction_id
    assert supplier.purchases(account, order.transaction_id) == 1


def test_a_worker_killed_between_call_and_commit(sandbox_account, sandbox_offer, supplier, broker):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    claim = submitting._submit_claim(order_id=order.pk)
    answer = submitting._submit_send(claim)  # bought; the worker dies before recording it
    assert answer.result.status == "COMPLETED"
    order.refresh_from_db()
    orders_sweep(now=order.lease_expires_at + timedelta(seconds=1))
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.COMPLETED and order.keys.count() == 1
    assert order.events.filter(to_status=S.UNKNOWN).get().reason.startswith("The claim's lease")
    # The dead worker's recording, arriving late anyway, changes nothing.
    submitting._submit_record(claim, answer)
    order.refresh_from_db()
    assert order.status == S.COMPLETED and order.keys.count() == 1
    assert supplier.purchases(account, order.transaction_id) == 1
    assert supplier.requests(account, "create-order") == 1


def test_a_slow_worker_whose_lease_expired_still_records_the_answer(
    sandbox_account, sandbox_offer, supplier, broker
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    claim = submitting._submit_claim(order_id=order.pk)
    answer = submitting._submit_send(claim)
    order.refresh_from_db()
    orders_sweep(now=order.lease_expires_at + timedelta(seconds=1))  # → UNKNOWN
    submitting._submit_record(claim, answer)  # the keys it saw are stored at once
    order.refresh_from_db()
    assert order.status == S.COMPLETED and order.keys.count() == 1
    assert supplier.purchases(account, order.transaction_id) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_order_make_one_call(
    sandbox_account, sandbox_offer, supplier, broker
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    orders = [place(offer) for _ in range(3)]
    workers = 4
    for order in orders:
        barrier = threading.Barrier(workers)
        errors = []

        def work(order_id=order.pk, barrier=barrier, errors=errors):
            try:
                barrier.wait(timeout=10)
                order_submit(order_id=order_id)
            except Exception as error:  # pragma: no cover (reported below)
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        order.refresh_from_db()
        assert order.status == S.COMPLETED
        assert order.events.filter(to_status=S.SUBMITTING).count() == 1
        assert supplier.purchases(account, order.transaction_id) == 1
    assert supplier.requests(account, "create-order") == len(orders)
    assert Order.objects.filter(status=S.COMPLETED).count() == len(orders)


def test_no_supplier_call_is_made_inside_a_transaction(
    sandbox_account, sandbox_offer, monkeypatch, fault
):
    """Every HTTP call goes through the transport; none may find an atomic block of ours open
    (the test's own wrapping transaction is the only one allowed)."""
    from suppliers.clients.transport import Transport

    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", min_count=3)
    order = place(offer)
    depth = len(connection.atomic_blocks)  # the test's wrapping transaction
    seen = []
    real = Transport._attempt

    def attempt(self, *args, **kwargs):
        seen.append(len(connection.atomic_blocks))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Transport, "_attempt", attempt)
    fault(account, endpoint="create-order", kind="lost_response")
    order_submit(order_id=order.pk)
    order_resolve_unknown(order_id=order.pk)
    orders_sweep(now=timezone.now() + timedelta(hours=2))
    assert len(seen) >= 2 and set(seen) == {depth}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_an_order_another_worker_holds_locked(
    sandbox_account, sandbox_offer, supplier
):
    """While one worker holds the row lock, a second one returns at once without calling."""
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    locked, release = threading.Event(), threading.Event()

    def holder():
        try:
            with transaction.atomic():
                Order.objects.select_for_update().get(pk=order.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(10)
    try:
        with CaptureQueriesContext(connection) as queries:
            assert submitting._submit_claim(order_id=order.pk) is None
        assert any("SKIP LOCKED" in query["sql"] for query in queries.captured_queries)
    finally:
        release.set()
        thread.join(10)
    assert supplier.requests(account, "create-order") == 0
    assert order_submit(order_id=order.pk).status == S.COMPLETED


def test_a_late_answer_of_a_purchase_is_never_dropped(sandbox_account, sandbox_offer, supplier):
    """The call outlived its lease; meanwhile the order was resent and refused (REJECTED). The
    late answer proves a purchase under its transactionId: the order needs attention, its key is
    kept, and the next status call completes it. Nothing is bought twice."""
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    claim = submitting._submit_claim(order_id=order.pk)
    answer = submitting._submit_send(claim)
    assert answer.result.status == "COMPLETED" and answer.keys
    Order.objects.filter(pk=order.pk).update(
        status=S.REJECTED, claimed_by="", lease_expires_at=None, final_at=timezone.now()
    )

    submitting._submit_record(claim, answer)
    order.refresh_from_db()
    assert order.status == S.NEEDS_ATTENTION and order.final_at is None
    assert order.supplier_order_id == answer.result.order_id and order.keys.count() == 1
    assert "the supplier has an order under its transactionId" in order.events.latest("id").reason
    order = order_poll(order_id=order.pk, force=True)
    assert order.status == S.COMPLETED and order.keys.count() == 1
    assert supplier.purchases(account, order.transaction_id) == 1


def test_an_order_the_supplier_keeps_denying_stops_being_resent(
    sandbox_account, sandbox_offer, fault, supplier, broker
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    fault(account, endpoint="create-order", kind="html")  # answered 502, created nothing
    assert order_submit(order_id=order.pk).status == S.UNKNOWN
    Order.objects.filter(pk=order.pk).update(submit_attempts=10)
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.NEEDS_ATTENTION
    assert "not sent again without a person looking" in order.events.latest("id").reason
    assert supplier.requests(account, "create-order") == 1


@pytest.mark.django_db(transaction=True)
def test_one_order_form_sent_twice_at_the_same_moment_places_its_orders_once(offline_offer, broker):
    from decimal import Decimal

    from orders.errors import AlreadyPlaced
    from orders.services import order_create

    barrier = threading.Barrier(2)
    placed, refused, errors = [], [], []

    def send():
        try:
            barrier.wait(timeout=10)
            placed.append(
                order_create(
                    offer=offline_offer,
                    quantity=2,
                    max_unit_price=Decimal(10),
                    request_key="a" * 32,
                )
            )
        except AlreadyPlaced as duplicate:
            refused.append(duplicate)
        except Exception as error:  # pragma: no cover (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(placed) == len(refused) == 1
    assert Order.objects.count() == 2
    assert sorted(refused[0].order_ids) == sorted(order.pk for order in placed[0])


@pytest.mark.django_db(transaction=True)
def test_two_files_with_one_reference_confirmed_at_the_same_moment_order_it_once(
    offline_offer, broker, monkeypatch
):
    """Each confirmation checks "already ordered" and then creates its orders; the two steps
    of one confirmation must not interleave with another's. Here each check, once done, waits
    (up to 2 s) for the other confirmation to have checked too: without the confirmations
    taking turns, both would find the reference free and order it."""
    from decimal import Decimal

    from orders.batches import preview as batch_preview
    from orders.models import Batch, BatchPreviewRow

    batches = []
    for name in ("monday", "monday again"):
        batch = Batch.objects.create(
            name=name,
            account=offline_offer.account,
            status=Batch.Status.CONFIRMING,
            preview_summary={"rows_ok": 1, "units_ok": 1},
        )
        BatchPreviewRow.objects.create(
            batch=batch,
            row_number=2,
            offer=offline_offer,
            offer_ref=offline_offer.offer_id,
            quantity=1,
            customer_reference="SAME-1",
            unit_price=offline_offer.price,
            currency=offline_offer.currency,
            max_unit_price=Decimal(10),
        )
        batches.append(batch)

    both_checked = threading.Barrier(2)
    real_check = batch_preview.customer_references_ordered

    def check_then_wait(**kwargs):
        found = real_check(**kwargs)
        try:
            both_checked.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass  # the other one waits for its turn: expected
        return found

    monkeypatch.setattr(batch_preview, "customer_references_ordered", check_then_wait)
    errors = []

    def confirm(batch_id):
        try:
            batch_preview.batch_preview_create_orders(batch_id=batch_id)
        except Exception as error:  # pragma: no cover (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(batch.pk,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert Order.objects.filter(customer_reference="SAME-1").count() == 1
    statuses = sorted(Batch.objects.values_list("status", flat=True))
    assert statuses == [Batch.Status.CONFIRMED, Batch.Status.PREVIEW]
    refused = Batch.objects.get(status=Batch.Status.PREVIEW)
    assert "ordered elsewhere (SAME-1)" in refused.preview_summary["confirm_error"]
