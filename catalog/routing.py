"""Which route an order for a product takes: one pure function over what is known right now.

`routes_ranked` puts every route of a product in the order they would be tried and says, for each
route that cannot be used right now, why. The callers gather the facts: the catalog (price, stock,
settlement, the dated rate) in `catalog.products.product_route_facts`, the orders app (a queue on
hold, a supplier failing, the routes an order already tried) around it. Nothing here reads the
database, so the product page and the sending of an order cannot disagree about a route.

Policies:

- cheapest: the usable routes by their cost in USD (unit price x units at the rate valid now),
  a tie by the preference order; a route whose currency has no rate cannot be compared, so it is
  skipped with that reason rather than guessed;
- preference: the usable routes in the admin's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from catalog.pricing import usd_cost

CHEAPEST = "cheapest"
PREFERENCE = "preference"


@dataclass(frozen=True)
class RouteFacts:
    """What is known about one route right now."""

    route_id: int
    offer_pk: int
    offer_label: str
    account_id: int
    account_name: str
    position: int
    unit_price: Decimal
    currency: str
    units: int
    usd_rate: Decimal | None  # USD per unit of `currency`, valid now; None: no rate
    in_stock: bool
    delisted: bool
    compatible: bool | None  # the account's balance profile against the offer's settlement
    account_enabled: bool = True
    queue_on_hold: bool = False
    supplier_failing: bool = False
    already_tried: bool = False


@dataclass(frozen=True)
class RouteChoice:
    facts: RouteFacts
    usd_cost: Decimal | None
    margin: Decimal | None  # retail price (USD) - USD cost; None without either
    skip_reason: str  # empty: the route may be used now

    @property
    def usable(self) -> bool:
        return not self.skip_reason


def skip_reason(facts: RouteFacts, *, policy: str) -> str:
    """Why the route cannot be used right now, or "" (the first reason that applies)."""
    if facts.already_tried:
        return "Already tried for this order."
    if facts.delisted:
        return "The offer is delisted."
    if not facts.account_enabled:
        return "The supplier account is disabled."
    if facts.compatible is False:
        return "The offer's settlement is incompatible with the account's balance."
    if not facts.in_stock:
        return "Out of stock."
    if facts.queue_on_hold:
        return "The account's order queue is on hold (balance)."
    if facts.supplier_failing:
        return "The supplier is failing (most answers lost in the last minutes)."
    if facts.usd_rate is None and policy == CHEAPEST:
        return f"No exchange rate for {facts.currency}: its cost cannot be compared."
    return ""


def routes_ranked(
    routes: Iterable[RouteFacts], *, policy: str, retail_price: Decimal | None
) -> list[RouteChoice]:
    """Every route, the usable ones first in the order they would be tried, then the skipped
    ones (by preference) with their reason."""
    choices = []
    for facts in routes:
        cost = (
            None
            if facts.usd_rate is None
            else usd_cost(facts.unit_price, facts.units, facts.usd_rate)
        )
        choices.append(
            RouteChoice(
                facts=facts,
                usd_cost=cost,
                margin=None if cost is None or retail_price is None else retail_price - cost,
                skip_reason=skip_reason(facts, policy=policy),
            )
        )

    def key(choice: RouteChoice) -> tuple:
        by_cost = choice.usd_cost if policy == CHEAPEST and choice.usable else Decimal(0)
        return (not choice.usable, by_cost, choice.facts.position, choice.facts.route_id)

    return sorted(choices, key=key)


def route_best(
    routes: Iterable[RouteFacts], *, policy: str, retail_price: Decimal | None = None
) -> RouteChoice | None:
    """The route an order takes now, or None when no route may be used."""
    ranked = routes_ranked(routes, policy=policy, retail_price=retail_price)
    return ranked[0] if ranked and ranked[0].usable else None
