"""Two-factor sign-in in a real browser: a new admin replaces the handed-over password, enrols an
authenticator app and signs in with its code; a key reveal after the fresh-proof window asks
again; wrong codes are refused and lock the account out; a deactivated person's open session ends."""

import re
import time
from base64 import b32decode

from django.contrib.sessions.backends.db import SessionStore
from django_otp.oath import totp
from playwright.sync_api import expect

from orders.models import OrderKey
from reseller.core import signin
from reseller.core.models import AuditEvent, AuthenticatorApp, SignedInSession
from tests.e2e.conftest import enter_code, sign_in_with_password
from tests.orders.role_urls import fixtures as order_fixtures
from tests.two_factor import current_code


def test_a_new_admin_enrols_and_signs_in_with_a_code(page, make_staff):
    admin = make_staff("admin", two_factor=False, handed_over=True)
    sign_in_with_password(page, admin)

    page.wait_for_url("**/accounts/sign-in/password/")
    own_password = "quiet-lantern-orchard-57"
    page.get_by_label("New password", exact=True).fill(own_password)
    page.get_by_label("New password confirmation").fill(own_password)
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url("**/accounts/two-factor/")
    expect(page.get_by_test_id("enrolment-qr")).to_be_visible()
    # What the admin's phone does with the secret the page writes out for typing in.
    secret = page.get_by_test_id("enrolment-secret").inner_text().replace(" ", "")
    enter_code(page, str(totp(b32decode(secret))).zfill(6), button="Confirm")
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_role("link", name="I have kept them, continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    admin.plain_password = own_password
    sign_in_with_password(page, admin)
    page.wait_for_url("**/accounts/sign-in/code/")
    enter_code(page, current_code(AuthenticatorApp.objects.get(user=admin)))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    logged = AuditEvent.objects.filter(actor=admin).values_list("action", flat=True)
    assert {"auth.password_changed", "two_factor.enrolled", "auth.login"} <= set(logged)


def test_a_key_reveal_after_the_fresh_proof_window_asks_again(page, sign_in, make_staff):
    order = order_fixtures(make_staff)["single_order"]
    OrderKey.objects.create(order=order, unit_index=0, secret="KEY-E2E-FRESH-0001")
    admin = sign_in("admin")
    page.goto(order.get_absolute_url())

    # The admin proved who they were at sign-in, longer ago than the window allows.
    session_key = SignedInSession.objects.get(user=admin).session_id
    session = SessionStore(session_key)
    session[signin.PROVED_AT] = time.time() - 3600
    session.save()

    page.get_by_role("button", name="Reveal").click()
    page.wait_for_url(re.compile(r"/accounts/confirm/\?next="))
    expect(page.get_by_text("Confirm it is you, then repeat what you were doing.")).to_be_visible()
    assert not AuditEvent.objects.filter(action="order.key_revealed").exists()
    enter_code(page, current_code(admin.authenticator), button="Confirm")

    page.wait_for_url(f"**{order.get_absolute_url()}")
    page.get_by_role("button", name="Reveal").click()
    expect(page.get_by_test_id("revealed-keys")).to_contain_text("KEY-E2E-FRESH-0001")
    assert AuditEvent.objects.filter(action="order.key_revealed", actor=admin).count() == 1


def test_wrong_codes_are_refused_and_lock_the_account_out(page, make_staff, settings):
    finance = make_staff("finance")
    sign_in_with_password(page, finance)
    page.wait_for_url("**/accounts/sign-in/code/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        enter_code(page, "000000")
        expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    enter_code(page, "000000")
    expect(page.get_by_role("heading", name="Too many failed sign-in attempts")).to_be_visible()

    # The right code is no use now: the sign-in starts over and the password is refused too.
    sign_in_with_password(page, finance)
    expect(page.get_by_role("heading", name="Too many failed sign-in attempts")).to_be_visible()
    refused = AuditEvent.objects.filter(action="auth.login_failed", data__step="second factor")
    assert refused.count() == settings.AXES_FAILURE_LIMIT


def test_a_deactivated_persons_open_session_ends(page, second_page, sign_in, make_staff):
    operator = sign_in("operator")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    sign_in("admin", on=second_page)
    second_page.goto(f"/staff/{operator.pk}/")
    second_page.get_by_label("Active (may sign in)").uncheck()
    second_page.get_by_role("button", name="Save").click()
    second_page.wait_for_url("**/staff/")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/orders/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
