"""A CSV batch in the browser: uploaded, previewed with its errors, confirmed, and watched to the
end with a real Celery worker sending the orders to the sandbox."""

import io
import re

import pytest
from playwright.sync_api import expect

from catalog.models import Offer, SyncJob
from catalog.sync import catalog_sync_run
from orders.models import Batch, Order, OrderStatus

HEADER = "offer_id,quantity,player_id,server_id,email,telegram_username,customer_reference,max_unit_price"


@pytest.fixture
def synced_account(sandbox_account):
    account = sandbox_account()
    catalog_sync_run(SyncJob.objects.create(account=account).pk)
    return account


def key_offers(account, n):
    """Single-unit gift cards in USD: the sandbox completes key orders at once."""
    return list(
        Offer.objects.filter(
            account=account,
            category="Gift Cards",
            currency="USD",
            in_stock=True,
            delisted_at=None,
            requires_user_id=False,
        )
        .exclude(offer_name__contains=" x ")
        .order_by("offer_id")[:n]
    )


def test_upload_preview_confirm_and_watch_a_csv_batch_finish(
    page, sign_in, synced_account, celery_worker_process
):
    first, second = key_offers(synced_account, 2)
    content = "\r\n".join(
        [
            HEADER,
            f"{first.offer_id},3,,,buyer@example.com,,WEB-1,",
            f"{second.offer_id},2,,,,,WEB-2,{second.price}",
            "99999999,1,,,,,WEB-3,",
            f"{first.offer_id},two,,,,,WEB-4,",
            "",
            "",
        ]
    )
    sign_in("operator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Batches").click()
    expect(page.get_by_role("heading", name="Batches")).to_be_visible()
    page.get_by_role("link", name="Upload a batch").click()

    page.get_by_label("Supplier account").select_option(str(synced_account.pk))
    page.get_by_label("Name").fill("Friday gift cards")
    page.get_by_label("File (CSV or XLSX)").set_input_files(
        files=[{"name": "friday.csv", "mimeType": "text/csv", "buffer": content.encode()}]
    )
    page.get_by_role("button", name="Upload and preview").click()

    # The preview: the problems are shown, and nothing is ordered yet.
    page.wait_for_url(re.compile(r"/orders/batches/\d+/$"))
    expect(page.get_by_role("heading", name=re.compile("Friday gift cards"))).to_be_visible()
    expect(page.get_by_test_id("rows-ok")).to_have_text("2")
    expect(page.get_by_test_id("rows-problems")).to_have_text("2")
    rows = page.get_by_test_id("preview-rows")
    expect(rows).to_contain_text("offer 99999999 is not in this account's catalog")
    expect(rows).to_contain_text("quantity 'two' is not a whole number")
    expect(rows.locator("tr.row-bad")).to_have_count(2)
    expect(page.get_by_test_id("balance")).to_contain_text("1,000.00 USD")
    batch = Batch.objects.get(name="Friday gift cards")
    assert batch.status == Batch.Status.PREVIEW and not Order.objects.filter(batch=batch).exists()

    # The "all rows" view lists the good rows after the bad ones, without a page load.
    page.get_by_role("link", name=re.compile("All rows")).click()
    expect(rows.locator("tbody tr")).to_have_count(4)
    expect(rows.locator("tbody tr").first).to_have_class(re.compile("row-bad"))

    page.get_by_role("button", name="Confirm: order 2 rows").click()
    expect(
        page.get_by_text("Batch confirmed: its 5 orders are being created, then sent.")
    ).to_be_visible()

    # The worker creates the orders, then sends them; the page reloads itself once they exist,
    # then polls the rows and fills the bar.
    expect(page.get_by_test_id("batch-progress")).to_have_attribute(
        "aria-valuenow", "100", timeout=60_000
    )
    expect(page.get_by_test_id("batch-status")).to_have_text("Done")
    completed = page.get_by_test_id("batch-counts").locator('[data-status="COMPLETED"] .n')
    expect(completed).to_have_text("5")
    orders = page.get_by_test_id("batch-orders")
    expect(orders.get_by_text("Completed", exact=True)).to_have_count(5, timeout=10_000)
    expect(page.get_by_text("2 rows skipped")).to_be_visible()

    statuses = list(Order.objects.filter(batch=batch).values_list("status", flat=True))
    assert statuses == [OrderStatus.COMPLETED] * 5
    assert all(order.keys.count() == 1 for order in Order.objects.filter(batch=batch))
    # Once everything is final the page stops polling.
    assert page.locator("#progress[hx-trigger]").count() == 0
    assert page.locator("#orders[hx-trigger]").count() == 0

    # The list shows it done.
    page.get_by_role("link", name="Batches").first.click()
    expect(page.get_by_role("row", name=re.compile("Friday gift cards"))).to_contain_text("Done")


def test_an_upload_says_reading_until_a_worker_has_read_it_then_shows_the_preview(
    page, sign_in, synced_account, transactional_db
):
    """No worker runs when the file is uploaded: the page answers at once and says "reading";
    once a worker on the batches queue starts, the preview replaces it without a click. The
    workbook's player id lost its leading zeros (a number cell): the preview names the cell."""
    import openpyxl

    from reseller.core.queues import BATCHES, queue_name
    from tests.conftest import celery_worker

    first, second = key_offers(synced_account, 2)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    top_up = (
        Offer.objects.filter(
            account=synced_account, category="Top Up", in_stock=True, requires_user_id=True
        )
        .exclude(product_name="Telegram Stars")
        .order_by("offer_id")
        .first()
    )
    sheet.append(["offer_id", "quantity", "player_id", "customer_reference"])
    sheet.append([str(first.offer_id), 2, None, "XL-1"])
    sheet.append([str(second.offer_id), 0, None, "XL-2"])
    sheet.append([str(top_up.offer_id), 1, 123456, "XL-3"])  # was 000123456
    content = io.BytesIO()
    workbook.save(content)

    sign_in("operator")
    page.goto("/orders/batches/new/")
    page.get_by_label("Supplier account").select_option(str(synced_account.pk))
    page.get_by_label("File (CSV or XLSX)").set_input_files(
        files=[
            {
                "name": "orders.xlsx",
                "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "buffer": content.getvalue(),
            }
        ]
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(r"/orders/batches/\d+/$"))
    expect(page.get_by_test_id("batch-status")).to_have_text("Reading the file")
    expect(page.get_by_test_id("reading")).to_contain_text("Reading the file")
    batch = Batch.objects.get(source_filename="orders.xlsx")
    assert batch.status == Batch.Status.READING

    with celery_worker(queue_name(BATCHES)):
        expect(page.get_by_test_id("rows-ok")).to_have_text("1", timeout=30_000)
    expect(page.get_by_test_id("batch-status")).to_have_text("Preview")
    expect(page.get_by_test_id("rows-problems")).to_have_text("2")
    rows = page.get_by_test_id("preview-rows")
    expect(rows).to_contain_text("quantity 0 must be at least 1")
    expect(rows).to_contain_text(
        "player_id in cell C4 is a number in the workbook (123456), not text"
    )
    expect(rows).to_contain_text("format the player_id column as text and type the ids again")
    expect(rows.locator(".bad-value")).to_have_count(2)
    assert page.locator("#reading").count() == 0
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW and not Order.objects.filter(batch=batch).exists()


def test_a_batch_s_failed_rows_are_retried_as_a_new_batch_through_the_preview(
    page, sign_in, synced_account
):
    from orders.services import OrderLine, batch_create, batch_orders_create
    from reseller.core.queues import BATCHES, queue_name
    from tests.conftest import celery_worker

    first, second = key_offers(synced_account, 2)
    batch = batch_create(name="Tuesday cards", source_filename="tuesday.csv")
    batch_orders_create(
        batch=batch,
        lines=[
            OrderLine(offer=first, max_unit_price=first.price, quantity=2, row_number=2,
                      customer_reference="TUE-1"),
            OrderLine(offer=second, max_unit_price=second.price, row_number=3,
                      customer_reference="TUE-2"),
        ],
    )  # fmt: skip
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.DONE, account=synced_account)
    Order.objects.filter(batch=batch, row_number=2).update(status=OrderStatus.FAILED)
    Order.objects.filter(batch=batch, row_number=3).update(status=OrderStatus.COMPLETED)

    sign_in("operator")
    page.goto(f"/orders/batches/{batch.pk}/")
    page.get_by_role("button", name="Retry the failed rows (2)").click()

    page.wait_for_url(re.compile(r"/orders/batches/\d+/$"))
    retry = Batch.objects.exclude(pk=batch.pk).get()
    assert page.url.endswith(f"/orders/batches/{retry.pk}/")
    expect(page.get_by_role("heading", name=re.compile("Retry of Tuesday cards"))).to_be_visible()
    with celery_worker(queue_name(BATCHES)):  # the retry's file is read like an upload
        expect(page.get_by_test_id("rows-ok")).to_have_text("1", timeout=30_000)
    expect(page.get_by_test_id("batch-links")).to_contain_text(f"batch #{batch.pk}")
    expect(page.get_by_test_id("preview-rows")).to_contain_text("TUE-1")
    assert not retry.orders.exists()  # nothing ordered before the preview is confirmed
    page.get_by_role("button", name="Confirm: order 1 row").click()
    expect(page.get_by_text("Batch confirmed: its 2 orders are being created")).to_be_visible()

    page.get_by_test_id("batch-links").get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/orders/batches/{batch.pk}/$"))
    expect(page.get_by_test_id("batch-links")).to_contain_text(f"retried in batch #{retry.pk}")
    expect(page.get_by_role("button", name=re.compile("Retry the failed rows"))).to_have_count(0)
