"""The Telegram pages: the marketplace's bot token (encrypted, Test connection), the reports page
(states, filters, retry, CSV) and the report's state on the order page."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime

import openpyxl
import pytest
from django.db import connection
from django.test import TestCase
from django.urls import reverse

from orders.gift_report_views import EXPORT_HEADER
from orders.models import GiftReport, GiftReportStatus
from reseller.core.models import AuditEvent
from suppliers.models import TelegramMarketplace
from tests.orders.test_gift_reports import complete, marketplace, reports_at, stars_offer  # noqa: F401

R = GiftReportStatus


def _token() -> str:
    return f"{uuid.uuid4().int % 10**9}:{uuid.uuid4().hex}"


def test_an_admin_saves_a_bot_token_encrypted_and_tests_it_without_showing_it(client_as, sandbox):
    token = _token()
    sandbox.admin("POST", "/sandbox/telegram/bots", {"token": token})
    admin = client_as("admin")
    response = admin.post(
        reverse("suppliers:marketplace_create"),
        {
            "name": "Our marketplace",
            "bot_api_url": sandbox.url,
            "report_currency": "USD",
            "enabled": "on",
            "bot_token_input": token,
        },
    )
    assert response.status_code == 302
    bot = TelegramMarketplace.objects.get(name="Our marketplace")
    assert bot.bot_token == token
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bot_token FROM suppliers_telegrammarketplace WHERE id = %s", [bot.pk]
        )
        assert token not in cursor.fetchone()[0]

    check = admin.post(
        reverse("suppliers:marketplace_check", args=[bot.pk]), HTTP_HX_REQUEST="true"
    )
    html = check.content.decode()
    assert "Connected as the bot" in html and token not in html
    page = admin.get(reverse("suppliers:marketplace_edit", args=[bot.pk])).content.decode()
    assert token not in page and f"••••••••{token[-4:]}" in page
    assert all(token not in str(event.data) for event in AuditEvent.objects.all())

    # A token the Bot API does not know fails the test, still without showing it.
    admin.post(
        reverse("suppliers:marketplace_edit", args=[bot.pk]),
        {
            "name": "Our marketplace",
            "bot_api_url": sandbox.url,
            "report_currency": "USD",
            "enabled": "on",
            "bot_token_input": "42:unknown-token-abcdef",
        },
    )
    html = admin.post(
        reverse("suppliers:marketplace_check", args=[bot.pk]), follow=True
    ).content.decode()
    bot.refresh_from_db()
    assert bot.last_check_ok is False and "Unauthorized" in bot.last_check_message
    assert "unknown-token-abcdef" not in html


@pytest.mark.django_db
def test_a_new_marketplace_needs_its_token(client_as):
    response = client_as("admin").post(
        reverse("suppliers:marketplace_create"),
        {"name": "x", "bot_api_url": "https://api.telegram.org", "report_currency": "USD"},
    )
    assert response.status_code == 200 and b"needs its bot token" in response.content
    assert not TelegramMarketplace.objects.exists()


def test_the_order_page_shows_the_reports_state(client_as, marketplace, stars_offer, broker):  # noqa: F811
    marketplace()
    order = complete(stars_offer)
    client = client_as("operator")
    html = client.get(order.get_absolute_url()).content.decode()
    assert "Telegram report" in html and "Waiting to be sent" in html
    broker.run("send_gift_report")
    html = client.get(order.get_absolute_url()).content.decode()
    assert "Reported" in html and "1.45 USD" in html


def test_the_reports_page_filters_retries_and_exports(
    client_as,
    marketplace,  # noqa: F811
    stars_offer,  # noqa: F811
    broker,
    reports_at,  # noqa: F811
):
    bot = marketplace()
    sent = GiftReport.objects.get(order=complete(stars_offer))
    broker.run("send_gift_report")
    stars_offer.telegram_gift_names = ""
    stars_offer.save()
    stuck = GiftReport.objects.get(order=complete(stars_offer))
    assert stuck.status == R.NEEDS_ATTENTION

    url = reverse("orders:gift_report_list")
    retry = reverse("orders:gift_report_retry", args=[stuck.pk])
    # Finance reads the reports but may not retry one.
    finance = client_as("finance")
    assert "Retry" not in finance.get(url, {"status": "NEEDS_ATTENTION"}).content.decode()
    assert finance.post(retry).status_code == 403

    operator = client_as("operator")
    page = operator.get(url, {"status": "NEEDS_ATTENTION"}, HTTP_HX_REQUEST="true")
    rows = page.content.decode()
    assert stuck.transaction_id[:14] in rows and sent.transaction_id[:14] not in rows
    assert "no Telegram gift identifier" in rows and "Retry" in rows
    stars_offer.telegram_gift_names = "stars-100"
    stars_offer.save()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert operator.post(retry).status_code == 302
    stuck.refresh_from_db()
    assert stuck.status == R.PENDING
    broker.run("send_gift_report")
    assert len(reports_at(bot)) == 2

    export = operator.get(reverse("orders:gift_report_export"), {"status": "SENT"})
    lines = list(
        csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig")))
    )
    assert {line["transaction_id"] for line in lines} == {sent.transaction_id, stuck.transaction_id}
    assert {line["amount_smallest_unit"] for line in lines} == {"145"}
    assert {line["currency"] for line in lines} == {"USD"}


def _sale(**overrides):
    return {
        "transaction_id": "shop-sale-1",
        "sold_at": "2026-01-05T10:00",
        "amount": "1.23",
        "currency": "TON",
        "sale_type": "offer",
        "gift_names": "plushpepe-1, durovscap-1010",
        "buyer_id": "123456789",
        "recipient_id": "987654321",
        "seller_id": "",
        **overrides,
    }


def test_finance_records_a_sale_made_elsewhere_which_is_reported_once(
    client_as,
    marketplace,  # noqa: F811
    broker,
    reports_at,  # noqa: F811
):
    bot = marketplace()
    url = reverse("orders:gift_sale_create")
    assert client_as("operator").get(url).status_code == 403
    finance = client_as("finance")
    # Refused with the reason, nothing written: more decimals than a nanoton.
    page = finance.post(url, _sale(amount="1.0000000001"))
    assert page.status_code == 200 and not GiftReport.objects.exists()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert finance.post(url, _sale()).status_code == 302
    report = GiftReport.objects.get(transaction_id="shop-sale-1")
    assert report.order is None and report.status == R.PENDING
    broker.run("send_gift_report")
    [sent] = reports_at(bot)
    assert sent["parameters"]["amount"] == 1230000000 and sent["parameters"]["currency"] == "TON"
    assert sent["parameters"]["gift_names"] == ["plushpepe-1", "durovscap-1010"]
    assert sent["parameters"]["recipient_id"] == 987654321 and "seller_id" not in sent["parameters"]
    assert sent["parameters"]["sale_type"] == "offer"

    again = finance.post(url, _sale())
    assert again.status_code == 200 and b"is recorded" in again.content
    assert GiftReport.objects.count() == 1


def test_a_csv_of_sales_is_previewed_then_recorded_all_at_once(
    client_as,
    marketplace,  # noqa: F811
    broker,
    reports_at,  # noqa: F811
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bot = marketplace()
    content = (
        b"transaction_id,sold_at,amount,currency,sale_type,gift_names,buyer_id,recipient_id,seller_id\n"
        b"csv-1,2026-01-05 10:00,1.45,USD,listing,plushpepe-1,123456789,,\n"
        b'csv-2,2026-01-05 11:00,5000,TON,offer,"plushpepe-1, plushpepe-27",123456789,987654321,\n'
        b"csv-1,2026-01-05 12:00,1.455,USD,listing,,not-a-number,,\n"
    )
    finance = client_as("finance")
    url = reverse("orders:gift_sale_import")
    page = finance.post(url, {"file": SimpleUploadedFile("sales.csv", content)})
    html = page.content.decode()
    assert "2 of 3 sales can be recorded" in html and "the same as row 2" in html
    assert "gift_names" in html and not GiftReport.objects.exists()  # nothing before confirming

    token = page.context["token"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert finance.post(url, {"token": token}).status_code == 302
    assert set(GiftReport.objects.values_list("transaction_id", flat=True)) == {"csv-1", "csv-2"}
    broker.run("send_gift_report")
    amounts = {r["transaction_id"]: r["parameters"]["amount"] for r in reports_at(bot)}
    assert amounts == {"csv-1": 145, "csv-2": 5000 * 10**9}

    # The same preview confirmed again records nothing more.
    again = finance.post(url, {"token": token})
    assert b"Something changed since the preview" in again.content
    assert GiftReport.objects.count() == 2
    # A tampered token is refused.
    assert b"expired" in finance.post(url, {"token": token + "x"}).content


def test_a_csv_with_unknown_columns_is_refused_whole(client_as, marketplace):  # noqa: F811
    from django.core.files.uploadedfile import SimpleUploadedFile

    marketplace()
    content = b"transaction_id,price\nx,1\n"
    page = client_as("finance").post(
        reverse("orders:gift_sale_import"), {"file": SimpleUploadedFile("s.csv", content)}
    )
    assert b"missing: sold_at" in page.content and b"not known: price" in page.content


def test_the_reports_export_as_xlsx_with_numbers_as_numbers(
    client_as,
    marketplace,  # noqa: F811
    stars_offer,  # noqa: F811
    broker,
):
    marketplace()
    sent = GiftReport.objects.get(order=complete(stars_offer))
    broker.run("send_gift_report")
    stars_offer.telegram_gift_names = ""
    stars_offer.save()
    complete(stars_offer)  # needs attention: left out by the filter below

    export = client_as("finance").get(reverse("orders:gift_report_export_xlsx"), {"status": "SENT"})
    assert export.status_code == 200
    assert export["Content-Disposition"].endswith('.xlsx"')
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(export.streaming_content)))
    header, *rows = workbook["Telegram reports"].iter_rows(values_only=True)
    assert list(header) == EXPORT_HEADER
    (row,) = [dict(zip(header, values, strict=True)) for values in rows]
    assert row["transaction_id"] == sent.transaction_id
    assert row["amount_smallest_unit"] == 145  # a number, not text
    assert row["currency"] == "USD" and row["state"] == "Reported"
    assert isinstance(row["sold_at_utc"], datetime)
