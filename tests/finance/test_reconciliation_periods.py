"""Runs over real periods, as finance reviewed them: an order at midnight, explanations of rows
that moved, a break at the start of a period, late refunds, the FX rates a run used and a ledger
older than the period."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from catalog.models import CurrencyRate, Offer
from catalog.services import currency_rate_save
from finance import selectors, services
from finance.exports import SUMMARY_SHEET
from finance.models import JobStatus, LedgerEntry, LedgerSync
from orders.models import Order, OrderStatus
from suppliers.models import SupplierAccount

pytestmark = pytest.mark.django_db

S = OrderStatus
MIDNIGHT = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)


@pytest.fixture
def account(db):
    account = SupplierAccount.objects.create(
        name="edges", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    # The ledger was synced after everything below.
    LedgerSync.objects.create(
        account=account, status=JobStatus.SUCCEEDED, started_at=timezone.now(),
        finished_at=timezone.now(),
    )  # fmt: skip
    return account


@pytest.fixture
def offer(account):
    now = timezone.now()
    return Offer.objects.create(
        account=account, offer_id=5, price=Decimal("10.00"), currency="USD",
        first_seen_at=now, synced_at=now,
    )  # fmt: skip


def rows(account, *specs, opening=Decimal("100.00")):
    """Ledger rows (supplier id, amount, type, time) with a consistent balance chain."""
    balance = opening
    for supplier_id, amount, kind, at in specs:
        balance += Decimal(amount)
        LedgerEntry.objects.create(
            account=account, supplier_id=supplier_id, amount=Decimal(amount), type=kind,
            balance_after=balance, created_at=at, fetched_at=timezone.now(),
        )  # fmt: skip


def make_order(account, offer, number, submitted, final, status=S.COMPLETED, price="10.00"):
    return Order.objects.create(
        account=account, offer=offer, transaction_id=f"edge-{number}", status=status,
        max_unit_price=Decimal("100"), quoted_price=Decimal(price), price_sent=Decimal(price),
        currency=offer.currency, submitted_at=submitted, final_at=final,
    )  # fmt: skip


def run_period(account, start, end, **settings):
    run = services.reconciliation_start(
        account=account, period_start=start, period_end=end, **settings
    )
    return services.reconciliation_run(run.pk)


def test_an_order_at_midnight_is_neither_not_charged_nor_an_unexpected_charge(account, offer):
    seconds = dt.timedelta(seconds=1)
    order = make_order(
        account, offer, 1, MIDNIGHT - seconds / 2, MIDNIGHT + 3 * seconds, status=S.FAILED
    )
    rows(
        account,
        (1, "50.00", "DEPOSIT", MIDNIGHT - dt.timedelta(hours=1)),
        (2, "-10.00", "PURCHASE", MIDNIGHT + seconds * 0.4),
        (3, "10.00", "REFUND", MIDNIGHT + dt.timedelta(minutes=30)),
    )
    day = dt.timedelta(days=1)
    june = run_period(account, MIDNIGHT - day, MIDNIGHT)
    assert june.status == "succeeded", june.message
    assert june.counts["NOT_CHARGED"] == 0 and june.counts["MATCHED"] == 1
    matched = june.items.get(bucket="MATCHED")
    assert matched.order_id == order.pk and "ledger row 2 of the next period" in matched.note
    assert june.ledger_count == 1 and june.order_count == 1

    july = run_period(account, MIDNIGHT, MIDNIGHT + day)
    assert july.counts["UNEXPECTED_CHARGE"] == 0 and july.counts["UNEXPECTED_REFUND"] == 0
    assert july.counts["REFUND_MISSING"] == 0
    matched = july.items.get(bucket="MATCHED")
    assert f"order #{order.pk} of the previous period" in matched.note
    # The refund, half an hour after the failure (longer than the slack), is matched once.
    refunded = july.items.get(bucket="REFUND_MATCHED")
    assert refunded.order_id == order.pk
    assert july.ledger_count == 2 and july.order_count == 0 and july.refund_owed_count == 1
    assert july.ties


def test_an_explanation_of_a_row_that_moved_shows_as_earlier_and_does_not_count(
    account, offer, make_staff, client
):
    start = timezone.now() - dt.timedelta(hours=1)
    order = make_order(account, offer, 1, start, start + dt.timedelta(seconds=5))
    rows(account, (1, "-10.00", "PURCHASE", start + dt.timedelta(seconds=2)))
    end = start + dt.timedelta(minutes=30)
    user = make_staff("finance")
    first = run_period(account, start, end)
    services.item_explain(item=first.items.get(bucket="MATCHED"), comment="checked", by=user)
    assert selectors.explained_count(first) == 1

    # The order turns out never to have reached the supplier: the row is now unexpected.
    Order.objects.filter(pk=order.pk).update(status=S.REJECTED)
    later = run_period(account, start, end)
    item = later.items.get(bucket="UNEXPECTED_CHARGE")
    assert item.item_key == "L:1"
    assert selectors.explained_count(later) == 0
    earlier = f"explained earlier as Matched / order #{order.pk}: checked"
    assert selectors.run_explanation_texts(later) == {"L:1": earlier}
    client.force_login(user)
    html = client.get(
        reverse("finance:reconciliation_detail", args=[later.pk]), {"bucket": "UNEXPECTED_CHARGE"}
    ).content.decode()
    assert earlier in html and 'data-testid="explanation-earlier"' in html
    assert 'class="explained"' not in html and "0 items explained" in html
    csv_text = b"".join(
        client.get(reverse("finance:reconciliation_report_csv", args=[later.pk])).streaming_content
    ).decode("utf-8-sig")
    assert earlier in csv_text

    # Explained again as it is now, it counts.
    services.item_explain(item=item, comment="bought by hand", by=user)
    assert selectors.explained_count(later) == 1
    assert selectors.explained_count(first) == 0


def test_a_break_at_the_start_of_a_period_is_keyed_as_a_longer_period_keys_it(account):
    start = timezone.now() - dt.timedelta(hours=2)
    LedgerEntry.objects.create(
        account=account, supplier_id=1, amount=Decimal("100.00"), type="DEPOSIT",
        balance_after=Decimal("100.00"), created_at=start, fetched_at=timezone.now(),
    )  # fmt: skip
    # Row 2 (-5.00) never arrived.
    LedgerEntry.objects.create(
        account=account, supplier_id=3, amount=Decimal("-7.00"), type="ADJUSTMENT",
        balance_after=Decimal("88.00"), created_at=start + dt.timedelta(hours=1),
        fetched_at=timezone.now(),
    )  # fmt: skip
    end = start + dt.timedelta(hours=1, minutes=30)
    short = run_period(account, start + dt.timedelta(minutes=30), end)
    long = run_period(account, start - dt.timedelta(minutes=30), end)
    keys = [run.items.get(bucket="CHAIN_BREAK").item_key for run in (short, long)]
    assert keys == ["B:1-3", "B:1-3"]
    assert short.ties is False and short.tie_difference == Decimal("-5.00")


def test_the_run_keeps_and_shows_its_fx_rates_and_refund_window(account, client_as):
    CurrencyRate.objects.update_or_create(
        currency="RUB", defaults={"usd_per_unit": Decimal("0.011")}
    )
    now = timezone.now()
    rub = Offer.objects.create(
        account=account, offer_id=77, price=Decimal("1000.00"), currency="RUB",
        first_seen_at=now, synced_at=now,
    )  # fmt: skip
    start = now - dt.timedelta(hours=1)
    make_order(account, rub, 1, start, start + dt.timedelta(seconds=5), price="1000.00")
    rows(account, (1, "-11.00", "PURCHASE", start + dt.timedelta(seconds=1)))
    run = run_period(account, start, start + dt.timedelta(minutes=30))
    assert run.engine_settings["fx_rates"] == {"RUB": "0.011"}
    assert run.engine_settings["refund_window_seconds"] == "86400.0"
    assert run.counts["MATCHED"] == 1

    # A new rate from now on: the period's order was sent at the old one, so a rerun of the
    # period gives the same answer.
    currency_rate_save(currency="RUB", usd_per_unit=Decimal("0.012"))
    again = run_period(account, start, start + dt.timedelta(minutes=30))
    assert again.engine_settings["fx_rates"] == {"RUB": "0.011"}
    assert again.counts == run.counts and again.totals == run.totals

    client = client_as("finance")
    html = client.get(reverse("finance:reconciliation_detail", args=[run.pk])).content.decode()
    assert "RUB 0.011" in html and "the rates valid when the orders were sent" in html
    assert "refund window 24 h after the order failed" in html
    response = client.get(reverse("finance:reconciliation_report_xlsx", args=[run.pk]))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    summary = {row[0]: row[1:] for row in book[SUMMARY_SHEET].iter_rows(values_only=True)}
    assert summary["FX rate RUB"][0] == pytest.approx(0.011)
    assert summary["Refund window after failure (hours)"][0] == 24


def test_a_ledger_older_than_the_period_end_is_said_plainly(account, offer, client_as):
    start = timezone.now() - dt.timedelta(hours=3)
    LedgerSync.objects.filter(account=account).update(
        started_at=start + dt.timedelta(hours=1), finished_at=start + dt.timedelta(hours=1)
    )
    make_order(
        account, offer, 1, start + dt.timedelta(minutes=10), start + dt.timedelta(minutes=11)
    )
    make_order(account, offer, 2, start + dt.timedelta(hours=2), start + dt.timedelta(hours=2))
    run = run_period(account, start, start + dt.timedelta(hours=3))
    assert "older than the end of the period" in run.ledger_warning
    notes = {item.order_key: item.note for item in run.items.filter(bucket="NOT_CHARGED")}
    first, second = sorted(notes, key=int)
    assert not notes[first].startswith("UNSYNCED")
    assert notes[second].startswith("UNSYNCED: the ledger was last synced at")

    client = client_as("finance")
    html = client.get(reverse("finance:reconciliation_detail", args=[run.pk])).content.decode()
    assert 'data-testid="ledger-warning"' in html and "Ledger out of date." in html
    listing = client.get(reverse("finance:reconciliation_list") + f"?account={account.pk}")
    assert "ledger out of date" in listing.content.decode()
    response = client.get(reverse("finance:reconciliation_report_xlsx", args=[run.pk]))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    summary = {row[0]: row[1:] for row in book[SUMMARY_SHEET].iter_rows(values_only=True)}
    assert "older than the end of the period" in summary["LEDGER OUT OF DATE"][0]


def test_a_run_right_after_a_ledger_sync_shows_no_ledger_warning(account, offer, client_as):
    """The default period ends now; the ledger was synced 30 s ago: that is as fresh as the
    schedule keeps it, so no banner (the orders of the last 30 s are still marked UNSYNCED)."""
    now = timezone.now()
    start = now - dt.timedelta(hours=1)
    LedgerSync.objects.filter(account=account).update(
        started_at=now - dt.timedelta(seconds=30), finished_at=now - dt.timedelta(seconds=25)
    )
    make_order(
        account, offer, 1, start + dt.timedelta(minutes=10), start + dt.timedelta(minutes=11)
    )
    run = run_period(account, start, now)
    assert run.ledger_warning == ""
    html = client_as("finance").get(reverse("finance:reconciliation_detail", args=[run.pk]))
    assert 'data-testid="ledger-warning"' not in html.content.decode()

    # A period ending an hour later than the ledger does is out of date, however recent the
    # sync: the warning is about the period, not about the clock.
    later_end = now + dt.timedelta(hours=1)
    synced_until, warning = selectors.ledger_staleness(account, end=later_end, now=later_end)
    assert synced_until is not None and "older than the end of the period" in warning
    # Within the sync interval of the period's end: no warning either.
    edge = now + dt.timedelta(minutes=10)
    assert selectors.ledger_staleness(account, end=edge, now=edge)[1] == ""


def test_a_rate_table_seven_percent_off_shows_as_fx_variance_on_the_page_and_downloads(
    account, client_as
):
    """Our orders were sent at 0.0100 USD per RUB; the supplier converts at 0.0107. Every
    charge still pairs with its order, and the difference is FX variance, on the run's page,
    in the CSV and in the XLSX."""
    now = timezone.now()
    rub = Offer.objects.create(
        account=account, offer_id=78, price=Decimal("1000.00"), currency="RUB",
        first_seen_at=now, synced_at=now,
    )  # fmt: skip
    start = now - dt.timedelta(hours=2)
    specs = []
    for number, price in enumerate(("1000.00", "1000.00", "2500.00", "1000.00"), start=1):
        sent = start + dt.timedelta(minutes=10 * number)
        order = make_order(account, rub, number, sent, sent + dt.timedelta(seconds=5), price=price)
        Order.objects.filter(pk=order.pk).update(
            usd_rate=Decimal("0.0100"), usd_cost=(Decimal(price) * Decimal("0.0100"))
        )
        charge = (Decimal(price) * Decimal("0.0107")).quantize(Decimal("0.01"))
        specs.append((number, str(-charge), "PURCHASE", sent + dt.timedelta(seconds=2)))
    rows(account, *specs)
    run = run_period(account, start, now)
    assert run.counts["MATCHED"] == 4
    assert run.counts["UNEXPECTED_CHARGE"] == run.counts["NOT_CHARGED"] == 0
    (rate,) = run.observed_rates
    assert rate.applied and rate.currency == "RUB" and rate.fx_variance == Decimal("3.85")
    assert rate.table == Decimal("0.01") and rate.difference_pct == Decimal("7.00")

    client = client_as("finance")
    html = client.get(reverse("finance:reconciliation_detail", args=[run.pk])).content.decode()
    assert 'data-testid="observed-rates"' in html and "supplier&#x27;s rate" in html
    assert 'data-testid="fx-variance">3.85<' in html
    response = client.get(reverse("finance:reconciliation_report_csv", args=[run.pk]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    fx = next(line for line in text.splitlines() if line.startswith("RUB,"))
    assert fx.split(",")[6] == "3.85"
    response = client.get(reverse("finance:reconciliation_report_xlsx", args=[run.pk]))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    summary = {row[0]: row[1:] for row in book[SUMMARY_SHEET].iter_rows(values_only=True)}
    assert summary["RUB"][5] == pytest.approx(3.85)
    purchases_fx = next(  # the purchases' block comes before the refunds'
        row[1]
        for row in book[SUMMARY_SHEET].iter_rows(values_only=True)
        if row[0] == "  of which FX: supplier's rate vs ours"
    )
    assert purchases_fx == pytest.approx(3.85)
