import os
import re
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

PAGES = ["dashboard:dashboard", "core:staff_list", "core:audit_list", "login"]


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", PAGES)
def test_pages_carry_a_strict_content_security_policy_and_no_inline_script(client_as, url_name):
    response = client_as("admin").get(reverse(url_name))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts, "htmx should be on every page"
    for attrs, body in scripts:
        assert "src=" in attrs and not body.strip(), "inline script found"
    assert re.search(r"\son\w+=", html) is None, "inline event handler found"
    assert " style=" not in html, "inline style found"


@pytest.mark.django_db
def test_htmx_posts_need_the_csrf_token_from_hx_headers(make_staff):
    admin = make_staff("admin")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    page = browser.get(reverse("core:staff_list"))
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page.content.decode()).group(
        1
    )
    form = {"username": "newbie", "email": "", "role": "operator"}

    refused = browser.post(reverse("core:staff_list"), form, HTTP_HX_REQUEST="true")
    assert refused.status_code == 403

    accepted = browser.post(
        reverse("core:staff_list"), form, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 200
    assert b"newbie added" in accepted.content


def _production_settings(env: dict) -> subprocess.CompletedProcess:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.DEBUG, "
        "s.SECURE_SSL_REDIRECT, s.STORAGES['staticfiles']['BACKEND']]))"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "SECRET", "FIELD", "EMAIL"))
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "reseller.settings.production", **env},
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


GOOD_PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 50,
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1lbmNyeXB0aW9uLWtleS1vbmUtMzItYnl0ZXM=",
    "DATABASE_URL": "postgres://u:p@db.example:5432/reseller",
    "ALLOWED_HOSTS": "backoffice.example",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example:587",
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL"])
def test_production_refuses_to_start_without_its_secrets(missing, tmp_path):
    env = {**GOOD_PRODUCTION_ENV, missing: ""}
    result = _production_settings(env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_to_start_without_a_mail_server():
    # Unset, the base settings would fall back to printing mail on the console.
    env = {name: value for name, value in GOOD_PRODUCTION_ENV.items() if name != "EMAIL_URL"}
    result = _production_settings(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "EMAIL_URL" in result.stderr


@pytest.mark.parametrize(
    "email_url", ["consolemail://", "memorymail://", "dummymail://", "filemail:///tmp/mail"]
)
def test_production_refuses_to_start_with_mail_that_is_not_sent(email_url):
    # Customers' keys are mailed: on the console they would land in the log in clear.
    result = _production_settings({**GOOD_PRODUCTION_ENV, "EMAIL_URL": email_url})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "EMAIL_URL must name an SMTP server" in result.stderr
    assert f"not {email_url.split(':')[0]}://" in result.stderr


def test_production_settings_use_secure_cookies_and_no_debug():
    result = _production_settings(GOOD_PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '[true, true, false, true, "whitenoise.storage.CompressedManifestStaticFilesStorage"]'
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "url_name"),
    [
        ("operator", "dashboard:dashboard"),
        ("operator", "orders:order_list"),
        ("operator", "orders:order_export"),
        ("finance", "finance:finance_overview"),
        ("admin", "core:audit_list"),
        ("admin", "admin:index"),
        # A refusal is a signed-in page too.
        ("finance", "core:staff_list"),
    ],
)
def test_every_signed_in_page_is_kept_by_no_cache(client_as, role, url_name):
    response = client_as(role).get(reverse(url_name))
    assert "no-store" in response["Cache-Control"], url_name
    assert "private" in response["Cache-Control"]


@pytest.mark.django_db
def test_htmx_partials_are_kept_by_no_cache_either(client_as):
    response = client_as("operator").get(
        reverse("orders:order_list"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_staff_are_not_edited_in_the_django_admin_where_no_audit_would_follow(client_as):
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.urls import NoReverseMatch

    assert not admin.site.is_registered(get_user_model())
    assert not admin.site.is_registered(Group)
    with pytest.raises(NoReverseMatch):
        reverse("admin:auth_user_changelist")
    client = client_as("admin")
    assert client.get("/admin/auth/user/").status_code == 404
    assert client.get("/admin/auth/group/").status_code == 404
