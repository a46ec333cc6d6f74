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
    unexpected = [row for row in table if row["Bucket"] == "Unexpected charges"]
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


def test_overview_fresh_balance_chart_axes_and_both_reports_read_back(
    page, sign_in, sandbox_account, sandbox_offer, celery_worker_process
):
    """Finance opens the overview: the 20-minute-old balance is refreshed by the worker while
    the page waits for nothing, the charts have date and amount axes with a label on every
    point and bar. Then a run's two reports: the CSV in words with its totals, the XLSX read
    back with fitted widths, numbers as numbers and the totals."""
    from finance.models import BalanceSnapshot, LedgerEntry, ReconciliationRun

    account = sandbox_account(balance="9980.05")
    offer = sandbox_offer(account, kind="key", currency="USD")
    now = timezone.now()
    for days_ago, balance in ((3, "10100.00"), (2, "10060.00"), (0.014, "10000.00")):
        BalanceSnapshot.objects.create(
            account=account, taken_at=now - timedelta(days=days_ago), balance=Decimal(balance),
            draft_balance=Decimal(0), is_postpaid=False, currency="USD",
        )  # fmt: skip
    # The supplier's ledger: a deposit, then our order's charge and one on another day.
    price = offer.price * (offer.units or 1)
    rows = [
        (1, Decimal("10100.00"), "DEPOSIT", now - timedelta(days=3, hours=1)),
        (2, -Decimal("40.00"), "PURCHASE", now - timedelta(days=2, hours=1)),
        (3, -price, "PURCHASE", now - timedelta(minutes=30)),
    ]
    balance = Decimal(0)
    for supplier_id, amount, kind, at in rows:
        balance += amount
        LedgerEntry.objects.create(
            account=account, supplier_id=supplier_id, amount=amount, type=kind,
            description=f"{kind.title()} row", balance_after=balance, created_at=at, fetched_at=now,
        )  # fmt: skip
    order = Order.objects.create(
        account=account, offer=offer, transaction_id="e2e-charts-1", status=OrderStatus.COMPLETED,
        max_unit_price=offer.price, quoted_price=offer.price, price_sent=offer.price,
        currency="USD", usd_rate=Decimal(1), usd_cost=price, units=offer.units or 1,
        units_delivered=offer.units or 1, submitted_at=now - timedelta(minutes=30, seconds=2),
        final_at=now - timedelta(minutes=29),
    )  # fmt: skip

    sign_in("finance")
    page.goto(f"/finance/?account={account.pk}")
    # The page came at once with the old balance; the worker's fresh one replaces it.
    expect(page.get_by_test_id("balance")).to_contain_text("9,980.05 USD", timeout=30_000)
    expect(page.get_by_test_id("balance-age")).to_contain_text("0\xa0minutes ago")
    expect(page.get_by_test_id("balance-refreshing")).to_have_count(0)
    # Opened again, the chart has the fresh snapshot too (and nothing more is asked for).
    page.goto(f"/finance/?account={account.pk}")
    expect(page.get_by_test_id("balance-refreshing")).to_have_count(0)

    chart = page.get_by_test_id("balance-chart")
    expect(chart.get_by_test_id("y-tick").first).to_be_visible()
    assert chart.get_by_test_id("y-tick").count() >= 3
    assert chart.get_by_test_id("x-tick").count() >= 2
    points = chart.get_by_test_id("balance-point")
    expect(points).to_have_count(4)
    assert "9,980.05 USD" in points.last.locator("title").text_content()
    spend = page.get_by_test_id("spend-chart")
    assert spend.get_by_test_id("x-tick").count() >= 2
    titles = spend.get_by_test_id("spend-bar").locator("title").all_text_contents()
    assert any("40.00 USD net" in title for title in titles), titles
    expect(spend.get_by_test_id("spend-folded").first).to_be_attached()

    # A run over the last four days, then both reports from its page.
    run = services.reconciliation_start(
        account=account, period_start=now - timedelta(days=4), period_end=now
    )
    page.goto(f"/finance/reconciliation/{run.pk}/")
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded", timeout=60_000)
    run = ReconciliationRun.objects.get(pk=run.pk)
    assert run.counts["MATCHED"] == 1 and run.counts["UNEXPECTED_CHARGE"] == 1

    with page.expect_download() as csv_download:
        page.get_by_test_id("download-csv").click()
    text = open(csv_download.value.path(), encoding="utf-8", newline="").read()  # noqa: SIM115
    items, blocks = text.removeprefix("\ufeff").split("\r\n\r\n", 1)
    table = list(csv.DictReader(io.StringIO(items)))
    assert {row["Bucket"] for row in table} >= {"Matched", "Unexpected charges", "Deposits"}
    matched = next(row for row in table if row["Bucket"] == "Matched")
    assert matched["Order"] == str(order.pk) and Decimal(matched["Ledger amount (USD)"]) == -price
    assert Decimal(matched["Expected on the ledger (USD)"]) == -price
    totals = {row[0]: row[1:] for row in csv.reader(io.StringIO(blocks)) if row}
    assert Decimal(totals["Closing balance, last ledger row"][0]) == balance

    with page.expect_download() as xlsx_download:
        page.get_by_test_id("download-xlsx").click()
    with open(xlsx_download.value.path(), "rb") as stream:
        book = load_workbook(io.BytesIO(stream.read()))
    assert "Not charged" not in book.sheetnames  # an empty bucket has no sheet
    summary = book["Summary"]
    values = {row[0]: row[1:] for row in summary.iter_rows(values_only=True) if row[0]}
    assert values["Not charged"][4] == "none"
    assert values["Closing balance, last ledger row"][0] == float(balance)
    assert summary.column_dimensions["A"].width >= 40 and summary.column_dimensions["B"].width >= 20
    assert summary.page_setup.fitToWidth == 1
    sheet = list(book["Matched"].iter_rows(values_only=True))
    header, first = sheet[0], sheet[1]
    assert first[header.index("Order")] == order.pk  # a number
    assert first[header.index("Ledger amount (USD)")] == float(-price)
    assert book["Matched"].column_dimensions["A"].width >= len("Ledger id")
