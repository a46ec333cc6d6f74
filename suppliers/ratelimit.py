"""A per-account request rate shared by every worker process, kept in the Django cache.

Time is cut into slots of 1/rate seconds and each request reserves one slot with the cache's atomic
`add` (Redis SET NX; a primary-key insert for the database cache), then sleeps until its slot
starts. Requests start only at slot boundaries (never partway into a slot already begun), so no two
requests of one account, from whatever process, start within 1/rate seconds of each other, and at
most `rate` start in any second; the price is up to one interval of waiting. Only `add` needs to be atomic, which every
shared Django cache backend provides.
"""

import math
import time
from collections.abc import Callable
from decimal import Decimal

from django.core.cache import cache

# How far ahead a caller may book before it is told the account is saturated.
MAX_WAIT_SECONDS = 30.0


class RateLimitSaturated(Exception):
    """More requests are waiting for this account than can start within MAX_WAIT_SECONDS."""


def acquire(
    account_key: str,
    rate_per_second: float | Decimal,
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait for this account's next free slot. Returns the seconds waited."""
    interval = 1.0 / float(rate_per_second)
    start = now()
    first_slot = math.ceil(start / interval)
    last_slot = first_slot + int(MAX_WAIT_SECONDS / interval) + 1
    slot = _reserve(account_key, first_slot, last_slot, interval)
    wait = slot * interval - now()
    if wait > 0:
        sleep(wait)
    return max(wait, 0.0)


def _reserve(account_key: str, first_slot: int, last_slot: int, interval: float) -> int:
    # Jump ahead past slots reserved already, using a hint of the latest slot taken, so a busy
    # account does not make every caller probe one slot at a time.
    hint_key = f"ratelimit:{account_key}:latest"
    hinted = cache.get(hint_key)
    slot = (
        max(first_slot, hinted + 1)
        if isinstance(hinted, int) and hinted < last_slot
        else first_slot
    )
    # A slot key only needs to outlive the moment its slot is in the past.
    ttl = max(int(MAX_WAIT_SECONDS + interval) + 5, 5)
    while slot <= last_slot:
        if cache.add(f"ratelimit:{account_key}:{slot}", 1, timeout=ttl):
            cache.set(hint_key, slot, timeout=ttl)
            return slot
        slot += 1
    raise RateLimitSaturated(
        f"supplier account {account_key} is saturated for the next {MAX_WAIT_SECONDS:.0f}s"
    )


def throttle_for(account_key: str, rate_per_second: float | Decimal) -> Callable[[], None]:
    """The client's `throttle` hook for one account."""

    def throttle() -> None:
        acquire(account_key, rate_per_second)

    return throttle
