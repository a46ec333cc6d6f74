"""Keys: encrypted at rest, masked on display, revealed or exported only with the permission
(every attempt audited), never in logs; delivered to the customer once."""

import logging

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection

from orders.models import OrderKey, mask_secret
from orders.selectors import order_keys_masked
from orders.services import (
    batch_confirm,
    batch_create,
    batch_keys_export,
    order_create,
    order_deliver,
    order_key_reveal,
    order_submit,
)
from reseller.core.models import AuditEvent
from tests.orders.conftest import place


@pytest.fixture
def completed(sandbox_account, sandbox_offer):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", min_count=3)
    order = order_submit(order_id=place(offer).pk)
    assert order.status == "COMPLETED"
    return order


def audit(action, order):
    return AuditEvent.objects.filter(action=action, target_id=str(order.pk))


def test_an_operator_reveals_keys_and_the_reveal_is_audited(completed, make_staff):
    operator = make_staff("operator")
    keys = order_key_reveal(order=completed, user=operator)
    assert len(keys) == completed.units and all(keys)
    event = audit("order.key_revealed", completed).get()
    assert event.actor == operator and event.data == {"units": completed.units}
    assert not any(key in str(event.data) for key in keys)


def test_finance_cannot_reveal_and_the_attempt_is_audited(completed, make_staff):
    finance = make_staff("finance")
    with pytest.raises(PermissionDenied):
        order_key_reveal(order=completed, user=finance)
    assert audit("order.key_reveal_denied", completed).get().actor == finance
    assert not audit("order.key_revealed", completed).exists()


def test_batch_export_needs_its_own_permission(sandbox_account, sandbox_offer, make_staff):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    admin, operator = make_staff("admin"), make_staff("operator")
    batch = batch_create(name="gift cards", source_filename="cards.csv", by=admin)
    orders = [
        order_create(offer=offer, max_unit_price=offer.price, batch=batch, row_number=n)[0]
        for n in (1, 2)
    ]
    batch_confirm(batch=batch, by=admin)
    for order in orders:
        order_submit(order_id=order.pk)

    with pytest.raises(PermissionDenied):  # operators reveal one order at a time only
        batch_keys_export(batch=batch, user=operator)
    rows = batch_keys_export(batch=batch, user=admin)
    assert [row["row_number"] for row in rows] == [1, 2] and all(row["key"] for row in rows)
    actions = set(
        AuditEvent.objects.filter(target_id=str(batch.pk)).values_list("action", flat=True)
    )
    assert {"batch.keys_export_denied", "batch.keys_exported"} <= actions


def test_keys_are_encrypted_at_rest_and_masked_on_display(completed):
    plain = list(completed.keys.values_list("secret", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM orders_orderkey WHERE order_id = %s", [completed.pk])
        stored = [row[0] for row in cursor.fetchall()]
    assert len(stored) == len(plain)
    for raw, key in zip(stored, plain, strict=True):
        assert key not in raw and raw.startswith("gAAAA")  # a Fernet token
    masked = order_keys_masked(order=completed)
    assert masked[0] == (1, mask_secret(plain[0])) and "••••" in masked[0][1]
    assert plain[0] not in masked[0][1]


def test_keys_never_reach_logs_reprs_or_errors(sandbox_account, sandbox_offer, caplog):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    with caplog.at_level(logging.DEBUG):
        order = order_submit(order_id=place(offer).pk)
    key = order.keys.get()
    assert key.secret not in caplog.text
    for text in (repr(key), str(key), repr(order), str(order), order.last_error):
        assert key.secret not in text
    assert key.secret not in str(list(order.events.values_list("reason", "data")))


def test_delivery_is_sent_once_and_a_resend_is_audited(
    sandbox_account, sandbox_offer, broker, operator, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer, email="player@example.com", customer_reference="INV-7")
    with django_capture_on_commit_callbacks(execute=True):
        order = order_submit(order_id=order.pk)
    assert broker.ids("deliver_order") == [order.pk]
    broker.run("deliver_order")
    key = order.keys.get().secret
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["player@example.com"] and key in message.body
    assert "INV-7" in message.body and offer.product_name in message.subject
    order.refresh_from_db()
    assert order.delivered_at and order.delivered_to == "player@example.com"

    # A second delivery task (a redelivered message) sends nothing.
    broker.sent["deliver_order"].append(order.pk)
    broker.run("deliver_order")
    assert order_deliver(order=order) is False
    assert len(mail.outbox) == 1

    assert order_deliver(order=order, by=operator, resend=True) is True
    assert len(mail.outbox) == 2
    event = audit("order.delivery_resent", order).get()
    assert event.actor == operator and key not in str(event.data)
    order.refresh_from_db()
    assert order.delivery_count == 2


def test_a_top_up_confirmation_is_delivered_without_a_key(
    sandbox_account, sandbox_offer, sandbox_settings
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="stars")
    order = order_submit(
        order_id=place(offer, game_user_id="143594291", email="fan@example.com").pk
    )
    assert order_deliver(order=order) is True
    assert "has been delivered to the account 143594291" in mail.outbox[0].body


def test_an_order_key_row_is_one_unit():
    key = OrderKey(order_id=1, unit_index=0, secret="ABCD-EFGH-IJKL-MNOP")
    assert key.masked == "••••MNOP" and "EFGH" not in repr(key)
    # A short key or PIN shows nothing: half of an 8-digit PIN would make it guessable.
    assert mask_secret("12345") == mask_secret("1234-5678") == mask_secret("X" * 11) == "••••"
    assert mask_secret("AB-CD-EF-GH-IJ") == "••••"  # ten letters: only six would stay hidden


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("001434249936", "••••9936"),  # a 12-digit numeric code, as the documents show
        ("ABCDE-FGHIJ-KLMNO", "••••LMNO"),  # Steam
        ("ABCD-EFGH-IJKL", "••••IJKL"),  # PlayStation
        ("ABCDEFGHIJKLMNOP", "••••MNOP"),  # Google Play
        ("123456789012", "••••9012"),
    ],
)
def test_every_key_is_masked_by_one_rule_whatever_its_shape(key, masked):
    assert mask_secret(key) == masked
    assert OrderKey(order_id=1, unit_index=0, secret=key).masked == masked


def test_a_failed_delivery_says_why_on_the_order_page_and_a_resend_clears_it(
    sandbox_account, sandbox_offer, operator, client_as, monkeypatch
):
    import smtplib

    from django.core.mail import EmailMessage

    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = order_submit(order_id=place(offer, email="player@example.com").pk)
    real_send = EmailMessage.send

    def refused(self, fail_silently=False):
        raise smtplib.SMTPRecipientsRefused({"player@example.com": (550, b"mailbox unavailable")})

    monkeypatch.setattr(EmailMessage, "send", refused)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        order_deliver(order=order)
    order.refresh_from_db()
    assert order.delivered_at is None and "SMTPRecipientsRefused" in order.delivery_error
    page = client_as("operator").get(order.get_absolute_url()).content.decode()
    assert 'data-testid="delivery-error"' in page and "being sent" not in page
    assert order.keys.get().secret not in order.delivery_error

    monkeypatch.setattr(EmailMessage, "send", real_send)
    assert order_deliver(order=order, by=operator, resend=True) is True
    order.refresh_from_db()
    assert order.delivered_at is not None and order.delivery_error == ""
