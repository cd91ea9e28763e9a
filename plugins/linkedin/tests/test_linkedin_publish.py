"""Publishing to a LinkedIn Page through Herald's API and jobs, against the fake LinkedIn over real HTTP:
text, images, first comments, engagement, the dry run, and each fault the fake injects."""

from __future__ import annotations

import pytest
from fake_linkedin import MEMBER_TOKEN, ORG_ID
from linkedin_steps import *  # noqa: F403 (the fixtures)
from linkedin_steps import jpeg, publish, task_of, upload

AUTHOR = f"urn:li:organization:{ORG_ID}"


def test_a_text_post_goes_to_the_page_as_the_organisation(api, herald_workspace, herald_jobs, linkedin, account):
    post_id = publish(api, herald_workspace, account)
    herald_jobs.run()
    task = task_of(api, herald_workspace, post_id)
    [post] = linkedin.posts_of()
    assert task["status"] == "published" and task["platform_post_id"] == post["id"]
    assert task["url"] == f"https://www.linkedin.com/feed/update/{post['id']}/"
    assert (post["author"], post["commentary"], post["visibility"], post["lifecycleState"]) == (
        AUTHOR, "Hello from Herald", "PUBLIC", "PUBLISHED")
    assert post["distribution"]["feedDistribution"] == "MAIN_FEED" and "content" not in post
    [create] = [call for call in linkedin.calls if call.method == "POST" and call.path == "/rest/posts"]
    assert create.header("LinkedIn-Version") == "202611" and create.header("X-Restli-Protocol-Version") == "2.0.0"
    assert create.header("Authorization") == f"Bearer {MEMBER_TOKEN}"


def test_reserved_characters_are_escaped_so_linkedin_shows_the_whole_text(api, herald_workspace, herald_jobs,
                                                                          linkedin, account):
    text = "Launch (at last) #news @team: 50% off [today] {only} <3 a_b*c~d|e \\o/"
    publish(api, herald_workspace, account, content=text)
    herald_jobs.run()
    [post] = linkedin.posts_of()
    assert post["text_shown"] == post["commentary"]  # nothing left unescaped, nothing cut off
    assert post["commentary"] == ("Launch \\(at last\\) \\#news \\@team: 50% off \\[today\\] \\{only\\} \\<3 "
                                  "a\\_b\\*c\\~d\\|e \\\\o/")


def test_an_image_is_uploaded_to_linkedin_and_shown_in_the_post(api, herald_workspace, herald_jobs, linkedin,
                                                                account):
    photo = jpeg()
    post_id = publish(api, herald_workspace, account, media=[upload(api, herald_workspace, photo)])
    herald_jobs.run()
    [post] = linkedin.posts_of()
    [image] = linkedin.images.values()
    assert post["content"] == {"media": {"id": image["id"]}}
    assert image["data"] == photo and image["owner"] == AUTHOR  # the bytes Herald stores, owned by the Page
    assert task_of(api, herald_workspace, post_id)["status"] == "published"


def test_several_images_make_one_multi_image_post(api, herald_workspace, herald_jobs, linkedin, account):
    media = [upload(api, herald_workspace, jpeg(color=color), f"{color}.jpg") for color in ("red", "green", "blue")]
    publish(api, herald_workspace, account, media=media)
    herald_jobs.run()
    [post] = linkedin.posts_of()
    assert [item["id"] for item in post["content"]["multiImage"]["images"]] == list(linkedin.images)
    assert len([call for call in linkedin.calls if call.method == "PUT"]) == 3


def test_images_linkedin_is_still_processing_are_waited_for(api, herald_workspace, herald_jobs, linkedin, account):
    linkedin.processing_reads = 2
    post_id = publish(api, herald_workspace, account, media=[upload(api, herald_workspace)])
    herald_jobs.run()
    assert linkedin.posts_of() == [] and task_of(api, herald_workspace, post_id)["status"] != "published"
    herald_jobs.advance(10)
    herald_jobs.advance(10)
    assert len(linkedin.posts_of()) == 1 and task_of(api, herald_workspace, post_id)["status"] == "published"
    assert len([call for call in linkedin.calls if call.method == "PUT"]) == 1  # uploaded once


def test_the_first_comment_is_the_pages_own(api, herald_workspace, herald_jobs, linkedin, account):
    publish(api, herald_workspace, account, first_comment="Link in the comments: https://herald.test/a")
    herald_jobs.run()
    [post] = linkedin.posts_of()
    [comment] = linkedin.comments_of(post["id"])
    assert comment["actor"] == AUTHOR and comment["message"]["text"] == "Link in the comments: https://herald.test/a"


def test_a_comment_whose_answer_was_lost_is_found_not_posted_again(api, herald_workspace, herald_jobs, linkedin,
                                                                   account):
    linkedin.drop_after_create("comments")
    publish(api, herald_workspace, account, first_comment="First!")
    herald_jobs.run()
    herald_jobs.advance(600)
    herald_jobs.cron()
    [post] = linkedin.posts_of()
    assert len(linkedin.comments_of(post["id"])) == 1


def test_engagement_is_pulled_by_cron(api, herald_workspace, herald_jobs, linkedin, account):
    post_id = publish(api, herald_workspace, account, first_comment="Thanks for reading")
    herald_jobs.run()
    [post] = linkedin.posts_of()
    linkedin.engage(post["id"], likeCount=12, shareCount=3, impressionCount=450, uniqueImpressionsCount=300)
    herald_jobs.advance(4 * 3600)
    herald_jobs.cron()
    listed = api.post("/api/webhooks", headers=herald_workspace.headers,
                      json={"action": "list_posts", "client_id": herald_workspace.client.id}).get_json()
    [listed_post] = listed["posts"]
    assert f"post_{listed_post['id']}" == post_id
    assert {name: listed_post["engagement"].get(name) for name in ("likes", "comments", "shares", "impressions",
                                                                   "reach")} == {
        "likes": 12, "comments": 1, "shares": 3, "impressions": 450, "reach": 300}
    [stats] = [call for call in linkedin.calls if call.path == "/rest/organizationalEntityShareStatistics"]
    assert stats.query["shares"] == f"List({post['id']})"


def test_the_dry_run_refuses_what_linkedin_would(api, herald_workspace, account):
    too_long = api.post("/v1/publish", headers=herald_workspace.headers, json={
        "content": "x" * 3001, "accounts": [account], "client_id": herald_workspace.client.id, "dry_run": True})
    assert too_long.status_code == 400, too_long.get_json()
    assert "3000" in too_long.get_json()["error"]["message"].replace(",", "")
    fits = api.post("/v1/publish", headers=herald_workspace.headers, json={
        "content": "x" * 3000, "accounts": [account], "client_id": herald_workspace.client.id, "dry_run": True})
    assert fits.status_code == 200, fits.get_json()


@pytest.mark.parametrize("fault", ["rate_limited", "unavailable"])
def test_a_passing_failure_is_tried_again_later(api, herald_workspace, herald_jobs, linkedin, account, fault):
    getattr(linkedin, fault)(path="/rest/posts")
    post_id = publish(api, herald_workspace, account)
    herald_jobs.run()
    task = task_of(api, herald_workspace, post_id)
    assert task["status"] != "published" and linkedin.posts_of() == []
    if fault == "rate_limited":  # a 429 waits five minutes: LinkedIn says nothing about when
        herald_jobs.advance(240)
        assert task_of(api, herald_workspace, post_id)["status"] != "published"
    herald_jobs.advance(301)
    herald_jobs.cron()
    assert task_of(api, herald_workspace, post_id)["status"] == "published" and len(linkedin.posts_of()) == 1


def test_an_expired_token_marks_the_account_for_reconnecting(api, herald_workspace, herald_jobs, linkedin, account):
    linkedin.expire(MEMBER_TOKEN)
    post_id = publish(api, herald_workspace, account)
    herald_jobs.run()
    task = task_of(api, herald_workspace, post_id)
    assert task["status"] == "failed" and "expired" in task["error"] and "Reconnect" in task["error"]
    detail = api.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()
    assert detail["status"] != "active"


def test_a_post_whose_answer_was_lost_is_found_on_the_page_and_not_sent_again(api, herald_workspace, herald_jobs,
                                                                              linkedin, account):
    linkedin.drop_after_create()
    post_id = publish(api, herald_workspace, account)
    herald_jobs.run()
    [post] = linkedin.posts_of()
    task = task_of(api, herald_workspace, post_id)
    assert task["status"] == "published" and task["platform_post_id"] == post["id"]
    assert len([call for call in linkedin.calls if call.method == "POST" and call.path == "/rest/posts"]) == 1
