"""Job rows (reseller/core/jobs.py): for every kind of job, a lost message and a dead worker end
within the configured time, and the account's next job starts.

The messages are never delivered by a broker here: a test either drops a job's message (as Redis
down, or a lost message, would) or runs its task in this process, as a worker would. Time moves
on through the rescue's `now`, or by dating a row back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from catalog import offer_lookup, sync
from catalog import tasks as catalog_tasks
from catalog.models import OfferLookupJob, SyncJob
from finance import services as finance_services
from finance import tasks as finance_tasks
from finance.errors import JobAlreadyRunning
from finance.models import LedgerSync, ReconciliationRun
from reseller.core import jobs
from reseller.core import tasks as core_tasks
from reseller.core.jobs import JobStatus

pytestmark = pytest.mark.django_db

S = JobStatus
SECOND = dt.timedelta(seconds=1)


def _reconciliation_start(account, by=None):
    start = timezone.now() - dt.timedelta(days=1)
    return finance_services.reconciliation_start(
        account=account, period_start=start, period_end=start + dt.timedelta(days=2), by=by
    )


@dataclass
class Kind:
    model: type[jobs.Job]
    task: object  # the Celery task that runs one job, given its id
    start: Callable  # start(account) -> a QUEUED job, as the button does
    already: type[Exception]  # what a second start raises while one is active
    account_kind: str = "gamesdrop"  # the supplier whose accounts have this kind of job


KINDS = {
    "catalog sync": Kind(
        SyncJob,
        catalog_tasks.run_sync_job,
        lambda account: sync.catalog_sync_start(account=account),
        sync.SyncAlreadyRunning,
    ),
    "ledger sync": Kind(
        LedgerSync,
        finance_tasks.run_ledger_sync,
        lambda account: finance_services.ledger_sync_start(account=account),
        JobAlreadyRunning,
    ),
    "reconciliation": Kind(
        ReconciliationRun,
        finance_tasks.run_reconciliation,
        _reconciliation_start,
        JobAlreadyRunning,
    ),
    # An offer the supplier does not know: the look-up runs to the end and lists it.
    "offer look-up": Kind(
        OfferLookupJob,
        catalog_tasks.run_offer_lookup_job,
        lambda account: offer_lookup.offer_lookup_start(account=account, offer_ids=[987654321]),
        offer_lookup.OfferLookupAlreadyRunning,
        account_kind="codegames",
    ),
}


@pytest.fixture(params=list(KINDS))
def kind(request) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def sent(monkeypatch):
    """Every job task handed to the broker, as (task name, job id); nothing reaches a broker."""
    calls: list[tuple[str, int]] = []
    for kind in KINDS.values():
        monkeypatch.setattr(
            kind.task, "delay", lambda job_id, name=kind.task.name: calls.append((name, job_id))
        )
    return calls


def deliver(kind: Kind, job) -> None:
    """A worker takes the job's message and runs its task (a second delivery is harmless)."""
    kind.task.run(job.pk)


def test_every_job_model_is_a_job_row_with_the_one_status_set():
    assert set(jobs.job_kinds()) == {SyncJob, LedgerSync, ReconciliationRun, OfferLookupJob}
    for model in jobs.job_kinds():
        assert model._meta.get_field("status").choices == JobStatus.choices
        assert model.Status is JobStatus and model.task_name and model.one_active_per
    # The stored values are the ones existing rows and the one-active constraints hold.
    assert [value for value, _ in JobStatus.choices] == ["queued", "running", "succeeded", "failed"]


def test_a_lost_message_is_sent_again_and_the_job_runs(
    kind, sandbox_account, sent, django_capture_on_commit_callbacks
):
    account = sandbox_account(kind=kind.account_kind)
    with django_capture_on_commit_callbacks() as lost:  # the message never reaches the broker
        job = kind.start(account)
    assert len(lost) == 1 and sent == []
    assert job.status == S.QUEUED and job.heartbeat_at is None
    with pytest.raises(kind.already):
        kind.start(account)

    claim_timeout = settings.JOB_CLAIM_TIMEOUT
    assert not jobs.jobs_rescue(now=job.created_at + claim_timeout - SECOND)
    later = job.created_at + claim_timeout + SECOND
    with django_capture_on_commit_callbacks(execute=True):
        report = jobs.jobs_rescue(now=later)
        assert not jobs.jobs_rescue(now=later)  # an overlapping rescue sends it once
    assert (report.resent, report.silent, report.unclaimed) == (1, 0, 0)
    assert sent == [(kind.task.name, job.pk)]
    job.refresh_from_db()
    assert job.status == S.QUEUED and job.resent_at == later

    deliver(kind, job)
    job.refresh_from_db()
    assert job.status == S.SUCCEEDED, job.message
    deliver(kind, job)  # the first message, turning up after all, finds the job done
    assert kind.model.objects.get(pk=job.pk).finished_at == job.finished_at

    assert kind.start(account).status == S.QUEUED  # the next job of the account starts


def test_a_job_whose_resend_is_lost_too_is_failed_and_the_next_one_starts(
    kind, sandbox_account, sent, django_capture_on_commit_callbacks
):
    account = sandbox_account(kind=kind.account_kind)
    job = kind.start(account)  # its message is lost
    claim_timeout = settings.JOB_CLAIM_TIMEOUT
    resent_at = job.created_at + claim_timeout + SECOND
    with django_capture_on_commit_callbacks():  # ... and so is the re-sent one
        assert jobs.jobs_rescue(now=resent_at).resent == 1
    assert not jobs.jobs_rescue(now=resent_at + claim_timeout - SECOND)

    failed_at = resent_at + claim_timeout + SECOND
    report = jobs.jobs_rescue(now=failed_at)
    assert (report.resent, report.silent, report.unclaimed) == (0, 0, 1)
    job.refresh_from_db()
    assert job.status == S.FAILED and job.finished_at == failed_at
    assert f"no worker picked this {kind.model.noun} up" in job.message
    assert kind.model.after_failure in job.message

    following = kind.start(account)
    assert following.status == S.QUEUED
    deliver(kind, job)  # a lost message turning up late runs nothing
    assert kind.model.objects.get(pk=job.pk).status == S.FAILED
    assert kind.model.objects.get(pk=following.pk).status == S.QUEUED


def test_a_job_whose_worker_died_is_failed_and_the_next_one_starts(kind, sandbox_account, sent):
    account = sandbox_account(kind=kind.account_kind)
    job = kind.start(account)
    claimed = jobs.job_claim(kind.model, job.pk)  # a worker takes it ... and dies
    assert claimed.status == S.RUNNING and claimed.heartbeat_at is not None
    assert jobs.job_claim(kind.model, job.pk) is None  # a second delivery does nothing
    with pytest.raises(kind.already):
        kind.start(account)

    heartbeat_timeout = settings.JOB_HEARTBEAT_TIMEOUT
    jobs.job_heartbeat(claimed, now=claimed.heartbeat_at + heartbeat_timeout)  # alive till then
    last_heard = claimed.heartbeat_at + heartbeat_timeout
    assert not jobs.jobs_rescue(now=last_heard + heartbeat_timeout - SECOND)
    report = jobs.jobs_rescue(now=last_heard + heartbeat_timeout + SECOND)
    assert (report.resent, report.silent, report.unclaimed) == (0, 1, 0)
    job.refresh_from_db()
    assert job.status == S.FAILED and "went silent" in job.message
    assert kind.model.after_failure in job.message

    deliver(kind, job)  # acks_late hands the dead worker's message to another: nothing happens
    assert kind.model.objects.get(pk=job.pk).status == S.FAILED
    assert kind.start(account).status == S.QUEUED
    assert sent == []


START_FORMS = {
    "catalog sync": ("catalog:sync_start", lambda account: {"account": account.pk}),
    "ledger sync": ("finance:ledger_sync_start", lambda account: {"account": account.pk}),
    "reconciliation": (
        "finance:reconciliation_start",
        lambda account: {
            "account": account.pk,
            "start": timezone.localdate(),
            "end": timezone.localdate(),
            "fx_tolerance_pct": "3",
            "abs_tolerance": "0.02",
            "window_slack_minutes": "2",
            "refund_window_hours": "48",
        },
    ),
    "offer look-up": (
        "catalog:offer_lookup_start",
        lambda account: {"account": account.pk, "offer_ids": "987654321"},
    ),
}


@pytest.mark.parametrize("name", list(KINDS))
def test_a_start_while_the_broker_is_down_is_a_queued_job_not_an_error(
    name, sandbox_account, client_as, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    kind = KINDS[name]

    def broker_down(job_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(kind.task, "delay", broker_down)
    account = sandbox_account(kind=kind.account_kind)
    url_name, form = START_FORMS[name]
    client = client_as("admin")
    with caplog.at_level(logging.WARNING, logger="reseller.core.jobs"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse(url_name), form(account))
    job = kind.model.objects.get(account=account)
    assert response.status_code == 302 and response.url.endswith(f"/{job.pk}/")
    assert job.status == S.QUEUED and job.heartbeat_at is None
    assert f"could not send {kind.model.noun} {job.pk}" in caplog.text
    page = client.get(response.url).content.decode()
    assert f'data-testid="{_testid(name)}-waiting">Waiting for a worker' in page


#: Where each start button leads when the job it was refused for has finished meanwhile. (Adding
#: offers by id keeps its page, with the ids typed and the reason, instead.)
ENDED_MEANWHILE = {
    "catalog sync": (
        "catalog.views.sync.catalog_sync_start",
        lambda account: reverse("catalog:sync_list"),
    ),
    "ledger sync": (
        "finance.views.services.ledger_sync_start",
        lambda account: reverse("finance:ledger_sync_list"),
    ),
    "reconciliation": (
        "finance.views.services.reconciliation_start",
        lambda account: f"{reverse('finance:reconciliation_list')}?account={account.pk}",
    ),
}


@pytest.mark.parametrize("name", list(ENDED_MEANWHILE))
def test_a_start_refused_for_a_job_that_has_ended_since_leads_to_the_list(
    name, sandbox_account, client_as, monkeypatch
):
    kind = KINDS[name]
    service, where = ENDED_MEANWHILE[name]

    def already_active(**kwargs):
        raise kind.already("One is already queued or running.")

    monkeypatch.setattr(service, already_active)
    account = sandbox_account()
    url_name, form = START_FORMS[name]
    response = client_as("admin").post(reverse(url_name), form(account))
    assert response.status_code == 302 and response.url == where(account)
    assert not kind.model.objects.filter(account=account).exists()


# --- the stuck sync of the issue: started while Redis was down, still queued two days later ------


def _stuck_sync(client_as, account, monkeypatch, django_capture_on_commit_callbacks) -> SyncJob:
    """Sync now, pressed while Redis is down; then two days pass."""

    def broker_down(job_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as down:
        down.setattr(catalog_tasks.run_sync_job, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            client_as("admin").post(reverse("catalog:sync_start"), {"account": account.pk})
    job = SyncJob.objects.get(account=account)
    assert job.status == S.QUEUED and job.heartbeat_at is None
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    SyncJob.objects.filter(pk=job.pk).update(created_at=two_days_ago)
    return job


def test_the_stuck_sync_is_sent_again_by_beat_and_the_next_sync_starts(
    sandbox_account, client_as, monkeypatch, sent, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    job = _stuck_sync(client_as, account, monkeypatch, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):  # Redis is back; beat's rescue runs
        core_tasks.rescue_jobs.run()
    assert sent == [("catalog.tasks.run_sync_job", job.pk)]
    deliver(KINDS["catalog sync"], job)
    job.refresh_from_db()
    assert job.status == S.SUCCEEDED and "offers fetched" in job.message

    catalog_tasks.sync_all_catalogs.run()  # beat's hourly sync of the account starts again
    assert SyncJob.objects.filter(account=account, trigger="schedule", status=S.QUEUED).exists()


def test_the_stuck_sync_whose_resend_is_lost_is_failed_and_beat_syncs_again(
    sandbox_account, client_as, monkeypatch, sent, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    job = _stuck_sync(client_as, account, monkeypatch, django_capture_on_commit_callbacks)
    # Beat's sync comes first: it rescues the account's stale sync (sent again) and waits for it.
    with django_capture_on_commit_callbacks():  # the re-sent message is lost as well
        catalog_tasks.sync_all_catalogs.run()
    assert SyncJob.objects.filter(account=account).count() == 1
    job.refresh_from_db()
    assert job.status == S.QUEUED and job.resent_at is not None

    jobs.jobs_rescue(now=job.resent_at + settings.JOB_CLAIM_TIMEOUT + SECOND)
    job.refresh_from_db()
    assert job.status == S.FAILED and "no worker picked this sync up" in job.message
    catalog_tasks.sync_all_catalogs.run()
    assert SyncJob.objects.filter(account=account, trigger="schedule", status=S.QUEUED).exists()


# --- the pages ------------------------------------------------------------------------------------


def _testid(name: str) -> str:
    return {
        "catalog sync": "sync",
        "ledger sync": "ledger-sync",
        "reconciliation": "run",
        "offer look-up": "lookup",
    }[name]


def _page(job) -> tuple[str, str]:
    """The job's page and the HX-Target its progress polls with."""
    if isinstance(job, ReconciliationRun):
        return reverse("finance:reconciliation_detail", args=[job.pk]), "run-body"
    if isinstance(job, LedgerSync):
        return reverse("finance:ledger_sync_detail", args=[job.pk]), "job-progress"
    if isinstance(job, OfferLookupJob):
        return reverse("catalog:offer_lookup_detail", args=[job.pk]), "job-progress"
    return reverse("catalog:sync_detail", args=[job.pk]), "job-progress"


@pytest.mark.parametrize("name", list(KINDS))
def test_each_job_page_shows_the_one_progress_partial_polled_while_active(
    name, sandbox_account, client_as, sent
):
    kind, testid = KINDS[name], _testid(name)
    job = kind.start(sandbox_account(kind=kind.account_kind))
    url, target = _page(job)
    client = client_as("admin")
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target}

    page = client.get(url).content.decode()  # a plain link: the whole page
    assert "<html" in page and 'id="job-progress"' in page
    assert f'data-testid="{testid}-status">Queued' in page
    queued = client.get(url, **poll).content.decode()
    assert "<html" not in queued and 'hx-trigger="every 1s"' in queued
    assert f'hx-get="{url}"' in queued and f'data-testid="{testid}-progress"' in queued

    jobs.jobs_rescue(now=job.created_at + settings.JOB_CLAIM_TIMEOUT + SECOND)
    resent = client.get(url, **poll).content.decode()
    assert "sent again at" in resent and 'hx-trigger="every 1s"' in resent

    jobs.jobs_rescue(now=job.created_at + 3 * settings.JOB_CLAIM_TIMEOUT)
    failed = client.get(url, **poll).content.decode()
    assert "hx-trigger" not in failed and f'data-testid="{testid}-status">Failed' in failed
    assert f'class="form-error" data-testid="{testid}-message">Stopped: no worker' in failed


def test_the_rescue_runs_from_beat_every_minute_on_a_queue_no_job_holds_up():
    from reseller.celery import app
    from reseller.core import queues

    entry = settings.CELERY_BEAT_SCHEDULE["jobs-rescue"]
    assert entry["task"] == "reseller.core.tasks.rescue_jobs" and entry["schedule"] == 60
    app.loader.import_default_modules()
    queue = app.amqp.router.route({}, entry["task"])["queue"].name
    assert queue == queues.queue_name(queues.PEOPLE) != queues.queue_name(queues.BACKGROUND)
