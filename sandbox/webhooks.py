"""Signed webhooks to an account's receiver (Standard Webhooks), sent by background threads.

An account configured with a receiver ``url`` and a signing ``secret`` (``whsec_`` + base64, the
Standard Webhooks form) gets, for every order it places:

* ``order.created`` at once, with the order as create-order answered it;
* ``order.fulfilled`` (COMPLETED) or ``order.failed`` (CANCELED / FAILED) when the order becomes
  final (at once for keys and Stars, after ``topup_delay_seconds`` for top-ups).

The body is ``{"type", "timestamp", "data"}``, ``data`` being the order-status body of the order
at the moment of the event. Headers ``webhook-id`` (one per event, kept across retries),
``webhook-timestamp`` (the moment of sending, epoch seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``).

A receiver that does not answer 2xx (or cannot be reached) is retried with back-off:
``retry_base_seconds`` doubling up to ``retry_max_seconds``, ``max_attempts`` in all.

Faults (shares between 0 and 1, drawn from a RNG seeded by the sandbox seed and the event id):

* ``duplicate``: the event is delivered twice (same ``webhook-id``);
* ``reorder``: the order's ``order.created`` is held back until ``reorder_seconds`` after its
  final event (events arrive out of order);
* ``late`` / ``late_seconds``: the event leaves ``late_seconds`` late;
* ``bad_signature``: a copy signed with a wrong secret is sent first (once, never retried);
* ``replay_old``: after delivery, a copy is sent again signed ``replay_age_seconds`` in the past
  (a captured old event replayed; once, never retried).

Sending never blocks a request: the request thread only pushes onto an in-memory queue (a heap
ordered by due time) that ``WORKERS`` threads drain. Pending deliveries do not survive a
restart; the configuration does (table ``webhook_targets``).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from sandbox import wire

WORKERS = 4
SEND_TIMEOUT_SECONDS = 5.0
DEFAULTS: dict[str, Any] = {
    "retry_base_seconds": 1.0,
    "retry_max_seconds": 60.0,
    "max_attempts": 10,
    "duplicate": 0.0,
    "reorder": 0.0,
    "reorder_seconds": 1.0,
    "late": 0.0,
    "late_seconds": 3.0,
    "bad_signature": 0.0,
    "replay_old": 0.0,
    "replay_age_seconds": 600.0,
}
SHARES = ("duplicate", "reorder", "late", "bad_signature", "replay_old")
EVENT_TYPES = {"COMPLETED": "order.fulfilled", "CANCELED": "order.failed", "FAILED": "order.failed"}


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``v1`` signature of a message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def valid_secret(secret: Any) -> bool:
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        return False
    try:
        return bool(base64.b64decode(secret.removeprefix("whsec_"), validate=True))
    except ValueError:
        return False


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    account_id: int = field(compare=False)
    msg_id: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(default=0, compare=False)
    #: "genuine" (retried until delivered), "forged" or "replay" (sent once).
    copy: str = field(default="genuine", compare=False)


@dataclass
class Stats:
    events: int = 0
    attempts: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    duplicates: int = 0
    forged_sent: int = 0
    replays_sent: int = 0
    pending: int = 0


class Dispatcher:
    """The queue of deliveries and the threads that send them."""

    def __init__(self, app) -> None:
        self.app = app
        self._heap: list[Delivery] = []
        self._seq = itertools.count()
        self._lock = threading.Condition()
        self._stats: dict[int, Stats] = {}
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"sandbox-webhooks-{n}", daemon=True)
            for n in range(WORKERS)
        ]
        for thread in self._threads:
            thread.start()

    # -- configuration (the webhook_targets table) ---------------------------------------

    def target(self, account_id: int) -> dict[str, Any] | None:
        with self.app.state.read() as db:
            row = db.execute(
                "SELECT url, secret, options FROM webhook_targets WHERE account_id = ?",
                (account_id,),
            ).fetchone()
        if row is None:
            return None
        return {
            "url": row["url"],
            "secret": row["secret"],
            **DEFAULTS,
            **json.loads(row["options"]),
        }

    def configure(self, account_id: int, url: str, secret: str, options: dict[str, Any]) -> None:
        with self.app.state.tx() as db:
            db.execute(
                "INSERT INTO webhook_targets(account_id, url, secret, options) VALUES (?,?,?,?) "
                "ON CONFLICT(account_id) DO UPDATE SET url = excluded.url, "
                "secret = excluded.secret, options = excluded.options",
                (account_id, url, secret, json.dumps(options)),
            )

    def remove(self, account_id: int) -> None:
        with self.app.state.tx() as db:
            db.execute("DELETE FROM webhook_targets WHERE account_id = ?", (account_id,))

    def stats(self, account_id: int) -> dict[str, int]:
        with self._lock:
            return dict(vars(self._stats.get(account_id, Stats())))

    # -- events ----------------------------------------------------------------------------

    def order_placed(self, account_id: int, order, now: float) -> None:
        """Queue the order's events (called by create-order once the order is stored)."""
        target = self.target(account_id)
        if target is None:
            return
        from sandbox.gamesdrop import _gamesdrop_order
        from sandbox.orders import status_at

        final_at = max(order["final_at"], now)
        created_id = f"msg_{self.app.seed}_{order['id']}_created"
        final_id = f"msg_{self.app.seed}_{order['id']}_final"
        rng = random.Random(f"sandbox-webhook:{self.app.seed}:{order['id']}")
        created_at = now
        if rng.random() < target["reorder"]:
            created_at = final_at + float(target["reorder_seconds"])
        final_status = status_at(order, final_at)
        events = [
            (created_id, "order.created", now, created_at),
            (final_id, EVENT_TYPES.get(final_status, "order.updated"), final_at, final_at),
        ]
        for msg_id, event_type, happened, due in events:
            data = _gamesdrop_order(order, happened, created=event_type == "order.created")
            body = wire.encode(
                {"type": event_type, "timestamp": wire.iso_time(happened), "data": data}
            )
            self._queue(target, rng, account_id, msg_id, body, due)

    def _queue(self, target, rng: random.Random, account_id: int, msg_id, body, due) -> None:
        if rng.random() < target["late"]:
            due += float(target["late_seconds"])
        copies = [Delivery(due, 0, account_id, msg_id, body)]
        if rng.random() < target["bad_signature"]:
            copies.insert(0, Delivery(due, 0, account_id, msg_id, body, copy="forged"))
        if rng.random() < target["duplicate"]:
            copies.append(Delivery(due + 0.05, 0, account_id, msg_id, body))
        replay = rng.random() < target["replay_old"]
        with self._lock:
            stats = self._stats.setdefault(account_id, Stats())
            stats.events += 1
            stats.duplicates += len(copies) - 1 - (copies[0].copy == "forged")
            for copy in copies:
                copy.seq = next(self._seq)
                stats.pending += 1
                heapq.heappush(self._heap, copy)
            if replay:
                late = Delivery(due + 0.5, next(self._seq), account_id, msg_id, body, copy="replay")
                stats.pending += 1
                heapq.heappush(self._heap, late)
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()

    # -- sending ----------------------------------------------------------------------------

    def _next(self) -> Delivery | None:
        with self._lock:
            while not self._stopping:
                if self._heap:
                    wait = self._heap[0].due - time.time()
                    if wait <= 0:
                        return heapq.heappop(self._heap)
                    self._lock.wait(min(wait, 1.0))
                else:
                    self._lock.wait(1.0)
            return None

    def _work(self) -> None:
        while (delivery := self._next()) is not None:
            try:
                self._send(delivery)
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the worker
                self._count(delivery.account_id, "given_up", done=True)

    def _send(self, delivery: Delivery) -> None:
        target = self.target(delivery.account_id)
        if target is None:  # webhooks turned off meanwhile
            self._count(delivery.account_id, "given_up", done=True)
            return
        stamp = int(time.time())
        secret = target["secret"]
        if delivery.copy == "forged":
            secret = "whsec_" + base64.b64encode(b"not-the-account-secret").decode()
        if delivery.copy == "replay":
            stamp -= int(float(target["replay_age_seconds"]))
        # The URL is checked to be http(s) when it is configured (admin API).
        request = urllib.request.Request(  # noqa: S310
            target["url"],
            data=delivery.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "webhook-id": delivery.msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(secret, delivery.msg_id, stamp, delivery.body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:  # noqa: S310
                ok = 200 <= response.status < 300
        except urllib.error.HTTPError as error:
            ok = False
            error.close()
        except (OSError, ValueError):
            ok = False
        if delivery.copy != "genuine":
            name = "forged_sent" if delivery.copy == "forged" else "replays_sent"
            self._count(delivery.account_id, name, done=True)
            return
        if ok:
            self._count(delivery.account_id, "delivered", done=True)
            return
        delivery.attempt += 1
        if delivery.attempt >= int(target["max_attempts"]):
            self._count(delivery.account_id, "given_up", done=True)
            return
        self._count(delivery.account_id, "failed_attempts", done=False)
        backoff = float(target["retry_base_seconds"]) * 2 ** (delivery.attempt - 1)
        delivery.due = time.time() + min(backoff, float(target["retry_max_seconds"]))
        with self._lock:
            delivery.seq = next(self._seq)
            heapq.heappush(self._heap, delivery)
            self._lock.notify_all()

    def _count(self, account_id: int, name: str, *, done: bool) -> None:
        with self._lock:
            stats = self._stats.setdefault(account_id, Stats())
            stats.attempts += 1
            setattr(stats, name, getattr(stats, name) + 1)
            if done:
                stats.pending -= 1
