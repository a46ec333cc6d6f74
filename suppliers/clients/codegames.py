"""CodeGames.gg API-hub client (``shared/reference/codegames-api.md``).

The same find-one / create-order / order-status shape as GamesDrop (see `offers_api`), plus:

- find-one may carry ``required: ["gameUserId"]`` (`Offer.required_fields`,
  `Offer.requires_game_user_id`);
- order-status may answer only ``{"status", "isReturnDataForCustomer"}``; the `OrderResult` then
  takes its `order_id` / `transaction_id` from the request;
- a COMPLETED key order may come without its key: fetch it with `keys(order_id)`
  (``POST /api/v1/offers/keys``), which is an error for a top-up. `keys` is a read and is retried
  on transient errors; ORDER_NOT_COMPLETED is transient but not retried at once (poll later).
"""

from __future__ import annotations

from typing import Any

from suppliers.clients.errors import SupplierBadResponse
from suppliers.clients.offers_api import OffersApiClient, json_integer

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

    def keys(self, order_id: int) -> tuple[str, ...]:
        """The keys of a COMPLETED key order (``key`` or ``keys`` in the answer)."""
        body = {"orderId": json_integer(order_id, "orderId")}
        return self._post(KEYS, body, lambda reply: _parse_keys(reply.data))
