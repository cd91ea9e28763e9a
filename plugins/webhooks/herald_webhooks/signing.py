"""Standard Webhooks signing: ``whsec_`` secrets and the ``webhook-*`` headers (``standardwebhooks``)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import secrets

from standardwebhooks import Webhook

from herald.sdk import ValidationError
from herald.sdk.storage import decrypt, encrypt

PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
MIN_BYTES, MAX_BYTES = 24, 64


def generate_secret() -> str:
    """A new random ``whsec_`` secret."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_secret(value: str) -> str:
    """``value`` when it is a ``whsec_`` secret of 24 to 64 bytes; 400 naming ``secret`` otherwise."""
    problem = f"secret must be {PREFIX} followed by {MIN_BYTES} to {MAX_BYTES} random bytes in base64."
    if not value.startswith(PREFIX):
        raise ValidationError(problem, field="secret")
    try:
        raw = base64.b64decode(value[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(problem, field="secret") from None
    if not MIN_BYTES <= len(raw) <= MAX_BYTES:
        raise ValidationError(problem, field="secret")
    return value


def seal(secret_key: str, secret: str) -> str:
    """The secret encrypted for storage."""
    return encrypt(secret_key, secret)


@functools.lru_cache(maxsize=1024)
def unseal(secret_key: str, sealed: str) -> str:
    """The stored secret in clear.

    Remembered per process: every delivery attempt needs it, and decrypting costs more than
    signing. The ciphertext is the key (each seal gets a fresh IV), so a rotated or changed secret
    is a new entry, never a stale one.
    """
    return decrypt(secret_key, sealed)


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def headers(signing_secrets: list[str], message_id: str, body: str, now: dt.datetime | None = None) -> dict[str, str]:
    """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers for ``body``.

    One ``v1,`` signature per secret (the current one and, during a rotation, the previous one),
    space-separated as the spec allows; a receiver accepts the request when any matches.
    """
    now = now or dt.datetime.now(dt.UTC)
    signatures = [_signer(secret).sign(message_id, now, body) for secret in signing_secrets]
    return {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(signatures)}
