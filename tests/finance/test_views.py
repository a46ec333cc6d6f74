"""The finance pages: what each role sees, the buttons, the progress that polls its job row,
bucket tabs and explanations through htmx, and the dashboard's balances."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from finance import services
from finance.models import BalanceAlertRule, LedgerSync, ReconciliationRun
from tests.finance.conftest import sync_ledger

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str) -> dict:
    return {**HTMX, "HTTP_HX_TARGET": target}


def test_overview_shows_figures_chart_spend_and_runway(sandbox_account, deposit, client_as):
    account = sandbox_account(balance="500")
    deposit(account, "25")
    sync_ledger(account)
    services.balance_snapshot_take(account=account)
    services.balance_snapshot_take(account=account)
    client = client_as("finance")
    html = client.get(reverse("finance:finance_overview"), {"account": account.pk}).content.decode()
    assert 'data-testid="balance">525.00 USD' in html
    assert 'data-testid="balance-chart"' in html and "<polyline" in html
    assert 'data-testid="spend-table"' in html and "Prepaid" in html
    assert 'data-testid="runway">No spend in the last 7 days' in html
    assert ">Finance<" in html  # in the navigation
    assert client.get(reverse("finance:finance_overview"), {"days": "90"}).status_code == 200


def test_operators_see_no_finance_and_no_balances_on_the_dashboard(sandbox_account, client_as):
    account = sandbox_account()
    services.balance_snapshot_take(account=account)
    operator = client_as("operator")
    assert operator.get(reverse("finance:finance_overview")).status_code == 403
    dashboard = operator.get(reverse("dashboard:dashboard")).content.decode()
    assert "dashboard-balances" not in dashboard and ">Finance<" not in dashboard
    for role in ("finance", "admin"):
        dashboard = client_as(role).get(reverse("dashboard:dashboard")).content.decode()
        assert 'data-testid="dashboard-balances"' in dashboard and account.name in dashboard


def test_snapshot_and_alert_rule_buttons(sandbox_account, client_as):
    account = sandbox_account(balance="80")
    client = client_as("finance")
    response = client.post(
        reverse("finance:finance_snapshot_take"), {"account": account.pk}, follow=True
    )
    assert "Balance of" in response.content.decode() and "80.00 USD (prepaid)" in (
        response.content.decode()
    )
    response = client.post(
        reverse("finance:finance_alert_rule_save"),
        {"account": account.pk, "threshold_usd": "100", "runway_days": ""},
        follow=True,
    )
    html = response.content.decode()
    rule = BalanceAlertRule.objects.get(account=account)
    assert rule.threshold_usd == Decimal("100") and rule.runway_days is None
    # The saved rule judges the latest snapshot at once: the banner is there.
    assert 'class="alert alert-warning"' in html and "below the threshold" in html
    bad = client.post(
        reverse("finance:finance_alert_rule_save"), {"account": account.pk, "threshold_usd": "-5"}
    )
    assert bad.status_code == 302
    assert BalanceAlertRule.objects.get(account=account).threshold_usd == Decimal("100")


def test_ledger_sync_button_and_its_progress(sandbox_account, client_as):
    account = sandbox_account()
    client = client_as("finance")
    response = client.post(reverse("finance:ledger_sync_start"), {"account": account.pk})
    job = LedgerSync.objects.get(account=account)
    assert response.url == reverse("finance:ledger_sync_detail", args=[job.pk])
    queued = client.get(response.url, **HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in queued and "<html" not in queued
    services.ledger_sync_run(job.pk)
    done = client.get(response.url, **HTMX).content.decode()
    assert "hx-trigger" not in done and "1 new (full pass)" in done
    rows = client.get(reverse("finance:ledger_list"), {"account": account.pk}).content.decode()
    assert "DEPOSIT" in rows and "1,000.00" in rows
    filtered = client.get(
        reverse("finance:ledger_list"),
        {"account": account.pk, "type": "PURCHASE"},
        **htmx("ledger-rows"),
    )
    assert "No ledger rows match" in filtered.content.decode()

    # A second click while one is queued is not a second job.
    account.management_token = ""
    account.save()
    refused = client.post(
        reverse("finance:ledger_sync_start"), {"account": account.pk}, follow=True
    )
    assert "management credential" in refused.content.decode()
    assert LedgerSync.objects.filter(account=account).count() == 1


def test_run_a_reconciliation_from_the_page_and_explain_an_item(
    sandbox_account, sandbox_offer, client_as
):
    from orders.services import order_create, order_submit
    from suppliers.services import supplier_client

    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="USD")
    order_submit(order_id=order_create(offer=offer, max_unit_price=offer.price)[0].pk)
    supplier_client(account).create_order(offer.offer_id, offer.price, "stray-1")
    sync_ledger(account)
    client = client_as("finance")
    today = timezone.localdate()

    form = {
        "account": account.pk,
        "start": today,
        "end": today,
        "fx_tolerance_pct": "3",
        "abs_tolerance": "0.02",
        "window_slack_minutes": "2",
        "refund_window_hours": "48",
    }
    bad = client.post(reverse("finance:reconciliation_start"), {**form, "end": "2000-01-01"})
    assert bad.status_code == 400 and "must end on or after" in bad.content.decode()
    response = client.post(reverse("finance:reconciliation_start"), form)
    run = ReconciliationRun.objects.get(account=account)
    assert response.url == reverse("finance:reconciliation_detail", args=[run.pk])
    assert run.engine_settings["fx_tolerance"] == "0.03"
    assert float(run.engine_settings["refund_window_seconds"]) == 48 * 3600
    polling = client.get(response.url, **htmx("run-body")).content.decode()
    assert 'hx-trigger="every 1s"' in polling and 'data-testid="run-progress"' in polling

    services.reconciliation_run(run.pk)
    finished = client.get(response.url, **htmx("run-body")).content.decode()
    assert "hx-trigger" not in finished and 'data-testid="ties">ties' in finished
    # The most serious bucket with anything in it opens first.
    assert 'data-testid="bucket-title">Unexpected charges' in finished
    page = client.get(response.url).content.decode()
    assert "Download XLSX" in page and "possible double charge of order" in page

    tab = client.get(response.url, {"bucket": "MATCHED"}, **htmx("items")).content.decode()
    assert tab.lstrip().startswith('<section class="card results" id="items">')
    assert 'aria-current="page">Matched' in tab and "/orders/" in tab

    item = run.items.get(bucket="UNEXPECTED_CHARGE")
    explain = reverse("finance:reconciliation_item_explain", args=[run.pk, item.pk])
    form_row = client.get(explain, **htmx(f"item-{item.pk}")).content.decode()
    assert form_row.startswith(f'<tr id="item-{item.pk}"') and "<textarea" in form_row
    saved = client.post(explain, {"comment": "Test purchase by hand"}, **HTMX).content.decode()
    assert "Test purchase by hand" in saved and "<textarea" not in saved
    assert client.post(explain, {"comment": "again"}).status_code == 302
    assert client_as("operator").post(explain, {"comment": "x"}).status_code == 403


def test_a_chain_break_is_shown_and_exported(client_as):
    import datetime as dt

    from finance.models import LedgerEntry
    from suppliers.models import SupplierAccount
    from tests.finance.conftest import reconcile_today

    account = SupplierAccount.objects.create(
        name="gappy", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    now = timezone.now() - dt.timedelta(minutes=30)
    rows = [(1, "100.00", "DEPOSIT", "100.00"), (2, "50.00", "DEPOSIT", "150.00")]
    rows += [(4, "25.00", "DEPOSIT", "190.00")]  # row 3 (+15.00) never arrived
    for offset, (supplier_id, amount, kind, after) in enumerate(rows):
        LedgerEntry.objects.create(
            account=account,
            supplier_id=supplier_id,
            amount=Decimal(amount),
            type=kind,
            balance_after=Decimal(after),
            created_at=now + dt.timedelta(minutes=offset),
            fetched_at=now,
        )
    run = reconcile_today(account)
    assert run.counts["CHAIN_BREAK"] == 1 and run.ties is False
    client = client_as("finance")
    page = client.get(reverse("finance:reconciliation_detail", args=[run.pk])).content.decode()
    assert 'data-testid="bucket-title">Chain breaks' in page
    assert "15.00 USD of credits missing" in page and "#2</a> →" in page
    # The badge says by how much it does not tie; the closing from our orders stands beside it.
    assert 'data-testid="ties">does not tie by 15.00 USD' in page
    assert 'data-testid="orders-closing"' in page
    runs = client.get(
        reverse("finance:reconciliation_list") + f"?account={account.pk}"
    ).content.decode()
    assert "do not tie by 15.00" in runs
    csv_text = b"".join(
        client.get(reverse("finance:reconciliation_report_csv", args=[run.pk])).streaming_content
    ).decode()
    assert "Chain breaks,B:2-4" in csv_text


def test_the_runs_and_ledger_syncs_page_through_htmx_by_their_own_list(client_as):
    """A next page asked for by htmx is the list alone (it was the whole page, drawn inside the
    list), and the runs' next page is of the account the page shows (it was of the first)."""
    import datetime as dt

    from suppliers.models import SupplierAccount

    SupplierAccount.objects.create(name="alpha", base_url="http://127.0.0.1:9")
    beta = SupplierAccount.objects.create(name="beta", base_url="http://127.0.0.1:9")
    end = timezone.now()
    for _ in range(30):
        ReconciliationRun.objects.create(
            account=beta,
            period_start=end - dt.timedelta(days=1),
            period_end=end,
            status="succeeded",
        )
        LedgerSync.objects.create(account=beta, status="succeeded")
    client = client_as("finance")

    runs = client.get(reverse("finance:reconciliation_list"), {"account": beta.pk}).content.decode()
    assert f'hx-get="?account={beta.pk}&amp;page=2" hx-target="#runs"' in runs
    second = client.get(
        reverse("finance:reconciliation_list"), {"account": beta.pk, "page": 2}, **htmx("runs")
    )
    text = second.content.decode().strip()
    assert text.startswith('<section class="card" id="runs">') and "<html" not in text
    assert text.count("beta</td>") == 5 and "Page 2 of 2" in text

    syncs = client.get(
        reverse("finance:ledger_sync_list"), {"page": 2}, **htmx("syncs")
    ).content.decode()
    assert syncs.strip().startswith('<section class="card" id="syncs">') and "<html" not in syncs
    assert "<html" in client.get(reverse("finance:ledger_sync_list"), {"page": 2}).content.decode()
