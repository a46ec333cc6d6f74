"""Balance snapshots, spend and runway, and low-balance alerts: raised once per period, emailed
once, cleared on recovery; postpaid accounts show what they owe instead of a runway."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from finance import selectors, services
from finance.errors import BalanceUnavailableForAccount
from finance.models import BalanceAlert, BalanceSnapshot, JobStatus, LedgerEntry, LedgerSync
from reseller.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_a_snapshot_stores_what_the_balance_endpoint_said(sandbox_account, make_staff):
    account = sandbox_account(balance="1234.56", balance_profile="FIAT")
    user = make_staff("finance")
    snapshot = services.balance_snapshot_take(account=account, by=user)
    assert snapshot.balance == Decimal("1234.56")
    assert snapshot.draft_balance == 0 and snapshot.is_postpaid is False
    assert (snapshot.balance_profile, snapshot.currency) == ("FIAT", "USD")
    assert snapshot.trigger == "manual" and snapshot.taken_by == user


def test_an_unreachable_supplier_is_a_clear_error_and_stores_nothing(db):
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(
        name="nowhere",
        base_url="http://127.0.0.1:9",
        shop_token="t" * 32,
        connect_timeout_seconds=1,
    )
    with pytest.raises(BalanceUnavailableForAccount, match="did not give the balance"):
        services.balance_snapshot_take(account=account)
    assert not BalanceSnapshot.objects.exists()


def test_the_scheduled_task_snapshots_every_account_once(sandbox_account, settings):
    from finance import tasks

    first, second = sandbox_account(), sandbox_account()
    tasks.take_balance_snapshot.run(first.pk)
    tasks.take_balance_snapshot.run(first.pk)  # a duplicate delivery moments later: skipped
    tasks.take_balance_snapshot.run(second.pk)
    assert BalanceSnapshot.objects.filter(account=first).count() == 1
    assert BalanceSnapshot.objects.filter(account=second, trigger="schedule").count() == 1


def ledger_row(account, supplier_id, amount, kind, when, balance="0"):
    return LedgerEntry.objects.create(
        account=account,
        supplier_id=supplier_id,
        amount=Decimal(amount),
        type=kind,
        balance_after=Decimal(balance),
        created_at=when,
        fetched_at=when,
    )


def test_spend_rate_and_runway_come_from_the_ledger(sandbox_account):
    account = sandbox_account(balance="300")
    now = timezone.now()
    assert selectors.spend_rate(account, now=now) is None  # no ledger: unknown
    ledger_row(account, 1, "1000", "DEPOSIT", now - dt.timedelta(days=30))
    ledger_row(account, 2, "-500", "PURCHASE", now - dt.timedelta(days=20))  # outside 7 days
    ledger_row(account, 3, "-80", "PURCHASE", now - dt.timedelta(days=3))
    ledger_row(account, 4, "-60", "PURCHASE", now - dt.timedelta(days=1))
    ledger_row(account, 5, "10", "REFUND", now - dt.timedelta(hours=5))
    ledger_row(account, 6, "500", "DEPOSIT", now - dt.timedelta(hours=2))  # not spend
    assert selectors.spend_rate(account, now=now) == Decimal("18.57")  # (80 + 60 - 10) / 7
    assert selectors.runway_days(Decimal("300"), Decimal("18.57")) == Decimal("16.2")
    assert selectors.runway_days(Decimal("300"), Decimal("0")) is None

    days = selectors.spend_per_day(
        account,
        start=timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
        - dt.timedelta(days=6),
        end=timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
        + dt.timedelta(days=1),
    )
    assert len(days) == 7 and days[0].day == timezone.localdate()
    assert sum(day.purchases for day in days) == Decimal("140.00")
    assert sum(day.refunds for day in days) == Decimal("10.00")
    assert sum(day.net for day in days) == Decimal("130.00")


def test_a_low_balance_alert_is_raised_and_emailed_once_per_period_then_cleared(
    sandbox_account, deposit, make_staff, client
):
    finance, admin = make_staff("finance"), make_staff("admin")
    operator = make_staff("operator")
    account = sandbox_account(balance="100")
    services.balance_alert_rule_save(
        account=account, threshold_usd=Decimal("150"), runway_days=None, by=finance
    )
    assert AuditEvent.objects.filter(action="finance.alert_rule_saved").count() == 1

    now = timezone.now()
    services.balance_snapshot_take(account=account, trigger="schedule", now=now)
    alert = BalanceAlert.objects.get(account=account)
    assert alert.is_open and "below the threshold of 150.00 USD" in alert.message
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted([finance.email, admin.email])
    assert operator.email not in mail.outbox[0].to
    assert "Low balance" in mail.outbox[0].subject

    # Every later snapshot while it stays low: the same alert, no new email.
    for minutes in (5, 10, 15):
        services.balance_snapshot_take(
            account=account, trigger="schedule", now=now + dt.timedelta(minutes=minutes)
        )
    assert BalanceAlert.objects.filter(account=account).count() == 1
    assert len(mail.outbox) == 1

    # The banner: finance and admins see it, operators do not.
    client.force_login(finance)
    page = client.get(reverse("dashboard:dashboard")).content.decode()
    assert "Low balance on" in page and "alert alert-warning" in page
    client.force_login(operator)
    assert "Low balance on" not in client.get(reverse("dashboard:dashboard")).content.decode()

    # Recovery clears it.
    deposit(account, "500")
    services.balance_snapshot_take(
        account=account, trigger="schedule", now=now + dt.timedelta(minutes=20)
    )
    alert.refresh_from_db()
    assert not alert.is_open and alert.cleared_balance == Decimal("600")
    assert selectors.open_alert(account) is None

    # Low again within the period: the same alert reopens, no second email.
    services.balance_alert_rule_save(
        account=account, threshold_usd=Decimal("1000"), runway_days=None, by=finance
    )
    assert BalanceAlert.objects.filter(account=account).count() == 1
    assert selectors.open_alert(account).pk == alert.pk
    assert len(mail.outbox) == 1

    # Still low a period later: one reminder.
    later = now + dt.timedelta(hours=25)
    services.balance_snapshot_take(account=account, trigger="schedule", now=later)
    services.balance_snapshot_take(
        account=account, trigger="schedule", now=later + dt.timedelta(minutes=5)
    )
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("Still low")
    alert.refresh_from_db()
    assert alert.notify_count == 2


def test_a_runway_rule_raises_on_the_recent_spend_rate(sandbox_account):
    account = sandbox_account(balance="100")
    now = timezone.now()
    ledger_row(account, 1, "170", "DEPOSIT", now - dt.timedelta(days=40))
    ledger_row(account, 2, "-70", "PURCHASE", now - dt.timedelta(days=2))  # 10 USD a day
    services.balance_alert_rule_save(
        account=account, threshold_usd=None, runway_days=Decimal("14"), by=None
    )
    services.balance_snapshot_take(account=account, now=now)
    alert = selectors.open_alert(account)
    assert alert is not None and alert.runway_days == Decimal("10.0")
    assert "enough for 10.0 days" in alert.message

    # A ledger younger than the window is averaged over the days it covers.
    young = sandbox_account(balance="100")
    ledger_row(young, 1, "-70", "PURCHASE", now - dt.timedelta(days=2))
    synced(young, now)
    assert selectors.spend_rate(young, now=now) == Decimal("35.00")


def test_a_postpaid_account_shows_what_it_owes_and_raises_no_alert(
    sandbox_account, sandbox, client_as
):
    account = sandbox_account(balance="0", postpaid=True)
    services.balance_alert_rule_save(
        account=account, threshold_usd=Decimal("1000"), runway_days=Decimal("30"), by=None
    )
    # A postpaid account may go below zero: buy something on credit.
    offer = sandbox.admin(
        "GET", "/sandbox/offers", params={"kind": "key", "currency": "USD", "limit": 1}
    )["offers"][0]
    from suppliers.services import supplier_client

    supplier_client(account).create_order(offer["offerId"], offer["price"], "postpaid-1")
    snapshot = services.balance_snapshot_take(account=account)
    assert snapshot.is_postpaid and snapshot.balance < 0
    assert snapshot.owed == -snapshot.balance
    assert selectors.open_alert(account) is None

    page = client_as("finance").get(reverse("finance:finance_overview"), {"account": account.pk})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Amount owed" in html and "no runway" in html
    assert 'data-testid="runway"' not in html
    assert f"{snapshot.owed:,.2f} USD" in html


def test_the_schedule_sends_one_snapshot_task_per_account(sandbox_account, monkeypatch):
    from finance import tasks

    sent = []
    monkeypatch.setattr(tasks.take_balance_snapshot, "delay", sent.append)
    accounts = [sandbox_account(), sandbox_account()]
    tasks.snapshot_all_balances.run()
    assert sorted(sent) == sorted(account.pk for account in accounts)


def synced(account, at):
    """A successful ledger sync that started at `at`."""
    LedgerSync.objects.create(
        account=account, status=JobStatus.SUCCEEDED, started_at=at, finished_at=at
    )


def test_the_spend_is_measured_up_to_the_last_sync_and_an_old_ledger_is_stale(
    sandbox_account, client_as
):
    account = sandbox_account(balance="300")
    now = timezone.now()
    ledger_row(account, 1, "1000", "DEPOSIT", now - dt.timedelta(days=40))
    ledger_row(account, 2, "-70", "PURCHASE", now - dt.timedelta(days=12))
    ledger_row(account, 3, "-70", "PURCHASE", now - dt.timedelta(days=10))
    synced(account, now - dt.timedelta(days=9))
    # Nothing is known after the sync nine days ago: that is not nine days of no spending.
    spend = selectors.spend_measure(account, now=now)
    assert spend.rate == Decimal("20.00") and spend.stale
    assert spend.until == now - dt.timedelta(days=9)
    services.balance_snapshot_take(account=account, now=now)
    summary = selectors.account_finance(account, now=now)
    assert summary.runway_days == Decimal("15.0") and summary.spend_stale

    html = client_as("finance").get(reverse("finance:finance_overview"), {"account": account.pk})
    html = html.content.decode()
    assert 'data-testid="runway-stale"' in html and ">stale</span>" in html

    synced(account, now)
    fresh = selectors.spend_measure(account, now=now)
    assert not fresh.stale and fresh.rate == Decimal("0.00")


def test_a_rise_from_warning_to_danger_is_emailed_at_once(sandbox_account, make_staff):
    make_staff("finance")
    account = sandbox_account(balance="100")
    now = timezone.now()
    ledger_row(account, 1, "-70", "PURCHASE", now - dt.timedelta(days=6))  # 10 USD a day
    ledger_row(account, 2, "10", "DEPOSIT", now - dt.timedelta(days=20))
    synced(account, now)
    services.balance_alert_rule_save(
        account=account, threshold_usd=None, runway_days=Decimal("14"), by=None
    )
    services.balance_snapshot_take(account=account, now=now)
    alert = selectors.open_alert(account)
    assert alert.level == BalanceAlert.Level.WARNING and len(mail.outbox) == 1

    # Spending jumps: the balance lasts less than a day. Within the same alert period.
    ledger_row(account, 3, "-7000", "PURCHASE", now + dt.timedelta(minutes=5))
    synced(account, now + dt.timedelta(minutes=9))
    services.balance_snapshot_take(account=account, now=now + dt.timedelta(minutes=10))
    alert.refresh_from_db()
    assert alert.level == BalanceAlert.Level.DANGER
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("Now critical")
    # Still danger a little later: no third email within the period.
    services.balance_snapshot_take(account=account, now=now + dt.timedelta(minutes=20))
    assert len(mail.outbox) == 2


def test_the_runway_sentence_names_the_days_it_really_averaged(sandbox_account, client_as):
    """A ledger that covers one day is averaged over one day, and the page says so."""
    account = sandbox_account(balance="300")
    now = timezone.now()
    ledger_row(account, 1, "-30", "PURCHASE", now - dt.timedelta(hours=5))
    synced(account, now)
    spend = selectors.spend_measure(account, now=now)
    assert spend.rate == Decimal("30.00") and spend.days_text == "1 day"
    services.balance_snapshot_take(account=account, now=now)
    html = client_as("finance").get(reverse("finance:finance_overview"), {"account": account.pk})
    text = html.content.decode()
    assert "averaged over the 1 day of the ledger" in text
    assert "7 days of the ledger" not in text

    older = sandbox_account(balance="300")
    ledger_row(older, 1, "-30", "PURCHASE", now - dt.timedelta(days=60))
    ledger_row(older, 2, "-70", "PURCHASE", now - dt.timedelta(days=2))
    synced(older, now)
    assert selectors.spend_measure(older, now=now).days_text == "7 days"
    young = sandbox_account(balance="300")
    ledger_row(young, 1, "-30", "PURCHASE", now - dt.timedelta(days=2, hours=12))
    synced(young, now)
    assert selectors.spend_measure(young, now=now).days_text == "2.5 days"
