"""RQ job functions. Thin: load rows, call the platform, record the result, enqueue what is next.

Arguments are plain ids (the JSON serializer). The job entry functions here take the runtime the
worker installed (:func:`herald.runtime.for_jobs`) and pass it down; nothing below them looks it up.
"""

from __future__ import annotations

import datetime as dt
import logging

from . import accounts, background, event_dispatch_marks, events, first_comments, publishing, queue, tasks, work
from .intelligence import pull
from .models import Account, Event, IdempotencyRecord, PublishTask, db
from .outcomes import PublishOutcome
from .platforms import TaskContext
from .posts import post_by_id
from .prepared_statements import by_id
from .public_media import public_base_problem
from .publishing import post_ref
from .runtime import Runtime, for_jobs

log = logging.getLogger("herald.jobs")

_account_by_id = by_id(Account)  # every publish job reads its account (see herald.prepared_statements)
EVENT_DISPATCH_GRACE_SECONDS = 60  # an undispatched event older than this was lost, not in flight


def run_task(task_id: int) -> str:
    """Advance publish task ``task_id`` by one step; returns what happened (for the job's result)."""
    runtime = for_jobs()
    with db.connection_context():
        claimed = tasks.claim(task_id, runtime.config.task_lease_seconds, runtime.clock.now())
        if claimed is None:
            return _not_claimed(runtime, task_id)
        mode, task = claimed
        outcome_label = _advance(runtime, mode, task)
    return f"{mode}: {outcome_label}"


def _not_claimed(runtime: Runtime, task_id: int) -> str:
    """A job that found its task not due yet puts it back on the schedule rather than dropping it."""
    task = PublishTask.get_or_none(PublishTask.id == task_id)
    if task is None or task.status not in tasks.ACTIVE or task.lease_until is not None or task.due_at is None:
        return "nothing to do"
    step = tasks.bump_step(task)
    publishing.enqueue_task(runtime, task, step)
    return "not due yet: rescheduled"


def _advance(runtime: Runtime, mode: str, task: PublishTask) -> str:
    # An earlier attempt may have reached the platform: a worker died holding the task, or the last
    # step ended without settling that (see PublishTask.maybe_live). Nothing is sent again until the
    # platform's reconcile has ruled it out, and nothing ends "failed" while it may be live.
    unsure = mode == "reconcile" or bool(task.maybe_live)
    registered = runtime.registry.platforms.get(task.platform)
    if registered is None:
        return _fail(runtime, task, f"The {task.platform} plugin is not installed on this server any more.", unsure)
    account = _account_by_id(task.account_id)
    token, problem = accounts.usable(runtime, account)
    if problem:
        return _fail(runtime, task, problem, unsure)
    post = post_by_id(task.post_id)
    if post.media:
        problem = public_base_problem(runtime.config)
        if problem:
            return _fail(runtime, task, problem, unsure)
    platform = registered.obj
    reconcile = getattr(platform, "reconcile", None)
    if unsure and mode != "check" and reconcile is None:
        return _fail(runtime, task, f"The worker publishing this post stopped before it recorded {task.platform}'s "
                                  f"answer, and the {task.platform} plugin cannot check whether the post went out.",
                     maybe_live=True)
    context = TaskContext(task_id=str(task.id), post=post_ref(runtime, post),
                          account=accounts.account_ref(runtime, account, token), config=runtime.config,
                          attempt=task.attempts, state=dict(task.state or {}),
                          _saver=lambda saved: tasks.save_state(task.id, saved))
    try:
        outcome, unsure = _call_platform(platform, mode, context, unsure)
    except Exception as exc:  # a plugin bug must not leave the task held: record it and retry later
        log.exception("platform %s raised while publishing task %s", task.platform, task.id)
        task.state = context.state
        reason = f"The {task.platform} plugin failed unexpectedly: {exc}"
        if reconcile is None:  # it may have sent the post, and nothing can look later
            return _fail(runtime, task, f"{reason}. It cannot check whether the post went out.", maybe_live=True)
        outcome, unsure = PublishOutcome.transient(reason), True  # reconcile before anything is sent again
    task.state = context.state  # what the platform saved, and what it remembered (committed with the outcome)
    task.maybe_live = unsure or outcome.maybe_live
    return _record(runtime, task, outcome)


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


def _record(runtime: Runtime, task: PublishTask, outcome: PublishOutcome) -> str:
    if outcome.kind == "published":
        events.dispatch(runtime.pm, tasks.mark_published(task, outcome.platform_post_id, outcome.url))
        if task.comment_status == first_comments.PENDING:
            first_comments.enqueue(runtime, task)
        return "published"
    if outcome.kind == "pending":
        tasks.mark_waiting(task, tasks.PUBLISHING, outcome.retry_after or 5, runtime.clock.now())
        _enqueue(runtime, task)
        return "pending"
    if outcome.kind == "transient":
        if task.attempts >= tasks.MAX_ATTEMPTS:
            return _fail(runtime, task, f"Gave up after {task.attempts} attempts. Last error: {outcome.reason}",
                         task.maybe_live)
        delay = outcome.retry_after if outcome.retry_after is not None else tasks.backoff_seconds(task.attempts)
        tasks.mark_waiting(task, tasks.RETRYING, delay, runtime.clock.now(), error=outcome.reason)
        _enqueue(runtime, task)
        return "retrying"
    if outcome.kind == "unconfirmed":
        return _fail(runtime, task, outcome.reason or "The platform cannot say whether the post is live.", True)
    if outcome.account_status:
        account = _account_by_id(task.account_id)
        if account.status == "active":
            accounts.mark(runtime, account, outcome.account_status, outcome.reason or "The platform refused its token.")
    return _fail(runtime, task, outcome.reason or "The platform refused the post.", task.maybe_live)


def _fail(runtime: Runtime, task: PublishTask, reason: str, maybe_live: bool = False) -> str:
    """End the task ``failed``, or ``unconfirmed`` when an earlier attempt may be live (never sent again)."""
    if maybe_live:
        reason = f"{reason.rstrip()} An earlier attempt may have published the post, and nothing could confirm it."
        events.dispatch(runtime.pm, tasks.mark_failed(task, reason, status=tasks.UNCONFIRMED))
        return "unconfirmed"
    events.dispatch(runtime.pm, tasks.mark_failed(task, reason))
    return "failed"


def _enqueue(runtime: Runtime, task: PublishTask) -> None:
    publishing.enqueue_task(runtime, task)


def reconcile() -> dict:
    """Make sure every active task has a live job; re-enqueue those Redis lost or whose worker died.

    Also re-dispatches events that were committed but never dispatched, reconciles the registered
    work kinds (:func:`herald.work.reconcile`; counts per kind under ``work``), re-enqueues lost
    first comments (:func:`herald.first_comments.reconcile`), and reconciles background jobs
    (:func:`herald.background.reconcile`: lost queued ones run, interrupted running ones fail). Runs
    periodically (RQ cron). Returns counts for the log.
    """
    runtime = for_jobs()
    now = runtime.clock.now()
    counts = {"checked": 0, "enqueued": 0}
    with db.connection_context():
        active = tasks.active_tasks()
        # A job running past the lease lost its worker before it claimed the task (a claimed task's
        # lease says the same, sooner): no live publish job runs that long (job_timeout < lease).
        alive = queue.alive_jobs(runtime.redis, [queue.task_job_id(task.id, task.step) for task in active],
                                 running_limit=runtime.config.task_lease_seconds, now=now)
        for task in active:
            counts["checked"] += 1
            lease_expired = task.lease_until is not None and task.lease_until < now
            if task.lease_until is not None and not lease_expired:
                continue  # a worker holds it right now
            if not lease_expired and queue.task_job_id(task.id, task.step) in alive:
                continue
            step = tasks.bump_step(task)
            if publishing.enqueue_task(runtime, task, step):
                counts["enqueued"] += 1
        IdempotencyRecord.delete().where(IdempotencyRecord.expires_at < now).execute()
        counts["events_redispatched"] = redispatch_events(runtime, now)
        counts["work"] = work.reconcile(runtime)
        counts["background_jobs"] = background.reconcile(runtime.redis, now)
        counts["first_comments"] = first_comments.reconcile(runtime, now)
    if counts["enqueued"]:
        log.info("reconciler re-enqueued %s of %s active tasks", counts["enqueued"], counts["checked"])
    return counts


def redispatch_events(runtime: Runtime, now: dt.datetime, limit: int = 1000) -> int:
    """Dispatch events committed but never dispatched (the web process died, say); returns how many.

    Only events older than :data:`EVENT_DISPATCH_GRACE_SECONDS` are taken, so an event whose
    request is dispatching it right now is left alone. Listeners may hear an event twice.
    """
    event_dispatch_marks.write_owed()  # what this process dispatched but has not marked yet is not lost
    cutoff = now - dt.timedelta(seconds=EVENT_DISPATCH_GRACE_SECONDS)
    rows = list(Event.select().where(Event.dispatched_at.is_null() & (Event.created_at < cutoff))
                .order_by(Event.id).limit(limit))
    events.dispatch(runtime.pm, [events.DomainEvent(row.id, row.type, row.workspace_id, row.data, row.created_at)
                               for row in rows])
    if rows:
        log.info("reconciler re-dispatched %s events", len(rows))
    return len(rows)


def check_tokens() -> dict:
    """Re-check the token health of every connected account (RQ cron)."""
    runtime = for_jobs()
    counts: dict[str, int] = {}
    with db.connection_context():
        for account in Account.select().where(Account.status.in_(["active", "expired"])):
            health = accounts.check_health(runtime, account)
            label = health.status if health else "unchecked"
            counts[label] = counts.get(label, 0) + 1
    return counts


def pull_engagement() -> dict:
    """Pull engagement from the platforms for posts published in the last days (RQ cron)."""
    runtime = for_jobs()
    with db.connection_context():
        return pull.pull(runtime, runtime.config.engagement_pull_days)
