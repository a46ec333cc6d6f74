"""Job rows: one shape for the long work a page waits on (a catalog sync, a ledger sync, a
reconciliation run).

A job is a row first and a Celery message second. The row is the truth that the page polls; the
message only says "run row N", and may be lost (the broker was down when it was sent, or lost it
later: Redis here keeps nothing on disk). So:

- `job_start` creates the row QUEUED and sends its task once the transaction commits. A send that
  fails is logged and leaves the row QUEUED for the rescue below, never a 500.
- `job_claim` moves QUEUED -> RUNNING exactly once, under a row lock: a second delivery of the same
  message (acks_late, or the rescue's re-send) finds the job taken and does nothing.
- `job_heartbeat` stamps `heartbeat_at`, with the job's own progress, while it runs.
- `job_finish` records SUCCEEDED or FAILED with the message staff read.
- `jobs_rescue` runs from beat every minute (`reseller.core.tasks.rescue_jobs`), and for one
  account before a new job of the same kind starts there. Its rule:

  1. RUNNING and silent (no heartbeat) for `JOB_HEARTBEAT_TIMEOUT` -> FAILED: its worker died or
     was stopped. (acks_late redelivers its message, but the claim refuses a job already RUNNING,
     and half-done work is repaired by the next job, not resumed.)
  2. QUEUED and unclaimed `JOB_CLAIM_TIMEOUT` after it was created -> its task is sent once more
     (`resent_at`): the first message was lost. A message that was only slow is harmless twice.
  3. QUEUED and still unclaimed `JOB_CLAIM_TIMEOUT` after that re-send -> FAILED: no worker is
     taking it.

  So no job stays active for good, and the one-active-per-account constraint of each kind stops
  blocking the next job (beat's included) after at most twice the claim timeout.

Each kind is a concrete model on `Job` that keeps its own counters and results and names its task
(`task_name`), how staff call it (`noun`), the fields of its one-active constraint
(`one_active_per`), and what a failed one leaves behind (`after_failure`). Batch confirmation
(orders) has its own rows and rescue for now.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, Self, TypeVar

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from reseller.core.errors import ApplicationError

logger = logging.getLogger(__name__)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED)
# What each kind's "one active per account" constraint holds (as stored values, so the
# constraints read the same in every migration).
ACTIVE = Q(status__in=["queued", "running"])


class JobAlreadyActive(ApplicationError):
    """A job of the same kind for the same account is already queued or running."""


class Job(models.Model):
    """The fields every job row has. Concrete kinds add their own progress and results."""

    Status = JobStatus

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    trigger = models.CharField(max_length=20, default="manual")  # manual | schedule
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Stamped while it runs: a running job that stops reporting has lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set when the rescue sent its task again because no worker had claimed the first message.
    resent_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)

    #: Each concrete kind's manager (Django's default; an abstract model has none of its own).
    objects: ClassVar[models.Manager[Self]]

    #: The Celery task that runs one job of this kind, given its id (a dotted path).
    task_name: ClassVar[str] = ""
    #: How messages name one ("sync", "ledger sync").
    noun: ClassVar[str] = "job"
    #: The fields of the kind's one-active constraint; a start first rescues the jobs they match.
    one_active_per: ClassVar[tuple[str, ...]] = ()
    #: What a failed one leaves behind, said at the end of its failure message.
    after_failure: ClassVar[str] = "Start it again."

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        return 100 if self.status == JobStatus.SUCCEEDED else 0


J = TypeVar("J", bound=Job)


def heartbeat_timeout() -> dt.timedelta:
    return settings.JOB_HEARTBEAT_TIMEOUT


def claim_timeout() -> dt.timedelta:
    return settings.JOB_CLAIM_TIMEOUT


def job_kinds() -> list[type[Job]]:
    """Every concrete kind of job row installed."""
    return [model for model in apps.get_models() if issubclass(model, Job)]


# --- a job's life ---------------------------------------------------------------------------------


def job_start(model: type[J], *, now: dt.datetime | None = None, **fields) -> J:
    """Create a QUEUED job from `fields` and send its task once the transaction commits.

    The stale jobs its one-active constraint would meet are rescued first, so a job whose worker
    died or whose message was lost does not block this one. Raises JobAlreadyActive when one of
    the same kind is queued or running for the same account.
    """
    scope = {name: fields[name] for name in model.one_active_per}
    jobs_rescue(kinds=[model], scope=scope, now=now)
    try:
        with transaction.atomic():
            job = model.objects.create(**fields)
    except IntegrityError:
        of = " of " + ", ".join(str(value) for value in scope.values()) if scope else ""
        raise JobAlreadyActive(f"A {model.noun}{of} is already queued or running.") from None
    transaction.on_commit(partial(job_send, job))
    return job


def job_send(job: Job) -> bool:
    """Hand the job to a worker now; False when the broker could not take it. The failure is
    logged, not raised: the row stays QUEUED and `jobs_rescue` sends it again."""
    task = import_string(job.task_name)
    try:
        task.delay(job.pk)
    except Exception:
        logger.warning(
            "could not send %s %s to a worker; it stays queued and is sent again after %s",
            job.noun,
            job.pk,
            claim_timeout(),
            exc_info=True,
        )
        return False
    return True


def job_claim(model: type[J], job_id: int, *, now: dt.datetime | None = None) -> J | None:
    """Move a QUEUED job to RUNNING for the worker that calls it. None when the job is gone or
    no longer queued: a second delivery of its message, or a job the rescue gave up on."""
    now = now or timezone.now()
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.QUEUED:
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "heartbeat_at"])
    return job


def job_heartbeat(job: Job, *, now: dt.datetime | None = None, **progress) -> None:
    """The running job is alive; `progress` updates its own counters in the same statement."""
    type(job).objects.filter(pk=job.pk).update(heartbeat_at=now or timezone.now(), **progress)


def job_finish(
    job: Job, *, status: str, message: str, now: dt.datetime | None = None, **fields
) -> None:
    """Record the end of the job: SUCCEEDED or FAILED, the message staff read, and `fields`."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"A job finishes as succeeded or failed, not {status!r}.")
    type(job).objects.filter(pk=job.pk).update(
        status=status, finished_at=now or timezone.now(), message=message[:4000], **fields
    )


# --- the rescue -----------------------------------------------------------------------------------


@dataclass
class RescueReport:
    silent: int = 0  # RUNNING without a heartbeat: failed
    resent: int = 0  # QUEUED and unclaimed: sent again
    unclaimed: int = 0  # QUEUED and unclaimed after the re-send too: failed

    def __bool__(self) -> bool:
        return bool(self.silent or self.resent or self.unclaimed)


def jobs_rescue(
    *,
    kinds: list[type[Job]] | None = None,
    scope: dict | None = None,
    now: dt.datetime | None = None,
) -> RescueReport:
    """Fail the jobs whose worker died, re-send the ones whose message was lost, and fail those
    still unclaimed after the re-send (the rule in this module's doc). `scope` limits it to the
    jobs matching those fields (an account's, before a new job of it starts).

    Each move is a conditional UPDATE, so two rescues at once (beat and a start) move a job once,
    and a job claimed or heard from meanwhile is left alone.
    """
    now = now or timezone.now()
    report = RescueReport()
    for model in job_kinds() if kinds is None else kinds:
        jobs = model.objects.filter(**(scope or {}))
        report.silent += _fail_silent(model, jobs, now)
        report.unclaimed += _fail_unclaimed(model, jobs, now)
        report.resent += _resend_unclaimed(model, jobs, now)
    if report:
        logger.warning("job rescue: %s", report)
    return report


def _minutes(delta: dt.timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _fail_silent(model: type[Job], jobs, now: dt.datetime) -> int:
    timeout = heartbeat_timeout()
    cutoff = now - timeout
    return jobs.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff),
        status=JobStatus.RUNNING,
    ).update(
        status=JobStatus.FAILED,
        finished_at=now,
        message=(
            f"Stopped: the worker running this {model.noun} went silent for more than "
            f"{_minutes(timeout)} (it died or was stopped). {model.after_failure}"
        ),
    )


def _fail_unclaimed(model: type[Job], jobs, now: dt.datetime) -> int:
    timeout = claim_timeout()
    return jobs.filter(status=JobStatus.QUEUED, resent_at__lt=now - timeout).update(
        status=JobStatus.FAILED,
        finished_at=now,
        message=(
            f"Stopped: no worker picked this {model.noun} up, though it was sent twice "
            f"{_minutes(timeout)} apart. Check that the background worker is running. "
            f"{model.after_failure}"
        ),
    )


def _resend_unclaimed(model: type[Job], jobs, now: dt.datetime) -> int:
    due = jobs.filter(
        status=JobStatus.QUEUED, resent_at__isnull=True, created_at__lt=now - claim_timeout()
    )
    resent = 0
    for job in due:
        taken = model.objects.filter(pk=job.pk, status=JobStatus.QUEUED, resent_at__isnull=True)
        if taken.update(resent_at=now):
            transaction.on_commit(partial(job_send, job))
            resent += 1
    return resent
