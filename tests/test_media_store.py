"""The media store (herald.media.store): one interface, the same answers on the local directory and on
S3 (moto's server); HERALD_MEDIA_STORE is checked when read; /health reports the store and its failure;
a plugin reads a post's bytes (herald.sdk.media.read_media) from either."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json

import media_samples
import pytest
from media_store_support import STORES, config_on

from conftest import assert_error
from herald.config import Config
from herald.db.models import Media, db
from herald.media.configured import media_store
from herald.media.public_links import public_url
from herald.media.store import MediaNotStored
from herald.platforms import MediaRef
from herald.sdk.media import MediaMissing, read_media

PNG = media_samples.png(3, 2)


@pytest.fixture(params=STORES)
def config(config, request):
    return config_on(request, config)


@pytest.fixture
def store(config):
    return media_store(config)


def spooled(config, data: bytes):
    """A file on this machine's disk, as an upload's spool is, to put in the store."""
    directory = config.media_dir / "tmp"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"upload-{len(data)}.part"
    path.write_bytes(data)
    return path


def test_a_put_file_is_read_back_whole_and_streamed(config, store):
    source = spooled(config, PNG)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    store.put_file(source, "ab/abcd.png")
    assert not source.exists()  # consumed: moved or uploaded, then removed
    assert store.get("ab/abcd.png") == PNG
    with store.open("ab/abcd.png") as stream:
        assert stream.read(4) + stream.read() == PNG
    found = store.stat("ab/abcd.png")
    assert found.size == len(PNG) == store.size("ab/abcd.png") and found.modified >= before
    assert store.exists("ab/abcd.png") and store.all_keys() == ["ab/abcd.png"]
    with store.local_path("ab/abcd.png") as path:
        assert path.read_bytes() == PNG
    assert [path.name for path in (config.media_dir / "tmp").iterdir()] == []  # no download left behind


def test_a_missing_key_is_none_or_media_not_stored(store):
    assert store.stat("no/such.png") is None and not store.exists("no/such.png") and store.size("no/such.png") is None
    for read in (store.get, store.open):
        with pytest.raises(MediaNotStored):
            read("no/such.png")
    with pytest.raises(MediaNotStored), store.local_path("no/such.png"):
        pass
    store.delete("no/such.png")  # nothing to delete is not an error


def test_delete_removes_the_file_and_a_second_put_replaces_it(config, store):
    store.put_file(spooled(config, b"first"), "cd/cdef.png")
    store.put_file(spooled(config, PNG), "cd/cdef.png")
    assert store.get("cd/cdef.png") == PNG
    store.delete("cd/cdef.png")
    assert not store.exists("cd/cdef.png") and store.all_keys() == []


@pytest.mark.parametrize("key", ["../outside.png", "ab/../../outside.png", "/etc/passwd", ""])
def test_keys_never_leave_the_store(config, store, key):
    with pytest.raises(MediaNotStored):
        store.get(key)
    assert store.stat(key) is None


@pytest.mark.parametrize("value", ["/srv/media", "s3:/bucket", "s3://", "https://bucket.s3.amazonaws.com/x",
                                   "s3://bucket/prefix?region=eu"])
def test_a_media_store_that_is_not_an_s3_url_stops_start_up(value):
    with pytest.raises(ValueError, match="HERALD_MEDIA_STORE must be s3://bucket"):
        Config.from_env({"HERALD_MEDIA_STORE": value})


def test_the_s3_settings_are_read_from_the_environment():
    config = Config.from_env({"HERALD_MEDIA_STORE": "s3://media-bucket/herald", "HERALD_S3_ENDPOINT_URL": "http://minio:9000"})
    assert (config.media_store, config.s3_endpoint_url) == ("s3://media-bucket/herald", "http://minio:9000")
    assert Config.from_env({}).media_store is None


def test_health_names_the_store_and_is_503_when_it_does_not_answer(build_app, config, moto_endpoint):
    app = build_app()
    health = app.test_client().get("/health").get_json()
    assert health["checks"]["media"]["ok"] is True
    assert health["checks"]["media"]["store"] == ("s3" if config.media_store else "local")

    missing = build_app(media_store="s3://herald-no-such-bucket/media", s3_endpoint_url=moto_endpoint)
    response = missing.test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["media"] == {"ok": False, "error": "ClientError", "store": "s3"}
    assert "herald-no-such-bucket" not in response.get_data(as_text=True)  # the public probe names no bucket


def test_a_plugin_reads_the_bytes_of_a_post_media_from_the_store(app, client, tenant, config):
    uploaded = client.post("/api/media", data={"file": (io.BytesIO(PNG), "pixel.png")}, headers=tenant.headers)
    assert uploaded.status_code == 201, uploaded.get_json()
    config = dataclasses.replace(app.extensions["herald"].config, public_url="https://herald.test")
    with app.app_context(), db.connection_context():
        row = Media.get_by_id(uploaded.get_json()["media"]["id"])
        ref = MediaRef(id=f"media_{row.id}", kind="image", content_type="image/png", size=len(PNG), sha256=row.sha256,
                       url=public_url(config, "test-secret-key", row))
        assert read_media(ref, config=config) == PNG
        media_store(config).delete(row.path)
        with pytest.raises(MediaMissing, match="no longer stored"):
            read_media(ref, config=config)


def test_a_signed_link_to_a_file_no_longer_stored_is_404(app, client, tenant, config):
    uploaded = client.post("/api/media", data={"file": (io.BytesIO(PNG), "pixel.png")}, headers=tenant.headers)
    runtime_config = app.extensions["herald"].config
    with app.app_context(), db.connection_context():
        row = Media.get_by_id(uploaded.get_json()["media"]["id"])
        link = public_url(Config(public_url="https://herald.test"), "test-secret-key", row)
    path = link.removeprefix("https://herald.test")
    served = client.get(path)
    assert served.status_code == 200 and served.data == PNG and served.mimetype == "image/png"
    assert served.headers["Content-Length"] == str(len(PNG))
    media_store(runtime_config).delete(row.path)
    assert_error(client.get(path), 404, "not_found")
    assert json.loads(client.get(path).data)["error"]["message"] == "This media file is no longer stored."
