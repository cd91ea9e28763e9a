"""Publish tasks: the state machine of one post going to one account.

States::

    pending_approval ──approve──▶ queued ──claim──▶ publishing ──▶ published
          │                          ▲                  │ ├──▶ failed      (permanent, or out of attempts)
          └──reject──▶ cancelled     │                  │ └──▶ publishing  (pending: check again later)
                                     └──── retrying ◀───┘      (transient: back off, then publish again)
    queued / retrying / pending_approval ──cancel──▶ cancelled

A worker *claims* a task with one conditional UPDATE (the database decides, so two jobs for the
same task never both talk to the platform) and holds a lease while it calls the platform. A task
found in ``publishing`` with an expired lease belonged to a worker that died: it is handed to the
platform's ``reconcile`` before anything is published again. Every transition is committed before
the next job is enqueued, so the database alone is enough to rebuild the queues.
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from . import events
from .models import Post, PublishTask, isoformat, utcnow, write_transaction

log = logging.getLogger("herald.tasks")

PENDING_APPROVAL = "pending_approval"
QUEUED = "queued"
PUBLISHING = "publishing"
RETRYING = "retrying"
PUBLISHED = "published"
FAILED = "failed"
CANCELLED = "cancelled"

FINAL = frozenset({PUBLISHED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, PUBLISHING, RETRYING})  # a job should exist for these
CANCELLABLE = frozenset({PENDING_APPROVAL, QUEUED, RETRYING})

# RQ's scheduler keeps whole seconds and may hand a job over up to a second before its time.
SCHEDULER_SLACK = dt.timedelta(seconds=2)
MAX_ATTEMPTS = 6  # calls of publish; transient failures beyond this fail the task
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempt``-th failure: exponential with full jitter, at least 5 s."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return max(5.0, (rng or random).uniform(0, ceiling))


def claim(task_id: int, lease_seconds: float, now: dt.datetime | None = None) -> tuple[str, PublishTask] | None:
    """Take a due task for this worker; returns ``(mode, task)`` or None when there is nothing to do.

    ``mode`` is ``publish`` (queued or retrying), ``check`` (waiting on the platform) or
    ``reconcile`` (a worker died while it held the task).
    """
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=lease_seconds)
    due = PublishTask.due_at.is_null() | (PublishTask.due_at <= now + SCHEDULER_SLACK)
    candidates = (
        ("publish", (PublishTask.status.in_([QUEUED, RETRYING])) & due,
         {PublishTask.attempts: PublishTask.attempts + 1}),
        ("check", (PublishTask.status == PUBLISHING) & PublishTask.lease_until.is_null() & due, {}),
        ("reconcile", (PublishTask.status == PUBLISHING) & (PublishTask.lease_until < now),
         {PublishTask.attempts: PublishTask.attempts + 1}),
    )
    for mode, condition, extra in candidates:
        changes = {PublishTask.status: PUBLISHING, PublishTask.lease_until: lease, PublishTask.updated_at: now,
                   **extra}
        with write_transaction():
            claimed = (PublishTask.update(changes)
                       .where((PublishTask.id == task_id) & condition).execute())
        if claimed:
            return mode, PublishTask.get_by_id(task_id)
    return None


def save_state(task_id: int, state: dict) -> None:
    """Commit what the platform saved for the task (its next step depends on it)."""
    with write_transaction():
        PublishTask.update(state=state, updated_at=utcnow()).where(PublishTask.id == task_id).execute()


def _finish(task: PublishTask, **changes) -> PublishTask:
    changes.setdefault("updated_at", utcnow())
    for name, value in changes.items():
        setattr(task, name, value)
    task.save(only=[getattr(PublishTask, name) for name in changes])
    return task


def mark_published(task: PublishTask, platform_post_id: str, url: str | None) -> list:
    """Record the platform's post; emit ``publish.completed``. Returns the events to dispatch."""
    now = utcnow()
    with events.collecting() as recorded, write_transaction():
        _finish(task, status=PUBLISHED, platform_post_id=platform_post_id, url=url, published_at=now,
                lease_until=None, error=None, due_at=None)
        events.record(task.workspace_id, "publish.completed",
                      {"task": serialize_task(task), "post_id": f"post_{task.post_id}"})
        refresh_post(task.post_id)
    return recorded


def mark_failed(task: PublishTask, reason: str) -> list:
    """Fail the task for good with ``reason`` (the platform's words plus a hint); emit ``publish.failed``.

    Returns the events to dispatch."""
    with events.collecting() as recorded, write_transaction():
        _finish(task, status=FAILED, error=reason, lease_until=None, due_at=None)
        events.record(task.workspace_id, "publish.failed",
                      {"task": serialize_task(task), "post_id": f"post_{task.post_id}"})
        refresh_post(task.post_id)
    return recorded


def mark_waiting(task: PublishTask, status: str, delay_seconds: float, error: str | None = None) -> PublishTask:
    """Put the task back to wait ``delay_seconds`` (``publishing`` for a check, ``retrying`` after a failure).

    Bumps ``step`` so the follow-up job gets a new id.
    """
    due = utcnow() + dt.timedelta(seconds=max(0.0, delay_seconds))
    with write_transaction():
        _finish(task, status=status, due_at=due, lease_until=None, step=task.step + 1,
                **({"error": error} if error is not None else {}))
        refresh_post(task.post_id)
    return task


def cancel_tasks(post: Post) -> list[PublishTask]:
    """Cancel the post's tasks that have not started; returns them (their jobs must be removed)."""
    tasks = list(PublishTask.select().where((PublishTask.post == post) & PublishTask.status.in_(list(CANCELLABLE))))
    for task in tasks:
        _finish(task, status=CANCELLED, due_at=None)
    refresh_post(post.id)
    return tasks


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
    if PUBLISHED in found:
        return "partially_published"
    return FAILED


def refresh_post(post_id: int) -> None:
    """Recompute the post's status (and ``published_at``) from its tasks; call inside the writing transaction."""
    rows = list(PublishTask.select(PublishTask.status, PublishTask.published_at).where(PublishTask.post == post_id))
    post = Post.get_by_id(post_id)
    if post.status == "rejected":
        return
    status = post_status([row.status for row in rows])
    published = [row.published_at for row in rows if row.published_at]
    changes = {}
    if status != post.status:
        changes[Post.status] = status
    if published and post.published_at != min(published):
        changes[Post.published_at] = min(published)
    if changes:
        changes[Post.updated_at] = utcnow()
        Post.update(changes).where(Post.id == post_id).execute()


def serialize_task(task: PublishTask) -> dict:
    """The JSON shape of a task (as in ``GET /v1/posts/{id}``)."""
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
    }
    return data


def active_tasks(limit: int = 5000) -> list[PublishTask]:
    """Tasks that should have a job (queued, retrying, publishing), oldest due first."""
    return list(PublishTask.select().where(PublishTask.status.in_(list(ACTIVE)))
                .order_by(PublishTask.due_at.asc(nulls="first"), PublishTask.id).limit(limit))


def bump_step(task: PublishTask) -> int:
    """Give the task a new step number (for a fresh job id) and return it."""
    with write_transaction():
        PublishTask.update(step=PublishTask.step + 1).where(PublishTask.id == task.id).execute()
    return PublishTask.select(PublishTask.step).where(PublishTask.id == task.id).scalar()


def oldest_due(now: dt.datetime | None = None) -> dt.datetime | None:
    """The due time of the most overdue task that is waiting for a worker, or None."""
    now = now or utcnow()
    row = (PublishTask.select(PublishTask.due_at)
           .where(PublishTask.status.in_([QUEUED, RETRYING]) & (PublishTask.due_at <= now))
           .order_by(PublishTask.due_at).first())
    return row.due_at if row else None
