"""POST /api/media: streamed multipart uploads, content sniffing and decoding, SHA-256, size limits,
workspace isolation; media ids in create_post; the 1 MiB limit on JSON bodies."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import stat
import struct
import time
import tracemalloc
import zlib

import media_samples
import pytest
from media_store_support import STORES, config_on, everything_stored, local_only, stored_bytes

from conftest import assert_error
from herald.db.models import Media, db
from herald.media import uploads as media_module
from herald.media.configured import media_store

MiB = 1024 * 1024


@pytest.fixture(params=STORES)
def config(config, request):
    """Every test here runs with media in the local directory and in S3 (moto's server)."""
    return config_on(request, config)


# -- real files, built or embedded -----------------------------------------------------------------


def box(kind: bytes, payload: bytes = b"") -> bytes:
    """An ISO base media (MP4/QuickTime) box: 32-bit size, type, payload."""
    return struct.pack(">I", 8 + len(payload)) + kind + payload


# A 2×2 grey baseline JFIF JPEG.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5"
    "PTgyPC4zNDL/wAALCAACAAIBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQR"
    "BRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4"
    "eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEB"
    "AAA/ACv/2Q==")
# A 1×1 lossless WebP.
WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
MP4 = media_samples.mp4()
MOV = media_samples.mov()
PNG = media_samples.png()

ACCEPTED = [
    pytest.param(PNG, "image/png", ".png", id="png"),
    pytest.param(JPEG, "image/jpeg", ".jpg", id="jpeg"),
    pytest.param(WEBP, "image/webp", ".webp", id="webp"),
    pytest.param(MP4, "video/mp4", ".mp4", id="mp4"),
    pytest.param(MOV, "video/quicktime", ".mov", id="mov"),
]

REJECTED = [
    pytest.param(b"just some notes\nnothing to see\n", id="text"),
    pytest.param(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00",
                 id="windows-executable"),
    pytest.param(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56, id="elf-executable"),
    pytest.param(b"#!/bin/sh\nrm -rf /\n", id="shell-script"),
    pytest.param(b"<html><script>alert(1)</script></html>", id="html"),
    pytest.param(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", id="gif"),
    pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", id="pdf"),
    pytest.param(b"", id="empty"),
    # Text whose bytes 4-8 spell a QuickTime atom name ("free", "skip", "wide", …) is still text.
    pytest.param(b"The free plan includes three clients.\n", id="text-reading-like-a-quicktime-atom"),
    pytest.param(b"Hey wide angle shots, ok?\n", id="text-reading-like-a-wide-atom"),
    # ISO base media files that are still images or audio, not video.
    pytest.param(box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + box(b"meta", bytes(32)), id="heic-image"),
    pytest.param(box(b"ftyp", b"avif" + bytes(4) + b"avifmif1miaf") + box(b"meta", bytes(32)), id="avif-image"),
    pytest.param(box(b"ftyp", b"M4A " + bytes(4) + b"M4A mp42isom") + box(b"mdat", bytes(32)), id="m4a-audio"),
]


# -- helpers ---------------------------------------------------------------------------------------


def upload(client, tenant, data: bytes, filename: str = "x.jpg", content_type: str = "image/jpeg", field="file"):
    """POST /api/media with ``data`` in the multipart field ``field`` (declared as a JPEG by default)."""
    return client.post("/api/media", headers=tenant.headers, content_type="multipart/form-data",
                       data={field: (io.BytesIO(data), filename, content_type)})


def media_count() -> int:
    with db.connection_context():
        return Media.select().count()


def stored_row(media_id: int) -> Media:
    with db.connection_context():
        return Media.get_by_id(media_id)


class LazyMultipartBody(io.RawIOBase):
    """A multipart/form-data body with one file part whose bytes are made while the body is read.

    The file is ``head`` followed by zero bytes up to ``size`` bytes, so a 50 MB upload costs no memory
    in the test and the server can only hold it whole if it buffers it itself.
    """

    boundary = "herald-test-boundary-7MA4YWxkTrZu0gW"

    def __init__(self, head: bytes, size: int, filename: str = "big.png", field: str = "file"):
        super().__init__()
        self.file_size = size
        self._prefix = (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                        f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + head
        self._zeros = size - len(head)
        self._suffix = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(self._prefix) + self._zeros + len(self._suffix)
        self._position = 0
        self.largest_read = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def _bytes(self, start: int, end: int) -> bytes:
        zeros_start = len(self._prefix)
        suffix_start = zeros_start + self._zeros
        parts = []
        if start < zeros_start:
            parts.append(self._prefix[start:min(end, zeros_start)])
        if end > zeros_start and start < suffix_start:
            parts.append(bytes(min(end, suffix_start) - max(start, zeros_start)))
        if end > suffix_start:
            parts.append(self._suffix[max(0, start - suffix_start):end - suffix_start])
        return b"".join(parts)

    def readinto(self, buffer) -> int:
        end = min(self.length, self._position + len(buffer))
        data = self._bytes(self._position, end)
        buffer[:len(data)] = data
        self._position = end
        self.largest_read = max(self.largest_read, len(data))
        return len(data)

    def file_sha256(self) -> str:
        digest = hashlib.sha256(self._prefix[self._prefix.index(b"\r\n\r\n") + 4:])
        block = bytes(MiB)
        remaining = self._zeros
        while remaining:
            digest.update(block[:min(remaining, MiB)])
            remaining -= min(remaining, MiB)
        return digest.hexdigest()


def upload_lazy(client, tenant, body: LazyMultipartBody):
    return client.post("/api/media", headers=tenant.headers, input_stream=body, content_type=body.content_type)


@pytest.fixture
def spool_writes(monkeypatch):
    """The size of every chunk written into a HashingSpool during the test."""
    sizes: list[int] = []
    original = media_module.HashingSpool.write

    def recording_write(self, data):
        sizes.append(len(data))
        return original(self, data)

    monkeypatch.setattr(media_module.HashingSpool, "write", recording_write)
    return sizes


# -- accepted files --------------------------------------------------------------------------------


@pytest.mark.parametrize("data,content_type,extension", ACCEPTED)
def test_accepted_file_is_sniffed_hashed_and_stored(client, config, make_tenant, data, content_type, extension):
    owner, other = make_tenant(), make_tenant()
    response = upload(client, owner, data, filename="holiday.jpg", content_type="image/jpeg")
    assert response.status_code == 201, response.get_json()
    media = response.get_json()["media"]
    assert media["content_type"] == content_type  # from the bytes, not the declared image/jpeg
    assert media["sha256"] == hashlib.sha256(data).hexdigest()
    assert media["size"] == len(data)
    assert media["filename"] == "holiday.jpg"
    assert isinstance(media["id"], int) and media["created_at"]

    row = stored_row(media["id"])
    assert row.workspace_id == owner.workspace.id
    assert row.path == f"{media['sha256'][:2]}/{media['sha256']}{extension}"
    assert stored_bytes(config, row.path) == data
    assert everything_stored(config) == [row.path]  # the spool was moved, not copied

    described = client.get(f"/api/media/{media['id']}", headers=owner.headers)
    assert described.status_code == 200
    assert described.get_json() == {"media": media}
    assert_error(client.get(f"/api/media/{media['id']}", headers=other.headers), 404, "not_found")


def test_png_declared_as_jpeg_is_recorded_as_png(client, config, tenant):
    response = upload(client, tenant, PNG, filename="x.jpg", content_type="image/jpeg")
    assert response.status_code == 201
    assert response.get_json()["media"]["content_type"] == "image/png"
    assert stored_row(response.get_json()["media"]["id"]).path.endswith(".png")


def test_unknown_media_id_is_404(client, tenant):
    assert_error(client.get("/api/media/999999", headers=tenant.headers), 404, "not_found")


def test_upload_needs_credentials(client, config):
    response = client.post("/api/media", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(PNG), "x.png", "image/png")})
    assert_error(response, 401, "unauthorized")
    assert media_count() == 0
    assert everything_stored(config) == []


def test_same_content_in_two_workspaces_shares_one_file(client, config, make_tenant):
    first, second = make_tenant(), make_tenant()
    one = upload(client, first, JPEG).get_json()["media"]
    two = upload(client, second, JPEG, filename="copy.jpg").get_json()["media"]
    assert one["id"] != two["id"] and one["sha256"] == two["sha256"]
    assert stored_row(one["id"]).path == stored_row(two["id"]).path
    assert stored_bytes(config, stored_row(one["id"]).path) == JPEG
    assert len(everything_stored(config)) == 1


def test_client_filename_never_becomes_a_path(client, config, tenant):
    response = upload(client, tenant, PNG, filename="../../../etc/" + "x" * 300 + ".png")
    assert response.status_code == 201
    media = response.get_json()["media"]
    assert len(media["filename"]) <= 255
    assert everything_stored(config) == [f"{media['sha256'][:2]}/{media['sha256']}.png"]


def test_upload_needs_the_posts_write_scope(client, config, make_tenant, spool_writes):
    reader = make_tenant(scopes=("posts:read",))
    assert_error(upload(client, reader, PNG), 403, "forbidden")
    assert spool_writes == []  # refused before the body was parsed
    assert media_count() == 0
    assert everything_stored(config) == []


# -- private files, and no orphan when the row cannot be written ----------------------------------


@pytest.fixture
def permissive_umask():
    """Run the test with umask 000, so only Herald's own modes keep files private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fail_create(**fields):
    raise RuntimeError("the database went away")


def test_stored_file_and_media_directories_are_private(client, config, tenant, permissive_umask):
    local_only(config, "file and directory modes")
    response = upload(client, tenant, PNG)
    assert response.status_code == 201, response.get_json()
    stored = config.media_dir / stored_row(response.get_json()["media"]["id"]).path
    assert mode(stored) == 0o600
    for directory in (config.media_dir, config.media_dir / "tmp", stored.parent):
        assert mode(directory) == 0o700, directory


def test_failed_recording_is_500_and_removes_the_stored_file(client, config, tenant, monkeypatch, caplog):
    monkeypatch.setattr(Media, "create", fail_create)
    error = assert_error(upload(client, tenant, PNG), 500, "internal_error")
    assert "went away" not in error["message"]
    assert "the database went away" in caplog.text  # logged for the operator
    assert media_count() == 0
    assert everything_stored(config) == []  # neither the stored file nor the spool


def test_failed_recording_keeps_the_file_an_earlier_upload_uses(client, config, make_tenant, monkeypatch):
    first, second = make_tenant(), make_tenant()
    kept = upload(client, first, PNG).get_json()["media"]
    monkeypatch.setattr(Media, "create", fail_create)
    assert_error(upload(client, second, PNG), 500, "internal_error")
    assert stored_bytes(config, stored_row(kept["id"]).path) == PNG
    assert everything_stored(config) == [stored_row(kept["id"]).path]


def test_uploads_of_the_same_content_take_turns_while_recording(client, config, tenant, monkeypatch):
    """Another upload of the same content can neither find the file nor remove it before the row exists."""
    local_only(config, "the lock is flock on the file's directory")
    original = Media.create
    attempts = []

    def create_while_another_upload_tries_the_lock(**fields):
        shard = os.open(config.media_dir / fields["path"].split("/")[0], os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(shard, fcntl.LOCK_EX | fcntl.LOCK_NB)
            attempts.append(fields["path"])
        finally:
            os.close(shard)
        return original(**fields)

    monkeypatch.setattr(Media, "create", create_while_another_upload_tries_the_lock)
    response = upload(client, tenant, PNG)
    assert response.status_code == 201, response.get_json()
    assert attempts == [stored_row(response.get_json()["media"]["id"]).path]


# -- refused files and requests --------------------------------------------------------------------


# Files whose first bytes claim a type Herald takes, but which do not decode as it (issue 19, item 8).
_GOOD_PNG = media_samples.png(16, 16)
_GOOD_JPEG = media_samples.jpeg(16, 16)
_APP0_END = 4 + int.from_bytes(_GOOD_JPEG[4:6], "big")  # SOI, then the APP0 marker and its segment


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk: length, type, data and CRC."""
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


UNDECODABLE = [
    pytest.param(b"\x89PNG\r\n\x1a\n", "is not one", id="png-signature-alone"),
    pytest.param(_GOOD_PNG[:len(_GOOD_PNG) // 2], "cut short", id="truncated-png"),
    pytest.param(_GOOD_PNG[:-12], "IEND chunk is missing", id="png-without-its-end"),
    pytest.param(_GOOD_JPEG[:len(_GOOD_JPEG) // 2], "cut short", id="truncated-jpeg"),
    pytest.param(MP4[:32] + os.urandom(4096), "does not decode", id="mp4-header-then-random-bytes"),
    pytest.param(MP4[:len(MP4) // 2], "does not decode", id="truncated-mp4"),
    pytest.param(box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41") + box(b"free")
                 + box(b"mdat", bytes(range(64))), "does not decode", id="mp4-boxes-without-a-movie"),
    pytest.param(_GOOD_JPEG + b"<html><body><script>alert(document.cookie)</script></body></html>",
                 "HTML or script follows the end of the image", id="jpeg-html-polyglot"),
    pytest.param(media_samples.jpeg(16, 16, comment=b"<script>alert(1)</script>"), "metadata holds HTML",
                 id="jpeg-with-script-in-its-comment"),
    pytest.param(_GOOD_JPEG[:_APP0_END] + b"\x00" + _GOOD_JPEG[_APP0_END:] + b"<html><script>alert(1)</script>",
                 "HTML or script follows", id="jpeg-html-polyglot-behind-a-stray-byte"),
    pytest.param(_GOOD_PNG[:33] + png_chunk(b"prVt", b"<html><script>alert(1)</script>") + _GOOD_PNG[33:],
                 "metadata holds HTML", id="png-with-script-in-a-private-chunk"),
]


@pytest.mark.parametrize(("data", "why"), UNDECODABLE)
def test_a_file_that_does_not_decode_is_415_saying_why(client, config, tenant, data, why):
    error = assert_error(upload(client, tenant, data, filename="innocent.jpg"), 415, "unsupported_media_type", "file")
    assert error["message"].startswith("The file could not be read as an image or a video: "), error["message"]
    assert why in error["message"], error["message"]
    assert media_count() == 0
    assert everything_stored(config) == []  # the spool is gone too


def test_a_picture_is_stored_with_its_dimensions(client, tenant):
    media = upload(client, tenant, media_samples.jpeg(320, 180)).get_json()["media"]
    facts = {name: media[name] for name in ("content_type", "width", "height", "aspect_ratio", "duration_seconds",
                                            "video_codec", "audio_codec", "frame_rate")}
    assert facts == {"content_type": "image/jpeg", "width": 320, "height": 180, "aspect_ratio": 1.7778,
                     "duration_seconds": None, "video_codec": None, "audio_codec": None, "frame_rate": None}
    assert client.get(f"/api/media/{media['id']}", headers=tenant.headers).get_json() == {"media": media}


def test_a_motion_photo_keeps_the_video_after_its_picture(client, tenant):
    # Phones append a short video after the JPEG's end (motion photos): that is not markup.
    response = upload(client, tenant, media_samples.jpeg(40, 30) + MP4)
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["media"]["width"], response.get_json()["media"]["height"]) == (40, 30)


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_a_video_is_stored_with_its_dimensions_duration_and_codecs(client, tenant, container):
    data = media_samples.video(width=96, height=120, seconds=2, container=container, audio=True)
    media = upload(client, tenant, data, filename=f"clip.{container}").get_json()["media"]
    facts = {name: media[name] for name in ("width", "height", "aspect_ratio", "duration_seconds", "video_codec",
                                            "audio_codec", "frame_rate")}
    assert facts == {"width": 96, "height": 120, "aspect_ratio": 0.8, "duration_seconds": 2.0,
                     "video_codec": "h264", "audio_codec": "aac", "frame_rate": 10.0}
    described = client.get(f"/api/media/{media['id']}", headers=tenant.headers).get_json()["media"]
    assert described == media


@pytest.mark.parametrize("data", REJECTED)
def test_disallowed_content_is_415_and_leaves_nothing(client, config, tenant, data):
    error = assert_error(upload(client, tenant, data, filename="innocent.png", content_type="image/png"),
                         415, "unsupported_media_type", "file")
    assert "JPEG" in error["message"]
    assert media_count() == 0
    assert everything_stored(config) == []  # neither a stored file nor a leftover spool in tmp/


def test_missing_file_field_is_400(client, config, tenant):
    response = client.post("/api/media", headers=tenant.headers, content_type="multipart/form-data",
                           data={"caption": "no file here"})
    assert_error(response, 400, "validation_error", "file")
    assert media_count() == 0


def test_file_under_another_field_name_is_400_and_leaves_nothing(client, config, tenant):
    assert_error(upload(client, tenant, PNG, field="image"), 400, "validation_error", "file")
    assert media_count() == 0
    assert everything_stored(config) == []


def test_file_field_sent_as_plain_text_is_400(client, tenant):
    response = client.post("/api/media", headers=tenant.headers, content_type="multipart/form-data",
                           data={"file": "not a file"})
    assert_error(response, 400, "validation_error", "file")


def test_file_without_a_filename_is_400(client, config, tenant):
    body = (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--b0undary--\r\n")
    response = client.post("/api/media", headers=tenant.headers, data=body,
                           content_type="multipart/form-data; boundary=b0undary")
    assert_error(response, 400, "validation_error", "file")
    assert media_count() == 0
    assert everything_stored(config) == []


def test_json_body_without_a_url_is_400(client, tenant):
    # JSON imports a file from {"url": ...} (tests/test_media_url_import.py); the file itself is not JSON.
    response = client.post("/api/media", headers=tenant.headers, json={"file": base64.b64encode(PNG).decode()})
    assert_error(response, 400, "validation_error")
    assert media_count() == 0


def test_raw_image_body_instead_of_multipart_is_415(client, tenant):
    response = client.post("/api/media", headers=tenant.headers, data=PNG, content_type="image/png")
    assert_error(response, 415, "unsupported_media_type")


# -- size limits -----------------------------------------------------------------------------------


def test_file_at_the_limit_is_accepted_and_one_byte_more_is_413(build_app, make_tenant, spool_writes):
    app = build_app(max_upload_bytes=MiB)
    client, tenant = app.test_client(), make_tenant()
    config = app.extensions["herald"].config
    exactly = PNG + bytes(MiB - len(PNG))
    accepted = upload(client, tenant, exactly)
    assert accepted.status_code == 201, accepted.get_json()
    assert accepted.get_json()["media"]["size"] == MiB
    stored_before = everything_stored(config)

    error = assert_error(upload(client, tenant, exactly + b"\x00"), 413, "payload_too_large", "file")
    assert "1 MB" in error["message"]
    assert media_count() == 1
    assert everything_stored(config) == stored_before  # the partial spool is gone
    assert max(spool_writes) < MiB // 4  # written chunk by chunk, never whole


def test_body_far_over_the_limit_is_413_before_anything_is_written(build_app, make_tenant, spool_writes):
    app = build_app(max_upload_bytes=MiB)
    client, tenant = app.test_client(), make_tenant()
    body = LazyMultipartBody(PNG, 8 * MiB)
    error = assert_error(upload_lazy(client, tenant, body), 413, "payload_too_large", "file")
    assert "1 MB" in error["message"]
    assert spool_writes == []  # refused on Content-Length alone
    assert body.tell() == 0  # not a byte of the body was read
    assert media_count() == 0
    assert everything_stored(app.extensions["herald"].config) == []


def test_the_real_50_mb_limit_with_a_streamed_body(client, config, tenant):
    assert config.max_upload_bytes == 50 * MiB  # the default
    started = time.monotonic()
    over = LazyMultipartBody(PNG, 50 * MiB + 1)
    error = assert_error(upload_lazy(client, tenant, over), 413, "payload_too_large", "file")
    assert "50 MB" in error["message"]
    assert media_count() == 0
    assert everything_stored(config) == []

    exactly = LazyMultipartBody(PNG, 50 * MiB)
    response = upload_lazy(client, tenant, exactly)
    assert response.status_code == 201, response.get_json()
    media = response.get_json()["media"]
    assert media["size"] == 50 * MiB
    assert media["content_type"] == "image/png"
    assert media["sha256"] == exactly.file_sha256()
    assert media_store(config).size(stored_row(media["id"]).path) == 50 * MiB
    assert time.monotonic() - started < 10


def test_upload_is_streamed_to_disk_not_read_into_memory(client, config, tenant, spool_writes):
    size = 5 * MiB
    # S3: boto3 loads its model of the API once per process (about 12 MB), and each PUT peaks at about
    # 2.1 MB whatever the body's size (measured with 5 and 20 MB bodies): warm it up, and allow that much.
    limit = MiB
    if config.media_store:
        media_store(config).all_keys()
        limit = 3 * MiB
    body = LazyMultipartBody(PNG, size)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        response = upload_lazy(client, tenant, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["media"]["sha256"] == body.file_sha256()
    assert sum(spool_writes) == size
    assert len(spool_writes) >= 20
    assert max(spool_writes) <= 256 * 1024
    assert peak < limit, f"peak Python allocation {peak} bytes during a {size}-byte upload"


# -- media in posts --------------------------------------------------------------------------------


def create_post(client, tenant, **fields):
    payload = {"action": "create_post", "client_id": tenant.client.id, "caption": "With a picture"} | fields
    return client.post("/api/webhooks", headers=tenant.headers, json=payload)


def test_create_post_with_uploaded_media(client, tenant):
    first = upload(client, tenant, PNG).get_json()["media"]["id"]
    second = upload(client, tenant, MP4, filename="clip.mp4", content_type="video/mp4").get_json()["media"]["id"]
    response = create_post(client, tenant, media=[first, second])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["post"]["media"] == [first, second]


def test_create_post_with_media_of_another_workspace_is_404(client, make_tenant):
    owner, other = make_tenant(), make_tenant()
    foreign = upload(client, owner, PNG).get_json()["media"]["id"]
    own = upload(client, other, JPEG).get_json()["media"]["id"]
    assert_error(create_post(client, other, media=[foreign]), 404, "not_found", "media.0")
    assert_error(create_post(client, other, media=[own, foreign]), 404, "not_found", "media.1")
    assert_error(create_post(client, other, media=[own, 999999]), 404, "not_found", "media.1")
    listed = client.post("/api/webhooks", headers=other.headers,
                         json={"action": "list_posts", "client_id": other.client.id}).get_json()
    assert listed["total"] == 0


# -- JSON body limit -------------------------------------------------------------------------------


def test_json_body_over_1_mib_is_413(client, tenant):
    payload = {"action": "create_post", "client_id": tenant.client.id, "caption": "x" * MiB}
    body = json.dumps(payload).encode()
    assert len(body) > MiB
    response = client.post("/api/webhooks", headers=tenant.headers, data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_streamed_json_body_over_1_mib_is_413(client, tenant):
    """Without a Content-Length (a chunked request, which gunicorn marks wsgi.input_terminated), the
    limit must be enforced while reading."""
    body = io.BytesIO(b'{"action": "list_posts", "caption": "' + b"x" * (2 * MiB) + b'"}')
    response = client.post("/api/webhooks", headers=tenant.headers, input_stream=body,
                           content_type="application/json",
                           environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""})
    assert_error(response, 413, "payload_too_large")
