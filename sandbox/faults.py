"""Fault injection: rules that make a supplier endpoint misbehave, reproducibly.

A rule names an endpoint (or ``*``), a kind, a probability, how many times it may fire
(``count``, unlimited when absent), how many matching requests to let through untouched first
(``after``, e.g. ``after: 2`` makes the third sync page fail), an optional ``token`` (only that account's / bot's requests)
and a ``seed``. Whether the n-th request a rule sees fires is drawn from
``Random("seed:n")`` (the seed defaults to ``sandbox seed * 1000 + rule id``), so the same
sequence of requests meets the same faults in every run, and a rule re-added with the same seed
fires on the same requests again. Rules live in the state file and can be added or cleared at
run time.

Kinds (what the client sees / what really happened):

``http_503``       HTTP 503 with a SERVICE_UNAVAILABLE error body; not processed.
``slow``           waits ``delay_seconds`` (default 2), then processes and answers normally.
``timeout``        processes the request (a create-order IS created and charged), then waits
                   ``delay_seconds`` (default 30, meant to outlast the client's timeout) and
                   answers anyway.
``drop``           closes the connection before reading the body: nothing happens.
``lost_response``  processes fully (the order exists and is charged), then closes the connection
                   without answering.
``html``           a 502 HTML page as a proxy gives it; not processed.
``truncated``      processes, then answers status 200 with the first half of the JSON body.
``error_code``     answers the documented ``code`` in the configured envelope (status from the
                   contract, or ``status``); not processed.
``trickle``        processes, then sends the status line and headers at once and the body one
                   byte every ``delay_seconds`` (default 1): a client whose timeout bounds each
                   socket read, not the whole call, waits for as long as the body lasts.

``processed: true|false`` overrides whether ``http_503``, ``html`` and ``error_code`` let the
request take effect first (e.g. an ``html`` 502 after the order was created).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from typing import Any

KINDS = (
    "http_503",
    "slow",
    "timeout",
    "drop",
    "lost_response",
    "html",
    "truncated",
    "error_code",
    "trickle",
)
ENDPOINTS = (
    "balance",
    "transactions",
    "find-one",
    "sync",
    "create-order",
    "order-status",
    "servers",
    "check-game-data",
    "keys",
    "user-info",
    "telegram",
    "*",
)
PROCESSED = {
    "http_503": False,
    "html": False,
    "error_code": False,
    "drop": False,
    "slow": True,
    "timeout": True,
    "truncated": True,
    "lost_response": True,
    "trickle": True,
}
OVERRIDABLE = ("http_503", "html", "error_code")
DEFAULT_DELAY = {"slow": 2.0, "timeout": 30.0, "trickle": 1.0}

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class Fault:
    id: int
    endpoint: str
    kind: str
    probability: float
    remaining: int | None
    delay: float
    code: str | None
    status: int | None
    token_fp: str | None
    processed: bool
    seed: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Fault:
        processed = PROCESSED[row["kind"]]
        if row["kind"] in OVERRIDABLE and row["processed"] is not None:
            processed = bool(row["processed"])
        return cls(
            row["id"],
            row["endpoint"],
            row["kind"],
            row["probability"],
            row["remaining"],
            row["delay"],
            row["code"],
            row["status"],
            row["token_fp"],
            processed,
            row["seed"],
        )


class FaultSpecError(ValueError):
    """A fault rule the admin API refuses."""


def add(db: sqlite3.Connection, spec: Any, default_seed: int, fingerprint, now: float) -> int:
    """Validate and store a rule; returns its id."""
    if not isinstance(spec, dict):
        raise FaultSpecError("body must be an object")
    endpoint = spec.get("endpoint", "*")
    kind = spec.get("kind")
    if endpoint not in ENDPOINTS:
        raise FaultSpecError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
    if kind not in KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}")
    try:
        probability = float(spec.get("probability", 1))
        count = spec.get("count")
        count = None if count is None else int(count)
        delay = float(spec.get("delay_seconds", DEFAULT_DELAY.get(kind, 0)))
        status = spec.get("status")
        status = None if status is None else int(status)
        after = int(spec.get("after", 0))
        seed = spec.get("seed")
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"bad number: {exc}") from exc
    if not 0 <= probability <= 1:
        raise FaultSpecError("probability must be between 0 and 1")
    if after < 0:
        raise FaultSpecError("after must not be negative")
    if count is not None and count < 1:
        raise FaultSpecError("count must be at least 1")
    if delay < 0:
        raise FaultSpecError("delay_seconds must not be negative")
    if status is not None and not 100 <= status <= 599:
        raise FaultSpecError("status must be an HTTP status")
    code = spec.get("code")
    if kind == "error_code" and code in (None, ""):
        raise FaultSpecError("error_code needs a code")
    processed = spec.get("processed")
    token = spec.get("token")
    cur = db.execute(
        "INSERT INTO faults(endpoint, kind, probability, remaining, delay, code, status, "
        "token_fp, processed, seed, skip_first, created_at) VALUES (?,?,?,?,?,?,?,?,?,0,?,?)",
        (
            endpoint,
            kind,
            probability,
            count,
            delay,
            None if code is None else str(code),
            status,
            fingerprint(token) if token else None,
            None if processed is None else int(processed),
            after,
            now,
        ),
    )
    fault_id = cur.lastrowid
    db.execute(
        "UPDATE faults SET seed = ? WHERE id = ?",
        (int(seed) if seed is not None else default_seed * 1000 + fault_id, fault_id),
    )
    return fault_id


def describe(row: sqlite3.Row) -> dict[str, Any]:
    fault = Fault.from_row(row)
    return {
        "id": fault.id,
        "endpoint": fault.endpoint,
        "kind": fault.kind,
        "probability": fault.probability,
        "count": fault.remaining,
        "delay_seconds": fault.delay,
        "code": fault.code,
        "status": fault.status,
        "tokenFingerprint": fault.token_fp,
        "processed": fault.processed,
        "seed": fault.seed,
        "after": row["skip_first"],
        "seen": row["seen"],
        "fired": row["fired"],
    }


def pick(db: sqlite3.Connection, endpoint: str, token_fp: str | None) -> Fault | None:
    """The rule that fires for this request, if any (call inside a write transaction)."""
    rows = db.execute(
        "SELECT * FROM faults WHERE (endpoint = ? OR endpoint = '*') "
        "AND (remaining IS NULL OR remaining > 0) AND (token_fp IS NULL OR token_fp = ?) "
        "ORDER BY id",
        (endpoint, token_fp),
    ).fetchall()
    for row in rows:
        draw = random.Random(f"sandbox-fault:{row['seed']}:{row['seen']}").random()
        db.execute("UPDATE faults SET seen = seen + 1 WHERE id = ?", (row["id"],))
        if row["seen"] < row["skip_first"]:
            continue
        if draw < row["probability"]:
            db.execute(
                "UPDATE faults SET fired = fired + 1, remaining = CASE WHEN remaining IS NULL "
                "THEN NULL ELSE remaining - 1 END WHERE id = ?",
                (row["id"],),
            )
            return Fault.from_row(row)
    return None
