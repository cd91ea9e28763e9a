"""``herald.work``: one kernel for durable work (publish tasks, first comments, AI jobs, webhook
deliveries, and whatever plugins register).

A kind of work is a :class:`WorkKind` registered through the ``register_work_kinds`` hook; its rows
keep the work-row contract (:class:`WorkRow`). :func:`enqueue` schedules a committed row's job,
:func:`perform` (through the RQ job :func:`herald.work.entry.perform`) claims the row, runs the
handler and records its :class:`Outcome`, a :class:`RetryPolicy` decides when to try again (never
by sleeping), and :func:`reconcile` hands rows to RQ as they come due (work due later than the
:func:`lookahead` stays in the database only), rebuilds lost jobs and recovers rows whose worker died.
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
    lookahead,
    move,
    perform,
    record,
    renew_lease,
)
from .kinds import CONTRACT, MODES, Outcome, Statuses, WorkKind, WorkRow, job_id
from .reconciler import due_kinds, due_soon, hand_over, reconcile, reconcile_kind
from .retry import MAX_RETRY_AFTER, RetryPolicy, parse_retry_after

__all__ = ["CONTRACT", "ENTRY", "MAX_RETRY_AFTER", "MODES", "Outcome", "RetryPolicy", "Statuses", "WorkKind",
           "WorkRow", "bump_step", "cancel", "claim", "drop_job", "due_kinds", "due_soon", "enqueue", "hand_over",
           "job_id", "kind", "kinds", "lookahead", "move", "parse_retry_after", "perform", "reconcile",
           "reconcile_kind", "record", "renew_lease"]
