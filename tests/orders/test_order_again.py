"""Order again: a failed, refused or refunded order is replaced by one new order (a new
transactionId, the same details, the price confirmed again), linked both ways, at most once."""

import re

import pytest
from django.urls import reverse

from orders.errors import OrderActionRefused, OrderError
from orders.models import Order, OrderStatus
from orders.services import order_again_refusal, order_create, order_retry
from reseller.core.models import AuditEvent
from tests.orders.test_views import make_order

S = OrderStatus


@pytest.fixture
def account(sandbox_account):
    return sandbox_account()


def again_form(client, order):
    return client.get(reverse("orders:order_create"), {"again": order.pk})


def request_key(page) -> str:
    return re.search(r'name="request_key" value="([0-9a-f]{32})"', page.content.decode()).group(1)


def place_again(client, order, page, **fields):
    data = {
        "offer": order.offer_id,
        "again": order.pk,
        "quantity": 1,
        "max_unit_price": page.context["form"]["max_unit_price"].value(),
        "request_key": request_key(page),
        "email": order.email,
        "customer_reference": order.customer_reference,
        **fields,
    }
    return client.post(reverse("orders:order_create"), data)


def test_a_failed_order_is_ordered_again_with_its_details_and_linked_both_ways(
    client_as, account, sandbox_offer
):
    offer = sandbox_offer(account, kind="key", skip=5)
    failed = make_order(
        offer, status=S.FAILED, email="buyer@example.com", customer_reference="T-77"
    )
    client = client_as("operator")
    detail = client.get(failed.get_absolute_url())
    assert detail.context["can_order_again"]
    assert f"?again={failed.pk}".encode() in detail.content
    assert b"No action applies" not in detail.content

    page = again_form(client, failed)
    form = page.context["form"]
    assert page.status_code == 200 and page.context["offer"] == offer
    assert form["email"].value() == "buyer@example.com"
    assert form["customer_reference"].value() == "T-77"
    assert b'data-testid="order-again-notice"' in page.content
    assert b'data-testid="live-price"' in page.content  # the price is confirmed again

    response = place_again(client, failed, page)
    new = Order.objects.exclude(pk=failed.pk).get(offer=offer)
    assert response.status_code == 302 and response.url == new.get_absolute_url()
    assert new.reorder_of_id == failed.pk and new.status == S.QUEUED
    assert new.transaction_id != failed.transaction_id
    assert (new.email, new.customer_reference) == ("buyer@example.com", "T-77")
    created = AuditEvent.objects.get(action="order.created", target_id=str(new.pk))
    assert created.data["order_again_of"] == failed.pk

    old_page = client.get(failed.get_absolute_url())
    assert old_page.context["ordered_again_as"] == new
    assert not old_page.context["can_order_again"]
    assert b'data-testid="ordered-again-as"' in old_page.content
    new_page = client.get(new.get_absolute_url()).content.decode()
    assert f'href="{failed.get_absolute_url()}">order #{failed.pk}' in new_page

    # Once is enough: the link now leads back to the order with the reason.
    refused = again_form(client, failed)
    assert refused.status_code == 302 and refused.url == failed.get_absolute_url()
    assert f"as order #{new.pk}" in client.get(refused.url).content.decode()


def test_a_second_form_open_at_the_same_time_orders_nothing(client_as, account, sandbox_offer):
    offer = sandbox_offer(account, kind="key", skip=6)
    refunded = make_order(offer, status=S.REFUNDED)
    client = client_as("operator")
    first, second = again_form(client, refunded), again_form(client, refunded)
    assert place_again(client, refunded, first).status_code == 302
    response = place_again(client, refunded, second)
    assert response.status_code == 200
    assert "ordered again already" in " ".join(response.context["form"].non_field_errors())
    assert Order.objects.filter(offer=offer).count() == 2


def test_ordering_again_places_one_order_only(client_as, account, sandbox_offer):
    offer = sandbox_offer(account, kind="key", skip=7)
    rejected = make_order(offer, status=S.REJECTED)
    client = client_as("operator")
    page = again_form(client, rejected)
    assert place_again(client, rejected, page, quantity=5).status_code == 200
    assert Order.objects.filter(offer=offer).count() == 1


def test_only_orders_that_did_not_reach_the_customer_are_ordered_again(offline_offer, operator):
    completed = make_order(offline_offer, status=S.COMPLETED)
    queued = make_order(offline_offer)
    for order in (completed, queued):
        assert "Only a failed, refused or refunded order" in order_again_refusal(order)
        with pytest.raises(OrderError):
            order_create(offer=offline_offer, max_unit_price=offline_offer.price, reorder_of=order)
    for status in (S.FAILED, S.REFUNDED, S.REJECTED, S.CANCELED):
        assert order_again_refusal(make_order(offline_offer, status=status)) == ""


def test_a_completed_order_offers_no_order_again(client_as, offline_offer):
    completed = make_order(offline_offer, status=S.COMPLETED)
    client = client_as("operator")
    assert b"Order again" not in client.get(completed.get_absolute_url()).content
    response = again_form(client, completed)
    assert response.status_code == 302 and response.url == completed.get_absolute_url()
    # Finance follows orders and places none.
    failed = make_order(offline_offer, status=S.FAILED)
    assert b"Order again" not in client_as("finance").get(failed.get_absolute_url()).content
    assert again_form(client_as("finance"), failed).status_code == 403


def test_a_rejected_order_ordered_again_is_not_retried_too(offline_offer, operator):
    rejected = make_order(offline_offer, status=S.REJECTED)
    order_create(offer=offline_offer, max_unit_price=offline_offer.price, reorder_of=rejected)
    with pytest.raises(OrderActionRefused, match="ordered again as order"):
        order_retry(order=rejected, by=operator)
    rejected.refresh_from_db()
    assert rejected.status == S.REJECTED


def test_the_dashboard_counts_orders_not_served_and_customers_waiting(client_as, offline_offer):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    failed = make_order(offline_offer, status=S.FAILED)
    refunded = make_order(offline_offer, status=S.REFUNDED)
    served_again = make_order(offline_offer, status=S.REJECTED)
    old = make_order(offline_offer, status=S.CANCELED)
    completed = make_order(offline_offer, status=S.COMPLETED)
    Order.objects.filter(pk__in=[failed.pk, refunded.pk, served_again.pk, completed.pk]).update(
        final_at=now
    )
    Order.objects.filter(pk=old.pk).update(final_at=now - timedelta(days=30))
    again = order_create(
        offer=offline_offer, max_unit_price=offline_offer.price, reorder_of=served_again
    )[0]

    client = client_as("operator")
    page = client.get(reverse("dashboard:dashboard"))
    counts = page.context["order_counts"]
    assert counts["not_served_today"] == 3  # failed, refunded, the rejected one
    assert counts["customers_waiting"] == 2  # not the one ordered again, not a month-old one

    html = page.content.decode()
    for testid, expected in (
        ("orders-not-served-today", {failed.pk, refunded.pk, served_again.pk}),
        ("customers-waiting", {failed.pk, refunded.pk}),
    ):
        link = re.search(rf'href="([^"]+)" data-testid="{testid}"', html).group(1)
        listed = client.get(link.replace("&amp;", "&"))
        assert {order.pk for order in listed.context["page"]} == expected, testid
    assert again.pk not in expected
