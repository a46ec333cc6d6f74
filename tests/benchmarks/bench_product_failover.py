"""1,000 orders for one product across three sandbox accounts, one of them out of stock for half
the run: share delivered, reroutes, and purchases per order (at most one, counted by the
sandbox itself over every transactionId an order ever had, at every account).

The product is routed by cost (the same offer at three accounts: equal cost, so the preference
order decides and the first account is tried first). From order 250 to order 749 the first
account answers every create-order OUT_OF_STOCK (a sandbox fault on its token). The first such
refusal reroutes its order and marks the offer out of stock in our catalog, so the orders after it
go to the second account directly; the catalog sync of the first account at order 750 finds the
offer in stock again and routing goes back to it. On top
of that, every account answers one create-order in 40 with a lost response (the order is bought,
the answer lost: resolved by order-status, never rerouted) and one in 40 with an unprocessed 503
(SERVICE_UNAVAILABLE: rerouted once order-status finds nothing). Orders are sent one after the
other by the services the workers run (`order_submit`, `order_resolve_unknown`), without Celery.

    make bench PYTEST_ARGS="-k product_failover"
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict

import pytest
from django.utils import timezone

from catalog.models import Product, SyncJob
from catalog.products import product_route_attach
from catalog.sync import catalog_sync_run
from orders.models import Order, OrderEvent, OrderStatus, OrderTransactionId
from orders.services.rerouting import order_create_for_product
from tests.benchmarks.conftest import report
from tests.orders.conftest import broker as broker  # records tasks: the bench sends itself
from tests.orders.test_failover import drive

ORDERS = 1000
OUT_OF_STOCK_FROM, OUT_OF_STOCK_UNTIL = 250, 750

pytestmark = pytest.mark.benchmark


@pytest.mark.usefixtures("broker")
def test_product_failover_1000_orders(sandbox, sandbox_account, sandbox_offer):
    accounts = [sandbox_account(postpaid=True) for _ in range(3)]
    offers = [sandbox_offer(account, kind="key") for account in accounts]
    product = Product.objects.create(
        code="bench-key", name=offers[0].product_name, denomination=offers[0].offer_name
    )
    for offer in offers:
        product_route_attach(product=product, offer=offer)
    rules = []

    def add_rule(account, **spec):
        rule = sandbox.admin(
            "POST",
            "/sandbox/faults",
            {"token": account.remote["token"], "endpoint": "create-order", **spec},
        )
        rules.append(rule["id"])
        return rule["id"]

    try:
        for account in accounts:
            add_rule(account, kind="lost_response", probability=0.025)
            add_rule(account, kind="http_503", probability=0.025)
        started = time.monotonic()
        out_of_stock_rule = None
        for number in range(ORDERS):
            if number == OUT_OF_STOCK_FROM:
                out_of_stock_rule = add_rule(accounts[0], kind="error_code", code="OUT_OF_STOCK")
            if number == OUT_OF_STOCK_UNTIL:
                sandbox.admin("DELETE", f"/sandbox/faults/{out_of_stock_rule}")
                # The next catalog sync of the first account sees the offer in stock again.
                catalog_sync_run(SyncJob.objects.create(account=accounts[0]).pk)
            order = order_create_for_product(product=product)[0]
            drive(order, timezone.now())
        elapsed = time.monotonic() - started
    finally:
        for rule_id in rules:
            with contextlib.suppress(Exception):  # the out-of-stock rule is already gone
                sandbox.admin("DELETE", f"/sandbox/faults/{rule_id}")

    orders = Order.objects.filter(product=product)
    statuses = Counter(orders.values_list("status", flat=True))
    owner = dict(
        OrderTransactionId.objects.filter(order__product=product).values_list(
            "transaction_id", "order_id"
        )
    )
    bought: dict[int, int] = defaultdict(int)
    by_account = Counter()
    for account in accounts:
        answer = sandbox.admin("GET", f"/sandbox/accounts/{account.remote['token']}/orders")
        for row in answer["orders"]:
            if row["transactionId"] in owner:
                bought[owner[row["transactionId"]]] += 1
                by_account[account.name] += 1
    reroutes = OrderEvent.objects.filter(order__product=product, data__reroute=True).count()
    rerouted_orders = (
        OrderEvent.objects.filter(order__product=product, data__reroute=True)
        .values("order_id")
        .distinct()
        .count()
    )
    delivered = statuses[OrderStatus.COMPLETED]
    assert orders.count() == ORDERS
    assert max(bought.values()) <= 1
    report(
        "product_failover",
        {
            "orders": ORDERS,
            "delivered": f"{delivered} ({delivered / ORDERS:.1%})",
            "statuses": dict(statuses),
            "reroutes": reroutes,
            "orders rerouted": rerouted_orders,
            "purchases": sum(bought.values()),
            "purchases per order (max)": max(bought.values()),
            "purchases per order (mean)": f"{sum(bought.values()) / ORDERS:.3f}",
            "purchases by account": dict(by_account),
            "seconds": f"{elapsed:.1f} ({ORDERS / elapsed:.0f} orders/s, one after the other)",
        },
    )
