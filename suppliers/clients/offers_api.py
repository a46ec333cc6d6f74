"""The ``/api/v1/offers/*`` shape GamesDrop and CodeGames share.

find-one, create-order and order-status.

Decisions:

- ``offerId`` (and ``orderId``) always go out as JSON integers. An `int`, or an integral
  `Decimal`/`float`, is accepted; a string such as ``"1001"``, a bool or a fraction is refused with
  `ValueError` before anything is sent (the documents insist: "must be a number, not a string").
- ``price`` is a confirmation of the supplier's own price: pass the `Decimal` find-one or sync
  returned, and it goes out with the same digits. A float is refused (it cannot carry the digits).
- ``customer`` is sent only with the fields given; an empty customer is left out.
- create-order is sent exactly once. A documented refusal (WRONG_PRICE, OUT_OF_STOCK,
  INSUFFICIENT_BALANCE, TRANSACTION_DUPLICATE, INVALID_TOKEN, ...) is raised as itself: the supplier
  understood and created nothing (TRANSACTION_DUPLICATE proves an earlier call with that
  transactionId landed). Everything else that can follow a sent request (a timeout, a reset, a
  5xx, HTML, an unreadable or truncated body, a 2xx without ``orderId``/``status``, an undocumented
  error, SERVICE_UNAVAILABLE or another transient code) may have created the order and is raised
  as `OrderOutcomeUnknown` carrying the `cause` and the `transaction_id`. The caller resolves it
  with `order_status(transaction_id=...)`.
- Reads (find-one, order-status and the rest) are safe to repeat and are retried on transient
  errors by the transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from suppliers.clients.errors import REFUSAL, OrderOutcomeUnknown, SupplierError
from suppliers.clients.redaction import Secret
from suppliers.clients.transport import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    OnRequest,
    Reply,
    Throttle,
    Transport,
)
from suppliers.clients.types import Offer, OrderResult

FIND_ONE = "/api/v1/offers/find-one"
CREATE_ORDER = "/api/v1/offers/create-order"
ORDER_STATUS = "/api/v1/offers/order-status"


def json_integer(value: Any, name: str) -> int:
    """`value` as a positive int to send as a JSON number; `ValueError` otherwise."""
    if isinstance(value, bool) or isinstance(value, str):
        raise ValueError(f"{name} must be an integer sent as a JSON number, not {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal | float):
        try:
            integral = value == int(value)
        except (ValueError, OverflowError, InvalidOperation):
            integral = False
        if not integral:
            raise ValueError(f"{name} must be an integer, not {value!r}")
        number = int(value)
    else:
        raise ValueError(f"{name} must be an integer, not {type(value).__name__}")
    if number <= 0:
        raise ValueError(f"{name} must be positive, not {number}")
    return number


def confirmed_price(value: Any) -> Decimal | int:
    """The price to confirm, unchanged: a finite, non-negative `Decimal` (or int, or its text)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(
            "price must be the Decimal the supplier returned (a float cannot keep its digits)"
        )
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"price {value!r} is not a number") from None
    number: Decimal | int
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"price {value} is not a finite number")
        number = value
    else:
        raise ValueError(f"price must be a Decimal, not {type(value).__name__}")
    if number < 0:
        raise ValueError(f"price must not be negative ({value})")
    return number


def transaction_id_value(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("transactionId must be a non-empty string")
    if value != value.strip():
        raise ValueError("transactionId must not start or end with whitespace")
    if len(value) > 255:
        raise ValueError("transactionId is longer than 255 characters")
    return value


def text_field(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{name} must be a string")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{name} must not be empty")
    return text


class OffersApiClient:
    """Shared base of the GamesDrop and CodeGames clients (shop token, offers endpoints)."""

    supplier = "supplier"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = 3,
        throttle: Throttle | None = None,
        on_request: OnRequest | None = None,
        session: requests.Session | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        extra_secrets: tuple[Secret, ...] = (),
    ):
        if not isinstance(base_url, str) or "://" not in base_url:
            raise ValueError("base_url must be an absolute http(s) URL")
        self._token = Secret(token)
        self._transport = Transport(
            base_url,
            secrets=(self._token, *extra_secrets),
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            throttle=throttle,
            on_request=on_request,
            session=session,
            sleep=sleep,
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def transport(self) -> Transport:
        return self._transport

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _post(self, path: str, body: dict, parse: Callable[[Reply], Any], **kwargs) -> Any:
        kwargs.setdefault("authorization", self._token)
        kwargs.setdefault("safe_to_repeat", True)
        return self._transport.request("POST", path, body=body, parse=parse, **kwargs)

    # --- shared endpoints ------------------------------------------------------------------------

    def find_one(self, offer_id: int) -> Offer:
        """The offer with its current price (the one create-order must confirm)."""
        offer_id = json_integer(offer_id, "offerId")
        return self._post(
            FIND_ONE,
            {"offerId": offer_id},
            lambda reply: Offer.from_json(reply.data, offer_id=offer_id),
        )

    def create_order(
        self,
        offer_id: int,
        price: Decimal,
        transaction_id: str,
        email: str | None = None,
        game_user_id: str | None = None,
        game_server_id: str | None = None,
    ) -> OrderResult:
        """Buy once. Refusals raise as themselves; any other failure is `OrderOutcomeUnknown`."""
        body: dict[str, Any] = {
            "offerId": json_integer(offer_id, "offerId"),
            "price": confirmed_price(price),
            "transactionId": transaction_id_value(transaction_id),
        }
        customer = {}
        if email is not None:
            customer["email"] = text_field(email, "email")
        if game_user_id is not None:
            customer["gameUserId"] = text_field(game_user_id, "gameUserId")
        if game_server_id is not None:
            customer["gameServerId"] = text_field(game_server_id, "gameServerId")
        if customer:
            body["customer"] = customer
        try:
            return self._post(
                CREATE_ORDER,
                body,
                lambda reply: OrderResult.from_json(
                    reply.data, transaction_id=transaction_id, require_order_id=True
                ),
                safe_to_repeat=False,
            )
        except SupplierError as error:
            if error.kind == REFUSAL and error.code is not None:
                raise
            outcome = OrderOutcomeUnknown(
                f"create-order for transactionId {transaction_id!r} may have created the order; "
                "resolve it with order-status by transactionId",
                cause=error,
                transaction_id=transaction_id,
            )
        raise outcome

    def order_status(
        self, order_id: int | None = None, transaction_id: str | None = None
    ) -> OrderResult:
        """The order by exactly one of `order_id` / `transaction_id` (ORDER_NOT_FOUND if none)."""
        if (order_id is None) == (transaction_id is None):
            raise ValueError("give exactly one of order_id and transaction_id")
        if order_id is not None:
            order_id = json_integer(order_id, "orderId")
            body: dict[str, Any] = {"orderId": order_id}
        else:
            body = {"transactionId": transaction_id_value(transaction_id)}
        return self._post(
            ORDER_STATUS,
            body,
            lambda reply: OrderResult.from_json(
                reply.data, order_id=order_id, transaction_id=transaction_id
            ),
        )
