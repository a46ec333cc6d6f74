"""Products and their routes: the matcher, attaching offers, routes dropping out, the pages."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.matching import match_offer, normalise, region_code
from catalog.models import Offer, Product, ProductRoute
from catalog.products import (
    ProductRouteRefused,
    product_route_attach,
    product_route_move,
    product_routes_check,
    product_suggestions,
)
from reseller.core.models import AuditEvent
from suppliers.models import SupplierAccount


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("PUBG MOBILE 60UC", ["pubg", "mobile", "60", "uc"]),
        ("Steam Wallet $20 USA", ["steam", "wallet", "usd", "20", "us"]),
        ("Steam 20.00 Dollars (United States)", ["steam", "20", "usd", "us"]),
        ("Free Fire 1,000 Diamonds", ["free", "fire", "1000", "diamonds"]),
        ("Google Play €15 Europe", ["google", "play", "eur", "15", "eu"]),
        ("Roblox 10.5 ₽", ["roblox", "10.5", "rub"]),
    ],
)
def test_normalise(text, words):
    assert normalise(text) == words


def test_region_code_blank_is_global():
    assert region_code("") == "global"
    assert region_code("Worldwide") == "global"
    assert region_code("USA") == "us"


def test_match_requires_every_name_and_denomination_word():
    assert match_offer(
        name="PUBG Mobile", denomination="60 UC", region="", offer_text="PUBG MOBILE GIFT 60UC"
    )
    assert not match_offer(
        name="PUBG Mobile", denomination="60 UC", region="", offer_text="PUBG MOBILE 600 UC"
    )
    assert not match_offer(
        name="PUBG Mobile", denomination="60 UC", region="", offer_text="Free Fire 60 UC"
    )


def test_match_by_region():
    steam = {"name": "Steam", "denomination": "20 USD", "region": "US"}
    named = match_offer(**steam, offer_text="Steam Wallet Card $20 USA")
    unnamed = match_offer(**steam, offer_text="Steam Wallet 20 USD")
    assert named and unnamed and named.score > unnamed.score
    assert match_offer(**steam, offer_text="Steam Wallet 20 USD Europe") is None
    # A global product does not take a regional card.
    assert (
        match_offer(name="Steam", denomination="20 USD", region="", offer_text="Steam 20 USD US")
        is None
    )
    assert match_offer(
        name="Steam", denomination="20 USD", region="", offer_text="Steam 20 USD Global"
    )


@pytest.fixture
def accounts(db):
    def make(name):
        return SupplierAccount.objects.create(
            name=name, base_url="http://supplier.invalid", shop_token="t"
        )

    return make("first"), make("second")


def make_offer(account, offer_id, product_name, offer_name, price="1.00", currency="USD", **more):
    now = timezone.now()
    return Offer.objects.create(
        account=account,
        offer_id=offer_id,
        product_name=product_name,
        offer_name=offer_name,
        search_text=f"{product_name} {offer_name}".lower(),
        price=Decimal(price),
        currency=currency,
        first_seen_at=now,
        synced_at=now,
        **more,
    )


@pytest.fixture
def pubg(db):
    return Product.objects.create(
        code="pubg-60", name="PUBG Mobile", denomination="60 UC", retail_price=Decimal("1.50")
    )


def test_suggestions_across_accounts_best_first(accounts, pubg):
    first, second = accounts
    a = make_offer(first, 1, "PUBG MOBILE", "60 UC", price="0.90")
    b = make_offer(second, 7, "Pubg Mobile Global", "60UC", price="80", currency="RUB")
    make_offer(second, 8, "PUBG MOBILE", "600 UC")
    make_offer(first, 9, "PUBG MOBILE", "60 UC", delisted_at=timezone.now())
    found = [offer for offer, _ in product_suggestions(pubg)]
    assert set(found) == {a, b}
    assert found[0] == b  # names the region (global)
    product_route_attach(product=pubg, offer=a)
    assert [offer for offer, _ in product_suggestions(pubg)] == [b]


def test_attach_orders_routes_and_audits(accounts, pubg):
    first, second = accounts
    a = product_route_attach(product=pubg, offer=make_offer(first, 1, "PUBG MOBILE", "60 UC"))
    b = product_route_attach(product=pubg, offer=make_offer(second, 2, "PUBG MOBILE", "60 UC"))
    assert (a.position, b.position) == (1, 2)
    product_route_move(route=b, up=True)
    assert list(pubg.routes.order_by("position").values_list("pk", flat=True)) == [b.pk, a.pk]
    assert AuditEvent.objects.filter(action="product.route_attached").count() == 2


def test_a_delisted_offer_cannot_be_attached(accounts, pubg):
    offer = make_offer(accounts[0], 1, "PUBG MOBILE", "60 UC", delisted_at=timezone.now())
    with pytest.raises(ProductRouteRefused):
        product_route_attach(product=pubg, offer=offer)


def test_delisted_or_changed_offers_drop_out_with_a_note(accounts, pubg):
    first, second = accounts
    kept = make_offer(first, 1, "PUBG MOBILE", "60 UC")
    delisted = make_offer(first, 2, "PUBG MOBILE", "60 UC")
    renamed = make_offer(second, 3, "PUBG MOBILE", "60 UC")
    repriced = make_offer(second, 4, "PUBG MOBILE", "60 UC", currency="RUB")
    for offer in (kept, delisted, renamed, repriced):
        product_route_attach(product=pubg, offer=offer)
    Offer.objects.filter(pk=delisted.pk).update(delisted_at=timezone.now())
    Offer.objects.filter(pk=renamed.pk).update(offer_name="600 UC")
    Offer.objects.filter(pk=kept.pk).update(price=Decimal("2.00"))  # a price change is normal
    Offer.objects.filter(pk=repriced.pk).update(currency="EUR")
    assert product_routes_check() == 3
    routes = {route.offer_id: route for route in ProductRoute.objects.all()}
    assert routes[kept.pk].is_active
    assert "delisted" in routes[delisted.pk].dropped_reason
    assert "'60 UC' → '600 UC'" in routes[renamed.pk].dropped_reason
    assert "currency RUB → EUR" in routes[repriced.pk].dropped_reason
    assert product_routes_check() == 0  # already dropped: once
    assert AuditEvent.objects.filter(action="product.route_dropped").count() == 3


def test_admin_creates_a_product_and_attaches_a_suggestion(client_as, accounts):
    offer = make_offer(accounts[0], 1, "Steam Wallet", "$20 USA")
    client = client_as("admin")
    response = client.post(
        reverse("catalog:product_create"),
        {
            "code": "Steam-US-20",
            "name": "Steam",
            "kind": "key",
            "denomination": "20 USD",
            "region": "US",
            "customer_gives": "nothing",
            "retail_price": "22.00",
            "policy": "cheapest",
        },
    )
    product = Product.objects.get(code="steam-us-20")
    assert response.status_code == 302
    page = client.get(reverse("catalog:product_detail", args=[product.pk])).content.decode()
    assert "Steam Wallet · $20 USA" in page and "Names the region (US)" in page
    client.post(reverse("catalog:product_route_attach", args=[product.pk]), {"offer": offer.pk})
    assert product.routes.get().offer == offer
    Offer.objects.filter(pk=offer.pk).update(delisted_at=timezone.now())
    product_routes_check()
    page = client.get(reverse("catalog:product_detail", args=[product.pk])).content.decode()
    assert "Dropped out" in page and "The supplier delisted the offer." in page


def test_bad_input_is_a_message_not_a_500(client_as, pubg):
    client = client_as("admin")
    response = client.post(
        reverse("catalog:product_create"),
        {"code": "pubg-60", "name": "", "denomination": "x", "retail_price": "-1"},
    )
    assert response.status_code == 200
    assert "Another product has this code." in response.content.decode()
    response = client.post(reverse("catalog:product_route_attach", args=[pubg.pk]), {"offer": "²"})
    assert response.status_code == 302 and not pubg.routes.exists()


def test_operators_read_products_and_cannot_change_them(client_as, pubg):
    client = client_as("operator")
    assert client.get(reverse("catalog:product_detail", args=[pubg.pk])).status_code == 200
    assert client.get(reverse("catalog:product_create")).status_code == 403


def test_the_product_page_shows_each_route_with_cost_margin_and_why_it_is_skipped(
    client_as, accounts, pubg
):
    from catalog.models import CurrencyRate
    from orders.models import AccountQueue

    first, second = accounts
    CurrencyRate.objects.create(
        currency="RUB", usd_per_unit=Decimal("0.01"), valid_from=timezone.now()
    )
    product_route_attach(
        product=pubg, offer=make_offer(first, 1, "PUBG MOBILE", "60 UC", price="1.10")
    )
    product_route_attach(
        product=pubg,
        offer=make_offer(second, 2, "PUBG MOBILE", "60 UC", price="95", currency="RUB"),
    )
    product_route_attach(
        product=pubg, offer=make_offer(second, 3, "PUBG MOBILE", "60UC", in_stock=False)
    )
    AccountQueue.objects.create(account=first, on_hold=True, hold_reason="balance")
    client = client_as("operator")
    page = client.get(
        reverse("orders:product_routing", args=[pubg.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    rows = page.split('data-testid="routing-row"')[1:]
    assert "95.00 RUB" in rows[0] and "0.95" in rows[0] and "0.55" in rows[0]
    assert "Chosen" in rows[0]
    assert "Skipped: The account&#x27;s order queue is on hold (balance)." in page
    assert "Skipped: Out of stock." in page
    assert "<html" not in page  # the section only, for htmx


def test_a_denomination_written_with_a_thousands_separator_is_suggested(accounts, db):
    product = Product.objects.create(code="ff", name="Free Fire", denomination="1000 Diamonds")
    offer = make_offer(accounts[0], 1, "FREE FIRE", "1,000 Diamonds")
    assert [found for found, _ in product_suggestions(product)] == [offer]


def test_an_admin_sets_a_routes_price_limit_and_bad_input_is_a_message(client_as, accounts, pubg):
    route = product_route_attach(
        product=pubg, offer=make_offer(accounts[0], 1, "PUBG MOBILE", "60 UC", price="0.90")
    )
    client = client_as("admin")
    url = reverse("catalog:product_route_change", args=[route.pk])
    client.post(url, {"action": "limit", "max_unit_price": "0.95"})
    route.refresh_from_db()
    assert route.max_unit_price == Decimal("0.95")
    response = client.post(url, {"action": "limit", "max_unit_price": "-1"}, follow=True)
    assert "Price limit:" in response.content.decode()
    route.refresh_from_db()
    assert route.max_unit_price == Decimal("0.95")
    client.post(url, {"action": "limit", "max_unit_price": ""})
    route.refresh_from_db()
    assert route.max_unit_price is None
    assert AuditEvent.objects.filter(action="product.route_limit_set").count() == 2
