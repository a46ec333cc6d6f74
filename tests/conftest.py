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
