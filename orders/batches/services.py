"""Writes of batches: create, confirm (once the preview's task has created the orders), send,
pause, resume, and what follows from their orders' moves (DONE when none is open, RUNNING again
when one is). The upload, preview and confirmation of a file are in `orders.batches.preview`."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders import schedule
from orders.batches.states import B, batch_can_move, batch_transition, batches_transition
from orders.dispatch import enqueue_after_commit, send_batch_orders
from orders.errors import OrderActionRefused
from orders.models import Batch, Order, OrderStatus
from orders.states import OPEN_STATUSES
from reseller.core.services import audit_record


def batch_create(
    *, name: str, source_filename: str = "", by=None, status: str = B.PREVIEW, **fields
) -> Batch:
    """A new batch in the status it starts in: PREVIEW (the engine's, its orders made with it)
    or READING (an uploaded file; `orders.batches.uploads`)."""
    return Batch.objects.create(
        name=name[:200],
        source_filename=source_filename[:255],
        created_by=by if getattr(by, "is_authenticated", False) else None,
        status=status,
        **fields,
    )


def _schedule_batch(batch: Batch, now: datetime) -> None:
    """Its QUEUED orders are due: one UPDATE, and one task sends their submit tasks (a batch may
    hold 200,000 orders, too many to send from a page's request). If that task is lost, the
    sweep sends them once `next_poll_at` passes."""
    Order.objects.filter(batch=batch, status=OrderStatus.QUEUED).update(
        next_poll_at=now + schedule.queued_rescue_after(), updated_at=now
    )
    enqueue_after_commit("send_batch", [batch.pk])


def batch_send(*, batch_id: int) -> int:
    """The send_batch task's body: hand every QUEUED order of a batch that may be sent now to
    the workers, a few to a task. Sending one twice is harmless (the claim lets one through)."""
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or not batch.accepts_submissions:
        return 0
    queued = Order.objects.filter(batch_id=batch_id, status=OrderStatus.QUEUED).order_by("pk")
    return send_batch_orders(queued.values_list("pk", flat=True).iterator(5000))


def batch_confirm(*, batch: Batch, by, request=None) -> Batch:
    """PREVIEW (or CONFIRMING, once its orders exist) → CONFIRMED: the batch's orders are sent.
    An operator confirms an uploaded file through `orders.batches.preview` (its confirmation
    task creates the orders, then calls this). A batch without open orders is DONE at once."""
    now = timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status not in (B.PREVIEW, B.CONFIRMING):  # not PAUSED: that is a resume
            raise OrderActionRefused("This batch has been confirmed already.")
        batch_transition(
            batch,
            B.CONFIRMED,
            changes={"confirmed_at": now, "confirmed_by": batch.confirmed_by or by},
            now=now,
        )
        _schedule_batch(batch, now)
        audit_record(action="batch.confirmed", actor=by, request=request, target=batch)
        batch_refresh_done(batch.pk, now)
    batch.refresh_from_db()
    return batch


def batch_pause(*, batch: Batch, by, request=None) -> Batch:
    """Stop sending the batch's QUEUED orders (orders already sent are still followed)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if not batch_can_move(batch.status, B.PAUSED):
            raise OrderActionRefused("Only a confirmed or running batch can be paused.")
        batch_transition(batch, B.PAUSED, changes={"status_before_pause": batch.status})
        Order.objects.filter(batch=batch, status=OrderStatus.QUEUED).update(
            next_poll_at=None, updated_at=timezone.now()
        )
        audit_record(action="batch.paused", actor=by, request=request, target=batch)
    return batch


def batch_resume(*, batch: Batch, by, request=None) -> Batch:
    now = timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status != B.PAUSED:
            raise OrderActionRefused("Only a paused batch can be resumed.")
        batch_transition(
            batch,
            batch.status_before_pause or B.RUNNING,
            changes={"status_before_pause": ""},
            now=now,
        )
        _schedule_batch(batch, now)
        audit_record(action="batch.resumed", actor=by, request=request, target=batch)
        batch_refresh_done(batch.pk, now)
    batch.refresh_from_db()
    return batch


def batch_reopen(batch_id: int) -> None:
    """A DONE batch that has an open order again (a retry, a late purchase) is RUNNING."""
    batches_transition(
        Batch.objects.filter(pk=batch_id),
        B.RUNNING,
        from_statuses=[B.DONE],
        changes={"finished_at": None},
    )


def batch_refresh_done(batch_id: int, now: datetime) -> None:
    """A batch being sent none of whose orders is open is DONE."""
    if not Order.objects.filter(batch_id=batch_id, status__in=list(OPEN_STATUSES)).exists():
        batches_transition(
            Batch.objects.filter(pk=batch_id), B.DONE, changes={"finished_at": now}, now=now
        )
