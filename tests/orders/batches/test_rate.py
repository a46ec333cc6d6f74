"""The batch page's sending rate and estimated finish (orders.batches.selectors.batch_rate).

The orders are written directly with the finish times each test wants; nothing is sent.
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from orders.batches.selectors import batch_progress, batch_rate
from orders.models import Batch, Order, OrderStatus

S = OrderStatus
numbers = count(1)


@pytest.fixture
def make_batch(offline_offer):
    def make(*, status=Batch.Status.RUNNING, confirmed_ago=timedelta(minutes=10), now=None):
        now = now or timezone.now()
        return Batch.objects.create(
            name="rate",
            account=offline_offer.account,
            status=status,
            confirmed_at=now - confirmed_ago if confirmed_ago is not None else None,
        )

    return make


@pytest.fixture
def add_orders(offline_offer):
    """`add_orders(batch, n, status, final_at=...)`: n orders, each finished at final_at(i)."""

    def add(batch, n, status=S.QUEUED, final_at=lambda i: None):
        Order.objects.bulk_create(
            [
                Order(
                    account=offline_offer.account,
                    offer=offline_offer,
                    batch=batch,
                    row_number=i + 2,
                    transaction_id=f"rate-{next(numbers)}",
                    max_unit_price=Decimal("10.00"),
                    status=status,
                    final_at=final_at(i),
                )
                for i in range(n)
            ]
        )

    return add


def seconds_ago(now, *seconds):
    return lambda i: now - timedelta(seconds=seconds[i % len(seconds)])


# --- the selector -------------------------------------------------------------------------------


def test_the_rate_counts_the_orders_finished_in_the_last_minute(make_batch, add_orders):
    now = timezone.now().replace(microsecond=0)
    batch = make_batch(now=now)
    # 30 finished over the last minute (one every 2 s), in three final statuses.
    add_orders(batch, 20, S.COMPLETED, lambda i: now - timedelta(seconds=2 * i))
    add_orders(batch, 5, S.FAILED, lambda i: now - timedelta(seconds=40 + 2 * i))
    add_orders(batch, 5, S.REJECTED, lambda i: now - timedelta(seconds=50 + 2 * i))
    # Not in the rate: finished earlier; completed, then flagged (still open, final_at kept);
    # queued again (final_at cleared).
    add_orders(batch, 100, S.COMPLETED, seconds_ago(now, 61, 300, 3000))
    add_orders(batch, 2, S.NEEDS_ATTENTION, seconds_ago(now, 5))
    add_orders(batch, 1, S.QUEUED)
    # Still to go: 599 queued (600 with the one above) and some in flight.
    add_orders(batch, 599, S.QUEUED)
    add_orders(batch, 50, S.SUBMITTED)
    add_orders(batch, 10, S.ON_HOLD)
    # Another batch's orders finishing at the same moment do not count.
    other = make_batch(now=now)
    add_orders(other, 40, S.COMPLETED, seconds_ago(now, 1))

    rate = batch_rate(batch=batch, now=now)

    assert rate.finished_recently == 30
    assert rate.span_seconds == 60
    assert rate.per_second == pytest.approx(0.5)
    assert rate.per_minute == 30
    # Open orders the workers finish (the 2 needing attention wait for a person).
    assert rate.remaining == 600 + 50 + 10
    assert rate.needs_attention == 2
    assert rate.seconds_left == pytest.approx(660 / 0.5)
    assert rate.finish_at == now + timedelta(seconds=1320)
    assert rate.minutes_left == 22
    assert not rate.waiting_for_first


def test_the_rate_of_a_batch_confirmed_moments_ago_is_over_the_time_since(make_batch, add_orders):
    now = timezone.now()
    batch = make_batch(confirmed_ago=timedelta(seconds=20), now=now)
    add_orders(batch, 10, S.COMPLETED, lambda i: now - timedelta(seconds=i))
    add_orders(batch, 90, S.QUEUED)

    rate = batch_rate(batch=batch, now=now)

    assert rate.span_seconds == 20
    assert rate.per_second == pytest.approx(0.5)
    assert rate.finish_at == now + timedelta(seconds=180)
    assert rate.minutes_left == 3


def test_no_order_finished_recently_gives_no_estimate(make_batch, add_orders):
    now = timezone.now()
    batch = make_batch(now=now)
    add_orders(batch, 10, S.COMPLETED, seconds_ago(now, 61, 600))
    add_orders(batch, 5, S.ON_HOLD)

    rate = batch_rate(batch=batch, now=now)

    assert rate.finished_recently == 0
    assert rate.per_second is None and rate.finish_at is None and rate.minutes_left is None
    assert rate.remaining == 5 and not rate.waiting_for_first


def test_a_batch_without_a_finished_order_is_waiting_for_the_first(make_batch, add_orders):
    batch = make_batch(confirmed_ago=timedelta(seconds=2))
    add_orders(batch, 5, S.QUEUED)
    add_orders(batch, 5, S.SUBMITTING)

    rate = batch_rate(batch=batch)

    assert rate.waiting_for_first and rate.per_second is None and rate.finish_at is None


@pytest.mark.parametrize("status", [Batch.Status.PAUSED, Batch.Status.DONE, Batch.Status.PREVIEW])
def test_only_a_batch_being_sent_has_a_rate(make_batch, add_orders, status):
    now = timezone.now()
    batch = make_batch(status=status, now=now)
    add_orders(batch, 5, S.COMPLETED, seconds_ago(now, 1))
    add_orders(batch, 5, S.QUEUED)
    assert batch_rate(batch=batch, now=now) is None


def test_a_batch_whose_orders_are_all_final_has_no_rate(make_batch, add_orders):
    now = timezone.now()
    batch = make_batch(now=now)
    add_orders(batch, 5, S.COMPLETED, seconds_ago(now, 1))
    assert batch_rate(batch=batch, now=now) is None


def test_the_rate_is_one_query_over_the_batch_index(
    make_batch, add_orders, django_assert_num_queries
):
    now = timezone.now()
    batch = make_batch(now=now)
    add_orders(batch, 5, S.COMPLETED, seconds_ago(now, 1))
    add_orders(batch, 5, S.QUEUED)
    progress = batch_progress(batch=batch)
    with django_assert_num_queries(1) as queries:
        batch_rate(batch=batch, progress=progress, now=now)
    sql = queries.captured_queries[0]["sql"]
    assert "COUNT(" in sql.upper()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # With a handful of rows a scan is cheapest; forbid it to see which index serves.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    # An index that starts with the batch (order_batch_status today), never a scan of the table.
    assert re.search(r"\border_batch_\w+", plan), plan
    assert "Seq Scan" not in plan and "SCAN orders_order" not in plan, plan


# --- the page -----------------------------------------------------------------------------------


def finish_shown(text: str) -> datetime:
    found = re.search(r'data-testid="batch-finish-at"><time datetime="([^"]+)"', text)
    assert found, text
    return datetime.fromisoformat(found.group(1))


@pytest.fixture
def sending_batch(make_batch, add_orders):
    """A running batch finishing 0.5 orders a second with 600 to go: about 20 minutes."""
    now = timezone.now()
    batch = make_batch(now=now)
    add_orders(batch, 30, S.COMPLETED, lambda i: now - timedelta(seconds=1 + i))
    add_orders(batch, 600, S.QUEUED)
    return batch, now + timedelta(seconds=1200)


def test_the_page_shows_the_rate_and_the_estimated_finish(client_as, sending_batch):
    batch, expected_finish = sending_batch
    client = client_as("operator")
    text = client.get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()

    assert 'data-testid="batch-rate"' in text
    assert (
        'Sending about <strong data-testid="batch-rate-per-second">0.5</strong> orders a second'
        in text
    )
    assert "(30 finished in the last minute)" in text
    assert "600 to go: estimated finish" in text
    shown = finish_shown(text)
    assert abs((shown - expected_finish).total_seconds()) < 30
    assert timezone.localtime(shown).strftime("%H:%M") in text
    assert 'data-testid="batch-finish-in">in about 20 minutes<' in text


def test_the_htmx_progress_partial_shows_them_too(client_as, sending_batch):
    batch, expected_finish = sending_batch
    client = client_as("operator")
    response = client.get(
        reverse("orders:batch_detail", args=[batch.pk]),
        headers={"HX-Request": "true", "HX-Target": "progress"},
    )
    text = response.content.decode().strip()

    assert text.startswith('<section id="progress"') and 'hx-trigger="every 1s"' in text
    assert "<html" not in text
    assert 'data-testid="batch-rate-per-second">0.5<' in text
    assert abs((finish_shown(text) - expected_finish).total_seconds()) < 30
    assert "in about 20 minutes" in text


def test_the_page_says_plainly_when_nothing_finished_lately(client_as, make_batch, add_orders):
    now = timezone.now()
    batch = make_batch(now=now)
    add_orders(batch, 10, S.COMPLETED, seconds_ago(now, 120))
    add_orders(batch, 10, S.ON_HOLD)
    client = client_as("operator")
    url = reverse("orders:batch_detail", args=[batch.pk])

    for headers in ({}, {"HX-Request": "true", "HX-Target": "progress"}):
        text = client.get(url, headers=headers).content.decode()
        assert "No order finished in the last minute: no estimate for the 10 orders to go." in text
        assert "estimated finish" not in text and "batch-finish-at" not in text


def test_the_page_of_a_batch_just_started_waits_for_the_first_orders(
    client_as, make_batch, add_orders
):
    batch = make_batch(status=Batch.Status.CONFIRMED, confirmed_ago=timedelta(seconds=1))
    add_orders(batch, 10, S.QUEUED)
    text = (
        client_as("operator").get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    )
    assert "Waiting for the first orders to finish: no estimate yet." in text
    assert "estimated finish" not in text


def test_a_paused_batch_shows_no_rate(client_as, make_batch, add_orders):
    now = timezone.now()
    batch = make_batch(status=Batch.Status.PAUSED, now=now)
    add_orders(batch, 10, S.COMPLETED, seconds_ago(now, 1))
    add_orders(batch, 10, S.QUEUED)
    text = (
        client_as("operator").get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    )
    assert "Paused: queued orders wait" in text and 'data-testid="batch-rate"' not in text


def test_when_only_orders_needing_attention_are_left_no_finish_is_promised(
    client_as, make_batch, add_orders
):
    now = timezone.now()
    batch = make_batch(now=now)
    add_orders(batch, 10, S.COMPLETED, seconds_ago(now, 1, 2, 3))
    add_orders(batch, 2, S.NEEDS_ATTENTION, seconds_ago(now, 5))
    rate = batch_rate(batch=batch, now=now)
    assert rate.per_second and rate.remaining == 0 and rate.finish_at is None

    text = (
        client_as("operator").get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    )
    assert "No estimate: the orders left need attention." in text
    assert "2 orders need attention" in text and "estimated finish" not in text


def test_a_long_batch_shows_its_finish_in_hours_and_its_day(make_batch, add_orders, client_as):
    now = timezone.now()
    batch = make_batch(now=now)
    add_orders(batch, 6, S.COMPLETED, lambda i: now - timedelta(seconds=1 + i))  # 0.1 a second
    add_orders(batch, 9000, S.QUEUED)  # 90,000 s: a day and a bit
    text = (
        client_as("operator").get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    )
    finish = timezone.localtime(finish_shown(text))
    assert f"{finish:%H:%M} on {finish:%a} {finish.day} {finish:%b}" in text
    assert "in about 25 hours" in text
