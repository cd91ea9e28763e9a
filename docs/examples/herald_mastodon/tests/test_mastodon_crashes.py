"""The test kit's crash test (``herald.testing.publish_through_crashes``) on the tutorial's plugin:
real worker processes SIGKILLed at random points while they publish to the fake Mastodon."""

from __future__ import annotations

import pytest
from fake_mastodon import ALICE_TOKEN, FakeMastodon

from herald.testing import publish_through_crashes


@pytest.fixture
def mastodon():
    fake = FakeMastodon()
    yield fake
    fake.close()


def test_workers_killed_at_random_points_post_each_status_once(herald_app_factory, herald_workspace, mastodon):
    client = herald_app_factory(mastodon_allow_private=True).test_client()
    account = client.post("/v1/accounts", headers=herald_workspace.headers, json={
        "platform": "mastodon", "access_token": ALICE_TOKEN, "details": {"server": mastodon.url}}).get_json()["id"]
    texts = [f"Crash test status {number}" for number in range(6)]
    for text in texts:
        answer = client.post("/v1/publish", headers=herald_workspace.headers, json={
            "content": text, "accounts": [account], "first_comment": f"Reply to {text}"})
        assert answer.status_code == 201, answer.get_json()

    report = publish_through_crashes(calls=lambda: len(mastodon.requests), seed=20261207, kills=5)

    assert set(report.statuses) == {"published"} and len(report.statuses) == len(texts), report
    assert set(report.comment_statuses) == {"posted"}, report
    assert report.kills >= 3, report
    posted = [status["content"] for status in mastodon.statuses.values()]
    for text in texts:
        assert sum(text in content and "Reply" not in content for content in posted) == 1, (text, posted)
        assert sum(f"Reply to {text}" in content for content in posted) == 1, (text, posted)
