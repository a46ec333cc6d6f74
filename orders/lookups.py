"""Supplier look-ups made while a person waits: the player check, a game's server list and a
Telegram username's user id (the manual order page and the batch preview), and the account's
balance (the batch preview).

Reads only, with one quick retry (`lookup_client`). None of them raises for the supplier's
trouble: each answers with what it found, or why it found nothing. Not every supplier offers
every look-up (CodeGames offers none of them): what a client can do is told by the small
protocols below, never by its class. Suppliers are reached only through
`suppliers.services.supplier_client`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol, runtime_checkable

from catalog.models import Offer
from catalog.selectors import currency_rate_at
from orders.signals import balance_seen
from reseller.core.ids import typed_id
from suppliers.capabilities import capabilities_of
from suppliers.clients import Balance, Servers, SupplierError, TelegramUser
from suppliers.clients import PlayerCheck as SupplierPlayerCheck
from suppliers.models import SupplierAccount
from suppliers.ratelimit import RateLimiterUnreachable, RateLimitSaturated
from suppliers.services import supplier_client

#: What the supplier's document says to do when user-info returns no Telegram user id.
TELEGRAM_BOT = "@gamesdrop_api_bot"

#: What a look-up may fail with: the supplier's errors, the account's rate limit, and a value the
#: client refuses to send.
LOOKUP_ERRORS = (SupplierError, RateLimitSaturated, ValueError)


@runtime_checkable
class ChecksPlayers(Protocol):
    def check_game_data(
        self, offer_id: int, game_user_id: str, game_server_id: str | None = None
    ) -> SupplierPlayerCheck: ...


@runtime_checkable
class ListsServers(Protocol):
    def servers(self, offer_id: int) -> Servers: ...


@runtime_checkable
class ResolvesTelegramUsers(Protocol):
    def telegram_user_info(self, username_or_id: str | int) -> TelegramUser: ...


@runtime_checkable
class ReadsBalance(Protocol):
    def balance(self) -> Balance: ...


def lookup_client(account: SupplierAccount) -> object:
    """The account's client for a look-up a person waits for: one quick retry, not three, and
    the short deadline of a call made while a person waits on a page."""
    return supplier_client(account, max_retries=1, waiting=True)


def _failure(error: BaseException) -> str:
    if isinstance(error, RateLimiterUnreachable):
        return f"the account's rate limiter cannot reach its store ({error})"
    if isinstance(error, RateLimitSaturated):
        return f"the account's rate limit is saturated ({error})"
    return str(error)


# --- players and servers ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayerCheck:
    """What the supplier said about a player id. `valid` None: not checked, and `problem` says
    why, for the order page (`reason`: why the call failed, to quote in a sentence of one's own;
    `available` False: this supplier has no player check at all)."""

    valid: bool | None
    login: str = ""
    problem: str = ""
    available: bool = True
    reason: str = ""


def player_check(
    offer: Offer, game_user_id: str, game_server_id: str = "", *, client: object | None = None
) -> PlayerCheck:
    """check-game-data for one player (and server) of `offer`."""
    if not capabilities_of(offer.account).player_check:
        return PlayerCheck(None, problem="This supplier offers no player check.", available=False)
    client = lookup_client(offer.account) if client is None else client
    if not isinstance(client, ChecksPlayers):
        return PlayerCheck(None, problem="This supplier offers no player check.", available=False)
    try:
        answer = client.check_game_data(offer.offer_id, game_user_id, game_server_id or None)
    except LOOKUP_ERRORS as error:
        return PlayerCheck(
            None, problem=f"The player could not be checked: {error}", reason=_failure(error)
        )
    return PlayerCheck(answer.valid, login=answer.login or "")


def game_servers(offer: Offer, *, client: object | None = None) -> tuple[Servers, str]:
    """The servers to choose from for an offer that needs one, or () and why there is no list."""
    if not offer.requires_server_id:
        return (), ""
    if not capabilities_of(offer.account).servers:
        return (), "This supplier publishes no server list: enter the server id."
    client = lookup_client(offer.account) if client is None else client
    if not isinstance(client, ListsServers):
        return (), "This supplier publishes no server list: enter the server id."
    try:
        return client.servers(offer.offer_id), ""
    except LOOKUP_ERRORS as error:
        return (), f"The server list could not be loaded ({error}): enter the server id."


# --- Telegram users -----------------------------------------------------------------------------


class TelegramMissing(enum.Enum):
    """Why a Telegram username gave no user id."""

    NO_LOOKUP = "this supplier cannot resolve usernames"
    FAILED = "the call failed"
    INVALID = "the supplier says it is not a valid username"
    NOT_MET = "the user has not messaged the supplier's bot yet"


@dataclass(frozen=True)
class TelegramResolution:
    """A Telegram username (or numeric id) resolved to the user id Stars are sent to. Without a
    user id, `missing` says why and `said` quotes the supplier (or the failed call); `problem` is
    the sentence the order page shows."""

    user_id: int | None
    name: str = ""
    problem: str = ""
    missing: TelegramMissing | None = None
    said: str = ""


def telegram_user(
    account: SupplierAccount, username: str, *, client: object | None = None
) -> TelegramResolution:
    """@username → the numeric id, by the supplier's user-info. A numeric id is taken as it is."""
    value = username.strip()
    if (user_id := typed_id(value)) is not None:
        return TelegramResolution(user_id)
    offered = capabilities_of(account).telegram_user
    if offered and client is None:
        client = lookup_client(account)
    if not offered or not isinstance(client, ResolvesTelegramUsers):
        return TelegramResolution(
            None,
            problem="This supplier cannot resolve usernames.",
            missing=TelegramMissing.NO_LOOKUP,
        )
    try:
        user = client.telegram_user_info(value)
    except LOOKUP_ERRORS as error:
        return TelegramResolution(
            None,
            problem=f"The username could not be resolved: {error}",
            missing=TelegramMissing.FAILED,
            said=str(error),
        )
    if not user.valid:
        return TelegramResolution(
            None,
            problem=user.message or "Not a valid Telegram username.",
            missing=TelegramMissing.INVALID,
            said=user.message or "",
        )
    if user.user_id is None:
        said = f" (the supplier says: {user.message})" if user.message else ""
        return TelegramResolution(
            None,
            problem=f"No Telegram user id for @{value.lstrip('@')}{said}. Ask the user to "
            f"message {TELEGRAM_BOT} first, then try again.",
            missing=TelegramMissing.NOT_MET,
            said=user.message or "",
        )
    return TelegramResolution(user.user_id, name=user.first_name or user.username or "")


# --- the balance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceSeen:
    usd: Decimal | None
    note: str  # what to say about it (why it is unknown, or how it was converted)


def balance_usd(account: SupplierAccount, *, client: object | None = None) -> BalanceSeen:
    """The account's balance in USD, or None with the reason."""
    if not capabilities_of(account).balance:
        return BalanceSeen(None, "This supplier has no balance endpoint: the balance is unknown.")
    client = lookup_client(account) if client is None else client
    if not isinstance(client, ReadsBalance):
        return BalanceSeen(None, "This supplier has no balance endpoint: the balance is unknown.")
    try:
        balance = client.balance()
    except LOOKUP_ERRORS as error:
        return BalanceSeen(None, f"The balance is unknown: the supplier did not give it ({error}).")
    balance_seen.send(sender=BalanceSeen, account=account, balance=balance)
    currency = (balance.currency or "USD").upper()
    if currency == "USD":
        return BalanceSeen(balance.balance, "")
    rate = currency_rate_at(currency)
    if rate is None:
        return BalanceSeen(
            None,
            f"The balance is {balance.balance} {currency}, which has no USD rate: "
            "it cannot be compared with the estimate.",
        )
    usd = (balance.balance * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return BalanceSeen(usd, f"{balance.balance} {currency} at {rate} USD per unit.")
