"""The HTTP server: routing, fault application, the request log, and the command line.

``python -m sandbox --host 127.0.0.1 --port 8100 --state var/sandbox.sqlite3 --offers 12000
--seed 42 --admin-key KEY [--demo-token T --demo-management-token M]``

When it listens it prints exactly one line, ``SANDBOX_READY http://HOST:PORT``, to stdout and
flushes (``--port 0`` picks a free port, and the line names it). SIGTERM and SIGINT stop it
cleanly (the WAL is checkpointed into the state file).

The server is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (clients reuse their
connections as real ones do). Faults are applied here because several of them are about the
connection itself: closing it unread (``drop``), closing it after the work is done
(``lost_response``), or delaying / mangling the answer.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from sandbox import admin, gamesdrop, telegram, wire
from sandbox.app import Sandbox
from sandbox.errors import SupplierError
from sandbox.faults import HTML_502

MAX_BODY = 1 << 20

#: (method, path) → (fault/log endpoint name, handler endpoint name)
ROUTES = {
    ("GET", "/api/v1/offers/balance"): ("balance", "balance"),
    ("GET", "/api/v1/balance"): ("balance", "balance-web"),
    ("GET", "/api/v1/balance/transactions"): ("transactions", "transactions"),
    ("POST", "/api/v1/offers/find-one"): ("find-one", "find-one"),
    ("POST", "/api/v1/offers/sync"): ("sync", "sync"),
    ("POST", "/api/v1/offers/create-order"): ("create-order", "create-order"),
    ("POST", "/api/v1/offers/order-status"): ("order-status", "order-status"),
    ("POST", "/api/v1/offers/keys"): ("keys", "keys"),
    ("POST", "/api/v1/partner/product-offer/servers"): ("servers", "servers"),
    ("POST", "/api/v1/offers/servers"): ("servers", "servers"),
    ("POST", "/api/v1/offers/check-game-data"): ("check-game-data", "check-game-data"),
    ("POST", "/api/aggregator/a6/telegram/user-info"): ("user-info", "user-info"),
}
BOT_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
JSON = "application/json; charset=utf-8"


class Handler(BaseHTTPRequestHandler):
    """One connection; each request is routed to the partner API, the Bot API or the admin API."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 300  # an idle keep-alive connection is closed after this (frees its thread)
    server_version = "sandbox"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.app.log_requests:
            super().log_message(format, *args)

    # plumbing

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0 or size > MAX_BODY:
            self._send(413, wire.encode({"statusCode": 413, "message": "Payload too large"}))
            self.close_connection = True
            return None
        return self.rfile.read(size)

    def _send(self, status: int, body: bytes, content_type: str = JSON) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _trickle(self, status: int, body: bytes, gap: float) -> None:
        """The headers at once, then the body a byte at a time, until it ends or the client goes."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            for index in range(len(body)):
                time.sleep(gap)
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _payload(self, status: int, payload) -> tuple[int, bytes]:
        return status, payload if isinstance(payload, bytes) else wire.encode(payload)

    # routing

    def _dispatch(self, method: str) -> None:
        app: Sandbox = self.server.app
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            if path.startswith("/sandbox/") or path == "/sandbox":
                raw = self._read_body()
                if raw is None:
                    return
                status, payload = admin.handle(
                    app, method, path, url.query, self.headers.get("X-Sandbox-Admin"), raw
                )
                self._send(*self._payload(status, payload))
                return
            route = ROUTES.get((method, path))
            bot = BOT_PATH.match(path)
            if route is not None:
                auth = self.headers.get("Authorization")
                token = auth.strip() if auth else None
                if token and token[:7].lower() == "bearer ":
                    token = token[7:].strip()
                self._supplier(app, method, path, url.query, route[0], route[1], token, auth)
            elif bot is not None and method == "POST":
                self._supplier(
                    app,
                    method,
                    f"/bot<redacted>/{bot['method']}",
                    url.query,
                    "telegram",
                    bot["method"],
                    bot["token"],
                    None,
                )
            else:
                raw = self._read_body()
                if raw is None:
                    return
                self._send(
                    404,
                    wire.encode(
                        {
                            "statusCode": 404,
                            "message": f"Cannot {method} {path}",
                            "error": "Not Found",
                        }
                    ),
                )
        except Exception:  # a fake must answer something and keep serving
            traceback.print_exc(file=sys.stderr)
            self._send(500, wire.encode({"statusCode": 500, "message": "Internal server error"}))

    def _supplier(
        self,
        app: Sandbox,
        method: str,
        path: str,
        query: str,
        endpoint: str,
        name: str,
        token: str | None,
        auth: str | None,
    ) -> None:
        fault = app.arrive(endpoint, method, path if not query else f"{path}?{query}", token)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        raw = self._read_body()
        if raw is None:
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault is not None and not fault.processed:
            self._send(*self._fault_reply(app, endpoint, fault))
            return
        now = time.time()
        if endpoint == "telegram":
            status, body = self._telegram(app, name, token or "", raw, now)
        else:
            status, body = self._payload(*gamesdrop.handle(app, name, auth, raw, query, now))
        if fault is None or fault.kind == "slow":
            self._send(status, body)
        elif fault.kind == "lost_response":
            self.close_connection = True
        elif fault.kind == "truncated":
            self._send(200, body[: len(body) // 2])
        elif fault.kind == "timeout":
            time.sleep(fault.delay)
            self._send(status, body)
        elif fault.kind == "trickle":
            self._trickle(status, body, fault.delay)
        else:
            self._send(*self._fault_reply(app, endpoint, fault))

    def _telegram(
        self, app: Sandbox, method: str, token: str, raw: bytes, now: float
    ) -> tuple[int, bytes]:
        if not app.telegram.bot_known(token):
            return 401, wire.encode({"ok": False, "error_code": 401, "description": "Unauthorized"})
        if method == "getMe":
            bot_id = int(telegram.fingerprint(token) or "0", 16) % 10**9 + 1
            return 200, wire.encode(
                {"ok": True, "result": {"id": bot_id, "is_bot": True, "username": "sandbox_bot"}}
            )
        if method != "sendCustomRequest":
            return 404, wire.encode({"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            body = wire.decode(raw) if raw.strip() else None
        except ValueError:
            body = "not json"
        return self._payload(*telegram.bot_request(app, token, body, now))

    def _fault_reply(self, app: Sandbox, endpoint: str, fault) -> tuple[int, bytes, str]:
        if fault.kind == "html":
            return fault.status or 502, HTML_502, "text/html"
        telegram_call = endpoint == "telegram"
        if fault.kind == "http_503":
            if telegram_call:
                body = {"ok": False, "error_code": 503, "description": "Service Unavailable"}
                return 503, wire.encode(body), JSON
            return (
                503,
                wire.encode(
                    {
                        "statusCode": 503,
                        "code": "SERVICE_UNAVAILABLE",
                        "message": "Service temporarily unavailable",
                    }
                ),
                JSON,
            )
        if telegram_call:
            code = int(fault.code) if str(fault.code).isdigit() else 400
            body = {
                "ok": False,
                "error_code": code,
                "description": f"Too Many Requests: retry after {max(1, int(fault.delay))}"
                if code == 429
                else f"Bad Request: {fault.code}",
            }
            if code == 429:
                body["parameters"] = {"retry_after": max(1, int(fault.delay))}
            return fault.status or code, wire.encode(body), JSON
        status, body = gamesdrop.error_reply(app, str(fault.code), fault.status)
        return status, wire.encode(body), JSON


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, app: Sandbox) -> None:
        super().__init__(address, Handler)
        self.app = app


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Fake GamesDrop / CodeGames / Telegram supplier"
    )
    # Every option can also come from the environment (SANDBOX_*), so the back-office's Procfile
    # and docker-compose start it as a plain `python -m sandbox` with their own .env.
    env = os.environ.get
    parser.add_argument("--host", default=env("SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(env("SANDBOX_PORT", "8100")), help="0 picks a free port"
    )
    parser.add_argument(
        "--state", default=env("SANDBOX_STATE", "var/sandbox.sqlite3"), help="SQLite state file"
    )
    parser.add_argument(
        "--offers",
        type=int,
        default=int(env("SANDBOX_OFFERS", "12000")),
        help="catalog size when the state file is new (1..200000)",
    )
    parser.add_argument("--seed", type=int, default=int(env("SANDBOX_SEED", "42")))
    parser.add_argument("--admin-key", default=env("SANDBOX_ADMIN_KEY", "sandbox-admin"))
    parser.add_argument(
        "--demo-token",
        default=env("SANDBOX_DEMO_TOKEN") or None,
        help="ensure a demo account with this shop token",
    )
    parser.add_argument(
        "--demo-management-token",
        default=env("SANDBOX_DEMO_MANAGEMENT_TOKEN") or None,
        help="its management credential",
    )
    parser.add_argument("--log-requests", action="store_true", help="access log on stderr")
    args = parser.parse_args(argv)
    if not 1 <= args.offers <= 200_000:
        parser.error("--offers must be between 1 and 200000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app = Sandbox(Path(args.state), args.offers, args.seed, args.admin_key, args.log_requests)
    if args.demo_token:
        app.ensure_demo(args.demo_token, args.demo_management_token)
    server = SandboxServer((args.host, args.port), app)
    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sandbox-http", daemon=True
    )
    worker.start()
    host = args.host if ":" not in args.host else f"[{args.host}]"
    print(f"SANDBOX_READY http://{host}:{server.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    app.close()
    return 0


__all__ = ["main", "SandboxServer", "Handler", "SupplierError"]
