"""CodeGames.gg API-hub client (``shared/reference/codegames-api.md``).

The same find-one / create-order / order-status shape as GamesDrop (see `offers_api`), plus:

- find-one may carry ``required: ["gameUserId"]`` (`Offer.required_fields`,
  `Offer.requires_game_user_id`);
- order-status takes ``orderId`` only (the document has no look-up by ``transactionId``):
  `order_status(transaction_id=...)` is refused with `ValueError` before anything is sent. It may
  answer only ``{"status", "isReturnDataForCustomer"}``; the `OrderResult` then takes its
  `order_id` from the request;
- so a lost create-order answer (`OrderOutcomeUnknown`) cannot be resolved through this API, and
  the document promises no TRANSACTION_DUPLICATE protection for a resend: the caller must not
  send it again (the orders app asks a person instead);
- a COMPLETED key order may come without its key: fetch it with `keys(order_id)`
  (``POST /api/v1/offers/keys``), which is an error for a top-up. `keys` is a read and is retried
  on transient errors; ORDER_NOT_COMPLETED is transient but not retried at once (poll later).
"""

from __future__ import annotations

from typing import Any

from suppliers.clients.errors import SupplierBadResponse
from suppliers.clients.offers_api import OffersApiClient, json_integer
from suppliers.clients.types import OrderResult

KEYS = "/api/v1/offers/keys"


def _parse_keys(data: Any) -> tuple[str, ...]:
    if isinstance(data, dict):
        many = data.get("keys")
        if isinstance(many, list) and many:
            return tuple(str(key) for key in many if key not in (None, ""))
        one = data.get("key")
        if one not in (None, ""):
            return (str(one),)
    raise SupplierBadResponse("keys: the answer carries no 'key' or 'keys'")


class CodeGamesClient(OffersApiClient):
    supplier = "codegames"

    def order_status(
        self, order_id: int | None = None, transaction_id: str | None = None
    ) -> OrderResult:
        """The order by its CodeGames ``orderId`` (the only look-up the API has)."""
        if transaction_id is not None or order_id is None:
            raise ValueError(
                "CodeGames looks orders up by orderId only; it has no order-status by transactionId"
            )
        return super().order_status(order_id=order_id)

    def keys(self, order_id: int) -> tuple[str, ...]:
        """The keys of a COMPLETED key order (``key`` or ``keys`` in the answer)."""
        body = {"orderId": json_integer(order_id, "orderId")}
        return self._post(KEYS, body, lambda reply: _parse_keys(reply.data))
