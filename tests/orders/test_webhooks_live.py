"""Signed webhooks sent by the sandbox over real HTTP to the live server's receiver: orders reach
their final status without a single order-status call, and each delivery fault (duplicates,
reordering, late delivery, forged signatures, old events replayed, a receiver that is down)
still changes every order exactly once and correctly."""

from __future__ import annotations

import base64
import os
import socket

import pytest
from django.urls import reverse

from orders.models import Order, OrderEvent, OrderStatus, WebhookEvent
from orders.services import order_submit
from suppliers.services import supplier_account_save
from tests.conftest import wait_until
from tests.orders.conftest import place

S = OrderStatus
E = WebhookEvent.Status
FINAL = {"COMPLETED": S.COMPLETED, "CANCELED": S.CANCELED, "FAILED": S.FAILED}


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/down"


@pytest.fixture
def hooked(sandbox, sandbox_account, live_server):
    """An account whose sandbox sends signed webhooks to the live server's receiver."""

    def make(**options):
        account = sandbox_account()
        secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        supplier_account_save(account=account, webhook_secret=secret)
        account.receiver = live_server.url + reverse("orders:supplier_webhook", args=[account.pk])
        account.hook = {"url": account.receiver, "secret": secret, "retry_base_seconds": 0.2}
        account.hook.update(options)
        sandbox.admin("POST", f"/sandbox/accounts/{account.remote['token']}/webhook", account.hook)
        return account

    return make


def _stats(sandbox, account) -> dict:
    return sandbox.admin("GET", f"/sandbox/accounts/{account.remote['token']}/webhook")["stats"]


def _deliver_all(sandbox, account, broker, *, timeout=30) -> dict:
    """Wait until the sandbox has nothing left to send, processing the received events."""

    def drained():
        broker.run("process_webhook_event")
        return _stats(sandbox, account)["pending"] == 0

    wait_until(drained, timeout=timeout, message="every webhook sent")
    broker.run("process_webhook_event")
    return _stats(sandbox, account)


def _place_orders(account, sandbox_offer, *, keys=3, topups=3) -> list[Order]:
    offers = [sandbox_offer(account, kind="key", skip=n) for n in range(keys)]
    offers += [
        sandbox_offer(account, kind="topup", req_server="false", skip=n) for n in range(topups)
    ]
    return [order_submit(order_id=place(offer).pk) for offer in offers]


def _assert_each_changed_once_and_correct(sandbox, account, orders) -> None:
    remote = sandbox.admin("GET", f"/sandbox/accounts/{account.remote['token']}/orders")
    truth = {row["transactionId"]: row["status"] for row in remote["orders"]}
    for order in orders:
        order.refresh_from_db()
        assert order.status == FINAL[truth[order.transaction_id]], order.transaction_id
        finals = OrderEvent.objects.filter(order=order, to_status=order.status).count()
        assert finals == 1, f"{order.transaction_id} reached {order.status} {finals} times"
        if order.status == S.COMPLETED and order.offer.delivers_keys:
            assert order.keys.count() == order.units


@pytest.mark.django_db(transaction=True)
def test_webhooks_complete_orders_without_a_single_status_call(
    sandbox, hooked, sandbox_offer, sandbox_settings, broker, supplier
):
    account = hooked()
    with sandbox_settings(topup_delay_seconds=1, cancel_share=0, fail_share=0):
        orders = _place_orders(account, sandbox_offer)
        stats = _deliver_all(sandbox, account, broker)
    assert stats["delivered"] == stats["events"] == 2 * len(orders)
    assert stats["failed_attempts"] == 0
    assert all(order.refresh_from_db() or order.status == S.COMPLETED for order in orders)
    assert supplier.requests(account, "order-status") == 0
    _assert_each_changed_once_and_correct(sandbox, account, orders)
    # Keys complete in the create-order answer; the three top-ups completed through an event.
    processed = WebhookEvent.objects.filter(account=account, status=E.PROCESSED)
    assert processed.count() == 3
    assert {event.event_type for event in processed} == {"order.fulfilled"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fault",
    [
        {"duplicate": 1},
        {"reorder": 1, "reorder_seconds": 0.5},
        {"late": 1, "late_seconds": 1},
        {"bad_signature": 1},
        {"replay_old": 1},
    ],
    ids=["duplicates", "reordered", "late", "bad-signature", "old-replay"],
)
def test_each_delivery_fault_changes_every_order_once_and_correctly(
    sandbox, hooked, sandbox_offer, sandbox_settings, broker, supplier, fault
):
    account = hooked(**fault)
    with sandbox_settings(topup_delay_seconds=1, cancel_share=0.3, fail_share=0.3):
        orders = _place_orders(account, sandbox_offer)
        stats = _deliver_all(sandbox, account, broker)
    assert stats["events"] == 2 * len(orders)
    assert stats["delivered"] == stats["events"] + stats["duplicates"]
    _assert_each_changed_once_and_correct(sandbox, account, orders)
    events = WebhookEvent.objects.filter(account=account)
    rejected = events.filter(status=E.REJECTED)
    if "bad_signature" in fault:
        assert stats["forged_sent"] == rejected.count() == 2 * len(orders)
        assert all("No matching signature" in event.note for event in rejected)
    elif "replay_old" in fault:
        assert stats["replays_sent"] == rejected.count() == 2 * len(orders)
        assert all("too old" in event.note for event in rejected)
    else:
        assert not rejected.exists()
    if "duplicate" in fault:
        assert stats["duplicates"] == 2 * len(orders)
    # One stored event per webhook-id, whatever arrived twice.
    assert events.exclude(status=E.REJECTED).count() == 2 * len(orders)


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_is_down_is_retried_with_back_off_until_it_answers(
    sandbox, hooked, sandbox_offer, sandbox_settings, broker, supplier
):
    account = hooked()
    token = account.remote["token"]
    down = {**account.hook, "url": _closed_port_url()}
    sandbox.admin("POST", f"/sandbox/accounts/{token}/webhook", down)
    with sandbox_settings(topup_delay_seconds=0.5, cancel_share=0, fail_share=0):
        orders = _place_orders(account, sandbox_offer, keys=0, topups=3)
        wait_until(
            lambda: _stats(sandbox, account)["failed_attempts"] >= 2 * 2 * len(orders),
            message="every event refused twice at the closed port",
        )
        broker.run("process_webhook_event")
        assert all(order.refresh_from_db() or order.status != S.COMPLETED for order in orders)
        sandbox.admin("POST", f"/sandbox/accounts/{token}/webhook", account.hook)  # back up
        stats = _deliver_all(sandbox, account, broker)
    assert stats["delivered"] == stats["events"] == 2 * len(orders)
    assert stats["given_up"] == 0
    assert supplier.requests(account, "order-status") == 0
    _assert_each_changed_once_and_correct(sandbox, account, orders)
