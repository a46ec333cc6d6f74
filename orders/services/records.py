"""What the order services write on an order: prices as the supplier wrote them, transaction ids
and claim tokens, and what staff may read about a failure."""

from __future__ import annotations

import os
import socket
import threading
import uuid

from orders.services.limits import ERROR_TEXT_LIMIT, TRANSACTION_ID_PREFIX
from reseller.core.money import money  # noqa: F401 (the order services write prices with it)
from suppliers.clients import SupplierError
from suppliers.ratelimit import RateLimitSaturated


def new_transaction_id() -> str:
    return TRANSACTION_ID_PREFIX + uuid.uuid4().hex


def new_claim_token() -> str:
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"[:100]


def error_text(error: BaseException) -> str:
    """What staff may read about a failure: supplier errors are safe by construction (no token,
    keys masked); anything else is named by its type only."""
    if isinstance(error, SupplierError):
        text = str(error)
    elif isinstance(error, RateLimitSaturated | ValueError):
        text = f"{type(error).__name__}: {error}"
    else:
        text = f"Internal error ({type(error).__name__})"
    return text[:ERROR_TEXT_LIMIT]


def error_data(error: BaseException) -> dict:
    if isinstance(error, SupplierError):
        data = {"error": type(error).__name__, "code": error.code, "http_status": error.http_status}
        cause = getattr(error, "cause", None)
        if isinstance(cause, SupplierError):
            # What lies behind an ambiguous answer (SERVICE_UNAVAILABLE, a timeout ...).
            data["cause_code"] = cause.code
            data["cause"] = type(cause).__name__
        return data
    return {"error": type(error).__name__}
