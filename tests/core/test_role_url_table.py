"""Every URL of the project, with every role and an anonymous visitor, answers as the table says.

The rows of the orders and finance pages live beside their tests (tests/orders/role_urls.py,
tests/finance/role_urls.py: ROWS, and `fixtures(make_staff)` for the objects their URLs name);
the completeness test fails while a named URL is missing from the table.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.core.role_table import SIGN_IN, WHO, expect

# url name -> (function making reverse() kwargs from the fixtures, expected status per role)
TABLE = {
    "login": (None, expect(200, 200, 200, 200)),
    # Signing out is a POST; a GET is refused for everyone (and bounced to sign-in for visitors).
    "logout": (None, expect(SIGN_IN, 405, 405, 405)),
    "core:healthz": (None, expect(200, 200, 200, 200)),
    "dashboard:dashboard": (None, expect(SIGN_IN, 200, 200, 200)),
    "core:staff_list": (None, expect(SIGN_IN, 403, 403, 200)),
    "core:staff_detail": (lambda f: {"user_id": f["user"].pk}, expect(SIGN_IN, 403, 403, 200)),
    "core:audit_list": (None, expect(SIGN_IN, 403, 403, 200)),
    "core:audit_export": (None, expect(SIGN_IN, 403, 403, 200)),
    # The steps after the password answer only someone half-way through signing in; anyone else
    # is sent (back) to the sign-in page.
    "core:sign_in_code": (None, expect(SIGN_IN, 302, 302, 302)),
    "core:sign_in_password": (None, expect(SIGN_IN, 302, 302, 302)),
    # Signed in: anyone may set up (or replace, after fresh proof) their own authenticator app.
    "core:two_factor_enrol": (None, expect(SIGN_IN, 200, 200, 200)),
    "core:confirm_identity": (None, expect(SIGN_IN, 200, 200, 200)),
    "core:account": (None, expect(SIGN_IN, 200, 200, 200)),
    "core:password_change": (None, expect(SIGN_IN, 200, 200, 200)),
    "core:recovery_codes_renew": (None, expect(SIGN_IN, 405, 405, 405)),
    "core:two_factor_remove": (None, expect(SIGN_IN, 405, 405, 405)),
    "core:sign_out_everywhere": (None, expect(SIGN_IN, 405, 405, 405)),
    # Supplier accounts: every role may see the list; only admins add, change and test them.
    "suppliers:supplier_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "suppliers:supplier_create": (None, expect(SIGN_IN, 403, 403, 200)),
    "suppliers:supplier_edit": (
        lambda f: {"account_id": f["account"].pk},
        expect(SIGN_IN, 403, 403, 200),
    ),
    # A POST-only action: GET is refused once the role check has passed.
    "suppliers:supplier_check": (
        lambda f: {"account_id": f["account"].pk},
        expect(SIGN_IN, 403, 403, 405),
    ),
    # The Telegram marketplace (its bot token): only admins add, change and test it.
    "suppliers:marketplace_create": (None, expect(SIGN_IN, 403, 403, 200)),
    "suppliers:marketplace_edit": (
        lambda f: {"marketplace_id": f["marketplace"].pk},
        expect(SIGN_IN, 403, 403, 200),
    ),
    "suppliers:marketplace_check": (
        lambda f: {"marketplace_id": f["marketplace"].pk},
        expect(SIGN_IN, 403, 403, 405),
    ),
    # Catalog: operators work in it; finance reads it; only operators and admins change its offers.
    "catalog:catalog_browse": (None, expect(SIGN_IN, 200, 200, 200)),
    "catalog:catalog_export": (None, expect(SIGN_IN, 200, 200, 200)),
    "catalog:offer_detail": (lambda f: {"offer_pk": f["offer"].pk}, expect(SIGN_IN, 200, 200, 200)),
    "catalog:offer_refresh": (
        lambda f: {"offer_pk": f["offer"].pk},
        expect(SIGN_IN, 405, 403, 405),
    ),
    "catalog:offer_servers": (
        lambda f: {"offer_pk": f["offer"].pk},
        expect(SIGN_IN, 200, 200, 200),
    ),
    "catalog:sync_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "catalog:sync_start": (None, expect(SIGN_IN, 405, 403, 405)),
    "catalog:sync_detail": (lambda f: {"job_pk": f["job"].pk}, expect(SIGN_IN, 200, 200, 200)),
    "catalog:profile_change_dismiss": (
        lambda f: {"change_pk": f["change"].pk},
        expect(SIGN_IN, 405, 403, 405),
    ),
    "catalog:offer_lookup_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "catalog:offer_lookup_start": (None, expect(SIGN_IN, 405, 403, 405)),
    "catalog:offer_lookup_refresh": (None, expect(SIGN_IN, 405, 403, 405)),
    "catalog:offer_lookup_detail": (
        lambda f: {"job_pk": f["lookup"].pk},
        expect(SIGN_IN, 200, 200, 200),
    ),
    "catalog:pricing": (None, expect(SIGN_IN, 200, 200, 200)),
    # Pricing rules and currency rates: everyone who works with the catalog reads them on the
    # pricing page; only admins (or someone an admin gave "May change pricing") change them.
    "catalog:pricing_rule_edit": (
        lambda f: {"rule_pk": f["rule"].pk},
        expect(SIGN_IN, 403, 403, 200),
    ),
    "catalog:currency_rate_save": (None, expect(SIGN_IN, 403, 403, 405)),
    # Products: everyone who works with the catalog reads them; admins make and route them.
    "catalog:product_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "catalog:product_detail": (
        lambda f: {"product_pk": f["product"].pk},
        expect(SIGN_IN, 200, 200, 200),
    ),
    "orders:product_routing": (
        lambda f: {"product_pk": f["product"].pk},
        expect(SIGN_IN, 200, 200, 200),
    ),
    "orders:product_order_create": (
        lambda f: {"product_pk": f["product"].pk},
        expect(SIGN_IN, 200, 403, 200),
    ),
    "finance:product_report": (None, expect(SIGN_IN, 403, 200, 200)),
    "catalog:product_create": (None, expect(SIGN_IN, 403, 403, 200)),
    "catalog:product_edit": (
        lambda f: {"product_pk": f["product"].pk},
        expect(SIGN_IN, 403, 403, 200),
    ),
    "catalog:product_route_attach": (
        lambda f: {"product_pk": f["product"].pk},
        expect(SIGN_IN, 403, 403, 405),
    ),
    "catalog:product_route_change": (
        lambda f: {"route_pk": f["route"].pk},
        expect(SIGN_IN, 403, 403, 405),
    ),
    # The Django admin sends anyone who is not an admin to its own sign-in page.
    "admin:index": (None, expect(302, 302, 302, 200)),
}

from tests.finance import role_urls as finance_urls  # noqa: E402
from tests.orders import role_urls as order_urls  # noqa: E402
from tests.orders import role_urls_batches as batch_urls  # noqa: E402

TABLE.update(order_urls.ROWS)
TABLE.update(batch_urls.ROWS)
TABLE.update(finance_urls.ROWS)

# Whole namespaces covered by one row above (the Django admin has hundreds of URLs of its own).
NAMESPACES_COVERED_BY_ONE_ROW = {"admin"}


def _named_urls(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_urls(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}"


def test_every_named_url_is_in_the_table():
    names = {
        name
        for name in _named_urls(get_resolver().url_patterns)
        if name.split(":")[0] not in NAMESPACES_COVERED_BY_ONE_ROW
    }
    missing = names - set(TABLE)
    assert not missing, f"add these URLs to the role table: {sorted(missing)}"


@pytest.fixture
def fixtures(make_staff):
    from django.utils import timezone

    from catalog.models import (
        Offer,
        OfferLookupJob,
        PricingRule,
        Product,
        ProductRoute,
        ProfileChange,
        SyncJob,
    )
    from suppliers.models import SupplierAccount, TelegramMarketplace

    account = SupplierAccount.objects.create(
        name="Table", base_url="http://127.0.0.1:9", shop_token="t" * 32, connect_timeout_seconds=1
    )
    now = timezone.now()
    offer = Offer.objects.create(
        account=account, offer_id=1, price=1, first_seen_at=now, synced_at=now
    )
    product = Product.objects.create(code="table", name="Table", denomination="1")
    return {
        **order_urls.fixtures(make_staff),
        **batch_urls.fixtures(make_staff),
        **finance_urls.fixtures(make_staff),
        "user": make_staff("operator", username="someone"),
        "account": account,
        "marketplace": TelegramMarketplace.objects.create(
            name="Table bot", bot_token="1:" + "b" * 30
        ),
        "offer": offer,
        "product": product,
        "route": ProductRoute.objects.create(product=product, offer=offer),
        "job": SyncJob.objects.create(account=account, status="succeeded"),
        "lookup": OfferLookupJob.objects.create(account=account, status="succeeded"),
        "change": ProfileChange.objects.create(account=account, new_profile="FIAT"),
        "rule": PricingRule.objects.create(account=account, scope="default"),
    }


@pytest.mark.parametrize("role", WHO, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("url_name", sorted(TABLE))
def test_role_can_open_url(client_as, fixtures, role, url_name):
    kwargs_for, expected = TABLE[url_name]
    url = reverse(url_name, kwargs=kwargs_for(fixtures) if kwargs_for else None)
    response = client_as(role).get(url)
    assert response.status_code == expected[role], f"{role or 'anonymous'} GET {url}"
    if response.status_code == SIGN_IN and not url_name.startswith("admin:"):
        assert response.url.startswith(reverse("login"))
