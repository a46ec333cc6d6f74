"""A reconciliation run as finance sees it: every item stored with its ledger rows, order and
chain-break figures, all or nothing; explanations carried to later runs by row and by order;
the run page reading one page of a bucket however large the run."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Offer
from finance import reconciliation as engine
from finance import selectors, services
from finance.exports import reconciliation_rows
from finance.models import ItemExplanation, LedgerEntry, ReconciliationItem
from finance.reconciliation import Bucket, storing
from orders.models import Order, OrderStatus
from suppliers.models import SupplierAccount
from tests.finance.conftest import reconcile_today

pytestmark = pytest.mark.django_db

S = OrderStatus


@pytest.fixture
def books(db):
    """An account with a ledger and orders of the last hour: `matched` orders each charged once,
    one order never charged, one failed order whose refund never came, a charge with no order,
    and a row lost on the way (a chain break)."""

    def build(matched: int = 3):
        account = SupplierAccount.objects.create(
            name=f"books-{matched}", base_url="http://127.0.0.1:9", shop_token="t" * 32
        )
        now = timezone.now()
        offer = Offer.objects.create(
            account=account, offer_id=5, price=Decimal("2.50"), currency="USD",
            first_seen_at=now, synced_at=now,
        )  # fmt: skip
        start = now - dt.timedelta(minutes=50)
        balance = Decimal("1000.00")
        rows = [(1, Decimal("1000.00"), "DEPOSIT", start)]
        orders = {}
        for number in range(matched + 2):
            submitted = start + dt.timedelta(seconds=10 * number + 5)
            status = S.FAILED if number == matched + 1 else S.COMPLETED
            orders[number] = Order.objects.create(
                account=account, offer=offer, transaction_id=f"books-{matched}-{number}",
                status=status, max_unit_price=Decimal("5"), quoted_price=Decimal("2.50"),
                price_sent=Decimal("2.50"), currency="USD", submitted_at=submitted,
                final_at=submitted + dt.timedelta(seconds=4),
            )  # fmt: skip
            if number != matched:  # this one the supplier never charged
                rows.append((100 + number, Decimal("-2.50"), "PURCHASE", submitted))
        late = start + dt.timedelta(minutes=40)
        rows.append((900, Decimal("-7.00"), "PURCHASE", late))  # no order of ours
        rows.append((901, Decimal("-1.00"), "PURCHASE", late + dt.timedelta(seconds=1)))  # lost
        rows.append((902, Decimal("20.00"), "DEPOSIT", late + dt.timedelta(seconds=2)))
        for supplier_id, amount, kind, at in rows:
            balance = balance + amount if supplier_id != 1 else amount
            if supplier_id == 901:
                continue
            LedgerEntry.objects.create(
                account=account, supplier_id=supplier_id, amount=amount, type=kind,
                description=f"row {supplier_id}", balance_after=balance,
                created_at=at, fetched_at=now,
            )  # fmt: skip
        return account, orders

    return build


def test_a_run_stores_every_item_in_bucket_order_with_its_rows_and_order(books):
    account, orders = books(matched=3)
    run = reconcile_today(account)
    assert run.status == "succeeded", run.message

    items = list(run.items.order_by("position"))
    assert [item.position for item in items] == list(range(len(items)))
    assert len(items) == sum(run.counts.values())
    stored = dict(run.items.order_by().values_list("bucket").annotate(n=Count("pk")))
    assert stored == {bucket: n for bucket, n in run.counts.items() if n}
    order_of_buckets = [bucket.value for bucket in Bucket]
    positions = [order_of_buckets.index(item.bucket) for item in items]
    assert positions == sorted(positions)

    entries = {entry.supplier_id: entry for entry in LedgerEntry.objects.filter(account=account)}
    (gap,) = [item for item in items if item.bucket == "CHAIN_BREAK"]
    assert (gap.previous_entry_id, gap.ledger_entry_id) == (entries[900].pk, entries[902].pk)
    assert gap.item_key == "B:900-902" and gap.gap == Decimal("-1.00")
    assert (gap.expected_balance, gap.actual_balance) == (Decimal("1003.00"), Decimal("1002.00"))
    assert gap.order_id is None and gap.order_data == {}

    matched = next(item for item in items if item.bucket == "MATCHED")
    order = orders[0]
    assert matched.ledger_entry_id == entries[100].pk and matched.order_id == order.pk
    assert matched.item_key == "L:100" and matched.order_key == str(order.pk)
    assert matched.order_data["transaction_id"] == order.transaction_id
    assert matched.order_data["expected_usd"] == "2.50" and matched.expected_usd == Decimal("2.5")
    assert matched.variance == 0 and matched.previous_entry_id is None

    unexpected = next(item for item in items if item.bucket == "UNEXPECTED_CHARGE")
    assert unexpected.ledger_entry_id == entries[900].pk and unexpected.order_key == ""
    never = next(item for item in items if item.bucket == "NOT_CHARGED")
    assert never.item_key == f"O:{orders[3].pk}" and never.ledger_entry_id is None
    owed = next(item for item in items if item.bucket == "REFUND_MISSING")
    assert owed.item_key == f"R:{orders[4].pk}" and owed.order_data["status"] == "FAILED"

    # The stored run gives the reports the same result the engine found.
    again = selectors.run_result(run)
    assert {bucket.value: n for bucket, n in again.counts.items()} == run.counts
    # Row 901 (-1.00) never arrived: the totals do not tie, by exactly that row.
    assert not again.totals.ties and run.ties is False
    assert again.totals.tie_difference == Decimal("-1.00")
    assert "TOTALS DO NOT TIE by -1.00 USD" in run.message


def test_the_item_columns_are_listed_once_for_every_column_of_the_model():
    model = [
        field.name for field in ReconciliationItem._meta.concrete_fields if not field.primary_key
    ]
    assert sorted(storing.ITEM_COLUMNS) == sorted(model)


def test_a_stored_run_reads_back_every_column_the_engine_gave(books, monkeypatch):
    """Written and read by the one column map: the whole-run export of the stored run (every
    column of every item) is the export of what the engine found."""
    account, _orders = books(matched=3)
    found = []
    reconcile = engine.reconcile

    def keep(*args, **kwargs):
        found.append(reconcile(*args, **kwargs))
        return found[-1]

    monkeypatch.setattr(engine, "reconcile", keep)
    run = reconcile_today(account)
    assert run.status == "succeeded", run.message
    (result,) = found
    again = selectors.run_result(run)
    assert list(reconciliation_rows(again)) == list(reconciliation_rows(result))
    assert again.totals == result.totals and again.counts == result.counts


def test_a_run_that_fails_while_storing_its_items_keeps_none_of_them(books, monkeypatch):
    account, _orders = books(matched=6)
    # One row per statement (SQLite), so some rows are written before the failure.
    monkeypatch.setattr(storing, "ITEM_BATCH", 1)
    snapshot = storing.order_snapshot
    calls = {"n": 0}

    def failing_snapshot(order):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("the disk is full")
        return snapshot(order)

    monkeypatch.setattr(storing, "order_snapshot", failing_snapshot)
    with pytest.raises(RuntimeError, match="the disk is full"):
        reconcile_today(account)
    run = account.reconciliation_runs.get()
    assert run.status == "failed" and "the disk is full" in run.message
    assert not ReconciliationItem.objects.filter(run=run).exists()

    monkeypatch.setattr(storing, "order_snapshot", snapshot)
    again = reconcile_today(account)
    assert again.status == "succeeded" and again.items.count() == sum(again.counts.values())


def test_explanations_are_carried_to_a_later_run_by_row_by_order_and_by_refund(
    books, make_staff, client
):
    account, orders = books(matched=3)
    user = make_staff("finance")
    first = reconcile_today(account, by=user)
    for bucket, comment in (
        ("UNEXPECTED_CHARGE", "Bought by hand"),
        ("NOT_CHARGED", "Supplier confirmed: free"),
        ("REFUND_MISSING", "Refund promised for Monday"),
        ("CHAIN_BREAK", "Row 901 is a fee the API hides"),
    ):
        services.item_explain(item=first.items.get(bucket=bucket), comment=comment, by=user)

    later = reconcile_today(account, by=user)
    texts = selectors.run_explanation_texts(later)
    assert texts == {
        "L:900": "Bought by hand",
        f"O:{orders[3].pk}": "Supplier confirmed: free",
        f"R:{orders[4].pk}": "Refund promised for Monday",
        "B:900-902": "Row 901 is a fee the API hides",
    }
    assert selectors.explained_count(later) == 4
    owed = later.items.get(bucket="REFUND_MISSING")
    only = selectors.run_explanations(later, keys=[owed.item_key])
    assert list(only) == [owed.item_key] and only[owed.item_key].run_id == first.pk

    client.force_login(user)
    url = reverse("finance:reconciliation_detail", args=[later.pk])
    html = client.get(url, {"bucket": "REFUND_MISSING"}).content.decode()
    assert "Refund promised for Monday" in html and f"(in run #{first.pk})" in html
    assert "4 items explained" in html
    # Another account's explanation of the same key is not this account's.
    other = SupplierAccount.objects.create(
        name="other", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    ItemExplanation.objects.create(
        account=other, item_key="L:100", comment="not ours", bucket="MATCHED",
        explained_at=timezone.now(),
    )  # fmt: skip
    assert selectors.explained_count(later) == 4


def test_the_run_page_reads_one_page_of_a_bucket_however_large(books, make_staff, client):
    account, _orders = books(matched=120)
    run = reconcile_today(account)
    assert run.counts["MATCHED"] == 121  # the failed order was charged too
    last = run.items.filter(bucket="MATCHED").order_by("position").last()
    user = make_staff("finance")
    services.item_explain(item=last, comment="Checked on the statement", by=user)
    client.force_login(user)
    url = reverse("finance:reconciliation_detail", args=[run.pk])

    statements = {}
    for page in (1, 3):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, {"bucket": "MATCHED", "page": page})
        html = response.content.decode()
        assert html.count('data-testid="item-row"') == (50 if page == 1 else 21)
        statements[page] = [query["sql"] for query in captured.captured_queries]
        # The bucket's size comes from the run, not from counting its items again.
        counting = f'SELECT COUNT(*) AS "__count" FROM "{ReconciliationItem._meta.db_table}"'
        assert not [sql for sql in statements[page] if sql.startswith(counting)]
    assert len(statements[1]) == len(statements[3])
    assert "Checked on the statement" in html and "1 item explained" in html
    assert f"#{last.ledger_entry.supplier_id}</a>" in html


def test_the_engine_and_the_stored_run_agree_on_realistic_traffic(db):
    """A day of generated traffic stored as rows and run through the worker's service."""
    from tests.finance_engine.realistic import generate

    account = SupplierAccount.objects.create(
        name="traffic", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    traffic = generate(300, seed=3, days=1)
    now = timezone.now()
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            account=account,
            supplier_id=entry.id,
            amount=entry.amount,
            type=entry.type,
            description=entry.description,
            balance_after=entry.balance_after,
            created_at=entry.created_at,
            fetched_at=now,
        )  # fmt: skip
        for entry in traffic.ledger
    )
    start = traffic.ledger[0].created_at - dt.timedelta(hours=1)
    run = services.reconciliation_start(
        account=account, period_start=start, period_end=start + dt.timedelta(days=2)
    )
    run = services.reconciliation_run(run.pk)
    assert run.status == "succeeded", run.message
    # No orders stored: every charge is unexpected, every row lands once, the chain breaks show.
    expected = engine.reconcile(
        traffic.ledger, [], engine.Settings(period_start=start, period_end=run.period_end)
    )
    assert run.counts == {bucket.value: n for bucket, n in expected.counts.items()}
    assert run.items.count() == sum(run.counts.values())
    assert run.counts["CHAIN_BREAK"] == len(traffic.removed_rows) > 0
