"""The fake Mastodon answers as docs/platforms/mastodon.md says Mastodon does (so the plugin's tests
test the plugin against Mastodon's behaviour, not against itself): plain HTTP calls, no plugin code."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
import uuid

import pytest
from fake_mastodon import ALICE_TOKEN, FakeMastodon

JPEG = b"\xff\xd8\xff\xe0 a JPEG"
MP4 = b"\x00\x00\x00\x18ftypmp42 a video"


@pytest.fixture
def mastodon():
    with FakeMastodon() as fake:
        yield fake


def ask(fake, method, path, body=None, headers=None, token=ALICE_TOKEN):
    """``(status, headers, JSON or None)`` of one request."""
    request = urllib.request.Request(fake.url + path, method=method, data=body,
                                     headers={"Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status, got, data = answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        status, got, data = error.code, dict(error.headers), error.read()
    try:
        return status, got, json.loads(data)
    except ValueError:
        return status, got, None


def post_status(fake, key=None, **form):
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    return ask(fake, "POST", "/api/v1/statuses", json.dumps(form).encode(), headers)


def upload(fake, content, content_type, description=None):
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
             f"Content-Type: {content_type}\r\n\r\n".encode() + content + b"\r\n"]
    if description:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
                     f"{description}\r\n".encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return ask(fake, "POST", "/api/v2/media", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def test_the_same_idempotency_key_answers_the_status_it_created(mastodon):
    first = post_status(mastodon, key="k-1", status="Hello")
    again = post_status(mastodon, key="k-1", status="Hello")
    other = post_status(mastodon, key="k-2", status="Hello")
    assert first[0] == again[0] == other[0] == 200
    assert first[2]["id"] == again[2]["id"] != other[2]["id"]
    assert len(mastodon.published()) == 2


def test_errors_are_mastodons_bodies_and_codes(mastodon):
    assert ask(mastodon, "GET", "/api/v1/accounts/verify_credentials", token="nope")[::2] == (
        401, {"error": "The access token is invalid"})
    assert post_status(mastodon, status="   ")[::2] == (422, {"error": "Validation failed: Text can't be blank"})
    assert post_status(mastodon, status="x" * 501)[2] == {
        "error": "Validation failed: Text character limit of 500 exceeded"}
    assert post_status(mastodon, status="x" * 470 + " https://example.com/" + "y" * 100)[0] == 200  # a link is 23
    assert ask(mastodon, "GET", "/api/v1/statuses/1")[::2] == (404, {"error": "Record not found"})


def test_a_rate_limit_says_when_it_resets(mastodon):
    mastodon.rate_limit(seconds=30)
    status, headers, body = ask(mastodon, "GET", "/api/v1/accounts/verify_credentials")
    assert (status, body) == (429, {"error": "Too many requests"})
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Reset"].endswith("Z")
    assert ask(mastodon, "GET", "/api/v1/accounts/verify_credentials")[0] == 200  # once


def test_an_image_is_processed_at_once_and_a_video_later(mastodon):
    status, _, image = upload(mastodon, JPEG, "image/jpeg", description="A red square")
    assert status == 200 and image["url"] and image["description"] == "A red square"
    status, _, video = upload(mastodon, MP4, "video/mp4")
    assert status == 202 and video["url"] is None
    assert post_status(mastodon, status="Too soon", media_ids=[video["id"]])[2] == {
        "error": "Cannot attach files that have not finished processing. Try again in a moment!"}
    assert ask(mastodon, "GET", f"/api/v1/media/{video['id']}")[0] == 206
    status, _, done = ask(mastodon, "GET", f"/api/v1/media/{video['id']}")
    assert status == 200 and done["url"]
    assert post_status(mastodon, status="Now", media_ids=[video["id"]])[0] == 200


def test_a_video_goes_alone_and_four_files_at_most(mastodon):
    images = [upload(mastodon, JPEG, "image/jpeg")[2]["id"] for _ in range(5)]
    mastodon.processing_rounds = 0
    video = upload(mastodon, MP4, "video/mp4")[2]["id"]
    assert post_status(mastodon, status="Mixed", media_ids=[images[0], video])[2] == {
        "error": "Cannot attach a video to a post that already contains images"}
    assert post_status(mastodon, status="Five", media_ids=images)[2] == {"error": "Cannot attach more than 4 files"}
    assert upload(mastodon, b"%PDF", "application/pdf")[::2] == (
        422, {"error": "Validation failed: File content type is invalid, File is invalid"})


def test_a_dropped_create_still_creates_the_status(mastodon):
    mastodon.drop_after_create = 1
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        post_status(mastodon, key="k", status="Hello")
    assert [status["text"] for status in mastodon.published()] == ["Hello"]
