"""Images, a video, per-post options, the server's limits and the faults of the media calls: the plugin
inside a real Herald against the fake Mastodon, Herald's media links served on loopback."""

from __future__ import annotations

import io

import pytest
from fake_mastodon import ALICE_TOKEN, FakeMastodon
from herald_mastodon import MastodonPlatform
from mastodon_drive import Files, connect, jpeg, mp4, publish, requested, task, task_of, upload
from mastodon_fixtures import account, client, herald_config, mastodon, media_host  # noqa: F401 (fixtures)

from herald.sdk import PostRef


def dry_run(client, workspace, account, **body):
    return client.post("/v1/publish", headers=workspace.headers, json={
        "accounts": [account], "client_id": workspace.client.id, "dry_run": True, **body})


# -- images and video -------------------------------------------------------------------------------

def test_an_image_is_uploaded_then_attached_to_the_status(client, herald_workspace, herald_jobs, mastodon, account):
    picture = jpeg()
    post_id = publish(client, herald_workspace, account, content="A red square",
                      media=[upload(client, herald_workspace, picture, "red.jpg")])
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [status] = mastodon.published()
    [item] = mastodon.media.values()
    assert task["status"] == "published" and task["platform_post_id"] == status["id"]
    assert item["content"] == picture and item["content_type"] == "image/jpeg"
    assert [attached["id"] for attached in status["media_attachments"]] == [item["id"]]


def test_four_images_make_one_status(client, herald_workspace, herald_jobs, mastodon, account):
    media = [upload(client, herald_workspace, jpeg(100 + n, 100), f"{n}.jpg") for n in range(4)]
    post_id = publish(client, herald_workspace, account, media=media)
    herald_jobs.run()
    [status] = mastodon.published()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(status["media_attachments"]) == 4


def test_a_video_is_asked_about_until_processed_then_posted(client, herald_workspace, herald_jobs, mastodon,
                                                            account):
    post_id = publish(client, herald_workspace, account, media=[upload(client, herald_workspace, mp4(), "v.mp4")])
    herald_jobs.run()  # uploaded (202, url null), asked once (206): not posted yet
    [item] = mastodon.media.values()
    assert requested(mastodon, "GET", f"/api/v1/media/{item['id']}")
    assert not requested(mastodon, "POST", "/api/v1/statuses")
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    herald_jobs.advance(5)  # the check: processed now, so the status goes out
    [status] = mastodon.published()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert status["media_attachments"][0]["type"] == "video" and len(mastodon.media) == 1


def test_an_upload_the_server_cannot_take_now_is_tried_again(client, herald_workspace, herald_jobs, mastodon,
                                                              account):
    mastodon.unavailable(path=r"/api/v2/media")
    post_id = publish(client, herald_workspace, account, media=[upload(client, herald_workspace, jpeg(), "a.jpg")])
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    for _ in range(10):
        herald_jobs.advance(120)
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(mastodon.published()) == 1 and len(mastodon.media) == 1


def test_a_rate_limited_upload_waits_for_the_reset(client, herald_workspace, herald_jobs, mastodon, account):
    mastodon.rate_limit(path=r"/api/v2/media", seconds=600)
    post_id = publish(client, herald_workspace, account, media=[upload(client, herald_workspace, jpeg(), "a.jpg")])
    herald_jobs.run()
    herald_jobs.advance(300)
    assert task_of(client, herald_workspace, post_id)["status"] != "published"  # not before the reset
    herald_jobs.advance(301)
    assert task_of(client, herald_workspace, post_id)["status"] == "published"


def test_a_file_the_server_refuses_fails_the_task_with_its_reason(client, herald_workspace, herald_jobs, mastodon,
                                                                  account):
    mastodon.fail_next(422, {"error": "Validation failed: File content type is invalid, File is invalid"},
                       path=r"/api/v2/media")
    post_id = publish(client, herald_workspace, account, media=[upload(client, herald_workspace, jpeg(), "a.jpg")])
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "failed" and "File content type is invalid" in task["error"]
    assert mastodon.published() == []


# -- the dry run and the server's limits ------------------------------------------------------------

def test_the_dry_run_refuses_what_mastodon_refuses(client, herald_workspace, account):
    images = [upload(client, herald_workspace, jpeg(100 + n, 100), f"{n}.jpg") for n in range(5)]
    video = upload(client, herald_workspace, mp4(), "v.mp4")
    refused = [({"content": "x" * 501}, "content", "Mastodon allows 500"),
               ({"content": "Five", "media": images}, "media", "takes 0 to 4 images; this one has 5"),
               ({"content": "Mixed", "media": [images[0], video]}, "media.1", "takes no videos")]
    for body, field, words in refused:
        answer = dry_run(client, herald_workspace, account, **body)
        assert answer.status_code == 400, body
        error = answer.get_json()["error"]
        assert error["field"] == field and words in error["message"], error


def test_a_link_counts_23_characters_as_on_mastodon(client, herald_workspace, account):
    link = "https://example.com/" + "a" * 200
    fits = dry_run(client, herald_workspace, account, content="x" * 476 + " " + link)  # 476 + 1 + 23
    assert fits.status_code == 200, fits.get_json()
    over = dry_run(client, herald_workspace, account, content="x" * 477 + " " + link)
    assert over.status_code == 400 and "counts 501 characters" in over.get_json()["error"]["message"]


def test_a_content_warning_counts_toward_the_length():
    post = PostRef(id=1, caption="x" * 490, post_type="post", options={"spoiler_text": "Spoilers ahead"})
    assert "counts 504 characters" in MastodonPlatform().check_post(post)


def test_the_servers_own_limit_is_kept_when_connecting_and_checked_before_sending(client, herald_workspace,
                                                                                  herald_jobs, mastodon):
    mastodon.max_characters = 100  # this server allows less than Mastodon's default
    account = connect(client, herald_workspace, mastodon.url).get_json()["id"]
    post_id = publish(client, herald_workspace, account, content="y" * 150)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "failed" and "Mastodon allows 100" in task["error"]
    assert requested(mastodon, "GET", "/api/v2/instance")
    assert not requested(mastodon, "POST", "/api/v1/statuses")


def test_a_token_revoked_later_is_found_by_the_token_check(client, herald_workspace, herald_jobs, mastodon,
                                                           account):
    mastodon.revoke(ALICE_TOKEN)
    herald_jobs.cron()
    answer = client.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()
    assert answer["status"] == "invalid", answer


# -- options and alt text (the plugin called as the core calls it) ----------------------------------

@pytest.fixture
def files():
    with Files() as host:
        yield host


def test_options_and_alt_text_reach_mastodon(mastodon, files, herald_clock):
    image = files.add("red.jpg", jpeg(), "image/jpeg", alt_text="A red square on white")
    options = {"visibility": "unlisted", "spoiler_text": "Colours", "sensitive": True, "language": "de"}
    outcome = MastodonPlatform().publish(task(mastodon, herald_clock, caption="Look", media=(image,),
                                              options=options).ctx)
    [status] = mastodon.published()
    assert outcome.kind == "published" and outcome.platform_post_id == status["id"]
    assert (status["visibility"], status["spoiler_text"], status["sensitive"], status["language"]) == (
        "unlisted", "Colours", True, "de")
    assert status["media_attachments"][0]["description"] == "A red square on white"


def test_without_a_visibility_the_accounts_own_default_applies(client, herald_workspace, herald_jobs):
    with FakeMastodon() as fake:
        fake.tokens[ALICE_TOKEN]["privacy"] = "unlisted"  # alice's default on her server
        account = connect(client, herald_workspace, fake.url).get_json()["id"]
        publish(client, herald_workspace, account)
        herald_jobs.run()
        [status] = fake.published()
        assert status["visibility"] == "unlisted"
        assert "visibility" not in fake.calls[-1].json()


def test_a_posts_mastodon_options_and_alt_text_go_through_herald(client, herald_workspace, herald_jobs, mastodon,
                                                                  account):
    answer = client.post("/api/media", headers=herald_workspace.headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(jpeg()), "red.jpg"), "alt_text": "A red square"})
    assert answer.status_code == 201, answer.get_json()
    variants = {"mastodon": {"options": {"visibility": "private", "spoiler_text": "Colours"}}}
    post_id = publish(client, herald_workspace, account, content="Look", variants=variants,
                      media=[f"media_{answer.get_json()['media']['id']}"])
    herald_jobs.run()
    [status] = mastodon.published()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert (status["visibility"], status["spoiler_text"]) == ("private", "Colours")
    assert status["media_attachments"][0]["description"] == "A red square"


def test_an_option_mastodon_does_not_take_is_a_400(client, herald_workspace, account):
    answer = dry_run(client, herald_workspace, account, content="Hi",
                     variants={"mastodon": {"options": {"visibility": "everyone"}}})
    assert answer.status_code == 400, answer.get_json()
