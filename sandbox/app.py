"""The sandbox application: the state file, the catalog mirror, the Telegram directory.

One ``Sandbox`` object is shared by all request threads. Opening a state file that already
holds a catalog reuses it (and its seed) instead of generating a new one, so a restart keeps
every account, order, price change and fault.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from sandbox import catalog, faults
from sandbox.catalog import Catalog
from sandbox.state import State
from sandbox.telegram import TelegramDirectory, fingerprint
from sandbox.webhooks import Dispatcher

DEMO_DEPOSIT_CENTS = 1_000_000


class Sandbox:
    """Everything a request handler needs."""

    def __init__(
        self, state_path: Path, offers: int, seed: int, admin_key: str, log_requests: bool = False
    ) -> None:
        self.state = State(state_path)
        self.admin_key = admin_key
        self.log_requests = log_requests
        self._last_request_ts = 0.0
        stored_seed = self.state.meta("seed")
        if stored_seed is None:
            rows = catalog.generate(offers, seed)
            with self.state.tx() as db:
                catalog.store(db, rows)
                self.state.set_meta(db, "seed", str(seed))
                self.state.set_meta(db, "offers", str(len(rows)))
                self.state.set_meta(db, "catalog_version", "1")
            with self.state.read() as db:  # fold the big first write into the main file
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.seed = seed
        else:
            self.seed = int(stored_seed)
            stored_offers = self.state.meta("offers")
            if self.seed != seed or str(offers) != stored_offers:
                print(
                    f"sandbox: reusing the catalog in {state_path} (seed {self.seed}, "
                    f"{stored_offers} offers); --seed/--offers ignored",
                    file=sys.stderr,
                )
        self.catalog = Catalog(self.state, self.seed)
        self.catalog.refresh()
        self.telegram = TelegramDirectory(self.state)
        self.webhooks = Dispatcher(self)

    def close(self) -> None:
        self.webhooks.close()
        self.state.close()

    def ensure_demo(self, token: str, management_token: str | None) -> None:
        """The demo account: gamesdrop, MIXED, prepaid, USD 10,000 deposited once."""
        management_token = (
            management_token or hashlib.sha256(f"management:{token}".encode()).hexdigest()[:32]
        )
        now = time.time()
        with self.state.tx() as db:
            row = db.execute("SELECT id FROM accounts WHERE token = ?", (token,)).fetchone()
            if row:
                db.execute(
                    "UPDATE accounts SET management_token = ? WHERE id = ?",
                    (management_token, row["id"]),
                )
                return
            self.state.create_account(
                db,
                kind="gamesdrop",
                balance_profile="MIXED",
                postpaid=False,
                balance_cents=DEMO_DEPOSIT_CENTS,
                token=token,
                management_token=management_token,
                name="Demo partner",
                now=now,
            )

    def arrive(self, endpoint: str, method: str, path: str, token: str | None):
        """Log a supplier request and pick the fault (if any) it meets, in one transaction."""
        token_fp = fingerprint(token)
        with self.state.tx() as db:
            fault = faults.pick(db, endpoint, token_fp)
            ts = max(time.time(), self._last_request_ts + 1e-6)
            self._last_request_ts = ts
            db.execute(
                "INSERT INTO requests(ts, method, path, endpoint, token_fp, fault) "
                "VALUES (?,?,?,?,?,?)",
                (ts, method, path, endpoint, token_fp, fault.kind if fault else None),
            )
        return fault
