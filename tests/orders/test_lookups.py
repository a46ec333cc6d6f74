"""The supplier look-ups of the order page and the batch preview (orders.lookups): what a client
can do is told by its methods, and no supplier trouble ever escapes as an exception."""

from decimal import Decimal

import pytest

from orders import lookups
from suppliers.clients import (
    Balance,
    CodeGamesClient,
    GamesDropClient,
    PlayerCheck,
    Server,
    SupplierUnreachable,
    TelegramUser,
)
from suppliers.models import SupplierAccount, SupplierKind
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_account_save


class Answers:
    """A client with every look-up, answering what it is told (or raising it)."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls = []

    def _answer(self, name, *args):
        self.calls.append((name, *args))
        answer = self.answers[name]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def check_game_data(self, offer_id, game_user_id, game_server_id=None):
        return self._answer("check_game_data", offer_id, game_user_id, game_server_id)

    def servers(self, offer_id):
        return self._answer("servers", offer_id)

    def telegram_user_info(self, username_or_id):
        return self._answer("telegram_user_info", username_or_id)

    def balance(self):
        return self._answer("balance")


class Nothing:
    """A client without any look-up (as CodeGames)."""


def test_the_protocols_tell_what_each_supplier_can_look_up(offline_offer):
    gamesdrop = lookups.lookup_client(offline_offer.account)
    assert isinstance(gamesdrop, GamesDropClient)
    codegames = lookups.lookup_client(
        supplier_account_save(
            account=SupplierAccount(
                name="cg", kind=SupplierKind.CODEGAMES, base_url="http://127.0.0.1:9"
            ),
            shop_token="codegames-token-0000",
        )
    )
    assert isinstance(codegames, CodeGamesClient)
    protocols = (
        lookups.ChecksPlayers,
        lookups.ListsServers,
        lookups.ResolvesTelegramUsers,
        lookups.ReadsBalance,
    )
    assert all(isinstance(gamesdrop, protocol) for protocol in protocols)
    assert not any(isinstance(codegames, protocol) for protocol in protocols)


def test_a_supplier_without_look_ups_is_answered_not_raised(offline_offer):
    offline_offer.requires_server_id = True
    check = lookups.player_check(offline_offer, "123", client=Nothing())
    assert check.valid is None and check.available is False
    assert check.problem == "This supplier offers no player check."
    assert lookups.game_servers(offline_offer, client=Nothing()) == (
        (),
        "This supplier publishes no server list: enter the server id.",
    )
    user = lookups.telegram_user(offline_offer.account, "@someone", client=Nothing())
    assert user.user_id is None and user.missing is lookups.TelegramMissing.NO_LOOKUP
    assert lookups.balance_usd(offline_offer.account, client=Nothing()).usd is None


def test_a_player_check_answers_or_says_why_not(offline_offer):
    valid = PlayerCheck(valid=True, login="Hero", status="VALID")
    client = Answers(check_game_data=valid)
    assert lookups.player_check(offline_offer, "123", "", client=client) == lookups.PlayerCheck(
        True, login="Hero"
    )
    assert client.calls == [("check_game_data", offline_offer.offer_id, "123", None)]

    down = SupplierUnreachable("connection refused")
    failed = lookups.player_check(offline_offer, "123", client=Answers(check_game_data=down))
    assert failed.valid is None and failed.available
    assert failed.problem == f"The player could not be checked: {down}"
    assert failed.reason == str(down)

    busy = RateLimitSaturated("account-1 is saturated for the next 5s")
    failed = lookups.player_check(offline_offer, "123", client=Answers(check_game_data=busy))
    assert failed.problem == f"The player could not be checked: {busy}"
    assert failed.reason == f"the account's rate limit is saturated ({busy})"


def test_servers_only_for_an_offer_that_needs_one(offline_offer):
    client = Answers(servers=(Server("eu", "Europe"),))
    assert lookups.game_servers(offline_offer, client=client) == ((), "")
    assert client.calls == []
    offline_offer.requires_server_id = True
    assert lookups.game_servers(offline_offer, client=client) == ((Server("eu", "Europe"),), "")
    servers, problem = lookups.game_servers(
        offline_offer, client=Answers(servers=SupplierUnreachable("timeout"))
    )
    assert servers == () and problem.startswith("The server list could not be loaded")


def telegram(valid=True, user_id=None, message=None):
    return TelegramUser(
        valid=valid, username="someone", user_id=user_id, first_name="Some", message=message
    )


@pytest.mark.parametrize(
    "answer, missing",
    [
        (telegram(user_id=143594291), None),
        (telegram(valid=False, message="Invalid username format"), "INVALID"),
        (telegram(message="not publicly available"), "NOT_MET"),
        (SupplierUnreachable("timeout"), "FAILED"),
        (RateLimitSaturated("busy"), "FAILED"),
    ],
)
def test_a_telegram_username_resolves_or_says_why_not(offline_offer, answer, missing):
    client = Answers(telegram_user_info=answer)
    user = lookups.telegram_user(offline_offer.account, " @someone ", client=client)
    assert client.calls == [("telegram_user_info", "@someone")]
    if missing is None:
        assert (user.user_id, user.name, user.missing) == (143594291, "Some", None)
    else:
        assert user.user_id is None and user.missing is lookups.TelegramMissing[missing]
        assert user.problem
    if missing == "NOT_MET":
        assert f"message {lookups.TELEGRAM_BOT} first" in user.problem
        assert user.said == "not publicly available"


def test_a_numeric_telegram_id_is_taken_as_it_is(offline_offer):
    client = Answers()
    assert lookups.telegram_user(offline_offer.account, "143594291", client=client).user_id == (
        143594291
    )
    assert client.calls == []


def test_the_balance_in_usd_or_why_it_is_unknown(offline_offer):
    def balance(amount, currency):
        return Balance(
            balance=Decimal(amount),
            draft_balance=Decimal(0),
            is_postpaid=False,
            balance_profile="FIAT",
            currency=currency,
            partner_id=None,
        )

    account = offline_offer.account
    seen = lookups.balance_usd(account, client=Answers(balance=balance("12.50", "USD")))
    assert (seen.usd, seen.note) == (Decimal("12.50"), "")
    seen = lookups.balance_usd(account, client=Answers(balance=balance("1000", "XTS")))
    assert seen.usd is None and "no USD rate" in seen.note
    seen = lookups.balance_usd(account, client=Answers(balance=SupplierUnreachable("down")))
    assert seen.usd is None and seen.note.startswith("The balance is unknown")
