"""An uploaded batch file, stored until a worker has read it into the preview.

A file can take long to read (50,000 rows, a player check per row) and a hostile one could take
any web thread, so the upload only stores it and answers at once; a worker on the batches queue
reads it (`orders.batches.preview.batch_preview_read`) while the batch page shows "reading". Like a
job (reseller.core.jobs) the batch is a row first and a Celery message second:

- `batch_upload_store` (the upload's request): the size is checked, the file stored with a Batch
  in READING in one transaction, and the reading task sent once that commits. A broker that cannot
  take it is logged, never raised: `read_requested_at` stays empty, the page says the reading
  starts when the queue is back, and the sweep sends it.
- `batch_upload_claim`: one worker at a time reads a file; another delivery of the message (or
  the rescue's) finds it taken while its reader's heartbeat is fresh, and does nothing.
- `batch_upload_heartbeat`: the reader's sign of life, at most every
  ORDERS_BATCH_READ_HEARTBEAT_EVERY.
- `batch_uploads_rescue` (the orders sweep, every few seconds): a READING batch whose task was
  not sent, or not taken within ORDERS_BATCH_READ_RESEND_AFTER, gets it again; one whose reader
  fell silent for ORDERS_BATCH_READ_SILENT_AFTER (its worker died or was stopped) is read again,
  and after ORDERS_BATCH_READ_ATTEMPTS readings that never finished it is refused saying so. The
  stored file is deleted only with the move out of READING, so a reader's death loses nothing.

The timings are settings from the environment (reseller/settings, .env.example), read through
`orders.schedule`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import transaction
from django.utils import timezone

from orders import schedule
from orders.batches.reading import upload_bytes
from orders.batches.services import batch_create
from orders.batches.states import B, batch_transition
from orders.models import Batch, BatchUpload
from reseller.core.services import audit_record
from suppliers.models import SupplierAccount

logger = logging.getLogger(__name__)

READ_TASK = "orders.tasks.read_batch"


def batch_upload_store(
    *,
    account: SupplierAccount,
    uploaded_file,
    filename: str = "",
    name: str = "",
    check_players: bool = False,
    by=None,
    request=None,
) -> Batch:
    """Store an uploaded file as a Batch in READING and have a worker read it. Raises
    BatchFileRefused (nothing stored) for an empty file or one over the size limit; whatever
    else is wrong with the file, the worker finds and the batch page says."""
    filename = filename or getattr(uploaded_file, "name", "") or ""
    content = upload_bytes(uploaded_file)
    with transaction.atomic():
        batch = batch_create(
            name=name.strip() or filename or "Batch",
            source_filename=filename,
            by=by,
            status=B.READING,
            account=account,
            check_players=check_players,
        )
        BatchUpload.objects.create(batch=batch, content=content, size=len(content))
        audit_record(
            action="batch.uploaded",
            actor=by,
            request=request,
            target=batch,
            data={"file": filename[:255], "bytes": len(content), "account": account.pk},
        )
        transaction.on_commit(lambda: batch_upload_send(batch.pk))
    return batch


def batch_upload_send(batch_id: int, *, now: datetime | None = None) -> bool:
    """Send the reading task now; False when the broker could not take it (logged, and
    `read_requested_at` left empty for the page and the sweep)."""
    from orders import tasks

    try:
        tasks.read_batch.delay(batch_id)
    except Exception:
        logger.warning(
            "could not send the reading of batch %s to a worker; the sweep sends it again",
            batch_id,
            exc_info=True,
        )
        # `updated_at` dates the failed send: the sweep tries again read_resend_after() later.
        Batch.objects.filter(pk=batch_id, status=B.READING).update(
            read_requested_at=None, updated_at=now or timezone.now()
        )
        return False
    Batch.objects.filter(pk=batch_id, status=B.READING).update(
        read_requested_at=now or timezone.now()
    )
    return True


@dataclass(frozen=True)
class ReadClaim:
    batch: Batch
    attempt: int  # this reader's number: a later reader's claim makes this one's result stale


def batch_upload_claim(batch_id: int, *, now: datetime | None = None) -> ReadClaim | None:
    """Take the reading of a READING batch for the calling worker; None when there is nothing to
    read (gone, read already) or another worker is reading it (its heartbeat is fresh)."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or batch.status != B.READING:
            return None
        beat = batch.read_heartbeat_at
        if beat is not None and beat > now - schedule.read_silent_after():
            return None
        attempt = batch.read_attempts + 1
        Batch.objects.filter(pk=batch.pk).update(read_attempts=attempt, read_heartbeat_at=now)
        batch.read_attempts, batch.read_heartbeat_at = attempt, now
    return ReadClaim(batch=batch, attempt=attempt)


class Heartbeat:
    """Called often while a file is read; writes the reader's heartbeat at most every
    read_heartbeat_every() (one small UPDATE, outside any transaction of the reader's)."""

    def __init__(self, claim: ReadClaim):
        self.claim = claim
        self.last = timezone.now()

    def __call__(self) -> None:
        now = timezone.now()
        if now - self.last >= schedule.read_heartbeat_every():
            self.last = now
            batch_upload_heartbeat(self.claim, now=now)


def batch_upload_heartbeat(claim: ReadClaim, *, now: datetime | None = None) -> None:
    Batch.objects.filter(pk=claim.batch.pk, status=B.READING, read_attempts=claim.attempt).update(
        read_heartbeat_at=now or timezone.now()
    )


def batch_upload_finish(claim: ReadClaim, to: str, *, summary: dict) -> Batch | None:
    """Inside the caller's transaction: move the claimed batch out of READING (to PREVIEW with
    its rows written by the caller, or REFUSED) and delete the stored file. None, and nothing
    written, when the claim is stale: the batch was discarded, or the rescue gave it to another
    reader after this one fell silent."""
    batch = Batch.objects.select_for_update().filter(pk=claim.batch.pk).first()
    if batch is None or batch.status != B.READING or batch.read_attempts != claim.attempt:
        return None
    batch_transition(batch, to, changes={"preview_summary": summary, "read_heartbeat_at": None})
    BatchUpload.objects.filter(batch=batch).delete()
    return batch


def batch_upload_content(batch_id: int) -> bytes | None:
    content = (
        BatchUpload.objects.filter(batch_id=batch_id).values_list("content", flat=True).first()
    )
    return None if content is None else bytes(content)


def _never_finished_message() -> str:
    attempts = schedule.max_read_attempts()
    return (
        f"Reading this file was started {attempts} time{'s' if attempts != 1 else ''} and never "
        "finished (the worker reading it stopped each time). Nothing was stored: save the orders "
        "alone as CSV, or split the file, and upload it again."
    )


def batch_uploads_rescue(*, now: datetime | None = None) -> int:
    """Send again the readings no worker took or whose worker died, and refuse the files whose
    readings never finished (this module's doc). Returns how many batches were acted on.

    One query finds the few READING batches; each move is a conditional UPDATE on the row, so two
    sweeps at once act on a batch once, and a batch claimed or heard from meanwhile is left alone.
    """
    now = now or timezone.now()
    acted = 0
    reading = Batch.objects.filter(status=B.READING).values_list(
        "pk", "read_requested_at", "read_heartbeat_at", "read_attempts", "updated_at"
    )
    for batch_id, requested, beat, attempts, updated in reading:
        if beat is not None:
            if beat > now - schedule.read_silent_after():
                continue  # being read
            if attempts >= schedule.max_read_attempts():
                acted += _refuse_never_finished(batch_id, now)
                continue
        elif (requested or updated) > now - schedule.read_resend_after():
            continue  # sent (or tried) a moment ago
        taken = Batch.objects.filter(
            pk=batch_id, status=B.READING, read_requested_at=requested, read_heartbeat_at=beat
        ).update(read_requested_at=now, read_heartbeat_at=None, updated_at=now)
        if taken:
            transaction.on_commit(partial(batch_upload_send, batch_id, now=now))
            acted += 1
    if acted:
        logger.warning("batch uploads: %s reading(s) sent again or refused", acted)
    return acted


def _refuse_never_finished(batch_id: int, now: datetime) -> int:
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id, status=B.READING).first()
        if batch is None or batch.read_heartbeat_at is None:
            return 0
        if batch.read_heartbeat_at > now - schedule.read_silent_after():
            return 0
        message = _never_finished_message()
        batch_transition(
            batch,
            B.REFUSED,
            changes={"preview_summary": {"read_error": message}, "read_heartbeat_at": None},
            now=now,
        )
        BatchUpload.objects.filter(batch=batch).delete()
        audit_record(
            action="batch.refused", actor=batch.created_by, target=batch, data={"reason": message}
        )
    return 1
