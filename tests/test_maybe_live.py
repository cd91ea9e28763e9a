"""A task whose earlier attempt may be live never ends ``failed`` and is never sent again blindly:
when nothing can confirm the attempt, the task ends ``unconfirmed`` (issue 19, item 1, the paths
left open: out of attempts, a reconcile that fails for a passing reason or raises, a lease that
expires again, a plugin without ``reconcile``, an account that stops working meanwhile, and
Instagram's container whose status cannot be read after ``media_publish``).

The core's paths run with the scripted platform (a third-party plugin that knows nothing of
``maybe_live``); the Facebook and Instagram paths against the fake Graph API over real HTTP.
"""

from __future__ import annotations

import pytest
from graph_drive import CAPTION, connect_account, upload_jpeg

from conftest import assert_error
from drive import advance, claim, work
from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN
from herald import PublishOutcome, chores
from herald.db.models import Account, PublishTask, db
from herald.publishing import tasks


@pytest.fixture
def app(build_app, plugin, fake):
    """Herald with the scripted platform installed and the Graph base URL on the fake."""
    return build_app(**fake.hosts(), public_url="https://herald.test")


@pytest.fixture
def platform(plugin):
    return plugin.platform


def scripted_post(client, tenant) -> tuple[str, int]:
    """A post to one scripted account, queued now: ``(post id, task id)``."""
    account = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                          headers=tenant.headers).get_json()["id"]
    body = client.post("/v1/publish", json={"content": "Maybe live", "accounts": [account],
                                            "client_id": tenant.client.id},
                       headers=tenant.headers).get_json()
    with db.connection_context():
        [task] = PublishTask.select().where(PublishTask.post == int(body["id"].removeprefix("post_")))
    return body["id"], task.id


def worker_dies_holding(task_id: int, config, redis_client) -> None:
    """A worker claims the task, calls the platform, and dies before it records anything; the lease
    runs out and the reconciler hands the task to a worker again."""
    with db.connection_context():
        assert claim(tasks.KIND_NAME, task_id)[0] in ("run", "recover")
    advance(redis_client, tasks.LEASE_SECONDS + 1)
    assert chores.reconcile()["work"]["publish"] == 1


def task_row(task_id: int) -> PublishTask:
    with db.connection_context():
        return PublishTask.get_by_id(task_id)


def retry_due(redis_client) -> int:
    """Let the retry's back-off pass and run what is due."""
    advance(redis_client, tasks.BACKOFF_CAP_SECONDS + 1)
    return work(redis_client)


def use_attempts(task_id: int, attempts: int) -> None:
    with db.connection_context():
        PublishTask.update(attempts=attempts).where(PublishTask.id == task_id).execute()


def test_out_of_attempts_when_the_reconcile_fails_for_a_passing_reason_is_unconfirmed(client, tenant, platform,
                                                                                      config, redis_client):
    post_id, task_id = scripted_post(client, tenant)
    use_attempts(task_id, tasks.MAX_ATTEMPTS - 2)  # used up on other errors
    worker_dies_holding(task_id, config, redis_client)  # the next to last: its post may be live
    platform.reconcile_script.append(PublishOutcome.transient("The platform is busy (HTTP 503)."))
    work(redis_client)
    task = task_row(task_id)
    assert task.status == tasks.UNCONFIRMED, task.error
    assert "Gave up after 6 attempts" in task.error and "may have published" in task.error
    assert f"POST /v1/posts/{post_id}/tasks/task_{task_id}/resolve" in task.error
    assert [call.method for call in platform.calls] == ["reconcile"] and platform.posts == []


def test_a_reconcile_that_fails_for_a_passing_reason_reconciles_again_instead_of_sending(client, tenant, platform,
                                                                                        config, redis_client):
    _, task_id = scripted_post(client, tenant)
    worker_dies_holding(task_id, config, redis_client)
    platform.posts.append({"id": "sp_live", "task": str(task_id), "caption": "Maybe live"})  # it went out
    platform.reconcile_script.append(PublishOutcome.transient("The platform is busy (HTTP 503)."))
    work(redis_client)
    assert task_row(task_id).status == tasks.RETRYING
    retry_due(redis_client)
    task = task_row(task_id)
    assert (task.status, task.platform_post_id) == (tasks.PUBLISHED, "sp_live")
    assert [call.method for call in platform.calls] == ["reconcile", "reconcile"] and len(platform.posts) == 1


def test_a_reconcile_that_raises_is_tried_again_never_followed_by_a_send(client, tenant, platform, config,
                                                                         redis_client):
    _, task_id = scripted_post(client, tenant)
    worker_dies_holding(task_id, config, redis_client)
    platform.posts.append({"id": "sp_live", "task": str(task_id), "caption": "Maybe live"})
    platform.reconcile_script.append(RuntimeError("the plugin tripped over its own feet"))
    work(redis_client)
    assert task_row(task_id).status == tasks.RETRYING
    retry_due(redis_client)
    assert task_row(task_id).status == tasks.PUBLISHED
    assert [call.method for call in platform.calls] == ["reconcile", "reconcile"] and len(platform.posts) == 1


def test_a_reconcile_that_raises_on_the_last_attempt_is_unconfirmed(client, tenant, platform, config, redis_client):
    _, task_id = scripted_post(client, tenant)
    use_attempts(task_id, tasks.MAX_ATTEMPTS - 2)
    worker_dies_holding(task_id, config, redis_client)
    platform.reconcile_script.append(RuntimeError("the plugin tripped over its own feet"))
    work(redis_client)
    assert task_row(task_id).status == tasks.UNCONFIRMED
    assert platform.posts == [] and "publish" not in [call.method for call in platform.calls]


def test_a_lease_that_expires_again_while_reconciling_still_never_sends(client, tenant, platform, config,
                                                                        redis_client):
    _, task_id = scripted_post(client, tenant)
    use_attempts(task_id, tasks.MAX_ATTEMPTS - 3)
    worker_dies_holding(task_id, config, redis_client)
    worker_dies_holding(task_id, config, redis_client)  # the worker reconciling it dies too
    platform.reconcile_script.append(PublishOutcome.transient("The platform timed out."))
    work(redis_client)
    task = task_row(task_id)
    assert task.status == tasks.UNCONFIRMED and task.attempts == tasks.MAX_ATTEMPTS
    assert platform.posts == []


def test_a_plugin_without_reconcile_leaves_a_dead_workers_task_unconfirmed_not_sent_again(client, tenant, platform,
                                                                                         config, redis_client,
                                                                                         monkeypatch):
    monkeypatch.setattr(platform, "reconcile", None)  # a third-party plugin that cannot look
    _, task_id = scripted_post(client, tenant)
    worker_dies_holding(task_id, config, redis_client)
    work(redis_client)
    task = task_row(task_id)
    assert task.status == tasks.UNCONFIRMED, task.error
    assert "cannot check whether the post went out" in task.error
    assert platform.calls == [] and platform.posts == []


def test_a_plugin_without_reconcile_that_raises_is_unconfirmed_not_retried(client, tenant, platform, redis_client,
                                                                           monkeypatch):
    monkeypatch.setattr(platform, "reconcile", None)

    def publish(ctx):
        platform.posts.append({"id": "sp_live", "task": ctx.task_id, "caption": ctx.post.caption})
        raise KeyError("id")  # the post went out; reading the answer failed

    monkeypatch.setattr(platform, "publish", publish)
    _, task_id = scripted_post(client, tenant)
    work(redis_client)
    assert task_row(task_id).status == tasks.UNCONFIRMED
    assert retry_due(redis_client) == 0 and len(platform.posts) == 1


def test_an_account_that_stops_working_while_an_attempt_may_be_live_is_unconfirmed(client, tenant, platform, config,
                                                                                  redis_client):
    _, task_id = scripted_post(client, tenant)
    with db.connection_context():
        claim(tasks.KIND_NAME, task_id)
        Account.update(status="invalid", status_reason="The token was revoked.").execute()
    advance(redis_client, tasks.LEASE_SECONDS + 1)
    chores.reconcile()
    work(redis_client)
    task = task_row(task_id)
    assert task.status == tasks.UNCONFIRMED, task.error
    assert "is invalid" in task.error and "may have published" in task.error


def test_a_permanent_failure_that_stops_a_look_is_unconfirmed(client, tenant, platform, config, redis_client):
    _, task_id = scripted_post(client, tenant)
    worker_dies_holding(task_id, config, redis_client)
    platform.reconcile_script.append(PublishOutcome.permanent("Permission denied.", maybe_live=True))
    work(redis_client)
    assert task_row(task_id).status == tasks.UNCONFIRMED


def test_facebook_out_of_attempts_when_the_last_answer_is_lost_and_the_page_cannot_be_read(fake, client, tenant,
                                                                                          redis_client):
    """Five attempts fail for a passing reason while the photos go up; the sixth reaches Meta but its
    answer is lost and the Page cannot be read: the post is live, so the task must not say ``failed``."""
    account = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    media = [upload_jpeg(client, tenant), upload_jpeg(client, tenant)]
    fake.fail_next(r"/photos$", code=2, method="POST", times=tasks.MAX_ATTEMPTS - 1)
    body = client.post("/v1/publish", json={"content": CAPTION, "accounts": [account], "media": media,
                                                "post_type": "post"},
                       headers=tenant.headers).get_json()
    assert "id" in body, body
    work(redis_client)
    for _ in range(tasks.MAX_ATTEMPTS - 2):
        retry_due(redis_client)
    fake.drop_connection_after(r"/feed$", method="POST")
    fake.fail_next(r"/published_posts$", code=2, times=None)
    retry_due(redis_client)
    [task] = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()["tasks"]
    assert task["attempts"] == tasks.MAX_ATTEMPTS
    assert task["status"] == "unconfirmed", task["error"]
    assert "may have published" in task["error"] and "/resolve" in task["error"]
    assert [post["message"] for post in fake.published(PAGE_ID)] == [CAPTION]
    assert retry_due(redis_client) == 0 and len(fake.calls("POST", r"/feed$")) == 1


def test_instagram_container_unreadable_after_media_publish_is_unconfirmed_not_failed(fake, client, tenant,
                                                                                     redis_client):
    """``media_publish`` went through but its answer was lost; then the container's status cannot
    be read (the token was revoked): the post is live, the task ends ``unconfirmed``."""
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    media = upload_jpeg(client, tenant)
    fake.drop_connection_after(r"/media_publish$")
    body = client.post("/v1/publish", json={"content": CAPTION, "accounts": [account], "media": [media]},
                       headers=tenant.headers).get_json()
    work(redis_client)
    [container] = fake.containers(IG_USER_ID)
    fake.fail_next(rf"/{container['id']}$", code=190, subcode=460, method="GET", times=None)
    retry_due(redis_client)
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    [task] = detail["tasks"]
    assert task["status"] == "unconfirmed", task["error"]
    assert len(fake.published(IG_USER_ID)) == 1
    assert client.get(f"/v1/accounts/{account}", headers=tenant.headers).get_json()["status"] == "invalid"


# -- resolving an unconfirmed task (POST /v1/posts/{post_id}/tasks/{task_id}/resolve) ---------------


def unconfirmed_task(client, tenant, platform, config, redis_client, monkeypatch) -> tuple[str, str]:
    """A scripted task left ``unconfirmed`` (a dead worker, a plugin that cannot look): its post and task ids."""
    monkeypatch.setattr(platform, "reconcile", None)
    post_id, task_id = scripted_post(client, tenant)
    worker_dies_holding(task_id, config, redis_client)
    work(redis_client)
    assert task_row(task_id).status == tasks.UNCONFIRMED
    return post_id, f"task_{task_id}"


def resolve(client, tenant, post_id, task_id, body):
    return client.post(f"/v1/posts/{post_id}/tasks/{task_id}/resolve", json=body, headers=tenant.headers)


def test_an_unconfirmed_task_the_user_found_live_is_resolved_published(client, tenant, platform, config,
                                                                       redis_client, monkeypatch):
    post_id, task_id = unconfirmed_task(client, tenant, platform, config, redis_client, monkeypatch)
    response = resolve(client, tenant, post_id, task_id, {"outcome": "published", "platform_post_id": "sp_found",
                                                          "url": "https://scripted.example/p/sp_found"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    [task] = body["tasks"]
    assert (body["status"], task["status"], task["platform_post_id"], task["url"], task["error"]) == (
        "published", "published", "sp_found", "https://scripted.example/p/sp_found", None)
    assert task["published_at"] and body["published_at"]
    with db.connection_context():
        from herald.db.models import Event, PostVersion
        events_ = {row.type: row.data for row in Event.select().where(Event.type.in_(["publish.completed",
                                                                                        "post.updated"]))}
        [version] = PostVersion.select().where(PostVersion.number > 1)
    assert events_["publish.completed"]["resolved_by"] and events_["publish.completed"]["task"]["id"] == task_id
    assert version.changes["status"] == {"before": "unconfirmed", "after": "published"}
    assert work(redis_client) == 0 and platform.posts == []  # nothing is sent
    assert resolve(client, tenant, post_id, task_id, {"outcome": "send_again"}).status_code == 409


def test_an_unconfirmed_task_the_user_did_not_find_is_sent_again_from_the_start(client, tenant, platform, config,
                                                                                redis_client, monkeypatch):
    post_id, task_id = unconfirmed_task(client, tenant, platform, config, redis_client, monkeypatch)
    body = resolve(client, tenant, post_id, task_id, {"outcome": "send_again"}).get_json()
    [task] = body["tasks"]
    assert (body["status"], task["status"], task["attempts"], task["error"]) == ("queued", "queued", 0, None)
    assert work(redis_client) == 1
    assert [post["caption"] for post in platform.posts] == ["Maybe live"]
    assert task_row(int(task_id.removeprefix("task_"))).status == tasks.PUBLISHED


def test_resolving_refuses_what_is_not_unconfirmed_or_not_well_formed(client, tenant, platform, config,
                                                                      redis_client, monkeypatch, make_tenant):
    post_id, task_id = unconfirmed_task(client, tenant, platform, config, redis_client, monkeypatch)
    assert_error(resolve(client, tenant, post_id, task_id, {"outcome": "published"}), 400, "validation_error")
    assert_error(resolve(client, tenant, post_id, task_id, {"outcome": "send_again", "platform_post_id": "x"}),
                 400, "validation_error")
    assert_error(resolve(client, tenant, post_id, task_id, {"outcome": "maybe"}), 400, "validation_error")
    assert_error(resolve(client, tenant, post_id, "task_999999", {"outcome": "send_again"}), 404, "not_found",
                 "task_id")
    other_post, other_task = scripted_post(client, tenant)  # queued, not unconfirmed; and not this post's task
    assert_error(resolve(client, tenant, post_id, f"task_{other_task}", {"outcome": "send_again"}), 404, "not_found")
    assert_error(resolve(client, tenant, other_post, f"task_{other_task}", {"outcome": "send_again"}), 409, "conflict")
    stranger = make_tenant("Stranger Agency")
    assert_error(resolve(client, stranger, post_id, task_id, {"outcome": "send_again"}), 404, "not_found")
    with db.connection_context():
        from herald.auth import create_api_key
        _, reader = create_api_key(tenant.workspace, ("posts:read",))
    response = client.post(f"/v1/posts/{post_id}/tasks/{task_id}/resolve", json={"outcome": "send_again"},
                           headers={"X-API-Key": reader})
    assert_error(response, 403, "forbidden")
    assert task_row(int(task_id.removeprefix("task_"))).status == tasks.UNCONFIRMED


def test_the_client_portal_shows_an_unconfirmed_post_as_not_confirmed(client, tenant, platform, config,
                                                                      redis_client, monkeypatch):
    from portal_support import card_of, group_of, make_link

    post_id, _ = unconfirmed_task(client, tenant, platform, config, redis_client, monkeypatch)
    _, path = make_link(client, tenant, "view")
    html = client.get(path).get_data(as_text=True)
    card = card_of(group_of(html, "problems"), int(post_id.removeprefix("post_")))
    assert "Not confirmed" in card and "It may be live" in card and "Publishing now" not in card


def test_an_unconfirmed_posts_content_cannot_be_restored_while_it_may_be_live(client, tenant, platform, config,
                                                                             redis_client, monkeypatch):
    post_id, _ = unconfirmed_task(client, tenant, platform, config, redis_client, monkeypatch)
    assert_error(client.post(f"/api/posts/{post_id}/versions/1/restore", json={}, headers=tenant.headers),
                 409, "conflict")


def test_a_post_that_may_be_live_cannot_be_cancelled_until_it_is_resolved(client, tenant, platform, config,
                                                                         redis_client, monkeypatch):
    post_id, task_id = unconfirmed_task(client, tenant, platform, config, redis_client, monkeypatch)
    error = assert_error(client.delete(f"/v1/posts/{post_id}", headers=tenant.headers), 409, "conflict")
    assert f"/v1/posts/{post_id}/tasks/{task_id}/resolve" in error["message"]
    assert task_row(int(task_id.removeprefix("task_"))).status == tasks.UNCONFIRMED


def test_the_status_filters_name_unconfirmed_in_the_openapi_document(client):
    document = client.get("/openapi.json").get_json()
    [status] = [parameter for parameter in document["paths"]["/v1/posts"]["get"]["parameters"]
                if parameter["name"] == "status"]
    assert "unconfirmed" in status["schema"]["enum"]
    action = document["components"]["schemas"]["list_posts"]["properties"]["status"]
    assert action["enum"] == status["schema"]["enum"]  # the action endpoint's list_posts takes the same
