"""Orders for a product across three supplier accounts (the sandbox over real HTTP): a refusal
that proves nothing was bought moves the order to the next route under a new transactionId; an
ambiguous answer never does until order-status says the supplier has no order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Offer, Product
from catalog.products import product_route_attach
from orders.models import Order, OrderAttempt, OrderEvent, OrderStatus
from orders.services import (
    account_queue_resume,
    order_poll,
    order_resolve_unknown,
    order_submit,
)
from orders.services.rerouting import NoRoute, order_create_for_product
from reseller.core.models import AuditEvent

S = OrderStatus


@pytest.fixture
def three_routes(sandbox_account, sandbox_offer):
    """A product delivered by the same sandbox key offer at three accounts, tried in order."""

    def make(policy=Product.Policy.PREFERENCE):
        accounts = [sandbox_account(balance="1000000") for _ in range(3)]
        offers = [sandbox_offer(account, kind="key") for account in accounts]
        product = Product.objects.create(
            code=f"key-{accounts[0].pk}",
            name=offers[0].product_name,
            denomination=offers[0].offer_name,
            kind=Product.Kind.KEY,
            policy=policy,
        )
        for offer in offers:
            product_route_attach(product=product, offer=offer)
        return product, accounts, offers

    return make


def purchases_everywhere(supplier, accounts, order: Order) -> int:
    """Purchases at every account under every transactionId the order ever had."""
    ids = list(order.transaction_ids.values_list("transaction_id", flat=True))
    return sum(supplier.purchases(account, tid) for account in accounts for tid in ids)


def place(product) -> Order:
    return order_create_for_product(product=product, email="buyer@example.com")[0]


def refuse_with(fault, account, first_offer, refusal):
    """Make `account` refuse its next create-order with `refusal` (nothing bought)."""
    if refusal == "WRONG_PRICE":
        # Our catalog holds an old, lower price: the supplier refuses it, and its price now is
        # beyond the route's limit (the price the order was routed at).
        Offer.objects.filter(pk=first_offer.pk).update(price=first_offer.price / 2)
    elif refusal == "SERVICE_UNAVAILABLE":
        fault(account, endpoint="create-order", kind="http_503")
    else:
        fault(account, endpoint="create-order", kind="error_code", code=refusal)


@pytest.mark.parametrize(
    "refusal", ["OUT_OF_STOCK", "OFFER_NOT_FOUND", "WRONG_PRICE", "SERVICE_UNAVAILABLE"]
)
def test_a_refusal_that_bought_nothing_moves_the_order_to_the_next_route(
    three_routes, fault, supplier, broker, refusal
):
    product, accounts, offers = three_routes()
    first, second, _ = accounts
    refuse_with(fault, first, offers[0], refusal)
    order = place(product)
    first_id = order.transaction_id
    assert order.account == first and order.product == product
    order = order_submit(order_id=order.pk)
    if refusal == "SERVICE_UNAVAILABLE":
        # Ambiguous until order-status says the supplier has no order under the transactionId.
        assert order.status == S.UNKNOWN and order.account == first
        order = order_resolve_unknown(order_id=order.pk)
        assert order.status == S.QUEUED
        order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED
    assert order.account == second and order.transaction_id != first_id
    assert supplier.purchases(first, first_id) == 0
    assert supplier.purchases(second, order.transaction_id) == 1
    assert purchases_everywhere(supplier, accounts, order) == 1
    attempts = list(order.attempts.all())
    assert [attempt.account for attempt in attempts] == [first, second]
    assert attempts[0].transaction_id == first_id and attempts[0].ended_at is not None
    assert refusal in attempts[0].outcome or "limit" in attempts[0].outcome
    retired = order.transaction_ids.get(transaction_id=first_id)
    assert retired.retired_at is not None
    reroute = order.events.filter(data__reroute=True).get()
    assert reroute.data["new_transaction_id"] == order.transaction_id
    assert AuditEvent.objects.filter(action="order.rerouted", target_id=str(order.pk)).exists()
    # The catalog learns an OUT_OF_STOCK answer: the next order skips that route.
    offers[0].refresh_from_db()
    assert offers[0].in_stock is (refusal != "OUT_OF_STOCK")


def test_a_lost_answer_is_never_rerouted_the_supplier_had_bought_it(
    three_routes, fault, supplier, broker
):
    product, accounts, _ = three_routes()
    first = accounts[0]
    fault(first, endpoint="create-order", kind="lost_response")
    order = order_submit(order_id=place(product).pk)
    assert order.status == S.UNKNOWN and order.attempts.count() == 1
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.COMPLETED and order.account == first
    assert purchases_everywhere(supplier, accounts, order) == 1
    assert not order.events.filter(data__reroute=True).exists()


def test_a_lost_request_is_sent_again_to_the_same_supplier_once_order_status_says_not_found(
    three_routes, fault, supplier, broker
):
    product, accounts, _ = three_routes()
    first = accounts[0]
    fault(first, endpoint="create-order", kind="drop")  # nothing reached the supplier
    order = order_submit(order_id=place(product).pk)
    transaction_id = order.transaction_id
    assert order.status == S.UNKNOWN
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.QUEUED and order.transaction_id == transaction_id
    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED and order.account == first
    assert purchases_everywhere(supplier, accounts, order) == 1


def test_a_503_after_which_the_order_exists_is_followed_not_rerouted(
    three_routes, fault, supplier, broker
):
    product, accounts, _ = three_routes()
    first = accounts[0]
    fault(first, endpoint="create-order", kind="http_503", processed=True)
    order = order_submit(order_id=place(product).pk)
    assert order.status == S.UNKNOWN
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.COMPLETED and order.account == first
    assert purchases_everywhere(supplier, accounts, order) == 1


def test_every_route_refusing_ends_refused_with_each_attempt_listed(
    three_routes, fault, supplier, broker
):
    product, accounts, _ = three_routes()
    for account in accounts:
        fault(account, endpoint="create-order", kind="error_code", code="OUT_OF_STOCK")
    order = place(product)
    for _ in range(3):
        order = order_submit(order_id=order.pk)
    assert order.status == S.REJECTED
    assert [a.account for a in order.attempts.all()] == accounts
    assert purchases_everywhere(supplier, accounts, order) == 0


def test_routing_skips_an_out_of_stock_route_and_a_product_without_routes_is_refused(
    three_routes, supplier, broker
):
    product, accounts, offers = three_routes()
    Offer.objects.filter(pk=offers[0].pk).update(in_stock=False)
    order = place(product)
    assert order.account == accounts[1]
    Offer.objects.filter(account__in=accounts).update(in_stock=False)
    with pytest.raises(NoRoute, match="Out of stock"):
        place(product)
    assert Order.objects.filter(product=product).count() == 1


FAULTS = [
    None,
    {"kind": "error_code", "code": "OUT_OF_STOCK"},
    {"kind": "error_code", "code": "OFFER_NOT_FOUND"},
    {"kind": "error_code", "code": "INSUFFICIENT_BALANCE"},
    {"kind": "http_503"},
    {"kind": "http_503", "processed": True},
    {"kind": "lost_response"},
    {"kind": "drop"},
    {"kind": "html", "processed": True},
]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    faults=st.lists(
        st.lists(st.sampled_from(range(len(FAULTS))), min_size=3, max_size=3),
        min_size=1,
        max_size=3,
    ),
    stock=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_property_each_order_bought_at_most_once_and_ends_bought_or_refused(
    three_routes, sandbox, supplier, broker, faults, stock
):
    product, accounts, offers = three_routes()
    for offer, in_stock in zip(offers, stock, strict=True):
        Offer.objects.filter(pk=offer.pk).update(in_stock=in_stock)
    added = []
    try:
        for per_account in faults:
            # Each account meets its faults in turn: one rule per order sent to it.
            for account, index in zip(accounts, per_account, strict=True):
                spec = FAULTS[index]
                if spec is not None:
                    rule = sandbox.admin(
                        "POST",
                        "/sandbox/faults",
                        {
                            "token": account.remote["token"],
                            "count": 1,
                            "endpoint": "create-order",
                            **spec,
                        },
                    )
                    added.append(rule["id"])
        orders = []
        for _ in faults:
            try:
                orders.append(place(product))
            except NoRoute:
                assert not any(stock)
                return
        now = timezone.now()
        for order in orders:
            order = drive(order, now)
            assert purchases_everywhere(supplier, accounts, order) <= 1
            assert order.status in (S.COMPLETED, S.REJECTED), order.events.values_list(
                "to_status", "reason"
            )
            bought = purchases_everywhere(supplier, accounts, order)
            assert bought == (1 if order.status == S.COMPLETED else 0)
    finally:
        for rule_id in added:
            sandbox.admin("DELETE", f"/sandbox/faults/{rule_id}")


def drive(order: Order, now) -> Order:
    """Work an order as workers and the sweep would, until it is final (or 12 steps)."""
    for step in range(12):
        moment = now + timedelta(seconds=10 * (step + 1))
        if order.status == S.QUEUED:
            order = order_submit(order_id=order.pk, now=moment)
        elif order.status == S.UNKNOWN:
            order = order_resolve_unknown(order_id=order.pk, now=moment)
        elif order.status in (S.SUBMITTED, S.PROCESSING):
            order = order_poll(order_id=order.pk, now=moment)
        elif order.status == S.ON_HOLD:
            # No other route: it waits for its account to be funded, which happens now.
            account_queue_resume(account=order.account, now=moment)
            order.refresh_from_db()
        else:
            break
    return order


def test_attempts_are_one_per_transaction_id(three_routes, fault, broker):
    product, accounts, _ = three_routes()
    fault(accounts[0], endpoint="create-order", kind="error_code", code="OUT_OF_STOCK")
    order = order_submit(order_id=place(product).pk)
    assert set(
        OrderAttempt.objects.filter(order=order).values_list("transaction_id", flat=True)
    ) == set(order.transaction_ids.values_list("transaction_id", flat=True))
    assert order.attempts.filter(ended_at__isnull=True).get().transaction_id == order.transaction_id
    assert Decimal(order.max_unit_price) > 0


def test_the_order_page_lists_every_route_tried(three_routes, fault, broker, client_as):
    from django.urls import reverse

    product, accounts, _ = three_routes()
    fault(accounts[0], endpoint="create-order", kind="error_code", code="OUT_OF_STOCK")
    order = order_submit(order_id=place(product).pk)
    page = client_as("operator").get(reverse("orders:order_detail", args=[order.pk]))
    rows = page.content.decode().split('data-testid="attempt-row"')[1:]
    assert len(rows) == 2
    assert accounts[0].name in rows[0] and "Rerouted" in rows[0] and "OUT_OF_STOCK" in rows[0]
    assert accounts[1].name in rows[1] and "current route" in rows[1]


def test_ordering_a_product_on_its_page_places_it_once_on_the_best_route(
    three_routes, broker, client_as, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    product, accounts, offers = three_routes()
    Offer.objects.filter(pk=offers[0].pk).update(in_stock=False)
    client = client_as("operator")
    url = reverse("orders:product_order_create", args=[product.pk])
    page = client.get(url).content.decode()
    assert "Skipped: Out of stock." in page and "Chosen" in page
    form = {"quantity": "1", "email": "buyer@example.com", "request_key": "a" * 32}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, form)
    order = Order.objects.get(product=product)
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert order.account == accounts[1] and broker.ids("submit_order") == [order.pk]
    client.post(url, form)  # the same form sent twice orders nothing more
    assert Order.objects.filter(product=product).count() == 1
    Offer.objects.filter(account__in=accounts).update(in_stock=False)
    page = client.post(url, {**form, "request_key": "b" * 32}).content.decode()
    assert "No route can take the order now" in page
    assert Order.objects.filter(product=product).count() == 1
    page = client.post(url, {**form, "quantity": "x", "request_key": "c" * 32})
    assert page.status_code == 200 and Order.objects.filter(product=product).count() == 1


def test_a_supplier_is_failing_when_most_of_its_recent_answers_were_lost(offline_offer):
    from orders.routing import accounts_failing
    from tests.orders.conftest import place as place_offer

    now = timezone.now()
    account = offline_offer.account

    def answered(to_status, count, at=now):
        for _ in range(count):
            order = place_offer(offline_offer)
            OrderEvent.objects.create(
                order=order, from_status=S.SUBMITTING, to_status=to_status, at=at
            )

    answered(S.UNKNOWN, 3, at=now - timedelta(minutes=11))  # too long ago
    assert account.pk not in accounts_failing(now)
    answered(S.UNKNOWN, 3)
    answered(S.COMPLETED, 3)  # half lost: not most
    assert account.pk not in accounts_failing(now)
    answered(S.NEEDS_ATTENTION, 1)
    assert account.pk in accounts_failing(now)


def test_finance_sees_cost_by_route_and_the_orders_that_failed_over(
    three_routes, fault, broker, client_as
):
    from django.urls import reverse

    from catalog.models import CurrencyRate

    product, accounts, offers = three_routes()
    if offers[0].currency != "USD":
        CurrencyRate.objects.create(
            currency=offers[0].currency,
            usd_per_unit=Decimal("0.01"),
            valid_from=timezone.now() - timedelta(days=1),
        )
    order_submit(order_id=place(product).pk)
    fault(accounts[0], endpoint="create-order", kind="error_code", code="OUT_OF_STOCK")
    rerouted = order_submit(order_id=place(product).pk)
    assert rerouted.account == accounts[1]
    page = client_as("finance").get(reverse("finance:product_report")).content.decode()
    [product_row] = page.split('data-testid="product-row"')[1:2]
    cells = [cell.split("<")[0] for cell in product_row.split('class="num">')[1:]]
    assert cells[:2] == ["2", "2"] and cells[3] == "1"  # orders, delivered, ..., failed over
    routes = page.split('data-testid="route-cost-row"')[1:]
    assert len(routes) == 2
    assert accounts[0].name in routes[0] and accounts[1].name in routes[1]
    orders = Order.objects.filter(product=product)
    assert sum(order.usd_cost for order in orders) > 0
    response = client_as("finance").get(
        reverse("finance:product_report"), {"start": "2026-13-01", "end": "x"}
    )
    assert response.status_code == 200


def test_insufficient_balance_holds_the_account_and_the_order_takes_the_next_route(
    three_routes, fault, supplier, broker
):
    from orders.models import AccountQueue

    product, accounts, _ = three_routes()
    first, second, _ = accounts
    fault(first, endpoint="create-order", kind="error_code", code="INSUFFICIENT_BALANCE")
    order = order_submit(order_id=place(product).pk)
    assert order.status == S.COMPLETED and order.account == second
    assert AccountQueue.objects.get(account=first).on_hold
    assert purchases_everywhere(supplier, accounts, order) == 1
    # The next order skips the held account from the start.
    assert place(product).account == second


def test_wrong_price_within_the_routes_limit_is_sent_again_on_the_same_route(
    three_routes, supplier, broker
):
    from catalog.models import ProductRoute

    product, accounts, offers = three_routes()
    Offer.objects.filter(pk=offers[0].pk).update(price=offers[0].price / 2)
    ProductRoute.objects.filter(offer=offers[0]).update(max_unit_price=offers[0].price)
    order = order_submit(order_id=place(product).pk)
    assert order.status == S.COMPLETED and order.account == accounts[0]
    assert order.attempts.count() == 1 and order.submit_attempts == 2
    assert purchases_everywhere(supplier, accounts, order) == 1
