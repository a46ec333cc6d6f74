"""A product across two supplier accounts, in a real browser against the sandbox: an admin maps
it from the suggestions, an operator orders it (the cheaper route, though it is second in the
preference order), the sandbox then has that route out of stock, and the next order is rerouted,
as its page shows."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from catalog.models import Product
from orders.models import Order
from orders.services import order_submit


def test_a_product_is_mapped_ordered_and_rerouted_when_a_route_is_out_of_stock(
    page, sign_in, sandbox, sandbox_account, sandbox_offer, second_page
):
    dear, cheap = sandbox_account(), sandbox_account()
    # A USD offer: costs compare without a rate.
    offer_dear = sandbox_offer(dear, kind="key", currency="USD")
    offer_cheap = sandbox_offer(cheap, kind="key", currency="USD")
    # The same supplier offer costs the second account less, as its sync would have read it.
    cheap_terms = f"/sandbox/accounts/{cheap.remote['token']}/offers/{offer_cheap.offer_id}"
    cheaper = sandbox.admin("POST", cheap_terms, {"price": offer_cheap.price * Decimal("0.9")})
    offer_cheap.price = cheaper["price"]
    offer_cheap.save(update_fields=["price"])
    assert offer_cheap.price < offer_dear.price

    sign_in("admin")
    page.goto("/catalog/products/new/")
    page.get_by_label("Code").fill("e2e-key")
    page.get_by_label("Name").fill(offer_dear.product_name)
    page.get_by_label("Denomination").fill(offer_dear.offer_name)
    page.get_by_label("Kind").select_option("key")
    page.get_by_label("Policy").select_option("cheapest")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/catalog/products/\d+/$"))
    product = Product.objects.get(code="e2e-key")
    for account in (dear, cheap):  # the dearer route first in the preference order
        row = page.get_by_test_id("suggestion-row").filter(has_text=account.name)
        row.get_by_role("button", name="Attach").click()
        page.wait_for_url(re.compile(rf"/catalog/products/{product.pk}/$"))
    expect(page.get_by_test_id("route-row")).to_have_count(2)
    chosen = page.get_by_test_id("routing-row").first
    expect(chosen).to_contain_text("Chosen")
    expect(chosen).to_contain_text(cheap.name)

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
    expect(page.get_by_test_id("order-product")).to_contain_text(cheap.name)

    # The cheaper route's account has run out of the offer; the other account has not.
    sandbox.admin("POST", cheap_terms, {"inStock": False})
    order = order_product("E2E-PRODUCT-2")
    expect(page.get_by_test_id("order-status")).to_have_text("Completed")
    rows = page.get_by_test_id("attempt-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(cheap.name)
    expect(rows.nth(0)).to_contain_text("OUT_OF_STOCK")
    expect(rows.nth(1)).to_contain_text(dear.name)
    expect(rows.nth(1)).to_contain_text("current route")
    expect(page.get_by_test_id("order-product")).to_contain_text(dear.name)
    order.refresh_from_db()
    assert order.offer == offer_dear and order.attempts.count() == 2
