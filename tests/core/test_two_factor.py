"""Signing in with a second factor: the code after the password, enrolment for the roles that must
have one, recovery codes, handed-over passwords, and an admin's reset; each step audited and every
wrong code counted by the sign-in lockout."""

import time
from base64 import b32decode

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp

from reseller.core.models import AuditEvent, AuthenticatorApp, HandedOverPassword, SignedInSession
from reseller.core.two_factor import recovery_codes_renew
from tests.two_factor import current_code

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
CODE = reverse("core:sign_in_code")
DASHBOARD = reverse("dashboard:dashboard")


def password_step(client, user, password=None):
    return client.post(
        LOGIN, {"username": user.username, "password": password or user.plain_password}
    )


def signed_in(client) -> bool:
    return client.get(DASHBOARD).status_code == 200


def actions(**filters) -> list[str]:
    return list(AuditEvent.objects.filter(**filters).values_list("action", flat=True))


def test_an_enrolled_admin_gives_the_code_after_the_password(client, make_staff):
    admin = make_staff("admin")
    response = password_step(client, admin)
    assert response.status_code == 302 and response.url == CODE
    # The password alone signs no one in: every other page still sends to the sign-in page.
    assert not signed_in(client)
    assert "auth.login" not in actions()

    response = client.post(CODE, {"code": current_code(admin.authenticator)})
    assert response.status_code == 302 and response.url == DASHBOARD
    assert signed_in(client)
    assert actions(actor=admin) == ["auth.login"]
    assert SignedInSession.objects.filter(user=admin).count() == 1


def test_a_wrong_code_is_refused_audited_and_counted_by_the_lockout(client, make_staff, settings):
    finance = make_staff("finance")
    password_step(client, finance)
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        # django-otp makes a device wait 1, 2, 4 ... seconds after a wrong code; the lockout
        # counts every try all the same.
        response = client.post(CODE, {"code": "000000"})
        if attempt < settings.AXES_FAILURE_LIMIT - 1:
            assert response.status_code == 200
            assert b"That code is not right" in response.content
    assert response.status_code == 429
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert failed.count() == settings.AXES_FAILURE_LIMIT
    assert all(e.data == {"username": finance.username, "step": "second factor"} for e in failed)

    # Locked out: the right password and the right code are refused too, and re-entering the
    # password does not reset the count.
    assert password_step(client, finance).status_code == 429
    assert not signed_in(client)


def test_the_steps_are_taken_in_order(client, make_staff):
    """Half-way through, no one changes the password or the app of an account whose code they
    have not given."""
    admin = make_staff("admin", handed_over=True)
    password_step(client, admin)
    response = client.get(reverse("core:sign_in_password"))
    assert response.status_code == 302 and response.url == LOGIN
    assert client.get(CODE).url == LOGIN  # the half-way state was dropped
    password_step(client, admin)
    assert client.get(reverse("core:two_factor_enrol")).url == LOGIN
    assert AuthenticatorApp.objects.filter(user=admin).count() == 1


def test_a_required_person_without_a_factor_must_enrol_and_gets_recovery_codes(client, make_staff):
    admin = make_staff("admin", two_factor=False)
    response = password_step(client, admin)
    assert response.url == reverse("core:two_factor_enrol")
    assert not signed_in(client)

    page = client.get(reverse("core:two_factor_enrol"))
    secret = page.context["enrolment"].secret
    assert page.context["enrolment"].qr_data_uri.startswith("data:image/svg+xml")
    assert secret.encode() in page.content
    # What a person's app computes from the secret written out on the page.
    key = b32decode(secret.replace(" ", ""))
    code = str(totp(key)).zfill(6)
    response = client.post(reverse("core:two_factor_enrol"), {"code": code})
    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 10 and codes[0].encode() in response.content
    assert signed_in(client)
    assert "two_factor.enrolled" in actions(actor=admin)
    assert AuthenticatorApp.objects.get(user=admin).confirmed


def test_a_wrong_code_does_not_confirm_an_enrolment(client, make_staff):
    operator = make_staff("operator")
    client.force_login(operator)
    client.get(reverse("core:two_factor_enrol"))
    response = client.post(reverse("core:two_factor_enrol"), {"code": "123"})
    assert b"That code is not right" in response.content
    assert not AuthenticatorApp.objects.filter(user=operator, confirmed=True).exists()


def test_a_recovery_code_signs_in_once_and_its_use_is_audited(client, make_staff):
    admin = make_staff("admin")
    code = recovery_codes_renew(user=admin)[0]
    password_step(client, admin)
    client.post(CODE, {"code": f"{code[:4]} {code[4:].upper()}"})  # as typed from a printout
    assert signed_in(client)
    event = AuditEvent.objects.get(action="two_factor.recovery_code_used")
    assert event.actor == admin and event.data == {"recovery_codes_left": 9}

    other = Client()
    password_step(other, admin)
    response = other.post(CODE, {"code": code})
    assert response.status_code == 200 and not signed_in(other)


def test_a_handed_over_password_is_replaced_before_anything_else(client, make_staff):
    operator = make_staff("operator", handed_over=True)
    response = password_step(client, operator)
    assert response.url == reverse("core:sign_in_password")
    assert not signed_in(client)
    step = reverse("core:sign_in_password")
    same = {"new_password1": operator.plain_password, "new_password2": operator.plain_password}
    assert b"other than the one handed to you" in client.post(step, same).content
    short = client.post(step, {"new_password1": "Xq7!short", "new_password2": "Xq7!short"})
    assert b"at least 12 characters" in short.content
    mine = "violet-harbour-candle-93"
    response = client.post(step, {"new_password1": mine, "new_password2": mine})
    assert response.url == DASHBOARD and signed_in(client)
    assert not HandedOverPassword.objects.filter(user=operator).exists()
    assert "auth.password_changed" in actions(actor=operator)


def test_an_admin_resets_a_second_factor_without_seeing_it_and_ends_the_sessions(
    client, make_staff
):
    admin, finance = make_staff("admin"), make_staff("finance")
    theirs = Client()
    theirs.force_login(finance)
    assert signed_in(theirs)
    client.force_login(admin)
    page = client.get(reverse("core:staff_detail", kwargs={"user_id": finance.pk}))
    assert finance.authenticator.secret.encode() not in page.content
    assert b"Authenticator app set up" in page.content

    client.post(
        reverse("core:staff_detail", kwargs={"user_id": finance.pk}), {"reset_second_factor": "1"}
    )
    assert not AuthenticatorApp.objects.filter(user=finance).exists()
    assert not signed_in(theirs)
    assert not SignedInSession.objects.filter(user=finance).exists()
    reset = AuditEvent.objects.get(action="two_factor.reset")
    assert reset.actor == admin and reset.target_id == str(finance.pk)
    ended = AuditEvent.objects.get(action="auth.sessions_ended")
    assert ended.data == {"reason": "second factor reset", "sessions": 1}
    # At the next sign-in they set up a new app.
    assert password_step(Client(), finance).url == reverse("core:two_factor_enrol")


def test_deactivating_a_person_ends_their_sessions(client, make_staff):
    admin, operator = make_staff("admin"), make_staff("operator")
    theirs = Client()
    theirs.force_login(operator)
    client.force_login(admin)
    client.post(
        reverse("core:staff_detail", kwargs={"user_id": operator.pk}),
        {"role": "operator", "is_active": ""},
    )
    assert not Session.objects.filter(
        session_key__in=SignedInSession.objects.filter(user=operator).values("session_id")
    ).exists()
    assert theirs.get(DASHBOARD).status_code == 302
    assert AuditEvent.objects.filter(action="auth.sessions_ended", target_id=str(operator.pk))


def test_the_django_admin_shows_no_device(client, make_staff):
    client.force_login(make_staff("admin"))
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/core/authenticatorapp/").status_code == 404
    assert client.get("/admin/core/recoverycodes/").status_code == 404


def test_an_operator_may_add_and_remove_a_second_factor(client, make_staff):
    operator = make_staff("operator")
    client.force_login(operator)
    client.get(reverse("core:two_factor_enrol"))
    device = AuthenticatorApp.objects.get(user=operator)
    client.post(reverse("core:two_factor_enrol"), {"code": current_code(device)})
    assert "Recovery codes left: 10" in client.get(reverse("core:account")).content.decode()
    client.post(reverse("core:two_factor_remove"))
    assert not AuthenticatorApp.objects.filter(user=operator).exists()
    assert actions(actor=operator)[:2] == ["two_factor.removed", "two_factor.enrolled"]


def test_an_admin_may_not_remove_the_factor_the_role_requires(client, make_staff):
    admin = make_staff("admin")
    client.force_login(admin)
    response = client.post(reverse("core:two_factor_remove"), follow=True)
    assert b"Your role must sign in with a second factor" in response.content
    assert AuthenticatorApp.objects.filter(user=admin).exists()


def test_the_code_of_a_sign_in_cannot_be_used_twice(client, make_staff):
    admin = make_staff("admin")
    code = current_code(admin.authenticator)
    password_step(client, admin)
    client.post(CODE, {"code": code})
    other = Client()
    password_step(other, admin)
    other.post(CODE, {"code": code})
    assert not signed_in(other)


def test_a_half_way_sign_in_expires(client, make_staff, monkeypatch):
    admin = make_staff("admin")
    password_step(client, admin)
    later = time.time() + 11 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.post(CODE, {"code": "123456"}, follow=True)
    assert response.redirect_chain[-1][0] == LOGIN
    assert b"Sign in again" in response.content


def test_demo_users_sign_in_in_one_step_when_the_demo_setting_is_on(client, settings, capsys):
    from django.core.management import call_command

    settings.DEMO_ONE_STEP_SIGN_IN = True
    settings.TWO_FACTOR_REQUIRED_ROLES = []
    call_command("create_demo_users")
    printed = capsys.readouterr().out
    password = printed.split("user: admin")[1].split("password:")[1].split()[0]
    assert "sign in with the password alone" in printed
    response = client.post(LOGIN, {"username": "admin", "password": password})
    assert response.url == DASHBOARD and signed_in(client)


def test_demo_users_are_told_how_to_enrol_when_the_demo_setting_is_off(client, settings, capsys):
    from django.core.management import call_command

    settings.DEMO_ONE_STEP_SIGN_IN = False
    call_command("create_demo_users")
    printed = capsys.readouterr().out
    assert "scan a QR code with an authenticator app" in printed
    password = printed.split("user: admin")[1].split("password:")[1].split()[0]
    response = client.post(LOGIN, {"username": "admin", "password": password})
    assert response.url == reverse("core:sign_in_password")


def test_the_django_admin_signs_in_through_the_back_office_only(client, make_staff):
    admin = make_staff("admin")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": admin.username, "password": admin.plain_password}
    )
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next=/admin/"
    assert not signed_in(client)
    assert client.get("/admin/").url.startswith("/admin/login/")


def test_a_person_moved_into_a_role_that_needs_a_second_factor_enrols_before_going_on(
    client, make_staff
):
    admin, operator = make_staff("admin"), make_staff("operator")
    theirs = Client()
    theirs.force_login(operator)
    client.force_login(admin)
    client.post(
        reverse("core:staff_detail", kwargs={"user_id": operator.pk}),
        {"role": "finance", "is_active": "on"},
    )
    assert not signed_in(theirs)
    assert password_step(theirs, operator).url == reverse("core:two_factor_enrol")
    ended = AuditEvent.objects.get(action="auth.sessions_ended")
    assert ended.data == {"reason": "role requires a second factor", "sessions": 1}


def test_the_lockout_keeps_no_code_that_was_tried(client, make_staff):
    from axes.models import AccessAttempt

    admin = make_staff("admin")
    code = recovery_codes_renew(user=admin)[0]
    one_off = code[:-1] + ("a" if code[-1] != "a" else "b")  # one letter off a real recovery code
    password_step(client, admin)
    client.post(CODE, {"code": one_off})
    attempt = AccessAttempt.objects.get(username=admin.username)
    assert code[:-1] not in attempt.post_data
