"""Keeps secrets out of logs: known secret values and secret-shaped text are masked in every record.

Code that holds a secret in memory (a supplier token it is about to use) registers it with
`register_secret`; the logging filter masks every registered value, plus the shapes that carry
secrets by themselves (a Telegram bot token in a URL, an Authorization header).
"""

import logging
import re
import threading

MASK = "***"
_MIN_SECRET_LENGTH = 6
_PATTERNS = [
    (re.compile(r"/bot\d+:[A-Za-z0-9_-]+"), "/bot" + MASK),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+"),
        r"\1\2" + MASK,
    ),
]

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's message (and any exception text) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
