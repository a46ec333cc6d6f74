"""Manual orders in a real browser, sent by a real worker: a key order watched to COMPLETED and
its key revealed; a top-up whose player is checked first, watched to COMPLETED."""

import re

import pytest
from playwright.sync_api import expect

from catalog.models import SyncJob
from catalog.sync import catalog_sync_run
from orders.models import Order
from orders.services import orders_sweep
from reseller.core.models import AuditEvent
from sandbox.gamesdrop import _login as sandbox_player_login


@pytest.fixture
def synced_account(sandbox_account):
    account = sandbox_account()
    catalog_sync_run(SyncJob.objects.create(account=account).pk)
    return account


def sandbox_offer(sandbox, **filters) -> dict:
    query = {"settlement": "MIXED", "in_stock": "true", "listed": "true", "limit": 1, **filters}
    return sandbox.admin("GET", "/sandbox/offers", params=query)["offers"][0]


def choose_offer(page, offer_id: int) -> None:
    page.get_by_label("Find an offer").fill(str(offer_id))
    # As a person would: wait for the search's results (their address is pushed to the history),
    # then choose. Clicking a link of the list shown before them races that history push.
    expect(page).to_have_url(re.compile(rf"[?&]q={offer_id}(&|$)"))
    page.get_by_role("link", name=re.compile(rf"^Choose .*\({offer_id}\)$")).click()
    page.wait_for_url(re.compile(r"/orders/new/\?offer=\d+$"))


def test_a_manual_key_order_completes_by_itself_and_its_key_is_revealed(
    page, sign_in, synced_account, sandbox, celery_worker_process
):
    remote = sandbox_offer(sandbox, kind="key")
    sign_in("operator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    page.get_by_role("link", name="New order").click()
    choose_offer(page, remote["offerId"])

    # find-one just now: the live price, which is also the default limit.
    expect(page.get_by_test_id("live-price")).to_contain_text(remote["currency"])
    live = page.get_by_test_id("live-price").inner_text().split()[0]
    assert float(page.get_by_label("Highest unit price you accept").input_value()) == float(live)
    expect(page.get_by_label("Player id")).to_have_count(0)  # a key needs no player
    page.get_by_label("Customer email").fill("buyer@example.com")
    page.get_by_label("Customer reference").fill("E2E-KEY-1")
    page.get_by_role("button", name="Place order").click()

    page.wait_for_url(re.compile(r"/orders/\d+/$"))
    expect(page.get_by_text("Order placed:")).to_be_visible()
    # The page follows the order by itself while the worker submits it.
    expect(page.get_by_test_id("order-status")).to_have_text("Completed", timeout=60_000)
    expect(page.get_by_test_id("masked-keys")).to_contain_text("••••")

    order = Order.objects.get(customer_reference="E2E-KEY-1")
    keys = list(order.keys.values_list("secret", flat=True))
    assert keys and keys[0] not in page.content()
    page.get_by_role("button", name="Reveal").click()
    for key in keys:
        expect(page.get_by_test_id("revealed-keys")).to_contain_text(key)
    assert AuditEvent.objects.filter(action="order.key_revealed", target_id=str(order.pk)).exists()
    expect(page.get_by_test_id("delivery")).to_contain_text("buyer@example.com", timeout=30_000)

    # Reloading shows the masked key again: the clear key was in that one response only.
    page.reload()
    expect(page.get_by_test_id("masked-keys")).to_be_visible()
    assert keys[0] not in page.content()


def test_a_top_up_with_a_checked_player_is_watched_to_completion(
    page, sign_in, synced_account, sandbox, celery_worker_process
):
    remote = sandbox_offer(sandbox, kind="topup", req_server="true")
    changed = {"topup_delay_seconds": 2, "cancel_share": 0, "fail_share": 0}
    before = sandbox.admin("GET", "/sandbox/settings")
    sandbox.admin("POST", "/sandbox/settings", changed)
    try:
        sign_in("operator")
        page.goto(f"/orders/new/?account={synced_account.pk}")
        choose_offer(page, remote["offerId"])

        page.get_by_label("Server").select_option(index=1)
        server = page.get_by_label("Server").input_value()
        page.get_by_label("Player id").fill("x1")
        page.get_by_role("button", name="Check player").click()
        expect(page.get_by_test_id("player-check")).to_contain_text("INVALID")

        page.get_by_label("Player id").fill("51234567")
        page.get_by_role("button", name="Check player").click()
        login = sandbox_player_login("51234567")
        expect(page.get_by_test_id("player-check")).to_contain_text(f"VALID · player {login}")
        page.get_by_label("Customer reference").fill("E2E-TOPUP-1")
        page.get_by_role("button", name="Place order").click()
        page.wait_for_url(re.compile(r"/orders/\d+/$"))

        # Beat does not run in tests: the test sweeps (as beat would) while the page watches.
        status = page.get_by_test_id("order-status")
        for _ in range(60):
            orders_sweep()
            if status.inner_text().strip() == "Completed":
                break
            page.wait_for_timeout(1000)
        expect(status).to_have_text("Completed")
        expect(page.get_by_test_id("order-events")).to_contain_text("SUBMITTED")
        order = Order.objects.get(customer_reference="E2E-TOPUP-1")
        assert order.game_user_id == "51234567" and order.game_server_id == server
        expect(page.locator("#keys")).to_have_count(0)  # a top-up has no keys card
    finally:
        sandbox.admin("POST", "/sandbox/settings", {name: before[name] for name in changed})


def test_a_failed_order_is_ordered_again_and_the_two_are_linked(
    page, sign_in, synced_account, sandbox
):
    from catalog.models import Offer
    from orders.models import OrderStatus
    from orders.services import order_create

    remote = sandbox_offer(sandbox, kind="key")
    offer = Offer.objects.get(account=synced_account, offer_id=remote["offerId"])
    failed = order_create(
        offer=offer,
        max_unit_price=offer.price,
        email="buyer@example.com",
        customer_reference="E2E-AGAIN-1",
    )[0]
    Order.objects.filter(pk=failed.pk).update(
        status=OrderStatus.FAILED, last_error="The supplier failed the order and refunded it."
    )
    sign_in("operator")
    page.goto(f"/orders/{failed.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("Failed (refunded)")
    page.get_by_role("link", name="Order again").click()

    page.wait_for_url(re.compile(rf"/orders/new/\?again={failed.pk}$"))
    expect(page.get_by_test_id("order-again-notice")).to_contain_text(f"order #{failed.pk}")
    expect(page.get_by_test_id("live-price")).to_contain_text(remote["currency"])
    expect(page.get_by_label("Customer email")).to_have_value("buyer@example.com")
    expect(page.get_by_label("Customer reference")).to_have_value("E2E-AGAIN-1")
    expect(page.get_by_label("Quantity")).to_have_count(0)  # one order, in place of the failed one
    page.get_by_role("button", name="Place the order again").click()

    page.wait_for_url(re.compile(r"/orders/\d+/$"))
    again = Order.objects.get(reorder_of=failed)
    assert page.url.endswith(f"/orders/{again.pk}/")
    assert again.transaction_id != failed.transaction_id
    expect(page.get_by_text("Order placed:")).to_be_visible()
    page.get_by_test_id("reorder-of").get_by_role("link").click()

    page.wait_for_url(re.compile(rf"/orders/{failed.pk}/$"))
    expect(page.get_by_test_id("ordered-again-as")).to_contain_text(f"order #{again.pk}")
    expect(page.get_by_role("link", name="Order again")).to_have_count(0)
