"""The second factor's secrets at rest: the authenticator app's secret is encrypted (and re-encrypted
by key rotation), recovery codes are kept only as digests and each works once."""

from base64 import b32encode

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from reseller.core.fields import encrypted_fields
from reseller.core.models import AuthenticatorApp, RecoveryCode
from reseller.core.two_factor import recovery_codes_renew
from tests.two_factor import current_code

pytestmark = pytest.mark.django_db


def stored_secret(device: AuthenticatorApp) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secret FROM {AuthenticatorApp._meta.db_table} WHERE id = %s", [device.pk]
        )
        return cursor.fetchone()[0]


def stored_digests(user) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT code.digest FROM {RecoveryCode._meta.db_table} code "
            f"JOIN core_recoverycodes device ON device.id = code.device_id "
            f"WHERE device.user_id = %s",
            [user.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def signs_in_with(user, code: str) -> bool:
    client = Client()
    client.post(reverse("login"), {"username": user.username, "password": user.plain_password})
    client.post(reverse("core:sign_in_code"), {"code": code})
    return client.get(reverse("dashboard:dashboard")).status_code == 200


def test_the_authenticator_secret_is_stored_encrypted(make_staff):
    admin = make_staff("admin")
    device = admin.authenticator
    raw = stored_secret(device)
    assert raw.startswith("gAAAA")  # a Fernet token
    assert device.secret not in raw
    assert b32encode(device.bin_key).decode() not in raw
    assert len(device.bin_key) == 20
    # Nothing is left for django-otp's own table, which keeps its keys in the clear.
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM otp_totp_totpdevice")
        assert cursor.fetchone()[0] == 0


def test_an_enrolment_started_on_the_page_is_stored_encrypted(client, make_staff):
    operator = make_staff("operator")
    client.force_login(operator)
    secret = client.get(reverse("core:two_factor_enrol")).context["enrolment"].secret
    device = AuthenticatorApp.objects.get(user=operator)
    raw = stored_secret(device)
    assert secret.replace(" ", "") not in raw and device.secret not in raw


def test_key_rotation_reencrypts_the_authenticator_secret(make_staff, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    admin = make_staff("admin")
    before = stored_secret(admin.authenticator)
    assert (AuthenticatorApp, "secret") in set(encrypted_fields())

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is dropped

    assert stored_secret(admin.authenticator) != before
    assert Fernet(new_key).decrypt(stored_secret(admin.authenticator).encode())
    assert signs_in_with(admin, current_code(admin.authenticator))


def test_recovery_codes_are_kept_only_as_digests_and_each_works_once(make_staff):
    admin = make_staff("admin")
    codes = recovery_codes_renew(user=admin)
    assert len(set(codes)) == 10
    digests = stored_digests(admin)
    assert len(digests) == 10
    assert not any(code in digest for code in codes for digest in digests)

    assert signs_in_with(admin, codes[3])
    assert not signs_in_with(admin, codes[3])
    assert len(stored_digests(admin)) == 9


def test_a_recovery_code_of_an_earlier_set_no_longer_works(make_staff):
    admin = make_staff("admin")
    old = recovery_codes_renew(user=admin)
    recovery_codes_renew(user=admin)
    assert not signs_in_with(admin, old[0])


def test_recovery_codes_issued_before_a_secret_key_change_still_work(make_staff, settings):
    admin = make_staff("admin")
    codes = recovery_codes_renew(user=admin)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-rotation"  # noqa: S105
    assert signs_in_with(admin, codes[0])
    settings.SECRET_KEY_FALLBACKS = []
    assert not signs_in_with(admin, codes[1])
