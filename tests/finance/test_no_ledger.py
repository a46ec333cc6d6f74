"""Finance for a supplier without balance or ledger endpoints (CodeGames): the spend of our own
orders, clearly labelled; no runway, ledger sync or reconciliation; a balance entered by hand,
audited, which the low-balance alert judges and names."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import CurrencyRate, Offer
from finance import selectors, services
from finance.errors import FinanceError
from finance.models import BalanceAlert, BalanceSnapshot
from finance.tasks import snapshot_all_balances, sync_all_ledgers
from orders.models import Order
from orders.states import OrderStatus as S
from reseller.core.models import AuditEvent
from suppliers.models import SupplierAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def codegames():
    account = SupplierAccount.objects.create(
        name="CG", kind="codegames", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    now = timezone.now()
    offer = Offer.objects.create(
        account=account, offer_id=2061, price=Decimal("500"), currency="KZT",
        first_seen_at=now, synced_at=now,
    )  # fmt: skip
    CurrencyRate.objects.update_or_create(
        currency="KZT", defaults={"usd_per_unit": Decimal("0.002")}
    )
    return account, offer


def order(account, offer, number, status, *, units=1, delivered=0, refunded=0):
    now = timezone.now()
    return Order.objects.create(
        account=account, offer=offer, transaction_id=f"cg-{number}", status=status,
        max_unit_price=Decimal("600"), quoted_price=offer.price, price_sent=offer.price,
        currency=offer.currency, units=units, units_delivered=delivered,
        units_refunded=refunded,
        submitted_at=now - dt.timedelta(minutes=5), final_at=now,
    )  # fmt: skip


def test_spend_comes_from_our_own_orders(codegames):
    account, offer = codegames
    order(account, offer, 1, S.COMPLETED)  # 1.00 USD
    order(account, offer, 2, S.COMPLETED, units=5, delivered=3, refunded=2)  # 5.00, 2.00 back
    order(account, offer, 3, S.FAILED)  # 1.00, all back
    order(account, offer, 4, S.REJECTED)  # never charged
    now = timezone.now()
    days, warnings = selectors.spend_per_day_from_orders(
        account, start=now - dt.timedelta(days=1), end=now + dt.timedelta(minutes=1)
    )
    assert warnings == []
    assert sum(day.purchases for day in days) == Decimal("7.00")
    assert sum(day.refunds for day in days) == Decimal("3.00")
    assert sum(day.net for day in days) == Decimal("4.00")
    assert all(day.deposits == 0 for day in days)


def test_the_overview_labels_the_spend_and_offers_no_ledger_runway_or_reconciliation(
    client_as, codegames
):
    account, offer = codegames
    order(account, offer, 1, S.COMPLETED)
    client = client_as("finance")
    html = client.get(f"/finance/?account={account.pk}").content.decode()
    assert "from our own orders only (CodeGames has no ledger)" in html
    assert "Sync the ledger now" not in html and "Take a snapshot now" not in html
    assert 'data-testid="runway-card"' not in html
    assert "Record the balance" in html
    ledger = client.get(f"/finance/ledger/?account={account.pk}").content.decode()
    assert "no transaction history endpoint" in ledger and "Sync the ledger now" not in ledger
    runs = client.get(f"/finance/reconciliation/?account={account.pk}").content.decode()
    assert "Run the reconciliation" not in runs and "no supplier ledger" in runs


def test_ledger_sync_reconciliation_runway_and_snapshots_are_refused(codegames):
    account, _offer = codegames
    with pytest.raises(FinanceError, match="no ledger"):
        services.ledger_sync_start(account=account)
    now = timezone.now()
    with pytest.raises(FinanceError, match="nothing to reconcile"):
        services.reconciliation_start(
            account=account, period_start=now - dt.timedelta(days=1), period_end=now
        )
    with pytest.raises(FinanceError, match="runway"):
        services.balance_alert_rule_save(
            account=account, threshold_usd=None, runway_days=Decimal("3")
        )
    with pytest.raises(FinanceError, match="no balance"):
        services.balance_snapshot_take(account=account)
    # The schedule skips it: nothing is asked of a supplier that has no such endpoint.
    snapshot_all_balances()
    sync_all_ledgers()
    assert not BalanceSnapshot.objects.filter(account=account).exists()


def test_a_balance_entered_by_hand_is_audited_and_named_by_the_alert(
    client_as, make_staff, codegames
):
    account, _offer = codegames
    services.balance_alert_rule_save(
        account=account, threshold_usd=Decimal("100"), runway_days=None
    )
    client = client_as("finance")
    response = client.post(
        "/finance/balance/enter/",
        {"account": account.pk, "balance": "42.50", "note": "partner site"},
    )
    assert response.status_code == 302
    snapshot = BalanceSnapshot.objects.get(account=account)
    assert snapshot.trigger == "entered" and snapshot.balance == Decimal("42.50")
    assert snapshot.note == "partner site" and snapshot.taken_by is not None
    event = AuditEvent.objects.get(action="finance.balance_entered")
    assert event.data["balance"] == "42.50"
    alert = BalanceAlert.objects.get(account=account, cleared_at__isnull=True)
    who = snapshot.taken_by.get_username()
    assert "below the threshold of 100.00 USD" in alert.message
    assert f"entered by hand by {who} at" in alert.message
    html = client.get(f"/finance/?account={account.pk}").content.decode()
    assert f"Entered by hand by {who}" in html

    # Bad input loses nothing and says why.
    response = client.post("/finance/balance/enter/", {"account": account.pk, "balance": "lots"})
    assert response.status_code == 302
    assert BalanceSnapshot.objects.filter(account=account).count() == 1


def test_a_balance_cannot_be_entered_for_a_supplier_that_reports_it():
    account = SupplierAccount.objects.create(
        name="GD", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    with pytest.raises(FinanceError, match="comes from its supplier"):
        services.balance_entry_record(account=account, balance=Decimal("10"))


def test_spend_is_each_order_at_the_rate_it_was_sent_at_not_todays(client_as, codegames):
    """A rate change today does not reprice yesterday's orders: an order sent with its USD cost
    keeps that cost, and one sent without it is priced at the rate valid when it was sent."""
    account, offer = codegames  # KZT at 0.002 USD until now
    kept = order(account, offer, 1, S.COMPLETED)
    Order.objects.filter(pk=kept.pk).update(usd_rate=Decimal("0.003"), usd_cost=Decimal("1.50"))
    order(account, offer, 2, S.COMPLETED)  # no cost kept: 500 KZT at 0.002 = 1.00 USD
    CurrencyRate.objects.create(
        currency="KZT", usd_per_unit=Decimal("0.004"), valid_from=timezone.now()
    )  # today's rate would make each 2.00 USD
    now = timezone.now()
    days, warnings = selectors.spend_per_day_from_orders(
        account, start=now - dt.timedelta(days=1), end=now + dt.timedelta(minutes=1)
    )
    assert warnings == []
    assert sum(day.purchases for day in days) == Decimal("2.50")
    html = client_as("finance").get(f"/finance/?account={account.pk}").content.decode()
    assert "today's exchange rate" not in html
    assert "The USD cost each order was sent at" in html


def test_partial_deliveries_recorded_before_refunded_units_were_kept_expect_the_rest_back(
    codegames,
):
    """The migration's backfill: an earlier partial delivery records its missing units as
    refunded, as finance expected them before; other orders are left as they are."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "orders.migrations.0014_units_refunded_of_earlier_partial_deliveries"
    )
    account, offer = codegames
    partial = order(account, offer, 1, S.COMPLETED, units=5, delivered=3)
    attention = order(account, offer, 2, S.NEEDS_ATTENTION, units=4, delivered=1)
    whole = order(account, offer, 3, S.COMPLETED, units=2, delivered=2)
    nothing_read = order(account, offer, 4, S.COMPLETED, units=2, delivered=0)
    recorded = order(account, offer, 5, S.COMPLETED, units=5, delivered=3, refunded=1)
    failed = order(account, offer, 6, S.FAILED, units=3, delivered=1)
    migration.earlier_partial_deliveries_record_their_refund(apps, None)
    refunded = {
        row.pk: row.units_refunded
        for row in Order.objects.filter(account=account).only("units_refunded")
    }
    assert refunded == {
        partial.pk: 2,
        attention.pk: 3,
        whole.pk: 0,
        nothing_read.pk: 0,
        recorded.pk: 1,
        failed.pk: 0,
    }
