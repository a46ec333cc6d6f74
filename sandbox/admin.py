"""The admin API under ``/sandbox/``: how tests and operators steer the sandbox.

Every call needs ``X-Sandbox-Admin: <admin key>`` (except ``GET /sandbox/health``). Bodies and
answers are JSON; errors are ``{"error": "..."}`` with 400 / 401 / 404 / 409. The routes are
listed in ``ROUTES`` and described in ``sandbox/README.md``.
"""

from __future__ import annotations

import hmac
import json
import random
import re
import time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, unquote

from sandbox import faults, orders, webhooks, wire
from sandbox.catalog import TEST_OFFER_ID, AccountTerms, Offer
from sandbox.errors import ENVELOPES
from sandbox.money import cents_to_decimal, round_price, to_cents
from sandbox.state import ACCOUNT_KINDS, DEFAULT_SETTINGS, PROFILES, Account
from sandbox.telegram import USERNAME, fingerprint


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bool(body: dict[str, Any], name: str, default=None):
    value = body.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise AdminError(400, f"{name} must be true or false")
    return value


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise AdminError(400, f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise AdminError(400, f"{name} must be a number") from exc
    if not number.is_finite():
        raise AdminError(400, f"{name} must be a number")
    return number


def _share(value: Any, name: str) -> float:
    number = float(_decimal(value, name))
    if not 0 <= number <= 1:
        raise AdminError(400, f"{name} must be between 0 and 1")
    return number


def _secret(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise AdminError(400, f"{name} must be a non-empty string without spaces")
    return value


# -- accounts ------------------------------------------------------------------------------


def _account(app, token: str) -> Account:
    account = app.state.account_by_token(unquote(token))
    if account is None:
        raise AdminError(404, "no such account")
    return account


def _account_view(app, account: Account, now: float) -> dict[str, Any]:
    account = app.state.account_by_token(account.token)
    return {
        "token": account.token,
        "management_token": account.management_token,
        "partnerId": account.partner_id,
        "kind": account.kind,
        "name": account.name,
        "balance_profile": account.balance_profile,
        "postpaid": account.postpaid,
        "balance": cents_to_decimal(account.balance_cents),
        "draftBalance": cents_to_decimal(orders.draft_cents(app.state, account.id, now)),
    }


def create_account(app, match, body, query, now):
    kind = body.get("kind", "gamesdrop")
    if kind not in ACCOUNT_KINDS:
        raise AdminError(400, f"kind must be one of {', '.join(ACCOUNT_KINDS)}")
    profile = str(body.get("balance_profile", "MIXED")).upper()
    if profile not in PROFILES:
        raise AdminError(400, f"balance_profile must be one of {', '.join(PROFILES)}")
    postpaid = _bool(body, "postpaid", False)
    balance = _decimal(body.get("balance", 0), "balance")
    if balance < 0:
        raise AdminError(400, "balance must not be negative")
    token = _secret(body.get("token"), "token")
    management = _secret(body.get("management_token"), "management_token")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise AdminError(400, "name must be a string")
    with app.state.tx() as db:
        for secret in (token, management):
            if (
                secret
                and db.execute(
                    "SELECT 1 FROM accounts WHERE token = ? OR management_token = ?",
                    (secret, secret),
                ).fetchone()
            ):
                raise AdminError(409, "token already in use")
        account = app.state.create_account(
            db,
            kind=kind,
            balance_profile=profile,
            postpaid=postpaid,
            balance_cents=to_cents(balance),
            token=token,
            management_token=management,
            name=name,
            now=now,
        )
    return 201, _account_view(app, account, now)


def list_accounts(app, match, body, query, now):
    with app.state.read() as db:
        rows = db.execute("SELECT * FROM accounts ORDER BY id").fetchall()
    return 200, {"accounts": [_account_view(app, Account.from_row(row), now) for row in rows]}


def get_account(app, match, body, query, now):
    account = _account(app, match["token"])
    orders.settle_due(app.state, account.id, now)
    return 200, _account_view(app, account, now)


def update_account(app, match, body, query, now):
    account = _account(app, match["token"])
    changes: dict[str, Any] = {}
    if "balance_profile" in body:
        profile = str(body["balance_profile"]).upper()
        if profile not in PROFILES:
            raise AdminError(400, f"balance_profile must be one of {', '.join(PROFILES)}")
        changes["balance_profile"] = profile
    if "postpaid" in body:
        changes["postpaid"] = int(_bool(body, "postpaid"))
    if "kind" in body:
        if body["kind"] not in ACCOUNT_KINDS:
            raise AdminError(400, f"kind must be one of {', '.join(ACCOUNT_KINDS)}")
        changes["kind"] = body["kind"]
    if "name" in body:
        changes["name"] = str(body["name"])
    with app.state.tx() as db:
        for column, value in changes.items():
            db.execute(
                f"UPDATE accounts SET {column} = ? WHERE id = ?",  # noqa: S608
                (value, account.id),
            )
    return 200, _account_view(app, account, now)


def deposit(app, match, body, query, now):
    account = _account(app, match["token"])
    amount = _decimal(body.get("amount"), "amount")
    if amount <= 0:
        raise AdminError(400, "amount must be positive")
    description = body.get("description") or "Deposit"
    orders.settle_due(app.state, account.id, now)
    with app.state.tx() as db:
        after = app.state.post_ledger(
            db, account.id, to_cents(amount), "DEPOSIT", str(description), now
        )
    return 200, {"balance": cents_to_decimal(after)}


def account_orders(app, match, body, query, now):
    account = _account(app, match["token"])
    orders.settle_due(app.state, account.id, now)
    transaction_id = (query.get("transactionId") or [None])[0]
    with app.state.read() as db:
        if transaction_id is None:
            rows = db.execute(
                "SELECT * FROM orders WHERE account_id = ? ORDER BY id", (account.id,)
            ).fetchall()
        else:
            rows = db.execute(
                "SELECT * FROM orders WHERE account_id = ? AND transaction_id = ? ORDER BY id",
                (account.id, transaction_id),
            ).fetchall()
    return 200, {"orders": [orders.describe(row, now) for row in rows]}


def purchases(app, match, body, query, now):
    """How many times an order was really bought (orders placed, PURCHASE rows written)."""
    account = _account(app, match["token"])
    orders.settle_due(app.state, account.id, now)
    transaction_id = (query.get("transactionId") or [None])[0]
    with app.state.read() as db:
        if transaction_id is None:
            rows = db.execute(
                "SELECT * FROM orders WHERE account_id = ? ORDER BY id", (account.id,)
            ).fetchall()
        else:
            rows = db.execute(
                "SELECT * FROM orders WHERE account_id = ? AND transaction_id = ? ORDER BY id",
                (account.id, transaction_id),
            ).fetchall()
        ids = [row["id"] for row in rows] or [0]
        charged = db.execute(
            f"SELECT COUNT(*) AS n FROM ledger WHERE type = 'PURCHASE' AND order_id IN "  # noqa: S608
            f"({','.join('?' for _ in ids)})",
            ids,
        ).fetchone()["n"]
    return 200, {
        "transactionId": transaction_id,
        "count": len(rows),
        "charged": charged,
        "orders": [orders.describe(row, now) for row in rows],
    }


# -- offers --------------------------------------------------------------------------------


def _offer_view(app, offer: Offer, now: float, settings=None) -> dict[str, Any]:
    settings = settings or app.state.settings()
    return {
        "offerId": offer.id,
        "productId": offer.product_id,
        "productName": offer.product_name,
        "offerName": offer.offer_name,
        "category": offer.category,
        "basePrice": offer.price,
        "price": app.catalog.price(offer, settings, now),
        "currency": offer.currency,
        "inStock": offer.in_stock,
        "listed": offer.listed,
        "settlementMethod": offer.settlement,
        "kind": offer.kind,
        "isReturnDataForCustomer": offer.is_key,
        "isRequiredGameUserId": offer.req_user,
        "isRequiredGameServerId": offer.req_server,
        "servers": offer.servers,
        "count": offer.count,
    }


def _offer_by_id(app, raw_id: str) -> Offer:
    app.catalog.refresh()
    offer = app.catalog.by_id.get(int(raw_id))
    if offer is None:
        raise AdminError(404, "no such offer")
    return offer


def list_offers(app, match, body, query, now):
    """Find offers by their hidden traits (kind, settlement, count ...) for tests."""
    app.catalog.refresh()

    def arg(name):
        return (query.get(name) or [None])[0]

    def flag(name):
        value = arg(name)
        return None if value is None else value.lower() in ("1", "true", "yes")

    kind, settlement, search = arg("kind"), arg("settlement"), arg("search")
    currency = arg("currency")
    in_stock, listed, req_server = flag("in_stock"), flag("listed"), flag("req_server")
    min_count = int(arg("min_count") or 1)
    limit = int(arg("limit") or 50)
    settings = app.state.settings()
    found = []
    for offer in app.catalog.offers:
        if (
            (kind and offer.kind != kind)
            or (settlement and offer.settlement != settlement)
            or (currency and offer.currency != currency)
            or (search and search.lower() not in offer.name_lc)
            or (in_stock is not None and offer.in_stock != in_stock)
            or (listed is not None and offer.listed != listed)
            or (req_server is not None and offer.req_server != req_server)
            or offer.count < min_count
        ):
            continue
        found.append(_offer_view(app, offer, now, settings))
        if len(found) >= limit:
            break
    return 200, {"offers": found, "total": len(app.catalog.offers)}


def get_offer(app, match, body, query, now):
    return 200, _offer_view(app, _offer_by_id(app, match["id"]), now)


def update_offer(app, match, body, query, now):
    offer = _offer_by_id(app, match["id"])
    changes: dict[str, Any] = {}
    if "price" in body:
        price = _decimal(body["price"], "price")
        if price <= 0:
            raise AdminError(400, "price must be positive")
        changes["price"] = format(round_price(price), "f")
    if "inStock" in body:
        changes["in_stock"] = int(_bool(body, "inStock"))
    if "listed" in body:
        changes["listed"] = int(_bool(body, "listed"))
    if "settlementMethod" in body:
        if body["settlementMethod"] not in PROFILES:
            raise AdminError(400, "settlementMethod must be FIAT, USDT or MIXED")
        changes["settlement"] = body["settlementMethod"]
    with app.state.tx() as db:
        for column, value in changes.items():
            db.execute(
                f"UPDATE offers SET {column} = ? WHERE id = ?",  # noqa: S608
                (value, offer.id),
            )
        version = app.catalog.bump(db)
    app.catalog.changed(
        version, [offer.id], listing_changed="listed" in changes or "settlement" in changes
    )
    return 200, _offer_view(app, app.catalog.by_id[offer.id], now)


def reprice(app, match, body, query, now):
    """Move the base price of a share of offers by ``pct`` percent (up or down)."""
    share = _share(body.get("share", 0.01), "share")
    pct = float(_decimal(body.get("pct", 5), "pct"))
    if pct <= 0:
        raise AdminError(400, "pct must be positive")
    app.catalog.refresh()
    seed = body.get("seed")
    rng = random.Random(
        f"sandbox-reprice:{app.seed if seed is None else seed}:{app.catalog.version}"
    )
    candidates = [offer for offer in app.catalog.offers if offer.id != TEST_OFFER_ID]
    chosen = sorted(
        rng.sample(candidates, min(len(candidates), round(share * len(candidates)))),
        key=lambda offer: offer.id,
    )
    updates = []
    for offer in chosen:
        factor = Decimal(str(1 + rng.choice((-1, 1)) * pct / 100))
        price = round_price(offer.price * factor)
        if price == offer.price:
            price = offer.price + Decimal("0.01")
        updates.append((format(price, "f"), offer.id))
    with app.state.tx() as db:
        db.executemany("UPDATE offers SET price = ? WHERE id = ?", updates)
        version = app.catalog.bump(db)
    app.catalog.changed(version, [offer.id for offer in chosen], listing_changed=False)
    return 200, {"changed": len(chosen), "offerIds": [offer.id for offer in chosen]}


# -- one account's own prices and stock ----------------------------------------------------


def _account_offer_view(app, account: Account, offer: Offer, now: float) -> dict[str, Any]:
    terms = app.catalog.terms_for(account.id, offer.id)
    settings = app.state.settings()
    return {
        "offerId": offer.id,
        "basePrice": offer.price,
        "price": app.catalog.price(offer, settings, now, terms),
        "inStock": app.catalog.in_stock(offer, terms),
        "own": None if terms is None else {"price": terms.price, "inStock": terms.in_stock},
    }


def list_account_offers(app, match, body, query, now):
    account = _account(app, match["token"])
    app.catalog.refresh()
    ids = sorted(app.catalog.account_terms(account.id))
    return 200, {
        "offers": [
            _account_offer_view(app, account, app.catalog.by_id[offer_id], now)
            for offer_id in ids
            if offer_id in app.catalog.by_id
        ]
    }


def get_account_offer(app, match, body, query, now):
    account = _account(app, match["token"])
    return 200, _account_offer_view(app, account, _offer_by_id(app, match["id"]), now)


def put_account_offer(app, match, body, query, now):
    """``{price?, inStock?}``: this account's own terms for the offer (``null`` clears one)."""
    account = _account(app, match["token"])
    offer = _offer_by_id(app, match["id"])
    unknown = set(body) - {"price", "inStock"}
    if unknown:
        raise AdminError(400, f"unknown fields {', '.join(sorted(unknown))}: use price, inStock")
    if not body:
        raise AdminError(400, "give price and / or inStock")
    current = app.catalog.terms_for(account.id, offer.id) or AccountTerms(None, None)
    price, in_stock = current.price, current.in_stock
    if "price" in body:
        price = None
        if body["price"] is not None:
            price = _decimal(body["price"], "price")
            if price <= 0:
                raise AdminError(400, "price must be positive")
            price = round_price(price)
    if "inStock" in body:
        in_stock = _bool(body, "inStock")
    with app.state.tx() as db:
        if price is None and in_stock is None:
            db.execute(
                "DELETE FROM account_offers WHERE account_id = ? AND offer_id = ?",
                (account.id, offer.id),
            )
        else:
            db.execute(
                "INSERT INTO account_offers(account_id, offer_id, price, in_stock) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(account_id, offer_id) DO UPDATE SET "
                "price = excluded.price, in_stock = excluded.in_stock",
                (
                    account.id,
                    offer.id,
                    None if price is None else format(price, "f"),
                    None if in_stock is None else int(in_stock),
                ),
            )
    return 200, _account_offer_view(app, account, offer, now)


def delete_account_offer(app, match, body, query, now):
    """Back to the catalog's price and stock for this account."""
    account = _account(app, match["token"])
    offer = _offer_by_id(app, match["id"])
    with app.state.tx() as db:
        db.execute(
            "DELETE FROM account_offers WHERE account_id = ? AND offer_id = ?",
            (account.id, offer.id),
        )
    return 200, _account_offer_view(app, account, offer, now)


# -- settings ------------------------------------------------------------------------------


def get_settings(app, match, body, query, now):
    return 200, app.state.settings()


def _number(value: Any, name: str, minimum: float = 0) -> float:
    number = float(_decimal(value, name))
    if number < minimum:
        raise AdminError(400, f"{name} must be at least {minimum}")
    return number


def _price_drift(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise AdminError(400, "price_drift must be an object {share, pct}")
    return {
        "share": _share(value.get("share", 0), "price_drift.share"),
        "pct": _number(value.get("pct", 5), "price_drift.pct"),
    }


def _fx(app, value: Any) -> dict[str, str]:
    """The stored rates with those given (currency: USD per unit) replaced or added."""
    if not isinstance(value, dict):
        raise AdminError(400, "fx must be an object {currency: rate}")
    rates = {}
    for currency, given in value.items():
        rate = _decimal(given, f"fx.{currency}")
        if rate <= 0:
            raise AdminError(400, f"fx.{currency} must be positive")
        rates[str(currency).upper()] = format(rate, "f")
    return {**app.state.settings()["fx"], **rates}


def _setting(app, name: str, value: Any) -> Any:
    """One setting's value checked (AdminError 400 when it is not valid), as it is stored."""
    if name in ("topup_delay_seconds", "codegames_key_delay_seconds"):
        return _number(value, name)
    if name == "price_drift_seconds":
        return _number(value, name, 0.001)
    if name in ("cancel_share", "fail_share", "partial_share", "codegames_keyless_share"):
        return _share(value, name)
    if name == "price_drift":
        return _price_drift(value)
    if name == "error_envelope":
        if value not in ENVELOPES:
            raise AdminError(400, f"error_envelope must be one of {', '.join(ENVELOPES)}")
        return value
    if name == "error_http_status":
        if value is not None and (not isinstance(value, int) or not 100 <= value <= 599):
            raise AdminError(400, "error_http_status must be null or an HTTP status")
        return value
    if name == "fx":
        return _fx(app, value)
    raise AdminError(400, f"unknown setting {name}")


def post_settings(app, match, body, query, now):
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name not in DEFAULT_SETTINGS:
            raise AdminError(400, f"unknown setting {name}")
        values[name] = _setting(app, name, value)
    merged = {**app.state.settings(), **values}
    if merged["cancel_share"] + merged["fail_share"] > 1:
        raise AdminError(400, "cancel_share + fail_share must not exceed 1")
    with app.state.tx() as db:
        app.state.store_settings(db, values)
    return 200, app.state.settings()


# -- faults --------------------------------------------------------------------------------


def add_fault(app, match, body, query, now):
    try:
        with app.state.tx() as db:
            fault_id = faults.add(db, body, app.seed, fingerprint, now)
            row = db.execute("SELECT * FROM faults WHERE id = ?", (fault_id,)).fetchone()
    except faults.FaultSpecError as exc:
        raise AdminError(400, str(exc)) from exc
    return 201, faults.describe(row)


def list_faults(app, match, body, query, now):
    with app.state.read() as db:
        rows = db.execute("SELECT * FROM faults ORDER BY id").fetchall()
    return 200, {"faults": [faults.describe(row) for row in rows]}


def clear_faults(app, match, body, query, now):
    with app.state.tx() as db:
        removed = db.execute("DELETE FROM faults").rowcount
    return 200, {"removed": removed}


def remove_fault(app, match, body, query, now):
    with app.state.tx() as db:
        removed = db.execute("DELETE FROM faults WHERE id = ?", (int(match["id"]),)).rowcount
    if not removed:
        raise AdminError(404, "no such fault")
    return 200, {"removed": removed}


# -- telegram ------------------------------------------------------------------------------


def add_bot(app, match, body, query, now):
    token = _secret(body.get("token"), "token")
    if not token or "/" in token:
        raise AdminError(400, "token is required (no slashes)")
    with app.state.tx() as db:
        db.execute(
            "INSERT OR IGNORE INTO telegram_bots(token, created_at) VALUES (?, ?)", (token, now)
        )
    return 201, {"token": token}


def add_user(app, match, body, query, now):
    username = str(body.get("username") or "").lstrip("@")
    user_id = body.get("id")
    if not USERNAME.match(username):
        raise AdminError(400, "username must be a valid Telegram username")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise AdminError(400, "id must be a positive integer")
    first_name = str(body.get("first_name") or username)
    with app.state.tx() as db:
        app.telegram.register_user(db, username, user_id, first_name, now)
    return 201, {"username": username.lower(), "id": user_id, "first_name": first_name}


def list_reports(app, match, body, query, now):
    bot = (query.get("bot") or [None])[0]
    with app.state.read() as db:
        if bot:
            rows = db.execute(
                "SELECT * FROM telegram_reports WHERE bot_token = ? ORDER BY id", (bot,)
            ).fetchall()
        else:
            rows = db.execute("SELECT * FROM telegram_reports ORDER BY id").fetchall()
    return 200, {
        "reports": [
            {
                "id": row["id"],
                "botFingerprint": row["bot_fp"],
                "transaction_id": row["transaction_id"],
                "parameters": wire.decode(row["parameters"].encode()),
                "receivedAt": row["received_at"],
            }
            for row in rows
        ]
    }


# -- request log and reset -----------------------------------------------------------------


def list_requests(app, match, body, query, now):
    clauses, params = [], []
    token = (query.get("token") or [None])[0]
    if token:
        clauses.append("token_fp = ?")
        params.append(fingerprint(token))
    endpoint = (query.get("endpoint") or [None])[0]
    if endpoint:
        clauses.append("endpoint = ?")
        params.append(endpoint)
    since = (query.get("since") or [None])[0]
    if since:
        clauses.append("ts >= ?")
        params.append(float(since))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with app.state.read() as db:
        rows = db.execute(
            f"SELECT * FROM requests {where} ORDER BY ts, id",  # noqa: S608
            params,
        ).fetchall()
    return 200, {
        "requests": [
            {
                "id": row["id"],
                "ts": row["ts"],
                "time": wire.iso_time_micro(row["ts"]),
                "method": row["method"],
                "path": row["path"],
                "endpoint": row["endpoint"],
                "tokenFingerprint": row["token_fp"],
                "fault": row["fault"],
            }
            for row in rows
        ],
        "count": len(rows),
    }


def clear_requests(app, match, body, query, now):
    with app.state.tx() as db:
        removed = db.execute("DELETE FROM requests").rowcount
    return 200, {"removed": removed}


def reset(app, match, body, query, now):
    """Wipe orders, ledger, faults, request log, Telegram reports, settings, accounts' own terms.

    Accounts, the catalog (with its admin changes) and registered Telegram bots and users stay;
    every balance goes back to the account's opening balance, re-deposited as a DEPOSIT row.
    """
    with app.state.tx() as db:
        for table in (
            "orders",
            "ledger",
            "faults",
            "requests",
            "telegram_reports",
            "settings",
            "webhook_targets",
            "account_offers",
        ):
            db.execute(f"DELETE FROM {table}")  # noqa: S608
        db.execute("UPDATE accounts SET balance_cents = 0")
        for row in db.execute("SELECT id, initial_cents FROM accounts").fetchall():
            if row["initial_cents"]:
                app.state.post_ledger(
                    db, row["id"], row["initial_cents"], "DEPOSIT", "Initial deposit", now
                )
    return 200, {"reset": True}


# -- webhooks -------------------------------------------------------------------------------


def _webhook_view(app, account: Account) -> dict[str, Any]:
    target = app.webhooks.target(account.id)
    view: dict[str, Any] = {"enabled": target is not None, "stats": app.webhooks.stats(account.id)}
    if target is not None:
        view.update({k: v for k, v in target.items() if k != "secret"})
    return view


def get_webhook(app, match, body, query, now):
    return 200, _webhook_view(app, _account(app, match["token"]))


def put_webhook(app, match, body, query, now):
    """``{url, secret, <option>...}``: send this account's order events to ``url``."""
    account = _account(app, match["token"])
    url, secret = body.get("url"), body.get("secret")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise AdminError(400, "url must be an http(s) URL")
    if not webhooks.valid_secret(secret):
        raise AdminError(400, "secret must be whsec_ followed by base64")
    unknown = set(body) - {"url", "secret", *webhooks.DEFAULTS}
    if unknown:
        raise AdminError(400, f"unknown webhook options: {', '.join(sorted(unknown))}")
    options: dict[str, Any] = {}
    for name in webhooks.DEFAULTS:
        if name not in body:
            continue
        if name in webhooks.SHARES:
            options[name] = _share(body[name], name)
        elif name == "max_attempts":
            options[name] = max(1, int(_number(body[name], name, minimum=1)))
        else:
            options[name] = _number(body[name], name)
    app.webhooks.configure(account.id, url, secret, options)
    return 200, _webhook_view(app, account)


def delete_webhook(app, match, body, query, now):
    account = _account(app, match["token"])
    app.webhooks.remove(account.id)
    return 200, _webhook_view(app, account)


def health(app, match, body, query, now):
    return 200, {"ok": True, "offers": len(app.catalog.offers), "seed": app.seed}


ROUTES: list[tuple[str, re.Pattern[str], Any]] = [
    (method, re.compile(f"^/sandbox{pattern}$"), handler)
    for method, pattern, handler in (
        ("POST", "/accounts", create_account),
        ("GET", "/accounts", list_accounts),
        ("GET", r"/accounts/(?P<token>[^/]+)", get_account),
        ("POST", r"/accounts/(?P<token>[^/]+)", update_account),
        ("POST", r"/accounts/(?P<token>[^/]+)/deposit", deposit),
        ("GET", r"/accounts/(?P<token>[^/]+)/orders", account_orders),
        ("GET", r"/accounts/(?P<token>[^/]+)/purchases", purchases),
        ("GET", r"/accounts/(?P<token>[^/]+)/webhook", get_webhook),
        ("POST", r"/accounts/(?P<token>[^/]+)/webhook", put_webhook),
        ("DELETE", r"/accounts/(?P<token>[^/]+)/webhook", delete_webhook),
        ("GET", r"/accounts/(?P<token>[^/]+)/offers", list_account_offers),
        ("GET", r"/accounts/(?P<token>[^/]+)/offers/(?P<id>\d+)", get_account_offer),
        ("POST", r"/accounts/(?P<token>[^/]+)/offers/(?P<id>\d+)", put_account_offer),
        ("DELETE", r"/accounts/(?P<token>[^/]+)/offers/(?P<id>\d+)", delete_account_offer),
        ("GET", "/offers", list_offers),
        ("POST", "/offers/reprice", reprice),
        ("GET", r"/offers/(?P<id>\d+)", get_offer),
        ("POST", r"/offers/(?P<id>\d+)", update_offer),
        ("GET", "/settings", get_settings),
        ("POST", "/settings", post_settings),
        ("POST", "/faults", add_fault),
        ("GET", "/faults", list_faults),
        ("DELETE", "/faults", clear_faults),
        ("DELETE", r"/faults/(?P<id>\d+)", remove_fault),
        ("POST", "/telegram/bots", add_bot),
        ("POST", "/telegram/users", add_user),
        ("GET", "/telegram/reports", list_reports),
        ("GET", "/requests", list_requests),
        ("DELETE", "/requests", clear_requests),
        ("POST", "/reset", reset),
        ("GET", "/health", health),
    )
]


def handle(
    app, method: str, path: str, query_string: str, admin_header: str | None, raw: bytes
) -> tuple[int, Any]:
    """Run one admin request; returns ``(status, payload)``."""
    now = time.time()
    matched = [(m, pattern.match(path), handler) for m, pattern, handler in ROUTES]
    matched = [(m, match, handler) for m, match, handler in matched if match]
    if not matched:
        return 404, {"error": f"no admin route {path}"}
    chosen = next(((match, handler) for m, match, handler in matched if m == method), None)
    if chosen is None:
        return 405, {"error": f"{method} not allowed on {path}"}
    match, handler = chosen
    if handler is not health and not hmac.compare_digest(
        (admin_header or "").encode(), app.admin_key.encode()
    ):
        return 401, {"error": "X-Sandbox-Admin header missing or wrong"}
    try:
        body = wire.decode(raw) if raw.strip() else {}
    except ValueError:
        return 400, {"error": "body is not valid JSON"}
    if not isinstance(body, dict):
        return 400, {"error": "body must be a JSON object"}
    try:
        return handler(app, match.groupdict(), body, parse_qs(query_string), now)
    except AdminError as exc:
        return exc.status, {"error": exc.message}
    except (ValueError, json.JSONDecodeError) as exc:
        return 400, {"error": str(exc)}
