"""Webhooks against polling: 500 top-up orders placed at the sandbox, once with the account's
signed webhooks on (the sandbox sending to the live server's receiver) and once with them off.

Setup: one sandbox account per run (postpaid, so no balance runs out), 10 top-up offers used in
turn, top-ups final after `TOPUP_DELAY` seconds at the sandbox, none canceled or failed. The
orders are created and sent one after the other (`order_create` + `order_submit`). Then this
process does what the workers and the beat would, every 0.1 s from the first order on (between
two orders while they are being placed): it processes the received webhook events
(`webhook_process`) and polls the orders whose `next_poll_at` has come (`order_poll`, the
engine's own back-off: 5, 10, 20 ... seconds), until every order is COMPLETED.

Figures per run: orders completed through a webhook vs through an order-status poll (the
COMPLETED event's reason says which), order-status calls the sandbox logged for the account
(saved = off minus on), and the median / 90th percentile time from the create-order call to
COMPLETED (the COMPLETED event's time).

    make bench PYTEST_ARGS="-k webhooks"
"""

from __future__ import annotations

import base64
import os
import statistics
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders import tasks
from orders.models import Order, OrderEvent, OrderStatus, WebhookEvent
from orders.services import order_create, order_poll, order_submit
from orders.states import POLLED_STATUSES
from orders.webhooks import webhook_process
from suppliers.services import supplier_account_save
from tests.benchmarks.conftest import report

ORDERS = 500
TOPUP_DELAY = 8
GIVE_UP_AFTER = 240


@pytest.fixture
def no_broker(monkeypatch):
    """Nothing reaches a broker: this process drives the work itself."""
    for name in ("submit_order", "poll_order", "process_webhook_event", "deliver_order"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "apply_async", lambda *args, **kwargs: None)
        monkeypatch.setattr(task, "delay", lambda *args, **kwargs: None)


def _run(sandbox, sandbox_account, sandbox_offer, live_server, *, webhooks: bool) -> dict:
    account = sandbox_account(postpaid=True)
    token = account.remote["token"]
    if webhooks:
        secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        supplier_account_save(account=account, webhook_secret=secret)
        receiver = live_server.url + reverse("orders:supplier_webhook", args=[account.pk])
        sandbox.admin(
            "POST", f"/sandbox/accounts/{token}/webhook", {"url": receiver, "secret": secret}
        )
    offers = [sandbox_offer(account, kind="topup", req_server="false", skip=n) for n in range(10)]
    ids: list[int] = []

    def work_due() -> None:
        """What the workers would do now: process received events, poll the due orders."""
        received = WebhookEvent.objects.filter(account=account, status=WebhookEvent.Status.RECEIVED)
        for event_id in received.values_list("pk", flat=True):
            webhook_process(event_id=event_id)
        due = Order.objects.filter(
            account=account, status__in=POLLED_STATUSES, next_poll_at__lte=timezone.now()
        )
        for order_id in due.values_list("pk", flat=True):
            order_poll(order_id=order_id)

    last_work = time.monotonic()
    for n in range(ORDERS):
        offer = offers[n % len(offers)]
        (order,) = order_create(
            offer=offer, max_unit_price=offer.price, by=None, game_user_id="123456789"
        )
        order_submit(order_id=order.pk)
        ids.append(order.pk)
        if time.monotonic() - last_work >= 0.1:  # the workers do not wait for the last order
            work_due()
            last_work = time.monotonic()
    placed_at = time.monotonic()
    pending = Order.objects.filter(account=account, status__in=POLLED_STATUSES)
    while pending.exists() and time.monotonic() - placed_at < GIVE_UP_AFTER:
        work_due()
        time.sleep(0.1)
    completed = OrderEvent.objects.filter(order__in=ids, to_status=OrderStatus.COMPLETED)
    assert completed.count() == ORDERS, "every order completed"
    waits = sorted(
        (event.at - event.order.submitted_at) / timedelta(seconds=1)
        for event in completed.select_related("order")
    )
    status_calls = sandbox.admin(
        "GET", "/sandbox/requests", params={"token": token, "endpoint": "order-status"}
    )["count"]
    return {
        "through webhooks": completed.filter(reason__startswith="webhook").count(),
        "through polling": completed.filter(reason__startswith="order-status").count(),
        "status calls": status_calls,
        "median to COMPLETED": f"{statistics.median(waits):.1f} s",
        "p90 to COMPLETED": f"{waits[int(len(waits) * 0.9)]:.1f} s",
    }


@pytest.mark.django_db(transaction=True)
def test_webhooks_against_polling(sandbox, sandbox_account, sandbox_offer, live_server, no_broker):
    before = sandbox.admin("GET", "/sandbox/settings")
    changed = {"topup_delay_seconds": TOPUP_DELAY, "cancel_share": 0, "fail_share": 0}
    sandbox.admin("POST", "/sandbox/settings", changed)
    try:
        on = _run(sandbox, sandbox_account, sandbox_offer, live_server, webhooks=True)
        off = _run(sandbox, sandbox_account, sandbox_offer, live_server, webhooks=False)
    finally:
        sandbox.admin("POST", "/sandbox/settings", {name: before[name] for name in changed})
    figures = {"orders per run": ORDERS, "top-up time at the sandbox": f"{TOPUP_DELAY} s"}
    for name in on:
        figures[f"{name}, webhooks on / off"] = f"{on[name]} / {off[name]}"
    figures["status calls saved"] = off["status calls"] - on["status calls"]
    report("orders_webhooks", figures)
