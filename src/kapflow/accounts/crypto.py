"""Secrets at rest: the field keys, an encrypted model field, and the hash for one-time codes.

`KAPFLOW_FIELD_KEYS` is a list of Fernet keys (decision 0034): the first encrypts, every key
decrypts, so a new key is put first, `manage.py reencrypt_secrets` rewrites every value with
it, and the old key is dropped afterwards. Nothing here logs a value or a key.
"""

import hashlib
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]):
    from cryptography.fernet import Fernet, MultiFernet

    if not keys:
        raise ImproperlyConfigured("KAPFLOW_FIELD_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "Each KAPFLOW_FIELD_KEYS entry must be a Fernet key (32 url-safe base64 bytes)."
        ) from exc


def field_fernet():
    """The MultiFernet for the configured keys (read per call, so tests can override)."""
    return _fernet_for(tuple(settings.KAPFLOW_FIELD_KEYS))


def encrypt_text(value: str) -> str:
    return field_fernet().encrypt(value.encode()).decode()


def decrypt_text(value: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return field_fernet().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        # Loud on purpose: a value no configured key opens means the keys are wrong.
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any KAPFLOW_FIELD_KEYS key."
        ) from exc


def reencrypt_text(value: str) -> str:
    """The same plaintext under the first key (MultiFernet.rotate)."""
    return field_fernet().rotate(value.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; Python sees the plaintext.

    Ciphertext is random per write, so the column cannot be filtered on. Empty strings are
    stored as they are (nothing to hide).
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)


def code_hash(code: str) -> str:
    """SHA-256 of a recovery code as the person types it, spaces, dashes and case ignored.

    Codes carry 80 random bits, which a fast hash protects against offline guessing.
    """
    normalised = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()
