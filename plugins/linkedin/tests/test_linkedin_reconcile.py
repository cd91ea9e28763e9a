"""A LinkedIn post is never made twice: a worker killed after sending, an answer lost, a text the Page
already has. LinkedIn keeps no idempotency key, so Herald finds an earlier attempt by reading the Page's
posts back within the attempts' window (herald_linkedin.lookup). "The worker died" is the plugin raising
a BaseException right after (or before) the send, as nothing runs after a SIGKILL; its lease then runs
out and the reconciler takes over."""

from __future__ import annotations

import pytest
from fake_linkedin import ORG_ID
from herald_linkedin import publishing
from herald_linkedin.client import LinkedInClient
from linkedin_steps import *  # noqa: F403 (the fixtures)
from linkedin_steps import publish, task_of

TEXT = "Quarterly results are in"


class WorkerKilled(BaseException):
    """What a worker killed with SIGKILL leaves behind: nothing after this point runs."""


def creates(linkedin) -> int:
    return len([call for call in linkedin.calls if call.method == "POST" and call.path == "/rest/posts"])


@pytest.fixture
def dies_after_sending(monkeypatch):
    created = publishing.create

    def send_then_die(ctx, client, urns):
        created(ctx, client, urns)  # LinkedIn has the post ...
        raise WorkerKilled  # ... and the worker dies before Herald records it

    monkeypatch.setattr(publishing, "create", send_then_die)
    return monkeypatch


def settle(herald_jobs, api, workspace, post_id, rounds: int = 6) -> dict:
    """Let leases run out and the reconciler run until the task is final."""
    for _ in range(rounds):
        task = task_of(api, workspace, post_id)
        if task["status"] in ("published", "failed", "unconfirmed"):
            return task
        herald_jobs.advance(3600)
        herald_jobs.cron()
    return task_of(api, workspace, post_id)


def test_a_worker_killed_after_sending_is_reconciled_without_a_second_post(api, herald_workspace, herald_jobs,
                                                                           linkedin, account, dies_after_sending):
    post_id = publish(api, herald_workspace, account, content=TEXT)
    herald_jobs.run()
    assert task_of(api, herald_workspace, post_id)["status"] != "published"
    dies_after_sending.undo()  # the next worker is a healthy one
    for number in range(120):  # the Page's team posts a lot meanwhile: the post is three pages down
        linkedin.add_post(f"Another post {number}")
    task = settle(herald_jobs, api, herald_workspace, post_id)
    [ours] = [post for post in linkedin.posts_of() if post["commentary"] == TEXT]
    assert task["status"] == "published" and task["platform_post_id"] == ours["id"]
    assert creates(linkedin) == 1
    reads = [call for call in linkedin.calls if call.method == "GET" and call.path == "/rest/posts"]
    assert [call.query["start"] for call in reads] == ["0", "50", "100"]
    assert {call.query["author"] for call in reads} == {f"urn:li:organization:{ORG_ID}"}


def test_a_worker_killed_before_sending_sends_once_an_older_post_with_the_text_is_not_ours(
        api, herald_workspace, herald_jobs, linkedin, account, monkeypatch):
    old = linkedin.add_post(TEXT, seconds_ago=3 * 86400)
    sent = LinkedInClient.post

    def die_before_the_post(self, path, body, **params):
        if path == "posts":
            raise WorkerKilled
        return sent(self, path, body, **params)

    monkeypatch.setattr(LinkedInClient, "post", die_before_the_post)
    post_id = publish(api, herald_workspace, account, content=TEXT)
    herald_jobs.run()
    monkeypatch.undo()
    task = settle(herald_jobs, api, herald_workspace, post_id)
    [new] = [post for post in linkedin.posts_of() if post["id"] != old["id"]]
    assert task["status"] == "published" and task["platform_post_id"] == new["id"]
    assert creates(linkedin) == 1


def test_two_posts_with_the_text_in_the_attempts_window_leave_the_task_unconfirmed(api, herald_workspace,
                                                                                   herald_jobs, linkedin, account,
                                                                                   dies_after_sending):
    post_id = publish(api, herald_workspace, account, content=TEXT)
    herald_jobs.run()
    dies_after_sending.undo()
    linkedin.add_post(TEXT)  # the same text, by hand, meanwhile
    task = settle(herald_jobs, api, herald_workspace, post_id)
    assert task["status"] == "unconfirmed" and "2 posts on the Page have this text" in task["error"]
    assert creates(linkedin) == 1


def test_a_page_that_cannot_be_read_leaves_the_task_unconfirmed_never_sent_again(api, herald_workspace,
                                                                                 herald_jobs, linkedin, account,
                                                                                 dies_after_sending):
    post_id = publish(api, herald_workspace, account, content=TEXT)
    herald_jobs.run()
    dies_after_sending.undo()
    linkedin.unavailable(path="/rest/posts", times=50)
    task = settle(herald_jobs, api, herald_workspace, post_id, rounds=10)
    assert task["status"] == "unconfirmed" and "Check the Page" in task["error"]
    assert creates(linkedin) == 1


def test_a_text_the_page_posted_today_is_refused_as_linkedin_refuses_it(api, herald_workspace, herald_jobs,
                                                                        linkedin, account):
    linkedin.add_post(TEXT, seconds_ago=2 * 3600)  # outside the attempt's window, inside LinkedIn's day
    post_id = publish(api, herald_workspace, account, content=TEXT)
    herald_jobs.run()
    task = task_of(api, herald_workspace, post_id)
    assert task["status"] == "failed" and "same text twice" in task["error"] and "duplicate of" in task["error"]
    assert len(linkedin.posts_of()) == 1
