"""Reconciliation runs built from stored ledger rows and orders: the double charge a naive resend
causes, what each order status leads us to expect, explanations kept across runs, and the
reports (CSV and XLSX) safe against formula injection."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from catalog.models import CurrencyRate, Offer
from finance import selectors, services
from finance.errors import FinanceError
from finance.exports import BOM, SUMMARY_SHEET
from finance.models import ItemExplanation, LedgerEntry, ReconciliationItem
from finance.reconciliation import Bucket, storing
from orders.models import Order, OrderStatus
from orders.services import order_create, order_resolve_unknown, order_submit
from reseller.core.models import AuditEvent
from suppliers.services import supplier_client
from tests.finance.conftest import reconcile_today, sync_ledger

pytestmark = pytest.mark.django_db

S = OrderStatus
HOSTILE = '=HYPERLINK("http://evil.example","pay")'


def test_a_lost_answer_resent_under_a_new_id_shows_as_a_supplier_charge_with_no_order(
    sandbox_account, sandbox_offer, fault
):
    """The sandbox charged twice for one order: a lost create-order answer, then (as a naive
    integration would do) the same purchase sent again under a NEW transactionId. Our books hold
    one order; the ledger two charges: one matches it, the other has no order of ours."""
    CurrencyRate.objects.update_or_create(
        currency="EUR", defaults={"usd_per_unit": Decimal("1.08")}
    )
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="EUR")
    order = order_create(offer=offer, max_unit_price=offer.price)[0]

    fault(account, endpoint="create-order", kind="lost_response")
    order = order_submit(order_id=order.pk)
    assert order.status == S.UNKNOWN  # the answer was lost; the order was created and charged

    # A naive integration gives up on the first id and buys again under a new one.
    supplier_client(account).create_order(offer.offer_id, order.price_sent, "naive-resend-1")
    order = order_resolve_unknown(order_id=order.pk)
    assert order.status == S.COMPLETED
    assert Order.objects.filter(account=account).count() == 1

    sync = sync_ledger(account)
    assert LedgerEntry.objects.filter(account=account, type="PURCHASE").count() == 2
    run = reconcile_today(account)

    assert run.status == "succeeded", run.message
    assert run.counts["MATCHED"] == 1
    assert run.counts["UNEXPECTED_CHARGE"] == 1
    assert run.counts["NOT_CHARGED"] == 0 and run.counts["CHAIN_BREAK"] == 0
    assert run.ties is True and run.ledger_synced_at == sync.finished_at
    matched = run.items.get(bucket="MATCHED")
    assert matched.order_id == order.pk and matched.variance == 0
    unexpected = run.items.get(bucket="UNEXPECTED_CHARGE")
    assert unexpected.order_id is None and unexpected.ledger_entry.type == "PURCHASE"
    assert f"possible double charge of order {order.pk}" in unexpected.note
    assert unexpected.ledger_entry_id != matched.ledger_entry_id
    totals = storing.run_totals(run)
    assert totals.unexpected_charges == -unexpected.ledger_entry.amount


def test_fx_drift_inside_the_tolerance_is_a_variance_with_the_implied_rate(
    sandbox_account, sandbox_offer
):
    CurrencyRate.objects.update_or_create(
        currency="EUR", defaults={"usd_per_unit": Decimal("1.07")}
    )  # sandbox: 1.08
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="EUR", skip=1)
    order = order_create(offer=offer, max_unit_price=offer.price)[0]
    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED
    sync_ledger(account)
    run = reconcile_today(account)
    item = run.items.get(bucket="MATCHED_WITH_VARIANCE")
    assert item.order_id == order.pk and item.variance > 0
    assert item.implied_fx == pytest.approx(Decimal("1.08"), abs=Decimal("0.001"))
    assert run.counts["UNEXPECTED_CHARGE"] == 0


@pytest.fixture
def offline_account(db):
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(
        name="books", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    now = timezone.now()
    offer = Offer.objects.create(
        account=account, offer_id=77, price=Decimal("10.00"), currency="RUB", first_seen_at=now,
        synced_at=now, units=3,
    )  # fmt: skip
    test_offer = Offer.objects.create(
        account=account, offer_id=999, price=Decimal("23.09"), currency="AMD", first_seen_at=now,
        synced_at=now,
    )  # fmt: skip
    return account, offer, test_offer


def make_order(
    account, offer, status, number, *, delivered=0, refunded=0, units=1, supplier_status=""
):
    now = timezone.now()
    return Order.objects.create(
        account=account,
        offer=offer,
        transaction_id=f"books-{number}",
        status=status,
        supplier_status=supplier_status,
        max_unit_price=Decimal("100"),
        quoted_price=offer.price,
        price_sent=offer.price,
        currency=offer.currency,
        units=units,
        units_delivered=delivered,
        units_refunded=refunded,
        submitted_at=now - dt.timedelta(minutes=10),
        final_at=now - dt.timedelta(minutes=9) if status not in (S.SUBMITTED,) else None,
    )


def test_what_each_order_status_leads_us_to_expect(offline_account):
    account, offer, test_offer = offline_account
    CurrencyRate.objects.update_or_create(
        currency="RUB", defaults={"usd_per_unit": Decimal("0.011")}
    )
    cases = {
        S.COMPLETED: (True, False, None),
        S.SUBMITTED: (True, False, None),
        S.UNKNOWN: (True, False, None),
        S.FAILED: (True, True, None),
        S.CANCELED: (True, True, None),
        S.REFUNDED: (True, True, None),
        S.REJECTED: (False, False, None),
        S.QUEUED: (False, False, None),
        S.ON_HOLD: (False, False, None),
    }
    orders = {
        status: make_order(account, offer, status, index, units=3)
        for index, status in enumerate(cases)
    }
    partial = make_order(account, offer, S.NEEDS_ATTENTION, 50, units=3, delivered=1, refunded=2)
    # The supplier delivered all three keys, but two could not be read yet: nothing comes back.
    unread = make_order(account, offer, S.NEEDS_ATTENTION, 53, units=3, delivered=1)
    resolved = make_order(account, offer, S.RESOLVED, 51, units=3, supplier_status="FAILED")
    free = make_order(account, test_offer, S.COMPLETED, 52)
    now = timezone.now()
    local, warnings = selectors.period_local_orders(
        account, start=now - dt.timedelta(hours=1), end=now + dt.timedelta(hours=1)
    )
    by_key = {order.key: order for order in local}
    for status, (charged, refunded, _) in cases.items():
        order = by_key[str(orders[status].pk)]
        assert (order.charged_expected, order.refund_expected) == (charged, refunded), status
        # units x round(price x rate, 2): 3 x round(10.00 x 0.011, 2) = 3 x 0.11
        assert order.expected_usd == Decimal("0.33") and order.amount == Decimal("30.00")
    part = by_key[str(partial.pk)]
    assert part.refund_expected and part.expected_refund_usd == Decimal("0.22")  # 2 units
    assert by_key[str(unread.pk)].charged_expected
    assert not by_key[str(unread.pk)].refund_expected
    assert by_key[str(resolved.pk)].refund_expected
    assert not by_key[str(free.pk)].charged_expected  # the test offer moves no money
    # AMD has no rate: the run says so.
    assert warnings == [
        "1 order in AMD had no exchange rate: expected at 0 USD. Set the AMD rate under "
        "Pricing and run again."
    ]


def test_a_run_without_a_period_is_refused(offline_account):
    account, _offer, _test = offline_account
    now = timezone.now()
    with pytest.raises(FinanceError, match="end after it starts"):
        services.reconciliation_start(account=account, period_start=now, period_end=now)


@pytest.fixture
def reconciled(sandbox_account, sandbox_offer, deposit, make_staff):
    """An account with a hostile deposit description, a purchase with no order of ours, a
    matched order, synced and reconciled once."""
    account = sandbox_account()
    deposit(account, "12.34", description=HOSTILE)
    offer = sandbox_offer(account, kind="key", currency="USD")
    order = order_create(offer=offer, max_unit_price=offer.price)[0]
    assert order_submit(order_id=order.pk).status == S.COMPLETED
    supplier_client(account).create_order(offer.offer_id, offer.price, "not-ours-1")
    sync_ledger(account)
    user = make_staff("finance")
    run = reconcile_today(account, by=user)
    assert run.status == "succeeded" and run.started_by == user
    return account, run, user, order


def test_explanations_are_audited_and_kept_by_later_runs(reconciled, client):
    account, run, user, _order = reconciled
    item = run.items.get(bucket="UNEXPECTED_CHARGE")
    explanation = services.item_explain(item=item, comment="Bought by hand on 1 July", by=user)
    assert explanation.item_key == item.item_key == f"L:{item.ledger_entry.supplier_id}"
    event = AuditEvent.objects.get(action="reconciliation.item_explained")
    assert event.data["comment"] == "Bought by hand on 1 July" and event.actor_name == user.username
    services.item_explain(item=item, comment="Bought by hand (ticket 42)", by=user)
    assert ItemExplanation.objects.filter(account=account).count() == 1
    latest = AuditEvent.objects.filter(action="reconciliation.item_explained").first()
    assert latest.data["previous_comment"] == "Bought by hand on 1 July"
    with pytest.raises(FinanceError):
        services.item_explain(item=item, comment="   ", by=user)

    later = reconcile_today(account, by=user)
    assert later.pk != run.pk
    same = later.items.get(bucket="UNEXPECTED_CHARGE")
    assert same.item_key == item.item_key
    assert selectors.run_explanation_texts(later) == {item.item_key: "Bought by hand (ticket 42)"}

    client.force_login(user)
    page = client.get(reverse("finance:reconciliation_detail", args=[later.pk]))
    html = page.content.decode()
    assert "Bought by hand (ticket 42)" in html and f"(in run #{run.pk})" in html


def read_csv(response) -> tuple[str, list[list[str]]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return body, list(csv.reader(io.StringIO(body.removeprefix(BOM))))


def test_the_csv_report_is_utf8_with_bom_and_neutralises_formulas(reconciled, client):
    account, run, user, _order = reconciled
    item = run.items.get(bucket="UNEXPECTED_CHARGE")
    services.item_explain(item=item, comment="+SUM(A1:A9) by hand", by=user)
    client.force_login(user)

    response = client.get(reverse("finance:reconciliation_report_csv", args=[run.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body, rows = read_csv(response)
    assert body.startswith(BOM)
    header = rows[0]
    assert header[0] == "Bucket"
    # The items, then a blank line and the totals and FX blocks.
    blank = rows.index([])
    by_bucket = {}
    for row in rows[1:blank]:
        # Buckets in words ("Deposits"), not codes.
        by_bucket.setdefault(row[0], []).append(dict(zip(header, row, strict=True)))
    blocks = rows[blank + 1 :]
    assert blocks[0][:2] == ["Totals (USD)", "Ledger"]
    labels = [row[0] for row in blocks if row]
    assert "FX: the supplier's rates against ours" in labels
    assert "Closing balance, last ledger row" in labels
    deposit = next(row for row in by_bucket["Deposits"] if row["Ledger amount (USD)"] == "12.34")
    assert deposit["Ledger description"] == "'" + HOSTILE
    unexpected = by_bucket["Unexpected charges"][0]
    assert unexpected["Explanation"] == "'+SUM(A1:A9) by hand"
    assert unexpected["Ledger amount (USD)"].startswith("-")  # a number, not neutralised
    float(unexpected["Ledger amount (USD)"])

    one = client.get(
        reverse("finance:reconciliation_report_csv", args=[run.pk]), {"bucket": "DEPOSIT"}
    )
    _body, deposit_rows = read_csv(one)
    assert deposit_rows[0][0] == "Item key" and len(deposit_rows) == 3  # header + two deposits
    assert AuditEvent.objects.filter(action="reconciliation.exported").count() == 2


def test_the_xlsx_report_opens_with_its_sheets_and_neutralised_text(reconciled, client):
    account, run, user, order = reconciled
    item = run.items.get(bucket="UNEXPECTED_CHARGE")
    services.item_explain(item=item, comment="@cmd explained", by=user)
    client.force_login(user)

    response = client.get(reverse("finance:reconciliation_report_xlsx", args=[run.pk]))
    assert response.status_code == 200 and ".xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    # Only the buckets that hold items have a sheet; the summary names the empty ones "none".
    filled = [bucket for bucket in Bucket if run.counts.get(bucket.value)]
    empty = [bucket for bucket in Bucket if not run.counts.get(bucket.value)]
    assert empty and book.sheetnames == [SUMMARY_SHEET] + [bucket.label for bucket in filled]
    summary = [row for row in book[SUMMARY_SHEET].iter_rows(values_only=True)]
    assert ("Account", account.name) in [row[:2] for row in summary]
    by_label = {row[0]: row for row in summary}
    for bucket in empty:
        assert by_label[bucket.label][5] == "none"
    for bucket in filled:
        assert by_label[bucket.label][5] == bucket.label
    # Fitted widths: the summary's label column is as wide as its longest label, column B wide
    # enough for the tie sentence; every sheet prints one page wide.
    summary_sheet = book[SUMMARY_SHEET]
    longest = max(len(str(row[0])) for row in summary if row and row[0])
    assert summary_sheet.column_dimensions["A"].width >= min(longest, 70)
    assert summary_sheet.column_dimensions["B"].width >= len(
        by_label["opening + deposits - purchases + refunds + other = closing"][1]
    )
    for sheet in book.worksheets:
        assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage

    deposits = list(book[Bucket.DEPOSIT.label].iter_rows(values_only=True))
    header = deposits[0]
    hostile = next(row for row in deposits[1:] if row[header.index("Ledger amount (USD)")] == 12.34)
    assert hostile[header.index("Ledger description")] == "'" + HOSTILE

    unexpected = list(book[Bucket.UNEXPECTED_CHARGE.label].iter_rows(values_only=True))
    header = unexpected[0]
    row = unexpected[1]
    assert row[header.index("Explanation")] == "'@cmd explained"
    amount = row[header.index("Ledger amount (USD)")]
    assert isinstance(amount, int | float) and amount < 0

    matched = list(book[Bucket.MATCHED.label].iter_rows(values_only=True))
    assert matched[1][matched[0].index("Order")] == order.pk  # a number, not text
    # The expected charge is signed as the ledger shows it: beside -x it reads -x, not +x.
    ledger_amount = matched[1][matched[0].index("Ledger amount (USD)")]
    expected = matched[1][matched[0].index("Expected on the ledger (USD)")]
    assert ledger_amount < 0 and expected < 0
    for sheet in book.worksheets:  # nothing became a formula
        for cells in sheet.iter_rows():
            for cell in cells:
                assert cell.data_type != "f"


def test_plain_exports_of_the_period(reconciled, client):
    account, run, user, order = reconciled
    client.force_login(user)
    today = timezone.localdate()
    params = {"account": account.pk, "start": today - dt.timedelta(days=1), "end": today}
    body, rows = read_csv(client.get(reverse("finance:finance_export_ledger"), params))
    assert body.startswith(BOM) and rows[0][0] == "Ledger id"
    assert len(rows) == 1 + LedgerEntry.objects.filter(account=account).count()
    assert "'" + HOSTILE in [row[5] for row in rows]

    body, rows = read_csv(client.get(reverse("finance:finance_export_orders"), params))
    assert rows[0][:3] == ["Order", "Transaction id", "Status"]
    assert rows[1][:3] == [str(order.pk), order.transaction_id, "COMPLETED"]

    response = client.get(reverse("finance:finance_export_ledger_xlsx"), params)
    assert response.status_code == 200 and ".xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    (sheet,) = book.worksheets
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][3] == "Amount (USD; a charge is negative)"
    stored = LedgerEntry.objects.filter(account=account).count()
    data = values[1 : 1 + stored]
    assert all(isinstance(row[0], int) and isinstance(row[3], int | float) for row in data)
    assert values[-1][:2] == ("Rows", stored)
    assert sheet.column_dimensions["F"].width >= 50 and sheet.page_setup.fitToWidth == 1

    # The ledger page links both downloads for the period it shows.
    page = client.get(
        reverse("finance:ledger_list"),
        {"account": account.pk, "start": params["start"], "end": params["end"]},
    ).content.decode()
    query = f"account={account.pk}&amp;start={params['start']}&amp;end={params['end']}"
    assert f"{reverse('finance:finance_export_ledger')}?{query}" in page
    assert f"{reverse('finance:finance_export_ledger_xlsx')}?{query}" in page
    assert "a charge is negative" in page


def test_the_plain_ledger_export_shows_a_row_that_came_without_its_balance(reconciled, client):
    account, _run, user, _order = reconciled
    now = timezone.now()
    LedgerEntry.objects.create(
        account=account,
        supplier_id=987_654,
        amount=Decimal("-1.5000"),
        type="PURCHASE",
        description="no balanceAfter",
        balance_after=None,
        created_at=now - dt.timedelta(minutes=1),
        fetched_at=now,
    )
    client.force_login(user)
    today = timezone.localdate()
    params = {"account": account.pk, "start": today - dt.timedelta(days=1), "end": today}
    _body, rows = read_csv(client.get(reverse("finance:finance_export_ledger"), params))
    row = next(row for row in rows if row[0] == "987654")
    assert row[2:5] == ["PURCHASE", "-1.50", ""]


def test_a_run_keeps_its_order_as_it_was_when_the_order_moves_on(reconciled):
    _account, run, _user, order = reconciled
    Order.objects.filter(pk=order.pk).update(status=S.REFUNDED)
    matched = ReconciliationItem.objects.get(run=run, bucket="MATCHED")
    assert matched.order_data["status"] == "COMPLETED"
    result = selectors.run_result(run)
    assert result.items[Bucket.MATCHED][0].order.status == "COMPLETED"
    assert result.totals.ties and result.counts[Bucket.UNEXPECTED_CHARGE] == 1


def test_a_resolved_order_expects_a_refund_exactly_when_the_orders_read_a_refund():
    """Finance reads the supplier's status words as the orders app does: a word the orders
    follow to a canceled, failed or refunded order is a refund owed on a resolved one too."""
    from orders.states import SUPPLIER_STATUSES

    for code, status in SUPPLIER_STATUSES.items():
        charged, refunded, units = selectors.order_expectation(
            status=S.RESOLVED, supplier_status=code, units=2, units_refunded=0, offer_id=1
        )
        expected = status in (S.CANCELED, S.FAILED, S.REFUNDED)
        assert (charged, refunded, units) == (True, expected, 2 if expected else 0), code
