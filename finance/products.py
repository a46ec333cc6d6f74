"""Products in a period, for finance: per product, the orders and their USD cost by the route
(account) that bought them, and how many orders failed over to another route."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum

from orders.models import Order, OrderAttempt, OrderStatus


@dataclass
class RouteCost:
    account: str
    delivered: int
    usd_cost: Decimal


@dataclass
class ProductCosts:
    product_id: int
    product: str
    orders: int = 0
    delivered: int = 0
    failed_over: int = 0
    usd_cost: Decimal = Decimal(0)
    routes: list[RouteCost] = field(default_factory=list)


def product_costs(*, start: datetime, end: datetime) -> list[ProductCosts]:
    """Orders for a product created in [start, end): per product and route, the delivered
    (COMPLETED) orders and their USD cost as fixed when each was sent; per product, the orders
    that moved to another route at least once."""
    orders = Order.objects.filter(product__isnull=False, created_at__gte=start, created_at__lt=end)
    products: dict[int, ProductCosts] = {}
    for row in orders.values("product_id", "product__name", "product__denomination").annotate(
        total=Count("id")
    ):
        products[row["product_id"]] = ProductCosts(
            product_id=row["product_id"],
            product=f"{row['product__name']} {row['product__denomination']}",
            orders=row["total"],
        )
    for row in (
        orders.filter(status=OrderStatus.COMPLETED)
        .values("product_id", "account__name")
        .annotate(delivered=Count("id"), cost=Sum("usd_cost"))
        .order_by("product_id", "account__name")
    ):
        costs = products[row["product_id"]]
        route = RouteCost(row["account__name"], row["delivered"], row["cost"] or Decimal(0))
        costs.routes.append(route)
        costs.delivered += route.delivered
        costs.usd_cost += route.usd_cost
    failed_over = (
        OrderAttempt.objects.filter(order__in=orders, ended_at__isnull=False)
        .values("order__product_id")
        .annotate(orders=Count("order_id", distinct=True))
    )
    for row in failed_over:
        products[row["order__product_id"]].failed_over = row["orders"]
    return sorted(products.values(), key=lambda costs: costs.product)
