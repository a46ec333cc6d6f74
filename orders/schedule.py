"""When each order is looked at next: leases, the polling back-off, the 60-minute limit.

Every order that is neither final nor held carries either a live lease (someone is calling the
supplier for it right now) or a `next_poll_at`. The beat-driven sweep finds due orders by that
column alone (index status + next_poll_at), so the database is the whole work list: if the broker
loses every message, the next sweep rebuilds the work from the rows.

Back-off of status calls for an order pending at the supplier (SUBMITTED / PROCESSING), by the
number of status calls made since it was last sent (`Order.pending_polls`): by default 5, 10, 20,
30, 60, 120, 180 seconds, then every 300 seconds (settings ORDERS_POLL_DELAYS and
ORDERS_POLL_DELAY_CAP, from the environment), and one last call exactly at the 60-minute limit.
Over the supplier's 60 minutes that is 18 status calls by default (`status_calls_within`).
The checks that resolve an UNKNOWN order (order-status by transactionId) back off by all the
order's status calls (`poll_count`) but are not counted in `pending_polls`: they ask whether the
order exists, not whether it is finished, so a supplier's bad minute while an order was UNKNOWN
does not stretch the gaps once it is followed. An order still pending after 60 minutes is
NEEDS_ATTENTION and is then followed every 15 minutes for 24 hours (it was paid for: if the
supplier finishes it, the keys are stored), and after that only on an operator's re-check.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

# The supplier finishes orders within 60 minutes; later, a person must look.
PENDING_LIMIT = timedelta(minutes=60)
# The sweep flags orders nobody polled at the limit (a dead worker) after this grace.
PENDING_LIMIT_GRACE = timedelta(minutes=10)
ATTENTION_FOLLOW_EVERY = timedelta(minutes=15)
ATTENTION_FOLLOW_FOR = timedelta(hours=24)

# When the sweep enqueues a due order it pushes `next_poll_at` this far, so a second sweep does
# not enqueue it again while the task waits in the broker; a lost task is retried after this.
ENQUEUED_GRACE = timedelta(minutes=2)
# An UNKNOWN order is resolved at once (countdown task), and by the sweep after this at the latest.
UNKNOWN_FIRST_CHECK = timedelta(seconds=3)
# A batch still CONFIRMING this long after its confirmation task was sent (or last sent again)
# gets the task again: its message or its worker was probably lost. Longer than the task may run
# (its time_limit, 16 minutes) so that normally the first has ended; if it has only just started
# (it waited in a long queue), the second waits on the batch's row lock and then finds the batch
# confirmed, so a batch's orders are created once whatever the timing.
CONFIRM_RESCUE_AFTER = timedelta(minutes=20)
# Held accounts: how often the balance is checked.
HOLD_CHECK_EVERY = timedelta(seconds=60)
# Accounts without a balance endpoint (CodeGames) are resumed on trial this often.
HOLD_PROBE_EVERY = timedelta(minutes=5)

# The claim lease must outlast everything one create-order call can take: waiting for a slot of
# the shared rate limit (up to ratelimit.MAX_WAIT_SECONDS), connecting and reading the answer.
MIN_SUBMIT_LEASE = timedelta(seconds=90)
LEASE_MARGIN_SECONDS = 30


def queued_rescue_after() -> timedelta:
    """A QUEUED order whose submit task has not claimed it by then is enqueued again by the sweep
    (its message may have been lost). A duplicate message is harmless: the claim lets one through.
    Setting ORDERS_QUEUED_RESCUE_AFTER (5 minutes by default)."""
    return settings.ORDERS_QUEUED_RESCUE_AFTER


def read_resend_after() -> timedelta:
    """A batch file's reading task no worker has taken this long after it was sent (or could not
    be sent: the broker was away) is sent again (orders.batches.uploads). Setting
    ORDERS_BATCH_READ_RESEND_AFTER (60 seconds by default)."""
    return settings.ORDERS_BATCH_READ_RESEND_AFTER


def read_heartbeat_every() -> timedelta:
    """How often a worker reading a batch file stamps its heartbeat. Setting
    ORDERS_BATCH_READ_HEARTBEAT_EVERY (5 seconds by default)."""
    return settings.ORDERS_BATCH_READ_HEARTBEAT_EVERY


def read_silent_after() -> timedelta:
    """A reader silent this long has died (or was stopped): another reads the file again.
    Setting ORDERS_BATCH_READ_SILENT_AFTER (120 seconds by default)."""
    return settings.ORDERS_BATCH_READ_SILENT_AFTER


def max_read_attempts() -> int:
    """Readings of one batch file that may start; after that many never finished it is refused.
    Setting ORDERS_BATCH_READ_ATTEMPTS (3 by default)."""
    return settings.ORDERS_BATCH_READ_ATTEMPTS


def poll_delay(pending_polls: int) -> timedelta:
    """The wait before the next status call after `pending_polls` calls since the order was last
    sent (settings ORDERS_POLL_DELAYS, then ORDERS_POLL_DELAY_CAP)."""
    delays = settings.ORDERS_POLL_DELAYS
    if pending_polls < len(delays):
        return timedelta(seconds=delays[pending_polls])
    return timedelta(seconds=settings.ORDERS_POLL_DELAY_CAP)


def pending_deadline(last_sent_at: datetime | None, now: datetime) -> datetime:
    return (last_sent_at or now) + PENDING_LIMIT


def next_pending_poll(
    *,
    pending_polls: int,
    last_sent_at: datetime | None,
    now: datetime,
    webhooks_healthy: bool = False,
) -> datetime:
    """Next status call for a pending order: the back-off, but never past the 60-minute limit
    (the call at the limit decides between "still pending" and NEEDS_ATTENTION). For an account
    whose webhooks are healthy the back-off is stretched: events bring the outcome sooner, and
    polling stays the safety net."""
    deadline = pending_deadline(last_sent_at, now)
    delay = poll_delay(pending_polls) * (WEBHOOK_POLL_STRETCH if webhooks_healthy else 1)
    candidate = now + delay
    return min(candidate, deadline) if now < deadline else candidate


#: How much longer polls wait for an account whose webhooks arrive, and for how long one
#: verified event counts as proof that they do.
WEBHOOK_POLL_STRETCH = 4
WEBHOOK_HEALTHY_FOR = timedelta(minutes=10)


def _health_key(account_id: int) -> str:
    return f"webhooks-healthy:{account_id}"


def note_webhook_verified(account_id: int) -> None:
    """A verified event arrived: the account's webhooks work. (The cache is a helper: when it
    cannot be reached, polling simply keeps its usual pace.)"""
    try:
        cache.set(_health_key(account_id), 1, WEBHOOK_HEALTHY_FOR.total_seconds())
    except Exception:
        logger.warning("could not note a healthy webhook; polls keep their pace", exc_info=True)


def webhooks_healthy(account_id: int) -> bool:
    try:
        return cache.get(_health_key(account_id)) is not None
    except Exception:
        return False


def next_attention_poll(*, last_sent_at: datetime | None, now: datetime) -> datetime | None:
    """Slow follow-up of a NEEDS_ATTENTION order still pending at the supplier."""
    if last_sent_at is None or now >= last_sent_at + ATTENTION_FOLLOW_FOR:
        return None
    return now + ATTENTION_FOLLOW_EVERY


def is_past_limit(last_sent_at: datetime | None, now: datetime) -> bool:
    return last_sent_at is not None and now >= last_sent_at + PENDING_LIMIT


def call_lease(account, *, attempts: int = 1) -> timedelta:
    """How long a claim lasts for `attempts` HTTP attempts to this account."""
    from suppliers.ratelimit import MAX_WAIT_SECONDS

    # An attempt ends within the account's deadline, whatever the supplier does.
    per_attempt = float(account.call_deadline_seconds)
    seconds = MAX_WAIT_SECONDS + per_attempt * attempts + LEASE_MARGIN_SECONDS
    return max(MIN_SUBMIT_LEASE, timedelta(seconds=seconds))


def status_calls_within(window: timedelta = PENDING_LIMIT) -> int:
    """How many status calls one order pending for the whole window costs (the last at the limit)."""
    elapsed, calls = timedelta(0), 0
    while True:
        step = poll_delay(calls)
        if elapsed + step >= window:
            return calls + 1
        elapsed += step
        calls += 1
