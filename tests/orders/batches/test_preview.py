"""The preview's supplier look-ups (orders.lookups, shared with the order page), with a client
that answers what each test needs."""

from decimal import Decimal

from orders import lookups
from orders.batches.preview import batch_preview_create
from orders.models import BatchPreviewRow
from suppliers.clients import PlayerCheck, SupplierUnreachable, TelegramUser
from suppliers.ratelimit import RateLimitSaturated

HEADER = "offer_id,quantity,player_id,telegram_username,customer_reference"


class Telegram:
    """user-info and check-game-data only: no balance endpoint."""

    def __init__(self, users=None, players=None):
        self.users = users or {}
        self.players = players or {}

    def telegram_user_info(self, username):
        answer = self.users[username]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def check_game_data(self, offer_id, game_user_id, game_server_id=None):
        answer = self.players[game_user_id]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def preview(account, client, monkeypatch, *lines, check_players=False):
    monkeypatch.setattr(lookups, "lookup_client", lambda account: client)
    content = "\n".join([HEADER, *lines]).encode()
    batch = batch_preview_create(
        account=account, uploaded_file=content, filename="t.csv", check_players=check_players
    )
    return batch, list(BatchPreviewRow.objects.filter(batch=batch).order_by("row_number"))


def test_usernames_become_ids_or_problems_saying_why(account, make_offer, monkeypatch):
    make_offer(77, requires_user_id=True, price=Decimal("1"))
    client = Telegram(
        users={
            "known_user": TelegramUser(True, "known_user", 143594291, "Known", None),
            "never_met": TelegramUser(True, "never_met", None, "Never", "not public"),
            "bad_name": TelegramUser(False, "bad_name", None, None, "Invalid username format"),
            "slow_one": SupplierUnreachable("timeout"),
        }
    )
    batch, rows = preview(
        account,
        client,
        monkeypatch,
        "77,1,,@known_user,A",
        "77,1,,@never_met,B",
        "77,1,,@bad_name,C",
        "77,1,,@slow_one,D",
    )
    known, never_met, bad_name, slow = rows
    assert known.game_user_id == "143594291" and not known.has_problems
    assert never_met.problems == [
        "telegram_username '@never_met' has no Telegram user id the supplier can see: ask the "
        f"customer to message {lookups.TELEGRAM_BOT} first, then upload the row again"
    ]
    # Not "message the bot": the supplier says the username itself is not valid.
    assert bad_name.problems == [
        "telegram_username '@bad_name' is not a valid Telegram username "
        "(the supplier says: Invalid username format)"
    ]
    assert slow.problems == [
        f"telegram_username '@slow_one' could not be looked up ({SupplierUnreachable('timeout')})"
    ]
    # No balance endpoint on this client: the preview says so, and nothing broke.
    assert batch.preview_summary["balance_usd"] is None
    assert "no balance endpoint" in batch.preview_summary["balance_note"]


def test_a_player_that_could_not_be_checked_is_a_warning_saying_why(
    account, make_offer, monkeypatch
):
    make_offer(88, requires_user_id=True)
    busy = RateLimitSaturated("account-1 is saturated for the next 5s")
    client = Telegram(
        players={
            "111": PlayerCheck(True, "Hero", "VALID"),
            "222": PlayerCheck(False, None, "INVALID"),
            "333": busy,
        }
    )
    batch, rows = preview(
        account, client, monkeypatch, "88,1,111,,", "88,1,222,,", "88,1,333,,", check_players=True
    )
    valid, invalid, unchecked = rows
    assert batch.check_players and valid.player_login == "Hero" and not valid.has_problems
    assert invalid.problems == ["player_id '222' was not accepted for offer 88"]
    assert unchecked.warnings == [
        f"player_id '333' could not be checked: the account's rate limit is saturated ({busy})"
    ]
    assert not unchecked.has_problems
