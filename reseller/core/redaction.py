"""Keeping credentials and delivered keys out of messages, reprs and log records: the one place.

Decisions:

- A credential is held in a `Secret`, whose `repr()`/`str()` is a mask. The supplier clients keep
  every token in one, so `vars(client)`, a debugger or a crash reporter never shows it.
- `redact(text, secrets)` replaces each given secret and each registered one (and their
  URL-quoted spellings) by `***`, and masks the shapes that carry a secret by themselves: a
  Telegram bot token in a URL path (`/bot<id>:<secret>/...`) and an `Authorization:` value.
- Code that holds a secret in memory registers it (`register_secrets`); `RedactSecretsFilter`
  rewrites every log record with the registered secrets masked. It is on the console handler of
  the project's LOGGING, and on the loggers of urllib3, requests and the supplier clients
  themselves (a logger's filter applies only to records that logger creates, so it is attached to
  each urllib3 module logger that writes URLs, not to the `urllib3` parent alone).
- `mask_delivered_keys` hides `"key"`/`"keys"` values (activation codes, PINs) in raw bodies kept
  on errors: an excerpt is for the operator's eyes, a key is money.

Plain Python, no Django: the supplier clients use it as they are.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
# Shorter values are too likely to occur in ordinary text to be masked everywhere.
_MIN_SECRET_LENGTH = 6

_SHAPES = (
    (re.compile(r"/bot\d+:[A-Za-z0-9_-]+"), "/bot" + MASK),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+"),
        r"\1\2" + MASK,
    ),
)

_KEY_VALUES = re.compile(
    r"""("keys?"\s*:\s*)(\[[^\]]*\]?|"(?:[^"\\]|\\.)*"?|[0-9][0-9A-Za-z.-]*)"""
)


class Secret:
    """A credential whose text only `reveal()` gives out."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if not isinstance(value, str) or not value:
            raise ValueError("a credential must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self):
        raise TypeError("a Secret is not pickled")


def _plain(secret: str | Secret | None) -> str:
    return secret.reveal() if isinstance(secret, Secret) else (secret or "")


def _spellings(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret, safe="/:")} - {""}


_registry_lock = threading.Lock()
_registered: frozenset[str] = frozenset()


def redact(text: str, secrets: Iterable[str | Secret | None] = ()) -> str:
    """`text` with every given or registered secret (and the secret-bearing shapes) masked."""
    if not text:
        return text
    values: set[str] = set()
    for secret in (*secrets, *_registered):
        if plain := _plain(secret):
            values |= _spellings(plain)
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def mask_delivered_keys(text: str) -> str:
    """`text` with the values of `"key"` / `"keys"` JSON members masked (truncated text too)."""
    return _KEY_VALUES.sub(lambda m: m.group(1) + '"' + MASK + '"', text)


# --- log records ---------------------------------------------------------------------------------

_FILTERED_LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    "suppliers.clients",
    "suppliers.clients.transport",
)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message and exception text with the registered secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; let logging report it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactSecretsFilter()


def register_secrets(*secrets: str | Secret | None) -> None:
    """Mask these values in every log record and every `redact` from now on."""
    global _registered
    values = {plain for secret in secrets if len(plain := _plain(secret)) >= _MIN_SECRET_LENGTH}
    if values <= _registered:
        return
    with _registry_lock:
        _registered = _registered | values
        for name in _FILTERED_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
