"""The key vault: revealing an order's keys and exporting a batch's, each audited."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from orders.models import Batch, Order, OrderKey
from reseller.core.services import audit_record


def order_key_reveal(*, order: Order, user, request=None) -> list[str]:
    """The order's keys in clear, for a user holding `orders.reveal_key`. Every attempt is
    audited, a refused one too (then PermissionDenied)."""
    if not user.has_perm("orders.reveal_key"):
        audit_record(action="order.key_reveal_denied", actor=user, request=request, target=order)
        raise PermissionDenied("You are not allowed to reveal keys.")
    keys = list(order.keys.order_by("unit_index").values_list("secret", flat=True))
    audit_record(
        action="order.key_revealed",
        actor=user,
        request=request,
        target=order,
        data={"units": len(keys)},
    )
    return keys


def batch_keys_export(*, batch: Batch, user, request=None) -> list[dict]:
    """Every key of a batch as rows, for a user holding `orders.export_keys` (audited; a refused
    attempt too)."""
    if not user.has_perm("orders.export_keys"):
        audit_record(action="batch.keys_export_denied", actor=user, request=request, target=batch)
        raise PermissionDenied("You are not allowed to export keys.")
    rows = [
        {
            "row_number": key.order.row_number,
            "order_id": key.order_id,
            "transaction_id": key.order.transaction_id,
            "customer_reference": key.order.customer_reference,
            "product": key.order.offer.product_name,
            "offer": key.order.offer.offer_name,
            "unit": key.unit_index + 1,
            "key": key.secret,
        }
        for key in OrderKey.objects.filter(order__batch=batch)
        .select_related("order__offer")
        .order_by("order__row_number", "order_id", "unit_index")
    ]
    audit_record(
        action="batch.keys_exported",
        actor=user,
        request=request,
        target=batch,
        data={"keys": len(rows), "orders": len({row["order_id"] for row in rows})},
    )
    return rows
