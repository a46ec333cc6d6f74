"""The heartbeat goes through the real broker (filesystem here, Redis in CI) to a real worker."""

import pytest
from django.conf import settings

from reseller.core.models import Heartbeat
from reseller.core.tasks import record_heartbeat
from tests.conftest import wait_until


def test_a_real_worker_runs_the_scheduled_heartbeat_through_the_broker(celery_worker_process):
    record_heartbeat.delay()
    wait_until(
        lambda: Heartbeat.objects.filter(name="worker").exists(),
        timeout=60,
        message="the worker to run the heartbeat task",
    )
    assert celery_worker_process.poll() is None


@pytest.mark.parametrize("name", list(settings.CELERY_BEAT_SCHEDULE))
def test_the_beat_schedule_names_tasks_that_exist(name):
    from reseller.celery import app

    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE[name]["task"] in app.tasks


def test_celery_is_configured_for_safe_redelivery():
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_ACCEPT_CONTENT == ["json"] and settings.CELERY_TASK_SERIALIZER == "json"
    assert settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT
