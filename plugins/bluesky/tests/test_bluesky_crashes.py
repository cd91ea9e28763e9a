"""The test kit's crash test on the Bluesky plugin: real ``herald worker`` processes SIGKILLed at random
points (between any two requests the fake PDS sees) while they publish posts and their first comments.
Each post (every other one with an image) and each reply ends on the PDS exactly once."""

from __future__ import annotations

from bluesky_drive import jpeg, upload
from bluesky_fixtures import *  # noqa: F403 (the fixtures: fake PDS, settings, connected account)
from fake_bluesky import env

from herald.testing import publish_through_crashes


def test_workers_killed_at_random_points_post_each_post_and_reply_once(client, herald_workspace, bluesky, account):
    texts = [f"Crash test post {number} #herald" for number in range(6)]
    image = upload(client, herald_workspace, jpeg(400, 300))
    for number, text in enumerate(texts):
        answer = client.post("/v1/publish", headers=herald_workspace.headers, json={
            "content": text, "accounts": [account], "first_comment": f"Reply to {text}",
            "media": [image] if number % 2 else []})
        assert answer.status_code == 201, answer.get_json()

    report = publish_through_crashes(calls=lambda: len(bluesky.calls), env=env(bluesky), seed=20261207, kills=5)

    assert set(report.statuses) == {"published"} and len(report.statuses) == len(texts), report
    assert set(report.comment_statuses) == {"posted"}, report
    assert report.kills >= 3, report
    posts = bluesky.posts()
    assert sorted(post["value"]["text"] for post in posts) == sorted(texts)  # 0 duplicates, 0 lost
    with_images = sorted(post["value"]["text"] for post in posts if "embed" in post["value"])
    assert with_images == sorted(texts[1::2])
    for post in posts:
        [reply] = bluesky.replies(to=post["uri"])
        assert reply["value"]["text"] == f"Reply to {post['value']['text']}"
    assert len(bluesky.replies()) == len(texts)
