"""Faults of the Threads API and crashes of Herald's workers: rate limits with their headers, server
errors, answers lost after Threads acted, an expired token, containers that are slow, unknown or
broken, the publishing quota; and a worker killed in the middle (the task replayed in process)."""
# The fixtures come from threads_support (a conftest.py here would shadow the suite's own "conftest" module):
# ruff: noqa: F401, F811

from __future__ import annotations

from fake_threads import ALICE, error
from herald_threads.client import ThreadsClient
from herald_threads.publishing import Publisher
from threads_support import WorkerKilled, account, account_of, app, client, publish, task_of, threads

LEASE_RUNS_OUT = 600  # seconds: past the publish task's lease


def test_a_rate_limit_waits_as_its_headers_say_then_publishes_once(client, herald_workspace, herald_jobs, threads,
                                                                   account):
    threads.rate_limit(minutes=5, path=r".*/threads")
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] != "published" and "request limit" in task["error"]
    herald_jobs.advance(120)  # Threads said 5 minutes: not yet
    assert threads.published() == []
    herald_jobs.advance(300)
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(threads.published()) == 1


def test_a_server_error_on_publish_is_retried_without_a_second_post(client, herald_workspace, herald_jobs, threads,
                                                                   account):
    threads.server_error(path=r".*/threads_publish")
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    assert threads.published() == []
    herald_jobs.advance(3600)  # the retry reads the container's status (FINISHED) and publishes it
    task = task_of(client, herald_workspace, post_id)
    [post] = threads.published()
    assert task["status"] == "published" and task["platform_post_id"] == post["id"]
    assert len(threads.containers) == 1  # the same container, published once


def test_a_publish_answer_lost_is_settled_by_the_container_status(client, herald_workspace, herald_jobs, threads,
                                                                  account):
    threads.drop_after_publish()  # Threads publishes; the answer never arrives
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    herald_jobs.advance(60)
    task = task_of(client, herald_workspace, post_id)
    [post] = threads.published()
    # The status said PUBLISHED; the post was found among the account's posts of that moment, by its text.
    assert task["status"] == "published" and task["platform_post_id"] == post["id"]
    assert task["url"] == post["permalink"]
    assert len(threads.calls_to("POST", r".*/threads_publish")) == 1


def test_an_expired_token_fails_the_task_and_asks_for_a_reconnect(client, herald_workspace, herald_jobs, threads,
                                                                  account):
    threads.expire_token()
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "failed" and "Session has expired" in task["error"] and "reconnect" in task["error"]
    assert account_of(client, herald_workspace, account)["status"] == "expired"
    assert threads.published() == []


def test_a_container_threads_does_not_know_yet_is_published_when_it_does(client, herald_workspace, herald_jobs,
                                                                         threads, account):
    threads.not_found_on_publish(times=2)  # 24/4279009 "Media Not Found" right after creation
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    for _ in range(3):
        herald_jobs.advance(30)
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(threads.published()) == 1 and len(threads.containers) == 1


def test_a_slow_container_is_polled_until_finished(client, herald_workspace, herald_jobs, threads, account):
    threads.next_container(polls=3)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    for _ in range(3):
        herald_jobs.advance(15)
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(threads.calls_to("POST", r".*/threads_publish")) == 1


def test_a_container_error_a_new_upload_may_fix_makes_a_new_container(client, herald_workspace, herald_jobs, threads,
                                                                      account):
    threads.next_container(end="ERROR", error_message="UNKNOWN")
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(threads.containers) == 2 and len(threads.published()) == 1


def test_a_container_error_about_the_media_fails_with_its_reason(client, herald_workspace, herald_jobs, threads,
                                                                 account):
    threads.next_container(polls=1, end="ERROR", error_message="INVALID_ASPEC_RATIO")
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    herald_jobs.advance(15)
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "failed" and "INVALID_ASPEC_RATIO" in task["error"]
    assert threads.published() == []


def test_the_publishing_quota_waits_an_hour_with_the_same_container(client, herald_workspace, herald_jobs, threads,
                                                                    account):
    threads.set_quota_usage(ALICE["id"], 250)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] != "published" and "250 of the 250 posts" in task["error"]
    threads.set_quota_usage(ALICE["id"], 0)
    herald_jobs.advance(3600)
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(threads.containers) == 1 and len(threads.published()) == 1


def test_a_worker_killed_after_the_container_was_made_publishes_it_once(client, herald_workspace, herald_jobs,
                                                                        threads, account, monkeypatch):
    made = Publisher._create

    def create_then_die(self):
        made(self)  # Threads has the container, and its id is saved ...
        raise WorkerKilled  # ... then the worker dies

    monkeypatch.setattr(Publisher, "_create", create_then_die)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    monkeypatch.undo()
    herald_jobs.advance(LEASE_RUNS_OUT)
    herald_jobs.cron()  # the reconciler: the container is FINISHED, not published
    herald_jobs.advance(60)
    task = task_of(client, herald_workspace, post_id)
    [post] = threads.published()
    assert task["status"] == "published" and task["platform_post_id"] == post["id"]
    assert len(threads.containers) == 1


def test_a_worker_killed_after_threads_published_is_reconciled_without_a_second_post(client, herald_workspace,
                                                                                    herald_jobs, threads, account,
                                                                                    monkeypatch):
    post_request = ThreadsClient.post

    def post_then_die(self, path, **params):
        answer = post_request(self, path, **params)
        if path.endswith("/threads_publish"):
            raise WorkerKilled  # Threads published; Herald recorded nothing
        return answer

    monkeypatch.setattr(ThreadsClient, "post", post_then_die)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    monkeypatch.undo()
    herald_jobs.advance(LEASE_RUNS_OUT)
    herald_jobs.cron()  # reconcile: the container is PUBLISHED; its post is found by its text
    task = task_of(client, herald_workspace, post_id)
    [post] = threads.published()
    assert task["status"] == "published" and task["platform_post_id"] == post["id"]
    assert len(threads.calls_to("POST", r".*/threads_publish")) == 1


def test_a_publish_threads_refuses_fails_the_task_without_doubt(client, herald_workspace, herald_jobs, threads,
                                                                account):
    threads.fail_next(400, error("(#100) Invalid parameter", 100, user_msg="The post cannot be published."),
                      path=r".*/threads_publish")
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "failed" and "cannot be published" in task["error"]
    assert threads.published() == []
