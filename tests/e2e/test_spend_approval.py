"""Four eyes in the browser: an operator's batch above the approval threshold waits, an admin
approves it from the dashboard, and a real Celery worker then creates and sends its orders."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from catalog.models import SyncJob
from catalog.sync import catalog_sync_run
from orders.models import Batch, Order, OrderStatus, SpendApproval, SpendLimit
from orders.services import spending
from tests.e2e.test_batches import HEADER, key_offers


@pytest.fixture
def synced_account(sandbox_account):
    account = sandbox_account()
    catalog_sync_run(SyncJob.objects.create(account=account).pk)
    return account


def test_a_batch_above_the_threshold_runs_only_once_an_admin_approves_it(
    page, second_page, sign_in, make_staff, synced_account, celery_worker_process
):
    (offer,) = key_offers(synced_account, 1)
    admin = make_staff("admin")
    threshold = (offer.price * 2).quantize(Decimal("0.01"))
    spending.spend_limit_set(kind=SpendLimit.Kind.APPROVAL_ABOVE, amount_usd=threshold, by=admin)
    content = "\r\n".join([HEADER, f"{offer.offer_id},3,,,,,FOUR-EYES-1,", ""])

    sign_in("operator")
    page.goto("/orders/batches/new/")
    page.get_by_label("Supplier account").select_option(str(synced_account.pk))
    page.get_by_label("Name").fill("Big order")
    page.get_by_label("File (CSV or XLSX)").set_input_files(
        files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": content.encode()}]
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(r"/orders/batches/\d+/$"))
    expect(page.get_by_test_id("rows-ok")).to_have_text("1")
    expect(page.get_by_test_id("spend-allowance")).to_contain_text(
        f"Above {threshold:,.2f} USD a second person approves"
    )
    page.get_by_role("button", name="Confirm: order 1 row").click()
    expect(page.get_by_text("the batch waits for a second person")).to_be_visible()
    expect(page.get_by_test_id("batch-status")).to_have_text("Awaiting approval")
    expect(page.get_by_test_id("approval")).to_contain_text("Yours: a second person decides")
    batch = Batch.objects.get(name="Big order")
    assert not Order.objects.filter(batch=batch).exists()

    # The admin, in their own browser, finds it on the dashboard and approves it.
    sign_in(user=admin, on=second_page)
    approval = SpendApproval.objects.get(batch=batch)
    row = second_page.get_by_test_id(f"approval-{approval.pk}")
    expect(row).to_contain_text("Batch #")
    row.get_by_label("Comment").fill("Expected order")
    row.get_by_role("button", name="Approve").click()
    second_page.wait_for_url(re.compile(rf"/orders/batches/{batch.pk}/$"))
    expect(second_page.get_by_text("Approved: it is on its way.")).to_be_visible()

    # The worker creates the three orders and sends them; the operator's page follows.
    page.reload()
    expect(page.get_by_test_id("batch-status")).to_have_text("Done", timeout=60_000)
    statuses = list(Order.objects.filter(batch=batch).values_list("status", flat=True))
    assert statuses == [OrderStatus.COMPLETED] * 3
    approval.refresh_from_db()
    assert approval.status == SpendApproval.Status.APPROVED and approval.decided_by == admin
