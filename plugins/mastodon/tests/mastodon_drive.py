"""What the Mastodon plugin's tests do over Herald's API: connect an account, publish, read a task."""

from __future__ import annotations

import io

from fake_mastodon import ALICE_TOKEN


def connect(client, workspace, server, token=ALICE_TOKEN):
    return client.post("/v1/accounts", headers=workspace.headers,
                       json={"platform": "mastodon", "access_token": token, "details": {"server": server}})


def publish(client, workspace, account_id, content="Hello fediverse", **extra):
    answer = client.post("/v1/publish", headers=workspace.headers, json={
        "content": content, "accounts": [account_id], "client_id": workspace.client.id, **extra})
    assert answer.status_code in (201, 202), answer.get_json()
    return answer.get_json()["id"]


def task_of(client, workspace, post_id):
    [task] = client.get(f"/v1/posts/{post_id}", headers=workspace.headers).get_json()["tasks"]
    return task


def requested(fake, method, path):
    """Whether ``fake`` was sent a ``method`` request for ``path``."""
    return any(call.method == method and call.path == path for call in fake.calls)


def upload(client, workspace, data, name):
    """Upload a file to Herald's media library: its id for ``"media"`` of a post."""
    answer = client.post("/api/media", headers=workspace.headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(data), name)})
    assert answer.status_code == 201, answer.get_json()
    return f"media_{answer.get_json()['media']['id']}"
