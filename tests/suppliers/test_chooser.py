"""The one supplier-account chooser of the catalog's and finance's pages (suppliers/chooser.py and
suppliers/account_chooser.html): which account a request names, and the select that switches."""

import pytest
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse

from suppliers.chooser import AccountChooser
from suppliers.models import SupplierAccount

pytestmark = pytest.mark.django_db

PAGES = [
    "catalog:catalog_browse",
    "catalog:pricing",
    "finance:finance_overview",
    "finance:ledger_list",
    "finance:reconciliation_list",
]


def account(name: str, *, enabled: bool = True) -> SupplierAccount:
    return SupplierAccount.objects.create(name=name, base_url="http://127.0.0.1:9", enabled=enabled)


CHOOSER = AccountChooser(lambda: SupplierAccount.objects.filter(enabled=True).order_by("name"))


def test_a_page_shows_the_account_its_request_names_else_the_first_offered():
    beta, alpha = account("beta"), account("alpha")
    account("off", enabled=False)
    factory = RequestFactory()
    assert CHOOSER.chosen(factory.get("/")) == (alpha, [alpha, beta])
    assert CHOOSER.chosen(factory.get("/", {"account": beta.pk}))[0] == beta
    assert CHOOSER.required(factory.post("/", {"account": beta.pk})) == beta  # a form's post
    for wanted in ("999999", "abc", str(SupplierAccount.objects.get(name="off").pk)):
        with pytest.raises(Http404):
            CHOOSER.chosen(factory.get("/", {"account": wanted}))


def test_without_an_account_a_page_shows_none_and_an_action_is_a_404():
    account("off", enabled=False)
    assert CHOOSER.chosen(RequestFactory().get("/")) == (None, [])
    with pytest.raises(Http404):
        CHOOSER.required(RequestFactory().post("/"))


@pytest.mark.parametrize("name", PAGES)
def test_catalog_and_finance_pages_switch_accounts_with_the_one_chooser(name, client_as):
    client = client_as("admin")
    url = reverse(name)
    alpha = account("alpha")
    assert 'data-testid="account-chooser"' not in client.get(url).content.decode()

    beta = account("beta")
    html = client.get(url, {"account": beta.pk}).content.decode()
    assert html.count('data-testid="account-chooser"') == 1
    assert (
        f'<form method="get" action="{url}" class="inline" data-testid="account-chooser">' in html
    )
    assert f'<option value="{alpha.pk}">alpha</option>' in html
    assert f'<option value="{beta.pk}" selected>beta</option>' in html
    assert client.get(url, {"account": "999999"}).status_code == 404
