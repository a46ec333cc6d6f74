import socket

from celery import shared_task

from reseller.core.services import heartbeat_record


@shared_task(ignore_result=True)
def record_heartbeat() -> None:
    """Scheduled by beat, run by a worker: its row proves both are alive (shown on the dashboard)."""
    heartbeat_record(name="worker", worker=socket.gethostname())
