"""A product across two supplier accounts, in a real browser against the sandbox: an admin maps
it from the suggestions, an operator orders it (the first route), the sandbox then says that
route is out of stock, and the next order is rerouted, as its page shows."""

import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import CurrencyRate, Product
from orders.models import Order
from orders.services import order_submit


def test_a_product_is_mapped_ordered_and_rerouted_when_a_route_is_out_of_stock(
    page, sign_in, sandbox_account, sandbox_offer, fault, second_page
):
    first, second = sandbox_account(), sandbox_account()
    offer_first = sandbox_offer(first, kind="key")
    offer_second = sandbox_offer(second, kind="key")
    # Costs are compared in USD: the offer's currency has a rate, as an admin sets it.
    if offer_first.currency != "USD":
        CurrencyRate.objects.create(
            currency=offer_first.currency,
            usd_per_unit=Decimal("0.01"),
            valid_from=timezone.now() - timedelta(days=1),
        )

    sign_in("admin")
    page.goto("/catalog/products/new/")
    page.get_by_label("Code").fill("e2e-key")
    page.get_by_label("Name").fill(offer_first.product_name)
    page.get_by_label("Denomination").fill(offer_first.offer_name)
    page.get_by_label("Kind").select_option("key")
    page.get_by_label("Policy").select_option("cheapest")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/catalog/products/\d+/$"))
    product = Product.objects.get(code="e2e-key")
    for account in (first, second):
        row = page.get_by_test_id("suggestion-row").filter(has_text=account.name)
        row.get_by_role("button", name="Attach").click()
        page.wait_for_url(re.compile(rf"/catalog/products/{product.pk}/$"))
    expect(page.get_by_test_id("route-row")).to_have_count(2)
    expect(page.get_by_test_id("routing-row").first).to_contain_text("Chosen")

    def order_product(reference):
        page.goto(f"/catalog/products/{product.pk}/")
        page.get_by_role("link", name="Order this product").click()
        page.wait_for_url(re.compile(rf"/orders/product/{product.pk}/new/$"))
        page.get_by_label("Customer email").fill("buyer@example.com")
        page.get_by_label("Customer reference").fill(reference)
        page.get_by_role("button", name="Place the order").click()
        page.wait_for_url(re.compile(r"/orders/\d+/$"))
        order = Order.objects.get(customer_reference=reference)
        order_submit(order_id=order.pk)  # what the worker does with the order
        page.reload()
        return order

    order = order_product("E2E-PRODUCT-1")
    expect(page.get_by_test_id("order-status")).to_have_text("Completed")
    expect(page.get_by_test_id("attempt-row")).to_have_count(1)
    expect(page.get_by_test_id("order-product")).to_contain_text(first.name)

    # The sandbox now answers OUT_OF_STOCK for the first route's account.
    fault(first, endpoint="create-order", kind="error_code", code="OUT_OF_STOCK")
    order = order_product("E2E-PRODUCT-2")
    expect(page.get_by_test_id("order-status")).to_have_text("Completed")
    rows = page.get_by_test_id("attempt-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(first.name)
    expect(rows.nth(0)).to_contain_text("OUT_OF_STOCK")
    expect(rows.nth(1)).to_contain_text(second.name)
    expect(rows.nth(1)).to_contain_text("current route")
    expect(page.get_by_test_id("order-product")).to_contain_text(second.name)
    order.refresh_from_db()
    assert order.offer == offer_second and order.attempts.count() == 2
