"""An upload is stored and read by a worker: the page says "reading" until the preview is there;
a broker that is away, a second delivery and a worker that dies lose nothing; rows are written
all or none. The broker fixture (tests/orders/conftest.py) records the tasks."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from orders import schedule, tasks
from orders.batches import uploads
from orders.batches.preview import batch_preview_read
from orders.models import Batch, BatchPreviewRow, BatchUpload
from orders.services import orders_sweep

CONTENT = "offer_id,quantity,customer_reference\n5,2,R-1\n6,1,R-2\n99,x,R-3\n"


@pytest.fixture
def offers(make_offer):
    return make_offer(5), make_offer(6)


def post_upload(client, account, content=CONTENT, name="orders.csv"):
    return client.post(
        reverse("orders:batch_upload"),
        {"account": account.pk, "name": "", "file": SimpleUploadedFile(name, content.encode())},
    )


def sweep(at, capture):
    with capture(execute=True):
        return orders_sweep(now=at).readings


def test_the_upload_answers_at_once_and_the_page_reads_until_the_preview_is_there(
    client_as, account, offers, broker, django_capture_on_commit_callbacks
):
    client = client_as("operator")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_upload(client, account)
    batch = Batch.objects.get()
    url = reverse("orders:batch_detail", args=[batch.pk])
    assert response.status_code == 302 and response.url == url
    # Stored, not read: the reading is on the batches worker's queue.
    assert batch.status == Batch.Status.READING and batch.read_requested_at is not None
    assert BatchUpload.objects.get(batch=batch).size == len(CONTENT)
    assert broker.ids("read_batch") == [batch.pk] and not BatchPreviewRow.objects.exists()
    from reseller.core.queues import ROUTES

    assert ROUTES["orders.tasks.read_batch"] == "batches"

    listed = client.get(reverse("orders:batch_list")).content.decode()
    assert "Reading the file" in listed and "reading the file…" in listed
    page = client.get(url).content.decode()
    assert 'data-testid="reading"' in page and 'hx-trigger="every 1s"' in page
    assert "Reading the file" in page and "Confirm" not in page
    confirmed = client.post(reverse("orders:batch_action", args=[batch.pk, "confirm"]), follow=True)
    assert "This file has no preview to confirm (yet)" in confirmed.content.decode()
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "reading"}
    waiting = client.get(url, **poll)
    assert waiting.content.decode().lstrip().startswith('<section id="reading"')
    assert "HX-Refresh" not in waiting

    broker.run("read_batch")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW and batch.read_heartbeat_at is None
    assert client.get(url, **poll)["HX-Refresh"] == "true"
    page = client.get(url).content.decode()
    assert 'data-testid="rows-ok">2<' in page and 'data-testid="rows-problems">1<' in page
    assert not BatchUpload.objects.exists()  # read: the file is not kept
    # A second delivery of the message finds it read and does nothing.
    tasks.read_batch.run(batch.pk)
    assert BatchPreviewRow.objects.filter(batch=batch).count() == 3


def test_with_the_broker_away_the_file_waits_and_is_read_once_it_is_back(
    client_as, account, offers, broker, monkeypatch, django_capture_on_commit_callbacks
):
    recorded = tasks.read_batch.delay

    def broker_away(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.read_batch, "delay", broker_away)
    client = client_as("operator")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_upload(client, account)
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert batch.status == Batch.Status.READING and batch.read_requested_at is None
    page = client.get(response.url).content.decode()
    assert 'data-testid="queue-away"' in page and "reading starts as soon as the queue" in page

    now = timezone.now()
    assert sweep(now + timedelta(seconds=30), django_capture_on_commit_callbacks) == 0
    # Still away a minute later: tried, and tried again a minute after that.
    assert sweep(now + timedelta(seconds=61), django_capture_on_commit_callbacks) == 1
    batch.refresh_from_db()
    assert batch.read_requested_at is None and BatchUpload.objects.filter(batch=batch).exists()

    monkeypatch.setattr(tasks.read_batch, "delay", recorded)
    assert sweep(now + timedelta(seconds=90), django_capture_on_commit_callbacks) == 0
    assert sweep(now + timedelta(seconds=122), django_capture_on_commit_callbacks) == 1
    assert broker.ids("read_batch") == [batch.pk]
    broker.run("read_batch")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW and batch.preview_summary["rows_ok"] == 2


def test_a_message_no_worker_took_is_sent_again(
    account, offers, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch = uploads.batch_upload_store(
            account=account, uploaded_file=CONTENT.encode(), filename="a.csv"
        )
    broker.clear()  # lost with the broker
    now = timezone.now()
    assert sweep(now + timedelta(seconds=30), django_capture_on_commit_callbacks) == 0
    assert (
        sweep(
            now + schedule.read_resend_after() + timedelta(seconds=1),
            django_capture_on_commit_callbacks,
        )
        == 1
    )
    assert broker.ids("read_batch") == [batch.pk]


def test_a_reader_that_dies_is_replaced_and_three_deaths_refuse_the_file(
    account, offers, broker, django_capture_on_commit_callbacks
):
    batch = uploads.batch_upload_store(
        account=account, uploaded_file=CONTENT.encode(), filename="a.csv"
    )
    first = uploads.batch_upload_claim(batch.pk)
    assert first is not None and first.attempt == 1
    # Another delivery while the first reader is alive does nothing.
    assert uploads.batch_upload_claim(batch.pk) is None

    started = timezone.now()
    assert sweep(started + timedelta(seconds=100), django_capture_on_commit_callbacks) == 0
    later = started + schedule.read_silent_after() + timedelta(seconds=1)
    assert sweep(later, django_capture_on_commit_callbacks) == 1  # silent: read again
    assert broker.ids("read_batch") == [batch.pk]
    broker.run("read_batch")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW and batch.read_attempts == 2
    # The first reader, had it only been slow, finds its claim stale and writes nothing.
    assert uploads.batch_upload_finish(first, Batch.Status.REFUSED, summary={}) is None
    assert BatchPreviewRow.objects.filter(batch=batch).count() == 3

    doomed = uploads.batch_upload_store(
        account=account, uploaded_file=CONTENT.encode(), filename="b.csv"
    )
    moment = timezone.now()
    for attempt in range(1, schedule.max_read_attempts() + 1):
        claim = uploads.batch_upload_claim(doomed.pk, now=moment)
        assert claim is not None and claim.attempt == attempt
        moment += schedule.read_silent_after() + timedelta(seconds=1)
        assert sweep(moment, django_capture_on_commit_callbacks) == 1
    doomed.refresh_from_db()
    assert doomed.status == Batch.Status.REFUSED
    assert doomed.preview_summary["read_error"].startswith(
        f"Reading this file was started {schedule.max_read_attempts()} times and never finished"
    )
    assert not BatchUpload.objects.filter(batch=doomed).exists()


def test_the_reading_timings_are_read_from_the_settings(
    settings, account, offers, broker, django_capture_on_commit_callbacks
):
    settings.ORDERS_BATCH_READ_RESEND_AFTER = timedelta(seconds=5)
    settings.ORDERS_BATCH_READ_SILENT_AFTER = timedelta(seconds=20)
    settings.ORDERS_BATCH_READ_ATTEMPTS = 1
    lost = uploads.batch_upload_store(
        account=account, uploaded_file=CONTENT.encode(), filename="a.csv"
    )
    broker.clear()  # lost with the broker
    now = timezone.now()
    assert sweep(now + timedelta(seconds=6), django_capture_on_commit_callbacks) == 1
    assert broker.ids("read_batch") == [lost.pk]

    dying = uploads.batch_upload_store(
        account=account, uploaded_file=CONTENT.encode(), filename="b.csv"
    )
    assert uploads.batch_upload_claim(dying.pk, now=now) is not None
    assert uploads.batch_upload_claim(dying.pk, now=now + timedelta(seconds=19)) is None
    # One reading allowed: the first silent reader refuses the file.
    assert sweep(now + timedelta(seconds=21), django_capture_on_commit_callbacks) >= 1
    dying.refresh_from_db()
    assert dying.status == Batch.Status.REFUSED
    assert dying.preview_summary["read_error"].startswith(
        "Reading this file was started 1 time and never finished"
    )


def test_rows_are_written_all_or_none(
    account, offers, monkeypatch, django_capture_on_commit_callbacks
):
    from orders.batches import preview

    batch = uploads.batch_upload_store(
        account=account, uploaded_file=CONTENT.encode(), filename="a.csv"
    )
    monkeypatch.setattr(preview, "STORE_CHUNK", 1)
    real = preview._insert_preview_rows
    calls = []

    def fail_on_the_second_chunk(records):
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real(records)

    monkeypatch.setattr(preview, "_insert_preview_rows", fail_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        batch_preview_read(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.READING and not BatchPreviewRow.objects.exists()
    assert BatchUpload.objects.filter(batch=batch).exists()  # kept for the next reader

    assert calls == [1, 1]  # the first row was written, then rolled back with the rest
    monkeypatch.setattr(preview, "_insert_preview_rows", real)
    later = timezone.now() + schedule.read_silent_after() + timedelta(seconds=1)
    assert sweep(later, django_capture_on_commit_callbacks) == 1
    tasks.read_batch.run(batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW
    assert BatchPreviewRow.objects.filter(batch=batch).count() == 3


def test_a_heavy_workbook_is_refused_on_its_batch_page(client_as, account, broker):
    from tests.orders.batches.heavy_xlsx import wide_rows_xlsx

    client = client_as("operator")
    response = client.post(
        reverse("orders:batch_upload"),
        {"account": account.pk, "file": SimpleUploadedFile("heavy.xlsx", wide_rows_xlsx(rows=50))},
    )
    batch = Batch.objects.get()
    tasks.read_batch.run(batch.pk)
    text = client.get(response.url).content.decode()
    assert "Row 2 has more than 100 cells (blank ones included)" in text
    assert 'data-testid="read-error"' in text and not BatchPreviewRow.objects.exists()
    listed = client.get(reverse("orders:batch_list")).content.decode()
    assert "File refused" in listed and "the file could not be read" in listed
