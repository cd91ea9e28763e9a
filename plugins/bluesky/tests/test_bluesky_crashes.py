"""The test kit's crash test on the Bluesky plugin: real ``herald worker`` processes SIGKILLed at random
points (between any two requests the fake PDS sees) while they publish posts and their first comments.
Each post and each reply ends on the PDS exactly once.

(Text posts only: the worker processes are not in testing mode, so they refuse a loopback
``HERALD_PUBLIC_URL`` for media; images are published in-process in test_bluesky_publish.py.)"""

from __future__ import annotations

from bluesky_fixtures import *  # noqa: F403 (the fixtures: fake PDS, settings, connected account)
from fake_bluesky import env

from herald.testing import publish_through_crashes


def test_workers_killed_at_random_points_post_each_post_and_reply_once(client, herald_workspace, bluesky, account):
    texts = [f"Crash test post {number} #herald" for number in range(6)]
    for text in texts:
        answer = client.post("/v1/publish", headers=herald_workspace.headers, json={
            "content": text, "accounts": [account], "first_comment": f"Reply to {text}"})
        assert answer.status_code == 201, answer.get_json()

    report = publish_through_crashes(calls=lambda: len(bluesky.calls), env=env(bluesky), seed=20261207, kills=5)

    assert set(report.statuses) == {"published"} and len(report.statuses) == len(texts), report
    assert set(report.comment_statuses) == {"posted"}, report
    assert report.kills >= 3, report
    posts = bluesky.posts()
    assert sorted(post["value"]["text"] for post in posts) == sorted(texts)  # 0 duplicates, 0 lost
    for post in posts:
        [reply] = bluesky.replies(to=post["uri"])
        assert reply["value"]["text"] == f"Reply to {post['value']['text']}"
    assert len(bluesky.replies()) == len(texts)
