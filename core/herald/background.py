"""Background jobs with a status a client can poll (``GET /api/jobs/<id>``).

:func:`start` writes a :class:`~herald.models.BackgroundJob` row (``job_…`` id, ``queued``) and
enqueues :func:`run` on RQ's ``default`` queue with the JSON serializer; :func:`run` marks the row
``running``, calls the job's function with the runtime and the keywords ``workspace_id``, ``job_id``
and those given to :func:`start`, and stores what it returned (JSON) as the result, or its error:
``queued → running → succeeded | failed``.

A function that raises :class:`herald.errors.HeraldError` fails the job with that code and
message. Anything else fails it with ``internal_error`` (logged); such jobs are not retried,
because an AI call that already ran would be paid for twice.

The row is the source of truth. :func:`reconcile` (run by ``herald cron`` through
:func:`herald.jobs.reconcile`) re-enqueues ``queued`` jobs whose RQ job Redis lost, and fails
``running`` jobs whose worker is gone with ``job_interrupted`` (never running them again), releasing
the plan slot their AI call had reserved. A running job stamps a pulse in Redis every 10 s, so a
worker killed mid-job is noticed within a minute, not when RQ lets its worker key expire (the job
timeout, 15 minutes).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import importlib
import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import redis
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from . import ai_usage, queue
from .clock import Clock, epoch_seconds
from .errors import HeraldError, NotFound
from .models import BackgroundJob, db, isoformat, write_transaction
from .runtime import Runtime, for_jobs

log = logging.getLogger("herald.background")

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
JOB_TIMEOUT = 15 * 60  # seconds; an AI call with its retries fits well inside
# A job row is committed before its RQ job is enqueued: give start() this long before a queued row
# without an RQ job counts as lost.
ENQUEUE_GRACE = dt.timedelta(seconds=30)
# A worker enforces the job's timeout even when Redis lost the job's record, so a running job that
# Redis forgot and that started longer ago than this has no worker any more.
LOST_RUNNING_AFTER = dt.timedelta(seconds=JOB_TIMEOUT + 60)
RECONCILE_BATCH = 1000
# While a job runs, its process stamps a pulse key every PULSE_EVERY seconds. RQ keeps a worker's key
# alive for the whole job timeout (15 min) however the job is doing, so the pulse is what tells a
# worker killed mid-job from a slow AI call within a minute. A job whose pulse is older than
# PULSE_STALE has no process any more. A job started without a pulse (by an older Herald) is judged
# by its worker's key alone.
PULSE_EVERY = 10
PULSE_STALE = 45
PULSE_PREFIX = "herald:job-pulse:"
INTERRUPTED = "job_interrupted"
WAITING = frozenset({JobStatus.QUEUED.value, JobStatus.SCHEDULED.value, JobStatus.DEFERRED.value})

_current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("herald_background_job", default=None)


def new_job_id() -> str:
    """A public job id: ``job_`` and 24 random URL-safe characters."""
    return "job_" + secrets.token_urlsafe(18)


def _path_of(function: Callable | str) -> str:
    if isinstance(function, str):
        return function
    path = f"{function.__module__}.{function.__qualname__}"
    if "<" in path:
        raise ValueError(f"{path} cannot run in the background: use a module-level function")
    return path


def _resolve(path: str) -> Callable:
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def current_job_id() -> str | None:
    """The id of the background job running in this context (None outside jobs)."""
    return _current_job.get()


def rq_job_id(job_id: str) -> str:
    """The RQ job id of background job ``job_id``."""
    return f"herald-{job_id}"


def start(runtime: Runtime, workspace_id: int, kind: str, function: Callable | str, **kwargs: Any) -> BackgroundJob:
    """Record a job and enqueue it; ``function(runtime, workspace_id=…, job_id=…, **kwargs)`` runs on a worker.

    ``function`` is a module-level function (or its dotted path); ``kwargs`` must be JSON values
    (ids, strings, numbers). When Redis cannot take the job, the row is marked failed and 503
    ``queue_unavailable`` is raised.
    """
    connection = runtime.redis
    path = _path_of(function)
    json.dumps(kwargs)  # fail here, in the request, rather than in the worker
    with write_transaction():
        job = BackgroundJob.create(id=new_job_id(), workspace=workspace_id, kind=kind, function=path, params=kwargs,
                                   status=QUEUED, created_at=runtime.clock.now())
    try:
        _enqueue(connection, job)
    except redis.RedisError as exc:
        _finish(job.id, FAILED, runtime.clock.now(), error_code="queue_unavailable",
                error=f"The job could not be queued: {exc}", was=QUEUED)
        raise HeraldError("The job queue is unavailable right now; nothing was started. Try again shortly.",
                          code="queue_unavailable", status=503) from None
    return job


def _enqueue(connection: redis.Redis, job: BackgroundJob) -> None:
    queue.get_queue(connection, queue.DEFAULT_QUEUE).enqueue(
        "herald.background.run", job.id, job_id=rq_job_id(job.id), job_timeout=JOB_TIMEOUT, result_ttl=600,
        failure_ttl=7 * 86400, description=f"{job.kind} ({job.id})")


def _finish(job_id: str, status: str, now: dt.datetime, *, result: Any = None, error_code: str | None = None,
            error: str | None = None, was: str = RUNNING) -> None:
    # Only from ``was``: a job the reconciler already failed as interrupted stays failed.
    with write_transaction():
        (BackgroundJob.update(status=status, result=result, error_code=error_code, error=error, finished_at=now)
         .where((BackgroundJob.id == job_id) & (BackgroundJob.status == was)).execute())


def run(job_id: str) -> str:
    """Run a queued job (the RQ job function); returns its final status."""
    runtime = for_jobs()
    clock = runtime.clock
    with db.connection_context():
        with write_transaction():
            claimed = (BackgroundJob.update(status=RUNNING, started_at=clock.now())
                       .where((BackgroundJob.id == job_id) & (BackgroundJob.status == QUEUED)).execute())
        if not claimed:
            return "nothing to do"
        job = BackgroundJob.get_by_id(job_id)
        token = _current_job.set(job_id)  # AI calls made by the job record it (see reconcile)
        pulse = _Pulse(job_id, clock)
        try:
            result = _resolve(job.function)(runtime, workspace_id=job.workspace_id, job_id=job.id,
                                            **(job.params or {}))
            json.dumps(result)
        except HeraldError as exc:
            _finish(job_id, FAILED, clock.now(), error_code=exc.code, error=exc.message)
            return FAILED
        except Exception as exc:
            log.exception("background job %s (%s) failed", job_id, job.kind)
            _finish(job_id, FAILED, clock.now(), error_code="internal_error",
                    error=f"The job failed unexpectedly ({type(exc).__name__}); quote job id {job_id} "
                          "when reporting it.")
            return FAILED
        finally:
            pulse.stop()
            _current_job.reset(token)
        _finish(job_id, SUCCEEDED, clock.now(), result=result)
        return SUCCEEDED


def pulse_key(job_id: str) -> str:
    """The Redis key a running job stamps with the time (the clock's, in seconds since the epoch) to show it is
    alive."""
    return PULSE_PREFIX + job_id


class _Pulse:
    """Stamps the job's pulse key now and every :data:`PULSE_EVERY` seconds, from a daemon thread, until
    :meth:`stop`. Only inside an RQ job (the worker's connection); a Redis error skips one stamp."""

    def __init__(self, job_id: str, clock: Clock):
        self.clock = clock
        rq_job = get_current_job()
        self.connection = rq_job.connection if rq_job is not None else None
        self.key = pulse_key(job_id)
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        if self.connection is None:
            return
        self._stamp()
        self.thread = threading.Thread(target=self._beat, name=f"pulse {job_id}", daemon=True)
        self.thread.start()

    def _stamp(self) -> None:
        try:
            self.connection.set(self.key, f"{self.clock.timestamp():.3f}", ex=JOB_TIMEOUT + 120)
        except redis.RedisError as exc:  # the reconciler then judges by the worker's key
            log.warning("could not stamp the pulse of %s: %s", self.key, exc)

    def _beat(self) -> None:
        while not self.stopped.wait(PULSE_EVERY):
            self._stamp()

    def stop(self) -> None:
        """Stop stamping and remove the key (the row's status says the rest)."""
        self.stopped.set()
        if self.thread is not None:  # a stamp in flight lands before the key is removed, not after
            self.thread.join(timeout=5)
        if self.connection is not None:
            with contextlib.suppress(redis.RedisError):
                self.connection.delete(self.key)


def reconcile(connection: redis.Redis, now: dt.datetime) -> dict[str, int]:
    """Bring unfinished jobs back in line with Redis; returns counts (``requeued``, ``interrupted``).

    A ``queued`` job whose RQ job is gone (Redis flushed or restarted) or ended without claiming the
    row is enqueued again: nothing of it ran yet. A ``running`` job is failed with ``job_interrupted``
    and not run again (an AI call it may have made would be paid twice), releasing the plan slot that
    call reserved, when its process stopped stamping its pulse (:data:`PULSE_STALE`), when its worker
    no longer exists (the worker's key expired without heartbeats), when its RQ job ended without
    recording an outcome, or when Redis lost its RQ job and it started longer ago than the job timeout
    (a live worker would have stopped it by then). Call it inside a database connection.
    """
    unfinished = list(BackgroundJob.select(BackgroundJob.id, BackgroundJob.kind, BackgroundJob.status,
                                           BackgroundJob.created_at, BackgroundJob.started_at)
                      .where(BackgroundJob.status.in_([QUEUED, RUNNING]))
                      .order_by(BackgroundJob.created_at).limit(RECONCILE_BATCH))
    states = queue.job_states(connection, [rq_job_id(job.id) for job in unfinished])
    live = queue.live_workers(connection, {worker for status, worker in states.values()
                                           if status == JobStatus.STARTED.value and worker})
    running = [job.id for job in unfinished if job.status == RUNNING]
    stamps = connection.mget([pulse_key(job_id) for job_id in running]) if running else []
    pulses = dict(zip(running, stamps, strict=True))
    counts = {"requeued": 0, "interrupted": 0}
    for job in unfinished:
        status, worker = states[rq_job_id(job.id)]
        if job.status == QUEUED:
            if status in WAITING or status == JobStatus.STARTED.value or job.created_at > now - ENQUEUE_GRACE:
                continue
            _requeue(connection, job, status)
            counts["requeued"] += 1
        elif _worker_gone(job, status, worker, live, now) or _pulse_stale(pulses.get(job.id), now):
            counts["interrupted"] += _interrupt(job, _lost_because(status, worker), now)
    if counts["requeued"] or counts["interrupted"]:
        log.info("background jobs: re-enqueued %s lost, failed %s interrupted", counts["requeued"],
                 counts["interrupted"])
    return counts


def _worker_gone(job: BackgroundJob, status: str | None, worker: str | None, live: set[str],
                 now: dt.datetime) -> bool:
    if status is None:  # Redis forgot the job: only time tells whether a worker still runs it
        return job.started_at is None or job.started_at < now - LOST_RUNNING_AFTER
    if status == JobStatus.STARTED.value:
        return worker not in live
    return status not in WAITING  # ended (finished, failed, stopped) without recording an outcome


def _pulse_stale(stamp: bytes | None, now: dt.datetime) -> bool:
    """Whether the job's process stopped stamping its pulse (no stamp: it never had one, or it ended)."""
    if stamp is None:
        return False
    return epoch_seconds(now) - float(stamp) > PULSE_STALE


def _lost_because(status: str | None, worker: str | None) -> str:
    if status is None:
        return "the queue lost it"
    if status == JobStatus.STARTED.value:
        return f"its worker ({worker or 'unknown'}) stopped"
    return f"its queue entry ended ({status}) without a result"


def _requeue(connection: redis.Redis, job: BackgroundJob, status: str | None) -> None:
    if status is not None:  # an RQ job that ended without running ours: replace it, registries and all
        with contextlib.suppress(NoSuchJobError):
            Job.fetch(rq_job_id(job.id), connection=connection, serializer=queue.JSONSerializer).delete()
    _enqueue(connection, job)


def _interrupt(job: BackgroundJob, why: str, now: dt.datetime) -> int:
    message = (f"The job was interrupted: {why} before it finished (a worker restart or a Redis restart). "
               "It was not run again, because an AI call it may already have made would be paid twice; "
               "start it again if you still want the result.")
    with write_transaction():
        changed = (BackgroundJob.update(status=FAILED, error_code=INTERRUPTED, error=message, finished_at=now)
                   .where((BackgroundJob.id == job.id) & (BackgroundJob.status == RUNNING)).execute())
        if changed:
            ai_usage.release_job(job.id, f"{INTERRUPTED}: {why}")
    if changed:
        log.warning("background job %s (%s) interrupted: %s", job.id, job.kind, why)
    return changed


def get_job(workspace_id: int, job_id: str) -> BackgroundJob:
    """The workspace's job; 404 for an unknown id or another workspace's job."""
    job = BackgroundJob.get_or_none((BackgroundJob.id == job_id) & (BackgroundJob.workspace == workspace_id))
    if job is None:
        raise NotFound(f"No job {job_id} in this workspace.")
    return job


def serialize(job: BackgroundJob) -> dict:
    """The JSON shape of a job."""
    return {
        "id": job.id, "kind": job.kind, "status": job.status, "result": job.result,
        "error": {"code": job.error_code, "message": job.error} if job.status == FAILED else None,
        "created_at": isoformat(job.created_at), "started_at": isoformat(job.started_at),
        "finished_at": isoformat(job.finished_at),
    }
