"""Background jobs with a status a client can poll (``GET /api/jobs/<id>``): the work kind ``background``.

:func:`start` writes a :class:`~herald.db.models.BackgroundJob` row (``job_…`` id, ``queued``) and
enqueues it through the work kernel (:mod:`herald.work`); the kernel claims the row under a lease
(``running``) and calls :func:`run_job`, which calls the function registered for the job's kind
(:func:`work_kind`: the core registers ``populate_hooks``, ``analyze_competitor`` and
``generate_template``) with the runtime and the keywords ``workspace_id``, ``job_id`` and those
given to :func:`start`, and stores what it returned (JSON) as the result, or its error:
``queued → running → succeeded | failed``. A row names its kind, never a function by its module
path, so moving code never strands a queued job.

A function that raises :class:`herald.errors.HeraldError` fails the job with that code and
message. Anything else fails it with ``internal_error`` (logged). The one error tried again is
:class:`herald.ai.provider.AIUnavailable` (the provider was overloaded or rate-limited: nothing was
generated, nothing paid): the job is queued again after the provider's ``Retry-After`` or the
kind's backoff (:data:`RETRY`), never by sleeping in the worker.

The row is the truth. While the function runs the kernel renews the lease every
:data:`RENEW_EVERY` seconds, so a worker killed mid-job is noticed within :data:`LEASE_SECONDS`,
not when RQ lets its worker key expire (the job timeout, 15 minutes). The kernel's reconciler
(``herald cron``) gives a lost queued job a new RQ job, and a job whose lease expired is handed to
:func:`recover_job`: it is failed with ``job_interrupted`` and never run again (an AI call it may
have made would be paid twice), releasing the plan slot that call reserved.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from .. import work
from ..db.models import BackgroundJob, isoformat, write_transaction
from ..errors import HeraldError, NotFound
from ..plans import ai_usage
from ..runtime import Runtime
from .provider import AIUnavailable

log = logging.getLogger("herald.ai.background")

KIND_NAME = "background"  # the work kind's name
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
JOB_TIMEOUT = 15 * 60  # seconds; an AI call fits well inside
# The lease a running job holds, renewed every RENEW_EVERY seconds while its function runs: a lease
# that ran out belonged to a worker that died (RQ keeps a dead worker's key for the whole job timeout).
RENEW_EVERY = 10
LEASE_SECONDS = 45
# The usual advice of AI APIs for 429/503: back off exponentially from a second; a provider asking for more
# than a minute is not waited for (someone polls for the result).
RETRY = work.RetryPolicy(base=1.0, cap=30.0, max_attempts=5, floor=1.0, max_retry_after=60.0)
INTERRUPTED = "job_interrupted"
# How many times a restartable job whose worker died runs again before it fails as interrupted (a job
# that kills its worker every time, by running out of memory, say, must not run forever).
RESTARTS = 2
# The API keeps its four statuses: a job to be tried again is queued again, and nothing is ever
# "waiting" (no job hands work over to be checked) or "unconfirmed" (a job that may have run is failed).
STATUSES = work.Statuses(queued=QUEUED, running=RUNNING, retrying=QUEUED, waiting="waiting", done=SUCCEEDED,
                         failed=FAILED, unconfirmed=FAILED)

_current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("herald_background_job", default=None)


def new_job_id() -> str:
    """A public job id: ``job_`` and 24 random URL-safe characters."""
    return "job_" + secrets.token_urlsafe(18)


def current_job_id() -> str | None:
    """The id of the background job running in this context (None outside jobs)."""
    return _current_job.get()


def functions(runtime: Runtime) -> Mapping[str, Callable]:
    """The function each kind of background job runs, as the ``background`` work kind was registered."""
    return work.kind(runtime, KIND_NAME).run.by_kind


def start(runtime: Runtime, workspace_id: int, kind: str, **kwargs: Any) -> BackgroundJob:
    """Record a job of ``kind`` and enqueue it; the kind's function (:func:`functions`) runs on a
    worker as ``function(runtime, workspace_id=…, job_id=…, **kwargs)``.

    ``kwargs`` must be JSON values (ids, strings, numbers). When Redis cannot take the job, the row
    is marked failed and 503 ``queue_unavailable`` is raised.
    """
    if kind not in functions(runtime):
        raise ValueError(f"no background job kind {kind!r} is registered")
    json.dumps(kwargs)  # fail here, in the request, rather than in the worker
    with write_transaction():
        job = BackgroundJob.create(id=new_job_id(), workspace=workspace_id, kind=kind, params=kwargs,
                                   status=QUEUED, created_at=runtime.clock.now())
    # A new row's job cannot exist yet: False means Redis refused it.
    if not work.enqueue(runtime, work.kind(runtime, KIND_NAME), job):
        with write_transaction():
            (BackgroundJob.update(status=FAILED, error_code="queue_unavailable", finished_at=runtime.clock.now(),
                                  error="The job could not be queued: the job queue is unavailable.")
             .where((BackgroundJob.id == job.id) & (BackgroundJob.status == QUEUED) & (BackgroundJob.step == 0))
             .execute())
        raise HeraldError("The job queue is unavailable right now; nothing was started. Try again shortly.",
                          code="queue_unavailable")
    return job


class JobFunctions:
    """The ``background`` kind's handler: runs the function registered for each job's kind.

    ``restartable`` names the kinds whose function may simply run again from the start when its
    worker died (it only reads and writes a file of its own, as an export does): their recovery
    reruns them instead of failing them with ``job_interrupted``.
    """

    def __init__(self, by_kind: Mapping[str, Callable], restartable: frozenset[str] = frozenset()):
        self.by_kind = dict(by_kind)
        self.restartable = frozenset(restartable)

    def __call__(self, runtime: Runtime, job: BackgroundJob, mode: str) -> work.Outcome:
        """One run of ``job`` (see :func:`run_job`)."""
        function = self.by_kind.get(job.kind)
        if function is None:  # the job outlived the code that knew its kind
            return work.Outcome.failed(f"No background job of kind {job.kind!r} can run on this server.",
                                       error_code="unknown_job_kind")
        return run_job(runtime, job, function)


def run_job(runtime: Runtime, job: BackgroundJob, function: Callable) -> work.Outcome:
    """Run ``function`` for ``job`` once (see the module docstring)."""
    if job.started_at is None:  # the API shows when the job first started, while it runs
        now = runtime.clock.now()
        with write_transaction():
            BackgroundJob.update(started_at=now).where(BackgroundJob.id == job.id).execute()
        job.started_at = now
    token = _current_job.set(job.id)  # AI calls made by the job record it (see recover_job)
    try:
        result = function(runtime, workspace_id=job.workspace_id, job_id=job.id, **(job.params or {}))
        json.dumps(result)
    except AIUnavailable as exc:  # nothing generated, nothing paid: try the job again later
        retry_after = work.parse_retry_after(exc.retry_after, runtime.clock.now())
        asked = f" It asked to wait {retry_after:g} s." if retry_after is not None else ""
        return work.Outcome.retry(exc.message + asked, retry_after, error_code=exc.code)
    except HeraldError as exc:
        return work.Outcome.failed(exc.message, error_code=exc.code)
    except Exception as exc:
        log.exception("background job %s (%s) failed", job.id, job.kind)
        return work.Outcome.failed(f"The job failed unexpectedly ({type(exc).__name__}); quote job id {job.id} "
                                   "when reporting it.", error_code="internal_error")
    finally:
        _current_job.reset(token)
    return work.Outcome.done(result=result, error_code=None, error=None)


def recover_job(runtime: Runtime, job: BackgroundJob, mode: str) -> work.Outcome:
    """The kind's recovery: the worker running ``job`` died (its lease ran out). A restartable kind
    (see :class:`JobFunctions`) runs again from the start; any other fails with ``job_interrupted``,
    never running again (:func:`settle` frees the plan slot its call held)."""
    functions = work.kind(runtime, KIND_NAME).run
    if job.kind in functions.restartable and job.attempts <= RESTARTS + 1:
        log.warning("background job %s (%s) lost its worker; running it again from the start", job.id, job.kind)
        return functions(runtime, job, "run")
    return work.Outcome.failed(
        "The job was interrupted: its worker stopped before it finished (a worker restart, a Redis restart or "
        "a lost machine). It was not run again, because an AI call it may already have made would be paid "
        "twice; start it again if you still want the result.", error_code=INTERRUPTED)


def settle(runtime: Runtime, job: BackgroundJob, outcome: work.Outcome, locked: None) -> None:
    """With the outcome, in its transaction: a finished job gets its ``finished_at``, and an
    interrupted one releases the AI generations it still held reserved."""
    if job.status not in (SUCCEEDED, FAILED):
        return
    now = runtime.clock.now()
    BackgroundJob.update(finished_at=now).where(BackgroundJob.id == job.id).execute()
    job.finished_at = now
    if outcome.changes.get("error_code") == INTERRUPTED:
        released = ai_usage.release_job(job.id, f"{INTERRUPTED}: its worker stopped")
        log.warning("background job %s (%s) interrupted; %s reserved generations released", job.id, job.kind,
                    released)


def work_kind(by_kind: Mapping[str, Callable], restartable: frozenset[str] = frozenset()) -> work.WorkKind:
    """The ``background`` work kind, running ``by_kind[job.kind]`` for each job (module-level
    functions taking ``runtime, *, workspace_id, job_id`` and the job's parameters); the kinds in
    ``restartable`` run again when their worker died (see :class:`JobFunctions`)."""
    return work.WorkKind(name=KIND_NAME, model=BackgroundJob, run=JobFunctions(by_kind, restartable),
                         recover=recover_job,
                         settle=settle, job_timeout=JOB_TIMEOUT, lease_seconds=LEASE_SECONDS,
                         renew_every=RENEW_EVERY, retry=RETRY, statuses=STATUSES, error_field="error")


def get_job(workspace_id: int, job_id: str) -> BackgroundJob:
    """The workspace's job; 404 for an unknown id or another workspace's job."""
    job = BackgroundJob.get_or_none((BackgroundJob.id == job_id) & (BackgroundJob.workspace == workspace_id))
    if job is None:
        raise NotFound(f"No job {job_id} in this workspace.")
    return job


def serialize(job: BackgroundJob) -> dict:
    """The JSON shape of a job."""
    return {
        "id": job.id, "kind": job.kind, "status": job.status, "progress": job.progress, "result": job.result,
        "error": {"code": job.error_code, "message": job.error} if job.status == FAILED else None,
        "created_at": isoformat(job.created_at), "started_at": isoformat(job.started_at),
        "finished_at": isoformat(job.finished_at),
    }
