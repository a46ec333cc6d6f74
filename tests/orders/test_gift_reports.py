"""Telegram gift sales reported exactly once: the outbox row written with COMPLETED, sent to the
sandbox's Bot API over HTTP, across lost answers, a worker killed after the call, and refunds."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from catalog.models import CurrencyRate
from orders import gift_reports
from orders.gift_reports import gift_report_claim, gift_report_retry, gift_report_send
from orders.models import GiftReport, GiftReportStatus, OrderStatus
from orders.states import order_transition
from suppliers.models import TelegramMarketplace
from suppliers.services import telegram_bot_client, telegram_marketplace_save
from tests.orders.conftest import place

R = GiftReportStatus
BUYER = 143594291


@pytest.fixture
def marketplace(sandbox, db):
    """A marketplace whose bot the sandbox's Bot API knows."""

    def make(currency="USD") -> TelegramMarketplace:
        token = f"{uuid.uuid4().int % 10**9}:{uuid.uuid4().hex}"
        sandbox.admin("POST", "/sandbox/telegram/bots", {"token": token})
        return telegram_marketplace_save(
            marketplace=TelegramMarketplace(
                name=f"bot-{token[:6]}", bot_api_url=sandbox.url, report_currency=currency
            ),
            bot_token=token,
        )

    return make


@pytest.fixture
def reports_at(sandbox):
    """The reports the sandbox's Telegram received from a marketplace's bot."""

    def read(marketplace: TelegramMarketplace) -> list[dict]:
        answer = sandbox.admin(
            "GET", "/sandbox/telegram/reports", params={"bot": marketplace.bot_token}
        )
        return answer["reports"]

    return read


@pytest.fixture
def bot_fault(sandbox):
    added = []

    def add(marketplace, **spec):
        rule = sandbox.admin(
            "POST",
            "/sandbox/faults",
            {"token": marketplace.bot_token, "endpoint": "telegram", "count": 1, **spec},
        )
        added.append(rule["id"])

    yield add
    for rule_id in added:
        sandbox.admin("DELETE", f"/sandbox/faults/{rule_id}")


@pytest.fixture
def stars_offer(offline_offer):
    offline_offer.product_name, offline_offer.offer_name = "Telegram Stars", "100 Stars"
    offline_offer.telegram_kind = "stars"
    offline_offer.telegram_gift_names = "stars-100"
    offline_offer.requires_user_id, offline_offer.returns_key = True, False
    offline_offer.price, offline_offer.currency = Decimal("1.45"), "USD"
    offline_offer.save()
    return offline_offer


def complete(offer, *, units=1, price=None):
    """An order of `offer` through QUEUED → SUBMITTING → COMPLETED, as a poll answer moves it."""
    order = place(offer, game_user_id=str(BUYER))
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        order_transition(order, OrderStatus.SUBMITTING)
        order_transition(
            order,
            OrderStatus.COMPLETED,
            changes={
                "price_sent": price if price is not None else offer.price,
                "units": units,
                "units_delivered": units,
            },
        )
    return order


def make_due(report: GiftReport) -> None:
    GiftReport.objects.filter(pk=report.pk).update(next_attempt_at=timezone.now())


def test_a_completed_stars_order_is_reported_once_after_commit(
    marketplace, stars_offer, broker, reports_at
):
    bot = marketplace()
    order = complete(stars_offer)
    report = GiftReport.objects.get(order=order)
    assert report.status == R.PENDING and report.transaction_id == order.transaction_id
    assert broker.ids("send_gift_report") == [report.pk]

    broker.run("send_gift_report")
    report.refresh_from_db()
    assert report.status == R.SENT and report.attempts == 1 and report.sent_at is not None
    [sent] = reports_at(bot)
    assert sent["parameters"] == {
        "transaction_id": order.transaction_id,
        "transaction_date": int(report.transaction_at.timestamp()),
        "amount": 145,
        "currency": "USD",
        "sale_type": "listing",
        "gift_name": "stars-100",
        "buyer_id": BUYER,
    }
    # A second message for the same row finds nothing to send.
    assert gift_report_send(report_id=report.pk) is None
    assert len(reports_at(bot)) == 1


def test_an_order_of_an_offer_not_sold_on_telegram_writes_no_report(
    marketplace, offline_offer, broker
):
    marketplace()
    order = complete(offline_offer)
    assert not GiftReport.objects.filter(order=order).exists()
    assert broker.ids("send_gift_report") == []


def test_a_lost_answer_is_resent_with_the_same_id_and_reported_once(
    marketplace, stars_offer, broker, reports_at, bot_fault
):
    bot = marketplace()
    report = GiftReport.objects.get(order=complete(stars_offer))
    bot_fault(bot, kind="lost_response")
    assert gift_report_send(report_id=report.pk) == R.PENDING
    report.refresh_from_db()
    assert report.outcome_unknown and "lost" in report.last_error
    assert report.next_attempt_at > timezone.now()  # backs off
    assert len(reports_at(bot)) == 1  # Telegram got it; we could not read that

    make_due(report)
    assert gift_report_send(report_id=report.pk) == R.SENT
    report.refresh_from_db()
    assert report.attempts == 2 and "had it already" in report.last_error
    assert [r["transaction_id"] for r in reports_at(bot)] == [report.transaction_id]


def test_a_worker_killed_after_the_call_leaves_a_claim_the_sweep_resends_once(
    marketplace, stars_offer, broker, reports_at
):
    bot = marketplace()
    report = GiftReport.objects.get(order=complete(stars_offer))
    broker.clear()
    claimed = gift_report_claim(report.pk, token="dead-worker")
    with telegram_bot_client(bot) as client:
        assert client.report_gift_purchase(**claimed.parameters) is True
    # ... and the worker dies before recording the answer. Nobody else may claim it meanwhile.
    assert gift_report_send(report_id=report.pk) is None
    assert gift_reports.gift_reports_sweep() == 0

    GiftReport.objects.filter(pk=report.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert gift_reports.gift_reports_sweep() == 1
    broker.run("send_gift_report")
    report.refresh_from_db()
    assert report.status == R.SENT and report.attempts == 2 and not report.outcome_unknown
    assert len(reports_at(bot)) == 1


def test_a_transient_error_backs_off_honouring_retry_after(
    marketplace, stars_offer, broker, reports_at, bot_fault
):
    bot = marketplace()
    report = GiftReport.objects.get(order=complete(stars_offer))
    bot_fault(bot, kind="error_code", code="429", delay_seconds=7)
    before = timezone.now()
    assert gift_report_send(report_id=report.pk) == R.PENDING
    report.refresh_from_db()
    assert report.next_attempt_at >= before + timedelta(seconds=7)
    assert not report.outcome_unknown and reports_at(bot) == []
    make_due(report)
    assert gift_report_send(report_id=report.pk) == R.SENT
    assert len(reports_at(bot)) == 1


def test_a_refund_before_the_report_withholds_it_for_good(
    marketplace, stars_offer, broker, reports_at
):
    bot = marketplace()
    order = complete(stars_offer)
    with transaction.atomic():
        order_transition(order, OrderStatus.REFUNDED, reason="order-status: REFUNDED")
    report = GiftReport.objects.get(order=order)
    assert report.status == R.WITHHELD and report.refunded_at is not None
    broker.run("send_gift_report")
    assert gift_report_send(report_id=report.pk) is None
    assert reports_at(bot) == []
    with pytest.raises(gift_reports.GiftReportNotRetryable):
        gift_report_retry(report=report)


def test_a_refund_after_the_report_flags_it_for_finance(
    marketplace, stars_offer, broker, reports_at
):
    marketplace()
    order = complete(stars_offer)
    broker.run("send_gift_report")
    with transaction.atomic():
        order_transition(order, OrderStatus.REFUNDED)
    report = GiftReport.objects.get(order=order)
    assert report.status == R.SENT and report.refunded_after_report


def test_a_refund_while_an_answer_was_lost_needs_a_person(
    marketplace, stars_offer, broker, bot_fault
):
    bot = marketplace()
    order = complete(stars_offer)
    report = GiftReport.objects.get(order=order)
    bot_fault(bot, kind="lost_response")
    gift_report_send(report_id=report.pk)
    with transaction.atomic():
        order_transition(order, OrderStatus.REFUNDED)
    report.refresh_from_db()
    assert report.status == R.NEEDS_ATTENTION and "refunded" in report.last_error


def test_usd_amounts_convert_at_the_rate_of_the_sale_to_the_cent(marketplace, stars_offer, broker):
    marketplace("USD")
    CurrencyRate.objects.create(
        currency="EUR", usd_per_unit=Decimal("1.1"), valid_from=timezone.now() - timedelta(days=2)
    )
    # A later rate does not apply to a sale made before it.
    CurrencyRate.objects.create(
        currency="EUR", usd_per_unit=Decimal("2"), valid_from=timezone.now() + timedelta(days=1)
    )
    stars_offer.currency = "EUR"
    stars_offer.save()
    order = complete(stars_offer, units=3, price=Decimal("0.3335"))  # 1.0005 EUR = 1.10055 USD
    assert GiftReport.objects.get(order=order).parameters["amount"] == 110  # half-up to cents


def test_ton_amounts_are_nanotons_at_the_rate_of_the_sale(marketplace, stars_offer, broker):
    marketplace("TON")
    CurrencyRate.objects.create(
        currency="TON", usd_per_unit=Decimal("3"), valid_from=timezone.now() - timedelta(days=1)
    )
    order = complete(stars_offer, price=Decimal("1.45"))
    parameters = GiftReport.objects.get(order=order).parameters
    # 1.45 USD / 3 USD per TON = 0.48333333333… TON
    assert parameters["currency"] == "TON" and parameters["amount"] == 483333333


def test_without_a_ton_rate_the_report_needs_attention_instead_of_a_guess(
    marketplace, stars_offer, broker
):
    marketplace("TON")
    order = complete(stars_offer)
    report = GiftReport.objects.get(order=order)
    assert report.status == R.NEEDS_ATTENTION and "No USD rate of TON" in report.last_error
    assert broker.ids("send_gift_report") == []


def test_the_sandbox_refuses_a_malformed_report_which_needs_attention_until_fixed(
    marketplace, stars_offer, broker, reports_at
):
    bot = marketplace()
    stars_offer.telegram_gift_names = "Plush Pepe"  # not an identifier Telegram knows
    stars_offer.save()
    report = GiftReport.objects.get(order=complete(stars_offer))
    assert gift_report_send(report_id=report.pk) == R.NEEDS_ATTENTION
    report.refresh_from_db()
    assert "GIFT_NAME_INVALID" in report.last_error and reports_at(bot) == []
    assert gift_report_send(report_id=report.pk) is None  # a refusal is not retried by itself

    stars_offer.telegram_gift_names = "plushpepe-1"
    stars_offer.save()
    report = gift_report_retry(report=report)
    assert report.status == R.PENDING and report.parameters["gift_name"] == "plushpepe-1"
    assert gift_report_send(report_id=report.pk) == R.SENT
    assert len(reports_at(bot)) == 1


def test_several_gift_identifiers_are_reported_as_gift_names(marketplace, stars_offer, broker):
    marketplace()
    stars_offer.telegram_kind = "gift"
    stars_offer.telegram_gift_names = "plushpepe-1, plushpepe-27"
    stars_offer.save()
    parameters = GiftReport.objects.get(order=complete(stars_offer)).parameters
    assert parameters["gift_names"] == ["plushpepe-1", "plushpepe-27"]
    assert "gift_name" not in parameters


def test_a_refused_bot_token_needs_attention(marketplace, stars_offer, broker):
    bot = marketplace()
    telegram_marketplace_save(marketplace=bot, bot_token="1:not-a-registered-token")
    report = GiftReport.objects.get(order=complete(stars_offer))
    assert gift_report_send(report_id=report.pk) == R.NEEDS_ATTENTION
    report.refresh_from_db()
    assert "Unauthorized" in report.last_error
