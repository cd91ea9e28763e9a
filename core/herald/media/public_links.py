"""Public, signed, expiring links to uploaded media, for platforms that fetch media by URL.

Platforms such as Instagram and Facebook download images and videos from a URL; they cannot read
Herald's disk.
Herald serves each file at ``<HERALD_PUBLIC_URL>/media/<signed token>/<filename>``; the token
names the media row and expires (24 hours by default), so links cannot be guessed or reused later.
Any web server of the deployment serves it from the media store (:mod:`herald.media.store`, the local
directory or a shared S3 bucket); why these links and not pre-signed S3 URLs is said there.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..db.models import Media, MediaRendition
from ..net import guard as netguard

LINK_SECONDS = 24 * 3600
SALT = "herald/public-media/v1"


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def public_base_problem(config) -> str | None:
    """Why platforms could not fetch media from ``HERALD_PUBLIC_URL``, or None when it looks reachable.

    Loopback and private addresses are refused outside tests: Meta answers those with opaque
    errors (9004 / 2207052) long after the request, so Herald says what to set instead.
    """
    base = config.public_url
    if not base:
        return ("Publishing media needs HERALD_PUBLIC_URL: the public https address where the platforms "
                "can download uploaded files (e.g. https://herald.example.com).")
    if config.testing:
        return None
    problem = _unreachable(base)
    if problem:
        return (f"HERALD_PUBLIC_URL is {base}, which the platforms cannot reach ({problem}). Set it to "
                "Herald's public https address (or a tunnel to it).")
    return None


@functools.lru_cache(maxsize=16)
def _unreachable(base: str) -> str | None:
    """Why platforms could not reach ``base`` (cached: publishing asks for every task)."""
    try:
        netguard.check_url(base)
    except netguard.Unresolvable:
        return None  # unresolvable here does not mean unreachable from Meta; let the platform say
    except netguard.BlockedURL as exc:
        return str(exc)
    return None


def signed_path(secret_key: str, media: Media) -> str:
    """The signed, expiring path of ``media`` on this server (``/media/<token>/<filename>``)."""
    token = _serializer(secret_key).dumps(media.id)
    return f"/media/{token}/{quote(media.filename)}"


def public_url(config, secret_key: str, media: Media) -> str:
    """A signed link to ``media`` under ``HERALD_PUBLIC_URL``."""
    return config.public_url.rstrip("/") + signed_path(secret_key, media)


def resolve(secret_key: str, token: str, max_age: int = LINK_SECONDS) -> int | None:
    """The media id a token names, or None when it is forged or expired (or names a rendition)."""
    try:
        return int(_serializer(secret_key).loads(token, max_age=max_age))
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None


def rendition_url(config, secret_key: str, media: Media, rendition: MediaRendition) -> str:
    """A signed link to a rendition of ``media`` (see :mod:`herald.media.renditions`), named like the
    upload with the rendition's extension."""
    token = _serializer(secret_key).dumps(["rendition", rendition.id])
    stem = media.filename.rsplit(".", 1)[0] or "media"
    extension = rendition.path.rsplit(".", 1)[-1]
    return f"{config.public_url.rstrip('/')}/media/{token}/{quote(stem)}.{extension}"


def resolve_rendition(secret_key: str, token: str, max_age: int = LINK_SECONDS) -> int | None:
    """The rendition id a token made by :func:`rendition_url` names, or None."""
    try:
        value = _serializer(secret_key).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    if isinstance(value, list) and len(value) == 2 and value[0] == "rendition" and isinstance(value[1], int):
        return value[1]
    return None
