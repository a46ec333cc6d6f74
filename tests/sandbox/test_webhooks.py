"""The sandbox's signed webhooks, caught by a small receiver in this process: Standard Webhooks
signatures a standard verifier accepts, the events of an order in order, retries while the
receiver refuses, and the admin API refusing a bad configuration."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

CUSTOMER = {"gameUserId": "52357322414"}


class Receiver:
    """An HTTP receiver recording every delivery; answers `status` (changeable)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.deliveries) >= count, f"{len(self.deliveries)} of {count} deliveries"


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def test_an_order_sends_created_then_fulfilled_signed_and_verifiable(
    partner, find_offer, sandbox, receiver
):
    key = secret()
    sandbox.admin(
        "POST", f"/sandbox/accounts/{partner.token}/webhook", {"url": receiver.url, "secret": key}
    )
    sandbox.admin("POST", "/sandbox/settings", {"topup_delay_seconds": 0.5, "cancel_share": 0})
    offer = find_offer(kind="topup", req_server="false", settlement="MIXED")
    order = partner.buy(offer["offerId"], "hook-1", CUSTOMER)
    receiver.wait(2)
    events = []
    for headers, body in receiver.deliveries:
        Webhook(key).verify(body, headers)  # raises on a bad signature or an old timestamp
        events.append(json.loads(body))
    assert [event["type"] for event in events] == ["order.created", "order.fulfilled"]
    assert [event["data"]["status"] for event in events] == ["SUBMITTED", "COMPLETED"]
    assert {event["data"]["orderId"] for event in events} == {order["orderId"]}
    ids = [headers["webhook-id"] for headers, _ in receiver.deliveries]
    assert len(set(ids)) == 2
    view = sandbox.admin("GET", f"/sandbox/accounts/{partner.token}/webhook")
    assert "secret" not in view and view["stats"]["delivered"] == 2


def test_a_refusing_receiver_is_retried_with_the_same_id_until_it_accepts(
    partner, find_offer, sandbox, receiver
):
    body = {"url": receiver.url, "secret": secret(), "retry_base_seconds": 0.1}
    sandbox.admin("POST", f"/sandbox/accounts/{partner.token}/webhook", body)
    receiver.status = 503
    offer = find_offer(kind="key", settlement="MIXED")
    partner.buy(offer["offerId"], "hook-2", CUSTOMER)
    receiver.wait(6)  # each of the two events refused at least twice
    receiver.status = 200
    stats = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stats = sandbox.admin("GET", f"/sandbox/accounts/{partner.token}/webhook")["stats"]
        if stats["pending"] == 0:
            break
        time.sleep(0.1)
    assert stats["delivered"] == 2 and stats["failed_attempts"] >= 4
    assert len({headers["webhook-id"] for headers, _ in receiver.deliveries}) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://x", "secret": "whsec_c2VjcmV0"},
        {"url": "http://x", "secret": "plain"},
        {"url": "http://x", "secret": "whsec_c2VjcmV0", "duplicate": 2},
        {"url": "http://x", "secret": "whsec_c2VjcmV0", "loss": 0.5},
    ],
    ids=["scheme", "secret", "share", "unknown"],
)
def test_a_bad_webhook_configuration_is_refused(partner, sandbox, body):
    from sandbox.testing import SandboxAdminError

    with pytest.raises(SandboxAdminError) as refused:
        sandbox.admin("POST", f"/sandbox/accounts/{partner.token}/webhook", body)
    assert refused.value.status == 400
