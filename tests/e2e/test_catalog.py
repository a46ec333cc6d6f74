import re

import pytest
from playwright.sync_api import expect

from catalog.models import Offer, SyncJob
from catalog.sync import catalog_sync_run


@pytest.fixture
def synced_account(sandbox_account):
    account = sandbox_account()
    catalog_sync_run(SyncJob.objects.create(account=account).pk)
    return account


def test_search_filter_and_open_an_offer_then_refresh_its_price(
    page, sign_in, synced_account, sandbox
):
    sign_in("operator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("heading", name=re.compile("Catalog"))).to_be_visible()

    page.get_by_label("Search").fill("steam us")
    page.wait_for_url(re.compile(r"\?account=\d+&q=steam(\+|%20)us$"))  # only what was set
    page.get_by_label("Category").select_option("Gift Cards")
    page.wait_for_url(re.compile(r"category=Gift\+Cards"))
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_contain_text("Steam")
    for text in rows.all_inner_texts():
        assert "Gift Cards" in text and "steam" in text.lower()

    # The filtered view is a plain link: reloading it shows the same rows.
    filtered_url = page.url
    page.goto(filtered_url)
    expect(page.get_by_label("Search")).to_have_value("steam us")

    page.get_by_label("Search").fill("TEST OFFER GROUP")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    # The results' address is pushed to the history after the swap; a click before it races it.
    expect(page).to_have_url(re.compile(r"q=TEST(\+|%20)OFFER(\+|%20)GROUP"))
    page.locator("#results tbody tr a").first.click()
    expect(page.get_by_test_id("offer-price")).to_have_text("23.09 KZT")
    # In the account's feed, so compatible by the supplier's statement; how it settles is told
    # by find-one (Refresh price).
    expect(page.get_by_test_id("settlement")).to_contain_text("Compatible")
    expect(page.get_by_test_id("settlement")).to_contain_text("in the account's feed")

    page.get_by_role("button", name="Refresh price").click()
    expect(page.get_by_text("Live price: 23.09 KZT.")).to_be_visible()
    expect(page.get_by_test_id("settlement")).to_contain_text("Compatible")
    expect(page.get_by_test_id("settlement")).to_contain_text("settles in MIXED")


def test_sort_by_clicking_a_column_heading(page, sign_in, synced_account):
    sign_in("finance")
    page.goto(f"/catalog/?account={synced_account.pk}&q=pubg")
    page.locator("#results").get_by_role("link", name=re.compile("^Cost")).click()
    page.wait_for_url(re.compile(r"sort=price"))
    prices = [
        float(t.split()[0])
        for t in page.locator("#results tbody td.num:nth-of-type(4)").all_inner_texts()
    ]
    assert prices == sorted(prices) and len(prices) > 1


def test_run_a_sync_and_watch_the_progress_bar_finish(
    page, sign_in, sandbox_account, celery_worker_process
):
    account = sandbox_account()
    sign_in("operator")
    page.goto(f"/catalog/?account={account.pk}")
    expect(page.get_by_text("Never synced")).to_be_visible()
    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(re.compile(r"/catalog/sync/\d+/$"))
    # The page polls the job row; the worker fills it.
    expect(page.get_by_test_id("sync-status")).to_have_text("Succeeded", timeout=60_000)
    expect(page.get_by_test_id("sync-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("sync-message")).to_contain_text("offers fetched")
    assert Offer.objects.filter(account=account).count() > 1000
    page.get_by_role("link", name="Open the catalog").click()
    expect(page.locator("#results tbody tr")).to_have_count(50)
