"""POST /v1/posts/{post_id}/retry: failed tasks go again, a task that may be live is reconciled before
anything is sent, and the answer says why every other task was not queued."""

from __future__ import annotations

import pytest

from conftest import assert_error
from drive import work
from herald.db.models import PublishTask, db
from herald.outcomes import PublishOutcome


@pytest.fixture
def app(build_app, plugin):
    return build_app()


def connect(client, tenant, token):
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": token}, headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def publish(client, tenant, accounts):
    response = client.post("/v1/publish", json={"content": "Fresh bread at 7", "accounts": accounts},
                           headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def retry(client, tenant, post_id, **body):
    return client.post(f"/v1/posts/{post_id}/retry", json=body, headers=tenant.headers)


def test_a_failed_task_goes_again_and_the_others_say_why_not(client, tenant, plugin, redis_client):
    platform = plugin.platform
    first, second = connect(client, tenant, "tok_live_aaaa"), connect(client, tenant, "tok_live_bbbb")
    platform.script = [PublishOutcome.permanent("The caption is too long."), PublishOutcome.published("sp_1")]
    post_id = publish(client, tenant, [first, second])
    assert work(redis_client) == 2
    detail = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()
    failed, published = sorted(detail["tasks"], key=lambda task: task["status"])
    assert (failed["status"], published["status"]) == ("failed", "published")

    answer = retry(client, tenant, post_id)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["retry"]["queued"] == [failed["id"]]
    [other] = body["retry"]["not_queued"]
    assert (other["task"], other["status"]) == (published["id"], "published")
    assert "only a failed task is retried" in other["reason"]
    assert work(redis_client) == 1
    statuses = {task["id"]: task["status"] for task in
                client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["tasks"]}
    assert statuses == {failed["id"]: "published", published["id"]: "published"}
    assert [call.method for call in platform.calls] == ["publish", "publish", "publish"]  # no reconcile: not live


def test_a_task_that_may_be_live_is_reconciled_before_anything_is_sent(client, tenant, plugin, redis_client):
    """A failed task whose earlier attempt may have reached the platform (``maybe_live``; Herald ends such
    tasks unconfirmed today, rows of earlier versions may still say failed): looked for first."""
    platform = plugin.platform
    account = connect(client, tenant, "tok_live_cccc")
    platform.script = [PublishOutcome.permanent("Rejected.")]
    post_id = publish(client, tenant, [account])
    work(redis_client)
    [task] = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["tasks"]
    task_id = int(task["id"].removeprefix("task_"))
    with db.connection_context():
        PublishTask.update(maybe_live=True, state={"sent": True}).where(PublishTask.id == task_id).execute()
    platform.posts.append({"id": "sp_live", "task": str(task_id), "caption": "Fresh bread at 7"})  # it went out
    calls_before = len(platform.calls)

    answer = retry(client, tenant, post_id, accounts=[account]).get_json()
    assert answer["retry"] == {"queued": [task["id"]], "not_queued": []}
    work(redis_client)
    assert [call.method for call in platform.calls[calls_before:]] == ["reconcile"]  # found: never sent again
    assert platform.calls[-1].state == {"sent": True}  # what the earlier attempt saved was kept for the look
    [task] = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["tasks"]
    assert (task["status"], task["platform_post_id"]) == ("published", "sp_live")


def test_an_unconfirmed_task_is_the_users_to_resolve(client, tenant, plugin, redis_client):
    account = connect(client, tenant, "tok_live_dddd")
    plugin.platform.script = [PublishOutcome.unconfirmed("Instagram cannot say whether the post went out.")]
    post_id = publish(client, tenant, [account])
    work(redis_client)
    [other] = retry(client, tenant, post_id).get_json()["retry"]["not_queued"]
    assert other["status"] == "unconfirmed" and "/resolve" in other["reason"]


def test_accounts_the_post_does_not_go_to_are_refused(client, tenant, make_tenant, plugin, redis_client):
    mine, elsewhere = connect(client, tenant, "tok_live_eeee"), connect(client, tenant, "tok_live_ffff")
    post_id = publish(client, tenant, [mine])
    assert_error(retry(client, tenant, post_id, accounts=[elsewhere]), 400, "validation_error", field="accounts")
    assert_error(retry(client, make_tenant("Other Agency"), post_id), 404, "not_found")
