"""Lists that page through htmx in a real browser: the next page replaces the list, not the list with
a whole page inside it, and stays on the account the page shows."""

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from finance.models import LedgerSync, ReconciliationRun
from suppliers.models import SupplierAccount

MORE_THAN_A_PAGE = 30  # the run and sync lists show 25 a page


def test_paging_reconciliation_runs_and_ledger_syncs(page, sign_in):
    SupplierAccount.objects.create(name="alpha", base_url="http://127.0.0.1:9")
    beta = SupplierAccount.objects.create(name="beta", base_url="http://127.0.0.1:9")
    end = timezone.now()
    for _ in range(MORE_THAN_A_PAGE):
        ReconciliationRun.objects.create(
            account=beta, period_start=end - timedelta(days=1), period_end=end, status="succeeded"
        )
        LedgerSync.objects.create(account=beta, status="succeeded")
    sign_in("finance")

    page.goto(f"/finance/reconciliation/?account={beta.pk}")
    expect(page.get_by_test_id("runs-table").locator("tbody tr")).to_have_count(25)
    page.get_by_role("link", name="Next ›").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(page.get_by_test_id("runs-table").locator("tbody tr")).to_have_count(5)  # beta's
    expect(page.locator("header")).to_have_count(1)
    expect(page.get_by_test_id("account-chooser")).to_have_count(1)

    page.goto("/finance/ledger/syncs/")
    page.get_by_role("link", name="Next ›").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(page.locator("#syncs tbody tr")).to_have_count(5)
    expect(page.locator("header")).to_have_count(1)
