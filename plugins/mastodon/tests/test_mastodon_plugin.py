"""The Mastodon plugin inside a real Herald, as a third party tests its plugin: only ``herald.testing``'s
fixtures (loaded with ``-p herald.testing``), the installed plugin, and a fake Mastodon server on
loopback speaking real HTTP (fixtures in ``conftest.py``, the requests in ``mastodon_drive.py``).
"""

from __future__ import annotations

from fake_mastodon import ALICE_TOKEN
from herald_mastodon import MastodonPlatform
from mastodon_drive import connect, publish, requested, task_of
from mastodon_fixtures import account, client, herald_config, mastodon, media_host  # noqa: F401 (fixtures)

# -- connect ----------------------------------------------------------------------------------------

def test_connecting_checks_the_token_with_the_server(client, herald_workspace, mastodon):
    answer = connect(client, herald_workspace, mastodon.url + "/")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["username"] == f"alice@{mastodon.url.split('://')[1]}"
    assert requested(mastodon, "GET", "/api/v1/accounts/verify_credentials")


def test_connecting_needs_a_server_address_that_looks_like_one(client, herald_workspace):
    missing = client.post("/v1/accounts", headers=herald_workspace.headers,
                          json={"platform": "mastodon", "access_token": ALICE_TOKEN})
    assert missing.status_code == 400
    assert missing.get_json()["error"]["field"] == "details.server"
    for wrong in ("mastodon.social", "https://mastodon.social/@alice", "ftp://mastodon.social"):
        answer = connect(client, herald_workspace, wrong)
        assert answer.status_code == 400, wrong
        assert answer.get_json()["error"]["field"] == "details.server"


def test_a_server_on_a_private_address_is_refused_unless_the_operator_allows_it(herald_app_factory,
                                                                               herald_workspace, mastodon):
    client = herald_app_factory(mastodon_allow_private=False).test_client()  # the default
    answer = connect(client, herald_workspace, mastodon.url)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["field"] == "details.server"
    assert mastodon.calls == []  # refused before any connection


def test_a_token_the_server_refuses_is_a_400_on_the_token(client, herald_workspace, mastodon):
    answer = connect(client, herald_workspace, mastodon.url, token="revoked-token-000000000000")
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "validation_error" and error["field"] == "access_token"
    assert "The access token is invalid" in error["message"]


def test_a_server_that_is_down_is_a_503(client, herald_workspace, mastodon):
    mastodon.stop()
    answer = connect(client, herald_workspace, mastodon.url)
    assert answer.status_code == 503, answer.get_json()


def test_the_timeout_setting_is_honoured(herald_app_factory, herald_workspace, mastodon):
    client = herald_app_factory(mastodon_allow_private=True, mastodon_timeout=0.2).test_client()
    mastodon.delay_next(1.0)  # the server takes its time
    answer = connect(client, herald_workspace, mastodon.url)
    assert answer.status_code == 503, answer.get_json()
    assert "timed out" in answer.get_json()["error"]["message"]


# -- publish ----------------------------------------------------------------------------------------

def test_publishing_posts_one_public_status(client, herald_workspace, herald_jobs, mastodon, account):
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [status] = mastodon.own_statuses()
    assert task["status"] == "published"
    assert task["platform_post_id"] == status["id"]
    assert status["text"] == "Hello fediverse" and status["visibility"] == "public"


def test_a_caption_over_the_limit_is_refused_before_it_is_queued(client, herald_workspace, mastodon, account):
    for dry_run in (True, False):
        answer = client.post("/v1/publish", headers=herald_workspace.headers, json={
            "content": "x" * 501, "accounts": [account], "client_id": herald_workspace.client.id, "dry_run": dry_run})
        assert answer.status_code == 400, answer.get_json()
        error = answer.get_json()["error"]
        assert error["field"] == "content" and "Mastodon allows 500" in error["message"]
    assert not requested(mastodon, "POST", "/api/v1/statuses")


def test_a_status_mastodon_refuses_fails_with_its_reason(client, herald_workspace, herald_jobs, mastodon, account):
    mastodon.statuses_refused = "Validation failed: Text can't be blank"
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "failed"
    assert "Mastodon answered 422: Validation failed: Text can't be blank" in task["error"]
    assert client.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()["status"] == "active"


def test_a_rate_limited_publish_waits_for_the_reset_and_posts_once(client, herald_workspace, herald_jobs,
                                                                   mastodon, account):
    mastodon.rate_limit()  # the next request is answered 429
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    herald_jobs.advance(31)  # X-RateLimit-Reset was 30 seconds ahead
    assert task_of(client, herald_workspace, post_id)["status"] == "published"
    assert len(mastodon.own_statuses()) == 1


def test_a_revoked_token_marks_the_account(client, herald_workspace, herald_jobs, mastodon, account):
    mastodon.revoke(ALICE_TOKEN)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    assert task_of(client, herald_workspace, post_id)["status"] == "failed"
    assert client.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()["status"] == "invalid"


# -- reconcile --------------------------------------------------------------------------------------

def test_an_answer_lost_after_the_create_is_reconciled_into_exactly_one_status(client, herald_workspace,
                                                                               herald_jobs, mastodon, account):
    mastodon.drop_after_create = 1  # Mastodon creates the status; its answer never arrives
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    assert len(mastodon.own_statuses()) == 1
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    herald_jobs.advance(600)  # the retry is handed to reconcile, which sends again with the same key
    task = task_of(client, herald_workspace, post_id)
    [status] = mastodon.own_statuses()
    assert task["status"] == "published" and task["platform_post_id"] == status["id"]


class WorkerKilled(BaseException):
    """What a worker killed with SIGKILL leaves behind: nothing after this point runs."""


def test_a_worker_killed_after_sending_is_reconciled_without_a_second_status(client, herald_workspace,
                                                                            herald_jobs, mastodon, account,
                                                                            monkeypatch):
    sent = MastodonPlatform.send_status

    def send_then_die(self, ctx):
        sent(self, ctx)  # Mastodon has the status ...
        raise WorkerKilled  # ... and the worker dies before Herald records it

    monkeypatch.setattr(MastodonPlatform, "send_status", send_then_die)
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()  # (RQ logs the job as failed; Herald's row stays held by the dead worker)
    assert task_of(client, herald_workspace, post_id)["status"] != "published"
    monkeypatch.undo()  # the next worker is a healthy one
    herald_jobs.advance(120)  # the dead worker's lease runs out
    herald_jobs.cron()  # the reconciler hands the task to reconcile
    task = task_of(client, herald_workspace, post_id)
    [status] = mastodon.own_statuses()
    assert task["status"] == "published" and task["platform_post_id"] == status["id"]


def test_an_attempt_older_than_mastodons_key_is_never_sent_again(client, herald_workspace, herald_jobs,
                                                                 herald_clock, mastodon, account):
    mastodon.drop_after_create = 1
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    mastodon.stop()  # the server is away for longer than the hour its keys last
    herald_jobs.advance(2 * 3600)
    task = task_of(client, herald_workspace, post_id)
    assert task["status"] == "unconfirmed"
    assert "look at the account's profile" in task["error"]
    assert len(mastodon.own_statuses()) == 1


# -- first comment ----------------------------------------------------------------------------------

def test_the_first_comment_is_a_reply_to_the_status(client, herald_workspace, herald_jobs, mastodon, account):
    post_id = publish(client, herald_workspace, account, first_comment="#herald #fediverse")
    herald_jobs.run()
    task = task_of(client, herald_workspace, post_id)
    [status, reply] = mastodon.own_statuses()
    assert reply["in_reply_to_id"] == status["id"] and reply["text"] == "#herald #fediverse"
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == reply["id"]


def test_a_first_comment_whose_answer_was_lost_is_found_not_posted_again(client, herald_workspace, herald_jobs,
                                                                        mastodon, account):
    mastodon.drop_after_reply = 1  # the reply is created; its answer never arrives
    post_id = publish(client, herald_workspace, account, first_comment="Links in the replies 👇")
    herald_jobs.run()
    herald_jobs.advance(3600)
    task = task_of(client, herald_workspace, post_id)
    replies = [status for status in mastodon.own_statuses() if status["in_reply_to_id"]]
    assert len(replies) == 1
    assert task["first_comment"]["status"] == "posted" and task["first_comment"]["id"] == replies[0]["id"]
    assert requested(mastodon, "GET", f"/api/v1/statuses/{task['platform_post_id']}/context")


# -- engagement -------------------------------------------------------------------------------------

def test_the_engagement_pull_reads_favourites_boosts_and_replies(client, herald_workspace, herald_jobs,
                                                                 mastodon, account):
    post_id = publish(client, herald_workspace, account)
    herald_jobs.run()
    status_id = task_of(client, herald_workspace, post_id)["platform_post_id"]
    mastodon.statuses[status_id].update(favourites_count=12, reblogs_count=3)
    mastodon.add_reply(status_id, "Lovely!")
    herald_jobs.cron()
    listed = client.post("/api/webhooks", headers=herald_workspace.headers,
                         json={"action": "list_posts", "client_id": herald_workspace.client.id}).get_json()
    [post] = listed["posts"]
    assert {name: post["engagement"][name] for name in ("likes", "shares", "comments")} == {
        "likes": 12, "shares": 3, "comments": 1}


# -- the action -------------------------------------------------------------------------------------

def test_the_preview_action_splits_a_long_caption_into_a_thread(client, herald_workspace):
    caption = " ".join(f"word{i}" for i in range(150))  # 1,039 characters
    answer = client.post("/api/webhooks", headers=herald_workspace.headers,
                         json={"action": "mastodon_preview", "caption": caption})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["length"] == len(caption) and body["fits"] is False
    assert [part.rsplit(" ", 1)[1] for part in body["parts"]] == ["(1/3)", "(2/3)", "(3/3)"]
    assert " ".join(part.rsplit(" ", 1)[0] for part in body["parts"]) == caption

