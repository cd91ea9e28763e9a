"""Publish tasks: the state machine of one post going to one account.

States::

    pending_approval ──approve──▶ queued ──claim──▶ publishing ──▶ published
          │                          ▲                  │ ├──▶ failed      (permanent, or out of attempts)
          │                          │                  │ ├──▶ unconfirmed (an earlier attempt may be live
          │                          │                  │ │                 and the platform cannot say)
          └──reject──▶ cancelled     │                  │ └──▶ publishing  (pending: check again later)
                                     └──── retrying ◀───┘      (transient: back off, then publish again)
    queued / retrying / pending_approval ──cancel──▶ cancelled
    unconfirmed ──resolve (a user)──▶ published, or queued (sent again from the start)

Publish tasks are the work kind ``publish`` (:mod:`herald.publishing.publish_work` on :mod:`herald.work`): a
worker *claims* a task with one conditional UPDATE (the database decides, so two jobs for the same
task never both talk to the platform) and holds a lease while it calls the platform. A task
found in ``publishing`` with an expired lease belonged to a worker that died: it is handed to the
platform's ``reconcile`` before anything is published again; when the platform cannot tell whether
an earlier attempt went out, the task ends ``unconfirmed`` and is never sent again (a duplicate in
public is worse than a post the user is told to check). ``maybe_live`` keeps that question open
across steps (see :mod:`herald.publishing.publish_work`): while it is set, ``reconcile`` runs before ``publish``, and a
task that runs out of attempts ends ``unconfirmed`` rather than ``failed``. Every transition is committed before
the next job is enqueued, so the database alone is enough to rebuild the queues.
"""

from __future__ import annotations

import datetime as dt
import logging

from .. import events, work
from ..db.models import FirstComment, Post, PublishTask, isoformat, status_in, write_transaction
from ..db.prepared_statements import Prepared, PreparedUpdate
from ..work import RetryPolicy, Statuses
from .posts import post_by_id

log = logging.getLogger("herald.publishing.tasks")

PENDING_APPROVAL = "pending_approval"
QUEUED = "queued"
PUBLISHING = "publishing"
RETRYING = "retrying"
PUBLISHED = "published"
FAILED = "failed"
CANCELLED = "cancelled"
UNCONFIRMED = "unconfirmed"

FINAL = frozenset({PUBLISHED, FAILED, CANCELLED, UNCONFIRMED})
CANCELLABLE = frozenset({PENDING_APPROVAL, QUEUED, RETRYING})

KIND_NAME = "publish"  # the name the kernel knows publish tasks by (herald.publishing.publish_work)
# "publishing" is both: held by a worker under a lease, or waiting for the platform without one.
STATUSES = Statuses(queued=QUEUED, running=PUBLISHING, retrying=RETRYING, waiting=PUBLISHING, done=PUBLISHED,
                    failed=FAILED, unconfirmed=UNCONFIRMED)
MAX_ATTEMPTS = 6  # calls of publish; transient failures beyond this fail the task
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
RETRY = RetryPolicy(base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS, floor=5.0, max_attempts=MAX_ATTEMPTS)
# How long a worker may hold a task; one held longer belonged to a dead worker and is reconciled with
# the platform. RQ's hard limit for one step is shorter, so a lease never expires under a live job.
LEASE_SECONDS = 60.0
JOB_TIMEOUT_SECONDS = 50

_TASK_OUTCOMES = Prepared(PublishTask, lambda param: PublishTask.select(PublishTask.status, PublishTask.published_at)
                          .where(PublishTask.post == param(PublishTask.post)))
# Every published step serializes its task for its event, its first comment with it, and then
# herald.publishing.first_comments looks the comment up to enqueue it: rendered by peewee each time, those two
# lookups took a publish step from 3.4 to 4.9 ms of worker CPU (one `herald worker --burst` on 600
# Facebook text tasks made as bench/publish_pipeline.py makes them, 2026-12-06).
_FIRST_COMMENT = Prepared(FirstComment, lambda param: FirstComment.select()
                          .where(FirstComment.task == param(FirstComment.task)))
_update_task = PreparedUpdate(PublishTask)
_update_post = PreparedUpdate(Post)


def save_state(task_id: int, state: dict, now: dt.datetime) -> None:
    """Commit what the platform saved for the task (its next step depends on it) at ``now``."""
    with write_transaction():
        _update_task(task_id, state=state, updated_at=now)


def settle_published(runtime, task: PublishTask, post: Post, platform_post_id: str, url: str | None,
                     extra: dict | None = None) -> None:
    """Record that a user found the task's post live (see :mod:`herald.publishing.resolving`) and emit
    ``publish.completed``, inside the caller's write transaction holding ``post``'s lock (``extra``
    goes into the event: who said so). The task is final (``unconfirmed``): no worker holds it."""
    now = runtime.clock.now()
    changes = {"status": PUBLISHED, "lease_until": None, "due_at": None, "updated_at": now,
               **published_changes(now, platform_post_id, url)}
    for name, value in changes.items():
        setattr(task, name, value)
    _update_task(task.id, **changes)
    arm_first_comment(task, post)
    events.record(task.workspace_id, "publish.completed",
                  {"task": serialize_task(task), "post_id": f"post_{task.post_id}", **(extra or {})})
    refresh_post(task.post_id, now, post)


def published_changes(now: dt.datetime, platform_post_id: str, url: str | None) -> dict:
    """What a task's row says once the platform has its post (besides its status)."""
    return {"platform_post_id": platform_post_id, "url": url, "published_at": now, "error": None,
            "maybe_live": False}


def arm_first_comment(task: PublishTask, post: Post) -> None:
    """Inside the transaction recording that ``task`` published: the work row of its post's first
    comment, when it asked for one (never a second: a task settled twice arms one). The caller
    enqueues it after the commit (see :mod:`herald.publishing.first_comments`)."""
    if post.first_comment:
        FirstComment.insert(task=task.id, workspace=task.workspace_id, text=post.first_comment,
                            status="pending").on_conflict_ignore().execute()


def requeue(runtime, task: PublishTask, post: Post) -> None:
    """Send an ``unconfirmed`` task again from the start, now, inside the caller's write transaction:
    what the platform saved of the earlier attempts is forgotten (a user checked that none is live)."""
    work.move(runtime, work.kind(runtime, KIND_NAME), task, status=QUEUED, due_at=runtime.clock.now(), attempts=0,
              state={}, error=None, maybe_live=False)
    refresh_post(task.post_id, runtime.clock.now(), post)


def resolve_hint(task: PublishTask) -> str:
    """What a user does with an ``unconfirmed`` task: look, then tell Herald (``…/resolve``)."""
    return (f"Look for the post on the account. Then tell Herald: POST /v1/posts/post_{task.post_id}/tasks/"
            f"task_{task.id}/resolve with {{\"outcome\": \"published\", \"platform_post_id\": \"…\"}} when "
            "it is there, or {\"outcome\": \"send_again\"} when it is not.")


def cancel_tasks(runtime, post: Post) -> list[tuple[int, int]]:
    """Cancel the post's tasks that have not started, inside the caller's write transaction; returns
    the ``(task id, step)`` of the jobs to remove after the commit (:func:`herald.work.drop_job`)."""
    cancelled = work.cancel(runtime, work.kind(runtime, KIND_NAME),
                            (PublishTask.post == post) & PublishTask.status.in_(list(CANCELLABLE)))
    refresh_post(post.id, runtime.clock.now())
    return cancelled


def post_status(statuses: list[str]) -> str:
    """A post's status from its tasks' statuses."""
    found = set(statuses)
    if not found:
        return "draft"
    if PENDING_APPROVAL in found:
        return PENDING_APPROVAL
    if found & {PUBLISHING}:
        return PUBLISHING
    if found & {QUEUED, RETRYING}:
        return QUEUED
    if found == {PUBLISHED}:
        return PUBLISHED
    if found == {CANCELLED}:
        return CANCELLED
    if UNCONFIRMED in found:
        return UNCONFIRMED
    if PUBLISHED in found:
        return "partially_published"
    return FAILED


def refresh_post(post_id: int, now: dt.datetime, post: Post | None = None) -> None:
    """Recompute the post's status (and ``published_at``) from its tasks at ``now``; call inside the
    writing transaction.

    ``post`` is the post as read under its lock in this transaction (:func:`hold_post_lock`), if it was.
    """
    post = post if post is not None else post_by_id(post_id)
    if post is None or post.status == "rejected":
        return
    rows = _TASK_OUTCOMES.rows(post=post_id)
    status = post_status([row.status for row in rows])
    published = [row.published_at for row in rows if row.published_at]
    changes = {}
    if status != post.status:
        changes["status"] = status
    if published and post.published_at != min(published):
        changes["published_at"] = min(published)
    if changes:
        changes["updated_at"] = now
        _update_post(post_id, **changes)


def serialize_task(task: PublishTask, first_comments: dict[int, FirstComment] | None = None) -> dict:
    """The JSON shape of a task (as in ``GET /v1/posts/{id}``). ``first_comments`` are the tasks'
    comments by task id, read at once for many tasks (:func:`first_comments_of`); without it the
    task's own is looked up."""
    data = {
        "id": f"task_{task.id}",
        "account_id": f"acc_{task.account_id}",
        "platform": task.platform,
        "status": task.status,
        "attempts": task.attempts,
        "scheduled_at": isoformat(task.due_at) if task.status in (QUEUED, PENDING_APPROVAL) else None,
        "next_attempt_at": isoformat(task.due_at) if task.status == RETRYING else None,
        "published_at": isoformat(task.published_at),
        "platform_post_id": task.platform_post_id,
        "url": task.url,
        "error": task.error,
        "first_comment": serialize_first_comment(task, first_comments),
    }
    return data


def first_comments_of(tasks: list[PublishTask]) -> dict[int, FirstComment]:
    """The first comments of ``tasks`` by task id, in one query (only published tasks have one)."""
    published = [task.id for task in tasks if task.status == PUBLISHED]
    if not published:
        return {}
    return {comment.task_id: comment for comment in FirstComment.select().where(FirstComment.task.in_(published))}


def serialize_first_comment(task: PublishTask, first_comments: dict[int, FirstComment] | None = None) -> dict | None:
    """A task's first comment in the API (see :mod:`herald.publishing.first_comments`): ``{"status", "id",
    "error", "attempts", "next_attempt_at"}``, or None when it has none (not published yet, or none asked
    for). ``first_comments``: see :func:`serialize_task`."""
    if task.status != PUBLISHED:  # a comment is made when its task is published: no lookup before
        return None
    comment = first_comment(task.id) if first_comments is None else first_comments.get(task.id)
    if comment is None:
        return None
    return {"status": comment.status, "id": comment.comment_id, "error": comment.error,
            "attempts": comment.attempts,
            "next_attempt_at": isoformat(comment.due_at) if comment.status == "pending" else None}


def first_comment(task_id: int) -> FirstComment | None:
    """The first comment of task ``task_id`` (a task has at most one), or None."""
    rows = _FIRST_COMMENT.rows(task=task_id)
    return rows[0] if rows else None


def oldest_due(now: dt.datetime) -> dt.datetime | None:
    """The due time of the most overdue task that is waiting for a worker at ``now``, or None."""
    # The active tasks' index by due_at (status_in), read from its start (the most overdue) to now;
    # queued or retrying is "active and not publishing", a term no other index serves (see status_in).
    row = (PublishTask.select(PublishTask.due_at)
           .where(status_in(STATUSES.active) & (PublishTask.status != PUBLISHING) & (PublishTask.due_at <= now))
           .order_by(PublishTask.due_at).first())
    return row.due_at if row else None
