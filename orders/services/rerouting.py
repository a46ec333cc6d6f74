"""Orders for a product: placed on the best route, moved to the next one when a supplier's
refusal proves nothing was bought.

Exactly once across suppliers:

- An order keeps one identity (its row, its page, its customer) and lists every route it took
  (`OrderAttempt`), each under its own transactionId.
- Only a refusal that proves the call bought nothing moves it on: OUT_OF_STOCK, OFFER_NOT_FOUND,
  WRONG_PRICE beyond the route's limit (after the re-quote), INSUFFICIENT_BALANCE or a refused
  token (the account's queue is held all the same), and SERVICE_UNAVAILABLE once
  order-status by transactionId has said the supplier has no order under it. An ambiguous
  answer (timeout, reset, lost response) is never rerouted: it is UNKNOWN and resolved by
  order-status first (or needs a person, for a supplier without that look-up).
- `order_reroute` runs in the transaction that records the refusal, with the order locked: the
  new transactionId (and the retired one, in `OrderTransactionId`) is committed with the move to
  QUEUED, before the next create-order call is made by the next claim. A late answer under the
  retired transactionId is never dropped (`submitting._record_late_answer` audits it).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from catalog.models import Offer, Product, ProductRoute
from catalog.routing import RouteChoice
from orders.errors import OrderError
from orders.models import Batch, Order, OrderAttempt, OrderEvent, OrderStatus, OrderTransactionId
from orders.routing import product_routes_now
from orders.services.creating import order_create
from orders.services.moving import order_move
from orders.services.records import new_transaction_id
from reseller.core.services import audit_record


class NoRoute(OrderError):
    """No route of the product may take an order right now."""


def _customer_fits(offer: Offer, *, game_user_id: str, game_server_id: str) -> bool:
    """Whether the customer's details are enough for this route's offer."""
    if offer.requires_user_id and not game_user_id:
        return False
    return not (offer.requires_server_id and not game_server_id)


def _first_fitting(
    choices: list[RouteChoice], *, game_user_id: str, game_server_id: str
) -> tuple[RouteChoice, ProductRoute] | None:
    usable = [choice for choice in choices if choice.usable]
    routes = ProductRoute.objects.select_related("offer", "offer__account").in_bulk(
        [choice.facts.route_id for choice in usable]
    )
    for choice in usable:
        route = routes[choice.facts.route_id]
        if _customer_fits(route.offer, game_user_id=game_user_id, game_server_id=game_server_id):
            return choice, route
    return None


def route_limit(route: ProductRoute):
    """The highest unit price accepted on the route: the admin's, else its price now."""
    return route.max_unit_price if route.max_unit_price is not None else route.offer.price


def _no_route_message(choices: list[RouteChoice]) -> str:
    if not choices:
        return "The product has no active route: attach an offer on its page."
    reasons = "; ".join(
        f"{choice.facts.account_name}: {choice.skip_reason or 'needs details not given'}"
        for choice in choices
    )
    return f"No route can take the order now ({reasons})"[:500]


def product_route_pick(
    product: Product,
    *,
    game_user_id: str = "",
    game_server_id: str = "",
    choices: list[RouteChoice] | None = None,
    now: datetime | None = None,
) -> tuple[RouteChoice, ProductRoute]:
    """The route an order of the product with these customer details would take now (`choices`:
    the product's `product_routes_now`, when the caller has them). Raises NoRoute saying why
    each route is skipped."""
    if choices is None:
        choices = product_routes_now(product, now=now or timezone.now())
    found = _first_fitting(
        choices, game_user_id=game_user_id.strip(), game_server_id=game_server_id.strip()
    )
    if found is None:
        raise NoRoute(_no_route_message(choices))
    return found


@transaction.atomic
def order_create_for_product(  # noqa: PLR0913 (one keyword for each thing an order is made of)
    *,
    product: Product,
    quantity: int = 1,
    game_user_id: str = "",
    game_server_id: str = "",
    email: str = "",
    telegram_username: str = "",
    customer_reference: str = "",
    batch: Batch | None = None,
    row_number: int | None = None,
    request_key: str = "",
    by=None,
    request=None,
    now: datetime | None = None,
    choices: list[RouteChoice] | None = None,
) -> list[Order]:
    """Create `quantity` orders of the product, QUEUED on its best route now (each with its own
    transactionId, committed before anything is sent). Raises NoRoute when none fits.
    `choices`: the product's `product_routes_now`, when the caller (a batch of many rows, in one
    transaction) has read them already."""
    now = now or timezone.now()
    _, route = product_route_pick(
        product,
        game_user_id=game_user_id,
        game_server_id=game_server_id,
        choices=choices,
        now=now,
    )
    orders = order_create(
        offer=route.offer,
        quantity=quantity,
        game_user_id=game_user_id,
        game_server_id=game_server_id,
        email=email,
        telegram_username=telegram_username,
        customer_reference=customer_reference,
        max_unit_price=route_limit(route),
        batch=batch,
        row_number=row_number,
        request_key=request_key,
        by=by,
        request=request,
    )
    Order.objects.filter(pk__in=[order.pk for order in orders]).update(product=product)
    OrderAttempt.objects.bulk_create(
        [
            OrderAttempt(
                order=order,
                offer=route.offer,
                account=route.offer.account,
                transaction_id=order.transaction_id,
                started_at=now,
            )
            for order in orders
        ]
    )
    for order in orders:
        order.product = product
    return orders


def order_reroute(order: Order, *, refusal: str, now: datetime, data: dict | None = None) -> bool:
    """Move a product order (locked by the caller, in the transaction recording a refusal that
    proves nothing was bought under its transactionId) to the product's next route: a new
    transactionId, QUEUED. False, changing nothing, when no other route may take it now."""
    product = order.product
    if product is None:
        return False
    tried = frozenset(
        OrderAttempt.objects.filter(order=order).values_list("offer_id", flat=True)
    ) | {order.offer_id}
    choices = product_routes_now(product, offers_tried=tried, now=now)
    found = _first_fitting(
        choices, game_user_id=order.game_user_id, game_server_id=order.game_server_id
    )
    if found is None:
        return False
    choice, route = found
    offer = route.offer
    old, new = order.transaction_id, new_transaction_id()
    from_account = order.account.name
    # Every open attempt (an operator's retry may have replaced its transactionId meanwhile).
    OrderAttempt.objects.filter(order=order, ended_at__isnull=True).update(
        ended_at=now, outcome=refusal[:500]
    )
    history, _ = OrderTransactionId.objects.get_or_create(
        transaction_id=old, defaults={"order": order, "created_at": order.created_at}
    )
    history.retired_at = now
    history.retired_reason = f"Refused without buying ({refusal})"[:300]
    history.save(update_fields=["retired_at", "retired_reason"])
    OrderTransactionId.objects.create(order=order, transaction_id=new, created_at=now)
    OrderAttempt.objects.create(
        order=order, offer=offer, account=offer.account, transaction_id=new, started_at=now
    )
    moved = {
        "reroute": True,
        "from_account": from_account,
        "to_account": offer.account.name,
        "old_transaction_id": old,
        "new_transaction_id": new,
        "usd_cost": None if choice.usd_cost is None else str(choice.usd_cost),
        **(data or {}),
    }
    order_move(
        order,
        OrderStatus.QUEUED,
        reason=(
            f"Rerouted: {from_account} refused without buying ({refusal}); next route "
            f"{offer.account.name} under a new transactionId."
        )[:1000],
        data=moved,
        changes={
            "account": offer.account,
            "offer": offer,
            "transaction_id": new,
            "max_unit_price": route_limit(route),
            "quoted_price": offer.price,
            "currency": offer.currency,
            "units": offer.units or 1,
            "price_sent": None,
            "usd_rate": None,
            "usd_cost": None,
            "submitted_at": None,
            "last_sent_at": None,
            "submit_attempts": 0,
            "supplier_order_id": None,
            "supplier_status": "",
            "supplier_message": "",
            "last_error": "",
            "poll_count": 0,
            "pending_polls": 0,
        },
        now=now,
    )
    audit_record(action="order.rerouted", target=order, data=moved)
    return True


def unknown_cause_code(order: Order) -> str | None:
    """The supplier's code behind the order's last move into UNKNOWN from a create-order call
    (SERVICE_UNAVAILABLE ...), as recorded on that move."""
    data = (
        OrderEvent.objects.filter(
            order=order, from_status=OrderStatus.SUBMITTING, to_status=OrderStatus.UNKNOWN
        )
        .order_by("-at", "-id")
        .values_list("data", flat=True)
        .first()
    )
    return (data or {}).get("cause_code")
