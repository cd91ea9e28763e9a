"""What the Threads plugin's tests share: the fake on the test's clock, Herald pointed at it, and the
requests a user makes (connect, upload, publish, read back)."""

from __future__ import annotations

import io

import pytest
from fake_threads import ALICE_TOKEN, APP_ID, APP_SECRET, FakeThreads
from PIL import Image

PUBLIC = "https://herald.test"


class WorkerKilled(BaseException):
    """What a worker killed with SIGKILL leaves behind: nothing after this point runs."""


@pytest.fixture
def threads(herald_clock):
    """A running fake Threads API on the test's clock."""
    with FakeThreads(clock=herald_clock.now) as fake:
        yield fake


@pytest.fixture
def app(herald_app_factory, threads):
    """Herald with the Threads plugin pointed at the fake, a Threads app configured."""
    return herald_app_factory(**threads.hosts(), public_url=PUBLIC, threads_app_id=APP_ID,
                              threads_app_secret=APP_SECRET)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def account(client, herald_workspace):
    """Alice's Threads profile, connected with a pasted token."""
    answer = connect(client, herald_workspace)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def connect(client, workspace, token=ALICE_TOKEN):
    return client.post("/v1/accounts", headers=workspace.headers, json={"platform": "threads", "access_token": token})


def jpeg(width=400, height=400) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def upload(client, workspace, data: bytes, name: str) -> str:
    answer = client.post("/api/media", headers=workspace.headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(data), name)})
    assert answer.status_code == 201, answer.get_json()
    return f"media_{answer.get_json()['media']['id']}"


def publish(client, workspace, account_id, content="Fresh bread at 7", **extra):
    answer = client.post("/v1/publish", headers=workspace.headers,
                         json={"content": content, "accounts": [account_id], **extra})
    assert answer.status_code in (201, 202), answer.get_json()
    return answer.get_json()["id"]


def task_of(client, workspace, post_id):
    [task] = client.get(f"/v1/posts/{post_id}", headers=workspace.headers).get_json()["tasks"]
    return task


def account_of(client, workspace, account_id):
    return next(item for item in client.get("/v1/accounts", headers=workspace.headers).get_json()["accounts"]
                if item["id"] == account_id)
