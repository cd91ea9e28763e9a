"""Publishing to Bluesky through Herald's API and jobs, against the fake PDS over real HTTP: text with
facets, images, the first comment, engagement, and the dry run refusing what Bluesky refuses."""

from __future__ import annotations

from bluesky_drive import jpeg, publish, task_of, upload
from bluesky_fixtures import *  # noqa: F403 (the fixtures: fake PDS, settings, connected account)
from fake_bluesky import DID, OTHER_DID
from herald_bluesky import tid


def test_a_text_post_is_created_under_the_key_saved_before_the_create(client, herald_workspace, herald_jobs,
                                                                     bluesky, account):
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [post] = bluesky.posts()
    assert task["status"] == "published" and task["platform_post_id"] == post["uri"]
    assert task["url"] == f"https://bsky.app/profile/alice.bsky.social/post/{post['rkey']}"
    assert post["value"]["text"] == "Hello Bluesky" and post["value"]["createdAt"].endswith("Z")
    assert tid.decode(post["rkey"])  # a TID Herald chose, not one the PDS made up
    [create] = [call for call in bluesky.calls if call.path.endswith("createRecord")]
    assert create.json()["rkey"] == post["rkey"]


def test_links_mentions_and_hashtags_are_facets_in_utf8_bytes(client, herald_workspace, herald_jobs, bluesky,
                                                              account):
    text = "Café ☕ with @bob.example.com and @nobody.example.org: https://example.com/menu. #Bäckerei #1"
    publish(client, herald_workspace, account, content=text)
    herald_jobs.run()
    [post] = bluesky.posts()
    encoded = text.encode()

    def covered(facet):
        return encoded[facet["index"]["byteStart"]:facet["index"]["byteEnd"]].decode()

    facets = {covered(facet): facet["features"][0] for facet in post["value"]["facets"]}
    assert facets == {
        "@bob.example.com": {"$type": "app.bsky.richtext.facet#mention", "did": OTHER_DID},
        "https://example.com/menu": {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/menu"},
        "#Bäckerei": {"$type": "app.bsky.richtext.facet#tag", "tag": "Bäckerei"},
    }  # an unknown handle and a number-only tag stay text


def test_images_are_uploaded_as_blobs_with_alt_and_aspect_ratio(client, herald_workspace, herald_jobs, bluesky,
                                                                 account):
    media = [upload(client, herald_workspace, jpeg(400, 300)), upload(client, herald_workspace, jpeg(300, 600))]
    post_id = publish(client, herald_workspace, account, content="Two loaves", media=media)
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    [post] = bluesky.posts()
    embed = post["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [image["aspectRatio"] for image in embed["images"]] == [{"width": 400, "height": 300},
                                                                    {"width": 300, "height": 600}]
    assert all(image["alt"] == "" and image["image"]["mimeType"] == "image/jpeg" for image in embed["images"])
    uploads = [call for call in bluesky.calls if call.path.endswith("uploadBlob")]
    assert [call.body for call in uploads] == [jpeg(400, 300), jpeg(300, 600)]  # the very files, downloaded


def test_the_first_comment_is_a_reply_under_the_next_key(client, herald_workspace, herald_jobs, bluesky, account):
    post_id = publish(client, herald_workspace, account, first_comment="More at the shop #bread")
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [post] = bluesky.posts()
    [reply] = bluesky.replies(to=post["uri"])
    assert reply["rkey"] == tid.following(post["rkey"])
    assert reply["value"]["reply"]["root"]["uri"] == reply["value"]["reply"]["parent"]["uri"] == post["uri"]
    assert reply["value"]["facets"][0]["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "bread"}]
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == reply["uri"]


def test_a_first_comment_whose_answer_was_lost_is_found_not_made_twice(client, herald_workspace, herald_jobs,
                                                                      bluesky, account):
    post_id = publish(client, herald_workspace, account, first_comment="Links below 👇")
    herald_jobs.run()  # the post; its comment is the next job
    bluesky.drop_next_answer(r"/xrpc/com\.atproto\.repo\.createRecord")
    herald_jobs.run()
    herald_jobs.advance(3600)
    task = task_of(client, herald_workspace, post_id)
    [reply] = bluesky.replies()
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == reply["uri"]


def test_the_engagement_pull_reads_likes_reposts_quotes_and_replies(client, herald_workspace, herald_jobs, bluesky,
                                                                    account):
    publish(client, herald_workspace, account)
    herald_jobs.run()
    [post] = bluesky.posts()
    bluesky.engage(post["uri"], likes=12, reposts=3, quotes=2, replies=4)
    herald_jobs.cron()
    listed = client.post("/api/webhooks", headers=herald_workspace.headers,
                         json={"action": "list_posts", "client_id": herald_workspace.client.id}).get_json()
    [listed_post] = listed["posts"]
    assert {name: listed_post["engagement"][name] for name in ("likes", "shares", "comments")} == {
        "likes": 12, "shares": 5, "comments": 4}
    [read] = [call for call in bluesky.calls if call.path.endswith("getPosts")]
    assert read.query == {"uris": post["uri"]} and read.header("Authorization") is None  # the public AppView


def dry_run(client, workspace, account, **body):
    return client.post("/v1/publish", headers=workspace.headers,
                       json={"content": "Hello", "accounts": [account], "dry_run": True, **body})


def test_the_dry_run_counts_graphemes_not_code_points(client, herald_workspace, account, bluesky):
    accented = "e\u0301"  # é as e and a combining accent: 2 code points, one character on screen
    assert dry_run(client, herald_workspace, account, content=accented * 300).status_code == 200
    refused = dry_run(client, herald_workspace, account, content=accented * 301)
    assert refused.status_code == 400 and "301 characters; Bluesky takes 300" in refused.get_json()["error"]["message"]
    family = "👩‍👩‍👧‍👦"  # 7 code points and 25 bytes, one character
    assert dry_run(client, herald_workspace, account, content=family * 100).status_code == 200
    too_big = dry_run(client, herald_workspace, account, content=family * 130)  # 130 characters, 3,250 bytes
    assert too_big.status_code == 400 and "3,250 bytes" in too_big.get_json()["error"]["message"]
    assert not [call for call in bluesky.calls if "createRecord" in call.path]


def test_the_dry_run_refuses_five_images_and_videos(client, herald_workspace, account):
    images = [upload(client, herald_workspace, jpeg(40, 40 + n)) for n in range(5)]
    five = dry_run(client, herald_workspace, account, media=images)
    assert five.status_code == 400 and five.get_json()["error"]["field"] == "media"
    assert dry_run(client, herald_workspace, account, media=images[:4]).status_code == 200


def test_an_account_on_another_pds_is_connected_with_its_address(client, herald_workspace, bluesky, herald_jobs):
    answer = client.post("/v1/accounts", headers=herald_workspace.headers, json={
        "platform": "bluesky", "access_token": "alice.bsky.social:abcd-efgh-ijkl-mnop",
        "details": {"pds": bluesky.url}})  # the operator's PDS setting names this address too: allowed
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["username"] == "alice.bsky.social"
    post_id = publish(client, herald_workspace, answer.get_json()["id"])
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["platform_post_id"].startswith(f"at://{DID}/")
