"""Crash test: real worker processes are SIGKILLed at random points while publishing to the fake
Graph API. Afterwards every task is published exactly once on the platform and none is stuck."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from graph_drive import connect_account, upload_jpeg

from conftest import TEST_REDIS_URL, start_app, with_changes
from drive import advance, work
from fakes.graph import IG_TOKEN, IG_USER_ID, PAGE_ID, PAGE_TOKEN
from herald import chores
from herald.db.models import Post, PublishTask, db
from herald.publishing import tasks
from herald.runtime import installed_for_jobs
from herald.work import job_id as work_job_id

SEED = int(os.environ.get("HERALD_CRASH_SEED", "20261123"))
POSTS = 5  # x 2 accounts
HERALD = Path(sys.executable).parent / "herald"
CLOCKED_WORKER = Path(__file__).with_name("clocked_worker.py")

# The workers are other processes, on the system's clock plus the offset the test moves (drive.OffsetClock).
pytestmark = pytest.mark.real_time


@pytest.fixture
def app(clock, config, fake):
    # 320 posts go in within seconds: the per-key request limit is not what these tests are about.
    application = start_app(clock, with_changes(config, **fake.hosts(), rate_limit="100000 per minute",
                                                 public_url="https://herald.test"))
    yield application
    db.obj.close_all()


def worker_env(config, fake) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HERALD_DATA_DIR=str(config.data_dir), HERALD_DATABASE_URL=config.database_url,
               HERALD_REDIS_URL=TEST_REDIS_URL, HERALD_SECRET_KEY=config.secret_key,
               HERALD_GRAPH_BASE_URL=fake.base_url, HERALD_INSTAGRAM_BASE_URL=fake.base_url,
               # Resolves to nothing here, so it counts as public; the fake never downloads media.
               HERALD_PUBLIC_URL="https://herald.test")
    return env


def time_passes(redis_client, fake, seconds: float) -> None:
    """``seconds`` pass for the test, the workers it starts from now on, and Meta (whose clock agrees with ours)."""
    advance(redis_client, seconds)
    fake.advance(seconds)


def statuses() -> list[str]:
    with db.connection_context():
        return [row.status for row in PublishTask.select(PublishTask.status)]


def unpublished(redis_client) -> str:
    """The tasks not published and their jobs in Redis, as a failure message needs to explain them."""
    with db.connection_context():
        rows = list(PublishTask.select().where(PublishTask.status != tasks.PUBLISHED))
    lines = []
    for task in rows:
        job_id = work_job_id(tasks.KIND_NAME, task.id, task.step)
        job = {key.decode(): value.decode()[:60] for key, value in redis_client.hgetall(f"rq:job:{job_id}").items()
               if key.decode() in ("status", "started_at", "enqueued_at", "worker_name", "origin")}
        queued = {key.decode(): redis_client.lpos(key, job_id) for key in redis_client.keys("rq:queue:*")
                  if redis_client.type(key) == b"list"}
        lines.append(f"task_{task.id} ({task.platform}) {task.status}, attempts {task.attempts}, step {task.step}, "
                     f"lease {task.lease_until}, due {task.due_at}, error {task.error!r}, state {task.state}; "
                     f"job {job_id}: {job}; positions in lists: {queued}")
    return "\n".join(lines)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its work-horse at once, as a machine crash would.

    RQ puts each work-horse in its own process group, so killing the worker's group alone would
    leave the horse running.
    """
    doomed = [process.pid, *children(process.pid)]
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)  # freeze first, so nothing moves between the kills
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)
    for pid in doomed[1:]:
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def run_worker(env, fake, kill_after_requests: int | None = None, kill_when=None, deadline: float = 30.0) -> bool:
    """Run a burst worker; SIGKILL it (and its work-horse) once the fake has seen that many more
    requests, or once ``kill_when()`` is true. Returns whether it was killed."""
    target = len(fake.requests) + kill_after_requests if kill_after_requests else None
    if kill_when is None and target is not None:
        def kill_when():
            return len(fake.requests) >= target
    env = {**env, "HERALD_TEST_CLOCK_OFFSET": repr(installed_for_jobs().clock.offset)}  # the test's time
    process = subprocess.Popen([sys.executable, str(CLOCKED_WORKER), "--burst"], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    until = time.monotonic() + deadline
    try:
        while process.poll() is None and time.monotonic() < until:
            if kill_when is not None and kill_when():
                kill_tree(process)
                return True
            time.sleep(0.005)
        assert process.poll() is not None, "the worker did not finish its burst in time"
        return False
    finally:
        if process.poll() is None:
            kill_tree(process)


def test_workers_killed_at_random_points_publish_everything_exactly_once(client, tenant, fake, config, redis_client):
    rng = random.Random(SEED)
    instagram = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    facebook = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    media = upload_jpeg(client, tenant)
    for number in range(POSTS):
        # Every other post's publish call answers slowly, so some kills land while Meta is working.
        if number % 2:
            fake.delay_next(r"/(media_publish|feed|photos)$", 0.3, times=1, method="POST")
        response = client.post("/v1/publish", headers=tenant.headers, json={
            "content": f"Crash test post {number}", "accounts": [instagram, facebook], "media": [media]})
        assert response.status_code == 201, response.get_json()
    env = worker_env(config, fake)

    kills = 0
    for _ in range(40):
        if all(status in tasks.FINAL for status in statuses()):
            break
        killed = run_worker(env, fake, kill_after_requests=rng.randint(1, 5) if kills < 8 else None)
        kills += killed
        # Time passes: leases of killed workers expire and container checks fall due.
        time_passes(redis_client, fake, tasks.LEASE_SECONDS + 1)
        chores.reconcile()
    final = statuses()
    assert final and all(status == tasks.PUBLISHED for status in final), f"seed {SEED}:\n{unpublished(redis_client)}"
    assert kills >= 5, f"only {kills} workers were killed (seed {SEED})"

    captions = {f"Crash test post {number}" for number in range(POSTS)}
    on_instagram = [post["caption"] for post in fake.published(IG_USER_ID)]
    on_facebook = [post["message"] for post in fake.published(PAGE_ID)]
    assert sorted(on_instagram) == sorted(captions), (SEED, on_instagram)
    assert sorted(on_facebook) == sorted(captions), (SEED, on_facebook)
    with db.connection_context():
        for task in PublishTask.select():
            assert task.platform_post_id and task.published_at and task.lease_until is None


def test_a_worker_killed_while_meta_publishes_does_not_post_twice(client, tenant, fake, config, redis_client):
    """The worst moment: the platform has the publish request (and will carry it out), the worker
    dies before it hears back. The task must end published once, found again by reconcile."""
    instagram = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    facebook = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    media = upload_jpeg(client, tenant)
    body = client.post("/v1/publish", headers=tenant.headers, json={
        "content": "Exactly once", "accounts": [instagram, facebook], "media": [media]}).get_json()
    env = worker_env(config, fake)
    fake.delay_next(r"/(media_publish|photos)$", 0.5, times=2, method="POST")

    def publish_calls():
        return [req for req in fake.requests
                if req.method == "POST" and req.path.endswith(("/photos", "/media_publish"))]

    for _ in range(10):
        if all(status in tasks.FINAL for status in statuses()):
            break
        seen = len(publish_calls())
        run_worker(env, fake, kill_when=lambda seen=seen: len(publish_calls()) > seen)
        # Meta carries out what it received even though nobody waits for the answer any more.
        deadline = time.monotonic() + 10
        while any(req.status is None for req in publish_calls()) and time.monotonic() < deadline:
            time.sleep(0.01)
        time_passes(redis_client, fake, tasks.LEASE_SECONDS + 1)
        chores.reconcile()
    assert len(publish_calls()) == 2, "each platform got exactly one publish call"
    detail = client.get(f"/v1/posts/{body['id']}", headers=tenant.headers).get_json()
    assert detail["status"] == "published", detail
    assert [post["caption"] for post in fake.published(IG_USER_ID)] == ["Exactly once"]
    assert [post["message"] for post in fake.published(PAGE_ID)] == ["Exactly once"]


PAGE_ROUNDS = int(os.environ.get("HERALD_CRASH_PAGE_ROUNDS", "8"))
POSTS_PER_ROUND = 40  # 8 x 40 = 320 posts on one Page
RECENT_POSTS = 25  # what Herald used to read back: an orphan behind more than this was sent again


def page_posts_after(fake, caption: str) -> int | None:
    """How many posts the Page has that came after the one with ``caption`` (None: it has none)."""
    posts = fake.published(PAGE_ID)  # oldest first
    mine = [index for index, post in enumerate(posts) if post["message"] == caption]
    return len(posts) - 1 - mine[0] if mine else None


def orphaned_captions() -> list[str]:
    """The texts of the tasks a killed worker held: still ``publishing`` under a lease nobody will finish."""
    with db.connection_context():
        return [post.caption for post in Post.select(Post.caption).join(PublishTask).where(
            (PublishTask.status == tasks.PUBLISHING) & PublishTask.lease_until.is_null(False))]


def test_a_page_with_many_posts_after_a_killed_attempt_gets_each_post_exactly_once(client, tenant, fake, config,
                                                                                  redis_client):
    """The worker is SIGKILLed at random points; before the orphaned attempt is reconciled, more than
    25 other posts reach the same Page (the worker's successor publishes the rest of the backlog).
    Every post ends on the Page once: none lost, none twice."""
    rng = random.Random(SEED)
    facebook = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    env = worker_env(config, fake)
    captions, kills, buried = [], 0, 0
    for round_number in range(PAGE_ROUNDS):
        # The last round's orphan, buried under the posts published since, is reconciled in this
        # round's first worker, which may be killed in turn (during the look, say).
        time_passes(redis_client, fake, tasks.LEASE_SECONDS + 1)
        chores.reconcile()
        for number in range(POSTS_PER_ROUND):
            caption = f"Crash test post {round_number}-{number}"
            response = client.post("/v1/publish", headers=tenant.headers, json={"content": caption,
                                                                                "accounts": [facebook]})
            assert response.status_code == 201, response.get_json()
            captions.append(caption)
        if rng.random() < 0.5:  # Meta answers slowly: the kill lands while it carries the post out
            fake.delay_next(r"/feed$", 0.02, times=None, method="POST")
        kills += run_worker(env, fake, kill_after_requests=rng.randint(1, 12))
        fake.clear_faults()
        work(redis_client)  # the next worker publishes the rest while the orphan's lease runs (in-process: faster)
        for caption in orphaned_captions():
            after = page_posts_after(fake, caption)
            buried += after is not None and after > RECENT_POSTS
    for _ in range(5):  # the last leases expire; the reconciler hands the orphans to the platform
        if all(status in tasks.FINAL for status in statuses()):
            break
        time_passes(redis_client, fake, tasks.LEASE_SECONDS + 1)
        chores.reconcile()
        work(redis_client)
    final = statuses()
    assert len(final) == len(captions) >= 300
    assert all(status == tasks.PUBLISHED for status in final), f"seed {SEED}:\n{unpublished(redis_client)}"
    on_page = [post["message"] for post in fake.published(PAGE_ID)]
    duplicates = sorted({caption for caption in on_page if on_page.count(caption) > 1})
    assert not duplicates, f"seed {SEED}: posted twice: {duplicates}"
    assert sorted(on_page) == sorted(captions), f"seed {SEED}: lost {sorted(set(captions) - set(on_page))}"
    assert kills == PAGE_ROUNDS, f"only {kills} of {PAGE_ROUNDS} workers were killed (seed {SEED})"
    # The case this test is for happened: a live orphan with more than 25 newer posts on the Page.
    assert buried >= 3, f"only {buried} killed attempts were buried under more than {RECENT_POSTS} posts (seed {SEED})"
