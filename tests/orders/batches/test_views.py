"""The batch pages: upload → reading → preview → confirm / discard, the live page, its CSVs and
actions.

Offers come from a real sync of the sandbox catalog; the broker fixture (tests/orders/conftest.py)
records the tasks instead of running them, and `upload` runs the reading task as the batches
worker would.
"""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from catalog.models import Offer, SyncJob
from catalog.sync import catalog_sync_run
from orders import tasks
from orders.models import Batch, BatchPreviewRow, BatchUpload, Order, OrderKey, OrderStatus
from orders.services import order_create, orders_sweep
from reseller.core.models import AuditEvent
from suppliers.models import SupplierAccount

S = OrderStatus
HEADER = "offer_id,quantity,player_id,server_id,email,telegram_username,customer_reference,max_unit_price"


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def synced_account(sandbox_account):
    account = sandbox_account()
    catalog_sync_run(SyncJob.objects.create(account=account).pk)
    return account


def key_offers(account, n=2):
    """Single-unit gift-card offers priced in USD (keys: complete at once in the sandbox)."""
    offers = list(
        Offer.objects.filter(
            account=account,
            category="Gift Cards",
            currency="USD",
            in_stock=True,
            delisted_at=None,
            requires_user_id=False,
        )
        .exclude(offer_name__contains=" x ")
        .order_by("offer_id")[:n]
    )
    assert len(offers) == n
    return offers


def top_up_offer(account):
    return (
        Offer.objects.filter(
            account=account,
            category="Top Up",
            in_stock=True,
            delisted_at=None,
            requires_user_id=True,
            requires_server_id=False,
        )
        .exclude(product_name="Telegram Stars")
        .order_by("offer_id")
        .first()
    )


def upload(
    client, account, content, *, name="orders.csv", check_players=False, batch_name="", read=True
):
    """Post the upload form; with `read`, then read the stored file as the worker would."""
    data = {
        "account": account.pk,
        "name": batch_name,
        "file": SimpleUploadedFile(
            name, content if isinstance(content, bytes) else content.encode()
        ),
    }
    if check_players:
        data["check_players"] = "on"
    response = client.post(reverse("orders:batch_upload"), data)
    if read and response.status_code == 302:
        tasks.read_batch.run(Batch.objects.latest("pk").pk)
    return response


def csv_text(*rows: str) -> str:
    return "\r\n".join([HEADER, *rows]) + "\r\n"


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def mixed_file(synced_account):
    """A file with two good rows (3 units) and one of each kind of problem."""
    key, other_key = key_offers(synced_account)
    top_up = top_up_offer(synced_account)
    order_create(offer=other_key, max_unit_price=other_key.price, customer_reference="OLD-1")
    content = csv_text(
        f"{key.offer_id},2,,,a@example.com,,A-1,",  # 2: ok, two orders
        "99999999,1,,,,,A-2,",  # 3: unknown offer
        f"{top_up.offer_id},1,,,,,A-3,",  # 4: missing player id
        f"{key.offer_id},1,,,,,DUP,",  # 5: duplicate reference
        f"{key.offer_id},1,,,,,DUP,",  # 6: duplicate reference
        f"{key.offer_id},two,,,,,A-6,",  # 7: bad number
        f"{top_up.offer_id},1,123456789,,,,A-7,{top_up.price}",  # 8: ok, player checked valid
        f"{other_key.offer_id},1,,,,,OLD-1,",  # 9: already ordered
        f'{key.offer_id},1,,,,,A-9,"1,500"',  # 10: ambiguous number
        f"{top_up.offer_id},1,not-a-player,,,,A-10,",  # 11: player refused by the supplier
    )
    return content, key, top_up


# --- refused files ------------------------------------------------------------------------------


@pytest.fixture
def offline_account(db):
    return SupplierAccount.objects.create(
        name="offline-batch", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("doc.pdf", b"%PDF-1.4 binary", "This is a PDF document, not a table."),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old Excel .xls file"),
        ("page.csv", b"<html><body>orders</body></html>", "looks like a web page"),
        ("one.csv", b"just some words\nmore words\n", "no comma, semicolon or tab"),
        ("header.csv", HEADER.encode() + b"\r\n\r\n", "has a header but no order rows"),
        ("cols.csv", b"name,email\nx,y@example.com\n", "offer_id"),
        ("bad.xlsx", b"PK\x03\x04 not really a zip", "xlsx"),
        ("blob.csv", bytes(range(256)) * 8, "binary file"),
    ],
)
def test_a_refused_file_is_said_on_its_batch_page_and_nothing_is_stored(
    client_as, offline_account, name, content, message
):
    client = client_as("operator")
    response = upload(client, offline_account, content, name=name, read=False)
    batch = Batch.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "orders:batch_detail", args=[batch.pk]
    )
    assert batch.status == Batch.Status.READING and BatchUpload.objects.filter(batch=batch)

    tasks.read_batch.run(batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.REFUSED
    text = client.get(response.url).content.decode()
    assert 'data-testid="read-error"' in text
    assert message.lower() in text.lower(), text[text.find("read-error") - 200 :][:800]
    assert not BatchPreviewRow.objects.exists() and not Order.objects.exists()
    assert not BatchUpload.objects.exists()  # the stored file goes with the move
    assert AuditEvent.objects.filter(action="batch.refused", target_id=str(batch.pk)).exists()
    # The refused batch can be discarded.
    client.post(reverse("orders:batch_action", args=[batch.pk, "discard"]))
    assert not Batch.objects.exists()


def test_an_empty_or_oversized_file_is_refused_on_the_form(client_as, offline_account, monkeypatch):
    from orders.batches import reading

    client = client_as("operator")
    response = upload(client, offline_account, b"", name="empty.csv")
    assert response.status_code == 200 and "The submitted file is empty." in response.text
    monkeypatch.setattr(reading, "MAX_BYTES", 2**20)
    big = csv_text(*[f"{n},1,,,,,R-{n}," for n in range(60_000)])
    assert len(big) > 2**20
    response = upload(client, offline_account, big, name="big.csv")
    assert response.status_code == 200 and 'data-testid="file-error"' in response.text
    assert "The file is larger than 1 MB; split it into smaller files." in response.text
    assert "This field is required" not in response.text
    assert not Batch.objects.exists() and not BatchUpload.objects.exists()


def test_an_oversized_file_is_not_kept_while_it_arrives(rf):
    """The cap stops keeping the file at the limit: Django's handlers never see the rest."""
    from django.core.files.uploadhandler import MemoryFileUploadHandler

    from reseller.core.uploads import cap_uploads

    seen = []

    class Recording(MemoryFileUploadHandler):
        def receive_data_chunk(self, raw_data, start):
            seen.append(len(raw_data))
            return super().receive_data_chunk(raw_data, start)

    request = rf.post("/", {"file": SimpleUploadedFile("big.csv", b"x" * (3 * 2**20)), "name": "n"})
    request.upload_handlers = [Recording(request)]
    cap = cap_uploads(request, limit=2**20)
    assert "file" not in request.FILES and request.POST["name"] == "n"
    assert cap.too_big == {"file"} and sum(seen) <= 2**20


# --- preview, confirm, discard ------------------------------------------------------------------


def test_preview_lists_every_problem_and_orders_nothing(client_as, mixed_file, synced_account):
    content, key, top_up = mixed_file
    client = client_as("operator")
    response = upload(client, synced_account, content, check_players=True, batch_name="Monday")
    batch = Batch.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "orders:batch_detail", args=[batch.pk]
    )
    assert batch.status == Batch.Status.PREVIEW and batch.account == synced_account
    assert Order.objects.filter(batch=batch).count() == 0  # nothing ordered before confirming

    page = client.get(response.url)
    text = page.content.decode()
    for problem in (
        "offer 99999999 is not in this account&#x27;s catalog",
        f"player_id is missing: offer {top_up.offer_id} requires one",
        "customer_reference &#x27;DUP&#x27; repeats row 5",
        "quantity &#x27;two&#x27; is not a whole number",
        "customer_reference &#x27;OLD-1&#x27; was already ordered",
        "max_unit_price &#x27;1,500&#x27; is ambiguous",
        "player_id &#x27;not-a-player&#x27; was not accepted",
    ):
        assert problem in text, problem
    summary = batch.preview_summary
    assert (summary["rows_total"], summary["rows_ok"], summary["rows_with_problems"]) == (10, 2, 8)
    assert summary["units_ok"] == 3 and summary["players_checked"] is True
    assert Decimal(summary["balance_usd"]) == Decimal("1000")
    totals = {key.currency: key.price * 2}
    totals[top_up.currency] = totals.get(top_up.currency, 0) + top_up.price
    assert summary["totals_by_currency"] == {
        currency: str(amount.quantize(Decimal("0.01"))) for currency, amount in totals.items()
    }
    assert 'data-testid="rows-ok">2<' in text and 'data-testid="rows-problems">8<' in text
    assert "1,000.00 USD" in text
    # The player was checked once with the supplier and its login shown.
    assert BatchPreviewRow.objects.get(batch=batch, row_number=8).player_login
    assert AuditEvent.objects.filter(action="batch.previewed", target_id=str(batch.pk)).exists()

    # The preview survives a reload, and its "all rows" view puts problems first.
    rows = client.get(response.url, {"show": "all"}).content.decode()
    assert rows.index('data-row="3"') < rows.index('data-row="2"')
    warnings_only = client.get(
        response.url, {"show": "warnings"}, headers={"HX-Request": "true", "HX-Target": "rows"}
    )
    assert warnings_only.content.decode().lstrip().startswith('<section id="rows"')


def confirm(client, batch):
    """Press Confirm, then run the confirmation task as a worker would."""
    response = client.post(reverse("orders:batch_action", args=[batch.pk, "confirm"]), follow=True)
    tasks.confirm_batch.run(batch.pk)
    batch.refresh_from_db()
    return response


def test_confirm_orders_only_the_good_rows_each_with_its_own_transaction_id(
    client_as, mixed_file, synced_account, broker, django_capture_on_commit_callbacks
):
    content, key, top_up = mixed_file
    client = client_as("operator")
    upload(client, synced_account, content, check_players=True)
    batch = Batch.objects.get()
    broker.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("orders:batch_action", args=[batch.pk, "confirm"]), follow=True
        )
    text = response.content.decode()
    assert (
        "Batch confirmed: its 3 orders are being created, then sent. "
        "8 rows with problems skipped." in text
    )
    # The page waits for the worker, which creates the orders: nothing exists yet.
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CONFIRMING and batch.confirm_requested_at
    assert 'data-testid="confirming"' in text and "Creating the 3 orders of this file" in text
    assert ">Discard<" not in text and "Confirm: order" not in text
    assert broker.ids("confirm_batch") == [batch.pk] and not batch.orders.exists()
    assert AuditEvent.objects.filter(
        action="batch.confirm_requested", target_id=str(batch.pk)
    ).exists()

    with django_capture_on_commit_callbacks(execute=True):
        broker.run("confirm_batch")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CONFIRMED and batch.confirmed_at
    assert batch.confirmed_by.username.startswith("operator")
    orders = list(Order.objects.filter(batch=batch).order_by("row_number", "pk"))
    assert [(o.row_number, o.offer_id, o.status) for o in orders] == [
        (2, key.pk, S.QUEUED),
        (2, key.pk, S.QUEUED),
        (8, top_up.pk, S.QUEUED),
    ]
    assert len({o.transaction_id for o in orders}) == 3
    assert {o.created_by for o in orders} == {batch.confirmed_by}
    assert orders[0].email == "a@example.com" and orders[0].customer_reference == "A-1"
    assert orders[0].max_unit_price == key.price  # no limit in the file: the previewed price
    assert orders[2].game_user_id == "123456789" and orders[2].max_unit_price == top_up.price
    assert broker.ids("send_batch") == [batch.pk]
    broker.run("send_batch")
    assert sorted(broker.ids("submit_batch_orders")) == sorted(o.pk for o in orders)
    assert AuditEvent.objects.filter(action="batch.confirmed", target_id=str(batch.pk)).exists()
    # The skipped rows stay as the record; the ordered ones live on as orders.
    assert set(
        BatchPreviewRow.objects.filter(batch=batch).values_list("row_number", flat=True)
    ) == {3, 4, 5, 6, 7, 9, 10, 11}
    text = client.get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    assert "8 rows skipped" in text and f"/orders/{orders[0].pk}/" in text
    assert f"by {batch.confirmed_by}" in text

    # A second confirmation (a double click) or the task delivered twice orders nothing more.
    again = client.post(reverse("orders:batch_action", args=[batch.pk, "confirm"]), follow=True)
    assert "This batch has been confirmed already." in again.content.decode()
    tasks.confirm_batch.run(batch.pk)
    assert Order.objects.filter(batch=batch).count() == 3


def test_the_waiting_page_polls_until_the_orders_exist_then_reloads(
    client_as, synced_account, broker
):
    (key,) = key_offers(synced_account, 1)
    client = client_as("operator")
    upload(client, synced_account, csv_text(f"{key.offer_id},2,,,,,W-1,"))
    batch = Batch.objects.get()
    client.post(reverse("orders:batch_action", args=[batch.pk, "confirm"]))
    url = reverse("orders:batch_detail", args=[batch.pk])
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "confirming"}

    dashboard = client.get(reverse("dashboard:dashboard")).content.decode()
    assert "<strong>1</strong> batch running" in dashboard  # creating its orders is work under way

    waiting = client.get(url, **poll)
    assert waiting.content.decode().lstrip().startswith('<section id="confirming"')
    assert 'hx-trigger="every 2s"' in waiting.content.decode()
    assert "HX-Refresh" not in waiting

    tasks.confirm_batch.run(batch.pk)
    done = client.get(url, **poll)
    assert done["HX-Refresh"] == "true"
    page = client.get(url).content.decode()
    assert 'data-testid="batch-orders"' in page and Order.objects.filter(batch=batch).count() == 2


def test_confirm_is_refused_when_a_reference_was_ordered_since_the_preview(
    client_as, synced_account, broker
):
    (key,) = key_offers(synced_account, 1)
    client = client_as("operator")
    upload(client, synced_account, csv_text(f"{key.offer_id},1,,,,,LATE-1,"))
    batch = Batch.objects.get()
    order_create(offer=key, max_unit_price=key.price, customer_reference="LATE-1")

    confirm(client, batch)
    assert batch.status == Batch.Status.PREVIEW and not batch.orders.exists()
    page = client.get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    assert 'data-testid="confirm-error"' in page and "Nothing was ordered." in page
    assert "were ordered elsewhere (LATE-1)" in page
    assert AuditEvent.objects.filter(action="batch.confirm_failed", target_id=str(batch.pk))
    # The operator may still discard it (or confirm again once the file is fixed).
    assert "Discard" in page and "Confirm: order 1 row" in page


def test_a_file_of_more_orders_than_one_confirmation_may_create_is_refused(
    client_as, synced_account, broker, monkeypatch
):
    from orders.batches import validation

    monkeypatch.setattr(validation, "MAX_UNITS", 4)
    key, other = key_offers(synced_account)
    client = client_as("operator")
    upload(
        client,
        synced_account,
        csv_text(f"{key.offer_id},3,,,,,U-1,", f"{other.offer_id},2,,,,,U-2,"),
    )
    batch = Batch.objects.get()
    page = client.get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    message = "This file would create 5 orders; at most 4 can be confirmed at once."
    assert message in page
    assert "disabled>Confirm: order 2 rows" in page

    response = client.post(reverse("orders:batch_action", args=[batch.pk, "confirm"]), follow=True)
    assert message in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PREVIEW and broker.ids("confirm_batch") == []


def test_a_failure_while_creating_the_orders_orders_nothing_and_says_so(
    client_as, synced_account, broker, monkeypatch
):
    """A crash half-way (here: after the first chunk of orders was written) rolls everything
    back; the batch is in preview again with a message, and a second Confirm works."""
    from orders.batches import preview

    key, other = key_offers(synced_account)
    client = client_as("operator")
    upload(
        client,
        synced_account,
        csv_text(f"{key.offer_id},3,,,,,X-1,", f"{other.offer_id},1,,,,,X-2,"),
    )
    batch = Batch.objects.get()
    real = preview.batch_orders_create

    def create_then_fail(*, batch, lines, by=None):
        real(batch=batch, lines=lines, by=by, chunk_size=1)
        assert Order.objects.filter(batch=batch).count() == 4  # written, not yet committed
        raise RuntimeError("the database went away")

    monkeypatch.setattr(preview, "batch_orders_create", create_then_fail)
    confirm(client, batch)
    assert batch.status == Batch.Status.PREVIEW and not Order.objects.filter(batch=batch).exists()
    assert BatchPreviewRow.objects.filter(batch=batch, has_problems=False).count() == 2
    assert "failed unexpectedly, so nothing was ordered" in batch.preview_summary["confirm_error"]

    monkeypatch.setattr(preview, "batch_orders_create", real)
    confirm(client, batch)
    assert batch.status == Batch.Status.CONFIRMED and batch.orders.count() == 4
    assert "confirm_error" not in batch.preview_summary


def test_the_sweep_sends_a_lost_confirmation_again(
    client_as, synced_account, broker, django_capture_on_commit_callbacks
):
    (key,) = key_offers(synced_account, 1)
    client = client_as("operator")
    upload(client, synced_account, csv_text(f"{key.offer_id},1,,,,,L-1,"))
    batch = Batch.objects.get()
    client.post(reverse("orders:batch_action", args=[batch.pk, "confirm"]))
    broker.clear()  # the message is lost with the broker

    def sweep(minutes_later: int) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return orders_sweep(now=now + timedelta(minutes=minutes_later)).confirmations

    now = timezone.now()
    assert sweep(19) == 0 and broker.ids("confirm_batch") == []
    assert sweep(21) == 1 and broker.ids("confirm_batch") == [batch.pk]
    # Pushed ahead: the next sweep does not send it again while that task waits.
    assert sweep(22) == 0 and broker.ids("confirm_batch") == [batch.pk]
    broker.run("confirm_batch")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CONFIRMED and batch.orders.count() == 1


def test_a_limit_below_the_price_orders_at_the_limit(client_as, synced_account, broker):
    """The preview warns; the order goes at the operator's limit and the supplier decides."""
    (key,) = key_offers(synced_account, 1)
    limit = (key.price / 2).quantize(Decimal("0.01"))
    client = client_as("operator")
    upload(client, synced_account, csv_text(f"{key.offer_id},1,,,,,LOW-1,{limit}"))
    batch = Batch.objects.get()
    assert (
        "is below the current price"
        in client.get(
            reverse("orders:batch_detail", args=[batch.pk]), {"show": "warnings"}
        ).content.decode()
    )
    confirm(client, batch)
    order = Order.objects.get(batch=batch)
    assert order.max_unit_price == limit and order.quoted_price == limit


def test_discard_throws_the_preview_away(client_as, synced_account):
    (key,) = key_offers(synced_account, 1)
    client = client_as("operator")
    upload(client, synced_account, csv_text(f"{key.offer_id},1,,,,,D-1,"))
    batch = Batch.objects.get()
    response = client.post(reverse("orders:batch_action", args=[batch.pk, "discard"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("orders:batch_list")
    assert "discarded: nothing was ordered" in response.content.decode()
    assert not Batch.objects.exists() and not Order.objects.exists()
    assert not BatchPreviewRow.objects.exists()
    assert AuditEvent.objects.filter(action="batch.discarded", target_id=str(batch.pk)).exists()


def test_a_telegram_username_the_bot_does_not_know_is_a_problem(client_as, synced_account):
    stars = Offer.objects.filter(account=synced_account, product_name="Telegram Stars").first()
    client = client_as("operator")
    upload(
        client,
        synced_account,
        csv_text(
            f"{stars.offer_id},1,,,,@igoryan34,TG-1,",
            f"{stars.offer_id},1,,,,@nobody_knows_me,TG-2,",
        ),
    )
    batch = Batch.objects.get()
    known, unknown = BatchPreviewRow.objects.filter(batch=batch).order_by("row_number")
    assert known.game_user_id == "143594291" and not known.has_problems
    assert unknown.has_problems and "message @gamesdrop_api_bot" in unknown.problems[0]


# --- roles --------------------------------------------------------------------------------------


def test_finance_can_look_but_not_upload_or_confirm(client_as, synced_account):
    (key,) = key_offers(synced_account, 1)
    upload(client_as("operator"), synced_account, csv_text(f"{key.offer_id},1,,,,,F-1,"))
    batch = Batch.objects.get()
    finance = client_as("finance")
    assert finance.get(reverse("orders:batch_list")).status_code == 200
    assert finance.get(reverse("orders:batch_detail", args=[batch.pk])).status_code == 200
    assert finance.get(reverse("orders:batch_upload")).status_code == 403
    assert (
        upload(finance, synced_account, csv_text(f"{key.offer_id},1,,,,,F-2,")).status_code == 403
    )
    page = finance.get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    assert "Confirm" not in page and "Discard" not in page
    for action in ("confirm", "discard", "pause"):
        response = finance.post(reverse("orders:batch_action", args=[batch.pk, action]))
        assert response.status_code == 403, action
    assert Batch.objects.get().status == Batch.Status.PREVIEW and not Order.objects.exists()
    assert finance.get(reverse("orders:batch_results", args=[batch.pk])).status_code == 200


# --- the batch page and its actions -------------------------------------------------------------


@pytest.fixture
def confirmed_batch(client_as, synced_account, broker):
    key, other = key_offers(synced_account)
    client = client_as("operator")
    upload(
        client,
        synced_account,
        csv_text(
            f"{key.offer_id},1,,,,,@SUM(1+1),",
            f"{other.offer_id},1,,,=cmd@example.com,,R-2,",
        ),
    )
    batch = Batch.objects.get()
    confirm(client, batch)
    return batch


def test_the_live_page_polls_while_orders_are_open_and_stops_when_final(client_as, confirmed_batch):
    client = client_as("operator")
    url = reverse("orders:batch_detail", args=[confirmed_batch.pk])
    page = client.get(url).content.decode()
    assert 'data-testid="batch-progress"' in page and 'hx-trigger="every 1s"' in page
    assert 'aria-valuenow="0"' in page

    progress = client.get(url, headers={"HX-Request": "true", "HX-Target": "progress"})
    text = progress.content.decode().strip()
    assert text.startswith('<section id="progress"') and 'hx-trigger="every 1s"' in text
    orders = client.get(url, headers={"HX-Request": "true", "HX-Target": "orders"})
    assert orders.content.decode().strip().startswith('<section id="orders"')
    assert 'hx-trigger="every 2s"' in orders.content.decode()

    now = timezone.now()
    Order.objects.filter(batch=confirmed_batch).update(status=S.COMPLETED, final_at=now)
    text = client.get(url, headers={"HX-Request": "true", "HX-Target": "progress"}).content.decode()
    assert "hx-trigger" not in text and 'aria-valuenow="100"' in text
    assert 'data-status="COMPLETED"' in text
    text = client.get(url, headers={"HX-Request": "true", "HX-Target": "orders"}).content.decode()
    assert "hx-trigger" not in text
    # Filtering by a status keeps the filter in what the partial polls.
    text = client.get(url, {"status": "COMPLETED"}).content.decode()
    assert "· Completed" in text


def test_pause_and_resume_through_the_whitelist(client_as, confirmed_batch):
    client = client_as("operator")
    action = lambda name: reverse("orders:batch_action", args=[confirmed_batch.pk, name])  # noqa: E731
    page = client.post(action("pause"), follow=True).content.decode()
    assert "Batch paused" in page and ">Resume<" in page
    confirmed_batch.refresh_from_db()
    assert confirmed_batch.status == Batch.Status.PAUSED
    assert AuditEvent.objects.filter(action="batch.paused").count() == 1

    # An action that does not apply is a message, not an error page.
    page = client.post(action("pause"), follow=True).content.decode()
    assert "Only a confirmed or running batch can be paused." in page

    client.post(action("resume"))
    confirmed_batch.refresh_from_db()
    assert confirmed_batch.status == Batch.Status.CONFIRMED

    assert client.post(action("explode")).status_code == 404
    assert client.get(action("pause")).status_code == 405


def test_results_csv_has_no_keys_and_neutralises_formulas(client_as, confirmed_batch):
    order = Order.objects.filter(batch=confirmed_batch).order_by("row_number").first()
    OrderKey.objects.create(order=order, unit_index=0, secret="SECRET-KEY-123456")
    Order.objects.filter(pk=order.pk).update(
        status=S.COMPLETED, supplier_message='=HYPERLINK("http://x")'
    )
    response = client_as("finance").get(reverse("orders:batch_results", args=[confirmed_batch.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "SECRET-KEY" not in body and "key" not in body.splitlines()[0].split(",")
    rows = read_csv_text(body)
    assert len(rows) == 2
    first, second = rows
    assert first["customer_reference"] == "'@SUM(1+1)" and first["status"] == "COMPLETED"
    assert first["message"] == '\'=HYPERLINK("http://x")'
    assert second["email"] == "'=cmd@example.com"
    assert first["transaction_id"] == order.transaction_id


def read_csv_text(body: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body)))


def test_keys_export_needs_its_permission_and_is_audited(client_as, confirmed_batch):
    order = Order.objects.filter(batch=confirmed_batch).order_by("row_number").first()
    OrderKey.objects.create(order=order, unit_index=0, secret="KEY-AAAA-BBBB-CCCC")
    url = reverse("orders:batch_keys_export", args=[confirmed_batch.pk])

    operator = client_as("operator")
    assert (
        "Export keys"
        not in operator.get(
            reverse("orders:batch_detail", args=[confirmed_batch.pk])
        ).content.decode()
    )
    denied = operator.post(url)
    assert denied.status_code == 403 and b"KEY-AAAA" not in denied.content
    assert b"Not allowed" in denied.content
    assert AuditEvent.objects.filter(action="batch.keys_export_denied").count() == 1

    admin = client_as("admin")
    response = admin.post(url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    rows = read_csv(response)
    assert [row["key"] for row in rows] == ["KEY-AAAA-BBBB-CCCC"]
    assert rows[0]["transaction_id"] == order.transaction_id
    event = AuditEvent.objects.get(action="batch.keys_exported")
    assert event.data == {"keys": 1, "orders": 1} and "KEY-AAAA" not in str(event.data)
    assert admin.get(url).status_code == 405  # a plain link exports nothing
    assert AuditEvent.objects.filter(action="batch.keys_exported").count() == 1


def test_the_list_shows_previews_and_running_batches(client_as, confirmed_batch, synced_account):
    (key,) = key_offers(synced_account, 1)
    client = client_as("operator")
    upload(client, synced_account, csv_text(f"{key.offer_id},1,,,,,L-1,", "1,x,,,,,L-2,"))
    page = client.get(reverse("orders:batch_list")).content.decode()
    assert "1 row ready" in page and "1 with problems" in page
    assert f"#{confirmed_batch.pk}" in page and "0 of 2 final" in page
    assert client.get(reverse("orders:batch_template_csv")).content.decode().startswith("offer_id,")
    xlsx = client.get(reverse("orders:batch_template_xlsx"))
    assert xlsx.content[:2] == b"PK" and "spreadsheetml" in xlsx["Content-Type"]


def test_an_unreachable_supplier_leaves_the_balance_unknown(client_as, offline_account):
    now = timezone.now()
    offer = Offer.objects.create(
        account=offline_account, offer_id=5, price=Decimal("3.00"), currency="USD",
        first_seen_at=now, synced_at=now,
    )  # fmt: skip
    client = client_as("operator")
    response = upload(client, offline_account, csv_text(f"{offer.offer_id},2,,,,,U-1,"))
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert batch.preview_summary["balance_usd"] is None
    text = client.get(response.url).content.decode()
    assert 'data-testid="balance"><span class="muted">unknown</span>' in text
    assert "The balance is unknown: the supplier did not give it" in text
    assert "6.00 USD" in text


def test_the_preview_shows_how_columns_were_read_and_each_bad_value_in_its_column(
    client_as, synced_account
):
    (key,) = key_offers(synced_account, 1)
    top_up = top_up_offer(synced_account)
    client = client_as("operator")
    content = "\r\n".join(
        [
            "Offer,Qty,Player,Max price",
            f"{key.offer_id},0,,",
            "abc,1,,",
            f"{key.offer_id},1.5,,",
            f"{top_up.offer_id},1,00123,1;5",
            f"{top_up.offer_id},1,0042,",
        ]
    )
    response = upload(client, synced_account, content)
    page = client.get(response.url, {"show": "all"}).content.decode()
    assert "Columns read:" in page
    for name, label in (("Offer", "offer_id"), ("Qty", "quantity"), ("Player", "player_id")):
        assert f"“{name}” → <code>{label}</code>" in page
    for bad in ("0", "abc", "1.5", "1;5"):
        assert f'<span class="bad-value">{bad}</span>' in page, bad
    # Players were not checked: every row with a player id says so.
    assert page.count('data-testid="player-login"') == 2 and "player not checked" in page


def test_an_unknown_header_is_refused_with_the_columns_expected(client_as, synced_account):
    client = client_as("operator")
    response = upload(client, synced_account, "offer_id,quantity,Colour\r\n1,1,red\r\n")
    text = client.get(response.url).content.decode()
    assert "does not read: &#x27;Colour&#x27;" in text
    assert "The columns are offer_id, quantity, player_id" in text
    assert Batch.objects.get().status == Batch.Status.REFUSED


def test_the_upload_still_checks_the_csrf_token(make_staff, offline_account):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(make_staff("operator"))
    response = upload(client, offline_account, csv_text("1,1,,,,,C-1,"))
    assert response.status_code == 403 and not Batch.objects.exists()


def test_a_rows_estimated_cost_is_written_like_its_unit_price(client_as, synced_account):
    """A price of a fraction of a cent is not rounded away in the row's cost beside it."""
    key, _other = key_offers(synced_account)
    Offer.objects.filter(pk=key.pk).update(price=Decimal("0.0125"))
    client = client_as("operator")
    upload(client, synced_account, csv_text(f"{key.offer_id},1,,,,,CENTS-1,"))
    batch = Batch.objects.latest("pk")
    html = client.get(reverse("orders:batch_detail", args=[batch.pk])).content.decode()
    assert html.count(">0.0125 USD</td>") == 2, html  # the unit price and the estimated cost
    assert 'data-testid="usd-total">0.01 USD' in html  # USD figures: to the cent
