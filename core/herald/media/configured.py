"""The media store a configuration names: :func:`media_store`."""

from __future__ import annotations

import functools
from pathlib import Path

from .store import LocalStore, MediaStore

SCHEME = "s3://"


def media_store(config) -> MediaStore:
    """The store of ``config``: S3 when ``HERALD_MEDIA_STORE`` is an ``s3://`` URL, else the local
    directory ``HERALD_DATA_DIR/media``. One per process and setting (an S3 client pools connections)."""
    return _store(config.media_store, str(config.media_dir), config.s3_endpoint_url)


@functools.lru_cache(maxsize=8)
def _store(spec: str | None, media_dir: str, endpoint_url: str | None) -> MediaStore:
    if spec and spec.startswith(SCHEME):
        # Imported only here: boto3 is the optional extra herald[s3], and importing it costs every
        # process about 1.4 s and 35 MB, which a deployment keeping media on its disk never needs.
        from .s3 import S3Store

        return S3Store(spec, Path(media_dir) / "tmp", endpoint_url)
    return LocalStore(Path(media_dir))
