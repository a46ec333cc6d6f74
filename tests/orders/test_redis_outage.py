"""Redis away: every page still answers, the cache misses, the rate limiter sends nothing and says so;
Redis back: both are used again. A real redis-server of the test's own, stopped and started."""

import shutil
import socket
import subprocess
import time

import pytest
from django.core.cache import cache, caches
from django.urls import reverse

from orders.models import OrderStatus
from orders.services import order_submit
from suppliers import ratelimit
from tests.orders.conftest import place

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    """A throwaway redis-server on a free port, to stop and start during a test."""

    def __init__(self, directory):
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)
            self.process = None


@pytest.fixture
def redis(tmp_path, settings):
    """CACHES pointed at a redis-server of this test's own, as settings/base.py sets them."""
    server = Redis(tmp_path)
    server.start()
    options = {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}
    alias = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url}
    settings.CACHES = {
        "default": {
            **alias,
            "KEY_PREFIX": "outage",
            "OPTIONS": {**options, "IGNORE_EXCEPTIONS": True},
        },
        "ratelimit": {**alias, "KEY_PREFIX": "outage", "OPTIONS": {**options}},
    }
    settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    yield server
    server.stop()


def test_pages_answer_while_redis_is_away_and_use_it_again_when_it_is_back(
    redis, client_as, sandbox_account, sandbox_offer, supplier, caplog
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    operator = client_as("operator")
    catalog = reverse("catalog:catalog_browse") + f"?account={account.pk}"
    assert operator.get(catalog).status_code == 200
    cache.set("outage-probe", 1)
    assert cache.get("outage-probe") == 1
    ratelimit.acquire(f"account-{account.pk}", 1000)

    redis.stop()
    began = time.monotonic()
    # The cache misses (and logs it); the catalog page is computed from the database.
    assert cache.get("outage-probe") is None
    assert "Exception ignored" in caplog.text
    assert operator.get(catalog).status_code == 200
    # The limiter cannot book a slot, so nothing goes to the supplier, and every page says so.
    with pytest.raises(ratelimit.RateLimiterUnreachable):
        ratelimit.acquire(f"account-{account.pk}", 1000)
    unreachable = "rate limiter&#x27;s store (Redis) cannot be reached"
    order_page = operator.get(reverse("orders:order_create"), {"offer": offer.pk})
    assert order_page.status_code == 200 and unreachable in order_page.content.decode()
    refreshed = operator.post(reverse("catalog:offer_refresh", args=[offer.pk]), follow=True)
    assert refreshed.status_code == 200 and unreachable in refreshed.content.decode()
    admin = client_as("admin")
    checked = admin.post(reverse("suppliers:supplier_check", args=[account.pk]), follow=True)
    assert checked.status_code == 200 and unreachable in checked.content.decode()
    assert supplier.requests(account, "find-one") == 0
    assert time.monotonic() - began < 10, "an outage must cost a short timeout, not a long wait"

    redis.start()
    assert cache.get("outage-probe") is None  # a new, empty server: a miss, then used again
    cache.set("outage-probe", 2)
    assert caches["default"].get("outage-probe") == 2
    assert ratelimit.acquire(f"account-{account.pk}", 1000) >= 0
    refreshed = operator.post(reverse("catalog:offer_refresh", args=[offer.pk]), follow=True)
    assert "Live price:" in refreshed.content.decode()
    assert supplier.requests(account, "find-one") == 1


def test_an_order_is_not_sent_while_the_limiter_is_unreachable_and_is_sent_after(
    redis, sandbox_account, sandbox_offer, supplier, broker, django_capture_on_commit_callbacks
):
    account = sandbox_account()
    offer = sandbox_offer(account, kind="key")
    order = place(offer)
    redis.stop()
    with django_capture_on_commit_callbacks(execute=True):
        order = order_submit(order_id=order.pk)
    assert order.status == OrderStatus.QUEUED and "RateLimiterUnreachable" in order.last_error
    assert supplier.requests(account, "create-order") == 0
    assert broker.ids("submit_order") == [order.pk]
    redis.start()
    assert order_submit(order_id=order.pk).status == OrderStatus.COMPLETED
