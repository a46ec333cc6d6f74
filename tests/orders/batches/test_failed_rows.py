"""A batch's way forward: its failed rows retried as a new batch through the usual preview, and
the rows the preview refused downloaded as a workbook to correct and upload again."""

import io

import pytest
from django.urls import reverse

from catalog.models import SyncJob
from catalog.sync import catalog_sync_run
from orders.batches.preview import batch_preview_read
from orders.errors import OrderActionRefused
from orders.models import Batch, Order, OrderStatus
from orders.services import order_again_refusal, order_retry
from reseller.core.models import AuditEvent
from tests.orders.batches.test_views import confirm, csv_text, key_offers, upload

S = OrderStatus


@pytest.fixture
def synced_account(sandbox_account):
    account = sandbox_account()
    catalog_sync_run(SyncJob.objects.create(account=account).pk)
    return account


@pytest.fixture
def ran_batch(client_as, synced_account):
    """A confirmed batch of 4 orders from 3 rows (and 1 refused row); 3 orders then failed."""
    first, second = key_offers(synced_account)
    content = csv_text(
        f"{first.offer_id},2,,,a@example.com,,R-1,{first.price}",  # 2: two orders, both fail
        f"{second.offer_id},1,,,,,R-2,",  # 3: completes
        f"{second.offer_id},1,,,b@example.com,,R-3,",  # 4: refused by the supplier
        "99999999,1,000123,,,,R-4,",  # 5: unknown offer: skipped
    )
    client = client_as("operator")
    upload(client, synced_account, content, batch_name="Friday")
    batch = Batch.objects.get()
    confirm(client, batch)
    orders = {o.row_number: o for o in Order.objects.filter(batch=batch).order_by("pk")}
    Order.objects.filter(batch=batch, row_number=2).update(status=S.FAILED)
    Order.objects.filter(batch=batch, row_number=3).update(status=S.COMPLETED)
    Order.objects.filter(batch=batch, row_number=4).update(status=S.REJECTED)
    return batch, orders, (first, second)


def test_retry_makes_a_new_batch_of_the_failed_rows_through_the_usual_preview(
    client_as, ran_batch, synced_account
):
    batch, _, (first, second) = ran_batch
    client = client_as("operator")
    page = client.get(reverse("orders:batch_detail", args=[batch.pk]))
    assert page.context["failed_to_retry"] == 3
    assert b"Retry the failed rows (3)" in page.content

    response = client.post(reverse("orders:batch_retry", args=[batch.pk]))
    retry = Batch.objects.exclude(pk=batch.pk).get()
    assert response.status_code == 302
    assert response.url == reverse("orders:batch_detail", args=[retry.pk])
    # A worker reads the file into the usual preview; nothing is ordered until it is confirmed.
    assert retry.status == Batch.Status.READING
    source_link = (
        f'Retries the failed rows of <a href="{reverse("orders:batch_detail", args=[batch.pk])}"'
    )
    reading = client.get(response.url).content.decode()
    assert 'data-testid="reading"' in reading and source_link in reading
    batch_preview_read(batch_id=retry.pk)
    retry.refresh_from_db()
    assert retry.status == Batch.Status.PREVIEW and not retry.orders.exists()
    assert retry.account == synced_account and retry.name == "Retry of Friday"
    rows = [
        (r.row_number, r.offer_ref, r.quantity, r.email, r.customer_reference, r.has_problems)
        for r in retry.preview_rows.order_by("row_number")
    ]
    # A file row of 2 orders that both failed is one row of 2; the failed references are free.
    assert rows == [
        (2, first.offer_id, 2, "a@example.com", "R-1", False),
        (3, second.offer_id, 1, "b@example.com", "R-3", False),
    ]
    assert retry.preview_rows.get(row_number=2).max_unit_price == first.price
    assert Order.objects.filter(retried_in=retry).count() == 3
    assert AuditEvent.objects.filter(
        action="batch.failed_rows_retried", target_id=str(batch.pk)
    ).exists()

    assert source_link in client.get(response.url).content.decode()  # the preview
    source = client.get(reverse("orders:batch_detail", args=[batch.pk]))
    assert source.context["failed_to_retry"] == 0 and b"Retry the failed rows" not in source.content
    assert f'Failed rows retried in <a href="{response.url}"'.encode() in source.content

    # Retried once: no second retry, no Order again or single retry of the same orders.
    refused = client.post(reverse("orders:batch_retry", args=[batch.pk]), follow=True)
    assert "No order of this batch is waiting to be retried." in refused.content.decode()
    rejected = Order.objects.get(batch=batch, row_number=4)
    assert "retried already, in batch" in order_again_refusal(rejected)
    with pytest.raises(OrderActionRefused, match="retried in batch"):
        order_retry(order=rejected, by=None)

    confirm(client, retry)
    assert retry.status == Batch.Status.CONFIRMED and retry.orders.count() == 3


def test_a_discarded_retry_frees_the_failed_rows(client_as, ran_batch):
    batch, _, _ = ran_batch
    client = client_as("operator")
    client.post(reverse("orders:batch_retry", args=[batch.pk]))
    retry = Batch.objects.exclude(pk=batch.pk).get()
    client_as("admin").post(reverse("orders:batch_action", args=[retry.pk, "discard"]))
    assert not Batch.objects.filter(pk=retry.pk).exists()
    assert Order.objects.filter(batch=batch, retried_in__isnull=True).count() == 4
    page = client.get(reverse("orders:batch_detail", args=[batch.pk]))
    assert page.context["failed_to_retry"] == 3


def test_finance_cannot_retry(client_as, ran_batch):
    batch, _, _ = ran_batch
    assert (
        client_as("finance").post(reverse("orders:batch_retry", args=[batch.pk])).status_code == 403
    )
    assert Batch.objects.count() == 1


def test_the_rows_that_need_a_fix_download_as_a_workbook_that_uploads_again(
    client_as, ran_batch, synced_account
):
    from openpyxl import load_workbook

    batch, _, (first, _) = ran_batch
    client = client_as("operator")
    page = client.get(reverse("orders:batch_detail", args=[batch.pk]))
    assert b"Download the rows that need a fix" in page.content
    response = client.get(reverse("orders:batch_fix_rows", args=[batch.pk]))
    assert response.status_code == 200
    assert "rows-to-fix.xlsx" in response["Content-Disposition"]

    workbook = load_workbook(io.BytesIO(response.content))
    orders, notes = workbook["Orders"], workbook["What to fix"]
    header, *rows = [list(row) for row in orders.iter_rows(values_only=True)]
    assert header[:3] == ["offer_id", "quantity", "player_id"]
    assert rows == [[99999999, 1, "000123", None, None, None, "R-4", None, None]]
    assert orders["C2"].number_format == "@"  # the player id stays text: 000123
    assert list(notes.iter_rows(values_only=True))[1][:2] == (2, 5)
    assert "not in this account" in list(notes.iter_rows(values_only=True))[1][2]

    # The person corrects the offer id and uploads the file as a new batch.
    orders["A2"].value = first.offer_id
    fixed = io.BytesIO()
    workbook.save(fixed)
    upload(client, synced_account, fixed.getvalue(), name="fixed.xlsx", batch_name="Fixed")
    again = Batch.objects.get(name="Fixed")
    row = again.preview_rows.get()
    assert (row.offer_ref, row.game_user_id, row.customer_reference) == (
        first.offer_id,
        "000123",
        "R-4",
    )
    assert not row.has_problems, row.problems


def test_the_fix_download_of_a_batch_without_refused_rows_is_an_empty_template(client_as, db):
    from openpyxl import load_workbook

    from orders.services import batch_create

    batch = batch_create(name="clean")
    response = client_as("finance").get(reverse("orders:batch_fix_rows", args=[batch.pk]))
    rows = list(load_workbook(io.BytesIO(response.content))["Orders"].iter_rows(values_only=True))
    assert len(rows) == 1 and rows[0][0] == "offer_id"


def test_orders_retried_elsewhere_meanwhile_retry_nothing(client_as, ran_batch, monkeypatch):
    from orders.batches import failed_rows

    batch, _, _ = ran_batch
    real_retry_file = failed_rows._retry_file

    def another_operator_retries_while_the_file_is_written(lines):
        other = Batch.objects.create(name="the other operator's retry")
        Order.objects.filter(batch=batch, row_number=4).update(retried_in=other)
        return real_retry_file(lines)

    monkeypatch.setattr(
        failed_rows, "_retry_file", another_operator_retries_while_the_file_is_written
    )
    response = client_as("operator").post(
        reverse("orders:batch_retry", args=[batch.pk]), follow=True
    )
    assert "nothing was retried" in response.content.decode()
    assert not Batch.objects.filter(name="Retry of Friday").exists()
    assert Order.objects.filter(batch=batch, retried_in__isnull=False).count() == 1
