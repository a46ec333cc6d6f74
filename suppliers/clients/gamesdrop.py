"""GamesDrop.io Partner API client (``shared/reference/gamesdrop-partner-api.md``).

Decisions beyond the shared offers API (see `offers_api`):

- Two credentials, kept apart: the shop token (``Authorization: <token>``) for every offers
  endpoint and user-info, and the management credential (``Authorization: Bearer <credential>``)
  for the ledger only. Without a management credential, `transactions` raises
  `MissingCredential` before any request.
- Telegram user-info lives on another host in production
  (``https://gamesdrop.io/api/aggregator/a6/telegram/user-info``). Against any other base URL
  (the sandbox) it defaults to the same path on that base URL.
- Both documented server-list paths are available (``path="offers"`` or ``"partner"``).
- check-game-data answers ``{"status": "INVALID"}`` as a result (`PlayerCheck.valid` False), even
  when it comes with a 4xx status, unless that body also carries a documented error code.
- `iter_transactions` yields rows newest-first as the ledger pages them and skips an id it has
  already yielded (a row booked while paging shifts the pages); `iter_sync` yields whole pages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from suppliers.clients.errors import MissingCredential, find_documented_code
from suppliers.clients.offers_api import OffersApiClient, json_integer, text_field
from suppliers.clients.redaction import Secret
from suppliers.clients.transport import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, OnRequest, Throttle
from suppliers.clients.types import (
    Balance,
    LedgerPage,
    LedgerTransaction,
    PlayerCheck,
    Servers,
    SyncPage,
    TelegramUser,
    parse_servers,
)

PRODUCTION_BASE_URL = "https://partner.gamesdrop.io"
USER_INFO_PATH = "/api/aggregator/a6/telegram/user-info"
PRODUCTION_USER_INFO_URL = "https://gamesdrop.io" + USER_INFO_PATH

BALANCE = "/api/v1/offers/balance"
TRANSACTIONS = "/api/v1/balance/transactions"
SYNC = "/api/v1/offers/sync"
CHECK_GAME_DATA = "/api/v1/offers/check-game-data"
SERVER_PATHS = {
    "offers": "/api/v1/offers/servers",
    "partner": "/api/v1/partner/product-offer/servers",
}
SYNC_MAX_LIMIT = 5000
# A full sync page of 5,000 offers is a few MB; four times the largest seen, and no more, is read.
SYNC_PAGE_BODY_LIMIT = 32 * 1024 * 1024


def default_user_info_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.lower() == PRODUCTION_BASE_URL:
        return PRODUCTION_USER_INFO_URL
    return base + USER_INFO_PATH


def _player_answer(status: int, data: Any) -> bool:
    return (
        status < 500
        and isinstance(data, dict)
        and str(data.get("status", "")).strip().upper() in ("VALID", "INVALID")
        and find_documented_code({k: v for k, v in data.items() if k != "status"}) is None
    )


class GamesDropClient(OffersApiClient):
    supplier = "gamesdrop"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        management_token: str | None = None,
        user_info_url: str | None = None,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = 3,
        throttle: Throttle | None = None,
        session: requests.Session | None = None,
        on_request: OnRequest | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._management: Secret | None = None
        management_secrets: tuple[Secret, ...] = ()
        if management_token:
            credential = management_token.strip()
            if not credential.lower().startswith("bearer "):
                credential = "Bearer " + credential
            self._management = Secret(credential)
            management_secrets = (Secret(management_token.strip()), self._management)
        super().__init__(
            base_url,
            token,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            throttle=throttle,
            on_request=on_request,
            session=session,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            sleep=sleep,
            extra_secrets=management_secrets,
        )
        self.user_info_url = user_info_url or default_user_info_url(base_url)

    # --- balance and ledger ----------------------------------------------------------------------

    def balance(self) -> Balance:
        return self._transport.request(
            "GET",
            BALANCE,
            safe_to_repeat=True,
            authorization=self._token,
            parse=lambda reply: Balance.from_json(reply.data),
        )

    def transactions(self, page: int = 1, limit: int = 20) -> LedgerPage:
        """One page of the ledger (management credential, ``Bearer``)."""
        if self._management is None:
            raise MissingCredential(
                "the ledger (GET /api/v1/balance/transactions) needs the management credential; "
                "none is configured for this account",
                endpoint=TRANSACTIONS,
                method="GET",
            )
        page = json_integer(page, "page")
        limit = json_integer(limit, "limit")
        return self._transport.request(
            "GET",
            TRANSACTIONS,
            safe_to_repeat=True,
            params={"page": page, "limit": limit},
            authorization=self._management,
            parse=lambda reply: LedgerPage.from_json(reply.data, page=page, limit=limit),
        )

    def iter_transactions(self, limit: int = 100) -> Iterator[LedgerTransaction]:
        """Every ledger row, page after page, each id once."""
        seen: set[int] = set()
        page = 1
        while True:
            result = self.transactions(page=page, limit=limit)
            for row in result.transactions:
                if row.id not in seen:
                    seen.add(row.id)
                    yield row
            if len(result.transactions) < limit or page * limit >= result.total:
                return
            page += 1

    # --- catalog ---------------------------------------------------------------------------------

    def sync_page(
        self,
        page: int = 1,
        limit: int = SYNC_MAX_LIMIT,
        search: str | None = None,
        category: str | None = None,
    ) -> SyncPage:
        page = json_integer(page, "page")
        limit = json_integer(limit, "limit")
        if limit > SYNC_MAX_LIMIT:
            raise ValueError(f"limit must be at most {SYNC_MAX_LIMIT}")
        body: dict[str, Any] = {"limit": limit, "page": page}
        if search is not None:
            body["search"] = str(search)
        if category is not None:
            body["category"] = str(category)
        return self._post(
            SYNC,
            body,
            lambda reply: SyncPage.from_json(reply.data, page=page, limit=limit),
            body_limit=SYNC_PAGE_BODY_LIMIT,
        )

    def iter_sync(
        self,
        limit: int = SYNC_MAX_LIMIT,
        search: str | None = None,
        category: str | None = None,
    ) -> Iterator[SyncPage]:
        """Every sync page until the rows run out (a short or empty page, or `count` reached)."""
        page = 1
        fetched = 0
        while True:
            result = self.sync_page(page=page, limit=limit, search=search, category=category)
            if not result.rows:
                return
            yield result
            fetched += len(result.rows)
            if len(result.rows) < limit or fetched >= result.count:
                return
            page += 1

    def servers(self, offer_id: int, path: str = "offers") -> Servers:
        """The servers to offer for a product with ``isRequiredGameServerId``."""
        try:
            endpoint = SERVER_PATHS[path]
        except KeyError:
            raise ValueError(f"path must be one of {sorted(SERVER_PATHS)}") from None
        body = {"offerId": json_integer(offer_id, "offerId")}
        return self._post(endpoint, body, lambda reply: parse_servers(reply.data))

    # --- players ---------------------------------------------------------------------------------

    def check_game_data(
        self, offer_id: int, game_user_id: str, game_server_id: str | None = None
    ) -> PlayerCheck:
        body: dict[str, Any] = {
            "offerId": json_integer(offer_id, "offerId"),
            "gameUserId": text_field(game_user_id, "gameUserId"),
        }
        if game_server_id is not None:
            body["gameServerId"] = text_field(game_server_id, "gameServerId")
        return self._post(
            CHECK_GAME_DATA,
            body,
            lambda reply: PlayerCheck.from_json(reply.data),
            accept=_player_answer,
        )

    def telegram_user_info(self, username_or_id: str | int) -> TelegramUser:
        """Resolve ``@username`` (or an id) to a Telegram user id, when the supplier knows it."""
        value = text_field(username_or_id, "username")
        return self._post(
            self.user_info_url,
            {"username": value},
            lambda reply: TelegramUser.from_json(reply.data),
        )
