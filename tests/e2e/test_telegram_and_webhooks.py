"""In a real browser: a Telegram Stars order completes and its report shows as sent; an admin
replays a supplier's webhook event."""

import base64
import json
import os
import re
import uuid
from datetime import UTC, datetime

from playwright.sync_api import expect
from standardwebhooks import Webhook

from orders.gift_reports import gift_report_send
from orders.models import GiftReport, WebhookEvent
from orders.services import order_submit
from orders.webhooks import webhook_process, webhook_receive
from suppliers.models import TelegramMarketplace
from suppliers.services import supplier_account_save, telegram_marketplace_save
from tests.orders.conftest import place


def test_a_stars_order_completes_and_its_telegram_report_shows_as_sent(
    page, sign_in, sandbox, sandbox_account, sandbox_offer
):
    token = f"{uuid.uuid4().int % 10**9}:{uuid.uuid4().hex}"
    sandbox.admin("POST", "/sandbox/telegram/bots", {"token": token})
    telegram_marketplace_save(
        marketplace=TelegramMarketplace(name="Marketplace bot", bot_api_url=sandbox.url),
        bot_token=token,
    )
    account = sandbox_account()
    offer = sandbox_offer(account, kind="stars")
    assert offer.is_telegram_stars  # marked from the supplier's data
    offer.telegram_gift_names = "stars-100"
    offer.save()
    order = order_submit(order_id=place(offer, game_user_id="143594291").pk)
    assert order.status == "COMPLETED"
    report = GiftReport.objects.get(order=order)
    assert gift_report_send(report_id=report.pk) == "SENT"

    sign_in("operator")
    page.goto(order.get_absolute_url())
    expect(page.get_by_test_id("telegram-report-state")).to_have_text("Reported")
    page.get_by_role("link", name="All Telegram reports").click()
    page.wait_for_url(re.compile(r"/orders/telegram-reports/\?q="))
    expect(page.get_by_test_id("report-state")).to_contain_text("Reported")


def test_an_admin_replays_a_webhook_event(page, sign_in, sandbox_account):
    account = sandbox_account()
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    supplier_account_save(account=account, webhook_secret=secret)
    body = json.dumps({"type": "order.created", "data": {"orderId": 1, "status": "PROCESSING"}})
    at = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_e2e",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_e2e", at, body.encode()),
    }
    assert webhook_receive(account=account, body=body.encode(), headers=headers).status == 200
    event = WebhookEvent.objects.get(account=account)
    webhook_process(event_id=event.pk)

    sign_in("admin")
    page.goto("/orders/webhook-events/")
    row = page.get_by_test_id("webhook-event").filter(has_text="order.created")
    expect(row.get_by_test_id("webhook-event-state")).to_contain_text("Changed nothing")
    row.get_by_role("button", name="Replay").click()
    page.wait_for_url(re.compile(rf"/orders/webhook-events/\?account={account.pk}$"))
    expect(page.get_by_text("will be processed again")).to_be_visible()
    expect(page.get_by_test_id("webhook-event-state")).to_contain_text("Replayed")
