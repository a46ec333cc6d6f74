"""Every supplier call ends within its deadline, whatever the server does: a server that trickles
its headers or its body one byte at a time, or sends more than the call reads."""

import socket
import threading
import time
from decimal import Decimal

import pytest

from suppliers.clients import GamesDropClient, OrderOutcomeUnknown
from suppliers.clients.errors import SupplierBadResponse, SupplierUnreachable
from suppliers.clients.transport import Transport

BODY = b'{"balance": 10.5, "currency": "USD", "isPostpaid": false}'


class HostileServer:
    """A TCP server on 127.0.0.1 answering every request as `mode` says."""

    def __init__(self, mode: str, gap: float = 0.25):
        self.mode, self.gap = mode, gap
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.connections = 0  # connections accepted: a client that reuses one opens one
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.listener.close()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            conn.settimeout(30)
            # A plain server keeps the connection open for the client's next request, as
            # HTTP/1.1 servers do; the hostile modes answer one request.
            while self._answer_one(conn) and self.mode == "plain":
                pass

    def _answer_one(self, conn) -> bool:
        """Answer one request on `conn`; False when the client has closed it."""
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return False
                data += chunk
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(BODY)
            )
            if self.mode == "trickle-headers":
                self._trickle(conn, head + BODY)
            elif self.mode == "trickle-body":
                conn.sendall(head)
                self._trickle(conn, BODY)
            elif self.mode == "huge":
                size = 8 * 1024 * 1024
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                for _ in range(size // 65536):
                    conn.sendall(b" " * 65536)
            elif self.mode == "huge-unannounced":
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                while not self.stop.is_set():
                    conn.sendall(b" " * 65536)
            else:
                conn.sendall(head + BODY)
        except OSError:
            return False
        return True

    def _trickle(self, conn, data: bytes):
        for index in range(len(data)):
            if self.stop.is_set():
                return
            conn.sendall(data[index : index + 1])
            time.sleep(self.gap)


@pytest.fixture
def server():
    started = []

    def start(mode: str) -> HostileServer:
        started.append(HostileServer(mode))
        return started[-1]

    yield start
    for each in started:
        each.close()


@pytest.mark.parametrize("mode", ["trickle-headers", "trickle-body"])
def test_a_trickling_server_is_cut_off_at_the_deadline(server, mode):
    hostile = server(mode)
    transport = Transport(hostile.url, timeout=(1, 5), deadline=1.0, max_retries=0)
    begun = time.monotonic()
    with pytest.raises(SupplierUnreachable, match="within the 1 s deadline"):
        transport.request("GET", "/balance", safe_to_repeat=True)
    assert time.monotonic() - begun < 2.0


def test_create_order_cut_off_at_the_deadline_has_an_unknown_outcome(server):
    hostile = server("trickle-body")
    client = GamesDropClient(hostile.url, "t" * 32, deadline=1.0, max_retries=0)
    begun = time.monotonic()
    with pytest.raises(OrderOutcomeUnknown):
        client.create_order(1, Decimal("1.00"), "rb-deadline-1")
    assert time.monotonic() - begun < 2.0


@pytest.mark.parametrize("mode", ["huge", "huge-unannounced"])
def test_an_answer_larger_than_the_call_reads_is_refused(server, mode):
    hostile = server(mode)
    transport = Transport(hostile.url, deadline=10.0, max_retries=0)
    begun = time.monotonic()
    with pytest.raises(SupplierBadResponse, match="larger than 1,048,576 bytes"):
        transport.request("GET", "/balance", safe_to_repeat=True, body_limit=1024 * 1024)
    assert time.monotonic() - begun < 5.0


def test_a_plain_answer_within_the_deadline_reuses_its_connection(server):
    hostile = server("plain")
    transport = Transport(hostile.url, deadline=2.0, max_retries=0)
    for _ in range(3):
        reply = transport.request("GET", "/balance", safe_to_repeat=True)
        assert reply.data["currency"] == "USD"
    assert hostile.connections == 1
