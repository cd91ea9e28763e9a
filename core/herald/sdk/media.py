"""A post's media files as bytes, for platforms that take uploads rather than links (LinkedIn's
Images API, a blob upload): :func:`read_media`.

A :class:`~herald.sdk.MediaRef`'s ``url`` is the signed link Herald serves the file at; a worker
reads the same file from Herald's media store instead of downloading it from itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..db.models import Media, MediaRendition
from ..media.configured import media_store
from ..media.public_links import resolve, resolve_rendition
from ..media.store import MediaNotStored
from ..platforms import MediaRef

__all__ = ["MediaMissing", "read_media"]


class MediaMissing(Exception):
    """The file a :class:`~herald.sdk.MediaRef` names is not in Herald's media store (any more)."""


def read_media(media: MediaRef, *, config: Any) -> bytes:
    """The bytes of the file ``media`` names: the upload, or the rendition made for this platform
    (a JPEG copy of a WebP, say). Raises :class:`MediaMissing` when its link names no stored file."""
    parts = urlsplit(media.url).path.rsplit("/", 2)
    if len(parts) != 3 or not parts[0].endswith("/media"):
        raise MediaMissing(f"{media.id} has no link to a file Herald stores.")
    secret = config.resolved_secret_key()
    media_id = resolve(secret, parts[1], max_age=None)
    row = Media.get_or_none(Media.id == media_id) if media_id is not None else None
    if row is None:
        rendition_id = resolve_rendition(secret, parts[1], max_age=None)
        row = MediaRendition.get_or_none(MediaRendition.id == rendition_id) if rendition_id is not None else None
    if row is None:
        raise MediaMissing(f"{media.id} is no longer in this workspace.")
    try:
        return media_store(config).get(row.path)
    except MediaNotStored:
        raise MediaMissing(f"The file of {media.id} is no longer stored.") from None
