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

A worker *claims* a task with one conditional UPDATE (the database decides, so two jobs for the
same task never both talk to the platform) and holds a lease while it calls the platform. A task
found in ``publishing`` with an expired lease belonged to a worker that died: it is handed to the
platform's ``reconcile`` before anything is published again; when the platform cannot tell whether
an earlier attempt went out, the task ends ``unconfirmed`` and is never sent again (a duplicate in
public is worse than a post the user is told to check). ``maybe_live`` keeps that question open
across steps (see :mod:`herald.jobs`): while it is set, ``reconcile`` runs before ``publish``, and a
task that runs out of attempts ends ``unconfirmed`` rather than ``failed``. Every transition is committed before
the next job is enqueued, so the database alone is enough to rebuild the queues.
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from . import events
from .models import FirstComment, Post, PublishTask, isoformat, utcnow, write_transaction
from .posts import hold_post_lock, post_by_id
from .prepared_statements import Prepared, PreparedUpdate

log = logging.getLogger("herald.tasks")

PENDING_APPROVAL = "pending_approval"
QUEUED = "queued"
PUBLISHING = "publishing"
RETRYING = "retrying"
PUBLISHED = "published"
FAILED = "failed"
CANCELLED = "cancelled"
UNCONFIRMED = "unconfirmed"

FINAL = frozenset({PUBLISHED, FAILED, CANCELLED, UNCONFIRMED})
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


def _claim_statement(condition) -> Prepared:
    """The conditional ``UPDATE … RETURNING`` that claims a task when ``condition(param)`` holds."""
    task = PublishTask
    return Prepared(task, lambda param: task.update(
        status=PUBLISHING, lease_until=param(task.lease_until), updated_at=param(task.updated_at),
        attempts=task.attempts + param(task.attempts, "attempt"))
        .where((task.id == param(task.id)) & condition(param)).returning(task))


def _due(param):
    return PublishTask.due_at.is_null() | (PublishTask.due_at <= param(PublishTask.due_at, "due_by"))


# Every job runs one; prepared (see herald.prepared_statements): rendering one each time cost about 0.2 ms.
_CLAIMS = (
    ("publish", _claim_statement(lambda param: PublishTask.status.in_([QUEUED, RETRYING]) & _due(param)), 1),
    ("check", _claim_statement(lambda param: (PublishTask.status == PUBLISHING) & PublishTask.lease_until.is_null()
                               & _due(param)), 0),
    ("reconcile", _claim_statement(lambda param: (PublishTask.status == PUBLISHING)
                                   & (PublishTask.lease_until < param(PublishTask.lease_until, "now"))), 1),
)
_TASK_OUTCOMES = Prepared(PublishTask, lambda param: PublishTask.select(PublishTask.status, PublishTask.published_at)
                          .where(PublishTask.post == param(PublishTask.post)))
_update_task = PreparedUpdate(PublishTask)
_update_post = PreparedUpdate(Post)


def claim(task_id: int, lease_seconds: float, now: dt.datetime | None = None) -> tuple[str, PublishTask] | None:
    """Take a due task for this worker; returns ``(mode, task)`` or None when there is nothing to do.

    ``mode`` is ``publish`` (queued or retrying), ``check`` (waiting on the platform) or
    ``reconcile`` (a worker died while it held the task). One conditional ``UPDATE … RETURNING`` per
    mode, in one transaction: the database decides, so two workers never both hold the task, and the
    task is read from what the UPDATE returns.
    """
    now = now or utcnow()
    values = {"id": task_id, "lease_until": now + dt.timedelta(seconds=lease_seconds), "updated_at": now,
              "due_by": now + SCHEDULER_SLACK, "now": now}
    with write_transaction():
        for mode, statement, attempt in _CLAIMS:
            claimed = statement.rows(attempt=attempt, **values)
            if claimed:
                return mode, claimed[0]
    return None


def save_state(task_id: int, state: dict) -> None:
    """Commit what the platform saved for the task (its next step depends on it)."""
    with write_transaction():
        _update_task(task_id, state=state, updated_at=utcnow())


def _finish(task: PublishTask, **changes) -> PublishTask:
    """Apply ``changes`` to the task and its row. The platform's ``state`` is among them when a job
    ends, so what it remembered for the outcome (see ``TaskContext.remember``) lands with it."""
    changes.setdefault("updated_at", utcnow())
    for name, value in changes.items():
        setattr(task, name, value)
    _update_task(task.id, **changes)
    return task


def mark_published(task: PublishTask, platform_post_id: str, url: str | None) -> list:
    """Record the platform's post; emit ``publish.completed``. Returns the events to dispatch."""
    with events.collecting() as recorded, write_transaction():
        settle_published(task, hold_post_lock(task.post_id), platform_post_id, url)
    return recorded


def settle_published(task: PublishTask, post: Post, platform_post_id: str, url: str | None,
                     extra: dict | None = None) -> None:
    """:func:`mark_published`'s changes, inside the caller's write transaction holding ``post``'s lock
    (``extra`` goes into the event: who said so, for a task a user resolved)."""
    _finish(task, status=PUBLISHED, platform_post_id=platform_post_id, url=url, published_at=utcnow(),
            lease_until=None, error=None, due_at=None, state=task.state, maybe_live=False)
    if post.first_comment:  # its work row; the caller enqueues it after the commit (see herald.first_comments)
        FirstComment.insert(task=task.id, workspace=task.workspace_id, text=post.first_comment,
                            status="pending").on_conflict_ignore().execute()
    events.record(task.workspace_id, "publish.completed",
                  {"task": serialize_task(task), "post_id": f"post_{task.post_id}", **(extra or {})})
    refresh_post(task.post_id, post)


def requeue(task: PublishTask, post: Post) -> None:
    """Send an ``unconfirmed`` task again from the start, now, inside the caller's write transaction:
    what the platform saved of the earlier attempts is forgotten (a user checked that none is live)."""
    _finish(task, status=QUEUED, due_at=utcnow(), lease_until=None, step=task.step + 1, attempts=0, state={},
            error=None, maybe_live=False)
    refresh_post(task.post_id, post)


def mark_failed(task: PublishTask, reason: str, status: str = FAILED) -> list:
    """Fail the task for good with ``reason`` (the platform's words plus a hint); emit ``publish.failed``.

    ``status`` is ``unconfirmed`` when an earlier attempt may be live and the platform cannot say:
    the task is final all the same (never sent again), the event carries that status, and the error
    ends with what the user can do about it (:func:`resolve_hint`).
    Returns the events to dispatch."""
    if status == UNCONFIRMED:
        reason = f"{reason} {resolve_hint(task)}"
    with events.collecting() as recorded, write_transaction():
        post = hold_post_lock(task.post_id)
        _finish(task, status=status, error=reason, lease_until=None, due_at=None, state=task.state,
                maybe_live=task.maybe_live)
        events.record(task.workspace_id, "publish.failed",
                      {"task": serialize_task(task), "post_id": f"post_{task.post_id}"})
        refresh_post(task.post_id, post)
    return recorded


def resolve_hint(task: PublishTask) -> str:
    """What a user does with an ``unconfirmed`` task: look, then tell Herald (``…/resolve``)."""
    return (f"Look for the post on the account. Then tell Herald: POST /v1/posts/post_{task.post_id}/tasks/"
            f"task_{task.id}/resolve with {{\"outcome\": \"published\", \"platform_post_id\": \"…\"}} when "
            "it is there, or {\"outcome\": \"send_again\"} when it is not.")


def mark_waiting(task: PublishTask, status: str, delay_seconds: float, now: dt.datetime,
                 error: str | None = None) -> PublishTask:
    """Put the task back to wait ``delay_seconds`` (``publishing`` for a check, ``retrying`` after a failure).

    Bumps ``step`` so the follow-up job gets a new id.
    """
    due = now + dt.timedelta(seconds=max(0.0, delay_seconds))
    with write_transaction():
        post = hold_post_lock(task.post_id)
        _finish(task, status=status, due_at=due, lease_until=None, step=task.step + 1, state=task.state,
                maybe_live=task.maybe_live, **({"error": error} if error is not None else {}))
        refresh_post(task.post_id, post)
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
    if UNCONFIRMED in found:
        return UNCONFIRMED
    if PUBLISHED in found:
        return "partially_published"
    return FAILED


def refresh_post(post_id: int, post: Post | None = None) -> None:
    """Recompute the post's status (and ``published_at``) from its tasks; call inside the writing transaction.

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
        changes["updated_at"] = utcnow()
        _update_post(post_id, **changes)


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
        "first_comment": serialize_comment(task),
    }
    return data


def serialize_comment(task: PublishTask) -> dict | None:
    """A task's first comment in the API (see :mod:`herald.first_comments`): ``{"status", "id", "error",
    "attempts", "next_attempt_at"}``, or None when it has none (not published yet, or none asked for)."""
    if task.status != PUBLISHED:  # a comment is made when its task is published: no lookup before
        return None
    comment = FirstComment.get_or_none(FirstComment.task == task.id)
    if comment is None:
        return None
    return {"status": comment.status, "id": comment.comment_id, "error": comment.error,
            "attempts": comment.attempts,
            "next_attempt_at": isoformat(comment.due_at) if comment.status == "pending" else None}


def active_tasks(limit: int = 5000) -> list[PublishTask]:
    """Tasks that should have a job (queued, retrying, publishing), oldest due first."""
    return list(PublishTask.select().where(PublishTask.status.in_(list(ACTIVE)))
                .order_by(PublishTask.due_at.asc(nulls="first"), PublishTask.id).limit(limit))


def bump_step(task: PublishTask) -> int | None:
    """Give the task a new step number (for a fresh job id) and return it; None when the task is gone."""
    with write_transaction():
        rows = list(PublishTask.update(step=PublishTask.step + 1).where(PublishTask.id == task.id)
                    .returning(PublishTask.step).tuples().execute())
    return rows[0][0] if rows else None


def oldest_due(now: dt.datetime | None = None) -> dt.datetime | None:
    """The due time of the most overdue task that is waiting for a worker, or None."""
    now = now or utcnow()
    row = (PublishTask.select(PublishTask.due_at)
           .where(PublishTask.status.in_([QUEUED, RETRYING]) & (PublishTask.due_at <= now))
           .order_by(PublishTask.due_at).first())
    return row.due_at if row else None
