from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from reseller.core.errors import ApplicationError
from reseller.core.models import AuditEvent
from reseller.core.roles import role_of
from reseller.core.services import staff_update

User = get_user_model()


@pytest.mark.django_db
def test_admin_adds_a_staff_member_whose_one_time_password_works(client, make_staff):
    admin = make_staff("admin")
    client.force_login(admin)
    response = client.post(
        reverse("core:staff_list"),
        {"username": "olga", "email": "olga@example.com", "role": "finance"},
    )
    password = response.context["password"]
    olga = User.objects.get(username="olga")
    assert role_of(olga).name == "finance" and not olga.is_staff
    assert olga.check_password(password)
    assert password.encode() not in str(AuditEvent.objects.values_list("data")).encode()
    assert AuditEvent.objects.filter(action="staff.created", target_id=str(olga.pk)).exists()


@pytest.mark.django_db
def test_duplicate_username_is_a_form_error_not_a_crash(client, make_staff):
    client.force_login(make_staff("admin"))
    make_staff("operator", username="ivan")
    response = client.post(
        reverse("core:staff_list"), {"username": "IVAN", "email": "", "role": "operator"}
    )
    assert response.status_code == 200
    assert b"already exists" in response.content


@pytest.mark.django_db
def test_role_change_moves_permissions_and_is_audited(client, make_staff):
    admin, operator = make_staff("admin"), make_staff("operator")
    client.force_login(admin)
    client.post(
        reverse("core:staff_detail", args=[operator.pk]), {"role": "admin", "is_active": "on"}
    )
    operator = User.objects.get(pk=operator.pk)
    assert role_of(operator).name == "admin" and operator.is_staff
    assert operator.has_perm("auth.change_user")
    event = AuditEvent.objects.get(action="staff.updated")
    assert event.data["before"]["role"] == "operator" and event.data["after"]["role"] == "admin"


@pytest.mark.django_db
def test_deactivated_staff_cannot_sign_in(client, make_staff):
    admin, finance = make_staff("admin"), make_staff("finance")
    staff_update(user=finance, role="finance", is_active=False, by=admin)
    response = client.post(
        reverse("login"), {"username": finance.username, "password": finance.plain_password}
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_admins_cannot_lock_themselves_out(make_staff):
    admin = make_staff("admin")
    with pytest.raises(ApplicationError):
        staff_update(user=admin, role="operator", is_active=True, by=admin)


@pytest.mark.django_db
def test_password_reset_shows_a_new_password_once(client, make_staff):
    admin, operator = make_staff("admin"), make_staff("operator")
    client.force_login(admin)
    response = client.post(
        reverse("core:staff_detail", args=[operator.pk]), {"reset_password": "1"}
    )
    new_password = response.context["password"]
    operator.refresh_from_db()
    assert operator.check_password(new_password)
    assert not operator.check_password(operator.plain_password)


@pytest.mark.django_db
def test_roles_hold_the_documented_permissions(make_staff):
    operator, finance, admin = make_staff("operator"), make_staff("finance"), make_staff("admin")
    assert not operator.has_perm("auth.change_user") and not finance.has_perm("auth.change_user")
    assert not operator.has_perm("core.view_auditevent")
    assert admin.has_perm("auth.change_user") and admin.has_perm("core.view_auditevent")


@pytest.mark.django_db
def test_audit_log_filters_and_paginates_through_htmx(client, make_staff):
    admin = make_staff("admin")
    client.force_login(admin)
    make_staff("operator", username="filtered-one")
    full = client.get(reverse("core:audit_list"), {"action": "staff.created"})
    # The target by name, with a link to the person.
    assert b"<html" in full.content and b"Staff member filtered-one</a>" in full.content
    partial = client.get(reverse("core:audit_list"), {"action": "Sign-in"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content
    assert b'id="results"' in partial.content


def test_an_admin_gives_one_operator_the_pricing_permission_and_takes_it_back(client, make_staff):
    from catalog.models import CurrencyRate

    admin, operator = make_staff("admin"), make_staff("operator")
    client.force_login(admin)
    url = reverse("core:staff_detail", args=[operator.pk])
    grant = {"role": "operator", "is_active": "on", "may_change_pricing": "on"}
    assert client.post(url, grant).status_code == 302
    event = AuditEvent.objects.filter(action="staff.updated", target_id=str(operator.pk)).get()
    assert event.data["before"]["may_change_pricing"] is False
    assert event.data["after"]["may_change_pricing"] is True
    assert client.get(url).context["form"].initial["may_change_pricing"] is True

    client.force_login(operator)
    rate = {"currency": "PLN", "usd_per_unit": "0.25"}
    assert client.post(reverse("catalog:currency_rate_save"), rate).status_code == 302
    assert CurrencyRate.objects.get(currency="PLN").usd_per_unit == Decimal("0.25")

    client.force_login(admin)
    client.post(url, {"role": "operator", "is_active": "on"})
    client.force_login(operator)
    assert client.post(reverse("catalog:currency_rate_save"), rate).status_code == 403
