"""Every URL of the project, with every role and an anonymous visitor, answers as the table says.

Each issue that adds pages adds its rows here; the completeness test fails while a named URL is
missing from the table.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

ANON, OPERATOR, FINANCE, ADMIN = None, "operator", "finance", "admin"
WHO = (ANON, OPERATOR, FINANCE, ADMIN)
SIGN_IN = 302  # anonymous visitors are sent to the sign-in page


def expect(anon, operator, finance, admin):
    return dict(zip(WHO, (anon, operator, finance, admin), strict=True))


# url name -> (function making reverse() kwargs from the fixtures, expected status per role)
TABLE = {
    "login": (None, expect(200, 200, 200, 200)),
    # Signing out is a POST; a GET is refused for everyone (and bounced to sign-in for visitors).
    "logout": (None, expect(SIGN_IN, 405, 405, 405)),
    "healthz": (None, expect(200, 200, 200, 200)),
    "dashboard": (None, expect(SIGN_IN, 200, 200, 200)),
    "staff_list": (None, expect(SIGN_IN, 403, 403, 200)),
    "staff_detail": (lambda f: {"user_id": f["user"].pk}, expect(SIGN_IN, 403, 403, 200)),
    "audit_list": (None, expect(SIGN_IN, 403, 403, 200)),
    # Supplier accounts: every role may see the list; only admins add, change and test them.
    "supplier_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "supplier_create": (None, expect(SIGN_IN, 403, 403, 200)),
    "supplier_edit": (lambda f: {"account_id": f["account"].pk}, expect(SIGN_IN, 403, 403, 200)),
    # A POST-only action: GET is refused once the role check has passed.
    "supplier_check": (lambda f: {"account_id": f["account"].pk}, expect(SIGN_IN, 403, 403, 405)),
    # The Django admin sends anyone who is not an admin to its own sign-in page.
    "admin:index": (None, expect(302, 302, 302, 200)),
}

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
    from suppliers.models import SupplierAccount

    return {
        "user": make_staff("operator", username="someone"),
        "account": SupplierAccount.objects.create(
            name="Table", base_url="http://127.0.0.1:9", shop_token="t" * 32
        ),
    }


@pytest.mark.parametrize("role", WHO, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("url_name", sorted(TABLE))
def test_role_can_open_url(client_as, fixtures, role, url_name):
    kwargs_for, expected = TABLE[url_name]
    url = reverse(url_name, kwargs=kwargs_for(fixtures) if kwargs_for else None)
    response = client_as(role).get(url)
    assert response.status_code == expected[role], f"{role or 'anonymous'} GET {url}"
    if response.status_code == SIGN_IN and role is ANON and not url_name.startswith("admin:"):
        assert response.url.startswith(reverse("login"))
