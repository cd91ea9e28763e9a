"""Media in an S3-compatible bucket (``HERALD_MEDIA_STORE=s3://bucket/prefix``), through boto3.

Credentials and the region come from boto3's standard sources (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, a profile,
an instance role); ``HERALD_S3_ENDPOINT_URL`` (or boto3's own ``AWS_ENDPOINT_URL``) points it at
another S3-compatible service (MinIO, Ceph, R2, moto in the tests), addressed by path
(``http://host/bucket/key``), which they all accept.

boto3 is the optional extra ``herald[s3]``: a deployment on one machine does not need it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from .store import MediaNotStored, MediaStore, StoredObject, copy_to, make_private_dirs

try:  # the optional extra herald[s3]
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:  # pragma: no cover - reported by S3Store when it is asked for
    boto3 = None

SCHEME = "s3://"
_MISSING = {"404", "NoSuchKey", "NotFound"}


def parse(spec: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as ``(bucket, prefix)``; the prefix is empty or ends with ``/``. Raises
    ValueError for anything else."""
    parts = urlsplit(spec)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"HERALD_MEDIA_STORE must be s3://bucket or s3://bucket/prefix, not {spec!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3Store(MediaStore):
    """Files as objects of one bucket under one prefix."""

    kind = "s3"

    def __init__(self, spec: str, scratch: Path, endpoint_url: str | None = None):
        if boto3 is None:
            raise RuntimeError("HERALD_MEDIA_STORE is an s3:// URL but boto3 is not installed: "
                               "pip install 'herald[s3]'.")
        self.bucket, self.prefix = parse(spec)
        self.scratch = scratch
        options = {"retries": {"mode": "standard"}}
        if endpoint_url:
            options["s3"] = {"addressing_style": "path"}
        # A client of its own session: boto3's default session is not thread-safe; the client is.
        session = boto3.session.Session()
        self.client = session.client("s3", endpoint_url=endpoint_url or None,
                                     region_name=session.region_name or "us-east-1",
                                     config=botocore.config.Config(**options))
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_lock = threading.Lock()

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise MediaNotStored(key)
        return self.prefix + key

    def put_file(self, source: Path, key: str) -> None:
        # One PUT streamed from the file (upload_file's transfer manager reads it into memory in 8 MB
        # parts); S3 makes an object visible whole or not at all. 5 GB at most, far over the upload limit.
        with source.open("rb") as body:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)
        source.unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise MediaNotStored(key) from None
            raise

    def stat(self, key: str) -> StoredObject | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except MediaNotStored:
            return None
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        return StoredObject(head["ContentLength"], head["LastModified"])

    def delete(self, key: str) -> None:
        with contextlib.suppress(MediaNotStored):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def all_keys(self) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            found.extend(item["Key"][len(self.prefix):] for item in page.get("Contents", []))
        return sorted(found)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """The object downloaded to this machine's scratch directory for the block, then removed."""
        suffix = os.path.splitext(key)[1]
        make_private_dirs(self.scratch)
        fd, name = tempfile.mkstemp(dir=self.scratch, prefix="s3-", suffix=suffix)
        os.close(fd)
        path = Path(name)
        try:
            path.unlink()
            with self.open(key) as stream:
                copy_to(stream, path)
            yield path
        finally:
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """A lock of this process per key. Two machines storing the same content at the same moment
        are not serialised: both write identical bytes, and a failed recording on one may remove the
        object the other just recorded (as unlikely as it is visible: its link answers 404)."""
        with self._locks_lock:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
        with lock:
            yield
