"""Workspaces are isolated: another workspace's key never sees or changes the first one's data."""

import pytest

from conftest import assert_error
from herald.db.models import EngagementSnapshot, Post


@pytest.fixture
def two(client, make_tenant):
    first, second = make_tenant("First"), make_tenant("Second")
    created = client.post("/api/webhooks", headers=first.headers, json={
        "action": "create_post", "client_id": first.client.id, "caption": "secret plan", "platforms": "instagram"})
    assert created.status_code == 201
    return first, second, created.get_json()["post"]["id"]


def test_other_workspace_cannot_list_posts(client, two):
    first, second, _ = two
    response = client.post("/api/webhooks", headers=second.headers,
                           json={"action": "list_posts", "client_id": first.client.id})
    error = assert_error(response, 404, "not_found", "client_id")
    assert "secret plan" not in response.get_data(as_text=True)
    assert str(first.client.name) not in error["message"]


def test_other_workspace_cannot_update_engagement(client, two):
    first, second, post_id = two
    response = client.post("/api/webhooks", headers=second.headers,
                           json={"action": "update_engagement", "post_id": post_id, "likes": 1})
    assert_error(response, 404, "not_found", "post_id")
    assert EngagementSnapshot.select().count() == 0


def test_other_workspace_cannot_create_posts_for_its_client(client, two):
    first, second, _ = two
    response = client.post("/api/webhooks", headers=second.headers,
                           json={"action": "create_post", "client_id": first.client.id, "caption": "x"})
    assert_error(response, 404, "not_found", "client_id")
    assert Post.select().count() == 1


def test_other_workspace_cannot_read_change_or_delete_client(client, two):
    first, second, _ = two
    path = f"/api/clients/{first.client.id}"
    assert_error(client.get(path, headers=second.headers), 404, "not_found")
    assert_error(client.patch(path, json={"name": "pwned"}, headers=second.headers), 404, "not_found")
    assert_error(client.delete(path, headers=second.headers), 404, "not_found")
    assert client.get(path, headers=first.headers).get_json()["client"]["name"] == first.client.name


def test_client_list_shows_only_own_clients(client, two):
    first, second, _ = two
    names = [c["name"] for c in client.get("/api/clients", headers=second.headers).get_json()["clients"]]
    assert names == [second.client.name]


def test_other_workspace_cannot_revoke_keys(client, two):
    from herald.db.models import ApiKey

    first, second, _ = two
    first_key = ApiKey.get(ApiKey.workspace == first.workspace.id)
    assert_error(client.delete(f"/api/keys/{first_key.id}", headers=second.headers), 404, "not_found")
    assert client.get("/api/keys", headers=first.headers).status_code == 200
