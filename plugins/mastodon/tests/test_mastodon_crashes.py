"""The test kit's crash test (``herald.testing.publish_through_crashes``) on the tutorial's plugin:
real worker processes SIGKILLed at random points while they publish statuses and their first comments
to the fake Mastodon, every other one with an image (uploaded, then attached)."""

from __future__ import annotations

from mastodon_drive import connect, jpeg, upload
from mastodon_fixtures import client, herald_config, mastodon, media_host  # noqa: F401 (fixtures)

from herald.testing import publish_through_crashes


def test_workers_killed_at_random_points_post_each_status_once(client, herald_workspace, mastodon):
    account = connect(client, herald_workspace, mastodon.url).get_json()["id"]
    texts = [f"Crash test status {number}" for number in range(6)]
    image = upload(client, herald_workspace, jpeg(), "bread.jpg")
    for number, text in enumerate(texts):
        answer = client.post("/v1/publish", headers=herald_workspace.headers, json={
            "content": text, "accounts": [account], "first_comment": f"Reply to {text}",
            "media": [image] if number % 2 else []})
        assert answer.status_code == 201, answer.get_json()

    report = publish_through_crashes(calls=lambda: len(mastodon.calls), seed=20261207, kills=5)

    assert set(report.statuses) == {"published"} and len(report.statuses) == len(texts), report
    assert set(report.comment_statuses) == {"posted"}, report
    assert report.kills >= 3, report
    for text in texts:
        [status] = mastodon.own_statuses(text)  # 0 duplicates, 0 lost
        assert len(status["media_attachments"]) == (1 if texts.index(text) % 2 else 0), status
        assert [reply["text"] for reply in mastodon.replies(status["id"])] == [f"Reply to {text}"]
