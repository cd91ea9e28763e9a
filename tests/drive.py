"""Driving workers and time directly in tests: no sleeping while waiting for work."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time

from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import utcformat, utcparse

from herald import work as kernel
from herald.clock import system_now
from herald.db.models import BackgroundJob, PublishTask, db
from herald.runtime import installed_for_jobs
from herald.work import heartbeat
from herald.work.queue import QUEUE_NAMES, get_queue, make_worker
from herald.work.workers import HeraldSimpleWorker


@contextlib.contextmanager
def sql_sent():
    """Yields a list that collects every SQL statement sent to the database inside the block."""
    database, sent = db.obj, []
    execute_sql = database.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        sent.append(sql)
        return execute_sql(sql, params, *args, **kwargs)

    database.execute_sql = counting
    try:
        yield sent
    finally:
        del database.execute_sql


class CountingWorker(HeraldSimpleWorker):
    """Herald's in-process worker (what ``herald worker`` runs by default), counting the jobs it
    performed (RQ keeps its counts in Redis only)."""

    performed = 0

    def perform_job(self, *args, **kwargs):
        self.performed += 1
        return super().perform_job(*args, **kwargs)


def claim(kind: str, row_id):
    """Claim row ``row_id`` of work kind ``kind`` as a worker would, at the test's time: ``(mode, row)``
    or None (to play a worker that dies holding it)."""
    runtime = installed_for_jobs()
    return kernel.claim(kernel.kind(runtime, kind), row_id, runtime.clock.now())


def perform(kind: str, row_id, step: int) -> str:
    """Run the job of row ``row_id``'s ``step`` of work kind ``kind`` here, as a worker would."""
    return kernel.perform(installed_for_jobs(), kind, row_id, step)


def work(redis_client, max_jobs: int = 1000) -> int:
    """Run queued jobs in this process until the queues are empty; returns how many ran."""
    worker = make_worker(redis_client, QUEUE_NAMES, worker_class=CountingWorker)
    worker.work(burst=True, max_jobs=max_jobs, with_scheduler=False, logging_level="WARNING")
    return worker.performed


def release_due(redis_client, timestamp: float) -> int:
    """What RQ's scheduler does each second, at the test's time ``timestamp`` (seconds since the epoch):
    move scheduled jobs whose time has come to their queues. Returns how many moved."""
    released = 0
    for name in QUEUE_NAMES:
        queue = get_queue(redis_client, name)
        registry = ScheduledJobRegistry(queue=queue)
        for job_id in registry.get_jobs_to_schedule(timestamp):
            registry.remove(job_id)
            with contextlib.suppress(NoSuchJobError):
                queue.enqueue_job(Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer))
                released += 1
    return released


def advance(redis_client, seconds: float) -> None:
    """Move the test's clock ``seconds`` forward (the clock of the runtime its in-process workers use),
    then release the scheduled jobs that became due by it."""
    clock = installed_for_jobs().clock
    clock.advance(seconds)
    release_due(redis_client, clock.timestamp())


def catch_up_with_real_time() -> None:
    """Set the test's clock to the real time. RQ stamps the times it keeps itself (a job's start) with
    the real clock, while the test's clock stands still: a test comparing the two moves its clock
    from the real time, or a slow machine makes a job look started after the clock's "now"."""
    installed_for_jobs().clock.set(system_now())


def advance_rows(redis_client, seconds: float) -> None:
    """For crash tests only, whose workers are other processes on the real clock (which no test can
    move): make ``seconds`` pass for them by moving tasks' and background jobs' due and lease times and
    RQ's schedule and start times back, then release what became due by the real clock."""
    delta = dt.timedelta(seconds=seconds)
    with db.connection_context():
        for model in (PublishTask, BackgroundJob):
            for row in list(model.select()):  # read first: a write under an open read cannot wait for the lock
                changes = {}
                if row.due_at is not None:
                    changes[model.due_at] = row.due_at - delta
                if row.lease_until is not None:
                    changes[model.lease_until] = row.lease_until - delta
                if changes:
                    model.update(changes).where(model._meta.primary_key == row.id).execute()
    advance_queues(redis_client, seconds)


def advance_queues(redis_client, seconds: float) -> None:
    """Move RQ's clock ``seconds`` forward (scheduled jobs' times, running jobs' starts), then release
    what became due."""
    delta = dt.timedelta(seconds=seconds)
    for name in QUEUE_NAMES:
        queue = get_queue(redis_client, name)
        registry = ScheduledJobRegistry(queue=queue)
        for job_id, score in redis_client.zrange(registry.key, 0, -1, withscores=True):
            redis_client.zadd(registry.key, {job_id: score - seconds})
        for job_id in StartedJobRegistry(queue=queue).get_job_ids():  # e.g. left by a killed worker
            key = f"rq:job:{job_id}"
            started = redis_client.hget(key, "started_at")
            if started:
                redis_client.hset(key, "started_at", utcformat(utcparse(started.decode()) - delta))
    release_due(redis_client, time.time())


def scheduled_count(redis_client) -> int:
    """How many jobs wait in the scheduled registries."""
    return sum(len(ScheduledJobRegistry(queue=get_queue(redis_client, name))) for name in QUEUE_NAMES)


def past_last_heartbeat(clock, redis_client, seconds: float) -> None:
    """Set the test's ``clock`` ``seconds`` past the latest heartbeat any worker wrote (a worker in
    another process stamps its beats by the system's time)."""
    latest = max(json.loads(raw)["at"] for raw in redis_client.hvals(heartbeat.REGISTRY))
    clock.set(dt.datetime.fromtimestamp(latest + seconds, dt.UTC))
