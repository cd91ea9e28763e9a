"""Several machines, one deployment: two ``herald serve`` and two ``herald worker`` processes, each node
with its own data directory, on one PostgreSQL (a database of this test's own), one Redis (the test's
database) and one S3 store (moto's server, a bucket of this test's own).

An image uploaded through the first web server is converted and published by a worker of the second
node, and its signed link answers on either web server; with both workers running, every task is
published exactly once; ``/health`` on each web server reports the shared store and both workers.
Skipped when PostgreSQL does not answer (SQLite serves one machine: tests/test_hosts.py).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlsplit

import media_samples
import psycopg2
import pytest
from graph_drive import free_port
from media_store_support import FAKE_AWS, new_bucket
from PIL import Image
from serve_drive import HERALD, START_TIMEOUT, call, output, request, wait_for_health

from conftest import POSTGRES_URL, TEST_REDIS_URL
from fakes.graph import IG_TOKEN, IG_USER_ID
from herald.config import Config
from herald.db.models import open_database
from herald.media.configured import media_store
from herald.upgrading import upgrade
from herald.work import heartbeat

ADMIN_URL = POSTGRES_URL or "postgresql://postgres@127.0.0.1:5432/postgres"
POSTS = 6
# Waiting for other processes to do their work (they run on the system's clock): generous, and
# returns as soon as the work is seen.
WORK_TIMEOUT = 60.0


@pytest.fixture
def shared_postgres():
    """A PostgreSQL database of this test's own, migrated; skips the test when PostgreSQL does not answer."""
    try:
        admin = psycopg2.connect(ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer at {ADMIN_URL} ({str(exc).strip()}); several machines need it")
    admin.autocommit = True
    name = f"herald_twonodes_{uuid.uuid4().hex[:10]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = urlparse(ADMIN_URL)._replace(path=f"/{name}").geturl()
    database = open_database(url)
    upgrade(database)
    database.close_all()
    yield url
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def nodes(shared_postgres, redis_client, moto_endpoint, fake, tmp_path):
    """The environments of the two nodes: shared database, Redis, store, secret and public URL; own data directories."""
    store = f"s3://{new_bucket(moto_endpoint)}/media"
    shared = {name: value for name, value in os.environ.items() if not name.startswith("HERALD_")}
    shared.update(FAKE_AWS, HERALD_DATABASE_URL=shared_postgres, HERALD_REDIS_URL=TEST_REDIS_URL,
                  HERALD_MEDIA_STORE=store, HERALD_S3_ENDPOINT_URL=moto_endpoint,
                  HERALD_SECRET_KEY="two-nodes-secret", HERALD_INSECURE_COOKIES="1",
                  # Resolves to nothing here, so it counts as public; the fake never downloads media.
                  HERALD_PUBLIC_URL="https://herald.test", HERALD_WORKER_HEARTBEAT_SECONDS="1",
                  PYTHONUNBUFFERED="1", XDG_RUNTIME_DIR=str(tmp_path),
                  **{f"HERALD_{name.upper()}": value for name, value in fake.hosts().items()})
    made = []
    for node in ("a", "b"):
        (tmp_path / node).mkdir()
        made.append({**shared, "HERALD_DATA_DIR": str(tmp_path / node)})
    return made


def herald(env, *args) -> str:
    """Run one ``herald`` command to its end; its output."""
    done = subprocess.run([*HERALD, *args], env=env, capture_output=True, text=True, timeout=START_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def upload(port: int, key: str, data: bytes, filename: str) -> dict:
    boundary = "two-nodes-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, answer = request(port, "POST", "/api/media", body,
                             {"X-API-Key": key, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 201, answer
    return json.loads(answer)["media"]


def wait_until(condition, processes, what: str):
    """Poll ``condition`` (work done by other processes) until true; fail when one of them died or time ran out."""
    deadline = time.monotonic() + WORK_TIMEOUT
    while not condition():
        for process in processes:
            assert process.poll() is None, f"a herald process exited while {what}:\n{output(process)}"
        assert time.monotonic() < deadline, f"not done within {WORK_TIMEOUT} s: {what}:\n" + "\n".join(
            output(process)[-3000:] for process in processes)
        time.sleep(0.1)


def test_two_nodes_share_one_deployment(nodes, start_herald, fake, redis_client, moto_endpoint):
    node_a, node_b = nodes
    herald(node_a, "create-workspace", "Two nodes", "--plan", "pro")
    key = herald(node_a, "create-key", "Two nodes").strip().splitlines()[-1]
    headers = {"X-API-Key": key}
    port_a, port_b = free_port(), free_port()
    web_a = start_herald("serve", "--port", port_a, "--workers", 1, env=node_a)
    web_b = start_herald("serve", "--port", port_b, "--workers", 1, env=node_b)
    for web, port in ((web_a, port_a), (web_b, port_b)):
        health = wait_for_health(web, port)
        assert health["checks"]["media"] == {**health["checks"]["media"], "ok": True, "store": "s3"}

    status, account = call(port_a, "POST", "/v1/accounts", {"platform": "instagram", "access_token": IG_TOKEN},
                           headers)
    assert status == 201, account
    png = media_samples.png(40, 30)  # Instagram takes JPEG only: a worker makes a JPEG rendition of it
    media = upload(port_a, key, png, "logo.png")
    config = Config(data_dir=Path(node_a["HERALD_DATA_DIR"]), media_store=node_a["HERALD_MEDIA_STORE"],
                    s3_endpoint_url=moto_endpoint)
    original = f"{media['sha256'][:2]}/{media['sha256']}.png"
    assert media_store(config).all_keys() == [original]  # in the bucket ...
    for node in nodes:  # ... and on neither machine's disk
        stored = [path for path in Path(node["HERALD_DATA_DIR"]).rglob("*") if path.is_file() and "media" in path.parts]
        assert stored == [], stored

    status, post = call(port_a, "POST", "/v1/publish", {"content": "Made on A, sent by B", "accounts": [account["id"]],
                                                        "media": [f"media_{media['id']}"]}, headers)
    assert status == 201, post
    worker_b = start_herald("worker", env=node_b)  # the only worker: node B's
    wait_until(lambda: fake.published(IG_USER_ID), [web_a, web_b, worker_b], "node B's worker publishes the post")
    [published] = fake.published(IG_USER_ID)
    assert published["caption"] == "Made on A, sent by B"
    [container] = fake.containers(IG_USER_ID)
    link = container["params"]["image_url"]
    assert link.startswith("https://herald.test/media/") and link.endswith(".jpg")
    rendition = [key for key in media_store(config).all_keys() if key.startswith("renditions/")]
    assert len(rendition) == 1, media_store(config).all_keys()  # made by B's worker, put in the shared store
    for port in (port_a, port_b):  # the signed link, on either web server, streams the rendition from S3
        status, body = request(port, "GET", urlsplit(link).path)
        assert status == 200
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "JPEG" and image.size == (40, 30)

    worker_a = start_herald("worker", env=node_a)
    processes = [web_a, web_b, worker_a, worker_b]
    wait_until(lambda: len(heartbeat.live_workers(redis_client, time.time())) == 2, processes,
               "both workers beat")
    captions = [f"Post {number} on two nodes" for number in range(POSTS)]
    for number, caption in enumerate(captions):
        status, answer = call((port_a, port_b)[number % 2], "POST", "/v1/publish",
                              {"content": caption, "accounts": [account["id"]], "media": [f"media_{media['id']}"]},
                              headers)
        assert status == 201, answer
    wait_until(lambda: len(fake.published(IG_USER_ID)) >= POSTS + 1, processes, "the workers publish every post")
    on_instagram = [item["caption"] for item in fake.published(IG_USER_ID)]
    assert sorted(on_instagram) == sorted(["Made on A, sent by B", *captions])  # each exactly once
    publishes = [req for req in fake.requests if req.method == "POST" and req.path.endswith("/media_publish")]
    assert len(publishes) == POSTS + 1  # no task ran twice
    assert len([key for key in media_store(config).all_keys() if key.startswith("renditions/")]) == 1  # made once

    for port in (port_a, port_b):
        status, health = call(port, "GET", "/health")
        assert status == 200, health
        checks = health["checks"]
        assert checks["media"]["store"] == "s3" and checks["database"]["writable"] is True
        assert checks["queues"]["publish"]["workers"] == 2 and checks["queues"]["oldest_due_seconds"] == 0
