"""Signed supplier webhooks: verified on the raw body (Standard Webhooks), stored once, processed
by a task through the same guarded path as a poll answer."""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import TestCase
from django.urls import reverse
from standardwebhooks import Webhook

from orders.models import OrderEvent, OrderStatus, WebhookEvent
from orders.services import order_submit
from orders.webhooks import webhook_process
from suppliers.services import supplier_account_save, supplier_client
from tests.conftest import wait_until
from tests.orders.conftest import place

S = OrderStatus
E = WebhookEvent.Status


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def signed(secret: str, body: bytes, *, msg_id=None, at=None, extra_signatures=()) -> dict:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(at.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": " ".join([*extra_signatures, signature]),
    }


def post(client, account, body: bytes, headers: dict):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            reverse("orders:supplier_webhook", args=[account.pk]),
            data=body,
            content_type="application/json",
            **headers,
        )


@pytest.fixture
def secured_account(sandbox_account):
    def make():
        account = sandbox_account()
        secret = new_secret()
        supplier_account_save(account=account, webhook_secret=secret)
        account.secret = secret
        return account

    return make


def event_body(kind: str, data: dict) -> bytes:
    event = {"type": kind, "timestamp": datetime.now(UTC).isoformat(), "data": data}
    return json.dumps(event, default=str).encode()  # a price as the supplier's exact text


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_valid_signature_is_stored_answered_at_once_and_processed_in_a_task(
    client, secured_account, broker
):
    account = secured_account()
    body = event_body("order.created", {"orderId": 1, "status": "PROCESSING"})
    response = post(client, account, body, signed(account.secret, body))
    assert response.status_code == 200
    event = WebhookEvent.objects.get(account=account)
    assert event.status == E.RECEIVED and event.body == body.decode()
    assert broker.ids("process_webhook_event") == [event.pk]


@pytest.mark.django_db
def test_two_signatures_one_valid_is_accepted(client, secured_account, broker):
    account = secured_account()
    body = event_body("order.created", {"orderId": 1, "status": "PROCESSING"})
    stale = Webhook(new_secret()).sign("x", datetime.now(UTC), body)
    response = post(client, account, body, signed(account.secret, body, extra_signatures=[stale]))
    assert response.status_code == 200
    assert WebhookEvent.objects.get(account=account).status == E.RECEIVED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered body", "No matching signature"),
        ("wrong secret", "No matching signature"),
        ("old timestamp", "too old"),
        ("missing headers", "Missing webhook-id"),
    ],
)
def test_a_bad_signature_is_refused_stored_with_the_reason_and_never_processed(
    client, secured_account, broker, case, reason
):
    account = secured_account()
    body = event_body("order.fulfilled", {"orderId": 1, "status": "COMPLETED"})
    headers = signed(account.secret, body)
    if case == "tampered body":
        body = body.replace(b"COMPLETED", b"REFUNDED!")
    elif case == "wrong secret":
        headers = signed(new_secret(), body)
    elif case == "old timestamp":
        headers = signed(account.secret, body, at=datetime.now(UTC) - timedelta(minutes=6))
    else:
        headers.pop("HTTP_WEBHOOK_SIGNATURE")
    response = post(client, account, body, headers)
    assert response.status_code in (400, 401)
    assert account.secret not in response.content.decode()
    event = WebhookEvent.objects.get(account=account)
    assert event.status == E.REJECTED and reason in event.note
    assert broker.ids("process_webhook_event") == []


@pytest.mark.django_db
def test_while_a_secret_is_rotated_both_are_accepted_until_the_old_one_is_retired(
    client, secured_account, broker
):
    account = secured_account()
    old = account.secret
    supplier_account_save(account=account, webhook_secret=new_secret())
    body = event_body("order.created", {"orderId": 1, "status": "PROCESSING"})
    assert post(client, account, body, signed(old, body)).status_code == 200
    supplier_account_save(account=account, retire_previous_webhook_secret=True)
    assert post(client, account, body, signed(old, body)).status_code == 401


@pytest.mark.django_db
def test_a_duplicate_webhook_id_is_answered_but_stored_once(client, secured_account, broker):
    account = secured_account()
    body = event_body("order.created", {"orderId": 1, "status": "PROCESSING"})
    headers = signed(account.secret, body, msg_id="msg_same")
    assert post(client, account, body, headers).status_code == 200
    again = post(client, account, body, headers)
    assert again.status_code == 200 and b"Already received" in again.content
    assert WebhookEvent.objects.filter(account=account).count() == 1
    assert len(broker.ids("process_webhook_event")) == 1


# --- processing ---------------------------------------------------------------------------------


@pytest.fixture
def finished_topup(secured_account, sandbox_offer, sandbox_settings, broker):
    """A top-up sent to the sandbox (PROCESSING here) that the sandbox has finished since, and
    its order-status answer as the supplier would put it in a webhook."""
    account = secured_account()
    offer = sandbox_offer(account, kind="topup")
    with sandbox_settings(topup_delay_seconds=0.6, cancel_share=0, fail_share=0):
        order = order_submit(order_id=place(offer).pk)
        assert order.status in (S.SUBMITTED, S.PROCESSING)
        client = supplier_client(account)

        def finished():
            return client.order_status(order_id=order.supplier_order_id).status == "COMPLETED"

        wait_until(finished, timeout=10, message="the sandbox to finish the top-up")
    data = client.order_status(order_id=order.supplier_order_id).raw
    return account, order, data


def moves_to(order, status) -> int:
    return OrderEvent.objects.filter(order=order, to_status=status).count()


def test_a_fulfilled_event_completes_the_order_without_a_status_call(
    client, finished_topup, supplier
):
    account, order, data = finished_topup
    calls = supplier.requests(account, "order-status")
    body = event_body("order.fulfilled", data)
    post(client, account, body, signed(account.secret, body))
    event = WebhookEvent.objects.get(account=account)
    webhook_process(event_id=event.pk)
    order.refresh_from_db()
    event.refresh_from_db()
    assert order.status == S.COMPLETED and event.status == E.PROCESSED and event.order == order
    assert supplier.requests(account, "order-status") == calls
    assert (
        OrderEvent.objects.filter(order=order, to_status=S.COMPLETED)
        .get()
        .reason.startswith("webhook")
    )


def test_duplicate_and_reordered_events_change_the_order_once(client, finished_topup, supplier):
    account, order, data = finished_topup
    fulfilled = event_body("order.fulfilled", data)
    created = event_body("order.created", {**data, "status": "PROCESSING"})
    # The supplier sends "fulfilled" twice (two ids), then the late "created".
    for body in (fulfilled, fulfilled, created):
        post(client, account, body, signed(account.secret, body))
    for event in WebhookEvent.objects.filter(account=account).order_by("pk"):
        webhook_process(event_id=event.pk)
        webhook_process(event_id=event.pk)  # a repeated task finds it done
    order.refresh_from_db()
    assert order.status == S.COMPLETED and moves_to(order, S.COMPLETED) == 1
    statuses = list(
        WebhookEvent.objects.filter(account=account).order_by("pk").values_list("status", "note")
    )
    assert [status for status, _ in statuses] == [E.PROCESSED, E.IGNORED, E.IGNORED]
    assert "Already COMPLETED" in statuses[1][1] and "Older than" in statuses[2][1]


def test_an_event_that_contradicts_what_we_know_asks_order_status(client, finished_topup, supplier):
    account, order, data = finished_topup
    body = event_body("order.fulfilled", data)
    post(client, account, body, signed(account.secret, body))
    webhook_process(event_id=WebhookEvent.objects.get(account=account).pk)
    calls = supplier.requests(account, "order-status")

    lie = event_body("order.refunded", {**data, "status": "REFUNDED"})
    post(client, account, lie, signed(account.secret, lie))
    event = WebhookEvent.objects.filter(account=account).latest("pk")
    webhook_process(event_id=event.pk)
    event.refresh_from_db()
    order.refresh_from_db()
    assert "order-status asked" in event.note
    assert supplier.requests(account, "order-status") == calls + 1
    assert order.status == S.COMPLETED  # the supplier's order-status says so, not the event


def test_an_admin_sees_the_events_and_replays_one_which_changes_nothing_twice(
    client, client_as, finished_topup, broker
):
    account, order, data = finished_topup
    body = event_body("order.fulfilled", data)
    post(client, account, body, signed(account.secret, body))
    post(client, account, b'{"type": "x"}', {"HTTP_WEBHOOK_ID": "msg_forged"})
    event = WebhookEvent.objects.get(account=account, status=E.RECEIVED)
    broker.run("process_webhook_event")

    admin = client_as("admin")
    page = admin.get(reverse("orders:webhook_event_list"), {"account": account.pk}).content
    assert b"Processed" in page and b"Rejected" in page and b"Missing webhook-id" in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        admin.post(reverse("orders:webhook_event_replay", args=[event.pk]))
    broker.run("process_webhook_event")
    event.refresh_from_db()
    order.refresh_from_db()
    assert event.status == E.IGNORED and "Already COMPLETED" in event.note
    assert order.status == S.COMPLETED and moves_to(order, S.COMPLETED) == 1

    forged = WebhookEvent.objects.get(account=account, status=E.REJECTED)
    response = admin.post(reverse("orders:webhook_event_replay", args=[forged.pk]), follow=True)
    assert b"not replayed" in response.content
    assert WebhookEvent.objects.get(pk=forged.pk).status == E.REJECTED
    assert client_as("operator").get(reverse("orders:webhook_event_list")).status_code == 403


def test_polls_back_off_longer_while_an_accounts_webhooks_arrive(
    client, secured_account, sandbox_offer, sandbox_settings, broker
):
    account = secured_account()
    offer = sandbox_offer(account, kind="topup")

    def first_poll_gap():
        order = order_submit(order_id=place(offer).pk)
        assert order.status in (S.SUBMITTED, S.PROCESSING)
        return (order.next_poll_at - order.last_sent_at).total_seconds()

    with sandbox_settings(topup_delay_seconds=60):
        polled_only = first_poll_gap()
        body = event_body("order.created", {"orderId": 1, "status": "PROCESSING"})
        assert post(client, account, body, signed(account.secret, body)).status_code == 200
        with_webhooks = first_poll_gap()
    assert with_webhooks >= 3 * polled_only
