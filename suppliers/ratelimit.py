"""A per-account request rate shared by every worker process, kept in the Django cache.

Time is cut into slots of 1/rate seconds and each request reserves one slot with the cache's atomic
`add` (Redis SET NX; a primary-key insert for the database cache), then sleeps until its slot
starts. Requests start only at slot boundaries (never partway into a slot already begun), so no two
requests of one account, from whatever process, start within 1/rate seconds of each other, and at
most `rate` start in any second; the price is up to one interval of waiting. Only `add` needs to be atomic, which every
shared Django cache backend provides.

The store is the cache alias "ratelimit" (settings: the same Redis as the default cache, but one
that raises instead of ignoring errors; the database cache when there is no Redis). An ignored error
would make `add` return None, which reads as "slot taken" and would saturate the account forever.

When the store cannot be reached, the rule is: send nothing. `_reserve` is the one place that
catches the store's errors, and it raises `RateLimiterUnreachable`, a `RateLimitSaturated`, so every
caller already does the safe thing: an order goes back to QUEUED and is sent again later (the
submit's own retry, and the sweep), a look-up or a page that calls the supplier says plainly that the
limiter is unreachable and nothing was sent. A supplier call is never made without a slot booked in
the one shared store, so the account's rate is never exceeded, whatever the number of processes.

Why not fall back to a second store (the database cache)? It is slower but shared, and it would keep
orders moving during an outage; but at each switch-over (Redis going away, coming back, or seen as
away by one process and not yet by another) two stores would each admit the full rate for up to
MAX_WAIT_SECONDS, briefly doubling it, and a supplier that counts strictly would refuse or block the
account. An outage of the cache is rare and short; orders waiting a few minutes is the cheaper
failure. The connect and read timeouts of the alias are short (REDIS_CONNECT_TIMEOUT_SECONDS,
REDIS_TIMEOUT_SECONDS: 0.5 s), so a caller learns of the outage within about a second.
"""

import math
import time
from collections.abc import Callable
from decimal import Decimal

from django.core.cache import caches
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

# How far ahead a caller may book before it is told the account is saturated.
MAX_WAIT_SECONDS = 30.0

CACHE_ALIAS = "ratelimit"

# What the store raises when it cannot be reached: redis-py's errors (django-redis re-raises them
# when it does not ignore them), its own wrapper, and a socket's.
STORE_ERRORS = (RedisError, ConnectionInterrupted, OSError)


class RateLimitSaturated(Exception):
    """More requests are waiting for this account than can start within MAX_WAIT_SECONDS."""

    page_text = "The supplier account is busy (rate limit); try again in a minute."


class RateLimiterUnreachable(RateLimitSaturated):
    """The rate limiter's store (Redis) cannot be reached: nothing was sent, to stay under the rate."""

    page_text = (
        "The rate limiter's store (Redis) cannot be reached, so nothing was sent to the supplier; "
        "try again in a minute."
    )


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
    try:
        return _book(account_key, first_slot, last_slot, interval)
    except STORE_ERRORS as error:
        # The one place the store's errors are caught: without the shared store no slot can be
        # proved free, so nothing is sent (see the module's docstring).
        raise RateLimiterUnreachable(
            f"supplier account {account_key}: the rate limiter's store cannot be reached "
            f"({type(error).__name__}); nothing was sent"
        ) from error


def _book(account_key: str, first_slot: int, last_slot: int, interval: float) -> int:
    store = caches[CACHE_ALIAS]
    # Jump ahead past slots reserved already, using a hint of the latest slot taken, so a busy
    # account does not make every caller probe one slot at a time.
    hint_key = f"ratelimit:{account_key}:latest"
    hinted = store.get(hint_key)
    slot = (
        max(first_slot, hinted + 1)
        if isinstance(hinted, int) and hinted < last_slot
        else first_slot
    )
    # A slot key only needs to outlive the moment its slot is in the past.
    ttl = max(int(MAX_WAIT_SECONDS + interval) + 5, 5)
    while slot <= last_slot:
        if store.add(f"ratelimit:{account_key}:{slot}", 1, timeout=ttl):
            store.set(hint_key, slot, timeout=ttl)
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
