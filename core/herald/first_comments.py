"""First comments: text each account posts as a comment under its own post once the post is
published (links, hashtags, a call to action), asked for with ``first_comment`` on ``POST /v1/publish``.

A task's ``comment_status``::

    pending ──claim──▶ posting ──▶ posted
       ▲                  ├──▶ failed        (the platform refused, or out of attempts)
       └──(not taken)─────┤                  (the platform said so: back off, then try again)
       └──(look first)────┤                  (sent but the answer was lost, or the worker died)
                          └──▶ unconfirmed   (it may be there and nobody can tell)

A comment is posted at most once. A worker claims it with a conditional UPDATE. Before sending a
comment again, Herald reads the post's comments through the platform's ``find_comment`` and settles
it as ``posted`` when the account's comment is already there: Meta sometimes takes a comment and
answers an error (code 1 or 2), or the answer is lost on the way. A platform without
``find_comment``, or one that cannot be read, leaves such a comment ``unconfirmed`` and never sends
it again, since a duplicate in public is worse than a missing comment the user is told about. The
comment never changes the task's own ``published`` status; ``publish.comment_completed`` and
``publish.comment_failed`` tell webhooks how it went.
"""

from __future__ import annotations

import datetime as dt
import logging

from . import accounts, events, queue, tasks
from .errors import ValidationError
from .models import COMMENT_UNDER_WAY, Account, Post, PublishTask, db, isoformat, utcnow, write_transaction
from .platforms import PlatformRejected, PlatformUnavailable
from .runtime import Runtime, for_jobs

log = logging.getLogger("herald.first_comments")

PENDING = "pending"
POSTING = "posting"
POSTED = "posted"
FAILED = "failed"
UNCONFIRMED = "unconfirmed"

MAX_ATTEMPTS = 4
# A claim older than this belonged to a worker that died (a comment is one short request).
POSTING_TIMEOUT = dt.timedelta(minutes=10)
JOB_TIMEOUT_SECONDS = 120
UNCONFIRMED_HINT = ("It may have been posted: check the post on {platform} and add the comment by hand if it "
                    "is missing. Herald does not send it again, so it is never posted twice.")
# How long after a comment whose answer was lost Herald looks for it: long enough for a comment Meta
# took to show when its comments are read back.
CHECK_DELAY_SECONDS = 30.0


def check_request(runtime: Runtime, platforms: list[str], post_type: str, text: str | None) -> None:
    """400 naming ``first_comment`` when one of ``platforms`` cannot take a comment on this post type."""
    if not text:
        return
    for name in platforms:
        platform = runtime.registry.platforms[name].obj
        if not hasattr(platform, "post_comment"):
            raise ValidationError(f"{name} cannot post a first comment.", field="first_comment")
        if post_type not in getattr(platform, "comment_post_types", platform.post_types):
            raise ValidationError(f"A {post_type} on {name} cannot take comments; leave out first_comment.",
                                  field="first_comment")


def job_id(task_id: int, attempt: int) -> str:
    """The RQ job id of a task's ``attempt``-th comment attempt (each attempt a new, unique id)."""
    return f"comment-{task_id}-{attempt}"


def enqueue(runtime: Runtime, task: PublishTask) -> bool:
    """Enqueue the job that posts ``task``'s pending comment (at its due time); False when Redis
    is down or the job exists (the reconciler enqueues it later)."""
    return queue.enqueue_job(runtime.redis, "herald.first_comments.run", task.id, job_id=next_job_id(task),
                             due_at=_stored_time((task.comment or {}).get("due_at")),
                             job_timeout=JOB_TIMEOUT_SECONDS, description=f"first comment of task {task.id}",
                             now=runtime.clock.now())


def next_job_id(task: PublishTask) -> str:
    """The job id of ``task``'s next comment attempt."""
    return job_id(task.id, (task.comment or {}).get("attempts", 0) + 1)


def _stored_time(value: str | None) -> dt.datetime | None:
    """A time kept in ``PublishTask.comment`` (``isoformat``'s ``…Z``) as the naive UTC it stands for."""
    return dt.datetime.fromisoformat(value.removesuffix("Z")) if value else None


def run(task_id: int) -> str:
    """RQ job: post the first comment of task ``task_id`` if it is still pending; returns what happened."""
    runtime = for_jobs()
    with db.connection_context():
        task = _claim(task_id)
        if task is None:
            return "nothing to do"
        text = Post.get_by_id(task.post_id).first_comment
        outcome = _post(runtime, task, text)
    return outcome


def _claim(task_id: int) -> PublishTask | None:
    """Take the pending comment (one conditional UPDATE decides between racing workers), or None."""
    now = utcnow()
    with write_transaction():
        taken = (PublishTask.update(comment_status=POSTING)
                 .where((PublishTask.id == task_id) & (PublishTask.comment_status == PENDING)).execute())
        if not taken:
            return None
        task = PublishTask.get_by_id(task_id)
        task.comment = {**task.comment, "attempts": task.comment.get("attempts", 0) + 1,
                        "started_at": isoformat(now), "due_at": None}
        PublishTask.update(comment=task.comment).where(PublishTask.id == task_id).execute()
    return task


def _post(runtime: Runtime, task: PublishTask, text: str | None) -> str:
    registered = runtime.registry.platforms.get(task.platform)
    poster = getattr(registered.obj, "post_comment", None) if registered else None
    if not text or poster is None:
        return _finish(runtime, task, FAILED, error=f"The {task.platform} plugin cannot post comments (any more).")
    account = Account.get_by_id(task.account_id)
    token, problem = accounts.usable(runtime, account)
    if problem:
        return _finish(runtime, task, FAILED, error=problem)
    ref = accounts.account_ref(runtime, account, token)
    finder = getattr(registered.obj, "find_comment", None)
    if finder is not None and task.comment.get("check_first"):
        found = _look_for(runtime, task, finder, ref, text)
        if found is not None:
            return found
    try:
        comment_id = poster(ref, task.platform_post_id, text, config=runtime.config)
    except PlatformRejected as exc:
        return _finish(runtime, task, FAILED, error=exc.message)
    except PlatformUnavailable as exc:
        if exc.uncertain:
            if finder is None or task.comment["attempts"] >= MAX_ATTEMPTS:
                return _finish(runtime, task, UNCONFIRMED,
                               error=f"{exc.message} {UNCONFIRMED_HINT.format(platform=task.platform)}")
            return _retry(runtime, task, f"{exc.message} Herald looks for the comment on {task.platform} "
                                       "before sending it again.", CHECK_DELAY_SECONDS, check_first=True)
        if task.comment["attempts"] >= MAX_ATTEMPTS:
            return _finish(runtime, task, FAILED, error=f"Gave up after {task.comment['attempts']} attempts. "
                                                      f"Last error: {exc.message}")
        # Meta may have taken it despite the error (codes 1 and 2 promise nothing): look before resending.
        return _retry(runtime, task, exc.message, _delay(exc, task), check_first=finder is not None)
    except Exception as exc:  # a plugin bug: whether the comment went out is unknown, so never resend it
        log.exception("platform %s raised while commenting for task %s", task.platform, task.id)
        return _finish(runtime, task, UNCONFIRMED, error=f"The {task.platform} plugin failed unexpectedly: {exc}. "
                                                       + UNCONFIRMED_HINT.format(platform=task.platform))
    return _finish(runtime, task, POSTED, comment_id=str(comment_id))


def _look_for(runtime: Runtime, task: PublishTask, finder, ref, text: str) -> str | None:
    """Settle a comment an earlier attempt may have posted: ``posted`` when the platform shows it,
    ``unconfirmed`` when it cannot be read, a later look when the platform is unavailable. None
    when it is certainly not there, so it may be sent."""
    hint = UNCONFIRMED_HINT.format(platform=task.platform)
    try:
        comment_id = finder(ref, task.platform_post_id, text, config=runtime.config)
    except PlatformRejected as exc:
        return _finish(runtime, task, UNCONFIRMED, error=f"Herald could not check whether the comment is already on "
                                                       f"{task.platform}: {exc.message} {hint}")
    except PlatformUnavailable as exc:
        if task.comment["attempts"] >= MAX_ATTEMPTS:
            return _finish(runtime, task, UNCONFIRMED, error=f"Gave up after {task.comment['attempts']} attempts. "
                                                           f"Last error: {exc.message} {hint}")
        return _retry(runtime, task, exc.message, _delay(exc, task), check_first=True)
    except Exception as exc:
        log.exception("platform %s raised while looking for the comment of task %s", task.platform, task.id)
        return _finish(runtime, task, UNCONFIRMED, error=f"The {task.platform} plugin failed unexpectedly: {exc}. "
                                                       + hint)
    if comment_id is not None:
        return _finish(runtime, task, POSTED, comment_id=str(comment_id))
    return None


def _delay(exc: PlatformUnavailable, task: PublishTask) -> float:
    """Seconds to wait before the next attempt: what the platform asked for, or the backoff."""
    return exc.retry_after if exc.retry_after is not None else tasks.RETRY.delay(task.comment["attempts"])


def _retry(runtime: Runtime, task: PublishTask, error: str, delay: float, *, check_first: bool) -> str:
    task.comment = {**task.comment, "error": error, "check_first": check_first,
                    "due_at": isoformat(runtime.clock.now() + dt.timedelta(seconds=max(1.0, delay)))}
    with write_transaction():
        PublishTask.update(comment_status=PENDING, comment=task.comment).where(PublishTask.id == task.id).execute()
    task.comment_status = PENDING
    enqueue(runtime, task)
    return "retrying"


def _finish(runtime: Runtime, task: PublishTask, status: str, *, error: str | None = None,
            comment_id: str | None = None) -> str:
    """Record how the comment ended and emit its event (dispatched after the commit)."""
    task.comment_status = status
    task.comment = {**(task.comment or {}), "id": comment_id, "error": error, "due_at": None,
                    "finished_at": isoformat(runtime.clock.now())}
    kind = "publish.comment_completed" if status == POSTED else "publish.comment_failed"
    with events.collecting() as recorded, write_transaction():
        PublishTask.update(comment_status=status, comment=task.comment).where(PublishTask.id == task.id).execute()
        events.record(task.workspace_id, kind, {"task": tasks.serialize_task(task), "post_id": f"post_{task.post_id}"})
    events.dispatch(runtime.pm, recorded)
    if status != POSTED:
        log.warning("first comment of task %s %s: %s", task.id, status, error)
    return status


def reconcile(runtime: Runtime, now: dt.datetime) -> int:
    """Enqueue pending comments whose job Redis lost, and settle those whose worker died while
    posting (``unconfirmed``: the request may have gone out). Returns how many were acted on."""
    acted = 0
    under_way = list(PublishTask.select().where(COMMENT_UNDER_WAY))
    pending = {next_job_id(task): task for task in under_way if task.comment_status == PENDING}
    alive = queue.alive_jobs(runtime.redis, list(pending))
    for job, task in pending.items():
        if job not in alive and enqueue(runtime, task):
            acted += 1
    for task in under_way:
        started = _stored_time((task.comment or {}).get("started_at"))
        if task.comment_status == POSTING and started is not None and started < now - POSTING_TIMEOUT:
            stopped = "The worker posting the comment stopped before it recorded the answer."
            if _can_look(runtime, task) and task.comment.get("attempts", 0) < MAX_ATTEMPTS:
                _retry(runtime, task, f"{stopped} Herald looks for the comment on {task.platform} before sending it "
                                    "again.", 0, check_first=True)
            else:
                hint = UNCONFIRMED_HINT.format(platform=task.platform)
                _finish(runtime, task, UNCONFIRMED, error=f"{stopped} {hint}")
            acted += 1
    return acted


def _can_look(runtime: Runtime, task: PublishTask) -> bool:
    """Whether ``task``'s platform can tell whether a comment is already under the post."""
    registered = runtime.registry.platforms.get(task.platform)
    return registered is not None and hasattr(registered.obj, "find_comment")
