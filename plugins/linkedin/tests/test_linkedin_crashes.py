"""The test kit's crash test (``herald.testing.publish_through_crashes``) on the LinkedIn plugin: real
worker processes SIGKILLed at random points while they upload images, post and comment on the fake
LinkedIn. 0 duplicates, 0 lost: every post and every first comment exactly once."""

from __future__ import annotations

from linkedin_steps import *  # noqa: F403 (the fixtures)
from linkedin_steps import jpeg, publish, upload

from herald.testing import publish_through_crashes


def test_workers_killed_at_random_points_post_each_post_and_comment_once(api, herald_workspace, linkedin, account):
    texts = [f"Crash test post {number} (with an image)" for number in range(4)]
    for number, text in enumerate(texts):
        media = [upload(api, herald_workspace, jpeg(color=(40 * number, 90, 120)), f"{number}.jpg")]
        publish(api, herald_workspace, account, content=text, media=media, first_comment=f"Comment on {text}")

    report = publish_through_crashes(calls=lambda: len(linkedin.calls), seed=20261207, kills=5)

    assert set(report.statuses) == {"published"} and len(report.statuses) == len(texts), report
    assert set(report.comment_statuses) == {"posted"}, report
    assert report.kills >= 3, report
    posts = linkedin.posts_of()
    shown = [post["commentary"].replace("\\", "") for post in posts]
    for text in texts:
        assert shown.count(text) == 1, (text, shown)
    for post in posts:
        assert [comment["message"]["text"] for comment in linkedin.comments_of(post["id"])] == [
            f"Comment on {post['commentary'].replace(chr(92), '')}"]
