"""Typed results of the supplier clients: frozen, slotted dataclasses built from decoded JSON.

Decisions:

- Amounts are `Decimal`, exactly as they came (the transport decodes with
  ``parse_float=Decimal``): a price is a confirmation and goes back to create-order unchanged.
- Timestamps are timezone-aware. GamesDrop writes ``2024-05-28 10:08:04.296+00`` and
  ``2025-07-28T05:21:46.121Z``; both parse (`parse_timestamp`), and a timestamp without an offset is
  taken as UTC, which is what the documents say they are.
- A body missing a field the result cannot do without raises `SupplierBadResponse`; optional
  fields are None when absent rather than guessed.
- Sync pages are parsed with plain dict access and no per-row regex or timestamp work: a
  5,000-row page is parsed in milliseconds.
- `OrderResult.__repr__` masks the delivered keys (they are money) and leaves out the raw body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from suppliers.clients.errors import SupplierBadResponse

PENDING_STATUSES = frozenset({"SUBMITTED", "PROCESSING"})
FINAL_STATUSES = frozenset({"COMPLETED", "CANCELED", "FAILED", "REFUND", "REFUNDED"})


# --- field readers -------------------------------------------------------------------------------


def _bad(what: str) -> SupplierBadResponse:
    return SupplierBadResponse(what)


def to_decimal(value: Any, name: str = "amount") -> Decimal:
    if value.__class__ is Decimal:
        if not value.is_finite():
            raise _bad(f"{name}: not a finite number")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _bad(f"{name}: {value[:40]!r} is not a number") from None
        if number.is_finite():
            return number
    raise _bad(f"{name}: expected a number, got {type(value).__name__}")


def _opt_decimal(value: Any, name: str) -> Decimal | None:
    return None if value is None else to_decimal(value, name)


def to_int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _bad(f"{name}: expected an integer, got {type(value).__name__}")


def _opt_int(value: Any, name: str) -> int | None:
    return None if value is None else to_int(value, name)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _require(data: dict, key: str, what: str) -> Any:
    try:
        value = data[key]
    except KeyError:
        raise _bad(f"{what}: required field {key!r} is missing") from None
    if value is None:
        raise _bad(f"{what}: required field {key!r} is null")
    return value


def _expect_dict(data: Any, what: str) -> dict:
    if not isinstance(data, dict):
        raise _bad(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def parse_timestamp(value: Any) -> datetime:
    """An aware datetime from either GamesDrop spelling (or Unix seconds / milliseconds)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not isinstance(value, str):
        raise _bad(f"timestamp: expected a string, got {type(value).__name__}")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"timestamp: {value[:40]!r} is not an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _opt_timestamp(value: Any) -> datetime | None:
    return None if value in (None, "") else parse_timestamp(value)


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Balance:
    balance: Decimal
    draft_balance: Decimal
    is_postpaid: bool
    balance_profile: str | None
    currency: str
    partner_id: int | None

    @classmethod
    def from_json(cls, data: Any) -> Balance:
        data = _expect_dict(data, "balance")
        currency = data.get("currency")
        if isinstance(currency, dict):
            currency = currency.get("code")
        return cls(
            balance=to_decimal(_require(data, "balance", "balance"), "balance"),
            draft_balance=to_decimal(data.get("draftBalance") or 0, "draftBalance"),
            is_postpaid=bool(data.get("isPostpaid", False)),
            balance_profile=_opt_str(data.get("balanceProfile")),
            currency=_opt_str(currency) or "USD",
            partner_id=_opt_int(data.get("partnerId"), "partnerId"),
        )


@dataclass(frozen=True, slots=True)
class Offer:
    """find-one. `required_fields` is CodeGames' ``required`` list (empty when not sent)."""

    offer_id: int
    product_name: str | None
    offer_name: str | None
    count: int
    price: Decimal
    currency: str
    settlement_method: str | None
    balance_profile: str | None
    is_settlement_compatible: bool | None
    returns_key: bool | None
    required_fields: tuple[str, ...]
    requires_game_user_id: bool | None
    requires_game_server_id: bool | None
    raw: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_json(cls, data: Any, *, offer_id: int | None = None) -> Offer:
        data = _expect_dict(data, "find-one")
        required = data.get("required") or ()
        if not isinstance(required, list | tuple):
            raise _bad("find-one: 'required' is not a list")
        required = tuple(str(name) for name in required)
        user_flag = _opt_bool(data.get("isRequiredGameUserId"))
        server_flag = _opt_bool(data.get("isRequiredGameServerId"))
        if required:
            user_flag = user_flag or "gameUserId" in required
            server_flag = server_flag or "gameServerId" in required
        raw_offer_id = data.get("offerId", offer_id)
        if raw_offer_id is None:
            raise _bad("find-one: required field 'offerId' is missing")
        return cls(
            offer_id=to_int(raw_offer_id, "offerId"),
            product_name=_opt_str(data.get("productName")),
            offer_name=_opt_str(data.get("offerName")),
            count=to_int(data.get("count", 1), "count"),
            price=to_decimal(_require(data, "price", "find-one"), "price"),
            currency=str(_require(data, "currency", "find-one")),
            settlement_method=_opt_str(data.get("settlementMethod")),
            balance_profile=_opt_str(data.get("balanceProfile")),
            is_settlement_compatible=_opt_bool(data.get("isSettlementCompatible")),
            returns_key=_opt_bool(data.get("isReturnDataForCustomer")),
            required_fields=required,
            requires_game_user_id=user_flag,
            requires_game_server_id=server_flag,
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class SyncRow:
    """One sync row. `offer_id` is ``offerGroupId``: the id create-order takes as ``offerId``."""

    offer_id: int
    offer_name: str | None
    product_id: int | None
    product_name: str | None
    price: Decimal
    currency: str | None
    in_stock: bool
    requires_game_user_id: bool | None
    requires_game_server_id: bool | None
    category: str | None
    # Units per order (a bundle's "5 x ..."): the documented sync row has no such field, but
    # find-one and the order answers call it `count`; read when a feed row carries it.
    count: int | None = None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A sync row that could not be read: its place on the page (from 1), its offer id when that
    much was readable, and why. The rest of the page is read as usual."""

    row: int
    offer_id: int | None
    reason: str


_TEXT_FIELDS = ("offerGroupName", "productName", "currency", "category")
_FLAG_FIELDS = ("inStock", "isRequiredGameUserId", "isRequiredGameServerId")


def _sync_row(row: Any) -> SyncRow:
    """One sync row, its fields of the types SyncRow declares; `SupplierBadResponse` says which
    field was not. (Ranges and lengths are the catalog's to check: they are its columns'.)"""
    if not isinstance(row, dict):
        raise _bad(f"expected an object, got {type(row).__name__}")
    if "offerGroupId" not in row:
        raise _bad("required field 'offerGroupId' is missing")
    offer_id = row["offerGroupId"]
    if offer_id.__class__ is not int:
        offer_id = to_int(offer_id, "offerGroupId")
    if "price" not in row:
        raise _bad("required field 'price' is missing")
    price = to_decimal(row["price"], "price")
    get = row.get
    for name in _TEXT_FIELDS:
        value = get(name)
        if value is not None and value.__class__ is not str:
            raise _bad(f"{name}: expected text, got {type(value).__name__}")
    for name in _FLAG_FIELDS:
        value = get(name)
        if value is not None and value.__class__ is not bool:
            raise _bad(f"{name}: expected true or false, got {type(value).__name__}")
    product_id = get("productId")
    if product_id is not None and product_id.__class__ is not int:
        product_id = to_int(product_id, "productId")
    count = get("count")
    if count is not None and count.__class__ is not int:
        count = to_int(count, "count")
    return SyncRow(
        offer_id,
        get("offerGroupName"),
        product_id,
        get("productName"),
        price,
        get("currency"),
        get("inStock") is not False,
        get("isRequiredGameUserId"),
        get("isRequiredGameServerId"),
        get("category"),
        count,
    )


@dataclass(frozen=True, slots=True)
class SyncPage:
    """One page of the sync feed. A row that cannot be read is left out of `rows` and listed in
    `rejected`, so one bad row never costs the page. `count` is the supplier's count of the whole
    feed, or the page's own rows when it sent none (`count_stated` False)."""

    count: int
    rows: tuple[SyncRow, ...]
    page: int | None = None
    limit: int | None = None
    rejected: tuple[RejectedRow, ...] = ()
    count_stated: bool = True

    @classmethod
    def from_json(cls, data: Any, *, page: int | None = None, limit: int | None = None) -> SyncPage:
        data = _expect_dict(data, "sync")
        raw_rows = _require(data, "rows", "sync")
        if not isinstance(raw_rows, list):
            raise _bad("sync: 'rows' is not a list")
        rows: list[SyncRow] = []
        rejected: list[RejectedRow] = []
        append = rows.append
        for number, row in enumerate(raw_rows, start=1):
            try:
                append(_sync_row(row))
            except SupplierBadResponse as exc:
                offer_id = row.get("offerGroupId") if isinstance(row, dict) else None
                readable = offer_id if offer_id.__class__ is int else None
                rejected.append(RejectedRow(number, readable, exc.detail))
        count = data.get("count")
        return cls(
            count=len(raw_rows) if count is None else to_int(count, "count"),
            rows=tuple(rows),
            page=page,
            limit=limit,
            rejected=tuple(rejected),
            count_stated=count is not None,
        )


@dataclass(frozen=True, slots=True)
class OrderResult:
    """create-order / order-status. `keys` holds every delivered key (``keys`` or ``key``)."""

    order_id: int | None
    transaction_id: str | None
    status: str
    count: int | None
    price: Decimal | None
    currency: str | None
    offer_id: int | None
    product_name: str | None
    offer_name: str | None
    returns_key: bool | None
    keys: tuple[str, ...]
    message: str | None
    created_at: datetime | None
    requires_game_user_id: bool | None = None
    requires_game_server_id: bool | None = None
    fulfillment_data: dict = field(default_factory=dict, compare=False, hash=False)
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(
        cls,
        data: Any,
        *,
        order_id: int | None = None,
        transaction_id: str | None = None,
        require_order_id: bool = False,
    ) -> OrderResult:
        data = _expect_dict(data, "order")
        status = _require(data, "status", "order")
        if not isinstance(status, str) or not status.strip():
            raise _bad("order: 'status' is not a string")
        if require_order_id:
            _require(data, "orderId", "order")
        raw_keys = data.get("keys")
        key = data.get("key")
        returns_key = _opt_bool(data.get("isReturnDataForCustomer"))
        if returns_key is False:
            # A top-up delivers nothing to show: CodeGames' "response without gift card" still
            # carries a ``key``; it is not a key for the customer (it stays in `raw`).
            keys: tuple[str, ...] = ()
        elif isinstance(raw_keys, list) and raw_keys:
            keys = tuple(str(k) for k in raw_keys if k not in (None, ""))
        elif key not in (None, ""):
            keys = (str(key),)
        else:
            keys = ()
        fulfillment = data.get("fulfillmentData")
        return cls(
            order_id=_opt_int(data.get("orderId", order_id), "orderId"),
            transaction_id=_opt_str(data.get("transactionId", transaction_id)),
            status=status.strip().upper(),
            count=_opt_int(data.get("count"), "count"),
            price=_opt_decimal(data.get("price"), "price"),
            currency=_opt_str(data.get("currency")),
            offer_id=_opt_int(data.get("offerId"), "offerId"),
            product_name=_opt_str(data.get("productName")),
            offer_name=_opt_str(data.get("offerName")),
            returns_key=returns_key,
            keys=keys,
            message=_opt_str(data.get("message")),
            created_at=_opt_timestamp(data.get("createdAt")),
            requires_game_user_id=_opt_bool(data.get("isRequiredGameUserId")),
            requires_game_server_id=_opt_bool(data.get("isRequiredGameServerId")),
            fulfillment_data=fulfillment if isinstance(fulfillment, dict) else {},
            raw=data,
        )

    @property
    def key(self) -> str | None:
        return self.keys[0] if self.keys else None

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def missing_key_count(self) -> int:
        """Keys still owed on a COMPLETED key order (partial result, or CodeGames' late keys).

        Zero for top-ups and for deliveries reported in ``fulfillmentData`` (Telegram Stars are
        ``isReturnDataForCustomer: true`` yet carry no key).
        """
        if self.status != "COMPLETED" or not self.returns_key or self.fulfillment_data:
            return 0
        return max(0, (self.count or 1) - len(self.keys))

    def __repr__(self) -> str:
        masked = f"<{len(self.keys)} masked>" if self.keys else "()"
        return (
            f"OrderResult(order_id={self.order_id!r}, transaction_id={self.transaction_id!r}, "
            f"status={self.status!r}, count={self.count!r}, price={self.price!r}, "
            f"currency={self.currency!r}, offer_id={self.offer_id!r}, "
            f"returns_key={self.returns_key!r}, keys={masked}, message={self.message!r}, "
            f"created_at={self.created_at!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    id: int
    amount: Decimal
    type: str
    description: str | None
    balance_after: Decimal | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: Any) -> LedgerTransaction:
        data = _expect_dict(data, "transaction")
        return cls(
            id=to_int(_require(data, "id", "transaction"), "id"),
            amount=to_decimal(_require(data, "amount", "transaction"), "amount"),
            type=str(_require(data, "type", "transaction")),
            description=_opt_str(data.get("description")),
            balance_after=_opt_decimal(data.get("balanceAfter"), "balanceAfter"),
            created_at=_opt_timestamp(data.get("createdAt")),
        )


@dataclass(frozen=True, slots=True)
class LedgerPage:
    transactions: tuple[LedgerTransaction, ...]
    total: int
    page: int | None = None
    limit: int | None = None

    @classmethod
    def from_json(
        cls, data: Any, *, page: int | None = None, limit: int | None = None
    ) -> LedgerPage:
        data = _expect_dict(data, "transactions")
        rows = _require(data, "transactions", "transactions")
        if not isinstance(rows, list):
            raise _bad("transactions: 'transactions' is not a list")
        transactions = tuple(LedgerTransaction.from_json(row) for row in rows)
        total = data.get("total")
        return cls(
            transactions=transactions,
            total=len(transactions) if total is None else to_int(total, "total"),
            page=page,
            limit=limit,
        )


@dataclass(frozen=True, slots=True)
class PlayerCheck:
    valid: bool
    login: str | None
    status: str

    @classmethod
    def from_json(cls, data: Any) -> PlayerCheck:
        data = _expect_dict(data, "check-game-data")
        status = _require(data, "status", "check-game-data")
        status = str(status).strip().upper()
        if status not in ("VALID", "INVALID"):
            raise _bad(f"check-game-data: unexpected status {status[:40]!r}")
        return cls(
            valid=status == "VALID", login=_opt_str(data.get("gameUserLogin")), status=status
        )


@dataclass(frozen=True, slots=True)
class TelegramUser:
    """user-info. `user_id` is None when the user has not talked to the supplier's bot yet."""

    valid: bool
    username: str | None
    user_id: int | None
    first_name: str | None
    message: str | None
    photo_url: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> TelegramUser:
        data = _expect_dict(data, "user-info")
        valid = _require(data, "valid", "user-info")
        info = data.get("userInfo") or {}
        if not isinstance(info, dict):
            raise _bad("user-info: 'userInfo' is not an object")
        return cls(
            valid=bool(valid),
            username=_opt_str(data.get("username") or info.get("username")),
            user_id=_opt_int(info.get("id"), "userInfo.id"),
            first_name=_opt_str(info.get("first_name")),
            message=_opt_str(data.get("message")),
            photo_url=_opt_str(info.get("photo_url")),
        )


class Server(NamedTuple):
    """A server choice: show `label`, send `value` as gameServerId."""

    label: str
    value: str


Servers = tuple[Server, ...]


def parse_servers(data: Any) -> Servers:
    """``{"Europe": "os_euro", ...}`` (documented); a list of ``{name|label, value|id}`` too."""
    if isinstance(data, dict):
        items = data.get("servers", data)
        if isinstance(items, dict):
            return tuple(Server(str(label), str(value)) for label, value in items.items())
        data = items
    if isinstance(data, list):
        servers = []
        for item in data:
            if not isinstance(item, dict):
                raise _bad("servers: expected objects in the list")
            label = item.get("label", item.get("name", item.get("title")))
            value = item.get("value", item.get("id", item.get("serverId")))
            if label is None or value is None:
                raise _bad("servers: an entry lacks its label or value")
            servers.append(Server(str(label), str(value)))
        return tuple(servers)
    raise _bad(f"servers: expected a JSON object, got {type(data).__name__}")
