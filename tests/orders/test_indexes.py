"""The order list's search and a reconciliation's read of a period are served by indexes, not by a
scan of every order (PostgreSQL's plans; SQLite scans by design at a developer's sizes)."""

import pytest
from django.db import connection

from orders.forms import OrderFilter
from orders.models import Order

pytestmark = pytest.mark.django_db


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # With a handful of rows a scan is cheapest; forbid it to see which index can serve.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("index plans are PostgreSQL's; SQLite scans at a developer's sizes")


@pytest.mark.parametrize(
    "index",
    [
        "order_txid_trgm",
        "order_reference_trgm",
    ],
)
def test_the_order_search_uses_a_trigram_index(postgres_only, index):
    orders = OrderFilter({"q": "7f3a9"}, queryset=Order.objects.all()).qs.order_by()
    plan = _plan(orders)
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


def test_orders_of_an_account_in_a_period_are_read_by_index(postgres_only):
    from datetime import UTC, datetime

    orders = Order.objects.filter(
        account_id=1,
        submitted_at__gte=datetime(2026, 11, 1, tzinfo=UTC),
        submitted_at__lt=datetime(2026, 12, 1, tzinfo=UTC),
    )
    plan = _plan(orders.order_by())
    assert "order_account_submitted" in plan, plan
