"""Faults on the way to Bluesky: rate limits, server errors, answers lost after the create, expired and
revoked credentials, a worker killed after sending; and connecting accounts. Every post exists once."""

from __future__ import annotations

import pytest
from bluesky_drive import publish, task_of
from bluesky_fixtures import *  # noqa: F403 (the fixtures: fake PDS, settings, connected account)
from fake_bluesky import APP_PASSWORD, HANDLE
from herald_bluesky import records

CREATE = r"/xrpc/com\.atproto\.repo\.createRecord"


def creates(bluesky):
    return [call for call in bluesky.calls if call.path.endswith("createRecord")]


def test_a_rate_limited_create_waits_for_the_reset_and_posts_once(client, herald_workspace, herald_jobs, bluesky,
                                                                  account):
    bluesky.rate_limit_next(CREATE, seconds=30)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] != "published" and "429 RateLimitExceeded" in task["error"]
    assert herald_jobs.advance(5) == 0  # not before the reset
    herald_jobs.advance(30)
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(bluesky.posts()) == 1


def test_a_server_error_is_retried_after_reading_the_key_back(client, herald_workspace, herald_jobs, bluesky,
                                                              account):
    bluesky.fail_next(502, {"error": "UpstreamFailure", "message": "Upstream Failure"}, path=CREATE)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    herald_jobs.advance(3600)
    task = task_of(client, herald_workspace, post_id)
    [post] = bluesky.posts()
    assert task["status"] == "published" and task["platform_post_id"] == post["uri"]
    first, second = creates(bluesky)
    assert first.json()["rkey"] == second.json()["rkey"] == post["rkey"]  # the same key both times


def test_an_answer_lost_after_the_create_is_found_at_once_without_a_second_create(client, herald_workspace,
                                                                                  herald_jobs, bluesky, account):
    bluesky.drop_next_answer(CREATE)  # the PDS creates the post; its answer never arrives
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [post] = bluesky.posts()
    assert task["status"] == "published" and task["platform_post_id"] == post["uri"]
    assert len(creates(bluesky)) == 1


def test_a_create_at_a_taken_key_is_refused_and_the_post_found(client, herald_workspace, herald_jobs, bluesky,
                                                               account, monkeypatch):
    """The worst case of a lost answer: the create landed, the key read back said nothing yet (the PDS
    was slow), and the create went again: the PDS refuses the key with a bare 500, and Herald finds
    the post there instead of failing or posting twice."""
    bluesky.drop_next_answer(CREATE)
    looked = records.get
    calls = []

    def slow_pds(account, did, rkey):
        calls.append(rkey)
        return None if len(calls) <= 2 else looked(account, did, rkey)  # two looks miss it

    monkeypatch.setattr(records, "get", slow_pds)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    herald_jobs.advance(3600)
    task = task_of(client, herald_workspace, post_id)
    [post] = bluesky.posts()
    assert task["status"] == "published" and task["platform_post_id"] == post["uri"]
    assert len(creates(bluesky)) == 2 and len(calls) == 3


def test_an_expired_access_token_is_refreshed_and_the_refresh_token_rotates(client, herald_workspace, herald_jobs,
                                                                           bluesky, account):
    publish(client, herald_workspace, account, content="first")
    herald_jobs.run()
    bluesky.expire_access_tokens()  # two hours later
    post_id = publish(client, herald_workspace, account, content="second")
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert [post["value"]["text"] for post in bluesky.posts()] == ["first", "second"]
    [refresh] = [call for call in bluesky.calls if call.path.endswith("refreshSession")]
    assert bluesky.refresh[refresh.header("Authorization").removeprefix("Bearer ")]["revoked"]


def test_a_refused_refresh_signs_in_again(client, herald_workspace, herald_jobs, bluesky, account):
    publish(client, herald_workspace, account, content="first")
    herald_jobs.run()
    bluesky.expire_access_tokens()
    for token in bluesky.refresh.values():
        token["revoked"] = True  # 90 days later, or rotated by another process
    signed_in = len([call for call in bluesky.calls if call.path.endswith("createSession")])
    post_id = publish(client, herald_workspace, account, content="second")
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len([call for call in bluesky.calls if call.path.endswith("createSession")]) == signed_in + 1


def test_a_revoked_app_password_marks_the_account_to_reconnect(client, herald_workspace, herald_jobs, bluesky,
                                                               account):
    publish(client, herald_workspace, account, content="first")
    herald_jobs.run()
    bluesky.revoke_app_password()
    post_id = publish(client, herald_workspace, account, content="second")
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "failed" and "Invalid identifier or password" in task["error"]
    assert client.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()["status"] == "invalid"
    assert len(bluesky.posts()) == 1


def test_the_token_check_marks_an_account_whose_app_password_was_revoked(client, herald_workspace, herald_jobs,
                                                                        bluesky, account, herald_clock):
    bluesky.revoke_app_password()
    herald_clock.advance(7 * 3600)
    herald_jobs.cron()
    assert client.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()["status"] == "invalid"


class WorkerKilled(BaseException):
    """What a worker killed with SIGKILL leaves behind: nothing after this point runs."""


def test_a_worker_killed_after_the_create_is_reconciled_into_one_post(client, herald_workspace, herald_jobs,
                                                                      bluesky, account, monkeypatch):
    created = records.create

    def create_then_die(*args):
        created(*args)  # the PDS has the post ...
        raise WorkerKilled  # ... and the worker dies before Herald records it

    monkeypatch.setattr(records, "create", create_then_die)
    post_id = publish(client, herald_workspace, account, first_comment="and a reply")
    herald_jobs.run()  # (RQ logs the job as failed; Herald's row stays held by the dead worker)
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    monkeypatch.undo()
    herald_jobs.advance(600)  # the dead worker's lease runs out
    herald_jobs.cron()  # the reconciler hands the task to reconcile, which reads the key back
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [post] = bluesky.posts()
    assert task["status"] == "published" and task["platform_post_id"] == post["uri"]
    assert len(creates(bluesky)) == 2 and len(bluesky.replies(to=post["uri"])) == 1  # the post once, its reply


# -- connecting -----------------------------------------------------------------------------------

def connect(client, workspace, token, **details):
    body = {"platform": "bluesky", "access_token": token}
    if details:
        body["details"] = details
    return client.post("/v1/accounts", headers=workspace.headers, json=body)


def test_connecting_keeps_the_did_the_handle_and_the_pds(client, herald_workspace, bluesky):
    answer = connect(client, herald_workspace, f"@{HANDLE}:{APP_PASSWORD}")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["username"] == HANDLE
    [signed_in] = [call for call in bluesky.calls if call.path.endswith("createSession")]
    assert signed_in.json() == {"identifier": HANDLE, "password": APP_PASSWORD}


@pytest.mark.parametrize("token,field,words", [
    (f"{HANDLE}:wrong-pass-word-here", "access_token", "Invalid identifier or password"),
    (HANDLE, "access_token", "<handle>:<app password>"),
])
def test_a_wrong_app_password_is_a_400(client, herald_workspace, bluesky, token, field, words):
    answer = connect(client, herald_workspace, token)
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == field
    assert words in answer.get_json()["error"]["message"]


def test_a_pds_at_a_private_address_is_refused_unless_allowed(client, herald_workspace, bluesky):
    answer = connect(client, herald_workspace, f"{HANDLE}:{APP_PASSWORD}", pds="http://10.1.2.3:2583")
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "details.pds"
    assert not bluesky.calls


def test_a_rate_limited_sign_in_is_a_503_with_retry_after(client, herald_workspace, bluesky):
    bluesky.rate_limit_next(r"/xrpc/com\.atproto\.server\.createSession", seconds=120)
    answer = connect(client, herald_workspace, f"{HANDLE}:{APP_PASSWORD}")
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "platform_unavailable"
    assert 100 <= int(answer.headers["Retry-After"]) <= 121
