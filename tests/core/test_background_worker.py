"""The heartbeat goes through the real broker (filesystem here, Redis in CI) to a real worker."""

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from reseller.core.models import Heartbeat
from reseller.core.tasks import record_heartbeat
from tests.conftest import database_url as _database_url


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_scheduled_heartbeat_through_the_broker():
    queue = f"test-{uuid.uuid4().hex[:12]}"  # a queue of its own: no other worker takes the message
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "reseller",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "reseller.settings.test",
            "DATABASE_URL": _database_url(),
        },
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        record_heartbeat.apply_async(queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not Heartbeat.objects.filter(name="worker").exists():
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.3)
        assert Heartbeat.objects.filter(name="worker").exists(), "the worker never ran the task"
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_celery_is_configured_for_safe_redelivery():
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_ACCEPT_CONTENT == ["json"] and settings.CELERY_TASK_SERIALIZER == "json"
    assert settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert "heartbeat" in settings.CELERY_BEAT_SCHEDULE
