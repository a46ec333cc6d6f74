from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog import selectors, services
from catalog.models import Offer, SyncJob
from suppliers.models import SupplierAccount


@pytest.fixture
def account(db):
    return SupplierAccount.objects.create(
        name="Main", base_url="http://127.0.0.1:9", shop_token="t" * 32, balance_profile="FIAT"
    )


def make_offer(account, offer_id, category, currency="USD", **extra):
    now = timezone.now()
    return Offer.objects.create(
        account=account,
        offer_id=offer_id,
        product_name=f"Product {offer_id}",
        offer_name="offer",
        search_text=f"product {offer_id} offer",
        category=category,
        price=Decimal("1.00"),
        currency=currency,
        first_seen_at=now,
        synced_at=now,
        **extra,
    )


def finish_sync(account, status=SyncJob.Status.SUCCEEDED):
    now = timezone.now()
    return SyncJob.objects.create(account=account, status=status, started_at=now, finished_at=now)


def test_filter_choices_are_those_of_the_listed_offers(account):
    make_offer(account, 1, "Top Up", "USD")
    make_offer(account, 2, "Gift Cards", "TRY")
    make_offer(account, 3, "Vouchers", "EUR", delisted_at=timezone.now())
    choices = selectors.filter_choices(account)
    assert choices.categories == ["Gift Cards", "Top Up"]
    assert choices.currencies == ["TRY", "USD"]


def test_filter_choices_hold_until_a_sync_of_the_account_finishes(account):
    make_offer(account, 1, "Top Up")
    finish_sync(account)
    assert selectors.filter_choices(account).categories == ["Top Up"]

    # Written meanwhile, as by a sync still running: shown once that sync has finished.
    make_offer(account, 2, "Gift Cards", "EUR")
    assert selectors.filter_choices(account).categories == ["Top Up"]

    finish_sync(account)
    choices = selectors.filter_choices(account)
    assert choices.categories == ["Gift Cards", "Top Up"] and choices.currencies == ["EUR", "USD"]


def test_a_failed_sync_refreshes_the_choices_too(account):
    """A failed sync keeps the pages it wrote before failing."""
    make_offer(account, 1, "Top Up")
    assert selectors.filter_choices(account).categories == ["Top Up"]
    make_offer(account, 2, "Gift Cards")
    finish_sync(account, status=SyncJob.Status.FAILED)
    assert selectors.filter_choices(account).categories == ["Gift Cards", "Top Up"]


def test_a_category_left_only_with_delisted_offers_disappears_after_the_sync(account):
    make_offer(account, 1, "Top Up")
    gone = make_offer(account, 2, "Gift Cards", "TRY")
    finish_sync(account)
    assert selectors.filter_choices(account).categories == ["Gift Cards", "Top Up"]

    Offer.objects.filter(pk=gone.pk).update(delisted_at=timezone.now())
    finish_sync(account)
    choices = selectors.filter_choices(account)
    assert choices.categories == ["Top Up"] and choices.currencies == ["USD"]


def test_each_account_has_its_own_choices(account):
    other = SupplierAccount.objects.create(
        name="Other", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    make_offer(account, 1, "Top Up")
    make_offer(other, 1, "Gift Cards", "KZT")
    assert selectors.filter_choices(account).categories == ["Top Up"]
    assert selectors.filter_choices(other).currencies == ["KZT"]


def test_a_currency_changed_by_a_price_refresh_reaches_the_choices(account, monkeypatch):
    offer = make_offer(account, 1, "Top Up", "USD")
    finish_sync(account)
    assert selectors.filter_choices(account).currencies == ["USD"]

    live = SimpleNamespace(
        price=Decimal("90.00"),
        currency="TRY",
        settlement_method="FIAT",
        returns_key=True,
        count=None,
        required_fields=(),
        requires_game_user_id=False,
        requires_game_server_id=False,
    )
    client = SimpleNamespace(find_one=lambda offer_id: live)
    monkeypatch.setattr(services, "supplier_client", lambda account, **kwargs: client)
    services.offer_refresh_price(offer=offer)
    assert selectors.filter_choices(account).currencies == ["TRY"]


def test_the_browser_offers_the_cached_choices(client_as, account):
    make_offer(account, 1, "Top Up", "USD")
    make_offer(account, 2, "Gift Cards", "TRY")
    finish_sync(account)
    response = client_as("operator").get(reverse("catalog:catalog_browse"))
    form = response.context["filter"].form
    assert [value for value, _ in form.fields["category"].choices] == ["", "Gift Cards", "Top Up"]
    assert [value for value, _ in form.fields["currency"].choices] == ["", "TRY", "USD"]


def refresh_with(monkeypatch, offer, **fields):
    live = SimpleNamespace(
        price=Decimal("2.00"),
        currency="USD",
        settlement_method="FIAT",
        returns_key=True,
        count=1,
        required_fields=(),
        requires_game_user_id=False,
        requires_game_server_id=False,
    )
    for name, value in fields.items():
        setattr(live, name, value)
    client = SimpleNamespace(find_one=lambda offer_id: live)
    monkeypatch.setattr(services, "supplier_client", lambda account, **kwargs: client)
    return services.offer_refresh_price(offer=offer)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"price": Decimal("1e309")}, "larger than a price can be"),
        ({"price": Decimal("-5")}, "not positive"),
        ({"price": Decimal("1e-30")}, "below the smallest price"),
        ({"currency": "C" * 60}, "60 characters"),
    ],
)
def test_a_price_refresh_refuses_a_price_the_catalog_cannot_keep(
    account, monkeypatch, fields, reason
):
    offer = make_offer(account, 1, "Top Up")
    with pytest.raises(services.OfferRefreshFailed, match=reason):
        refresh_with(monkeypatch, offer, **fields)
    offer.refresh_from_db()
    assert offer.price == Decimal("1.00") and not offer.price_history.exists()


def test_a_price_refresh_stores_an_unknown_settlement_method_or_unit_count_as_unknown(
    account, monkeypatch
):
    offer = make_offer(account, 1, "Top Up")
    refreshed = refresh_with(
        monkeypatch, offer, settlement_method="<script>x</script>" * 4, count=2**40
    )
    refreshed.refresh_from_db()
    assert refreshed.settlement_method == "" and refreshed.units is None
    assert refreshed.price == Decimal("2.00")
