"""Rate limits (per key, login per address, Redis down fallback) and media upload limits."""

import dataclasses
import hashlib
import shutil
import socket
import subprocess
import time

import pytest
import redis

from conftest import assert_error
from herald.app import create_app
from herald.models import Media, db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def limited_app(config, **changes):
    return create_app(dataclasses.replace(config, **changes))


def list_posts(client, tenant):
    return client.post("/api/webhooks", json={"action": "list_posts", "client_id": tenant.client.id},
                       headers=tenant.headers)


def test_sixth_request_is_429_with_retry_after(config, make_tenant):
    client = limited_app(config, rate_limit="5/minute").test_client()
    first, other = make_tenant(), make_tenant()
    for _ in range(5):
        ok = list_posts(client, first)
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Limit"] == "5"
        assert "Retry-After" not in ok.headers
    limited = list_posts(client, first)
    error = assert_error(limited, 429, "rate_limited")
    wait = int(limited.headers["Retry-After"])
    assert 0 < wait <= 60
    assert f"{wait} seconds" in error["message"]
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert header in limited.headers
    assert list_posts(client, other).status_code == 200  # another key has its own budget


def test_default_limit_is_200_per_minute(client, tenant):
    assert list_posts(client, tenant).headers["X-RateLimit-Limit"] == "200"


def test_login_is_limited_per_address(config):
    client = limited_app(config, login_rate_limit="3/minute").test_client()
    for _ in range(3):
        assert_error(client.post("/api/login", json={"email": "a@b.c", "password": "x"}), 401, "unauthorized")
    assert_error(client.post("/api/login", json={"email": "a@b.c", "password": "x"}), 429, "rate_limited")


def test_health_is_not_rate_limited(config):
    client = limited_app(config, rate_limit="2/minute").test_client()
    assert all(client.get("/health").status_code == 200 for _ in range(5))


@pytest.fixture
def private_redis():
    """A redis-server of our own on a free port, so the test can kill it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
    yield process, url
    process.kill()
    process.wait()


def test_redis_down_keeps_serving_with_per_process_limits(config, make_tenant, private_redis):
    process, url = private_redis
    app = limited_app(config, redis_url=url, rate_limit="4/minute")
    client, tenant = app.test_client(), make_tenant()
    assert list_posts(client, tenant).status_code == 200
    process.kill()
    process.wait()
    statuses = [list_posts(client, tenant).status_code for _ in range(6)]
    assert 500 not in statuses
    assert statuses[0] == 200 and statuses[-1] == 429  # still limited, now in memory
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["checks"]["redis"]["ok"] is False
    assert health.get_json()["checks"]["database"]["ok"] is True


# -- uploads ---------------------------------------------------------------------------------------


def upload(client, tenant, data, filename="photo.jpg", content_type="image/jpeg"):
    import io

    return client.post("/api/media", headers=tenant.headers,
                       data={"file": (io.BytesIO(data), filename, content_type)}, content_type="multipart/form-data")


@pytest.mark.parametrize("data,expected", [
    (PNG, "image/png"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "image/jpeg"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 50, "image/webp"),
    (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 50, "video/mp4"),
    (b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 50, "video/quicktime"),
])
def test_upload_sniffs_type_and_records_sha256(client, config, tenant, data, expected):
    response = upload(client, tenant, data)
    assert response.status_code == 201, response.get_json()
    media = response.get_json()["media"]
    assert media["content_type"] == expected  # from the bytes, not the declared image/jpeg
    assert media["sha256"] == hashlib.sha256(data).hexdigest()
    assert media["size"] == len(data)
    assert (config.media_dir / Media.get_by_id(media["id"]).path).read_bytes() == data
    assert client.get(f"/api/media/{media['id']}", headers=tenant.headers).status_code == 200


def test_disallowed_type_is_415_and_leaves_nothing(client, config, tenant):
    assert_error(upload(client, tenant, b"#!/bin/sh\nrm -rf /\n", "x.png"), 415, "unsupported_media_type", "file")
    assert Media.select().count() == 0
    assert not any((config.media_dir / "tmp").iterdir())


def test_missing_file_field_is_400(client, tenant):
    response = client.post("/api/media", headers=tenant.headers, data={"other": "x"},
                           content_type="multipart/form-data")
    assert_error(response, 400, "validation_error", "file")


def test_json_instead_of_multipart_is_415(client, tenant):
    assert_error(client.post("/api/media", json={"file": "x"}, headers=tenant.headers), 415, "unsupported_media_type")


def test_file_over_limit_is_413_streamed_and_leaves_nothing(config, tenant, monkeypatch):
    from herald import media

    chunks = []
    original = media.HashingSpool.write
    monkeypatch.setattr(media.HashingSpool, "write", lambda self, data: (chunks.append(len(data)),
                                                                          original(self, data))[1])
    client = create_app(dataclasses.replace(config, max_upload_bytes=1024 * 1024)).test_client()
    response = upload(client, tenant, PNG + b"\x00" * (1024 * 1024))
    assert_error(response, 413, "payload_too_large")
    assert Media.select().count() == 0
    assert not any((config.media_dir / "tmp").iterdir())
    assert max(chunks) < 256 * 1024  # written in chunks as it arrived, never whole


def test_upload_at_the_real_50mb_limit(client, tenant):
    exactly = upload(client, tenant, PNG + b"\x00" * (50 * 1024 * 1024 - len(PNG)))
    assert exactly.status_code == 201
    assert_error(upload(client, tenant, PNG + b"\x00" * (50 * 1024 * 1024 - len(PNG) + 1)), 413,
                 "payload_too_large")


def test_media_of_another_workspace_is_404(client, make_tenant):
    first, second = make_tenant(), make_tenant()
    media_id = upload(client, first, PNG).get_json()["media"]["id"]
    assert_error(client.get(f"/api/media/{media_id}", headers=second.headers), 404, "not_found")
    response = client.post("/api/webhooks", headers=second.headers, json={
        "action": "create_post", "client_id": second.client.id, "caption": "x", "media": [media_id]})
    assert_error(response, 404, "not_found", "media.0")
    ok = client.post("/api/webhooks", headers=first.headers, json={
        "action": "create_post", "client_id": first.client.id, "caption": "x", "media": [media_id]})
    assert ok.get_json()["post"]["media"] == [media_id]
    db.close()
