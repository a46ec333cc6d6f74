"""Reads of batches: the list, a batch's progress and sending rate, its orders, the rows of its
preview, and which operator actions apply to it now."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from orders.batches.states import batch_can_move
from orders.models import Batch, BatchPreviewRow, BatchUpload, Order, OrderKey, OrderStatus
from orders.states import FINAL_STATUSES, ORDER_AGAIN_STATUSES


def batch_list() -> QuerySet[Batch]:
    """Every batch, newest first, with what a row of the list shows."""
    return Batch.objects.select_related("account", "created_by")


def batch_status_counts(*, batch: Batch) -> dict[str, int]:
    """{status: count} of the batch's orders, every status present (0 if none)."""
    return batch_status_counts_by_id([batch.pk])[batch.pk]


def batch_status_counts_by_id(batch_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{batch id: {status: count}} of several batches' orders, in one query."""
    counts = {pk: dict.fromkeys(OrderStatus.values, 0) for pk in batch_ids}
    rows = (
        Order.objects.filter(batch_id__in=list(counts))
        .order_by()
        .values("batch_id", "status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[row["batch_id"]][row["status"]] = row["n"]
    return counts


@dataclass(frozen=True)
class BatchProgress:
    total: int
    finished: int
    counts: dict[str, int]

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(self.finished * 100 / self.total)

    @property
    def needs_attention(self) -> int:
        return self.counts.get(OrderStatus.NEEDS_ATTENTION, 0)


def batch_progress(*, batch: Batch) -> BatchProgress:
    """Counts per status and the share of orders in a final status (the progress bar)."""
    return _progress(batch_status_counts(batch=batch))


def batch_progress_by_id(batch_ids: Iterable[int]) -> dict[int, BatchProgress]:
    """The progress of several batches in one query (the list's progress column)."""
    return {pk: _progress(counts) for pk, counts in batch_status_counts_by_id(batch_ids).items()}


def _progress(counts: dict[str, int]) -> BatchProgress:
    finished = sum(n for status, n in counts.items() if status in FINAL_STATUSES)
    return BatchProgress(total=sum(counts.values()), finished=finished, counts=counts)


#: How far back the batch page looks to measure how fast a batch's orders finish.
BATCH_RATE_WINDOW = timedelta(seconds=60)
#: The shortest span a rate is measured over (a batch confirmed a moment ago).
BATCH_RATE_MIN_SPAN = timedelta(seconds=5)


@dataclass(frozen=True)
class BatchRate:
    """How fast a batch being sent finishes its orders, and when it will be done at that pace.

    `finished_recently` orders reached a final status over the last `span_seconds` (the window,
    or less when the batch was confirmed more recently). `remaining` are the open orders the
    workers are still to finish: orders needing attention are left out, they wait for a person.
    `per_second` and `finish_at` are None when no order finished over the span."""

    measured_at: datetime
    span_seconds: float
    finished_recently: int
    finished_ever: int
    remaining: int
    needs_attention: int

    @property
    def per_second(self) -> float | None:
        return self.finished_recently / self.span_seconds if self.finished_recently else None

    @property
    def per_minute(self) -> int | None:
        rate = self.per_second
        return None if rate is None else round(rate * 60)

    @property
    def seconds_left(self) -> float | None:
        rate = self.per_second
        return None if rate is None or not self.remaining else self.remaining / rate

    @property
    def finish_at(self) -> datetime | None:
        left = self.seconds_left
        return None if left is None else self.measured_at + timedelta(seconds=left)

    @property
    def minutes_left(self) -> int | None:
        """Whole minutes to go, rounded (0: less than a minute)."""
        left = self.seconds_left
        return None if left is None else int(left // 60 + (left % 60 >= 30))

    @property
    def hours_left(self) -> int | None:
        minutes = self.minutes_left
        return None if minutes is None else round(minutes / 60)

    @property
    def waiting_for_first(self) -> bool:
        """No order of the batch has finished yet (it has just started, or none can be sent)."""
        return not self.finished_ever


def batch_rate(
    *,
    batch: Batch,
    progress: BatchProgress | None = None,
    now: datetime | None = None,
    window: timedelta = BATCH_RATE_WINDOW,
) -> BatchRate | None:
    """The sending rate and the estimated finish of a batch being sent (CONFIRMED or RUNNING with
    open orders); None otherwise. Pass the `batch_progress` already read to spare its query.

    The rate counts the batch's orders that reached a final status within `window`, by
    `final_at` (set on entering a final status, cleared when an order is queued again; an order
    moved on to NEEDS_ATTENTION keeps it, hence the status filter too): one COUNT on the
    (batch, status) index, only over the batch's final orders, never a loop over them."""
    if batch.status not in (Batch.Status.CONFIRMED, Batch.Status.RUNNING):
        return None
    progress = progress or batch_progress(batch=batch)
    if progress.finished >= progress.total:
        return None
    now = now or timezone.now()
    since = now - window
    if batch.confirmed_at is not None and batch.confirmed_at > since:
        since = min(batch.confirmed_at, now - BATCH_RATE_MIN_SPAN)
    finished_recently = (
        Order.objects.filter(batch=batch, status__in=list(FINAL_STATUSES), final_at__gte=since)
        .order_by()
        .count()
    )
    open_orders = progress.total - progress.finished
    return BatchRate(
        measured_at=now,
        span_seconds=(now - since).total_seconds(),
        finished_recently=finished_recently,
        finished_ever=progress.finished,
        remaining=open_orders - progress.needs_attention,
        needs_attention=progress.needs_attention,
    )


def batches_running() -> QuerySet[Batch]:
    """Batches with work under way: orders being created, sent or followed."""
    return Batch.objects.filter(
        status__in=[Batch.Status.CONFIRMING, Batch.Status.CONFIRMED, Batch.Status.RUNNING]
    )


def batch_orders(*, batch: Batch, status: str = "") -> QuerySet[Order]:
    """The batch's orders in file order, with their offers; only those in `status` if given."""
    orders = Order.objects.filter(batch=batch).select_related("offer").order_by("row_number", "pk")
    return orders.filter(status=status) if status else orders


def batch_key_count(*, batch: Batch) -> int:
    return OrderKey.objects.filter(order__batch=batch).count()


def batch_skipped_rows(*, batch: Batch) -> QuerySet[BatchPreviewRow]:
    """The rows of the file that were not ordered (they had problems), in file order."""
    return BatchPreviewRow.objects.filter(batch=batch, has_problems=True).order_by("row_number")


def batch_failed_orders(*, batch: Batch) -> QuerySet[Order]:
    """The batch's orders that did not reach the customer (failed, refused, refunded) and were
    neither ordered again nor retried in another batch: what "Retry the failed rows" takes."""
    return Order.objects.filter(
        batch=batch,
        status__in=list(ORDER_AGAIN_STATUSES),
        retried_in__isnull=True,
        ordered_again_as__isnull=True,
    ).order_by("row_number", "pk")


def batch_retries(*, batch: Batch) -> QuerySet[Batch]:
    """The batches that retried failed rows of `batch`."""
    return Batch.objects.filter(retried_orders__batch=batch).distinct().order_by("pk")


def batch_retried_from(*, batch: Batch) -> QuerySet[Batch]:
    """The batches whose failed rows `batch` retries."""
    return Batch.objects.filter(orders__retried_in=batch).distinct().order_by("pk")


def batch_actions_available(*, batch: Batch) -> list[str]:
    """Names of the operator actions on a confirmed batch that apply to it as it is now, for
    showing buttons; the services themselves decide."""
    if batch.status == Batch.Status.PAUSED:
        return ["resume"]
    return ["pause"] if batch_can_move(batch.status, Batch.Status.PAUSED) else []


def batch_upload_size(*, batch: Batch) -> int | None:
    """The size of the batch's stored upload (not the file itself), None once it was read."""
    return BatchUpload.objects.filter(batch=batch).values_list("size", flat=True).first()


# --- the preview ---------------------------------------------------------------------------------

PREVIEW_VIEWS = {
    "problems": "Rows with problems",
    "warnings": "Rows with warnings",
    "all": "All rows",
}


def batch_preview_rows(*, batch: Batch, show: str = "all") -> QuerySet[BatchPreviewRow]:
    """The preview's rows: with problems, with warnings, or all of them (problems first)."""
    rows = BatchPreviewRow.objects.filter(batch=batch).select_related("offer", "product")
    if show == "problems":
        return rows.filter(has_problems=True).order_by("row_number")
    if show == "warnings":
        return rows.filter(has_problems=False).exclude(warnings=[]).order_by("row_number")
    return rows.order_by("-has_problems", "row_number")


def balance_checked_at(batch: Batch) -> datetime | None:
    value = batch.preview_summary.get("balance_checked_at")
    return datetime.fromisoformat(value) if value else None
