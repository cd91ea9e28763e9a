"""Webhook deliveries do not wait behind publishing, and publishing does not wait behind a slow
webhook receiver (issue 19, item 6).

An RQ worker takes jobs from its queues in order, so the single worker ``herald run`` started on
every queue ran a whole publish backlog before any delivery (one webhook waited 15 s behind 70
posts), and a delivery stuck on a receiver that never answers held up the posts that were due.
``herald run`` now starts a worker per queue (:func:`herald.work.queue.queue_names`): these tests check
that it does, then run those very workers in this process against a backlog of 1,000 due posts and a
receiver that holds its answer.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from redis_server import free_port
from rq import Worker
from serve_drive import START_TIMEOUT, output
from webhooks_drive import QuickWorker, create_post, create_webhook

from drive import QUEUES
from fakes.receiver import Reply
from herald.db.models import Account, Post, PublishTask, db, utcnow
from herald.publishing.tasks import KIND_NAME
from herald.work import ENTRY, job_id, queue
from herald.work.queue import PUBLISH_QUEUE, get_queue, make_worker, queue_names
from herald_webhooks.jobs import QUEUE as WEBHOOKS_QUEUE
from herald_webhooks.models import WebhookAttempt, WebhookDelivery

BACKLOG = 1000  # posts due, queued ahead of the webhook delivery
DELIVERED_WITHIN = 2.0  # seconds from the event to the delivery's arrival


@pytest.fixture
def app(build_app, plugin):
    return build_app(webhook_allow_private=True)


def run_worker(redis_client, consuming: str, max_jobs: int) -> tuple[tuple[str, ...], int]:
    """Run ``herald run``'s worker for the ``consuming`` queue in this process for up to ``max_jobs``
    jobs; returns the queues it consumes and how many jobs it ran."""
    names = (consuming,)
    worker = make_worker(redis_client, names, worker_class=QuickWorker)
    worker.work(burst=True, max_jobs=max_jobs, with_scheduler=False, logging_level="WARNING")
    return names, worker.performed


def connect(client, tenant) -> str:
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_0001"},
                           headers=tenant.headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def queue_backlog(redis_client, tenant, account_id: str, count: int) -> None:
    """``count`` posts due now, each with its publish task and job queued (rows written in bulk)."""
    account = int(account_id.removeprefix("acc_"))
    now = utcnow()
    with db.connection_context(), db.atomic():
        first = Post.select(Post.id).order_by(Post.id.desc()).scalar() or 0
        Post.insert_many([{"workspace": tenant.workspace.id, "caption": f"backlog {number}", "status": "queued",
                           "created_at": now, "updated_at": now} for number in range(count)]).execute()
        posts = [row.id for row in Post.select(Post.id).where(Post.id > first).order_by(Post.id)]
        PublishTask.insert_many([{"workspace": tenant.workspace.id, "post": post, "account": account,
                                  "platform": Account.get_by_id(account).platform, "status": "queued",
                                  "due_at": now, "created_at": now, "updated_at": now}
                                 for post in posts]).execute()
        tasks = [row.id for row in PublishTask.select(PublishTask.id).where(PublishTask.post.in_(posts))]
    for task in tasks:
        assert queue.enqueue_job(redis_client, ENTRY, KIND_NAME, task, 0, job_id=job_id(KIND_NAME, task, 0),
                                 due_at=None, job_timeout=60, description=f"publish {task}", now=utcnow())


def test_herald_run_gives_each_queue_a_worker_of_its_own(herald_env, start_herald, redis_client):
    process = start_herald("run", "--port", free_port(), env=herald_env)
    deadline = time.monotonic() + START_TIMEOUT
    while len(workers := Worker.all(connection=redis_client)) < len(QUEUES) \
            and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)  # (the processes' start-up, not work: nothing is queued)
    consumed = sorted(tuple(worker.queue_names()) for worker in workers)
    assert consumed == [("default",), ("publish",), ("webhooks",)], output(process)
    assert sorted((name,) for name in QUEUES) == consumed
    process.terminate()
    assert process.wait(timeout=30) == 0, output(process)


def test_the_queues_are_the_cores_and_those_the_work_kinds_name(app):
    runtime = app.extensions["herald"]
    assert queue_names(runtime) == QUEUES == ("publish", "default", "webhooks")
    assert runtime.registry.work_kinds["webhook_delivery"].plugin == "webhooks"


def test_a_delivery_goes_out_at_once_while_a_thousand_posts_are_due(client, tenant, plugin, receiver,
                                                                    redis_client):
    create_webhook(client, tenant, receiver.url())
    account = connect(client, tenant)
    queue_backlog(redis_client, tenant, account, BACKLOG)
    started = time.time()  # (the receiver stamps arrivals with time.time())
    create_post(client, tenant, caption="while publishing")  # post.created: a delivery queued behind the backlog
    names, ran = run_worker(redis_client, WEBHOOKS_QUEUE, max_jobs=1)
    assert PUBLISH_QUEUE not in names and ran == 1
    (request,) = receiver.received()
    assert request.received_at - started < DELIVERED_WITHIN
    assert get_queue(redis_client, PUBLISH_QUEUE).count == BACKLOG  # every post still waits for its worker
    names, ran = run_worker(redis_client, PUBLISH_QUEUE, max_jobs=5)  # ... which publishes them meanwhile
    assert WEBHOOKS_QUEUE not in names and ran == 5
    assert [post["caption"] for post in plugin.platform.posts] == [f"backlog {number}" for number in range(5)]


def test_a_receiver_holding_its_answer_does_not_hold_up_a_post_that_is_due(client, tenant, plugin, receiver,
                                                                           redis_client, herald_env, start_herald):
    answer = threading.Event()
    receiver.default = Reply(hold=answer)  # a slow receiver: the attempt stays in flight until we answer
    create_webhook(client, tenant, receiver.url())
    create_post(client, tenant, caption="held")
    webhooks_worker = start_herald("worker", "--queue", WEBHOOKS_QUEUE,
                                   env=dict(herald_env, HERALD_WEBHOOK_ALLOW_PRIVATE="1"))
    try:
        assert receiver.wait_for(1, START_TIMEOUT), output(webhooks_worker)  # the attempt is in flight
        account = connect(client, tenant)
        response = client.post("/v1/publish", headers=tenant.headers, json={
            "content": "due now", "accounts": [account], "schedule": "now"})
        assert response.status_code == 201, response.get_json()
        published_at = dt.datetime.now(dt.UTC)
        _, ran = run_worker(redis_client, PUBLISH_QUEUE, max_jobs=10)
        assert ran == 1 and [post["caption"] for post in plugin.platform.posts] == ["due now"]
        assert not answer.is_set() and dt.datetime.now(dt.UTC) - published_at < dt.timedelta(seconds=2)
        with db.connection_context():
            # still in flight while the post went out (the attempt is logged once it ends)
            assert WebhookDelivery.get().status == "pending" and WebhookAttempt.select().count() == 0
    finally:
        answer.set()
    webhooks_worker.terminate()
    assert webhooks_worker.wait(timeout=30) == 0, output(webhooks_worker)
