"""Fixtures shared by the whole suite: staff users in each role, clients signed in as them, the
sandbox supplier, and a real Celery worker."""

import contextlib
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from hypothesis import settings as hypothesis_settings

from reseller.core.services import staff_create
from tests.two_factor import enrol

# Property tests draw the same examples on every run, so `make test` and CI are repeatable; a
# newly found failing example would otherwise surface at random in someone else's run.
# `HYPOTHESIS_PROFILE=explore make test` draws fresh examples to look for new failures.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROLES = ("operator", "finance", "admin")

# Playwright's sync API runs an event loop in the test thread; the ORM calls the browser tests
# make around it are ordinary synchronous calls, so Django's async guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def make_staff(db):
    """Create a staff user in a role, ready to sign in: the plain password is on
    `user.plain_password` (their own, not one to replace, unless `handed_over`), and a user whose
    role must have a second factor (TWO_FACTOR_REQUIRED_ROLES) has an authenticator app enrolled,
    on `user.authenticator` (None without one; `two_factor` says otherwise)."""
    counter = {"n": 0}

    def make(
        role: str,
        username: str | None = None,
        *,
        two_factor: bool | None = None,
        handed_over: bool = False,
    ):
        counter["n"] += 1
        user, password = staff_create(
            username=username or f"{role}{counter['n']}",
            email=f"{role}{counter['n']}@example.com",
            role=role,
            handed_over=handed_over,
        )
        user.plain_password = password
        if two_factor is None:
            two_factor = role in settings.TWO_FACTOR_REQUIRED_ROLES
        user.authenticator = enrol(user) if two_factor else None
        return user

    return make


@pytest.fixture
def client_as(client, make_staff):
    """A test client signed in with a fresh user of the given role (or anonymous for None)."""

    def sign_in(role: str | None):
        client.logout()
        if role is not None:
            client.force_login(make_staff(role))
        return client

    return sign_in


SANDBOX_ADMIN_KEY = "test-admin-key"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The sandbox supplier over real HTTP, one per test process, with a small catalog."""
    from sandbox.testing import running_sandbox

    with running_sandbox(
        tmp_path_factory.mktemp("sandbox"), offers=3000, seed=11, admin_key=SANDBOX_ADMIN_KEY
    ) as running:
        yield running


@pytest.fixture
def sandbox_account(sandbox, db):
    """A fresh account at the sandbox and the SupplierAccount pointing at it (`.remote` holds
    what the sandbox answered: token, management_token, partnerId)."""
    from suppliers.models import SupplierAccount
    from suppliers.services import supplier_account_save

    counter = {"n": 0}

    def make(*, kind="gamesdrop", rate_limit=1000, **remote_fields):
        counter["n"] += 1
        remote = sandbox.create_account(
            **{"kind": kind, "balance": "1000", "balance_profile": "MIXED", **remote_fields}
        )
        account = supplier_account_save(
            account=SupplierAccount(
                name=f"sandbox-{kind}-{counter['n']}-{remote['partnerId']}",
                kind=kind,
                base_url=sandbox.url,
                rate_limit_per_second=rate_limit,
                call_deadline_seconds=5,
            ),
            shop_token=remote["token"],
            management_token=remote.get("management_token") or "",
        )
        account.remote = remote
        return account

    return make


def database_url() -> str:
    """The URL of the database this test process uses, for a subprocess to open the same one."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env() -> dict:
    """The environment for a subprocess that must share this test process's database, cache keys
    and Celery queue (a worker, a second client process)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reseller.settings.test",
        "DATABASE_URL": database_url(),
        "RESELLER_TEST_QUEUE_PREFIX": settings.WORK_QUEUE_PREFIX,
        "RESELLER_TEST_CACHE_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
    }


@contextlib.contextmanager
def celery_worker(queues: str):
    """A real `celery worker` subprocess on some of this test run's queues and its database."""
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "reseller",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--queues",
            queues,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        env=subprocess_env(),
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery worker` subprocess on all of this test run's queues and its database."""
    from reseller.core.queues import all_queue_names

    with celery_worker(all_queue_names()) as worker:
        yield worker


def wait_until(
    condition, *, timeout: float = 30, interval: float = 0.2, message: str = "condition"
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture
def fault(sandbox):
    """Add a fault limited to one account's token; every fault added is removed afterwards."""
    added = []

    def add(account, **spec):
        rule = sandbox.admin(
            "POST", "/sandbox/faults", {"token": account.remote["token"], "count": 1, **spec}
        )
        added.append(rule["id"])
        return rule

    yield add
    for rule_id in added:
        with contextlib.suppress(Exception):
            sandbox.admin("DELETE", f"/sandbox/faults/{rule_id}")


@pytest.fixture
def sandbox_offer(sandbox):
    """A catalog Offer row for the first sandbox offer matching the filters (kind, settlement,
    currency, min_count, req_server ...), as a sync would have written it."""

    def make(account, *, skip: int = 0, **filters):
        query = {"settlement": "MIXED", "in_stock": "true", "listed": "true", **filters}
        query["limit"] = skip + 1
        found = sandbox.admin("GET", "/sandbox/offers", params=query)["offers"]
        assert len(found) > skip, f"no sandbox offer matches {filters}"
        data = found[skip]
        from django.utils import timezone

        from catalog.models import SUPPLIER_STARS_PRODUCT, Offer

        now = timezone.now()
        offer, _ = Offer.objects.update_or_create(
            account=account,
            offer_id=data["offerId"],
            defaults={
                "product_id": data["productId"],
                "product_name": data["productName"],
                "offer_name": data["offerName"],
                "category": data["category"],
                "price": data["price"],
                "currency": data["currency"],
                "in_stock": data["inStock"],
                "requires_user_id": data["isRequiredGameUserId"],
                "requires_server_id": data["isRequiredGameServerId"],
                "returns_key": data["isReturnDataForCustomer"],
                "settlement_method": data["settlementMethod"],
                "units": data["count"],
                # What the sync marks from the supplier's data (catalog.sync.upsert_offers).
                "telegram_kind": "stars" if data["productName"] == SUPPLIER_STARS_PRODUCT else "",
                "first_seen_at": now,
                "synced_at": now,
            },
        )
        offer.remote = data
        return offer

    return make
