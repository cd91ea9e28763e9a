"""Editing a post (PATCH /v1/posts/{id} and the update_post action): content, media, first comment, type,
accounts, schedule and campaign in one change and one version; 409 naming the tasks that started."""

from __future__ import annotations

import datetime as dt

import pytest
from portal_support import connect, upload_png

from conftest import assert_error
from drive import work
from herald.db.models import Event, PublishTask, db, isoformat, utcnow
from herald.outcomes import PublishOutcome
from scripted_platform import ScriptedPlugin

LATER = isoformat(utcnow().replace(microsecond=0) + dt.timedelta(days=30))


class CheckingPlugin(ScriptedPlugin):
    """The scripted platform, refusing any caption that mentions "forbidden" (as ``check_post`` may)."""

    def __init__(self):
        super().__init__()
        self.platform.check_post = lambda post: ("The caption may not say forbidden."
                                                 if "forbidden" in post.caption else None)
        self.platform.post_comment = lambda account, platform_post_id, message, *, config: "comment_1"


@pytest.fixture
def plugin(register_plugin):
    return register_plugin(CheckingPlugin(), "scripted")


@pytest.fixture
def app(build_app, plugin):
    return build_app()



def publish(client, tenant, accounts, **body):
    response = client.post("/v1/publish", headers=tenant.headers,
                           json={"content": "Fresh bread at 7", "accounts": accounts, "schedule": LATER, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def patch(client, tenant, post_id, **body):
    return client.patch(f"/v1/posts/{post_id}", json=body, headers=tenant.headers)


def last_version(client, tenant, post_id):
    number = post_id.removeprefix("post_")
    return client.get(f"/api/posts/{number}/versions", headers=tenant.headers).get_json()["versions"][-1]


def events(kind):
    with db.connection_context():
        return [row.data for row in Event.select().where(Event.type == kind).order_by(Event.id)]


def test_a_queued_post_changes_content_first_comment_and_accounts_in_one_version(client, tenant, plugin,
                                                                                  redis_client):
    first, second = connect(client, tenant, "tok_live_aaaa"), connect(client, tenant, "tok_live_bbbb")
    post_id = publish(client, tenant, [first])
    answer = patch(client, tenant, post_id, content="Fresh bread at 8", first_comment="#bakery",
                   accounts=[first, second])
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["content"], body["first_comment"], body["status"]) == ("Fresh bread at 8", "#bakery", "queued")
    assert sorted(task["account_id"] for task in body["tasks"]) == sorted([first, second])
    assert body["scheduled_at"] == LATER
    version = last_version(client, tenant, post_id)
    assert version["changes"]["caption"] == {"before": "Fresh bread at 7", "after": "Fresh bread at 8"}
    assert version["changes"]["first_comment"] == {"before": None, "after": "#bakery"}
    assert version["changes"]["accounts"] == {"before": [first], "after": [first, second]}
    assert events("post.updated")[-1]["post"]["content"] == "Fresh bread at 8"

    # Dropping an account removes its task (nothing was sent for it); the post publishes the new text.
    assert patch(client, tenant, post_id, accounts=[second], schedule="now").status_code == 200
    work(redis_client)
    detail = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()
    assert [(task["account_id"], task["status"]) for task in detail["tasks"]] == [(second, "published")]
    assert [call.caption for call in plugin.platform.calls] == ["Fresh bread at 8"]


def test_a_partly_published_post_is_409_naming_the_tasks_that_are_done(client, tenant, plugin, redis_client):
    first, second = connect(client, tenant, "tok_live_aaaa"), connect(client, tenant, "tok_live_bbbb")
    plugin.platform.script = [PublishOutcome.published("sp_1"), PublishOutcome.permanent("No.")]
    post_id = publish(client, tenant, [first, second], schedule="now")
    work(redis_client)
    detail = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()
    done = next(task for task in detail["tasks"] if task["status"] == "published")
    error = assert_error(patch(client, tenant, post_id, content="Changed"), 409, "conflict")
    assert "already published" in error["message"] and done["id"] in error["message"]
    assert client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["content"] == "Fresh bread at 7"


def test_a_task_being_published_or_retrying_blocks_edits(client, tenant):
    account = connect(client, tenant)
    post_id = publish(client, tenant, [account])
    with db.connection_context():
        PublishTask.update(status="retrying", attempts=1).where(PublishTask.post == int(post_id[5:])).execute()
    error = assert_error(patch(client, tenant, post_id, content="Changed"), 409, "conflict")
    assert "being published" in error["message"] and "retrying" in error["message"]


def test_content_a_queued_platform_cannot_take_is_a_400_and_changes_nothing(client, tenant):
    account = connect(client, tenant)
    post_id = publish(client, tenant, [account])
    error = assert_error(patch(client, tenant, post_id, content="A forbidden word"), 400, "validation_error")
    assert "may not say forbidden" in error["message"]
    assert client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["content"] == "Fresh bread at 7"


def test_a_draft_takes_content_but_not_accounts_or_a_schedule(client, tenant):
    account = connect(client, tenant)
    draft = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Draft", "platforms": "scripted"})
    post_id = f"post_{draft.get_json()['post']['id']}"
    assert patch(client, tenant, post_id, content="Better draft", post_type="reel").status_code == 200
    assert_error(patch(client, tenant, post_id, accounts=[account]), 409, "conflict", "accounts")
    assert_error(patch(client, tenant, post_id, schedule=LATER), 409, "conflict", "schedule")
    assert_error(patch(client, tenant, post_id), 400, "validation_error")


def test_update_post_action_edits_a_draft_for_zapier(client, tenant):
    created = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Draft", "platforms": "scripted"})
    number = created.get_json()["post"]["id"]
    answer = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "update_post", "post_id": number, "caption": "Edited by Zapier", "topic": "Launch",
        "platforms": ["scripted"], "post_type": "carousel"})
    assert answer.status_code == 200, answer.get_json()
    post = answer.get_json()["post"]
    assert (post["caption"], post["topic"], post["post_type"]) == ("Edited by Zapier", "Launch", "carousel")
    version = last_version(client, tenant, f"post_{number}")
    assert set(version["changes"]) >= {"caption", "topic", "post_type"}
    unknown = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "update_post", "post_id": number, "platforms": ["myspace"]})
    assert_error(unknown, 400, "validation_error", "platforms")
    empty = client.post("/api/webhooks", headers=tenant.headers, json={"action": "update_post", "post_id": number})
    assert_error(empty, 400, "validation_error")


def test_update_post_cannot_move_a_queued_post_to_other_platforms(client, tenant):
    post_id = publish(client, tenant, [connect(client, tenant)])
    answer = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "update_post", "post_id": int(post_id[5:]), "caption": "New", "platforms": []})
    assert answer.status_code == 400  # an empty list is not a platform list
    answer = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "update_post", "post_id": int(post_id[5:]), "caption": "New caption"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["post"]["caption"] == "New caption"


def test_an_edit_after_approval_asks_for_approval_again(client, tenant, redis_client):
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    post_id = publish(client, tenant, [connect(client, tenant)])
    assert client.post(f"/v1/posts/{post_id}/approve", json={}, headers=tenant.headers).status_code == 200
    answer = patch(client, tenant, post_id, content="Changed after approval")
    body = answer.get_json()
    assert body["status"] == "pending_approval"
    assert [warning["code"] for warning in body["warnings"]] == ["approval_requested"]
    assert work(redis_client) == 0  # nothing goes out until someone approves the new text
    assert len(events("approval.requested")) == 2
    # A change of schedule alone is not a change of what the client approved.
    assert client.post(f"/v1/posts/{post_id}/approve", json={}, headers=tenant.headers).status_code == 200
    assert patch(client, tenant, post_id, schedule=LATER).get_json()["status"] == "queued"


def test_restore_brings_back_the_first_comment_too(client, tenant):
    post_id = publish(client, tenant, [connect(client, tenant)], first_comment="#one")
    assert patch(client, tenant, post_id, first_comment=None, content="Two").status_code == 200
    number = int(post_id[5:])
    restored = client.post(f"/api/posts/{number}/versions/1/restore", headers=tenant.headers)
    assert restored.status_code == 200, restored.get_json()
    detail = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()
    assert (detail["content"], detail["first_comment"]) == ("Fresh bread at 7", "#one")


def test_media_ids_may_be_strings_in_create_post_and_update_post(client, tenant):
    media = str(upload_png(client, tenant))
    created = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Draft", "media": [media]})
    assert created.status_code == 201, created.get_json()
    number = created.get_json()["post"]["id"]
    assert created.get_json()["post"]["media"] == [int(media)]
    updated = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "update_post", "post_id": str(number), "media": []})
    assert updated.status_code == 200, updated.get_json()
    assert updated.get_json()["post"]["media"] == []
