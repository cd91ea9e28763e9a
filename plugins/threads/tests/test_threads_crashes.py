"""The test kit's crash test (``herald.testing.publish_through_crashes``) on the Threads plugin: real worker
processes SIGKILLed at random points while they publish posts and their first comments to the fake."""
# The fixtures come from threads_support (a conftest.py here would shadow the suite's own "conftest" module):
# ruff: noqa: F401, F811

from __future__ import annotations

from fake_threads import ALICE_TOKEN
from threads_support import PUBLIC, threads

from herald.testing import publish_through_crashes


def test_workers_killed_at_random_points_post_each_thread_and_reply_once(herald_app_factory, herald_workspace,
                                                                        threads):
    client = herald_app_factory(**threads.hosts(), public_url=PUBLIC).test_client()
    account = client.post("/v1/accounts", headers=herald_workspace.headers,
                          json={"platform": "threads", "access_token": ALICE_TOKEN}).get_json()["id"]
    texts = [f"Crash test thread {number}" for number in range(6)]
    for text in texts:
        answer = client.post("/v1/publish", headers=herald_workspace.headers,
                             json={"content": text, "accounts": [account], "first_comment": f"Reply to {text}"})
        assert answer.status_code == 201, answer.get_json()

    report = publish_through_crashes(calls=lambda: len(threads.calls), seed=20261207, kills=5)

    assert set(report.statuses) == {"published"} and len(report.statuses) == len(texts), report
    assert set(report.comment_statuses) == {"posted"}, report
    assert report.kills >= 3, report
    posted = [post["text"] for post in threads.published()]
    for text in texts:
        assert posted.count(text) == 1, (text, posted)
        [post] = [post for post in threads.published() if post["text"] == text]
        assert [reply["text"] for reply in threads.replies_of(post["id"])] == [f"Reply to {text}"], text
