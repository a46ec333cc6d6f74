"""Telegram: the users the supplier's bot knows, the user-info endpoint, and the Bot API.

*Known users.* The GamesDrop user-info endpoint returns a numeric ``userInfo.id`` only for users
who have talked to the supplier's bot; Telegram Stars can only be delivered to such ids in the
sandbox. The known users are a fixed built-in set (``igoryan34`` = 143594291 from the document,
and ``tg_user_01`` … ``tg_user_20`` = 500000001 … 500000020) plus whoever is registered through
``POST /sandbox/telegram/users``.

*Bot API.* ``POST /bot<token>/sendCustomRequest`` with ``{"method": "reportGiftPurchase",
"parameters": {...}}``. Every field is validated as the document says; errors answer HTTP 400
``{"ok": false, "error_code": 400, "description": "Bad Request: ..."}`` with Telegram-style
upper-case reasons (``AMOUNT_INVALID``, ``TRANSACTION_ID_DUPLICATE`` ...). Bot tokens must be
registered through ``POST /sandbox/telegram/bots``; an unknown token answers 401 "Unauthorized".
Reports are stored; ``transaction_id`` is unique per bot token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from typing import Any

from sandbox import wire
from sandbox.errors import SupplierError

FIRST_NAMES = (
    "Anna",
    "Boris",
    "Chen",
    "Dana",
    "Emre",
    "Farida",
    "Georg",
    "Hana",
    "Ivan",
    "Julia",
    "Kairat",
    "Lena",
    "Murat",
    "Nina",
    "Oleg",
    "Pavel",
    "Qadir",
    "Rita",
    "Selin",
    "Timur",
)

BUILT_IN_USERS: tuple[tuple[str, int, str], ...] = (("igoryan34", 143594291, "Igor"),) + tuple(
    (f"tg_user_{i:02d}", 500000000 + i, FIRST_NAMES[i - 1]) for i in range(1, 21)
)

USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
NOT_PUBLIC = (
    "Username format is valid, but user details are not publicly available. "
    "Full verification requires user interaction with the bot."
)
SALE_TYPES = ("listing", "offer", "auction")
#: A gift's identifier as Telegram writes them ("plushpepe-1", "durovscap-1010"): a gift the
#: sandbox's Telegram could not know otherwise.
GIFT_IDENTIFIER = re.compile(r"^[a-z0-9]+-[0-9]+$")


def fingerprint(secret: str | None) -> str | None:
    """A short, stable, non-reversible label for a token (request log, reports)."""
    if not secret:
        return None
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def _photo(user_id: int) -> str:
    digest = hashlib.sha256(f"photo:{user_id}".encode()).digest()
    return "AQADAgAD" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:24] + "..."


class TelegramDirectory:
    """Known Telegram users and registered bot tokens."""

    def __init__(self, state) -> None:
        self.state = state
        self._by_id = {uid: (name, uid, first) for name, uid, first in BUILT_IN_USERS}
        self._by_name = {name.lower(): (name, uid, first) for name, uid, first in BUILT_IN_USERS}

    def user_by_id(self, user_id: int) -> tuple[str, int, str] | None:
        with self.state.read() as db:
            row = db.execute("SELECT * FROM telegram_users WHERE id = ?", (user_id,)).fetchone()
        if row:
            return row["username"], row["id"], row["first_name"]
        return self._by_id.get(user_id)

    def user_by_name(self, username: str) -> tuple[str, int, str] | None:
        with self.state.read() as db:
            row = db.execute(
                "SELECT * FROM telegram_users WHERE username = ?", (username.lower(),)
            ).fetchone()
        if row:
            return row["username"], row["id"], row["first_name"]
        return self._by_name.get(username.lower())

    def register_user(
        self, db: sqlite3.Connection, username: str, user_id: int, first_name: str, now: float
    ) -> None:
        db.execute(
            "DELETE FROM telegram_users WHERE id = ? OR username = ?", (user_id, username.lower())
        )
        db.execute(
            "INSERT INTO telegram_users(id, username, first_name, created_at) VALUES (?,?,?,?)",
            (user_id, username.lower(), first_name, now),
        )

    def bot_known(self, token: str) -> bool:
        with self.state.read() as db:
            return (
                db.execute("SELECT 1 FROM telegram_bots WHERE token = ?", (token,)).fetchone()
                is not None
            )


def user_info(app, body: Any) -> dict[str, Any]:
    """``POST /api/aggregator/a6/telegram/user-info``: "@name", "name" or a numeric id."""
    if not isinstance(body, dict) or "username" not in body:
        raise SupplierError("INVALID_REQUEST_BODY", "username is required")
    raw = body["username"]
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise SupplierError("INVALID_REQUEST_BODY", "username must be a string")
    cleaned = str(raw).strip().lstrip("@")
    if cleaned.isdigit():
        known = app.telegram.user_by_id(int(cleaned))
    elif USERNAME.match(cleaned):
        known = app.telegram.user_by_name(cleaned)
    else:
        return {"valid": False, "username": cleaned, "message": "Invalid username format"}
    if known is None:
        return {
            "valid": True,
            "username": cleaned,
            "userInfo": {"username": cleaned, "first_name": cleaned},
            "message": NOT_PUBLIC,
        }
    username, user_id, first_name = known
    return {
        "valid": True,
        "username": username,
        "userInfo": {
            "id": user_id,
            "first_name": first_name,
            "username": username,
            "photo_url": _photo(user_id),
        },
        "message": "User account verified successfully",
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(params: dict[str, Any]) -> str | None:
    """The first problem with a ``reportGiftPurchase`` parameter set, or ``None``."""
    return _check_sale(params) or _check_gifts(params) or _check_people(params)


def _check_sale(params: dict[str, Any]) -> str | None:
    """The required parameters, then the transaction, its amount and the kind of sale."""
    for name in ("transaction_id", "transaction_date", "amount", "currency", "buyer_id"):
        if name not in params or params[name] is None:
            return f'parameter "{name}" is required'
    tid = params["transaction_id"]
    if not isinstance(tid, str) or not 1 <= len(tid) <= 64:
        return "TRANSACTION_ID_INVALID"
    if not _is_int(params["transaction_date"]) or params["transaction_date"] <= 0:
        return "TRANSACTION_DATE_INVALID"
    if not _is_int(params["amount"]) or params["amount"] <= 0:
        return "AMOUNT_INVALID"
    if params["currency"] not in ("USD", "TON"):
        return "CURRENCY_INVALID"
    if "sale_type" in params and params["sale_type"] not in SALE_TYPES:
        return "SALE_TYPE_INVALID"
    return None


def _check_gifts(params: dict[str, Any]) -> str | None:
    """Exactly one of ``gift_name`` and ``gift_names``, each a non-empty name."""
    has_one = params.get("gift_name") is not None
    has_many = params.get("gift_names") is not None
    if has_one == has_many:
        return "exactly one of gift_name and gift_names must be specified"
    if has_one and (
        not isinstance(params["gift_name"], str) or not GIFT_IDENTIFIER.match(params["gift_name"])
    ):
        return "GIFT_NAME_INVALID"
    if has_many:
        names = params["gift_names"]
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(name, str) and GIFT_IDENTIFIER.match(name) for name in names)
        ):
            return "GIFT_NAMES_INVALID"
    return None


def _check_people(params: dict[str, Any]) -> str | None:
    """The buyer's, seller's and recipient's ids given: positive integers."""
    for name in ("buyer_id", "seller_id", "recipient_id"):
        if name in params and params[name] is not None:
            if not _is_int(params[name]) or params[name] <= 0:
                return f"{name.upper()}_INVALID"
    return None


def _bad(description: str) -> tuple[int, dict[str, Any]]:
    return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}


def bot_request(app, bot_token: str, body: Any, now: float) -> tuple[int, dict[str, Any]]:
    """Handle ``sendCustomRequest`` for a bot token (already known to be registered)."""
    if not isinstance(body, dict):
        return _bad("request body must be a JSON object")
    method = body.get("method")
    if method is None:
        return _bad('parameter "method" is required')
    if method != "reportGiftPurchase":
        return _bad(f"custom method {method!s:.64} is not supported")
    params = body.get("parameters")
    if params is None:
        return _bad('parameter "parameters" is required')
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return _bad("parameters must be a JSON-serialized object")
    if not isinstance(params, dict):
        return _bad("parameters must be a JSON-serialized object")
    problem = _check(params)
    if problem:
        return _bad(problem)
    with app.state.tx() as db:
        exists = db.execute(
            "SELECT 1 FROM telegram_reports WHERE bot_token = ? AND transaction_id = ?",
            (bot_token, params["transaction_id"]),
        ).fetchone()
        if exists:
            return _bad("TRANSACTION_ID_DUPLICATE")
        db.execute(
            "INSERT INTO telegram_reports(bot_fp, bot_token, transaction_id, parameters, "
            "received_at) VALUES (?,?,?,?,?)",
            (
                fingerprint(bot_token),
                bot_token,
                params["transaction_id"],
                wire.encode(params).decode(),
                now,
            ),
        )
    return 200, {"ok": True, "result": True}
