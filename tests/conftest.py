"""Fixtures shared by the whole suite: staff users in each role, and clients signed in as them."""

import os

import pytest

from reseller.core.services import staff_create

ROLES = ("operator", "finance", "admin")

# Playwright's sync API runs an event loop in the test thread; the ORM calls the browser tests
# make around it are ordinary synchronous calls, so Django's async guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def make_staff(db):
    """Create a staff user in a role; the plain password is on `user.plain_password`."""
    counter = {"n": 0}

    def make(role: str, username: str | None = None):
        counter["n"] += 1
        user, password = staff_create(
            username=username or f"{role}{counter['n']}",
            email=f"{role}{counter['n']}@example.com",
            role=role,
        )
        user.plain_password = password
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
                read_timeout_seconds=5,
            ),
            shop_token=remote["token"],
            management_token=remote.get("management_token") or "",
        )
        account.remote = remote
        return account

    return make
