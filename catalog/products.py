"""Products: what the shop sells, mapped to offers of several supplier accounts (routes).

Writes here are an admin's (create a product, attach or detach an offer) and the catalog's own
check after every sync or look-up: a route whose offer was delisted, renamed or repriced in
another currency drops out of its product, with the reason kept for the product's page.
Reads: the product list, a product's routes, and the offers suggested for it (`catalog.matching`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone

from catalog.matching import Match, match_offer, normalise
from catalog.models import Offer, Product, ProductRoute
from catalog.routing import RouteChoice, RouteFacts, routes_ranked
from catalog.selectors import currency_rate_at
from reseller.core.errors import ApplicationError
from reseller.core.services import audit_record

#: At most this many offers are compared with a product for suggestions (the first words filter).
SUGGESTION_CANDIDATES = 2000


class ProductRouteRefused(ApplicationError):
    pass


# --- reads ---------------------------------------------------------------------------------------


def product_list() -> QuerySet[Product]:
    return Product.objects.all()


def product_routes(product: Product) -> QuerySet[ProductRoute]:
    """Every route of the product, the active ones first in preference order, then the dropped."""
    return (
        ProductRoute.objects.filter(product=product)
        .select_related("offer", "offer__account")
        .order_by(F("dropped_at").asc(nulls_first=True), "position", "id")
    )


def product_find(code: str) -> Product | None:
    return Product.objects.filter(code=code.strip().lower()).first()


def product_suggestions(product: Product, *, limit: int = 30) -> list[tuple[Offer, Match]]:
    """Listed offers of enabled accounts that match the product and are not routes of it yet,
    best first. The database narrows by the name's longest word (a number is matched by
    `match_offer` only: "1,000" is written in many ways);
    `match_offer` decides."""
    words = normalise(product.name)
    offers = Offer.objects.filter(delisted_at__isnull=True, account__enabled=True).exclude(
        product_routes__product=product
    )
    for word in [max(words, key=len)] if words else []:
        offers = offers.filter(Q(product_name__icontains=word) | Q(offer_name__icontains=word))

    found = []
    for offer in offers.select_related("account")[:SUGGESTION_CANDIDATES]:
        match = match_offer(
            name=product.name,
            denomination=product.denomination,
            region=product.region,
            offer_text=f"{offer.product_name} {offer.offer_name}",
        )
        if match is not None:
            found.append((offer, match))
    found.sort(key=lambda pair: (-pair[1].score, pair[0].price, pair[0].pk))
    return found[:limit]


def product_route_facts(
    product: Product,
    *,
    now: datetime | None = None,
    accounts_on_hold: frozenset[int] = frozenset(),
    accounts_failing: frozenset[int] = frozenset(),
    offers_tried: frozenset[int] = frozenset(),
) -> list[RouteFacts]:
    """What routing needs to know about each active route of the product, now. The orders app
    names the accounts whose queue is on hold or whose supplier is failing, and the offers an
    order already tried (the catalog does not read orders)."""
    now = now or timezone.now()
    rates: dict[str, Decimal | None] = {}
    facts = []
    for route in ProductRoute.objects.filter(
        product=product, dropped_at__isnull=True
    ).select_related("offer", "offer__account"):
        offer, account = route.offer, route.offer.account
        if offer.currency not in rates:
            rates[offer.currency] = currency_rate_at(offer.currency, now)
        facts.append(
            RouteFacts(
                route_id=route.pk,
                offer_pk=offer.pk,
                offer_label=str(offer),
                account_id=account.pk,
                account_name=account.name,
                position=route.position,
                unit_price=offer.price,
                currency=offer.currency,
                units=offer.units or 1,
                usd_rate=rates[offer.currency],
                in_stock=offer.in_stock,
                delisted=offer.is_delisted,
                compatible=offer.is_compatible_with(account.balance_profile),
                account_enabled=account.enabled,
                queue_on_hold=account.pk in accounts_on_hold,
                supplier_failing=account.pk in accounts_failing,
                already_tried=offer.pk in offers_tried,
            )
        )
    return facts


def product_routes_ranked(product: Product, **known) -> list[RouteChoice]:
    """`catalog.routing.routes_ranked` over the product's routes now (see `product_route_facts`)."""
    return routes_ranked(
        product_route_facts(product, **known),
        policy=product.policy,
        retail_price=product.retail_price,
    )


# --- writes --------------------------------------------------------------------------------------


def product_save(*, product: Product, by=None, request=None) -> Product:
    created = product.pk is None
    product.code = product.code.strip().lower()
    with transaction.atomic():
        product.save()
        audit_record(
            action="product.created" if created else "product.changed",
            actor=by,
            request=request,
            target=product,
            data={
                "code": product.code,
                "name": str(product),
                "policy": product.policy,
                "retail_price": None if product.retail_price is None else str(product.retail_price),
            },
        )
    return product


def product_route_attach(
    *, product: Product, offer: Offer, by=None, request=None, now: datetime | None = None
) -> ProductRoute:
    """Confirm an offer as a route of the product, last in the preference order. A route that
    had dropped out is taken back (with the offer as it is now)."""
    if offer.is_delisted:
        raise ProductRouteRefused("The offer is delisted; it cannot deliver this product.")
    now = now or timezone.now()
    with transaction.atomic():
        Product.objects.select_for_update().get(pk=product.pk)
        last = ProductRoute.objects.filter(product=product, dropped_at__isnull=True).aggregate(
            Max("position")
        )["position__max"]
        values = {
            "position": (last or 0) + 1,
            "matched_product_name": offer.product_name,
            "matched_offer_name": offer.offer_name,
            "matched_currency": offer.currency,
            "added_at": now,
            "dropped_at": None,
            "dropped_reason": "",
        }
        try:
            route, _ = ProductRoute.objects.update_or_create(
                product=product, offer=offer, defaults=values
            )
        except IntegrityError:
            raise ProductRouteRefused("The offer is already a route of this product.") from None
        audit_record(
            action="product.route_attached",
            actor=by,
            request=request,
            target=product,
            data={"offer": str(offer), "account": offer.account.name, "position": route.position},
        )
    return route


def product_route_detach(*, route: ProductRoute, by=None, request=None) -> None:
    with transaction.atomic():
        audit_record(
            action="product.route_detached",
            actor=by,
            request=request,
            target=route.product,
            data={"offer": str(route.offer), "account": route.offer.account.name},
        )
        route.delete()


def product_route_move(*, route: ProductRoute, up: bool, by=None, request=None) -> None:
    """Swap the route with its neighbour in the preference order."""
    with transaction.atomic():
        active = list(
            ProductRoute.objects.select_for_update()
            .filter(product_id=route.product_id, dropped_at__isnull=True)
            .order_by("position", "id")
        )
        index = next((i for i, other in enumerate(active) if other.pk == route.pk), None)
        if index is None:
            raise ProductRouteRefused("Only an active route has a place in the order.")
        other_index = index - 1 if up else index + 1
        if not 0 <= other_index < len(active):
            return
        active[index], active[other_index] = active[other_index], active[index]
        for position, each in enumerate(active, start=1):
            if each.position != position:
                ProductRoute.objects.filter(pk=each.pk).update(position=position)
        audit_record(
            action="product.route_moved",
            actor=by,
            request=request,
            target=route.product,
            data={"offer": str(route.offer), "to_position": other_index + 1},
        )


def product_route_set_limit(
    *, route: ProductRoute, max_unit_price: Decimal | None, by=None, request=None
) -> None:
    """The highest unit price (offer currency) an order on this route accepts when the supplier
    re-quotes after WRONG_PRICE; None: the price when the order is routed (no drift)."""
    if max_unit_price is not None and (not max_unit_price.is_finite() or max_unit_price <= 0):
        raise ProductRouteRefused("A price limit is a positive number.")
    with transaction.atomic():
        ProductRoute.objects.filter(pk=route.pk).update(max_unit_price=max_unit_price)
        audit_record(
            action="product.route_limit_set",
            actor=by,
            request=request,
            target=route.product,
            data={
                "offer": str(route.offer),
                "before": None if route.max_unit_price is None else str(route.max_unit_price),
                "after": None if max_unit_price is None else str(max_unit_price),
            },
        )
    route.max_unit_price = max_unit_price


def route_drop_reason(route: ProductRoute) -> str | None:
    """Why a route must leave its product now, or None: its offer was delisted, renamed, or is
    priced in another currency than when an admin confirmed it."""
    offer = route.offer
    if offer.delisted_at is not None:
        return "The supplier delisted the offer."
    changes = []
    if route.matched_product_name != offer.product_name:
        changes.append(f"product name {route.matched_product_name!r} → {offer.product_name!r}")
    if route.matched_offer_name != offer.offer_name:
        changes.append(f"offer name {route.matched_offer_name!r} → {offer.offer_name!r}")
    if route.matched_currency != offer.currency:
        changes.append(f"currency {route.matched_currency} → {offer.currency}")
    if changes:
        return "The offer changed: " + "; ".join(changes) + ". Attach it again if it still fits."
    return None


def product_routes_check(*, account_id: int | None = None, now: datetime | None = None) -> int:
    """Drop the active routes whose offer no longer is what was confirmed (after each sync or
    look-up). Returns how many dropped."""
    now = now or timezone.now()
    routes = ProductRoute.objects.filter(dropped_at__isnull=True).select_related(
        "offer", "offer__account", "product"
    )
    if account_id is not None:
        routes = routes.filter(offer__account_id=account_id)
    dropped = 0
    for route in routes:
        reason = route_drop_reason(route)
        if reason is None:
            continue
        with transaction.atomic():
            moved = ProductRoute.objects.filter(pk=route.pk, dropped_at__isnull=True).update(
                dropped_at=now, dropped_reason=reason[:300]
            )
            if moved:
                dropped += 1
                audit_record(
                    action="product.route_dropped",
                    target=route.product,
                    data={"offer": str(route.offer), "reason": reason[:300]},
                )
    return dropped
