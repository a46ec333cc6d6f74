"""Fresh proof before sensitive actions, and the life of a signed-in session: idle timeout,
absolute lifetime, signing out everywhere."""

import time

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from orders.models import OrderKey
from reseller.core import sessions, signin
from reseller.core.models import AuditEvent, SignedInSession
from tests.orders.role_urls import fixtures as order_fixtures
from tests.two_factor import current_code

pytestmark = pytest.mark.django_db

CONFIRM = reverse("core:confirm_identity")
DASHBOARD = reverse("dashboard:dashboard")


def age_session(client, key: str, seconds: float) -> None:
    """Move a moment recorded in the client's session `seconds` into the past."""
    session = client.session
    session[key] = session[key] - seconds
    session.save()


@pytest.fixture
def order_with_key(make_staff):
    order = order_fixtures(make_staff)["single_order"]
    OrderKey.objects.create(order=order, unit_index=0, secret="KEY-ABCD-EFGH-1234")
    return order


def test_a_key_reveal_after_the_window_asks_again_and_is_not_replayed(
    client, make_staff, order_with_key, settings
):
    admin = make_staff("admin")
    client.force_login(admin)
    age_session(client, signin.PROVED_AT, settings.FRESH_PROOF_MAX_AGE.total_seconds() + 1)
    page = order_with_key.get_absolute_url()
    reveal = reverse("orders:order_key_reveal", kwargs={"order_pk": order_with_key.pk})

    response = client.post(reveal, HTTP_REFERER=f"http://testserver{page}")
    assert response.status_code == 302
    assert response.url == f"{CONFIRM}?{urlencode({'next': f'http://testserver{page}'})}"
    assert not AuditEvent.objects.filter(action="order.key_revealed").exists()

    # The code proves it; the person is back on the order's page and repeats the reveal there.
    response = client.post(
        CONFIRM, {"code": current_code(admin.authenticator), "next": f"http://testserver{page}"}
    )
    assert response.status_code == 302 and response.url == f"http://testserver{page}"
    assert AuditEvent.objects.filter(action="auth.identity_confirmed", actor=admin).exists()
    response = client.post(reveal)
    assert b"KEY-ABCD-EFGH-1234" in response.content


def test_an_htmx_reveal_after_the_window_sends_the_whole_page_to_the_prompt(
    client, make_staff, order_with_key, settings
):
    client.force_login(make_staff("operator"))
    age_session(client, signin.PROVED_AT, settings.FRESH_PROOF_MAX_AGE.total_seconds() + 1)
    page = f"http://testserver{order_with_key.get_absolute_url()}"
    response = client.post(
        reverse("orders:order_key_reveal", kwargs={"order_pk": order_with_key.pk}),
        HTTP_HX_REQUEST="true",
        HTTP_REFERER=page,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{CONFIRM}?{urlencode({'next': page})}"


def test_someone_without_a_second_factor_proves_it_with_the_password(
    client, make_staff, order_with_key, settings
):
    operator = make_staff("operator")
    client.force_login(operator)
    age_session(client, signin.PROVED_AT, settings.FRESH_PROOF_MAX_AGE.total_seconds() + 1)
    prompt = client.get(CONFIRM)
    assert b"Enter your password" in prompt.content
    wrong = client.post(CONFIRM, {"password": "not-it"})
    assert b"That password is not right" in wrong.content
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1
    client.post(CONFIRM, {"password": operator.plain_password})
    response = client.post(
        reverse("orders:order_key_reveal", kwargs={"order_pk": order_with_key.pk})
    )
    assert b"KEY-ABCD-EFGH-1234" in response.content


def test_a_staff_page_after_the_window_asks_first_then_opens(client, make_staff, settings):
    admin = make_staff("admin")
    client.force_login(admin)
    assert client.get(reverse("core:staff_list")).status_code == 200
    age_session(client, signin.PROVED_AT, settings.FRESH_PROOF_MAX_AGE.total_seconds() + 1)
    response = client.get(reverse("core:staff_list"))
    assert response.url == f"{CONFIRM}?{urlencode({'next': reverse('core:staff_list')})}"
    response = client.post(
        CONFIRM, {"code": current_code(admin.authenticator), "next": reverse("core:staff_list")}
    )
    assert response.url == reverse("core:staff_list")
    assert client.get(reverse("core:staff_list")).status_code == 200


def test_the_prompt_goes_on_only_to_pages_of_this_site(client, make_staff):
    admin = make_staff("admin")
    client.force_login(admin)
    response = client.post(
        CONFIRM, {"code": current_code(admin.authenticator), "next": "https://evil.example/"}
    )
    assert response.url == DASHBOARD


def test_a_supplier_account_change_needs_fresh_proof(client, make_staff, settings):
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(name="A", base_url="http://127.0.0.1:9")
    client.force_login(make_staff("admin"))
    age_session(client, signin.PROVED_AT, settings.FRESH_PROOF_MAX_AGE.total_seconds() + 1)
    edit = reverse("suppliers:supplier_edit", kwargs={"account_id": account.pk})
    response = client.post(edit, {"name": "B", "base_url": "http://127.0.0.1:10"})
    assert response.url.startswith(CONFIRM)
    account.refresh_from_db()
    assert account.name == "A" and account.base_url == "http://127.0.0.1:9"


def test_an_idle_session_ends(client, make_staff, settings):
    user = make_staff("operator")
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 200
    age_session(client, sessions.LAST_SEEN_AT, settings.SESSION_IDLE_TIMEOUT.total_seconds() + 1)
    response = client.get(reverse("orders:order_list"), follow=True)
    assert response.redirect_chain[0][0] == f"{reverse('login')}?next=%2Forders%2F"
    assert b"signed out after 30 minutes without activity" in response.content
    event = AuditEvent.objects.get(action="auth.session_expired")
    assert event.actor == user and event.data == {"reason": "idle"}
    assert not SignedInSession.objects.filter(user=user).exists()


def test_a_busy_session_ends_at_its_lifetime(client, make_staff, settings):
    client.force_login(make_staff("operator"))
    age_session(
        client, sessions.SIGNED_IN_AT, settings.SESSION_ABSOLUTE_LIFETIME.total_seconds() + 1
    )
    response = client.get(DASHBOARD, follow=True)
    assert b"a session lasts at most 12 hours" in response.content
    assert client.get(DASHBOARD).status_code == 302


def test_activity_keeps_a_session_open(client, make_staff, settings):
    client.force_login(make_staff("operator"))
    idle = settings.SESSION_IDLE_TIMEOUT.total_seconds()
    age_session(client, sessions.LAST_SEEN_AT, idle - 5)
    assert client.get(DASHBOARD).status_code == 200
    assert time.time() - client.session[sessions.LAST_SEEN_AT] < 5


def test_sign_out_everywhere_ends_every_session(client, make_staff):
    user = make_staff("operator")
    elsewhere = Client()
    elsewhere.force_login(user)
    client.force_login(user)
    assert SignedInSession.objects.filter(user=user).count() == 2
    response = client.post(reverse("core:sign_out_everywhere"))
    assert response.url == reverse("login")
    assert elsewhere.get(DASHBOARD).status_code == 302
    assert client.get(DASHBOARD).status_code == 302
    event = AuditEvent.objects.get(action="auth.sessions_ended")
    assert event.data == {"reason": "signed out everywhere", "sessions": 2}


def test_the_account_page_lists_ones_sessions(client, make_staff):
    user = make_staff("finance")
    Client().force_login(user)
    client.force_login(user)
    page = client.get(reverse("core:account")).content.decode()
    assert page.count("<tr><td>") == 2 and "this one" in page
    assert "An authenticator app is set up" in page


def test_a_password_change_keeps_this_session_endable_and_ends_the_others(client, make_staff):
    user = make_staff("operator")
    elsewhere = Client()
    elsewhere.force_login(user)
    client.force_login(user)
    mine = "amber-meadow-lighthouse-42"
    client.post(
        reverse("core:password_change"),
        {"old_password": user.plain_password, "new_password1": mine, "new_password2": mine},
    )
    assert client.get(DASHBOARD).status_code == 200
    assert elsewhere.get(DASHBOARD).status_code == 302
    assert SignedInSession.objects.filter(session_id=client.session.session_key).exists()
    client.post(reverse("core:sign_out_everywhere"))
    assert client.get(DASHBOARD).status_code == 302


def test_a_session_signed_in_before_sessions_were_recorded_is_recorded_to_be_ended(
    client, make_staff
):
    user = make_staff("operator")
    client.force_login(user)
    SignedInSession.objects.filter(user=user).delete()
    session = client.session
    del session[sessions.SIGNED_IN_AT]
    session.save()
    assert client.get(DASHBOARD).status_code == 200
    assert SignedInSession.objects.filter(user=user).count() == 1
    sessions.sessions_end(user=user, reason="deactivated")
    assert client.get(DASHBOARD).status_code == 302
