"""Exports as background jobs (issue 25, item 4): above HERALD_EXPORT_SYNC_LIMIT posts (or with
``?job=true``) the posts CSV, a client's export and the GDPR archive answer 202 with a job; a real
worker (run here by ``drive.work``) writes the file, ``GET /api/jobs/<id>`` shows its progress and
then a signed link that works for the workspace until it expires, after which ``herald cron``'s
chore deletes the file. A worker that dies mid-export is replaced by the reconciler and the export
written again; its half file is never offered."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import zipfile

import pytest
from test_account_export import PNG

from conftest import assert_error
from drive import advance, claim, work
from herald import chores
from herald.ai import background
from herald.auth import create_api_key
from herald.db.models import EngagementSnapshot, Post, db, isoformat, utcnow
from herald.exports import jobs as export_jobs
from herald.exports import post_exports
from herald.exports.csvsafe import safe_cell
from herald.runtime import installed_for_jobs


def create_posts(client, tenant, count: int, client_id=None) -> list[int]:
    ids = []
    for n in range(count):
        response = client.post("/api/webhooks", headers=tenant.headers, json={
            "action": "create_post", "client_id": client_id or tenant.client.id, "topic": f"Topic {n}",
            "caption": f'Caption {n}, with "quotes"\nand =formulas'})
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["post"]["id"])
    return ids


def started(response) -> str:
    """The id of the job a 202 answer started (checking its Location)."""
    assert response.status_code == 202, response.get_data(as_text=True)[:300]
    job = response.get_json()["job"]
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["status"] == "queued" and job["result"] is None
    return job["id"]


def job_of(client, tenant, job_id) -> dict:
    response = client.get(f"/api/jobs/{job_id}", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["job"]


def header(key: str) -> dict:
    return {"X-API-Key": key}


def test_above_the_limit_the_posts_csv_is_a_job_with_progress_and_a_link_to_the_same_csv(build_app, tenant,
                                                                                      redis_client):
    app = build_app(export_sync_limit=3)
    client = app.test_client()
    ids = create_posts(client, tenant, 3)
    with db.connection_context():
        EngagementSnapshot.create(post=ids[1], likes=7, reach=70, recorded_at=utcnow())
    synchronous = client.get("/api/export/posts", headers=tenant.headers)  # 3 posts: at the limit, streamed
    assert synchronous.status_code == 200 and synchronous.is_streamed
    expected = synchronous.get_data(as_text=True)

    create_posts(client, tenant, 1)
    job_id = started(client.get("/api/export/posts", headers=tenant.headers))
    assert work(redis_client) == 1
    job = job_of(client, tenant, job_id)
    assert job["status"] == "succeeded" and job["error"] is None
    assert job["progress"] == {"phase": "done", "done": 4, "total": 4}
    result = job["result"]
    assert result["rows"] == 4 and result["content_type"] == "text/csv"
    assert result["download_url"].startswith("/api/exports/")

    download = client.get(result["download_url"], headers=tenant.headers)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].startswith("attachment; filename=herald-posts-")
    assert download.headers["Cache-Control"] == "no-store"
    assert len(download.data) == result["bytes"]
    lines = download.get_data(as_text=True)
    # The same CSV as the synchronous answer, plus the fourth post's row.
    assert lines.startswith(expected) and lines.count("Caption 0") == 2


def test_the_limit_counts_one_clients_posts_for_its_csv_and_job_true_asks_for_a_job(build_app, tenant, redis_client):
    app = build_app(export_sync_limit=1)
    client = app.test_client()
    create_posts(client, tenant, 2)
    answer = client.get(f"/api/export/posts?client_id={tenant.client.id}", headers=tenant.headers)
    assert answer.status_code == 202
    assert client.get("/api/account/export", headers=tenant.headers).status_code == 202

    small = build_app(export_sync_limit=10).test_client()
    assert small.get("/api/export/posts", headers=tenant.headers).status_code == 200
    assert small.get("/api/export/posts?job=false", headers=tenant.headers).status_code == 200
    job_id = started(small.get(f"/api/export/posts?job=true&client_id={tenant.client.id}", headers=tenant.headers))
    assert work(redis_client) == 3
    job = job_of(small, tenant, job_id)
    assert job["result"]["rows"] == 2
    assert job["result"]["download_url"] and job["kind"] == "posts_csv"
    download = small.get(job["result"]["download_url"], headers=tenant.headers)
    assert f"herald-posts-client-{tenant.client.id}-" in download.headers["Content-Disposition"]
    assert_error(small.get("/api/export/posts?job=maybe", headers=tenant.headers), 400, "validation_error", "job")


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_archive_job_holds_what_the_synchronous_archive_holds(client, tenant, redis_client):
    create_posts(client, tenant, 3)
    media = client.post("/api/media", headers=tenant.headers, data={"file": (io.BytesIO(PNG), "pixel.png")})
    assert media.status_code == 201, media.get_json()
    synchronous = client.get("/api/account/export", headers=tenant.headers)
    assert synchronous.status_code == 200
    expected = members(synchronous.get_data())

    job_id = started(client.get("/api/account/export?job=true", headers=tenant.headers))
    assert work(redis_client) == 1
    job = job_of(client, tenant, job_id)
    assert job["status"] == "succeeded" and job["kind"] == "account_export"
    assert job["progress"]["phase"] == "done" and job["progress"]["done"] == job["progress"]["total"] == \
        job["result"]["rows"]
    download = client.get(job["result"]["download_url"], headers=tenant.headers)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    got = members(download.data)
    assert got.keys() == expected.keys()
    # The job's own row was not there for the synchronous export, and events are marked dispatched
    # after their request: those tables may differ.
    for name in expected:
        if name not in ("tables/background_job.jsonl", "tables/event.jsonl", "manifest.json"):
            assert got[name] == expected[name], name
    manifest, before = json.loads(got["manifest.json"]), json.loads(expected["manifest.json"])
    rows = {entry["table"]: entry["rows"] for entry in manifest["tables"]}
    assert rows["background_job"] == {entry["table"]: entry["rows"] for entry in before["tables"]}["background_job"] + 1
    assert manifest["media"] == before["media"] and manifest["media"]["files"] == 1
    assert sum(rows.values()) == job["result"]["rows"]


def test_a_link_is_refused_after_it_expires_to_other_workspaces_and_without_the_scope_and_the_file_goes(
        client, tenant, make_tenant, config, redis_client):
    create_posts(client, tenant, 1)
    job_id = started(client.get("/api/account/export?job=true", headers=tenant.headers))
    work(redis_client)
    url = job_of(client, tenant, job_id)["result"]["download_url"]
    assert client.get(url, headers=tenant.headers).status_code == 200

    other = make_tenant("Other Agency")
    assert_error(client.get(url, headers=other.headers), 404, "not_found")
    assert_error(client.get(f"/api/jobs/{job_id}", headers=other.headers), 404, "not_found")
    with db.connection_context():
        _, reader = create_api_key(tenant.workspace, ["posts:read"], name="reader")
    assert_error(client.get(url, headers=header(reader)), 403, "forbidden")
    assert_error(client.get(f"/api/jobs/{job_id}", headers=header(reader)), 403, "forbidden")
    assert_error(client.get(url, headers={}), 401, "unauthorized")
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    assert_error(client.get(forged, headers=tenant.headers), 404, "not_found")

    path = export_jobs.file_path(installed_for_jobs(), job_id, "account_export")
    assert path.is_file() and path.stat().st_mode & 0o777 == 0o600  # owner only, as the database
    chores.reconcile()
    assert path.is_file()  # still valid: kept
    advance(redis_client, config.export_link_hours * 3600 - 1)
    assert client.get(url, headers=tenant.headers).status_code == 200
    advance(redis_client, 1)
    assert_error(client.get(url, headers=tenant.headers), 404, "not_found")
    assert chores.reconcile()["export_files_removed"] == 1
    assert not path.exists()
    assert chores.reconcile()["export_files_removed"] == 0


def test_a_worker_killed_mid_export_is_replaced_and_its_half_file_never_offered(client, tenant, redis_client):
    ids = create_posts(client, tenant, 3)
    job_id = started(client.get("/api/export/posts?job=true", headers=tenant.headers))
    mode, row = claim("background", job_id)  # a worker takes the job...
    assert mode == "run"
    runtime = installed_for_jobs()
    folder = export_jobs.directory(runtime)
    folder.mkdir(parents=True, exist_ok=True)
    half = folder / f"{job_id}.{row.step}.part"
    half.write_bytes(b"id,client_id\n1,")  # ...writes part of the file, and dies
    redis_client.flushdb()

    job = job_of(client, tenant, job_id)
    assert job["status"] == "running" and job["result"] is None
    assert chores.reconcile()["work"]["background"] == 0  # its lease runs: a live worker may be on it
    advance(redis_client, background.LEASE_SECONDS + 1)
    assert chores.reconcile()["work"]["background"] == 1
    assert not half.exists()  # the dead worker's part file goes: its step is over
    assert work(redis_client) == 1  # the recovery writes the export again
    job = job_of(client, tenant, job_id)
    assert job["status"] == "succeeded" and job["error"] is None and job["result"]["rows"] == 3
    text = client.get(job["result"]["download_url"], headers=tenant.headers).get_data(as_text=True)
    assert [line.split(",")[0] for line in text.splitlines() if line[:1].isdigit()] == [str(i) for i in ids]
    chores.reconcile()
    assert sorted(path.name for path in folder.iterdir()) == [f"{job_id}.csv"]


def test_an_export_that_kills_its_worker_every_time_fails_at_last(client, tenant, redis_client):
    create_posts(client, tenant, 1)
    job_id = started(client.get("/api/export/posts?job=true", headers=tenant.headers))
    for _ in range(background.RESTARTS + 1):
        assert claim("background", job_id) is not None  # the first run, then each recovery, dies
        redis_client.flushdb()
        advance(redis_client, background.LEASE_SECONDS + 1)
    chores.reconcile()
    work(redis_client)
    job = job_of(client, tenant, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "job_interrupted"


def test_a_client_export_job_holds_the_synchronous_json(build_app, tenant, redis_client):
    client = build_app(export_sync_limit=1).test_client()
    create_posts(client, tenant, 1)
    synchronous = client.get(f"/api/clients/{tenant.client.id}/export", headers=tenant.headers)
    assert synchronous.status_code == 200
    create_posts(client, tenant, 1)
    job_id = started(client.get(f"/api/clients/{tenant.client.id}/export", headers=tenant.headers))
    work(redis_client)
    job = job_of(client, tenant, job_id)
    assert job["result"]["rows"] == 2 and job["progress"] == {"phase": "done", "done": 2, "total": 2}
    document = client.get(job["result"]["download_url"], headers=tenant.headers).get_json()
    expected = synchronous.get_json()
    assert document["client"] == expected["client"]
    assert document["posts"][0] == expected["posts"][0] and len(document["posts"]) == 2


@pytest.mark.parametrize("path", ["/api/export/posts?job=true", "/api/account/export?job=true"])
def test_an_export_job_of_an_empty_workspace_is_an_empty_file_not_an_error(client, tenant, redis_client, path):
    with db.connection_context():
        assert Post.select().count() == 0
    job_id = started(client.get(path, headers=tenant.headers))
    work(redis_client)
    job = job_of(client, tenant, job_id)
    assert job["status"] == "succeeded"
    assert client.get(job["result"]["download_url"], headers=tenant.headers).status_code == 200


def recomputed_posts_csv(workspace_id: int) -> bytes:
    """The posts CSV computed the straightforward way: every post as a model, its newest snapshot (by
    ``recorded_at``, then id) found in Python, each row written by ``csv.writer`` with every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(post_exports.POST_COLUMNS)
    for post in Post.select().where(Post.workspace == workspace_id).order_by(Post.id):
        snapshots = list(EngagementSnapshot.select().where(EngagementSnapshot.post == post.id))
        latest = max(snapshots, key=lambda row: (row.recorded_at, row.id), default=None)
        metrics = [getattr(latest, name) if latest else None for name in post_exports.METRICS]
        writer.writerow([safe_cell(value) for value in [
            post.id, post.client_id, post.topic, post.caption, post.post_type, ", ".join(post.platforms or []),
            post.status, post.score, *metrics, isoformat(post.scheduled_at), isoformat(post.published_at),
            isoformat(post.created_at)]])
    return buffer.getvalue().encode()


def test_the_posts_csv_streamed_and_as_a_job_is_byte_for_byte_the_straightforward_one(build_app, tenant,
                                                                                       make_tenant, redis_client):
    """Over two batches of 2,000 posts: captions that need quotes or a formula guard, emoji, every platform
    list, scores of any sign, posts without engagement, several snapshots recorded out of order and ties."""
    app = build_app(export_sync_limit=100_000)
    client = app.test_client()
    other = make_tenant("Other agency")
    rng = random.Random(25)
    captions = ["Plain caption", 'Commas, "quotes" and\na newline', "=HYPERLINK(\"x\")", "-2 for one", "émoji 🎉 ✨",
                "line\r\nbreak", "", "tab\tinside", "@mention first"]
    base = dt.datetime(2026, 5, 1, 9, 30, 15, 123456)
    with app.app_context(), db.connection_context():
        posts = [{"workspace": tenant.workspace.id, "client": rng.choice([tenant.client.id, None]),
                  "topic": rng.choice(["launch", "+plus", ""]), "caption": rng.choice(captions) + f" {n}",
                  "post_type": rng.choice(["post", "reel"]),
                  "platforms": rng.choice([[], ["instagram"], ["instagram", "facebook"]]),
                  "status": rng.choice(["draft", "published", "failed"]),
                  "score": rng.choice([None, 87.5, -3.25, 0.0, 42]),
                  "scheduled_at": rng.choice([None, base + dt.timedelta(hours=n)]),
                  "published_at": rng.choice([None, base + dt.timedelta(hours=n, microseconds=1)]),
                  "created_at": base - dt.timedelta(minutes=n), "updated_at": base} for n in range(4_100)]
        posts[7]["workspace"] = other.workspace.id
        Post.insert_many(posts).execute()
        ids = [post.id for post in Post.select(Post.id).order_by(Post.id)]
        snapshots = []
        for post_id in ids:
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                snapshots.append({"post": post_id, "likes": rng.randint(0, 900), "comments": rng.randint(0, 50),
                                  "saves": rng.randint(0, 9), "shares": rng.randint(0, 9),
                                  "reach": rng.randint(0, 10**6),
                                  "recorded_at": base + dt.timedelta(days=rng.choice([1, 2, 2, 3]))})
        rng.shuffle(snapshots)  # ids not in the order of recorded_at; ties broken by id
        EngagementSnapshot.insert_many(snapshots).execute()
        expected = recomputed_posts_csv(tenant.workspace.id)
    assert expected.count(b"\r\n") > 4_000
    streamed = client.get("/api/export/posts", headers=tenant.headers)
    assert streamed.status_code == 200 and streamed.is_streamed
    assert streamed.get_data() == expected

    job_id = started(client.get("/api/export/posts?job=true", headers=tenant.headers))
    assert work(redis_client) == 1
    job = job_of(client, tenant, job_id)
    assert job["status"] == "succeeded" and job["result"]["rows"] == len(ids) - 1
    assert client.get(job["result"]["download_url"], headers=tenant.headers).get_data() == expected
