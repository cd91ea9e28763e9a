"""Encryption at rest for secrets Herald must be able to read back (platform access tokens).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) with a key derived from
``HERALD_SECRET_KEY``. Changing the secret key makes stored tokens unreadable: accounts then
show ``invalid`` and must be reconnected, which is the honest outcome.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["InvalidToken", "decrypt", "encrypt"]


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    # A purpose-specific key, so the session-signing secret is never used directly as a cipher key.
    derived = hashlib.sha256(b"herald/token-encryption/v1\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret_key: str, plaintext: str) -> str:
    """``plaintext`` encrypted and authenticated with a key derived from ``secret_key``."""
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, ciphertext: str) -> str:
    """The plaintext of :func:`encrypt`'s output; raises ``InvalidToken`` if it was altered or the key changed.

    Remembered per process (a worker decrypts the same few account tokens for every task); a
    failure is not remembered, and a new token is a new ciphertext.
    """
    return _decrypt(secret_key, ciphertext)


@functools.lru_cache(maxsize=256)
def _decrypt(secret_key: str, ciphertext: str) -> str:
    return _fernet(secret_key).decrypt(ciphertext.encode()).decode()
