"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against live_server.

Without the browser these tests skip with the reason, except under CI=true, where a missing
browser fails the run (CI must prove the pages work in a real browser).
"""

import os
from pathlib import Path

import pytest

from tests.two_factor import current_code

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Flags for a root user on a machine with no outside network: no sandbox (root), and nothing that
# tries to reach the internet in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            # One browser per xdist worker is plenty; keep the browser tests together.
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def _browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(_browser, live_server):
    context = _browser.new_context(
        base_url=live_server.url, viewport={"width": 1360, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message):
        # A refused page (403) is a test's subject, not an error; failed subresources are caught
        # below by their responses. Everything else (a CSP violation, a script error) counts.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response):
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    yield page
    context.close()
    # A page that breaks its own script, its content security policy, or a stylesheet fails the test.
    assert not errors, f"browser errors: {errors}"


def sign_in_with_password(page, user):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.plain_password)
    page.get_by_role("button", name="Sign in").click()


def enter_code(page, code: str, *, button: str = "Verify"):
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name=button).click()


@pytest.fixture
def sign_in(page, make_staff):
    """Sign in through the real form as a fresh user of the role (or as `user`, or in another
    browser page `on`), with the code of their authenticator app computed here when they have
    one; returns the user."""

    def sign_in_as(role: str | None = None, *, user=None, on=None):
        user = user or make_staff(role)
        browser_page = on or page
        sign_in_with_password(browser_page, user)
        if user.authenticator is not None:
            browser_page.wait_for_url("**/accounts/sign-in/code/")
            enter_code(browser_page, current_code(user.authenticator))
        browser_page.wait_for_url("**/")
        return user

    return sign_in_as


@pytest.fixture
def second_page(_browser, live_server):
    """Another person's browser: a page in a context of its own (its own cookies)."""
    context = _browser.new_context(
        base_url=live_server.url, viewport={"width": 1360, "height": 900}
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
