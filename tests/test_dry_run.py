"""Dry runs of POST /v1/publish(/batch) agree with the real requests, platform rules included, and
images a platform cannot take are converted (or padded) for it alone.

Against the Instagram and Facebook plugins talking to the fake Graph API: the table posts each
case as a dry run, then for real, and asserts the same answer (the same error envelope, or the same
warnings and tasks); the worker's container request shows which file each platform was handed.
"""

from __future__ import annotations

import io

import media_samples
import pytest
from graph_drive import connect_account
from media_store_support import STORES, config_on
from PIL import Image
from portal_support import later

from conftest import assert_error
from drive import work
from fakes.graph import IG_TOKEN, PAGE_TOKEN
from herald.db.models import Event, MediaRendition, Post, PublishTask, db

PUBLIC = "https://herald.test"


@pytest.fixture
def config(config, request):
    """The tests marked ``parametrize("config", STORES, indirect=True)`` run on the local and the S3 store."""
    return config_on(request, config)


@pytest.fixture
def app(build_app, fake):
    return build_app(**fake.hosts(), public_url=PUBLIC)


@pytest.fixture
def accounts(client, tenant):
    return {platform: connect_account(client, tenant, platform, token).get_json()["id"]
            for platform, token in (("instagram", IG_TOKEN), ("facebook", PAGE_TOKEN))}


def upload(client, tenant, data: bytes, name: str) -> str:
    response = client.post("/api/media", headers=tenant.headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), name)})
    assert response.status_code == 201, response.get_json()
    return f"media_{response.get_json()['media']['id']}"


def picture(width: int, height: int, image_format: str = "JPEG", mode: str = "RGB", **options) -> bytes:
    image = Image.new(mode, (width, height), (200, 40, 40, 0) if mode == "RGBA" else (200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


@pytest.fixture
def media(client, tenant):
    """One upload of each kind the table needs."""
    files = {
        "square": (media_samples.jpeg(400, 400), "square.jpg"),
        "tall": (media_samples.jpeg(400, 1000), "tall.jpg"),
        "png": (media_samples.png(400, 400), "square.png"),
        "webp": (media_samples.webp(400, 400), "square.webp"),
        "short_video": (media_samples.mp4(width=64, height=48, seconds=1, fps=10), "short.mp4"),
        "reel": (media_samples.mp4(width=48, height=64, seconds=3.2, fps=24), "reel.mp4"),
    }
    return {key: upload(client, tenant, data, name) for key, (data, name) in files.items()}


def both(client, tenant, body: dict, path: str = "/v1/publish"):
    """The dry run's answer, then the real request's."""
    dry = client.post(path, json={**body, "dry_run": True}, headers=tenant.headers)
    real = client.post(path, json=body, headers=tenant.headers)
    return dry, real


# (platform, post body without accounts, the media it names, expected: None (accepted) or (field, words))
CASES = [
    ("instagram", {"post_type": "post"}, ["square"], None),
    ("instagram", {"post_type": "post"}, ["png"], None),
    ("instagram", {"post_type": "post"}, ["webp"], None),
    ("instagram", {"post_type": "post"}, [], ("media", "needs an image or a video")),
    ("instagram", {"post_type": "post"}, ["tall"], ("media.0", "aspect ratio from 4:5 to 1.91:1")),
    ("instagram", {"post_type": "post", "fit": "pad"}, ["tall"], None),
    ("instagram", {"post_type": "post", "content": "x" * 2201}, ["square"], ("content", "at most 2,200 characters")),
    ("instagram", {"post_type": "post", "content": " ".join(f"#t{n}" for n in range(31))}, ["square"],
     ("content", "at most 30 hashtags")),
    ("instagram", {"post_type": "post", "content": " ".join(f"@u{n}" for n in range(21))}, ["square"],
     ("content", "at most 20 @mentions")),
    ("instagram", {"post_type": "carousel"}, ["square", "png"], None),
    ("instagram", {"post_type": "carousel"}, ["square"], ("media", "2 to 10")),
    ("instagram", {"post_type": "carousel"}, ["square", "tall"], ("media.1", "aspect ratio")),
    ("instagram", {"post_type": "reel"}, ["reel"], None),
    ("instagram", {"post_type": "reel"}, ["square"], ("media.0", "takes no images")),
    ("instagram", {"post_type": "reel"}, ["short_video"], ("media.0", "at least 3 s")),
    ("instagram", {"post_type": "story"}, ["square"], None),
    ("instagram", {"post_type": "story"}, ["tall"], None),  # stories take any ratio
    ("instagram", {"post_type": "story"}, ["square", "png"], ("media", "exactly one")),
    ("facebook", {}, ["square"], None),
    ("facebook", {}, ["tall"], None),
    ("facebook", {}, ["png"], None),
    ("facebook", {}, [], None),
    ("facebook", {"post_type": "post"}, ["square", "reel"], ("media", "several photos or one video")),
    ("facebook", {"post_type": "reel"}, ["reel"], ("post_type", "does not support post_type")),
    ("facebook", {"content": "x" * 63206}, [], None),
]


@pytest.mark.parametrize("platform,body,names,expected", CASES)
def test_a_dry_run_answers_what_the_real_request_does(client, tenant, accounts, media, platform, body, names,
                                                      expected):
    body = {"content": "Fresh bread at 7 #bakery", **body, "accounts": [accounts[platform]],
            "media": [media[name] for name in names]}
    dry, real = both(client, tenant, body)
    if expected is not None:
        field, words = expected
        dry_error = assert_error(dry, 400, "validation_error", field)
        assert words in dry_error["message"], dry_error
        assert real.get_json() == dry.get_json() and real.status_code == 400
        return
    assert dry.status_code == 200, dry.get_json()
    assert real.status_code == 201, real.get_json()
    planned, made = dry.get_json(), real.get_json()
    assert planned["dry_run"] is True and planned["warnings"] == made.get("warnings", [])
    assert [(task["account_id"], task["platform"], task["status"], task["scheduled_at"]) for task in planned["tasks"]] \
        == [(task["account_id"], task["platform"], task["status"], task["scheduled_at"]) for task in made["tasks"]]
    for key in ("content", "post_type", "platforms", "media", "scheduled_at"):
        assert planned[key] == made[key], key


def test_a_dry_run_creates_nothing(client, tenant, accounts, media, redis_client):
    with db.connection_context():
        before = (Post.select().count(), PublishTask.select().count(), Event.select().count(),
                  MediaRendition.select().count())
    body = {"content": "Hello", "accounts": list(accounts.values()), "media": [media["png"]], "dry_run": True}
    response = client.post("/v1/publish", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    planned = response.get_json()
    assert [task["platform"] for task in planned["tasks"]] == ["instagram", "facebook"]
    [converted] = planned["warnings"]
    assert converted["code"] == "media_converted" and converted["field"] == "media.0"
    assert "instagram gets a JPEG copy" in converted["message"]
    with db.connection_context():
        after = (Post.select().count(), PublishTask.select().count(), Event.select().count(),
                 MediaRendition.select().count())
    assert after == before
    assert work(redis_client) == 0


def test_a_batch_dry_run_names_the_post_in_error(client, tenant, accounts, media):
    good = {"content": "Hello", "accounts": [accounts["instagram"]], "media": [media["square"]]}
    bad = {**good, "media": [media["tall"]]}
    body = {"posts": [good, bad]}
    dry, real = both(client, tenant, body, "/v1/publish/batch")
    error = assert_error(dry, 400, "validation_error", "posts.1.media.0")
    assert "4:5 to 1.91:1" in error["message"] and "400×1000" in error["message"]
    assert real.get_json() == dry.get_json()

    answer = client.post("/v1/publish/batch", json={"posts": [good, {**bad, "fit": "pad"}], "dry_run": True},
                         headers=tenant.headers)
    assert answer.status_code == 200, answer.get_json()
    first, second = answer.get_json()["posts"]
    assert first["warnings"] == [] and [entry["field"] for entry in second["warnings"]] == ["posts.1.media.0"]
    assert second["warnings"][0]["code"] == "media_padded"
    assert_error(client.post("/v1/publish/batch", json={"posts": [{**good, "dry_run": True}]},
                             headers=tenant.headers), 400, "validation_error", "posts.0.dry_run")


def served(client, url: str) -> Image.Image:
    """The file a platform fetches at ``url`` (a signed link under HERALD_PUBLIC_URL)."""
    assert url.startswith(PUBLIC + "/media/"), url
    response = client.get(url.removeprefix(PUBLIC))
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.data))
    image.load()
    image.served_type = response.mimetype
    return image


@pytest.mark.parametrize("config", STORES, indirect=True)
def test_a_png_is_converted_for_instagram_only(client, tenant, accounts, media, fake, redis_client):
    transparent = upload(client, tenant, picture(400, 400, "PNG", mode="RGBA"), "logo.png")
    response = client.post("/v1/publish", json={"content": "Logo", "accounts": list(accounts.values()),
                                                 "media": [transparent]}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    work(redis_client)
    instagram = served(client, fake.calls("POST", r"/media$")[0].params["image_url"])
    assert (instagram.format, instagram.served_type, instagram.size) == ("JPEG", "image/jpeg", (400, 400))
    assert instagram.getpixel((10, 10)) == (255, 255, 255)  # transparency flattened onto white
    facebook = served(client, fake.calls("POST", r"/photos$")[0].params["url"])
    assert (facebook.format, facebook.served_type) == ("PNG", "image/png")  # the original
    with db.connection_context():
        assert MediaRendition.select().count() == 1

    # The same media again: the rendition is reused, not made twice.
    again = client.post("/v1/publish", json={"content": "Logo again", "accounts": [accounts["instagram"]],
                                              "media": [transparent]}, headers=tenant.headers)
    assert again.status_code == 201
    with db.connection_context():
        assert MediaRendition.select().count() == 1


@pytest.mark.parametrize("config", STORES, indirect=True)
def test_fit_pad_gives_instagram_a_padded_copy(client, tenant, accounts, media, fake, redis_client):
    response = client.post("/v1/publish", json={"content": "Tall", "accounts": list(accounts.values()),
                                                 "media": [media["tall"]], "fit": "pad"}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    assert [entry["code"] for entry in response.get_json()["warnings"]] == ["media_padded"]
    work(redis_client)
    padded = served(client, fake.calls("POST", r"/media$")[0].params["image_url"])
    assert padded.size == (800, 1000)  # 4:5, the nearest ratio Instagram takes, white bars either side
    assert padded.getpixel((5, 500)) == (255, 255, 255)
    assert served(client, fake.calls("POST", r"/photos$")[0].params["url"]).size == (400, 1000)


@pytest.mark.parametrize("config", STORES, indirect=True)
def test_exif_orientation_is_applied_to_a_rendition(client, tenant, accounts, fake, redis_client):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate a quarter: 500×400 as stored, 400×500 as shown
    turned = upload(client, tenant, picture(500, 400, "PNG", exif=exif.tobytes()), "turned.png")
    response = client.post("/v1/publish", json={"content": "Turned", "accounts": [accounts["instagram"]],
                                                 "media": [turned]}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    work(redis_client)
    assert served(client, fake.calls("POST", r"/media$")[0].params["image_url"]).size == (400, 500)


def test_a_post_the_rules_now_refuse_fails_before_it_is_sent(client, tenant, accounts, media, fake, redis_client):
    response = client.post("/v1/publish", json={"content": "Tall", "accounts": [accounts["instagram"]],
                                                 "media": [media["tall"]], "fit": "pad"}, headers=tenant.headers)
    post_id = int(response.get_json()["id"].removeprefix("post_"))
    with db.connection_context():
        Post.update(fit=None).where(Post.id == post_id).execute()  # as if the rules had changed since
    work(redis_client)
    [task] = client.get(f"/v1/posts/post_{post_id}", headers=tenant.headers).get_json()["tasks"]
    assert task["status"] == "failed" and "aspect ratio" in task["error"]
    assert fake.calls("POST", r"/media$") == []


def test_a_dry_run_leaves_the_idempotency_key_to_the_real_request(client, tenant, accounts, media):
    body = {"content": "Hello", "accounts": [accounts["instagram"]], "media": [media["square"]]}
    headers = {**tenant.headers, "Idempotency-Key": "spring-1"}
    assert client.post("/v1/publish", json={**body, "dry_run": True}, headers=headers).status_code == 200
    real = client.post("/v1/publish", json=body, headers=headers)
    assert real.status_code == 201 and "Idempotent-Replayed" not in real.headers


def test_an_edit_is_checked_by_the_same_rules_and_pad_can_be_asked_for_later(client, tenant, accounts, media):
    queued = client.post("/v1/publish", headers=tenant.headers, json={
        "content": "Square", "accounts": [accounts["instagram"]], "media": [media["square"]], "schedule": later(30)})
    assert queued.status_code == 201, queued.get_json()
    post_id = queued.get_json()["id"]
    too_long = client.patch(f"/v1/posts/{post_id}", json={"content": "x" * 2201}, headers=tenant.headers)
    assert "at most 2,200 characters" in assert_error(too_long, 400, "validation_error", "content")["message"]
    tall = client.patch(f"/v1/posts/{post_id}", json={"media": [media["tall"]]}, headers=tenant.headers)
    assert "4:5 to 1.91:1" in assert_error(tall, 400, "validation_error", "media.0")["message"]
    padded = client.patch(f"/v1/posts/{post_id}", json={"media": [media["tall"]], "fit": "pad"},
                          headers=tenant.headers)
    assert padded.status_code == 200, padded.get_json()
    with db.connection_context():
        assert Post.get_by_id(int(post_id[5:])).fit == "pad"
