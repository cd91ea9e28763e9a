"""The work kernel: one claim, one way to record an outcome and schedule what follows, one reconciler.

The row is the truth; RQ only delivers. A job ``herald.work.entry.perform(kind, row id, step)``
*claims* its row (a conditional ``UPDATE … RETURNING``: the database decides, so two jobs never
both hold it) with a lease, calls the kind's handler, and records the :class:`Outcome` under a
fence (the row still at the step its claim gave it): a worker whose lease ran out and whose row was
taken over writes nothing. Every transition bumps ``step``, and a job is named after the row's step
(:func:`herald.work.kinds.job_id`), so no job id is ever used twice. The reconciler
(:mod:`herald.work.reconciler`) gives a new job to every active row whose job Redis lost or whose
worker died (its lease expired); the claim
hands a row with an expired lease to the kind's handler in mode ``recover``, which finds out what
the dead worker did before anything is done again. :func:`enqueue` hands RQ only work due within the
:func:`lookahead`; the reconciler hands over the rest as it comes due.

Functions take the ``runtime`` (``.redis``, ``.registry``, ``.pm``, ``.clock.now()``): every "now"
comes from its clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import peewee as pw

from .. import events
from ..db.models import db, write_transaction
from ..db.prepared_statements import Prepared
from . import queue
from .kinds import Outcome, WorkKind, job_id

log = logging.getLogger("herald.work")

ENTRY = "herald.work.entry.perform"  # the RQ job function
# RQ's scheduler keeps whole seconds and may hand a job over up to a second before its time.
SCHEDULER_SLACK = dt.timedelta(seconds=2)
# A job started longer ago than its kind's job_timeout and this has no worker any more.
RUNNING_MARGIN_SECONDS = 30


def kinds(runtime) -> dict[str, WorkKind]:
    """The registered work kinds by name (``register_work_kinds``)."""
    return {name: registered.obj for name, registered in runtime.registry.work_kinds.items()}


def kind(runtime, name: str) -> WorkKind:
    """The registered work kind ``name``."""
    return runtime.registry.work_kinds[name].obj


def _stamped(model: type[pw.Model], values: dict, now: dt.datetime) -> dict:
    """``values`` plus the row's ``updated_at`` when its table keeps one."""
    if "updated_at" in model._meta.fields:
        values[model._meta.fields["updated_at"]] = now
    return values


def _claim_statements(work: WorkKind) -> tuple[tuple[str, Prepared, int], ...]:
    """The kind's claim, one conditional ``UPDATE … RETURNING`` per mode, prepared (see herald.db.prepared_statements):
    rendered each time, a claim of a publish task cost 890 us of CPU against 160 us prepared
    (``bench/work_claim.py``, 2026-12-06), and every job runs one."""
    statements = _CLAIMS.get(work)
    if statements is not None:
        return statements
    model, statuses = work.model, work.statuses
    key = model._meta.primary_key

    def free(param):
        due = model.due_at.is_null() | (model.due_at <= param(model.due_at, "due_by"))
        return model.lease_until.is_null() & due

    conditions = (("run", lambda param: model.status.in_(list(statuses.runnable)) & free(param)),
                  ("check", lambda param: (model.status == statuses.waiting) & free(param)),
                  ("recover", lambda param: (model.status == statuses.running)
                   & (model.lease_until < param(model.lease_until, "now"))))

    def statement(condition):
        def build(param):
            values = {model.status: statuses.running, model.step: model.step + 1,
                      model.lease_until: param(model.lease_until),
                      model.attempts: model.attempts + param(model.attempts, "attempt")}
            if "updated_at" in model._meta.fields:
                values[model._meta.fields["updated_at"]] = param(model._meta.fields["updated_at"])
            return model.update(values).where((key == param(key, "row_id")) & condition(param)).returning(model)
        return Prepared(model, build)

    statements = _CLAIMS[work] = tuple((mode, statement(condition), 1 if mode in work.counted else 0)
                                       for mode, condition in conditions)
    return statements


_CLAIMS: dict[WorkKind, tuple[tuple[str, Prepared, int], ...]] = {}


def claim(work: WorkKind, row_id: Any, now: dt.datetime) -> tuple[str, pw.Model] | None:
    """Take row ``row_id`` for this worker under a lease; ``(mode, row)`` or None when there is nothing to do.

    ``mode`` is ``run`` (queued or retrying, due, not held), ``check`` (waiting, due, not held) or
    ``recover`` (held under a lease that expired: its worker died). One conditional ``UPDATE …
    RETURNING`` per mode, in one transaction: the database decides, so two workers never both hold
    the row, and the row is read from what the UPDATE returns. The claim bumps ``step`` and counts
    an attempt in the kind's ``counted`` modes.
    """
    values = {"row_id": row_id, "lease_until": now + dt.timedelta(seconds=work.lease_seconds), "updated_at": now,
              "due_by": now + SCHEDULER_SLACK, "now": now}
    with write_transaction():
        for mode, statement, attempt in _claim_statements(work):
            rows = statement.rows(attempt=attempt, **values)
            if rows:
                return mode, rows[0]
    return None


def perform(runtime, name: str, row_id: Any, step: int) -> str:
    """One step of row ``row_id`` of kind ``name`` (what the RQ job does); returns what happened.

    Claim, call the handler, record its outcome, enqueue the next step. A handler that raises is
    treated as a worker that died (mode ``recover`` next, at once); one that raises while
    recovering leaves the row ``unconfirmed``. ``step`` is the step the job was enqueued for: a
    job that finds its row not due yet reschedules it only when it is still the row's job.
    """
    registered = runtime.registry.work_kinds.get(name)
    if registered is None:  # its plugin was removed: the rows wait (the reconciler walks registered kinds only)
        log.warning("no work kind %r is registered: job for row %s dropped", name, row_id)
        return f"no work kind {name!r}"
    work = registered.obj
    with db.connection_context():
        claimed = claim(work, row_id, runtime.clock.now())
        if claimed is None:
            return _not_claimed(runtime, work, row_id, step)
        mode, row = claimed
        try:
            with _Renewal(runtime, work, row):
                outcome = work.handler(mode)(runtime, row, mode)
            if not isinstance(outcome, Outcome):
                raise TypeError(f"the handler answered {outcome!r}, not a herald.work.Outcome")
        except Exception as exc:
            log.exception("work %s %s raised in mode %s", name, row_id, mode)
            reason = f"The {name} handler failed unexpectedly: {exc}"
            outcome = Outcome.unconfirmed(reason) if mode == "recover" else Outcome.unknown(reason)
        return f"{mode}: {record(runtime, work, row, outcome, mode)}"


def renew_lease(runtime, work: WorkKind, row: pw.Model) -> bool:
    """Extend the lease on ``row`` as claimed (its step) by the kind's ``lease_seconds`` from now;
    False when the row was taken over (the lease had run out)."""
    model = work.model
    until = runtime.clock.now() + dt.timedelta(seconds=work.lease_seconds)
    fence = (model._meta.primary_key == row.id) & (model.step == row.step) & (model.status == work.statuses.running)
    with db.connection_context(), write_transaction():
        renewed = model.update({model.lease_until: until}).where(fence).execute()
    if renewed:
        row.lease_until = until
    return bool(renewed)


class _Renewal:
    """While the handler runs, renews the row's lease every ``renew_every`` seconds from a daemon
    thread (kinds with ``renew_every`` only); stops when the handler returns or the row was taken over."""

    def __init__(self, runtime, work: WorkKind, row: pw.Model):
        self.runtime, self.work, self.row = runtime, work, row
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self):
        if self.work.renew_every is not None:
            self.thread = threading.Thread(target=self._beat, name=f"lease {self.work.name} {self.row.id}",
                                           daemon=True)
            self.thread.start()
        return self

    def _beat(self) -> None:
        while not self.stopped.wait(self.work.renew_every):
            try:
                if not renew_lease(self.runtime, self.work, self.row):
                    return
            except Exception as exc:  # the database is away for a moment: the next beat tries again
                log.warning("could not renew the lease of %s %s: %s", self.work.name, self.row.id, exc)

    def __exit__(self, *exc_info):
        self.stopped.set()
        if self.thread is not None:  # a renewal in flight lands before the outcome is recorded
            self.thread.join(timeout=10)
        return False


def _not_claimed(runtime, work: WorkKind, row_id: Any, step: int) -> str:
    """A job that found its row not due yet puts it back on the schedule rather than dropping it."""
    model, statuses = work.model, work.statuses
    row = model.get_or_none(model._meta.primary_key == row_id)
    if row is None or row.step != step or row.lease_until is not None or row.due_at is None \
            or row.status not in (*statuses.runnable, statuses.waiting):
        return "nothing to do"
    if bump_step(runtime, work, row) is not None:
        enqueue(runtime, work, row)
    return "not due yet: rescheduled"


def _record_statement(work: WorkKind, names: tuple[str, ...]) -> Prepared:
    """The UPDATE writing the columns ``names`` of a row still held at its claimed step, prepared once
    per kind and set of columns (every job records one outcome; see :func:`_claim_statements`)."""
    statement = _RECORDS.get((work, names))
    if statement is None:
        model = work.model
        key, fields = model._meta.primary_key, model._meta.fields

        def build(param):
            fence = ((key == param(key, "fence_id")) & (model.step == param(model.step, "fence_step"))
                     & (model.status == work.statuses.running))
            return model.update({fields[name]: param(fields[name]) for name in names}).where(fence)

        statement = _RECORDS[(work, names)] = Prepared(model, build)
    return statement


_RECORDS: dict[tuple[WorkKind, tuple[str, ...]], Prepared] = {}


def record(runtime, work: WorkKind, row: pw.Model, outcome: Outcome, mode: str = "run") -> str:
    """Write ``outcome`` for ``row`` as claimed in ``mode`` (fenced on its step) and enqueue its next
    step; returns the outcome's name, or ``stale`` when the row was taken over meanwhile (nothing
    written)."""
    model, statuses = work.model, work.statuses
    now = runtime.clock.now()
    label, error, status, due = outcome.kind, outcome.error, None, None
    lease = None
    if label == "retry":
        gave_up = work.retry.gives_up(row.attempts, outcome.retry_after)
        if gave_up is not None:
            label = "unconfirmed" if outcome.unsure else "failed"
            status = statuses.unconfirmed if outcome.unsure else statuses.failed
            error = f"{gave_up}. Last error: {outcome.error}"
            if work.final_error is not None:
                error = work.final_error(row, error, outcome.unsure)
        else:
            delay = work.retry.delay(row.attempts, outcome.retry_after)
            status, due = statuses.retrying, now + dt.timedelta(seconds=delay)
    elif label == "wait":
        status, due = statuses.waiting, now + dt.timedelta(seconds=max(0.0, outcome.delay or 0.0))
    elif label == "defer":  # back to where it was: retrying when an earlier attempt failed
        given_back = 1 if mode in work.counted else 0
        status = statuses.retrying if row.attempts - given_back > 0 else statuses.queued
        due = now + dt.timedelta(seconds=max(0.0, outcome.delay or 0.0))
    elif label == "unknown":  # as if the worker had died: recovered by the next job, at once
        status, due, lease = statuses.running, now, now - dt.timedelta(seconds=1)
    else:
        status = {"done": statuses.done, "failed": statuses.failed, "unconfirmed": statuses.unconfirmed,
                  "cancelled": statuses.cancelled}[label]
    state = dict(row.state or {})
    changes: dict[str, Any] = {**outcome.changes, "status": status, "due_at": due, "lease_until": lease,
                               "step": row.step + 1}
    if label == "defer":
        changes["attempts"] = row.attempts - given_back
    if error is not None:
        if work.error_field:
            changes[work.error_field] = error
        else:
            state["error"] = error
    changes["state"] = state
    if "updated_at" in model._meta.fields:
        changes["updated_at"] = now
    statement = _record_statement(work, tuple(changes))
    with events.collecting() as recorded, write_transaction():
        locked = work.lock(runtime, row) if work.lock is not None else None
        written = statement.execute(**changes, fence_id=row.id, fence_step=row.step).rowcount
        if written:
            for name, value in changes.items():
                setattr(row, name, value)
            if work.settle is not None:
                work.settle(runtime, row, outcome, locked)
    if not written:
        log.warning("work %s %s was taken over while this worker held it: its outcome (%s) is dropped",
                    work.name, row.id, label)
        return "stale"
    events.dispatch(runtime.pm, recorded)
    if work.after is not None:
        work.after(runtime, row, outcome)
    if status in statuses.active:
        enqueue(runtime, work, row)
    return label


def lookahead(runtime) -> dt.timedelta:
    """How long before its ``due_at`` a row's job is handed to RQ (``HERALD_SCHEDULE_LOOKAHEAD_SECONDS``)."""
    return dt.timedelta(seconds=runtime.config.schedule_lookahead_seconds)


def enqueue(runtime, work: WorkKind, row: pw.Model) -> bool:
    """Enqueue the job of ``row``'s current step, at its ``due_at``, when that is within the lookahead
    (:func:`lookahead`); a row due later stays in the database only, and the reconciler hands it to RQ
    once it enters the window (True: nothing more to do now). False when Redis is down or the job
    exists (the reconciler enqueues it later). Call it after the row's transaction committed."""
    if row.due_at is not None and row.due_at > runtime.clock.now() + lookahead(runtime):
        return True
    return queue.enqueue_job(runtime.redis, ENTRY, work.name, row.id, row.step,
                             job_id=job_id(work.name, row.id, row.step), due_at=row.due_at,
                             job_timeout=work.job_timeout, description=f"{work.name} {row.id} (step {row.step})",
                             queue_name=work.queue, now=runtime.clock.now())


def bump_step(runtime, work: WorkKind, row: pw.Model) -> int | None:
    """Move ``row`` to a new step (for a new job id) when it is still at ``row.step``; returns the new
    step (``row`` updated), or None when the row moved on or is gone."""
    model = work.model
    with write_transaction():
        bumped = list(model.update(_stamped(model, {model.step: model.step + 1}, runtime.clock.now()))
                      .where((model._meta.primary_key == row.id) & (model.step == row.step))
                      .returning(model.step).tuples().execute())
    if not bumped:
        return None
    row.step = bumped[0][0]
    return row.step


def move(runtime, work: WorkKind, row: pw.Model, **changes: Any) -> bool:
    """Start ``row`` on a new step with ``changes`` (a new ``due_at``, the status it starts again from, a
    reset of its attempts), unless a worker holds it or it moved on from ``row.step``: the one way a
    user's request (reschedule, send again, redeliver) changes where a row's work stands.

    Runs inside the caller's write transaction; True when the row moved (``row`` updated). After the
    commit the caller enqueues the new step's job (:func:`enqueue`) and may drop the old step's
    (:func:`drop_job`); an old job left behind finds its row moved on and does nothing.
    """
    model = work.model
    fields = model._meta.fields
    now = runtime.clock.now()
    values = _stamped(model, {fields[name]: value for name, value in changes.items()}, now)
    values[model.step] = model.step + 1
    fence = (model._meta.primary_key == row.id) & (model.step == row.step) & model.lease_until.is_null()
    if not model.update(values).where(fence).execute():
        return False
    for name, value in changes.items():
        setattr(row, name, value)
    if "updated_at" in fields:
        row.updated_at = now
    row.step += 1
    return True


def cancel(runtime, work: WorkKind, condition, **changes: Any) -> list[tuple[Any, int]]:
    """Cancel every row of ``work`` matching ``condition`` that is not final and no worker holds, writing
    ``changes`` with it (the reason, in the kind's error column); a row a worker holds is left to it
    (its outcome is recorded, and its kind decides again at its next step). Runs inside the caller's
    write transaction; returns the ``(id, step)`` of the jobs to drop after the commit (:func:`drop_job`).
    """
    model = work.model
    fields = model._meta.fields
    values = _stamped(model, {fields[name]: value for name, value in changes.items()}, runtime.clock.now())
    values.update({model.status: work.statuses.cancelled, model.due_at: None, model.step: model.step + 1})
    query = (model.update(values)
             .where(condition & model.status.not_in(list(work.statuses.final)) & model.lease_until.is_null())
             .returning(model._meta.primary_key, model.step))
    return [(row_id, step - 1) for row_id, step in query.tuples().execute()]


def drop_job(runtime, work: WorkKind, row_id: Any, step: int) -> None:
    """Remove the waiting job of ``row_id``'s ``step`` (nothing when there is none)."""
    queue.cancel_job(runtime.redis, job_id(work.name, row_id, step))
