import pytest
from django.urls import reverse

from reseller.core.models import AuditEvent


@pytest.mark.django_db
def test_sign_in_lands_on_the_dashboard_and_is_audited(client, make_staff):
    user = make_staff("operator")
    response = client.post(
        reverse("login"), {"username": user.username, "password": user.plain_password}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard:dashboard")
    assert b"Dashboard" in response.content
    event = AuditEvent.objects.filter(action="auth.login").get()
    assert event.actor == user and event.ip_address == "127.0.0.1"


@pytest.mark.django_db
def test_repeated_failures_lock_the_account_out_even_with_the_right_password(
    client, make_staff, settings
):
    user = make_staff("finance")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("login"), {"username": user.username, "password": "wrong"})
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    last_failure = client.post(reverse("login"), {"username": user.username, "password": "wrong"})
    assert last_failure.status_code == 429

    response = client.post(
        reverse("login"), {"username": user.username, "password": user.plain_password}
    )
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert failed.count() >= settings.AXES_FAILURE_LIMIT
    assert all("wrong" not in str(event.data) for event in failed)


@pytest.mark.django_db
def test_lockout_is_per_username_and_address_so_others_can_still_sign_in(
    client, make_staff, settings
):
    victim, colleague = make_staff("operator"), make_staff("operator")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": victim.username, "password": "wrong"})
    response = client.post(
        reverse("login"), {"username": colleague.username, "password": colleague.plain_password}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_sign_out_is_a_post_and_ends_the_session(client, make_staff):
    client.force_login(make_staff("admin"))
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard:dashboard")).status_code == 302
