import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.core.cache import cache

from suppliers import ratelimit
from tests.conftest import subprocess_env


class FakeClock:
    def __init__(self, start: float):
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.django_db
def test_callers_are_spaced_one_interval_apart():
    cache.clear()
    clock = FakeClock(1_000_000.0)
    starts = []
    for _ in range(10):
        # Every caller arrives at the same moment; each one gets the next free slot.
        arrival = clock.now
        ratelimit.acquire("unit", 5, now=clock.time, sleep=clock.sleep)
        starts.append(clock.now)
        clock.now = arrival
    gaps = [b - a for a, b in zip(sorted(starts), sorted(starts)[1:], strict=False)]
    assert all(gap == pytest.approx(0.2) for gap in gaps)


@pytest.mark.django_db
def test_a_saturated_account_is_refused_rather_than_queued_forever(monkeypatch):
    cache.clear()
    monkeypatch.setattr(ratelimit, "MAX_WAIT_SECONDS", 1.0)
    clock = FakeClock(2_000_000.0)
    with pytest.raises(ratelimit.RateLimitSaturated):
        for _ in range(100):
            ratelimit.acquire("busy", 10, now=clock.time, sleep=lambda s: None)


CALLER = textwrap.dedent(
    """
    import django, sys
    django.setup()
    from suppliers.models import SupplierAccount
    from suppliers.services import supplier_client
    client = supplier_client(SupplierAccount.objects.get(pk=int(sys.argv[1])))
    for _ in range(int(sys.argv[2])):
        client.balance()
    """
)


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_two_processes(sandbox, sandbox_account):
    rate, calls_each = 8, 12
    account = sandbox_account(rate_limit=rate)
    env = subprocess_env()
    callers = [
        subprocess.Popen(
            [sys.executable, "-c", CALLER, str(account.pk), str(calls_each)],
            env=env,
            cwd=settings.BASE_DIR,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for caller in callers:
        assert caller.wait(timeout=120) == 0, caller.stderr.read()

    seen = sandbox.admin(
        "GET", "/sandbox/requests", params={"token": account.remote["token"], "endpoint": "balance"}
    )["requests"]
    times = sorted(float(r["ts"]) for r in seen)
    assert len(times) == 2 * calls_each
    # The sandbox saw them at the account's rate, whichever process sent them. Its clock reads
    # arrival, which scheduling jitter on a busy machine can move by tens of milliseconds for one
    # request; without the limit nearly every pair arrives a few milliseconds apart.
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    close_pairs = [gap for gap in gaps if gap < 0.5 / rate]
    assert len(close_pairs) <= 2, f"{len(close_pairs)} pairs closer than half an interval"
    busiest_second = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert busiest_second <= rate + 1  # a 1 s window can hold both ends of `rate` intervals
    # n requests spaced 1/rate apart span (n-1)/rate seconds, less at most the jitter of the ends.
    span, shortest_allowed = times[-1] - times[0], (len(times) - 1) / rate - 0.1
    assert span >= shortest_allowed, f"{len(times)} requests in {span:.2f}s"
    # And the limit is a limit, not a stall: both processes together took about calls/rate.
    assert times[-1] - times[0] < (2 * calls_each / rate) * 1.6
