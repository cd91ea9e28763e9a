"""Publishing to Threads through Herald's API and jobs, against the fake Threads API over HTTP: text,
an image, a carousel, a first comment (a reply), engagement, and what each fault comes to."""
# The fixtures come from threads_support (a conftest.py here would shadow the suite's own "conftest" module):
# ruff: noqa: F401, F811

from __future__ import annotations

import io

from fake_threads import ALICE
from threads_support import PUBLIC, account, app, client, jpeg, publish, task_of, threads, upload


def test_a_text_post_is_one_container_published_once(client, herald_workspace, herald_jobs, threads, account):
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [post] = threads.published()
    assert task["status"] == "published" and task["platform_post_id"] == post["id"]
    assert task["url"] == post["permalink"]
    assert (post["media_type"], post["text"]) == ("TEXT_POST", "Fresh bread at 7")
    [create] = threads.calls_to("POST", r".*/threads")
    assert create.form == {"media_type": "TEXT", "text": "Fresh bread at 7"}
    assert create.header("Authorization") == "Bearer " + threads_token(threads) and "access_token" not in create.query
    assert create.path == f"/v1.0/{ALICE['id']}/threads"


def threads_token(threads):
    return next(token for token, profile in threads.profiles.items() if profile["id"] == ALICE["id"]
                and not token.startswith("short-"))


def test_an_image_reaches_threads_by_its_signed_public_link(client, herald_workspace, herald_jobs, threads, account):
    media = upload(client, herald_workspace, jpeg(), "bread.jpg")
    post_id = publish(client, herald_workspace, account, media=[media])
    herald_jobs.run()
    [post] = threads.published()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert post["media_type"] == "IMAGE" and post["text"] == "Fresh bread at 7"
    assert post["media_url"].startswith(PUBLIC + "/")


def test_several_images_make_one_carousel(client, herald_workspace, herald_jobs, threads, account):
    media = [upload(client, herald_workspace, jpeg(400, 300 + n), f"{n}.jpg") for n in range(3)]
    post_id = publish(client, herald_workspace, account, media=media)
    herald_jobs.run()
    [post] = threads.published()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert post["media_type"] == "CAROUSEL_ALBUM" and len(post["children"]) == 3
    items = [threads.containers[child] for child in post["children"]]
    assert all(item["carousel_item"] and item["media_type"] == "IMAGE" for item in items)


def test_a_first_comment_is_a_reply_under_the_post(client, herald_workspace, herald_jobs, threads, account):
    post_id = publish(client, herald_workspace, account, first_comment="Order at bakery.test")
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [reply] = threads.replies_of(task["platform_post_id"])
    assert reply["text"] == "Order at bakery.test" and reply["username"] == "alice"
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == reply["id"]


def test_a_reply_whose_answer_was_lost_is_found_not_sent_again(client, herald_workspace, herald_jobs, threads,
                                                              account):
    threads.drop_after_reply()  # Threads publishes the reply; its answer never arrives
    post_id = publish(client, herald_workspace, account, first_comment="Order at bakery.test")
    herald_jobs.run()
    herald_jobs.advance(3600)  # the comment's retry reads the replies first
    task = task_of(client, herald_workspace, post_id)
    [reply] = threads.replies_of(task["platform_post_id"])
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == reply["id"]
    assert len(threads.calls_to("GET", r".*/replies")) >= 1


def test_engagement_is_pulled_from_the_insights(client, herald_workspace, herald_jobs, threads, account):
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    media_id = task_of(client, herald_workspace, post_id)["platform_post_id"]
    threads.set_insights(media_id, views=120, likes=14, replies=3, reposts=2, quotes=1)
    herald_jobs.cron()
    [insights] = threads.calls_to("GET", r".*/insights")
    assert insights.query["metric"] == "views,likes,replies,reposts,quotes"
    body = client.get(f"/v1/posts/{post_id}/engagement", headers=herald_workspace.headers).get_json()
    [platform] = body["platforms"]
    latest = platform["latest"]
    assert platform["platform"] == "threads" and latest["source"] == "threads"
    assert (latest["impressions"], latest["likes"], latest["comments"], latest["shares"]) == (120, 14, 3, 3)


def test_reply_control_and_alt_text_reach_the_container(client, herald_workspace, herald_jobs, threads, account):
    answer = client.post("/api/media", headers=herald_workspace.headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(jpeg()), "bread.jpg"), "alt_text": "A rye loaf on a board"})
    assert answer.status_code == 201, answer.get_json()
    media = f"media_{answer.get_json()['media']['id']}"
    post_id = publish(client, herald_workspace, account, media=[media],
                      variants={"threads": {"options": {"reply_control": "accounts_you_follow"}}})
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    [create] = threads.calls_to("POST", r".*/threads")
    assert create.form["reply_control"] == "accounts_you_follow"
    assert create.form["alt_text"] == "A rye loaf on a board"


def test_an_option_threads_does_not_take_is_refused(client, herald_workspace, threads, account):
    answer = client.post("/v1/publish", headers=herald_workspace.headers, json={
        "content": "Hi", "accounts": [account], "variants": {"threads": {"options": {"reply_control": "nobody"}}}})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "validation_error"
    assert threads.calls_to("POST", r".*/threads") == []
