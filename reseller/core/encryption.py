"""Encryption of secrets at rest with a rotatable key list (cryptography's MultiFernet).

`settings.FIELD_ENCRYPTION_KEYS` lists Fernet keys; the first encrypts, all decrypt. Rotation: put a
new key first, run `manage.py rotate_encryption_keys` (re-encrypts every stored secret under the new
key), then remove the old key from the list.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: secrets cannot be stored.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a key that is not a valid Fernet key "
            "(32 url-safe base64-encoded bytes; make one with `manage.py generate_encryption_key`)."
        ) from exc


def current_fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_text(plaintext: str) -> str:
    return current_fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt_text(token: str) -> str:
    try:
        return current_fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS "
            "(was a key removed before `rotate_encryption_keys` ran?)."
        ) from None


def rotate_token(token: str) -> str:
    """Re-encrypt one stored value under the first (newest) key."""
    try:
        return current_fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with any configured key."
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")
