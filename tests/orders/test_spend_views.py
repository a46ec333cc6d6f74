"""The spend controls pages: limits set by an admin (after fresh proof), the remaining allowance on
the order page and the batch preview, approvals on their page and the dashboard, and the finance
report of spending with its CSV."""

from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Order, OrderStatus, SpendApproval, SpendLimit
from orders.services import spending
from reseller.core import signin
from reseller.core.models import AuditEvent
from tests.orders.conftest import place

K = SpendLimit.Kind


@pytest.fixture
def admin(make_staff):
    return make_staff("admin")


def test_an_admin_sets_a_limit_and_an_operator_cannot(client, admin, make_staff, offline_offer):
    client.force_login(make_staff("operator"))
    save = reverse("orders:spend_limit_save")
    assert client.post(save, {"kind": K.PERSON_DAY, "amount_usd": "5"}).status_code == 403
    client.force_login(admin)
    response = client.post(
        save,
        {"kind": K.ACCOUNT_DAY, "account": offline_offer.account_id, "amount_usd": "300"},
        follow=True,
    )
    assert b"Limit saved." in response.content
    limit = SpendLimit.objects.get()
    assert (limit.kind, limit.account_id, limit.amount_usd) == (
        K.ACCOUNT_DAY,
        offline_offer.account_id,
        Decimal("300.00"),
    )
    event = AuditEvent.objects.get(action="spend_limit.changed")
    assert (event.data["before"], event.data["after"]) == (None, "300.00")
    page = client.get(reverse("orders:spend_limits"))
    assert b"Per supplier account, per day" in page.content and b"300" in page.content


def test_a_limit_change_without_fresh_proof_asks_again(client, admin, settings):
    client.force_login(admin)
    session = client.session
    session[signin.PROVED_AT] -= settings.FRESH_PROOF_MAX_AGE.total_seconds() + 1
    session.save()
    response = client.post(
        reverse("orders:spend_limit_save"), {"kind": K.PERSON_DAY, "amount_usd": "5"}
    )
    assert response.status_code == 302 and reverse("core:confirm_identity") in response.url
    assert not SpendLimit.objects.exists()


def test_the_order_page_shows_what_is_left_today(client_as, admin, offline_offer):
    spending.spend_limit_set(kind=K.PERSON_DAY, amount_usd=Decimal("100"), by=admin)
    client = client_as("operator")
    operator = client.session["_auth_user_id"]
    place(offline_offer, by=type(admin).objects.get(pk=operator), quantity=3)
    page = client.get(reverse("orders:order_create") + f"?offer={offline_offer.pk}")
    allowance = page.context["allowance"]
    assert allowance.left == Decimal("70.00")
    assert b"70.00 USD" in page.content and b"30.00 of 100.00 USD used" in page.content


def test_an_order_over_the_limit_on_the_page_is_refused_with_the_numbers(
    client_as, admin, offline_offer, monkeypatch
):
    from orders import views

    monkeypatch.setattr(views, "_live_price", lambda offer, user: (offer, ""))
    spending.spend_limit_set(kind=K.PERSON_REQUEST, amount_usd=Decimal("15"), by=admin)
    client = client_as("operator")
    response = client.post(
        reverse("orders:order_create"),
        {
            "offer": offline_offer.pk,
            "quantity": 2,
            "max_unit_price": "10",
            "email": "",
            "customer_reference": "",
        },
    )
    assert response.status_code == 200
    assert (
        "Over the limit of 15.00 USD for one order or batch: this needs 20.00 USD. "
        "Nothing was ordered." in response.content.decode()
    )
    assert not Order.objects.exists()


def test_waiting_orders_are_listed_for_approvers_and_approved_on_the_page(
    client, admin, make_staff, offline_offer, broker, django_capture_on_commit_callbacks
):
    spending.spend_limit_set(kind=K.APPROVAL_ABOVE, amount_usd=Decimal("5"), by=admin)
    operator = make_staff("operator")
    order = place(offline_offer, by=operator)
    approval = SpendApproval.objects.get()

    client.force_login(operator)
    dashboard = client.get(reverse("dashboard:dashboard"))
    assert b'data-testid="dashboard-approvals"' not in dashboard.content
    detail = client.get(order.get_absolute_url())
    assert b"Awaiting approval" in detail.content and b"Yours: a second person decides" in (
        detail.content
    )
    decide = reverse("orders:approval_decide", args=[approval.pk])
    assert client.post(decide, {"decision": "approve"}).status_code == 403

    client.force_login(admin)
    dashboard = client.get(reverse("dashboard:dashboard"))
    assert dashboard.context["approvals_waiting"] == [approval]
    assert f'data-testid="approval-{approval.pk}"'.encode() in dashboard.content
    response = client.post(decide, {"decision": "reject"}, follow=True)
    assert b"Say why it is rejected" in response.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(decide, {"decision": "approve", "comment": "fine"}, follow=True)
    assert b"Approved: it is on its way." in response.content
    order.refresh_from_db()
    assert order.status == OrderStatus.QUEUED and broker.ids("submit_order") == [order.pk]
    assert AuditEvent.objects.filter(action="spend.approved", actor=admin).exists()


def test_finance_sees_spending_per_person_and_account_with_a_csv(
    client_as, admin, make_staff, offline_offer
):
    operator = make_staff("operator", username="olga")
    spending.spend_limit_set(kind=K.PERSON_DAY, amount_usd=Decimal("500"), by=admin)
    place(offline_offer, by=operator, quantity=4)
    client = client_as("finance")
    page = client.get(reverse("finance:spend_report"))
    assert page.status_code == 200
    totals = dict(page.context["totals"])
    assert totals[("Person", "olga")] == Decimal("40.00")
    assert totals[("Supplier account", "offline")] == Decimal("40.00")
    csv = b"".join(client.get(reverse("finance:spend_report_csv")).streaming_content).decode()
    lines = csv.strip().splitlines()
    assert lines[0].strip().lstrip("\ufeff") == "day,who,kind,used_usd,daily_limit_usd_now"
    assert any(",olga,Person,40.00,500.00" in line for line in lines)


def test_an_admin_lets_one_finance_person_approve_and_takes_it_back(
    client, admin, make_staff, offline_offer
):
    finance, operator = make_staff("finance"), make_staff("operator")
    spending.spend_limit_set(kind=K.APPROVAL_ABOVE, amount_usd=Decimal("5"), by=admin)
    place(offline_offer, by=operator)
    approval = SpendApproval.objects.get()
    decide = reverse("orders:approval_decide", args=[approval.pk])
    client.force_login(finance)
    assert client.post(decide, {"decision": "reject", "comment": "no"}).status_code == 403

    client.force_login(admin)
    staff = reverse("core:staff_detail", args=[finance.pk])
    grant = {"role": "finance", "is_active": "on", "may_approve_spending": "on"}
    assert client.post(staff, grant).status_code == 302
    event = AuditEvent.objects.filter(action="staff.updated", target_id=str(finance.pk)).get()
    assert event.data["before"]["may_approve_spending"] is False
    assert event.data["after"]["may_approve_spending"] is True

    client.force_login(finance)
    response = client.post(decide, {"decision": "reject", "comment": "not this week"})
    assert response.status_code == 302
    approval.refresh_from_db()
    assert approval.status == "REJECTED" and approval.decided_by == finance

    client.force_login(admin)
    client.post(staff, {"role": "finance", "is_active": "on"})
    finance = type(finance).objects.get(pk=finance.pk)
    assert not finance.has_perm("orders.approve_spend")
