"""CodeGames end to end in a real browser, with a real worker: an admin adds the account and
three offers by id and tests the connection; an operator orders a key and a top-up from it and
reveals the key. No page answers a server error on the way."""

import re

import pytest
from playwright.sync_api import expect

from orders.models import Order
from orders.services import orders_sweep
from suppliers.models import SupplierAccount


def remote_offer(sandbox, skip=0, **filters) -> dict:
    query = {"settlement": "MIXED", "in_stock": "true", "listed": "true", "limit": skip + 1}
    return sandbox.admin("GET", "/sandbox/offers", params={**query, **filters})["offers"][skip]


@pytest.fixture
def server_errors(page):
    """Every response of 500 or above the browser sees, documents included."""
    seen = []
    page.on(
        "response",
        lambda response: (
            seen.append(f"{response.status} {response.url}") if response.status >= 500 else None
        ),
    )
    return seen


def choose_offer(page, offer_id: int) -> None:
    page.get_by_label("Find an offer").fill(str(offer_id))
    expect(page).to_have_url(re.compile(rf"[?&]q={offer_id}(&|$)"))
    page.get_by_role("link", name=re.compile(rf"^Choose .*\({offer_id}\)$")).click()
    page.wait_for_url(re.compile(r"/orders/new/\?offer=\d+$"))


def watch_until_completed(page) -> None:
    """Beat does not run in tests: sweep (as beat would) while the order's page follows it."""
    status = page.get_by_test_id("order-status")
    for _ in range(60):
        if status.inner_text().strip() == "Completed":
            break
        orders_sweep()
        page.wait_for_timeout(1000)
    expect(status).to_have_text("Completed")


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_codegames_from_a_new_account_to_a_revealed_key(
    page, sign_in, sandbox, celery_worker_process, server_errors
):
    remote = sandbox.create_account(kind="codegames", balance="1000", balance_profile="MIXED")
    key = remote_offer(sandbox, kind="key", skip=5)
    top_up = remote_offer(sandbox, kind="topup", req_server="false", skip=2)
    other_key = remote_offer(sandbox, kind="key", skip=6)

    # The admin adds the account.
    sign_in("admin")
    page.goto("/suppliers/")
    page.get_by_role("link", name="Add account").click()
    page.get_by_label("Name").fill("CodeGames main")
    page.get_by_label("Kind").select_option("codegames")
    page.get_by_role("textbox", name=re.compile(r"^Base url")).fill(sandbox.url)
    page.get_by_label("Shop token").fill(remote["token"])
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/suppliers/\d+/$"))
    account = SupplierAccount.objects.get(name="CodeGames main")
    assert account.kind == "codegames"

    # Three offers by id, looked up by the background worker.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    page.get_by_role("link", name="Add offers by id").click()
    page.get_by_label("Offer ids").fill(
        f"{key['offerId']}, {top_up['offerId']}\n{other_key['offerId']}"
    )
    page.get_by_role("button", name="Look up and add").click()
    page.wait_for_url(re.compile(r"/catalog/lookups/\d+/$"))
    expect(page.get_by_test_id("lookup-status")).to_have_text("Succeeded", timeout=60_000)
    expect(page.get_by_test_id("lookup-added")).to_have_text("3")
    page.get_by_role("link", name="Open the catalog").click()
    expect(page.locator("#results")).to_contain_text(key["offerName"])
    expect(page.locator("#results")).to_contain_text(top_up["offerName"])

    # Test connection: a find-one of one of the account's offers.
    page.goto(f"/suppliers/{account.pk}/")
    page.get_by_role("button", name="Test connection").click()
    message = page.get_by_test_id("check-message")
    expect(message).to_contain_text("Connected. find-one of offer")
    expect(message).to_contain_text("Checked: the shop token and the offers API")
    sign_out(page)

    # The operator orders the key product, and reveals its key.
    sign_in("operator")
    page.goto(f"/orders/new/?account={account.pk}")
    choose_offer(page, key["offerId"])
    expect(page.get_by_label("Player id")).to_have_count(0)
    page.get_by_label("Customer reference").fill("CG-KEY-1")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/\d+/$"))
    watch_until_completed(page)
    order = Order.objects.get(customer_reference="CG-KEY-1")
    keys = list(order.keys.values_list("secret", flat=True))
    assert keys and keys[0] not in page.content()
    page.get_by_role("button", name="Reveal").click()
    expect(page.get_by_test_id("revealed-keys")).to_contain_text(keys[0])

    # And the top-up, whose player id CodeGames requires (and cannot check).
    page.goto(f"/orders/new/?account={account.pk}")
    choose_offer(page, top_up["offerId"])
    expect(page.get_by_test_id("no-player-check")).to_be_visible()
    expect(page.get_by_role("button", name="Check player")).to_have_count(0)
    page.get_by_label("Player id").fill("51234567")
    page.get_by_label("Customer reference").fill("CG-TOPUP-1")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/\d+/$"))
    watch_until_completed(page)
    top_up_order = Order.objects.get(customer_reference="CG-TOPUP-1")
    assert top_up_order.game_user_id == "51234567" and top_up_order.account_id == account.pk

    assert not server_errors, server_errors
