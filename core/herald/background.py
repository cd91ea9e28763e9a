"""Background jobs with a status a client can poll (``GET /api/jobs/<id>``).

:func:`start` writes a :class:`~herald.models.BackgroundJob` row (``job_…`` id, ``queued``) and
enqueues :func:`run` on RQ's ``default`` queue with the JSON serializer; :func:`run` marks the row
``running``, calls the job's function with ``workspace_id``, ``job_id`` and the keyword arguments
given to :func:`start`, and stores what it returned (JSON) as the result, or its error:
``queued → running → succeeded | failed``.

A function that raises :class:`herald.errors.HeraldError` fails the job with that code and
message. Anything else fails it with ``internal_error`` (logged); such jobs are not retried,
because an AI call that already ran would be paid for twice.
"""

from __future__ import annotations

import importlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import redis

from . import queue
from .errors import HeraldError, NotFound
from .models import BackgroundJob, db, isoformat, utcnow, write_transaction

log = logging.getLogger("herald.background")

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
JOB_TIMEOUT = 15 * 60  # seconds; an AI call with its retries fits well inside


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


def _redis() -> redis.Redis:
    from flask import current_app, has_app_context

    if has_app_context() and "herald" in current_app.extensions:
        return current_app.extensions["herald"].redis
    from .jobs import runtime

    return runtime().redis


def start(workspace_id: int, kind: str, function: Callable | str, **kwargs: Any) -> BackgroundJob:
    """Record a job and enqueue it; ``function(workspace_id=…, job_id=…, **kwargs)`` runs on a worker.

    ``function`` is a module-level function (or its dotted path); ``kwargs`` must be JSON values
    (ids, strings, numbers). When Redis cannot take the job, the row is marked failed and 503
    ``queue_unavailable`` is raised.
    """
    connection = _redis()
    path = _path_of(function)
    json.dumps(kwargs)  # fail here, in the request, rather than in the worker
    with write_transaction():
        job = BackgroundJob.create(id=new_job_id(), workspace=workspace_id, kind=kind, function=path, params=kwargs,
                                   status=QUEUED, created_at=utcnow())
    try:
        queue.get_queue(connection, queue.DEFAULT_QUEUE).enqueue(
            "herald.background.run", job.id, job_id=f"herald-{job.id}", job_timeout=JOB_TIMEOUT, result_ttl=600,
            failure_ttl=7 * 86400, description=f"{kind} ({job.id})")
    except redis.RedisError as exc:
        _finish(job.id, FAILED, error_code="queue_unavailable", error=f"The job could not be queued: {exc}")
        raise HeraldError("The job queue is unavailable right now; nothing was started. Try again shortly.",
                          code="queue_unavailable", status=503) from None
    return job


def _finish(job_id: str, status: str, *, result: Any = None, error_code: str | None = None,
            error: str | None = None) -> None:
    with write_transaction():
        (BackgroundJob.update(status=status, result=result, error_code=error_code, error=error, finished_at=utcnow())
         .where(BackgroundJob.id == job_id).execute())


def run(job_id: str) -> str:
    """Run a queued job (the RQ job function); returns its final status."""
    with db.connection_context():
        with write_transaction():
            claimed = (BackgroundJob.update(status=RUNNING, started_at=utcnow())
                       .where((BackgroundJob.id == job_id) & (BackgroundJob.status == QUEUED)).execute())
        if not claimed:
            return "nothing to do"
        job = BackgroundJob.get_by_id(job_id)
        try:
            result = _resolve(job.function)(workspace_id=job.workspace_id, job_id=job.id, **(job.params or {}))
            json.dumps(result)
        except HeraldError as exc:
            _finish(job_id, FAILED, error_code=exc.code, error=exc.message)
            return FAILED
        except Exception as exc:
            log.exception("background job %s (%s) failed", job_id, job.kind)
            _finish(job_id, FAILED, error_code="internal_error",
                    error=f"The job failed unexpectedly ({type(exc).__name__}); quote job id {job_id} "
                          "when reporting it.")
            return FAILED
        _finish(job_id, SUCCEEDED, result=result)
        return SUCCEEDED


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
