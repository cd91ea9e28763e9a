"""The media stores the tests run on: the local directory, and S3 through moto's server mode (a real
HTTP server on loopback speaking the S3 API, ``moto_server``), a fresh bucket per test.

moto runs as a process of its own, as a real S3 service would: in the test's process (moto's
``ThreadedMotoServer``) the objects it keeps would count in the memory a test measures of Herald.

:func:`config_on` (a fixture parameter, ``local`` or ``s3``) lets a test module run its tests on
both stores; ``everything_stored`` and ``stored_bytes`` read back what a test left, whichever it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from herald.config import Config
from herald.media.configured import media_store

# moto takes any credentials; set them so boto3 never looks for real ones (a profile, an instance role).
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "herald-test", "AWS_SECRET_ACCESS_KEY": "herald-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MOTO_SERVER = Path(sys.executable).with_name("moto_server")
START_TIMEOUT = 30.0


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """The URL of an S3-compatible server (moto) on loopback for this test session."""
    saved = {name: os.environ.get(name) for name in FAKE_AWS}
    os.environ.update(FAKE_AWS)
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(port):
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=0.05)  # returns at once when it died
            pytest.fail(f"moto_server exited with {server.returncode}:\n{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"moto_server did not listen within {START_TIMEOUT} s")
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def new_bucket(endpoint: str) -> str:
    """Create an empty bucket on the S3 server at ``endpoint``; its name."""
    name = f"herald-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def on_s3(config: Config, endpoint: str, prefix: str = "media") -> Config:
    """``config`` with its media in a new bucket of the S3 server at ``endpoint``."""
    return dataclasses.replace(config, media_store=f"s3://{new_bucket(endpoint)}/{prefix}", s3_endpoint_url=endpoint)


STORES = ["local", "s3"]


def config_on(request, config: Config) -> Config:
    """``config`` on the store a fixture parametrized with :data:`STORES` asks for: the local directory
    as it is (also when the fixture is not parametrized), or a fresh bucket of the moto server. A module
    runs all its tests on both with::

        @pytest.fixture(params=STORES)
        def config(config, request):
            return config_on(request, config)

    or chosen tests, with that fixture unparametrized and ``@pytest.mark.parametrize("config", STORES,
    indirect=True)`` on them.
    """
    if getattr(request, "param", "local") == "local":
        return config
    return on_s3(config, request.getfixturevalue("moto_endpoint"))


def everything_stored(config: Config) -> list[str]:
    """Every file the store holds, and every file left in this machine's spool directory (``tmp/…``)."""
    spool = config.media_dir / "tmp"
    left = [f"tmp/{path.relative_to(spool)}" for path in spool.rglob("*") if path.is_file()] if spool.exists() else []
    return sorted(media_store(config).all_keys() + left)


def stored_bytes(config: Config, key: str) -> bytes:
    """The bytes the store holds under ``key``."""
    return media_store(config).get(key)


def local_only(config: Config, why: str) -> None:
    """Skip the test when ``config`` keeps media in S3, saying ``why`` it is about the local directory."""
    if config.media_store:
        pytest.skip(f"local store only: {why}")
