"""Uploaded media: streamed to disk while hashed, sniffed by content, kept under the media directory.

Files are never read whole into memory: werkzeug's multipart parser writes each file part into a
:class:`HashingSpool`, which hashes and counts as it writes and aborts with 413 as soon as a file
passes the limit.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from werkzeug.exceptions import RequestEntityTooLarge

from .errors import UnsupportedMediaType

ALLOWED = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes, when it is one Herald accepts."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"
    return None


class HashingSpool:
    """A temporary file on disk that hashes and counts what is written, refusing more than ``limit`` bytes."""

    def __init__(self, directory: Path, limit: int):
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory, prefix="upload-", suffix=".part")
        self._file = os.fdopen(fd, "w+b")
        self.path = Path(name)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise RequestEntityTooLarge(f"A file is larger than the {self.limit // (1024 * 1024)} MB limit.")
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


def store(spool: HashingSpool, media_dir: Path) -> tuple[str, str]:
    """Sniff the spooled file and move it into ``media_dir``; returns ``(content_type, relative path)``.

    Raises 415 ``unsupported_media_type`` (and deletes the file) when the content is not allowed.
    """
    spool.flush()
    spool.seek(0)
    content_type = sniff(spool.read(32))
    if content_type is None:
        spool.discard()
        raise UnsupportedMediaType(
            "Only JPEG, PNG, WebP, MP4 and MOV files are accepted (checked from the file's content).",
            field="file")
    spool.close()
    digest = spool.sha256
    relative = Path(digest[:2]) / f"{digest}{ALLOWED[content_type]}"
    target = media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(spool.path, target)  # identical content lands on the same file
    return content_type, str(relative)
