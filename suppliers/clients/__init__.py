"""Supplier API clients: plain Python (no Django), typed results, one error taxonomy.

- `GamesDropClient`, `CodeGamesClient` (the shared ``/api/v1/offers/*`` shape lives in
  `offers_api`), `TelegramBotClient` (reportGiftPurchase).
- Errors (`errors`): every failure is a `SupplierError` of kind refusal / transient / ambiguous.
  A documented code is recognised anywhere in an error body, under any HTTP status
  (docs/supplier-contract.md). create-order is never retried; whatever may have created the order
  is `OrderOutcomeUnknown`, resolved with order-status by transactionId.
- Transport (`transport`): one session, timeouts on every call, exact `Decimal` JSON, retries with
  backoff and jitter for reads only, a `throttle` hook before every attempt, `on_request` metrics.
- Credentials never appear in messages, reprs or log records (`redaction`).

The back-office's services wrap these clients; nothing else calls them.
"""

from suppliers.clients.codegames import CodeGamesClient
from suppliers.clients.errors import (
    AMBIGUOUS,
    DOCUMENTED_CODES,
    ERRORS_BY_CODE,
    REFUSAL,
    TRANSIENT,
    BalanceUnavailable,
    GiftReportOutcomeUnknown,
    InsufficientBalance,
    InvalidRequestBody,
    InvalidToken,
    MissingCredential,
    OfferNotFound,
    OrderAlreadyCanceled,
    OrderAlreadyRefunded,
    OrderNotCompleted,
    OrderNotFound,
    OrderNotProcessing,
    OrderOutcomeUnknown,
    OutcomeUnknown,
    OutOfStock,
    ServiceUnavailable,
    SupplierBadResponse,
    SupplierError,
    SupplierUnreachable,
    TelegramApiError,
    TransactionDuplicate,
    UnknownSupplierError,
    WrongPrice,
    classify_error_body,
)
from suppliers.clients.gamesdrop import GamesDropClient
from suppliers.clients.redaction import Secret, redact
from suppliers.clients.telegram import (
    InvalidGiftReport,
    TelegramBotClient,
    build_gift_report,
    to_smallest_units,
    ton_to_nanotons,
    usd_to_cents,
)
from suppliers.clients.transport import Transport, dumps_exact
from suppliers.clients.types import (
    Balance,
    LedgerPage,
    LedgerTransaction,
    Offer,
    OrderResult,
    PlayerCheck,
    RejectedRow,
    Server,
    Servers,
    SyncPage,
    SyncRow,
    TelegramUser,
    parse_timestamp,
)

__all__ = [
    "AMBIGUOUS",
    "DOCUMENTED_CODES",
    "ERRORS_BY_CODE",
    "REFUSAL",
    "TRANSIENT",
    "Balance",
    "BalanceUnavailable",
    "CodeGamesClient",
    "GamesDropClient",
    "GiftReportOutcomeUnknown",
    "InsufficientBalance",
    "InvalidGiftReport",
    "InvalidRequestBody",
    "InvalidToken",
    "LedgerPage",
    "LedgerTransaction",
    "MissingCredential",
    "Offer",
    "OfferNotFound",
    "OrderAlreadyCanceled",
    "OrderAlreadyRefunded",
    "OrderNotCompleted",
    "OrderNotFound",
    "OrderNotProcessing",
    "OrderOutcomeUnknown",
    "OrderResult",
    "OutOfStock",
    "OutcomeUnknown",
    "PlayerCheck",
    "Secret",
    "Server",
    "Servers",
    "ServiceUnavailable",
    "SupplierBadResponse",
    "SupplierError",
    "SupplierUnreachable",
    "RejectedRow",
    "SyncPage",
    "SyncRow",
    "TelegramApiError",
    "TelegramBotClient",
    "TelegramUser",
    "TransactionDuplicate",
    "Transport",
    "UnknownSupplierError",
    "WrongPrice",
    "build_gift_report",
    "classify_error_body",
    "dumps_exact",
    "parse_timestamp",
    "redact",
    "to_smallest_units",
    "ton_to_nanotons",
    "usd_to_cents",
]
