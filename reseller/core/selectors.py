"""Reads of the core app."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from reseller.core.models import AuditEvent, Heartbeat

# Beat schedules the heartbeat every 30 seconds; twice that and a little more means trouble.
HEARTBEAT_STALE_AFTER = timedelta(seconds=75)


@dataclass(frozen=True)
class WorkerStatus:
    last_beat_at: datetime | None
    worker: str

    @property
    def is_alive(self) -> bool:
        return (
            self.last_beat_at is not None
            and timezone.now() - self.last_beat_at < HEARTBEAT_STALE_AFTER
        )


def worker_status() -> WorkerStatus:
    beat = Heartbeat.objects.filter(name="worker").first()
    if beat is None:
        return WorkerStatus(last_beat_at=None, worker="")
    return WorkerStatus(last_beat_at=beat.beat_at, worker=beat.worker)


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("actor")


def staff_list() -> QuerySet:
    return get_user_model().objects.prefetch_related("groups").order_by("username")
