"""One error taxonomy for every supplier client.

Every error is a `SupplierError` with a `kind` (docs/supplier-contract.md, "Error kinds"):

- ``refusal``: final; the supplier understood and said no. Nothing was created.
- ``transient``: retry later; nothing was changed (a failed read, SERVICE_UNAVAILABLE,
  BALANCE_UNAVAILABLE, ORDER_NOT_PROCESSING / ORDER_NOT_COMPLETED, a timeout, a reset, a 5xx,
  HTML or unreadable JSON on a read).
- ``ambiguous``: the request may have taken effect. Only create-order and the Telegram report
  can be ambiguous (`OutcomeUnknown`); the caller resolves it (order-status by transactionId),
  never guesses.

Why a documented code is searched for everywhere: the GamesDrop documents list the codes but not
the envelope nor the HTTP status that carries them. A code may come as ``code``, ``error``,
``errorCode``, ``status``, nested (``{"error": {"code": ...}}``), or as a word inside ``message``,
under any status, 200 included. `classify_error_body` finds it wherever it is; an error body with
no documented code is an `UnknownSupplierError` that keeps the raw body for the operator.

Two guards keep that search from inventing errors in good answers:

- ``status`` is also the order status (SUBMITTED, COMPLETED ...) and check-game-data's VALID /
  INVALID: only documented *error* codes count, compared as the whole value.
- A 2xx body shaped like a result (it carries ``orderId``, ``offerId``, ``balance``, ``rows``,
  ``transactions``, ``valid``, ``key``/``keys``, ``userInfo`` or a non-error ``status``) is
  looked at only at its top level, and never in its ``message``: a CANCELED order's ``message``
  is the supplier's explanation, not an error of the call, and a 5,000-row sync page is not
  walked.
  Other bodies are walked breadth-first, bounded in depth and size.

Messages and reprs never contain a credential: the transport redacts every text (body excerpts,
requests' exception text, URLs) before it reaches an error.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from suppliers.clients.redaction import mask_delivered_keys

REFUSAL = "refusal"
TRANSIENT = "transient"
AMBIGUOUS = "ambiguous"
KINDS = (REFUSAL, TRANSIENT, AMBIGUOUS)

RAW_BODY_LIMIT = 2000


def _restore(cls, args, state):
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class SupplierError(Exception):
    """A supplier call failed. `str()` is safe to log and to show to staff."""

    code: str | None = None
    default_kind: str = TRANSIENT
    #: False for transient answers that describe the order's state (not yet processing / not yet
    #: completed): repeating the call at once does not help; the caller polls later instead.
    retry_at_once: bool = True

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        kind: str | None = None,
        http_status: int | None = None,
        endpoint: str | None = None,
        method: str | None = None,
        raw_body: str | None = None,
        supplier_message: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.detail = message
        self.code = code if code is not None else type(self).code
        self.kind = kind or self.default_kind
        if self.kind not in KINDS:
            raise ValueError(f"unknown error kind {self.kind!r}")
        self.http_status = http_status
        self.endpoint = endpoint
        self.method = method
        self.raw_body = raw_body[:RAW_BODY_LIMIT] if raw_body else raw_body
        self.supplier_message = supplier_message
        self.retry_after = retry_after

    @property
    def is_refusal(self) -> bool:
        return self.kind == REFUSAL

    @property
    def is_transient(self) -> bool:
        return self.kind == TRANSIENT

    @property
    def is_ambiguous(self) -> bool:
        return self.kind == AMBIGUOUS

    @property
    def retryable(self) -> bool:
        """Whether the transport may repeat a call marked safe to repeat after this error."""
        return self.kind == TRANSIENT and self.retry_at_once

    def __str__(self) -> str:
        head = self.code or type(self).__name__
        where = []
        if self.http_status is not None:
            where.append(f"HTTP {self.http_status}")
        if self.endpoint:
            where.append(f"{self.method} {self.endpoint}" if self.method else self.endpoint)
        text = head
        if where:
            text += f" ({', '.join(where)})"
        detail = self.detail or self.supplier_message
        if detail:
            text += f": {detail}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, kind={self.kind!r}, "
            f"http_status={self.http_status!r}, endpoint={self.endpoint!r})"
        )

    def __reduce__(self):
        return (_restore, (type(self), self.args, dict(self.__dict__)))


# --- documented codes --------------------------------------------------------------------------


class InvalidToken(SupplierError):
    code = "INVALID_TOKEN"
    default_kind = REFUSAL


class OfferNotFound(SupplierError):
    code = "OFFER_NOT_FOUND"
    default_kind = REFUSAL


class TransactionDuplicate(SupplierError):
    """The transactionId was already used on this account: proof that the first order landed."""

    code = "TRANSACTION_DUPLICATE"
    default_kind = REFUSAL


class WrongPrice(SupplierError):
    code = "WRONG_PRICE"
    default_kind = REFUSAL


class OrderNotFound(SupplierError):
    code = "ORDER_NOT_FOUND"
    default_kind = REFUSAL


class OrderNotProcessing(SupplierError):
    code = "ORDER_NOT_PROCESSING"
    default_kind = TRANSIENT
    retry_at_once = False


class OrderNotCompleted(SupplierError):
    code = "ORDER_NOT_COMPLETED"
    default_kind = TRANSIENT
    retry_at_once = False


class OrderAlreadyCanceled(SupplierError):
    code = "ORDER_ALREADY_CANCELED"
    default_kind = REFUSAL


class OrderAlreadyRefunded(SupplierError):
    code = "ORDER_ALREADY_REFUNDED"
    default_kind = REFUSAL


class ServiceUnavailable(SupplierError):
    code = "SERVICE_UNAVAILABLE"
    default_kind = TRANSIENT


class InvalidRequestBody(SupplierError):
    code = "INVALID_REQUEST_BODY"
    default_kind = REFUSAL


class InsufficientBalance(SupplierError):
    code = "INSUFFICIENT_BALANCE"
    default_kind = REFUSAL


class BalanceUnavailable(SupplierError):
    code = "BALANCE_UNAVAILABLE"
    default_kind = TRANSIENT


class OutOfStock(SupplierError):
    code = "OUT_OF_STOCK"
    default_kind = REFUSAL


ERRORS_BY_CODE: dict[str, type[SupplierError]] = {
    cls.code: cls
    for cls in (
        InvalidToken,
        OfferNotFound,
        TransactionDuplicate,
        WrongPrice,
        OrderNotFound,
        OrderNotProcessing,
        OrderNotCompleted,
        OrderAlreadyCanceled,
        OrderAlreadyRefunded,
        ServiceUnavailable,
        InvalidRequestBody,
        InsufficientBalance,
        BalanceUnavailable,
        OutOfStock,
    )
}
DOCUMENTED_CODES = frozenset(ERRORS_BY_CODE)


# --- failures without a documented code ---------------------------------------------------------


class SupplierUnreachable(SupplierError):
    """No answer: timeout, connection refused or reset, connection dropped mid-body."""

    default_kind = TRANSIENT


class SupplierBadResponse(SupplierError):
    """An answer that cannot be read: HTML, unreadable or truncated JSON, a 2xx missing fields."""

    default_kind = TRANSIENT


class UnknownSupplierError(SupplierError):
    """An error answer without a documented code. `supplier_code` holds its code, if it had one."""

    default_kind = REFUSAL

    def __init__(self, message: str = "", *, supplier_code: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.supplier_code = supplier_code

    def __str__(self) -> str:
        text = super().__str__()
        if self.supplier_code:
            text += f" [supplier code {self.supplier_code}]"
        return text


class MissingCredential(SupplierError):
    """The call needs a credential this client was not given (no HTTP request was made)."""

    default_kind = REFUSAL


class TelegramApiError(SupplierError):
    """The Bot API answered ``{"ok": false, "error_code": N, "description": ...}``."""

    default_kind = REFUSAL

    def __init__(self, message: str = "", *, error_code: int | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.error_code = error_code


class OutcomeUnknown(SupplierError):
    """The call may have taken effect; resolve it, never guess. `cause` is the underlying error."""

    default_kind = AMBIGUOUS

    def __init__(
        self,
        message: str = "",
        *,
        cause: SupplierError | None = None,
        transaction_id: str | None = None,
        **kwargs,
    ):
        if cause is not None:
            for name in ("http_status", "endpoint", "method", "raw_body", "retry_after"):
                kwargs.setdefault(name, getattr(cause, name))
        kwargs["kind"] = AMBIGUOUS
        kwargs["code"] = None
        super().__init__(message, **kwargs)
        self.cause = cause
        self.transaction_id = transaction_id

    def __str__(self) -> str:
        text = f"{type(self).__name__}: {self.detail}"
        if self.cause is not None:
            text += f"; cause: {self.cause}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(transaction_id={self.transaction_id!r}, cause={self.cause!r})"
        )


class OrderOutcomeUnknown(OutcomeUnknown):
    """create-order may have created the order. Resolve with order-status by `transaction_id`:
    found → follow it; ORDER_NOT_FOUND → safe to send again with the same transactionId."""


class GiftReportOutcomeUnknown(OutcomeUnknown):
    """The reportGiftPurchase call may have reached Telegram; `transaction_id` is the report's."""


# --- classification ------------------------------------------------------------------------------

_CODE_WORD = re.compile(
    r"(?<![A-Za-z0-9_])("
    + "|".join(sorted(DOCUMENTED_CODES, key=len, reverse=True))
    + r")(?![A-Za-z0-9_])",
    re.IGNORECASE,
)
# Normalised (lower case, no "_"/"-") names of members that carry an error code.
_CODE_KEYS = ("code", "errorcode", "error", "status", "errortype", "errorname")
_CODE_KEY_SET = frozenset(_CODE_KEYS)
_MESSAGE_KEYS = frozenset({"message", "messages", "errormessage", "description", "detail", "msg"})
_CONTAINER_KEYS = frozenset({"error", "errors", "err", "details", "detail", "data", "result"})
_RESULT_MARKERS = frozenset(
    {"orderId", "offerId", "balance", "rows", "transactions", "valid", "key", "keys", "userInfo"}
)
#: Values of ``status`` that are answers, not errors.
NON_ERROR_STATUSES = frozenset(
    {
        "SUBMITTED",
        "PROCESSING",
        "COMPLETED",
        "CANCELED",
        "CANCELLED",
        "FAILED",
        "REFUND",
        "REFUNDED",
        "VALID",
        "INVALID",
    }
)
_MAX_DEPTH = 6
_MAX_NODES = 400


def _norm_key(key: Any) -> str:
    return key.lower().replace("_", "").replace("-", "") if isinstance(key, str) else ""


def _exact_code(value: Any) -> str | None:
    if isinstance(value, str):
        candidate = value.strip().upper()
        if candidate in DOCUMENTED_CODES:
            return candidate
    return None


def _word_code(value: Any) -> str | None:
    if isinstance(value, str):
        match = _CODE_WORD.search(value)
        if match:
            return match.group(1).upper()
    return None


def _is_result_shaped(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    if not _RESULT_MARKERS.isdisjoint(data):
        return True
    status = data.get("status")
    return isinstance(status, str) and status.strip().upper() in NON_ERROR_STATUSES


def _walk(data: Any, *, lists: bool) -> Iterator[tuple[int, dict]]:
    """Breadth-first (depth, dict) pairs under `data`, bounded in depth and size."""
    queue = deque([(0, data)])
    seen = 0
    while queue and seen < _MAX_NODES:
        depth, node = queue.popleft()
        seen += 1
        children: Iterable[Any]
        if isinstance(node, dict):
            yield depth, node
            children = node.values()
        elif isinstance(node, list) and lists:
            children = node
        else:
            continue
        if depth < _MAX_DEPTH:
            for child in children:
                if isinstance(child, dict | list):
                    queue.append((depth + 1, child))


def find_documented_code(data: Any, *, success_status: bool = False) -> str | None:
    """The documented error code carried by a decoded body, or None (see the module docstring)."""
    if isinstance(data, str):
        return _any_code(data)
    if success_status and _is_result_shaped(data):
        return _code_in_result(data)
    # Structured members first, anywhere; then words inside messages, anywhere.
    return _code_in_members(data) or _code_in_list(data) or _code_in_messages(data)


def _any_code(value: Any) -> str | None:
    """A code named by the whole value, else as a word inside it."""
    return _exact_code(value) or _word_code(value)


def _first_code(values: Iterable[Any], find: Callable[[Any], str | None]) -> str | None:
    """The first code `find` finds among `values`."""
    for value in values:
        found = find(value)
        if found:
            return found
    return None


def _named_code(normalised_key: str, value: Any) -> str | None:
    """The code a code member (``code``, ``error`` ...) names: its whole value, else a word in it
    (not for ``status``, whose values are also order statuses)."""
    found = _exact_code(value)
    if found is None and normalised_key != "status":
        found = _word_code(value)
    return found


def _code_in_result(data: dict) -> str | None:
    """A result-shaped 2xx body: its top-level code members only (an object under one is searched
    as a body of its own), never its messages."""
    for key, value in data.items():
        normalised = _norm_key(key)
        if normalised not in _CODE_KEY_SET:
            continue
        found = _named_code(normalised, value)
        if found is None and normalised != "status" and isinstance(value, dict):
            found = find_documented_code(value)
        if found:
            return found
    return None


def _code_in_members(data: Any) -> str | None:
    """A code member anywhere in the body, breadth-first; a list under a code or container key
    counts by the items that are exactly a code."""
    for _, node in _walk(data, lists=True):
        for key, value in node.items():
            normalised = _norm_key(key)
            if isinstance(value, list):
                if normalised in _CODE_KEY_SET or normalised in _CONTAINER_KEYS:
                    found = _first_code(value, _exact_code)
                    if found:
                        return found
            elif normalised in _CODE_KEY_SET:
                found = _named_code(normalised, value)
                if found:
                    return found
    return None


def _code_in_list(data: Any) -> str | None:
    """A body that is a list: an item that is, or holds as a word, a code."""
    return _first_code(data, _any_code) if isinstance(data, list) else None


def _code_in_messages(data: Any) -> str | None:
    """A code written as a word inside a message member (or a list of messages), anywhere."""
    for _, node in _walk(data, lists=True):
        for key, value in node.items():
            if _norm_key(key) in _MESSAGE_KEYS:
                found = _first_code(value if isinstance(value, list) else (value,), _word_code)
                if found:
                    return found
    return None


def _supplier_code(data: Any) -> str | None:
    """The (undocumented) code an error envelope names, for the operator."""
    if not isinstance(data, dict):
        return None
    for key in ("code", "errorCode", "error_code", "error", "status"):
        value = data.get(key)
        if isinstance(value, str) and value and len(value) <= 80 and " " not in value.strip():
            return value.strip()
        if isinstance(value, dict):
            nested = _supplier_code(value)
            if nested:
                return nested
    return None


def _supplier_message(data: Any) -> str | None:
    if isinstance(data, str):
        return data[:500]
    if not isinstance(data, dict):
        return None
    for key in ("message", "description", "detail", "error_message", "msg", "error"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:500]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return "; ".join(value)[:500]
        if isinstance(value, dict):
            nested = _supplier_message(value)
            if nested:
                return nested
    return None


def _looks_like_error_envelope(data: Any) -> bool:
    if not isinstance(data, dict) or _is_result_shaped(data):
        return False
    if data.get("error") or data.get("errorCode") or data.get("errors"):
        return True
    if data.get("success") is False or data.get("ok") is False:
        return True
    status_code = data.get("statusCode")
    return isinstance(status_code, int) and not isinstance(status_code, bool) and status_code >= 400


def unknown_error_kind(http_status: int | None) -> str:
    """An undocumented error is transient when its status says "try later", else a refusal."""
    if http_status is not None and (http_status >= 500 or http_status in (408, 425, 429)):
        return TRANSIENT
    return REFUSAL


def error_for_code(code: str, **kwargs) -> SupplierError:
    cls = ERRORS_BY_CODE[code]
    return cls(kwargs.pop("message", "") or "", **kwargs)


def classify_decoded(status: int, data: Any, raw_body: str | None = None) -> SupplierError | None:
    """The error a decoded JSON body carries under HTTP `status`, or None for a good answer."""
    success = 200 <= status < 300
    message = _supplier_message(data)
    code = find_documented_code(data, success_status=success)
    if code is not None:
        return error_for_code(
            code, http_status=status, raw_body=raw_body, supplier_message=message, message=message
        )
    if success and not _looks_like_error_envelope(data):
        return None
    return UnknownSupplierError(
        message or "error answer without a documented code",
        kind=unknown_error_kind(status),
        http_status=status,
        raw_body=raw_body,
        supplier_message=message,
        supplier_code=_supplier_code(data),
    )


def _parse_constant(name: str):
    raise ValueError(f"{name} is not a number a supplier may send")


def loads(text: str | bytes) -> Any:
    """JSON with every non-integer number as `Decimal` and NaN/Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_parse_constant)


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<!doctype") or head.startswith("<html") or "<body" in head


def unreadable_body_error(status: int, text: str, raw_body: str | None) -> SupplierBadResponse:
    if not text.strip():
        what = "empty body"
    elif looks_like_html(text):
        what = "HTML page instead of JSON"
    else:
        what = "unreadable or truncated JSON"
    return SupplierBadResponse(what, http_status=status, raw_body=raw_body)


def classify_error_body(status: int, body_text: str | bytes) -> SupplierError | None:
    """The error carried by a response body under any HTTP status, or None for a good answer.

    A documented code is found wherever the contract says it may be (see the module docstring);
    an error answer without one is `UnknownSupplierError`; a body that is not JSON (HTML, truncated,
    empty) is `SupplierBadResponse`. `body_text` must already be redacted: its first
    `RAW_BODY_LIMIT` characters are kept on the error.
    """
    if isinstance(body_text, bytes):
        body_text = body_text.decode("utf-8", errors="replace")
    raw = mask_delivered_keys(body_text[: RAW_BODY_LIMIT + 200])[:RAW_BODY_LIMIT]
    try:
        data = loads(body_text)
    except (ValueError, RecursionError):
        return unreadable_body_error(status, body_text, raw)
    return classify_decoded(status, data, raw)
