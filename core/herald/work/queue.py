"""RQ queues with the JSON serializer (job arguments are ids and plain values, never pickles).

The core's queues are ``publish`` (one job per publish-task step) and ``default`` (periodic
housekeeping: the reconciler, token health checks); a plugin's work kind may name a queue of its
own (the webhooks plugin's deliveries: ``webhooks``), and Herald's workers take that one too
(:func:`queue_names`). Every job of durable
work has a unique id (:func:`herald.work.job_id`); the database row is the source of truth, so a job
lost with Redis is re-created by the reconciler from the row.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import redis
from rq import Queue, Retry, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

if TYPE_CHECKING:  # the runtime builds on the work kernel
    from ..runtime import Runtime

log = logging.getLogger("herald.work.queue")

PUBLISH_QUEUE = "publish"
DEFAULT_QUEUE = "default"
CORE_QUEUES = (PUBLISH_QUEUE, DEFAULT_QUEUE)
ALIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED})

# Unexpected exceptions in a job (the database went away, a bug) are retried by RQ itself; platform
# outcomes never raise, they are recorded on the task and scheduled by Herald.
CRASH_RETRY = Retry(max=3, interval=[5, 30, 120])


def queue_names(runtime: Runtime) -> tuple[str, ...]:
    """Every queue jobs go to: the core's, then those the registered work kinds name (by name).

    ``herald run`` starts one worker per queue: a worker takes jobs from its queues in order, so one
    worker on every queue would run a whole publish backlog before a webhook delivery, and a
    delivery stuck on a slow receiver (up to 15 s) or a long AI job would hold up posts that are due.
    """
    declared = {registered.obj.queue for registered in runtime.registry.work_kinds.values()}
    return CORE_QUEUES + tuple(sorted(declared - set(CORE_QUEUES)))


def get_queue(connection: redis.Redis, name: str = DEFAULT_QUEUE) -> Queue:
    """The named queue, using the JSON serializer."""
    return Queue(name, connection=connection, serializer=JSONSerializer)


def make_worker(connection: redis.Redis, names, worker_class=Worker, **kwargs) -> Worker:
    """A worker for the queues ``names`` using the JSON serializer (``SimpleWorker`` in tests)."""
    queues = [get_queue(connection, name) for name in names]
    return worker_class(queues, connection=connection, serializer=JSONSerializer, **kwargs)


def _on_their_queues(connection: redis.Redis, jobs: list[Job]) -> set[str]:
    """The ids of ``jobs`` (all ``queued``) that are on their queue, asked of Redis by id (``LPOS``, one
    round trip for all), not by reading whole queues; a Redis older than 6.0.6 (no ``LPOS``) has
    each queue read once instead."""
    pipeline = connection.pipeline(transaction=False)
    for job in jobs:
        pipeline.lpos(get_queue(connection, job.origin).key, job.id)
    try:
        positions = pipeline.execute()
    except redis.ResponseError:
        waiting = {name: set(get_queue(connection, name).get_job_ids()) for name in {job.origin for job in jobs}}
        return {job.id for job in jobs if job.id in waiting[job.origin]}
    return {job.id for job, position in zip(jobs, positions, strict=True) if position is not None}


def _scheduled(connection: redis.Redis, queue_name: str, job_ids: list[str]) -> set[str]:
    """Which of ``job_ids`` wait in the schedule of ``queue_name`` (membership of its
    ``ScheduledJobRegistry``, as ``job_id in registry`` asks it, for all of them in one command,
    ``ZMSCORE``: one command instead of one ``ZSCORE`` each saves the client's encoding and parsing of a
    command a job, most of a tick's CPU with a hundred rows due; a Redis older than 6.2 is asked
    with one ``ZSCORE`` a job in one pipeline)."""
    key = ScheduledJobRegistry(queue=get_queue(connection, queue_name)).key
    try:
        scores = connection.zmscore(key, job_ids)
    except redis.ResponseError:
        pipeline = connection.pipeline(transaction=False)
        for job_id in job_ids:
            pipeline.zscore(key, job_id)
        scores = pipeline.execute()
    return {job_id for job_id, score in zip(job_ids, scores, strict=True) if score is not None}


def job_states(connection: redis.Redis, job_ids: list[str], *, queue_name: str = PUBLISH_QUEUE,
               running_limit: float | None = None, now: dt.datetime | None = None) -> tuple[set[str], set[str]]:
    """Which of ``job_ids`` (jobs of ``queue_name``) Redis has at all, and which of those are alive:
    waiting, scheduled or running.

    Those in the queue's schedule (most of the work due within the lookahead) are alive without
    reading their jobs; only the others are read whole (reading a job costs ten times asking the
    schedule, and the reconciler asks about every row due soon on every run).

    A job counts as waiting only while it is on its queue: a worker killed between taking a job off
    the queue and starting it leaves it ``queued`` on no queue (RQ's intermediate list), where RQ
    notices it only at its maintenance, minutes later. With ``running_limit`` (seconds), a job that
    started longer ago than that does not count either: its worker died with it (SIGKILL, a lost
    machine) and RQ would only notice after ``job_timeout`` plus its maintenance interval. It is
    measured to ``now``, the runtime's clock (required with ``running_limit``): RQ stamps a start
    by the system's clock, which is the runtime's everywhere but in tests, where a test moving its
    clock past a start is time passing for that job too. Callers pass
    a limit no live job can reach (its ``job_timeout`` and some), so a slow job is never taken for a
    dead one. A job taken for lost while a live worker was in fact starting it is harmless: callers
    give the work a new job, and the database decides which of the two does it.
    """
    if not job_ids:
        return set(), set()
    scheduled = _scheduled(connection, queue_name, job_ids)
    others = [job_id for job_id in job_ids if job_id not in scheduled]
    jobs = [job for job in Job.fetch_many(others, connection=connection, serializer=JSONSerializer)
            if job is not None] if others else []
    cutoff = None
    if running_limit is not None:
        cutoff = (now - dt.timedelta(seconds=running_limit)).replace(tzinfo=dt.UTC)
    alive, queued = set(), []
    for job in jobs:
        status = job.get_status(refresh=False)
        if status not in ALIVE_STATUSES:
            continue
        if status == JobStatus.QUEUED:
            queued.append(job)  # alive if still on its queue (asked below)
            continue
        if cutoff is not None and status == JobStatus.STARTED and job.started_at is not None \
                and job.started_at.replace(tzinfo=dt.UTC) < cutoff:
            continue  # running for longer than any live job can: its worker is gone
        alive.add(job.id)
    if queued:
        alive |= _on_their_queues(connection, queued)
    return scheduled | {job.id for job in jobs}, scheduled | alive


def enqueue_job(connection: redis.Redis, function: str, *args, job_id: str, due_at: dt.datetime | None,
                job_timeout: int, description: str, now: dt.datetime, queue_name: str = PUBLISH_QUEUE) -> bool:
    """Enqueue ``function(*args)`` on ``queue_name`` under the unique ``job_id``, at ``due_at`` (naive
    UTC) when it is later than ``now`` (the runtime's clock). False when Redis is unreachable or the
    job already exists."""
    queue = get_queue(connection, queue_name)
    options = dict(job_id=job_id, unique=True, job_timeout=job_timeout, retry=CRASH_RETRY,
                   result_ttl=600, failure_ttl=7 * 86400, description=description)
    try:
        if due_at is not None and due_at > now:
            queue.enqueue_at(due_at.replace(tzinfo=dt.UTC), function, *args, **options)
        else:
            queue.enqueue(function, *args, **options)
    except DuplicateJobError:
        return False
    except redis.RedisError as exc:
        log.warning("could not enqueue %s (the reconciler will): %s", description, exc)
        return False
    return True


def cancel_job(connection: redis.Redis, job_id: str) -> None:
    """Remove a waiting job from its queue or schedule (a no-op when there is none, or it runs)."""
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return
    except redis.RedisError as exc:
        log.warning("could not cancel job %s (it will find its work cancelled): %s", job_id, exc)
        return
    if job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        job.cancel()
        job.delete()
