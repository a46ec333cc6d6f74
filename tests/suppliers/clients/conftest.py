"""Fixtures for the supplier client tests: scripted HTTP with `responses`, and a real local server
for what `responses` cannot fake (urllib3's own logging, resets, truncated bodies, timeouts)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import responses

from suppliers.clients import CodeGamesClient, GamesDropClient, TelegramBotClient

BASE = "https://gd.test"
CG_BASE = "https://cg.test"
TOKEN = "shoptoken-abcdef1234567890abcdef1234567890"
MGMT = "mgmt-jwt-eyJhbGciOiJIUzI1NiJ9.payload.signature"
BOT_TOKEN = "123456789:AAHfakeBotTokenSecretPart_xyz-0123456789"


@pytest.fixture
def env() -> SimpleNamespace:
    """The fake endpoints and credentials (fixtures, not imports: tests/ is not a package)."""
    return SimpleNamespace(BASE=BASE, CG_BASE=CG_BASE, TOKEN=TOKEN, MGMT=MGMT, BOT_TOKEN=BOT_TOKEN)


@pytest.fixture
def actions() -> SimpleNamespace:
    return SimpleNamespace(
        json=reply_json, truncated=reply_truncated, reset=reset_connection, stall=stall
    )


class Recorder:
    """Stands in for `time.sleep` and counts throttle / on_request calls."""

    def __init__(self):
        self.sleeps: list[float] = []
        self.throttles = 0
        self.requests: list[tuple] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def throttle(self) -> None:
        self.throttles += 1

    def on_request(self, method, path, status, elapsed) -> None:
        self.requests.append((method, path, status, elapsed))


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def gd(rec) -> GamesDropClient:
    return GamesDropClient(
        BASE,
        TOKEN,
        management_token=MGMT,
        max_retries=3,
        throttle=rec.throttle,
        on_request=rec.on_request,
        sleep=rec.sleep,
    )


@pytest.fixture
def cg(rec) -> CodeGamesClient:
    return CodeGamesClient(
        CG_BASE,
        TOKEN,
        max_retries=2,
        throttle=rec.throttle,
        on_request=rec.on_request,
        sleep=rec.sleep,
    )


@pytest.fixture
def tg(rec) -> TelegramBotClient:
    return TelegramBotClient(BOT_TOKEN, throttle=rec.throttle, on_request=rec.on_request)


# --- a real HTTP server ---------------------------------------------------------------------------

Action = Callable[[BaseHTTPRequestHandler], None]


def reply_json(status: int, body, headers: dict | None = None) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    return act


def reply_truncated(declared: int, partial: bytes) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(partial)
        handler.wfile.flush()
        handler.close_connection = True

    return act


def reset_connection(handler: BaseHTTPRequestHandler) -> None:
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def stall(seconds: float) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        reply_json(200, {"ok": True, "result": True})(handler)

    return act


class LocalServer:
    def __init__(self):
        self.script: list[Action] = []
        self.seen: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                action = server.script.pop(0) if server.script else reply_json(500, {"x": 1})
                try:
                    action(self)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    local = LocalServer()
    yield local
    local.close()


@pytest.fixture
def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
