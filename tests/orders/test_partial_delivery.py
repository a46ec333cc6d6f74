"""A partial delivery (a bundle completed with fewer codes than it holds) is told truthfully: the
customer's email says what came and what is refunded and goes out by itself, and the order page
shows the delivered, refunded and net amounts."""

from decimal import Decimal

from django.core import mail

from orders.models import OrderKey, OrderStatus
from orders.services import apply_answer, order_deliver, order_lock, order_submit
from orders.services.following import SupplierAnswer
from suppliers.clients import OrderResult
from tests.orders.conftest import place

S = OrderStatus
KEYS = ("AAAA-BBBB-CCCC-0001", "AAAA-BBBB-CCCC-0002", "AAAA-BBBB-CCCC-0003")


def completed_with(order, keys, *, count=5, keys_error=None):
    """The supplier's COMPLETED answer for `order` with `keys` of `count` units, followed."""
    from django.db import transaction
    from django.utils import timezone

    body = {"orderId": 777, "status": "COMPLETED", "count": count}
    body["isReturnDataForCustomer"] = True
    if keys:
        body["key"], body["keys"] = keys[0], list(keys)
    result = OrderResult.from_json(body, transaction_id=order.transaction_id)
    with transaction.atomic():
        locked = order_lock(order.pk)
        apply_answer(
            locked,
            SupplierAnswer(result=result, keys=tuple(keys), keys_error=keys_error),
            now=timezone.now(),
            source="create-order",
        )
    order.refresh_from_db()
    return order


def bundle_order(offline_offer, **fields):
    offline_offer.units, offline_offer.price = 5, Decimal("3.21")
    offline_offer.save()
    order = place(offline_offer, **fields)
    order.__class__.objects.filter(pk=order.pk).update(
        status=S.SUBMITTING, price_sent=Decimal("3.21"), submit_attempts=1
    )
    order.refresh_from_db()
    return order


def test_three_of_five_codes_are_emailed_at_once_with_the_two_refunded(
    offline_offer, broker, django_capture_on_commit_callbacks
):
    order = bundle_order(offline_offer, email="buyer@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        order = completed_with(order, KEYS)
    assert order.status == S.NEEDS_ATTENTION  # staff see it; the customer is not kept waiting
    assert (order.units, order.units_delivered, order.units_refunded) == (5, 3, 2)
    assert "The supplier refunds the 2 missing" in order.events.latest("id").reason
    assert broker.ids("deliver_order") == [order.pk]  # sent like a full delivery
    broker.run("deliver_order")
    [message] = mail.outbox
    assert "3 of 5 codes; 2 refunded by the supplier." in message.body
    assert "The other 2 could not be delivered and will be refunded." in message.body
    for number, key in enumerate(KEYS, start=1):
        assert f"Code {number} of 3: {key}" in message.body
    order.refresh_from_db()
    assert order.delivered_at is not None


def test_the_order_page_shows_delivered_refunded_and_net_amounts(offline_offer, client_as):
    order = completed_with(bundle_order(offline_offer), KEYS)
    assert order.total_price == Decimal("16.05")
    assert (order.delivered_price, order.refunded_price, order.net_price) == (
        Decimal("9.63"),
        Decimal("6.42"),
        Decimal("9.63"),
    )
    html = client_as("finance").get(order.get_absolute_url()).content.decode()
    assert '<dd data-testid="total-price">16.05 USD <span class="muted">(5 units)</span>' in html
    assert '<dd data-testid="delivered-price">9.63 USD <span class="muted">(3 units)' in html
    assert '<dd data-testid="refunded-price">−6.42 USD <span class="muted">(2 units)' in html
    assert '<dd data-testid="net-price"><strong>9.63 USD</strong></dd>' in html


def test_a_full_delivery_says_nothing_of_refunds(offline_offer, broker):
    order = completed_with(bundle_order(offline_offer, email="b@example.com"), KEYS, count=3)
    assert order.status == S.COMPLETED and order.units_refunded == 0
    assert order_deliver(order=order) is True
    assert "refunded" not in mail.outbox[0].body
    html_amounts = (order.refunded_price, order.net_price)
    assert html_amounts == (Decimal("0"), order.total_price)


def test_keys_that_could_not_be_read_are_not_called_refunded_nor_sent(offline_offer, broker):
    from suppliers.clients import OrderNotFound

    order = bundle_order(offline_offer, email="b@example.com")
    order = completed_with(order, KEYS[:1], keys_error=OrderNotFound("keys: refused"))
    assert order.status == S.NEEDS_ATTENTION
    assert order.units_refunded == 0 and order.units_delivered == 1
    assert "Re-check once the supplier's keys can be read" in order.events.latest("id").reason
    assert broker.ids("deliver_order") == []


def test_a_partial_bundle_from_the_sandbox_is_refunded_there_as_the_order_says(
    sandbox,
    sandbox_account,
    sandbox_offer,
    sandbox_settings,
    broker,
    django_capture_on_commit_callbacks,
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", min_count=3)
    with sandbox_settings(partial_share=1), django_capture_on_commit_callbacks(execute=True):
        order = order_submit(order_id=place(offer, email="c@example.com").pk)
    delivered = OrderKey.objects.filter(order=order).count()
    assert order.status == S.NEEDS_ATTENTION and 1 <= delivered < order.units
    assert order.units_refunded == order.units - delivered
    [remote] = sandbox.admin(
        "GET",
        f"/sandbox/accounts/{account.remote['token']}/orders",
        params={"transactionId": order.transaction_id},
    )["orders"]
    assert len(remote["keys"]) == delivered and remote["refund"] > 0
    assert broker.ids("deliver_order") == [order.pk]
    broker.run("deliver_order")
    assert (
        f"{delivered} of {order.units} codes; {order.units_refunded} refunded by the supplier."
        in mail.outbox[0].body
    )
