"""Drafts the client reviews: POST /v1/posts/{id}/request-approval puts a draft (without accounts or a
schedule) in pending_approval; approving makes it ``approved`` and publishing it later does not ask again;
a rejected post can be edited and sent again."""

from __future__ import annotations

import pytest
from portal_support import connect, later, make_link

from conftest import assert_error
from drive import work
from herald.auth import create_api_key
from herald.db.models import Event, PostVersion, PublishTask, db


@pytest.fixture
def app(build_app, plugin):
    return build_app()



def draft(client, tenant, caption="Spring menu is here"):
    response = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": caption, "platforms": "scripted"})
    assert response.status_code == 201, response.get_json()
    return f"post_{response.get_json()['post']['id']}"


def ask(client, tenant, post_id, headers=None, **body):
    return client.post(f"/v1/posts/{post_id}/request-approval", json=body, headers=headers or tenant.headers)


def event_types():
    with db.connection_context():
        return [row.type for row in Event.select().order_by(Event.id)]


def test_draft_request_approve_then_publish_does_not_ask_again(client, tenant, redis_client):
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    post_id = draft(client, tenant)
    answer = ask(client, tenant, post_id, note="For the spring launch")
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["status"], answer.get_json()["tasks"]) == ("pending_approval", [])
    assert "approval.requested" in event_types()
    assert ask(client, tenant, post_id).status_code == 200  # asking again changes nothing

    approved = client.post(f"/v1/posts/{post_id}/approve", json={"note": "Lovely"}, headers=tenant.headers)
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
    listed = client.get("/v1/posts?status=approved", headers=tenant.headers).get_json()
    assert [post["id"] for post in listed["posts"]] == [post_id]

    account = connect(client, tenant)
    published = client.post("/v1/publish", headers=tenant.headers, json={"post_id": post_id, "accounts": [account]})
    assert published.status_code == 201, published.get_json()
    assert published.get_json()["status"] == "queued"  # the workspace requires approval, and it has it
    assert work(redis_client) == 1
    assert client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["status"] == "published"
    with db.connection_context():
        statuses = [version.changes.get("status", {}).get("after") for version in
                    PostVersion.select().where(PostVersion.post == int(post_id[5:])).order_by(PostVersion.number)]
    assert statuses[:4] == ["draft", "pending_approval", "approved", "queued"]


def test_a_rejected_draft_is_edited_and_sent_again(client, tenant):
    post_id = draft(client, tenant)
    assert ask(client, tenant, post_id).status_code == 200
    rejected = client.post(f"/v1/posts/{post_id}/reject", json={"note": "Say the prices"}, headers=tenant.headers)
    assert rejected.get_json()["status"] == "rejected"
    assert_error(client.post("/v1/publish", headers=tenant.headers, json={
        "post_id": post_id, "accounts": [connect(client, tenant)]}), 409, "conflict", "post_id")
    edited = client.patch(f"/v1/posts/{post_id}", json={"content": "Spring menu: 12 €"}, headers=tenant.headers)
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["status"] == "rejected"
    again = ask(client, tenant, post_id)
    assert (again.get_json()["status"], again.get_json()["content"]) == ("pending_approval", "Spring menu: 12 €")


def test_editing_an_approved_draft_withdraws_the_approval(client, tenant):
    post_id = draft(client, tenant)
    ask(client, tenant, post_id)
    client.post(f"/v1/posts/{post_id}/approve", json={}, headers=tenant.headers)
    edited = client.patch(f"/v1/posts/{post_id}", json={"content": "Another text"}, headers=tenant.headers).get_json()
    assert edited["status"] == "draft"
    assert [warning["code"] for warning in edited["warnings"]] == ["approval_withdrawn"]


def test_a_post_rejected_in_the_queue_gets_its_tasks_back_when_sent_again(client, tenant, redis_client):
    assert client.patch("/api/workspace", json={"require_approval": True}, headers=tenant.headers).status_code == 200
    account = connect(client, tenant)
    post_id = client.post("/v1/publish", headers=tenant.headers, json={
        "content": "Opening hours", "accounts": [account], "client_id": tenant.client.id}).get_json()["id"]
    client.post(f"/v1/posts/{post_id}/reject", json={}, headers=tenant.headers)
    assert [task["status"] for task in client.get(f"/v1/posts/{post_id}", headers=tenant.headers)
            .get_json()["tasks"]] == ["cancelled"]
    again = ask(client, tenant, post_id).get_json()
    assert (again["status"], [task["status"] for task in again["tasks"]]) == ("pending_approval", ["pending_approval"])
    assert work(redis_client) == 0
    client.post(f"/v1/posts/{post_id}/approve", json={}, headers=tenant.headers)
    assert work(redis_client) == 1
    assert client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["status"] == "published"


def test_only_drafts_and_rejected_posts_can_be_sent_and_writers_may_ask(client, tenant, app):
    account = connect(client, tenant)
    queued = client.post("/v1/publish", headers=tenant.headers, json={
        "content": "Now", "accounts": [account], "schedule": later(10)}).get_json()["id"]
    error = assert_error(ask(client, tenant, queued), 409, "conflict")
    assert "only a draft or a rejected post" in error["message"]
    with app.app_context(), db.connection_context():
        _, key = create_api_key(tenant.workspace, ["posts:read", "posts:write"], name="writer")
    writer = {"X-API-Key": key}
    post_id = draft(client, tenant)
    assert ask(client, tenant, post_id, headers=writer).status_code == 200
    assert_error(client.post(f"/v1/posts/{post_id}/approve", json={}, headers=writer), 403, "forbidden")
    with db.connection_context():
        assert not PublishTask.select().where(PublishTask.post == int(post_id[5:])).exists()


def test_the_portal_shows_the_draft_and_approving_it_there_makes_it_approved(client, tenant):
    post_id = draft(client, tenant, caption="Autumn menu")
    ask(client, tenant, post_id)
    _, path = make_link(client, tenant, "approve")
    html = client.get(path).get_data(as_text=True)
    number = int(post_id[5:])
    assert f'id="post-{number}"' in html and "For Scripted" in html and "Not scheduled yet" in html
    csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.post(f"{path}/posts/{number}/approve", data={"csrf": csrf})
    assert answer.status_code == 303 and "notice=approved_draft" in answer.headers["Location"]
    assert client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()["status"] == "approved"
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Approved. The agency will schedule it." in page

