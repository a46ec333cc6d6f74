"""Batches: create, confirm, pause, resume."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders import polling
from orders.errors import OrderActionRefused
from orders.models import Batch, Order
from orders.services.base import S, batch_refresh_done, enqueue_after_commit
from reseller.core.services import audit_record


def batch_create(*, name: str, source_filename: str = "", by=None) -> Batch:
    return Batch.objects.create(
        name=name[:200],
        source_filename=source_filename[:255],
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )


def _schedule_batch(batch: Batch, now: datetime) -> None:
    ids = list(Order.objects.filter(batch=batch, status=S.QUEUED).values_list("pk", flat=True))
    Order.objects.filter(pk__in=ids).update(
        next_poll_at=now + polling.QUEUED_RESCUE_AFTER, updated_at=now
    )
    enqueue_after_commit("submit_order", ids)


def batch_confirm(*, batch: Batch, by, request=None) -> Batch:
    """PREVIEW (or CONFIRMING, once its orders exist) → CONFIRMED: the batch's orders are sent.
    An operator confirms an uploaded file through `orders.batch_preview`, which creates the
    orders first and then calls this."""
    now = timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status not in (Batch.Status.PREVIEW, Batch.Status.CONFIRMING):
            raise OrderActionRefused("This batch has been confirmed already.")
        batch.status, batch.confirmed_at = Batch.Status.CONFIRMED, now
        batch.confirmed_by = batch.confirmed_by or by
        batch.save(update_fields=["status", "confirmed_at", "confirmed_by", "updated_at"])
        _schedule_batch(batch, now)
        audit_record(action="batch.confirmed", actor=by, request=request, target=batch)
    return batch


def batch_pause(*, batch: Batch, by, request=None) -> Batch:
    """Stop sending the batch's QUEUED orders (orders already sent are still followed)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status not in (Batch.Status.CONFIRMED, Batch.Status.RUNNING):
            raise OrderActionRefused("Only a confirmed or running batch can be paused.")
        batch.status_before_pause, batch.status = batch.status, Batch.Status.PAUSED
        batch.save(update_fields=["status", "status_before_pause", "updated_at"])
        Order.objects.filter(batch=batch, status=S.QUEUED).update(
            next_poll_at=None, updated_at=timezone.now()
        )
        audit_record(action="batch.paused", actor=by, request=request, target=batch)
    return batch


def batch_resume(*, batch: Batch, by, request=None) -> Batch:
    now = timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status != Batch.Status.PAUSED:
            raise OrderActionRefused("Only a paused batch can be resumed.")
        batch.status = batch.status_before_pause or Batch.Status.RUNNING
        batch.status_before_pause = ""
        batch.save(update_fields=["status", "status_before_pause", "updated_at"])
        _schedule_batch(batch, now)
        audit_record(action="batch.resumed", actor=by, request=request, target=batch)
        batch_refresh_done(batch.pk, now)
    batch.refresh_from_db()
    return batch
