"""Uploaded media: streamed to disk while hashed, sniffed by content, decoded, kept under the media directory.

Files are never read whole into memory: werkzeug's multipart parser writes each file part into a
:class:`HashingSpool`, which hashes and counts as it writes and aborts with 413 (``payload_too_large``,
field ``file``) as soon as a file passes the limit.

The first bytes only say what a file claims to be; :func:`herald.media.facts.inspect` then decodes
it (415 when it does not decode as that type) and records what platforms check (dimensions,
duration, codecs).

Only Herald's user may read what is stored: directories are created 0700 and files 0600. The spool
is on this machine's disk whatever the store; :func:`stored` hands the checked file to the media
store (:mod:`herald.media.store`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import PayloadTooLarge, UnsupportedMediaType
from .facts import MediaFacts, inspect
from .store import FILE_MODE, MediaStore, make_private_dirs

ALLOWED = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# ISO base media files start with an "ftyp" box naming their major brand. These brands are still
# images (HEIF/HEIC, AVIF), audio (M4A, M4B …) or camera raw, not video.
_NOT_VIDEO_BRANDS = {
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1", b"miaf",
    b"avif", b"avis", b"avio", b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ", b"crx ",
}


def _box_size(head: bytes) -> int:
    return int.from_bytes(head[:4], "big")


def sniff(head: bytes, size: int | None = None) -> str | None:
    """The content type of a file from its first bytes, when it is one Herald accepts.

    ``size`` is the whole file's length; when given, the first MP4/QuickTime box must fit in it, so
    text whose bytes 4-8 happen to spell an atom name ("The free …") is not taken for a video.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    limit = size if size is not None else 1 << 64
    if head[4:8] == b"ftyp":
        box = _box_size(head)  # 8-byte header, major brand, minor version, compatible brands
        if box < 16 or box % 4 or box > limit or head[8:12] in _NOT_VIDEO_BRANDS:
            return None
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[4:8] in _QUICKTIME_ATOMS:
        box = _box_size(head)  # 0: up to the end of the file; 1: a 64-bit size follows
        if box in (0, 1) or 8 <= box <= limit:
            return "video/quicktime"
    return None


def facts_columns(facts: MediaFacts) -> dict:
    """The :class:`~herald.db.models.Media` columns holding ``facts``."""
    return {"width": facts.width, "height": facts.height, "duration_seconds": facts.duration_seconds,
            "video_codec": facts.video_codec, "audio_codec": facts.audio_codec, "frame_rate": facts.frame_rate}


def size_limit_message(limit: int) -> str:
    """The 413 message for files over ``limit`` bytes."""
    mib = 1024 * 1024
    amount = f"{limit // mib} MB" if limit >= mib and limit % mib == 0 else f"{limit} bytes"
    return f"The file is larger than the {amount} limit."


class HashingSpool:
    """A temporary file on disk that hashes and counts what is written, refusing more than ``limit`` bytes."""

    def __init__(self, directory: Path, limit: int):
        make_private_dirs(directory)
        fd, name = tempfile.mkstemp(dir=directory, prefix="upload-", suffix=".part")
        os.fchmod(fd, FILE_MODE)  # mkstemp's mode already; explicit because this file becomes the stored one
        self._file = os.fdopen(fd, "w+b")
        self.path = Path(name)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(size_limit_message(self.limit), field="file")
        self._hash.update(data)
        return self._file.write(data)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything written."""
        return self._hash.hexdigest()

    def __getattr__(self, name):  # read, seek, tell, flush, close … go to the file
        return getattr(self._file, name)

    def discard(self) -> None:
        """Close and delete the temporary file (no-op when it was already moved)."""
        self._file.close()
        self.path.unlink(missing_ok=True)


@dataclasses.dataclass(frozen=True)
class StoredFile:
    """Where :func:`stored` put an upload."""

    content_type: str
    path: str  # the key in the media store
    created: bool  # False when a file with the same content was in place already
    facts: MediaFacts  # what decoding the file found


def inspect_spool(spool: HashingSpool) -> tuple[str, MediaFacts]:
    """The spooled file's content type (sniffed from its bytes) and facts; 415 ``unsupported_media_type``
    (file deleted) when it is not an allowed type or does not decode as the one it claims."""
    spool.flush()
    spool.seek(0)
    content_type = sniff(spool.read(32), spool.size)
    if content_type is None:
        spool.discard()
        raise UnsupportedMediaType(
            "Only JPEG, PNG, WebP, MP4 and MOV files are accepted (checked from the file's content).",
            field="file")
    try:
        return content_type, inspect(spool.path, content_type)
    except UnsupportedMediaType:
        spool.discard()
        raise


@contextlib.contextmanager
def stored(spool: HashingSpool, store: MediaStore,
           checked: tuple[str, MediaFacts] | None = None) -> Iterator[StoredFile]:
    """Sniff and decode the spooled file, put it in ``store`` under its SHA-256 for the block that records it.

    Raises 415 ``unsupported_media_type`` (and deletes the spool) when the content is not allowed or
    does not decode. ``checked``: what :func:`inspect_spool` already found for this spool.
    Identical content lands on the same file. When the block raises, a file this upload created is
    removed again, so no file is left that no upload records. Uploads of the same content take turns
    from storing to recording (:meth:`~herald.media.store.MediaStore.lock`): a file this upload
    created is used by no other, and a file found in place (recorded by an earlier upload) is never removed.
    """
    content_type, facts = checked or inspect_spool(spool)
    spool.close()
    digest = spool.sha256
    relative = f"{digest[:2]}/{digest}{ALLOWED[content_type]}"
    with store.lock(relative):
        created = not store.exists(relative)
        if created:
            store.put_file(spool.path, relative)
        try:
            yield StoredFile(content_type, relative, created, facts)
        except BaseException:
            if created:
                store.delete(relative)
            raise
