"""The SQLite state file: schema, transactions, settings, accounts and the ledger.

Everything the sandbox knows lives in one SQLite file in WAL mode so that a restart loses
nothing. One server process owns the file; its request threads share one connection behind one
re-entrant lock, and every state change runs in a ``BEGIN IMMEDIATE`` transaction under that
lock. That makes balance arithmetic, refunds and transaction-id uniqueness race-free however
many client processes hit the server at once (SQLite itself serialises writers anyway, and the
work per request is tiny, so a finer scheme would buy nothing).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.money import DEFAULT_FX

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offers (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL,
    product_name TEXT NOT NULL,
    offer_name TEXT NOT NULL,
    category TEXT NOT NULL,
    price TEXT NOT NULL,
    currency TEXT NOT NULL,
    in_stock INTEGER NOT NULL,
    listed INTEGER NOT NULL DEFAULT 1,
    settlement TEXT NOT NULL,
    kind TEXT NOT NULL,
    is_key INTEGER NOT NULL,
    req_user INTEGER NOT NULL,
    req_server INTEGER NOT NULL,
    servers TEXT,
    count INTEGER NOT NULL DEFAULT 1,
    stars INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS account_offers (
    account_id INTEGER NOT NULL,
    offer_id INTEGER NOT NULL,
    price TEXT,
    in_stock INTEGER,
    PRIMARY KEY (account_id, offer_id)
);
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    management_token TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    balance_profile TEXT NOT NULL,
    postpaid INTEGER NOT NULL,
    balance_cents INTEGER NOT NULL DEFAULT 0,
    initial_cents INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    type TEXT NOT NULL,
    description TEXT NOT NULL,
    balance_after_cents INTEGER NOT NULL,
    created_at REAL NOT NULL,
    order_id INTEGER
);
CREATE INDEX IF NOT EXISTS ledger_account ON ledger(account_id, id);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    transaction_id TEXT NOT NULL,
    offer_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    product_name TEXT NOT NULL,
    offer_name TEXT NOT NULL,
    count INTEGER NOT NULL,
    price TEXT NOT NULL,
    currency TEXT NOT NULL,
    unit_cost_cents INTEGER NOT NULL,
    cost_cents INTEGER NOT NULL,
    is_key INTEGER NOT NULL,
    req_user INTEGER NOT NULL,
    req_server INTEGER NOT NULL,
    game_user_id TEXT,
    game_server_id TEXT,
    email TEXT,
    created_at REAL NOT NULL,
    submitted_until REAL NOT NULL,
    final_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT,
    keys TEXT,
    key_in_create INTEGER NOT NULL DEFAULT 1,
    fulfillment TEXT,
    refund_cents INTEGER NOT NULL DEFAULT 0,
    settled INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    is_test INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, transaction_id)
);
CREATE INDEX IF NOT EXISTS orders_due ON orders(account_id, settled, final_at);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL,
    kind TEXT NOT NULL,
    probability REAL NOT NULL,
    remaining INTEGER,
    delay REAL NOT NULL,
    code TEXT,
    status INTEGER,
    token_fp TEXT,
    processed INTEGER,
    seed INTEGER NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0,
    fired INTEGER NOT NULL DEFAULT 0,
    skip_first INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    token_fp TEXT,
    fault TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts);
CREATE TABLE IF NOT EXISTS telegram_bots (token TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_targets (
    account_id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS telegram_users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS telegram_reports (
    id INTEGER PRIMARY KEY,
    bot_fp TEXT NOT NULL,
    bot_token TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    parameters TEXT NOT NULL,
    received_at REAL NOT NULL,
    UNIQUE (bot_token, transaction_id)
);
"""

#: Settings and their defaults; ``POST /sandbox/settings`` validates against these.
DEFAULT_SETTINGS: dict[str, Any] = {
    "topup_delay_seconds": 20,
    "cancel_share": 0.05,
    "fail_share": 0.05,
    "partial_share": 0.0,
    "codegames_key_delay_seconds": 0,
    "codegames_keyless_share": 0.0,
    "price_drift": {"share": 0.0, "pct": 5},
    "price_drift_seconds": 60,
    "error_envelope": "standard",
    "error_http_status": None,
    "fx": dict(DEFAULT_FX),
}

PROFILES = ("FIAT", "USDT", "MIXED")
ACCOUNT_KINDS = ("gamesdrop", "codegames")

#: The first order id handed out (the documents' examples are in this range).
FIRST_ORDER_ID = 10222501


@dataclass(frozen=True, slots=True)
class Account:
    """One partner account (a shop token plus a separate management credential)."""

    id: int
    token: str
    management_token: str
    kind: str
    name: str
    balance_profile: str
    postpaid: bool
    balance_cents: int
    initial_cents: int

    @property
    def partner_id(self) -> int:
        return 100 + self.id

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Account:
        return cls(
            id=row["id"],
            token=row["token"],
            management_token=row["management_token"],
            kind=row["kind"],
            name=row["name"],
            balance_profile=row["balance_profile"],
            postpaid=bool(row["postpaid"]),
            balance_cents=row["balance_cents"],
            initial_cents=row["initial_cents"],
        )


class State:
    """The open state file: one connection, one lock, transactions, and small typed helpers."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.RLock()
        self._depth = 0
        self.conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the process lock (nested calls join the outer one)."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Reads under the lock (the connection is shared between threads)."""
        with self.lock:
            yield self.conn

    # -- meta and settings -------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def settings(self) -> dict[str, Any]:
        """The current settings (defaults overlaid with what was stored)."""
        with self.read() as db:
            rows = db.execute("SELECT key, value FROM settings").fetchall()
        current = json.loads(json.dumps(DEFAULT_SETTINGS))
        for row in rows:
            value = json.loads(row["value"])
            if row["key"] == "fx":
                current["fx"].update(value)
            else:
                current[row["key"]] = value
        return current

    def store_settings(self, db: sqlite3.Connection, values: dict[str, Any]) -> None:
        for key, value in values.items():
            db.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # -- accounts and ledger -----------------------------------------------------------

    def account_by_token(self, token: str) -> Account | None:
        with self.read() as db:
            row = db.execute("SELECT * FROM accounts WHERE token = ?", (token,)).fetchone()
        return Account.from_row(row) if row else None

    def account_by_management(self, credential: str) -> Account | None:
        with self.read() as db:
            row = db.execute(
                "SELECT * FROM accounts WHERE management_token = ?", (credential,)
            ).fetchone()
        return Account.from_row(row) if row else None

    def load_account(self, db: sqlite3.Connection, account_id: int) -> Account:
        row = db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return Account.from_row(row)

    def create_account(
        self,
        db: sqlite3.Connection,
        *,
        kind: str,
        balance_profile: str,
        postpaid: bool,
        balance_cents: int,
        token: str | None,
        management_token: str | None,
        name: str | None,
        now: float,
    ) -> Account:
        """Insert an account; a non-zero opening balance arrives as a DEPOSIT ledger row."""
        token = token or secrets.token_hex(16)
        management_token = management_token or secrets.token_hex(16)
        cur = db.execute(
            "INSERT INTO accounts(token, management_token, kind, name, balance_profile, "
            "postpaid, balance_cents, initial_cents, created_at) VALUES (?,?,?,?,?,?,0,?,?)",
            (
                token,
                management_token,
                kind,
                name or "",
                balance_profile,
                int(postpaid),
                balance_cents,
                now,
            ),
        )
        account_id = cur.lastrowid
        if not name:
            db.execute(
                "UPDATE accounts SET name = ? WHERE id = ?",
                (f"Partner {100 + account_id}", account_id),
            )
        if balance_cents:
            self.post_ledger(db, account_id, balance_cents, "DEPOSIT", "Initial deposit", now)
        return self.load_account(db, account_id)

    def post_ledger(
        self,
        db: sqlite3.Connection,
        account_id: int,
        amount_cents: int,
        kind: str,
        description: str,
        now: float,
        order_id: int | None = None,
    ) -> int:
        """Move the balance and write the ledger row; returns the balance after.

        ``createdAt`` never goes backwards within an account (a refund is dated when its order
        became final, but never before the row written just before it), so the ledger reads the
        same sorted by id or by time.
        """
        last = db.execute(
            "SELECT created_at FROM ledger WHERE account_id = ? ORDER BY id DESC LIMIT 1",
            (account_id,),
        ).fetchone()
        if last is not None and now < last["created_at"]:
            now = last["created_at"]
        row = db.execute(
            "UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ? "
            "RETURNING balance_cents",
            (amount_cents, account_id),
        ).fetchone()
        after = row["balance_cents"]
        db.execute(
            "INSERT INTO ledger(account_id, amount_cents, type, description, "
            "balance_after_cents, created_at, order_id) VALUES (?,?,?,?,?,?,?)",
            (account_id, amount_cents, kind, description, after, now, order_id),
        )
        return after
