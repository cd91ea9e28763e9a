"""What the LinkedIn plugin's tests do over Herald's API, as a user would: connect the fake's Page,
upload an image, publish, read a post's task back."""

from __future__ import annotations

import io

import pytest
from fake_linkedin import CONNECT, FakeLinkedIn, settings
from PIL import Image

# What ``from linkedin_steps import *`` gives a test module: the fixtures.
__all__ = ["account", "api", "herald_app", "linkedin"]

PUBLIC = "https://herald.test"


def jpeg(width: int = 300, height: int = 200, color: str = "teal") -> bytes:
    """A small JPEG photo."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG")
    return buffer.getvalue()


def connect(client, workspace, body=None):
    """``POST /v1/accounts`` with a pasted member token (the fake's administrator of one Page)."""
    return client.post("/v1/accounts", headers=workspace.headers, json=body or CONNECT)


def upload(client, workspace, data: bytes | None = None, name: str = "photo.jpg") -> str:
    """An image uploaded to Herald (``POST /api/media``); its id."""
    answer = client.post("/api/media", headers=workspace.headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(data or jpeg()), name)})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["media"]["id"]


def publish(client, workspace, account_id: str, content: str = "Hello from Herald", **extra) -> str:
    """``POST /v1/publish`` to the account; the post's id."""
    answer = client.post("/v1/publish", headers=workspace.headers, json={
        "content": content, "accounts": [account_id], "client_id": workspace.client.id, **extra})
    assert answer.status_code in (201, 202), answer.get_json()
    return answer.get_json()["id"]


def task_of(client, workspace, post_id: str) -> dict:
    """The post's one publish task."""
    [task] = client.get(f"/v1/posts/{post_id}", headers=workspace.headers).get_json()["tasks"]
    return task


@pytest.fixture
def linkedin(herald_clock):
    """A running fake LinkedIn on the test's clock."""
    with FakeLinkedIn(clock=herald_clock.timestamp) as fake:
        yield fake


@pytest.fixture
def herald_app(herald_app_factory, linkedin):
    """Herald with the LinkedIn plugin alone (``HERALD_PLUGINS=linkedin``: it works without the others),
    pointed at the fake, with a public address for media links."""
    return herald_app_factory(**settings(linkedin), public_url=PUBLIC, plugins=("linkedin",))


@pytest.fixture
def api(herald_client):
    """The application's test client."""
    return herald_client


@pytest.fixture
def account(api, herald_workspace, linkedin) -> str:
    """The fake's Page, connected with a pasted token; its account id."""
    answer = connect(api, herald_workspace)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]
