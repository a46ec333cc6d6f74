import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import CurrencyRate, Offer, PriceHistory, PricingRule
from suppliers.models import SupplierAccount


@pytest.fixture
def account(db):
    return SupplierAccount.objects.create(
        name="Main", base_url="http://127.0.0.1:9", shop_token="t" * 32, balance_profile="FIAT"
    )


def make_offer(account, offer_id, product, name, price="10.00", currency="USD", **extra):
    now = timezone.now()
    return Offer.objects.create(
        account=account,
        offer_id=offer_id,
        product_name=product,
        offer_name=name,
        search_text=f"{product} {name}".lower(),
        price=Decimal(price),
        currency=currency,
        first_seen_at=now,
        synced_at=now,
        **extra,
    )


@pytest.fixture
def offers(account):
    return [
        make_offer(
            account, 1, "PUBG Mobile", "60 UC", "0.99", category="Top Up", settlement_method="FIAT"
        ),
        make_offer(
            account, 2, "PUBG Mobile", "325 UC", "4.99", category="Top Up", settlement_method="USDT"
        ),
        make_offer(account, 3, "Steam Wallet TR", "100 TRY", "95.00", "TRY", category="Gift Cards"),
        make_offer(
            account,
            4,
            "=cmd|' /C calc'!A0",
            "50% off_",
            "5.00",
            category="Gift Cards",
            in_stock=False,
        ),
        make_offer(account, 5, "Gone Game", "1 coin", "1.00", delisted_at=timezone.now()),
    ]


def offer_ids(response):
    return [row[0].offer_id for row in response.context["rows"]]


def test_search_filters_and_sorts_through_htmx(client_as, offers):
    client = client_as("operator")
    url = reverse("catalog:catalog_browse")
    response = client.get(
        url, {"q": "pubg", "sort": "-price"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    assert b"<html" not in response.content and b'id="results"' in response.content
    assert offer_ids(response) == [2, 1]

    full = client.get(url, {"q": "pubg uc", "category": "Top Up", "max_price": "1"})
    assert b"<html" in full.content and offer_ids(full) == [1]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # 3 and 4 are in the account's feed: compatible by the supplier's statement, before
        # find-one names their settlement method; 5 left the feed.
        ({"compatibility": "compatible"}, [1, 3, 4]),
        ({"compatibility": "incompatible"}, [2]),
        ({"compatibility": "unknown", "listing": "all"}, [5]),
        ({"stock": "out"}, [4]),
        ({"currency": "TRY"}, [3]),
        ({"listing": "delisted"}, [5]),
        ({"min_price": "4", "max_price": "95", "sort": "price"}, [2, 4, 3]),
    ],
)
def test_each_filter(client_as, offers, params, expected):
    response = client_as("finance").get(
        reverse("catalog:catalog_browse"), {"sort": "-id", **params}
    )
    assert sorted(offer_ids(response)) == sorted(expected)


@pytest.mark.parametrize(
    "query",
    [
        '"quoted"',
        "50%",
        "off_",
        "%_%",
        "'; DROP TABLE catalog_offer; --",
        "ñandú 漢字 🎮",
        "x" * 5000,
        "\x00",
    ],
)
def test_any_search_text_is_safe(client_as, offers, query):
    response = client_as("operator").get(reverse("catalog:catalog_browse"), {"q": query})
    assert response.status_code == 200
    if query in ("50%", "off_"):
        assert offer_ids(response) == [4]  # the literal characters, not LIKE wildcards
    if query == "%_%":
        assert offer_ids(response) == []


def test_bad_filter_values_are_ignored_with_a_message(client_as, offers):
    response = client_as("operator").get(
        reverse("catalog:catalog_browse"), {"min_price": "cheap", "sort": "evil"}
    )
    assert response.status_code == 200
    assert b"Some filters were not understood" in response.content


def test_price_changes_since_the_last_sync_are_marked(client_as, account, offers):
    offers[0].previous_price, offers[0].price_changed_at = Decimal("0.89"), timezone.now()
    offers[0].save()
    response = client_as("operator").get(reverse("catalog:catalog_browse"), {"changed": "on"})
    assert offer_ids(response) == [1]
    assert "▲" in response.content.decode()


def test_retail_and_margin_follow_the_rules(client_as, account, offers):
    PricingRule.objects.create(
        account=account, scope="category", target="Top Up", markup_percent=10, rounding="up_99"
    )
    response = client_as("operator").get(reverse("catalog:catalog_browse"), {"q": "325"})
    offer, price, compatible = response.context["rows"][0]
    assert price.retail == Decimal("5.99") and compatible is False


def test_priced_export_is_a_safe_spreadsheet(client_as, account, offers):
    PricingRule.objects.create(account=account, scope="default", markup_percent=20)
    response = client_as("operator").get(reverse("catalog:catalog_export"), {"account": account.pk})
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert {r["offer_id"] for r in rows} == {
        "1",
        "2",
        "3",
        "4",
    }  # delisted left out, as in the page
    evil = next(r for r in rows if r["offer_id"] == "4")
    assert evil["product"].startswith("'=")
    assert next(r for r in rows if r["offer_id"] == "1")["retail"] == "1.19"


def test_offer_page_shows_history_chart_and_rule(client_as, account, offers):
    offer = offers[0]
    PriceHistory.objects.create(
        offer=offer, price=Decimal("0.89"), currency="USD", recorded_at=timezone.now()
    )
    PriceHistory.objects.create(
        offer=offer, price=Decimal("0.99"), currency="USD", recorded_at=timezone.now()
    )
    html = (
        client_as("finance").get(reverse("catalog:offer_detail", args=[offer.pk])).content.decode()
    )
    assert "<polyline" in html and "No markup rule" in html


def test_pricing_rule_forms_validate_and_audit(client_as, account):
    client = client_as("admin")
    url = f"{reverse('catalog:pricing')}?account={account.pk}"
    bad = client.post(
        url,
        {
            "scope": "offer",
            "target": "abc",
            "markup_percent": "5",
            "markup_fixed": "0",
            "rounding": "none",
        },
    )
    assert "numeric id" in bad.content.decode()
    # "²" passes str.isdigit() but names no offer.
    sup = client.post(
        url,
        {
            "scope": "offer",
            "target": "²",
            "markup_percent": "5",
            "markup_fixed": "0",
            "rounding": "none",
        },
    )
    assert "numeric id" in sup.content.decode()
    client.post(
        url,
        {
            "scope": "offer",
            "target": "7",
            "markup_percent": "5",
            "markup_fixed": "0",
            "rounding": "none",
        },
    )
    duplicate = client.post(
        url,
        {
            "scope": "offer",
            "target": "7",
            "markup_percent": "6",
            "markup_fixed": "0",
            "rounding": "none",
        },
    )
    assert duplicate.status_code == 200 and PricingRule.objects.count() == 1
    assert client_as("finance").post(url, {"scope": "default"}).status_code == 403
    assert client_as("operator").post(url, {"scope": "default"}).status_code == 403


def _rule_post(**changes):
    return {
        "scope": "offer",
        "target": "7",
        "markup_percent": "5",
        "markup_fixed": "0",
        "rounding": "none",
        **changes,
    }


def test_operators_read_pricing_but_only_admins_change_it(client_as, account):
    page = client_as("operator").get(f"{reverse('catalog:pricing')}?account={account.pk}")
    html = page.content.decode()
    assert page.status_code == 200 and "an admin changes them" in html
    assert "Save rate" not in html and "Add rule" not in html

    rate = {"currency": "PLN", "usd_per_unit": "0.002", "account": account.pk}
    refused = client_as("operator").post(reverse("catalog:currency_rate_save"), rate)
    assert refused.status_code == 403
    assert not CurrencyRate.objects.filter(currency="PLN").exists()
    assert client_as("admin").post(reverse("catalog:currency_rate_save"), rate).status_code == 302
    assert CurrencyRate.objects.get(currency="PLN").usd_per_unit == Decimal("0.002")


def test_pricing_changes_are_audited_before_and_after(client_as, account):
    from reseller.core.models import AuditEvent

    admin = client_as("admin")
    save_rate = reverse("catalog:currency_rate_save")
    admin.post(save_rate, {"currency": "pln", "usd_per_unit": "0.002"})
    admin.post(save_rate, {"currency": "PLN", "usd_per_unit": "0.0025"})
    first, second = AuditEvent.objects.filter(action="currency_rate.saved").order_by("id")
    assert (first.data["before"], first.data["after"]) == (
        {"usd_per_unit": None},
        {"usd_per_unit": "0.002"},
    )
    assert (second.data["before"], second.data["after"]) == (
        {"usd_per_unit": "0.002"},
        {"usd_per_unit": "0.0025"},
    )

    admin.post(f"{reverse('catalog:pricing')}?account={account.pk}", _rule_post())
    rule = PricingRule.objects.get()
    admin.post(
        reverse("catalog:pricing_rule_edit", args=[rule.pk]), _rule_post(markup_percent="7.5")
    )
    updated = AuditEvent.objects.get(action="pricing_rule.updated")
    assert updated.data["before"]["percent"] == "5" and updated.data["after"]["percent"] == "7.5"
    assert updated.data["before"]["target"] == updated.data["after"]["target"] == "7"

    refused = client_as("operator").post(
        reverse("catalog:pricing_rule_edit", args=[rule.pk]), {"delete": "1"}
    )
    assert refused.status_code == 403 and PricingRule.objects.filter(pk=rule.pk).exists()
    client_as("admin").post(reverse("catalog:pricing_rule_edit", args=[rule.pk]), {"delete": "1"})
    deleted = AuditEvent.objects.get(action="pricing_rule.deleted")
    assert deleted.data["before"]["percent"] == "7.5" and deleted.data["after"] is None


def test_refresh_price_reads_find_one_from_the_sandbox(client_as, sandbox, sandbox_account):
    from catalog.models import SyncJob
    from catalog.sync import catalog_sync_run

    account = sandbox_account()
    job = SyncJob.objects.create(account=account)
    catalog_sync_run(job.pk)
    offer = Offer.objects.get(account=account, offer_id=999)
    sandbox.admin("POST", "/sandbox/offers/999", {"price": "24.50"})
    try:
        response = client_as("operator").post(
            reverse("catalog:offer_refresh", args=[offer.pk]), follow=True
        )
    finally:
        sandbox.admin("POST", "/sandbox/offers/999", {"price": "23.09"})
    offer.refresh_from_db()
    assert offer.price == Decimal("24.50") and offer.previous_price == Decimal("23.09")
    assert offer.settlement_method == "MIXED" and offer.returns_key is True
    assert offer.price_history.filter(source="find-one").exists()
    assert "Live price: 24.50 KZT" in response.content.decode()


def test_servers_are_fetched_on_demand(client_as, sandbox, sandbox_account):
    account = sandbox_account()
    listed = sandbox.admin(
        "GET", "/sandbox/offers", params={"req_server": "true", "settlement": "MIXED", "limit": 1}
    )
    remote = listed["offers"][0]
    now = timezone.now()
    offer = Offer.objects.create(
        account=account,
        offer_id=remote["offerId"],
        price=1,
        first_seen_at=now,
        synced_at=now,
        requires_server_id=True,
    )
    response = client_as("operator").get(
        reverse("catalog:offer_servers", args=[offer.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html
    for label, value in remote["servers"].items():
        assert label in html and value in html


@pytest.mark.parametrize(
    ("page", "expected"),
    [("2", 2), ("3", 3), ("99", 3), ("0", 3), ("-1", 3), ("two", 1), ("", 1)],
)
def test_search_results_are_paged_like_any_list(client_as, account, monkeypatch, page, expected):
    monkeypatch.setattr("catalog.views.PAGE_SIZE", 2)
    for offer_id in range(1, 6):
        make_offer(account, offer_id, "Mobile Legends", f"{offer_id}0 diamonds", f"{offer_id}.00")
    make_offer(account, 9, "Steam Wallet", "10 USD")
    response = client_as("operator").get(
        reverse("catalog:catalog_browse"), {"q": "diamonds", "sort": "price", "page": page}
    )
    result = response.context["page"]
    assert result.number == expected and result.paginator.count == 5
    assert result.paginator.num_pages == 3
    assert offer_ids(response) == [1, 2, 3, 4, 5][(expected - 1) * 2 : expected * 2]


def test_a_search_without_matches_is_an_empty_first_page(client_as, offers):
    response = client_as("operator").get(
        reverse("catalog:catalog_browse"), {"q": "nothing", "page": "4"}
    )
    assert response.context["page"].number == 1 and response.context["page"].paginator.count == 0
    assert "No offers match" in response.content.decode()


def test_the_catalog_speaks_plain_words(client_as, account, offers):
    from catalog.models import ProfileChange

    ProfileChange.objects.create(account=account, old_profile="MIXED", new_profile="FIAT")
    html = client_as("operator").get(reverse("catalog:catalog_browse")).content.decode()
    assert 'data-testid="catalog-legend"' in html and "What the columns mean" in html
    assert "the account's balance buys offers settled in fiat (and mixed ones)" in html
    assert "the supplier's feed now holds only the offers the new balance can buy" in html
    assert "Not checked" not in html and "Profile <strong>" not in html
    # One money format: 0.99 and 95.00, never 95 beside 0.99.
    assert ">0.99 USD" in html.replace("\n", "").replace("  ", "")
    assert "95.00 TRY" in html and "95 TRY" not in html


def test_an_offer_in_the_feed_is_compatible_and_its_method_shows_once_told(client_as, offers):
    steam, fiat = offers[2], offers[0]
    client = client_as("operator")
    feed = client.get(reverse("catalog:offer_detail", args=[steam.pk])).context
    assert feed["compatible"] is True
    told = client.get(reverse("catalog:offer_detail", args=[fiat.pk])).content.decode()
    assert "settles in <strong>FIAT</strong>" in told
    gone = client.get(reverse("catalog:offer_detail", args=[offers[4].pk])).content.decode()
    assert "it left the account's feed" in gone


def test_retail_at_or_below_cost_is_flagged(client_as, account, offers):
    PricingRule.objects.create(account=account, scope="default", markup_percent=Decimal("0"))
    client = client_as("operator")
    page = client.get(reverse("catalog:catalog_browse"), {"q": "pubg"}).content.decode()
    assert page.count('data-testid="at-or-below-cost"') == 2 and "at cost" in page
    PricingRule.objects.filter(account=account).update(markup_percent=Decimal("-10"))
    detail = client.get(reverse("catalog:offer_detail", args=[offers[0].pk])).content.decode()
    assert "Retail is below cost: every sale loses money." in detail
    PricingRule.objects.filter(account=account).update(markup_percent=Decimal("20"))
    assert (
        'data-testid="at-or-below-cost"'
        not in client.get(reverse("catalog:catalog_browse"), {"q": "pubg"}).content.decode()
    )


def test_a_bundle_shows_its_bundle_price_and_its_unit_price(client_as, account, offers):
    make_offer(account, 6, "Mobile Legends", "5 x 310 Diamonds", "3.21", units=5)
    make_offer(account, 7, "Mobile Legends", "310 Diamonds", "3.21", units=1)
    client = client_as("operator")
    html = client.get(reverse("catalog:catalog_browse"), {"q": "diamonds"}).content.decode()
    assert html.count('data-testid="bundle-price"') == 1
    assert (
        '<span data-testid="bundle-price">16.05 USD</span> <span class="muted small">for 5' in html
    )
    assert '<div class="small muted" data-testid="unit-price">3.21 per unit</div>' in html
    bundle = Offer.objects.get(offer_id=6)
    page = client.get(reverse("catalog:offer_detail", args=[bundle.pk])).content.decode()
    assert '16.05 USD <span class="muted small">for a bundle of 5</span>' in page
    assert "3.21 USD per unit" in page and "a bundle of 5 units" in page
    single = client.get(reverse("catalog:offer_detail", args=[offers[0].pk])).content.decode()
    assert 'data-testid="unit-price"' not in single
    assert "units per order not known until the price is refreshed" in single
