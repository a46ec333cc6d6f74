"""HTTP for the supplier clients: one session, timeouts, exact JSON, narrow retries, no secrets.

Decisions:

- One `requests.Session` per client (connection reuse), redirects not followed (a redirect would
  carry the token elsewhere and turn a POST into a GET; it is reported as a bad response).
- A deadline on every call, whatever the server does: requests' ``(connect, read)`` timeout
  bounds each socket operation only, so a server that trickles one byte every few seconds would
  hold a worker for ever. A timer shuts the call's socket down when the deadline passes (the
  connection classes below tell it which socket a call uses), and the call fails as
  `SupplierUnreachable` (transient; for create-order, an unknown outcome). An answer larger than
  the call's `body_limit` is not read further and fails as `SupplierBadResponse`.
- Bodies go out through `dumps_exact`: a `Decimal` is written as its own digits, so the price
  find-one returned (``560.10``) goes back to create-order as ``560.10``, never through a float.
  Answers are decoded with ``json.loads(parse_float=Decimal)``.
- Automatic retries (exponential backoff, equal jitter, a cap) happen only for calls the client
  marks *safe to repeat* (reads) and only after a transient error. A ``Retry-After`` longer than the
  cap stops the retries: the caller (a Celery task) schedules the next try instead of a worker
  sleeping. create-order and the Telegram report are never repeated here: a repeated create-order
  could buy twice; its failures become `OrderOutcomeUnknown` in the client and are resolved with
  order-status by transactionId.
- `throttle` is called before every HTTP attempt, retries included (the back-office plugs its
  cross-process rate limiter in there); `on_request(method, path, status, elapsed)` after each
  attempt (status None when no answer came). A failing metrics hook is logged, never raised.
- Secrets never leave: the path given to hooks, logs and errors is redacted (the Bot API token is
  in the URL path); requests' exception text (which holds the URL) is redacted before it becomes
  an error message, and the error is raised outside the ``except`` block so the original exception
  is not attached as ``__context__``. Response bodies are redacted before they are decoded or kept.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from suppliers.clients.errors import (
    RAW_BODY_LIMIT,
    SupplierBadResponse,
    SupplierError,
    SupplierUnreachable,
    classify_decoded,
    loads,
    unreadable_body_error,
)
from suppliers.clients.redaction import Secret, mask_delivered_keys, redact, register_secrets

logger = logging.getLogger("suppliers.clients.transport")

T = TypeVar("T")
Throttle = Callable[[], None]
OnRequest = Callable[[str, str, "int | None", float], None]
Classifier = Callable[[int, Any, "str | None"], "SupplierError | None"]

DEFAULT_TIMEOUT = (3.05, 15.0)
# The longest one HTTP attempt may take, start to end.
DEFAULT_DEADLINE = 20.0
# The largest answer read: an order, a balance, a status, a page of the ledger. A catalog sync
# page (5,000 offers) asks for more.
DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
_CHUNK = 64 * 1024
_UNREADABLE = object()

_REQUESTS_FAILURES = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


# --- the deadline ----------------------------------------------------------------------------------


class _WatchedCall:
    """One HTTP attempt under a deadline: which connection it uses, and whether time ran out."""

    def __init__(self) -> None:
        self.connection: HTTPConnection | None = None
        self.expired = False
        self._lock = threading.Lock()

    def use(self, connection: HTTPConnection) -> None:
        with self._lock:
            self.connection = connection
            expired = self.expired
        if expired:
            _shut(connection)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            connection = self.connection
        if connection is not None:
            _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    """Wake a thread blocked on the connection's socket: its read ends at once."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


_current = threading.local()


class _WatchedConnectionMixin(HTTPConnection):
    """Tells the calling thread's deadline which connection (and so which socket) it uses; every
    request on a connection passes here, a new one or one kept alive."""

    def request(self, *args, **kwargs):
        call = getattr(_current, "call", None)
        if call is not None:
            call.use(self)
        return super().request(*args, **kwargs)


class _WatchedHTTPConnection(_WatchedConnectionMixin):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections a deadline can cut short."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


def watched_session() -> requests.Session:
    """A `requests.Session` whose calls a `Transport` deadline can end."""
    session = requests.Session()
    prepare_session(session)
    return session


def prepare_session(session: requests.Session) -> None:
    if not isinstance(session.get_adapter("https://supplier.invalid"), DeadlineAdapter):
        session.mount("https://", DeadlineAdapter())
        session.mount("http://", DeadlineAdapter())


class _TooLarge(Exception):
    pass


# --- exact JSON ----------------------------------------------------------------------------------


def _encode(value: Any, out: Callable[[str], Any]) -> None:
    if isinstance(value, dict):
        _encode_object(value, out)
    elif isinstance(value, list | tuple):
        _encode_array(value, out)
    else:
        out(_scalar(value))


def _encode_object(value: dict, out: Callable[[str], Any]) -> None:
    out("{")
    first = True
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
        if not first:
            out(",")
        first = False
        out(json.dumps(key))
        out(":")
        _encode(item, out)
    out("}")


def _encode_array(value: list | tuple, out: Callable[[str], Any]) -> None:
    out("[")
    for index, item in enumerate(value):
        if index:
            out(",")
        _encode(item, out)
    out("]")


def _scalar(value: Any) -> str:
    """A JSON literal, string or number; a Decimal with exactly its own digits."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be sent as a JSON number")
        return str(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} cannot be sent as a JSON number")
        return float.__repr__(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_exact(value: Any) -> str:
    """Compact JSON in which a `Decimal` is written with exactly its own digits.

    ``dumps_exact({"price": Decimal("560.10")}) == '{"price":560.10}'``. NaN and infinities are
    refused (they are not JSON numbers).
    """
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts)


def _retry_after_header(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(Decimal(value.strip()))
    except (InvalidOperation, ValueError):
        return None  # an HTTP date: not worth parsing for a cap of seconds
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class Reply:
    """A decoded answer. `text` is the redacted body (kept for error excerpts)."""

    status: int
    data: Any
    text: str = field(repr=False)
    endpoint: str = ""

    def excerpt(self) -> str:
        return mask_delivered_keys(self.text[: RAW_BODY_LIMIT + 200])[:RAW_BODY_LIMIT]


class Transport:
    """JSON over one `requests.Session` for one supplier account. Not shared between threads."""

    def __init__(
        self,
        base_url: str,
        *,
        secrets: Iterable[str | Secret | None] = (),
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        throttle: Throttle | None = None,
        on_request: OnRequest | None = None,
        session: requests.Session | None = None,
        classify: Classifier = classify_decoded,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        user_agent: str = "reseller-backoffice-supplier-client/1",
    ):
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self._secrets = tuple(s if isinstance(s, Secret) else Secret(s) for s in secrets if s)
        register_secrets(*self._secrets)
        if deadline <= 0:
            raise ValueError("deadline must be positive")
        self.timeout = timeout
        self.deadline = deadline
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.throttle = throttle
        self.on_request = on_request
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        prepare_session(self.session)
        self._classify = classify
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self.user_agent = user_agent

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # --- helpers ---------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def url_for(self, target: str) -> str:
        return target if "://" in target else f"{self.base_url}/{target.lstrip('/')}"

    def display_path(self, url: str) -> str:
        """The path of `url`, redacted: what errors, logs and hooks are given."""
        return self.redact(urlsplit(url).path or "/")

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt + 1`: exponential, capped, with equal jitter."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    # --- the call --------------------------------------------------------------------------------

    @overload
    def request(
        self,
        method: str,
        target: str,
        *,
        safe_to_repeat: bool,
        body: Any = None,
        params: dict[str, Any] | None = None,
        authorization: Secret | None = None,
        parse: Callable[[Reply], T],
        accept: Callable[[int, Any], bool] | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
    ) -> T: ...

    @overload
    def request(
        self,
        method: str,
        target: str,
        *,
        safe_to_repeat: bool,
        body: Any = None,
        params: dict[str, Any] | None = None,
        authorization: Secret | None = None,
        parse: None = None,
        accept: Callable[[int, Any], bool] | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
    ) -> Reply: ...

    def request(
        self,
        method: str,
        target: str,
        *,
        safe_to_repeat: bool,
        body: Any = None,
        params: dict[str, Any] | None = None,
        authorization: Secret | None = None,
        parse: Callable[[Reply], T] | None = None,
        accept: Callable[[int, Any], bool] | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
    ) -> T | Reply:
        """Send one call; return `parse(reply)` (or the `Reply`). Raise a `SupplierError`.

        Calls with ``safe_to_repeat`` are repeated after a transient error (parse failures
        included), up to `max_retries` times; others are sent exactly once. Each attempt ends
        within `deadline` seconds and reads at most `body_limit` bytes of the answer.
        """
        url = self.url_for(target)
        path = self.display_path(url)
        payload = None if body is None else dumps_exact(body).encode("utf-8")
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if authorization is not None:
            headers["Authorization"] = authorization.reveal()
        attempt = 0
        while True:
            try:
                reply = self._attempt(
                    method, url, path, payload, params, headers, accept, body_limit
                )
                return self._parse(reply, parse) if parse is not None else reply
            except SupplierError as error:
                if error.endpoint is None:
                    error.endpoint = path
                if error.method is None:
                    error.method = method
                if not (safe_to_repeat and error.retryable and attempt < self.max_retries):
                    raise
                delay = self.backoff(attempt)
                if error.retry_after is not None:
                    if error.retry_after > self.backoff_cap:
                        raise
                    delay = max(delay, error.retry_after)
                attempt += 1
                logger.warning(
                    "supplier %s %s failed (%s); retry %d/%d in %.2fs",
                    method,
                    path,
                    error,
                    attempt,
                    self.max_retries,
                    delay,
                )
                self._sleep(delay)

    @staticmethod
    def _parse(reply: Reply, parse: Callable[[Reply], T]) -> T:
        try:
            return parse(reply)
        except SupplierBadResponse as error:
            if error.http_status is None:
                error.http_status = reply.status
            if error.raw_body is None:
                error.raw_body = reply.excerpt()
            raise
        except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
            raise SupplierBadResponse(
                f"unexpected answer shape ({type(exc).__name__})",
                http_status=reply.status,
                raw_body=reply.excerpt(),
            ) from None

    def _attempt(self, method, url, path, payload, params, headers, accept, body_limit) -> Reply:
        if self.throttle is not None:
            self.throttle()
        started = time.monotonic()
        failure: str | None = None
        too_large = False
        response = None
        call = _WatchedCall()
        timer = threading.Timer(self.deadline, call.expire)
        timer.daemon = True
        _current.call = call
        timer.start()
        try:
            response = self.session.request(
                method,
                url,
                data=payload,
                params=params,
                headers=headers,
                timeout=self._socket_timeout(),
                allow_redirects=False,
                stream=True,
            )
            content = self._read_body(response, body_limit, started, call)
        except _TooLarge:
            too_large = True
        except _REQUESTS_FAILURES as exc:
            failure = f"{type(exc).__name__}: {self.redact(str(exc))[:300]}"
            response = None
        finally:
            timer.cancel()
            _current.call = None
            if response is not None and (too_large or call.expired):
                response.close()
        elapsed = time.monotonic() - started
        if call.expired:
            failure, response = f"no complete answer within the {self.deadline:g} s deadline", None
        status = response.status_code if response is not None else None
        self._report(method, path, status, elapsed)
        if too_large and not call.expired:
            raise SupplierBadResponse(
                f"answer larger than {body_limit:,} bytes, not read", http_status=status
            )
        if response is None:
            # Raised outside the except block: requests' exception (and its URL) stays behind.
            logger.debug(
                "supplier %s %s: no answer after %.3fs (%s)", method, path, elapsed, failure
            )
            raise SupplierUnreachable(failure or "no answer", endpoint=path, method=method)
        logger.debug("supplier %s %s -> %s in %.3fs", method, path, status, elapsed)
        return self._decode(status, content, path, accept, response)

    def _socket_timeout(self) -> tuple[float, float] | float:
        """requests' per-operation timeout, never longer than the deadline."""
        if isinstance(self.timeout, tuple):
            return tuple(min(part, self.deadline) for part in self.timeout)  # type: ignore[return-value]
        return min(self.timeout, self.deadline)

    def _read_body(
        self, response: requests.Response, limit: int, started: float, call: _WatchedCall
    ) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        chunks, size = [], 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if time.monotonic() - started > self.deadline:
                call.expire()  # the timer is about to; do not wait for it
                break
        return b"".join(chunks)

    def _report(self, method: str, path: str, status: int | None, elapsed: float) -> None:
        if self.on_request is None:
            return
        try:
            self.on_request(method, path, status, elapsed)
        except Exception:
            logger.exception("on_request hook failed for %s %s", method, path)

    def _decode(self, status, content: bytes, path, accept, response) -> Reply:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = None
        if text is None:
            shown = self.redact(content[: RAW_BODY_LIMIT * 2].decode("utf-8", errors="replace"))
            raise SupplierBadResponse(
                "body is not UTF-8", http_status=status, raw_body=mask_delivered_keys(shown)
            )
        if self._secrets:
            text = self.redact(text)
        reply = Reply(status=status, data=None, text=text, endpoint=path)
        if 300 <= status < 400:
            raise SupplierBadResponse(
                f"unexpected redirect to {self.redact(response.headers.get('Location', '?'))}",
                http_status=status,
                raw_body=reply.excerpt(),
            )
        try:
            data = loads(text)
        except (ValueError, RecursionError):
            data = _UNREADABLE
        if data is _UNREADABLE:
            raise unreadable_body_error(status, text, reply.excerpt())
        reply = Reply(status=status, data=data, text=text, endpoint=path)
        if accept is not None and accept(status, data):
            return reply
        error = self._classify(status, data, None)
        if error is None and not 200 <= status < 300:
            error = SupplierBadResponse("error status without an error body", http_status=status)
        if error is not None:
            if error.raw_body is None:
                error.raw_body = reply.excerpt()
            if error.http_status is None:
                error.http_status = status
            if error.retry_after is None:
                error.retry_after = _retry_after_header(response)
            raise error
        return reply
