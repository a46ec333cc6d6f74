"""Fresh balances: a page showing an old balance asks a worker for a fresh one (background queue,
never waiting for the supplier itself), a batch's end takes one, and a balance the batch preview
read is the one the overview and the dashboard show."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from finance import selectors, tasks
from finance.models import BalanceSnapshot
from orders.batches.states import batches_transition
from orders.lookups import balance_usd
from orders.models import Batch
from reseller.core.queues import BACKGROUND, queue_name, route_task


@pytest.fixture
def asked(monkeypatch):
    """The snapshot tasks sent to the broker, as (args, kwargs)."""
    sent: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(
        tasks.take_balance_snapshot, "apply_async", lambda args, kwargs: sent.append((args, kwargs))
    )
    return sent


def snapshot(account, minutes_ago: float, balance="10000.00"):
    return BalanceSnapshot.objects.create(
        account=account,
        taken_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        balance=Decimal(balance),
        draft_balance=Decimal("0"),
        is_postpaid=False,
        currency="USD",
    )


def test_an_old_balance_is_refreshed_in_the_background_and_the_page_says_how_old(
    sandbox_account, client_as, asked
):
    account = sandbox_account(balance="9980.05")
    snapshot(account, minutes_ago=20)
    client = client_as("finance")
    page = client.get(reverse("finance:finance_overview"), {"account": account.pk})
    html = page.content.decode()
    assert page.status_code == 200
    assert asked == [((account.pk,), {"trigger": "page"})]
    # The page was drawn at once with the old balance, its age, and a poll for the fresh one.
    assert "10,000.00" in html and "20\xa0minutes ago" in html
    assert 'data-testid="balance-refreshing"' in html and 'hx-select="#balance-card"' in html
    assert route_task("finance.tasks.take_balance_snapshot", (), {}, {}) == {
        "queue": queue_name(BACKGROUND)
    }

    # Asked once a minute at most, however often the page is opened.
    client.get(reverse("finance:finance_overview"), {"account": account.pk})
    assert len(asked) == 1

    # The worker's snapshot arrives; the poll shows it and stops polling.
    tasks.take_balance_snapshot(account.pk, trigger="page")
    polled = client.get(
        reverse("finance:finance_overview"), {"account": account.pk, "refreshed": "1"}
    ).content.decode()
    assert "9,980.05" in polled and "0\xa0minutes ago" in polled
    assert 'data-testid="balance-refreshing"' not in polled and "hx-select" not in polled
    latest = selectors.latest_snapshot(account)
    assert latest.trigger == "page" and latest.balance == Decimal("9980.05")

    # The dashboard shows the same balance, with its age.
    dashboard = client.get(reverse("dashboard:dashboard")).content.decode()
    assert "9,980.05" in dashboard and "0\xa0minutes ago" in dashboard


def test_a_fresh_balance_asks_for_nothing(sandbox_account, client_as, asked):
    account = sandbox_account()
    snapshot(account, minutes_ago=1)
    client_as("finance").get(reverse("finance:finance_overview"), {"account": account.pk})
    client_as("finance").get(reverse("dashboard:dashboard"))
    assert asked == []


def test_a_broker_out_of_reach_never_breaks_the_page(sandbox_account, client_as, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.take_balance_snapshot, "apply_async", refuse)
    account = sandbox_account()
    snapshot(account, minutes_ago=30)
    page = client_as("finance").get(reverse("finance:finance_overview"), {"account": account.pk})
    assert page.status_code == 200
    assert "older than a few minutes" in page.content.decode()


def test_a_batch_that_ends_takes_a_snapshot(
    sandbox_account, asked, make_staff, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    snapshot(account, minutes_ago=0.5)  # fresh: only the batch's end asks
    batch = Batch.objects.create(
        name="b", account=account, created_by=make_staff("operator"), status=Batch.Status.RUNNING
    )
    with django_capture_on_commit_callbacks(execute=True):
        moved = batches_transition(Batch.objects.filter(pk=batch.pk), Batch.Status.DONE)
    assert moved == 1
    assert asked == [((account.pk,), {"trigger": "batch end"})]


def test_the_balance_the_batch_preview_read_is_the_one_finance_shows(sandbox_account, client_as):
    account = sandbox_account(balance="9980.05")
    snapshot(account, minutes_ago=20)
    seen = balance_usd(account)
    assert seen.usd == Decimal("9980.05")
    latest = selectors.latest_snapshot(account)
    assert latest.balance == seen.usd and latest.trigger == "batch preview"
    html = client_as("finance").get(reverse("dashboard:dashboard")).content.decode()
    assert "9,980.05" in html
