"""Publish tasks as the core's work kind ``publish``: the handler that calls the platform for one
step of a task, and what the kernel runs around it (the post's lock, the events, the first comment).

The kernel (:mod:`herald.work`) claims a task (mode ``run`` when queued or retrying, ``check`` when
the platform is working on it, ``recover`` when its worker died), this handler asks the platform
and answers an :class:`~herald.work.Outcome`, and the kernel records it under its step fence, then
schedules the next step. The task's statuses keep the names the API shows (see :mod:`herald.publishing.tasks`).
"""

from __future__ import annotations

import logging

from .. import events
from ..capabilities import provided
from ..db.models import Account, Post, PublishTask
from ..db.prepared_statements import by_id
from ..errors import HeraldError
from ..media.public_links import public_base_problem
from ..outcomes import PublishOutcome
from ..platforms import TaskContext
from ..runtime import Runtime
from ..work import Outcome, WorkKind, queue
from . import accounts, first_comments, tasks
from .fitting import post_for_platform
from .posts import hold_post_lock, post_by_id

log = logging.getLogger("herald.publishing.publish_work")

_account_by_id = by_id(Account)  # every publish job reads its account (see herald.db.prepared_statements)


def advance(runtime: Runtime, task: PublishTask, mode: str) -> Outcome:
    """The handler of kind ``publish``: one step of ``task`` claimed in ``mode``."""
    # An earlier attempt may have reached the platform: a worker died holding the task, or the last
    # step ended without settling that (see PublishTask.maybe_live). Nothing is sent again until the
    # platform's reconcile has ruled it out, and nothing ends "failed" while it may be live.
    unsure = mode == "recover" or bool(task.maybe_live)
    registered = runtime.registry.platforms.get(task.platform)
    if registered is None:
        return _fail(task, f"The {task.platform} plugin is not installed on this server any more.", unsure)
    account = _account_by_id(task.account_id)
    token, problem = accounts.usable(runtime, account)
    if problem:
        return _fail(task, problem, unsure)
    post = post_by_id(task.post_id)
    if post.media:
        problem = public_base_problem(runtime.config)
        if problem:
            return _fail(task, problem, unsure)
    platform = registered.obj
    reconcile = provided(platform, "reconcile")
    if unsure and mode != "check" and reconcile is None:
        return _fail(task, f"The worker publishing this post stopped before it recorded {task.platform}'s "
                           f"answer, and the {task.platform} plugin cannot check whether the post went out.",
                     maybe_live=True)
    try:  # checked again as it was before it was queued: a post the platform's rules now refuse is not sent
        post_ref = post_for_platform(runtime, post, task.platform)
    except HeraldError as exc:
        return _fail(task, exc.message, unsure)
    context = TaskContext(task_id=str(task.id), post=post_ref,
                          account=accounts.account_ref(runtime, account, token), config=runtime.config,
                          clock=runtime.clock,
                          attempt=task.attempts, state=dict(task.state or {}),
                          _saver=lambda saved: tasks.save_state(task.id, saved, runtime.clock.now()))
    try:
        outcome, unsure = _call_platform(platform, mode, context, unsure)
    except Exception as exc:  # a plugin bug must not leave the task held: record it and retry later
        log.exception("platform %s raised while publishing task %s", task.platform, task.id)
        task.state = context.state
        reason = f"The {task.platform} plugin failed unexpectedly: {exc}"
        if reconcile is None:  # it may have sent the post, and nothing can look later
            return _fail(task, f"{reason}. It cannot check whether the post went out.", maybe_live=True)
        outcome, unsure = PublishOutcome.transient(reason), True  # reconcile before anything is sent again
    task.state = context.state  # what the platform saved, and what it remembered (committed with the outcome)
    task.maybe_live = unsure or outcome.maybe_live
    return _answer(runtime, task, outcome)


def _call_platform(platform, mode: str, context: TaskContext, unsure: bool) -> tuple[PublishOutcome, bool]:
    """The platform's answer for this step, and whether an earlier attempt may still be live.

    While one may be (``unsure``), ``reconcile`` runs first: None from it rules the attempt out, so
    ``publish`` may run; ``transient`` leaves the question open for the next step."""
    if mode == "check":
        return platform.check(context), unsure
    if unsure:
        outcome = platform.reconcile(context)
        if outcome is not None:
            return outcome, outcome.kind == "transient"
    return platform.publish(context), False


def _answer(runtime: Runtime, task: PublishTask, outcome: PublishOutcome) -> Outcome:
    """The kernel's outcome for the platform's answer."""
    if outcome.kind == "published":
        return Outcome.done(**tasks.published_changes(runtime.clock.now(), outcome.platform_post_id, outcome.url))
    if outcome.kind == "pending":
        return Outcome.wait(outcome.retry_after or 5, maybe_live=task.maybe_live)
    if outcome.kind == "transient":  # the kernel gives up when the policy says so (see _final_error)
        return Outcome.retry(outcome.reason, outcome.retry_after, unsure=task.maybe_live, maybe_live=task.maybe_live)
    if outcome.kind == "unconfirmed":
        return _fail(task, outcome.reason or "The platform cannot say whether the post is live.", True)
    if outcome.account_status:
        account = _account_by_id(task.account_id)
        if account.status == "active":
            accounts.mark(runtime, account, outcome.account_status, outcome.reason or "The platform refused its token.")
    return _fail(task, outcome.reason or "The platform refused the post.", task.maybe_live)


def _fail(task: PublishTask, reason: str, maybe_live: bool = False) -> Outcome:
    """End the task ``failed``, or ``unconfirmed`` when an earlier attempt may be live (never sent
    again; the error then ends with what the user can do, :func:`herald.publishing.tasks.resolve_hint`)."""
    if maybe_live:
        return Outcome.unconfirmed(_final_error(task, reason, True), maybe_live=True)
    return Outcome.failed(reason, maybe_live=task.maybe_live)


def _final_error(task: PublishTask, error: str, unsure: bool) -> str:
    """The error of a task that ends: an unconfirmed one says the post may be live and what to do."""
    if not unsure:
        return error
    return (f"{error.rstrip()} An earlier attempt may have published the post, and nothing could confirm it. "
            f"{tasks.resolve_hint(task)}")


def _lock(runtime: Runtime, task: PublishTask) -> Post | None:
    """Take the post's lock before the task is written (the order every writer of both keeps); the
    post read under it goes to :func:`_settle`, so a transition reads it once."""
    return hold_post_lock(task.post_id)


def _settle(runtime: Runtime, task: PublishTask, outcome: Outcome, held_post: Post | None) -> None:
    """In the transaction recording the outcome (under the post's lock, ``held_post`` read under it,
    None when the post was deleted): the post's status, the task's event, and the work row of the
    post's first comment once it is published."""
    if task.status == tasks.PUBLISHED:
        if held_post is not None:
            tasks.arm_first_comment(task, held_post)
        events.record(task.workspace_id, "publish.completed",
                      {"task": tasks.serialize_task(task), "post_id": f"post_{task.post_id}"})
    elif task.status in (tasks.FAILED, tasks.UNCONFIRMED):
        events.record(task.workspace_id, "publish.failed",
                      {"task": tasks.serialize_task(task), "post_id": f"post_{task.post_id}"})
    tasks.refresh_post(task.post_id, runtime.clock.now(), held_post)


def _after(runtime: Runtime, task: PublishTask, outcome: Outcome) -> None:
    """Once a publish is committed, its first comment (which waited for it) gets its job."""
    if task.status == tasks.PUBLISHED:
        first_comments.enqueue(runtime, task)


KIND = WorkKind(name=tasks.KIND_NAME, model=PublishTask, run=advance, queue=queue.PUBLISH_QUEUE,
                job_timeout=tasks.JOB_TIMEOUT_SECONDS, lease_seconds=tasks.LEASE_SECONDS, retry=tasks.RETRY,
                statuses=tasks.STATUSES, error_field="error", lock=_lock, settle=_settle, after=_after,
                final_error=_final_error)

