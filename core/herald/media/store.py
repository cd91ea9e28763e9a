"""Where media files live: one :class:`MediaStore` interface, kept on this machine's disk by
:class:`LocalStore` (``HERALD_DATA_DIR/media``, the default) or in an S3-compatible bucket
(:mod:`herald.media.s3`, ``HERALD_MEDIA_STORE=s3://bucket/prefix``) so that several web and worker
machines share one set of files.

Every reader and writer of media goes through the store (:func:`herald.media.configured.media_store`
gives the configured one): uploads and URL imports put the file (:mod:`herald.media.uploads`),
renditions read and put (:mod:`herald.media.renditions`), the signed links stream from it
(``GET /media/<token>/<filename>``), the GDPR archive and :func:`herald.sdk.media.read_media` read it.

Keys are paths relative to the store (``ab/ab12….jpg``, ``renditions/cd/cd34….jpg``), as the
``path`` columns of :class:`~herald.db.models.Media` and :class:`~herald.db.models.MediaRendition` hold
them. Uploads are first spooled to this machine's ``HERALD_DATA_DIR/media/tmp`` whatever the store
(they are hashed and decoded there), then handed to :meth:`MediaStore.put_file`.

Signed links stay Herald's own (``<HERALD_PUBLIC_URL>/media/<token>/<name>``, streamed from the store
by the web app) rather than pre-signed S3 URLs: platforms see one public host whatever the store,
the bucket can stay private and its endpoint unreachable from the internet (MinIO on a private
network), a link's lifetime does not depend on the lifetime of the credentials that signed it
(temporary role credentials cut a pre-signed URL short), and one link format serves uploads and
renditions alike, which :func:`herald.sdk.media.read_media` reads back.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600


class MediaNotStored(Exception):
    """The store has no file under this key (or the key points outside the store)."""


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """What the store knows of one file."""

    size: int
    modified: dt.datetime  # aware, UTC


def make_private_dirs(path: Path) -> Path:
    """Create ``path`` and its missing parents readable by this user only (0700); returns ``path``."""
    for directory in reversed((path, *path.parents)):
        if not directory.exists():
            # mkdir(parents=True) would give the parents the default mode, so create each one.
            directory.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


class MediaStore(abc.ABC):
    """Files by key: put, open, stat, delete; what every media reader and writer uses."""

    kind: str  # "local" or "s3", as /health reports it
    scratch: Path  # a directory of this machine's disk for files on their way in or out

    @abc.abstractmethod
    def put_file(self, source: Path, key: str) -> None:
        """Store the local file ``source`` under ``key``, whole or not at all; ``source`` is consumed
        (moved or uploaded, then removed)."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """The file under ``key`` as a stream to read (and close); raises :class:`MediaNotStored`."""

    @abc.abstractmethod
    def stat(self, key: str) -> StoredObject | None:
        """Size and modification time of the file under ``key``; None when there is none."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the file under ``key`` (nothing happens when there is none)."""

    @abc.abstractmethod
    def all_keys(self) -> list[str]:
        """Every key in the store, sorted (for operators and tests: it walks the whole store)."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise when the store cannot be used now (``/health``)."""

    @abc.abstractmethod
    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """The file under ``key`` as a path on this machine's disk for the block (libraries that need a
        path: Pillow's decoders); raises :class:`MediaNotStored`."""

    @abc.abstractmethod
    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold a lock that serialises storing and recording ``key`` (see :func:`herald.media.uploads.stored`)."""

    def local_file(self, key: str) -> Path | None:
        """The file under ``key`` when this store keeps it on this machine's disk (the web app then
        lets the server send it, with ranges); None otherwise."""
        return None

    def get(self, key: str) -> bytes:
        """The whole file under ``key``; raises :class:`MediaNotStored`."""
        with self.open(key) as stream:
            return stream.read()

    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        return self.stat(key) is not None

    def size(self, key: str) -> int | None:
        """The size in bytes of the file under ``key``; None when there is none."""
        found = self.stat(key)
        return found.size if found is not None else None


class LocalStore(MediaStore):
    """Files under one directory of this machine (``HERALD_DATA_DIR/media``): directories 0700, files
    0600, written by rename so a reader never sees half a file."""

    kind = "local"

    def __init__(self, root: Path):
        self.root = root
        self.scratch = root / "tmp"  # on the same disk as the files: a rename moves a file in

    def path(self, key: str) -> Path:
        """Where ``key`` lives; raises :class:`MediaNotStored` for a key that leaves the directory."""
        root = self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root) or path == root:
            raise MediaNotStored(key)
        return path

    def put_file(self, source: Path, key: str) -> None:
        target = self.path(key)
        make_private_dirs(target.parent)
        os.chmod(source, FILE_MODE)
        os.replace(source, target)  # whole or not at all, even when two processes store it at once

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MediaNotStored(key) from None

    def stat(self, key: str) -> StoredObject | None:
        try:
            found = self.path(key).stat()
        except (MediaNotStored, FileNotFoundError, NotADirectoryError):
            return None
        if not os.path.isfile(self.path(key)):
            return None
        return StoredObject(found.st_size, dt.datetime.fromtimestamp(found.st_mtime, dt.UTC))

    def delete(self, key: str) -> None:
        with contextlib.suppress(MediaNotStored):
            self.path(key).unlink(missing_ok=True)

    def all_keys(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(str(path.relative_to(self.root)) for path in self.root.rglob("*")
                      if path.is_file() and path.relative_to(self.root).parts[0] != "tmp")

    def check(self) -> None:
        make_private_dirs(self.root)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.root} is not writable")

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise MediaNotStored(key)
        yield path

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive ``flock`` on the key's directory: other processes and threads of this machine
        wait for it alike."""
        fd = os.open(make_private_dirs(self.path(key).parent), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor is closed
            yield
        finally:
            os.close(fd)

    def local_file(self, key: str) -> Path | None:
        try:
            path = self.path(key)
        except MediaNotStored:
            return None
        return path if path.is_file() else None


def copy_to(stream: BinaryIO, target: Path, chunk: int = 1024 * 1024) -> None:
    """Write ``stream`` to the new file ``target`` (0600) in pieces of ``chunk`` bytes."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(stream, out, chunk)
