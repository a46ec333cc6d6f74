"""Currency rates are a history: each rate holds from its "valid from" until the next one."""

import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from catalog.models import CurrencyRate, Offer
from catalog.selectors import RateTable, currency_rate_at, currency_rates_at
from catalog.services import currency_rate_save
from orders.models import Order
from reseller.core.models import AuditEvent
from suppliers.models import SupplierAccount

T = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def account(db):
    return SupplierAccount.objects.create(
        name="Main", base_url="http://127.0.0.1:9", shop_token="t" * 32, balance_profile="FIAT"
    )


def test_a_new_rate_adds_a_row_and_the_old_one_still_prices_its_past(db):
    CurrencyRate.objects.all().delete()
    currency_rate_save(currency="try", usd_per_unit=Decimal("0.030"), valid_from=T)
    currency_rate_save(
        currency="TRY", usd_per_unit=Decimal("0.028"), valid_from=T + dt.timedelta(days=10)
    )
    assert CurrencyRate.objects.filter(currency="TRY").count() == 2
    assert currency_rate_at("TRY", T - dt.timedelta(seconds=1)) is None
    assert currency_rate_at("TRY", T) == Decimal("0.030")
    assert currency_rate_at("TRY", T + dt.timedelta(days=9)) == Decimal("0.030")
    assert currency_rate_at("TRY", T + dt.timedelta(days=10)) == Decimal("0.028")
    assert currency_rate_at("USD", T) == Decimal(1)
    table = RateTable.load()
    assert table.at("TRY", T + dt.timedelta(days=3)) == Decimal("0.030")
    assert table.at("TRY", T + dt.timedelta(days=30)) == Decimal("0.028")
    assert table.at("", T) == Decimal(1)
    assert currency_rates_at(T + dt.timedelta(days=1)) == {"TRY": Decimal("0.030")}
    events = AuditEvent.objects.filter(action="currency_rate.saved")
    assert events.count() == 2
    assert {event.data["valid_from"] for event in events} == {
        T.isoformat(),
        (T + dt.timedelta(days=10)).isoformat(),
    }


def test_two_rates_from_the_same_moment_are_refused(db):
    from reseller.core.errors import ApplicationError

    currency_rate_save(currency="EUR", usd_per_unit=Decimal("1.08"), valid_from=T)
    with pytest.raises(ApplicationError, match="exists already"):
        currency_rate_save(currency="EUR", usd_per_unit=Decimal("1.09"), valid_from=T)
    assert CurrencyRate.objects.filter(currency="EUR", valid_from=T).get().usd_per_unit == Decimal(
        "1.08"
    )


def test_the_pricing_page_shows_the_history_and_adding_a_rate_adds_a_row(account, client_as):
    client = client_as("admin")
    before = CurrencyRate.objects.filter(currency="KZT").count()
    response = client.post(
        reverse("catalog:currency_rate_save"),
        {
            "currency": "kzt",
            "usd_per_unit": "0.00195",
            "valid_from": "2026-11-01T09:30",
            "account": account.pk,
        },
    )
    assert response.status_code == 302
    assert CurrencyRate.objects.filter(currency="KZT").count() == before + 1
    added = CurrencyRate.objects.get(currency="KZT", usd_per_unit=Decimal("0.00195"))
    assert added.valid_from == dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC)
    html = client.get(reverse("catalog:pricing"), {"account": account.pk}).content.decode()
    assert "Valid from" in html and "2026-11-01 09:30" in html and "0.00195" in html
    assert html.count("<td>KZT</td>") == before + 1

    bad = client.post(
        reverse("catalog:currency_rate_save"),
        {
            "currency": "KZT",
            "usd_per_unit": "0.002",
            "valid_from": "yesterday",
            "account": account.pk,
        },
        follow=True,
    )
    assert "a valid date and time" in bad.content.decode()
    assert CurrencyRate.objects.filter(currency="KZT").count() == before + 1


def test_orders_sent_before_the_cost_was_kept_get_it_from_the_rate_valid_then(account):
    """The migration's backfill: each sent order priced at the rate valid when it was sent."""
    migration = importlib.import_module("orders.migrations.0012_order_usd_cost_at_sending")
    CurrencyRate.objects.filter(currency="RUB").delete()
    CurrencyRate.objects.create(currency="RUB", usd_per_unit=Decimal("0.0100"), valid_from=T)
    CurrencyRate.objects.create(
        currency="RUB", usd_per_unit=Decimal("0.0120"), valid_from=T + dt.timedelta(days=1)
    )
    now = timezone.now()
    offer = Offer.objects.create(
        account=account, offer_id=5, price=Decimal("99.50"), currency="RUB",
        first_seen_at=now, synced_at=now,
    )  # fmt: skip

    def order(number, submitted, units=1):
        return Order.objects.create(
            account=account, offer=offer, transaction_id=f"back-{number}", status="COMPLETED",
            max_unit_price=Decimal("100"), price_sent=Decimal("99.50"), currency="RUB",
            units=units, submitted_at=submitted,
        )  # fmt: skip

    early = order(1, T + dt.timedelta(hours=2), units=3)
    late = order(2, T + dt.timedelta(days=2))
    before = order(3, T - dt.timedelta(days=1))  # no rate valid yet: stays without a cost
    queued = order(4, None)
    migration.cost_at_sending(apps, None)
    for row in (early, late, before, queued):
        row.refresh_from_db()
    assert (early.usd_rate, early.usd_cost) == (Decimal("0.0100"), Decimal("3.00"))  # 3 x 1.00
    assert (late.usd_rate, late.usd_cost) == (Decimal("0.0120"), Decimal("1.19"))
    assert before.usd_cost is None and queued.usd_cost is None
