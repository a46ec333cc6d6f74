"""Telegram Bot API client for ``reportGiftPurchase`` (``telegram-gift-marketplaces.md``).

Decisions:

- Every field the document lists is validated before anything is sent; a bad report raises
  `InvalidGiftReport` (a `ValueError`) naming the field. `build_gift_report` does that alone.
- Amounts are integers in the smallest unit (USD cents, TON nanotons). `to_smallest_units`
  converts a `Decimal` exactly and refuses an amount with more decimals than the unit (1.455 USD):
  rounding money is the caller's decision, not a side effect. Floats are refused.
- ``transaction_date`` is Unix seconds: an int, or an aware `datetime` (a naive one is refused:
  its zone would be a guess).
- The call goes through ``sendCustomRequest`` with ``{"method": "reportGiftPurchase",
  "parameters": {...}}``. It is not retried: ``{"ok": false}`` is a `TelegramApiError` (a refusal,
  except 429, which carries ``retry_after``, and 5xx, which are transient); a timeout, a reset or
  an unreadable answer may have reached Telegram, so it is `GiftReportOutcomeUnknown` (ambiguous)
  with the report's `transaction_id`.
- The bot token travels in the URL path. It is held in a `Secret`, registered for log redaction
  (urllib3 logs the request line at DEBUG), and every path shown in errors, logs and hooks reads
  ``/bot***/sendCustomRequest``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import requests

from suppliers.clients.errors import (
    REFUSAL,
    TRANSIENT,
    GiftReportOutcomeUnknown,
    SupplierBadResponse,
    SupplierError,
    TelegramApiError,
)
from suppliers.clients.redaction import Secret
from suppliers.clients.transport import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    OnRequest,
    Reply,
    Throttle,
    Transport,
)

DEFAULT_BOT_API = "https://api.telegram.org"
CURRENCY_DECIMALS = {"USD": 2, "TON": 9}
SALE_TYPES = ("listing", "offer", "auction")


class InvalidGiftReport(ValueError):
    """A reportGiftPurchase field is missing or malformed; nothing was sent."""


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value.strip().upper() not in CURRENCY_DECIMALS:
        raise InvalidGiftReport(f"currency must be 'USD' or 'TON', not {value!r}")
    return value.strip().upper()


def to_smallest_units(amount: Decimal | int | str, currency: str) -> int:
    """`amount` in cents (USD) or nanotons (TON), exactly; more decimals than that are refused."""
    currency = _currency(currency)
    if isinstance(amount, bool) or isinstance(amount, float):
        raise InvalidGiftReport("amount must be a Decimal (a float cannot hold money exactly)")
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else amount)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidGiftReport(f"amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise InvalidGiftReport(f"amount {amount!r} is not a finite number")
    with localcontext() as context:
        context.prec = 60
        scaled = value.scaleb(CURRENCY_DECIMALS[currency])
        if scaled != scaled.to_integral_value():
            raise InvalidGiftReport(
                f"{amount} {currency} has more than {CURRENCY_DECIMALS[currency]} decimal places; "
                "convert it to a whole number of the smallest unit first"
            )
    units = int(scaled)
    if units <= 0:
        raise InvalidGiftReport(f"amount must be positive, not {amount}")
    return units


def usd_to_cents(amount: Decimal | int | str) -> int:
    return to_smallest_units(amount, "USD")


def ton_to_nanotons(amount: Decimal | int | str) -> int:
    return to_smallest_units(amount, "TON")


def _user_id(value: Any, name: str, *, required: bool) -> int | None:
    if value is None:
        if required:
            raise InvalidGiftReport(f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidGiftReport(f"{name} must be an integer Telegram user id, not {value!r}")
    if value <= 0:
        raise InvalidGiftReport(f"{name} must be a positive Telegram user id")
    return value


def _unix_seconds(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidGiftReport("transaction_date must be timezone-aware (or Unix seconds)")
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidGiftReport(
            f"transaction_date must be Unix seconds (int) or an aware datetime, not {value!r}"
        )
    if value <= 0:
        raise InvalidGiftReport("transaction_date must be a positive Unix timestamp")
    if value > 10**11:
        raise InvalidGiftReport("transaction_date looks like milliseconds; send seconds")
    return value


def _gift_names(gift_name: Any, gift_names: Any) -> dict[str, Any]:
    if (gift_name is None) == (gift_names is None):
        raise InvalidGiftReport("give exactly one of gift_name and gift_names")
    if gift_name is not None:
        if not isinstance(gift_name, str) or not gift_name.strip():
            raise InvalidGiftReport("gift_name must be a non-empty string")
        return {"gift_name": gift_name}
    if isinstance(gift_names, str) or not isinstance(gift_names, Sequence):
        raise InvalidGiftReport("gift_names must be a list of strings")
    names = list(gift_names)
    if len(names) < 2:
        raise InvalidGiftReport("gift_names is for two or more gifts; use gift_name for one")
    if any(not isinstance(name, str) or not name.strip() for name in names):
        raise InvalidGiftReport("every gift name must be a non-empty string")
    if len(set(names)) != len(names):
        raise InvalidGiftReport("gift_names lists the same gift twice")
    return {"gift_names": names}


def build_gift_report(
    *,
    transaction_id: str,
    transaction_date: int | datetime,
    amount: int,
    currency: str,
    buyer_id: int,
    gift_name: str | None = None,
    gift_names: Sequence[str] | None = None,
    sale_type: str = "listing",
    seller_id: int | None = None,
    recipient_id: int | None = None,
) -> dict[str, Any]:
    """The validated ``parameters`` object of reportGiftPurchase."""
    if not isinstance(transaction_id, str) or not 1 <= len(transaction_id) <= 64:
        raise InvalidGiftReport("transaction_id must be a string of 1 to 64 characters")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidGiftReport(
            "amount must be an int in the smallest unit (cents / nanotons); "
            "use to_smallest_units() to convert a Decimal"
        )
    if amount <= 0:
        raise InvalidGiftReport("amount must be positive")
    if sale_type not in SALE_TYPES:
        raise InvalidGiftReport(f"sale_type must be one of {', '.join(SALE_TYPES)}")
    parameters: dict[str, Any] = {
        "transaction_id": transaction_id,
        "transaction_date": _unix_seconds(transaction_date),
        "amount": amount,
        "currency": _currency(currency),
        "sale_type": sale_type,
        **_gift_names(gift_name, gift_names),
        "buyer_id": _user_id(buyer_id, "buyer_id", required=True),
    }
    for name, value in (("seller_id", seller_id), ("recipient_id", recipient_id)):
        checked = _user_id(value, name, required=False)
        if checked is not None:
            parameters[name] = checked
    return parameters


def classify_bot_api_body(status: int, data: Any, raw_body: str | None) -> SupplierError | None:
    """``{"ok": true}`` is fine; ``{"ok": false, ...}`` a `TelegramApiError`; else unreadable."""
    if isinstance(data, dict) and data.get("ok") is True:
        return None
    if isinstance(data, dict) and data.get("ok") is False:
        code = data.get("error_code")
        if isinstance(code, bool) or not isinstance(code, int):
            code = status
        parameters = data.get("parameters")
        if not isinstance(parameters, dict):
            parameters = {}
        retry_after = parameters.get("retry_after")
        retry_after = float(retry_after) if isinstance(retry_after, int | Decimal) else None
        description = data.get("description")
        return TelegramApiError(
            str(description)[:500] if description else f"Bot API error {code}",
            error_code=code,
            kind=TRANSIENT if code == 429 or code >= 500 else REFUSAL,
            http_status=status,
            raw_body=raw_body,
            supplier_message=str(description)[:500] if description else None,
            retry_after=retry_after,
        )
    return SupplierBadResponse("not a Bot API answer", http_status=status, raw_body=raw_body)


class TelegramBotClient:
    supplier = "telegram"

    def __init__(
        self,
        bot_token: str,
        base_url: str = DEFAULT_BOT_API,
        *,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        throttle: Throttle | None = None,
        on_request: OnRequest | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._token = Secret(bot_token)
        secrets = [self._token]
        _, _, secret_part = bot_token.partition(":")
        if len(secret_part) >= 8:
            secrets.append(Secret(secret_part))
        self._transport = Transport(
            base_url,
            secrets=secrets,
            timeout=timeout,
            deadline=deadline,
            max_retries=0,
            throttle=throttle,
            on_request=on_request,
            session=session,
            classify=classify_bot_api_body,
            sleep=sleep,
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _method_url(self, method: str) -> str:
        return f"{self.base_url}/bot{self._token.reveal()}/{method}"

    def get_me(self) -> dict[str, Any]:
        """``getMe``: the bot the token belongs to (Test connection); safe to repeat."""
        return self._transport.request(
            "POST",
            self._method_url("getMe"),
            safe_to_repeat=True,
            body={},
            parse=_bot,
        )

    def report_gift_purchase(
        self,
        *,
        transaction_id: str,
        transaction_date: int | datetime,
        amount: int,
        currency: str,
        buyer_id: int,
        gift_name: str | None = None,
        gift_names: Sequence[str] | None = None,
        sale_type: str = "listing",
        seller_id: int | None = None,
        recipient_id: int | None = None,
    ) -> bool:
        """Report a completed sale once. True when Telegram accepted it."""
        parameters = build_gift_report(
            transaction_id=transaction_id,
            transaction_date=transaction_date,
            amount=amount,
            currency=currency,
            buyer_id=buyer_id,
            gift_name=gift_name,
            gift_names=gift_names,
            sale_type=sale_type,
            seller_id=seller_id,
            recipient_id=recipient_id,
        )
        try:
            return self._transport.request(
                "POST",
                self._method_url("sendCustomRequest"),
                safe_to_repeat=False,
                body={"method": "reportGiftPurchase", "parameters": parameters},
                parse=_accepted,
            )
        except TelegramApiError:
            raise
        except SupplierError as error:
            outcome = GiftReportOutcomeUnknown(
                f"reportGiftPurchase {transaction_id!r} may have reached Telegram",
                cause=error,
                transaction_id=transaction_id,
            )
        raise outcome


def _bot(reply: Reply) -> dict[str, Any]:
    result = reply.data.get("result")
    if not isinstance(result, dict):
        raise SupplierBadResponse("getMe answered no bot", raw_body=None)
    return result


def _accepted(reply: Reply) -> bool:
    return reply.data.get("result") is True
