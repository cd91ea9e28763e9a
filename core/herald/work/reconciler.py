"""The reconciler: every ``reconcile_interval_seconds`` (``herald cron``), hand to RQ the active rows of
every kind that come due within the lookahead (:func:`herald.work.kernel.lookahead`; work due later
is in the database only), give back a job Redis lost (a flush, a worker that died before claiming
it) and a new job to a row whose lease expired (its worker died; the claim hands it to ``recover``).

It reads only the rows due soon, through each work table's partial index on ``(due_at, id)`` of
active rows (:func:`herald.db.models.active_due_index`), and asks Redis about those rows by job id:
never every row scheduled, never a whole queue. One query first asks every kind's index whether it
holds a row due now and one due by the horizon (:func:`due_kinds`); only those reads follow, so a
tick with little due is a round trip or two, not two per kind (on PostgreSQL each costs a
millisecond or more, and ten of them were the tick's whole 20 ms).
"""

from __future__ import annotations

import datetime as dt
import logging

import peewee as pw

from ..db.models import db, status_in
from ..db.prepared_statements import Prepared
from . import queue
from .kernel import RUNNING_MARGIN_SECONDS, bump_step, enqueue, kinds, lookahead
from .kinds import WorkKind, job_id

log = logging.getLogger("herald.work")

RECONCILE_BATCH = 5000


def reconcile(runtime, limit: int = RECONCILE_BATCH, *, recover: bool = True) -> dict[str, int]:
    """Hand to RQ every active row of every registered kind that is due within the lookahead and has
    no live job (entering the window, or its job lost with Redis or with its worker), and give a new
    job to every row whose lease expired; returns how many per kind. Without ``recover``, only the
    rows Redis has no job for at all and no worker holds (:func:`hand_over`)."""
    counts = {}
    with db.connection_context():
        registered = list(kinds(runtime).values())
        due = due_kinds(registered, runtime.clock.now() + lookahead(runtime))
        for work in registered:
            try:
                counts[work.name] = reconcile_kind(runtime, work, limit, recover=recover, due=due.get(work))
            except Exception:  # one kind's trouble (its table gone, a bug) leaves the others reconciled
                log.exception("reconciling work kind %s failed", work.name)
                counts[work.name] = 0
    return counts


def hand_over(runtime) -> dict[str, int]:
    """Enqueue the job of every active row due within the lookahead that Redis has no job for and no
    worker holds: what :func:`reconcile` does every ``reconcile_interval_seconds`` for work entering
    the window, without recovering anything (a test kit's time passing does this; see herald.testing)."""
    return reconcile(runtime, recover=False)


def _probe_statement(registered: tuple[WorkKind, ...]) -> Prepared:
    """The query of :func:`due_kinds` for ``registered``, prepared once per set of kinds: for each kind,
    ``EXISTS`` an active row due now (no ``due_at``) and ``EXISTS`` one due by the horizon, each a seek
    at the start of the kind's partial index (the same terms as :func:`due_soon`'s queries)."""
    statement = _PROBES.get(registered)
    if statement is not None:
        return statement

    def build(param):
        columns = []
        for work in registered:
            model, active = work.model, status_in(work.statuses.active)
            for condition in (model.due_at.is_null(), model.due_at <= param(model.due_at, "horizon")):
                columns.append(pw.fn.EXISTS(model.select(pw.SQL("1")).where(active & condition)))
        return pw.Select(columns=columns).bind(db)  # rendered for the database, as a model query is

    statement = _PROBES[registered] = Prepared(registered[0].model, build)
    return statement


_PROBES: dict[tuple[WorkKind, ...], Prepared] = {}


def due_kinds(registered: list[WorkKind], horizon: dt.datetime) -> dict[WorkKind, tuple[bool, bool]]:
    """For each kind of ``registered``: whether it has active rows due now (no ``due_at``) and whether it
    has some due by ``horizon``, asked of all kinds in one query. Empty when that query fails (a kind's
    table is missing): then every kind is read as if it had both, and fails or not on its own."""
    if not registered:
        return {}
    try:
        [row] = _probe_statement(tuple(registered)).execute(horizon=horizon).fetchall()
    except pw.DatabaseError:
        log.exception("asking which work kinds have rows due failed; reading every kind")
        return {}
    return {work: (bool(row[2 * index]), bool(row[2 * index + 1])) for index, work in enumerate(registered)}


def _due_soon_statement(work: WorkKind, shape: str, limit: int) -> Prepared:
    """One query of :func:`due_soon`, prepared once per kind, shape and limit (the reconciler runs
    them every 30 s for every kind; rendering them each time cost more than running them)."""
    statement = _DUE_SOON.get((work, shape, limit))
    if statement is not None:
        return statement
    model = work.model
    key = model._meta.primary_key
    columns = (key, model.status, model.step, model.due_at, model.lease_until)
    active = status_in(work.statuses.active)

    def build(param):
        if shape.startswith("unset"):  # due now: no due_at, by id
            condition = active & model.due_at.is_null()
            if shape == "unset after":
                condition &= key > param(key, "after_id")
            order = (key,)
        else:  # due by the horizon, by (due_at, id)
            condition = active & (model.due_at <= param(model.due_at, "horizon"))
            if shape == "dated after":
                after = param(model.due_at, "after_due")
                condition &= (model.due_at >= after) & ((model.due_at > after) | (key > param(key, "after_id")))
            order = (model.due_at, key)
        return model.select(*columns).where(condition).order_by(*order).limit(limit)

    statement = _DUE_SOON[(work, shape, limit)] = Prepared(model, build)
    return statement


_DUE_SOON: dict[tuple[WorkKind, str, int], Prepared] = {}


def due_soon(work: WorkKind, horizon: dt.datetime, limit: int, after: tuple | None = None,
             due: tuple[bool, bool] = (True, True)) -> list[pw.Model]:
    """Up to ``limit`` active rows of ``work`` due by ``horizon``, in ``(due_at, id)`` order after ``after``
    (the ``(due_at, id)`` of the last row of the previous batch), those due now (no ``due_at``) first.
    ``due`` (from :func:`due_kinds`) says whether rows due now and rows due by ``horizon`` may exist at
    all: a query for what does not exist is not sent.

    Both queries walk the kind's partial index of active rows by ``(due_at, id)``
    (``active_due_index``; :func:`herald.db.models.status_in` is its predicate, repeated so the
    planner may use it) from its start to ``horizon``: the rows due soon, never every row scheduled.
    """
    unset, dated = due
    rows: list[pw.Model] = []
    if after is None and unset:
        rows = _due_soon_statement(work, "unset", limit).rows()
    elif after is not None and after[0] is None:
        rows = _due_soon_statement(work, "unset after", limit).rows(after_id=after[1])
    if len(rows) < limit and dated:
        if after is None or after[0] is None:
            rows += _due_soon_statement(work, "dated", limit).rows(horizon=horizon)[:limit - len(rows)]
        else:
            rows += _due_soon_statement(work, "dated after", limit).rows(horizon=horizon, after_due=after[0],
                                                                           after_id=after[1])
    return rows


def reconcile_kind(runtime, work: WorkKind, limit: int = RECONCILE_BATCH, *, recover: bool = True,
                   due: tuple[bool, bool] | None = None) -> int:
    """:func:`reconcile` for one kind, in batches of ``limit`` rows until every row due within the
    lookahead was seen (so a Redis that lost everything gets it all back in one run); returns how
    many rows got a job (only those Redis has no job for and no worker holds, without ``recover``).
    ``due``: what :func:`due_kinds` found for the kind (None: not asked, read both).

    Redis is asked only about the rows due soon, by job id. A row whose job Redis does not have at
    all (it entered the window, or Redis lost it) gets its job under the same id; one whose job is
    there but dead (its worker died before claiming it) or whose lease expired moves to a new step
    first, so no job id is used twice.
    """
    now = runtime.clock.now()
    horizon = now + lookahead(runtime)
    due = (True, True) if due is None else due
    enqueued, after = 0, None
    while any(due):
        rows = due_soon(work, horizon, limit, after, due)
        enqueued += _hand_over(runtime, work, rows, now, recover)
        if len(rows) < limit:
            break
        after = (rows[-1].due_at, rows[-1].id)
    if enqueued:
        log.info("reconciler gave %s %s rows a job", enqueued, work.name)
    return enqueued


def _hand_over(runtime, work: WorkKind, rows: list[pw.Model], now: dt.datetime, recover: bool) -> int:
    """Enqueue the job of each of ``rows`` that has no live job and no worker holding it (with
    ``recover``; else only of those Redis has no job for and no lease holds)."""
    unheld = [job_id(work.name, row.id, row.step) for row in rows if row.lease_until is None]
    # No live job of this kind runs longer than its job_timeout: one that did lost its worker.
    found, alive = queue.job_states(runtime.redis, unheld, queue_name=work.queue,
                                    running_limit=work.job_timeout + RUNNING_MARGIN_SECONDS, now=now)
    enqueued = 0
    for row in rows:
        if row.lease_until is not None and row.lease_until >= now:
            continue  # a worker holds it right now
        name = job_id(work.name, row.id, row.step)
        if row.lease_until is None and name in alive:
            continue
        if row.lease_until is None and name not in found:
            enqueued += enqueue(runtime, work, row)  # never handed over, or lost with Redis: its own id is free
        elif recover and bump_step(runtime, work, row) is not None and enqueue(runtime, work, row):
            enqueued += 1
    return enqueued
