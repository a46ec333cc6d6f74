"""Delivery: the key (or the top-up confirmation) emailed to the customer, once."""

from __future__ import annotations

from datetime import datetime

from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from orders.errors import OrderActionRefused
from orders.models import Order, OrderStatus
from orders.services.limits import (
    DELIVERY_CLAIM,
)
from orders.services.moving import (
    order_lock,
)
from reseller.core.services import audit_record


def _delivery_message(order: Order, keys: list[str]) -> EmailMessage:
    context = {
        "order": order,
        "product": order.offer.product_name,
        "offer_name": order.offer.offer_name,
        "keys": keys,
        # A partial delivery says what came and what the supplier refunds.
        "units": order.units,
        "refunded": order.units_refunded,
        "fulfillment": order.fulfillment_data,
    }
    template = "orders/email/key_delivery.txt" if keys else "orders/email/topup_delivery.txt"
    subject = render_to_string("orders/email/subject.txt", context).strip().splitlines()[0]
    return EmailMessage(subject=subject, body=render_to_string(template, context), to=[order.email])


def _mail_error_text(error: BaseException) -> str:
    """The mail server's answer for staff (it never holds the message body, so no key)."""
    return f"{type(error).__name__}: {error}"[:500]


def order_deliver(
    *, order: Order, by=None, resend: bool = False, request=None, now: datetime | None = None
) -> bool:
    """Email the key(s) (or the top-up confirmation) to the customer, once. Returns whether a
    message was sent; a second delivery needs `resend=True` and is audited."""
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(order.pk)
        if not order.email:
            raise OrderActionRefused("The order has no customer email.")
        has_keys = order.keys.exists()
        if order.status != OrderStatus.COMPLETED and not has_keys:
            raise OrderActionRefused("Only a completed order can be delivered.")
        if order.delivered_at is not None and not resend:
            return False
        if (
            order.delivery_started_at is not None
            and now - order.delivery_started_at < DELIVERY_CLAIM
        ):
            return False  # another delivery of it is being sent
        Order.objects.filter(pk=order.pk).update(delivery_started_at=now)
    keys = list(order.keys.order_by("unit_index").values_list("secret", flat=True))
    try:
        _delivery_message(order, keys).send()
    except Exception as error:
        Order.objects.filter(pk=order.pk).update(
            delivery_started_at=None, delivery_error=_mail_error_text(error), updated_at=now
        )
        raise
    Order.objects.filter(pk=order.pk).update(
        delivered_at=now,
        delivered_to=order.email,
        delivery_count=order.delivery_count + 1,
        delivery_started_at=None,
        delivery_error="",
        updated_at=now,
    )
    if resend or by is not None:
        audit_record(
            action="order.delivery_resent" if resend else "order.delivered",
            actor=by,
            request=request,
            target=order,
            data={"to": order.email, "units": len(keys)},
        )
    return True
