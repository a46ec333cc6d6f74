"""No credential in any exception message, repr, str, hook argument or log record.

A real local server is used where `responses` would skip urllib3 (whose DEBUG request line carries
the URL path, hence the Telegram bot token), and for real resets, truncations and timeouts.
"""

from __future__ import annotations

import logging
import traceback
from decimal import Decimal

import pytest

from suppliers.clients import (
    GamesDropClient,
    GiftReportOutcomeUnknown,
    OrderOutcomeUnknown,
    SupplierBadResponse,
    SupplierError,
    SupplierUnreachable,
    TelegramBotClient,
    redact,
)
from suppliers.clients.redaction import Secret

REPORT = dict(
    transaction_id="tx-secret-test",
    transaction_date=1770373392,
    amount=145,
    currency="USD",
    gift_name="plushpepe-1",
    buyer_id=123456789,
)


def secret_parts(env):
    return [env.TOKEN, env.MGMT, env.BOT_TOKEN, env.BOT_TOKEN.split(":", 1)[1]]


def assert_clean(text: str, env) -> None:
    for secret in secret_parts(env):
        assert secret not in text, f"secret leaked in: {text[:300]}"


def everything_about(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for name in ("raw_body", "endpoint", "detail", "supplier_message"):
        parts.append(str(getattr(error, name, "")))
    cause = getattr(error, "cause", None)
    if cause is not None:
        parts += [str(cause), repr(cause), str(cause.raw_body)]
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "requests", "suppliers"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("urllib3", "urllib3.connectionpool", "requests", "suppliers"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def logged_text(caplog) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_text:
            lines.append(record.exc_text)
        if record.exc_info:
            lines.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(lines) + caplog.text


def chained_requests_errors(error: BaseException) -> list[BaseException]:
    """requests/urllib3 exceptions reachable from `error` (their text holds the raw URL)."""
    found, stack, seen = [], [error], set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__module__.split(".")[0] in ("requests", "urllib3"):
            found.append(current)
        stack += [current.__cause__, current.__context__, getattr(current, "cause", None)]
    return found


def test_reprs_never_show_tokens(env):
    gd = GamesDropClient(env.BASE, env.TOKEN, management_token=env.MGMT)
    tg = TelegramBotClient(env.BOT_TOKEN)
    for obj in (gd, tg, gd.transport, tg._transport, Secret(env.TOKEN)):
        assert_clean(repr(obj) + str(obj), env)
    assert_clean(repr(vars(gd)) + repr(vars(gd.transport)), env)


def test_redact_masks_secrets_and_shapes():
    text = (
        "GET /botX/123:abc https://api.telegram.org/bot123:AAH-abc_d/sendCustomRequest tok-123456"
    )
    cleaned = redact(text, ["tok-123456"])
    assert "tok-123456" not in cleaned and "AAH-abc_d" not in cleaned
    assert "/bot***/sendCustomRequest" in cleaned
    assert redact("Authorization: Bearer abc.def", []) == "Authorization: Bearer ***"
    assert redact("x=a%3Ab", ["a:b"]) == "x=***"


def test_telegram_success_over_real_http_logs_no_token(env, server, actions, debug_logs):
    server.script.append(actions.json(200, {"ok": True, "result": True}))
    hooks = []
    client = TelegramBotClient(
        env.BOT_TOKEN, base_url=server.url, on_request=lambda *a: hooks.append(a)
    )
    assert client.report_gift_purchase(**REPORT) is True
    assert server.seen[0]["path"] == f"/bot{env.BOT_TOKEN}/sendCustomRequest"
    text = logged_text(debug_logs)
    assert "sendCustomRequest" in text  # urllib3's request line was logged ...
    assert_clean(text, env)  # ... with the token masked
    assert hooks[0][1] == "/bot***/sendCustomRequest"


@pytest.mark.parametrize("failure", ["refused", "timeout", "reset", "truncated", "html"])
def test_telegram_failures_leak_no_token(
    env, server, actions, closed_port_url, debug_logs, failure
):
    base = server.url
    if failure == "refused":
        base = closed_port_url
    elif failure == "timeout":
        server.script.append(actions.stall(0.6))
    elif failure == "reset":
        server.script.append(actions.reset)
    elif failure == "truncated":
        server.script.append(actions.truncated(500, b'{"ok": true, "res'))
    else:
        server.script.append(actions.json(502, "<html><body>bot gateway</body></html>"))
    client = TelegramBotClient(env.BOT_TOKEN, base_url=base, timeout=(0.5, 0.2))
    with pytest.raises(GiftReportOutcomeUnknown) as caught:
        client.report_gift_purchase(**REPORT)
    error = caught.value
    expected = SupplierBadResponse if failure == "html" else SupplierUnreachable
    assert isinstance(error.cause, expected)
    assert not chained_requests_errors(error)
    assert error.endpoint == "/bot***/sendCustomRequest"
    assert_clean(everything_about(error), env)
    assert_clean(logged_text(debug_logs), env)


@pytest.mark.parametrize("failure", ["refused", "timeout", "reset", "truncated"])
def test_gamesdrop_failures_leak_no_token(
    env, server, actions, closed_port_url, debug_logs, failure
):
    base = closed_port_url if failure == "refused" else server.url
    for _ in range(3):
        if failure == "timeout":
            server.script.append(actions.stall(0.6))
        elif failure == "reset":
            server.script.append(actions.reset)
        elif failure == "truncated":
            server.script.append(actions.truncated(400, b'{"balance": 1'))
    client = GamesDropClient(
        base,
        env.TOKEN,
        management_token=env.MGMT,
        timeout=(0.5, 0.2),
        max_retries=1,
        sleep=lambda s: None,
    )
    with pytest.raises(SupplierError) as caught:
        client.transactions()
    assert caught.value.kind == "transient"
    assert not chained_requests_errors(caught.value)
    assert_clean(everything_about(caught.value), env)
    with pytest.raises(OrderOutcomeUnknown) as caught:
        client.create_order(1001, Decimal("1.00"), "tx-leak")
    assert_clean(everything_about(caught.value), env)
    assert_clean(logged_text(debug_logs), env)
    if failure != "refused":
        assert server.seen[0]["headers"]["Authorization"] == f"Bearer {env.MGMT}"
        assert server.seen[-1]["headers"]["Authorization"] == env.TOKEN


def test_echoed_token_in_an_error_body_is_redacted(env, rsps, debug_logs):
    rsps.add(
        "POST",
        env.BASE + "/api/v1/offers/find-one",
        status=401,
        json={"code": "INVALID_TOKEN", "message": f"token {env.TOKEN} is not valid"},
    )
    client = GamesDropClient(env.BASE, env.TOKEN)
    with pytest.raises(SupplierError) as caught:
        client.find_one(1)
    assert caught.value.code == "INVALID_TOKEN"
    assert_clean(everything_about(caught.value), env)
    assert_clean(logged_text(debug_logs), env)
