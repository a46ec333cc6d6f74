import logging

import pytest
from django.db import connection
from django.urls import reverse

from reseller.core.models import AuditEvent
from suppliers.clients import CodeGamesClient, GamesDropClient
from suppliers.models import SupplierAccount
from suppliers.services import supplier_account_check, supplier_account_save, supplier_client

TOKEN = "abcdef1234567890abcdef1234567890"


def _form(**overrides):
    return {
        "name": "GamesDrop main",
        "kind": "gamesdrop",
        "base_url": "https://partner.gamesdrop.io",
        "user_info_url": "",
        "rate_limit_per_second": "10",
        "connect_timeout_seconds": "3.05",
        "call_deadline_seconds": "20",
        "enabled": "on",
        "shop_token_input": TOKEN,
        "management_token_input": "",
        **overrides,
    }


@pytest.mark.django_db
def test_admin_saves_a_token_that_is_encrypted_and_never_shown_again(client_as):
    admin = client_as("admin")
    response = admin.post(reverse("suppliers:supplier_create"), _form())
    account = SupplierAccount.objects.get(name="GamesDrop main")
    assert response.status_code == 302

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shop_token FROM suppliers_supplieraccount WHERE id = %s", [account.pk]
        )
        assert TOKEN not in cursor.fetchone()[0]

    page = admin.get(reverse("suppliers:supplier_edit", args=[account.pk])).content.decode()
    assert TOKEN not in page and TOKEN[:-4] not in page
    assert "••••••••7890" in page
    assert all(TOKEN not in str(e.data) for e in AuditEvent.objects.all())


@pytest.mark.django_db
def test_an_empty_token_input_keeps_the_stored_token_and_a_new_one_replaces_it(client_as):
    admin = client_as("admin")
    admin.post(reverse("suppliers:supplier_create"), _form())
    account = SupplierAccount.objects.get()
    admin.post(
        reverse("suppliers:supplier_edit", args=[account.pk]),
        _form(shop_token_input="", name="Renamed"),
    )
    account.refresh_from_db()
    assert account.name == "Renamed" and account.shop_token == TOKEN

    admin.post(
        reverse("suppliers:supplier_edit", args=[account.pk]), _form(shop_token_input="f" * 32)
    )
    account.refresh_from_db()
    assert account.shop_token == "f" * 32
    replaced = AuditEvent.objects.filter(action="supplier_account.updated").first()  # newest
    assert replaced.data["secrets_replaced"] == ["shop_token"]


@pytest.mark.django_db
def test_a_new_account_needs_a_token(client_as):
    response = client_as("admin").post(
        reverse("suppliers:supplier_create"), _form(shop_token_input="")
    )
    assert response.status_code == 200
    assert "needs its shop token" in response.content.decode()
    assert not SupplierAccount.objects.exists()


def test_test_connection_reports_the_balance_and_profile_from_the_sandbox(
    client_as, sandbox_account
):
    account = sandbox_account(balance_profile="USDT", balance="250.50")
    admin = client_as("admin")
    response = admin.post(
        reverse("suppliers:supplier_check", args=[account.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html and 'id="check-result"' in html
    assert "Balance 250.50 USD" in html and "profile USDT" in html
    account.refresh_from_db()
    assert account.last_check_ok and account.balance_profile == "USDT"
    assert account.is_postpaid is False


def test_test_connection_with_a_wrong_token_says_so_without_showing_it(
    client_as, sandbox_account, caplog
):
    account = sandbox_account()
    account.shop_token = "0" * 32
    account.save()
    caplog.set_level(logging.DEBUG)
    response = client_as("admin").post(
        reverse("suppliers:supplier_check", args=[account.pk]), follow=True
    )
    html = response.content.decode()
    assert "InvalidToken" in html and "0" * 32 not in html
    assert "0" * 32 not in caplog.text
    account.refresh_from_db()
    assert account.last_check_ok is False


@pytest.mark.django_db
def test_an_unreachable_supplier_is_a_failed_check_not_a_crash():
    account = SupplierAccount.objects.create(
        name="nowhere", base_url="http://127.0.0.1:9", shop_token=TOKEN, connect_timeout_seconds=1
    )
    ok, message = supplier_account_check(account=account)
    assert not ok and "SupplierUnreachable" in message and TOKEN not in message


@pytest.mark.django_db
def test_each_kind_gets_its_own_client():
    gamesdrop = SupplierAccount.objects.create(name="a", base_url="http://x.test", shop_token=TOKEN)
    codegames = SupplierAccount.objects.create(
        name="b", kind="codegames", base_url="http://y.test", shop_token=TOKEN
    )
    assert isinstance(supplier_client(gamesdrop), GamesDropClient)
    assert isinstance(supplier_client(codegames), CodeGamesClient)
    assert TOKEN not in repr(supplier_client(gamesdrop))


def test_clients_of_one_account_reuse_its_connection_within_a_thread(sandbox_account):
    """Each order and status call builds a client; they share the account's session, so the
    supplier's connection (a TLS handshake, with a real supplier) is opened once, not per call."""
    import threading

    account = sandbox_account()
    first, second = supplier_client(account), supplier_client(account)
    first.balance()
    second.balance()
    session = first._transport.session
    assert second._transport.session is session
    pools = session.get_adapter(account.base_url).poolmanager.pools
    counts = [(pools[key].num_connections, pools[key].num_requests) for key in pools.keys()]
    assert counts == [(1, 2)]

    # Another thread (a session is not shared between threads) has its own.
    other = []
    thread = threading.Thread(target=lambda: other.append(supplier_client(account)))
    thread.start()
    thread.join()
    assert other[0]._transport.session is not session


@pytest.mark.django_db(transaction=True)
def test_a_changed_token_is_used_by_the_next_call_of_a_thread_that_already_called(
    sandbox_account, sandbox
):
    """An admin replaces the shop token while a worker thread keeps a session for the account:
    the worker's very next call goes out with the new token (another sandbox account's, so the
    balance tells which token was used), on a new session."""
    import threading

    account = sandbox_account(balance="1000")
    replacement = sandbox.create_account(kind="gamesdrop", balance="555", balance_profile="MIXED")
    ready, changed, seen, sessions = threading.Event(), threading.Event(), [], []

    def worker():
        from django.db import connections

        try:
            for _ in range(2):
                fresh = SupplierAccount.objects.get(pk=account.pk)
                client = supplier_client(fresh)
                seen.append(client.balance().balance)
                sessions.append(client._transport.session)
            ready.set()
            changed.wait(10)
            fresh = SupplierAccount.objects.get(pk=account.pk)
            client = supplier_client(fresh)
            seen.append(client.balance().balance)
            sessions.append(client._transport.session)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    assert ready.wait(10)
    supplier_account_save(account=account, shop_token=replacement["token"])
    changed.set()
    thread.join(10)
    assert [str(b) for b in seen] == ["1000.00", "1000.00", "555.00"]
    assert sessions[0] is sessions[1]
    assert sessions[2] is not sessions[0]


@pytest.mark.parametrize(
    "change",
    [
        {"base_url": "http://other.test"},
        {"user_info_url": "http://other.test/user-info"},
        {"management_token": "f" * 32},
        {"created_at": "reused id"},
    ],
)
@pytest.mark.django_db
def test_a_session_is_never_reused_for_other_settings_or_a_reused_id(change):
    account = SupplierAccount.objects.create(name="a", base_url="http://x.test", shop_token=TOKEN)
    before = supplier_client(account)._transport.session
    assert supplier_client(account)._transport.session is before
    if "created_at" in change:
        # A new account that got a deleted account's id (SQLite hands ids out again).
        pk = account.pk
        account.delete()
        account = SupplierAccount.objects.create(
            pk=pk, name="b", base_url="http://x.test", shop_token=TOKEN
        )
    else:
        for field, value in change.items():
            setattr(account, field, value)
    assert supplier_client(account)._transport.session is not before


@pytest.mark.django_db
def test_calls_end_within_the_accounts_deadline_or_a_short_one_while_a_person_waits():
    account = SupplierAccount.objects.create(
        name="a", base_url="http://x.test", shop_token=TOKEN, call_deadline_seconds=30
    )
    assert supplier_client(account)._transport.deadline == 30
    assert supplier_client(account, waiting=True)._transport.deadline == 5
    account.call_deadline_seconds = 2
    assert supplier_client(account, waiting=True)._transport.deadline == 2


@pytest.mark.django_db
def test_test_connection_to_a_trickling_supplier_answers_within_the_short_deadline():
    import time

    from tests.suppliers.clients.test_deadline import HostileServer

    hostile = HostileServer("trickle-body", gap=1.0)
    try:
        account = SupplierAccount.objects.create(
            name="slow", base_url=hostile.url, shop_token=TOKEN, call_deadline_seconds=60
        )
        begun = time.monotonic()
        ok, message = supplier_account_check(account=account)
    finally:
        hostile.close()
    assert not ok and "within the 5 s deadline" in message
    assert time.monotonic() - begun < 7


@pytest.mark.django_db
@pytest.mark.parametrize(
    "profile", ["<script>alert(document.cookie)</script>", "CRYPTO", "x" * 600, 42]
)
def test_test_connection_with_an_unknown_balance_profile_says_so_and_stores_unknown(
    client_as, profile
):
    import responses

    account = SupplierAccount.objects.create(
        name="odd", base_url="https://gd.test", shop_token=TOKEN, balance_profile="FIAT"
    )
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            "https://gd.test/api/v1/offers/balance",
            json={"balance": "10.00", "currency": "USD", "balanceProfile": profile},
        )
        response = client_as("admin").post(
            reverse("suppliers:supplier_check", args=[account.pk]), HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert "the supplier answered an unknown balance profile" in html
    assert "<script>alert" not in html and "x" * 30 not in html
    account.refresh_from_db()
    assert account.balance_profile == "" and account.last_check_ok is False
    assert "stored as unknown" in account.last_check_message


def _codegames_offer(sandbox) -> dict:
    query = {"settlement": "MIXED", "listed": "true", "kind": "key", "limit": 1}
    return sandbox.admin("GET", "/sandbox/offers", params=query)["offers"][0]


def test_test_connection_of_codegames_is_a_find_one_of_a_known_offer(
    client_as, sandbox_account, sandbox
):
    account = sandbox_account(kind="codegames")
    client = client_as("admin")
    url = reverse("suppliers:supplier_check", args=[account.pk])
    page = client.get(reverse("suppliers:supplier_edit", args=[account.pk])).content.decode()
    assert "has no balance endpoint" in page and 'name="offer_id"' in page

    # No offer known yet: nothing is called, and the page says what to do.
    html = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Not tested" in html and "Add an offer to the catalog" in html
    account.refresh_from_db()
    assert account.last_check_ok is False

    offer = _codegames_offer(sandbox)
    html = client.post(url, {"offer_id": offer["offerId"]}, HTTP_HX_REQUEST="true").content.decode()
    assert f"find-one of offer {offer['offerId']} answered" in html
    assert offer["offerName"] in html and "returns a key" in html
    assert "Checked: the shop token and the offers API" in html
    account.refresh_from_db()
    assert account.last_check_ok and account.check_offer_id == offer["offerId"]
    # Next time the remembered offer is used.
    ok, message = supplier_account_check(account=account)
    assert ok and f"offer {offer['offerId']}" in message


def test_test_connection_of_codegames_with_an_unknown_or_bad_offer_id(client_as, sandbox_account):
    account = sandbox_account(kind="codegames")
    client = client_as("admin")
    url = reverse("suppliers:supplier_check", args=[account.pk])
    html = client.post(url, {"offer_id": "987654321"}, HTTP_HX_REQUEST="true").content.decode()
    assert "does not know this offer (OFFER_NOT_FOUND)" in html
    response = client.post(url, {"offer_id": "12a"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "is not. Nothing was tested" in response.content.decode()
    account.refresh_from_db()
    assert account.check_offer_id is None and account.last_check_ok is False


def test_an_account_page_asks_only_for_what_its_supplier_uses(client_as, sandbox_account):
    client = client_as("admin")
    codegames = sandbox_account(kind="codegames")
    html = client.get(reverse("suppliers:supplier_edit", args=[codegames.pk])).content.decode()
    assert 'name="management_token_input"' not in html and 'name="user_info_url"' not in html
    assert 'name="check_offer_id"' in html
    response = client.post(
        reverse("suppliers:supplier_edit", args=[codegames.pk]),
        {
            "name": codegames.name,
            "kind": "codegames",
            "base_url": codegames.base_url,
            "rate_limit_per_second": "5",
            "connect_timeout_seconds": "3",
            "call_deadline_seconds": "20",
            "check_offer_id": "2061",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    codegames.refresh_from_db()
    assert codegames.check_offer_id == 2061 and codegames.rate_limit_per_second == 5
    gamesdrop = sandbox_account()
    html = client.get(reverse("suppliers:supplier_edit", args=[gamesdrop.pk])).content.decode()
    assert 'name="management_token_input"' in html and 'name="check_offer_id"' not in html
