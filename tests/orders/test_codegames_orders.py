"""Ordering from CodeGames on what its API allows: create-order with the `required` fields,
order-status by orderId, keys through /offers/keys, and a lost create-order answer that only a
person can resolve (never sent again), all against the sandbox over HTTP."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.services import offer_refresh_price
from orders.errors import OrderActionRefused
from orders.models import OrderStatus
from orders.selectors import order_actions_available
from orders.services import (
    order_mark_resolved,
    order_poll,
    order_recheck,
    order_record_found,
    order_record_not_bought,
    order_submit,
    orders_sweep,
    submitting,
)
from reseller.core.models import AuditEvent
from tests.orders.conftest import place

S = OrderStatus


@pytest.fixture
def codegames(sandbox_account):
    return sandbox_account(kind="codegames")


@pytest.fixture
def cg_offer(sandbox_offer):
    """A CodeGames offer as the catalog holds it once find-one has filled it in."""

    def make(account, **filters):
        return offer_refresh_price(offer=sandbox_offer(account, **filters))

    return make


@pytest.fixture
def remote(sandbox):
    """The sandbox's own record of an account's orders."""

    def orders(account) -> list[dict]:
        return sandbox.admin("GET", f"/sandbox/accounts/{account.remote['token']}/orders")["orders"]

    return orders


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def audited(action, order) -> int:
    return AuditEvent.objects.filter(action=action, target_id=str(order.pk)).count()


def run_everything_the_engine_would(order, broker, hours=3):
    """The sweep hours later, every poll and submit task it sends, and a forced submit."""
    orders_sweep(now=later(hours * 3600))
    broker.run("poll_order")
    broker.run("submit_order")
    order_submit(order_id=order.pk)
    order.refresh_from_db()
    return order


# --- the normal flows --------------------------------------------------------------------------


def test_a_key_order_processing_first_is_followed_by_order_id_and_its_key_fetched(
    codegames, cg_offer, sandbox_settings, supplier, remote
):
    offer = cg_offer(codegames, kind="key")
    assert offer.returns_key is True and offer.required_fields == []
    with sandbox_settings(codegames_key_delay_seconds=0.3, codegames_keyless_share=1):
        order = order_submit(order_id=place(offer, email="buyer@example.com").pk)
        assert order.status == S.PROCESSING and order.supplier_order_id
        time.sleep(0.4)
        order = order_poll(order_id=order.pk, now=later(10))
    assert order.status == S.COMPLETED, order.last_error
    [bought] = remote(codegames)
    assert [key.secret for key in order.keys.all()] == bought["keys"]
    assert supplier.requests(codegames, "keys") == 1  # the key came from /offers/keys only


def test_keys_not_ready_yet_leave_the_order_processing_until_they_are(
    codegames, cg_offer, sandbox_settings, fault, supplier
):
    offer = cg_offer(codegames, kind="key")
    with sandbox_settings(codegames_keyless_share=1):
        fault(codegames, endpoint="keys", kind="error_code", code="ORDER_NOT_COMPLETED")
        order = order_submit(order_id=place(offer).pk)
        assert order.status == S.PROCESSING and not order.keys.exists()
        assert "not readable yet" in order.last_error
        order = order_poll(order_id=order.pk, now=later(10))
    assert order.status == S.COMPLETED and order.keys.count() == 1


def test_a_top_up_sends_only_the_required_fields_and_never_asks_for_keys(
    codegames, cg_offer, sandbox_settings, supplier, remote
):
    offer = cg_offer(codegames, kind="topup", req_server="false")
    assert offer.required_fields == ["gameUserId"] and offer.returns_key is False
    with sandbox_settings(topup_delay_seconds=0.3, cancel_share=0, fail_share=0):
        order = order_submit(
            order_id=place(offer, game_user_id="52357322414", email="buyer@example.com").pk
        )
        assert order.status == S.PROCESSING  # CodeGames has no SUBMITTED
        time.sleep(0.4)
        order = order_poll(order_id=order.pk, now=later(10))
    assert order.status == S.COMPLETED and not order.keys.exists()
    assert supplier.requests(codegames, "keys") == 0
    [bought] = remote(codegames)
    # The document's customer holds the `required` fields: no email.
    assert bought["gameUserId"] == "52357322414" and bought["email"] is None


# --- a lost create-order answer ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault_spec", "bought"),
    [
        ({"kind": "lost_response"}, 1),  # created and charged, the answer never came
        ({"kind": "truncated"}, 1),  # created, half an answer
        ({"kind": "http_503"}, 0),  # nothing happened, but the client cannot know that
    ],
)
def test_a_lost_create_order_answer_needs_a_person_and_is_never_sent_again(
    codegames, cg_offer, fault, supplier, remote, broker, fault_spec, bought
):
    offer = cg_offer(codegames, kind="key")
    order = place(offer)
    fault(codegames, endpoint="create-order", **fault_spec)
    order = order_submit(order_id=order.pk)
    assert order.status == S.NEEDS_ATTENTION and order.awaits_supplier_outcome
    assert order.next_poll_at is None  # there is nothing to poll it by
    assert order.transaction_id in order.last_error
    assert "Found at the supplier" in order.last_error and "Not bought" in order.last_error
    assert order_actions_available(order=order, has_keys=False) == [
        "record_found",
        "record_not_bought",
    ]

    order = run_everything_the_engine_would(order, broker)
    assert order.status == S.NEEDS_ATTENTION
    assert len(remote(codegames)) == bought  # no second purchase, under any transactionId
    assert supplier.requests(codegames, "create-order") == 1
    assert supplier.requests(codegames, "order-status") == 0
    assert order.transaction_ids.count() <= 1


def test_a_worker_stopped_around_the_call_leaves_the_order_to_a_person(
    codegames, cg_offer, supplier, remote, broker
):
    offer = cg_offer(codegames, kind="key")
    order = place(offer)
    claim = submitting._submit_claim(order_id=order.pk)
    answer = submitting._submit_send(claim)  # bought; the worker stops before recording it
    order.refresh_from_db()
    orders_sweep(now=order.lease_expires_at + timedelta(seconds=1))
    order.refresh_from_db()
    assert order.status == S.NEEDS_ATTENTION and order.awaits_supplier_outcome
    assert order.events.latest("id").reason.startswith("The claim's lease expired")
    order = run_everything_the_engine_would(order, broker)
    assert order.status == S.NEEDS_ATTENTION and len(remote(codegames)) == 1

    # The answer arriving after all names the order: it is followed and its key stored.
    submitting._submit_record(claim, answer)
    order.refresh_from_db()
    assert order.status == S.COMPLETED and order.keys.count() == 1
    assert order.supplier_order_id == remote(codegames)[0]["orderId"]
    assert supplier.requests(codegames, "create-order") == 1


def test_recording_it_found_follows_the_order_and_fetches_its_key(
    codegames, cg_offer, fault, remote, operator, sandbox_settings
):
    offer = cg_offer(codegames, kind="key")
    with sandbox_settings(codegames_keyless_share=1):
        fault(codegames, endpoint="create-order", kind="lost_response")
        order = order_submit(order_id=place(offer).pk)
    [bought] = remote(codegames)
    order = order_record_found(order=order, by=operator, supplier_order_id=str(bought["orderId"]))
    order.refresh_from_db()
    assert order.status == S.COMPLETED and order.supplier_order_id == bought["orderId"]
    assert [key.secret for key in order.keys.all()] == bought["keys"]
    assert [event.to_status for event in order.events.order_by("id")][-2:] == [
        S.PROCESSING,
        S.COMPLETED,
    ]
    found = order.events.get(to_status=S.PROCESSING)
    assert found.actor == operator and str(bought["orderId"]) in found.reason
    assert audited("order.outcome_found", order) == 1
    with pytest.raises(OrderActionRefused, match="does not wait"):
        order_record_found(order=order, by=operator, supplier_order_id=str(bought["orderId"]))
    with pytest.raises(OrderActionRefused, match="does not wait"):
        order_record_not_bought(order=order, by=operator, comment="changed my mind")
    assert audited("order.outcome_found", order) == 1


def test_a_found_top_up_still_processing_is_polled_by_its_order_id(
    codegames, cg_offer, fault, remote, operator, sandbox_settings, supplier
):
    offer = cg_offer(codegames, kind="topup", req_server="false")
    with sandbox_settings(topup_delay_seconds=0.4, cancel_share=0, fail_share=0):
        fault(codegames, endpoint="create-order", kind="lost_response")
        order = order_submit(order_id=place(offer).pk)
        [bought] = remote(codegames)
        order = order_record_found(order=order, by=operator, supplier_order_id=bought["orderId"])
        assert order.status == S.PROCESSING and order.next_poll_at is not None
        time.sleep(0.5)
        order = order_poll(order_id=order.pk, now=later(10))
    assert order.status == S.COMPLETED
    assert supplier.requests(codegames, "keys") == 0


def test_a_found_order_id_the_supplier_does_not_know_is_refused(
    codegames, cg_offer, fault, remote, operator
):
    offer = cg_offer(codegames, kind="key")
    fault(codegames, endpoint="create-order", kind="http_503")
    order = order_submit(order_id=place(offer).pk)
    for wrong, message in (("12x", "whole number"), ("", "whole number"), ("987654", "no order")):
        with pytest.raises(OrderActionRefused, match=message):
            order_record_found(order=order, by=operator, supplier_order_id=wrong)
    order.refresh_from_db()
    assert order.awaits_supplier_outcome and audited("order.outcome_found", order) == 0


def test_one_supplier_order_cannot_be_recorded_on_two_orders(
    codegames, cg_offer, fault, remote, operator
):
    offer = cg_offer(codegames, kind="key")
    fault(codegames, endpoint="create-order", kind="lost_response", count=2)
    first = order_submit(order_id=place(offer).pk)
    second = order_submit(order_id=place(offer).pk)
    number = remote(codegames)[0]["orderId"]
    order_record_found(order=first, by=operator, supplier_order_id=number)
    with pytest.raises(OrderActionRefused, match=f"already recorded on order #{first.pk}"):
        order_record_found(order=second, by=operator, supplier_order_id=number)


def test_recording_it_not_bought_is_final_and_not_charged(
    codegames, cg_offer, fault, operator, broker, remote
):
    from finance.selectors import order_expectation

    offer = cg_offer(codegames, kind="key")
    fault(codegames, endpoint="create-order", kind="http_503")
    order = order_submit(order_id=place(offer).pk)
    with pytest.raises(OrderActionRefused, match="Say where"):
        order_record_not_bought(order=order, by=operator, comment="  ")
    with pytest.raises(OrderActionRefused, match="cannot look an order up"):
        order_recheck(order=order, by=operator)
    with pytest.raises(OrderActionRefused, match="Record whether it was bought"):
        order_mark_resolved(order=order, by=operator, comment="looked fine")
    order = order_record_not_bought(
        order=order, by=operator, comment="Not in the CodeGames dashboard's order list."
    )
    assert order.status == S.WITHDRAWN and order.is_final and order.last_error == ""
    assert audited("order.outcome_not_bought", order) == 1
    charged, refund, _ = order_expectation(
        status=order.status,
        supplier_status=order.supplier_status,
        units=order.units,
        units_refunded=order.units_refunded,
        offer_id=offer.offer_id,
    )
    assert not charged and not refund
    with pytest.raises(OrderActionRefused, match="does not wait"):
        order_record_not_bought(order=order, by=operator, comment="again")
    order = run_everything_the_engine_would(order, broker)
    assert order.status == S.WITHDRAWN and remote(codegames) == []


def test_the_order_page_offers_the_two_recordings_to_operators_only(
    codegames, cg_offer, fault, remote, client_as
):
    offer = cg_offer(codegames, kind="key")
    fault(codegames, endpoint="create-order", kind="lost_response")
    order = order_submit(order_id=place(offer).pk)
    number = remote(codegames)[0]["orderId"]
    found_url = reverse("orders:order_action", args=[order.pk, "record_found"])

    finance = client_as("finance")
    page = finance.get(order.get_absolute_url())
    assert page.status_code == 200 and b"record-found" not in page.content
    assert order.transaction_id.encode() in page.content  # what to look for at the supplier
    assert finance.post(found_url, {"supplier_order_id": number}).status_code == 403
    order.refresh_from_db()
    assert order.awaits_supplier_outcome

    operator = client_as("operator")
    page = operator.get(order.get_absolute_url())
    assert b'data-testid="record-found"' in page.content
    assert b'data-testid="record-not-bought"' in page.content
    assert b"Re-check status" not in page.content and b"Mark resolved" not in page.content
    response = operator.post(found_url, {"supplier_order_id": number}, follow=True)
    assert f"Recorded: supplier order {number}".encode() in response.content
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    again = operator.post(found_url, {"supplier_order_id": number}, follow=True)
    assert b"does not wait for a recorded outcome" in again.content


def test_an_unknown_order_from_before_is_handed_to_a_person_not_polled(
    codegames, cg_offer, supplier, broker
):
    """An order left UNKNOWN (as it was before CodeGames' missing look-up was known) is never
    asked about by transactionId: the next check hands it to a person."""
    from orders.models import Order

    order = place(cg_offer(codegames, kind="key"))
    Order.objects.filter(pk=order.pk).update(
        status=S.UNKNOWN,
        submit_attempts=1,
        last_sent_at=timezone.now(),
        next_poll_at=timezone.now(),
    )
    order = order_poll(order_id=order.pk, now=later(10))
    assert order.status == S.NEEDS_ATTENTION and order.awaits_supplier_outcome
    assert order.transaction_id in order.last_error and order.next_poll_at is None
    assert supplier.requests(codegames, "order-status") == 0
