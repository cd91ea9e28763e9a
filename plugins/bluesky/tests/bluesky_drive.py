"""What the Bluesky tests do through Herald's API."""

from __future__ import annotations

import io

from PIL import Image


def publish(client, workspace, account_id, content="Hello Bluesky", **extra) -> str:
    """``POST /v1/publish`` to the account; the post's id."""
    answer = client.post("/v1/publish", headers=workspace.headers, json={
        "content": content, "accounts": [account_id], "client_id": workspace.client.id, **extra})
    assert answer.status_code in (201, 202), answer.get_json()
    return answer.get_json()["id"]


def task_of(client, workspace, post_id) -> dict:
    """The post's one publish task."""
    [task] = client.get(f"/v1/posts/{post_id}", headers=workspace.headers).get_json()["tasks"]
    return task


def jpeg(width: int, height: int) -> bytes:
    """A JPEG of that size."""
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def upload(client, workspace, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> str:
    """``POST /api/media``; the media id."""
    answer = client.post("/api/media", headers=workspace.headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(data), name, content_type)})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["media"]["id"]
