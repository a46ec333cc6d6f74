"""Polling cost: one sweep with 20,000 pending orders against one with 2,000 (200 due in both),
and the number of order-status calls one order costs over the supplier's 60 minutes.

The sweep: pending orders (SUBMITTED / PROCESSING, sent within the last 50 minutes) are inserted
in bulk, 200 of them due now and the rest with `next_poll_at` spread over the next hour (from
5 minutes on, so none falls due while the benchmark runs); the table is VACUUM ANALYZEd. `orders_sweep()` then runs with the tasks' `apply_async` (what the engine's
`enqueue_after_commit` calls; `.delay` is not used) patched to collect the ids instead of sending them. Each
size is swept 5 times (the 200 due orders are made due again in between): the best and median
time, and the SQL statements of one sweep (BEGIN / COMMIT counted apart), each timed. The cost must follow the due orders, not the pending ones.

Status calls: a top-up order is sent to the sandbox (top-ups set to stay pending for two hours)
at a fake "now" t0, then `order_poll` is driven with the fake clock set to each `next_poll_at` it
schedules, until the order leaves the pending statuses. The calls are counted three ways: the
order's `poll_count`, the sandbox's request log, and `orders.schedule.status_calls_within()`
(the engine's own arithmetic over its back-off constants).

    DATABASE_URL=postgres://... make bench PYTEST_ARGS="-k orders_polling"
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Offer
from orders import schedule, tasks
from orders.models import Order, OrderStatus
from orders.services import new_transaction_id, order_create, order_poll, order_submit, orders_sweep
from orders.states import POLLED_STATUSES
from suppliers.models import SupplierAccount
from suppliers.services import supplier_account_save
from tests.benchmarks.conftest import report

S = OrderStatus
DUE = 200
SWEEPS = 5


@pytest.fixture
def sent_tasks(monkeypatch):
    """Task ids the engine would have sent, by task name (nothing reaches the broker)."""
    sent: dict[str, list[int]] = {}
    for name in ("submit_order", "poll_order", "check_account_queue", "deliver_order"):
        task = getattr(tasks, name)

        def collect(args=None, kwargs=None, *, _name=name, **options):
            sent.setdefault(_name, []).append(args[0])

        monkeypatch.setattr(task, "apply_async", collect)
    return sent


def _account_and_offers() -> tuple[SupplierAccount, list[Offer]]:
    account = SupplierAccount.objects.create(
        name="bench-polling", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    now = timezone.now()
    offers = Offer.objects.bulk_create(
        [
            Offer(
                account=account,
                offer_id=1000 + n,
                product_name="PUBG Mobile",
                offer_name=f"{60 * (n + 1)} UC",
                search_text=f"pubg mobile {60 * (n + 1)} uc",
                category="Top Up",
                price=Decimal("0.99") * (n + 1),
                currency="USD",
                requires_user_id=True,
                first_seen_at=now,
                synced_at=now,
            )
            for n in range(10)
        ]
    )
    return account, offers


def _insert_pending(account, offers, *, pending: int, due: int) -> list[int]:
    """`pending` orders waiting for the supplier; `due` of them due now. Returns the due ids."""
    rng = random.Random(pending)
    now = timezone.now()
    orders = []
    for n in range(pending):
        offer = offers[n % len(offers)]
        sent = now - timedelta(seconds=rng.uniform(10, 50 * 60))
        next_poll = (
            now - timedelta(seconds=rng.uniform(0, 60))
            if n < due
            # (From 5 minutes on, so none falls due while the benchmark runs.)
            else now + timedelta(seconds=rng.uniform(300, 3600))
        )
        orders.append(
            Order(
                account=account,
                offer=offer,
                transaction_id=new_transaction_id(),
                status=S.PROCESSING if n % 3 else S.SUBMITTED,
                game_user_id="123456789",
                max_unit_price=offer.price,
                quoted_price=offer.price,
                price_sent=offer.price,
                currency="USD",
                supplier_order_id=10_000_000 + n,
                supplier_status="PROCESSING" if n % 3 else "SUBMITTED",
                submit_attempts=1,
                submitted_at=sent,
                last_sent_at=sent,
                poll_count=(polls := rng.randint(1, 12)),
                pending_polls=polls,
                last_polled_at=sent + timedelta(seconds=5),
                next_poll_at=next_poll,
            )
        )
    created = Order.objects.bulk_create(orders, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE orders_order")
    return [order.pk for order in created[:due]]


def _measure_sweeps(due_ids: list[int], sent: dict) -> dict:
    due_at = timezone.now() - timedelta(seconds=30)
    seconds = []
    for _ in range(SWEEPS):
        Order.objects.filter(pk__in=due_ids).update(next_poll_at=due_at)
        sent.clear()
        start = time.perf_counter()
        result = orders_sweep()
        seconds.append(time.perf_counter() - start)
        assert result.polls == len(due_ids) and sorted(sent["poll_order"]) == sorted(due_ids)
    Order.objects.filter(pk__in=due_ids).update(next_poll_at=due_at)
    with CaptureQueriesContext(connection) as captured:
        orders_sweep()
    statements = [q for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    explain = ""
    if connection.vendor == "postgresql":
        Order.objects.filter(pk__in=due_ids).update(next_poll_at=due_at)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + _due_select(statements))
            explain = "\n".join("      " + line for (line,) in cursor.fetchall())
    return {
        "seconds": seconds,
        "statements": statements,
        "transactions": sum(q["sql"] == "COMMIT" for q in captured.captured_queries),
        "explain": explain,
    }


def _due_select(queries) -> str:
    return next(
        q["sql"]
        for q in queries
        if '"next_poll_at" <=' in q["sql"] and "SKIP LOCKED" in q["sql"] and "SUBMITTED" in q["sql"]
    )


# What each statement of one sweep is for, in the order `orders_sweep` runs them (none due but
# the polls: no move, so no per-order statements).
STEPS = (
    "expired leases (select)",
    "past the 60-minute limit (select)",
    "held orders released (select)",
    "due pending orders (select)",
    "due pending orders pushed ahead (update)",
    "queued orders to rescue (select)",
    "held accounts due for a check (select)",
)


@pytest.mark.django_db(transaction=True)
def test_one_sweep_follows_the_due_orders(sent_tasks):
    account, offers = _account_and_offers()
    figures = {}
    for pending in (20_000, 2_000):
        Order.objects.all().delete()
        due_ids = _insert_pending(account, offers, pending=pending, due=DUE)
        assert Order.objects.filter(status__in=list(POLLED_STATUSES)).count() == pending
        figures[pending] = _measure_sweeps(due_ids, sent_tasks)

    def line(pending: int) -> str:
        measured = figures[pending]
        seconds, statements = measured["seconds"], measured["statements"]
        sql_ms = sum(float(q["time"]) for q in statements) * 1000
        return (
            f"best {min(seconds) * 1000:.1f} ms, median {statistics.median(seconds) * 1000:.1f} ms"
            f" (of {SWEEPS}); {len(statements)} statements in {measured['transactions']}"
            f" transactions, {sql_ms:.0f} ms in SQL"
        )

    big, small = figures[20_000], figures[2_000]
    per_step = {
        f"  {STEPS[i] if len(big['statements']) == len(STEPS) else i + 1} (ms)": (
            f"{float(a['time']) * 1000:.0f} / {float(b['time']) * 1000:.0f}"
        )
        for i, (a, b) in enumerate(zip(big["statements"], small["statements"], strict=False))
    }
    report(
        f"orders sweep, {DUE} due ({connection.vendor})",
        {
            "20,000 pending, 200 due": line(20_000),
            " 2,000 pending, 200 due": line(2_000),
            "time 20,000 / 2,000 (best)": f"{min(big['seconds']) / min(small['seconds']):.2f}",
            "statements 20,000 / 2,000": f"{len(big['statements'])} / {len(small['statements'])}",
            "per statement, 20,000 / 2,000 pending": "(one captured sweep each, ms resolution)",
            **per_step,
            "poll tasks sent per sweep": DUE,
        },
    )
    if big["explain"]:
        print("  EXPLAIN ANALYZE of the due-orders select at 20,000 pending:\n" + big["explain"])
    assert len(big["statements"]) == len(small["statements"])


@pytest.mark.django_db(transaction=True)
def test_status_calls_of_one_order_over_60_minutes(sandbox, sent_tasks):
    remote = sandbox.create_account(balance="1000", balance_profile="MIXED")
    account = supplier_account_save(
        account=SupplierAccount(
            name=f"bench-polling-{remote['partnerId']}",
            base_url=sandbox.url,
            rate_limit_per_second=1000,
            call_deadline_seconds=5,
        ),
        shop_token=remote["token"],
    )
    row = sandbox.admin(
        "GET",
        "/sandbox/offers",
        params={"kind": "topup", "req_server": 0, "in_stock": 1, "listed": 1, "currency": "USD"},
    )["offers"][0]
    now = timezone.now()
    offer = Offer.objects.create(
        account=account,
        offer_id=row["offerId"],
        product_id=row["productId"],
        product_name=row["productName"],
        offer_name=row["offerName"],
        category=row["category"],
        price=Decimal(str(row["price"])),
        currency=row["currency"],
        requires_user_id=True,
        returns_key=False,
        first_seen_at=now,
        synced_at=now,
    )
    settings_before = sandbox.admin("GET", "/sandbox/settings")
    sandbox.admin("POST", "/sandbox/settings", {"topup_delay_seconds": 7200})
    try:
        (order,) = order_create(offer=offer, game_user_id="123456789", max_unit_price=offer.price)
        t0 = timezone.now()
        order = order_submit(order_id=order.pk, now=t0)
        assert order.status == S.SUBMITTED, order.last_error
        since = t0.timestamp() - 1
        offsets = []
        while order.status in POLLED_STATUSES and order.status != S.NEEDS_ATTENTION:
            at = order.next_poll_at
            assert at is not None and at <= t0 + schedule.PENDING_LIMIT
            order = order_poll(order_id=order.pk, now=at)
            offsets.append(int((at - t0).total_seconds()))
        logged = [
            r
            for r in sandbox.admin(
                "GET",
                "/sandbox/requests",
                params={"token": remote["token"], "since": f"{since:.6f}"},
            )["requests"]
            if r["endpoint"] == "order-status"
        ]
    finally:
        sandbox.admin(
            "POST",
            "/sandbox/settings",
            {"topup_delay_seconds": settings_before.get("topup_delay_seconds", 20)},
        )

    assert order.status == S.NEEDS_ATTENTION
    every = int(schedule.ATTENTION_FOLLOW_EVERY.total_seconds())
    span = int(schedule.ATTENTION_FOLLOW_FOR.total_seconds())
    assert order.poll_count == len(offsets) == len(logged) == schedule.status_calls_within()
    report(
        "status calls of one order pending for 60 minutes (sandbox, fake clock)",
        {
            "status calls (poll_count / sandbox log)": f"{order.poll_count} / {len(logged)}",
            "engine's status_calls_within(60 min)": schedule.status_calls_within(),
            "back-off (s)": f"{', '.join(map(str, settings.ORDERS_POLL_DELAYS))}, then every {settings.ORDERS_POLL_DELAY_CAP}",
            "calls at (s after sending)": ", ".join(map(str, offsets)),
            "then": (
                f"NEEDS_ATTENTION, followed every {every // 60} min for {span // 3600} h"
                f" ({span // every} more calls at most)"
            ),
        },
    )
