"""A CodeGames order whose create-order answer was lost, in a real browser: the page says what to
look for at the supplier, and an operator records the supplier's orderId; the order is then
followed to COMPLETED and its key is stored."""

import re

from playwright.sync_api import expect

from catalog.services import offer_refresh_price
from orders.services import order_submit
from tests.orders.conftest import place


def test_an_operator_records_a_lost_order_found_at_the_supplier(
    page, sign_in, sandbox, sandbox_account, sandbox_offer, fault
):
    account = sandbox_account(kind="codegames")
    offer = offer_refresh_price(offer=sandbox_offer(account, kind="key"))
    fault(account, endpoint="create-order", kind="lost_response")
    order = order_submit(order_id=place(offer).pk)
    [bought] = sandbox.admin("GET", f"/sandbox/accounts/{account.remote['token']}/orders")["orders"]

    sign_in("operator")
    page.goto(order.get_absolute_url())
    expect(page.get_by_test_id("order-status")).to_have_text("Needs attention")
    expect(page.get_by_test_id("order-error")).to_contain_text(order.transaction_id)
    expect(page.get_by_role("button", name="Re-check status")).to_have_count(0)

    page.get_by_label("The supplier's orderId").fill(str(bought["orderId"]))
    page.get_by_role("button", name="Found at the supplier").click()
    page.wait_for_url(re.compile(rf"/orders/{order.pk}/$"))
    expect(page.get_by_text(f"Recorded: supplier order {bought['orderId']}")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_text("Completed")
    expect(page.get_by_test_id("masked-keys")).to_contain_text("••••")
    expect(page.get_by_test_id("record-found")).to_have_count(0)
