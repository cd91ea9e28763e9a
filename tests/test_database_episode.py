"""After a database episode (SQLite files that could not be written for a while), writes come back at
once: a connection spoiled by the episode is discarded, not kept by the pool for five minutes; the
worker goes on consuming; and a writer waiting on Herald's write lock gives up with 503 after the
busy timeout instead of waiting without limit."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import subprocess
import time

import pytest

from conftest import assert_error
from drive import QUEUES, advance
from herald.auth import SCOPES, create_api_key
from herald.db import availability
from herald.db.models import Client, PublishTask, Workspace, db, open_database
from herald.upgrading import upgrade
from herald.work.queue import make_worker
from herald.work.workers import HeraldSimpleWorker


@contextlib.contextmanager
def unwritable(*paths):
    """Inside the block nobody can write ``paths``, root included.

    chmod does not stop root (the tests may run as root), so root gets the immutable attribute
    (``chattr +i``): the kernel then refuses every write and every open for writing, as it refuses
    a user writing a file made read-only.
    """
    paths = [str(path) for path in paths if os.path.exists(path)]
    if os.geteuid() != 0:
        modes = {path: os.stat(path).st_mode for path in paths}
        for path in paths:
            os.chmod(path, 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                os.chmod(path, mode)
        return
    made = subprocess.run(["chattr", "+i", *paths], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make files immutable here (chattr +i): {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *paths], check=True)


@pytest.fixture
def sqlite_app(build_app, tmp_path):
    """An application on a SQLite file of its own (whatever database the suite runs on), with a tenant,
    and a connection held open elsewhere, as another process's, so the WAL files exist as in service."""
    path = tmp_path / "episode.db"
    url = f"sqlite:///{path}"
    database = open_database(url)
    upgrade(database)
    database.close_all()
    app = build_app(database_url=url)
    with db.connection_context():
        workspace = Workspace.create(name="Episode Agency")
        client = Client.create(workspace=workspace, name="Episode client")
        _, key = create_api_key(workspace, SCOPES, name="test")
    other_process = sqlite3.connect(path)
    other_process.execute("SELECT count(*) FROM workspace").fetchone()
    app.files = [path, f"{path}-wal", f"{path}-shm"]
    app.tenant = {"headers": {"X-API-Key": key}, "client_id": client.id}
    yield app
    other_process.close()


def create_post(client, app, caption: str):
    return client.post("/api/webhooks", headers=app.tenant["headers"],
                       json={"action": "create_post", "client_id": app.tenant["client_id"], "caption": caption})


def test_writes_work_again_as_soon_as_the_database_files_are_writable(sqlite_app):
    client = sqlite_app.test_client()
    assert create_post(client, sqlite_app, "Before").status_code == 201
    with unwritable(*sqlite_app.files):
        db.obj.close_all()  # a process started during the episode (a respawned web worker) opens it now
        assert_error(create_post(client, sqlite_app, "During"), 503, "database_unavailable")
        health = client.get("/health")
        assert health.status_code == 503
        assert health.get_json()["checks"]["database"]["writable"] is False, health.get_json()
    writable_again = time.monotonic()
    assert create_post(client, sqlite_app, "After").status_code == 201  # the first write after it
    assert time.monotonic() - writable_again < 5
    assert client.get("/health").get_json()["checks"]["database"]["writable"] is True


def test_the_worker_survives_a_database_episode_and_publishes_once_it_is_over(plugin, sqlite_app, redis_client):
    client = sqlite_app.test_client()
    headers = sqlite_app.tenant["headers"]
    account = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                          headers=headers).get_json()["id"]
    worker = make_worker(redis_client, QUEUES, worker_class=HeraldSimpleWorker)
    response = client.post("/v1/publish", json={"content": "Through the episode", "platforms": ["scripted"],
                                                "accounts": [account], "schedule": "now"}, headers=headers)
    assert response.status_code == 201, response.get_json()
    with unwritable(*sqlite_app.files):  # the post is in; its job runs during the episode
        db.obj.close_all()  # the worker's connections are opened during the episode
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        assert plugin.platform.posts == []
    assert worker.get_state() != "dead"
    advance(redis_client, 10)  # RQ's retry of a crashed job is 5 s later
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")  # the same worker, consuming on
    assert len(plugin.platform.posts) == 1
    with db.connection_context():
        assert [task.status for task in PublishTask.select()] == ["published"]


def test_a_write_waiting_on_a_held_write_lock_gives_up_with_503_after_the_busy_timeout(build_app, sqlite_app,
                                                                                       tmp_path):
    app = build_app(database_url=f"sqlite:///{sqlite_app.files[0]}", database_busy_timeout_seconds=0.3)
    client = app.test_client()
    holder = os.open(f"{sqlite_app.files[0]}-writelock", os.O_RDONLY | os.O_CREAT, 0o600)  # another process's
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        response = create_post(client, sqlite_app, "Waiting")
        waited = time.monotonic() - started
        error = assert_error(response, 503, "database_unavailable")
        assert response.headers["Retry-After"] == str(availability.RETRY_AFTER_SECONDS)
        assert "Retry in" in error["message"]
        assert 0.3 <= waited < 3, waited
    finally:
        os.close(holder)  # releases the lock
    assert create_post(client, sqlite_app, "Written").status_code == 201  # the next writer is not stuck
