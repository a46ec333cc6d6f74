"""Finance in a real browser with a real worker: sync the ledger, run a reconciliation, open a
bucket, explain an item, download both reports."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from finance import services
from finance.models import ItemExplanation
from orders.models import Order, OrderStatus
from suppliers.services import supplier_client


def test_reconcile_open_a_bucket_explain_and_download(
    page,
    sign_in,
    sandbox_account,
    sandbox_offer,  # noqa: F811 (the fixture imported above)
    celery_worker_process,
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="USD")
    client = supplier_client(account)
    # Our books: one completed order. The supplier: that order, and one more (a naive resend
    # under a new transactionId) that no order of ours explains.
    sent = timezone.now()
    client.create_order(offer.offer_id, offer.price, "e2e-ours-1")
    Order.objects.create(
        account=account,
        offer=offer,
        transaction_id="e2e-ours-1",
        status=OrderStatus.COMPLETED,
        max_unit_price=offer.price,
        quoted_price=offer.price,
        price_sent=offer.price,
        currency=offer.currency,
        units=offer.units or 1,
        units_delivered=offer.units or 1,
        submitted_at=sent - timedelta(seconds=1),
        final_at=timezone.now(),
    )
    client.create_order(offer.offer_id, offer.price, "e2e-resent-2")
    services.balance_snapshot_take(account=account)

    sign_in("finance")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Finance").click()
    expect(page.get_by_test_id("balance")).to_contain_text("USD")

    # The ledger sync runs on the worker; its page polls the job row.
    page.get_by_role("navigation", name="Finance").get_by_role("link", name="Ledger").click()
    page.get_by_role("button", name="Sync the ledger now").click()
    page.wait_for_url(re.compile(r"/finance/ledger/syncs/\d+/$"))
    expect(page.get_by_test_id("ledger-sync-status")).to_have_text("Succeeded", timeout=60_000)
    expect(page.get_by_test_id("ledger-sync-message")).to_contain_text("3 new (full pass)")

    page.get_by_role("link", name="Open the ledger").click()
    expect(page.get_by_test_id("ledger-table").locator("tbody tr")).to_have_count(3)

    page.get_by_role("navigation", name="Finance").get_by_role(
        "link", name="Reconciliation"
    ).click()
    form = page.get_by_test_id("reconcile-form")
    expect(form.get_by_label("Account")).to_have_value(str(account.pk))
    form.get_by_role("button", name="Run the reconciliation").click()
    page.wait_for_url(re.compile(r"/finance/reconciliation/\d+/$"))
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded", timeout=60_000)
    expect(page.get_by_test_id("ties")).to_have_text("ties")

    # The most serious bucket opens first: the charge with no order of ours.
    expect(page.get_by_test_id("bucket-title")).to_contain_text("Unexpected charges")
    rows = page.get_by_test_id("items-table").get_by_test_id("item-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("possible double charge of order")

    # Another bucket, through its tab (htmx, with the address kept in step).
    page.get_by_role("navigation", name="Buckets").get_by_role(
        "link", name=re.compile("^Matched 1")
    ).click()
    page.wait_for_url(re.compile(r"\?bucket=MATCHED$"))
    expect(page.get_by_test_id("bucket-title")).to_contain_text("Matched")
    order = Order.objects.get(account=account)
    expect(rows.first.get_by_test_id("order-link")).to_have_attribute(
        "href", f"/orders/{order.pk}/"
    )

    # Back to the unexpected charge, and explain it.
    page.get_by_role("navigation", name="Buckets").get_by_role(
        "link", name=re.compile("^Unexpected charges")
    ).click()
    expect(page.get_by_test_id("bucket-title")).to_contain_text("Unexpected charges")
    rows.first.get_by_role("link", name="Explain").click()
    rows.first.get_by_label("Explanation").fill("=Resent by the old integration; refund asked")
    rows.first.get_by_role("button", name="Save").click()
    expect(rows.first.get_by_test_id("explanation")).to_have_text(
        "=Resent by the old integration; refund asked"
    )
    assert ItemExplanation.objects.filter(account=account).count() == 1

    # Both downloads.
    with page.expect_download() as csv_download:
        page.get_by_test_id("download-csv").click()
    text = open(csv_download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    assert text.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    unexpected = [row for row in table if row["Bucket"] == "UNEXPECTED_CHARGE"]
    assert len(unexpected) == 1
    assert unexpected[0]["Explanation"] == "'=Resent by the old integration; refund asked"
    assert Decimal(unexpected[0]["Ledger amount (USD)"]) == -offer.price * (offer.units or 1)

    with page.expect_download() as xlsx_download:
        page.get_by_test_id("download-xlsx").click()
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    with open(xlsx_download.value.path(), "rb") as stream:  # the temporary path has no suffix
        book = load_workbook(io.BytesIO(stream.read()))
    assert book.sheetnames[0] == "Summary" and "Unexpected charges" in book.sheetnames
    sheet = list(book["Unexpected charges"].iter_rows(values_only=True))
    assert (
        sheet[1][sheet[0].index("Explanation")] == "'=Resent by the old integration; refund asked"
    )
