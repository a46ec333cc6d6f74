import socket

from celery import shared_task

from reseller.core.jobs import jobs_rescue
from reseller.core.services import heartbeat_record


@shared_task(ignore_result=True)
def record_heartbeat() -> None:
    """Scheduled by beat, run by a worker: its row proves both are alive (shown on the dashboard)."""
    heartbeat_record(name="worker", worker=socket.gethostname())


@shared_task(ignore_result=True)
def rescue_jobs() -> None:
    """Scheduled by beat: fail the jobs whose worker died, re-send the ones whose message was lost
    (reseller/core/jobs.py). A few queries; it must not wait behind the jobs it looks after."""
    jobs_rescue()
