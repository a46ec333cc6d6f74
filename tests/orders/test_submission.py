"""Sending orders to the sandbox and following them to their end, one life cycle at a time."""

import time
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from orders.models import AccountQueue, OrderKey, OrderStatus
from orders.services import account_queue_check, order_poll, order_resolve_unknown, order_submit
from suppliers.services import supplier_client
from tests.orders.conftest import place

S = OrderStatus


def moves(order) -> list[tuple[str, str]]:
    return list(order.events.order_by("id").values_list("from_status", "to_status"))


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def test_a_key_order_completes_at_once_with_its_key(
    sandbox, sandbox_account, sandbox_offer, supplier, operator
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = order_submit(order_id=place(offer, by=operator).pk)
    assert order.status == S.COMPLETED, order.last_error
    assert moves(order) == [("", S.QUEUED), (S.QUEUED, S.SUBMITTING), (S.SUBMITTING, S.COMPLETED)]
    remote = sandbox.admin(
        "GET",
        f"/sandbox/accounts/{account.remote['token']}/orders",
        params={"transactionId": order.transaction_id},
    )["orders"][0]
    assert [key.secret for key in order.keys.all()] == remote["keys"]
    assert order.supplier_order_id == remote["orderId"] and order.units_delivered == 1
    assert order.price_sent == offer.price and order.final_at and order.next_poll_at is None
    assert supplier.purchases(account, order.transaction_id) == 1


def test_a_top_up_is_polled_through_submitted_and_processing_to_completed(
    sandbox_account, sandbox_offer, sandbox_settings
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="topup", req_server="false")
    with sandbox_settings(topup_delay_seconds=0.9, cancel_share=0, fail_share=0):
        order = order_submit(order_id=place(offer).pk)
        assert order.status == S.SUBMITTED
        assert order.next_poll_at is not None and order.supplier_order_id
        time.sleep(0.4)
        assert order_poll(order_id=order.pk, now=later(10)).status == S.PROCESSING
        time.sleep(0.6)
        order = order_poll(order_id=order.pk, now=later(30))
    assert order.status == S.COMPLETED
    assert moves(order)[2:] == [
        (S.SUBMITTING, S.SUBMITTED),
        (S.SUBMITTED, S.PROCESSING),
        (S.PROCESSING, S.COMPLETED),
    ]
    assert order.poll_count == 2 and not order.keys.exists() and order.units_delivered == 1


def test_a_top_up_canceled_or_failed_by_the_supplier(
    sandbox_account, sandbox_offer, sandbox_settings
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="topup", req_server="false")
    for shares, final in (
        ({"cancel_share": 1, "fail_share": 0}, S.CANCELED),
        ({"cancel_share": 0, "fail_share": 1}, S.FAILED),
    ):
        with sandbox_settings(topup_delay_seconds=0.3, **shares):
            order = order_submit(order_id=place(offer).pk)
            time.sleep(0.4)
            order = order_poll(order_id=order.pk, now=later(10))
        assert order.status == final
        assert order.supplier_message and order.final_at and order.next_poll_at is None


def test_telegram_stars_complete_with_fulfillment_data_and_no_key(sandbox_account, sandbox_offer):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="stars")
    order = order_submit(order_id=place(offer, game_user_id="143594291").pk)
    assert order.status == S.COMPLETED, order.last_error
    assert order.fulfillment_data["telegram_user_id"] == 143594291
    assert not order.keys.exists() and order.units_delivered == order.units


def test_a_multi_unit_order_stores_one_key_per_unit(sandbox_account, sandbox_offer):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", min_count=3)
    order = order_submit(order_id=place(offer).pk)
    assert order.status == S.COMPLETED and order.units == offer.units >= 3
    keys = list(OrderKey.objects.filter(order=order).order_by("unit_index"))
    assert [key.unit_index for key in keys] == list(range(order.units))
    assert len({key.secret for key in keys}) == order.units == order.units_delivered


def test_a_partial_delivery_keeps_what_came_and_needs_attention(
    sandbox_account, sandbox_offer, sandbox_settings
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", min_count=3)
    with sandbox_settings(partial_share=1):
        order = order_submit(order_id=place(offer, email="c@example.com").pk)
    assert order.status == S.NEEDS_ATTENTION
    assert moves(order)[-2:] == [(S.SUBMITTING, S.COMPLETED), (S.COMPLETED, S.NEEDS_ATTENTION)]
    assert 1 <= order.keys.count() == order.units_delivered < order.units
    assert "Partial delivery" in order.last_error and order.next_poll_at is None
    assert order.final_at is not None  # the supplier finished it


def test_codegames_key_completed_without_the_key_is_fetched_from_offers_keys(
    sandbox_account, sandbox_offer, sandbox_settings, supplier
):
    account = sandbox_account(kind="codegames")
    offer = sandbox_offer(account, kind="key")
    with sandbox_settings(codegames_keyless_share=1):
        order = order_submit(order_id=place(offer).pk)
    assert order.status == S.COMPLETED, order.last_error
    assert order.keys.count() == 1 and order.units_delivered == 1
    assert supplier.requests(account, "keys") == 1


def test_codegames_key_order_processing_first_is_polled_to_completed(
    sandbox_account, sandbox_offer, sandbox_settings
):
    account = sandbox_account(kind="codegames")
    offer = sandbox_offer(account, kind="key")
    with sandbox_settings(codegames_key_delay_seconds=0.3):
        order = order_submit(order_id=place(offer).pk)
        assert order.status == S.PROCESSING
        time.sleep(0.4)
        order = order_poll(order_id=order.pk, now=later(10))
    assert order.status == S.COMPLETED and order.keys.count() == 1


def test_wrong_price_within_the_limit_is_requoted_and_sent_again(
    sandbox_account, sandbox_offer, reprice, supplier
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="USD")
    new_price = (offer.price * Decimal("1.05")).quantize(Decimal("0.01"))
    reprice(offer, new_price)
    order = place(offer, limit=offer.price * Decimal("1.10"))
    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED, order.last_error
    assert order.price_sent == order.quoted_price == new_price
    assert moves(order)[1:] == [
        (S.QUEUED, S.SUBMITTING),
        (S.SUBMITTING, S.QUEUED),
        (S.QUEUED, S.SUBMITTING),
        (S.SUBMITTING, S.COMPLETED),
    ]
    requeued = order.events.get(from_status=S.SUBMITTING, to_status=S.QUEUED)
    assert "WRONG_PRICE" in requeued.reason and str(new_price) in requeued.reason
    # Same transactionId both times: the refusal created nothing.
    assert supplier.requests(account, "create-order") == 2
    assert supplier.purchases(account, order.transaction_id) == 1


def test_wrong_price_beyond_the_limit_is_rejected_with_both_prices(
    sandbox_account, sandbox_offer, reprice, supplier
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="USD", skip=1)
    limit = (offer.price * Decimal("1.10")).quantize(Decimal("0.01"))
    new_price = (offer.price * Decimal("1.5")).quantize(Decimal("0.01"))
    reprice(offer, new_price)
    order = order_submit(order_id=place(offer, limit=limit).pk)
    assert order.status == S.REJECTED
    assert f"now {new_price} USD, above your limit of {limit}" in order.last_error
    assert supplier.purchases(account, order.transaction_id) == 0


def test_refusals_are_final_answers(sandbox, sandbox_account, sandbox_offer, supplier):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", skip=2)
    sandbox.admin("POST", f"/sandbox/offers/{offer.offer_id}", {"inStock": False})
    try:
        order = order_submit(order_id=place(offer).pk)
    finally:
        sandbox.admin("POST", f"/sandbox/offers/{offer.offer_id}", {"inStock": True})
    assert order.status == S.REJECTED and "OUT_OF_STOCK" in order.last_error
    assert order.events.latest("id").reason.startswith("Refused by the supplier: OUT_OF_STOCK")
    assert supplier.requests(account, "create-order") == 1  # not retried


def test_insufficient_balance_holds_the_queue_until_the_balance_covers_the_next_order(
    sandbox_account,
    sandbox_offer,
    supplier,
    broker,
    django_capture_on_commit_callbacks,
):
    account = sandbox_account(balance="0.01")
    offer = sandbox_offer(account, kind="key", currency="USD")
    first, second = place(offer), place(offer)
    assert order_submit(order_id=first.pk).status == S.ON_HOLD
    queue = AccountQueue.objects.get(account=account)
    assert queue.on_hold and "INSUFFICIENT_BALANCE" in queue.hold_reason
    # The rest of the account's queue waits without calling the supplier.
    assert order_submit(order_id=second.pk).status == S.ON_HOLD
    assert supplier.requests(account, "create-order") == 1

    assert account_queue_check(account_id=account.pk) is False  # still 0.01 USD
    assert AccountQueue.objects.get(account=account).on_hold
    supplier.deposit(account, 1000)
    with django_capture_on_commit_callbacks(execute=True):
        assert account_queue_check(account_id=account.pk) is True
    assert sorted(broker.ids("submit_order")) == sorted([first.pk, second.pk])
    broker.run("submit_order")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == S.COMPLETED
    assert not AccountQueue.objects.get(account=account).on_hold
    assert supplier.purchases(account, first.transaction_id) == 1


def test_a_postpaid_account_is_resumed_at_once(sandbox, sandbox_account, sandbox_offer):
    account = sandbox_account(balance="0.01")
    offer = sandbox_offer(account, kind="key", currency="USD")
    order = order_submit(order_id=place(offer).pk)
    assert order.status == S.ON_HOLD
    sandbox.admin("POST", f"/sandbox/accounts/{account.remote['token']}", {"postpaid": True})
    assert account_queue_check(account_id=account.pk) is True
    order.refresh_from_db()
    assert order.status == S.QUEUED


def test_transaction_duplicate_proves_the_first_send_landed_and_is_followed(
    sandbox_account, sandbox_offer, supplier
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    # An earlier send nobody recorded (another process, a lost answer ...).
    supplier_client(account).create_order(offer.offer_id, offer.price, order.transaction_id)
    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED and order.keys.count() == 1
    assert (S.SUBMITTING, S.UNKNOWN) in moves(order)
    assert order.events.get(to_status=S.UNKNOWN).reason.startswith("TRANSACTION_DUPLICATE")
    assert supplier.purchases(account, order.transaction_id) == 1


def test_a_refused_token_holds_the_queue_instead_of_rejecting_every_order(
    sandbox_account, sandbox_offer
):
    from suppliers.services import supplier_account_save

    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    supplier_account_save(account=account, shop_token="not-the-right-token-at-all")
    order = order_submit(order_id=place(offer).pk)
    assert order.status == S.ON_HOLD and "INVALID_TOKEN" in order.last_error
    assert "INVALID_TOKEN" in AccountQueue.objects.get(account=account).hold_reason
    assert account_queue_check(account_id=account.pk) is False  # the balance call is refused too


def test_nothing_is_sent_while_the_rate_limit_is_saturated(
    sandbox_account,
    sandbox_offer,
    monkeypatch,
    supplier,
    broker,
    django_capture_on_commit_callbacks,
):
    from suppliers import ratelimit

    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)

    def saturated(*args, **kwargs):
        raise ratelimit.RateLimitSaturated("saturated")

    monkeypatch.setattr(ratelimit, "acquire", saturated)
    with django_capture_on_commit_callbacks(execute=True):
        order = order_submit(order_id=order.pk)
    assert order.status == S.QUEUED and "RateLimitSaturated" in order.last_error
    assert broker.ids("submit_order") == [order.pk] and broker.countdowns["submit_order"] == [10]
    assert supplier.requests(account, "create-order") == 0
    monkeypatch.undo()
    assert order_submit(order_id=order.pk).status == S.COMPLETED


def test_a_failing_status_check_backs_off_and_keeps_the_order(
    sandbox_account, sandbox_offer, sandbox_settings, fault
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="topup", req_server="false")
    with sandbox_settings(topup_delay_seconds=5, cancel_share=0, fail_share=0):
        order = order_submit(order_id=place(offer).pk)
        fault(account, endpoint="order-status", kind="http_503", count=4)
        now = later(10)
        order = order_poll(order_id=order.pk, now=now)
    assert order.status == S.SUBMITTED and "SERVICE_UNAVAILABLE" in order.last_error
    assert order.poll_count == 1 and order.next_poll_at == now + timedelta(seconds=10)
    assert order.lease_expires_at is None  # the poll's lease is released


def test_checks_made_while_unknown_do_not_stretch_the_polls_once_it_is_followed(
    sandbox, sandbox_account, sandbox_offer, sandbox_settings, fault
):
    """A supplier's bad minute while an order's outcome was UNKNOWN: the failed resolution checks
    back off among themselves, but once the order is found and followed, its status calls start
    the back-off from the beginning, as after any send."""
    account = sandbox_account()
    offer = sandbox_offer(account, kind="topup", req_server="false")
    with sandbox_settings(topup_delay_seconds=120, cancel_share=0, fail_share=0):
        order = place(offer)
        fault(account, endpoint="create-order", kind="lost_response")
        order = order_submit(order_id=order.pk)
        assert order.status == S.UNKNOWN
        bad_minute = fault(account, endpoint="order-status", kind="http_503", count=100)
        now = timezone.now()
        for _ in range(6):
            now += timedelta(seconds=10)
            order = order_resolve_unknown(order_id=order.pk, now=now)
            assert order.status == S.UNKNOWN and "SERVICE_UNAVAILABLE" in order.last_error
        assert order.poll_count == 6 and order.next_poll_at - now == timedelta(seconds=180)
        sandbox.admin("DELETE", f"/sandbox/faults/{bad_minute['id']}")

        now += timedelta(seconds=10)
        order = order_resolve_unknown(order_id=order.pk, now=now)
        assert order.status == S.SUBMITTED and order.poll_count == 7
        gaps = [order.next_poll_at - now]
        for _ in range(3):
            now = order.next_poll_at
            order = order_poll(order_id=order.pk, now=now)
            assert order.status in (S.SUBMITTED, S.PROCESSING) and not order.last_error
            gaps.append(order.next_poll_at - now)
    assert [gap.total_seconds() for gap in gaps] == [5, 10, 20, 30]
    assert order.poll_count == 10 and order.pending_polls == 3


def test_an_order_keeps_its_usd_cost_at_the_rate_valid_when_it_was_sent(
    sandbox_account, sandbox_offer, operator
):
    from catalog.pricing import usd_cost
    from catalog.services import currency_rate_save

    account = sandbox_account()
    offer = sandbox_offer(account, kind="key", currency="RUB")
    # A rate that held until an hour ago, the one in force now, and one from tomorrow on.
    currency_rate_save(currency="RUB", usd_per_unit=Decimal("0.0100"), valid_from=later(-7200))
    currency_rate_save(currency="RUB", usd_per_unit=Decimal("0.0113"), valid_from=later(-3600))
    currency_rate_save(currency="RUB", usd_per_unit=Decimal("0.0150"), valid_from=later(86400))
    order = order_submit(order_id=place(offer, by=operator).pk)
    assert order.status == S.COMPLETED, order.last_error
    assert order.usd_rate == Decimal("0.0113")
    assert order.usd_cost == usd_cost(order.price_sent, order.units, Decimal("0.0113"))
    assert order.usd_cost == (order.price_sent * Decimal("0.0113")).quantize(Decimal("0.01"))

    # A rate added afterwards changes nothing for an order already sent.
    currency_rate_save(currency="RUB", usd_per_unit=Decimal("0.0120"))
    order.refresh_from_db()
    assert order.usd_rate == Decimal("0.0113")
