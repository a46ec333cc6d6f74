"""Contract tests: every client method over real HTTP against the sandbox (`sandbox/README.md`).

One sandbox process serves the module; each test gets a fresh account and a reset sandbox
(no faults, default settings). Fault rules prove the error handling end to end: create-order is
sent once and its ambiguous failures are resolved with order-status by transactionId.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from suppliers.clients import (
    AMBIGUOUS,
    DOCUMENTED_CODES,
    ERRORS_BY_CODE,
    REFUSAL,
    CodeGamesClient,
    GamesDropClient,
    GiftReportOutcomeUnknown,
    InsufficientBalance,
    InvalidToken,
    OfferNotFound,
    OrderNotCompleted,
    OrderNotFound,
    OrderOutcomeUnknown,
    TelegramApiError,
    TelegramBotClient,
    TransactionDuplicate,
    WrongPrice,
)

sandbox_testing = pytest.importorskip("sandbox.testing")

ADMIN_KEY = "clients-contract-admin"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with sandbox_testing.running_sandbox(
        tmp_path_factory.mktemp("sandbox"), offers=600, seed=11, admin_key=ADMIN_KEY
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(sandbox):
    sandbox.admin("POST", "/sandbox/reset")
    sandbox.admin("POST", "/sandbox/settings", {"cancel_share": 0, "fail_share": 0})


def new_account(sandbox, **fields):
    return sandbox.create_account(**{"balance": "1000", "balance_profile": "MIXED", **fields})


def gd_client(sandbox, account, **options):
    options.setdefault("backoff_base", 0.01)
    options.setdefault("timeout", (2, 5))
    return GamesDropClient(
        sandbox.url, account["token"], management_token=account["management_token"], **options
    )


@pytest.fixture
def account(sandbox):
    return new_account(sandbox)


@pytest.fixture
def gd(sandbox, account):
    with gd_client(sandbox, account) as client:
        yield client


def an_offer(sandbox, **traits):
    query = {"in_stock": "true", "listed": "true", "limit": 20, **traits}
    offers = sandbox.admin("GET", "/sandbox/offers", params=query)["offers"]
    assert offers, f"no sandbox offer with {traits}"
    return offers[0]


def tx() -> str:
    return "tx-" + uuid.uuid4().hex


def fault(sandbox, **spec):
    return sandbox.admin("POST", "/sandbox/faults", spec)


def requests_to(sandbox, endpoint, token):
    return sandbox.admin("GET", "/sandbox/requests", params={"endpoint": endpoint, "token": token})


# --- the happy paths, every method -----------------------------------------------------------


def test_balance_and_ledger(gd, account):
    balance = gd.balance()
    assert balance.balance == Decimal("1000.00") and balance.currency == "USD"
    assert balance.balance_profile == "MIXED" and balance.is_postpaid is False
    assert balance.partner_id == account["partnerId"]
    page = gd.transactions(page=1, limit=20)
    assert page.total == 1 and page.transactions[0].type == "DEPOSIT"
    assert page.transactions[0].created_at.tzinfo is not None


def test_test_offer_999_round_trip(gd):
    offer = gd.find_one(999)
    assert offer.price == Decimal("23.09") and offer.currency == "KZT" and offer.returns_key
    txid = tx()
    order = gd.create_order(999, offer.price, txid, email="test@example.com")
    assert order.status == "COMPLETED" and len(order.keys) == 1
    assert order.created_at.tzinfo is not None
    by_id = gd.order_status(order_id=order.order_id)
    by_tx = gd.order_status(transaction_id=txid)
    assert by_id.keys == by_tx.keys == order.keys
    assert gd.check_game_data(999, "123456789").valid


def test_key_purchase_is_charged_once_and_shows_in_the_ledger(sandbox, gd, account):
    offer_view = an_offer(sandbox, kind="key", min_count=1)
    offer = gd.find_one(offer_view["offerId"])
    assert isinstance(offer.price, Decimal) and offer.settlement_method in ("FIAT", "USDT", "MIXED")
    txid = tx()
    order = gd.create_order(offer.offer_id, offer.price, txid)
    assert order.status == "COMPLETED" and len(order.keys) == order.count
    assert order.price == offer.price and order.order_id is not None
    rows = list(gd.iter_transactions(limit=1))
    assert [row.type for row in rows] == ["PURCHASE", "DEPOSIT"]
    assert rows[0].amount < 0 and rows[0].balance_after == gd.balance().balance
    purchases = sandbox.admin(
        "GET", f"/sandbox/accounts/{account['token']}/purchases", params={"transactionId": txid}
    )
    assert purchases["count"] == 1 and purchases["charged"] == 1


def test_price_keeps_its_trailing_zero(sandbox, gd):
    offer_view = an_offer(sandbox, kind="key")
    sandbox.admin("POST", f"/sandbox/offers/{offer_view['offerId']}", {"price": "560.10"})
    offer = gd.find_one(offer_view["offerId"])
    if offer.currency == "USD":
        sandbox.admin("POST", f"/sandbox/offers/{offer_view['offerId']}", {"price": "5.10"})
        offer = gd.find_one(offer_view["offerId"])
    assert str(offer.price).endswith("0")
    gd.create_order(offer.offer_id, offer.price, tx())


def test_sync_pages_cover_the_catalog(gd):
    pages = list(gd.iter_sync(limit=150))
    rows = [row for page in pages for row in page.rows]
    assert len(rows) == pages[0].count > 150
    assert len({row.offer_id for row in rows}) == len(rows)
    assert all(isinstance(row.price, Decimal) for row in rows)
    filtered = gd.sync_page(limit=5000, category="Gift Cards")
    assert 0 < filtered.count < len(rows)
    assert gd.sync_page(search="no such product at all").rows == ()


def test_servers_and_player_check(sandbox, gd):
    offer_view = an_offer(sandbox, kind="topup", req_server="true")
    servers = gd.servers(offer_view["offerId"])
    assert servers and servers == gd.servers(offer_view["offerId"], path="partner")
    server_id = servers[0].value
    valid = gd.check_game_data(offer_view["offerId"], "52357322414", server_id)
    assert valid.valid and valid.login
    assert not gd.check_game_data(offer_view["offerId"], "not-a-player", server_id).valid


def test_top_up_goes_submitted_to_completed(sandbox, gd):
    sandbox.admin("POST", "/sandbox/settings", {"topup_delay_seconds": 0.6})
    offer_view = an_offer(sandbox, kind="topup", req_server="false")
    offer = gd.find_one(offer_view["offerId"])
    assert offer.returns_key is False
    order = gd.create_order(offer.offer_id, offer.price, tx(), game_user_id="52357322414")
    assert order.is_pending and order.keys == ()
    deadline = time.monotonic() + 5
    while order.is_pending and time.monotonic() < deadline:
        time.sleep(0.2)
        order = gd.order_status(order_id=order.order_id)
    assert order.status == "COMPLETED" and order.keys == () and order.missing_key_count == 0


def test_telegram_user_info_and_stars(sandbox, gd):
    assert gd.user_info_url == sandbox.url + "/api/aggregator/a6/telegram/user-info"
    known = gd.telegram_user_info("@igoryan34")
    assert known.user_id == 143594291 and known.first_name == "Igor"
    assert gd.telegram_user_info("somebody_unknown").user_id is None
    assert gd.telegram_user_info("!!").valid is False
    stars = gd.find_one(an_offer(sandbox, kind="stars")["offerId"])
    delivered = gd.create_order(stars.offer_id, stars.price, tx(), game_user_id="143594291")
    assert delivered.status == "COMPLETED" and delivered.fulfillment_data
    assert delivered.missing_key_count == 0
    failed = gd.create_order(stars.offer_id, stars.price, tx(), game_user_id="123456789")
    assert failed.status == "CANCELED" and "user not found" in failed.message


# --- refusals, under every envelope --------------------------------------------------------------


@pytest.mark.parametrize("forced_status", [None, 200])
@pytest.mark.parametrize("envelope", ["standard", "error", "errorCode", "status", "message"])
def test_refusals_under_every_envelope(sandbox, gd, account, envelope, forced_status):
    sandbox.admin(
        "POST",
        "/sandbox/settings",
        {"error_envelope": envelope, "error_http_status": forced_status},
    )
    with pytest.raises(OrderNotFound):
        gd.order_status(transaction_id="never-sent")
    with pytest.raises(OfferNotFound):
        gd.find_one(987654321)
    offer = gd.find_one(an_offer(sandbox, kind="key")["offerId"])
    with pytest.raises(WrongPrice) as caught:
        gd.create_order(offer.offer_id, offer.price + Decimal("0.01"), tx())
    assert caught.value.kind == REFUSAL
    txid = tx()
    gd.create_order(offer.offer_id, offer.price, txid)
    with pytest.raises(TransactionDuplicate):
        gd.create_order(offer.offer_id, offer.price, txid)
    with pytest.raises(InvalidToken):
        GamesDropClient(sandbox.url, "wrong-token-1234").balance()
    shop_on_ledger = GamesDropClient(
        sandbox.url, account["token"], management_token=account["token"]
    )
    with pytest.raises(InvalidToken):  # the shop token is refused on the ledger
        shop_on_ledger.transactions()


def test_insufficient_balance(sandbox):
    poor = new_account(sandbox, balance="0")
    with gd_client(sandbox, poor) as client:
        offer = client.find_one(an_offer(sandbox, kind="key")["offerId"])
        with pytest.raises(InsufficientBalance):
            client.create_order(offer.offer_id, offer.price, tx())


@pytest.mark.parametrize("code", sorted(DOCUMENTED_CODES))
def test_every_documented_code_from_the_sandbox(sandbox, account, code):
    fault(sandbox, endpoint="order-status", kind="error_code", code=code)
    with gd_client(sandbox, account, max_retries=0) as client:
        with pytest.raises(ERRORS_BY_CODE[code]) as caught:
            client.order_status(order_id=1)
    assert caught.value.code == code


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,landed",
    [
        ("timeout", True),
        ("lost_response", True),
        ("truncated", True),
        ("drop", False),
        ("html", False),
        ("http_503", False),
    ],
)
def test_create_order_faults_are_ambiguous_sent_once_and_resolvable(sandbox, account, kind, landed):
    calls = []
    with gd_client(sandbox, account, timeout=(2, 0.5), throttle=lambda: calls.append(1)) as client:
        offer = client.find_one(an_offer(sandbox, kind="key")["offerId"])
        fault(sandbox, endpoint="create-order", kind=kind, count=1, delay_seconds=1.5)
        txid = tx()
        with pytest.raises(OrderOutcomeUnknown) as caught:
            client.create_order(offer.offer_id, offer.price, txid)
        assert caught.value.kind == AMBIGUOUS and caught.value.transaction_id == txid
        assert len(requests_to(sandbox, "create-order", account["token"])["requests"]) == 1
        if kind == "timeout":
            time.sleep(1.2)  # let the sandbox finish its stalled answer
        if landed:
            found = client.order_status(transaction_id=txid)
            assert found.status == "COMPLETED"
            with pytest.raises(TransactionDuplicate):
                client.create_order(offer.offer_id, offer.price, txid)
        else:
            with pytest.raises(OrderNotFound):
                client.order_status(transaction_id=txid)
            assert client.create_order(offer.offer_id, offer.price, txid).status == "COMPLETED"
    purchases = sandbox.admin(
        "GET", f"/sandbox/accounts/{account['token']}/purchases", params={"transactionId": txid}
    )
    assert purchases["count"] == 1 and purchases["charged"] == 1
    assert len(calls) >= 2


@pytest.mark.parametrize("kind", ["http_503", "html", "truncated", "drop", "lost_response"])
def test_reads_retry_through_transient_faults(sandbox, account, kind):
    calls = []
    fault(sandbox, endpoint="balance", kind=kind, count=2)
    with gd_client(sandbox, account, throttle=lambda: calls.append(1)) as client:
        assert client.balance().balance == Decimal("1000.00")
    assert len(requests_to(sandbox, "balance", account["token"])["requests"]) == 3
    assert len(calls) == 3


# --- CodeGames ---------------------------------------------------------------------------------


def test_codegames_dialect(sandbox):
    account = new_account(sandbox, kind="codegames", balance="100000")
    with CodeGamesClient(sandbox.url, account["token"], backoff_base=0.01) as client:
        topup = client.find_one(an_offer(sandbox, kind="topup", req_server="false")["offerId"])
        assert "gameUserId" in topup.required_fields and topup.requires_game_user_id
        order = client.create_order(topup.offer_id, topup.price, tx(), game_user_id="52357322414")
        assert order.keys == ()  # the top-up's `key` is not a customer key

        sandbox.admin("POST", "/sandbox/settings", {"codegames_keyless_share": 1})
        key_offer = client.find_one(an_offer(sandbox, kind="key")["offerId"])
        order = client.create_order(key_offer.offer_id, key_offer.price, tx())
        assert order.status == "COMPLETED" and order.keys == ()
        assert order.missing_key_count == key_offer.count
        status = client.order_status(order_id=order.order_id)
        assert status.status == "COMPLETED" and status.order_id == order.order_id
        assert len(client.keys(order.order_id)) == key_offer.count

        sandbox.admin("POST", "/sandbox/settings", {"codegames_key_delay_seconds": 30})
        pending = client.create_order(key_offer.offer_id, key_offer.price, tx())
        assert pending.status == "PROCESSING"
        with pytest.raises(OrderNotCompleted):
            client.keys(pending.order_id)


# --- Telegram ---------------------------------------------------------------------------------

BOT = "7000000001:AAFsandboxBotToken_contract-test"

REPORT = dict(
    transaction_date=datetime(2026, 2, 6, 10, 23, 12, tzinfo=UTC),
    amount=145,
    currency="USD",
    gift_name="plushpepe-1",
    buyer_id=123456789,
)


def test_telegram_report(sandbox):
    sandbox.admin("POST", "/sandbox/telegram/bots", {"token": BOT})
    client = TelegramBotClient(BOT, base_url=sandbox.url)
    txid = uuid.uuid4().hex
    assert client.report_gift_purchase(transaction_id=txid, **REPORT) is True
    reports = sandbox.admin("GET", "/sandbox/telegram/reports", params={"bot": BOT})["reports"]
    assert reports[-1]["parameters"]["transaction_id"] == txid
    assert reports[-1]["parameters"]["sale_type"] == "listing"
    with pytest.raises(TelegramApiError) as caught:
        client.report_gift_purchase(transaction_id=txid, **REPORT)
    assert caught.value.kind == REFUSAL and "DUPLICATE" in str(caught.value)

    fault(sandbox, endpoint="telegram", kind="lost_response", count=1)
    lost = uuid.uuid4().hex
    with pytest.raises(GiftReportOutcomeUnknown):
        client.report_gift_purchase(transaction_id=lost, **REPORT)
    with pytest.raises(TelegramApiError, match="DUPLICATE"):  # it had landed
        client.report_gift_purchase(transaction_id=lost, **REPORT)

    fault(sandbox, endpoint="telegram", kind="error_code", code=429, delay_seconds=3, count=1)
    with pytest.raises(TelegramApiError) as caught:
        client.report_gift_purchase(transaction_id=uuid.uuid4().hex, **REPORT)
    assert caught.value.kind == "transient" and caught.value.retry_after == 3

    with pytest.raises(TelegramApiError) as caught:
        TelegramBotClient(
            "7000000002:AAFunregistered_bot", base_url=sandbox.url
        ).report_gift_purchase(transaction_id=uuid.uuid4().hex, **REPORT)
    assert caught.value.error_code == 401 and caught.value.kind == REFUSAL
