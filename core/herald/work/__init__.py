"""``herald.work``: one kernel for durable work (publish tasks, first comments, AI jobs, webhook
deliveries, and whatever plugins register).

A kind of work is a :class:`WorkKind` registered through the ``register_work_kinds`` hook; its rows
keep the work-row contract (:class:`WorkRow`). :func:`enqueue` schedules a committed row's job,
:func:`perform` (through the RQ job :func:`herald.work.entry.perform`) claims the row, runs the
handler and records its :class:`Outcome`, a :class:`RetryPolicy` decides when to try again (never
by sleeping), and :func:`reconcile` rebuilds lost jobs and recovers rows whose worker died.
"""

from .kernel import (
    ENTRY,
    bump_step,
    cancel,
    claim,
    drop_job,
    enqueue,
    kind,
    kinds,
    move,
    perform,
    reconcile,
    reconcile_kind,
    record,
    renew_lease,
)
from .kinds import CONTRACT, MODES, Outcome, Statuses, WorkKind, WorkRow, job_id
from .retry import MAX_RETRY_AFTER, RetryPolicy, parse_retry_after

__all__ = ["CONTRACT", "ENTRY", "MAX_RETRY_AFTER", "MODES", "Outcome", "RetryPolicy", "Statuses", "WorkKind",
           "WorkRow", "bump_step", "cancel", "claim", "drop_job", "enqueue", "job_id", "kind", "kinds", "move",
           "parse_retry_after", "perform",
           "reconcile", "reconcile_kind", "record", "renew_lease"]
