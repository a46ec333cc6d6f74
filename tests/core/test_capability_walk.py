"""Every page and every action, for an account of each supplier kind, as each role: no 5xx.

The URLs come from the URL confs (every named URL outside the Django admin), with the objects the
role table's fixtures make (tests/core/test_role_url_table.py), so a new URL is walked as soon as
it is in the table, which its completeness test demands. Every supplier account of those fixtures
is turned into an account of the kind under test at the sandbox, so each page and action meets a
supplier that lacks whatever that kind's API lacks (CodeGames: no feed, balance, ledger, player
check, servers, Telegram user).

Each URL is opened (GET, and GET as htmx) and posted to (with the chosen account) as an operator,
finance and an admin. For CodeGames, no page may offer an action its API cannot do.
"""

import re

import pytest
from django.urls import get_resolver, reverse

from suppliers.models import SupplierAccount, SupplierKind
from tests.core import test_role_url_table as role_table

ROLES = ("operator", "finance", "admin")
# Signing out would end the walk's session; it has nothing to do with suppliers.
NOT_WALKED = {"logout"}
# Forms that would call what CodeGames' API lacks: none of them may appear on its pages.
MISSING_ACTIONS = {
    "catalog:sync_start": "a catalog feed",
    "finance:finance_snapshot_take": "a balance endpoint",
    "finance:ledger_sync_start": "a ledger",
    "finance:reconciliation_start": "a ledger",
}


@pytest.fixture
def accounts_of_kind(sandbox, make_staff, request):
    """The role table's objects, every supplier account of them made one of `kind` at the sandbox."""
    kind = request.param
    objects = role_table.fixtures.__wrapped__(make_staff)
    for account in SupplierAccount.objects.all():
        remote = sandbox.create_account(kind=kind, balance="1000", balance_profile="MIXED")
        account.kind, account.base_url = kind, sandbox.url
        account.shop_token = remote["token"]
        account.management_token = remote.get("management_token") or ""
        account.call_deadline_seconds = 5
        account.save()
    return kind, objects


def _walked_urls(objects) -> list[tuple[str, str]]:
    names = sorted(
        name
        for name in role_table._named_urls(get_resolver().url_patterns)
        if name.split(":")[0] not in role_table.NAMESPACES_COVERED_BY_ONE_ROW
        and name not in NOT_WALKED
    )
    missing = [name for name in names if name not in role_table.TABLE]
    assert not missing, f"add these URLs to the role table: {missing}"
    urls = []
    for name in names:
        kwargs_for = role_table.TABLE[name][0]
        urls.append((name, reverse(name, kwargs=kwargs_for(objects) if kwargs_for else None)))
    return urls


@pytest.mark.parametrize(
    "accounts_of_kind", list(SupplierKind.values), indirect=True, ids=list(SupplierKind.values)
)
def test_every_page_and_action_answers_without_a_server_error(client, make_staff, accounts_of_kind):
    kind, objects = accounts_of_kind
    account = objects["account"]
    urls = _walked_urls(objects)
    failures, offered = [], []
    forbidden = {reverse(name): what for name, what in MISSING_ACTIONS.items()}
    for role in ROLES:
        user = make_staff(role)
        for name, url in urls:
            client.force_login(user)
            for method, headers in (("GET", {}), ("GET (htmx)", {"HTTP_HX_REQUEST": "true"})):
                response = client.get(url, {"account": account.pk}, **headers)
                if response.status_code >= 500:
                    failures.append(f"{role} {method} {name} {url} -> {response.status_code}")
                elif kind == SupplierKind.CODEGAMES and response.get("Content-Type", "").startswith(
                    "text/html"
                ):
                    html = response.content.decode()
                    for action in re.findall(r'(?:action|hx-post)="([^"?]+)', html):
                        if action in forbidden:
                            offered.append(f"{role} {url} offers {action} ({forbidden[action]})")
            client.force_login(user)
            response = client.post(url, {"account": account.pk})
            if response.status_code >= 500:
                failures.append(f"{role} POST {name} {url} -> {response.status_code}")
    assert not failures, "\n".join(failures)
    assert not offered, "CodeGames has no such endpoint:\n" + "\n".join(sorted(set(offered)))
