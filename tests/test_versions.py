"""Edit history: every edit through the action endpoint and the /v1 API records a version, the
versions endpoint lists them, and a version can be restored (not once the post is published)."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import assert_error
from drive import advance, work
from herald.captions import heuristic
from herald.db.models import ApiKey, Client, Event, Post, PostVersion, PublishTask, db, isoformat, utcnow
from herald.publishing.posts import record_version, snapshot
from scripted_platform import ScriptedPlugin

FIRST = isoformat(utcnow().replace(microsecond=0) + dt.timedelta(days=30))
SECOND = isoformat(utcnow().replace(microsecond=0) + dt.timedelta(days=31, hours=2))


class CheckingPlugin(ScriptedPlugin):
    """The scripted platform, refusing any caption that mentions "forbidden" (as ``check_post`` may)."""

    def __init__(self):
        super().__init__()
        self.platform.check_post = lambda post: ("The caption may not say forbidden."
                                                 if "forbidden" in post.caption else None)


@pytest.fixture
def plugin(register_plugin):
    return register_plugin(CheckingPlugin(), "scripted")


@pytest.fixture
def app(build_app, plugin):
    return build_app()


def connect(client, tenant, token="tok_live_0001"):
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": token},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def create_draft(client, tenant, caption="First caption", topic="Launch"):
    response = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "topic": topic, "caption": caption,
        "platforms": "scripted"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["post"]["id"]


def versions(client, tenant, post_id):
    response = client.get(f"/api/posts/{post_id}/versions", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["post_id"] == post_id
    return body["versions"]


def test_edits_through_the_action_endpoint_and_v1_each_record_a_version(client, tenant, redis_client):
    account = connect(client, tenant)
    post_id = create_draft(client, tenant)
    published = client.post("/v1/publish", headers=tenant.headers, json={
        "post_id": post_id, "content": "Second caption", "accounts": [account], "schedule": FIRST})
    assert published.status_code == 201, published.get_json()
    moved = client.patch(f"/v1/posts/post_{post_id}", headers=tenant.headers, json={"schedule": SECOND})
    assert moved.status_code == 200, moved.get_json()
    assert client.delete(f"/v1/posts/post_{post_id}", headers=tenant.headers).status_code == 200

    rows = versions(client, tenant, post_id)
    with db.connection_context():
        key_label = f"key:test (#{ApiKey.get(ApiKey.workspace == tenant.workspace.id).id})"
    assert [row["number"] for row in rows] == [1, 2, 3, 4]
    assert {row["actor"] for row in rows} == {key_label}
    assert all(row["created_at"].endswith("Z") and row["restored_from"] is None for row in rows)
    assert rows[0]["changes"] == {
        "client_id": {"before": None, "after": tenant.client.id}, "topic": {"before": None, "after": "Launch"},
        "caption": {"before": None, "after": "First caption"}, "post_type": {"before": None, "after": "post"},
        "platforms": {"before": None, "after": ["scripted"]}, "media": {"before": None, "after": []},
        "status": {"before": None, "after": "draft"},
        "score": {"before": None, "after": heuristic.quick_value("First caption", ["scripted"])}}
    assert rows[1]["changes"] == {
        "caption": {"before": "First caption", "after": "Second caption"},
        "status": {"before": "draft", "after": "queued"},
        "scheduled_at": {"before": None, "after": FIRST}}
    assert rows[2]["changes"] == {"scheduled_at": {"before": FIRST, "after": SECOND}}
    assert rows[3]["changes"] == {"status": {"before": "queued", "after": "cancelled"}}


def test_approve_and_reject_record_versions_by_who_reviewed(client, tenant, redis_client):
    account = connect(client, tenant)
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    ids = []
    for caption in ("To approve", "To reject"):
        response = client.post("/v1/publish", headers=tenant.headers,
                               json={"content": caption, "accounts": [account], "schedule": FIRST})
        assert response.status_code == 201, response.get_json()
        ids.append(int(response.get_json()["id"].removeprefix("post_")))
    assert client.post(f"/v1/posts/post_{ids[0]}/approve", json={}, headers=tenant.headers).status_code == 200
    assert client.post(f"/v1/posts/post_{ids[1]}/reject", json={"note": "off brand"},
                       headers=tenant.headers).status_code == 200

    approved, rejected = versions(client, tenant, ids[0]), versions(client, tenant, ids[1])
    assert approved[0]["changes"]["status"] == {"before": None, "after": "pending_approval"}
    assert approved[0]["changes"]["caption"] == {"before": None, "after": "To approve"}
    assert [row["changes"] for row in approved[1:]] == [{"status": {"before": "pending_approval", "after": "queued"}}]
    assert [row["changes"] for row in rejected[1:]] == [{"status": {"before": "pending_approval",
                                                                    "after": "rejected"}}]


def test_restore_puts_back_the_content_of_a_version_as_a_new_version(client, tenant, plugin, redis_client):
    account = connect(client, tenant)
    post_id = create_draft(client, tenant, caption="Original, with \"quotes\"")
    client.post("/v1/publish", headers=tenant.headers, json={
        "post_id": post_id, "content": "Rewritten", "accounts": [account], "schedule": FIRST})

    response = client.post(f"/api/posts/{post_id}/versions/1/restore", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["post"]["caption"] == "Original, with \"quotes\""
    assert body["post"]["status"] == "queued"  # a restore changes content, not where the post is in publishing
    assert body["post"]["scheduled_at"] == FIRST
    assert body["version"]["number"] == 3 and body["version"]["restored_from"] == 1
    assert body["version"]["changes"] == {"caption": {"before": "Rewritten", "after": "Original, with \"quotes\""}}
    assert body["not_restored"] == []
    with db.connection_context():
        assert Post.get_by_id(post_id).caption == "Original, with \"quotes\""
        event = Event.select().where(Event.type == "post.updated").order_by(Event.id.desc()).first()
        assert event.data["post"]["content"] == "Original, with \"quotes\""

    again = client.post(f"/api/posts/{post_id}/versions/3/restore", headers=tenant.headers).get_json()
    assert again["version"] is None and again["post"]["caption"] == "Original, with \"quotes\""
    assert len(versions(client, tenant, post_id)) == 3

    # When its time comes, the worker publishes what the restore put back.
    advance(redis_client, 31 * 86400)
    assert work(redis_client) == 1
    assert [post["caption"] for post in plugin.platform.posts] == ["Original, with \"quotes\""]


def test_restore_of_a_draft_restores_platforms_too_and_reports_what_it_kept(client, tenant, redis_client):
    post_id = create_draft(client, tenant, caption="v1")
    with db.connection_context():  # edits the API cannot make yet (the portal will): client and platforms
        other = Client.create(workspace=tenant.workspace.id, name="Second client")
        post = Post.get_by_id(post_id)
        before = snapshot(post)
        post.client, post.platforms, post.caption = other.id, ["scripted", "elsewhere"], "v2"
        post.save()
        record_version(post, "user:ed@example.com", before)
        Client.update(deleted_at=utcnow()).where(Client.id == tenant.client.id).execute()

    body = client.post(f"/api/posts/{post_id}/versions/1/restore", headers=tenant.headers).get_json()
    assert body["post"]["caption"] == "v1" and body["post"]["platforms"] == ["scripted"]
    assert body["post"]["client_id"] == other.id  # the client of version 1 was archived since
    assert body["not_restored"] == [{"field": "client_id",
                                     "reason": f"Client {tenant.client.id} no longer exists or was archived."}]
    assert set(body["version"]["changes"]) == {"caption", "platforms"}


def test_restore_is_refused_once_published_and_while_publishing(client, tenant, redis_client):
    account = connect(client, tenant)
    post_id = create_draft(client, tenant)
    client.post("/v1/publish", headers=tenant.headers, json={"post_id": post_id, "content": "Live now",
                                                             "accounts": [account]})
    with db.connection_context():
        PublishTask.update(status="publishing").where(PublishTask.post == post_id).execute()
    error = assert_error(client.post(f"/api/posts/{post_id}/versions/1/restore", headers=tenant.headers),
                         409, "conflict")
    assert "being published" in error["message"]
    with db.connection_context():
        PublishTask.update(status="queued").where(PublishTask.post == post_id).execute()
    assert work(redis_client) == 1
    error = assert_error(client.post(f"/api/posts/{post_id}/versions/1/restore", headers=tenant.headers),
                         409, "conflict")
    assert "already published" in error["message"]
    with db.connection_context():
        assert Post.get_by_id(post_id).caption == "Live now"
        assert PostVersion.select().where(PostVersion.post == post_id).count() == 2


def test_restore_is_refused_when_the_queued_platform_cannot_take_the_old_content(client, tenant, redis_client):
    account = connect(client, tenant)
    post_id = create_draft(client, tenant, caption="A forbidden word")
    published = client.post("/v1/publish", headers=tenant.headers, json={
        "post_id": post_id, "content": "Clean", "accounts": [account], "schedule": FIRST})
    assert published.status_code == 201, published.get_json()
    error = assert_error(client.post(f"/api/posts/{post_id}/versions/1/restore", headers=tenant.headers),
                         409, "conflict")
    assert "queued for scripted" in error["message"] and "may not say forbidden" in error["message"]
    with db.connection_context():
        assert Post.get_by_id(post_id).caption == "Clean"


def test_unknown_version_is_404_and_another_workspaces_post_is_404(client, tenant, make_tenant):
    post_id = create_draft(client, tenant)
    assert_error(client.post(f"/api/posts/{post_id}/versions/7/restore", headers=tenant.headers),
                 404, "not_found", "number")
    other = make_tenant("Other agency")
    assert_error(client.get(f"/api/posts/{post_id}/versions", headers=other.headers), 404, "not_found")
    assert_error(client.post(f"/api/posts/{post_id}/versions/1/restore", headers=other.headers), 404, "not_found")
    assert_error(client.get("/api/posts/post_999/versions", headers=tenant.headers), 404, "not_found")
    reader = make_tenant("Readers", scopes=["posts:read"])
    assert_error(client.post(f"/api/posts/{post_id}/versions/1/restore", headers=reader.headers), 403, "forbidden")
