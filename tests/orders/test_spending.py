"""Spend controls: limits per person and account refused with the numbers, four eyes above the
approval threshold, and counters that two confirmations at the same moment cannot both pass."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from catalog.models import Offer
from orders import approvals, tasks
from orders.batches.preview import batch_preview_confirm, batch_preview_create
from orders.errors import OrderActionRefused, OrderError, SpendRefused
from orders.models import Batch, Order, OrderStatus, SpendApproval, SpendLimit, SpendUsage
from orders.services import orders_sweep, spending
from reseller.core.models import AuditEvent
from tests.orders.conftest import place

K = SpendLimit.Kind


@pytest.fixture
def admin(make_staff):
    return make_staff("admin")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Call a service and run what its transaction hands over on commit (the tasks it sends)."""

    def call(service, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(*args, **kwargs)

    return call


def set_limit(kind, amount, *, by, **who):
    return spending.spend_limit_set(
        kind=kind, amount_usd=None if amount is None else Decimal(amount), by=by, **who
    )


def test_an_order_over_the_daily_limit_is_refused_with_the_numbers(offline_offer, operator, admin):
    set_limit(K.PERSON_DAY, "25", by=admin)
    place(offline_offer, by=operator, quantity=2)  # 20.00 USD
    with pytest.raises(SpendRefused) as refused:
        place(offline_offer, by=operator, quantity=1)
    assert refused.value.message == (
        f"Over {operator.username}'s daily limit of 25.00 USD: 20.00 USD is used today "
        "(5.00 USD left) and this needs 10.00 USD. Nothing was ordered."
    )
    assert Order.objects.count() == 2


def test_a_person_own_limit_beats_everyone_and_the_request_limit_holds(
    offline_offer, operator, make_staff, admin
):
    other = make_staff("operator")
    set_limit(K.PERSON_REQUEST, "15", by=admin)
    set_limit(K.PERSON_REQUEST, "40", by=admin, user=other)
    with pytest.raises(SpendRefused, match="limit of 15.00 USD for one order or batch: this needs"):
        place(offline_offer, by=operator, quantity=2)
    place(offline_offer, by=other, quantity=3)
    assert Order.objects.filter(created_by=other).count() == 3


def test_an_account_limit_counts_every_person(offline_offer, operator, make_staff, admin):
    set_limit(K.ACCOUNT_DAY, "30", by=admin, account=offline_offer.account)
    place(offline_offer, by=operator, quantity=2)
    with pytest.raises(SpendRefused, match="the account offline's daily limit of 30.00 USD"):
        place(offline_offer, by=make_staff("operator"), quantity=2)
    usage = SpendUsage.objects.get(scope="account", subject_id=offline_offer.account_id)
    assert usage.used_usd == Decimal("20.00")


def test_a_limit_is_converted_at_the_dated_rate(offline_offer, operator, admin):
    from catalog.models import CurrencyRate

    Offer.objects.filter(pk=offline_offer.pk).update(currency="EUR", price=Decimal("10"))
    offline_offer.refresh_from_db()
    CurrencyRate.objects.create(
        currency="EUR", usd_per_unit=Decimal("1.5"), valid_from=timezone.now()
    )
    set_limit(K.PERSON_DAY, "20", by=admin)
    with pytest.raises(SpendRefused, match="this needs 30.00 USD"):
        place(offline_offer, by=operator, quantity=2)


def test_changing_a_limit_is_audited_before_and_after(admin):
    set_limit(K.PERSON_DAY, "100", by=admin)
    set_limit(K.PERSON_DAY, "250", by=admin)
    set_limit(K.PERSON_DAY, None, by=admin)
    changes = AuditEvent.objects.filter(action="spend_limit.changed").order_by("id")
    assert [(e.data["before"], e.data["after"]) for e in changes] == [
        (None, "100.00"),
        ("100.00", "250.00"),
        ("250.00", None),
    ]


def test_an_order_above_the_threshold_waits_and_is_sent_only_once_approved(
    offline_offer, operator, make_staff, admin, broker, committed
):
    set_limit(K.APPROVAL_ABOVE, "15", by=admin)
    order = committed(place, offline_offer, by=operator, quantity=2)
    assert order.status == OrderStatus.AWAITING_APPROVAL
    assert broker.ids("submit_order") == []
    # The sweep leaves it alone: nothing is sent before the approval.
    Order.objects.filter(pk=order.pk).update(next_poll_at=timezone.now())
    committed(orders_sweep)
    assert broker.ids("submit_order") == []
    approval = SpendApproval.objects.get()
    assert approval.amount_usd == Decimal("20.00") and approval.order_ids == [
        order.pk,
        order.pk + 1,
    ]

    with pytest.raises(OrderActionRefused, match="cannot approve your own"):
        approvals.spend_approval_decide(approval=approval, approved=True, by=operator)
    with pytest.raises(OrderActionRefused, match="may not approve"):
        approvals.spend_approval_decide(approval=approval, approved=True, by=make_staff("operator"))
    assert broker.ids("submit_order") == []

    committed(
        approvals.spend_approval_decide, approval=approval, approved=True, by=admin, comment="ok"
    )
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.QUEUED}
    assert sorted(broker.ids("submit_order")) == approval.order_ids
    approval.refresh_from_db()
    assert approval.status == "APPROVED" and approval.decided_by == admin
    # Counted against the requester's day at the approval.
    assert spending.used_today("person", operator.pk) == Decimal("20.00")
    with pytest.raises(OrderActionRefused, match="approved already"):
        approvals.spend_approval_decide(approval=approval, approved=True, by=admin)


def test_approval_checks_the_limits_again(offline_offer, operator, admin, broker):
    set_limit(K.APPROVAL_ABOVE, "5", by=admin)
    place(offline_offer, by=operator, quantity=2)
    set_limit(K.PERSON_DAY, "15", by=admin)  # lowered while it waited
    approval = SpendApproval.objects.get()
    with pytest.raises(SpendRefused, match="daily limit of 15.00 USD"):
        approvals.spend_approval_decide(approval=approval, approved=True, by=admin)
    assert set(Order.objects.values_list("status", flat=True)) == {"AWAITING_APPROVAL"}
    approvals.spend_approval_decide(
        approval=approval, approved=False, by=admin, comment="over the day"
    )
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.WITHDRAWN}
    assert broker.ids("submit_order") == []


def test_approval_checks_the_price_again(offline_offer, operator, admin):
    set_limit(K.APPROVAL_ABOVE, "5", by=admin)
    place(offline_offer, by=operator)
    Offer.objects.filter(pk=offline_offer.pk).update(price=Decimal("12"))
    approval = SpendApproval.objects.get()
    with pytest.raises(OrderError, match="unit price is now 12.00"):
        approvals.spend_approval_decide(approval=approval, approved=True, by=admin)


def test_the_approvers_are_emailed_once(offline_offer, operator, admin, broker, committed):
    set_limit(K.APPROVAL_ABOVE, "5", by=admin)
    committed(place, offline_offer, by=operator)
    approval = SpendApproval.objects.get()
    assert broker.ids("notify_spend_approval") == [approval.pk]
    tasks.notify_spend_approval.run(approval.pk)
    tasks.notify_spend_approval.run(approval.pk)  # delivered twice
    assert len(mail.outbox) == 1
    assert admin.email in mail.outbox[0].to and operator.email not in mail.outbox[0].to
    assert "10.00 USD" in mail.outbox[0].subject


# --- batches --------------------------------------------------------------------------------------


class NoBalance:
    """A supplier client without a balance endpoint: the preview says so and goes on."""


def preview(offer, monkeypatch, *, rows=3, by=None):
    from orders import lookups

    monkeypatch.setattr(lookups, "lookup_client", lambda account: NoBalance())
    lines = ["offer_id,quantity,customer_reference"] + [
        f"{offer.offer_id},1,REF-{n}" for n in range(rows)
    ]
    return batch_preview_create(
        account=offer.account, uploaded_file="\n".join(lines).encode(), filename="b.csv", by=by
    )


def test_a_batch_over_the_limit_is_refused_before_anything_is_created(
    offline_offer, operator, admin, monkeypatch, broker
):
    set_limit(K.PERSON_DAY, "25", by=admin)
    batch = preview(offline_offer, monkeypatch, by=operator)
    assert batch.status == Batch.Status.PREVIEW
    with pytest.raises(
        SpendRefused, match="0.00 USD is used today .25.00 USD left. and this needs 30"
    ):
        batch_preview_confirm(batch=batch, by=operator)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW and broker.ids("confirm_batch") == []


def test_a_rejected_batch_sends_nothing(
    offline_offer, operator, admin, monkeypatch, broker, committed
):
    set_limit(K.APPROVAL_ABOVE, "25", by=admin)
    batch = preview(offline_offer, monkeypatch, by=operator)
    batch = committed(batch_preview_confirm, batch=batch, by=operator)
    assert batch.status == Batch.Status.AWAITING
    approval = SpendApproval.objects.get(batch=batch)
    with pytest.raises(OrderActionRefused, match="Say why"):
        approvals.spend_approval_decide(approval=approval, approved=False, by=admin)
    committed(
        approvals.spend_approval_decide,
        approval=approval,
        approved=False,
        by=admin,
        comment="wrong file",
    )
    batch.refresh_from_db()
    assert batch.status == Batch.Status.REJECTED
    assert broker.ids("confirm_batch") == [] and not Order.objects.exists()
    committed(orders_sweep)
    assert broker.ids("confirm_batch") == [] and not Order.objects.exists()


def test_an_approved_batch_runs(offline_offer, operator, admin, monkeypatch, broker, committed):
    set_limit(K.APPROVAL_ABOVE, "25", by=admin)
    batch = preview(offline_offer, monkeypatch, by=operator)
    batch = committed(batch_preview_confirm, batch=batch, by=operator)
    assert broker.ids("confirm_batch") == []
    approval = SpendApproval.objects.get(batch=batch)
    committed(approvals.spend_approval_decide, approval=approval, approved=True, by=admin)
    assert broker.ids("confirm_batch") == [batch.pk]
    committed(broker.run, "confirm_batch")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CONFIRMED
    assert Order.objects.filter(batch=batch, created_by=operator).count() == 3
    assert spending.used_today("person", operator.pk) == Decimal("30.00")


def day_begun(account) -> None:
    """Today's counter rows exist already (the usual case after the day's first order; the very
    first two requests of a day are put in turn by the row's unique key anyway)."""
    SpendUsage.objects.create(scope="account", subject_id=account.pk, day=spending.spend_day())


# --- races ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_at_the_same_moment_never_pass_a_limit_together(
    offline_offer, make_staff
):
    """Two people order at the same moment from one account whose daily limit fits one order.
    On PostgreSQL the counter's conditional UPDATE makes the second wait for the first and then
    refuse; on SQLite the second write transaction waits for the first to finish."""
    admin = make_staff("admin")
    first, second = make_staff("operator"), make_staff("operator")
    set_limit(K.ACCOUNT_DAY, "15", by=admin, account=offline_offer.account)
    day_begun(offline_offer.account)
    start = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def order(person):
        try:
            start.wait(5)
            place(offline_offer, by=person)
            outcome[person.username] = "placed"
        except SpendRefused as refused:
            outcome[person.username] = refused.message
        finally:
            connection.close()

    threads = [threading.Thread(target=order, args=(p,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcome.values())[-1] == "placed"
    assert "10.00 USD is used today" in sorted(outcome.values())[0]
    assert Order.objects.count() == 1
    assert SpendUsage.objects.get(scope="account").used_usd == Decimal("10.00")


def test_a_currency_without_a_rate_is_refused_only_once_limits_are_set(
    offline_offer, operator, admin
):
    Offer.objects.filter(pk=offline_offer.pk).update(currency="XTS")
    offline_offer.refresh_from_db()
    place(offline_offer, by=operator)  # no limit anywhere: nothing to check
    set_limit(K.ACCOUNT_DAY, "100", by=admin, account=offline_offer.account)
    with pytest.raises(SpendRefused, match="There is no USD rate for XTS yet"):
        place(offline_offer, by=operator)
    assert Order.objects.count() == 1


# Transactional: the confirmation's rollback must reach the database itself (on PostgreSQL, a
# server-side cursor left open by the refused rows is closed only by a real rollback).
@pytest.mark.django_db(transaction=True)
def test_a_confirmation_that_orders_nothing_gives_its_amount_back(
    offline_offer, operator, admin, monkeypatch, committed
):
    from orders.batches import preview as batch_preview

    set_limit(K.PERSON_DAY, "100", by=admin)
    batch = committed(batch_preview_confirm, batch=preview(offline_offer, monkeypatch), by=operator)
    assert spending.used_today("person", operator.pk) == Decimal("30.00")
    Offer.objects.filter(pk=offline_offer.pk).update(delisted_at=timezone.now())
    batch_preview.batch_preview_create_orders(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW and not Order.objects.exists()
    assert spending.used_today("person", operator.pk) == Decimal("0.00")
    assert spending.used_today("account", offline_offer.account_id) == Decimal("0.00")


@pytest.mark.django_db(transaction=True)
def test_two_batch_confirmations_at_the_same_moment_never_pass_a_limit_together(
    offline_offer, make_staff, monkeypatch
):
    """Two operators confirm a batch each, at the same moment, against one account whose daily
    limit fits one of them: one is counted and goes on, the other is refused with the numbers."""
    admin = make_staff("admin")
    people = [make_staff("operator"), make_staff("operator")]
    set_limit(K.ACCOUNT_DAY, "45", by=admin, account=offline_offer.account)
    batches = [preview(offline_offer, monkeypatch, by=person) for person in people]
    day_begun(offline_offer.account)
    start = threading.Barrier(2)
    outcome: dict[int, str] = {}

    def confirm(batch, person):
        try:
            start.wait(5)
            batch_preview_confirm(batch=batch, by=person)
            outcome[batch.pk] = "confirmed"
        except SpendRefused as refused:
            outcome[batch.pk] = refused.message
        finally:
            connection.close()

    threads = [
        threading.Thread(target=confirm, args=pair) for pair in zip(batches, people, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    results = sorted(outcome.values())
    assert results[-1] == "confirmed"
    assert "30.00 USD is used today (15.00 USD left) and this needs 30.00 USD" in results[0]
    statuses = sorted(Batch.objects.values_list("status", flat=True))
    assert statuses == [Batch.Status.CONFIRMING, Batch.Status.PREVIEW]
    assert SpendUsage.objects.get(scope="account").used_usd == Decimal("30.00")
